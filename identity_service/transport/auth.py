"""Caller identification (mTLS certificate or bearer token) and per-RPC roles."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from identity_service.settings import CallerEntry
from kernel.errors import CallerRoleDenied, CallerUnauthenticated


class Role(StrEnum):
    """What a calling backend service is for."""

    ADMIN = "admin"  # operators' tooling: everything
    APP = "app"  # the app backend acting for end users: enroll, policies, grants, erase
    GENERATOR = "generator"  # video generation: permission checks and keys, nothing else
    SCANNER = "scanner"  # upload scanning: likeness search
    SOCIAL_GRAPH = "social_graph"  # friendship edge sync
    AUDITOR = "auditor"  # read-only audit and enrollment state


ID = "/likeness.identity.v1.IdentityService/"
CO = "/likeness.consent.v1.ConsentService/"
AU = "/likeness.audit.v1.AuditService/"
A, P, G, S, SG, AD = (
    Role.ADMIN, Role.APP, Role.GENERATOR, Role.SCANNER, Role.SOCIAL_GRAPH, Role.AUDITOR,
)

# Every RPC names the roles allowed to call it. A method missing here is refused to all
# callers (a test checks that every method of every service is listed).
METHOD_ROLES: Mapping[str, frozenset[Role]] = {
    ID + "StartEnrollment": frozenset({A, P}),
    ID + "Enroll": frozenset({A, P}),
    ID + "GetEnrollment": frozenset({A, P, AD}),
    ID + "ListEnrollments": frozenset({A, AD}),
    ID + "VerifyLikeness": frozenset({A, P}),
    ID + "SearchLikeness": frozenset({A, S, G}),
    ID + "DeleteSubject": frozenset({A, P}),
    CO + "GetCameoPolicy": frozenset({A, P, AD}),
    CO + "UpdateCameoPolicy": frozenset({A, P}),
    CO + "CreateGrant": frozenset({A, P}),
    CO + "GetGrant": frozenset({A, P, AD}),
    CO + "ListGrants": frozenset({A, P, AD}),
    CO + "RevokeGrant": frozenset({A, P}),
    CO + "CheckCameoPermission": frozenset({A, G}),
    CO + "SyncRelationships": frozenset({A, SG}),
    CO + "ListRelationships": frozenset({A, SG, AD}),
    CO + "GetPublicKeys": frozenset({A, G, S, P, AD}),
    CO + "ListRevocations": frozenset({A, G, S, AD}),
    AU + "ListEvents": frozenset({A, AD}),
    AU + "GetEvent": frozenset({A, AD}),
    AU + "ListCheckpoints": frozenset({A, AD}),
    AU + "GetLatestCheckpoint": frozenset({A, AD}),
    AU + "GetInclusionProof": frozenset({A, AD}),
    AU + "GetConsistencyProof": frozenset({A, AD}),
}

# Reachable without credentials: probes and discovery.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                   "/grpc.reflection.v1.ServerReflection/")


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    roles: frozenset[str]


def hash_token(token: str) -> str:
    """Hex SHA-256 of a bearer token, the form configured in CALLERS."""
    return hashlib.sha256(token.encode()).hexdigest()


class CallerRegistry:
    """Resolves credentials to configured callers."""

    def __init__(self, entries: Iterable[CallerEntry]) -> None:
        self._by_token: dict[str, Caller] = {}
        self._by_cn: dict[str, Caller] = {}
        for entry in entries:
            caller = Caller(entry.name, frozenset(entry.roles))
            if entry.token_sha256:
                self._by_token[entry.token_sha256] = caller
            self._by_cn[entry.certificate_cn or entry.name] = caller

    def identify(
        self, metadata: Sequence[tuple[str, str | bytes]], certificate_cns: Sequence[str]
    ) -> Caller:
        """The caller behind a certificate CN (mTLS) or an ``authorization: Bearer`` header."""
        for cn in certificate_cns:
            caller = self._by_cn.get(cn)
            if caller is not None:
                return caller
        if certificate_cns:
            raise CallerUnauthenticated("client certificate is not a configured caller")
        header = next((v for k, v in metadata if k == "authorization"), None)
        if header is None:
            raise CallerUnauthenticated(
                "no credentials: send 'authorization: Bearer <token>' or a client certificate"
            )
        text = header.decode() if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise CallerUnauthenticated("authorization header must be 'Bearer <token>'")
        digest = hash_token(token.strip())
        # Constant-time comparison against every configured token.
        found: Caller | None = None
        for known, caller in self._by_token.items():
            if hmac.compare_digest(known, digest):
                found = caller
        if found is None:
            raise CallerUnauthenticated("unknown bearer token")
        return found


def authorize(caller: Caller, method: str) -> None:
    """Raise CallerRoleDenied unless one of the caller's roles may call ``method``."""
    allowed = METHOD_ROLES.get(method, frozenset())
    if not caller.roles & {r.value for r in allowed}:
        raise CallerRoleDenied(
            f"caller {caller.name!r} may not call {method.rsplit('/', 1)[-1]}",
            caller=caller.name,
            method=method,
            allowed_roles=",".join(sorted(r.value for r in allowed)),
        )

"""Cameo use tokens: compact JWS (RFC 7515) signed with Ed25519 (EdDSA, RFC 8037).

Why JWS and not PASETO v4.public: both give Ed25519 over a compact string, but JWS verifiers
exist in every language a generator may be written in, and the keys publish as a standard
JWKS (RFC 7517) that those libraries read. The usual JWS pitfalls are closed here by a strict
verifier: only ``alg: EdDSA``, an exact header, canonical unpadded base64url, no duplicate JSON
keys, and every claim checked. Other services call :func:`verify_use_token` offline with the
JWKS from ``GetPublicKeys`` and a :class:`RevocationList` fed from ``ListRevocations``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kernel.b64 import b64url, b64url_decode

TOKEN_TYPE = "cameo-use+jwt"  # noqa: S105 - a media type, not a secret
ALGORITHM = "EdDSA"
MAX_LIFETIME_SECONDS = 600
MAX_TOKEN_LENGTH = 8192
SIGNATURE_BYTES = 64
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class TokenProblem(StrEnum):
    """Why a token was rejected; stable codes a verifier can log and count."""

    MALFORMED = "MALFORMED"
    BAD_HEADER = "BAD_HEADER"
    ALGORITHM_NOT_ALLOWED = "ALGORITHM_NOT_ALLOWED"
    WRONG_TYPE = "WRONG_TYPE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    MISSING_CLAIM = "MISSING_CLAIM"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    LIFETIME_TOO_LONG = "LIFETIME_TOO_LONG"
    WRONG_ISSUER = "WRONG_ISSUER"
    WRONG_AUDIENCE = "WRONG_AUDIENCE"
    WRONG_OWNER = "WRONG_OWNER"
    WRONG_REQUESTER = "WRONG_REQUESTER"
    REVOKED = "REVOKED"


class TokenRejected(Exception):
    """A use token failed verification; ``problem`` says why."""

    def __init__(self, problem: TokenProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class UseClaims:
    """What a use token asserts. Short names follow JWT registered claims where one exists."""

    iss: str
    aud: str  # the calling service the token was issued to
    sub: str  # the owner whose likeness may be used
    req: str  # the requester (the person making the video)
    iat: int
    nbf: int
    exp: int
    jti: str
    grant: str = ""  # the grant that allowed it, if any
    purpose: str = ""
    cats: list[str] = field(default_factory=list)  # content categories asked for
    refused: list[str] = field(default_factory=list)  # categories the owner refuses
    instr: str = ""  # owner's instructions to the generator
    # The revocation feed's highest cursor when the decision was read (-1: not given). Entries
    # with a higher cursor were committed after the decision and void the token; entries up to
    # it were seen by the decision. Exact, where whole-second times are not.
    rc: int = -1


REQUIRED = {"iss": str, "aud": str, "sub": str, "req": str, "iat": int, "nbf": int, "exp": int, "jti": str}
OPTIONAL = {"grant": str, "purpose": str, "cats": list, "refused": list, "instr": str, "rc": int}


_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last character of a group of 2 (one byte: low 4 bits unused) or 3 (two bytes: low 2 unused).
_CANONICAL_LAST_OF_2 = frozenset(_B64URL_ALPHABET[::16])
_CANONICAL_LAST_OF_3 = frozenset(_B64URL_ALPHABET[::4])


def _unb64(part: str) -> bytes:
    if not part or not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise TokenRejected(TokenProblem.MALFORMED, "not canonical unpadded base64url")
    # Canonical: the bits the last character carries beyond the data are zero.
    tail = len(part) % 4
    if (tail == 2 and part[-1] not in _CANONICAL_LAST_OF_2) or (tail == 3 and part[-1] not in _CANONICAL_LAST_OF_3):
        raise TokenRejected(TokenProblem.MALFORMED, "not canonical base64url")
    try:
        return b64url_decode(part)
    except ValueError as exc:
        raise TokenRejected(TokenProblem.MALFORMED, "bad base64url") from exc


def _json_object(raw: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise TokenRejected(TokenProblem.MALFORMED, "duplicate JSON key")
        return dict(pairs)

    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenRejected(TokenProblem.MALFORMED, "not JSON") from exc
    if not isinstance(value, dict):
        raise TokenRejected(TokenProblem.MALFORMED, "not a JSON object")
    return value


def new_claims(
    *, issuer: str, audience: str, owner: str, requester: str, ttl_seconds: int, grant: str = "",
    purpose: str = "", categories: Iterable[str] = (), refused: Iterable[str] = (), instructions: str = "",
    now: float | None = None, revocation_cursor: int = -1,
) -> UseClaims:
    if not 0 < ttl_seconds <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"ttl must be 1..{MAX_LIFETIME_SECONDS} s")
    issued = int(now if now is not None else time.time())
    return UseClaims(
        iss=issuer, aud=audience, sub=owner, req=requester, iat=issued, nbf=issued, exp=issued + ttl_seconds,
        jti=secrets.token_urlsafe(16), grant=grant, purpose=purpose, cats=sorted(categories),
        refused=sorted(refused), instr=instructions, rc=revocation_cursor,
    )


def issue_use_token(signer: Signer, claims: UseClaims) -> str:
    header = {"alg": ALGORITHM, "kid": signer.kid, "typ": TOKEN_TYPE}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
        + "."
        + b64url(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
    )
    return signing_input + "." + b64url(signer.sign(signing_input.encode("ascii")))


def keys_from_jwks(jwks: Mapping[str, Any] | str) -> dict[str, Ed25519PublicKey]:
    """Ed25519 verification keys by kid from a JWK Set (JSON text or parsed); others ignored."""
    body = json.loads(jwks) if isinstance(jwks, str) else jwks
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in body.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and jwk.get("alg", ALGORITHM) == ALGORITHM:
            raw = _unb64(jwk["x"])
            if len(raw) == 32 and isinstance(jwk.get("kid"), str):
                keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


class RevocationList:
    """What an offline verifier knows of revocations: void grants, and per owner a time before
    which every token is void. Feed it the entries of ``ListRevocations`` and keep the cursor."""

    def __init__(self) -> None:
        self.cursor = 0
        self._grants: set[str] = set()
        self._owner_before: dict[str, int] = {}
        self._owner_cursor: dict[str, int] = {}

    def add(self, *, cursor: int, grant: str, owner_id: str, revoke_time_s: int) -> None:
        if grant:
            self._grants.add(grant)
        else:
            self._owner_before[owner_id] = max(self._owner_before.get(owner_id, 0), revoke_time_s)
            self._owner_cursor[owner_id] = max(self._owner_cursor.get(owner_id, 0), cursor)
        self.cursor = max(self.cursor, cursor)

    def revokes(self, claims: UseClaims) -> bool:
        if claims.grant and claims.grant in self._grants:
            return True
        if claims.rc >= 0:
            # The token names the feed position its decision saw: only later entries void it.
            return self._owner_cursor.get(claims.sub, 0) > claims.rc
        # A token without a cursor (issued before tokens carried one): iat has one-second
        # resolution, so a token from the revocation's own second is void too (the safe side).
        before = self._owner_before.get(claims.sub)
        return before is not None and claims.iat <= before


_HEADER_CACHE: dict[str, str] = {}


def _check_header(header_b64: str) -> str:
    """Validate an encoded header; returns its kid."""
    header = _json_object(_unb64(header_b64))
    if set(header) != {"alg", "kid", "typ"}:
        raise TokenRejected(TokenProblem.BAD_HEADER, "header must hold exactly alg, kid, typ")
    if header["alg"] != ALGORITHM:
        raise TokenRejected(TokenProblem.ALGORITHM_NOT_ALLOWED, f"alg {header['alg']!r}")
    if header["typ"] != TOKEN_TYPE:
        raise TokenRejected(TokenProblem.WRONG_TYPE, f"typ {header['typ']!r}")
    if not isinstance(header["kid"], str):
        raise TokenRejected(TokenProblem.BAD_HEADER, "kid must be a string")
    return header["kid"]


# Signatures are checked with libsodium (PyNaCl) where it is installed: about twice as fast as
# OpenSSL's Ed25519 on the reference machine, and at least as strict (it also refuses
# small-order keys). Without it, the cryptography package checks them.
_SodiumVerifyKey: Any
try:
    from nacl.exceptions import BadSignatureError as _SodiumBadSignature
    from nacl.signing import VerifyKey as _SodiumVerifyKey
except ImportError:  # pragma: no cover - PyNaCl is a dependency; embedders may leave it out
    _SodiumVerifyKey = None

# Each trusted key's libsodium twin, by the key object's identity (kept beside it, so a reused
# id of a collected key is never mistaken for it).
_SODIUM_KEYS: dict[int, tuple[Ed25519PublicKey, Any]] = {}


def _signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != SIGNATURE_BYTES:
        return False
    if _SodiumVerifyKey is None:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
    cached = _SODIUM_KEYS.get(id(key))
    if cached is None or cached[0] is not key:
        if len(_SODIUM_KEYS) >= 1024:
            _SODIUM_KEYS.clear()
        cached = (key, _SodiumVerifyKey(key.public_bytes_raw()))
        _SODIUM_KEYS[id(key)] = cached
    try:
        cached[1].verify(message, signature)
    except _SodiumBadSignature:
        return False
    return True


def verify_use_token(
    token: str,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    issuer: str,
    audience: str,
    owner: str | None = None,
    requester: str | None = None,
    revocations: RevocationList | None = None,
    now: float | None = None,
    leeway_seconds: int = 30,
) -> UseClaims:
    """Verify a use token offline; returns its claims or raises TokenRejected."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenRejected(TokenProblem.MALFORMED, "not a compact JWS")
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = _HEADER_CACHE.get(header_b64)
    if kid is None:
        kid = _check_header(header_b64)
        if len(_HEADER_CACHE) < 256:  # valid headers only; a handful per key in practice
            _HEADER_CACHE[header_b64] = kid
    key = keys.get(kid)
    if key is None:
        raise TokenRejected(TokenProblem.UNKNOWN_KEY, "kid not in the trusted key set")
    signature = _unb64(signature_b64)
    if not _signature_valid(key, signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise TokenRejected(TokenProblem.BAD_SIGNATURE)
    body = _json_object(_unb64(payload_b64))
    for name, kind in REQUIRED.items():
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise TokenRejected(TokenProblem.MISSING_CLAIM, name)
    for name, kind in OPTIONAL.items():
        if name in body and not isinstance(body[name], kind):
            raise TokenRejected(TokenProblem.MALFORMED, f"claim {name} has the wrong type")
    known = {k: v for k, v in body.items() if k in REQUIRED or k in OPTIONAL}
    claims = UseClaims(**known)
    moment = now if now is not None else time.time()
    if claims.exp - claims.nbf > MAX_LIFETIME_SECONDS or claims.exp < claims.nbf:
        raise TokenRejected(TokenProblem.LIFETIME_TOO_LONG)
    if moment >= claims.exp + leeway_seconds:
        raise TokenRejected(TokenProblem.EXPIRED)
    if moment < claims.nbf - leeway_seconds:
        raise TokenRejected(TokenProblem.NOT_YET_VALID)
    if claims.iss != issuer:
        raise TokenRejected(TokenProblem.WRONG_ISSUER)
    if claims.aud != audience:
        raise TokenRejected(TokenProblem.WRONG_AUDIENCE)
    if owner is not None and claims.sub != owner:
        raise TokenRejected(TokenProblem.WRONG_OWNER)
    if requester is not None and claims.req != requester:
        raise TokenRejected(TokenProblem.WRONG_REQUESTER)
    if revocations is not None and revocations.revokes(claims):
        raise TokenRejected(TokenProblem.REVOKED)
    return claims

"""Consent operations: policies, grants, relationship sync, permission checks, revocation feed.

Every check reads current state from storage (no cache), so a revocation committed on any
replica is seen by the very next check everywhere. Checks are the hot path: concurrent checks
share one transaction (their reads and their audit events), so a busy server pays one
transaction per group of checks instead of a read and a write per check.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from auditlog.model import Actor, AuditDraft, Outcome
from consent.decision import decide
from consent.model import (
    Audience,
    CameoPolicy,
    ContentCategory,
    Decision,
    Grant,
    GrantState,
    PermissionFacts,
    PermissionResult,
)
from consent.ports import ConsentAuditor, ConsentStore, ConsentTx, Edge, GroupedWriter, RevocationEntry
from consent.tokens import Signer, issue_use_token, new_claims
from kernel.clock import Clock, in_range, utc_now
from kernel.errors import FieldInvalid, GrantNotActive, GrantNotFound, PolicyConflict

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    result: PermissionResult
    token: str = ""
    token_id: str = ""
    expire_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class _CheckRequest:
    owner_id: str
    requester_id: str
    purpose: str
    categories: frozenset[ContentCategory]
    audience: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class EdgeChange:
    edge: Edge
    present: bool


def narrows(old: CameoPolicy, new: CameoPolicy) -> bool:
    """Would a token issued under ``old`` allow something ``new`` does not?"""
    return bool(
        new.blocked_ids - old.blocked_ids
        or new.refused_categories - old.refused_categories
        or (new.public_figure and not old.public_figure)
        or new.instructions != old.instructions
        or (new.audience != old.audience and new.audience != Audience.PUBLIC and old.audience != Audience.NOBODY)
    )


# The range a grant's start and end may take (stored as microseconds since 1970).
EARLIEST_GRANT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_GRANT_TIME = datetime(9999, 1, 1, tzinfo=UTC)


class ConsentService:
    def __init__(
        self, store: ConsentStore, audit: ConsentAuditor, grouped: GroupedWriter, signer: Signer, *, issuer: str,
        token_ttl_seconds: int, clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._audit = audit
        self._grouped = grouped
        self._signer = signer
        self._issuer = issuer
        self._ttl = token_ttl_seconds
        self._clock = clock

    # --- policies ---------------------------------------------------------------------------

    def get_policy(self, owner_id: str) -> CameoPolicy:
        with self._store.read() as tx:
            return tx.get_policy(owner_id) or CameoPolicy.default(owner_id)

    def update_policy(self, policy: CameoPolicy, *, etag: str, actor: Actor) -> CameoPolicy:
        """Replace the owner's policy. A non-empty etag must match the stored version. A change
        that narrows what was allowed voids the owner's outstanding tokens (revocation feed)."""
        if policy.owner_id in policy.blocked_ids:
            raise FieldInvalid("policy.blocked_ids", "an owner cannot block themselves")
        now = self._clock()
        with self._store.write() as tx:
            old = tx.get_policy(policy.owner_id) or CameoPolicy.default(policy.owner_id)
            if etag and etag != str(old.version):
                raise PolicyConflict(policy.owner_id)
            new = replace(policy, version=old.version + 1, update_time=now)
            if not tx.put_policy(new, expected_version=old.version):
                raise PolicyConflict(policy.owner_id)  # another change landed since the read above
            narrowed = narrows(old, new)
            if narrowed:
                tx.add_revocation("", new.owner_id, now)
            self._audit(
                tx, actor, action="consent.policy.update", outcome="success", subject_id=new.owner_id,
                details={"audience": new.audience.value, "blocked": str(len(new.blocked_ids)),
                         "refused": ",".join(sorted(c.value for c in new.refused_categories)),
                         "public_figure": str(new.public_figure).lower(), "narrowed": str(narrowed).lower()},
            )
        return new

    # --- grants -----------------------------------------------------------------------------

    def create_grant(
        self, owner_id: str, *, grantee_id: str | None, audience: Audience | None, start_time: datetime | None,
        end_time: datetime | None, actor: Actor,
    ) -> Grant:
        now = self._clock()
        if (grantee_id is None) == (audience is None):
            raise FieldInvalid("grant.target", "set exactly one of grantee_id and audience")
        if audience is not None and audience not in (Audience.FRIENDS, Audience.PUBLIC):
            raise FieldInvalid("grant.audience", "an audience grant is for FRIENDS or PUBLIC")
        if grantee_id == owner_id:
            raise FieldInvalid("grant.grantee_id", "an owner needs no grant for themselves")
        for field, moment in (("grant.start_time", start_time), ("grant.end_time", end_time)):
            # Stored as microseconds since 1970: a time the calendar cannot hold in UTC (year 1 at
            # +14:00 is year 0) would be stored and then fail every read of the owner's grants.
            if moment is not None and not in_range(moment, earliest=EARLIEST_GRANT_TIME, latest=LATEST_GRANT_TIME):
                raise FieldInvalid(field, "must be between 1970-01-01 and 9999-01-01 UTC")
        start = start_time or now
        if end_time is not None and (end_time <= start or end_time <= now):
            raise FieldInvalid("grant.end_time", "must be after start_time and in the future")
        grant = Grant(
            grant_id=secrets.token_hex(8), owner_id=owner_id, grantee_id=grantee_id, audience=audience,
            start_time=start, end_time=end_time, create_time=now,
        )
        with self._store.write() as tx:
            tx.add_grant(grant)
            self._audit(
                tx, actor, action="consent.grant.create", outcome="success", subject_id=owner_id,
                details={"grant": grant.name, "grantee": grantee_id or "",
                         "audience": audience.value if audience else ""},
            )
        return grant

    def get_grant(self, owner_id: str, grant_id: str) -> Grant:
        with self._store.read() as tx:
            grant = tx.get_grant(owner_id, grant_id)
        if grant is None:
            raise GrantNotFound(f"subjects/{owner_id}/grants/{grant_id}")
        return grant

    def list_grants(
        self, owner_id: str, *, state: GrantState | None, after_grant_id: str, limit: int
    ) -> list[Grant]:
        with self._store.read() as tx:
            return tx.list_grants(owner_id, state=state, now=self._clock(), after_grant_id=after_grant_id, limit=limit)

    def revoke_grant(self, owner_id: str, grant_id: str, *, actor: Actor) -> Grant:
        now = self._clock()
        with self._store.write() as tx:
            grant = tx.get_grant(owner_id, grant_id)
            if grant is None:
                raise GrantNotFound(f"subjects/{owner_id}/grants/{grant_id}")
            state = grant.state(now)
            if state != GrantState.ACTIVE:
                raise GrantNotActive(grant.name, state.value)
            if not tx.set_grant_revoked(owner_id, grant_id, now):  # a concurrent revoke won
                raise GrantNotActive(grant.name, GrantState.REVOKED.value)
            tx.add_revocation(grant.name, owner_id, now)
            self._audit(tx, actor, action="consent.grant.revoke", outcome="success", subject_id=owner_id,
                        details={"grant": grant.name})
        log.info("grant_revoked", owner_id=owner_id, grant=grant.name)
        return replace(grant, revoked=True, revoke_time=now)

    # --- relationships ----------------------------------------------------------------------

    def sync_relationships(self, changes: Sequence[EdgeChange], *, actor: Actor) -> tuple[int, int]:
        """Apply versioned upserts and deletes in one transaction; returns (applied, stale).

        Who counts as whose friend decides who may use a likeness, so each subject whose edges
        changed gets an audit event in the same transaction (counts, never the other ids)."""
        applied = stale = 0
        per_subject: dict[str, dict[str, int]] = {}
        with self._store.write() as tx:
            for change in changes:
                counts = per_subject.setdefault(change.edge.from_id, {"added": 0, "removed": 0, "stale": 0})
                if tx.upsert_edge(change.edge, present=change.present):
                    applied += 1
                    counts["added" if change.present else "removed"] += 1
                else:
                    stale += 1
                    counts["stale"] += 1
            for subject, counts in sorted(per_subject.items()):
                self._audit(tx, actor, action="consent.relationships.sync", outcome="success", subject_id=subject,
                            details={k: str(v) for k, v in counts.items()})
        return applied, stale

    def list_relationships(self, subject_id: str, *, after: tuple[str, str], limit: int) -> list[Edge]:
        with self._store.read() as tx:
            return tx.list_edges(subject_id, after=after, limit=limit)

    # --- the check --------------------------------------------------------------------------

    def check(
        self, owner_id: str, requester_id: str, *, purpose: str, categories: Iterable[ContentCategory],
        audience: str, actor: Actor,
    ) -> CheckOutcome:
        """Decide from current state; on ALLOW, sign a use token for ``audience`` (the caller).

        The decision and its audit event commit in one transaction shared with concurrent
        checks; the token is returned only once its event is durable (if the commit fails, the
        caller gets the error and the token is dropped unseen)."""
        request = _CheckRequest(owner_id, requester_id, purpose, frozenset(categories), audience, actor)
        return self._grouped(self._decide_group, request)

    def _decide_group(
        self, tx: ConsentTx, requests: Sequence[_CheckRequest]
    ) -> list[tuple[CheckOutcome | Exception, AuditDraft | None]]:
        """Decide a group of checks from one read; runs inside the group's transaction."""
        now = self._clock()
        # Read before the facts: a revocation committed after this read has a higher cursor and
        # voids the tokens signed here, whether or not the facts read next saw it (the safe side);
        # one committed before it is seen by the facts too.
        cursor = tx.revocation_cursor()
        try:
            all_facts: list[PermissionFacts | Exception] = list(
                tx.permission_facts_many([(r.owner_id, r.requester_id) for r in requests]))
        except Exception:
            # One owner's data the group read could not take must not fail the others' checks:
            # read each pair alone, and let only the pair that fails fail.
            log.warning("permission_group_read_failed", checks=len(requests))
            all_facts = [self._facts_alone(tx, r) for r in requests]
        decided: list[tuple[CheckOutcome | Exception, AuditDraft | None]] = []
        for request, facts in zip(requests, all_facts, strict=True):
            if isinstance(facts, Exception):
                decided.append((facts, None))
                continue
            try:
                decided.append(self._decide_one(request, facts, now, cursor))
            except Exception as exc:  # that caller gets it; the rest of the group goes on
                decided.append((exc, None))
        return decided

    @staticmethod
    def _facts_alone(tx: ConsentTx, request: _CheckRequest) -> PermissionFacts | Exception:
        try:
            return tx.permission_facts(request.owner_id, request.requester_id)
        except Exception as exc:
            return exc

    def _decide_one(
        self, request: _CheckRequest, facts: PermissionFacts, now: datetime, cursor: int
    ) -> tuple[CheckOutcome, AuditDraft]:
        result = decide(request.owner_id, request.requester_id, request.categories, facts, now)
        grant = result.grant.name if result.grant else ""
        outcome = CheckOutcome(result)
        if result.decision == Decision.ALLOW:
            claims = new_claims(
                issuer=self._issuer, audience=request.audience, owner=request.owner_id,
                requester=request.requester_id, ttl_seconds=self._ttl, grant=grant, purpose=request.purpose,
                categories=[c.value for c in request.categories],
                refused=[c.value for c in result.refused_categories], instructions=result.instructions,
                now=now.timestamp(), revocation_cursor=cursor,
            )
            outcome = CheckOutcome(result, issue_use_token(self._signer, claims), claims.jti,
                                   datetime.fromtimestamp(claims.exp, tz=UTC))
        draft = request.actor.draft(
            "consent.permission.check", Outcome(result.decision.value), subject_id=request.owner_id,
            reason=result.deny_reason.value if result.deny_reason else "",
            details={"requester": request.requester_id, "purpose": request.purpose[:200],
                     "categories": ",".join(sorted(c.value for c in request.categories)),
                     "token_id": outcome.token_id, "grant": grant},
        )
        return outcome, draft

    # --- revocation feed --------------------------------------------------------------------

    def list_revocations(self, since_cursor: int, limit: int) -> list[RevocationEntry]:
        with self._store.read() as tx:
            return tx.list_revocations(since_cursor=since_cursor, limit=limit)


"""What the consent domain needs from storage and the audit log (implemented elsewhere)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from auditlog.model import Actor, AuditDraft
from auditlog.ports import AuditTx
from consent.model import CameoPolicy, Grant, GrantState, PermissionFacts

A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Edge:
    from_id: str
    to_id: str
    version: int


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    cursor: int
    grant: str  # empty: every token of owner_id issued up to revoke_time
    owner_id: str
    revoke_time: datetime


@dataclass(frozen=True, slots=True)
class OwnerErasure:
    """What erasing a person removed from the consent tables."""

    policy: bool  # a policy (and its block list) was deleted
    grants: int  # grants the person had given, deleted
    relationships: int  # edges from or to the person, deleted

    @property
    def anything(self) -> bool:
        return self.policy or self.grants > 0 or self.relationships > 0


class ConsentTx(Protocol):
    def get_policy(self, owner_id: str) -> CameoPolicy | None: ...

    def put_policy(self, policy: CameoPolicy, *, expected_version: int) -> bool:
        """Insert or replace, block list included, only if the stored version is still
        ``expected_version`` (0: none stored); policy.version is stored as given. False, and
        nothing written, when another writer changed the policy first."""
        ...

    def get_blocked(self, owner_id: str) -> frozenset[str]: ...

    def permission_facts(self, owner_id: str, requester_id: str) -> PermissionFacts:
        """What decide() needs; policy.blocked_ids holds the requester alone if blocked."""
        ...

    def permission_facts_many(self, pairs: Sequence[tuple[str, str]]) -> list[PermissionFacts]:
        """permission_facts for each (owner, requester) pair, in order, read together."""
        ...

    def add_grant(self, grant: Grant) -> None: ...

    def get_grant(self, owner_id: str, grant_id: str) -> Grant | None: ...

    def list_grants(
        self, owner_id: str, *, state: GrantState | None, now: datetime, after_grant_id: str, limit: int
    ) -> list[Grant]: ...

    def set_grant_revoked(self, owner_id: str, grant_id: str, revoke_time: datetime) -> bool:
        """Mark revoked if not already, in one statement; False if it was (a concurrent revoke)."""
        ...

    def grants_for(self, owner_id: str, requester_id: str) -> list[Grant]:
        """The owner's unrevoked grants to the requester or to any audience."""
        ...

    def upsert_edge(self, edge: Edge, *, present: bool) -> bool:
        """Apply if edge.version is newer than what is stored; False if stale."""
        ...

    def has_edge(self, from_id: str, to_id: str) -> bool: ...

    def list_edges(self, subject_id: str, *, after: tuple[str, str], limit: int) -> list[Edge]: ...

    def add_revocation(self, grant: str, owner_id: str, revoke_time: datetime) -> int:
        """Append to the revocation feed; cursors are assigned in commit order."""
        ...

    def list_revocations(self, *, since_cursor: int, limit: int) -> list[RevocationEntry]: ...

    def revocation_cursor(self) -> int:
        """The feed's highest cursor committed (0 when empty)."""
        ...

    def erase_owner(self, owner_id: str) -> OwnerErasure:
        """Delete the person's policy and block list, every grant they gave and every
        relationship edge from or to them. Revocation of tokens already issued is the caller's:
        one owner-wide entry in the feed (``add_revocation("", owner_id, ...)``)."""
        ...


class ConsentStoreTx(ConsentTx, AuditTx, Protocol):
    """A consent transaction that the audit log can append to, so that an event commits with
    the change it describes."""


class ConsentStore(Protocol):
    def write(self) -> AbstractContextManager[ConsentStoreTx]: ...

    def read(self) -> AbstractContextManager[ConsentStoreTx]: ...


class ConsentAuditor(Protocol):
    """Appends an audit event in the given transaction (checks append theirs through
    GroupedWriter instead)."""

    def __call__(
        self, tx: ConsentStoreTx, actor: Actor, *, action: str, outcome: str, subject_id: str, reason: str = "",
        details: dict[str, str] | None = None,
    ) -> None: ...


class GroupedWriter(Protocol):
    """Runs ``work`` for ``arg`` inside a write transaction shared with concurrent callers (group
    commit) and appends the audit event it returns in that same transaction; returns the result
    once the transaction is durable. Concurrent calls naming the same ``work`` are handed to it
    together (one argument each, results in the same order; a result that is an exception is
    raised to that call alone). What it reads is current as of a transaction that began after
    the call: a change committed before the call is always seen."""

    def __call__(
        self, work: Callable[[ConsentTx, Sequence[A]], Sequence[tuple[R | Exception, AuditDraft | None]]], arg: A,
    ) -> R: ...

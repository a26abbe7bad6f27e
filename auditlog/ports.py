"""What the audit log needs from the world: an append-only table in transactions, and a key
that signs checkpoints. Storage adapters implement ``AuditTx``; the signing keyring implements
``CheckpointKeys``. Nothing here knows a database or a key file."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from auditlog.model import AuditEvent, Checkpoint, Outcome


@dataclass(frozen=True, slots=True)
class AuditFilter:
    subject_id: str = ""
    action: str = ""
    outcome: Outcome | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class AuditTx(Protocol):
    """The append-only audit table, its head and checkpoints."""

    def lock_audit_head(self) -> tuple[int, list[bytes]]:
        """Tree size and frontier, locked until the transaction ends (serialises appends)."""
        ...

    def audit_head(self) -> tuple[int, list[bytes]]: ...

    def set_audit_head(self, size: int, frontier: list[bytes]) -> None: ...

    def add_audit_events(self, events: Sequence[AuditEvent]) -> None: ...

    def scan_audit(self, *, after_sequence: int, limit: int) -> list[AuditEvent]:
        """Events with sequence > after_sequence in order, payloads as stored (for verify)."""
        ...

    def list_audit(
        self, flt: AuditFilter, *, after_sequence: int | None, limit: int, descending: bool = False
    ) -> list[AuditEvent]: ...

    def get_audit(self, sequence: int) -> AuditEvent | None: ...

    def audit_leaf_hashes(self, size: int) -> list[bytes]:
        """Leaf hashes of the first ``size`` events, in order."""
        ...

    def redact_audit_subject(self, subject_id: str) -> int:
        """Blank the payload of events about or by the subject; keeps sequence, time, hash."""
        ...

    def audit_counts(self) -> list[tuple[str, str, int]]:
        """(action, outcome, count) for every pair present."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def latest_checkpoint(self) -> Checkpoint | None: ...

    def all_checkpoints(self) -> list[Checkpoint]: ...

    def list_checkpoints(self, *, after_size: int, limit: int) -> list[Checkpoint]: ...


# The transaction a store hands out: at least an AuditTx, often more (the application's store
# holds every table), so work run in a group commit can use the rest of it, typed.
TxT_co = TypeVar("TxT_co", bound=AuditTx, covariant=True)


class AuditStore(Protocol[TxT_co]):
    """Transactions over the audit table (a store may hold much else besides)."""

    def write(self) -> AbstractContextManager[TxT_co]: ...

    def read(self) -> AbstractContextManager[TxT_co]: ...


class CheckpointKey(Protocol):
    """The key that signs checkpoints now."""

    @property
    def kid(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class CheckpointKeys(Protocol):
    def active(self) -> CheckpointKey: ...

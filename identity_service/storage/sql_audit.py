"""The audit log's table, head and checkpoints in SQL: ``auditlog.ports.AuditTx``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import select

from auditlog.merkle import pack_frontier, unpack_frontier
from auditlog.model import ActorType, AuditEvent, Checkpoint, Outcome
from auditlog.ports import AuditFilter
from identity_service.storage.sql_rows import _SqlRows
from identity_service.storage.tables import (
    AuditCheckpointRow,
    AuditEventRow,
    AuditHeadRow,
)
from kernel.clock import from_us, to_us

AUDIT = AuditEventRow.__table__  # type: ignore[attr-defined]
AUDIT_HEAD = AuditHeadRow.__table__  # type: ignore[attr-defined]
# Every append runs these; built once, run on the connection (no ORM statement handling).
_LOCK_AUDIT_HEAD = sa_select(AUDIT_HEAD.c.size, AUDIT_HEAD.c.frontier).where(AUDIT_HEAD.c.id == 1).with_for_update()
_SET_AUDIT_HEAD = (
    update(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1).values(size=bindparam("size"), frontier=bindparam("frontier"))
)
_INSERT_AUDIT = insert(AUDIT)
CHECKPOINTS = AuditCheckpointRow.__table__  # type: ignore[attr-defined]


class AuditRows(_SqlRows):
    """``auditlog.ports.AuditTx``."""

    def lock_audit_head(self) -> tuple[int, list[bytes]]:
        row = self.session.connection().execute(_LOCK_AUDIT_HEAD).one()
        return int(row.size), unpack_frontier(bytes(row.frontier))

    def audit_head(self) -> tuple[int, list[bytes]]:
        row = self.session.exec(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one()
        return row.size, unpack_frontier(row.frontier)

    def set_audit_head(self, size: int, frontier: list[bytes]) -> None:
        self.session.connection().execute(_SET_AUDIT_HEAD, {"size": size, "frontier": pack_frontier(frontier)})

    def add_audit_events(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        self.session.connection().execute(
            _INSERT_AUDIT,
            [
                {
                    "seq": e.sequence, "time_us": to_us(e.time), "actor_type": e.actor_type.value,
                    "actor_id": e.actor_id, "subject_id": e.subject_id, "action": e.action,
                    "outcome": e.outcome.value, "reason": e.reason, "request_id": e.request_id,
                    "details": json.dumps(e.details, sort_keys=True), "leaf_hash": e.leaf_hash,
                    "redacted": e.redacted,
                }
                for e in events
            ],
        )

    def scan_audit(self, *, after_sequence: int, limit: int) -> list[AuditEvent]:
        query = AUDIT.select().where(AUDIT.c.seq > after_sequence).order_by(AUDIT.c.seq).limit(limit)
        return [_audit_event(row) for row in self.session.execute(query)]

    def list_audit(
        self, flt: AuditFilter, *, after_sequence: int | None, limit: int, descending: bool = False
    ) -> list[AuditEvent]:
        query = AUDIT.select()
        if flt.subject_id:
            query = query.where(AUDIT.c.subject_id == flt.subject_id)
        if flt.action:
            query = query.where(AUDIT.c.action == flt.action)
        if flt.outcome is not None:
            query = query.where(AUDIT.c.outcome == flt.outcome.value)
        if flt.start_time is not None:
            query = query.where(AUDIT.c.time_us >= to_us(flt.start_time))
        if flt.end_time is not None:
            query = query.where(AUDIT.c.time_us < to_us(flt.end_time))
        if after_sequence is not None:
            query = query.where(AUDIT.c.seq < after_sequence if descending else AUDIT.c.seq > after_sequence)
        query = query.order_by(AUDIT.c.seq.desc() if descending else AUDIT.c.seq).limit(limit)
        return [_audit_event(row) for row in self.session.execute(query)]

    def get_audit(self, sequence: int) -> AuditEvent | None:
        row = self.session.execute(AUDIT.select().where(AUDIT.c.seq == sequence)).first()
        return None if row is None else _audit_event(row)

    def audit_leaf_hashes(self, size: int) -> list[bytes]:
        query = select(AUDIT.c.leaf_hash).where(AUDIT.c.seq < size).order_by(AUDIT.c.seq)
        return [bytes(h) for h in self.session.execute(query).scalars()]

    def redact_audit_subject(self, subject_id: str) -> int:
        result = self.session.execute(
            update(AUDIT)
            .where(
                or_(
                    AUDIT.c.subject_id == subject_id,
                    (AUDIT.c.actor_type == ActorType.USER.value) & (AUDIT.c.actor_id == subject_id),
                )
            )
            .values(actor_id="", subject_id="", action="", outcome=Outcome.REDACTED.value, reason="",
                    request_id="", details="{}", redacted=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def audit_counts(self) -> list[tuple[str, str, int]]:
        query = (
            select(AUDIT.c.action, AUDIT.c.outcome, func.count())
            .group_by(AUDIT.c.action, AUDIT.c.outcome)
            .order_by(AUDIT.c.action, AUDIT.c.outcome)
        )
        return [(a, o, int(n)) for a, o, n in self.session.execute(query)]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.session.execute(
            insert(CHECKPOINTS).values(
                tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash, time_us=to_us(checkpoint.time),
                key_id=checkpoint.key_id, signature=checkpoint.signature, signed_body=checkpoint.signed_body,
            )
        )

    def latest_checkpoint(self) -> Checkpoint | None:
        row = self.session.execute(CHECKPOINTS.select().order_by(CHECKPOINTS.c.tree_size.desc()).limit(1)).first()
        return None if row is None else _checkpoint(row)

    def all_checkpoints(self) -> list[Checkpoint]:
        return [_checkpoint(r) for r in self.session.execute(CHECKPOINTS.select().order_by(CHECKPOINTS.c.tree_size))]

    def list_checkpoints(self, *, after_size: int, limit: int) -> list[Checkpoint]:
        query = (
            CHECKPOINTS.select()
            .where(CHECKPOINTS.c.tree_size > after_size)
            .order_by(CHECKPOINTS.c.tree_size)
            .limit(limit)
        )
        return [_checkpoint(r) for r in self.session.execute(query)]


def _audit_event(row: Any) -> AuditEvent:
    return AuditEvent(
        sequence=row.seq, time=from_us(row.time_us), actor_type=ActorType(row.actor_type), actor_id=row.actor_id,
        subject_id=row.subject_id, action=row.action, outcome=Outcome(row.outcome), reason=row.reason,
        request_id=row.request_id, details=json.loads(row.details), leaf_hash=bytes(row.leaf_hash),
        redacted=bool(row.redacted),
    )


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        tree_size=row.tree_size, root_hash=bytes(row.root_hash), time=from_us(row.time_us), key_id=row.key_id,
        signature=bytes(row.signature), signed_body=bytes(row.signed_body),
    )

"""The SQL implementation of the storage interface, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, delete, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col, select, text

from auditlog.merkle import pack_frontier, unpack_frontier
from auditlog.model import ActorType, AuditEvent, Checkpoint, Outcome
from auditlog.ports import AuditFilter
from consent.model import Audience, CameoPolicy, ContentCategory, Grant, GrantState, PermissionFacts
from consent.ports import Edge, OwnerErasure, RevocationEntry
from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
    SubjectKeyRecord,
    TemplateRecord,
)
from identity_service.storage.engine import READONLY, make_engine
from identity_service.storage.tables import (
    AuditCheckpointRow,
    AuditEventRow,
    AuditHeadRow,
    BlockRow,
    CameoPolicyRow,
    EnrollmentMediaRow,
    EnrollmentRow,
    EnrollmentSessionRow,
    GrantRow,
    RelationshipRow,
    RevocationRow,
    SubjectKeyRow,
    TemplateChangeRow,
    TemplateRow,
)
from kernel.clock import from_us, to_us, utc_now
from kernel.errors import StorageUnavailable

AUDIT = AuditEventRow.__table__  # type: ignore[attr-defined]
AUDIT_HEAD = AuditHeadRow.__table__  # type: ignore[attr-defined]
# Every append runs these; built once, run on the connection (no ORM statement handling).
_LOCK_AUDIT_HEAD = sa_select(AUDIT_HEAD.c.size, AUDIT_HEAD.c.frontier).where(AUDIT_HEAD.c.id == 1).with_for_update()
_SET_AUDIT_HEAD = (
    update(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1).values(size=bindparam("size"), frontier=bindparam("frontier"))
)
_INSERT_AUDIT = insert(AUDIT)
CHECKPOINTS = AuditCheckpointRow.__table__  # type: ignore[attr-defined]

log = structlog.get_logger(__name__)


class SqlTx:
    """One transaction over a SQLModel session."""

    def __init__(self, session: Session, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    # --- identity -------------------------------------------------------------------------

    def get_enrollment(self, subject_id: str) -> EnrollmentRecord | None:
        row = self.session.get(EnrollmentRow, subject_id)
        return None if row is None else _enrollment(row)

    def put_enrollment(self, record: EnrollmentRecord) -> None:
        row = self.session.get(EnrollmentRow, record.subject_id) or EnrollmentRow(
            subject_id=record.subject_id, state="", create_us=0, update_us=0
        )
        row.state = record.status.value
        row.create_us = to_us(record.create_time)
        row.update_us = to_us(record.update_time)
        row.template_models = ",".join(record.template_models)
        row.session_id = record.session_id
        row.session_expire_us = (
            None if record.session_expire_time is None else to_us(record.session_expire_time)
        )
        self.session.add(row)
        self.session.flush()

    def list_enrollments(
        self, *, status: EnrollmentStatus | None, after_subject_id: str, limit: int
    ) -> list[EnrollmentRecord]:
        query = select(EnrollmentRow).where(col(EnrollmentRow.subject_id) > after_subject_id)
        if status is not None:
            query = query.where(col(EnrollmentRow.state) == status.value)
        query = query.order_by(col(EnrollmentRow.subject_id)).limit(limit)
        return [_enrollment(row) for row in self.session.exec(query)]

    def add_session(self, record: EnrollmentSessionRecord) -> None:
        self.session.add(
            EnrollmentSessionRow(
                session_id=record.session_id,
                subject_id=record.subject_id,
                nonce=record.nonce,
                digits=record.digits,
                head_turns=",".join(record.head_turns),
                reenroll=record.reenroll,
                state=record.status.value,
                create_us=to_us(record.create_time),
                expire_us=to_us(record.expire_time),
                used_us=None if record.used_time is None else to_us(record.used_time),
            )
        )
        self.session.flush()

    def get_session(self, session_id: str) -> EnrollmentSessionRecord | None:
        row = self.session.get(EnrollmentSessionRow, session_id)
        return None if row is None else _session(row)

    def supersede_open_sessions(self, subject_id: str) -> int:
        result = self.session.exec(
            update(EnrollmentSessionRow)
            .where(col(EnrollmentSessionRow.subject_id) == subject_id)
            .where(col(EnrollmentSessionRow.state) == SessionStatus.OPEN.value)
            .values(state=SessionStatus.SUPERSEDED.value)
        )
        return int(result.rowcount)

    def mark_session_used(self, session_id: str, used_time: datetime) -> bool:
        # A conditional UPDATE is the atomic compare-and-set on both backends: two uploads
        # racing for one session cannot both see it open.
        result = self.session.exec(
            update(EnrollmentSessionRow)
            .where(col(EnrollmentSessionRow.session_id) == session_id)
            .where(col(EnrollmentSessionRow.state) == SessionStatus.OPEN.value)
            .values(state=SessionStatus.USED.value, used_us=to_us(used_time))
        )
        return int(result.rowcount) == 1

    def session_starts_since(self, subject_id: str, since: datetime) -> list[datetime]:
        rows = self.session.exec(
            select(EnrollmentSessionRow.create_us)
            .where(col(EnrollmentSessionRow.subject_id) == subject_id)
            .where(col(EnrollmentSessionRow.create_us) > to_us(since))
            .order_by(col(EnrollmentSessionRow.create_us))
        ).all()
        return [from_us(us) for us in rows]

    def delete_subject(self, subject_id: str) -> int:
        templates = len(self.session.exec(
            select(TemplateRow.template_id).where(col(TemplateRow.subject_id) == subject_id)).all())
        for table, column in (
            (EnrollmentSessionRow, EnrollmentSessionRow.subject_id),
            (EnrollmentRow, EnrollmentRow.subject_id),
            (TemplateRow, TemplateRow.subject_id),
            # The data key goes with the rows: a template surviving anywhere (a backup, a
            # replica lagging behind) can no longer be decrypted. Crypto-shredding.
            (SubjectKeyRow, SubjectKeyRow.subject_id),
        ):
            self.session.exec(delete(table).where(col(column) == subject_id))
        self.add_template_change(subject_id)
        return templates

    def claim_media_hash(self, media_sha256: str, now: datetime, keep: timedelta) -> bool:
        self.session.exec(delete(EnrollmentMediaRow).where(col(EnrollmentMediaRow.create_us) < to_us(now - keep)))
        if self.session.get(EnrollmentMediaRow, media_sha256) is not None:
            return False
        # A concurrent upload of the same bytes makes this insert fail on the key (inside a
        # savepoint, so this transaction goes on and reports the replay).
        try:
            with self.session.begin_nested():
                self.session.add(EnrollmentMediaRow(media_sha256=media_sha256, create_us=to_us(now)))
        except IntegrityError:
            return False
        return True

    # --- templates ------------------------------------------------------------------------

    def get_subject_key(self, subject_id: str) -> SubjectKeyRecord | None:
        row = self.session.get(SubjectKeyRow, subject_id)
        return None if row is None else _subject_key(row)

    def put_subject_key(self, record: SubjectKeyRecord) -> None:
        row = self.session.get(SubjectKeyRow, record.subject_id) or SubjectKeyRow(
            subject_id=record.subject_id, kek_id="", wrapped_key=b"", create_us=0)
        row.kek_id = record.kek_id
        row.wrapped_key = record.wrapped_key
        row.create_us = to_us(record.create_time)
        row.rewrap_us = None if record.rewrap_time is None else to_us(record.rewrap_time)
        self.session.add(row)
        self.session.flush()

    def list_subject_keys(self, *, after_subject_id: str, limit: int, kek_id: str = "") -> list[SubjectKeyRecord]:
        query = select(SubjectKeyRow).where(col(SubjectKeyRow.subject_id) > after_subject_id)
        if kek_id:
            query = query.where(col(SubjectKeyRow.kek_id) == kek_id)
        query = query.order_by(col(SubjectKeyRow.subject_id)).limit(limit)
        return [_subject_key(row) for row in self.session.exec(query)]

    def count_subject_keys_by_kek(self) -> dict[str, int]:
        query = select(SubjectKeyRow.kek_id, func.count()).group_by(col(SubjectKeyRow.kek_id))
        return {str(kek): int(n) for kek, n in self.session.exec(query)}

    def replace_templates(self, subject_id: str, records: Sequence[TemplateRecord]) -> None:
        self.session.exec(delete(TemplateRow).where(col(TemplateRow.subject_id) == subject_id))
        for r in records:
            self.session.add(TemplateRow(
                template_id=r.template_id, subject_id=r.subject_id, modality=r.modality, model_id=r.model_id,
                model_version=r.model_version, nonce=r.nonce, ciphertext=r.ciphertext, create_us=to_us(r.create_time),
            ))
        self.add_template_change(subject_id)
        self.session.flush()

    def list_templates(self, subject_id: str) -> list[TemplateRecord]:
        query = select(TemplateRow).where(col(TemplateRow.subject_id) == subject_id).order_by(
            col(TemplateRow.template_id))
        return [_template(row) for row in self.session.exec(query)]

    def scan_templates(self, *, after: tuple[str, str], limit: int) -> list[TemplateRecord]:
        """Every template ordered by (subject, template id), a page at a time."""
        subject, template = after
        query = select(TemplateRow).where(or_(
            col(TemplateRow.subject_id) > subject,
            (col(TemplateRow.subject_id) == subject) & (col(TemplateRow.template_id) > template),
        )).order_by(col(TemplateRow.subject_id), col(TemplateRow.template_id)).limit(limit)
        return [_template(row) for row in self.session.exec(query)]

    def add_template_change(self, subject_id: str) -> None:
        self.session.add(TemplateChangeRow(subject_id=subject_id, change_us=to_us(utc_now())))

    def template_changes_since(self, change_us: int) -> list[tuple[str, int]]:
        query = select(TemplateChangeRow.subject_id, TemplateChangeRow.change_us).where(
            col(TemplateChangeRow.change_us) >= change_us).order_by(col(TemplateChangeRow.change_us))
        return [(str(s), int(t)) for s, t in self.session.exec(query)]


    # --- audit ----------------------------------------------------------------------------

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


    # --- consent --------------------------------------------------------------------------

    def _serialise(self, name: str) -> None:
        """Hold a named lock until commit. SQLite writers are already exclusive."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def get_policy(self, owner_id: str) -> CameoPolicy | None:
        row = self.session.get(CameoPolicyRow, owner_id)
        return None if row is None else _policy(owner_id, row, self.get_blocked(owner_id))

    def put_policy(self, policy: CameoPolicy, *, expected_version: int) -> bool:
        values: dict[str, Any] = {"audience": policy.audience.value,
                  "refused_categories": ",".join(sorted(c.value for c in policy.refused_categories)),
                  "instructions": policy.instructions, "public_figure": policy.public_figure,
                  "update_us": to_us(policy.update_time) if policy.update_time else 0, "version": policy.version}
        if expected_version == 0 and self.session.get(CameoPolicyRow, policy.owner_id) is None:
            # The first policy: an insert, which a concurrent first insert makes fail on the key
            # (inside a savepoint, so this transaction goes on and reports the conflict).
            try:
                with self.session.begin_nested():
                    self.session.add(CameoPolicyRow(owner_id=policy.owner_id, **values))
            except IntegrityError:
                return False
        else:
            # Compare and set in one statement: under READ COMMITTED a concurrent writer's update
            # is waited for and then re-checked against the version, so exactly one of them wins.
            written = self.session.exec(
                update(CameoPolicyRow)
                .where(col(CameoPolicyRow.owner_id) == policy.owner_id, col(CameoPolicyRow.version) == expected_version)
                .values(**values))
            if int(written.rowcount) != 1:
                return False
            self.session.expire_all()
        self.session.exec(delete(BlockRow).where(col(BlockRow.owner_id) == policy.owner_id))
        for blocked in sorted(policy.blocked_ids):
            self.session.add(BlockRow(owner_id=policy.owner_id, blocked_id=blocked))
        self.session.flush()
        return True

    def permission_facts(self, owner_id: str, requester_id: str) -> PermissionFacts:
        return self.permission_facts_many([(owner_id, requester_id)])[0]

    def permission_facts_many(self, pairs: Sequence[tuple[str, str]]) -> list[PermissionFacts]:
        # Two statements for any number of pairs: a group of checks costs the database (and, on
        # SQLite, the GIL hand-offs around each statement) the same as one check.
        if not pairs:
            return []
        conn = self.session.connection()
        sql = _FACTS_MANY_SQL[self.dialect == "postgresql"]
        rows = sorted(conn.execute(sql, {"pairs": json.dumps(pairs)}), key=lambda r: int(r.idx))
        policies = [
            CameoPolicy.default(owner) if row.audience is None
            else _policy(owner, row, frozenset({requester}) if row.blocked else frozenset())
            for (owner, requester), row in zip(pairs, rows, strict=True)
        ]
        with_grants = [
            i for i, row in enumerate(rows) if row.grant_count and policies[i].audience != Audience.NOBODY
        ]
        grants: dict[int, tuple[Grant, ...]] = {}
        if with_grants:
            read = self._grants_for_many([pairs[i] for i in with_grants])
            grants = dict(zip(with_grants, read, strict=True))
        return [
            PermissionFacts(policies[i], bool(row.owner_edge), bool(row.requester_edge), grants.get(i, ()))
            for i, row in enumerate(rows)
        ]

    def get_blocked(self, owner_id: str) -> frozenset[str]:
        query = select(BlockRow.blocked_id).where(col(BlockRow.owner_id) == owner_id)
        return frozenset(self.session.exec(query))

    def add_grant(self, grant: Grant) -> None:
        self.session.add(
            GrantRow(
                grant_id=grant.grant_id, owner_id=grant.owner_id, grantee_id=grant.grantee_id,
                audience=grant.audience.value if grant.audience else None, start_us=to_us(grant.start_time),
                end_us=to_us(grant.end_time) if grant.end_time else None, create_us=to_us(grant.create_time),
                revoked=grant.revoked, revoke_us=to_us(grant.revoke_time) if grant.revoke_time else None,
            )
        )
        self.session.flush()

    def get_grant(self, owner_id: str, grant_id: str) -> Grant | None:
        row = self.session.get(GrantRow, grant_id)
        return None if row is None or row.owner_id != owner_id else _grant(row)

    def list_grants(
        self, owner_id: str, *, state: GrantState | None, now: datetime, after_grant_id: str, limit: int
    ) -> list[Grant]:
        query = select(GrantRow).where(col(GrantRow.owner_id) == owner_id, col(GrantRow.grant_id) > after_grant_id)
        now_us = to_us(now)
        active_window = or_(col(GrantRow.end_us).is_(None), col(GrantRow.end_us) > now_us)
        if state == GrantState.REVOKED:
            query = query.where(col(GrantRow.revoked).is_(True))
        elif state == GrantState.ACTIVE:
            query = query.where(col(GrantRow.revoked).is_(False), active_window)
        elif state == GrantState.EXPIRED:
            query = query.where(col(GrantRow.revoked).is_(False), col(GrantRow.end_us) <= now_us)
        query = query.order_by(col(GrantRow.grant_id)).limit(limit)
        return [_grant(r) for r in self.session.exec(query)]

    def set_grant_revoked(self, owner_id: str, grant_id: str, revoke_time: datetime) -> bool:
        result = self.session.exec(
            update(GrantRow)
            .where(col(GrantRow.grant_id) == grant_id, col(GrantRow.owner_id) == owner_id)
            .where(col(GrantRow.revoked).is_(False))
            .values(revoked=True, revoke_us=to_us(revoke_time))
        )
        return int(result.rowcount) == 1

    def grants_for(self, owner_id: str, requester_id: str) -> list[Grant]:
        return list(self._grants_for_many([(owner_id, requester_id)])[0])

    def _grants_for_many(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[Grant, ...]]:
        """Per (owner, requester) pair, the owner's unrevoked grants to that requester or to an
        audience, by grant id, from one statement. Grants to people outside the pairs are never
        read: an owner may have approved thousands."""
        owners = sorted({owner for owner, _ in pairs})
        requesters = sorted({requester for _, requester in pairs})
        query = select(GrantRow).where(
            col(GrantRow.owner_id).in_(owners),
            col(GrantRow.revoked).is_(False),
            or_(col(GrantRow.grantee_id).in_(requesters), col(GrantRow.audience).is_not(None)),
        ).order_by(col(GrantRow.grant_id))
        by_owner: dict[str, list[Grant]] = {}
        for row in self.session.exec(query):
            by_owner.setdefault(row.owner_id, []).append(_grant(row))
        return [
            tuple(g for g in by_owner.get(owner, ()) if g.grantee_id == requester or g.audience is not None)
            for owner, requester in pairs
        ]

    def upsert_edge(self, edge: Edge, *, present: bool) -> bool:
        self._serialise(f"edge:{edge.from_id}:{edge.to_id}")
        row = self.session.get(RelationshipRow, (edge.from_id, edge.to_id))
        if row is not None and row.version >= edge.version:
            return False
        if row is None:
            row = RelationshipRow(from_id=edge.from_id, to_id=edge.to_id, version=edge.version, present=present)
        row.version = edge.version
        row.present = present
        self.session.add(row)
        self.session.flush()
        return True

    def has_edge(self, from_id: str, to_id: str) -> bool:
        row = self.session.get(RelationshipRow, (from_id, to_id))
        return row is not None and row.present

    def list_edges(self, subject_id: str, *, after: tuple[str, str], limit: int) -> list[Edge]:
        query = (
            select(RelationshipRow)
            .where(col(RelationshipRow.present).is_(True))
            .where(or_(col(RelationshipRow.from_id) == subject_id, col(RelationshipRow.to_id) == subject_id))
            .where(
                or_(
                    col(RelationshipRow.from_id) > after[0],
                    (col(RelationshipRow.from_id) == after[0]) & (col(RelationshipRow.to_id) > after[1]),
                )
            )
            .order_by(col(RelationshipRow.from_id), col(RelationshipRow.to_id))
            .limit(limit)
        )
        return [Edge(r.from_id, r.to_id, r.version) for r in self.session.exec(query)]

    def add_revocation(self, grant: str, owner_id: str, revoke_time: datetime) -> int:
        # Cursors are taken under a lock held to commit, so a feed reader that has seen cursor n
        # can never later find a smaller cursor appear (sequences would allow that).
        self._serialise("consent_revocations")
        top = self.session.exec(select(func.max(RevocationRow.cursor))).one()
        cursor = int(top or 0) + 1
        self.session.add(
            RevocationRow(cursor=cursor, grant_name=grant, owner_id=owner_id, revoke_us=to_us(revoke_time))
        )
        self.session.flush()
        return cursor

    def erase_owner(self, owner_id: str) -> OwnerErasure:
        policy = self.session.exec(delete(CameoPolicyRow).where(col(CameoPolicyRow.owner_id) == owner_id))
        self.session.exec(delete(BlockRow).where(col(BlockRow.owner_id) == owner_id))
        grants = self.session.exec(delete(GrantRow).where(col(GrantRow.owner_id) == owner_id))
        # Edges become tombstones (ids and version, no friendship), as a sync's delete leaves
        # them: a late sync of an older version must not bring a friendship back.
        edges = self.session.exec(
            update(RelationshipRow)
            .where(or_(col(RelationshipRow.from_id) == owner_id, col(RelationshipRow.to_id) == owner_id))
            .where(col(RelationshipRow.present).is_(True))
            .values(present=False))
        return OwnerErasure(policy=int(policy.rowcount) > 0, grants=int(grants.rowcount),
                            relationships=int(edges.rowcount))

    def revocation_cursor(self) -> int:
        return int(self.session.exec(select(func.max(RevocationRow.cursor))).one() or 0)

    def list_revocations(self, *, since_cursor: int, limit: int) -> list[RevocationEntry]:
        query = (
            select(RevocationRow)
            .where(col(RevocationRow.cursor) > since_cursor)
            .order_by(col(RevocationRow.cursor))
            .limit(limit)
        )
        rows = self.session.exec(query)
        return [RevocationEntry(r.cursor, r.grant_name, r.owner_id, from_us(r.revoke_us)) for r in rows]


# One round trip for everything a permission check needs except the (rare) grants themselves.
# The block list is probed for this requester only: an owner may block thousands.
# The facts for a JSON array of [owner, requester] pairs, one row per pair with its index.
_FACTS_MANY_BODY = """
    SELECT q.idx, p.audience, p.refused_categories, p.instructions, p.public_figure, p.update_us, p.version,
      EXISTS (SELECT 1 FROM consent_blocks b WHERE b.owner_id = q.owner AND b.blocked_id = q.requester) AS blocked,
      EXISTS (SELECT 1 FROM relationships r WHERE r.from_id = q.owner AND r.to_id = q.requester AND r.present)
        AS owner_edge,
      EXISTS (SELECT 1 FROM relationships r WHERE r.from_id = q.requester AND r.to_id = q.owner AND r.present)
        AS requester_edge,
      (SELECT COUNT(*) FROM consent_grants g WHERE g.owner_id = q.owner AND NOT g.revoked
         AND (g.grantee_id = q.requester OR g.audience IS NOT NULL)) AS grant_count
    FROM q LEFT JOIN consent_policies p ON p.owner_id = q.owner
"""
_FACTS_MANY_SQL = {
    # Constant text on both dialects: the pairs are a bound parameter.
    False: text(  # SQLite
        "WITH q AS (SELECT CAST(key AS INTEGER) AS idx, json_extract(value, '$[0]') AS owner,"  # noqa: S608
        " json_extract(value, '$[1]') AS requester FROM json_each(:pairs))"
        + _FACTS_MANY_BODY
    ),
    True: text(  # PostgreSQL
        "WITH q AS (SELECT t.ord - 1 AS idx, t.pair ->> 0 AS owner, t.pair ->> 1 AS requester"  # noqa: S608
        " FROM jsonb_array_elements(CAST(:pairs AS jsonb)) WITH ORDINALITY AS t(pair, ord))"
        + _FACTS_MANY_BODY
    ),
}


def _policy(owner_id: str, row: Any, blocked_ids: frozenset[str]) -> CameoPolicy:
    """A policy from a consent_policies row (ORM or Core; same column names)."""
    return CameoPolicy(
        owner_id=owner_id, audience=Audience(row.audience), blocked_ids=blocked_ids,
        refused_categories=frozenset(ContentCategory(c) for c in row.refused_categories.split(",") if c),
        instructions=row.instructions, public_figure=bool(row.public_figure), update_time=from_us(row.update_us),
        version=row.version,
    )


def _grant(row: GrantRow) -> Grant:
    return Grant(
        grant_id=row.grant_id, owner_id=row.owner_id, grantee_id=row.grantee_id,
        audience=Audience(row.audience) if row.audience else None, start_time=from_us(row.start_us),
        end_time=from_us(row.end_us) if row.end_us is not None else None, create_time=from_us(row.create_us),
        revoked=row.revoked, revoke_time=from_us(row.revoke_us) if row.revoke_us is not None else None,
    )


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


def _enrollment(row: EnrollmentRow) -> EnrollmentRecord:
    return EnrollmentRecord(
        subject_id=row.subject_id,
        status=EnrollmentStatus(row.state),
        create_time=from_us(row.create_us),
        update_time=from_us(row.update_us),
        template_models=tuple(m for m in row.template_models.split(",") if m),
        session_id=row.session_id,
        session_expire_time=None if row.session_expire_us is None else from_us(row.session_expire_us),
    )


def _session(row: EnrollmentSessionRow) -> EnrollmentSessionRecord:
    return EnrollmentSessionRecord(
        session_id=row.session_id,
        subject_id=row.subject_id,
        nonce=row.nonce,
        digits=row.digits,
        head_turns=tuple(t for t in row.head_turns.split(",") if t),
        reenroll=row.reenroll,
        status=SessionStatus(row.state),
        create_time=from_us(row.create_us),
        expire_time=from_us(row.expire_us),
        used_time=None if row.used_us is None else from_us(row.used_us),
    )


class SqlStore:
    """Store over a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly_engine = engine.execution_options(**{READONLY: True})
        # SQLite has one writer at a time; queueing writers of this process on a lock is fairer
        # and far faster than letting them spin in SQLite's sleeping busy handler.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _transaction(self, bind: Engine) -> Iterator[SqlTx]:
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                yield SqlTx(session, self.dialect)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                log.error("storage_unavailable", error=type(exc).__name__, detail=str(exc.orig))
                raise StorageUnavailable() from exc
            raise

    def write(self) -> AbstractContextManager[SqlTx]:
        if self._write_lock is None:
            return self._transaction(self.engine)
        return self._locked_write()

    @contextmanager
    def _locked_write(self) -> Iterator[SqlTx]:
        assert self._write_lock is not None
        with self._write_lock, self._transaction(self.engine) as tx:
            yield tx

    def read(self) -> AbstractContextManager[SqlTx]:
        return self._transaction(self._readonly_engine)

    def ping(self) -> None:
        with self.read() as tx:
            tx.session.exec(select(text("1")))

    def close(self) -> None:
        self.engine.dispose()


def _subject_key(row: SubjectKeyRow) -> SubjectKeyRecord:
    return SubjectKeyRecord(
        subject_id=row.subject_id, kek_id=row.kek_id, wrapped_key=bytes(row.wrapped_key),
        create_time=from_us(row.create_us), rewrap_time=None if row.rewrap_us is None else from_us(row.rewrap_us),
    )


def _template(row: TemplateRow) -> TemplateRecord:
    return TemplateRecord(
        template_id=row.template_id, subject_id=row.subject_id, modality=row.modality, model_id=row.model_id,
        model_version=row.model_version, nonce=bytes(row.nonce), ciphertext=bytes(row.ciphertext),
        create_time=from_us(row.create_us),
    )

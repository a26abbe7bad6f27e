"""Policies, blocks, grants, relationships and the revocation feed in SQL: ``ConsentTx``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, text

from consent.model import Audience, CameoPolicy, ContentCategory, Grant, GrantState, PermissionFacts
from consent.ports import Edge, OwnerErasure, RevocationEntry
from identity_service.storage.sql_rows import _SqlRows
from identity_service.storage.tables import (
    BlockRow,
    CameoPolicyRow,
    GrantRow,
    RelationshipRow,
    RevocationRow,
)
from kernel.clock import from_us, to_us


class ConsentRows(_SqlRows):
    """``consent.ports.ConsentTx``."""

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

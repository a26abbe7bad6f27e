"""Sealed templates, wrapped data keys and the template change feed in SQL: ``TemplateTx``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_
from sqlmodel import col, select

from identity.model import (
    SubjectKeyRecord,
    TemplateRecord,
)
from identity_service.storage.sql_rows import _SqlRows
from identity_service.storage.tables import (
    SubjectKeyRow,
    TemplateChangeRow,
    TemplateRow,
)
from kernel.clock import from_us, to_us, utc_now


class TemplateRows(_SqlRows):
    """``identity.ports.TemplateTx``."""

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

    def templates_of(self, subject_ids: Sequence[str]) -> list[TemplateRecord]:
        if not subject_ids:
            return []
        query = select(TemplateRow).where(col(TemplateRow.subject_id).in_(sorted(set(subject_ids)))).order_by(
            col(TemplateRow.subject_id), col(TemplateRow.template_id))
        return [_template(row) for row in self.session.exec(query)]

    def subject_keys_of(self, subject_ids: Sequence[str]) -> list[SubjectKeyRecord]:
        if not subject_ids:
            return []
        query = select(SubjectKeyRow).where(col(SubjectKeyRow.subject_id).in_(sorted(set(subject_ids))))
        return [_subject_key(row) for row in self.session.exec(query)]

    def count_templates(self) -> dict[str, int]:
        query = select(TemplateRow.modality, func.count()).group_by(col(TemplateRow.modality))
        return {str(modality): int(count) for modality, count in self.session.exec(query)}

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

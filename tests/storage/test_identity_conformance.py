"""Storage conformance: the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from identity_service.storage import migrate
from identity_service.storage.base import Store
from identity_service.storage.sql import SqlStore

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)


def enrollment(subject: str, status: EnrollmentStatus = EnrollmentStatus.PENDING) -> EnrollmentRecord:
    return EnrollmentRecord(subject_id=subject, status=status, create_time=T0, update_time=T0)


def session(session_id: str, subject: str = "alice") -> EnrollmentSessionRecord:
    return EnrollmentSessionRecord(
        session_id=session_id, subject_id=subject, nonce=b"\x00\xffnonce", digits="40719",
        head_turns=("left", "up"), reenroll=False, status=SessionStatus.OPEN,
        create_time=T0, expire_time=T0 + timedelta(minutes=2),
    )


def test_migrations_match_the_models(store: Store) -> None:
    assert isinstance(store, SqlStore)  # SQL backends only
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_enrollment_round_trip_keeps_microseconds_and_utc(store: Store) -> None:
    record = EnrollmentRecord(
        subject_id="alice", status=EnrollmentStatus.ACTIVE, create_time=T0,
        update_time=T0 + timedelta(seconds=1), template_models=("w600k_mbf@1", "ecapa@1"),
        session_id="s1", session_expire_time=T0 + timedelta(minutes=2),
    )
    with store.write() as tx:
        tx.put_enrollment(record)
    with store.read() as tx:
        assert tx.get_enrollment("alice") == record
        assert tx.get_enrollment("bob") is None


def test_put_enrollment_replaces(store: Store) -> None:
    with store.write() as tx:
        tx.put_enrollment(enrollment("alice"))
    with store.write() as tx:
        tx.put_enrollment(enrollment("alice", EnrollmentStatus.FAILED))
    with store.read() as tx:
        got = tx.get_enrollment("alice")
    assert got is not None and got.status == EnrollmentStatus.FAILED


def test_list_enrollments_pages_in_subject_order_with_filter(store: Store) -> None:
    with store.write() as tx:
        for i in range(7):
            tx.put_enrollment(
                enrollment(f"s{i:02d}", EnrollmentStatus.ACTIVE if i % 2 else EnrollmentStatus.PENDING)
            )
    with store.read() as tx:
        first = tx.list_enrollments(status=None, after_subject_id="", limit=3)
        second = tx.list_enrollments(status=None, after_subject_id=first[-1].subject_id, limit=3)
        active = tx.list_enrollments(status=EnrollmentStatus.ACTIVE, after_subject_id="", limit=10)
    assert [r.subject_id for r in first] == ["s00", "s01", "s02"]
    assert [r.subject_id for r in second] == ["s03", "s04", "s05"]
    assert [r.subject_id for r in active] == ["s01", "s03", "s05"]


def test_session_round_trip_and_single_use(store: Store) -> None:
    with store.write() as tx:
        tx.add_session(session("sess-1"))
    with store.read() as tx:
        assert tx.get_session("sess-1") == session("sess-1")
    with store.write() as tx:
        assert tx.mark_session_used("sess-1", T0) is True
    with store.write() as tx:
        assert tx.mark_session_used("sess-1", T0) is False
        assert tx.mark_session_used("missing", T0) is False
    with store.read() as tx:
        used = tx.get_session("sess-1")
    assert used is not None and used.status == SessionStatus.USED and used.used_time == T0


def test_racing_uploads_consume_a_session_once(store: Store) -> None:
    with store.write() as tx:
        tx.add_session(session("race"))
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def consume() -> None:
        barrier.wait()
        with store.write() as tx:
            wins.append(tx.mark_session_used("race", T0))

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_media_hash_is_claimed_once_within_its_window_and_forgotten_after(store: Store) -> None:
    keep = timedelta(hours=24)
    with store.write() as tx:
        assert tx.claim_media_hash("ab" * 32, T0, keep)
    with store.write() as tx:
        assert not tx.claim_media_hash("ab" * 32, T0 + timedelta(hours=23), keep)
        assert tx.claim_media_hash("cd" * 32, T0 + timedelta(hours=23), keep)  # another recording
    with store.write() as tx:
        assert tx.claim_media_hash("ab" * 32, T0 + timedelta(hours=25), keep)  # the window has passed


def _claim_at_once(store: Store, digest: str, claimants: int) -> tuple[list[bool], list[BaseException]]:
    wins: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(claimants)

    def claim() -> None:
        barrier.wait()
        try:
            with store.write() as tx:
                wins.append(tx.claim_media_hash(digest, T0, timedelta(hours=1)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(claimants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, errors


def test_racing_uploads_of_one_recording_claim_it_once_and_raise_nothing(store: Store) -> None:
    """Eight transactions insert the same hash at once: on PostgreSQL the losers meet the unique
    key (the storage answers False inside a savepoint), on SQLite they queue on the writer."""
    for round_ in range(5):
        wins, errors = _claim_at_once(store, f"{round_:064x}", 8)
        assert errors == []
        assert sorted(wins) == [False] * 7 + [True]


def test_supersede_closes_only_open_sessions_of_the_subject(store: Store) -> None:
    with store.write() as tx:
        tx.add_session(session("a1"))
        tx.add_session(session("a2"))
        tx.add_session(session("b1", subject="bob"))
        tx.mark_session_used("a2", T0)
    with store.write() as tx:
        assert tx.supersede_open_sessions("alice") == 1
    with store.read() as tx:
        states = {s: tx.get_session(s).status for s in ("a1", "a2", "b1")}  # type: ignore[union-attr]
    assert states == {
        "a1": SessionStatus.SUPERSEDED, "a2": SessionStatus.USED, "b1": SessionStatus.OPEN,
    }


def test_delete_subject_removes_all_its_rows_and_nothing_else(store: Store) -> None:
    with store.write() as tx:
        tx.put_enrollment(enrollment("alice"))
        tx.put_enrollment(enrollment("bob"))
        tx.add_session(session("a1"))
        tx.add_session(session("b1", subject="bob"))
    with store.write() as tx:
        assert tx.delete_subject("alice") == 0  # templates destroyed: it had none
    with store.read() as tx:
        assert tx.get_enrollment("alice") is None and tx.get_session("a1") is None
        assert tx.get_enrollment("bob") is not None and tx.get_session("b1") is not None


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.put_enrollment(enrollment("alice"))
        tx.add_session(session("a1"))
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.get_enrollment("alice") is None and tx.get_session("a1") is None


def test_duplicate_session_id_rolls_back_the_whole_transaction(store: Store) -> None:
    with store.write() as tx:
        tx.add_session(session("dup"))
    with pytest.raises(Exception), store.write() as tx:  # noqa: B017 - backend-specific type
        tx.put_enrollment(enrollment("carol"))
        tx.add_session(session("dup", subject="carol"))
    with store.read() as tx:
        assert tx.get_enrollment("carol") is None


def test_session_starts_are_counted_per_subject_within_a_window(store: Store) -> None:
    from dataclasses import replace

    with store.write() as tx:
        for i, minutes in enumerate((0, 30, 90)):
            tx.add_session(replace(session(f"a{i}"), create_time=T0 + timedelta(minutes=minutes)))
        tx.add_session(replace(session("b0", subject="bob"), create_time=T0 + timedelta(minutes=60)))
        tx.mark_session_used("a1", T0)
        tx.supersede_open_sessions("alice")
    with store.read() as tx:
        # Used and superseded sessions count too: each was an attempt.
        before = T0 - timedelta(microseconds=1)
        assert tx.session_starts_since("alice", before) == [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)]
        # Strictly after: a session exactly a window old has left the window.
        assert tx.session_starts_since("alice", T0) == [T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)]
        assert tx.session_starts_since("alice", T0 + timedelta(hours=2)) == []
        assert tx.session_starts_since("carol", before) == []

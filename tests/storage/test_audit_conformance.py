"""Audit log on SQLite and PostgreSQL: one tree under concurrency, tampering is named."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

from auditlog import merkle
from auditlog.log import AuditLog, verify_against, verify_log
from auditlog.model import ActorType, AuditDraft, Outcome
from auditlog.ports import AuditFilter
from identity_service.signing import Keyring
from identity_service.storage.base import Store
from identity_service.storage.sql import SqlStore


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys" / "signing.json")


def draft(i: int, subject: str = "alice", outcome: Outcome = Outcome.ALLOW) -> AuditDraft:
    return AuditDraft(
        actor_type=ActorType.SERVICE, actor_id="video-gen", action="consent.permission.check",
        outcome=outcome, subject_id=subject, reason=f"r{i}", request_id=f"req-{i}", details={"i": str(i)},
    )


def fill(store: Store, keyring: Keyring, n: int, every: int = 4) -> AuditLog:
    log = AuditLog(store, keyring, checkpoint_every=every)
    for i in range(n):
        with store.write() as tx:
            log.record(tx, draft(i, subject="bob" if i % 3 == 0 else "alice"))
    return log


def sql(store: Store, statement: str, **params: object) -> None:
    # Tampering goes around the interface, into the SQL tables.
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_clean_log_verifies_with_checkpoints(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 10, every=4)
    report = verify_log(store, keyring.verification_keys())
    assert report.ok, report.problem
    assert (report.events_checked, report.checkpoints_checked, report.unsigned_tail) == (10, 2, 2)


def test_filters_and_order(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 9)
    with store.read() as tx:
        bob = tx.list_audit(AuditFilter(subject_id="bob"), after_sequence=None, limit=100)
        newest = tx.list_audit(AuditFilter(), after_sequence=None, limit=2, descending=True)
        page2 = tx.list_audit(AuditFilter(subject_id="alice"), after_sequence=1, limit=2)
        counts = tx.audit_counts()
    assert [e.sequence for e in bob] == [0, 3, 6]
    assert [e.sequence for e in newest] == [8, 7]
    assert [e.sequence for e in page2] == [2, 4]
    assert counts == [("consent.permission.check", "allow", 9)]


def test_an_edited_event_is_named(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 12)
    sql(store, "UPDATE audit_events SET outcome = 'deny' WHERE seq = 5")
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 5 and "edited" in report.problem


def test_a_deleted_event_is_named(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 12)
    sql(store, "DELETE FROM audit_events WHERE seq = 7")
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 7 and "missing" in report.problem


def test_deleting_the_newest_events_is_caught(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 12)
    sql(store, "DELETE FROM audit_events WHERE seq >= 10")
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 10


def test_reordered_events_are_named(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 12)
    sql(store, "UPDATE audit_events SET seq = -1 WHERE seq = 3")
    sql(store, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    sql(store, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 3


def test_rewriting_an_event_with_its_hash_breaks_the_signed_root(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 12, every=4)
    with store.read() as tx:
        event = tx.get_audit(6)
    assert event is not None
    from dataclasses import replace

    forged = replace(event, outcome=Outcome.DENY)
    sql(store, "UPDATE audit_events SET outcome = 'deny', leaf_hash = :h WHERE seq = 6",
        h=merkle.leaf_hash(forged.canonical()))
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 4 and "4..7" in report.problem


def test_a_forged_checkpoint_signature_fails(store: Store, keyring: Keyring) -> None:
    fill(store, keyring, 8, every=4)
    sql(store, "UPDATE audit_checkpoints SET signature = :s WHERE tree_size = 4", s=b"\x00" * 64)
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and "bad signature" in report.problem


def test_checkpoints_by_a_rotated_key_verify_after_it_is_retired(store: Store, keyring: Keyring,
                                                                  tmp_path: Path) -> None:
    """Retiring a key ends its use tokens; the checkpoints it signed stay the log's history."""
    fill(store, keyring, 4, every=4)
    old = keyring.active().kid
    keyring.rotate()
    log = fill(store, keyring, 4, every=4)
    assert log.latest_checkpoint().key_id != old
    assert verify_log(store, keyring.checkpoint_keys()).ok
    keyring.retire(old)
    assert old not in keyring.verification_keys()  # no token of it verifies any more
    assert verify_log(store, keyring.checkpoint_keys()).ok
    stranger = Keyring.load_or_create(tmp_path / "other" / "signing.json")
    report = verify_log(store, stranger.checkpoint_keys())
    assert not report.ok and f"checkpoint at size 4: signed by key {old}" in report.problem


def test_redaction_removes_payload_and_keeps_the_log_verifiable(store: Store, keyring: Keyring) -> None:
    log = fill(store, keyring, 9)
    with store.write() as tx:
        assert log.redact_subject(tx, "bob") == 3
    with store.read() as tx:
        erased = tx.get_audit(3)
        remaining = tx.list_audit(AuditFilter(subject_id="bob"), after_sequence=None, limit=10)
    assert erased is not None and erased.redacted and erased.subject_id == "" and erased.details == {}
    assert erased.action == "" and erased.outcome == Outcome.REDACTED and erased.blank()
    assert remaining == []
    assert verify_log(store, keyring.verification_keys()).ok


@pytest.mark.parametrize(("column", "value"), [("outcome", "allow"), ("action", "consent.permission.check"),
                                               ("details", '{"grant": "forged"}'), ("actor_id", "mallory")])
def test_a_redacted_row_given_a_payload_fails_verification(store: Store, keyring: Keyring, column: str,
                                                           value: str) -> None:
    """The redacted flag is not trusted: a redacted row's payload cannot be checked against its
    hash, so it must be blank, and one that holds anything (a deny made an allow) was forged."""
    log = fill(store, keyring, 9)
    with store.write() as tx:
        log.redact_subject(tx, "bob")
    statement = {"outcome": "UPDATE audit_events SET outcome = :v WHERE seq = 3",
                 "action": "UPDATE audit_events SET action = :v WHERE seq = 3",
                 "details": "UPDATE audit_events SET details = :v WHERE seq = 3",
                 "actor_id": "UPDATE audit_events SET actor_id = :v WHERE seq = 3"}[column]
    sql(store, statement, v=value)
    report = verify_log(store, keyring.verification_keys())
    assert not report.ok and report.first_bad_sequence == 3 and "marked redacted but holds a payload" in report.problem
    # And marking an unredacted row redacted, keeping its payload, is caught the same way.
    sql(store, "UPDATE audit_events SET redacted = :r WHERE seq = 2", r=True)
    assert not verify_log(store, keyring.verification_keys()).ok


def test_proofs_verify_against_the_signed_checkpoint(store: Store, keyring: Keyring) -> None:
    log = fill(store, keyring, 11, every=4)
    cp = log.latest_checkpoint()
    assert cp.tree_size == 8
    leaf, path = log.inclusion_proof(5, cp.tree_size)
    assert merkle.verify_inclusion(leaf, 5, cp.tree_size, path, cp.root_hash)
    log.checkpoint()
    newer = log.latest_checkpoint()
    assert newer.tree_size == 11
    proof = log.consistency_proof(cp.tree_size, newer.tree_size)
    assert merkle.verify_consistency(cp.tree_size, newer.tree_size, cp.root_hash, newer.root_hash, proof)


def test_concurrent_appends_make_one_consistent_tree(store: Store, keyring: Keyring) -> None:
    log = AuditLog(store, keyring, checkpoint_every=256)
    clients, per_client = 10, 1000 if store.dialect == "postgresql" else 300
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []

    def client(c: int) -> None:
        barrier.wait()
        try:
            for i in range(per_client):
                log.record_now(draft(c * per_client + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = clients * per_client
    with store.read() as tx:
        size, frontier = tx.audit_head()
        reasons = {e.reason for e in tx.scan_audit(after_sequence=-1, limit=total + 1)}
    assert size == total and len(reasons) == total  # every event exactly once
    assert merkle.frontier_root(frontier) == merkle.root(_leaves(store, total))
    report = verify_log(store, keyring.verification_keys())
    assert report.ok and report.events_checked == total and report.checkpoints_checked == total // 256


def _leaves(store: Store, n: int) -> list[bytes]:
    with store.read() as tx:
        return tx.audit_leaf_hashes(n)


def test_grouped_work_shares_one_transaction_and_fails_alone(store: Store, keyring: Keyring) -> None:
    """run_grouped hands concurrent calls of one work to it together, appends their events in
    the group's transaction; a work that raises fails only its own calls, and an exception
    returned as one call's result fails that call alone (its event is not appended)."""
    log = AuditLog(store, keyring, checkpoint_every=1000)
    seen_groups: list[int] = []
    release, holding = threading.Event(), threading.Event()

    def echo(_tx: object, args: Sequence[int]) -> list[tuple[int | Exception, AuditDraft | None]]:
        seen_groups.append(len(args))
        return [(ValueError("five") if a == 5 else a * 10, draft(a) if a % 2 else None) for a in args]

    def broken(_tx: object, args: Sequence[int]) -> list[tuple[int, AuditDraft | None]]:
        raise ValueError("bug in one kind of work")

    def slow(_tx: object, args: Sequence[int]) -> list[tuple[int, AuditDraft | None]]:
        holding.set()
        release.wait(10)  # holds the writer so that the calls below queue up into one group
        return [(0, None) for _ in args]

    results: dict[int, object] = {}

    def call(work: object, arg: int) -> None:
        try:
            results[arg] = log.run_grouped(work, arg)  # type: ignore[arg-type]
        except ValueError as exc:
            results[arg] = exc

    blocker = threading.Thread(target=call, args=(slow, -1))
    blocker.start()
    assert holding.wait(10)
    callers = [threading.Thread(target=call, args=(echo, i)) for i in range(1, 9)]
    callers += [threading.Thread(target=call, args=(broken, 100))]
    for t in callers:
        t.start()
    threading.Event().wait(0.3)
    release.set()
    for t in [blocker, *callers]:
        t.join(10)
    log.close()
    assert isinstance(results[100], ValueError)
    assert isinstance(results[5], ValueError)
    assert seen_groups == [8]  # the eight echo calls went to their work together
    for i in (1, 2, 3, 4, 6, 7, 8):
        value, event = results[i]  # type: ignore[misc]
        assert value == i * 10
        assert (event is not None) == bool(i % 2)
    with store.read() as tx:
        size, _ = tx.audit_head()
        reasons = sorted(e.reason for e in tx.scan_audit(after_sequence=-1, limit=100))
    assert size == 3 and reasons == ["r1", "r3", "r7"]
    assert verify_log(store, keyring.verification_keys()).ok


def test_a_rollback_passes_verify_alone_and_fails_against_a_witness(store: Store, keyring: Keyring) -> None:
    """The newest checkpoint and the events after the one before deleted, the head set back: a
    consistent log of its own. A checkpoint kept outside (the witness) catches it; and a log
    rewritten to the same size under another history fails the root comparison."""
    log = fill(store, keyring, 8, every=4)
    witness = log.latest_checkpoint()
    assert witness.tree_size == 8 and verify_against(store, witness, keyring.checkpoint_keys()).ok
    with store.write() as tx:
        leaves = tx.audit_leaf_hashes(4)
    frontier: list[bytes] = []
    for i, leaf in enumerate(leaves):
        frontier = merkle.frontier_append(frontier, i, leaf)
    sql(store, "DELETE FROM audit_events WHERE seq >= 4")
    sql(store, "DELETE FROM audit_checkpoints WHERE tree_size > 4")
    with store.write() as tx:
        tx.lock_audit_head()
        tx.set_audit_head(4, frontier)
    assert verify_log(store, keyring.checkpoint_keys()).ok  # alone, the rollback is invisible
    caught = verify_against(store, witness, keyring.checkpoint_keys())
    assert not caught.ok and "rolled back" in caught.problem and "4 events" in caught.problem
    # Grown back to eight events, but other ones: the first eight no longer hash to the witness.
    for i in range(4):
        with store.write() as tx:
            log.record(tx, draft(100 + i))
    rewritten = verify_against(store, witness, keyring.checkpoint_keys())
    assert not rewritten.ok and "differ from what the checkpoint kept outside" in rewritten.problem

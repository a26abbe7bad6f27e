"""Appending to the audit log, signing checkpoints, proofs, erasure and verification.

Appends happen inside the caller's transaction, so an action and its audit event commit or
roll back together. The head row is locked for the append (SELECT ... FOR UPDATE on
PostgreSQL; SQLite write transactions are already exclusive), so concurrent requests and
replicas share one sequence and never fork the tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditlog import merkle
from auditlog.model import (
    AuditDraft,
    AuditEvent,
    Checkpoint,
    canonical_event,
    checkpoint_body,
)
from auditlog.ports import AuditStore, AuditTx, CheckpointKeys
from kernel.clock import Clock, utc_now
from kernel.errors import CheckpointNotFound, StorageUnavailable, TreeSizeInvalid

log = structlog.get_logger(__name__)


A = TypeVar("A")
R = TypeVar("R")
TxT = TypeVar("TxT", bound=AuditTx)

# Work for a group's write transaction: given the transaction and the arguments of every call
# in the group that named this work, it reads what it needs and returns, per argument and in
# order, the call's result and the audit event to append for it (None: nothing to append). A
# result that is an exception is raised to that call alone.
GroupWork = Callable[[TxT, Sequence[A]], Sequence[tuple[R | Exception, AuditDraft | None]]]


@dataclass(slots=True)
class _Pending:
    work: GroupWork[Any, Any, Any]
    arg: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    event: AuditEvent | None = None
    error: BaseException | None = None


def _append_only(_tx: AuditTx, drafts: Sequence[AuditDraft]) -> list[tuple[None, AuditDraft]]:
    return [(None, draft) for draft in drafts]


class AuditLog(Generic[TxT]):
    """The application's handle on the audit log, over a store whose transactions are ``TxT``:
    work run in a group commit (``run_grouped``) gets that transaction, typed."""

    # Most drafts one group commit writes; more wait for the next transaction.
    MAX_GROUP = 512
    COMMIT_TIMEOUT_S = 30.0

    def __init__(self, store: AuditStore[TxT], keyring: CheckpointKeys, *, checkpoint_every: int,
                 clock: Clock = utc_now) -> None:
        self._store = store
        self._keyring = keyring
        self._every = checkpoint_every
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False

    def record_committed(self, draft: AuditDraft) -> AuditEvent:
        """Append one event in a shared, group-committed transaction and return once it is
        durable. Many concurrent callers cost one transaction, not one each."""
        _, event = self.run_grouped(_append_only, draft)
        assert event is not None
        return event

    def run_grouped(self, work: GroupWork[TxT, A, R], arg: A) -> tuple[R, AuditEvent | None]:
        """Run ``work`` for ``arg`` inside a write transaction shared with concurrent callers,
        append the event it returns in that transaction, and return both once it is durable.

        Calls naming the same ``work`` are handed to it together, so it can read for the whole
        group in one statement. What it reads is current as of the group's transaction, which
        starts after this call began: a change committed before the call is always seen. Work
        runs on the one group-commit thread, so it must be short; if it raises, only the calls
        it was given fail, while a storage failure fails the whole group."""
        pending = _Pending(work, arg)
        with self._wakeup:
            if self._closed:
                raise StorageUnavailable()
            self._queue.append(pending)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_groups, name="audit-group-commit", daemon=True)
                self._writer.start()
            self._wakeup.notify()
        if not pending.done.wait(self.COMMIT_TIMEOUT_S):
            raise StorageUnavailable()
        if pending.error is not None:
            raise pending.error
        return pending.result, pending.event

    def _write_groups(self) -> None:
        while True:
            with self._wakeup:
                while not self._queue and not self._closed:
                    self._wakeup.wait()
                if not self._queue:
                    return
                group, self._queue = self._queue[: self.MAX_GROUP], self._queue[self.MAX_GROUP :]
            try:
                with self._store.write() as tx:
                    self._run_group(tx, group)
            except BaseException as exc:  # every waiter learns of the failure; none is left hanging
                log.error("audit_group_commit_failed", events=len(group), error=type(exc).__name__)
                for item in group:
                    item.error = exc
            finally:
                for item in group:
                    item.done.set()

    def _run_group(self, tx: TxT, group: list[_Pending]) -> None:
        by_work: dict[GroupWork[Any, Any, Any], list[_Pending]] = {}
        for item in group:
            by_work.setdefault(item.work, []).append(item)
        recorded: list[_Pending] = []
        drafts: list[AuditDraft] = []
        for work, items in by_work.items():
            try:
                outputs = work(tx, [item.arg for item in items])
                if len(outputs) != len(items):
                    raise RuntimeError(f"group work returned {len(outputs)} results for {len(items)} calls")
            except Exception as exc:  # handed to the calls it was given
                for item in items:
                    item.error = exc
                continue
            for item, (result, draft) in zip(items, outputs, strict=True):
                if isinstance(result, Exception):
                    item.error = result  # that call alone failed; its draft, if any, is dropped
                    continue
                item.result = result
                if draft is not None:
                    recorded.append(item)
                    drafts.append(draft)
        if drafts:
            for item, event in zip(recorded, self.record_many(tx, drafts), strict=True):
                item.event = event

    def close(self) -> None:
        """Write what is queued, then stop the group-commit thread."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
            writer = self._writer
        if writer is not None:
            writer.join(self.COMMIT_TIMEOUT_S)

    def record(self, tx: AuditTx, draft: AuditDraft) -> AuditEvent:
        """Append one event in ``tx``; signs a checkpoint every ``checkpoint_every`` events."""
        return self.record_many(tx, [draft])[-1]

    def record_many(self, tx: AuditTx, drafts: Sequence[AuditDraft]) -> list[AuditEvent]:
        size, frontier = tx.lock_audit_head()
        now = self._clock()
        events = []
        for draft in drafts:
            data = canonical_event(
                size, now, draft.actor_type, draft.actor_id, draft.subject_id, draft.action,
                draft.outcome, draft.reason, draft.request_id, draft.details,
            )
            event = AuditEvent(
                sequence=size, time=now, actor_type=draft.actor_type, actor_id=draft.actor_id,
                subject_id=draft.subject_id, action=draft.action, outcome=draft.outcome,
                reason=draft.reason, request_id=draft.request_id, details=dict(draft.details),
                leaf_hash=merkle.leaf_hash(data),
            )
            frontier = merkle.frontier_append(frontier, size, event.leaf_hash)
            size += 1
            events.append(event)
            if size % self._every == 0:
                self._sign(tx, size, merkle.frontier_root(frontier))
        tx.add_audit_events(events)
        tx.set_audit_head(size, frontier)
        return events

    def record_now(self, draft: AuditDraft) -> AuditEvent:
        """Append one event in a transaction of its own."""
        with self._store.write() as tx:
            return self.record(tx, draft)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head if it is past the latest checkpoint; returns the new one."""
        with self._store.write() as tx:
            size, frontier = tx.lock_audit_head()
            latest = tx.latest_checkpoint()
            if size == 0 or (latest is not None and latest.tree_size >= size):
                return None
            return self._sign(tx, size, merkle.frontier_root(frontier))

    def _sign(self, tx: AuditTx, size: int, root: bytes) -> Checkpoint:
        key = self._keyring.active()
        now = self._clock()
        body = checkpoint_body(size, root, now, key.kid)
        checkpoint = Checkpoint(size, root, now, key.kid, key.sign(body), body)
        tx.add_checkpoint(checkpoint)
        log.info("audit_checkpoint", tree_size=size, key_id=key.kid)
        return checkpoint

    def latest_checkpoint(self) -> Checkpoint:
        with self._store.read() as tx:
            latest = tx.latest_checkpoint()
        if latest is None:
            raise CheckpointNotFound()
        return latest

    def inclusion_proof(self, sequence: int, tree_size: int) -> tuple[bytes, list[bytes]]:
        """The leaf hash of event ``sequence`` and its audit path in the tree of ``tree_size``."""
        with self._store.read() as tx:
            size, _ = tx.audit_head()
            if not 0 < tree_size <= size:
                raise TreeSizeInvalid(f"tree_size must be in 1..{size}", tree_size)
            if not 0 <= sequence < tree_size:
                raise TreeSizeInvalid(f"sequence must be in 0..{tree_size - 1}", tree_size)
            leaves = tx.audit_leaf_hashes(tree_size)
        return leaves[sequence], merkle.inclusion_proof(leaves, sequence)

    def consistency_proof(self, first_size: int, second_size: int) -> list[bytes]:
        with self._store.read() as tx:
            size, _ = tx.audit_head()
            if not 0 < second_size <= size:
                raise TreeSizeInvalid(f"second_size must be in 1..{size}", second_size)
            if not 0 < first_size <= second_size:
                raise TreeSizeInvalid(f"first_size must be in 1..{second_size}", first_size)
            leaves = tx.audit_leaf_hashes(second_size)
        return merkle.consistency_proof(leaves, first_size)

    def redact_subject(self, tx: AuditTx, subject_id: str) -> int:
        """Erase the payload of the subject's events; hashes stay, so the log still verifies."""
        return tx.redact_audit_subject(subject_id)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    events_checked: int
    checkpoints_checked: int
    unsigned_tail: int
    first_bad_sequence: int | None = None
    problem: str = ""


def verify_log(store: AuditStore[AuditTx], keys: dict[str, Ed25519PublicKey], batch: int = 5000) -> VerifyReport:
    """Recompute every leaf and the tree; check every checkpoint's signature and root."""
    with store.read() as tx:
        checkpoints = tx.all_checkpoints()
        head_size, head_frontier = tx.audit_head()
    for cp in checkpoints:
        problem = _checkpoint_problem(cp, keys)
        if problem:
            return VerifyReport(False, 0, 0, 0, None, f"checkpoint at size {cp.tree_size}: {problem}")
    pending = iter(checkpoints)
    next_cp = next(pending, None)
    frontier: list[bytes] = []
    expected = 0
    verified_up_to = 0
    checked = 0
    for event in _iter_events(store, batch):
        if event.sequence != expected:
            return VerifyReport(False, expected, checked, 0, expected,
                                f"event {expected} is missing or out of order (found {event.sequence})")
        if not event.redacted and merkle.leaf_hash(event.canonical()) != event.leaf_hash:
            return VerifyReport(False, expected, checked, 0, expected,
                                f"event {expected} does not match its leaf hash: it was edited")
        # A redacted event's payload cannot be checked against its hash, so it must have none:
        # the flag alone is not trusted (a row marked redacted and given a payload was forged).
        if event.redacted and not event.blank():
            return VerifyReport(False, expected, checked, 0, expected,
                                f"event {expected} is marked redacted but holds a payload: it was rewritten")
        frontier = merkle.frontier_append(frontier, expected, event.leaf_hash)
        expected += 1
        while next_cp is not None and next_cp.tree_size == expected:
            if merkle.frontier_root(frontier) != next_cp.root_hash:
                return VerifyReport(
                    False, expected, checked, 0, verified_up_to,
                    f"tree root at size {expected} differs from its signed checkpoint: an event in "
                    f"{verified_up_to}..{expected - 1} was rewritten together with its hash",
                )
            checked += 1
            verified_up_to = expected
            next_cp = next(pending, None)
    if next_cp is not None:
        return VerifyReport(
            False, expected, checked, 0, expected,
            f"checkpoint at size {next_cp.tree_size} but only {expected} events: event {expected} onwards deleted",
        )
    if head_size != expected or merkle.frontier_root(head_frontier) != merkle.frontier_root(frontier):
        return VerifyReport(False, expected, checked, 0, min(head_size, expected),
                            f"log head says {head_size} events, table holds {expected}")
    return VerifyReport(True, expected, checked, expected - verified_up_to)


def verify_against(store: AuditStore[AuditTx], witnessed: Checkpoint, keys: dict[str, Ed25519PublicKey],
                   batch: int = 5000) -> VerifyReport:
    """``verify_log``, and consistency with a checkpoint kept outside the database (a witness,
    as RFC 6962 monitors keep): the log must still hold the first ``tree_size`` events the
    checkpoint signed, with the same root. A log rolled back to an earlier state (a restored
    backup, or the newest checkpoint and the events after the one before deleted) verifies on
    its own; against a newer witness it fails."""
    problem = _checkpoint_problem(witnessed, keys)
    if problem:
        return VerifyReport(False, 0, 0, 0, None, f"witnessed checkpoint at size {witnessed.tree_size}: {problem}")
    with store.read() as tx:
        size, _ = tx.audit_head()
        leaves = tx.audit_leaf_hashes(witnessed.tree_size)
    if size < witnessed.tree_size or len(leaves) < witnessed.tree_size:
        return VerifyReport(False, len(leaves), 0, 0, len(leaves),
                            f"the log holds {min(size, len(leaves))} events but a checkpoint kept outside it "
                            f"signed {witnessed.tree_size} on {witnessed.time.isoformat()}: events "
                            f"{min(size, len(leaves))} onwards were removed (rolled back)")
    if merkle.root(leaves) != witnessed.root_hash:
        return VerifyReport(False, len(leaves), 0, 0, None,
                            f"the first {witnessed.tree_size} events differ from what the checkpoint kept outside "
                            f"the log signed on {witnessed.time.isoformat()}: the log was rewritten or rolled back")
    return verify_log(store, keys, batch)


def _checkpoint_problem(cp: Checkpoint, keys: dict[str, Ed25519PublicKey]) -> str:
    key = keys.get(cp.key_id)
    if key is None:
        return f"signed by key {cp.key_id}, which is not among the checkpoint keys given"
    if cp.signed_body != checkpoint_body(cp.tree_size, cp.root_hash, cp.time, cp.key_id):
        return "signed body does not match its fields"
    try:
        key.verify(cp.signature, cp.signed_body)
    except InvalidSignature:
        return "bad signature"
    return ""


def _iter_events(store: AuditStore[AuditTx], batch: int) -> Iterator[AuditEvent]:
    after = -1
    while True:
        with store.read() as tx:
            page = tx.scan_audit(after_sequence=after, limit=batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1].sequence

"""Consent under concurrency, on SQLite and PostgreSQL: concurrent writers on separate
connections (as two replicas are) never lose an update. Each race runs 30 rounds; every round's
writers start together (a barrier), so they really overlap on PostgreSQL's READ COMMITTED."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from auditlog.model import Actor, ActorType
from consent.model import Audience, CameoPolicy
from identity_service.storage.base import Store
from identity_service.wiring import App
from kernel.errors import GrantNotActive, PolicyConflict

OWNER = Actor(ActorType.USER, "alice")
ROUNDS = 30
T = TypeVar("T")


def together(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run the calls at once (each on its own thread and connection); results or errors, in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Exception:
        start.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_eight_updates_with_one_etag_one_wins(app: App) -> None:
    for round_ in range(ROUNDS):
        owner = f"owner{round_}"
        read = app.consent.get_policy(owner)
        audiences = [Audience.PUBLIC, Audience.FRIENDS, Audience.APPROVED, Audience.NOBODY] * 2
        results = together([lambda a=a, r=read: app.consent.update_policy(replace(r, audience=a), etag=str(r.version),
                                                                           actor=OWNER) for a in audiences])
        winners = [r for r in results if isinstance(r, CameoPolicy)]
        assert len(winners) == 1, (round_, results)
        assert all(isinstance(r, PolicyConflict) for r in results if not isinstance(r, CameoPolicy)), results
        assert app.consent.get_policy(owner).audience == winners[0].audience


def test_a_block_added_beside_another_change_is_never_undone(app: App) -> None:
    """Two people edit one policy at once, each reading, changing one thing and writing with the
    etag read (what the user API does even without If-Match). Whoever loses re-reads and retries:
    in the end both changes are there, in every round."""

    def edit(owner: str, change: Callable[[CameoPolicy], CameoPolicy]) -> CameoPolicy:
        while True:
            read = app.consent.get_policy(owner)
            try:
                return app.consent.update_policy(change(read), etag=str(read.version), actor=OWNER)
            except PolicyConflict:
                continue

    for round_ in range(ROUNDS):
        owner = f"owner{round_}"
        app.consent.update_policy(CameoPolicy(owner, Audience.PUBLIC), etag="", actor=OWNER)
        together([
            lambda o=owner: edit(o, lambda p: replace(p, blocked_ids=p.blocked_ids | {"mallory"})),
            lambda o=owner: edit(o, lambda p: replace(p, audience=Audience.FRIENDS)),
        ])
        final = app.consent.get_policy(owner)
        assert "mallory" in final.blocked_ids and final.audience == Audience.FRIENDS, (round_, final)


def test_two_revocations_of_one_grant_one_succeeds(app: App) -> None:
    for round_ in range(ROUNDS):
        grant = app.consent.create_grant(f"owner{round_}", grantee_id="bob", audience=None, start_time=None,
                                         end_time=None, actor=OWNER)
        results = together([lambda g=grant: app.consent.revoke_grant(g.owner_id, g.grant_id, actor=OWNER)] * 2)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], GrantNotActive), (round_, results)
    with app.store.read() as tx:
        feed = tx.list_revocations(since_cursor=0, limit=1000)
    assert len([e for e in feed if e.grant]) == ROUNDS  # one feed entry per grant, not two


def test_one_owners_extreme_grant_times_fail_at_the_edge_and_no_one_elses_check(app: App) -> None:
    """A grant starting at 0001-01-01T00:00+14:00 (year 0 in UTC) used to be stored and then fail
    every read of its owner's grants, and, checks being decided in groups, other owners' checks
    too. It is refused at the edge now; and a row that holds such a value anyway (written before)
    reads as the calendar's edge, so checks in the same groups all succeed."""
    from datetime import UTC, datetime, timedelta, timezone

    from consent.model import Decision
    from kernel.errors import FieldInvalid

    for start, end in [(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), None),
                       (None, datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))),
                       (datetime(1969, 12, 31, tzinfo=UTC), None)]:
        with pytest.raises(FieldInvalid):
            app.consent.create_grant("mallory", grantee_id="bob", audience=None, start_time=start, end_time=end,
                                     actor=OWNER)
    grant = app.consent.create_grant("mallory", grantee_id="bob", audience=None, start_time=None, end_time=None,
                                     actor=OWNER)
    from identity_service.storage.tables import GrantRow

    with app.store.write() as tx:  # as an older release could have stored it
        row = tx.session.get(GrantRow, grant.grant_id)  # type: ignore[attr-defined]
        row.start_us, row.end_us = -62_135_647_200_000_000, 253_402_351_199_000_000
    app.consent.update_policy(CameoPolicy("alice", Audience.PUBLIC), etag="", actor=OWNER)
    app.consent.update_policy(CameoPolicy("mallory", Audience.APPROVED), etag="", actor=OWNER)
    checks = [lambda i=i: app.consent.check("alice", f"p{i}", purpose="t", categories=(), audience="svc",
                                            actor=OWNER).result.decision for i in range(12)]
    checks += [lambda: app.consent.check("mallory", "bob", purpose="t", categories=(), audience="svc",
                                         actor=OWNER).result.decision] * 4
    results = together(checks)
    assert results[:12] == [Decision.ALLOW] * 12 and results[12:] == [Decision.ALLOW] * 4, results
    assert [g.grant_id for g in app.consent.list_grants("mallory", state=None, after_grant_id="", limit=10)] == [
        grant.grant_id]


@pytest.mark.parametrize("task", ["etag", "block", "revoke"])
def test_two_processes_on_one_database_lose_no_update(app: App, store: Store, tmp_path: Path, task: str) -> None:
    """The same races between two processes (two replicas) on one database, 30 rounds each, the
    two sides released together every round: one same-etag update wins, a block and an audience
    change both survive, one of two revocations succeeds."""
    import multiprocessing

    from tests.conftest import STORE_LOCATIONS
    from tests.storage import race_worker

    location = STORE_LOCATIONS[id(store)]
    grants: list[tuple[str, str]] = []
    for r in range(ROUNDS):
        if task == "block":
            race_worker.seed_public(app, f"block{r}")
        if task == "revoke":
            grant = app.consent.create_grant(f"revoke{r}", grantee_id="bob", audience=None, start_time=None,
                                             end_time=None, actor=OWNER)
            grants.append((grant.owner_id, grant.grant_id))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=race_worker.run, args=(location, str(tmp_path / f"side{side}"), side, task,
                                                             ROUNDS, barrier, results, grants))
               for side in (0, 1)]
    for worker in workers:
        worker.start()
    outcomes = dict(results.get(timeout=300) for _ in workers)
    for worker in workers:
        worker.join(60)
    assert all(not o[0].startswith("error") for o in outcomes.values() if o), outcomes
    rounds = list(zip(outcomes[0], outcomes[1], strict=True))
    assert len(rounds) == ROUNDS
    if task in ("etag", "revoke"):
        assert all(sorted(pair).count("won") == 1 for pair in rounds), rounds
    else:
        for r in range(ROUNDS):
            final = app.consent.get_policy(f"block{r}")
            assert "mallory" in final.blocked_ids and final.audience == Audience.FRIENDS, (r, final)

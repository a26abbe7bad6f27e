"""Consent storage on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from consent.model import Audience, CameoPolicy, ContentCategory, Grant, GrantState
from consent.ports import Edge
from identity_service.storage.base import Store

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


def grant(gid: str, **overrides: object) -> Grant:
    values: dict[str, object] = dict(grant_id=gid, owner_id="alice", grantee_id="bob", audience=None,
                                     start_time=T0, end_time=None, create_time=T0)
    values.update(overrides)
    return Grant(**values)  # type: ignore[arg-type]


def test_policy_round_trip_with_block_list(store: Store) -> None:
    policy = CameoPolicy("alice", Audience.FRIENDS, frozenset({"bob", "cat"}),
                         frozenset({ContentCategory.POLITICAL, ContentCategory.SEXUAL}), "no hats", True, T0, 3)
    with store.write() as tx:
        assert tx.get_policy("alice") is None
        assert tx.put_policy(policy, expected_version=0)
    with store.write() as tx:
        assert tx.get_policy("alice") == policy
        assert tx.put_policy(CameoPolicy("alice", Audience.PUBLIC, frozenset({"dan"}), update_time=T0, version=4),
                             expected_version=3)
    with store.read() as tx:
        assert tx.get_blocked("alice") == {"dan"}
        got = tx.get_policy("alice")
    assert got is not None and got.audience == Audience.PUBLIC and got.version == 4
    # A writer that read an older version changes nothing, block list included.
    with store.write() as tx:
        assert not tx.put_policy(CameoPolicy("alice", Audience.NOBODY, update_time=T0, version=4), expected_version=3)
        assert not tx.put_policy(CameoPolicy("alice", Audience.NOBODY, update_time=T0, version=1), expected_version=0)
    with store.read() as tx:
        got = tx.get_policy("alice")
        assert got is not None and got.audience == Audience.PUBLIC and tx.get_blocked("alice") == {"dan"}


def test_grants_states_paging_and_single_revoke(store: Store) -> None:
    now = T0 + timedelta(days=1)
    with store.write() as tx:
        tx.add_grant(grant("a" * 16))
        tx.add_grant(grant("b" * 16, end_time=T0 + timedelta(hours=1)))  # expired by `now`
        tx.add_grant(grant("c" * 16, grantee_id=None, audience=Audience.PUBLIC))
        tx.add_grant(grant("d" * 16, owner_id="zed"))
    with store.write() as tx:
        assert tx.set_grant_revoked("alice", "a" * 16, now) is True
        assert tx.set_grant_revoked("alice", "a" * 16, now) is False
        assert tx.set_grant_revoked("alice", "d" * 16, now) is False  # another owner's grant
    with store.read() as tx:
        def ids(state: GrantState | None, after: str = "", limit: int = 10) -> list[str]:
            return [g.grant_id[0] for g in tx.list_grants("alice", state=state, now=now, after_grant_id=after, limit=limit)]

        assert ids(None) == ["a", "b", "c"]
        assert ids(None, after="a" * 16, limit=1) == ["b"]
        assert ids(GrantState.ACTIVE) == ["c"]
        assert ids(GrantState.EXPIRED) == ["b"]
        assert ids(GrantState.REVOKED) == ["a"]
        assert tx.get_grant("zed", "a" * 16) is None
        revoked = tx.get_grant("alice", "a" * 16)
        assert revoked is not None and revoked.revoked and revoked.revoke_time == now
        assert sorted(g.grant_id[0] for g in tx.grants_for("alice", "bob")) == ["b", "c"]
        assert [g.grant_id[0] for g in tx.grants_for("alice", "eve")] == ["c"]


def test_edges_are_versioned_and_late_messages_lose(store: Store) -> None:
    with store.write() as tx:
        assert tx.upsert_edge(Edge("alice", "bob", 5), present=True)
        assert tx.has_edge("alice", "bob") and not tx.has_edge("bob", "alice")
    with store.write() as tx:
        assert not tx.upsert_edge(Edge("alice", "bob", 5), present=True)  # replayed: idempotent
        assert tx.upsert_edge(Edge("alice", "bob", 7), present=False)  # delete
        assert not tx.upsert_edge(Edge("alice", "bob", 6), present=True)  # late upsert loses
    with store.read() as tx:
        assert not tx.has_edge("alice", "bob")


def test_list_edges_pages_over_both_directions(store: Store) -> None:
    with store.write() as tx:
        for other in ("b", "c", "d"):
            tx.upsert_edge(Edge("alice", other, 1), present=True)
            tx.upsert_edge(Edge(other, "alice", 1), present=True)
        tx.upsert_edge(Edge("x", "y", 1), present=True)
    with store.read() as tx:
        first = tx.list_edges("alice", after=("", ""), limit=4)
        rest = tx.list_edges("alice", after=(first[-1].from_id, first[-1].to_id), limit=10)
    pairs = [(e.from_id, e.to_id) for e in first + rest]
    assert len(pairs) == 6 and len(set(pairs)) == 6 and pairs == sorted(pairs)


def test_revocation_cursors_are_dense_and_ordered_under_concurrency(store: Store) -> None:
    barrier = threading.Barrier(6)

    def revoke(i: int) -> None:
        barrier.wait()
        for j in range(10):
            with store.write() as tx:
                tx.add_revocation(f"subjects/o{i}/grants/{j:016x}", f"o{i}", T0)

    threads = [threading.Thread(target=revoke, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as tx:
        entries = tx.list_revocations(since_cursor=0, limit=1000)
        tail = tx.list_revocations(since_cursor=55, limit=1000)
    assert [e.cursor for e in entries] == list(range(1, 61))
    assert [e.cursor for e in tail] == list(range(56, 61))


def test_facts_for_many_pairs_match_one_pair_at_a_time(store: Store) -> None:
    """The group read (one statement for every check in a group) agrees, pair by pair and in
    order, with reading each pair alone: policies, blocks, both edge directions, grants."""
    with store.write() as tx:
        tx.put_policy(CameoPolicy("alice", Audience.FRIENDS, frozenset({"mallory"}),
                                  frozenset({ContentCategory.VIOLENT}), "no hats", False, T0, 2), expected_version=0)
        tx.put_policy(CameoPolicy("zed", Audience.NOBODY, update_time=T0, version=1), expected_version=0)
        tx.put_policy(CameoPolicy("pub", Audience.PUBLIC, update_time=T0, version=1), expected_version=0)
        tx.upsert_edge(Edge("alice", "bob", 1), present=True)
        tx.upsert_edge(Edge("bob", "alice", 1), present=True)
        tx.upsert_edge(Edge("cat", "alice", 1), present=True)
        tx.upsert_edge(Edge("alice", "dan", 1), present=False)
        tx.add_grant(grant("a" * 16))  # alice -> bob
        tx.add_grant(grant("b" * 16, grantee_id=None, audience=Audience.PUBLIC))
        tx.add_grant(grant("c" * 16, grantee_id="cat"))
        tx.add_grant(grant("d" * 16, owner_id="pub", grantee_id="bob"))
        tx.add_grant(grant("e" * 16, owner_id="zed", grantee_id="bob"))
        tx.add_grant(grant("f" * 16, grantee_id="dan"))
    with store.write() as tx:
        tx.set_grant_revoked("alice", "f" * 16, T0)
    owners = ["alice", "zed", "pub", "nobody-yet", "it's \"quoted\""]
    requesters = ["bob", "cat", "dan", "mallory", "alice", "ünïcode"]
    pairs = [(o, r) for o in owners for r in requesters] + [("alice", "bob"), ("pub", "bob")]
    with store.read() as tx:
        many = tx.permission_facts_many(pairs)
        one_by_one = [tx.permission_facts(o, r) for o, r in pairs]
        assert tx.permission_facts_many([]) == []
    assert many == one_by_one
    facts = dict(zip(pairs, many, strict=False))
    alice_bob = facts[("alice", "bob")]
    assert alice_bob.owner_follows_requester and alice_bob.requester_follows_owner
    assert [g.grant_id[0] for g in alice_bob.grants] == ["a", "b"]
    assert facts[("alice", "mallory")].policy.blocked_ids == {"mallory"}
    assert facts[("alice", "bob")].policy.blocked_ids == frozenset()
    assert facts[("alice", "dan")].grants == (grant("b" * 16, grantee_id=None, audience=Audience.PUBLIC),)
    assert not facts[("alice", "dan")].owner_follows_requester  # a deleted edge
    assert facts[("alice", "cat")].requester_follows_owner and not facts[("alice", "cat")].owner_follows_requester
    assert facts[("zed", "bob")].grants == ()  # NOBODY: grants are not even read
    assert facts[("nobody-yet", "bob")].policy == CameoPolicy.default("nobody-yet")

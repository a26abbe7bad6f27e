"""A second (and third) process for the consent race tests: opens the same database as the test's
store and runs one side of each round, in step with the other process through a barrier."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlmodel import create_engine

from auditlog.model import Actor, ActorType
from consent.model import Audience, CameoPolicy
from identity_service.storage.sql import SqlStore
from identity_service.wiring import build_app
from kernel.errors import GrantNotActive, PolicyConflict
from tests.conftest import test_settings

OWNER = Actor(ActorType.USER, "alice")


def run(location: tuple[str, str], data_dir: str, side: int, task: str, rounds: int, barrier: Any,
        results: Any, grants: list[tuple[str, str]]) -> None:
    url, schema = location
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}) if schema else None
    store = SqlStore(engine) if engine is not None else SqlStore.from_url(url)
    app = build_app(test_settings(Path(data_dir)), store=store, migrate_now=False)
    outcome: list[str] = []
    try:
        for r in range(rounds):
            owner = f"{task}{r}"
            if task == "etag":
                read = app.consent.get_policy(owner)
                barrier.wait(60)
                audience = Audience.PUBLIC if side == 0 else Audience.FRIENDS
                try:
                    app.consent.update_policy(replace(read, audience=audience), etag=str(read.version), actor=OWNER)
                    outcome.append("won")
                except PolicyConflict:
                    outcome.append("conflict")
            elif task == "block":
                barrier.wait(60)
                while True:  # re-read and retry on conflict, as a careful client does
                    read = app.consent.get_policy(owner)
                    changed = (replace(read, blocked_ids=read.blocked_ids | {"mallory"}) if side == 0
                               else replace(read, audience=Audience.FRIENDS))
                    try:
                        app.consent.update_policy(changed, etag=str(read.version), actor=OWNER)
                        break
                    except PolicyConflict:
                        continue
                outcome.append("done")
            elif task == "revoke":
                owner_id, grant_id = grants[r]
                barrier.wait(60)
                try:
                    app.consent.revoke_grant(owner_id, grant_id, actor=OWNER)
                    outcome.append("won")
                except GrantNotActive:
                    outcome.append("not_active")
            barrier.wait(60)  # both sides finish the round before the next begins
        results.put((side, outcome))
    except Exception as exc:  # reported to the test, which fails with it
        results.put((side, [f"error: {type(exc).__name__}: {exc}"]))
    finally:
        app.audit.close()
        store.close()


def seed_public(app: Any, owner: str) -> None:
    app.consent.update_policy(CameoPolicy(owner, Audience.PUBLIC), etag="", actor=OWNER)

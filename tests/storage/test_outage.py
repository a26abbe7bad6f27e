"""A database that goes away (restart, failover, a killed connection) is UNAVAILABLE /
STORAGE_UNAVAILABLE with a retry hint on every path, grouped permission checks included, and
never INTERNAL. During a PostgreSQL restart 205 of 207 failed calls used to say INTERNAL."""

from __future__ import annotations

import collections
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from auditlog.model import ActorType, AuditDraft, Outcome
from identity_service.storage import migrate
from identity_service.storage.engine import make_engine
from identity_service.storage.sql import SqlStore, SqlTx
from identity_service.wiring import build_app
from kernel.errors import StorageUnavailable
from likeness.audit.v1 import audit_service_pb2 as apb
from likeness.audit.v1 import audit_service_pb2_grpc as arpc
from likeness.consent.v1 import consent_service_pb2 as cpb
from likeness.consent.v1 import consent_service_pb2_grpc as crpc
from likeness.identity.v1 import identity_service_pb2 as ipb
from likeness.identity.v1 import identity_service_pb2_grpc as irpc
from tests.conftest import POSTGRES_URL, error_info, serving, test_settings

pytestmark = pytest.mark.postgres

APPLICATION = "likeness-outage-test"


@pytest.fixture
def admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_store(admin: Engine) -> Iterator[SqlStore]:
    """A store built as serve builds it (make_engine: pre-ping, pool), in a schema of its own,
    whose connections carry an application name this test can find and kill."""
    schema = f"o_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    application = f"{APPLICATION}-{schema}"
    store = SqlStore(make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}&application_name={application}"))
    migrate.upgrade(store.engine)
    store.application = application  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def kill_connections(admin: Engine, application: str) -> None:
    """What a database restart does to every open connection."""
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"),
                      {"a": application})


def kill_own_connection(admin: Engine, tx: SqlTx) -> None:
    pid = tx.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_connection_lost_mid_transaction_is_storage_unavailable(pg_store: SqlStore, admin: Engine) -> None:
    with pytest.raises(StorageUnavailable), pg_store.write() as tx:
        kill_own_connection(admin, tx)
        tx.session.execute(text("SELECT 1"))
    with pg_store.read() as tx:  # and the next transaction gets a fresh connection
        assert tx.session.execute(text("SELECT 1")).scalar_one() == 1


def test_a_group_commit_whose_connection_is_lost_fails_every_call_as_unavailable(
    pg_store: SqlStore, admin: Engine, tmp_path: Path
) -> None:
    app = build_app(test_settings(tmp_path), store=pg_store, migrate_now=False)
    try:
        def work(tx: SqlTx, args: Sequence[str]) -> list[tuple[str | Exception, AuditDraft | None]]:
            kill_own_connection(admin, tx)
            tx.session.execute(text("SELECT 1"))  # the work's own query fails: the group cannot commit
            return [(a, None) for a in args]

        with pytest.raises(StorageUnavailable):
            app.audit.run_grouped(work, "first")

        def fine(tx: SqlTx, args: Sequence[str]) -> list[tuple[str | Exception, AuditDraft | None]]:
            return [(a, AuditDraft(ActorType.SERVICE, "test", "test.group", Outcome.SUCCESS, subject_id="s")) for a in args]

        assert app.audit.run_grouped(fine, "second")[0] == "second"  # recovered at once
    finally:
        app.close()


def test_an_unreachable_database_is_unavailable_with_a_retry_hint(pg_store: SqlStore, tmp_path: Path) -> None:
    app = build_app(test_settings(tmp_path), store=pg_store, migrate_now=False)
    # The database goes away after the start: the store's engines now point where nothing listens.
    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    pg_store.engine.dispose()
    pg_store.engine, pg_store._readonly_engine = gone, gone
    try:
        with serving(app) as srv:
            with pytest.raises(grpc.RpcError) as caught:
                crpc.ConsentServiceStub(srv.channel).GetCameoPolicy(
                    cpb.GetCameoPolicyRequest(owner_id="a"), metadata=srv.metadata("app"), timeout=20)
            code, reason, metadata = error_info(caught.value)
            assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "ERROR_REASON_STORAGE_UNAVAILABLE")
            status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
            assert status is not None and any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
            assert int(metadata["retry_after_seconds"]) >= 1
    finally:
        app.close()


def test_killing_every_connection_under_load_never_answers_internal(
    pg_store: SqlStore, admin: Engine, tmp_path: Path
) -> None:
    app = build_app(test_settings(tmp_path), store=pg_store, migrate_now=False)
    answers: collections.Counter[tuple[str, str]] = collections.Counter()
    stop = threading.Event()
    try:
        with serving(app) as srv:
            calls = {
                "check": lambda: crpc.ConsentServiceStub(srv.channel).CheckCameoPermission(
                    cpb.CheckCameoPermissionRequest(owner_id="a", requester_id="b"),
                    metadata=srv.metadata("generator"), timeout=20),
                "start": lambda: irpc.IdentityServiceStub(srv.channel).StartEnrollment(
                    ipb.StartEnrollmentRequest(subject_id=f"s{uuid.uuid4().hex[:8]}"),
                    metadata=srv.metadata("app"), timeout=20),
                "events": lambda: arpc.AuditServiceStub(srv.channel).ListEvents(
                    apb.ListEventsRequest(page_size=5), metadata=srv.metadata("auditor"), timeout=20),
                "policy": lambda: crpc.ConsentServiceStub(srv.channel).GetCameoPolicy(
                    cpb.GetCameoPolicyRequest(owner_id="a"), metadata=srv.metadata("app"), timeout=20),
            }
            done_some = {name: threading.Event() for name in calls}

            def hammer(name: str) -> None:
                while not stop.is_set():
                    try:
                        calls[name]()
                        answers[(name, "OK")] += 1
                    except grpc.RpcError as error:
                        code, reason, _ = error_info(error)
                        answers[(name, f"{code.name}/{reason}")] += 1
                    done_some[name].set()

            threads = [threading.Thread(target=hammer, args=(n,)) for n in calls for _ in range(2)]
            for thread in threads:
                thread.start()
            for _ in range(10):  # ten "restarts", each after every kind of call has run again
                for event in done_some.values():
                    assert event.wait(60)
                    event.clear()
                kill_connections(admin, pg_store.application)  # type: ignore[attr-defined]
            for event in done_some.values():
                assert event.wait(60)
            stop.set()
            for thread in threads:
                thread.join(60)
    finally:
        stop.set()
        app.close()
    outcomes = {outcome for (_, outcome) in answers}
    assert outcomes <= {"OK", "UNAVAILABLE/ERROR_REASON_STORAGE_UNAVAILABLE"}, answers
    assert all(answers[(name, "OK")] > 0 for name in ("check", "start", "events", "policy")), answers

"""Shared fixtures: a store on each backend, and a real server on port 0 with a real channel."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text
from sqlmodel import create_engine

from identity_service.settings import CallerEntry, Settings
from identity_service.storage import migrate
from identity_service.storage.sql import SqlStore
from identity_service.transport.auth import Role, hash_token
from identity_service.transport.server import create_server, set_serving
from identity_service.wiring import App, build_app

POSTGRES_URL = os.environ.get(
    "LIKENESS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


# How another process opens the same store as a test's ``store`` (see ``store_location``).
STORE_LOCATIONS: dict[int, tuple[str, str]] = {}


def _postgres_store() -> Iterator[SqlStore]:
    """A fresh schema per test, so tests never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported loudly
        if os.environ.get("LIKENESS_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is unavailable ({exc}); start it or set "
            "LIKENESS_TEST_SKIP_POSTGRES=1 to skip explicitly"
        )
    engine = create_engine(
        POSTGRES_URL,
        connect_args={"options": f"-csearch_path={schema}"},
        pool_size=10,
        max_overflow=40,
    )
    store = SqlStore(engine)
    migrate.upgrade(engine)
    STORE_LOCATIONS[id(store)] = (POSTGRES_URL, schema)
    try:
        yield store
    finally:
        STORE_LOCATIONS.pop(id(store), None)
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'test.db'}")
    migrate.upgrade(store.engine)
    STORE_LOCATIONS[id(store)] = (f"sqlite:///{tmp_path / 'test.db'}", "")
    try:
        yield store
    finally:
        STORE_LOCATIONS.pop(id(store), None)
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """The same store conformance tests run on both backends."""
    if request.param == "sqlite":
        yield from _sqlite_store(tmp_path)
    else:
        yield from _postgres_store()


# One bearer token per role, plus one caller with no roles at all.
TOKENS = {role.value: f"test-token-{role.value}" for role in Role}
TOKENS["nobody"] = "test-token-nobody"


def caller_entries() -> list[CallerEntry]:
    entries = [
        CallerEntry(name=f"svc-{role}", roles=[role], token_sha256=hash_token(token))
        for role, token in TOKENS.items()
        if role != "nobody"
    ]
    entries.append(CallerEntry(name="svc-nobody", roles=[], token_sha256=hash_token(TOKENS["nobody"])))
    return entries


def test_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "listen_address": "127.0.0.1:0",
        "callers": caller_entries(),
        "grace_period_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


test_settings.__test__ = False  # type: ignore[attr-defined]


@dataclass
class RunningServer:
    app: App
    server: grpc.Server
    port: int
    channel: grpc.Channel

    def metadata(self, role: str = "admin", request_id: str | None = None) -> list[tuple[str, str]]:
        md = [("authorization", f"Bearer {TOKENS[role]}")]
        if request_id:
            md.append(("x-request-id", request_id))
        return md


def start_server(app: App) -> RunningServer:
    server, port, health_servicer = create_server(app, "127.0.0.1:0")
    server.start()
    set_serving(health_servicer, True)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return RunningServer(app=app, server=server, port=port, channel=channel)


@contextmanager
def serving(app: App) -> Iterator[RunningServer]:
    """``app`` served on an ephemeral port with a real channel; stopped and closed afterwards."""
    srv = start_server(app)
    try:
        yield srv
    finally:
        srv.channel.close()
        srv.server.stop(None).wait()
        app.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    """A real server on an ephemeral port over SQLite, with a real channel."""
    with serving(build_app(test_settings(tmp_path))) as srv:
        yield srv


def error_info(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """(code, ErrorInfo.reason, ErrorInfo.metadata) of a failed call."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no google.rpc.Status on {error}"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "likeness.example.com"
            return error.code(), info.reason, dict(info.metadata)
    raise AssertionError("no ErrorInfo detail")


ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("LIKENESS_TEST_MODEL_DIR", str(ROOT / "var" / "models")))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The real model files, as `identity-service models pull` (run by scripts/setup.sh) left them."""
    from identity_service.inference.store import verify

    problems = verify(MODEL_DIR, deep=False)
    if problems:
        pytest.fail(f"model files in {MODEL_DIR} are not ready ({problems[0]}, ...): run "
                    "`.venv/bin/identity-service models pull` (or set LIKENESS_TEST_MODEL_DIR)")
    return MODEL_DIR


@pytest.fixture(scope="session")
def biometrics(model_dir: Path):  # type: ignore[no-untyped-def]
    from identity_service.inference.biometrics import Biometrics

    return Biometrics.load(model_dir, device="auto")


@pytest.fixture(scope="session")
def recording_analyzer(biometrics, model_dir: Path):  # type: ignore[no-untyped-def]
    from identity_service.wiring import load_recording_analyzer

    return load_recording_analyzer(Settings(model_dir=model_dir), biometrics)

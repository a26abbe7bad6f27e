"""Fixtures of the storage suites: the application over the ``store`` of each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from identity_service.storage.sql import SqlStore
from identity_service.wiring import App, build_app
from tests.conftest import test_settings


@pytest.fixture
def app(store: SqlStore, tmp_path: Path) -> Iterator[App]:
    """The whole application (without models) on this test's store, SQLite or PostgreSQL."""
    built = build_app(test_settings(tmp_path), store=store, migrate_now=False)
    yield built
    built.audit.close()

"""Biometric data and keys are private on disk whatever the umask: the data folder and the key
folder 0700, the database and key files 0600 (under umask 022 they were 0755 and 0644)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity_service.files import private_dir, private_file
from identity_service.wiring import build_app
from tests.conftest import test_settings


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_folder_is_private(tmp_path: Path, usual_umask: None) -> None:
    data = tmp_path / "fresh" / "data"
    app = build_app(test_settings(data))
    app.close()  # it migrated the database and made its keys: everything it writes at start exists
    assert mode(data) == 0o700 and mode(tmp_path / "fresh") == 0o700
    assert mode(data / "likeness.db") == 0o600
    for companion in (data / "likeness.db-wal", data / "likeness.db-shm"):
        if companion.exists():
            assert mode(companion) == 0o600, companion
    keys = data / "keys"
    assert mode(keys) == 0o700
    key_files = list(keys.iterdir())
    assert key_files and all(mode(f) == 0o600 for f in key_files), [(f.name, oct(mode(f))) for f in key_files]


def test_existing_folders_keep_the_mode_an_operator_chose(tmp_path: Path, usual_umask: None) -> None:
    chosen = tmp_path / "chosen"
    chosen.mkdir(mode=0o750)
    os.chmod(chosen, 0o750)  # noqa: S103 - an operator's looser choice, on purpose
    private_dir(chosen / "a" / "b")
    assert mode(chosen) == 0o750 and mode(chosen / "a") == 0o700 and mode(chosen / "a" / "b") == 0o700
    existing = chosen / "file"
    existing.write_text("x")
    os.chmod(existing, 0o640)
    private_file(existing)
    assert mode(existing) == 0o640 and existing.read_text() == "x"

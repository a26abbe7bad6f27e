"""The operator CLI against a real SQLite database: verify, list, erase, keys."""

from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditlog.log import AuditLog
from identity_service.signing import Keyring, KeyStatus, SigningKey, key_id
from identity_service.wiring import build_app
from tests.conftest import test_settings
from tests.storage.test_audit_conformance import draft
from tests.test_cli import CLI, env_for


def seeded(tmp_path: Path, n: int = 20) -> None:
    app = build_app(test_settings(tmp_path, audit_checkpoint_every=5))
    log: AuditLog = app.audit
    for i in range(n):
        log.record_now(draft(i, subject="bob" if i % 2 else "alice"))
    app.close()


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env_for(tmp_path, LIKENESS_OPERATOR="ops-jane"),
                          capture_output=True, text=True, timeout=60)


def test_verify_passes_then_names_an_edited_row(tmp_path: Path) -> None:
    seeded(tmp_path)
    ok = run(tmp_path, "audit", "verify", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(tmp_path / "likeness.db") as db:
        db.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 13")
    bad = run(tmp_path, "audit", "verify")
    assert bad.returncode == 1 and "first bad event: 13" in bad.stdout


def test_list_filters_and_every_command_is_audited(tmp_path: Path) -> None:
    seeded(tmp_path, 6)
    out = run(tmp_path, "audit", "list", "--subject", "bob", "--oldest-first", "--json")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["sequence"] for line in out.stdout.splitlines()] == [1, 3, 5]
    listed = run(tmp_path, "audit", "list", "--action", "operator.command", "--json")
    commands = [json.loads(line) for line in listed.stdout.splitlines()]
    assert commands[0]["actor_id"] == "ops-jane" and commands[0]["details"]["command"] == "audit list"
    assert commands[0]["actor_type"] == "operator"
    stats = json.loads(run(tmp_path, "audit", "stats", "--json").stdout)
    assert stats["tree_size"] >= 8
    assert run(tmp_path, "audit", "show", "2", "--json").returncode == 0
    assert run(tmp_path, "audit", "show", "999").returncode == 1
    lines = run(tmp_path, "audit", "export").stdout.splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == list(range(len(lines)))
    bad_time = run(tmp_path, "audit", "list", "--since", "yesterday")
    assert bad_time.returncode == 2


def test_subjects_show_and_erase(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    app = build_app(test_settings(tmp_path))
    from auditlog.model import SYSTEM_ACTOR

    app.enrollments.start("carol", reenroll=False, actor=SYSTEM_ACTOR)
    app.close()
    shown = run(tmp_path, "subjects", "show", "carol", "--json")
    assert json.loads(shown.stdout)["state"] == "pending"
    assert run(tmp_path, "subjects", "erase", "carol").returncode == 2  # needs --yes
    assert run(tmp_path, "subjects", "erase", "carol", "--yes").returncode == 0
    missing = run(tmp_path, "subjects", "show", "carol")
    assert missing.returncode == 1 and "ERROR_REASON_ENROLLMENT_NOT_FOUND" in missing.stderr
    assert json.loads(run(tmp_path, "audit", "verify", "--json").stdout)["ok"] is True


def test_signing_key_rotation(tmp_path: Path) -> None:
    seeded(tmp_path, 5)
    before = json.loads(run(tmp_path, "signing-keys", "list", "--json").stdout)
    assert run(tmp_path, "signing-keys", "rotate").returncode == 0
    after = json.loads(run(tmp_path, "signing-keys", "list", "--json").stdout)
    assert len(after) == len(before) + 1
    assert [k["status"] for k in after] == ["verify_only", "active"]
    assert "private" not in json.dumps(after)
    assert run(tmp_path, "signing-keys", "retire", after[1]["kid"]).returncode == 1  # active
    assert run(tmp_path, "audit", "verify").returncode == 0
    # Retiring the old key ends its use tokens, not the checkpoints it signed: the log verifies.
    assert run(tmp_path, "signing-keys", "retire", after[0]["kid"]).returncode == 0
    verified = run(tmp_path, "audit", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["checkpoints_checked"] >= 1, verified.stdout
    # A checkpoint signed by a key the ring never held is named by its size, not "event None".
    keyring = tmp_path / "keys" / "signing.json"
    keyring.rename(tmp_path / "elsewhere.json")
    failed = run(tmp_path, "audit", "verify")
    assert failed.returncode == 1 and "checkpoint at size" in failed.stdout and "None" not in failed.stdout, failed


@contextmanager
def following(tmp_path: Path, *args: str) -> Iterator[queue.Queue[str]]:
    """`audit tail --follow` running, its output lines arriving on a queue as it prints them."""
    proc = subprocess.Popen([*CLI, "audit", "tail", "--follow", "--interval", "0.1", *args],
                            env=env_for(tmp_path, LIKENESS_OPERATOR="ops-jane"), stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stream = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    try:
        yield lines
    finally:
        proc.terminate()
        proc.wait(10)


def test_tail_follow_prints_new_events_as_they_are_appended(tmp_path: Path) -> None:
    seeded(tmp_path, 3)
    with following(tmp_path, "-n", "2", "--json") as lines:
        first = [json.loads(lines.get(timeout=30))["sequence"] for _ in range(2)]
        assert first == [1, 2]
        app = build_app(test_settings(tmp_path))
        app.audit.record_now(draft(99, subject="zoe"))
        app.close()
        new = json.loads(lines.get(timeout=30))
        assert (new["sequence"], new["subject_id"]) == (3, "zoe")


def test_template_keys_rotate_rewrap_and_retire(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from identity_service.vault.keys import FileKeyring
    from identity_service.vault.vault import TemplateVault

    app = build_app(test_settings(tmp_path))
    vault = TemplateVault(FileKeyring.load_or_create(app.settings.resolved_template_key_file()))
    first = vault.keys.active_kid()
    with app.store.write() as tx:
        record, _ = vault.new_subject_key("alice", datetime.now(UTC))
        tx.put_subject_key(record)
    app.close()
    listed = json.loads(run(tmp_path, "keys", "list", "--json").stdout)
    assert listed["keys"][0]["kid"] == first and listed["keys"][0]["subjects"] == 1
    assert "key" not in listed["keys"][0]  # never key material
    busy = run(tmp_path, "keys", "retire", first)
    assert busy.returncode == 1 and "still wrapped" in busy.stderr
    rotated = run(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0 and "1 data keys re-wrapped" in rotated.stdout
    states = {k["kid"]: (k["state"], k["subjects"]) for k in json.loads(run(tmp_path, "keys", "list", "--json").stdout)["keys"]}
    assert states[first] == ("decrypt_only", 0) and len(states) == 2
    assert run(tmp_path, "keys", "retire", first).returncode == 0
    assert first not in {k["kid"] for k in json.loads(run(tmp_path, "keys", "list", "--json").stdout)["keys"]}


def test_a_rollback_verifies_alone_and_fails_against_a_checkpoint_kept_outside(tmp_path: Path) -> None:
    """A database restored to an earlier state is a consistent log of its own (verify passes);
    a checkpoint exported before and kept elsewhere catches it, as RFC 6962 monitors do."""
    import shutil

    seeded(tmp_path, 10)  # checkpoints at 5 and 10
    database = tmp_path / "likeness.db"
    backup = tmp_path / "backup.db"
    shutil.copy(database, backup)
    seeded(tmp_path, 10)  # twenty events now, checkpoint at 20
    witness = tmp_path / "outside" / "checkpoint.json"
    witness.parent.mkdir()
    exported = run(tmp_path, "audit", "checkpoint", "--export", str(witness))
    assert exported.returncode == 0 and json.loads(witness.read_text())["tree_size"] >= 20, exported
    assert run(tmp_path, "audit", "verify", "--against", str(witness)).returncode == 0
    shutil.copy(backup, database)  # the rollback: an older, self-consistent log
    assert run(tmp_path, "audit", "verify").returncode == 0
    caught = run(tmp_path, "audit", "verify", "--against", str(witness), "--json")
    assert caught.returncode == 1, caught.stdout
    assert "rolled back" in json.loads(caught.stdout)["problem"]
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    refused = run(tmp_path, "audit", "verify", "--against", str(garbage))
    assert refused.returncode == 2 and "audit checkpoint --export" in refused.stderr


def test_human_output_reads_well_in_a_pipe(tmp_path: Path) -> None:
    """In a pipe: one line per event (no table wrapping a row over several lines), `show` as
    aligned fields without Python reprs, and no colour codes."""
    seeded(tmp_path, 4)
    listed = run(tmp_path, "audit", "list")
    rows = [line for line in listed.stdout.splitlines() if line.startswith("#")]
    assert len(rows) == 4 and all("\x1b[" not in row for row in rows)
    assert rows[0].startswith("#") and "alice" in listed.stdout and "bob" in listed.stdout
    shown = run(tmp_path, "audit", "show", "1").stdout
    assert "{" not in shown and "'" not in shown and "\x1b[" not in shown  # no dict or str reprs
    fields = dict(line.strip().split(None, 1) for line in shown.splitlines() if line.strip())
    assert fields["sequence"] == "1" and fields["subject_id"] == "bob" and fields["redacted"] == "no"
    app = build_app(test_settings(tmp_path))
    from auditlog.model import SYSTEM_ACTOR

    app.enrollments.start("carol", reenroll=False, actor=SYSTEM_ACTOR)
    app.close()
    subject = run(tmp_path, "subjects", "show", "carol").stdout
    assert "template_models  -" in subject.splitlines()  # an empty list reads as "-", not []
    assert "[]" not in subject and "identity.enrollment.start" in subject


def test_tail_follow_prints_one_line_per_new_event(tmp_path: Path) -> None:
    seeded(tmp_path, 3)
    with following(tmp_path, "-n", "1") as lines:
        assert lines.get(timeout=30).startswith("#2 ")
        app = build_app(test_settings(tmp_path))
        app.audit.record_now(draft(99, subject="zoe"))
        app.close()
        new = lines.get(timeout=30)
        assert new.startswith("#3 ") and "zoe" in new


def _key_whose_id_starts_with(prefix: str, status: KeyStatus) -> SigningKey:
    """A real Ed25519 key drawn until its thumbprint starts with ``prefix`` (1 in 4,096 for "--")."""
    while True:
        private = Ed25519PrivateKey.generate()
        kid = key_id(private.public_key())
        if kid.startswith(prefix):
            return SigningKey(kid, private, datetime.now(UTC), status)


def test_a_key_id_that_starts_with_dashes_is_an_id_not_an_option(tmp_path: Path) -> None:
    # CI once drew such a key in test_signing_key_rotation: click answered "No such option" (exit 2).
    old = _key_whose_id_starts_with("--", KeyStatus.VERIFY_ONLY)
    Keyring(tmp_path / "keys" / "signing.json", [old, _key_whose_id_starts_with("A", KeyStatus.ACTIVE)]).save()
    seeded(tmp_path, 5)
    retired = run(tmp_path, "signing-keys", "retire", old.kid, "--operator", "ops-bob")
    assert retired.returncode == 0 and f"retired {old.kid}" in retired.stdout, retired.stderr
    statuses = {k["kid"]: k["status"] for k in json.loads(run(tmp_path, "signing-keys", "list", "--json").stdout)}
    assert statuses[old.kid] == "retired"
    unknown = run(tmp_path, "signing-keys", "retire", "-x")
    assert unknown.returncode == 1 and "cannot retire -x" in unknown.stderr
    missing = run(tmp_path, "subjects", "show", "--", "-carol")
    assert missing.returncode == 1 and "ERROR_REASON_ENROLLMENT_NOT_FOUND" in missing.stderr

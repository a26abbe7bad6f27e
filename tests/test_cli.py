"""The `identity-service` command as an operator runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity_service.transport.auth import hash_token

CLI = [sys.executable, "-m", "identity_service.cli"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    from tests.conftest import MODEL_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update({"LIKENESS_DATA_DIR": str(tmp_path), "LIKENESS_LOG_FORMAT": "json", "LIKENESS_MODEL_DIR": str(MODEL_DIR),
                "LIKENESS_METRICS_LISTEN_ADDRESS": "127.0.0.1:0"})
    env.update(extra)
    return env


def test_serve_answers_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "serve", "--address", "127.0.0.1:0"],
        env=env_for(tmp_path), stderr=subprocess.PIPE, text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 30
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("{") and json.loads(line).get("event") == "serving":
                port = int(json.loads(line)["address"].rsplit(":", 1)[1])
        assert port, f"server did not report its address: {lines}"
        # Started with no callers: it says at once that every call but health will be refused.
        assert any('"event": "no_callers"' in line for line in lines), lines
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (tmp_path / "likeness.db").exists()  # SQLite migrated on start
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = proc.stderr.read()  # type: ignore[union-attr]
        assert '"event": "stopped"' in rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    callers = json.dumps([{"name": "gen", "roles": ["generator"], "token_sha256": hash_token("t0ken")}])
    out = subprocess.run(
        [*CLI, "config", "show", "--json"],
        env=env_for(
            tmp_path,
            LIKENESS_DATABASE_URL="postgresql+psycopg://svc:hunter2@db:5432/likeness",
            LIKENESS_CALLERS=callers,
        ),
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {r["key"]: r for r in json.loads(out)}
    assert "hunter2" not in out and hash_token("t0ken") not in out
    assert rows["database_url"]["value"] == "postgresql+psycopg://svc:***@db:5432/likeness"
    assert rows["listen_address"]["env"] == "LIKENESS_LISTEN_ADDRESS"
    assert all(r["description"] for r in rows.values()), "every key is documented"


def test_bad_configuration_exits_2_with_the_reason(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "config", "show"], env=env_for(tmp_path, LIKENESS_MAX_WORKERS="zero"),
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and "max_workers" in proc.stderr


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert subprocess.run([*CLI, "db", "current"], env=env, capture_output=True).returncode == 1
    upgraded = subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True, text=True)
    assert subprocess.run([*CLI, "db", "current"], env=env, capture_output=True).returncode == 0
    # With LIKENESS_LOG_FORMAT=json every line is JSON, alembic's own included.
    lines = [line for line in upgraded.stderr.splitlines() if line.strip()]
    assert any("Running upgrade" in line for line in lines)
    assert all(json.loads(line)["level"] for line in lines), lines


def test_callers_new_prints_a_usable_entry(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "callers", "new", "video-gen", "--role", "generator"],
        env=env_for(tmp_path), capture_output=True, text=True, check=True,
    )
    entry = json.loads(proc.stdout)
    token = proc.stderr.rsplit(" ", 1)[1].strip()
    assert entry == {"name": "video-gen", "roles": ["generator"], "token_sha256": hash_token(token)}
    bad = subprocess.run(
        [*CLI, "callers", "new", "x", "--role", "root"], env=env_for(tmp_path), capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown role" in bad.stderr


def test_serve_also_serves_the_user_api_when_a_token_key_is_configured(tmp_path: Path) -> None:
    import httpx

    from tests.userapi_support import ISSUER, AppTokenIssuer, write_jwks

    issuer = AppTokenIssuer()
    jwks = write_jwks(tmp_path / "jwks.json", issuer)
    proc = subprocess.Popen(
        [*CLI, "serve", "--address", "127.0.0.1:0"],
        env=env_for(tmp_path, LIKENESS_USER_API_LISTEN_ADDRESS="127.0.0.1:0", LIKENESS_USER_TOKEN_JWKS_FILE=str(jwks),
                    LIKENESS_USER_TOKEN_ISSUER=ISSUER),
        stderr=subprocess.PIPE, text=True,
    )
    try:
        events: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + 30
        while "serving" not in events and time.monotonic() < deadline:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            if line.startswith("{"):
                event = json.loads(line)
                events[event["event"]] = event
        assert "user_api_serving" in events, events
        port = int(events["user_api_serving"]["address"].rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "serving"}
        mine = httpx.get(f"{base}/v1/subjects/me/cameo-policy", timeout=5,
                         headers={"authorization": f"Bearer {issuer.token('alice')}"})
        assert mine.status_code == 200 and mine.json()["audience"] == "nobody"
        grpc_port = int(events["serving"]["address"].rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        metrics_port = int(events["metrics_serving"]["address"].rsplit(":", 1)[1])
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'likeness_http_requests_total{method="GET",route="/v1/subjects/{subject_id}/cameo-policy",status="200"}' \
            in scraped
        assert "likeness_model_seconds_bucket" in scraped and "likeness_search_index_templates 0.0" in scraped
        assert "likeness_search_index_bytes " in scraped
        assert 'likeness_grpc_calls_total{code="OK",method="/grpc.health.v1.Health/Check"} 1.0' in scraped
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert '"event": "stopped"' in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_refuses_an_unusable_user_token_key(tmp_path: Path) -> None:
    bad = tmp_path / "jwks.json"
    bad.write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')
    result = subprocess.run(
        [*CLI, "serve", "--address", "127.0.0.1:0"], capture_output=True, text=True, timeout=60,
        env=env_for(tmp_path, LIKENESS_USER_API_LISTEN_ADDRESS="127.0.0.1:0", LIKENESS_USER_TOKEN_JWKS_FILE=str(bad)),
    )
    assert result.returncode != 0
    assert "no signature keys in the JWKS" in result.stderr


def test_user_api_alone_serves_without_models_and_stops_on_sigterm(tmp_path: Path) -> None:
    import httpx

    from tests.userapi_support import ISSUER, AppTokenIssuer, write_jwks

    issuer = AppTokenIssuer()
    jwks = write_jwks(tmp_path / "jwks.json", issuer)
    env = env_for(tmp_path, LIKENESS_USER_TOKEN_JWKS_FILE=str(jwks), LIKENESS_USER_TOKEN_ISSUER=ISSUER,
                  LIKENESS_MODEL_DIR=str(tmp_path / "no-models"))
    assert subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, timeout=60).returncode == 0
    proc = subprocess.Popen([*CLI, "user-api", "--address", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            if line.startswith("{") and json.loads(line).get("event") == "user_api_serving":
                port = int(json.loads(line)["address"].rsplit(":", 1)[1])
        assert port
        reply = httpx.get(f"http://127.0.0.1:{port}/v1/subjects/me/blocks", timeout=5,
                          headers={"authorization": f"Bearer {issuer.token('alice')}"})
        assert reply.status_code == 200 and reply.json() == {"blocked_ids": []}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_setting_that_is_not_json_or_names_no_check_is_refused_in_one_line(tmp_path: Path) -> None:
    for value, expected in [("head_turns", "list settings take JSON"), ('["bogus"]', "unknown check 'bogus'; known:")]:
        result = subprocess.run([*CLI, "config", "show"], capture_output=True, text=True, timeout=60,
                                env=env_for(tmp_path, LIKENESS_LIVENESS_OPTIONAL_CHECKS=value))
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_help_and_light_commands_load_no_database_or_model_code() -> None:
    """`--help` answers at once: the CLI module imports click only; operator commands load with
    their group (scripts/bench_cli.py measures the time against `import click`)."""
    import subprocess
    import sys

    probe = ("import sys\nfrom identity_service.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = [m for m in ('sqlalchemy', 'alembic', 'pydantic', 'rich', 'grpc', 'onnxruntime', 'av')"
             " if m in sys.modules]\nprint('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
    for name in ("audit", "subjects", "signing-keys", "keys"):
        assert name in done.stdout


def test_the_lazy_operator_groups_are_the_real_ones_with_their_own_summaries() -> None:
    import click

    from identity_service.cli import LazyGroup, main

    context = click.Context(main)
    for name, (_, _, summary) in LazyGroup.LAZY.items():
        command = main.get_command(context, name)
        assert isinstance(command, click.Group) and command.name == name
        assert command.get_short_help_str(200) == summary  # the listing says what the group's own help says

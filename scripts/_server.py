"""Start `identity-service serve` as a real process for the scripts that drive it from outside
(the quickstart demo, the hostile-input check): SQLite in a folder of its own, the models from
`scripts/setup.sh`, one caller per role with a fresh token, and the user API with a fresh
Ed25519 user-token key published as a JWKS."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("admin", "app", "generator", "scanner", "social_graph", "auditor")
USER_ISSUER = "https://accounts.dev.example"  # iss of the dev user tokens
USER_KEY_ID = "dev-user-key"


@dataclass
class Server:
    process: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    tokens: dict[str, str]
    user_key: ed25519.Ed25519PrivateKey
    log: list[str] = field(default_factory=list)

    def metadata(self, role: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.tokens[role]}")]

    def user_token(self, subject: str, ttl_seconds: int = 600) -> str:
        """A user access token as the app's identity provider would sign it."""
        now = int(time.time())
        return jwt.encode({"iss": USER_ISSUER, "aud": "likeness-user-api", "sub": subject, "iat": now,
                           "exp": now + ttl_seconds}, self.user_key, algorithm="EdDSA",
                          headers={"kid": USER_KEY_ID})

    def memory_kb(self, name: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {name} for the server process")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(folder: Path, **settings: str) -> Server:
    """Start serve with its data in ``folder``; ``settings`` are extra LIKENESS_* values by key
    (e.g. LIVENESS_OPTIONAL_CHECKS='["head_turns"]'). Returns once both ports are known."""
    tokens = {role: secrets.token_urlsafe(24) for role in ROLES}
    callers = [{"name": f"dev-{role.replace('_', '-')}", "roles": [role],
                "token_sha256": hashlib.sha256(token.encode()).hexdigest()} for role, token in tokens.items()]
    user_key = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(user_key.public_key()))
    jwks = folder / "user-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": USER_KEY_ID, "use": "sig", "alg": "EdDSA"}]}))
    env = {**os.environ,
           "LIKENESS_DATA_DIR": str(folder / "data"), "LIKENESS_MODEL_DIR": str(ROOT / "var" / "models"),
           "LIKENESS_LISTEN_ADDRESS": "127.0.0.1:0", "LIKENESS_USER_API_LISTEN_ADDRESS": "127.0.0.1:0",
           "LIKENESS_METRICS_LISTEN_ADDRESS": "", "LIKENESS_LOG_FORMAT": "json",
           "LIKENESS_CALLERS": json.dumps(callers), "LIKENESS_USER_TOKEN_JWKS_FILE": str(jwks),
           "LIKENESS_USER_TOKEN_ISSUER": USER_ISSUER}
    env.update({f"LIKENESS_{key.upper()}": value for key, value in settings.items()})
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "identity-service"), "serve"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    server_log: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server_log.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 300
    while len(ports) < 2:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise SystemExit("the server did not start within 300 s:\n" + "".join(server_log[-40:])) from None
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") in ("serving", "user_api_serving"):
            ports[entry["event"]] = int(str(entry["address"]).rsplit(":", 1)[1])
    return Server(process, ports["serving"], ports["user_api_serving"], tokens, user_key, server_log)

"""Running the user API for tests: a real HTTP server on port 0 beside a real gRPC server, and
an issuer of real signed user tokens standing in for the app's identity provider."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from identity_service.storage.base import Store
from identity_service.userapi.server import UserApiServer, start_user_api
from identity_service.wiring import build_app
from tests.conftest import RunningServer, start_server, test_settings

ISSUER = "https://accounts.app.example"
AUDIENCE = "likeness-user-api"


class AppTokenIssuer:
    """Signs user access tokens the way the app's identity provider does (Ed25519, with a kid).
    Its public key is published as a JWKS file the service is configured with."""

    def __init__(self, kid: str = "app-key-1") -> None:
        self.kid = kid
        self.private_key = ed25519.Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    def token(self, subject: str, *, ttl: int = 300, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + ttl,
                                  "jti": uuid.uuid4().hex}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})


@dataclass
class UserApi:
    grpc: RunningServer
    http: UserApiServer
    port: int
    issuer: AppTokenIssuer

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, subject: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.issuer.token(subject)}"} if subject else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)


def write_jwks(path: Path, *issuers: AppTokenIssuer, extra: list[dict[str, Any]] | None = None) -> Path:
    path.write_text(json.dumps({"keys": [i.jwk() for i in issuers] + (extra or [])}), encoding="utf-8")
    return path


@contextmanager
def running_user_api(tmp_path: Path, store: Store | None = None, *, biometrics: object = None,
                     analyzer: object = None, **overrides: object) -> Iterator[UserApi]:
    issuer = AppTokenIssuer()
    other = ec.generate_private_key(ec.SECP256R1())  # a second, unrelated key in the JWKS
    other_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(other.public_key()))
    jwks = write_jwks(tmp_path / "app-jwks.json", issuer, extra=[{**other_jwk, "kid": "app-key-ec", "use": "sig"}])
    values: dict[str, object] = {"user_token_jwks_file": jwks, "user_token_issuer": ISSUER,
                                  "user_api_listen_address": "127.0.0.1:0"}
    values.update(overrides)
    settings = test_settings(tmp_path, **values)
    app = build_app(settings, store=store, migrate_now=False if store is not None else None,
                    biometrics=biometrics, analyzer=analyzer)  # type: ignore[arg-type]
    grpc_server = start_server(app)
    http, port = start_user_api(app, "127.0.0.1:0")
    try:
        yield UserApi(grpc=grpc_server, http=http, port=port, issuer=issuer)
    finally:
        http.stop(1)
        grpc_server.channel.close()
        grpc_server.server.stop(None).wait()
        app.close()

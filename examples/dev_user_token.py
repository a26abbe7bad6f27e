"""Make what the user API needs to try it without the app's identity provider: an Ed25519 key
pair, its JWKS, and user access tokens signed with it. For development only: in production the
app's identity provider signs the tokens and publishes its JWKS.

    .venv/bin/python examples/dev_user_token.py keys var/dev-user      # user-key.pem, user-jwks.json
    export LIKENESS_USER_TOKEN_JWKS_FILE=var/dev-user/user-jwks.json LIKENESS_USER_TOKEN_ISSUER=https://dev.example
    .venv/bin/identity-service serve                                   # now also serves the user API on :8080
    USER_JWT=$(.venv/bin/python examples/dev_user_token.py token var/dev-user alice)
    curl -H "authorization: Bearer $USER_JWT" localhost:8080/v1/subjects/me/cameo-policy
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

KEY_ID = "dev-user-key"
ISSUER = "https://dev.example"
AUDIENCE = "likeness-user-api"  # LIKENESS_USER_TOKEN_AUDIENCE's default


def make_keys(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private = folder / "user-key.pem"
    private.write_bytes(pem)
    os.chmod(private, 0o600)
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    (folder / "user-jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "EdDSA"}]},
                                                      indent=2) + "\n")
    print(f"wrote {private} (keep it) and {folder / 'user-jwks.json'} (LIKENESS_USER_TOKEN_JWKS_FILE)")


def make_token(folder: Path, subject: str, ttl_seconds: int) -> str:
    key = serialization.load_pem_private_key((folder / "user-key.pem").read_bytes(), password=None)
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + ttl_seconds},
                      key, algorithm="EdDSA", headers={"kid": KEY_ID})  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="Make a key pair and its JWKS in FOLDER.")
    keys.add_argument("folder", type=Path)
    token = commands.add_parser("token", help="Print a user access token for SUBJECT.")
    token.add_argument("folder", type=Path)
    token.add_argument("subject")
    token.add_argument("--ttl", type=int, default=3600, help="Seconds it stays valid (default 3600).")
    args = parser.parse_args()
    if args.command == "keys":
        make_keys(args.folder)
    else:
        print(make_token(args.folder, args.subject, args.ttl))


if __name__ == "__main__":
    main()

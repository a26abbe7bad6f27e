"""An Ed25519 keyring in a JSON file: one active signing key, older keys kept for verifying.

Used to sign audit checkpoints and cameo use tokens. The file holds private keys: it is written
atomically with mode 0600 and never logged. Key ids are RFC 7638-style thumbprints.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from identity_service.files import private_dir
from kernel.b64 import b64url, b64url_decode
from kernel.clock import Clock, from_us, to_us, utc_now


class KeyStatus(StrEnum):
    ACTIVE = "active"  # signs
    VERIFY_ONLY = "verify_only"  # rotated out: still verifies what it signed
    RETIRED = "retired"  # no longer trusted for anything


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of the OKP JWK, base64url, first 22 characters."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url(public_raw(public))},
                           separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())[:22]


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created: datetime
    status: KeyStatus

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


class Keyring:
    """The keys in one file; ``rotate`` makes a new active key and keeps the old for verifying."""

    def __init__(self, path: Path, keys: list[SigningKey], clock: Clock = utc_now) -> None:
        self.path = path
        self._keys = keys
        self._clock = clock

    @classmethod
    def load_or_create(cls, path: Path, clock: Clock = utc_now) -> Keyring:
        if path.exists():
            return cls(path, _parse(json.loads(path.read_text(encoding="utf-8"))), clock)
        ring = cls(path, [], clock)
        ring.rotate()
        return ring

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys)

    def active(self) -> SigningKey:
        for key in self._keys:
            if key.status == KeyStatus.ACTIVE:
                return key
        raise RuntimeError(f"keyring {self.path} has no active key: run `identity-service keys rotate`")

    def verification_keys(self) -> dict[str, Ed25519PublicKey]:
        """Public keys trusted to verify use tokens: active and verify-only."""
        return {k.kid: k.public for k in self._keys if k.status != KeyStatus.RETIRED}

    def checkpoint_keys(self) -> dict[str, Ed25519PublicKey]:
        """Public keys that verify audit checkpoints: every key the ring has held, retired ones
        too. Retiring a key ends its use tokens (minutes long); the checkpoints it signed are the
        log's history and must verify for the life of the log. A retired key signs nothing new
        (only the active key signs), so what it verifies was signed before it was retired."""
        return {k.kid: k.public for k in self._keys}

    def rotate(self) -> SigningKey:
        """Make a new active key; the previous active key becomes verify-only."""
        private = Ed25519PrivateKey.generate()
        new = SigningKey(key_id(private.public_key()), private, self._clock(), KeyStatus.ACTIVE)
        self._keys = [
            replace(k, status=KeyStatus.VERIFY_ONLY) if k.status == KeyStatus.ACTIVE else k for k in self._keys
        ]
        self._keys.append(new)
        self.save()
        return new

    def retire(self, kid: str) -> None:
        """Stop trusting a verify-only key. The active key cannot be retired (rotate first)."""
        found = False
        updated = []
        for key in self._keys:
            if key.kid == kid:
                if key.status == KeyStatus.ACTIVE:
                    raise ValueError("the active key cannot be retired; rotate first")
                key = replace(key, status=KeyStatus.RETIRED)
                found = True
            updated.append(key)
        if not found:
            raise KeyError(kid)
        self._keys = updated
        self.save()

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 JWK Set of the verification keys (RFC 8037 OKP / Ed25519)."""
        return {
            "keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": b64url(public_raw(k.public)), "kid": k.kid,
                 "alg": "EdDSA", "use": "sig"}
                for k in self._keys
                if k.status != KeyStatus.RETIRED
            ]
        }

    def save(self) -> None:
        private_dir(self.path.parent)
        body = {
            "version": 1,
            "keys": [
                {
                    "kid": k.kid,
                    "status": k.status.value,
                    "created_us": to_us(k.created),
                    "private_key": b64url(
                        k.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                    ),
                }
                for k in self._keys
            ],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keyring-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _parse(body: dict[str, Any]) -> list[SigningKey]:
    keys = []
    for item in body.get("keys", []):
        private = Ed25519PrivateKey.from_private_bytes(b64url_decode(item["private_key"]))
        if key_id(private.public_key()) != item["kid"]:
            raise ValueError(f"keyring entry {item['kid']} does not match its key material")
        keys.append(SigningKey(item["kid"], private, from_us(item["created_us"]), KeyStatus(item["status"])))
    return keys

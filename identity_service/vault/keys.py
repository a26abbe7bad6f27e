"""Key encryption keys (KEKs): a keyring that wraps and unwraps data keys.

Two providers now: a key file (JSON, mode 0600) that ``identity-service keys rotate`` manages,
and an environment variable for deployments that inject secrets. A cloud KMS implements the same
``KeyEncryptionKeys`` protocol (wrap with the active key, unwrap with any usable one).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """The key a data key was wrapped with is not in the keyring (retired or never configured)."""


class KeyEncryptionKeys(Protocol):
    def active_kid(self) -> str: ...

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt with the active key; returns (kid, blob)."""
        ...

    def unwrap(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt with key ``kid``; KeyUnavailable or InvalidTag on failure."""
        ...

    def kids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Kek:
    kid: str
    key: bytes
    state: str  # "active": wraps and unwraps; "decrypt_only": unwraps until retired
    create_time: str


class StaticKeyring:
    """AES-256-GCM KEKs held in memory; the base of the file and environment providers."""

    def __init__(self, keys: list[Kek]) -> None:
        actives = [k for k in keys if k.state == "active"]
        if len(actives) != 1:
            raise ValueError(f"a keyring needs exactly one active key, found {len(actives)}")
        for k in keys:
            if len(k.key) != 32:
                raise ValueError(f"key {k.kid} is not 256 bits")
        self._keys = {k.kid: k for k in keys}
        self._active = actives[0]

    def active_kid(self) -> str:
        return self._active.kid

    def kids(self) -> list[str]:
        return list(self._keys)

    def keys(self) -> list[Kek]:
        return list(self._keys.values())

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return self._active.kid, nonce + AESGCM(self._active.key).encrypt(nonce, plaintext, aad)

    def unwrap(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        key = self._keys.get(kid)
        if key is None:
            raise KeyUnavailable(kid)
        return AESGCM(key.key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


def new_kek(state: str = "active") -> Kek:
    return Kek(kid="kek-" + secrets.token_hex(6), key=AESGCM.generate_key(bit_length=256), state=state,
               create_time=datetime.now(UTC).isoformat(timespec="seconds"))


class FileKeyring(StaticKeyring):
    """KEKs in a JSON file (mode 0600), created with one active key on first use."""

    def __init__(self, path: Path, keys: list[Kek]) -> None:
        super().__init__(keys)
        self.path = path

    @classmethod
    def load_or_create(cls, path: Path) -> FileKeyring:
        if not path.exists():
            keyring = cls(path, [new_kek()])
            keyring.save()
            return keyring
        document = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, [Kek(k["kid"], base64.b64decode(k["key"]), k["state"], k["create_time"])
                          for k in document["keys"]])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"keys": [{"kid": k.kid, "key": base64.b64encode(k.key).decode(), "state": k.state,
                                     "create_time": k.create_time} for k in self.keys()]}, indent=2)
        partial = self.path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.replace(partial, self.path)

    def rotated(self) -> FileKeyring:
        """A keyring with a new active key; the old active key stays for unwrapping."""
        keys = [Kek(k.kid, k.key, "decrypt_only", k.create_time) for k in self.keys()]
        return FileKeyring(self.path, [*keys, new_kek()])

    def without(self, kid: str) -> FileKeyring:
        if kid == self.active_kid():
            raise ValueError("the active key cannot be retired; rotate first")
        if kid not in self.kids():
            raise KeyUnavailable(kid)
        return FileKeyring(self.path, [k for k in self.keys() if k.kid != kid])


def keyring_from_env(value: str) -> StaticKeyring:
    """``kid:base64key,kid:base64key``: the first is active, the rest unwrap only."""
    keys = []
    for i, item in enumerate(part.strip() for part in value.split(",") if part.strip()):
        kid, _, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError(f"template key {kid!r} is not base64") from exc
        keys.append(Kek(kid, key, "active" if i == 0 else "decrypt_only", ""))
    return StaticKeyring(keys)


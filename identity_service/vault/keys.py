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
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity_service.files import private_dir

log = structlog.get_logger(__name__)

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
        self._reload_lock = threading.Lock()
        self._stamp = _stamp(path)

    @classmethod
    def load_or_create(cls, path: Path) -> FileKeyring:
        if not path.exists():
            keyring = cls(path, [new_kek()])
            keyring.save()
            return keyring
        return cls(path, _read(path))

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """With the active key of the file as it is now (a rotation elsewhere is taken up)."""
        if _stamp(self.path) != self._stamp:
            self.reload()
        return super().wrap(plaintext, aad)

    def unwrap(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        """As StaticKeyring, but a key this process does not hold is looked for in the file once
        more: `keys rotate` on another process (or replica) rewraps every data key with a new
        KEK, and a running server must pick it up without a restart."""
        try:
            return super().unwrap(kid, blob, aad)
        except KeyUnavailable:
            self.reload()
            return super().unwrap(kid, blob, aad)

    def reload(self) -> None:
        """Read the file again (it is replaced atomically by save); keep what is held when the
        file cannot be read, so a half-finished edit never takes keys away."""
        with self._reload_lock:
            try:
                stamp = _stamp(self.path)
                keys = _read(self.path)
                StaticKeyring.__init__(self, keys)
                self._stamp = stamp
            except (OSError, ValueError, KeyError) as exc:
                log.warning("template_keys_reload_failed", path=str(self.path), error=type(exc).__name__)

    def save(self) -> None:
        private_dir(self.path.parent)
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


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _read(path: Path) -> list[Kek]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return [Kek(k["kid"], base64.b64decode(k["key"]), k["state"], k["create_time"]) for k in document["keys"]]


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


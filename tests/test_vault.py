"""The template vault: sealing, binding, key wrapping, rotation and crypto-shredding."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from identity.model import TemplateBinding
from identity.ports import TemplateUnreadable
from identity_service.storage.sql import SqlStore
from identity_service.vault.keys import FileKeyring, KeyUnavailable, StaticKeyring, keyring_from_env, new_kek
from identity_service.vault.rotation import keys_in_use, rewrap_all
from identity_service.vault.vault import TemplateVault

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def vault() -> TemplateVault:
    return TemplateVault(StaticKeyring([new_kek()]))


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_sealed_template_opens_to_the_same_vector() -> None:
    v = vault()
    _, dek = v.new_subject_key("alice", NOW)
    record = v.seal(dek, TemplateBinding("t1", "alice", "face", "m", "1"), unit(1), NOW)
    assert np.array_equal(v.open(dek, record), unit(1))
    assert unit(1).tobytes() not in record.ciphertext


@pytest.mark.parametrize("change", [
    {"subject_id": "bob"}, {"modality": "voice"}, {"model_id": "other"}, {"model_version": "2"},
    {"template_id": "t2"},
], ids=["other-subject", "other-modality", "other-model", "other-version", "other-row"])
def test_a_template_moved_to_another_row_fails(change: dict[str, str]) -> None:
    v = vault()
    _, dek = v.new_subject_key("alice", NOW)
    record = v.seal(dek, TemplateBinding("t1", "alice", "face", "m", "1"), unit(1), NOW)
    with pytest.raises(TemplateUnreadable):
        v.open(dek, replace(record, **change))


def test_a_flipped_bit_fails() -> None:
    v = vault()
    _, dek = v.new_subject_key("alice", NOW)
    record = v.seal(dek, TemplateBinding("t1", "alice", "face", "m", "1"), unit(1), NOW)
    for position in (0, len(record.ciphertext) // 2, len(record.ciphertext) - 1):
        flipped = bytearray(record.ciphertext)
        flipped[position] ^= 0x01
        with pytest.raises(TemplateUnreadable):
            v.open(dek, replace(record, ciphertext=bytes(flipped)))
    with pytest.raises(TemplateUnreadable):
        v.open(dek, replace(record, nonce=bytes(12)))


def test_another_subjects_data_key_does_not_open_a_template() -> None:
    v = vault()
    alice_key, alice = v.new_subject_key("alice", NOW)
    bob_key, bob = v.new_subject_key("bob", NOW)
    record = v.seal(alice, TemplateBinding("t1", "alice", "face", "m", "1"), unit(1), NOW)
    with pytest.raises(TemplateUnreadable):
        v.open(bob, record)
    # A wrapped data key copied to another subject's row does not unwrap either.
    with pytest.raises(TemplateUnreadable):
        v.data_key(replace(bob_key, wrapped_key=alice_key.wrapped_key))


def test_rotation_rewraps_data_keys_without_touching_templates(store: SqlStore, tmp_path: Path) -> None:
    keyring = FileKeyring.load_or_create(tmp_path / "templates.json")
    assert stat.S_IMODE(os.stat(tmp_path / "templates.json").st_mode) == 0o600
    old = TemplateVault(keyring)
    records = {}
    with store.write() as tx:
        for subject in ("alice", "bob"):
            key_record, dek = old.new_subject_key(subject, NOW)
            tx.put_subject_key(key_record)
            records[subject] = old.seal(dek, TemplateBinding(f"t-{subject}", subject, "face", "m", "1"), unit(2), NOW)
            tx.replace_templates(subject, [records[subject]])
    rotated = keyring.rotated()
    rotated.save()
    new = TemplateVault(FileKeyring.load_or_create(tmp_path / "templates.json"))
    assert keys_in_use(store) == {keyring.active_kid(): 2}
    assert rewrap_all(store, new) == 2 and rewrap_all(store, new) == 0
    assert keys_in_use(store) == {rotated.active_kid(): 2}
    # Retire the old key: the data keys, now under the new key, still open the same templates.
    retired = TemplateVault(rotated.without(keyring.active_kid()))
    with store.read() as tx:
        for subject in ("alice", "bob"):
            dek = retired.data_key(tx.get_subject_key(subject))  # type: ignore[arg-type]
            stored = tx.list_templates(subject)
            assert stored == [records[subject]]
            assert np.array_equal(retired.open(dek, stored[0]), unit(2))
    with pytest.raises(ValueError, match="active"):
        rotated.without(rotated.active_kid())


def test_deleting_a_subject_destroys_its_data_key_and_rows(store: SqlStore) -> None:
    v = vault()
    with store.write() as tx:
        key_record, dek = v.new_subject_key("alice", NOW)
        tx.put_subject_key(key_record)
        tx.replace_templates("alice", [v.seal(dek, TemplateBinding("t1", "alice", "face", "m", "1"), unit(3), NOW)])
    with store.write() as tx:
        assert tx.delete_subject("alice") == 1  # templates destroyed
    with store.read() as tx:
        assert tx.get_subject_key("alice") is None and tx.list_templates("alice") == []
        assert "alice" in {s for s, _ in tx.template_changes_since(0)}


def test_env_keyring_first_key_active_and_bad_input_refused() -> None:
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    keyring = keyring_from_env(f"new:{k1}, old:{k2}")
    assert keyring.active_kid() == "new" and sorted(keyring.kids()) == ["new", "old"]
    with pytest.raises(ValueError):
        keyring_from_env("short:" + base64.b64encode(b"x" * 16).decode())
    with pytest.raises(ValueError):
        keyring_from_env("bad:***")
    with pytest.raises(KeyUnavailable):
        keyring.unwrap("gone", b"\x00" * 40, b"")

"""Sealing and opening templates. Pure crypto and records: no storage, no gRPC."""

from __future__ import annotations

import secrets
from datetime import datetime

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.model import SubjectKeyRecord, TemplateBinding, TemplateRecord
from identity.ports import KekNotLoaded, TemplateUnreadable
from identity_service.vault.keys import KeyEncryptionKeys, KeyUnavailable

NONCE_BYTES = 12


def _template_aad(binding: TemplateBinding) -> bytes:
    return "\x1f".join(("likeness-template-v1", binding.template_id, binding.subject_id, binding.modality,
                        binding.model_id, binding.model_version)).encode()


def _dek_aad(subject_id: str, kek_id: str) -> bytes:
    return "\x1f".join(("likeness-dek-v1", subject_id, kek_id)).encode()


class TemplateVault:
    """Envelope encryption: a per-subject data key (AES-256) wrapped by the keyring's KEK."""

    def __init__(self, keys: KeyEncryptionKeys) -> None:
        self.keys = keys

    def new_subject_key(self, subject_id: str, now: datetime) -> tuple[SubjectKeyRecord, bytes]:
        """A fresh data key: the record to store (wrapped) and the plaintext key for this process."""
        dek = AESGCM.generate_key(bit_length=256)
        kid = self.keys.active_kid()
        kid, wrapped = self.keys.wrap(dek, _dek_aad(subject_id, kid))
        return SubjectKeyRecord(subject_id=subject_id, kek_id=kid, wrapped_key=wrapped, create_time=now), dek

    def data_key(self, record: SubjectKeyRecord) -> bytes:
        try:
            return self.keys.unwrap(record.kek_id, record.wrapped_key, _dek_aad(record.subject_id, record.kek_id))
        except KeyUnavailable as exc:
            raise KekNotLoaded(record.kek_id) from exc
        except InvalidTag as exc:
            raise TemplateUnreadable(f"data key of {record.subject_id} cannot be unwrapped") from exc

    def rewrap(self, record: SubjectKeyRecord, now: datetime) -> SubjectKeyRecord:
        """The same data key wrapped by the active KEK: templates are not touched."""
        dek = self.data_key(record)
        kid, wrapped = self.keys.wrap(dek, _dek_aad(record.subject_id, self.keys.active_kid()))
        return SubjectKeyRecord(subject_id=record.subject_id, kek_id=kid, wrapped_key=wrapped,
                                create_time=record.create_time, rewrap_time=now)

    @staticmethod
    def seal(dek: bytes, binding: TemplateBinding, embedding: np.ndarray, now: datetime) -> TemplateRecord:
        nonce = secrets.token_bytes(NONCE_BYTES)
        plaintext = np.ascontiguousarray(embedding, dtype="<f4").tobytes()
        return TemplateRecord(
            template_id=binding.template_id, subject_id=binding.subject_id, modality=binding.modality,
            model_id=binding.model_id, model_version=binding.model_version, nonce=nonce,
            ciphertext=AESGCM(dek).encrypt(nonce, plaintext, _template_aad(binding)), create_time=now,
        )

    @staticmethod
    def open(dek: bytes, record: TemplateRecord) -> np.ndarray:
        binding = TemplateBinding(record.template_id, record.subject_id, record.modality, record.model_id,
                                  record.model_version)
        try:
            plaintext = AESGCM(dek).decrypt(record.nonce, record.ciphertext, _template_aad(binding))
        except InvalidTag as exc:
            raise TemplateUnreadable(f"template {record.template_id} failed authentication") from exc
        return np.frombuffer(plaintext, dtype="<f4").astype(np.float32)

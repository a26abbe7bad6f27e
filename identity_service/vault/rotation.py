"""Key rotation: re-wrap every subject's data key under the active KEK. Templates are untouched."""

from __future__ import annotations

from identity_service.storage.base import Store
from identity_service.vault.vault import TemplateVault
from kernel.clock import utc_now

BATCH = 500


def rewrap_all(store: Store, vault: TemplateVault) -> int:
    """Re-wrap data keys still wrapped by an older KEK; returns how many. Safe to re-run."""
    active = vault.keys.active_kid()
    done = 0
    after = ""
    while True:
        with store.write() as tx:
            page = tx.list_subject_keys(after_subject_id=after, limit=BATCH)
            for record in page:
                if record.kek_id != active:
                    tx.put_subject_key(vault.rewrap(record, utc_now()))
                    done += 1
        if len(page) < BATCH:
            return done
        after = page[-1].subject_id


def keys_in_use(store: Store) -> dict[str, int]:
    with store.read() as tx:
        return tx.count_subject_keys_by_kek()

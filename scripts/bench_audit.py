"""Audit log benchmark: append rate and `verify` time at 100,000 events.

Prints a table and, last, one JSON line. Baseline in the same run: SHA-256 leaf hashing of the
same canonical bytes with no database (the floor for any verifier). Target: verify of 100,000
events in under 10 s on the 2-core reference machine.

    .venv/bin/python scripts/bench_audit.py [--events 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from auditlog import merkle
from auditlog.log import AuditLog, verify_log
from auditlog.model import ActorType, AuditDraft, Outcome
from identity_service.signing import Keyring
from identity_service.storage import migrate
from identity_service.storage.sql import SqlStore


def open_store(url: str) -> tuple[SqlStore, Callable[[], None]]:
    """The store to measure; on PostgreSQL inside a throwaway schema that is dropped after."""
    if not url.startswith("postgresql"):
        return SqlStore.from_url(url), lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = SqlStore(create_engine(url, connect_args={"options": f"-csearch_path={schema}"}))

    def cleanup() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return store, cleanup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per append transaction")
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store, cleanup = open_store(url)
        migrate.upgrade(store.engine)
        keyring = Keyring.load_or_create(Path(tmp) / "keys.json")
        log = AuditLog(store, keyring, checkpoint_every=1024)
        drafts = [
            AuditDraft(ActorType.SERVICE, "video-gen", "consent.permission.check",
                       Outcome.ALLOW if i % 5 else Outcome.DENY, subject_id=f"user{i % 977}",
                       reason="", request_id=f"{i:032x}", details={"grant": f"g{i % 31}"})
            for i in range(args.events)
        ]
        t0 = time.perf_counter()
        for start in range(0, len(drafts), args.batch):
            with store.write() as tx:
                log.record_many(tx, drafts[start : start + args.batch])
        append_s = time.perf_counter() - t0

        # Baseline: hash the canonical bytes of every stored event, nothing else.
        with store.read() as tx:
            events = tx.scan_audit(after_sequence=-1, limit=args.events)
        t0 = time.perf_counter()
        for event in events:
            merkle.leaf_hash(event.canonical())
        baseline_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        report = verify_log(store, keyring.verification_keys())
        verify_s = time.perf_counter() - t0
        store.close()
        cleanup()
    if not report.ok:
        print(f"verify failed: {report.problem}", file=sys.stderr)
        return 1
    rows = [
        ("append (batched)", f"{append_s:.2f} s", f"{args.events / append_s:,.0f} events/s"),
        ("baseline: bare leaf hashing", f"{baseline_s:.2f} s", ""),
        ("audit verify", f"{verify_s:.2f} s", f"{verify_s / baseline_s:.1f}x baseline"),
    ]
    for name, value, note in rows:
        print(f"{name:<30} {value:>10}  {note}")
    print(json.dumps({
        "events": args.events, "dialect": url.split(":", 1)[0], "append_s": round(append_s, 3),
        "verify_s": round(verify_s, 3), "baseline_hash_s": round(baseline_s, 3),
        "verify_vs_baseline": round(verify_s / baseline_s, 2), "checkpoints": report.checkpoints_checked,
        "target_verify_s": 10.0, "meets_target": verify_s < 10.0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

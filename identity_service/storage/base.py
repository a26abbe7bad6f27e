"""The storage interface: every domain's transaction protocol in one transaction (the protocols
live in the domains' ``ports``). One implementation (SQL) serves SQLite and PostgreSQL; the
conformance suite in tests/storage runs against both.

Work happens inside a transaction: ``with store.write() as tx: ...`` commits on success and
rolls back on any exception, so nothing is half-written. ``store.read()`` is for reads only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from auditlog.ports import AuditTx
from consent.ports import ConsentTx
from identity.ports import IdentityTx, TemplateTx


class Tx(IdentityTx, AuditTx, ConsentTx, TemplateTx, Protocol):
    """Everything a transaction can do."""


class Store(Protocol):
    """A database holding the service's state."""

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        ...

    def write(self) -> AbstractContextManager[Tx]:
        """A read-write transaction (serialised against other writers on SQLite)."""
        ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable if the database cannot be reached."""
        ...

    def close(self) -> None: ...


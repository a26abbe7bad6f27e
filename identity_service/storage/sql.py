"""The SQL implementation of the storage interface, for SQLite and PostgreSQL alike: ``SqlTx``
is one transaction with every domain's methods (each group in its own module), ``SqlStore`` opens
them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, select, text

from identity_service.storage.engine import READONLY, make_engine
from identity_service.storage.sql_audit import AuditRows
from identity_service.storage.sql_consent import ConsentRows
from identity_service.storage.sql_identity import IdentityRows
from kernel.errors import StorageUnavailable

log = structlog.get_logger(__name__)


def is_outage(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached now (restart, failover, network,
    pool exhausted), as opposed to a bug or a constraint: the caller should retry later.

    A lost connection shows as OperationalError or InterfaceError from the driver, as any
    DBAPIError that invalidated its connection, or, when the loss happened mid-transaction, as
    the PendingRollbackError of the commit that follows."""
    if isinstance(exc, OperationalError | InterfaceError | PendingRollbackError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class SqlTx(IdentityRows, AuditRows, ConsentRows):
    """One transaction over a SQLModel session."""

    def __init__(self, session: Session, dialect: str) -> None:
        self.session = session
        self.dialect = dialect


class SqlStore:
    """Store over a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly_engine = engine.execution_options(**{READONLY: True})
        # SQLite has one writer at a time; queueing writers of this process on a lock is fairer
        # and far faster than letting them spin in SQLite's sleeping busy handler.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _transaction(self, bind: Engine) -> Iterator[SqlTx]:
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                yield SqlTx(session, self.dialect)
        except (DBAPIError, PendingRollbackError, PoolTimeoutError) as exc:
            if not is_outage(exc):
                raise
            log.error("storage_unavailable", error=type(exc).__name__,
                      detail=str(getattr(exc, "orig", None) or exc)[:300])
            raise StorageUnavailable() from exc

    def write(self) -> AbstractContextManager[SqlTx]:
        if self._write_lock is None:
            return self._transaction(self.engine)
        return self._locked_write()

    @contextmanager
    def _locked_write(self) -> Iterator[SqlTx]:
        assert self._write_lock is not None
        with self._write_lock, self._transaction(self.engine) as tx:
            yield tx

    def read(self) -> AbstractContextManager[SqlTx]:
        return self._transaction(self._readonly_engine)

    def ping(self) -> None:
        with self.read() as tx:
            tx.session.exec(select(text("1")))

    def close(self) -> None:
        self.engine.dispose()

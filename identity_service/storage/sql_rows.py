"""The base of the SQL row groups: one session inside one transaction."""

from __future__ import annotations

from sqlmodel import Session


class _SqlRows:
    """What every group of methods works on: one SQLModel session, inside one transaction."""

    session: Session
    dialect: str

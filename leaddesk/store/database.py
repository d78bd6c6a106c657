"""Engine and session setup.

SQLite gets the settings a desktop program sharing its file with a command line needs:
WAL (readers never block the writer), foreign keys on, a busy timeout instead of an
immediate "database is locked", and ``synchronous=NORMAL`` (safe under WAL, much faster
commits). Any other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

APP_NAME = "LeadDesk"
ENV_VAR = "LEADDESK_DB"
BUSY_TIMEOUT_MS = 5000


class DatabaseUrlError(ValueError):
    """The --db value or LEADDESK_DB is not something we can open."""


def default_database_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "leaddesk.sqlite"


def resolve_url(value: str | None) -> str:
    """The database URL to use: ``--db``, else ``$LEADDESK_DB``, else the default file.

    A bare file path is accepted as a SQLite database, because that is what most desk
    users will type.
    """
    chosen = value or os.environ.get(ENV_VAR) or ""
    if not chosen:
        return f"sqlite:///{default_database_path()}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().absolute()}"
    try:
        make_url(chosen)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"not a database URL: {chosen!r}") from exc
    return chosen


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        if not path.parent.exists():
            raise DatabaseUrlError(f"the folder {path.parent} does not exist")
        if path.exists() and path.is_dir():
            raise DatabaseUrlError(f"{path} is a folder, not a database file")
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUrlError(f"cannot open {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """One database the program works on: its URL, engine and session factory.

    Services take a ``Database`` and open exactly one transaction per user action through
    :meth:`transaction`; background jobs build their own ``Database`` (own engine, own
    connections) from the same URL so that they never share a session with the UI thread.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only; nothing it does is committed."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

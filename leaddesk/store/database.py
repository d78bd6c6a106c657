"""Engine and session setup.

SQLite gets the settings a desktop program sharing its file with a command line needs:
WAL (readers never block the writer), foreign keys on, a busy timeout instead of an
immediate "database is locked", and ``synchronous=NORMAL`` (safe under WAL, much faster
commits). Any other SQLAlchemy URL is used as given.

Checkpoints (copying the WAL back into the database file, with an fsync) are the slow part
of writing: SQLite's default runs one inside whichever commit takes the WAL past 1,000
pages, so one in ~50 logged activities took 30-50 ms longer on a 100,000-lead desk, where
those pages are scattered over the file. The app checkpoints from an idle moment instead
(:meth:`Database.checkpoint`, off the UI thread); the automatic checkpoint stays as a
fallback at a size only a bulk job or a program without that idle hook reaches, and
``journal_size_limit`` gives the space of a WAL that grew past it back afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

APP_NAME = "LeadDesk"
ENV_VAR = "LEADDESK_DB"
BUSY_TIMEOUT_MS = 5000
WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Fallback automatic checkpoint: ~40 MB of WAL with 4 KiB pages (SQLite's default: 1,000)."""
CACHE_KIB = 65_536
"""Page cache per connection (64 MiB): a 100,000-lead desk's lists and logging stay in it."""
BULK_CACHE_KIB = 262_144
"""Page cache while a bulk transaction runs (256 MiB at most, used only as far as the job
touches pages; given back when the connection returns to the pool): a job that writes more
pages than the usual cache spills them to the WAL mid-way and reads them back to build the
indexes it set aside (100,000 demo leads: 3.0 s -> 2.9 s)."""
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""What a WAL file is truncated to when SQLite starts it over after a checkpoint."""


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
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
    cursor.close()


_BULK_SETTINGS = "leaddesk.bulk_settings"
"""Marks a pooled connection a bulk transaction changed the settings of."""


def _bulk_settings_undone(dbapi_connection: Any, record: Any) -> None:
    """On the way back into the pool, after the bulk transaction's commit or rollback: the
    next user of the connection gets the usual cache and fallback checkpoint."""
    changed = record is not None and record.info.pop(_BULK_SETTINGS, False)
    if changed and dbapi_connection is not None:  # None: invalidated (e.g. Ctrl+C), closed
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        dbapi_connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


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
        event.listen(engine, "checkin", _bulk_settings_undone)
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
        self._checkpointer: threading.Thread | None = None

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Session]:
        """One user action's transaction. ``bulk``: a job writing much of the desk at once
        (an import, a demo), whose commit should not also copy the WAL it filled into the
        database file - the automatic checkpoint would run inside that commit (0.4 s of
        generating 100,000 leads). The app's idle checkpoint copies it moments later off
        the UI thread; without one, the next ordinary commit or closing the desk does. It
        also gets a larger page cache (``BULK_CACHE_KIB``)."""
        with self._sessions.begin() as session:
            if bulk and self.engine.dialect.name == "sqlite":
                pooled = session.connection().connection
                driver: Any = pooled.driver_connection
                pooled.info[_BULK_SETTINGS] = True
                driver.execute("PRAGMA wal_autocheckpoint=0")
                driver.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
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

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Copy what the WAL holds into the database file now, without waiting for readers
        or writers (``PASSIVE``): meant for idle moments, so that no user's commit pays for
        it. Safe from any thread (it takes its own pooled connection). Returns SQLite's
        (busy, WAL pages, pages checkpointed), or None when the database is not SQLite."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").first()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def checkpoint_in_background(self) -> None:
        """:meth:`checkpoint` on a worker thread unless one is still running: for the app's
        idle timer, so that even the large WAL an import leaves never freezes the window."""
        running = self._checkpointer
        if running is not None and running.is_alive():
            return
        self._checkpointer = threading.Thread(
            target=self._checkpoint_quietly, name="leaddesk-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_quietly(self) -> None:
        try:
            self.checkpoint()
        except Exception:  # only an optimisation: the fallback or the next idle one retries
            log.warning("WAL checkpoint failed", exc_info=True)

    def dispose(self) -> None:
        running = self._checkpointer
        if running is not None:
            running.join(timeout=10)
        self.engine.dispose()

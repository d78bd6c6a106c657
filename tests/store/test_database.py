"""Transactions on a real SQLite file: what a bulk job's commit leaves to the idle
checkpoint, and that nothing it changes outlives the job."""

from __future__ import annotations

from contextlib import nullcontext
from typing import cast

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from leaddesk.store.database import (
    BULK_CACHE_KIB,
    CACHE_KIB,
    WAL_AUTOCHECKPOINT_PAGES,
    Database,
    sqlite_file,
)


def _fill(db: Database, pages: int, *, bulk: bool) -> None:
    """Write about ``pages`` pages of WAL in one transaction."""
    with db.transaction(bulk=bulk) as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS ballast (blob BLOB)"))
        session.execute(
            text(
                "INSERT INTO ballast WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                "SELECT i + 1 FROM n WHERE i < :rows) SELECT zeroblob(3500) FROM n"
            ),
            {"rows": pages},
        )


def _file_pages(db: Database) -> int:
    """Pages in the database file itself, not counting what waits in the WAL."""
    path = sqlite_file(db.url)
    assert path is not None
    return path.stat().st_size // 4096


def test_a_bulk_commit_leaves_the_wal_for_the_idle_checkpoint(db: Database) -> None:
    before = _file_pages(db)
    _fill(db, WAL_AUTOCHECKPOINT_PAGES + 500, bulk=True)
    assert _file_pages(db) == before, "the commit copied the WAL into the file"
    busy, pages, copied = cast(tuple[int, int, int], db.checkpoint())
    assert busy == 0
    assert copied == pages > WAL_AUTOCHECKPOINT_PAGES
    assert _file_pages(db) > before + WAL_AUTOCHECKPOINT_PAGES


def test_an_ordinary_commit_still_checkpoints_a_wal_past_the_fallback(db: Database) -> None:
    before = _file_pages(db)
    _fill(db, WAL_AUTOCHECKPOINT_PAGES + 500, bulk=False)
    assert _file_pages(db) > before + WAL_AUTOCHECKPOINT_PAGES


@pytest.mark.parametrize("fails", [False, True])
def test_the_connection_gets_its_usual_settings_back_after_a_bulk_job(
    db: Database, fails: bool
) -> None:
    class Boom(Exception):
        pass

    def settings(session: Session) -> tuple[int, int]:
        checkpoint = session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        return int(checkpoint), -int(session.execute(text("PRAGMA cache_size")).scalar_one())

    with pytest.raises(Boom) if fails else nullcontext(), db.transaction(bulk=True) as session:
        assert settings(session) == (0, BULK_CACHE_KIB)
        if fails:
            raise Boom
    with db.transaction() as session:
        assert settings(session) == (WAL_AUTOCHECKPOINT_PAGES, CACHE_KIB)


def test_an_invalidated_connection_has_no_settings_to_restore() -> None:
    """Ctrl+C in a bulk job: SQLAlchemy discards the connection and the pool checks in
    its record without one; undoing the settings must not fail (and hide the Ctrl+C)."""
    from types import SimpleNamespace

    from leaddesk.store import database

    record = SimpleNamespace(info={database._BULK_SETTINGS: True})
    database._bulk_settings_undone(None, record)
    assert record.info == {}

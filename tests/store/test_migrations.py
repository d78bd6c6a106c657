"""The schema Alembic builds is the schema the models describe, and start-up upgrades
are safe: backups before upgrading, refusal of databases from a newer LeadDesk."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from leaddesk.services.desk import open_desk
from leaddesk.store.database import Database
from leaddesk.store.migrate import (
    DatabaseTooNewError,
    alembic_config,
    current_revision,
    head_revision,
    migrations_dir,
    upgrade_database,
)
from leaddesk.store.models import Base

NOW = datetime(2026, 11, 22, 12, 0, 0)


def test_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    db = Database(url)
    backup = upgrade_database(db.engine, url, NOW)
    assert backup is None, "an empty database has nothing to back up"
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == [], f"models and migrations drifted apart: {diff}"
    assert current_revision(db.engine) == head_revision()
    db.dispose()


def test_every_model_table_exists_after_upgrade(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_sqlite_settings(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def _stamp(path: Path, revision: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.commit()
    conn.close()


def test_newer_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite"
    url = f"sqlite:///{path}"
    open_desk(url, NOW).db.dispose()
    _stamp(path, "9999_from_the_future")
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNewError, match="newer LeadDesk"):
        open_desk(url, NOW)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.backup-*")), "a refused database must not be copied"


def test_older_database_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    """A database at the first revision, with data in it, is copied before the upgrade."""
    path = tmp_path / "older.sqlite"
    url = f"sqlite:///{path}"
    db = Database(url)
    with db.engine.begin() as conn:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO accounts (name, custom, created_at, updated_at) "
                "VALUES ('Kept Ltd', '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    db.dispose()

    opened = open_desk(url, NOW)
    try:
        assert opened.backup is not None and opened.backup.exists()
        assert "backup-20261122-120000" in opened.backup.name
        copy = sqlite3.connect(opened.backup)
        assert copy.execute("SELECT name FROM accounts").fetchall() == [("Kept Ltd",)]
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        copy.close()
        assert current_revision(opened.db.engine) == head_revision()
        indexes = {ix["name"] for ix in inspect(opened.db.engine).get_indexes("leads")}
        assert "ix_leads_status_score" in indexes
    finally:
        opened.db.dispose()


def test_opening_an_up_to_date_database_makes_no_backup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.sqlite'}"
    open_desk(url, NOW).db.dispose()
    opened = open_desk(url, NOW)
    opened.db.dispose()
    assert opened.backup is None
    assert not list(tmp_path.glob("*.backup-*"))


def test_migrations_are_found_from_a_checkout() -> None:
    assert (migrations_dir() / "env.py").exists()


def test_cheap_head_agrees_with_alembic(db: Database) -> None:
    from leaddesk.store.migrate import _cheap_head, is_current

    assert _cheap_head() == head_revision()
    assert is_current(db.engine)


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'desk.sqlite'}"
    open_desk(url, NOW).db.dispose()
    code = (
        "import sys, datetime\n"
        "from leaddesk.services.desk import open_desk\n"
        f"open_desk({url!r}, datetime.datetime(2026, 11, 22)).db.dispose()\n"
        "print('alembic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

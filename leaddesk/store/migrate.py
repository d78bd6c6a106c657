"""Brings a database to the program's schema at start-up.

The rules: an empty database is created at head; a database behind head is first copied
to a dated backup (SQLite) and then upgraded in-process; a database whose revision this
program does not know was written by a newer LeadDesk and is refused untouched, because
downgrading or guessing would risk the user's data.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from leaddesk.store.database import sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config

_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([^'\"\s]+)", re.M)


class DatabaseTooNewError(RuntimeError):
    """The database was written by a newer LeadDesk."""


class MigrationFailedError(RuntimeError):
    """An upgrade step failed; the backup named in the message holds the old data."""


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the wheel when installed, else the checkout."""
    package_root = Path(__file__).resolve().parent.parent
    bundled = package_root / "_bundled" / "migrations"
    if (bundled / "env.py").exists():
        return bundled
    checkout = package_root.parent / "migrations"
    if (checkout / "env.py").exists():
        return checkout
    raise FileNotFoundError("LeadDesk's migrations are missing from this installation")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _cheap_head() -> str | None:
    """The head revision read from the scripts' text, without importing Alembic (a quarter
    of a second of every start-up). None when the history is not one plain line."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if found.get("down_revision", "None") != "None":
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def is_current(engine: Engine) -> bool:
    """True when the database is at this program's head: start-up then skips Alembic."""
    head = _cheap_head()
    return head is not None and _stored_revision(engine) == head


def backup_sqlite(path: Path, now: datetime) -> Path:
    """Copy a live SQLite file with the backup API (consistent even with WAL pending)."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.backup-{stamp}{path.suffix or '.sqlite'}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.stem}.backup-{stamp}-{counter}{path.suffix}")
        counter += 1
    source = sqlite3.connect(path)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    return target


def upgrade_database(engine: Engine, url: str, now: datetime) -> Path | None:
    """Upgrade to head; return the backup made, if any. Raises DatabaseTooNewError."""
    if is_current(engine):
        return None
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(url)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    current = current_revision(engine)
    if current == head:
        return None
    if current is not None:
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise DatabaseTooNewError(
                f"this database was written by a newer LeadDesk (schema {current}); "
                "install the newer version to open it"
            )
    backup: Path | None = None
    path = sqlite_file(url)
    has_tables = bool(inspect(engine).get_table_names())
    if path is not None and path.exists() and has_tables:
        backup = backup_sqlite(path, now)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except Exception as exc:
        where = f"; your data before the upgrade is in {backup}" if backup else ""
        raise MigrationFailedError(f"upgrading the database failed: {exc}{where}") from exc
    return backup

"""Shared fixtures. Qt runs offscreen for every test, set here so nobody has to remember."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from leaddesk.store.database import Database

# A shared 2-core CI machine makes single examples slow at random moments: per-example
# deadlines and the too-slow health check would turn that into failures that say nothing
# about the code.
settings.register_profile("leaddesk", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("leaddesk")

NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'desk.sqlite'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A fresh desk on a real temporary SQLite file, migrated to head."""
    from leaddesk.services.desk import open_desk

    opened = open_desk(db_url, NOW)
    yield opened.db
    opened.db.dispose()


@pytest.fixture
def small_desk(db: Database) -> Database:
    """Three accounts, five contacts, six leads and a few activities: enough for lists."""
    from tests.factories import build_small_desk

    build_small_desk(db, NOW)
    return db


@pytest.fixture
def team(small_desk: Database) -> dict[str, object]:
    """The small desk's admin plus one user of every other role, keyed by role."""
    from leaddesk.services import process

    admin = process.current_user(small_desk)
    people: dict[str, object] = {"admin": admin}
    for name, role in [
        ("Tina", "telemarketer"),
        ("Max", "manager"),
        ("Sam", "salesperson"),
        ("Mia", "marketer"),
    ]:
        process.add_user(small_desk, name, role, admin, NOW)
        people[role] = process.resolve_actor(small_desk, name)
    return people

"""Indexes set aside for a bulk write: back as they were, never dropped for good."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from leaddesk.store import bulk_indexes

SCHEMA = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)",
    "CREATE INDEX ix_t_a ON t (a)",
    "CREATE UNIQUE INDEX uq_t_b ON t (b)",
)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    for sql in SCHEMA:
        connection.execute(sql)
    connection.commit()
    return connection


def _indexes(connection: sqlite3.Connection) -> list[str]:
    return sorted(
        r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    )


def test_non_unique_indexes_are_dropped_and_built_again(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "a.sqlite")
    connection.execute("INSERT INTO t (a, b) VALUES ('x', 1)")  # opens the transaction
    statements = bulk_indexes.set_aside(connection, ["t"])
    assert statements == ["CREATE INDEX ix_t_a ON t (a)"]
    assert _indexes(connection) == ["uq_t_b"]  # a constraint stays
    bulk_indexes.restore(connection, statements)
    connection.commit()
    assert _indexes(connection) == ["ix_t_a", "uq_t_b"]


def test_a_rollback_brings_them_back(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "b.sqlite")
    connection.execute("INSERT INTO t (a, b) VALUES ('x', 1)")
    assert bulk_indexes.set_aside(connection, ["t"])
    connection.rollback()
    assert _indexes(connection) == ["ix_t_a", "uq_t_b"]


def test_nothing_is_dropped_outside_a_transaction(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "c.sqlite")
    assert not connection.in_transaction
    assert bulk_indexes.set_aside(connection, ["t"]) == []
    assert _indexes(connection) == ["ix_t_a", "uq_t_b"]


def test_indexes_named_to_keep_stay(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "d.sqlite")
    connection.execute("CREATE INDEX ix_t_b_a ON t (b, a)")
    connection.execute("INSERT INTO t (a, b) VALUES ('x', 1)")
    statements = bulk_indexes.set_aside(connection, ["t"], keep={"ix_t_a"})
    assert statements == ["CREATE INDEX ix_t_b_a ON t (b, a)"]
    assert _indexes(connection) == ["ix_t_a", "uq_t_b"]
    connection.rollback()

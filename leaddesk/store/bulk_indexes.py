"""Secondary indexes set aside for a bulk write and built again at its end (SQLite).

On a table a bulk write at least doubles, maintaining every B-tree row by row costs more
than building each once from the finished table: a third of writing a million
activities. Unique indexes stay, since they are constraints. SQLite's DDL belongs to the
transaction, so a cancel, a kill or an error leaves the indexes exactly as they were -
which is why these functions refuse to run outside an open transaction (a DROP there
would be committed at once). Whoever sets indexes aside must not read those tables by an
index before restoring them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any


def set_aside(
    driver_connection: Any, tables: Sequence[str], keep: Collection[str] = ()
) -> list[str]:
    """Drop the non-unique indexes of ``tables`` but those named in ``keep``; returns their
    CREATE statements, in their original order, for :func:`restore`. Nothing is dropped
    outside a transaction."""
    if not tables or not getattr(driver_connection, "in_transaction", False):
        return []
    cursor = driver_connection.cursor()
    statements: list[str] = []
    try:
        indexes = cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(tables))}) ORDER BY rowid",
            list(tables),
        ).fetchall()
        for name, sql in indexes:
            if name not in keep and not sql.lstrip().upper().startswith("CREATE UNIQUE"):
                cursor.execute(f'DROP INDEX "{name}"')
                statements.append(sql)
    finally:
        cursor.close()
    return statements


def restore(driver_connection: Any, statements: Sequence[str]) -> None:
    """Build again the indexes :func:`set_aside` dropped."""
    if not statements:
        return
    cursor = driver_connection.cursor()
    try:
        for sql in statements:
            cursor.execute(sql)
    finally:
        cursor.close()

"""Values as SQLAlchemy's types store them on SQLite, for the paths that write through
the driver to skip Core's per-row processing: a row written there must be byte-identical
to one the ORM writes, or it would compare, sort and read back differently."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from operator import methodcaller
from typing import Any


def sqlite_datetime(moment: datetime) -> str:
    """``DateTime``: the wall-clock fields with microseconds, any tzinfo dropped."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


sqlite_naive_datetime: Callable[[datetime], str] = methodcaller("isoformat", " ", "microseconds")
"""``sqlite_datetime`` of a naive datetime, for ``map`` over a column: no Python call per
value (a million imported activities)."""


def sqlite_json(value: Any) -> str:
    """``JSON``: ``json.dumps`` with its default separators."""
    return json.dumps(value)

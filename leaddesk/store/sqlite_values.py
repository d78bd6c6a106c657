"""Values as SQLAlchemy's types store them on SQLite, for the paths that write through
the driver to skip Core's per-row processing: a row written there must be byte-identical
to one the ORM writes, or it would compare, sort and read back differently."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def sqlite_datetime(moment: datetime) -> str:
    """``DateTime``: the wall-clock fields with microseconds, any tzinfo dropped."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_json(value: Any) -> str:
    """``JSON``: ``json.dumps`` with its default separators."""
    return json.dumps(value)

"""What every command-line verb shares: errors, time parsing, opening the desk."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from leaddesk.store.database import Database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, datetime, TextIO], int]
Subparsers = Any  # argparse's _SubParsersAction is private


class CliError(Exception):
    """A refusal the command line reports as one line."""


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_time(text: str, *, option: str) -> datetime:
    """ISO-8601 → naive UTC. A time without offset is the user's local time, because that
    is what someone typing ``--at "2026-11-22 14:05"`` at their desk means."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{option}: {text!r} is not an ISO-8601 time (e.g. 2026-11-22T14:05)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # interpret as local time
    return parsed.astimezone(UTC).replace(tzinfo=None)


def local_text(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def open_desk_db(args: argparse.Namespace, now: datetime) -> Database:
    from leaddesk.services.desk import open_desk
    from leaddesk.store.database import resolve_url

    return open_desk(resolve_url(args.db), now).db


def csv_value(value: object) -> object:
    """DESIGN §5: booleans are true/false in CSV output; nothing is an empty cell."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value

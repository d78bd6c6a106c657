"""How stored values read on screen.

Stored times are naive UTC; people read local time. Keeping the conversion and the
wording in one place keeps the list, the detail pane and the timeline saying "3 days
ago" and "22 Nov 2026 14:05" the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_STARS = 5
ERROR_COLOUR = "#c62828"
"""Refusals (validation messages, failed saves) are shown in this red everywhere."""


def to_local(stored: datetime) -> datetime:
    """A naive UTC time from the database as an aware local time."""
    return stored.replace(tzinfo=UTC).astimezone()


def format_time(stored: datetime | None) -> str:
    if stored is None:
        return ""
    local = to_local(stored)
    return f"{local.day} {local:%b %Y %H:%M}"


def format_date(stored: datetime | None) -> str:
    if stored is None:
        return ""
    local = to_local(stored)
    return f"{local.day} {local:%b %Y}"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def format_relative(stored: datetime | None, now: datetime) -> str:
    """ "3 days ago": how long since, in the coarsest unit that still says something."""
    if stored is None:
        return ""
    seconds = (now - stored).total_seconds()
    if seconds < 0:
        return "in the future" if seconds < -60 else "just now"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return _plural(minutes, "minute")
    hours = minutes // 60
    if hours < 24:
        return _plural(hours, "hour")
    days = hours // 24
    if days == 1:
        return "yesterday"
    if days < 14:
        return _plural(days, "day")
    if days < 60:
        return _plural(days // 7, "week")
    if days < 365:
        return _plural(days // 30, "month")
    return _plural(days // 365, "year")


def stars_text(stars: int) -> str:
    filled = max(0, min(MAX_STARS, stars))
    return "★" * filled + "☆" * (MAX_STARS - filled)


def format_count(count: int) -> str:
    return f"{count:,}"


def format_amount(value: float | None) -> str:
    """Amounts are edited as plain numbers; drop a pointless ``.0``."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


RECORD_NOUNS: dict[str, tuple[str, str]] = {
    "leads": ("lead", "leads"),
    "contacts": ("contact", "contacts"),
    "accounts": ("account", "accounts"),
    "activities": ("activity", "activities"),
    "scores": ("external score", "external scores"),
}
"""Singular and plural of each record type a file holds, for "Wrote 3 leads"."""

"""The clock the interface reads.

The database stores naive UTC; every window and dialog takes a ``Clock`` instead of
calling ``datetime.now`` so that tests (and ``--now``) can pin time and see exactly the
relative ages and default times a user would see on that day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

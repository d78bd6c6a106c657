"""Opening a desk: the database at the program's schema, with its catalogues in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leaddesk.domain.activity_types import BUILTIN_ACTIVITY_TYPES
from leaddesk.domain.process import DEFAULT_STAGES
from leaddesk.store.database import Database
from leaddesk.store.migrate import upgrade_database
from leaddesk.store.models import ActivityType, AppSetting, Lead, Stage, User

CURRENT_USER_KEY = "current_user"
DEFAULT_ADMIN_NAME = "Admin"


@dataclass(frozen=True)
class OpenedDesk:
    db: Database
    backup: Path | None


def open_desk(url: str, now: datetime) -> OpenedDesk:
    """Open (creating or upgrading) the database at ``url`` and make sure the catalogues
    a new or older database lacks are there. Raises DatabaseTooNewError, DatabaseUrlError."""
    db = Database(url)
    try:
        backup = upgrade_database(db.engine, url, now)
        with db.transaction() as session:
            ensure_catalogues(session, now)
    except BaseException:
        db.dispose()
        raise
    return OpenedDesk(db, backup)


def ensure_catalogues(session: Session, now: datetime) -> None:
    """Insert built-in activity types, default stages and the first admin when missing.

    Runs at every start-up (a few cheap queries) so that a built-in type added by a newer
    LeadDesk appears in older databases too, without a data migration per type.
    """
    known = set(session.scalars(select(ActivityType.key)))
    for spec in BUILTIN_ACTIVITY_TYPES:
        if spec.key not in known:
            session.add(
                ActivityType(key=spec.key, label=spec.label, category=spec.category, builtin=True)
            )
    if not session.scalar(select(func.count()).select_from(Stage)):
        for position, stage in enumerate(DEFAULT_STAGES):
            session.add(
                Stage(
                    key=stage.key,
                    label=stage.label,
                    position=position,
                    role=stage.role,
                    fields=[dict(f) for f in stage.fields],
                )
            )
    if not session.scalar(select(func.count()).select_from(User)):
        admin = User(name=DEFAULT_ADMIN_NAME, role="admin", created_at=now, active=True)
        session.add(admin)
        session.flush()
        set_setting(session, CURRENT_USER_KEY, {"id": admin.id})


def get_setting(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(AppSetting, key)
    return dict(row.value) if row else None


def set_setting(session: Session, key: str, value: dict[str, Any]) -> None:
    row = session.get(AppSetting, key)
    if row is None:
        session.add(AppSetting(key=key, value=value))
    else:
        row.value = value


def is_empty(db: Database) -> bool:
    """True when the desk has no leads yet: the app then offers demo data."""
    with db.reading() as session:
        return session.scalar(select(Lead.id).limit(1)) is None

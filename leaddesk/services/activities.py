"""Logging activities and managing activity types.

Logging is the hot path of the desk (a telemarketer logs a call, an import logs a million
opens): one insert, the touched leads' ``last_activity_at``, their re-score, one commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from leaddesk.domain.activity_types import normalise_type_key
from leaddesk.domain.validation import normalise_email
from leaddesk.services import recompute
from leaddesk.services.errors import NotFoundError, ServiceError, ValidationError
from leaddesk.store.database import Database
from leaddesk.store.models import Activity, ActivityType, Contact, Lead, Stage


@dataclass(frozen=True)
class TouchedLead:
    id: int
    topic: str
    score: int
    stage: str
    stage_label: str


@dataclass(frozen=True)
class LoggedActivity:
    activity_id: int
    contact_id: int
    leads: list[TouchedLead]


@dataclass(frozen=True)
class ActivityTypeRow:
    key: str
    label: str
    category: str
    builtin: bool


def list_activity_types(db: Database) -> list[ActivityTypeRow]:
    with db.reading() as session:
        rows = session.scalars(select(ActivityType).order_by(ActivityType.label))
        return [ActivityTypeRow(r.key, r.label, r.category, r.builtin) for r in rows]


def add_activity_type(db: Database, label: str, category: str = "custom") -> str:
    """Users extend the catalogue with their own product or web events."""
    key = normalise_type_key(label)
    if not key:
        raise ValidationError({"label": "give the activity type a name"})
    with db.transaction() as session:
        if session.get(ActivityType, key) is not None:
            raise ValidationError({"label": f"there is already an activity type {key!r}"})
        session.add(ActivityType(key=key, label=label.strip(), category=category, builtin=False))
    return key


def _resolve_type(session: Session, type_key: str) -> str:
    key = normalise_type_key(type_key)
    if session.get(ActivityType, key) is not None:
        return key
    by_label = session.scalar(select(ActivityType.key).where(ActivityType.label == type_key))
    if by_label is not None:
        return by_label
    known = ", ".join(sorted(session.scalars(select(ActivityType.key))))
    raise NotFoundError(f"unknown activity type {type_key!r} (known: {known})")


def _clean_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in properties.items():
        key = str(name).strip()
        if not key:
            raise ValidationError({"properties": "a property needs a name"})
        if isinstance(value, str):
            value = value.strip()
        out[key] = value
    return out


def log_activity(
    db: Database,
    *,
    type_key: str,
    occurred_at: datetime,
    now: datetime,
    email: str | None = None,
    contact_id: int | None = None,
    lead_id: int | None = None,
    properties: Mapping[str, Any] | None = None,
    user_id: int | None = None,
) -> LoggedActivity:
    """Record what a contact did (or what a user did with them) and re-score their leads.

    The contact is named by e-mail or id, or implied by ``lead_id``. An activity logged
    from a lead is attached to it, but counts for every lead of the contact, because
    scoring reads the contact's activities (DESIGN §3).
    """
    props = _clean_properties(properties or {})
    with db.transaction() as session:
        driver = recompute.sqlite_driver(session)
        if driver is not None:
            return _log_on_sqlite(
                session,
                driver.cursor(),
                type_key=type_key,
                occurred_at=occurred_at,
                now=now,
                email=email,
                contact_id=contact_id,
                lead_id=lead_id,
                properties=props,
                user_id=user_id,
            )
        conn = session.connection()
        if email is not None:
            found = conn.execute(_CONTACT_BY_EMAIL, {"email": normalise_email(email)}).first()
            if found is None:
                raise NotFoundError(f"no contact with e-mail {normalise_email(email)}")
            contact_key, account_id = found
        else:
            contact = _resolve_contact(session, email, contact_id, lead_id)
            contact_key, account_id = contact.id, contact.account_id
        key = _fast_type(session, type_key)
        if lead_id is not None and conn.scalar(_LEAD_EXISTS, {"id": lead_id}) is None:
            raise NotFoundError(f"no lead #{lead_id}")
        session.flush()
        inserted = conn.execute(
            _INSERT_ACTIVITY,
            {
                "contact_id": contact_key,
                "lead_id": lead_id,
                "type_key": key,
                "occurred_at": occurred_at,
                "properties": props,
                "user_id": user_id,
                "created_at": now,
            },
        ).inserted_primary_key
        assert inserted is not None
        activity_id = int(inserted[0])
        touched = recompute.leads_touched_by_contact(session, contact_key, account_id)
        recompute.note_activity(session, touched, occurred_at)
        recompute.rescore(session, touched, now, "activity logged")
        return LoggedActivity(activity_id, contact_key, _touched_rows(session, touched))


def _log_on_sqlite(
    session: Session,
    cursor: Any,
    *,
    type_key: str,
    occurred_at: datetime,
    now: datetime,
    email: str | None,
    contact_id: int | None,
    lead_id: int | None,
    properties: dict[str, Any],
    user_id: int | None,
) -> LoggedActivity:
    """``log_activity`` in plain statements on the session's SQLite connection (see
    ``recompute.rescore_contact``): same checks in the same order, same messages, same rows.

    The look-ups before the insert run outside the write transaction, as the ORM path's
    do; everything the re-score reads is read after the insert, inside it."""
    run = recompute.run_sql
    if email is not None:
        found = run(cursor, _SQL_CONTACT_BY_EMAIL, (normalise_email(email),)).fetchone()
        if found is None:
            raise NotFoundError(f"no contact with e-mail {normalise_email(email)}")
    else:
        if contact_id is None and lead_id is not None:
            lead = run(cursor, _SQL_LEAD_CONTACT, (lead_id,)).fetchone()
            if lead is None:
                raise NotFoundError(f"no lead #{lead_id}")
            if lead[0] is None:
                raise ServiceError(
                    f"lead #{lead_id} has no contact; link a contact to log an activity on it"
                )
            contact_id = lead[0]
        if contact_id is None:
            raise ValidationError({"contact": "say which contact did this"})
        found = run(cursor, _SQL_CONTACT_BY_ID, (contact_id,)).fetchone()
        if found is None:
            raise NotFoundError(f"no contact with id {contact_id}")
    contact_key, account_id = found
    key = normalise_type_key(type_key)
    if run(cursor, _SQL_TYPE_EXISTS, (key,)).fetchone() is None:
        key = _resolve_type(session, type_key)
    if lead_id is not None and run(cursor, _SQL_LEAD_CONTACT, (lead_id,)).fetchone() is None:
        raise NotFoundError(f"no lead #{lead_id}")
    session.flush()
    dialect = session.get_bind().dialect
    columns = _activity_t.c
    run(
        cursor,
        _SQL_INSERT_ACTIVITY,
        (
            contact_key,
            lead_id,
            key,
            recompute.bind_processor(dialect, columns.occurred_at)(occurred_at),
            recompute.bind_processor(dialect, columns.properties)(properties),
            user_id,
            recompute.bind_processor(dialect, columns.created_at)(now),
        ),
    )
    activity_id = int(cursor.lastrowid)
    touched = recompute.rescore_contact(
        session, cursor, contact_key, account_id, occurred_at, now, "activity logged"
    )
    return LoggedActivity(activity_id, contact_key, [TouchedLead(*row) for row in touched])


_SQL_CONTACT_BY_EMAIL = "SELECT id, account_id FROM contacts WHERE email = ?"
_SQL_CONTACT_BY_ID = "SELECT id, account_id FROM contacts WHERE id = ?"
_SQL_LEAD_CONTACT = "SELECT contact_id FROM leads WHERE id = ?"
_SQL_TYPE_EXISTS = 'SELECT 1 FROM activity_types WHERE "key" = ?'
_SQL_INSERT_ACTIVITY = (
    "INSERT INTO activities"
    " (contact_id, lead_id, type_key, occurred_at, properties, user_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_activity_t = cast(Table, Activity.__table__)
_contact_t = cast(Table, Contact.__table__)
_type_t = cast(Table, ActivityType.__table__)
_lead_t = cast(Table, Lead.__table__)
_CONTACT_BY_EMAIL = select(_contact_t.c.id, _contact_t.c.account_id).where(
    _contact_t.c.email == bindparam("email")
)
_TYPE_BY_KEY_OR_LABEL = select(_type_t.c.key).where(
    or_(_type_t.c.key == bindparam("key"), _type_t.c.label == bindparam("label"))
)
_LEAD_EXISTS = select(_lead_t.c.id).where(_lead_t.c.id == bindparam("id"))
_INSERT_ACTIVITY = insert(cast(Table, Activity.__table__))
_TOUCHED_ROWS = (
    select(_lead_t.c.id, _lead_t.c.topic, _lead_t.c.score, _lead_t.c.stage, Stage.label)
    .outerjoin(Stage, Stage.key == _lead_t.c.stage)
    .where(_lead_t.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_lead_t.c.id)
)


def _fast_type(session: Session, type_key: str) -> str:
    """``_resolve_type`` in one statement for the common case of a known type."""
    key = normalise_type_key(type_key)
    found = list(
        session.connection().scalars(_TYPE_BY_KEY_OR_LABEL, {"key": key, "label": type_key})
    )
    if key in found:
        return key
    return _resolve_type(session, type_key)


def _resolve_contact(
    session: Session, email: str | None, contact_id: int | None, lead_id: int | None
) -> Contact:
    if email is not None:
        contact = session.scalar(select(Contact).where(Contact.email == normalise_email(email)))
        if contact is None:
            raise NotFoundError(f"no contact with e-mail {normalise_email(email)}")
        return contact
    if contact_id is None and lead_id is not None:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise NotFoundError(f"no lead #{lead_id}")
        if lead.contact_id is None:
            raise ServiceError(
                f"lead #{lead_id} has no contact; link a contact to log an activity on it"
            )
        contact_id = lead.contact_id
    if contact_id is None:
        raise ValidationError({"contact": "say which contact did this"})
    found = session.get(Contact, contact_id)
    if found is None:
        raise NotFoundError(f"no contact with id {contact_id}")
    return found


def _touched_rows(session: Session, lead_ids: list[int]) -> list[TouchedLead]:
    if not lead_ids:
        return []
    rows = session.connection().execute(_TOUCHED_ROWS, {"ids": list(lead_ids)})
    return [TouchedLead(i, t, s, k, lab or k) for i, t, s, k, lab in rows]


def delete_activity(db: Database, activity_id: int, now: datetime) -> None:
    with db.transaction() as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise NotFoundError(f"no activity #{activity_id}")
        contact = session.get(Contact, activity.contact_id)
        session.execute(delete(Activity).where(Activity.id == activity_id))
        touched = recompute.leads_touched_by_contact(
            session, activity.contact_id, contact.account_id if contact else None
        )
        recompute.refresh_last_activity(session, touched)
        recompute.rescore(session, touched, now, "activity deleted")


def update_activity(
    db: Database,
    activity_id: int,
    *,
    now: datetime,
    occurred_at: datetime | None = None,
    type_key: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> None:
    with db.transaction() as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise NotFoundError(f"no activity #{activity_id}")
        if occurred_at is not None:
            activity.occurred_at = occurred_at
        if type_key is not None:
            activity.type_key = _resolve_type(session, type_key)
        if properties is not None:
            activity.properties = _clean_properties(properties)
        session.flush()
        contact = session.get(Contact, activity.contact_id)
        touched = recompute.leads_touched_by_contact(
            session, activity.contact_id, contact.account_id if contact else None
        )
        recompute.refresh_last_activity(session, touched)
        recompute.rescore(session, touched, now, "activity edited")

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

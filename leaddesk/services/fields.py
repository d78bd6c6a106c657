"""The fields a condition can test, as the condition builder offers them.

Fields come from the real schema (contact, account, lead columns with their types) plus
the custom fields and activity properties actually present in the data, so a marketer
picks from what exists instead of typing names and hoping. Text fields with few distinct
values come with those values as a choice list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leaddesk.domain.conditions import FieldType
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Activity, Contact, Lead, Stage

MAX_CHOICES = 30
SAMPLE_ROWS = 5000


@dataclass(frozen=True)
class FieldInfo:
    key: str  # as written in conditions: "contact.job_title", "url"
    label: str
    type: FieldType
    choices: tuple[str, ...] = ()


_CONTACT: tuple[tuple[str, str, FieldType], ...] = (
    ("email", "E-mail", FieldType.TEXT),
    ("first_name", "First name", FieldType.TEXT),
    ("last_name", "Last name", FieldType.TEXT),
    ("phone", "Phone", FieldType.TEXT),
    ("job_title", "Job title", FieldType.TEXT),
    ("department", "Department", FieldType.TEXT),
    ("buying_role", "Buying role", FieldType.TEXT),
    ("country", "Country", FieldType.TEXT),
    ("state", "State", FieldType.TEXT),
    ("city", "City", FieldType.TEXT),
    ("age", "Age", FieldType.NUMBER),
    ("source", "Source", FieldType.TEXT),
    ("is_employee", "Is an employee", FieldType.BOOL),
    ("is_customer", "Is a customer", FieldType.BOOL),
    ("email_subscribed", "Subscribed to e-mail", FieldType.BOOL),
)
_ACCOUNT: tuple[tuple[str, str, FieldType], ...] = (
    ("name", "Company name", FieldType.TEXT),
    ("domain", "Domain", FieldType.TEXT),
    ("industry", "Industry", FieldType.TEXT),
    ("employees", "Employees", FieldType.NUMBER),
    ("annual_revenue", "Annual revenue", FieldType.NUMBER),
    ("country", "Country", FieldType.TEXT),
    ("state", "State", FieldType.TEXT),
    ("city", "City", FieldType.TEXT),
)
_LEAD: tuple[tuple[str, str, FieldType], ...] = (
    ("topic", "Topic", FieldType.TEXT),
    ("source", "Source", FieldType.TEXT),
    ("stage", "Stage", FieldType.TEXT),
    ("status", "Status", FieldType.TEXT),
    ("tags", "Tags", FieldType.TEXT),
)


def _choices(session: Session, column: Any) -> tuple[str, ...]:
    values = list(
        session.scalars(select(column).distinct().where(column.is_not(None)).limit(MAX_CHOICES + 1))
    )
    if len(values) > MAX_CHOICES:
        return ()
    return tuple(sorted(str(v) for v in values if str(v).strip()))


def _value_type(values: list[Any]) -> FieldType:
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return FieldType.BOOL
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return FieldType.NUMBER
    return FieldType.TEXT


def _json_keys(rows: list[dict[str, Any] | None]) -> dict[str, list[Any]]:
    keys: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in (row or {}).items():
            keys.setdefault(str(key), []).append(value)
    return keys


def _custom_fields(session: Session, prefix: str, column: Any) -> list[FieldInfo]:
    rows = list(session.scalars(select(column).where(column != "{}").limit(SAMPLE_ROWS)))
    out = []
    for key, values in sorted(_json_keys(rows).items()):
        kind = _value_type(values)
        distinct_values = {str(v) for v in values if v not in (None, "")}
        choices = (
            tuple(sorted(distinct_values))
            if kind == FieldType.TEXT and len(distinct_values) <= MAX_CHOICES
            else ()
        )
        out.append(FieldInfo(f"{prefix}.custom.{key}", f"{key} (custom)", kind, choices))
    return out


def lead_fields(db: Database) -> list[FieldInfo]:
    """Fields of property rules and exclusions: contact.*, account.*, lead.*."""
    out: list[FieldInfo] = []
    with db.reading() as session:
        for prefix, model, spec in (
            ("contact", Contact, _CONTACT),
            ("account", Account, _ACCOUNT),
            ("lead", Lead, _LEAD),
        ):
            for name, label, kind in spec:
                choices: tuple[str, ...] = ()
                if kind == FieldType.TEXT and name not in ("email", "phone", "tags"):
                    if prefix == "lead" and name == "stage":
                        choices = tuple(session.scalars(select(Stage.key).order_by(Stage.position)))
                    else:
                        choices = _choices(session, getattr(model, name))
                out.append(
                    FieldInfo(f"{prefix}.{name}", f"{prefix.title()}: {label}", kind, choices)
                )
            if prefix != "lead":
                out.extend(_custom_fields(session, prefix, model.custom))
            else:
                out.extend(_custom_fields(session, prefix, Lead.custom))
    return out


def activity_fields(db: Database, type_key: str | None) -> list[FieldInfo]:
    """Properties seen on activities of this type (or any), plus ``type``."""
    with db.reading() as session:
        query = select(Activity.properties).where(Activity.properties != "{}")
        if type_key:
            query = query.where(Activity.type_key == type_key)
        rows = list(session.scalars(query.order_by(Activity.id.desc()).limit(SAMPLE_ROWS)))
    out = [FieldInfo("type", "Activity type", FieldType.TEXT)]
    for key, values in sorted(_json_keys(rows).items()):
        kind = _value_type(values)
        distinct_values = {str(v) for v in values if v not in (None, "")}
        choices = (
            tuple(sorted(distinct_values))
            if kind == FieldType.TEXT and len(distinct_values) <= MAX_CHOICES
            else ()
        )
        out.append(FieldInfo(key, key, kind, choices))
    known = {f.key for f in out}
    for common in ("url", "campaign", "subject"):
        if common not in known:
            out.append(FieldInfo(common, common, FieldType.TEXT))
    return out

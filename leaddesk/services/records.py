"""Creating, editing and reading contacts, accounts and leads.

Every edit re-scores the leads it touches in the same transaction (DESIGN §3
"Recompute"), so what the list shows after the commit is already up to date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leaddesk.domain.validation import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    ValidationError,
    clean_account,
    clean_contact,
    clean_lead,
    normalise_email,
)
from leaddesk.services import recompute
from leaddesk.services.errors import ConflictError, NotFoundError
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Activity, ActivityType, Contact, Lead, Stage, User

LEAD_FIELDS = ("topic", "source")


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    type_key: str
    type_label: str
    occurred_at: datetime
    properties: dict[str, Any]
    contact_email: str
    lead_id: int | None
    logged_by: str | None = None


@dataclass(frozen=True)
class LeadDetail:
    id: int
    contact_id: int | None
    account_id: int | None
    contact: dict[str, Any] | None
    account: dict[str, Any] | None
    lead: dict[str, Any]
    stage_label: str
    owner_name: str | None
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return display_name(self.contact, self.account)


def display_name(contact: Mapping[str, Any] | None, account: Mapping[str, Any] | None) -> str:
    """How a lead is called everywhere: the person's name, else their e-mail, else the
    company for an account-only lead."""
    if contact:
        name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        return name or str(contact.get("email") or "")
    if account:
        return str(account.get("name") or "")
    return "(no contact or account)"


def _contact_dict(contact: Contact) -> dict[str, Any]:
    data = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    data["custom"] = dict(contact.custom or {})
    data["account_id"] = contact.account_id
    return data


def _account_dict(account: Account) -> dict[str, Any]:
    data = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
    data["custom"] = dict(account.custom or {})
    return data


def _lead_account(session: Session, lead: Lead, contact: Contact | None) -> Account | None:
    account_id = lead.account_id or (contact.account_id if contact else None)
    return session.get(Account, account_id) if account_id else None


def _prefix(errors: ValidationError, prefix: str) -> dict[str, str]:
    return {f"{prefix}.{k}": v for k, v in errors.errors.items()}


# --- contacts -------------------------------------------------------------------------


def _email_taken(session: Session, email: str, except_id: int | None) -> bool:
    found = session.scalar(select(Contact.id).where(Contact.email == email))
    return found is not None and found != except_id


def create_contact(db: Database, values: Mapping[str, Any], now: datetime) -> int:
    cleaned = clean_contact(values, creating=True)
    with db.transaction() as session:
        if _email_taken(session, cleaned["email"], None):
            raise ValidationError({"email": f"{cleaned['email']} is already a contact"})
        if cleaned.get("account_id") is not None and not session.get(
            Account, cleaned["account_id"]
        ):
            raise NotFoundError(f"no account with id {cleaned['account_id']}")
        contact = Contact(**cleaned, created_at=now, updated_at=now)
        session.add(contact)
        session.flush()
        return contact.id


def find_contact_id(db: Database, email: str) -> int | None:
    with db.reading() as session:
        return session.scalar(select(Contact.id).where(Contact.email == normalise_email(email)))


def get_contact(db: Database, contact_id: int) -> dict[str, Any]:
    with db.reading() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFoundError(f"no contact with id {contact_id}")
        data = _contact_dict(contact)
        data["id"] = contact.id
        return data


def get_account(db: Database, account_id: int) -> dict[str, Any]:
    with db.reading() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFoundError(f"no account with id {account_id}")
        data = _account_dict(account)
        data["id"] = account.id
        return data


def create_account(db: Database, values: Mapping[str, Any], now: datetime) -> int:
    cleaned = clean_account(values, creating=True)
    with db.transaction() as session:
        account = Account(**cleaned, created_at=now, updated_at=now)
        session.add(account)
        session.flush()
        return account.id


def create_lead(
    db: Database,
    *,
    contact_id: int | None,
    account_id: int | None,
    topic: str,
    source: str | None,
    now: datetime,
    owner_id: int | None = None,
) -> int:
    """A new lead starts in the inquiry stage. A contact has at most one open lead per
    topic (DESIGN §2), so a second one for the same topic is refused."""
    cleaned = clean_lead({"topic": topic, "source": source})
    with db.transaction() as session:
        if contact_id is not None:
            if session.get(Contact, contact_id) is None:
                raise NotFoundError(f"no contact with id {contact_id}")
            clash = session.scalar(
                select(Lead.id).where(
                    Lead.contact_id == contact_id,
                    Lead.topic == cleaned["topic"],
                    Lead.status == "open",
                )
            )
            if clash is not None:
                raise ConflictError(
                    f"this contact already has an open lead #{clash} for that topic"
                )
        if account_id is not None and session.get(Account, account_id) is None:
            raise NotFoundError(f"no account with id {account_id}")
        lead = Lead(
            contact_id=contact_id,
            account_id=account_id,
            owner_id=owner_id,
            created_at=now,
            updated_at=now,
            **cleaned,
        )
        session.add(lead)
        session.flush()
        lead.last_activity_at = recompute.last_activity_for(session, [lead.id]).get(lead.id)
        recompute.refresh_lead_labels(session, [lead.id])
        recompute.rescore(session, [lead.id], now, "record edited")
        return lead.id


# --- the lead form ----------------------------------------------------------------------


def get_lead_detail(db: Database, lead_id: int, timeline_limit: int = 500) -> LeadDetail:
    with db.reading() as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise NotFoundError(f"no lead #{lead_id}")
        contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
        account = _lead_account(session, lead, contact)
        stage = session.get(Stage, lead.stage)
        owner = session.get(User, lead.owner_id) if lead.owner_id else None
        lead_data = {
            "id": lead.id,
            "topic": lead.topic,
            "source": lead.source,
            "stage": lead.stage,
            "status": lead.status,
            "status_reason": lead.status_reason,
            "sales_ready": lead.sales_ready,
            "score": lead.score,
            "stars": lead.stars,
            "created_at": lead.created_at,
            "last_activity_at": lead.last_activity_at,
            "tags": list(lead.tags or []),
            "owner_id": lead.owner_id,
        }
        timeline = _timeline(session, lead, contact, timeline_limit)
        return LeadDetail(
            id=lead.id,
            contact_id=contact.id if contact else None,
            account_id=account.id if account else None,
            contact=_contact_dict(contact) if contact else None,
            account=_account_dict(account) if account else None,
            lead=lead_data,
            stage_label=stage.label if stage else lead.stage,
            owner_name=owner.name if owner else None,
            timeline=timeline,
        )


def _timeline(
    session: Session, lead: Lead, contact: Contact | None, limit: int
) -> list[TimelineEntry]:
    """The lead's activities, newest first: its contact's, or for an account-only lead
    those of every contact of the account (the same facts scoring reads)."""
    query = (
        select(Activity, ActivityType.label, Contact.email, User.name)
        .join(ActivityType, ActivityType.key == Activity.type_key)
        .join(Contact, Contact.id == Activity.contact_id)
        .outerjoin(User, User.id == Activity.user_id)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(limit)
    )
    if contact is not None:
        query = query.where(Activity.contact_id == contact.id)
    elif lead.account_id is not None:
        query = query.where(Contact.account_id == lead.account_id)
    else:
        return []
    return [
        TimelineEntry(
            id=act.id,
            type_key=act.type_key,
            type_label=label,
            occurred_at=act.occurred_at,
            properties=dict(act.properties or {}),
            contact_email=email,
            lead_id=act.lead_id,
            logged_by=user,
        )
        for act, label, email, user in session.execute(query)
    ]


def update_lead_form(
    db: Database,
    lead_id: int,
    *,
    contact: Mapping[str, Any] | None = None,
    account: Mapping[str, Any] | None = None,
    lead: Mapping[str, Any] | None = None,
    now: datetime,
) -> None:
    """Save the lead form: its contact, account and lead fields in one transaction.

    Every field is validated before anything is written; the error keys are prefixed
    with ``contact.``, ``account.`` or ``lead.`` so the form can show each message next
    to its field. Only the keys passed are changed.
    """
    errors: dict[str, str] = {}
    contact_clean: dict[str, Any] = {}
    account_clean: dict[str, Any] = {}
    lead_clean: dict[str, Any] = {}
    try:
        contact_clean = clean_contact(contact or {}, creating=False)
    except ValidationError as exc:
        errors.update(_prefix(exc, "contact"))
    try:
        account_clean = clean_account(account or {}, creating=False)
    except ValidationError as exc:
        errors.update(_prefix(exc, "account"))
    try:
        lead_clean = clean_lead(lead or {})
    except ValidationError as exc:
        errors.update(_prefix(exc, "lead"))
    if errors:
        raise ValidationError(errors)
    with db.transaction() as session:
        row = session.get(Lead, lead_id)
        if row is None:
            raise NotFoundError(f"no lead #{lead_id}")
        touched: set[int] = {row.id}
        contact_row = session.get(Contact, row.contact_id) if row.contact_id else None
        if contact_clean:
            if contact_row is None:
                raise ValidationError({"contact.email": "this lead has no contact to edit"})
            if "email" in contact_clean and _email_taken(
                session, contact_clean["email"], contact_row.id
            ):
                raise ValidationError(
                    {"contact.email": f"{contact_clean['email']} belongs to another contact"}
                )
            if _apply(contact_row, contact_clean):
                contact_row.updated_at = now
                touched.update(recompute.leads_of_contact(session, contact_row.id))
        if account_clean:
            account_row = _lead_account(session, row, contact_row)
            if account_row is None:
                if not account_clean.get("name"):
                    raise ValidationError({"account.name": "a company name is required"})
                account_row = Account(created_at=now, updated_at=now, **account_clean)
                session.add(account_row)
                session.flush()
                if contact_row is not None and contact_row.account_id is None:
                    contact_row.account_id = account_row.id
                else:
                    row.account_id = account_row.id
            elif _apply(account_row, account_clean):
                account_row.updated_at = now
                touched.update(recompute.leads_of_account(session, account_row.id))
        if lead_clean and _apply(row, lead_clean):
            row.updated_at = now
        session.flush()
        if contact_clean or account_clean or lead_clean:
            if account_clean and row.account_id is None and contact_row is not None:
                touched.update(recompute.leads_of_contact(session, contact_row.id))
            recompute.refresh_lead_labels(session, touched)
        recompute.rescore(session, sorted(touched), now, "record edited")


def _apply(row: object, values: Mapping[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def update_contact(
    db: Database, contact_id: int, changes: Mapping[str, Any], now: datetime
) -> None:
    cleaned = clean_contact(changes, creating=False)
    with db.transaction() as session:
        row = session.get(Contact, contact_id)
        if row is None:
            raise NotFoundError(f"no contact with id {contact_id}")
        if "email" in cleaned and _email_taken(session, cleaned["email"], contact_id):
            raise ValidationError({"email": f"{cleaned['email']} belongs to another contact"})
        if _apply(row, cleaned):
            row.updated_at = now
            session.flush()
            touched = recompute.leads_of_contact(session, contact_id)
            recompute.refresh_lead_labels(session, touched)
            recompute.rescore(session, touched, now, "record edited")


def update_account(
    db: Database, account_id: int, changes: Mapping[str, Any], now: datetime
) -> None:
    cleaned = clean_account(changes, creating=False)
    with db.transaction() as session:
        row = session.get(Account, account_id)
        if row is None:
            raise NotFoundError(f"no account with id {account_id}")
        if _apply(row, cleaned):
            row.updated_at = now
            session.flush()
            touched = recompute.leads_of_account(session, account_id)
            recompute.refresh_lead_labels(session, touched)
            recompute.rescore(session, touched, now, "record edited")

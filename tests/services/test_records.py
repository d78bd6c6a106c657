"""Creating and editing records through the services, against a real SQLite file."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from leaddesk.services import records
from leaddesk.services.errors import ConflictError, NotFoundError, ValidationError
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Contact, Lead


def test_contact_email_is_unique_whatever_its_case(db: Database, now: datetime) -> None:
    records.create_contact(db, {"email": "  Ana@Example.COM "}, now)
    with pytest.raises(ValidationError) as caught:
        records.create_contact(db, {"email": "ana@example.com"}, now)
    assert "email" in caught.value.errors
    assert records.find_contact_id(db, "ANA@example.com") is not None


def test_bad_email_and_negative_employees_are_refused_with_every_problem(
    small_desk: Database, now: datetime
) -> None:
    lead_id = small_desk_lead(small_desk)
    before = records.get_lead_detail(small_desk, lead_id)
    with pytest.raises(ValidationError) as caught:
        records.update_lead_form(
            small_desk,
            lead_id,
            contact={"email": "not an email", "first_name": "Changed"},
            account={"employees": -5},
            now=now,
        )
    assert set(caught.value.errors) == {"contact.email", "account.employees"}
    assert "not a valid e-mail" in caught.value.errors["contact.email"]
    assert "negative" in caught.value.errors["account.employees"]
    after = records.get_lead_detail(small_desk, lead_id)
    assert after.contact == before.contact, "nothing may be saved when any field is wrong"
    assert after.account == before.account


def small_desk_lead(db: Database) -> int:
    with db.reading() as session:
        lead_id = session.scalar(
            select(Lead.id).join(Contact).where(Contact.email == "ana@acme.example")
        )
    assert lead_id is not None
    return lead_id


def test_lead_form_saves_contact_account_and_lead_together(
    small_desk: Database, now: datetime
) -> None:
    lead_id = small_desk_lead(small_desk)
    records.update_lead_form(
        small_desk,
        lead_id,
        contact={"job_title": "Founder", "age": "41"},
        account={"employees": "250", "industry": "Retail"},
        lead={"topic": "Pricing webinar — Q4"},
        now=now,
    )
    detail = records.get_lead_detail(small_desk, lead_id)
    assert detail.contact is not None and detail.account is not None
    assert detail.contact["job_title"] == "Founder"
    assert detail.contact["age"] == 41
    assert detail.account["employees"] == 250
    assert detail.account["industry"] == "Retail"
    assert detail.lead["topic"] == "Pricing webinar — Q4"


def test_changing_email_to_another_contacts_is_refused(small_desk: Database, now: datetime) -> None:
    lead_id = small_desk_lead(small_desk)
    with pytest.raises(ValidationError, match="belongs to another contact"):
        records.update_lead_form(
            small_desk, lead_id, contact={"email": "BRUNO@acme.example"}, now=now
        )


def test_one_open_lead_per_contact_and_topic(small_desk: Database, now: datetime) -> None:
    contact_id = records.find_contact_id(small_desk, "ana@acme.example")
    with pytest.raises(ConflictError):
        records.create_lead(
            small_desk,
            contact_id=contact_id,
            account_id=None,
            topic="Pricing webinar",
            source=None,
            now=now,
        )
    other = records.create_lead(
        small_desk, contact_id=contact_id, account_id=None, topic="Case study", source=None, now=now
    )
    assert records.get_lead_detail(small_desk, other).lead["stage"] == "inquiry"


def test_account_only_lead_reads_activities_of_every_contact(
    small_desk: Database, now: datetime
) -> None:
    with small_desk.reading() as session:
        acme = session.scalar(select(Account.id).where(Account.name == "Acme Tools"))
    lead_id = records.create_lead(
        small_desk, contact_id=None, account_id=acme, topic="Enterprise plan", source=None, now=now
    )
    detail = records.get_lead_detail(small_desk, lead_id)
    assert detail.contact is None
    assert detail.account is not None and detail.account["name"] == "Acme Tools"
    emails = {entry.contact_email for entry in detail.timeline}
    assert emails == {"ana@acme.example"}  # only Ana has activities at Acme
    assert detail.lead["last_activity_at"] == max(e.occurred_at for e in detail.timeline)


def test_unknown_records_are_reported(db: Database, now: datetime) -> None:
    with pytest.raises(NotFoundError):
        records.get_lead_detail(db, 999)
    with pytest.raises(NotFoundError):
        records.update_contact(db, 999, {"first_name": "x"}, now)


def test_domain_is_normalised(db: Database, now: datetime) -> None:
    account_id = records.create_account(
        db, {"name": "Acme", "domain": "https://www.ACME.example/about"}, now
    )
    assert records.get_account(db, account_id)["domain"] == "acme.example"
    with db.reading() as session:
        assert session.scalar(select(func.count(Account.id))) == 1

"""The condition builder's field catalogue comes from the real schema and data."""

from __future__ import annotations

from datetime import datetime

from leaddesk.domain.conditions import FieldType
from leaddesk.services import activities, fields, records
from leaddesk.store.database import Database


def test_lead_fields_have_types_and_choices(small_desk: Database, now: datetime) -> None:
    contact = records.find_contact_id(small_desk, "ana@acme.example")
    assert contact is not None
    records.update_contact(small_desk, contact, {"custom": {"plan": "pro", "seats": 12}}, now)
    catalogue = {f.key: f for f in fields.lead_fields(small_desk)}
    assert catalogue["account.employees"].type is FieldType.NUMBER
    assert catalogue["contact.is_customer"].type is FieldType.BOOL
    assert catalogue["contact.buying_role"].choices == ("decision_maker", "influencer", "user")
    assert catalogue["lead.stage"].choices[0] == "inquiry"
    assert catalogue["contact.custom.plan"].choices == ("pro",)
    assert catalogue["contact.custom.seats"].type is FieldType.NUMBER
    assert catalogue["contact.email"].choices == ()


def test_activity_fields_come_from_properties(small_desk: Database, now: datetime) -> None:
    activities.log_activity(
        small_desk,
        email="eva@initech.example",
        type_key="social_click",
        occurred_at=now,
        now=now,
        properties={"network": "linkedin"},
    )
    social = {f.key: f for f in fields.activity_fields(small_desk, "social_click")}
    assert social["network"].choices == ("linkedin",)
    assert {"type", "url", "campaign", "subject"} <= set(social)
    visits = {f.key for f in fields.activity_fields(small_desk, "page_visit")}
    assert "url" in visits and "network" not in visits

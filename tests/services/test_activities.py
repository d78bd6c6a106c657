"""Logging activities: the timeline, the lists and the touched leads stay consistent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from leaddesk.services import activities, records
from leaddesk.services.errors import NotFoundError
from leaddesk.services.lists import LeadQuery, lead_ids, lead_rows
from leaddesk.store.database import Database


def test_logged_activity_tops_the_timeline_and_updates_last_activity(
    small_desk: Database, now: datetime
) -> None:
    when = now - timedelta(minutes=5)
    result = activities.log_activity(
        small_desk,
        email="Carla@Globex.example",
        type_key="call",
        occurred_at=when,
        now=now,
        properties={"subject": " Intro call "},
        user_id=1,
    )
    assert [lead.topic for lead in result.leads] == ["Ebook: lead scoring"]
    lead_id = result.leads[0].id
    detail = records.get_lead_detail(small_desk, lead_id)
    top = detail.timeline[0]
    assert (top.id, top.type_key, top.occurred_at) == (result.activity_id, "call", when)
    assert top.properties == {"subject": "Intro call"}
    assert top.logged_by == "Admin"
    assert lead_rows(small_desk, [lead_id])[lead_id].last_activity_at == when


def test_an_older_activity_does_not_move_last_activity_back(
    small_desk: Database, now: datetime
) -> None:
    result = activities.log_activity(
        small_desk,
        email="ana@acme.example",
        type_key="email_open",
        occurred_at=now - timedelta(days=90),
        now=now,
    )
    for lead in result.leads:
        row = lead_rows(small_desk, [lead.id])[lead.id]
        assert row.last_activity_at == now - timedelta(days=1)


def test_activity_counts_for_every_lead_of_the_contact(small_desk: Database, now: datetime) -> None:
    result = activities.log_activity(
        small_desk, email="ana@acme.example", type_key="demo", occurred_at=now, now=now
    )
    assert sorted(lead.topic for lead in result.leads) == ["Pricing webinar", "Trial signup"]


def test_unknown_email_and_type_are_refused(small_desk: Database, now: datetime) -> None:
    with pytest.raises(NotFoundError, match=r"no contact with e-mail nobody@x\.example"):
        activities.log_activity(
            small_desk, email="nobody@x.example", type_key="call", occurred_at=now, now=now
        )
    with pytest.raises(NotFoundError, match="unknown activity type 'teleport'"):
        activities.log_activity(
            small_desk, email="ana@acme.example", type_key="teleport", occurred_at=now, now=now
        )


def test_type_can_be_named_by_label_or_loose_key(small_desk: Database, now: datetime) -> None:
    first = activities.log_activity(
        small_desk,
        email="eva@initech.example",
        type_key="Email opened",
        occurred_at=now,
        now=now,
    )
    second = activities.log_activity(
        small_desk,
        email="eva@initech.example",
        type_key="Trial-Signup",
        occurred_at=now,
        now=now,
    )
    lead_id = first.leads[0].id
    kinds = [e.type_key for e in records.get_lead_detail(small_desk, lead_id).timeline]
    assert kinds[:2] == ["trial_signup", "email_open"]  # same time: newest id first
    assert first.activity_id < second.activity_id


def test_custom_activity_type_can_be_added_and_logged(db: Database, now: datetime) -> None:
    key = activities.add_activity_type(db, "Report exported")
    assert key == "report_exported"
    records.create_contact(db, {"email": "x@y.example"}, now)
    activities.log_activity(db, email="x@y.example", type_key=key, occurred_at=now, now=now)
    assert key in {t.key for t in activities.list_activity_types(db)}


def test_deleting_an_activity_recomputes_last_activity(small_desk: Database, now: datetime) -> None:
    result = activities.log_activity(
        small_desk, email="carla@globex.example", type_key="call", occurred_at=now, now=now
    )
    lead_id = result.leads[0].id
    activities.delete_activity(small_desk, result.activity_id, now)
    row = lead_rows(small_desk, [lead_id])[lead_id]
    assert row.last_activity_at == now - timedelta(days=5)


def test_sort_by_last_activity_puts_the_newest_first(small_desk: Database, now: datetime) -> None:
    activities.log_activity(
        small_desk, email="diego@globex.example", type_key="call", occurred_at=now, now=now
    )
    ids = lead_ids(small_desk, LeadQuery(sort="last_activity", descending=True))
    assert lead_rows(small_desk, ids[:1])[ids[0]].name == "Diego Ramos"

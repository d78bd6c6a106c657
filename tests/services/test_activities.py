"""Logging activities: the timeline, the lists and the touched leads stay consistent."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from leaddesk.domain.conditions import Leaf
from leaddesk.domain.scoring import (
    ScoringModel,
    activity_rule,
    inactivity_rule,
    property_rule,
)
from leaddesk.services import activities, process, recompute, records, scoring
from leaddesk.services.desk import open_desk
from leaddesk.services.errors import NotFoundError, ServiceError
from leaddesk.services.lists import LeadQuery, lead_ids, lead_rows
from leaddesk.services.process import DisqualificationRule
from leaddesk.store.database import (
    JOURNAL_SIZE_LIMIT_BYTES,
    WAL_AUTOCHECKPOINT_PAGES,
    Database,
    sqlite_file,
)
from leaddesk.store.models import Contact, ExternalScore, Lead, Stage
from tests.factories import build_small_desk


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


# --- the SQLite fast path against the reference path --------------------------------------

ENGAGEMENT = ScoringModel(
    name="Engagement",
    active=True,
    sales_ready_at=12,
    threshold_tag="Hot lead",
    rules=(
        activity_rule("Call", 5, "call"),
        activity_rule("Opens", 1, "email_open", max_times=3),
        activity_rule(
            "Pricing visit",
            4,
            "page_visit",
            when=Leaf("url", "contains", "pricing"),
            expires_after_days=30,
        ),
        property_rule("Gold", 3, Leaf("lead.custom.tier", "eq", "gold")),
        property_rule("CRM likes them", 2, Leaf("lead.external_score.crm", "gte", 40)),
        property_rule("Pro plan", 1, Leaf("contact.custom.plan", "eq", "pro")),
        property_rule("Big account", 2, Leaf("account.employees", "gte", 100)),
        inactivity_rule("Quiet", -3, 20),
    ),
)
FIT = ScoringModel(
    name="Fit",
    active=True,
    sales_ready_at=None,
    cap=5,  # a demo then changes the engagement part but not the total
    rules=(
        property_rule("Decides", 5, Leaf("contact.buying_role", "eq", "decision_maker")),
        activity_rule("Demo", 10, "demo"),
    ),
)


def _busy_desk(db: Database, now: datetime) -> None:
    """The small desk with everything a re-score reads or does: two models (threshold,
    tag, expiry, caps, conditions on custom fields, external scores and the account),
    disqualification rules, an account-only lead and leads not scored yet."""
    ids = build_small_desk(db, now)
    records.create_lead(
        db, contact_id=None, account_id=ids["acme"], topic="Fleet deal", source="web", now=now
    )
    scoring.save_model(db, ENGAGEMENT, now)
    scoring.save_model(db, FIT, now)
    process.save_disqualification_rules(
        db,
        [
            DisqualificationRule("Student", when=Leaf("contact.job_title", "contains", "student")),
            DisqualificationRule("Quiet", inactive_days=30, activity_types=("email_open",)),
        ],
        process.current_user(db),
    )
    with db.transaction() as session:
        session.add(
            ExternalScore(
                lead_id=ids["lead0"], name="crm", score=42.5, updated_at=now, imported_at=now
            )
        )
        session.execute(update(Lead).where(Lead.id == ids["lead3"]).values(custom={"tier": "gold"}))
        session.execute(
            update(Contact).where(Contact.id == ids["ana"]).values(custom={"plan": "pro"})
        )
        # Not scored yet, in the inquiry stage: the next re-score is their first.
        session.execute(
            update(Lead)
            .where(Lead.id.in_([ids["lead2"], ids["lead5"]]))
            .values(scored_at=None, stage="inquiry")
        )


def _work_the_desk(db: Database, now: datetime) -> list[object]:
    """A day-by-day script of logging (by e-mail, contact and lead; by key and label;
    scoring and not; old, new and future activities), with a manual reopening in between."""
    out: list[object] = []
    ana, carla = records.find_contact_id(db, "ana@acme.example"), "carla@globex.example"
    steps: list[tuple[int, dict[str, object]]] = [
        (0, {"email": carla, "type_key": "call"}),
        (0, {"email": carla, "type_key": "Call"}),
        (0, {"email": carla, "type_key": "call"}),  # crosses 12: sales-ready, tag
        (1, {"contact_id": ana, "type_key": "Email opened"}),
        (1, {"contact_id": ana, "type_key": "page_visit", "properties": {"url": "/pricing"}}),
        (1, {"email": "bruno@acme.example", "type_key": "note"}),  # first scoring, no points
        (2, {"email": "bruno@acme.example", "type_key": "note"}),  # nothing changes
        (2, {"email": "diego@globex.example", "type_key": "email_open"}),  # a student
        (3, {"lead_id": 1, "type_key": "demo", "days_ago": 40}),
        (3, {"email": "eva@initech.example", "type_key": "email_click", "days_ago": -2}),
        (4, {"lead_id": 7, "type_key": "call"}),  # account-only: refused
        (4, {"email": "ana@acme.example", "type_key": "teleport"}),  # refused
        (4, {"email": "nobody@x.example", "type_key": "call"}),  # refused
        (45, {"email": "eva@initech.example", "type_key": "call"}),  # quiet for 45 days
        (46, {"email": "ana@acme.example", "type_key": "email_open", "days_ago": 3}),
        (46, {"email": "diego@globex.example", "type_key": "call"}),  # reopened by hand
    ]
    for day, step in steps:
        at = now + timedelta(days=day)
        kwargs = dict(step)
        days_ago = cast(int, kwargs.pop("days_ago", 0))
        if day == 45:
            student = lead_ids(
                db, LeadQuery(contact_id=records.find_contact_id(db, "diego@globex.example"))
            )
            process.reopen(db, student[0], process.current_user(db), at)
        try:
            out.append(
                activities.log_activity(
                    db,
                    occurred_at=at - timedelta(days=days_ago),
                    now=at,
                    **kwargs,  # type: ignore[arg-type]
                )
            )
        except ServiceError as exc:
            out.append(repr(exc))
    return out


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    orders = {
        "activities": "id",
        "leads": "id",
        "lead_scores": "lead_id, model_id",
        "score_history": "id",
        "lead_events": "id",
    }
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in orders.items()
        }


def test_logging_on_sqlite_writes_what_the_reference_path_writes(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = tmp_path / "built.sqlite"
    desk = open_desk(f"sqlite:///{built}", now).db
    _busy_desk(desk, now)
    desk.dispose()
    results = {}
    for name in ("fast", "reference"):
        path = tmp_path / f"{name}.sqlite"
        shutil.copy(built, path)
        db = open_desk(f"sqlite:///{path}", now).db
        with monkeypatch.context() as patch:
            if name == "reference":
                patch.setattr(recompute, "sqlite_driver", lambda _session: None)
            results[name] = _work_the_desk(db, now)
        db.dispose()
    assert results["fast"] == results["reference"]
    fast, reference = _dump(tmp_path / "fast.sqlite"), _dump(tmp_path / "reference.sqlite")
    for table in fast:
        assert fast[table] == reference[table], table
    # The script did reach every branch it was written for.
    events = {(row[4], row[6], bool(row[7])) for row in fast["lead_events"]}
    assert ("stage", "automated_qualification", True) in events
    assert ("tag", "Hot lead", True) in events
    assert ("status", "disqualified", True) in events
    assert ("status", "open", False) in events
    student = records.find_contact_id(db, "diego@globex.example")
    assert [row[7] for row in fast["leads"] if row[1] == student] == ["open"]  # status


CALLS = ScoringModel(
    name="Calls", active=True, sales_ready_at=None, rules=(activity_rule("Call", 5, "call"),)
)


def _log_call(db: Database, now: datetime) -> int:
    result = activities.log_activity(
        db, email="carla@globex.example", type_key="call", occurred_at=now, now=now
    )
    return result.leads[0].score


def test_a_model_another_program_changed_counts_at_the_next_log(
    small_desk: Database, now: datetime
) -> None:
    """The parsed models are cached by their stored text, never by a version the other
    program might not bump: its change is seen by the very next activity."""
    scoring.save_model(small_desk, CALLS, now)
    assert _log_call(small_desk, now) == 5
    path = sqlite_file(small_desk.url)
    assert path is not None
    with closing(sqlite3.connect(path)) as other:
        (text,) = other.execute("SELECT definition FROM scoring_models").fetchone()
        definition = json.loads(text)
        definition["rules"][0]["points"] = 7
        other.execute("UPDATE scoring_models SET definition = ?", (json.dumps(definition),))
        other.commit()
    assert _log_call(small_desk, now) == 14  # both calls at the new 7 points


def test_rules_and_stages_saved_by_another_connection_apply_at_the_next_log(
    small_desk: Database, now: datetime
) -> None:
    scoring.save_model(small_desk, CALLS, now)
    _log_call(small_desk, now)
    other = Database(small_desk.url)
    try:
        process.save_disqualification_rules(
            other,
            [DisqualificationRule("No CMOs", when=Leaf("contact.job_title", "eq", "CMO"))],
            process.current_user(other),
        )
        with other.transaction() as session:
            session.execute(
                update(Stage).where(Stage.key == "automated_qualification").values(label="Scored")
            )
    finally:
        other.dispose()
    result = activities.log_activity(
        small_desk, email="carla@globex.example", type_key="call", occurred_at=now, now=now
    )
    assert result.leads[0].stage_label == "Scored"
    lead = records.get_lead_detail(small_desk, result.leads[0].id).lead
    assert (lead["status"], lead["status_reason"]) == ("disqualified", "No CMOs")


@pytest.mark.parametrize("path", ["sqlite", "reference"])
def test_a_refused_insert_raises_what_the_orm_raises_and_leaves_nothing(
    small_desk: Database, now: datetime, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "reference":
        monkeypatch.setattr(recompute, "sqlite_driver", lambda _session: None)
    scoring.save_model(small_desk, CALLS, now)
    before = _dump(cast(Path, sqlite_file(small_desk.url)))
    with pytest.raises(IntegrityError):
        activities.log_activity(
            small_desk,
            email="carla@globex.example",
            type_key="call",
            occurred_at=now,
            now=now + timedelta(days=1),
            user_id=999,  # no such user
        )
    assert _dump(cast(Path, sqlite_file(small_desk.url))) == before


def test_commits_leave_checkpoints_to_idle_moments(small_desk: Database, now: datetime) -> None:
    """Logging does not checkpoint the WAL at SQLite's default 1,000 pages; the app does it
    from its idle timer through ``Database.checkpoint``, which copies everything."""
    with small_desk.transaction() as session:
        conn = session.connection()
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (
            WAL_AUTOCHECKPOINT_PAGES
        )
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == (
            JOURNAL_SIZE_LIMIT_BYTES
        )
    _log_call(small_desk, now)
    busy, pages, copied = cast(tuple[int, int, int], small_desk.checkpoint())
    assert busy == 0 and pages > 0 and copied == pages
    small_desk.checkpoint_in_background()
    small_desk.dispose()  # waits for the background checkpoint

"""The process through the services, against SQLite: automatic moves in the scoring
transaction, tags once, roles refused, assignment, audit, rules, queues, the editor."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leaddesk.domain.conditions import Leaf
from leaddesk.domain.scoring import ScoringModel, activity_rule
from leaddesk.services import activities, process, records, scoring
from leaddesk.services.errors import ServiceError
from leaddesk.services.lists import LeadQuery, lead_ids, queue_counts
from leaddesk.services.process import Actor, DisqualificationRule, StageEdit
from leaddesk.store.database import Database
from leaddesk.store.models import Lead, LeadEvent, User

CALLS = ScoringModel(
    name="Calls",
    active=True,
    sales_ready_at=10,
    threshold_tag="Hot lead",
    rules=(activity_rule("Call", 5, "call"),),
)


def _lead(db: Database, email: str) -> int:
    contact = records.find_contact_id(db, email)
    return lead_ids(db, LeadQuery(contact_id=contact))[0]


def _stage(db: Database, lead_id: int) -> str:
    return records.get_lead_detail(db, lead_id).lead["stage"]


def test_first_score_moves_to_automated_qualification(small_desk: Database, now: datetime) -> None:
    lead = _lead(small_desk, "carla@globex.example")
    assert _stage(small_desk, lead) == "inquiry"
    scoring.save_model(small_desk, CALLS, now)
    assert _stage(small_desk, lead) == "automated_qualification"
    entry = process.history(small_desk, lead)[0]
    assert (entry.kind, entry.automatic, entry.reason) == ("stage", True, "first scored")


def test_crossing_in_the_activity_transaction(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, CALLS, now)
    lead = _lead(small_desk, "carla@globex.example")
    activities.log_activity(
        small_desk, email="carla@globex.example", type_key="call", occurred_at=now, now=now
    )
    assert _stage(small_desk, lead) == "automated_qualification"
    result = activities.log_activity(
        small_desk, email="carla@globex.example", type_key="call", occurred_at=now, now=now
    )
    assert result.leads[0].stage == "sales_acceptance"  # returned by the same transaction
    view = process.process_view(small_desk, lead)
    assert view.flags["sales_ready"] and view.tags == ("Hot lead",)
    kinds = [e.kind for e in process.history(small_desk, lead)]
    assert kinds.count("tag") == 1


def test_a_second_crossing_does_not_add_the_tag_twice(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, CALLS, now)
    lead = _lead(small_desk, "carla@globex.example")
    for _ in range(2):
        activities.log_activity(
            small_desk, email="carla@globex.example", type_key="call", occurred_at=now, now=now
        )
    # Calls expire after 10 days under a stricter model: the score drops below, then rises.
    stricter = ScoringModel(
        name="Calls",
        active=True,
        sales_ready_at=10,
        threshold_tag="Hot lead",
        rules=(activity_rule("Call", 5, "call", expires_after_days=10),),
    )
    model_id = scoring.list_models(small_desk)[0].id
    scoring.save_model(small_desk, stricter, now + timedelta(days=11), model_id=model_id)
    assert records.get_lead_detail(small_desk, lead).lead["score"] == 0
    assert process.process_view(small_desk, lead).flags["sales_ready"], "sales-ready is sticky"
    later = now + timedelta(days=12)
    for _ in range(2):
        activities.log_activity(
            small_desk, email="carla@globex.example", type_key="call", occurred_at=later, now=later
        )
    view = process.process_view(small_desk, lead)
    assert view.tags == ("Hot lead",)
    assert [e.kind for e in process.history(small_desk, lead)].count("tag") == 1


def test_telemarketer_works_a_lead_to_sales_ready(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    lead = _lead(small_desk, "eva@initech.example")
    tina = team["telemarketer"]
    process.mark(small_desk, lead, "telemarketing_ready", True, tina, now)
    assert _stage(small_desk, lead) == "telemarketing_acceptance"
    process.mark(small_desk, lead, "accepted_telemarketing", True, tina, now)
    assert _stage(small_desk, lead) == "telemarketing_qualification"
    process.set_qualification(small_desk, lead, {"budget": "20k", "need": "CRM"}, tina, now)
    process.mark(small_desk, lead, "sales_ready", True, tina, now)
    assert _stage(small_desk, lead) == "sales_acceptance"
    view = process.process_view(small_desk, lead)
    assert view.qualification == {"budget": "20k", "need": "CRM"}
    trail = process.history(small_desk, lead)
    assert all(e.user == "Tina" and not e.automatic for e in trail)
    assert [e.kind for e in trail].count("qualification") == 2


def test_roles_are_refused_in_the_services(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    lead = _lead(small_desk, "eva@initech.example")
    with pytest.raises(ServiceError, match="Tina: a telemarketer cannot assign leads"):
        process.assign(small_desk, [lead], "Sam", team["telemarketer"], now)
    with pytest.raises(ServiceError, match="cannot tick Sales accepted"):
        process.mark(small_desk, lead, "sales_accepted", True, team["salesperson"], now)
    with pytest.raises(ServiceError, match="cannot fill qualification"):
        process.set_qualification(small_desk, lead, {"budget": "1"}, team["marketer"], now)
    with pytest.raises(ServiceError, match="cannot manage users"):
        process.add_user(small_desk, "Eve", "admin", team["manager"], now)
    with small_desk.reading() as session:
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 0


def test_manager_assigns_three_at_once_then_accepts(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    leads = lead_ids(small_desk, LeadQuery(sort="name", descending=False))[:3]
    max_ = team["manager"]
    for lead in leads:
        process.mark(small_desk, lead, "sales_ready", True, max_, now)
    assert queue_counts(small_desk, None)["sales_acceptance"] == 3
    assert process.assign(small_desk, leads, "sam", max_, now) == 3
    with pytest.raises(ServiceError, match="leads go to salespeople"):
        process.assign(small_desk, leads, "Tina", max_, now)
    for lead in leads:
        process.mark(small_desk, lead, "sales_accepted", True, max_, now)
    sam = team["salesperson"]
    assert sorted(lead_ids(small_desk, LeadQuery(queue="mine", me=sam.id))) == sorted(leads)
    assert queue_counts(small_desk, sam.id)["sales_acceptance"] == 0
    assert queue_counts(small_desk, sam.id)["mine"] == 3


def test_disqualify_win_reopen_and_queues(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    lead = _lead(small_desk, "diego@globex.example")
    sam = team["salesperson"]
    with pytest.raises(ServiceError, match="reason"):
        process.disqualify(small_desk, lead, " ", sam, now)
    process.disqualify(small_desk, lead, "Student or job seeker", sam, now)
    assert lead_ids(small_desk, LeadQuery(queue="disqualified")) == [lead]
    with pytest.raises(ServiceError, match="reopen it first"):
        process.mark(small_desk, lead, "sales_ready", True, team["manager"], now)
    process.reopen(small_desk, lead, sam, now)
    process.win(small_desk, lead, sam, now)
    assert records.get_lead_detail(small_desk, lead).lead["status"] == "won"
    with pytest.raises(ServiceError, match="cannot mark leads won"):
        process.win(small_desk, _lead(small_desk, "eva@initech.example"), team["telemarketer"], now)


def test_disqualification_rules_apply_on_rescore_and_respect_reopen(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    rules = [
        DisqualificationRule("Student", when=Leaf("contact.job_title", "contains", "student")),
        DisqualificationRule("Quiet", inactive_days=30, activity_types=("email_open",)),
    ]
    process.save_disqualification_rules(small_desk, rules, team["marketer"])
    later = now + timedelta(days=45)
    scoring.rescore_all(small_desk, later)
    diego = _lead(small_desk, "diego@globex.example")
    detail = records.get_lead_detail(small_desk, diego)
    assert (detail.lead["status"], detail.lead["status_reason"]) == ("disqualified", "Student")
    # Leads created at `now` have been around 45 days; nobody opened an e-mail since.
    eva = _lead(small_desk, "eva@initech.example")
    assert records.get_lead_detail(small_desk, eva).lead["status_reason"] == "Quiet"
    process.reopen(small_desk, diego, team["salesperson"], later)
    scoring.rescore_all(small_desk, later + timedelta(days=2))
    assert records.get_lead_detail(small_desk, diego).lead["status"] == "open"


def test_process_editor_renames_adds_and_removes_with_migration(
    small_desk: Database, now: datetime, team: dict[str, Actor]
) -> None:
    lead = _lead(small_desk, "eva@initech.example")
    current = process.stages(small_desk)
    edits = [StageEdit(s.key, s.label, tuple(s.fields)) for s in current]
    edits.insert(2, StageEdit(None, "Nurture", ({"key": "segment", "type": "text"},)))
    process.save_stages(small_desk, edits, team["marketer"], now)
    keys = [s.key for s in process.stages(small_desk)]
    assert keys[2] == "nurture"
    process.move_stage(small_desk, lead, "nurture", team["marketer"], now, "not yet")
    without = [e for e in edits if e.key != "nurture" and e.label != "Nurture"]
    without[0] = StageEdit("inquiry", "New inquiry")
    plan = process.preview_stages(small_desk, without)
    assert plan.moves == {"nurture": ("automated_qualification", 1)}
    process.save_stages(small_desk, without, team["admin"], now)
    assert _stage(small_desk, lead) == "automated_qualification"
    assert process.stages(small_desk)[0].label == "New inquiry"
    with pytest.raises(ServiceError, match="cannot be removed"):
        process.save_stages(small_desk, without[1:], team["admin"], now)
    with pytest.raises(ServiceError, match="cannot edit the process"):
        process.save_stages(small_desk, without, team["telemarketer"], now)


def test_outcomes_written_and_read_through_the_driver_are_what_core_does(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_outcomes`` pre-encodes its values for SQLite's driver; the same outcomes
    through SQLAlchemy Core must leave the same leads and the same audit rows."""
    from leaddesk.domain import process as proc
    from leaddesk.services.desk import open_desk
    from tests.factories import build_small_desk

    def desk(name: str) -> Database:
        db = open_desk(f"sqlite:///{tmp_path / name}", now).db
        build_small_desk(db, now)
        return db

    def apply(db: Database) -> tuple[list[Any], list[Any]]:
        with db.transaction() as session:
            stages = process.load_stages(session)
            ids = sorted(session.scalars(select(Lead.id)))
            states = {i: process.lead_state(session, session.get_one(Lead, i)) for i in ids}
            owner = session.scalars(select(User.id)).first()
            outcomes = [
                (ids[0], proc.set_flag(states[ids[0]], "telemarketing_ready", True, stages)),
                (ids[1], proc.set_status(states[ids[1]], "disqualified", "No budget — ’quotes’")),
                (ids[2], proc.assign(states[ids[2]], owner, "Admin")),
                (ids[3], proc.set_status(states[ids[3]], "won", None)),
            ]
            tagged = replace(states[ids[4]], tags=("priority", "é"))
            outcomes.append((ids[4], proc.Outcome(tagged, (proc.Change("tag", None, "é"),))))
            process.write_outcomes(
                session, outcomes, actor_id=owner, automatic=False, now=now + timedelta(hours=1)
            )
        with db.engine.connect() as conn:
            leads = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM leads ORDER BY id")]
            events = [
                tuple(r) for r in conn.exec_driver_sql("SELECT * FROM lead_events ORDER BY id")
            ]
        return leads, events

    fast, core = desk("fast.sqlite"), desk("core.sqlite")
    try:
        written = apply(fast)
        assert len(written[1]) >= 5
        with fast.reading() as session:  # and read back, both ways, as the same states
            ids = sorted(session.scalars(select(Lead.id)))
            states = process._states_sqlite(session, ids)
            assert states == process._states_core(session, ids)
            assert {s.tags for s in states.values()} >= {(), ("priority", "é")}
            assert any(s.owner_role for s in states.values())
            assert all(type(s.sales_ready) is bool for s in states.values())
            # What the session holds unflushed is read too, as Core's autoflush does.
            session.get_one(Lead, ids[5]).stage = "sales_acceptance"
            assert process._states_sqlite(session, ids[5:6])[ids[5]].stage == "sales_acceptance"
        monkeypatch.setattr(process, "_write_outcomes_sqlite", process._write_outcomes_core)
        assert apply(core) == written
    finally:
        fast.dispose()
        core.dispose()

"""Scoring through the services against a real SQLite file: recompute on every change,
all-or-nothing re-scores, history, explanations that add up."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from leaddesk.domain.conditions import Leaf
from leaddesk.domain.scoring import ScoringModel, activity_rule, property_rule
from leaddesk.domain.scoring_file import ScoringFileError, dump_text
from leaddesk.services import activities, records, scoring
from leaddesk.services.lists import LeadQuery, lead_ids, lead_rows
from leaddesk.store.database import Database
from leaddesk.store.models import LeadScore, ScoreHistory

OPENS = ScoringModel(
    name="Opens",
    active=True,
    sales_ready_at=10,
    rules=(
        activity_rule("Opened an email", 2, "email_open", expires_after_days=30),
        property_rule("Decision maker", 5, Leaf("contact.buying_role", "eq", "decision_maker")),
    ),
)


def _scores(db: Database) -> dict[int, int]:
    ids = lead_ids(db, LeadQuery(sort="name", descending=False))
    return {i: row.score for i, row in lead_rows(db, ids).items()}


def _lead_of(db: Database, email: str) -> int:
    contact = records.find_contact_id(db, email)
    ids = lead_ids(db, LeadQuery(contact_id=contact))
    assert ids
    return ids[0]


def test_saving_a_model_scores_everyone(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    ana = _lead_of(small_desk, "ana@acme.example")
    eva = _lead_of(small_desk, "eva@initech.example")
    scores = _scores(small_desk)
    assert scores[ana] == 2 + 5  # one open two days ago, decision maker
    assert scores[eva] == 0  # her only open is 40 days old: expired


def test_logging_an_activity_rescores_at_once_with_history(
    small_desk: Database, now: datetime
) -> None:
    scoring.save_model(small_desk, OPENS, now)
    carla = _lead_of(small_desk, "carla@globex.example")
    assert _scores(small_desk)[carla] == 5
    later = now + timedelta(hours=1)
    result = activities.log_activity(
        small_desk,
        email="carla@globex.example",
        type_key="email_open",
        occurred_at=later,
        now=later,
    )
    assert [lead.score for lead in result.leads] == [7]
    assert _scores(small_desk)[carla] == 7
    history = scoring.score_history(small_desk, carla)
    assert [(h.old_score, h.new_score, h.cause) for h in history] == [
        (0, 5, "model changed"),
        (5, 7, "activity logged"),
    ]


def test_stored_score_equals_its_explanation(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    for lead_id, score in _scores(small_desk).items():
        results = scoring.explain(small_desk, lead_id, now)
        assert results[0].total == score
        assert sum(c.points for c in results[0].contributions) == score


def test_editing_a_contact_rescores_its_leads(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    bruno_contact = records.find_contact_id(small_desk, "bruno@acme.example")
    assert bruno_contact is not None
    bruno = _lead_of(small_desk, "bruno@acme.example")
    records.update_contact(small_desk, bruno_contact, {"buying_role": "Decision Maker"}, now)
    assert _scores(small_desk)[bruno] == 5
    assert scoring.score_history(small_desk, bruno)[-1].cause == "record edited"


def test_time_passing_expires_points(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    ana = _lead_of(small_desk, "ana@acme.example")
    assert _scores(small_desk)[ana] == 7
    summary = scoring.rescore_all(small_desk, now + timedelta(days=29), "time passed")
    assert summary.changed >= 1
    assert _scores(small_desk)[ana] == 5  # the open from 2 days before is now 31 days old
    assert scoring.score_history(small_desk, ana)[-1].cause == "time passed"


def test_rescore_if_due_runs_once_a_day(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    assert scoring.rescore_if_due(small_desk, now) is True
    assert scoring.rescore_if_due(small_desk, now + timedelta(hours=23)) is False
    assert scoring.rescore_if_due(small_desk, now + timedelta(hours=25)) is True


def test_cancelled_rescore_keeps_the_old_scores_and_model(
    small_desk: Database, now: datetime
) -> None:
    model_id = scoring.save_model(small_desk, OPENS, now)
    before = _scores(small_desk)
    harsher = ScoringModel(name="Opens", active=True, sales_ready_at=10, rules=())
    with pytest.raises(scoring.RescoreCancelled):
        scoring.save_model(
            small_desk, harsher, now, model_id=model_id, progress=lambda done, total: done == 0
        )
    assert _scores(small_desk) == before
    assert scoring.list_models(small_desk)[0].model == OPENS


def test_invalid_file_is_refused_and_nothing_changes(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    before = scoring.export_models(small_desk)
    bad = (
        '{"format": "leaddesk.scoring/1", "models": [{"name": "X", "active": true, '
        '"sales_ready_at": 5, "floor": 0, "cap": null, "rules": [{"kind": "property", '
        '"name": "r", "group": "fit", "when": {"field": "contact.age", "op": "gt", '
        '"value": [1]}}]}]}'
    )
    with pytest.raises(ScoringFileError) as caught:
        scoring.import_models(small_desk, bad, now)
    paths = {p.path for p in caught.value.problems}
    assert "$.models[0].rules[0].points" in paths
    assert any(p.startswith("$.models[0].rules[0].when") for p in paths)
    assert scoring.export_models(small_desk) == before


def test_export_import_round_trip_replaces_by_name(small_desk: Database, now: datetime) -> None:
    scoring.install_starter_models(small_desk, now)
    text = scoring.export_models(small_desk)
    names = scoring.import_models(small_desk, text, now)
    assert len(names) == 2
    assert scoring.export_models(small_desk) == text
    assert len(scoring.list_models(small_desk)) == 2


def test_primary_model_is_the_first_active_one(small_desk: Database, now: datetime) -> None:
    scoring.save_model(small_desk, OPENS, now)
    fives = ScoringModel(
        name="Flat", active=True, sales_ready_at=50, rules=(property_rule("Everyone", 50, None),)
    )
    flat_id = scoring.save_model(small_desk, fives, now)
    opens_id = scoring.list_models(small_desk)[0].id
    assert set(_scores(small_desk).values()) != {50}
    scoring.reorder_models(small_desk, [flat_id, opens_id], now)
    assert set(_scores(small_desk).values()) == {50}
    rows = lead_rows(small_desk, list(_scores(small_desk)))
    assert {row.stars for row in rows.values()} == {5}


def test_deactivating_every_model_zeroes_the_list(small_desk: Database, now: datetime) -> None:
    model_id = scoring.save_model(small_desk, OPENS, now)
    scoring.set_active(small_desk, model_id, False, now)
    assert set(_scores(small_desk).values()) == {0}
    with small_desk.reading() as session:
        assert session.scalar(select(func.count()).select_from(LeadScore)) == 0


def test_delete_and_duplicate(small_desk: Database, now: datetime) -> None:
    model_id = scoring.save_model(small_desk, OPENS, now)
    copy_id = scoring.duplicate_model(small_desk, model_id, now)
    infos = {i.id: i for i in scoring.list_models(small_desk)}
    assert infos[copy_id].name == "Opens (copy)" and not infos[copy_id].active
    scoring.delete_model(small_desk, model_id, now)
    assert [i.id for i in scoring.list_models(small_desk)] == [copy_id]
    with small_desk.reading() as session:
        assert session.scalar(select(func.count()).select_from(ScoreHistory)) > 0


def test_starter_models_are_not_installed_twice(db: Database, now: datetime) -> None:
    assert len(scoring.install_starter_models(db, now)) == 2
    assert scoring.install_starter_models(db, now) == []
    text = dump_text(info.model for info in scoring.list_models(db))
    assert "Encharge" in text and "ActiveCampaign" in text


def test_what_if_counts_moves_without_saving(small_desk: Database, now: datetime) -> None:
    model_id = scoring.save_model(small_desk, OPENS, now)
    before = _scores(small_desk)
    # Decision makers (Ana x2 leads, Carla) are at 7, 7, 5; threshold 10 reached by nobody.
    draft = ScoringModel(
        name="Opens",
        active=True,
        sales_ready_at=6,
        rules=(
            property_rule("Decision maker", 6, Leaf("contact.buying_role", "eq", "decision_maker")),
        ),
    )
    result = scoring.what_if(small_desk, draft, now, model_id=model_id)
    assert result.leads == 6
    # Ana's two leads: 7 -> 6 (down); Carla 5 -> 6 (up); others stay 0.
    assert (result.up, result.down, result.unchanged) == (1, 2, 3)
    assert result.newly_ready == 3  # all three now reach 6; none reached 10 before
    assert result.no_longer_ready == 0
    assert {e.name for e in result.examples} == {"Ana Souza", "Carla Mendes"}
    assert _scores(small_desk) == before, "what-if must not change anything"


def test_what_if_for_a_new_model_compares_with_nothing(small_desk: Database, now: datetime) -> None:
    result = scoring.what_if(small_desk, OPENS, now)
    assert result.up == 3 and result.down == 0 and result.newly_ready == 0


def test_lowering_the_threshold_makes_the_leads_over_it_sales_ready_as_the_what_if_said(
    small_desk: Database, now: datetime
) -> None:
    """DESIGN §4: sales-ready means score >= sales_ready_at, so a lowered threshold must
    move the leads already over it even though their scores do not change."""
    from dataclasses import replace

    from leaddesk.services import process

    model_id = scoring.save_model(small_desk, OPENS, now)  # 7, 7, 5 and zeros; bar at 10
    ana, carla = (
        _lead_of(small_desk, "ana@acme.example"),
        _lead_of(small_desk, "carla@globex.example"),
    )
    assert not any(process.process_view(small_desk, i).flags["sales_ready"] for i in (ana, carla))
    lowered = replace(OPENS, sales_ready_at=6, threshold_tag="Hot lead")
    preview = scoring.what_if(small_desk, lowered, now, model_id=model_id)
    assert (preview.up, preview.down) == (0, 0)
    assert preview.newly_ready == 2  # Ana's two leads at 7; Carla's 5 stays below 6

    before = _scores(small_desk)
    scoring.save_model(small_desk, lowered, now, model_id=model_id)
    assert _scores(small_desk) == before  # no score moved...
    ready = [i for i in before if process.process_view(small_desk, i).flags["sales_ready"]]
    assert len(ready) == preview.newly_ready  # ...yet exactly those leads moved on
    assert ana in ready and carla not in ready
    view = process.process_view(small_desk, ana)
    assert view.stage == "sales_acceptance" and "Hot lead" in view.tags

    # Raising it again moves nobody back (sales-ready is sticky) and nobody forward.
    raised = replace(OPENS, sales_ready_at=20)
    assert scoring.what_if(small_desk, raised, now, model_id=model_id).newly_ready == 0
    scoring.save_model(small_desk, raised, now, model_id=model_id)
    assert [i for i in before if process.process_view(small_desk, i).flags["sales_ready"]] == ready
    # And lowering it to where only Carla is newly over it counts and moves Carla only.
    low = replace(OPENS, sales_ready_at=5)
    assert scoring.what_if(small_desk, low, now, model_id=model_id).newly_ready == 1
    scoring.save_model(small_desk, low, now, model_id=model_id)
    assert process.process_view(small_desk, carla).flags["sales_ready"]

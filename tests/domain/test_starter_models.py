"""The starter models: valid files, and scores that follow the seeds' tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from leaddesk.domain.activity_types import BUILTIN_KEYS
from leaddesk.domain.scoring import ActivityFact, LeadFacts, ScoreResult, ScoringModel, score_lead
from leaddesk.domain.scoring_file import dump_document, dump_text, load_text, parse_document
from leaddesk.domain.starter_models import activecampaign_model, encharge_model, starter_models

NOW = datetime(2026, 10, 1, 12, 0)
DAY = timedelta(days=1)


def facts(
    fields: Mapping[str, object] | None = None,
    activities: Sequence[tuple[str, int] | tuple[str, int, Mapping[str, object]]] = (),
    created_days_ago: int = 10,
) -> LeadFacts:
    """``activities`` as (type, days ago[, properties])."""
    built = [
        ActivityFact(i, a[0], NOW - a[1] * DAY, a[2] if len(a) == 3 else {})
        for i, a in enumerate(activities, start=1)
    ]
    return LeadFacts(7, fields or {}, built, NOW - created_days_ago * DAY, True, True)


def score(model: ScoringModel, lead: LeadFacts) -> ScoreResult:
    return score_lead(model, lead, NOW)


def by_rule(result: ScoreResult) -> dict[str, int]:
    return {c.rule_name: c.points for c in result.contributions}


def test_starter_models_come_in_order_and_validate_through_the_file_format() -> None:
    models = starter_models()
    assert [m.name for m in models] == [
        "Engagement (ActiveCampaign)",
        "Fit and engagement (Encharge)",
    ]
    assert parse_document(dump_document(models)) == models
    assert load_text(dump_text(models)) == models
    assert all(m.active and m.threshold_tag == "Hot lead" for m in models)


def test_starter_models_use_catalogue_activity_types() -> None:
    used: set[str] = set()
    for model in starter_models():
        for rule in model.rules:
            if rule.activity is not None:
                used.add(rule.activity)
            used.update(rule.activity_types or ())
    assert used <= BUILTIN_KEYS


# --------------------------------------------------------------------------- ActiveCampaign


def test_activecampaign_table() -> None:
    model = activecampaign_model()
    assert model.sales_ready_at == 100
    lead = facts(
        activities=[
            ("email_open", 1),
            ("email_open", 2),
            ("email_click", 3),
            ("email_reply", 4),
            ("page_visit", 5, {"url": "https://example.com/pricing"}),
            ("page_visit", 6, {"url": "https://example.com/checkout/step-1"}),
            ("page_visit", 7, {"url": "https://example.com/blog"}),
            ("email_sent", 1),
        ]
    )
    result = score(model, lead)
    assert by_rule(result) == {
        "Opened an email": 2,
        "Clicked a link in an email": 5,
        "Replied to an email": 10,
        "Visited a sales page": 20,
        "Visited a purchase page": 20,
    }
    assert result.total == 57
    assert result.sales_ready is False


def test_activecampaign_points_expire_after_six_months_but_customers_stay() -> None:
    model = activecampaign_model()
    old = facts({"contact.is_customer": "yes"}, [("email_reply", 180), ("email_click", 179)])
    result = score(model, old)
    assert by_rule(result) == {"Clicked a link in an email": 5, "Became a customer": 100}
    assert result.sales_ready is True
    assert result.fit == 100


def test_activecampaign_excludes_employees() -> None:
    result = score(
        activecampaign_model(), facts({"contact.is_employee": True}, [("email_open", 1)])
    )
    assert result.excluded is True
    assert result.excluded_by == "is an employee"


# --------------------------------------------------------------------------- Encharge


IDEAL = {
    "contact.country": "United Kingdom",
    "contact.city": "london ",
    "contact.age": "30",
    "contact.job_title": "CEO",
    "account.employees": 30,
    "contact.buying_role": "decision_maker",
}


def test_encharge_fit_table() -> None:
    model = encharge_model()
    result = score(model, facts(IDEAL))
    assert by_rule(result) == {
        "Country: US, UK": 1,
        "City: New York, London": 1,
        "Age 25-45": 1,
        "CEO or CMO": 5,
        "More than 25 employees": 10,
        "Decision maker": 10,
    }
    assert result.fit == 28
    assert result.sales_ready is False  # fit alone never reaches 50
    misfit = {**IDEAL, "contact.age": 46, "account.employees": 25, "contact.country": "France"}
    assert score(model, facts(misfit)).fit == 1 + 5 + 10


def test_encharge_engagement_table() -> None:
    model = encharge_model()
    lead = facts(
        activities=[
            ("email_click", 1),
            ("email_reply", 1),
            ("trial_signup", 2),
            ("product_event", 2, {"name": "task_created"}),
            ("product_event", 2, {"name": "task_created", "recurring": "true"}),
            ("product_event", 2, {"name": "project_created"}),
            ("product_event", 2, {"name": "logged_in"}),
            ("meeting_booked", 3),
            ("social_click", 3, {"network": "LinkedIn"}),
            ("social_click", 3, {"network": "facebook"}),
            ("social_click", 3, {"network": "twitter"}),
        ]
    )
    result = score(model, lead)
    assert by_rule(result) == {
        "Clicked an email": 1,
        "Replied to an email": 5,
        "Signed up for a trial": 15,
        "Created a task": 1,
        "Created a recurring task": 2,
        "Created a project": 5,
        "Booked a call": 20,
        "Clicked a LinkedIn post": 2,
        "Clicked a Facebook post": 1,
    }
    assert result.total == 52
    assert result.sales_ready is True


def test_encharge_negative_signals_and_decay() -> None:
    model = encharge_model()
    lead = facts(
        IDEAL,
        [("unsubscribe", 70), ("meeting_cancelled", 70), ("email_open", 65), ("email_sent", 1)],
        created_days_ago=400,
    )
    result = score(model, lead)
    # Sending an email is not the lead doing something: the quiet period runs from the open.
    assert by_rule(result)["Quiet for 30 days"] == -10
    assert by_rule(result)["Unsubscribed"] == -20
    assert by_rule(result)["Cancelled a meeting"] == -10
    assert result.total == 0  # 28 - 40, held at the floor
    assert result.contributions[-1].rule_name == "floor"


def test_encharge_exclusions() -> None:
    model = encharge_model()
    student = score(model, facts({**IDEAL, "contact.job_title": "MBA student"}))
    assert student.excluded_by == 'job title contains "student"'
    employee = score(model, facts({**IDEAL, "contact.is_employee": "true"}))
    assert employee.excluded_by == "is an employee"
    customer = score(model, facts({**IDEAL, "contact.is_customer": True}))
    assert customer.excluded is False
    assert customer.total == 28

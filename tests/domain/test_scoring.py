"""Scoring semantics (DESIGN §3): rules, expiry, inactivity decay, clamping, explanations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaddesk.domain.conditions import AnyOf, Leaf
from leaddesk.domain.scoring import (
    ActivityFact,
    Contribution,
    CountedActivity,
    LeadFacts,
    Rule,
    ScoreResult,
    ScoringModel,
    activity_rule,
    explain_lines,
    inactivity_rule,
    property_rule,
    score_lead,
    score_models,
    stars,
)

NOW = datetime(2026, 10, 1, 12, 0)
DAY = timedelta(days=1)


def act(
    id: int,
    type: str,
    at: datetime,
    properties: Mapping[str, object] | None = None,
) -> ActivityFact:
    return ActivityFact(id, type, at, properties or {})


def lead(
    fields: Mapping[str, object] | None = None,
    activities: Sequence[ActivityFact] = (),
    *,
    created_at: datetime = NOW - 365 * DAY,
    has_contact: bool = True,
    has_account: bool = False,
) -> LeadFacts:
    return LeadFacts(1, fields or {}, list(activities), created_at, has_contact, has_account)


def model(*rules: Rule, **kwargs: object) -> ScoringModel:
    options: dict[str, object] = {"sales_ready_at": 100}
    options.update(kwargs)
    return ScoringModel("M", True, rules=rules, **options)  # type: ignore[arg-type]


def score(m: ScoringModel, facts: LeadFacts, now: datetime = NOW) -> ScoreResult:
    result = score_lead(m, facts, now)
    assert sum(c.points for c in result.contributions) == result.total
    return result


OPEN = activity_rule("Opened", 1, "email_open", expires_after_days=180)
CEO = property_rule("CEO", 5, Leaf("contact.job_title", "eq", "CEO"))


# --------------------------------------------------------------------------- gates


def test_a_lead_without_contact_or_account_cannot_be_scored() -> None:
    result = score(model(CEO), lead({"contact.job_title": "CEO"}, has_contact=False))
    assert result.scorable is False
    assert result.total == 0
    assert result.contributions == ()
    assert result.reason == "cannot be scored: linked to neither a contact nor an account"
    assert result.sales_ready is False
    assert explain_lines(result) == [
        "M: cannot be scored: linked to neither a contact nor an account"
    ]


def test_an_account_only_lead_is_scored() -> None:
    m = model(property_rule("Big", 10, Leaf("account.employees", "gt", 25)))
    result = score(m, lead({"account.employees": 30}, has_contact=False, has_account=True))
    assert result.scorable is True
    assert result.total == 10


def test_exclusion_names_the_condition_that_matched() -> None:
    exclude = AnyOf(
        (
            Leaf("contact.is_employee", "eq", True),
            Leaf("contact.job_title", "contains", "student"),
        )
    )
    m = model(CEO, exclude=exclude)
    facts = lead({"contact.job_title": "Student", "contact.is_employee": False})
    result = score(m, facts)
    assert result.excluded is True
    assert result.excluded_by == 'job title contains "student"'
    assert result.total == 0
    assert result.contributions == ()
    assert result.sales_ready is False
    assert explain_lines(result) == ['M: excluded by job title contains "student" (score 0)']
    assert score(m, lead({"contact.job_title": "CEO"})).excluded is False


# --------------------------------------------------------------------------- property rules


def test_property_rule_applies_once_while_its_condition_holds() -> None:
    m = model(CEO)
    held = score(m, lead({"contact.job_title": " ceo "}))
    assert held.total == 5
    assert held.fit == 5
    assert held.engagement == 0
    assert held.contributions == (Contribution("CEO", "property", "fit", 5, 1),)
    assert score(m, lead({"contact.job_title": "CTO"})).total == 0
    assert score(m, lead({})).total == 0


def test_property_rule_without_condition_always_applies() -> None:
    m = model(property_rule("Everyone", 3, None))
    assert score(m, lead({})).total == 3


# --------------------------------------------------------------------------- activity rules


def test_activity_rule_counts_each_matching_activity() -> None:
    facts = lead(
        activities=[
            act(1, "email_open", NOW - 3 * DAY),
            act(2, "email_open", NOW - 2 * DAY),
            act(3, "email_click", NOW - 1 * DAY),
        ]
    )
    result = score(model(OPEN), facts)
    assert result.total == 2
    assert result.engagement == 2
    (contribution,) = result.contributions
    assert contribution.times == 2
    assert [a.id for a in contribution.activities] == [2, 1]  # newest first
    assert contribution.activities[0] == CountedActivity(
        2, "email_open", NOW - 2 * DAY, NOW - 2 * DAY + 180 * DAY
    )
    assert contribution.expires_at == NOW - 3 * DAY + 180 * DAY


def test_activity_condition_tests_the_activity_properties_and_type() -> None:
    pricing = activity_rule("Pricing", 20, "page_visit", when=Leaf("url", "contains", "/pricing"))
    typed = activity_rule("Typed", 1, "page_visit", when=Leaf("type", "eq", "page_visit"))
    facts = lead(
        activities=[
            act(1, "page_visit", NOW - DAY, {"url": "https://x.com/PRICING"}),
            act(2, "page_visit", NOW - DAY, {"url": "https://x.com/blog"}),
            act(3, "page_visit", NOW - DAY, {}),
        ]
    )
    result = score(model(pricing, typed), facts)
    assert [(c.rule_name, c.points, c.times) for c in result.contributions] == [
        ("Pricing", 20, 1),
        ("Typed", 3, 3),
    ]
    assert result.contributions[0].activities[0].id == 1


def test_activity_exactly_n_days_old_has_expired() -> None:
    m = model(OPEN)
    assert score(m, lead(activities=[act(1, "email_open", NOW - 180 * DAY)])).total == 0
    young = NOW - 180 * DAY + timedelta(seconds=1)
    result = score(m, lead(activities=[act(1, "email_open", young)]))
    assert result.total == 1
    assert result.contributions[0].expires_at == young + 180 * DAY
    assert result.contributions[0].expires_at == NOW + timedelta(seconds=1)


def test_activity_without_expiry_never_expires() -> None:
    rule = activity_rule("Customer", 100, "purchase")
    result = score(model(rule), lead(activities=[act(1, "purchase", NOW - 5000 * DAY)]))
    assert result.total == 100
    assert result.contributions[0].expires_at is None
    assert result.contributions[0].activities[0].expires_at is None


def test_future_activities_are_ignored() -> None:
    facts = lead(
        activities=[
            act(1, "email_open", NOW + timedelta(seconds=1)),
            act(2, "email_open", NOW),  # happening now: counts
        ]
    )
    result = score(model(OPEN), facts)
    assert result.total == 1
    assert result.contributions[0].activities[0].id == 2


def test_max_times_keeps_the_most_recent_activities() -> None:
    rule = activity_rule("Opened", 2, "email_open", expires_after_days=180, max_times=2)
    facts = lead(
        activities=[
            act(1, "email_open", NOW - 100 * DAY),
            act(2, "email_open", NOW - 10 * DAY),
            act(3, "email_open", NOW - 50 * DAY),
            act(4, "email_open", NOW - 200 * DAY),  # expired anyway
        ]
    )
    result = score(model(rule), facts)
    (contribution,) = result.contributions
    assert contribution.times == 2
    assert contribution.points == 4
    assert [a.id for a in contribution.activities] == [2, 3]
    assert contribution.expires_at == NOW - 50 * DAY + 180 * DAY


def test_same_moment_activities_are_ordered_by_id() -> None:
    rule = activity_rule("Opened", 1, "email_open", max_times=1)
    facts = lead(activities=[act(7, "email_open", NOW - DAY), act(9, "email_open", NOW - DAY)])
    assert score(model(rule), facts).contributions[0].activities[0].id == 9


def test_negative_activity_points() -> None:
    rule = activity_rule("Cancelled", -10, "meeting_cancelled")
    facts = lead({"contact.job_title": "CEO"}, [act(1, "meeting_cancelled", NOW - DAY)])
    result = score(model(CEO, rule, floor=None), facts)
    assert result.total == -5
    assert result.fit == 5
    assert result.engagement == -10


# --------------------------------------------------------------------------- inactivity


QUIET = inactivity_rule("Quiet", -1, 30)
QUIET_REPEAT = inactivity_rule("Quiet", -1, 30, repeat=True)


def test_inactivity_applies_once_the_last_activity_is_days_old() -> None:
    m = model(QUIET, floor=None)
    assert score(m, lead(activities=[act(1, "call", NOW - 30 * DAY)])).total == -1
    almost = NOW - 30 * DAY + timedelta(seconds=1)
    assert score(m, lead(activities=[act(1, "call", almost)])).total == 0
    # Without repeat it applies once, however long the silence.
    result = score(m, lead(activities=[act(1, "call", NOW - 95 * DAY)]))
    assert result.total == -1
    assert result.contributions[0].times == 1
    assert result.contributions[0].since == NOW - 95 * DAY


def test_repeat_applies_once_per_full_period_since_the_last_activity() -> None:
    m = model(QUIET_REPEAT, floor=None)
    for days_ago, times in [(29, 0), (30, 1), (59, 1), (60, 2), (95, 3)]:
        facts = lead(activities=[act(1, "email_open", NOW - days_ago * DAY)])
        assert score(m, facts).total == -times, days_ago


def test_repeat_without_any_activity_counts_from_lead_creation() -> None:
    m = model(QUIET_REPEAT, floor=None)
    created = NOW - 95 * DAY
    result = score(m, lead(created_at=created))
    assert result.total == -3
    assert result.contributions[0].since == created
    assert score(m, lead(created_at=NOW - 29 * DAY)).total == 0
    assert score(model(QUIET, floor=None), lead(created_at=NOW - 29 * DAY)).total == 0
    assert score(model(QUIET, floor=None), lead(created_at=NOW - 31 * DAY)).total == -1


def test_inactivity_restricted_to_types_ignores_other_activity() -> None:
    rule = inactivity_rule("No opens", -5, 30, repeat=True, activity_types=["email_open"])
    facts = lead(
        activities=[act(1, "email_open", NOW - 65 * DAY), act(2, "email_sent", NOW - DAY)],
    )
    assert score(model(rule, floor=None), facts).total == -10
    any_type = inactivity_rule("Quiet", -5, 30, repeat=True)
    assert score(model(any_type, floor=None), facts).total == 0


def test_inactivity_ignores_future_activities() -> None:
    facts = lead(activities=[act(1, "email_open", NOW + DAY)], created_at=NOW - 40 * DAY)
    assert score(model(QUIET_REPEAT, floor=None), facts).total == -1


# --------------------------------------------------------------------------- clamping


def test_floor_clamps_negative_totals_and_explains_the_adjustment() -> None:
    m = model(CEO, QUIET_REPEAT)  # floor defaults to 0
    facts = lead({"contact.job_title": "CEO"}, created_at=NOW - 300 * DAY)
    result = score(m, facts)
    assert result.total == 0
    assert result.fit == 5  # subtotals stay raw
    assert result.engagement == -10
    assert result.contributions[-1] == Contribution("floor", "floor", None, 5, 1)


def test_no_floor_lets_the_score_go_negative() -> None:
    result = score(model(QUIET_REPEAT, floor=None), lead(created_at=NOW - 300 * DAY))
    assert result.total == -10
    assert all(c.kind == "inactivity" for c in result.contributions)


def test_negative_floor() -> None:
    result = score(model(QUIET_REPEAT, floor=-4), lead(created_at=NOW - 300 * DAY))
    assert result.total == -4
    assert result.contributions[-1].points == 6


def test_cap_clamps_and_explains_the_adjustment() -> None:
    rule = activity_rule("Opened", 10, "email_open")
    facts = lead(activities=[act(i, "email_open", NOW - i * DAY) for i in range(1, 6)])
    result = score(model(rule, cap=35, sales_ready_at=30), facts)
    assert result.total == 35
    assert result.engagement == 50
    assert result.contributions[-1] == Contribution("cap", "cap", None, -15, 1)
    assert result.sales_ready is True


# --------------------------------------------------------------------------- results


def test_sales_ready_at_the_threshold() -> None:
    rule = activity_rule("Opened", 10, "email_open")
    ten = [act(i, "email_open", NOW - i * DAY) for i in range(1, 11)]
    assert score(model(rule), lead(activities=ten)).sales_ready is True
    assert score(model(rule), lead(activities=ten[:9])).sales_ready is False
    no_threshold = model(rule, sales_ready_at=None)
    assert score(no_threshold, lead(activities=ten)).sales_ready is False


@pytest.mark.parametrize(
    ("score_value", "threshold", "expected"),
    [
        (-5, 100, 0),
        (0, 100, 0),
        (1, 100, 1),
        (24, 100, 1),
        (25, 100, 2),
        (49, 100, 2),
        (50, 100, 3),
        (75, 100, 4),
        (99, 100, 4),
        (100, 100, 5),
        (250, 100, 5),
        (1, 50, 1),
        (13, 50, 2),
        (49, 50, 4),
        (50, 50, 5),
        (30, None, 2),  # no threshold: rated as if it were 100
        (100, None, 5),
        (1, 1, 5),
    ],
)
def test_stars(score_value: int, threshold: int | None, expected: int) -> None:
    assert stars(score_value, threshold) == expected


def test_score_models_scores_active_models_in_order() -> None:
    a = ScoringModel("A", True, 10, rules=(CEO,))
    b = ScoringModel("B", False, 10, rules=(CEO,))
    c = ScoringModel("C", True, 10, rules=(OPEN,))
    facts = lead({"contact.job_title": "CEO"}, [act(1, "email_open", NOW - DAY)])
    results = score_models([a, b, c], facts, NOW)
    assert [(r.model_name, r.total) for r in results] == [("A", 5), ("C", 1)]


def test_aware_now_and_naive_activities_mix() -> None:
    aware_now = NOW.replace(tzinfo=UTC)
    facts = lead(activities=[act(1, "email_open", NOW - 180 * DAY + timedelta(seconds=1))])
    assert score(model(OPEN), facts, aware_now).total == 1
    facts = lead(activities=[act(1, "email_open", aware_now - 180 * DAY)])
    assert score(model(OPEN), facts, NOW).total == 0


def test_explanation_lines_and_dict() -> None:
    pricing = activity_rule(
        "Visited the pricing page",
        20,
        "page_visit",
        expires_after_days=180,
        when=Leaf("url", "contains", "/pricing"),
    )
    at = datetime(2026, 9, 28, 14, 5)
    facts = lead(
        {"contact.job_title": "CEO"},
        [act(123, "page_visit", at, {"url": "/pricing"})],
        created_at=NOW - 100 * DAY,
    )
    m = model(CEO, pricing, QUIET_REPEAT)
    result = score(m, facts)
    assert explain_lines(result) == [
        "M: 25 (fit 5, engagement 20; sales ready at 100)",
        "  +5  CEO  (fit)",
        " +20  Visited the pricing page  (1 activity: #123 page_visit 2026-09-28 14:05, "
        "expires 2027-03-27)",
    ]
    data = result.to_dict()
    json.dumps(data)
    assert data["total"] == 25
    assert data["stars"] == 2
    contributions = data["contributions"]
    assert isinstance(contributions, list)
    assert contributions[1]["activities"] == [
        {
            "id": 123,
            "type": "page_visit",
            "occurred_at": "2026-09-28T14:05:00",
            "expires_at": "2027-03-27T14:05:00",
        }
    ]


def test_explanation_of_inactivity_and_clamp() -> None:
    result = score(model(QUIET_REPEAT), lead(created_at=datetime(2026, 7, 1)))
    assert explain_lines(result) == [
        "M: 0 (fit 0, engagement -3; sales ready at 100)",
        "  -3  Quiet  (3 × quiet period since 2026-07-01 00:00)",
        "  +3  floor  (score clamped to the floor)",
    ]


def test_explanation_when_nothing_applies() -> None:
    assert explain_lines(score(model(CEO), lead({}))) == [
        "M: 0 (fit 0, engagement 0; sales ready at 100)",
        "   0  no rule applies",
    ]


# --------------------------------------------------------------------------- invariant


ACTIVITY_TYPES = ["email_open", "page_visit", "call"]

rules_strategy = st.one_of(
    st.builds(
        property_rule,
        name=st.just("p"),
        points=st.integers(-50, 50),
        when=st.sampled_from([None, Leaf("contact.age", "gt", 30)]),
        group=st.sampled_from(["fit", "engagement"]),
    ),
    st.builds(
        activity_rule,
        name=st.just("a"),
        points=st.integers(-50, 50),
        activity=st.sampled_from(ACTIVITY_TYPES),
        expires_after_days=st.none() | st.integers(1, 400),
        max_times=st.none() | st.integers(1, 5),
        group=st.sampled_from(["fit", "engagement"]),
    ),
    st.builds(
        inactivity_rule,
        name=st.just("i"),
        points=st.integers(-50, 50),
        days=st.integers(1, 100),
        repeat=st.booleans(),
        activity_types=st.none() | st.lists(st.sampled_from(ACTIVITY_TYPES), min_size=1),
    ),
)
activities_strategy = st.lists(
    st.builds(
        act,
        id=st.integers(1, 1000),
        type=st.sampled_from(ACTIVITY_TYPES),
        at=st.integers(-500 * 24, 10 * 24).map(lambda h: NOW + timedelta(hours=h)),
    ),
    max_size=15,
)


@settings(max_examples=300)
@given(
    rules=st.lists(rules_strategy, max_size=6),
    activities=activities_strategy,
    floor=st.none() | st.integers(-100, 50),
    cap_above_floor=st.none() | st.integers(0, 200),
    age=st.none() | st.integers(0, 99),
    created_days=st.integers(-5, 600),
)
def test_contributions_always_add_up_to_the_total(
    rules: list[Rule],
    activities: list[ActivityFact],
    floor: int | None,
    cap_above_floor: int | None,
    age: int | None,
    created_days: int,
) -> None:
    cap = None if cap_above_floor is None else (floor or 0) + cap_above_floor
    m = ScoringModel("M", True, 40, floor=floor, cap=cap, rules=tuple(rules))
    facts = lead({"contact.age": age}, activities, created_at=NOW - created_days * DAY)
    result = score_lead(m, facts, NOW)
    assert sum(c.points for c in result.contributions) == result.total
    raw = sum(c.points for c in result.contributions if c.group is not None)
    assert result.fit + result.engagement == raw
    if floor is not None:
        assert result.total >= floor
    if cap is not None:
        assert result.total <= cap
    assert result.sales_ready is (result.total >= 40)
    assert 0 <= result.stars <= 5
    for c in result.contributions:
        assert c.times >= 1
        assert all(a.occurred_at <= NOW for a in c.activities)
        assert all(a.expires_at is None or a.expires_at > NOW for a in c.activities)
    explain_lines(result)

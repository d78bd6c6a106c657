"""The stage machine, pure: every transition, stickiness, the skip, manual moves."""

from __future__ import annotations

import pytest

from leaddesk.domain import process as proc
from leaddesk.domain.process import (
    DEFAULT_STAGES,
    Crossing,
    LeadState,
    ProcessError,
    Stages,
    StageSpec,
    after_scoring,
    set_flag,
)
from leaddesk.domain.validation import ValidationError

STAGES = Stages(DEFAULT_STAGES)
NEW = LeadState(stage="inquiry")


def crossing(tag: str | None = None) -> Crossing:
    return Crossing("Default", 90, 110, 100, tag)


def test_first_scoring_moves_inquiry_to_automated_qualification() -> None:
    outcome = after_scoring(NEW, STAGES, first_scored=True, crossings=())
    assert outcome.state.stage == "automated_qualification"
    assert [(c.kind, c.from_value, c.to_value) for c in outcome.changes] == [
        ("stage", "inquiry", "automated_qualification")
    ]


def test_later_scoring_does_not_move_a_lead_put_back_in_inquiry() -> None:
    outcome = after_scoring(NEW, STAGES, first_scored=False, crossings=())
    assert outcome.state == NEW and outcome.changes == ()


def test_crossing_the_threshold_skips_telemarketing() -> None:
    state = LeadState(stage="automated_qualification")
    outcome = after_scoring(state, STAGES, first_scored=False, crossings=[crossing("Hot lead")])
    assert outcome.state.stage == "sales_acceptance"
    assert outcome.state.sales_ready is True
    assert outcome.state.tags == ("Hot lead",)
    kinds = [c.kind for c in outcome.changes]
    assert kinds == ["flag", "stage", "tag"]
    assert "Default reached 100" in (outcome.changes[0].reason or "")


def test_first_scored_and_crossing_at_once() -> None:
    outcome = after_scoring(NEW, STAGES, first_scored=True, crossings=[crossing()])
    assert outcome.state.stage == "sales_acceptance"
    assert [c.to_value for c in outcome.changes if c.kind == "stage"] == [
        "automated_qualification",
        "sales_acceptance",
    ]


def test_sales_ready_is_sticky_and_the_tag_added_once() -> None:
    ready = LeadState(stage="sales_acceptance", sales_ready=True, tags=("Hot lead",))
    again = after_scoring(ready, STAGES, first_scored=False, crossings=[crossing("Hot lead")])
    assert again.changes == ()
    # A drop of the score is not a crossing: nothing calls after_scoring with one, and the
    # state keeps sales_ready.
    assert again.state.sales_ready is True


def test_score_never_pulls_a_lead_back() -> None:
    stages = Stages([*DEFAULT_STAGES, StageSpec("negotiation", "Negotiation", None)])
    state = LeadState(stage="negotiation")
    outcome = after_scoring(state, stages, first_scored=False, crossings=[crossing()])
    assert outcome.state.stage == "negotiation"
    assert outcome.state.sales_ready is True


def test_closed_leads_are_left_alone() -> None:
    state = LeadState(stage="inquiry", status="disqualified")
    assert after_scoring(state, STAGES, first_scored=True, crossings=[crossing()]).changes == ()


@pytest.mark.parametrize(
    ("flag", "stage"),
    [
        ("telemarketing_ready", "telemarketing_acceptance"),
        ("accepted_telemarketing", "telemarketing_qualification"),
        ("sales_ready", "sales_acceptance"),
    ],
)
def test_each_checkbox_moves_forward(flag: str, stage: str) -> None:
    outcome = set_flag(LeadState(stage="automated_qualification"), flag, True, STAGES)
    assert outcome.state.stage == stage
    assert outcome.state.flag(flag)


def test_accepting_telemarketing_implies_ready() -> None:
    outcome = set_flag(
        LeadState(stage="automated_qualification"), "accepted_telemarketing", True, STAGES
    )
    assert outcome.state.telemarketing_ready and outcome.state.accepted_telemarketing


def test_sales_accepted_needs_an_owner() -> None:
    state = LeadState(stage="sales_acceptance", sales_ready=True)
    with pytest.raises(ProcessError, match="assign a salesperson"):
        set_flag(state, "sales_accepted", True, STAGES)
    owned = LeadState(stage="sales_acceptance", sales_ready=True, owner_id=7)
    assert set_flag(owned, "sales_accepted", True, STAGES).state.sales_accepted


def test_unticking_moves_back_only_from_its_own_stage() -> None:
    state = LeadState(stage="telemarketing_acceptance", telemarketing_ready=True)
    back = set_flag(state, "telemarketing_ready", False, STAGES)
    assert back.state.stage == "automated_qualification"
    assert not back.state.telemarketing_ready
    moved_on = LeadState(stage="sales_acceptance", telemarketing_ready=True, sales_ready=True)
    kept = set_flag(moved_on, "telemarketing_ready", False, STAGES)
    assert kept.state.stage == "sales_acceptance"


def test_unticking_sales_ready_returns_to_telemarketing_qualification() -> None:
    state = LeadState(
        stage="sales_acceptance",
        telemarketing_ready=True,
        accepted_telemarketing=True,
        sales_ready=True,
    )
    assert set_flag(state, "sales_ready", False, STAGES).state.stage == (
        "telemarketing_qualification"
    )


def test_unticking_in_the_wrong_order_is_refused() -> None:
    state = LeadState(
        stage="telemarketing_qualification", telemarketing_ready=True, accepted_telemarketing=True
    )
    with pytest.raises(ProcessError, match="Accepted telemarketing first"):
        set_flag(state, "telemarketing_ready", False, STAGES)
    accepted = LeadState(
        stage="sales_acceptance", sales_ready=True, sales_accepted=True, owner_id=1
    )
    with pytest.raises(ProcessError, match="Sales accepted first"):
        set_flag(accepted, "sales_ready", False, STAGES)


def test_manual_move_anywhere_keeps_flags() -> None:
    state = LeadState(stage="sales_acceptance", sales_ready=True)
    outcome = proc.move_to_stage(state, "inquiry", STAGES, "wrong contact")
    assert outcome.state.stage == "inquiry" and outcome.state.sales_ready
    assert outcome.changes[0].reason == "wrong contact"
    with pytest.raises(ProcessError, match="no stage"):
        proc.move_to_stage(state, "nowhere", STAGES, None)


def test_status_changes() -> None:
    with pytest.raises(ProcessError, match="reason"):
        proc.set_status(NEW, "disqualified", "  ")
    out = proc.set_status(NEW, "disqualified", "No budget")
    assert out.state.status == "disqualified" and out.changes[0].reason == "No budget"
    with pytest.raises(ProcessError, match="reopen it first"):
        set_flag(out.state, "sales_ready", True, STAGES)
    assert proc.set_status(out.state, "open", None).state.status == "open"
    with pytest.raises(ProcessError, match="already"):
        proc.set_status(NEW, "open", None)


def test_rights() -> None:
    assert proc.allowed("manager", "assign")
    assert not proc.allowed("telemarketer", "assign")
    assert not proc.allowed("salesperson", "sales_accepted")
    assert proc.allowed("telemarketer", "accepted_telemarketing")
    assert not proc.allowed("telemarketer", "edit_scoring")
    assert proc.allowed("marketer", "edit_process")
    with pytest.raises(ProcessError, match="a telemarketer cannot assign leads"):
        proc.require("telemarketer", "assign")


def test_qualification_values_are_checked_by_type() -> None:
    fields = [
        {"key": "budget", "label": "Budget", "type": "number"},
        {"key": "authority", "label": "Authority", "type": "choice", "choices": ["Yes", "No"]},
        {"key": "signed", "label": "Signed", "type": "checkbox"},
        {"key": "start", "label": "Start", "type": "date"},
        {"key": "notes", "label": "Notes", "type": "text"},
    ]
    clean = proc.clean_qualification(
        fields,
        {
            "budget": "1500,50",
            "authority": "yes",
            "signed": "no",
            "start": "2027-01-15",
            "notes": " call back ",
        },
    )
    assert clean == {
        "budget": 1500.5,
        "authority": "Yes",
        "signed": False,
        "start": "2027-01-15",
        "notes": "call back",
    }
    with pytest.raises(ValidationError) as caught:
        proc.clean_qualification(
            fields, {"budget": "lots", "authority": "maybe", "start": "soon", "colour": "red"}
        )
    assert set(caught.value.errors) == {"budget", "authority", "start", "colour"}


def test_stage_field_definitions() -> None:
    assert proc.clean_stage_fields([{"key": "size", "type": "choice", "choices": ["S", " "]}]) == [
        {"key": "size", "label": "size", "type": "choice", "choices": ["S"]}
    ]
    with pytest.raises(ProcessError, match="needs choices"):
        proc.clean_stage_fields([{"key": "size", "type": "choice"}])
    with pytest.raises(ProcessError, match="twice"):
        proc.clean_stage_fields([{"key": "a"}, {"key": "a"}])


@pytest.mark.parametrize(
    ("old", "new", "threshold", "before", "expected"),
    [
        (90, 95, 100, 100, False),  # below the bar, as before
        (90, 105, 100, 100, True),  # crossed an unchanged bar
        (105, 110, 100, 100, False),  # was already over it
        (90, 90, 80, 100, True),  # the bar came down under an unmoved score
        (105, 105, 80, 100, False),  # was over the old bar already
        (90, 90, 100, 80, False),  # a raised bar moves nobody
        (90, 90, 80, None, True),  # a first bar: everyone over it reaches it
        (70, 70, 80, None, False),
        (90, 90, None, 100, False),  # no bar any more
    ],
)
def test_reached_compares_with_the_bar_in_force_before(
    old: int, new: int, threshold: int | None, before: int | None, expected: bool
) -> None:
    assert proc.reached(old, new, threshold, before) is expected
    if threshold == before:
        assert proc.crossed(old, new, threshold) is expected

"""The lead's score panel: totals, explanation, exclusions, and the history chart."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.domain.conditions import Leaf
from leaddesk.domain.scoring import ScoringModel, activity_rule, inactivity_rule, property_rule
from leaddesk.services import records, scoring
from leaddesk.store.database import Database
from leaddesk.ui.display import to_local
from leaddesk.ui.score_panel import (
    CHART_MAX_HEIGHT,
    CHART_MIN_HEIGHT,
    MIN_CHART_SPAN,
    ScorePanel,
    date_tick_labels,
)
from tests.conftest import NOW
from tests.factories import build_small_desk

MODEL = ScoringModel(
    name="Panel model",
    active=True,
    sales_ready_at=6,
    exclude=Leaf("contact.job_title", "contains", "student"),
    rules=(
        property_rule("CEO or CMO", 5, Leaf("contact.job_title", "in", ("CEO", "CMO"))),
        activity_rule("Opened an email", 2, "email_open", expires_after_days=180),
        inactivity_rule("Quiet", -1, 30, repeat=True),
    ),
)
OTHER = ScoringModel(
    name="Other model",
    active=True,
    sales_ready_at=100,
    rules=(activity_rule("Visited", 7, "page_visit"),),
)


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    made = build_small_desk(db, NOW)
    scoring.save_model(db, MODEL, NOW)
    scoring.save_model(db, OTHER, NOW)
    return made


@pytest.fixture
def panel(qtbot: QtBot) -> ScorePanel:
    widget = ScorePanel()
    qtbot.addWidget(widget)
    widget.resize(440, 700)
    widget.show()
    return widget


def test_totals_match_the_explanation(panel: ScorePanel, db: Database, ids: dict[str, int]) -> None:
    lead = ids["lead0"]  # Ana, CEO, opened an email and visited the pricing page
    panel.show_lead(db, lead, NOW)

    expected = scoring.explain(db, lead, NOW)
    assert [r.total for r in expected] == [7, 7]
    assert [card.total_label.text() for card in panel._cards] == ["7", "7"]
    tops = [panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())]
    assert [top.text(0) for top in tops] == ["Panel model: 7", "Other model: 7"]
    breakdown = [(tops[0].child(i).text(0), tops[0].child(i).text(1)) for i in range(2)]
    assert breakdown == [("CEO or CMO", "+5"), ("Opened an email", "+2")]
    expires = tops[0].child(1).child(0).text(2)
    assert expires.startswith("until ") and "2027" in expires
    assert panel._cards[0].ready_label.text().startswith("✓ Sales ready")
    assert panel._cards[1].ready_label.text() == "93 to go to sales ready (100)"
    assert "Fit 5" in panel._cards[0].detail_label.text()
    assert panel._cards[0].stars_label.text() == "★★★★★"


def test_an_excluded_lead_says_which_condition(
    panel: ScorePanel, db: Database, ids: dict[str, int]
) -> None:
    panel.show_lead(db, ids["lead4"], NOW)  # Diego, "Student intern"

    card = panel._cards[0]
    assert card.total_label.text() == "0"
    assert card.detail_label.text() == 'Excluded: job title contains "student"'
    top = panel.tree.topLevelItem(0)
    assert "excluded" in top.text(0)
    assert top.child(0).text(0) == "Excluded by"


def test_a_lead_without_contact_or_account_cannot_be_scored(
    panel: ScorePanel, db: Database, ids: dict[str, int]
) -> None:
    lead = records.create_lead(
        db, contact_id=None, account_id=None, topic="Orphan", source=None, now=NOW
    )
    panel.show_lead(db, lead, NOW)

    text = panel.message_text()
    assert "cannot be scored" in text and "Link a contact or an account" in text
    assert panel.tree.isHidden()


def test_without_active_models_it_says_so(panel: ScorePanel, small_desk: Database) -> None:
    panel.show_lead(small_desk, 1, NOW)
    assert "No scoring model is active" in panel.message_text()
    panel.clear()
    assert panel.message_text() == "" and panel.results == []


def test_history_chart_is_drawn_only_once_there_is_history(
    panel: ScorePanel, db: Database, ids: dict[str, int]
) -> None:
    quiet_lead = ids["lead2"]  # Bruno: no activity, no matching property: never moved
    panel.show_lead(db, quiet_lead, NOW)
    assert panel.history == []
    assert panel.canvas is None and panel.chart_draws == 0
    assert panel.history_label.text() == "No score changes recorded yet."

    panel.show_lead(db, ids["lead0"], NOW + timedelta(days=400))  # points expired, decay
    assert len(panel.history) >= 2
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    assert isinstance(panel.canvas, FigureCanvasQTAgg)
    assert panel.chart_draws == 1 and panel.canvas.isVisible()
    axes = panel.canvas.figure.axes[0]
    assert len(axes.get_lines()) == 6  # two models: steps, change dots and threshold each
    assert CHART_MIN_HEIGHT <= panel.canvas.height() <= CHART_MAX_HEIGHT

    panel.show_lead(db, quiet_lead, NOW)
    assert not panel.canvas.isVisible() and panel.history_label.isVisible()


def test_importing_the_ui_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "import leaddesk.ui.score_panel, leaddesk.ui.scoring_window\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- the history chart's time axis -------------------------------------------------------

TICK = re.compile(r"^(\d{1,2} [A-Z][a-z]{2}|[A-Z][a-z]{2})( \d{4})?$")


def _local(moment: datetime) -> datetime:
    return to_local(moment).replace(tzinfo=None)


def _x_axis(panel: ScorePanel) -> tuple[datetime, datetime, list[str]]:
    """The chart's time axis as drawn: its ends and the tick labels."""
    from matplotlib.dates import num2date

    panel.canvas.draw()
    axes = panel.canvas.figure.axes[0]
    left, right = (num2date(x).replace(tzinfo=None) for x in axes.get_xlim())
    labels = [t.get_text() for t in axes.get_xticklabels() if t.get_text()]
    return left, right, labels


def _legend(panel: ScorePanel) -> list[str]:
    return [t.get_text() for legend in panel.canvas.figure.legends for t in legend.get_texts()]


def _assert_readable(labels: list[str], now: datetime) -> None:
    assert 3 <= len(labels) <= 6, labels
    assert all(TICK.match(label) for label in labels), labels
    years = [int(y) for label in labels for y in re.findall(r"\d{4}", label)]
    assert years and max(years) <= now.year  # never a year in the future


def test_changes_at_one_moment_are_shown_against_the_week_before_now(
    panel: ScorePanel, db: Database, ids: dict[str, int]
) -> None:
    panel.show_lead(db, ids["lead0"], NOW)  # both models scored it at the same moment
    assert {p.at for p in panel.history} == {NOW} and len(panel.history) == 2

    left, right, labels = _x_axis(panel)
    assert right == _local(NOW)
    assert _local(NOW) - MIN_CHART_SPAN * 1.1 < left <= _local(NOW) - MIN_CHART_SPAN
    _assert_readable(labels, NOW)
    assert _legend(panel) == ["Panel model", "Other model"]


def test_a_single_change_this_morning_reads_on_a_week_ending_now(
    panel: ScorePanel, db: Database
) -> None:
    made = build_small_desk(db, NOW)
    scoring.save_model(db, MODEL, NOW - timedelta(hours=6))
    panel.show_lead(db, made["lead0"], NOW)
    assert len(panel.history) == 1

    left, right, labels = _x_axis(panel)
    assert right == _local(NOW)
    assert left <= _local(NOW) - MIN_CHART_SPAN
    _assert_readable(labels, NOW)
    assert _legend(panel) == ["Panel model"]  # one model is named too
    steps = panel.canvas.figure.axes[0].get_lines()[0]
    assert steps.get_drawstyle() == "steps-post"  # a score holds until the next change


def test_many_changes_span_from_the_first_to_now(panel: ScorePanel, db: Database) -> None:
    made = build_small_desk(db, NOW)
    scoring.save_model(db, MODEL, NOW - timedelta(days=120))
    scoring.save_model(db, OTHER, NOW - timedelta(days=120))
    scoring.rescore_all(db, NOW - timedelta(days=36, hours=12))
    scoring.rescore_all(db, NOW - timedelta(days=1, hours=12))
    scoring.rescore_all(db, NOW)
    panel.show_lead(db, made["lead0"], NOW)
    moments = sorted({p.at for p in panel.history})
    assert len(moments) >= 3 and moments[0] == NOW - timedelta(days=120)

    left, right, labels = _x_axis(panel)
    assert right == _local(NOW)
    assert _local(moments[0]) - timedelta(days=10) < left < _local(moments[0])
    _assert_readable(labels, NOW)
    assert _legend(panel) == ["Panel model", "Other model"]


def test_tick_labels_name_the_year_once_and_where_it_changes() -> None:
    days = [datetime(2026, 12, 28), datetime(2026, 12, 30), datetime(2027, 1, 1)]
    assert date_tick_labels(days) == ["28 Dec 2026", "30 Dec", "1 Jan 2027"]
    months = [datetime(2026, 11, 1), datetime(2027, 1, 1), datetime(2027, 3, 1)]
    assert date_tick_labels(months) == ["Nov 2026", "Jan 2027", "Mar"]


def test_a_property_rule_shows_the_value_it_matched(
    panel: ScorePanel, db: Database, ids: dict[str, int]
) -> None:
    panel.show_lead(db, ids["lead0"], NOW)  # Ana is the CEO
    rule = panel.tree.topLevelItem(0).child(0)
    assert (rule.text(0), rule.text(1)) == ("CEO or CMO", "+5")
    assert rule.text(2) == "job title: CEO"
    assert "job title: CEO" in rule.toolTip(2)
    activity = panel.tree.topLevelItem(0).child(1)
    assert activity.text(2).startswith("until ")

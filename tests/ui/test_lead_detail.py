"""The lead pane in a narrow column: a header that never changes height, When/Who/What
tables whose text is never cut, and a Score tab whose chart stays in sight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.services import activities, process, records, scoring
from leaddesk.store.database import Database
from leaddesk.ui.lead_detail import TAB_ACTIVITY, TAB_HISTORY, TAB_SCORE, LeadDetailPane
from leaddesk.ui.qt import QPoint, Qt, QTreeWidget
from tests.conftest import NOW
from tests.factories import build_small_desk
from tests.ui.test_score_panel import MODEL, OTHER

PANE_WIDTH = 440
LONG_TOPIC = "Webinar: from marketing qualified to sales accepted without losing anyone"


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    made = build_small_desk(db, NOW)
    scoring.save_model(db, MODEL, NOW - timedelta(hours=6))
    scoring.save_model(db, OTHER, NOW - timedelta(hours=6))
    return made


@pytest.fixture
def pane(qtbot: QtBot, db: Database) -> LeadDetailPane:
    widget = LeadDetailPane(db, clock=lambda: NOW)
    qtbot.addWidget(widget)
    widget.resize(PANE_WIDTH, 760)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click_tab(qtbot: QtBot, pane: LeadDetailPane, index: int) -> None:
    bar = pane.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: pane.tabs.currentIndex() == index)


def assert_whole_text(qtbot: QtBot, tree: QTreeWidget) -> None:
    """Every cell is readable: the When and Who/Activity columns as wide as their text,
    the last column's long text wrapped onto as many lines as it needs; every cell's
    tooltip is its whole text."""
    qtbot.wait(50)  # the column widths and row heights settle after the first paint
    metrics = tree.fontMetrics()
    wrapped = 0
    for row in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(row)
        assert item is not None
        for column in (0, 1):
            assert metrics.horizontalAdvance(item.text(column)) < tree.columnWidth(column)
        text = item.text(2)
        assert text in item.toolTip(2) or item.toolTip(2) == text
        room = tree.columnWidth(2) - 8
        needed = metrics.horizontalAdvance(text)
        if needed > room:
            wrapped += 1
            height = tree.visualItemRect(item).height()
            assert height >= 2 * metrics.height(), (text, height)
    assert wrapped, "the test needs a row too long for one line"


def test_the_header_stays_three_lines_whatever_the_lead(
    qtbot: QtBot, pane: LeadDetailPane, db: Database, ids: dict[str, int]
) -> None:
    admin = process.current_user(db)
    process.add_user(db, "Maria Fernanda Albuquerque de Oliveira", "salesperson", admin, NOW)
    account = records.create_account(
        db, {"name": "Consolidated Widgets and Industrial Fasteners International"}, NOW
    )
    contact = records.create_contact(
        db, {"email": "someone.with.a.long.address@consolidated-widgets.example"}, NOW
    )
    long_lead = records.create_lead(
        db, contact_id=contact, account_id=account, topic=LONG_TOPIC, source="web", now=NOW
    )
    process.assign(db, [long_lead], "Maria Fernanda Albuquerque de Oliveira", admin, NOW)

    pane.show_lead(ids["lead2"])  # short names, nobody owns it
    qtbot.wait(20)
    top_of_process = pane.process.geometry().top()
    pane.show_lead(long_lead)
    qtbot.wait(20)

    assert pane.process.geometry().top() == top_of_process  # nothing below jumped
    assert pane.subtitle_label.is_elided()
    assert LONG_TOPIC in pane.subtitle_label.tip()  # cut on screen, whole on hover
    assert pane.facts_label.text() == "Owner: Maria Fernanda Albuquerque de Oliveira"
    assert pane.created_label.text() == "created 22 Nov 2026"
    assert pane.created_label.isVisible()


def test_history_shows_whole_times_and_wraps_long_changes(
    qtbot: QtBot, pane: LeadDetailPane, db: Database, ids: dict[str, int]
) -> None:
    admin = process.current_user(db)
    process.move_stage(db, ids["lead0"], "telemarketing_acceptance", admin, NOW)
    pane.show_lead(ids["lead0"])
    click_tab(qtbot, pane, TAB_HISTORY)

    texts = pane.history_texts()
    assert texts[-1] == (
        "automatic",
        "stage Inquiry → Automated marketing qualification (first scored)",
    )
    assert_whole_text(qtbot, pane.history_tree)
    newest = pane.history_tree.topLevelItem(0)
    assert newest is not None
    assert newest.text(0) == "22 Nov 2026 12:00"
    assert newest.toolTip(0).startswith("22 Nov 2026 12:00")


def test_activity_shows_whole_names_and_wraps_long_details(
    qtbot: QtBot, pane: LeadDetailPane, db: Database, ids: dict[str, int]
) -> None:
    activities.log_activity(
        db,
        email="ana@acme.example",
        type_key="content_download",
        occurred_at=NOW - timedelta(hours=1),
        now=NOW,
        properties={"content": "Report: State of B2B marketing, lead scoring edition 2026"},
    )
    pane.show_lead(ids["lead0"])
    click_tab(qtbot, pane, TAB_ACTIVITY)

    first = pane.timeline.topLevelItem(0)
    assert first is not None and first.text(1) == "Content downloaded"
    assert "lead scoring edition 2026" in first.toolTip(2)
    assert_whole_text(qtbot, pane.timeline)


def test_the_score_chart_fits_the_tab_without_scrolling(
    qtbot: QtBot, pane: LeadDetailPane, ids: dict[str, int]
) -> None:
    pane.show_lead(ids["lead0"])
    click_tab(qtbot, pane, TAB_SCORE)
    panel = pane.score_panel
    qtbot.waitUntil(lambda: panel.canvas is not None and panel.canvas.isVisible())
    qtbot.wait(50)
    # A tab as short as the 1280x800 window leaves it: room for what the Score tab
    # needs at least, not for all it would like (the chart's preferred height).
    viewport = pane.score_scroll.viewport()
    host = pane.score_host
    needed = host.minimumSizeHint().height()
    assert host.sizeHint().height() > needed + 60
    pane.resize(PANE_WIDTH, pane.height() - (viewport.height() - needed - 30))
    qtbot.wait(100)
    assert needed <= viewport.height() < host.sizeHint().height()

    canvas = panel.canvas
    bottom = canvas.mapTo(viewport, QPoint(0, canvas.height())).y()
    assert bottom <= viewport.height()  # the x axis is in sight
    scrollbar = pane.score_scroll.verticalScrollBar()
    assert scrollbar is not None and scrollbar.maximum() == 0

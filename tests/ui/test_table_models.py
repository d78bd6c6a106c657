"""The lazy list models: Qt's model contract, on-demand paging, SQL sorting and search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from leaddesk.services import activities
from leaddesk.services.lists import LeadRow
from leaddesk.store.database import Database
from leaddesk.ui import table_models
from leaddesk.ui.qt import QItemSelectionModel, QPersistentModelIndex, Qt, QTableView
from leaddesk.ui.table_models import (
    ID_ROLE,
    LEAD_COLUMNS,
    AccountTableModel,
    ContactTableModel,
    LazyTableModel,
    LeadTableModel,
)
from tests.conftest import NOW

ASC = Qt.SortOrder.AscendingOrder
DESC = Qt.SortOrder.DescendingOrder


def names(model: LazyTableModel) -> list[str]:
    return [model.data(model.index(row, 0)) for row in range(model.rowCount())]


def _fake_lead(lead_id: int) -> LeadRow:
    return LeadRow(
        id=lead_id,
        name=f"Lead {lead_id:03d}",
        email=f"l{lead_id}@x.example",
        company="X",
        topic="t",
        score=lead_id % 50,
        stars=lead_id % 6,
        stage="inquiry",
        stage_label="Inquiry",
        owner=None,
        last_activity_at=None,
        status="open",
        sales_ready=False,
        source=None,
    )


class RowSpy:
    """Stands in for ``lead_rows``: fabricates rows and remembers which ids were asked."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, _db: Database, ids: Sequence[int]) -> dict[int, LeadRow]:
        self.calls.append(list(ids))
        return {i: _fake_lead(i) for i in ids}

    @property
    def fetched(self) -> set[int]:
        return {i for call in self.calls for i in call}


@pytest.fixture
def five_hundred(monkeypatch: pytest.MonkeyPatch) -> RowSpy:
    spy = RowSpy()
    monkeypatch.setattr(table_models, "lead_ids", lambda _db, _q: list(range(1, 501)))
    monkeypatch.setattr(table_models, "lead_rows", spy)
    return spy


@pytest.mark.parametrize("model_class", [LeadTableModel, ContactTableModel, AccountTableModel])
def test_models_keep_qt_contract_through_sort_and_search(
    qtmodeltester: ModelTester, small_desk: Database, model_class: type[LazyTableModel]
) -> None:
    model = model_class(small_desk, lambda: NOW)
    model.reload()
    assert model.rowCount() > 0
    qtmodeltester.check(model)
    model.sort(0, DESC)
    qtmodeltester.check(model)
    model.set_search("acme")
    assert 0 < model.rowCount() < 6
    qtmodeltester.check(model)
    model.set_search("no such thing at all")
    assert model.rowCount() == 0
    qtmodeltester.check(model)


def test_rows_are_fetched_a_page_at_a_time(
    qtbot: QtBot, qtmodeltester: ModelTester, five_hundred: RowSpy
) -> None:
    model = LeadTableModel(Database("sqlite://"), lambda: NOW)
    model.reload()
    assert model.rowCount() == 500
    assert five_hundred.calls == []  # knowing the ids costs no row fetch

    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: bool(five_hundred.fetched))  # painting asks for rows
    assert len(five_hundred.fetched) < 500
    assert max(len(call) for call in five_hundred.calls) <= LazyTableModel.PAGE_SIZE
    assert model.data(model.index(0, 0)) == "Lead 001"

    view.scrollToBottom()
    qtbot.waitUntil(lambda: 500 in five_hundred.fetched)
    assert len(five_hundred.fetched) < 500  # the middle was skipped
    qtmodeltester.check(model)


def test_the_row_cache_stays_bounded(five_hundred: RowSpy) -> None:
    model = LeadTableModel(Database("sqlite://"), lambda: NOW)
    model.CACHE_LIMIT = 200
    model.reload()
    for row in range(model.rowCount()):
        assert model.data(model.index(row, 0)) == f"Lead {row + 1:03d}"
    assert len(model._cache) <= 200
    calls_before = len(five_hundred.calls)
    assert model.data(model.index(499, 0)) == "Lead 500"  # recent rows are still cached
    assert len(five_hundred.calls) == calls_before


def test_id_role_answers_without_fetching(five_hundred: RowSpy) -> None:
    model = LeadTableModel(Database("sqlite://"), lambda: NOW)
    model.reload()
    assert model.data(model.index(321, 3), ID_ROLE) == 322
    assert five_hundred.calls == []


def test_sort_runs_the_query_again_and_orders_by_name(small_desk: Database) -> None:
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    model.sort(0, ASC)
    assert model.query.sort == "name" and not model.query.descending
    assert names(model) == sorted(names(model), key=str.lower)
    assert names(model)[0] == "Ana Souza"
    model.sort(0, DESC)
    assert names(model)[0] == "Eva Zimmer"
    model.sort(1, ASC)  # company
    companies = [model.data(model.index(r, 1)) for r in range(model.rowCount())]
    assert companies == ["Acme Tools"] * 3 + ["Globex"] * 2 + ["Initech"]


def test_sort_is_a_layout_change_that_keeps_the_selected_record(
    qtbot: QtBot, small_desk: Database
) -> None:
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    model.sort(0, ASC)
    selected = QPersistentModelIndex(model.index(0, 0))
    record_id = model.data(selected, ID_ROLE)
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.layoutChanged):
        model.sort(0, DESC)
    assert selected.row() == model.rowCount() - 1
    assert model.data(selected, ID_ROLE) == record_id


def test_refresh_rows_repaints_only_the_touched_rows(qtbot: QtBot, small_desk: Database) -> None:
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    model.sort(0, ASC)  # Ana, Ana, Bruno, Carla, Diego, Eva
    bruno = model.id_at(2)
    assert bruno is not None
    assert model.data(model.index(2, 7)) == ""  # never active
    activities.log_activity(
        small_desk,
        email="bruno@acme.example",
        type_key="call",
        occurred_at=NOW - timedelta(hours=3),
        now=NOW,
    )
    assert model.data(model.index(2, 7)) == ""  # cached until told
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.dataChanged) as sig:
        model.refresh_rows([bruno, 999_999])
    top_left, bottom_right = sig.args[0], sig.args[1]
    assert (top_left.row(), bottom_right.row()) == (2, 2)
    assert model.data(model.index(2, 7)) == "3 hours ago"


def test_lead_filter_and_search_combine(small_desk: Database) -> None:
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    contact = ContactTableModel(small_desk, lambda: NOW)
    contact.set_search("ana")
    contact.ensure_loaded()
    ana = contact.record(0)
    assert ana is not None and ana.name == "Ana Souza"
    model.set_filter(contact_id=ana.id)
    assert model.rowCount() == 2
    model.set_search("trial")
    assert [model.data(model.index(0, 2))] == ["Trial signup"]
    model.set_filter(contact_id=None, search="")
    assert model.rowCount() == 6


def test_cells_read_as_people_expect(small_desk: Database) -> None:
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    model.sort(0, ASC)
    row = 0  # Ana Souza, opened an e-mail 2 days ago and visited a page yesterday
    assert model.data(model.index(row, 4)) == "☆☆☆☆☆"
    assert model.data(model.index(row, 7)) == "yesterday"
    align = model.data(model.index(row, 3), Qt.ItemDataRole.TextAlignmentRole)
    assert align & Qt.AlignmentFlag.AlignRight
    assert "ana@acme.example" in model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
    assert model.headerData(3, Qt.Orientation.Horizontal) == "Score"


def test_selection_model_survives_search_reset(qtbot: QtBot, small_desk: Database) -> None:
    model = AccountTableModel(small_desk, lambda: NOW)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.ensure_loaded()
    view.selectionModel().setCurrentIndex(
        model.index(1, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    model.set_search("globex")
    assert model.rowCount() == 1
    globex = model.record(0)
    assert globex is not None and globex.name == "Globex"


def test_nearest_row_finds_the_users_place_after_rows_left(five_hundred: RowSpy) -> None:
    model = LeadTableModel(Database("sqlite://"), lambda: NOW)
    model.reload()
    before = model.ids()
    assert model.nearest_row(before, 10) == 10  # nothing left: same row
    model._remove_ids({11, 12, 13, 41})  # rows 10-12 and 40 (ids count from 1)
    assert model.nearest_row(before, 10) == 10  # the first lead below that stayed (#14)
    assert model.id_at(10) == 14
    assert model.nearest_row(before, 45) == 41  # rows above it left: it moved up
    model._remove_ids(set(range(490, 501)))
    assert model.nearest_row(before, 499) == model.rowCount() - 1  # nothing below: last
    model._remove_ids(set(before))
    assert model.nearest_row(before, 3) is None


def test_won_and_disqualified_leads_read_apart(
    qtmodeltester: ModelTester, small_desk: Database
) -> None:
    from leaddesk.services import process

    admin = process.current_user(small_desk)
    model = LeadTableModel(small_desk, lambda: NOW)
    model.reload()
    model.sort(0, ASC)
    won, lost, still_open = model.id_at(0), model.id_at(2), model.id_at(3)
    assert won is not None and lost is not None and still_open is not None
    process.win(small_desk, won, admin, NOW)
    process.disqualify(small_desk, lost, "No budget", admin, NOW)
    model.reload()
    qtmodeltester.check(model)
    stage = [c.sort_key for c in LEAD_COLUMNS].index("stage")

    def cell(lead_id: int, role: Qt.ItemDataRole, column: int = stage) -> object:
        row = model.row_of(lead_id)
        assert row is not None
        return model.data(model.index(row, column), role)

    display, tooltip = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
    colour = Qt.ItemDataRole.ForegroundRole
    assert str(cell(won, display)).startswith("Won · ")
    assert str(cell(lost, display)).startswith("Disqualified · ")
    assert not str(cell(still_open, display)).startswith(("Won", "Disqualified"))
    assert str(cell(won, tooltip)).startswith("Won (closed at the ")
    assert str(cell(lost, tooltip)).startswith("Disqualified (ruled out at the ")
    assert cell(won, colour) != cell(lost, colour)  # green and red, not the same grey
    assert cell(won, colour, 0) == cell(lost, colour, 0)  # both greyed elsewhere
    assert cell(still_open, colour, 0) is None


def test_lead_columns_open_in_the_order_a_queue_is_worked(small_desk: Database) -> None:
    keys = [c.sort_key for c in LEAD_COLUMNS]
    assert sorted(LeadTableModel.default_order) == sorted(keys)
    assert LeadTableModel.default_order[:5] == ("name", "company", "score", "stage", "owner")

"""The main window driven like a user would: search, sort, open, log, edit, filter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.services import process, records
from leaddesk.services.lists import LeadQuery, lead_ids
from leaddesk.services.process import Actor
from leaddesk.store.database import Database
from leaddesk.ui import main_window
from leaddesk.ui.assign_dialog import AssignDialog
from leaddesk.ui.log_activity_dialog import LogActivityDialog
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import QApplication, QLineEdit, QMessageBox, QPoint, Qt, QWidget
from tests.conftest import NOW
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]
LAST_ACTIVITY = 7


def lead_names(window: MainWindow) -> list[str]:
    model = window.leads_model
    return [model.data(model.index(row, 0)) for row in range(model.rowCount())]


def row_of_name(window: MainWindow, name: str) -> int:
    return lead_names(window).index(name)


def select_lead(qtbot: QtBot, window: MainWindow, row: int) -> int:
    window.leads_view.setCurrentIndex(window.leads_model.index(row, 0))
    lead_id = window.leads_model.id_at(row)
    qtbot.waitUntil(lambda: window.detail.lead_id == lead_id)
    assert lead_id is not None
    return lead_id


def text_field(window: MainWindow, key: str) -> QLineEdit:
    widget = window.detail.field(key).widget
    assert isinstance(widget, QLineEdit)
    return widget


def activate(qtbot: QtBot, window: MainWindow) -> None:
    """Shortcuts only fire in the active window; offscreen, activation must be asked for."""
    handle = window.windowHandle()
    assert handle is not None
    handle.requestActivate()
    qtbot.waitUntil(window.isActiveWindow)


def focus_inside(window: MainWindow, widget: QWidget) -> bool:
    focused = window.focusWidget()
    return focused is not None and (focused is widget or widget.isAncestorOf(focused))


def test_starts_on_the_leads_with_the_top_lead_shown(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    assert window.leads_model.rowCount() == 6
    assert window.search.placeholderText() == "Search name, e-mail, company, topic  (Ctrl+F)"
    qtbot.waitUntil(lambda: window.detail.lead_id == window.leads_model.id_at(0))
    assert window.counts_label.text() == (
        "6 leads shown · 6 leads · 0 sales-ready · 5 contacts · 3 accounts"
    )


def test_typing_a_search_narrows_the_list_after_a_pause(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    qtbot.keyClicks(window.search, "acme")
    assert window.leads_model.rowCount() == 6  # debounced: not yet
    qtbot.waitUntil(lambda: window.leads_model.rowCount() == 3)
    assert sorted(lead_names(window)) == ["Ana Souza", "Ana Souza", "Bruno Lima"]
    assert window.counts_label.text().startswith("3 leads shown · 6 leads")

    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    assert window.search.text() == ""
    qtbot.waitUntil(lambda: window.leads_model.rowCount() == 6)


def test_a_new_search_shows_its_results_from_the_top(
    qtbot: QtBot, make_window: MakeWindow, db: Database
) -> None:
    """Scrolled down a long list (here: sorting by name kept the top-scored lead in view,
    far down), a search starts at its first result, not wherever the old list was."""
    from leaddesk.services.demo import generate_demo

    generate_demo(db, leads=300, now=NOW)
    window = make_window(db)
    window.resize(1280, 800)
    view, bar = window.leads_view, window.leads_view.verticalScrollBar()
    keys = [c.sort_key for c in window.leads_model.columns]
    view.setCurrentIndex(window.leads_model.index(0, 0))
    view.sortByColumn(keys.index("name"), Qt.SortOrder.AscendingOrder)
    qtbot.waitUntil(lambda: bar.value() > 0)
    qtbot.keyClicks(window.search, "an")
    qtbot.waitUntil(lambda: window.leads_model.rowCount() < 300)
    assert window.leads_model.rowCount() > 50
    assert bar.maximum() > 0 and bar.value() == 0
    # Scrolled down this list, a search that changes nothing leaves the place alone.
    bar.setValue(bar.maximum() // 2)
    window.search.setText("an ")
    window._apply_search()
    assert bar.value() == bar.maximum() // 2


def test_sorting_by_header_reorders_the_names(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert lead_names(window) == [
        "Ana Souza",
        "Ana Souza",
        "Bruno Lima",
        "Carla Mendes",
        "Diego Ramos",
        "Eva Zimmer",
    ]
    header = window.leads_view.horizontalHeader()
    name_section = header.sectionViewportPosition(0) + header.sectionSize(0) // 2
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(name_section, header.height() // 2)
    )
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert lead_names(window)[0] == "Eva Zimmer"
    assert window.leads_model.query.sort == "name" and window.leads_model.query.descending


def test_enter_opens_the_selected_lead_and_focuses_its_form(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    activate(qtbot, window)
    window.leads_view.setFocus()
    carla_row = row_of_name(window, "Carla Mendes")
    window.leads_view.setCurrentIndex(window.leads_model.index(carla_row, 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Return)
    assert window.detail.lead_id == window.leads_model.id_at(carla_row)
    assert window.detail.name_label.text() == "Carla Mendes"
    assert text_field(window, "contact.email").text() == "carla@globex.example"
    assert focus_inside(window, window.detail)


def test_arrow_keys_move_and_the_pane_follows(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.setFocus()
    window.leads_view.setCurrentIndex(window.leads_model.index(0, 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Down)
    assert window.leads_view.currentIndex().row() == 1
    qtbot.waitUntil(lambda: window.detail.lead_id == window.leads_model.id_at(1))


def test_logging_an_activity_tops_the_timeline_and_updates_the_row(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    bruno_row = row_of_name(window, "Bruno Lima")
    select_lead(qtbot, window, bruno_row)
    assert window.leads_model.data(window.leads_model.index(bruno_row, LAST_ACTIVITY)) == ""

    dialog = window.log_activity()
    assert isinstance(dialog, LogActivityDialog)
    assert dialog.chosen_time() == NOW.replace(microsecond=0)
    dialog.set_type("Meeting held")
    dialog.set_time(NOW - timedelta(hours=2))
    dialog.set_property("subject", "Quarterly review")
    with qtbot.assertNotEmitted(window.leads_model.modelReset):
        dialog.accept()
    assert not dialog.isVisible()

    top = window.detail.timeline.topLevelItem(0)
    assert top is not None
    assert top.text(1) == "Meeting held"
    assert "Quarterly review" in top.text(2)
    assert "by Admin" in top.text(2)  # credited to the person at the desk
    assert window.detail.timeline_title.text() == "Activity (1)"
    cell = window.leads_model.index(bruno_row, LAST_ACTIVITY)
    assert window.leads_model.data(cell) == "2 hours ago"


def test_a_refused_activity_keeps_the_dialog_open_with_its_input(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    select_lead(qtbot, window, 0)
    before = window.detail.timeline.topLevelItemCount()
    dialog = window.log_activity()
    assert dialog is not None
    dialog.set_type("Telepathy session")
    dialog.set_property("url", "https://acme.example/x")
    dialog.accept()
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert "Telepathy session" in dialog.error_label.text()
    assert dialog.chosen_properties() == {"url": "https://acme.example/x"}
    assert window.detail.timeline.topLevelItemCount() == before
    dialog.reject()


def test_bad_email_and_negative_employees_are_shown_and_nothing_is_saved(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    lead_id = select_lead(qtbot, window, 0)  # Ana Souza of Acme Tools
    detail = window.detail
    contact_id = detail.detail.contact_id if detail.detail else None
    account_id = detail.detail.account_id if detail.detail else None
    assert contact_id is not None and account_id is not None

    first_name = text_field(window, "contact.first_name")
    email = text_field(window, "contact.email")
    employees = text_field(window, "account.employees")
    first_name.setText("Anabela")
    email.setText("not an e-mail")
    employees.setText("-5")
    assert detail.save_button.isEnabled()
    qtbot.mouseClick(detail.save_button, Qt.MouseButton.LeftButton)

    email_error = detail.field("contact.email").error
    employees_error = detail.field("account.employees").error
    assert email_error.isVisible() and "not a valid e-mail" in email_error.text()
    assert employees_error.isVisible() and "negative" in employees_error.text()
    assert not detail.field("contact.first_name").error.isVisible()
    # Typed values stay; the database is untouched.
    assert (first_name.text(), email.text(), employees.text()) == ("Anabela", "not an e-mail", "-5")
    assert records.get_contact(small_desk, contact_id)["first_name"] == "Ana"
    assert records.get_contact(small_desk, contact_id)["email"] == "ana@acme.example"
    assert records.get_account(small_desk, account_id)["employees"] == 120
    assert detail.lead_id == lead_id and detail.has_unsaved_changes()


def test_a_good_edit_is_saved_and_the_list_follows(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    select_lead(qtbot, window, 0)
    detail = window.detail
    text_field(window, "contact.first_name").setText("Anabela")
    text_field(window, "account.employees").setText("130")
    assert detail.save()
    assert not detail.has_unsaved_changes()
    contact_id = detail.detail.contact_id if detail.detail else None
    assert contact_id is not None
    assert records.get_contact(small_desk, contact_id)["first_name"] == "Anabela"
    assert lead_names(window)[:2] == ["Anabela Souza", "Anabela Souza"]
    assert detail.name_label.text() == "Anabela Souza"


def test_unsaved_edits_are_not_dropped_when_moving_on(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, message_boxes: MessageBoxes
) -> None:
    window = make_window(small_desk)
    first = select_lead(qtbot, window, 0)
    text_field(window, "contact.city").setText("Recife")

    message_boxes.answer = QMessageBox.StandardButton.Cancel
    window.leads_view.setCurrentIndex(window.leads_model.index(1, 0))
    qtbot.waitUntil(lambda: "question" in message_boxes.kinds())
    qtbot.waitUntil(lambda: window.leads_view.currentIndex().row() == 0)
    assert window.detail.lead_id == first
    assert text_field(window, "contact.city").text() == "Recife"

    message_boxes.answer = QMessageBox.StandardButton.Discard
    second = select_lead(qtbot, window, 1)
    assert second != first
    assert not window.detail.has_unsaved_changes()


def test_opening_a_contact_shows_its_leads_with_a_clearable_chip(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.show_tab(1)
    contacts = window.contacts_model
    assert contacts.rowCount() == 5
    ana_row = [contacts.data(contacts.index(r, 0)) for r in range(5)].index("Ana Souza")
    window.contacts_view.setCurrentIndex(contacts.index(ana_row, 0))
    qtbot.keyClick(window.contacts_view, Qt.Key.Key_Return)

    assert window.current_tab.key == "leads"
    assert lead_names(window) == ["Ana Souza", "Ana Souza"]
    assert window.filter_chip.isVisible()
    assert window.filter_chip.text() == "Leads of Ana Souza  ✕"
    ana_id = contacts.id_at(ana_row)
    assert set(window.leads_model._ids) == set(lead_ids(small_desk, LeadQuery(contact_id=ana_id)))

    qtbot.mouseClick(window.filter_chip, Qt.MouseButton.LeftButton)
    assert not window.filter_chip.isVisible()
    assert window.leads_model.rowCount() == 6


def test_opening_an_account_shows_the_leads_of_its_people(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.show_tab(2)
    accounts = window.accounts_model
    names = [accounts.data(accounts.index(r, 0)) for r in range(accounts.rowCount())]
    index = accounts.index(names.index("Acme Tools"), 0)
    qtbot.mouseDClick(
        window.accounts_view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=window.accounts_view.visualRect(index).center(),
    )
    assert window.lead_filter_label == "Leads of Acme Tools"
    assert sorted(lead_names(window)) == ["Ana Souza", "Ana Souza", "Bruno Lima"]


def test_layout_and_sort_survive_a_restart(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, settings_path: Path
) -> None:
    window = make_window(small_desk)
    window.leads_view.horizontalHeader().resizeSection(0, 222)
    window.leads_view.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # topic
    window.show_tab(1)
    window.close()
    assert settings_path.exists()

    again = make_window(small_desk)
    header = again.leads_view.horizontalHeader()
    assert header.sectionSize(0) == 222
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        2,
        Qt.SortOrder.DescendingOrder,
    )
    assert again.current_tab.key == "contacts"
    again.show_tab(0)
    topics = [again.leads_model.data(again.leads_model.index(r, 2)) for r in range(6)]
    assert topics == sorted(topics, key=str.lower, reverse=True)


def test_keyboard_shortcuts_reach_search_and_tabs(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    activate(qtbot, window)
    window.leads_view.setFocus()
    qtbot.keyClick(window.leads_view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.search
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)  # empty search: back to the list
    assert QApplication.focusWidget() is window.leads_view
    qtbot.keyClick(window.leads_view, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.current_tab.key == "accounts"
    # The desk's counts are read just after the first paint.
    qtbot.waitUntil(lambda: window.counts_label.text().startswith("3 accounts shown"))

    qtbot.keyClick(window.accounts_view, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    select_lead(qtbot, window, 0)
    qtbot.keyClick(window.leads_view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(LogActivityDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.reject()


def test_account_only_and_unlinked_leads_explain_themselves(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    acme = records.find_contact_id(small_desk, "ana@acme.example")
    assert acme is not None
    account_id = records.get_contact(small_desk, acme)["account_id"]
    account_only = records.create_lead(
        small_desk,
        contact_id=None,
        account_id=account_id,
        topic="Account-based campaign",
        source=None,
        now=NOW,
    )
    orphan = records.create_lead(
        small_desk, contact_id=None, account_id=None, topic="Walk-in", source=None, now=NOW
    )
    window = make_window(small_desk)
    detail = window.detail

    detail.show_lead(account_only)
    assert not detail.contact_group.isEnabled()
    assert detail.contact_note.isVisibleTo(window)
    assert not detail.log_button.isEnabled()
    assert detail.name_label.text() == "Acme Tools"

    detail.show_lead(orphan)
    assert detail.note_label.isVisibleTo(window)
    assert "cannot be scored" in detail.note_label.text()
    assert detail.account_group.isEnabled()


def test_about_names_version_and_database(
    make_window: MakeWindow, small_desk: Database, message_boxes: MessageBoxes
) -> None:
    window = make_window(small_desk)
    window.show_about()
    kind, _title, text = message_boxes.shown[-1]
    assert kind == "about"
    assert "0.1.0" in text and "desk.sqlite" in text


def test_the_window_checkpoints_the_wal_off_the_ui_thread(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checkpoints happen from the idle timer on a worker thread, never in a user's commit
    (store.database) and never blocking the window."""
    threads: list[threading.Thread] = []
    real = small_desk.checkpoint

    def checkpoint() -> tuple[int, int, int] | None:
        threads.append(threading.current_thread())
        return real()

    monkeypatch.setattr(small_desk, "checkpoint", checkpoint)
    monkeypatch.setattr(main_window, "CHECKPOINT_IDLE_MS", 10)
    make_window(small_desk)
    qtbot.waitUntil(lambda: bool(threads))
    assert threads[0] is not threading.main_thread()


# --- the highlighted row and the lead on screen stay the same lead -------------------------


def sales_acceptance_window(
    qtbot: QtBot, make_window: MakeWindow, db: Database, team: dict[str, Actor], count: int
) -> tuple[MainWindow, list[int]]:
    """The manager's Sales acceptance queue holding ``count`` leads (all Sam's, so Sales
    accepted can be ticked), sorted by name."""
    leads = lead_ids(db, LeadQuery(sort="name", descending=False))[:count]
    for lead in leads:
        process.mark(db, lead, "sales_ready", True, team["manager"], NOW)
    process.assign(db, leads, "Sam", team["manager"], NOW)
    window = make_window(db)
    window.set_actor(team["manager"])
    activate(qtbot, window)
    window.show_queue("sales_acceptance", focus=True)
    window.leads_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [window.leads_model.id_at(r) for r in range(count)] == leads
    return window, leads


def click_row(qtbot: QtBot, window: MainWindow, row: int, modifier: Any = None) -> None:
    view = window.leads_view
    point = view.visualRect(window.leads_model.index(row, 0)).center()
    if modifier is None:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    else:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, point)


def highlighted(window: MainWindow) -> list[int]:
    rows = window.leads_view.selectionModel().selectedRows()
    return sorted(index.row() for index in rows)


def test_when_the_lead_on_screen_leaves_the_queue_the_next_one_is_shown(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 4)
    click_row(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[1])
    name = window.detail.name_label.text()

    qtbot.mouseClick(window.detail.process.next_button, Qt.MouseButton.LeftButton)  # accepted
    assert window.leads_model.rowCount() == 3
    # The highlight stays at the same place, on the lead that followed...
    assert window.leads_view.currentIndex().row() == 1 and highlighted(window) == [1]
    assert window.selected_lead_id() == leads[2]
    # ...and the pane shows that lead, not the one that left.
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[2])
    assert window.statusBar().currentMessage() == f"{name} left the Sales acceptance queue."

    # The last row leaving lands on the new last row.
    click_row(qtbot, window, 2)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[3])
    qtbot.mouseClick(window.detail.process.next_button, Qt.MouseButton.LeftButton)
    assert highlighted(window) == [1] and window.selected_lead_id() == leads[2]
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[2])

    # The last lead leaving empties the list and the pane.
    for _ in range(2):
        qtbot.waitUntil(lambda: window.detail.process.next_button.isEnabled())
        qtbot.mouseClick(window.detail.process.next_button, Qt.MouseButton.LeftButton)
    assert window.leads_model.rowCount() == 0
    qtbot.waitUntil(lambda: window.detail.lead_id is None)
    assert window.selected_lead_id() is None and not window.log_action.isEnabled()


def test_assigning_and_accepting_several_leads_moves_highlight_and_pane_together(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 5)
    click_row(qtbot, window, 1)
    click_row(qtbot, window, 3, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[3])
    assert window.selected_lead_ids() == leads[1:4]

    qtbot.keyClick(
        window.leads_view,
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = next(d for d in window.findChildren(AssignDialog) if d.isVisible())
    dialog.accept_box.setChecked(True)
    qtbot.keyClick(dialog.people, Qt.Key.Key_Return)  # to Sam, who owns them already
    assert [window.leads_model.id_at(r) for r in range(2)] == [leads[0], leads[4]]
    # The highlighted lead left: the lead after it is highlighted, alone, and shown.
    assert highlighted(window) == [1] and window.selected_lead_id() == leads[4]
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[4])
    assert window.statusBar().currentMessage() == "Assigned 3 leads to Sam; 3 sales-accepted."


def test_assigning_without_leaving_keeps_the_selection(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 3)
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 1, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[1])
    dialog = window.assign_selected()
    assert dialog is not None
    qtbot.keyClick(dialog.people, Qt.Key.Key_Return)
    assert highlighted(window) == [0, 1] and window.detail.lead_id == leads[1]


def test_unsaved_edits_on_a_lead_that_left_are_not_dropped(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 2)
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[0])
    text_field(window, "contact.phone").setText("+1 555 0100")
    message_boxes.answer = QMessageBox.StandardButton.Cancel
    process.mark(small_desk, leads[0], "sales_accepted", True, team["manager"], NOW)
    window.refresh()  # F5: the lead left the queue while its edits wait
    qtbot.waitUntil(lambda: "question" in message_boxes.kinds())
    # The user stays with the edits: no other row pretends to be on screen.
    assert window.detail.lead_id == leads[0]
    assert window.selected_lead_id() is None and highlighted(window) == []


# --- the status bar -------------------------------------------------------------------------


def test_logging_says_the_type_as_labelled_and_counts_leads_properly(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    select_lead(qtbot, window, 0)
    dialog = window.log_activity()
    assert isinstance(dialog, LogActivityDialog)
    qtbot.keyClicks(dialog.type_combo.lineEdit(), "meeting")
    dialog.type_combo.setCurrentText("meeting")
    qtbot.mouseClick(
        dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    assert dialog.logged is not None
    count = len(dialog.logged.leads)
    noun = "lead" if count == 1 else "leads"
    assert window.statusBar().currentMessage() == (
        f"Logged Meeting held — {count} {noun} re-scored."
    )
    assert "(s)" not in window.statusBar().currentMessage()


# --- the lead list's columns ----------------------------------------------------------------


def test_owner_and_a_telling_stage_fit_the_list_at_1280(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    window.resize(1280, 800)
    window.splitter.setSizes(list(main_window.DEFAULT_SPLIT))
    qtbot.wait(10)
    view = window.leads_view
    header = view.horizontalHeader()
    keys = [column.sort_key for column in window.leads_model.columns]
    for key in ("name", "company", "score", "stage", "owner"):
        section = keys.index(key)
        assert header.sectionViewportPosition(section) + header.sectionSize(section) <= (
            view.viewport().width()
        ), key
    delegate = view.itemDelegateForColumn(keys.index("stage"))
    assert isinstance(delegate, main_window.StageDelegate)
    width = header.sectionSize(keys.index("stage")) - delegate.TEXT_MARGIN
    metrics = view.fontMetrics()
    short = {
        main_window.abbreviate(label, lambda t: metrics.horizontalAdvance(t) <= width)
        for label in ("Telemarketing acceptance", "Telemarketing qualification")
    }
    assert len(short) == 2 and all(metrics.horizontalAdvance(t) <= width for t in short)
    assert {text.split(" ")[-1] for text in short} == {"acceptance", "qualification"}


def test_moved_columns_survive_a_restart(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    header = window.leads_view.horizontalHeader()
    topic = [c.sort_key for c in window.leads_model.columns].index("topic")
    assert header.visualIndex(topic) == 5  # after name, company, score, stage, owner
    header.moveSection(header.visualIndex(topic), 1)
    header.resizeSection(topic, 150)
    window.close()

    again = make_window(small_desk).leads_view.horizontalHeader()
    assert (again.visualIndex(topic), again.sectionSize(topic)) == (1, 150)


def test_the_sort_arrow_points_the_way_the_list_runs(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    header = window.leads_view.horizontalHeader()
    assert isinstance(header, main_window.RecordHeader)
    score = [c.sort_key for c in window.leads_model.columns].index("score")
    window.leads_view.sortByColumn(score, Qt.SortOrder.DescendingOrder)
    scores = [window.leads_model.record(r).score for r in range(6)]  # type: ignore[union-attr]
    assert scores == sorted(scores, reverse=True)
    image = header.grab().toImage()
    left = header.sectionViewportPosition(score)
    right = left + header.sectionSize(score)
    dark = [
        (x, y)
        for x in range(right - 16, right - 2)
        for y in range(image.height())
        if image.pixelColor(x, y).lightness() < 100
    ]
    assert dark, "no arrow drawn"
    ys = sorted({y for _x, y in dark})
    widths = [sum(1 for _x, y in dark if y == row) for row in ys]
    assert widths[0] > widths[-1]  # wide at the top, a point at the bottom: pointing down
    # The label keeps clear of the arrow.
    label_right = max(
        (
            x
            for x in range(left, right - 16)
            for y in ys
            if image.pixelColor(x, y).lightness() < 100
        ),
        default=left,
    )
    assert min(x for x, _y in dark) - label_right >= 3


# --- assigning leads that already have an owner ---------------------------------------------


def test_assigning_says_whose_the_leads_are_and_asks_before_taking_them(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    process.add_user(small_desk, "Sol", "salesperson", team["admin"], NOW)
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 3)
    process.unassign(small_desk, leads[2], team["manager"], NOW)
    window.refresh()
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 2, Qt.KeyboardModifier.ShiftModifier)
    qtbot.mouseClick(window.assign_button, Qt.MouseButton.LeftButton)
    dialog = next(d for d in window.findChildren(AssignDialog) if d.isVisible())
    assert dialog.owners_label.text() == "2 of the 3 already have an owner: Sam (2)."

    dialog.choose("Sam")  # Sam already has them: nothing is taken from anyone
    assert not dialog.reassign_label.isVisible()
    dialog.choose("Sol")
    assert dialog.reassign_label.isVisible()
    assert "takes 2 leads from Sam" in dialog.reassign_label.text()

    message_boxes.answer = QMessageBox.StandardButton.Cancel
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.result is None  # back in the dialog
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("question", "Reassign leads?")
    assert "2 of the 3 leads already belong to someone else: Sam (2)" in text
    assert {window.leads_model.record(r).owner for r in range(2)} == {"Sam"}  # type: ignore[union-attr]

    message_boxes.answer = QMessageBox.StandardButton.No  # only the lead nobody has
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    owners = [window.leads_model.record(r).owner for r in range(3)]  # type: ignore[union-attr]
    assert owners == ["Sam", "Sam", "Sol"]
    assert window.statusBar().currentMessage() == ("Assigned 1 lead to Sol; 2 kept their owner.")

    dialog = window.assign_selected()
    assert dialog is not None
    assert dialog.owners_label.text() == "All 3 already have an owner: Sam (2), Sol (1)."
    dialog.choose("Sol")
    message_boxes.answer = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "All 2 leads" not in message_boxes.shown[-1][2]
    owners = [window.leads_model.record(r).owner for r in range(3)]  # type: ignore[union-attr]
    assert owners == ["Sol", "Sol", "Sol"]


def test_a_single_lead_with_an_owner_is_not_reassigned_silently(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    process.add_user(small_desk, "Sol", "salesperson", team["admin"], NOW)
    window, leads = sales_acceptance_window(qtbot, make_window, small_desk, team, 1)
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.detail.lead_id == leads[0])
    dialog = window.assign_lead_on_screen()
    assert dialog is not None
    assert dialog.owners_label.text() == "It belongs to Sam."
    assert dialog.chosen_name() == "Sam"  # its owner is preselected
    dialog.choose("Sol")
    message_boxes.answer = QMessageBox.StandardButton.No  # not offered: nothing else to give
    qtbot.keyClick(dialog.people, Qt.Key.Key_Return)
    assert message_boxes.shown[-1][2] == "This lead belongs to Sam. Give it to Sol instead?"
    assert dialog.isVisible()
    assert window.leads_model.record(0).owner == "Sam"  # type: ignore[union-attr]


def test_an_empty_queue_shows_an_empty_pane(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    qtbot.waitUntil(lambda: window.detail.lead_id is not None)
    window.show_queue("sales_acceptance", focus=True)
    assert window.leads_model.rowCount() == 0
    qtbot.waitUntil(lambda: window.detail.lead_id is None)
    window.show_queue("all", focus=True)
    qtbot.waitUntil(lambda: window.detail.lead_id == window.selected_lead_id() is not None)

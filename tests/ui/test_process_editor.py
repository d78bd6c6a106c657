"""The process editor: stages renamed, added with fields, removed with a previewed
migration of their leads; role stages stay; reasons and disqualification rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.services import process, records
from leaddesk.services.lists import LeadQuery, lead_ids
from leaddesk.services.process import Actor
from leaddesk.store.database import Database
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.process_editor import ProcessEditor
from leaddesk.ui.qt import QComboBox, QMessageBox, Qt
from tests.conftest import NOW
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]


@pytest.fixture
def people(small_desk: Database, now: datetime) -> dict[str, Actor]:
    admin = process.current_user(small_desk)
    process.add_user(small_desk, "Mia", "marketer", admin, now)
    process.add_user(small_desk, "Tina", "telemarketer", admin, now)
    return {
        "admin": admin,
        "marketer": process.resolve_actor(small_desk, "Mia"),
        "telemarketer": process.resolve_actor(small_desk, "Tina"),
    }


def open_editor(window: MainWindow) -> ProcessEditor:
    editor = window.edit_process()
    assert isinstance(editor, ProcessEditor) and editor.isVisible()
    return editor


def labels(db: Database) -> list[str]:
    return [s.label for s in process.stages(db)]


def test_rename_add_with_a_field_then_remove_with_a_previewed_migration(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    people: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    window = make_window(small_desk)
    window.set_actor(people["marketer"])
    window.detail.show_lead(window.leads_model.id_at(0))
    editor = open_editor(window)

    editor.rename_stage(0, "New inquiry")
    editor.select_stage("Automated marketing qualification")
    editor.add_stage("Nurture")
    editor.add_field("segment", "Segment", "choice", ["SMB", "Enterprise"])
    assert editor.fields_table.rowCount() == 1
    type_cell = editor.fields_table.cellWidget(0, 2)
    assert isinstance(type_cell, QComboBox) and type_cell.currentText() == "choice"
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("question", "Save the process?")
    assert "New stage: Nurture." in text and "Inquiry is renamed New inquiry." in text
    assert not editor.isVisible()
    assert labels(small_desk) == [
        "New inquiry",
        "Automated marketing qualification",
        "Nurture",
        "Telemarketing acceptance",
        "Telemarketing qualification",
        "Sales acceptance",
    ]
    nurture = process.stages(small_desk)[2]
    assert nurture.fields == (
        {"key": "segment", "label": "Segment", "type": "choice", "choices": ["SMB", "Enterprise"]},
    )
    assert window.detail.process.chevrons.stages[2].label == "Nurture"

    three = lead_ids(small_desk, LeadQuery(sort="name", descending=False))[:3]
    for lead in three:
        process.move_stage(small_desk, lead, "nurture", people["marketer"], NOW)
    editor = open_editor(window)
    editor.select_stage("Nurture")
    assert editor.remove_stage_button.isEnabled()
    qtbot.mouseClick(editor.remove_stage_button, Qt.MouseButton.LeftButton)
    assert "Nurture" not in [d.label for d in editor.drafts]
    _plan, lines = editor.preview()
    assert "3 leads in Nurture will move to Automated marketing qualification." in lines

    message_boxes.answer = QMessageBox.StandardButton.Cancel
    assert not editor.save()
    assert "Nurture" in labels(small_desk)  # nothing stored on Cancel
    message_boxes.answer = QMessageBox.StandardButton.Save
    assert editor.save()
    assert "3 leads in Nurture will move to" in message_boxes.shown[-1][2]
    assert "Nurture" not in labels(small_desk)
    for lead in three:
        assert records.get_lead_detail(small_desk, lead).lead["stage"] == (
            "automated_qualification"
        )


def test_role_stages_cannot_be_removed(
    make_window: MakeWindow, small_desk: Database, people: dict[str, Actor]
) -> None:
    window = make_window(small_desk)
    editor = open_editor(window)  # the desk's admin
    for label in labels(small_desk):
        editor.select_stage(label)
        assert not editor.remove_stage_button.isEnabled()
        assert "cannot be removed" in editor.remove_stage_button.toolTip()
    editor.select_stage("Sales acceptance")
    editor.remove_stage()  # called anyway: nothing happens
    assert len(editor.drafts) == 5
    editor.add_stage("Negotiation")
    assert editor.remove_stage_button.isEnabled()
    editor.reject()


def test_reasons_and_the_encharge_rules(
    make_window: MakeWindow, small_desk: Database, people: dict[str, Actor]
) -> None:
    window = make_window(small_desk)
    editor = open_editor(window)
    editor.tabs.setCurrentIndex(1)
    editor.add_reason("Budget frozen")
    editor.add_examples()
    editor.add_examples()  # not twice
    assert [r.name for r in editor.rules] == [
        "No e-mail opened in 60 days",
        "Student or unemployed",
    ]
    assert editor.condition.peek() is not None  # the student rule's condition is loaded
    assert editor.save()
    assert "Budget frozen" in process.disqualification_reasons(small_desk)
    rules = process.disqualification_rules(small_desk)
    assert [(r.name, r.inactive_days) for r in rules] == [
        ("No e-mail opened in 60 days", 60),
        ("Student or unemployed", None),
    ]


def test_every_activity_type_of_a_rule_is_in_view(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, people: dict[str, Actor]
) -> None:
    window = make_window(small_desk)
    editor = open_editor(window)
    editor.tabs.setCurrentIndex(1)
    types = editor.type_list
    qtbot.waitUntil(types.isVisible)
    viewport = types.viewport().rect()
    assert types.count() > 3
    for row in range(types.count()):
        assert viewport.contains(types.visualItemRect(types.item(row))), types.item(row).text()
    editor.reject()


def test_only_admins_and_marketers_edit_the_process(
    make_window: MakeWindow,
    small_desk: Database,
    people: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    window = make_window(small_desk)
    window.set_actor(people["telemarketer"])
    assert not window.edit_process_action.isEnabled()
    assert "cannot edit the process" in window.edit_process_action.toolTip()
    assert window.edit_process() is None
    assert message_boxes.kinds() == ["warning"]
    editor = ProcessEditor(small_desk, people["telemarketer"], clock=lambda: NOW, parent=window)
    editor.rename_stage(0, "Renamed")
    assert not editor.save()  # the service refuses; the reason is shown in the editor
    assert "cannot edit the process" in editor.error_label.text()
    assert labels(small_desk)[0] == "Inquiry"

"""*File → Export…*: the list as shown (queue, search, filter, sort) or everything, with
the delimiter and byte-order mark the user chose, written off the UI thread."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.store.database import Database
from leaddesk.ui import export_dialog
from leaddesk.ui.export_dialog import ExportDialog
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import QMessageBox, Qt
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]
BOM = b"\xef\xbb\xbf"


def search(qtbot: QtBot, window: MainWindow, text: str, rows: int) -> None:
    window.search.setText(text)
    model = window.current_tab.model
    qtbot.waitUntil(lambda: model.rowCount() == rows)


def export_to(qtbot: QtBot, dialog: ExportDialog, path: Path) -> None:
    dialog.path_edit.setText(str(path))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.written is not None)


def read_rows(path: Path, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig")), delimiter=delimiter))


def test_the_current_lead_list_as_shown(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    tmp_path: Path,
    message_boxes: MessageBoxes,
) -> None:
    window = make_window(small_desk)
    search(qtbot, window, "acme", 3)
    window.leads_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # name, Z to A
    shown = [window.leads_model.id_at(row) for row in range(3)]

    dialog = window.open_export()
    assert isinstance(dialog, ExportDialog) and dialog.isVisible()
    assert dialog.record_type == "leads"
    assert dialog.current_button.isChecked()
    assert dialog.current_button.text() == "The current list as shown (3 leads)"
    assert dialog.current_label.text() == "All leads · matching “acme” · sorted by Name, descending"
    assert dialog.everything_button.text() == "Everything (6 leads)"
    assert dialog.bom_check.isChecked() and dialog.delimiter_combo.currentData() == ","
    target = tmp_path / "acme-leads.csv"
    export_to(qtbot, dialog, target)

    assert target.read_bytes().startswith(BOM + b"id,email,")
    rows = read_rows(target)
    assert [int(row[0]) for row in rows[1:]] == shown
    assert {row[1] for row in rows[1:]} == {"ana@acme.example", "bruno@acme.example"}
    assert dialog.written == 3
    assert ("information", "Export", f"Wrote 3 leads to {target}.") in message_boxes.shown
    assert window.statusBar().currentMessage() == f"Exported 3 leads to {target}."
    assert not dialog.isVisible()
    assert not Path(f"{target}.part").exists()


def test_everything_with_semicolons_and_no_bom(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    window = make_window(small_desk)
    window.show_tab(1)
    search(qtbot, window, "globex", 2)
    dialog = window.open_export()
    assert dialog.record_type == "contacts"  # the tab on screen
    assert dialog.current_button.text() == "The current list as shown (2 contacts)"
    dialog.everything_button.setChecked(True)
    dialog.delimiter_combo.setCurrentIndex(dialog.delimiter_combo.findData(";"))
    dialog.bom_check.setChecked(False)
    target = tmp_path / "contacts.csv"
    export_to(qtbot, dialog, target)
    assert target.read_bytes().startswith(b"email;first_name;last_name;")
    rows = read_rows(target, ";")
    assert len(rows) == 1 + 5
    assert rows[1][0] == "ana@acme.example"


def test_the_current_contact_list_keeps_its_search_and_order(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    window = make_window(small_desk)
    window.show_tab(1)
    search(qtbot, window, "globex", 2)
    window.contacts_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    dialog = window.open_export()
    dialog.delimiter_combo.setCurrentIndex(dialog.delimiter_combo.findData(";"))
    target = tmp_path / "globex.csv"
    export_to(qtbot, dialog, target)
    assert target.read_bytes().startswith(BOM + b"email;")
    assert [row[0] for row in read_rows(target, ";")[1:]] == [
        "diego@globex.example",
        "carla@globex.example",
    ]


def test_activities_of_the_listed_leads_and_external_scores(
    make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    dialog = window.open_export()
    dialog.type_combo.setCurrentIndex(dialog.type_combo.findData("activities"))
    assert dialog.current_button.text() == "The activities of the leads in the current list"
    assert dialog.queries().keys() == {"lead_query"}
    dialog.type_combo.setCurrentIndex(dialog.type_combo.findData("scores"))
    assert not dialog.current_button.isEnabled() and dialog.everything_button.isChecked()
    assert dialog.queries() == {}
    assert dialog.path_edit.text().endswith("scores-2026-11-22.csv")


def test_an_existing_file_is_replaced_only_when_the_user_says_so(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    tmp_path: Path,
    message_boxes: MessageBoxes,
) -> None:
    target = tmp_path / "old.csv"
    target.write_text("keep me")
    window = make_window(small_desk)
    dialog = window.open_export()
    dialog.path_edit.setText(str(target))
    message_boxes.answer = QMessageBox.StandardButton.No
    assert dialog.export() is None
    assert target.read_text() == "keep me"
    message_boxes.answer = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.written == 6)
    assert len(read_rows(target)) == 7


def test_cancel_leaves_no_file_and_the_old_one_intact(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    tmp_path: Path,
    message_boxes: MessageBoxes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = threading.Event()
    release = threading.Event()
    real_export = export_dialog.export_csv

    def held_export(*args: Any, **kwargs: Any) -> int:
        written = real_export(*args, **kwargs)
        started.set()
        release.wait(10)
        return written

    monkeypatch.setattr(export_dialog, "export_csv", held_export)
    target = tmp_path / "leads.csv"
    target.write_text("the previous export")
    message_boxes.answer = QMessageBox.StandardButton.Yes
    window = make_window(small_desk)
    dialog = window.open_export()
    dialog.path_edit.setText(str(target))
    job = dialog.export()
    assert job is not None
    qtbot.waitUntil(started.is_set)
    assert Path(f"{target}.part").exists()
    dialog.reject()  # Cancel while writing
    assert dialog.isVisible()
    release.set()
    qtbot.waitUntil(lambda: dialog.job is None)
    assert dialog.written is None
    assert target.read_text() == "the previous export"
    assert not Path(f"{target}.part").exists()
    assert ("information", "Export", "Export cancelled; no file was written.") in (
        message_boxes.shown
    )


def test_progress_counts_the_rows_up_to_the_last(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    window = make_window(small_desk)
    dialog = window.open_export()
    dialog.everything_button.setChecked(True)
    dialog.path_edit.setText(str(tmp_path / "leads.csv"))
    job = dialog.export()
    assert job is not None
    seen: list[tuple[int, int]] = []
    job.progressed.connect(lambda done, total: seen.append((done, total)))
    qtbot.waitUntil(lambda: dialog.written is not None)
    assert dialog.written
    assert seen[-1] == (dialog.written, dialog.written)

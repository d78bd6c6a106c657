"""Start-up: the empty-desk welcome, demo data off the UI thread, failures, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.services import demo
from leaddesk.services.desk import is_empty
from leaddesk.services.lists import desk_counts
from leaddesk.store.database import Database
from leaddesk.ui.app import run_gui
from leaddesk.ui.demo_loading import DEFAULT_DEMO_LEADS, DemoDataDialog
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import QImage, Qt
from leaddesk.ui.screenshot import save_screenshot
from tests.conftest import NOW
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]


def test_start_empty_leaves_an_empty_desk(
    qtbot: QtBot, make_window: MakeWindow, db: Database
) -> None:
    window = make_window(db)
    assert window.leads_model.rowCount() == 0
    dialog = window.offer_demo_data()
    assert isinstance(dialog, DemoDataDialog)
    assert dialog.isVisible()
    assert dialog.lead_count() == DEFAULT_DEMO_LEADS
    assert dialog.other_button.text() == "Start empty"
    qtbot.mouseClick(dialog.other_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert window.demo_loader is None
    assert is_empty(db)
    assert window.leads_model.rowCount() == 0


def test_demo_data_loads_on_a_worker_and_the_lists_refresh(
    qtbot: QtBot, make_window: MakeWindow, db: Database
) -> None:
    window = make_window(db)
    dialog = window.offer_demo_data()
    dialog.count.setValue(20)
    qtbot.mouseClick(dialog.load_button, Qt.MouseButton.LeftButton)
    loader = window.demo_loader
    assert loader is not None
    assert loader.dialog.isVisible()
    with qtbot.waitSignal(loader.done, timeout=30_000):
        pass
    assert loader.outcome == "loaded", loader.error
    assert window.demo_loader is None
    assert window.leads_model.rowCount() == 20
    counts = desk_counts(db)
    assert counts.leads == 20
    assert window.counts_label.text().startswith("20 leads shown · 20 leads")
    qtbot.waitUntil(lambda: window.detail.lead_id == window.leads_model.id_at(0))


def test_the_demo_runs_on_a_worker_thread_with_its_own_database(
    qtbot: QtBot, make_window: MakeWindow, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def fake_load(
        worker_db: Database, *, leads: int, seed: int, now: object, progress: object
    ) -> object:
        seen.update(thread=threading.current_thread(), db=worker_db, leads=leads, now=now)
        assert callable(progress) and progress(1, 2) is True
        return demo.LoadedDemo(summary="summary", models=[], team_actions=0)  # type: ignore[arg-type]

    monkeypatch.setattr(demo, "load_demo", fake_load)
    window = make_window(db)
    loader = window.start_demo(123)
    assert loader is not None
    with qtbot.waitSignal(loader.done, timeout=10_000):
        pass
    assert loader.outcome == "loaded" and loader.summary == "summary"
    assert seen["thread"] is not threading.main_thread()
    assert seen["db"] is not db and isinstance(seen["db"], Database)
    assert (seen["leads"], seen["now"]) == (123, NOW)


def test_the_file_menu_offers_demo_data_on_a_full_desk_too(
    make_window: MakeWindow, small_desk: Database
) -> None:
    window = make_window(small_desk)
    dialog = window.load_demo_data()
    assert dialog is not None and dialog.isVisible()
    assert dialog.other_button.text() == "Cancel"
    dialog.reject()
    assert window.demo_loader is None


def test_cancelling_the_demo_keeps_nothing(
    qtbot: QtBot, make_window: MakeWindow, db: Database
) -> None:
    window = make_window(db)
    loader = window.start_demo(3000)
    assert loader is not None
    loader.cancel()
    with qtbot.waitSignal(loader.done, timeout=30_000):
        pass
    assert loader.outcome == "cancelled"
    assert is_empty(db)
    assert window.leads_model.rowCount() == 0


def test_a_database_that_cannot_be_opened_is_explained(
    qapp: object, tmp_path: Path, message_boxes: MessageBoxes
) -> None:
    status = run_gui(str(tmp_path), clock=lambda: NOW)  # a folder, not a database file
    assert status == 1
    [(kind, title, text)] = message_boxes.shown
    assert kind == "critical"
    assert title == "LeadDesk cannot open the database"
    assert "is a folder" in text and "Traceback" not in text


def test_screenshot_shows_the_window_with_a_lead(small_desk: Database, tmp_path: Path) -> None:
    target = tmp_path / "desk.png"
    save_screenshot(small_desk.url, str(target), size=(1000, 700), clock=lambda: NOW)
    image = QImage(str(target))
    assert (image.width(), image.height()) == (1000, 700)


@pytest.mark.slow
def test_starting_the_ui_does_not_import_matplotlib() -> None:
    probe = (
        "import sys; import leaddesk.ui.app, leaddesk.ui.screenshot; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.stdout.strip() == "False"

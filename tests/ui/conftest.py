"""UI fixtures: an isolated settings file, a window factory, and message boxes that
answer themselves (a modal box in a test would block the run forever)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.store.database import Database
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import QMessageBox, QSettings
from tests.conftest import NOW


@dataclass
class MessageBoxes:
    """Records every message box the code under test asked for, and answers ``question``
    with ``answer``."""

    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Save
    shown: list[tuple[str, str, str]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _title, _text in self.shown]


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> MessageBoxes:
    boxes = MessageBoxes()

    def recorder(kind: str) -> Callable[..., Any]:
        def show(
            _parent: object, title: str, text: str, *_args: object, **_kwargs: object
        ) -> QMessageBox.StandardButton:
            boxes.shown.append((kind, title, text))
            if kind == "question":
                return boxes.answer
            return QMessageBox.StandardButton.Ok

        return show

    for kind in ("question", "critical", "warning", "information", "about"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(recorder(kind)))
    return boxes


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "ui-settings.ini"


@pytest.fixture
def make_window(qtbot: QtBot, settings_path: Path) -> Iterator[Callable[[Database], MainWindow]]:
    """Opens a main window on a database with the test clock and isolated settings."""
    windows: list[MainWindow] = []

    def make(db: Database) -> MainWindow:
        settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
        window = MainWindow(db, clock=lambda: NOW, settings=settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.demo_loader is not None:
            window.demo_loader.wait()

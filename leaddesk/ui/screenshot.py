"""A picture of the main window, for the README and for bug reports.

Rendered offscreen with a throwaway settings file, so it looks the same on every machine
and leaves the user's window layout alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from leaddesk.services.desk import open_desk
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.qt import QApplication, QSettings


def save_screenshot(
    url: str, path: str, size: tuple[int, int] = (1280, 800), clock: Clock = utc_now
) -> None:
    """Open the window on ``url`` with the first lead that has a contact shown (a full
    lead, not an account-only one) and save it as a PNG."""
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from leaddesk.ui.app import application
    from leaddesk.ui.main_window import MainWindow

    app = application()
    opened = open_desk(url, clock())
    try:
        with tempfile.TemporaryDirectory(prefix="leaddesk-screenshot-") as scratch:
            settings = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
            window = MainWindow(opened.db, clock=clock, settings=settings)
            window.resize(*size)
            window.show()
            window.show_tab(0)
            row = first_row_with_contact(window)
            if row is not None:
                window.leads_view.setCurrentIndex(window.leads_model.index(row, 0))
                window.open_selected_lead()
                window.leads_view.setFocus()
            for _ in range(5):
                app.processEvents()
            image = window.grab()
            window.detail.revert()
            window.close()
            window.deleteLater()
            app.processEvents()
            del settings
        if not image.save(path, "PNG"):
            raise OSError(f"could not write the screenshot to {path}")
    finally:
        opened.db.dispose()


def first_row_with_contact(window: object, limit: int = 500) -> int | None:
    """The first row (of the first ``limit``) whose lead has a contact, else row 0."""
    model = window.leads_model  # type: ignore[attr-defined]
    rows = model.rowCount()
    for row in range(min(rows, limit)):
        record = model.record(row)
        if record is not None and record.email:
            return int(row)
    return 0 if rows else None

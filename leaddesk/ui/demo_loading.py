"""Loading demo data without freezing the window.

Generating thousands of leads takes seconds, so it runs on a worker thread with its own
``Database`` (a SQLAlchemy session must never cross threads; DESIGN §6), reports progress
to a dialog, and can be cancelled: the service then rolls its transaction back, leaving
the desk as it was.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from leaddesk.services.errors import ServiceError
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock
from leaddesk.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QObject,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    Qt,
    QThread,
    QVBoxLayout,
    QWidget,
    Signal,
    Slot,
)

DEFAULT_DEMO_LEADS = 2000
MAX_DEMO_LEADS = 1_000_000
PROGRESS_INTERVAL_S = 0.05


class DemoDataDialog(QDialog):
    """Asks how many demo leads to generate. On a new, empty desk it is the welcome
    screen and its other answer is "Start empty"; from the File menu it is "Cancel"."""

    def __init__(self, parent: QWidget | None = None, *, first_start: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to LeadDesk" if first_start else "Load demo data")
        if first_start:
            text = (
                "<b>This desk has no leads yet.</b><br><br>Load demo data to explore "
                "LeadDesk with realistic, made-up accounts, contacts, leads and activities, "
                "or start empty and add your own."
            )
        else:
            text = (
                "Adds made-up accounts, contacts, leads and activities to this desk. "
                "Your own records are left as they are."
            )
        message = QLabel(text)
        message.setWordWrap(True)
        self.count = QSpinBox()
        self.count.setRange(10, MAX_DEMO_LEADS)
        self.count.setSingleStep(500)
        self.count.setValue(DEFAULT_DEMO_LEADS)
        self.count.setGroupSeparatorShown(True)
        self.count.setSuffix(" leads")
        count_row = QHBoxLayout()
        count_label = QLabel("&How many:")
        count_label.setBuddy(self.count)
        count_row.addWidget(count_label)
        count_row.addWidget(self.count)
        count_row.addStretch(1)

        self.buttons = QDialogButtonBox()
        self.load_button = QPushButton("Load demo data")
        self.load_button.setDefault(True)
        self.other_button = QPushButton("Start empty" if first_start else "Cancel")
        self.buttons.addButton(self.load_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.other_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addLayout(count_row)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def lead_count(self) -> int:
        return self.count.value()


class DemoJob(QObject):
    """The worker: lives on its own thread, owns its own database connection."""

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, url: str, leads: int, now: datetime, seed: int = 7) -> None:
        super().__init__()
        self._url = url
        self._leads = leads
        self._now = now
        self._seed = seed
        self._stop = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        """Called from the UI thread; the generator sees it at its next progress report."""
        self._stop.set()

    def _progress(self, done: int, total: int) -> bool:
        moment = time.monotonic()
        # Throttled: a signal per generated lead would flood the UI thread's event queue.
        if done >= total or moment - self._last_report >= PROGRESS_INTERVAL_S:
            self._last_report = moment
            self.progressed.emit(done, total)
        return not self._stop.is_set()

    @Slot()
    def run(self) -> None:
        try:
            from leaddesk.services.demo import DemoCancelled, load_demo
        except ImportError:
            self.failed.emit("Demo data is not available in this version of LeadDesk.")
            return
        db: Database | None = None
        try:
            db = Database(self._url)
            summary = load_demo(
                db, leads=self._leads, seed=self._seed, now=self._now, progress=self._progress
            ).summary
        except DemoCancelled:
            self.cancelled.emit()
        except ServiceError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            # Nothing above this frame would report it: an exception escaping a worker
            # thread leaves the progress dialog up forever. Say what went wrong instead.
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(summary)
        finally:
            if db is not None:
                db.dispose()


class DemoLoader(QObject):
    """Runs a :class:`DemoJob` behind a progress dialog with Cancel.

    ``done`` fires once, on the UI thread, after the worker thread has ended; ``outcome``
    is then "loaded", "cancelled" or "failed" (with ``error``).
    """

    done = Signal()

    def __init__(self, url: str, leads: int, clock: Clock, parent: QWidget) -> None:
        super().__init__(parent)
        self.outcome: str | None = None
        self.error = ""
        self.summary: Any = None
        self._thread = QThread(self)
        self._job = DemoJob(url, leads, clock())
        self._job.moveToThread(self._thread)
        self._thread.started.connect(self._job.run)
        self._job.progressed.connect(self._on_progress)
        self._job.succeeded.connect(self._on_succeeded)
        self._job.failed.connect(self._on_failed)
        self._job.cancelled.connect(self._on_cancelled)

        self.dialog = QProgressDialog("Generating demo data…", "Cancel", 0, leads, parent)
        self.dialog.setWindowTitle("Load demo data")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.setValue(0)
        self.dialog.canceled.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.outcome is None

    def start(self) -> None:
        self._thread.start()
        self.dialog.show()

    def cancel(self) -> None:
        if self.running:
            self._job.cancel()
            self.dialog.setLabelText("Cancelling… nothing will be kept.")

    def wait(self) -> None:
        """Block until the worker thread ends (closing the window while it runs)."""
        self._job.cancel()
        self._thread.quit()
        self._thread.wait()

    def _on_progress(self, done: int, total: int) -> None:
        if not self.running or self._job_stopping():
            return
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setValue(min(done, total))
        percent = int(done * 100 / total) if total else 0
        self.dialog.setLabelText(f"Generating demo data… {percent}%")

    def _job_stopping(self) -> bool:
        return self.dialog.wasCanceled()

    def _on_succeeded(self, summary: Any) -> None:
        self.summary = summary
        self._finish("loaded")

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._finish("failed")

    def _on_cancelled(self) -> None:
        self._finish("cancelled")

    def _finish(self, outcome: str) -> None:
        self.outcome = outcome
        self._thread.quit()
        self._thread.wait()
        self.dialog.canceled.disconnect(self.cancel)
        self.dialog.close()
        self.dialog.deleteLater()
        self.done.emit()

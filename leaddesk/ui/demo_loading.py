"""Loading demo data without freezing the window.

Generating thousands of leads takes seconds, so it runs as a background job
(``ui.workers``: a worker thread with its own ``Database``, since a SQLAlchemy session must
never cross threads; DESIGN §6), reports progress to a dialog, and can be cancelled: the
service then rolls its transaction back, leaving the desk as it was.
"""

from __future__ import annotations

from typing import Any

from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock
from leaddesk.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QObject,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.workers import Job, Progress, error_text

DEFAULT_DEMO_LEADS = 2000
MAX_DEMO_LEADS = 1_000_000


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


class DemoLoader(QObject):
    """Loads demo data as a background :class:`~leaddesk.ui.workers.Job` (its own
    ``Database`` on its own thread, progress, Cancel) behind a dialog shown at once.

    ``done`` fires once, on the UI thread, after the worker thread has ended; ``outcome``
    is then "loaded", "cancelled" or "failed" (with ``error``, words for the user).
    """

    done = Signal()

    def __init__(self, url: str, leads: int, clock: Clock, parent: QWidget) -> None:
        super().__init__(parent)
        self.outcome: str | None = None
        self.error = ""
        self.summary: Any = None
        now = clock()

        def load(db: Database, progress: Progress) -> Any:
            from leaddesk.services import demo

            return demo.load_demo(db, leads=leads, seed=7, now=now, progress=progress).summary

        self._job: Job[Any] = Job(
            url,
            load,
            parent_widget=parent,
            title="Load demo data",
            label="Generating demo data…",
            on_done=self._on_loaded,
            on_error=self._on_failed,
            on_cancelled=self._on_cancelled,
        )
        dialog = self._job.progress_dialog
        assert dialog is not None
        dialog.setMinimumDuration(0)  # the user asked for it: show the dialog at once
        dialog.setMaximum(max(leads, 1))
        dialog.setValue(0)
        self.dialog = dialog
        self._job.progressed.connect(self._on_progress)
        self._job.finished.connect(self.done)

    @property
    def running(self) -> bool:
        return self.outcome is None

    def start(self) -> None:
        self._job.start()
        self.dialog.show()

    def cancel(self) -> None:
        self._job.cancel()

    def wait(self) -> None:
        """Cancel and block until the worker thread ends (closing the window meanwhile)."""
        self._job.cancel()
        self._job.wait()

    def _on_progress(self, done: int, total: int) -> None:
        if self._job.cancel_requested or self._job.progress_dialog is None:
            return
        percent = int(done * 100 / total) if total else 0
        self._job.progress_dialog.setLabelText(f"Generating demo data… {percent}%")

    def _on_loaded(self, summary: Any) -> None:
        self.summary = summary
        self.outcome = "loaded"

    def _on_failed(self, error: BaseException) -> None:
        self.error = error_text(error)
        self.outcome = "failed"

    def _on_cancelled(self) -> None:
        self.outcome = "cancelled"

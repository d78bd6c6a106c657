"""Running a service call off the UI thread, with progress and Cancel.

Re-scoring every lead after a model change takes seconds on a big desk, so the window must
stay responsive and the user must be able to change their mind. The rules (DESIGN §6):

* the worker builds its **own** ``Database(url)`` and disposes of it afterwards - a
  SQLAlchemy session never crosses threads;
* progress reaches the UI through queued signals, and the progress callback answers False
  once Cancel was pressed, which makes the service raise ``RescoreCancelled`` or another
  ``services.errors.Cancelled`` and undo its work, so a cancelled job changes nothing;
* whatever goes wrong ends as a readable message, never as a traceback or as a progress
  dialog left up forever.

A :class:`Job` reports once, on the UI thread, through ``finished`` after its thread has
ended; tests wait on that signal (``qtbot.waitSignal(job.finished)``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from leaddesk.domain.scoring_file import ScoringFileError
from leaddesk.services.errors import Cancelled, ServiceError, ValidationError
from leaddesk.services.scoring import RescoreCancelled
from leaddesk.store.database import Database
from leaddesk.ui.qt import (
    QApplication,
    QMessageBox,
    QObject,
    QProgressDialog,
    Qt,
    QThread,
    QWidget,
    Signal,
    Slot,
)

__all__ = [
    "CANCELLED_TEXT",
    "Job",
    "Progress",
    "error_text",
    "run_job",
    "show_error",
    "show_problems",
    "stop_all_jobs",
]

T = TypeVar("T")
Progress = Callable[[int, int], bool]
JobFunction = Callable[[Database, Progress], T]

CANCELLED_TEXT = "Cancelled; nothing was changed."
PROGRESS_INTERVAL_S = 0.05
"""Progress is throttled: a signal per lead would flood the UI thread's event queue."""
MAX_LISTED_PROBLEMS = 25

log = logging.getLogger(__name__)

# Jobs whose thread is still running. A QThread destroyed while running takes the whole
# program down, and nothing else may hold the last Python reference to a running job.
_RUNNING: set[Job[Any]] = set()


_quit_hook_installed = False


def _install_quit_hook() -> None:
    """On quit, cancel and wait for every job: a window may go away without a closeEvent
    (the application quits with it open), and a QThread destroyed while running aborts."""
    global _quit_hook_installed
    app = QApplication.instance()
    if _quit_hook_installed or app is None:
        return
    app.aboutToQuit.connect(stop_all_jobs)
    atexit.register(stop_all_jobs)  # scripts and tests that never run app.exec()
    _quit_hook_installed = True


def stop_all_jobs(timeout_ms: int = 30_000) -> None:
    for job in list(_RUNNING):
        job.cancel()
    for job in list(_RUNNING):
        job.wait(timeout_ms)


def error_text(error: BaseException) -> str:
    """Words a user can act on, for any exception a service call can end with."""
    if isinstance(error, ScoringFileError):
        lines = [str(p) for p in error.problems[:MAX_LISTED_PROBLEMS]]
        more = len(error.problems) - len(lines)
        if more > 0:
            lines.append(f"… and {more} more")
        return "\n".join(lines) or "The scoring file is not valid."
    if isinstance(error, ValidationError):
        return "\n".join(str(message) for message in error.errors.values()) or str(error)
    if isinstance(error, (RescoreCancelled, Cancelled)):
        return CANCELLED_TEXT
    if isinstance(error, ServiceError):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.strerror or 'could not access the file'}: {error.filename or ''}".strip()
    return f"Something went wrong ({type(error).__name__}: {error})."


def show_error(parent: QWidget | None, title: str, error: BaseException | str) -> None:
    text = error if isinstance(error, str) else error_text(error)
    QMessageBox.warning(parent, title, text)


def show_problems(parent: QWidget | None, title: str, heading: str, problems: list[str]) -> None:
    """Every problem on its own line, as a user fixing a JSON file by hand needs them."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(heading)
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(shown)
    listing = "\n".join(f"• {p}" for p in shown) + (f"\n… and {more} more" if more > 0 else "")
    box.setInformativeText(listing)
    if more > 0:
        box.setDetailedText("\n".join(problems))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.exec()


class _Worker(QObject):
    """Lives on the job's thread; everything it touches there is its own."""

    progressed = Signal(int, int)

    def __init__(self, url: str, fn: JobFunction[Any]) -> None:
        super().__init__()
        # Read by the UI thread only after the thread has finished.
        self.outcome: tuple[str, object] = ("failed", RuntimeError("the job ended silently"))
        self._url = url
        self._fn = fn
        self.stop = threading.Event()
        self._last_report = 0.0

    def _progress(self, done: int, total: int) -> bool:
        moment = time.monotonic()
        if done >= total or moment - self._last_report >= PROGRESS_INTERVAL_S:
            self._last_report = moment
            self.progressed.emit(done, total)
        return not self.stop.is_set()

    @Slot()
    def run(self) -> None:
        db: Database | None = None
        try:
            db = Database(self._url)
            if self.stop.is_set():
                raise RescoreCancelled()
            result = self._fn(db, self._progress)
        except (RescoreCancelled, Cancelled):
            self.outcome = ("cancelled", None)
        except (ServiceError, ScoringFileError, ValueError, OSError) as exc:
            self.outcome = ("failed", exc)
        except Exception as exc:
            # An exception escaping a worker thread is reported nowhere; log it for the
            # developer and hand the user a message instead.
            log.exception("background job failed")
            self.outcome = ("failed", exc)
        else:
            self.outcome = ("succeeded", result)
        finally:
            if db is not None:
                db.dispose()
            # Ended from inside: ``Job.wait`` on the UI thread must not depend on the UI
            # thread's event loop delivering a quit() (it would wait for itself).
            thread = self.thread()
            if thread is not None:
                thread.quit()


class Job(QObject, Generic[T]):
    """One background service call. Signals arrive on the UI thread.

    ``finished`` fires exactly once, after the worker thread has ended; ``outcome`` is then
    "succeeded" (``result`` set), "cancelled" or "failed" (``error`` set).
    """

    progressed = Signal(int, int)
    finished = Signal()

    def __init__(
        self,
        url: str,
        fn: JobFunction[T],
        *,
        parent_widget: QWidget | None = None,
        title: str = "",
        label: str = "",
        show_progress: bool = True,
        report: bool = True,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.title = title
        self.outcome: str | None = None
        self.result: T | None = None
        self.error: BaseException | None = None
        self._parent_widget = parent_widget
        self._report = report
        self._on_done = on_done
        self._on_error = on_error
        self._on_cancelled = on_cancelled
        self._thread = QThread()
        self._worker = _Worker(url, fn)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self._on_progress)
        self._thread.finished.connect(self._on_thread_finished)
        self.progress_dialog: QProgressDialog | None = None
        if show_progress:
            dialog = QProgressDialog(label or "Working…", "Cancel", 0, 0, parent_widget)
            dialog.setWindowTitle(title or "LeadDesk")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            # Quick jobs (a small desk) finish before a dialog would merely flash.
            dialog.setMinimumDuration(400)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.canceled.connect(self.cancel)
            self.progress_dialog = dialog

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def cancel_requested(self) -> bool:
        return self._worker.stop.is_set()

    def start(self) -> Job[T]:
        _install_quit_hook()
        _RUNNING.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Safe from the UI thread at any time; the service sees it at its next report."""
        self._worker.stop.set()
        if self.progress_dialog is not None and self.running:
            self.progress_dialog.setLabelText("Cancelling… nothing will be changed.")

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread ends (closing a window while a job runs)."""
        if self._thread.isRunning():
            return bool(self._thread.wait(timeout_ms))
        return True

    def _on_progress(self, done: int, total: int) -> None:
        self.progressed.emit(done, total)
        dialog = self.progress_dialog
        if dialog is None or self.cancel_requested:
            return
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, total))

    def _on_thread_finished(self) -> None:
        outcome, payload = self._worker.outcome
        self.outcome = outcome
        if outcome == "succeeded":
            self.result = payload  # type: ignore[assignment]
        elif outcome == "failed":
            self.error = payload if isinstance(payload, BaseException) else None
        if self.progress_dialog is not None:
            self.progress_dialog.canceled.disconnect(self.cancel)
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        try:
            self._deliver()
        finally:
            _RUNNING.discard(self)
            self.finished.emit()

    def _deliver(self) -> None:
        if self.outcome == "succeeded":
            if self._on_done is not None:
                self._on_done(self.result)  # type: ignore[arg-type]
        elif self.outcome == "cancelled":
            if self._on_cancelled is not None:
                self._on_cancelled()
            elif self._report:
                QMessageBox.information(
                    self._parent_widget, self.title or "LeadDesk", CANCELLED_TEXT
                )
        else:
            error = self.error or RuntimeError("unknown error")
            if self._on_error is not None:
                self._on_error(error)
            elif self._report:
                show_error(self._parent_widget, self.title or "LeadDesk", error)


def run_job(
    parent: QWidget | None,
    title: str,
    fn: JobFunction[T],
    url: str,
    on_done: Callable[[T], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    *,
    label: str = "Re-scoring leads…",
    on_cancelled: Callable[[], None] | None = None,
    show_progress: bool = True,
    report: bool = True,
) -> Job[T]:
    """Start ``fn(db, progress)`` on a worker thread behind a progress dialog with Cancel.

    Without ``on_error``/``on_cancelled`` the job reports failures and cancellation itself
    ("Cancelled; nothing was changed.") unless ``report`` is False (silent previews).
    """
    job: Job[T] = Job(
        url,
        fn,
        parent_widget=parent,
        title=title,
        label=label,
        show_progress=show_progress,
        report=report,
        on_done=on_done,
        on_error=on_error,
        on_cancelled=on_cancelled,
    )
    return job.start()

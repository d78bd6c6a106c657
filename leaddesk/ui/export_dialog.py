"""*File → Export…*: a list as it is shown, or everything, to a CSV file.

"The current list" is the list's own query (its queue, search, contact or account filter
and sort), handed to ``export_csv``, so the file holds exactly the rows on screen in the
same order. The file is UTF-8 with a byte-order mark unless the user says otherwise, so
Excel opens accents correctly, and the delimiter is the user's (Excel in Brazil wants
semicolons).

The export runs on a worker thread behind a progress dialog (rows written of rows to
write, and the megabytes so far) whose Cancel stops ``export_csv`` within a few thousand
rows. The rows go to a temporary file next to the target, which replaces the target only
when the export completed, so a cancelled export leaves no file and never half-overwrites
an old one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from leaddesk.services.exporting import ExportCancelled, export_csv
from leaddesk.services.lists import (
    AccountQuery,
    ContactQuery,
    LeadQuery,
    account_ids,
    contact_ids,
    desk_counts,
    lead_ids,
)
from leaddesk.store.database import Database
from leaddesk.ui.display import RECORD_NOUNS, format_count
from leaddesk.ui.qt import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.workers import Job, run_job

__all__ = ["EXPORT_TYPES", "CurrentList", "ExportDialog"]

EXPORT_TYPES: dict[str, str] = {
    "leads": "Leads",
    "contacts": "Contacts",
    "accounts": "Accounts",
    "activities": "Activities",
    "scores": "External scores",
}
DELIMITERS = ((",", "Comma  ,"), (";", "Semicolon  ;"), ("\t", "Tab"))
MUTED = "color: palette(placeholder-text);"
SIZE_POLL_MS = 250
PART_SUFFIX = ".part"


@dataclass(frozen=True)
class CurrentList:
    """One list as the window shows it: its query (``LeadQuery``, ``ContactQuery`` or
    ``AccountQuery``), how to say what it is, and how many rows it has (None when the
    list was never opened)."""

    query: LeadQuery | ContactQuery | AccountQuery
    description: str
    count: int | None = None


def _plural(count: int, nouns: tuple[str, str]) -> str:
    return f"{format_count(count)} {nouns[0] if count == 1 else nouns[1]}"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


class ExportDialog(QDialog):
    """``exported(count, path, record_type)`` after the file is written. Non-blocking
    (``open()``)."""

    exported = Signal(int, str, str)

    def __init__(
        self,
        db: Database,
        *,
        lists: Mapping[str, CurrentList],
        record_type: str = "leads",
        folder: str = "",
        today: date | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._lists = dict(lists)
        self._folder = folder or str(Path.home())
        self._today = today or date.today()
        self._counts: dict[str, int | None] = {}
        self._suggested = ""
        self._confirmed = ""  # a path the file dialog already asked about overwriting
        self.job: Job[Any] | None = None
        self.written: int | None = None
        self.path = ""
        self._part = Path()
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)

        self.type_combo = QComboBox()
        self.type_combo.setObjectName("export_type")
        self.type_combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        for key, label in EXPORT_TYPES.items():
            self.type_combo.addItem(label, key)
        self.current_button = QRadioButton()
        self.current_button.setObjectName("export_current")
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)
        self.current_label.setStyleSheet(MUTED)
        self.current_label.setContentsMargins(22, 0, 0, 4)
        self.everything_button = QRadioButton()
        self.everything_button.setObjectName("export_everything")
        group = QButtonGroup(self)
        group.addButton(self.current_button)
        group.addButton(self.everything_button)
        rows = QVBoxLayout()
        rows.setSpacing(2)
        rows.addWidget(self.current_button)
        rows.addWidget(self.current_label)
        rows.addWidget(self.everything_button)

        self.delimiter_combo = QComboBox()
        self.delimiter_combo.setObjectName("export_delimiter")
        for value, label in DELIMITERS:
            self.delimiter_combo.addItem(label, value)
        self.bom_check = QCheckBox("UTF-8 with BOM (for Excel)")
        self.bom_check.setObjectName("export_bom")
        self.bom_check.setChecked(True)
        self.bom_check.setToolTip(
            "Without the byte-order mark, Excel on Windows reads UTF-8 as Windows-1252 and "
            "garbles accents"
        )
        format_row = QHBoxLayout()
        format_row.addWidget(self.delimiter_combo)
        format_row.addSpacing(12)
        format_row.addWidget(self.bom_check)
        format_row.addStretch(1)

        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("export_path")
        self.path_edit.textEdited.connect(lambda *_a: self._path_typed())
        self.path_edit.textChanged.connect(lambda *_a: self._update_button())
        self.choose_button = QPushButton("&Choose…")
        self.choose_button.clicked.connect(self.choose_file)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.choose_button)

        form = QFormLayout()
        form.addRow("E&xport:", self.type_combo)
        form.addRow("Rows:", rows)
        for text, buddy, row in (
            ("&Delimiter:", self.delimiter_combo, format_row),
            ("&File:", self.path_edit, path_row),
        ):
            caption = QLabel(text)
            caption.setBuddy(buddy)
            form.addRow(caption, row)

        self.buttons = QDialogButtonBox()
        self.export_button = QPushButton("&Export")
        self.export_button.setObjectName("export_button")
        self.export_button.setDefault(True)
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(6)
        layout.addWidget(self.buttons)

        self._size_timer = QTimer(self)
        self._size_timer.setInterval(SIZE_POLL_MS)
        self._size_timer.timeout.connect(self._show_size)

        self.type_combo.currentIndexChanged.connect(lambda *_a: self._type_changed())
        index = self.type_combo.findData(record_type)
        self.type_combo.setCurrentIndex(max(index, 0))
        self._type_changed()

    # --- what is exported ----------------------------------------------------------------

    @property
    def record_type(self) -> str:
        return str(self.type_combo.currentData())

    def _current_list(self, record_type: str) -> CurrentList | None:
        if record_type == "activities":
            return self._lists.get("leads")
        return self._lists.get(record_type)

    def _type_changed(self) -> None:
        record_type = self.record_type
        nouns = RECORD_NOUNS[record_type]
        current = self._current_list(record_type)
        if current is None:
            self.current_button.setText("The current list")
            self.current_label.setText(f"{EXPORT_TYPES[record_type]} have no list in the window.")
            self.current_button.setEnabled(False)
            self.everything_button.setChecked(True)
        else:
            count = self._count_of(record_type, current)
            if record_type == "activities":
                leads = "" if count is None else f"{_plural(count, RECORD_NOUNS['leads'])}: "
                self.current_button.setText("The activities of the leads in the current list")
                self.current_label.setText(f"{leads}{current.description}")
            else:
                shown = "" if count is None else f" ({_plural(count, nouns)})"
                self.current_button.setText(f"The current list as shown{shown}")
                self.current_label.setText(current.description)
            self.current_button.setEnabled(True)
            self.current_button.setChecked(True)
        total = self._total(record_type)
        self.everything_button.setText(
            f"Everything ({_plural(total, nouns)})" if total is not None else "Everything"
        )
        self._suggest_path()

    def _count_of(self, record_type: str, current: CurrentList) -> int | None:
        if current.count is not None:
            return current.count
        query = current.query
        if isinstance(query, LeadQuery):
            return len(lead_ids(self._db, query))
        if isinstance(query, ContactQuery):
            return len(contact_ids(self._db, query))
        return len(account_ids(self._db, query))

    def _total(self, record_type: str) -> int | None:
        if not self._counts:
            counts = desk_counts(self._db)
            self._counts = {
                "leads": counts.leads,
                "contacts": counts.contacts,
                "accounts": counts.accounts,
            }
        return self._counts.get(record_type)

    def queries(self) -> dict[str, Any]:
        """The ``export_csv`` keywords for the rows chosen."""
        if not self.current_button.isChecked():
            return {}
        current = self._current_list(self.record_type)
        if current is None:
            return {}
        query = current.query
        if isinstance(query, LeadQuery):
            return {"lead_query": query}
        if isinstance(query, ContactQuery):
            return {"contact_query": query}
        return {"account_query": query}

    # --- where it goes -------------------------------------------------------------------

    def _suggest_path(self) -> None:
        text = self.path_edit.text().strip()
        if text and text != self._suggested:
            return  # the user's own choice stays
        name = f"{self.record_type}-{self._today.isoformat()}.csv"
        self._suggested = str(Path(self._folder) / name)
        self.path_edit.setText(self._suggested)

    def _path_typed(self) -> None:
        self._confirmed = ""

    def choose_file(self) -> str:
        chosen, _filter = QFileDialog.getSaveFileName(
            self,
            f"Export {EXPORT_TYPES[self.record_type].lower()}",
            self.path_edit.text().strip() or self._folder,
            "CSV files (*.csv);;Text files (*.txt);;All files (*)",
        )
        if chosen:
            if not Path(chosen).suffix:
                chosen += ".csv"
            self.path_edit.setText(chosen)
            self._confirmed = chosen
        return chosen

    def _update_button(self) -> None:
        self.export_button.setEnabled(bool(self.path_edit.text().strip()) and self.job is None)

    # --- exporting -----------------------------------------------------------------------

    def export(self) -> Job[Any] | None:
        """Write the file in the background; the dialog closes when it is written."""
        if self.job is not None:
            return None
        text = self.path_edit.text().strip()
        if not text:
            text = self.choose_file()
            if not text:
                return None
        target = Path(text).expanduser()
        if target.is_dir():
            QMessageBox.warning(self, "Export", f"{target} is a folder; give a file name.")
            return None
        if target.exists() and str(target) != self._confirmed:
            answer = QMessageBox.question(
                self,
                "Export",
                f"{target.name} already exists. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        record_type = self.record_type
        delimiter = str(self.delimiter_combo.currentData())
        bom = self.bom_check.isChecked()
        queries = self.queries()
        part = target.with_name(target.name + PART_SUFFIX)
        self.path = str(target)
        self._part = part

        def write(db: Database, progress: Callable[[int, int], bool]) -> int:
            try:
                count = export_csv(
                    db,
                    record_type,
                    part,
                    delimiter=delimiter,
                    bom=bom,
                    progress=progress,
                    **queries,
                )
                if not progress(count, count):  # cancelled after the last row
                    raise ExportCancelled("export cancelled")
                os.replace(part, target)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            return count

        nouns = RECORD_NOUNS[record_type]
        self.job = run_job(
            self,
            "Export",
            write,
            self._db.url,
            on_done=self._written,
            on_cancelled=self._cancelled,
            label=f"Exporting {nouns[1]} to {target.name}…",
        )
        self.job.finished.connect(self._job_ended)
        self._update_button()
        self._size_timer.start()
        return self.job

    def _show_size(self) -> None:
        job = self.job
        if job is None or job.progress_dialog is None or job.cancel_requested:
            return
        try:
            size = self._part.stat().st_size
        except OSError:
            return
        job.progress_dialog.setLabelText(
            f"Exporting {RECORD_NOUNS[self.record_type][1]} to {Path(self.path).name}… "
            f"{_megabytes(size)} written"
        )

    def _job_ended(self) -> None:
        self._size_timer.stop()
        self.job = None
        self._update_button()

    def _written(self, count: int) -> None:
        self.written = count
        self.exported.emit(count, self.path, self.record_type)
        QMessageBox.information(
            self,
            "Export",
            f"Wrote {_plural(count, RECORD_NOUNS[self.record_type])} to {self.path}.",
        )
        self.accept()

    def _cancelled(self) -> None:
        QMessageBox.information(self, "Export", "Export cancelled; no file was written.")

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()
            return
        super().reject()

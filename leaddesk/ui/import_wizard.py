"""The import wizard: a spreadsheet into the desk in five steps (issue 5, DESIGN §5.1).

1. the file and what it holds (accounts, contacts, leads, activities, external scores);
2. how it is written - encoding, delimiter and date order as detected, each overridable,
   with the first rows shown live as they will be read;
3. which field each column fills - LeadDesk's guesses in italics, every one changeable -
   how rows find the records they update, and the options;
4. the whole file checked in a dry run (rows OK, rows with problems and why, records to
   create and to update), and the choice between importing the good rows and refusing
   the file;
5. the import itself, with progress and Cancel, then the report.

Everything that reads the whole file (the first detection, the dry run, the import) runs
on a worker thread with its own ``Database`` (``workers.Job``); the live preview of page 2
reads twenty rows with the options already chosen, which is instant, so it runs on the
UI thread. A cancelled import is rolled back by the service: nothing is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leaddesk.domain import csv_format as fmt
from leaddesk.domain.matching import (
    DEFAULT_MATCH,
    MATCHABLE,
    MatchSpecError,
    describe_match,
    parse_match,
)
from leaddesk.services.errors import ServiceError
from leaddesk.services.importing import (
    ColumnInfo,
    ImportCancelled,
    ImportFileError,
    ImportRefused,
    ImportReport,
    Preview,
    Problem,
    RejectedRow,
    import_csv,
    preview_csv,
    resolve_columns,
    write_rejects,
)
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import ERROR_COLOUR, RECORD_NOUNS, format_count
from leaddesk.ui.qt import (
    QAbstractItemView,
    QAbstractTableModel,
    QButtonGroup,
    QCheckBox,
    QColor,
    QComboBox,
    QFileDialog,
    QFont,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QModelIndex,
    QPersistentModelIndex,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QStackedWidget,
    Qt,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
    Signal,
)
from leaddesk.ui.workers import Job, error_text

__all__ = [
    "IMPORT_SUFFIXES",
    "RECORD_TYPE_LABELS",
    "ImportWizard",
    "PreviewModel",
    "ProblemsModel",
    "guess_record_type",
    "parse_match_text",
]

IMPORT_SUFFIXES = (".csv", ".txt")
PREVIEW_ROWS = 20
WIZARD_SIZE = (940, 660)
MUTED = "color: palette(placeholder-text);"
PROBLEM_BACKGROUND = "#fdecea"
IGNORE = "-"

RECORD_TYPE_LABELS: dict[str, str] = {
    "contacts": "Contacts",
    "accounts": "Accounts",
    "leads": "Leads",
    "activities": "Activities",
    "scores": "External scores",
}
RECORD_TYPE_HINTS: dict[str, str] = {
    "contacts": "people, one per e-mail address; their company is linked or created",
    "accounts": "companies; found by domain, else by name",
    "leads": "interest in a topic; a new e-mail address creates its contact",
    "activities": "what contacts did (opened, visited, called), with when; re-scores their leads",
    "scores": "scores another tool computed (e-mail or lead id, model, score, updated at)",
}
ENCODINGS = (
    (fmt.UTF8, "UTF-8"),
    (fmt.UTF8_BOM, "UTF-8 with BOM"),
    (fmt.CP1252, "Windows-1252"),
    (fmt.LATIN1, "Latin-1 (ISO 8859-1)"),
)
DELIMITERS = ((",", "Comma  ,"), (";", "Semicolon  ;"), ("\t", "Tab"), ("|", "Pipe  |"))
DATE_ORDERS: tuple[tuple[fmt.DateOrder | None, str], ...] = (
    (None, "Automatic"),
    (fmt.DateOrder.DAY_FIRST, "Day first (22/11/2026)"),
    (fmt.DateOrder.MONTH_FIRST, "Month first (11/22/2026)"),
)
_FILE_NAME_TYPES = (
    ("score", "scores"),
    ("contact", "contacts"),
    ("contat", "contacts"),
    ("people", "contacts"),
    ("pessoa", "contacts"),
    ("activit", "activities"),
    ("atividade", "activities"),
    ("actividad", "activities"),
    ("event", "activities"),
    ("lead", "leads"),
    ("oportunidade", "leads"),
    ("account", "accounts"),
    ("compan", "accounts"),
    ("empresa", "accounts"),
    ("conta", "accounts"),
    ("cuenta", "accounts"),
)


def guess_record_type(path: str | Path, default: str = "contacts") -> str:
    """What a file probably holds, from its name (``contatos.csv`` → contacts)."""
    name = fmt.normalise_header(Path(path).stem)
    for word, record_type in _FILE_NAME_TYPES:
        if word in name:
            return record_type
    return default


def field_label(field: str) -> str:
    return field.replace("_", " ")


def _plural(count: int, nouns: tuple[str, str]) -> str:
    return f"{format_count(count)} {nouns[0] if count == 1 else nouns[1]}"


def _rows_word(count: int) -> str:
    return _plural(count, ("row", "rows"))


# --- the match strategy as typed --------------------------------------------------------

_ALTERNATIVES = re.compile(r";|\||\belse\b", re.IGNORECASE)
_PARTS = re.compile(r"[+,&]")


def parse_match_text(text: str, record_type: str) -> list[str]:
    """``"domain, else name"`` or ``"email + topic; account + topic"`` → the service's
    ``match`` (``["domain", "name"]``, ``["email,topic", "account,topic"]``). Raises
    MatchSpecError with the service's words for an unknown field."""
    alternatives = []
    for part in _ALTERNATIVES.split(text):
        fields = [f.strip().lower().replace(" ", "_") for f in _PARTS.split(part)]
        fields = [f for f in fields if f]
        if fields:
            alternatives.append(",".join(fields))
    parse_match(alternatives, record_type)  # raises for unknown fields or nothing given
    return alternatives


# --- models -------------------------------------------------------------------------------

AnyIndex = QModelIndex | QPersistentModelIndex


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ⏎ ").replace("\n", " ⏎ ").replace("\r", " ⏎ ")


class PreviewModel(QAbstractTableModel):
    """The first rows of the file as the import will read them: the file's headers as
    column titles, the file's line numbers down the side, rows with problems tinted and
    their reasons in the tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._headers: list[str] = []
        self._rows: list[list[str]] = []
        self._lines: list[int] = []
        self._problems: dict[int, list[Problem]] = {}

    def set_preview(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        lines: Sequence[int],
        problems: Mapping[int, Sequence[Problem]] | None = None,
    ) -> None:
        self.beginResetModel()
        self._headers = list(headers)
        self._rows = [list(r) for r in rows]
        self._lines = list(lines)
        self._problems = {k: list(v) for k, v in (problems or {}).items()}
        self.endResetModel()

    def set_problems(self, problems: Mapping[int, Sequence[Problem]]) -> None:
        """The problems of the rows shown, by line, without re-reading the rows (the
        whole-file check answers after the rows are on screen)."""
        self._problems = {k: list(v) for k, v in problems.items()}
        if self._rows and self._headers:
            last = self.index(len(self._rows) - 1, len(self._headers) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def rejected_rows(self) -> list[int]:
        """The rows shown (0-based) that the import would skip."""
        return [row for row in range(len(self._rows)) if self.problems_at(row)]

    def clear(self) -> None:
        self.set_preview([], [], [])

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._headers)

    def cell(self, row: int, column: int) -> str:
        cells = self._rows[row]
        return cells[column] if column < len(cells) else ""

    def problems_at(self, row: int) -> list[Problem]:
        line = self._lines[row] if row < len(self._lines) else -1
        return self._problems.get(line, [])

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _one_line(self.cell(row, column))
        if role == Qt.ItemDataRole.ToolTipRole:
            header = self._headers[column]
            problems = self.problems_at(row)
            mine = [f"⚠ {p.reason}" for p in problems if p.column in (header, "")]
            # The rest of the row's problems too: whichever cell the pointer rests on, a
            # tinted row says why it would not be imported.
            others = [f"⚠ {p.column}: {p.reason}" for p in problems if p.column not in (header, "")]
            text = self.cell(row, column)
            return "\n".join([text, *mine, *others]) if problems else text
        if role == Qt.ItemDataRole.BackgroundRole and self.problems_at(row):
            return QColor(PROBLEM_BACKGROUND)
        if role == Qt.ItemDataRole.ForegroundRole and self.problems_at(row):
            return QColor("#202020")
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._headers[section] if 0 <= section < len(self._headers) else None
        return str(self._lines[section]) if 0 <= section < len(self._lines) else None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class ProblemsModel(QAbstractTableModel):
    """Every problem of every rejected row: line in the file, column, reason. A model
    rather than a table widget: a bad export can have a hundred thousand of them."""

    HEADERS = ("Line", "Column", "Value", "Problem")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[int, str, str, str]] = []

    def set_rejected(self, rejected: Sequence[RejectedRow], headers: Sequence[str] = ()) -> None:
        position = {header: number for number, header in enumerate(headers)}

        def value(row: RejectedRow, column: str) -> str:
            number = position.get(column)
            if number is None or number >= len(row.cells):
                return ""
            return _one_line(row.cells[number])

        self.beginResetModel()
        self._items = [
            (row.line, problem.column, value(row, problem.column), problem.reason)
            for row in rejected
            for problem in (row.problems or (Problem("", "cannot be imported"),))
        ]
        self.endResetModel()

    def items(self) -> list[tuple[int, str, str, str]]:
        """(line, column, value, problem) per problem, as listed."""
        return list(self._items)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = item[index.column()]
            if index.column() == 1 and not value:
                return "(whole row)"
            if index.column() == 2 and not value and item[1]:
                return "(empty)"
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


def _table_view(model: QAbstractTableModel, *, stretch_last: bool = True) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.horizontalHeader().setStretchLastSection(stretch_last)
    view.horizontalHeader().setDefaultAlignment(
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    )
    rows = view.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 8)
    return view


def _problems_view(model: ProblemsModel) -> QTableView:
    view = _table_view(model)
    view.verticalHeader().setVisible(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.resizeSection(1, 150)
    header.resizeSection(2, 220)
    return view


class StatTiles(QWidget):
    """A row of big numbers with a caption under each (the summary and the report)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(8)
        self.values: dict[str, int] = {}
        self._tiles: list[QWidget] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_values(self, values: Sequence[tuple[str, int, str | None]]) -> None:
        """(caption, number, colour or None) per tile."""
        for tile in self._tiles:
            self._layout.removeWidget(tile)
            tile.hide()
            tile.setParent(None)
            tile.deleteLater()
        self._tiles = []
        self.values = {caption: number for caption, number, _c in values}
        for caption, number, colour in values:
            tile = QFrame()
            tile.setFrameShape(QFrame.Shape.StyledPanel)
            box = QVBoxLayout(tile)
            box.setContentsMargins(10, 6, 10, 6)
            box.setSpacing(0)
            big = QLabel(format_count(number))
            font = QFont(big.font())
            font.setPointSizeF(font.pointSizeF() * 1.7)
            font.setBold(True)
            big.setFont(font)
            if colour and number:
                big.setStyleSheet(f"color: {colour};")
            small = QLabel(caption)
            small.setStyleSheet(MUTED)
            box.addWidget(big)
            box.addWidget(small)
            tile.setObjectName(f"tile_{caption}")
            self._layout.addWidget(tile)
            self._tiles.append(tile)
        self._layout.addStretch(1)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def _error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(f"color: {ERROR_COLOUR};")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _show_error(label: QLabel, text: str | None) -> None:
    label.setText(text or "")
    label.setVisible(bool(text))


# --- page 1: the file --------------------------------------------------------------------


class FilePage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Choose the file")
        self.setSubTitle(
            "A CSV or text file saved from a spreadsheet or another CRM. LeadDesk finds "
            "the records that are already on the desk and updates them."
        )
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("import_path")
        self.path_edit.setPlaceholderText("Path of a .csv or .txt file")
        self.path_edit.setClearButtonEnabled(True)
        self.path_edit.textChanged.connect(self._path_edited)
        self.browse_button = QPushButton("&Browse…")
        self.browse_button.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        self.path_error = _error_label()

        self.type_group = QButtonGroup(self)
        self.type_buttons: dict[str, QRadioButton] = {}
        types = QGroupBox("The file holds")
        grid = QGridLayout(types)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(6)
        for number, (key, label) in enumerate(RECORD_TYPE_LABELS.items()):
            button = QRadioButton(label)
            button.setObjectName(f"type_{key}")
            self.type_group.addButton(button, number)
            self.type_buttons[key] = button
            hint = QLabel(RECORD_TYPE_HINTS[key])
            hint.setStyleSheet(MUTED)
            grid.addWidget(button, number, 0)
            grid.addWidget(hint, number, 1)
        grid.setColumnStretch(1, 1)
        self.type_group.buttonToggled.connect(lambda *_a: self._type_chosen())
        self._type_touched = False

        caption = QLabel("&File:")
        caption.setBuddy(self.path_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(caption)
        layout.addLayout(row)
        layout.addWidget(self.path_error)
        layout.addSpacing(10)
        layout.addWidget(types)
        layout.addStretch(1)
        tip = QLabel("Tip: drop a .csv file on the LeadDesk window to start here with it.")
        tip.setStyleSheet(MUTED)
        layout.addWidget(tip)

    def set_path(self, path: str) -> None:
        self.path_edit.setText(path)

    def set_record_type(self, record_type: str, *, chosen: bool = True) -> None:
        """Check the record type; ``chosen=False`` for a default, which a file chosen
        later may replace with the type its name suggests."""
        button = self.type_buttons.get(record_type)
        if button is not None:
            button.setChecked(True)
        self._type_touched = chosen

    def record_type(self) -> str:
        for key, button in self.type_buttons.items():
            if button.isChecked():
                return key
        return "contacts"

    def browse(self) -> None:
        start = self.path_edit.text().strip() or self._wizard.last_folder
        chosen, _filter = QFileDialog.getOpenFileName(
            self,
            "Import a CSV file",
            start,
            "CSV and text files (*.csv *.txt);;All files (*)",
        )
        if chosen:
            self.path_edit.setText(chosen)

    def _type_chosen(self) -> None:
        self._type_touched = True

    def _path_edited(self, text: str) -> None:
        path = Path(text.strip()) if text.strip() else None
        problem = None
        if path is not None and not path.is_file():
            problem = "No such file." if not path.exists() else "This is a folder, not a file."
        _show_error(self.path_error, problem)
        if path is not None and path.is_file() and not self._type_touched:
            self.type_group.blockSignals(True)
            self.set_record_type(guess_record_type(path, self.record_type()))
            self.type_group.blockSignals(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        text = self.path_edit.text().strip()
        return bool(text) and Path(text).is_file()

    def validatePage(self) -> bool:
        self._wizard.choose_file(self.path_edit.text().strip(), self.record_type())
        return True


# --- page 2: how the file is written ------------------------------------------------------


class FormatPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("How the file is written")
        self.setSubTitle(
            "LeadDesk detected these; change any of them if the rows below do not look right."
        )
        self.preview: Preview | None = None
        self.job: Job[Any] | None = None
        self.check_job: Job[Any] | None = None
        self._token = 0
        self._check_token = 0
        self._filling = False

        self.encoding_combo = QComboBox()
        self.encoding_combo.setObjectName("encoding_combo")
        for value, label in ENCODINGS:
            self.encoding_combo.addItem(label, value)
        self.delimiter_combo = QComboBox()
        self.delimiter_combo.setObjectName("delimiter_combo")
        for value, label in DELIMITERS:
            self.delimiter_combo.addItem(label, value)
        self.date_combo = QComboBox()
        self.date_combo.setObjectName("date_combo")
        for order, label in DATE_ORDERS:
            self.date_combo.addItem(label, order)
        for combo in (self.encoding_combo, self.delimiter_combo, self.date_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(lambda *_a: self._option_changed())
        self.date_label = QLabel()
        self.date_label.setObjectName("date_interpretation")
        self.date_label.setWordWrap(True)
        self.date_label.setStyleSheet(MUTED)

        date_row = QHBoxLayout()
        date_row.addWidget(self.date_combo)
        date_row.addSpacing(8)
        date_row.addWidget(self.date_label, 1)
        date_caption = QLabel("Dates &read:")
        date_caption.setBuddy(self.date_combo)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Encoding:", self.encoding_combo)
        form.addRow("&Delimiter:", self.delimiter_combo)
        form.addRow(date_caption, date_row)
        for combo in (self.encoding_combo, self.delimiter_combo, self.date_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy_label = QLabel("Reading the file…")
        self.busy_label.setStyleSheet(MUTED)
        self.error_label = _error_label()
        self.rows_label = QLabel()
        self.rows_label.setStyleSheet(MUTED)
        self.check_label = QLabel()
        self.check_label.setObjectName("row_check")
        self.check_label.setStyleSheet(MUTED)
        self.check_label.setWordWrap(True)
        self.check_label.hide()

        self.preview_model = PreviewModel(self)
        self.preview_view = _table_view(self.preview_model, stretch_last=False)
        self.preview_view.setObjectName("preview_view")
        self.preview_view.horizontalHeader().setDefaultSectionSize(130)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.busy_label)
        layout.addWidget(self.busy)
        layout.addWidget(self.error_label)
        layout.addWidget(self.rows_label)
        layout.addWidget(self.preview_view, 1)
        layout.addWidget(self.check_label)

    # The detection reads the whole file (an accent in row 80,000 decides the encoding),
    # so the first look at a file is a background job; after it, the options are explicit
    # and reading twenty rows with them is instant.

    def initializePage(self) -> None:
        wizard = self._wizard
        if wizard.detected is None:
            self._detect()
        else:
            self.refresh()

    def cleanupPage(self) -> None:
        self.stop()

    def validatePage(self) -> bool:
        # The check page checks the whole file again with the mapping chosen next.
        self.stop_check()
        return True

    def stop(self) -> None:
        self._token += 1
        if self.job is not None and self.job.running:
            self.job.cancel()
        self.job = None
        self._set_busy(False)
        self.stop_check()

    def stop_check(self) -> None:
        self._check_token += 1
        if self.check_job is not None and self.check_job.running:
            self.check_job.cancel()
        self.check_job = None
        self.check_label.hide()

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.busy_label.setVisible(busy)
        for combo in (self.encoding_combo, self.delimiter_combo, self.date_combo):
            combo.setEnabled(not busy)

    def _detect(self) -> None:
        wizard = self._wizard
        self.stop()
        self.preview = None
        self.preview_model.clear()
        self.rows_label.clear()
        _show_error(self.error_label, None)
        self._set_busy(True)
        self._token += 1
        token = self._token
        path, record_type = wizard.path, wizard.record_type

        def detect(_db: Database, _progress: Callable[[int, int], bool]) -> Preview:
            return preview_csv(path, record_type, rows=PREVIEW_ROWS)

        self.job = Job(
            wizard.db_url,
            detect,
            parent_widget=self,
            show_progress=False,
            report=False,
            on_done=lambda preview: self._detected(token, preview),
            on_error=lambda error: self._failed(token, error),
            on_cancelled=lambda: None,
        ).start()
        self.completeChanged.emit()

    def _detected(self, token: int, preview: Preview) -> None:
        if token != self._token:
            return
        self.job = None
        self._set_busy(False)
        self._wizard.detected = (preview.encoding, preview.delimiter)
        self._wizard.encoding = preview.encoding
        self._wizard.delimiter = preview.delimiter
        self._fill_combos()
        self._show(preview)

    def _failed(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        self.job = None
        self._set_busy(False)
        self.preview = None
        _show_error(self.error_label, error_text(error))
        self.completeChanged.emit()

    def _fill_combos(self) -> None:
        wizard = self._wizard
        detected_encoding, detected_delimiter = wizard.detected or ("", "")
        self._filling = True
        try:
            for combo, values, detected, chosen in (
                (self.encoding_combo, ENCODINGS, detected_encoding, wizard.encoding),
                (self.delimiter_combo, DELIMITERS, detected_delimiter, wizard.delimiter),
            ):
                for number, (value, label) in enumerate(values):
                    combo.setItemText(
                        number, f"{label}  (detected)" if value == detected else label
                    )
                index = combo.findData(chosen)
                if index < 0 and chosen:
                    # A delimiter or encoding outside the usual ones, found in the file.
                    shown = fmt.DELIMITER_LABELS.get(chosen, chosen)
                    combo.addItem(f"{shown}  (detected)", chosen)
                    index = combo.count() - 1
                combo.setCurrentIndex(max(index, 0))
            self.date_combo.setCurrentIndex(
                max(self.date_combo.findData(wizard.date_order), 0)
                if wizard.date_order is not None
                else 0
            )
        finally:
            self._filling = False

    def _option_changed(self) -> None:
        if self._filling:
            return
        wizard = self._wizard
        wizard.encoding = self.encoding_combo.currentData()
        wizard.delimiter = self.delimiter_combo.currentData()
        wizard.date_order = self.date_combo.currentData()
        self.refresh()

    def refresh(self) -> None:
        """Read the first rows again with the options as chosen (the live preview)."""
        if self.job is not None:
            return
        self._fill_combos()
        try:
            preview = self._wizard.read_preview()
        except ServiceError as exc:
            self.preview = None
            self.preview_model.clear()
            self.rows_label.clear()
            _show_error(self.error_label, error_text(exc))
            self.date_label.clear()
            self.completeChanged.emit()
            return
        self._show(preview)

    def _show(self, preview: Preview) -> None:
        self.preview = preview
        self._wizard.preview = preview
        _show_error(self.error_label, None)
        self.preview_model.set_preview(
            preview.headers, preview.rows, preview.row_lines, preview.problems
        )
        # Twenty rows: measuring them is instant, and e-mail addresses deserve their width.
        self.preview_view.resizeColumnsToContents()
        header = self.preview_view.horizontalHeader()
        for column in range(self.preview_model.columnCount()):
            header.resizeSection(column, min(max(header.sectionSize(column), 60), 260))
        self.date_label.setText(
            " ".join(
                filter(
                    None,
                    (
                        _sentence(preview.date_interpretation),
                        date_example(preview, self._wizard.date_order),
                    ),
                )
            )
            if preview.date_interpretation
            else "No column holds dates."
        )
        shown = len(preview.rows)
        columns = len(preview.headers)
        self.rows_label.setText(
            f"The first {_rows_word(shown)} of {Path(preview.path).name}, "
            f"{format_count(columns)} column{'s' if columns != 1 else ''}; "
            "the numbers on the left are the file's line numbers."
            if shown
            else f"{Path(preview.path).name} has a header row but no data rows."
        )
        self.completeChanged.emit()
        self._check_rows(preview)

    # Reading the rows finds the cells that are not numbers, dates or yes/no; whether an
    # e-mail address is valid, an owner exists or an account can be found is decided when
    # the rows are checked against the desk. The check page does that for the whole file
    # (``preview_csv`` with a database); the same call here, for the rows shown only
    # (``shown_only``) and in the background, tints them as the check will reject them, so
    # no row looks fine on this page and is refused two pages later. A million-row file is
    # not read to tint twenty rows; the job is cancelled as soon as the options change or
    # the user moves on.

    def _check_rows(self, preview: Preview) -> None:
        self.stop_check()
        wizard = self._wizard
        if not preview.rows or preview.missing_required:
            return
        self._check_token += 1
        token = self._check_token
        job = _dry_run(
            wizard,
            self,
            on_done=lambda result: self._rows_checked(token, result),
            on_error=lambda _error: self._check_failed(token),
            shown_only=True,
        )
        job.progressed.connect(lambda done, total: self._check_progressed(token, done, total))
        self.check_label.setText("Checking these rows against your desk…")
        self.check_label.show()
        self.check_job = job.start()

    def _check_progressed(self, token: int, done: int, total: int) -> None:
        if token == self._check_token and total > 0:
            percent = min(100, done * 100 // total)
            self.check_label.setText(f"Checking these rows against your desk… {percent}%")

    def _check_failed(self, token: int) -> None:
        # The rows stay tinted as read; the check page reports what stops the check.
        if token == self._check_token:
            self.check_job = None
            self.check_label.hide()

    def _rows_checked(self, token: int, result: Preview) -> None:
        if token != self._check_token:
            return
        self.check_job = None
        self.preview_model.set_problems(result.problems)
        bad = len(self.preview_model.rejected_rows())
        if bad:
            shown = self.preview_model.rowCount()
            self.check_label.setText(
                f"{format_count(bad)} of these {_rows_word(shown)} would not be imported "
                "(tinted; point at the row to see why)."
            )
            self.check_label.show()
        else:
            self.check_label.hide()

    def isComplete(self) -> bool:
        return self.preview is not None and self.job is None


def _dry_run(
    wizard: ImportWizard,
    page: QWidget,
    *,
    on_done: Callable[[Preview], None],
    on_error: Callable[[BaseException], None],
    shown_only: bool = False,
) -> Job[Preview]:
    """The whole file (or, ``shown_only``, the rows a page shows) checked against the desk
    with the wizard's current options and rolled back (``preview_csv`` with a database),
    as an unstarted background job that reports through the page's own callbacks; a
    cancel is silent, the page asked for it."""
    options = wizard.import_options()
    now = wizard.clock()

    def check(db: Database, progress: Callable[[int, int], bool]) -> Preview:
        return preview_csv(
            db=db,
            now=now,
            progress=progress,
            rows=PREVIEW_ROWS,
            shown_only=shown_only,
            **options,
        )

    return Job(
        wizard.db_url,
        check,
        parent_widget=page,
        show_progress=False,
        report=False,
        on_done=on_done,
        on_error=on_error,
        on_cancelled=lambda: None,
    )


def date_example(preview: Preview, chosen: fmt.DateOrder | None) -> str:
    """The first date of the file as it will be read ("In this file, 01/10/2026 9:00 is
    1 October 2026, 09:00."): the general rule is easy to nod through, the user's own
    date with its month spelled out is not."""
    columns = [c.index for c in preview.columns if c.field in ("occurred_at", "updated_at")]
    # Without a choice, the order is the one the preview's sentence announces.
    if chosen is None:
        month_first = "month first" in preview.date_interpretation
        chosen = fmt.DateOrder.MONTH_FIRST if month_first else fmt.DateOrder.DAY_FIRST
    for row in preview.rows:
        for index in columns:
            cell = row[index].strip() if index < len(row) else ""
            if not cell:
                continue
            try:
                moment = fmt.parse_datetime(cell, chosen)
            except ValueError as exc:
                return f"In this file, {cell} cannot be read that way ({exc})."
            zone = f" {moment.tzname()}" if moment.tzinfo is not None else ""
            return f"In this file, {cell} is {moment.day} {moment:%B %Y, %H:%M}{zone}."
    return ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# --- page 3: columns, matching, options --------------------------------------------------


class MappingPage(QWizardPage):
    COLUMNS = ("Column in the file", "Sample value", "Imported as", "")

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("What each column holds")
        self.setSubTitle(
            "LeadDesk's guesses are in italics; change any of them. Columns not mapped to "
            "a field are kept as custom fields, or ignored."
        )
        self.columns: list[ColumnInfo] = []
        self.combos: list[QComboBox] = []
        self._filling = False

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("mapping_table")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 16)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, 190)
        header.resizeSection(2, 210)
        header.resizeSection(3, 150)
        self.missing_label = _error_label()

        self.match_edit = QLineEdit()
        self.match_edit.setObjectName("match_edit")
        self.match_edit.textChanged.connect(lambda *_a: self._match_edited())
        self.match_default = QPushButton("De&fault")
        self.match_default.setToolTip("Match the way LeadDesk does by default")
        self.match_default.clicked.connect(self._reset_match)
        self.match_hint = QLabel()
        self.match_hint.setWordWrap(True)
        self.match_hint.setStyleSheet(MUTED)
        self.match_error = _error_label()
        match_row = QHBoxLayout()
        match_row.addWidget(self.match_edit, 1)
        match_row.addWidget(self.match_default)
        match_box = QGroupBox("A row updates the record with the same")
        match_layout = QVBoxLayout(match_box)
        match_layout.addLayout(match_row)
        match_layout.addWidget(self.match_hint)
        match_layout.addWidget(self.match_error)

        self.create_accounts = QCheckBox("Create the accounts that are not on the desk yet")
        self.create_accounts.setObjectName("create_accounts")
        self.create_accounts.setChecked(True)
        self.create_accounts.setToolTip(
            "Off: a row naming an unknown company is reported as a problem instead"
        )
        self.blank_overwrites = QCheckBox("Empty cells erase what the desk has")
        self.blank_overwrites.setObjectName("blank_overwrites")
        self.blank_overwrites.setToolTip(
            "Off (the usual choice): an empty cell leaves the stored value as it is"
        )
        options_box = QGroupBox("Options")
        options_layout = QVBoxLayout(options_box)
        options_layout.addWidget(self.create_accounts)
        options_layout.addWidget(self.blank_overwrites)

        bottom = QHBoxLayout()
        bottom.addWidget(match_box, 3)
        bottom.addWidget(options_box, 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.missing_label)
        layout.addLayout(bottom)

    # --- filling -------------------------------------------------------------------------

    def initializePage(self) -> None:
        wizard = self._wizard
        preview = wizard.preview
        assert preview is not None
        record_type = wizard.record_type
        self.columns = resolve_columns(preview.headers, record_type, wizard.mapping or None)
        self._build_table(preview)
        self._fill_rows()
        fixed = record_type not in MATCHABLE
        self.match_edit.setReadOnly(fixed)
        self.match_default.setVisible(not fixed)
        default = describe_match(DEFAULT_MATCH[record_type])
        self._filling = True
        self.match_edit.setText(
            describe_match(tuple(tuple(m.split(",")) for m in wizard.match))
            if wizard.match
            else default
        )
        self._filling = False
        if fixed:
            self.match_hint.setText(
                f"{RECORD_TYPE_LABELS[record_type]} are always matched by {default}."
            )
        else:
            self.match_hint.setText(
                "Join fields that must all be equal with +; separate alternatives, tried in "
                f"order, with “else”. Default: {default}. Fields: "
                f"{', '.join(sorted(MATCHABLE[record_type]))}."
            )
        self.create_accounts.setVisible(record_type in ("contacts", "leads"))
        self.create_accounts.setChecked(wizard.create_accounts)
        self.blank_overwrites.setChecked(wizard.blank_overwrites)
        self._match_edited()

    def cleanupPage(self) -> None:
        """Back to page 2: its rows were read and checked with the mapping as it was."""
        super().cleanupPage()
        self._wizard.format_page.refresh()

    def _targets(self) -> list[tuple[str, str]]:
        """(value for the service, label) of every choice in a column's combo."""
        record_type = self._wizard.record_type
        read_only = fmt.READ_ONLY_FIELDS.get(record_type, frozenset())
        choices = [
            (f, field_label(f) + (" (read only)" if f in read_only else ""))
            for f in fmt.TARGET_FIELDS[record_type]
        ]
        if record_type == "activities":
            choices.append(("property", "property of the activity"))
        elif record_type != "scores":
            choices.append(("custom", "custom field"))
        choices.append((IGNORE, "ignore"))
        return choices

    def _build_table(self, preview: Preview) -> None:
        self.table.setRowCount(0)
        self.combos = []
        targets = self._targets()
        self.table.setRowCount(len(preview.headers))
        for row, header in enumerate(preview.headers):
            name = QTableWidgetItem(header)
            name.setToolTip(header)
            sample = next(
                (r[row] for r in preview.rows if row < len(r) and r[row].strip()),
                "",
            )
            sample_item = QTableWidgetItem(_one_line(sample))
            sample_item.setToolTip(sample)
            sample_item.setForeground(QColor("#606060"))
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, sample_item)
            combo = QComboBox()
            combo.setObjectName(f"map_{row}")
            for value, label in targets:
                combo.addItem(label, value)
            combo.currentIndexChanged.connect(lambda _i, r=row: self._mapping_chosen(r))
            self.table.setCellWidget(row, 2, combo)
            self.table.setItem(row, 3, QTableWidgetItem(""))
            self.combos.append(combo)

    def _value_of(self, column: ColumnInfo) -> str:
        if column.field:
            return column.field
        if column.custom and self._wizard.record_type != "scores":
            return "property" if self._wizard.record_type == "activities" else "custom"
        return IGNORE

    def _fill_rows(self) -> None:
        self._filling = True
        try:
            for row, column in enumerate(self.columns):
                combo = self.combos[row]
                combo.setCurrentIndex(max(combo.findData(self._value_of(column)), 0))
                font = QFont(combo.font())
                font.setItalic(column.guessed)
                combo.setFont(font)
                tag = self.table.item(row, 3)
                assert tag is not None
                tag.setText(self._tag(column))
                tag.setForeground(QColor("#808080" if column.guessed else "#1a5fb4"))
                tag_font = QFont(self.table.font())
                tag_font.setItalic(column.guessed)
                tag.setFont(tag_font)
                name = self.table.item(row, 0)
                if name is not None:
                    bold = QFont(self.table.font())
                    bold.setBold(bool(column.field) and not column.read_only)
                    name.setFont(bold)
        finally:
            self._filling = False
        missing = self.missing()
        _show_error(
            self.missing_label,
            "Map a column to " + " and to ".join(missing) + ": the import needs it."
            if missing
            else None,
        )
        self.completeChanged.emit()

    def _tag(self, column: ColumnInfo) -> str:
        if column.read_only:
            return "read only, not imported"
        if not column.guessed:
            return "your choice"
        if column.field:
            return "guessed"
        if column.custom and self._wizard.record_type != "scores":
            return "new " + ("property" if self._wizard.record_type == "activities" else "field")
        return "not imported"

    # --- reading what the user chose ----------------------------------------------------

    def missing(self) -> list[str]:
        mapped = {c.field for c in self.columns if c.field}
        return [
            " or ".join(group)
            for group in fmt.REQUIRED_FIELDS[self._wizard.record_type]
            if not mapped.intersection(group)
        ]

    def tag_text(self, row: int) -> str:
        item = self.table.item(row, 3)
        return item.text() if item is not None else ""

    def combo_for(self, header: str) -> QComboBox:
        for row, column in enumerate(self.columns):
            if column.header == header:
                return self.combos[row]
        raise KeyError(header)

    def _mapping_chosen(self, row: int) -> None:
        if self._filling:
            return
        wizard = self._wizard
        header = self.columns[row].header
        value = str(self.combos[row].currentData())
        if value not in (IGNORE, "custom", "property"):
            # One column per field: another column the user had given it is let go.
            for other, column in enumerate(self.columns):
                if other != row and column.field == value and not column.guessed:
                    wizard.mapping[column.header] = IGNORE
        wizard.mapping[header] = value
        preview = wizard.preview
        assert preview is not None
        self.columns = resolve_columns(preview.headers, wizard.record_type, wizard.mapping)
        self._fill_rows()

    def _reset_match(self) -> None:
        self.match_edit.setText(describe_match(DEFAULT_MATCH[self._wizard.record_type]))

    def _match_edited(self) -> None:
        if self._filling:
            return
        self.completeChanged.emit()
        _show_error(self.match_error, self.match_problem())

    def match_problem(self) -> str | None:
        if self._wizard.record_type not in MATCHABLE:
            return None
        try:
            parse_match_text(self.match_edit.text(), self._wizard.record_type)
        except MatchSpecError as exc:
            return _sentence(str(exc))
        return None

    def isComplete(self) -> bool:
        return not self.missing() and self.match_problem() is None

    def validatePage(self) -> bool:
        wizard = self._wizard
        record_type = wizard.record_type
        if record_type in MATCHABLE:
            chosen = parse_match_text(self.match_edit.text(), record_type)
            default = [",".join(alt) for alt in DEFAULT_MATCH[record_type]]
            wizard.match = [] if chosen == default else chosen
        else:
            wizard.match = []
        wizard.create_accounts = self.create_accounts.isChecked()
        wizard.blank_overwrites = self.blank_overwrites.isChecked()
        return True


# --- page 4: the dry run ----------------------------------------------------------------


class CheckPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Check the file")
        self.setSubTitle("Every row is read and matched as the import will, without saving.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Import")
        self.result: Preview | None = None
        self.unchecked = False  # the dry run could not run; the import checks the rows
        self.job: Job[Any] | None = None
        self._token = 0

        self.busy_label = QLabel("Checking every row…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.error_label = _error_label()

        self.stats = StatTiles()
        self.stats.setObjectName("check_stats")
        self.details_label = QLabel()
        self.details_label.setWordWrap(True)
        self.details_label.setStyleSheet(MUTED)
        self.problems_title = _heading("")
        self.problems_model = ProblemsModel(self)
        self.problems_view = _problems_view(self.problems_model)
        self.problems_view.setObjectName("check_problems")
        self.no_problems_label = QLabel("No problems: every row can be imported.")

        self.good_rows = QRadioButton("Import the good rows")
        self.good_rows.setObjectName("good_rows")
        self.good_rows.setChecked(True)
        self.strict = QRadioButton("Refuse the whole file if any row is bad")
        self.strict.setObjectName("strict")
        choice_group = QButtonGroup(self)
        choice_group.addButton(self.good_rows)
        choice_group.addButton(self.strict)
        self.choice_box = QGroupBox("When a row has a problem")
        choice_layout = QVBoxLayout(self.choice_box)
        choice_layout.addWidget(self.good_rows)
        choice_layout.addWidget(self.strict)

        self.summary = QWidget()
        summary_layout = QVBoxLayout(self.summary)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        summary_layout.addWidget(self.stats)
        summary_layout.addWidget(self.details_label)
        summary_layout.addWidget(self.problems_title)
        summary_layout.addWidget(self.problems_view, 1)
        summary_layout.addWidget(self.no_problems_label)
        summary_layout.addWidget(self.choice_box)
        summary_layout.addStretch(0)  # takes the room only while the problems are hidden

        layout = QVBoxLayout(self)
        layout.addWidget(self.busy_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.error_label)
        layout.addWidget(self.summary, 1)

    def initializePage(self) -> None:
        self.start()

    def cleanupPage(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._token += 1
        if self.job is not None and self.job.running:
            self.job.cancel()
        self.job = None

    def start(self) -> None:
        wizard = self._wizard
        self.stop()
        self.result = None
        self.unchecked = False
        self.summary.hide()
        _show_error(self.error_label, None)
        self.busy_label.setText(f"Checking every row of {Path(wizard.path).name}…")
        self.busy_label.show()
        self.progress.setValue(0)
        self.progress.show()
        self._token += 1
        token = self._token
        job = _dry_run(
            wizard,
            self,
            on_done=lambda result: self._checked(token, result),
            on_error=lambda error: self._failed(token, error),
        )
        job.progressed.connect(lambda done, total: self._progressed(token, done, total))
        self.job = job.start()
        self.completeChanged.emit()

    def _progressed(self, token: int, done: int, total: int) -> None:
        if token == self._token:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(min(done, total))

    def _failed(self, token: int, error: BaseException) -> None:
        if token != self._token or isinstance(error, ImportCancelled):
            return
        self.job = None
        self.busy_label.hide()
        self.progress.hide()
        if isinstance(error, ImportFileError) and self._wizard.record_type not in MATCHABLE:
            # preview_csv(db=…) resolves the fixed strategy of activities and external
            # scores a second time and refuses it ("… are always matched by …"), so their
            # dry run cannot run. The file read fine on page 2 and the import checks every
            # row again, so the wizard goes on without the numbers.
            self._unchecked(error)
            return
        _show_error(self.error_label, error_text(error))
        self.completeChanged.emit()

    def _unchecked(self, error: BaseException) -> None:
        self.unchecked = True
        self.stats.set_values([])
        self.stats.hide()
        self.details_label.setText(
            "The whole file could not be checked in advance "
            f"({error_text(error)}). The import reads and checks every row; rows with "
            "problems are listed in its report."
        )
        self.problems_model.set_rejected([])
        for widget in (self.problems_title, self.problems_view, self.no_problems_label):
            widget.hide()
        self.good_rows.setText("Import the rows without problems and skip the others")
        self.choice_box.show()
        self.summary.show()
        self.completeChanged.emit()

    def _checked(self, token: int, result: Preview) -> None:
        if token != self._token:
            return
        self.job = None
        self.result = result
        self.busy_label.hide()
        self.progress.hide()
        self.stats.show()
        wizard = self._wizard
        nouns = RECORD_NOUNS[wizard.record_type]
        bad = result.rows_with_problems or 0
        self.stats.set_values(
            [
                ("rows in the file", result.total_rows or 0, None),
                ("rows OK", result.rows_ok or 0, None),
                ("rows with problems", bad, ERROR_COLOUR),
                ("to create", result.to_create or 0, None),
                ("to update", result.to_update or 0, None),
                ("unchanged", result.unchanged or 0, None),
            ]
        )
        details = [f"{RECORD_TYPE_LABELS[wizard.record_type]} matched by {result.match_text}."]
        report = result.report
        if report is not None:
            if report.accounts_created:
                added = _plural(report.accounts_created, RECORD_NOUNS["accounts"])
                details.append(f"{added} to add.")
            if report.contacts_created and wizard.record_type != "contacts":
                added = _plural(report.contacts_created, RECORD_NOUNS["contacts"])
                details.append(f"{added} to add.")
            if report.merged:
                details.append(
                    f"{_rows_word(report.merged)} repeat an earlier row and are merged into it."
                )
        if result.date_interpretation:
            details.append(_sentence(result.date_interpretation))
        self.details_label.setText(" ".join(details))
        rejected = report.rejected if report is not None else []
        self.problems_model.set_rejected(rejected, report.headers if report is not None else ())
        self.problems_title.setText(f"{_rows_word(bad)} with problems, which will not be imported:")
        for widget in (self.problems_title, self.problems_view):
            widget.setVisible(bool(rejected))
        self.no_problems_label.setVisible(not rejected)
        good = result.rows_ok or 0
        self.good_rows.setText(
            f"Import the {_rows_word(good)} without problems and skip the {format_count(bad)} "
            "with problems"
            if bad
            else f"Import the {_plural(good, ('row', 'rows'))}"
        )
        self.choice_box.setVisible(bool(bad))
        if not bad:
            self.good_rows.setChecked(True)
        self.summary.show()
        self.setSubTitle(
            f"Nothing is saved until you press Import. {_plural(result.to_create or 0, nouns)}"
            f" to create, {format_count(result.to_update or 0)} to update."
        )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return (self.result is not None or self.unchecked) and self.job is None

    def validatePage(self) -> bool:
        self._wizard.strict = self.strict.isChecked()
        return True


# --- page 5: the import and its report ---------------------------------------------------


class RunPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Import")
        self.job: Job[Any] | None = None
        self.outcome: str | None = None  # imported, refused, cancelled, failed
        self.report: ImportReport | None = None
        self._token = 0

        self.status_label = _heading("")
        self.status_label.setObjectName("run_status")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("&Cancel import")
        self.cancel_button.setObjectName("cancel_import")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)

        self.stats = StatTiles()
        self.stats.setObjectName("report_stats")
        self.details_label = QLabel()
        self.details_label.setWordWrap(True)
        self.details_label.setStyleSheet(MUTED)
        self.rejected_title = _heading("")
        self.rejected_model = ProblemsModel(self)
        self.rejected_view = _problems_view(self.rejected_model)
        self.rejected_view.setObjectName("report_problems")
        self.save_rejects_button = QPushButton("&Save rejected rows…")
        self.save_rejects_button.setObjectName("save_rejects")
        self.save_rejects_button.setToolTip(
            "A CSV of the rejected rows with a reason column: fix them and import it again"
        )
        self.save_rejects_button.clicked.connect(self.save_rejects)
        self.saved_label = QLabel()
        self.saved_label.setStyleSheet(MUTED)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_rejects_button)
        save_row.addWidget(self.saved_label, 1)

        self.report_box = QWidget()
        report_layout = QVBoxLayout(self.report_box)
        report_layout.setContentsMargins(0, 0, 0, 0)
        report_layout.addWidget(self.stats)
        report_layout.addWidget(self.details_label)
        report_layout.addWidget(self.rejected_title)
        report_layout.addWidget(self.rejected_view, 1)
        report_layout.addLayout(save_row)
        report_layout.addStretch(0)  # takes the room only while no rows were rejected

        self.stack = QStackedWidget()
        empty = QWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.report_box)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_box)
        layout.addWidget(self.stack, 1)

    @property
    def importing(self) -> bool:
        return self.job is not None and self.job.running

    def initializePage(self) -> None:
        wizard = self._wizard
        self.outcome = None
        self.report = None
        self.stack.setCurrentIndex(0)
        self.status_label.setText(f"Importing {Path(wizard.path).name}…")
        self.setSubTitle(
            "One transaction: until it ends nothing is saved, and Cancel leaves the desk "
            "exactly as it was."
        )
        self.progress.setValue(0)
        self.progress_box.show()
        self.cancel_button.setEnabled(True)
        self.saved_label.clear()
        self._token += 1
        token = self._token
        options = wizard.import_options()
        now = wizard.clock()
        strict = wizard.strict
        user_id = wizard.user_id

        def run(db: Database, progress: Callable[[int, int], bool]) -> ImportReport:
            return import_csv(
                db, now=now, strict=strict, progress=progress, user_id=user_id, **options
            )

        job: Job[Any] = Job(
            wizard.db_url,
            run,
            parent_widget=self,
            show_progress=False,
            report=False,
            on_done=lambda report: self._imported(token, report),
            on_error=lambda error: self._failed(token, error),
            on_cancelled=lambda: self._cancelled(token),
        )
        job.progressed.connect(lambda done, total: self._progressed(token, done, total))
        self.job = job.start()
        self.completeChanged.emit()

    def cancel(self) -> None:
        if self.importing and self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling… nothing will be imported.")

    def _progressed(self, token: int, done: int, total: int) -> None:
        if token == self._token and self.job is not None and not self.job.cancel_requested:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(min(done, total))

    def _finish(self, outcome: str, status: str) -> None:
        self.job = None
        self.outcome = outcome
        self.progress_box.hide()
        self.status_label.setText(status)
        self.completeChanged.emit()
        self._wizard.import_ended()

    def _cancelled(self, token: int) -> None:
        if token == self._token:
            self.setSubTitle("The desk is as it was before the import.")
            self._finish("cancelled", "Import cancelled. Nothing was imported.")

    def _failed(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        if isinstance(error, ImportCancelled):
            self._cancelled(token)
            return
        if isinstance(error, ImportRefused):
            report = error.report
            self.report = report
            bad = len(report.rejected)
            self._show_report(report)
            self.setSubTitle("The desk is as it was before the import.")
            self._finish(
                "refused",
                f"The file was refused: {_rows_word(bad)} cannot be imported, so nothing was "
                "imported.",
            )
            return
        self.setSubTitle("The desk is as it was before the import.")
        self._finish("failed", f"Nothing was imported: {error_text(error)}")

    def _imported(self, token: int, report: ImportReport) -> None:
        if token != self._token:
            return
        self.report = report
        self._show_report(report)
        nouns = RECORD_NOUNS[report.record_type]
        self._finish("imported", f"Imported {Path(report.path).name}.")
        done = _plural(report.created + report.updated, nouns)
        left_out = f"; {_rows_word(len(report.rejected))} left out" if report.rejected else ""
        self.setSubTitle(f"{done} created or updated{left_out}.")
        self._wizard.imported.emit(report)

    def _show_report(self, report: ImportReport) -> None:
        refused = report.refused
        self.stats.set_values(
            [
                ("created", 0 if refused else report.created, None),
                ("updated", 0 if refused else report.updated, None),
                ("skipped", 0 if refused else report.skipped, None),
                ("rejected", len(report.rejected), ERROR_COLOUR),
            ]
        )
        extras = []
        if not refused:
            if report.accounts_created:
                extras.append(f"{_plural(report.accounts_created, RECORD_NOUNS['accounts'])} added")
            if report.contacts_created and report.record_type != "contacts":
                extras.append(f"{_plural(report.contacts_created, RECORD_NOUNS['contacts'])} added")
            if report.activity_types_created:
                extras.append("new activity types: " + ", ".join(report.activity_types_created))
            if report.leads_rescored:
                extras.append(f"{_plural(report.leads_rescored, RECORD_NOUNS['leads'])} re-scored")
            if report.skipped:
                extras.append("skipped rows were identical to the desk or repeated an earlier row")
        self.details_label.setText(_sentence("; ".join(extras)) if extras else "")
        self.details_label.setVisible(bool(extras))
        self.rejected_model.set_rejected(report.rejected, report.headers)
        self.rejected_title.setText(
            f"Rejected {_rows_word(len(report.rejected))} (line in the file, column, problem):"
        )
        for widget in (self.rejected_view, self.save_rejects_button):
            widget.setVisible(bool(report.rejected))
        if not report.rejected:
            self.rejected_title.setText("No row was rejected.")
        self.stack.setCurrentIndex(1)

    def save_rejects(self) -> str | None:
        report = self.report
        if report is None or not report.rejected:
            return None
        source = Path(report.path)
        suggested = str(source.with_name(f"{source.stem}-rejected.csv"))
        chosen, _filter = QFileDialog.getSaveFileName(
            self, "Save the rejected rows", suggested, "CSV files (*.csv);;All files (*)"
        )
        if not chosen:
            return None
        try:
            count = write_rejects(report, chosen)
        except OSError as exc:
            self.saved_label.setText("")
            _show_message_error(self, exc)
            return None
        self.saved_label.setText(f"Saved {_rows_word(count)} to {chosen}")
        return chosen

    def isComplete(self) -> bool:
        return self.outcome is not None


def _show_message_error(parent: QWidget, error: BaseException) -> None:
    from leaddesk.ui.workers import show_error

    show_error(parent, "Save rejected rows", error)


# --- the wizard ------------------------------------------------------------------------


class ImportWizard(QWizard):
    """Non-blocking (open it with ``open()``). ``imported`` carries the report after a
    successful import, so the window can read its lists again."""

    imported = Signal(object)

    FILE_PAGE, FORMAT_PAGE, MAPPING_PAGE, CHECK_PAGE, RUN_PAGE = range(5)

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utc_now,
        user_id: int | None = None,
        path: str | None = None,
        record_type: str = "contacts",
        last_folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.db_url = db.url
        self.clock = clock
        self.user_id = user_id
        self.last_folder = last_folder
        # What the user chose, page by page.
        self.path = ""
        self.record_type = record_type
        self.detected: tuple[str, str] | None = None
        self.encoding: str | None = None
        self.delimiter: str | None = None
        self.date_order: fmt.DateOrder | None = None
        self.mapping: dict[str, str] = {}
        self.match: list[str] = []
        self.create_accounts = True
        self.blank_overwrites = False
        self.strict = False
        self.preview: Preview | None = None

        self.setWindowTitle("Import")
        self.setObjectName("import_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Close")
        self.file_page = FilePage(self)
        self.format_page = FormatPage(self)
        self.mapping_page = MappingPage(self)
        self.check_page = CheckPage(self)
        self.run_page = RunPage(self)
        for number, page in enumerate(
            (self.file_page, self.format_page, self.mapping_page, self.check_page, self.run_page)
        ):
            self.setPage(number, page)
        self.setStartId(self.FILE_PAGE)
        self.file_page.set_record_type(record_type, chosen=False)
        if path:
            self.file_page.set_path(path)
        self.resize(*WIZARD_SIZE)
        self.setMinimumSize(720, 520)
        for page in (self.file_page, self.format_page, self.mapping_page, self.check_page):
            page.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- state shared by the pages -------------------------------------------------------

    def choose_file(self, path: str, record_type: str) -> None:
        """Page 1's answer. Another file (or another record type) starts over: detection,
        mapping and matching belong to one file and one kind of record."""
        if path != self.path:
            self.detected = None
            self.encoding = None
            self.delimiter = None
            self.date_order = None
            self.mapping = {}
        if record_type != self.record_type:
            self.mapping = {}
            self.match = []
        self.path = path
        self.record_type = record_type
        self.last_folder = str(Path(path).parent)
        self.setWindowTitle(f"Import {RECORD_TYPE_LABELS[record_type].lower()} — {Path(path).name}")

    def import_options(self) -> dict[str, Any]:
        """The keyword arguments ``preview_csv`` and ``import_csv`` share."""
        return {
            "path": self.path,
            "record_type": self.record_type,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "mapping": dict(self.mapping) or None,
            "match": list(self.match) or None,
            "create_accounts": self.create_accounts,
            "blank_overwrites": self.blank_overwrites,
            "date_order": self.date_order,
        }

    def read_preview(self) -> Preview:
        """The first rows as the options read them (quick: the options are explicit)."""
        try:
            return self._preview(self.mapping)
        except ServiceError:
            if not self.mapping:
                raise
        # Another encoding can spell the headers differently; the choices made for the
        # old spelling cannot apply.
        self.mapping = {}
        return self._preview({})

    def _preview(self, mapping: Mapping[str, str]) -> Preview:
        return preview_csv(
            self.path,
            self.record_type,
            encoding=self.encoding,
            delimiter=self.delimiter,
            mapping=dict(mapping) or None,
            date_order=self.date_order,
            rows=PREVIEW_ROWS,
        )

    # --- running work ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.run_page.importing

    def import_ended(self) -> None:
        """Nothing left to cancel: Finish is the only way on."""
        self.setButtonLayout([QWizard.WizardButton.Stretch, QWizard.WizardButton.FinishButton])

    def reject(self) -> None:
        """Cancel while importing cancels the import (the wizard stays to say so);
        otherwise it closes the wizard, stopping any check in progress."""
        if self.run_page.importing:
            self.run_page.cancel()
            return
        self.format_page.stop()
        self.check_page.stop()
        super().reject()

    def stop(self, wait_ms: int = 30_000) -> None:
        """The main window is closing: cancel whatever runs and wait for it."""
        jobs = [
            self.format_page.job,
            self.format_page.check_job,
            self.check_page.job,
            self.run_page.job,
        ]
        for job in jobs:
            if job is not None and job.running:
                job.cancel()
        for job in jobs:
            if job is not None:
                job.wait(wait_ms)

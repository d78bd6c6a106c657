"""The dialog a salesperson uses after a call or a meeting.

It defaults to "now" (the usual case is logging what just happened) and offers the
properties that rules most often test (url, subject). A refusal keeps the dialog open
with everything as typed, so a typo costs one correction, not the whole entry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leaddesk.domain.activity_types import normalise_type_key
from leaddesk.services.activities import LoggedActivity, list_activity_types, log_activity
from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import ERROR_COLOUR
from leaddesk.ui.qt import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateTime,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

OFFERED_PROPERTIES = ("url", "subject")
DEFAULT_TYPE = "call"


def stored_to_qdatetime(stored: datetime) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(int(stored.replace(tzinfo=UTC).timestamp()))


def qdatetime_to_stored(moment: QDateTime) -> datetime:
    return datetime.fromtimestamp(moment.toSecsSinceEpoch(), UTC).replace(tzinfo=None)


class LogActivityDialog(QDialog):
    """Logs one activity on a lead; ``logged`` holds the service's answer after OK."""

    def __init__(
        self,
        db: Database,
        lead_id: int,
        *,
        clock: Clock = utc_now,
        lead_name: str = "",
        user_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._lead_id = lead_id
        self._user_id = user_id
        self._clock = clock
        self.logged: LoggedActivity | None = None
        self.setWindowTitle(f"Log activity — {lead_name}" if lead_name else "Log activity")
        self.setMinimumWidth(460)

        self.type_combo = QComboBox()
        self.type_combo.setEditable(True)
        self.type_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for row in list_activity_types(db):
            self.type_combo.addItem(row.label, row.key)
        completer = QCompleter(self.type_combo.model(), self.type_combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.type_combo.setCompleter(completer)
        default = self.type_combo.findData(DEFAULT_TYPE)
        self.type_combo.setCurrentIndex(max(default, 0))

        self.when_edit = QDateTimeEdit(stored_to_qdatetime(clock()))
        self.when_edit.setCalendarPopup(True)
        self.when_edit.setDisplayFormat("d MMM yyyy HH:mm")

        self.properties = QTableWidget(0, 2)
        self.properties.setHorizontalHeaderLabels(["Property", "Value"])
        self.properties.verticalHeader().setVisible(False)
        self.properties.horizontalHeader().setStretchLastSection(True)
        self.properties.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Interactive
        )
        self.properties.setColumnWidth(0, 120)
        self.properties.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.properties.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        for name in OFFERED_PROPERTIES:
            self._add_row(name)
        self.properties.setMinimumHeight(130)
        add = QPushButton("Add property")
        add.clicked.connect(lambda: self._add_row("", edit=True))
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_row)
        property_buttons = QHBoxLayout()
        property_buttons.addWidget(add)
        property_buttons.addWidget(remove)
        property_buttons.addStretch(1)

        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Log")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("&Type:", self.type_combo)
        form.addRow("&When:", self.when_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Properties (rows left empty are ignored):"))
        layout.addWidget(self.properties)
        layout.addLayout(property_buttons)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.type_combo.setFocus()

    # --- filling it (users type; tests and callers may use these) ------------------------

    def set_type(self, text: str) -> None:
        self.type_combo.setCurrentText(text)

    def set_time(self, stored: datetime) -> None:
        self.when_edit.setDateTime(stored_to_qdatetime(stored))

    def set_property(self, name: str, value: str) -> None:
        for row in range(self.properties.rowCount()):
            if self._cell(row, 0) == name:
                self.properties.setItem(row, 1, QTableWidgetItem(value))
                return
        self._add_row(name, value)

    # --- reading it -----------------------------------------------------------------------

    def chosen_type(self) -> str:
        """The type key for what is in the box: a known label, else the text itself (the
        service also accepts keys and reports an unknown type by name)."""
        text = self.type_combo.currentText().strip()
        index = self.type_combo.findText(text, Qt.MatchFlag.MatchFixedString)
        if index >= 0:
            return str(self.type_combo.itemData(index))
        return text

    def logged_label(self) -> str:
        """The type's label for what was chosen ("Meeting held" when "meeting" was
        typed): the status bar and the timeline then say the same thing."""
        chosen = self.chosen_type()
        index = self.type_combo.findData(normalise_type_key(chosen))
        return self.type_combo.itemText(index) if index >= 0 else chosen

    def chosen_time(self) -> datetime:
        return qdatetime_to_stored(self.when_edit.dateTime())

    def chosen_properties(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for row in range(self.properties.rowCount()):
            value = self._cell(row, 1)
            if value:
                out[self._cell(row, 0)] = value
        return out

    def accept(self) -> None:
        self.error_label.setVisible(False)
        if not self.chosen_type():
            self._show_error("Choose what kind of activity this was.")
            return
        try:
            self.logged = log_activity(
                self._db,
                type_key=self.chosen_type(),
                occurred_at=self.chosen_time(),
                now=self._clock(),
                lead_id=self._lead_id,
                properties=self.chosen_properties(),
                user_id=self._user_id,
            )
        except ValidationError as exc:
            self._show_error("; ".join(exc.errors.values()))
            return
        except ServiceError as exc:
            self._show_error(str(exc))
            return
        super().accept()

    # --- helpers --------------------------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error_label.setText(f"Not logged: {message}")
        self.error_label.setVisible(True)

    def _cell(self, row: int, column: int) -> str:
        item = self.properties.item(row, column)
        return item.text().strip() if item is not None else ""

    def _add_row(self, name: str, value: str = "", *, edit: bool = False) -> None:
        row = self.properties.rowCount()
        self.properties.insertRow(row)
        name_item = QTableWidgetItem(name)
        self.properties.setItem(row, 0, name_item)
        self.properties.setItem(row, 1, QTableWidgetItem(value))
        if edit:
            self.properties.setCurrentCell(row, 0)
            self.properties.editItem(name_item)

    def _remove_row(self) -> None:
        row = self.properties.currentRow()
        if row >= 0:
            self.properties.removeRow(row)

"""Give sales-ready leads to a salesperson: the manager's daily action (DESIGN §1, §4).

Several leads at once: the manager selects them in the *Sales acceptance* queue, picks a
salesperson here and, optionally, ticks *Sales accepted* for all of them in the same go.
The services check the manager's rights; a refusal is shown in its own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from leaddesk.services.errors import ServiceError
from leaddesk.services.process import Actor, PermissionDenied, assign, list_users, mark
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import format_count
from leaddesk.ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    Qt,
    QVBoxLayout,
    QWidget,
)
from leaddesk.ui.workers import error_text

ASSIGNABLE_ROLES = ("salesperson",)


@dataclass
class AssignResult:
    owner: str
    lead_ids: list[int]
    assigned: int = 0
    accepted: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class AssignDialog(QDialog):
    """``result`` is set once the leads were assigned (even when ticking *Sales accepted*
    failed for some of them: the assignment stands and the problems are listed)."""

    def __init__(
        self,
        db: Database,
        lead_ids: Sequence[int],
        actor: Actor,
        *,
        clock: Clock = utc_now,
        current_owner: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._lead_ids = list(lead_ids)
        self._actor = actor
        self._clock = clock
        self.result: AssignResult | None = None
        count = len(self._lead_ids)
        noun = "lead" if count == 1 else "leads"
        self.setWindowTitle(f"Assign {format_count(count)} {noun}")
        self.setMinimumWidth(360)

        heading = QLabel(f"Give the {format_count(count)} selected {noun} to:")
        self.people = QListWidget()
        self.people.setObjectName("salespeople")
        self.people.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.people.itemDoubleClicked.connect(lambda _item: self.accept())
        heading.setBuddy(self.people)
        for user in list_users(db):
            if user.active and user.role in ASSIGNABLE_ROLES:
                item = QListWidgetItem(user.name)
                item.setData(Qt.ItemDataRole.UserRole, user.id)
                self.people.addItem(item)
                if current_owner and user.name == current_owner:
                    self.people.setCurrentItem(item)
        if self.people.currentRow() < 0 and self.people.count():
            self.people.setCurrentRow(0)
        self.accept_box = QCheckBox(f"Also tick &Sales accepted for the {noun}")
        self.accept_box.setToolTip(
            "The salesperson takes them on: they leave the Sales acceptance queue and "
            "appear in the salesperson's My leads"
        )
        self.empty_label = QLabel("There is no salesperson on this desk yet.")
        self.empty_label.setVisible(self.people.count() == 0)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Assign")
        self.ok_button.setEnabled(self.people.count() > 0 and count > 0)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.people, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.accept_box)
        layout.addWidget(self.buttons)
        self.people.setFocus()

    def choose(self, name: str) -> None:
        matches = self.people.findItems(name, Qt.MatchFlag.MatchFixedString)
        if not matches:
            raise LookupError(f"{name!r} is not a salesperson here")
        self.people.setCurrentItem(matches[0])

    def chosen_name(self) -> str | None:
        item = self.people.currentItem()
        return item.text() if item is not None else None

    def accept(self) -> None:
        name = self.chosen_name()
        if name is None or not self._lead_ids:
            return
        now = self._clock()
        try:
            assigned = assign(self._db, self._lead_ids, name, self._actor, now)
        except PermissionDenied as exc:
            QMessageBox.warning(self, "Not assigned", str(exc))
            self.reject()
            return
        except ServiceError as exc:
            QMessageBox.warning(self, "Not assigned", str(exc))
            return
        except Exception as exc:  # the database itself (locked by a long re-score, gone)
            QMessageBox.warning(self, "Not assigned", error_text(exc))
            return
        result = AssignResult(name, list(self._lead_ids), assigned)
        if self.accept_box.isChecked():
            for lead_id in self._lead_ids:
                try:
                    mark(self._db, lead_id, "sales_accepted", True, self._actor, now)
                except ServiceError as exc:
                    result.problems.append(f"lead #{lead_id}: {exc}")
                else:
                    result.accepted.append(lead_id)
        self.result = result
        if result.problems:
            QMessageBox.warning(
                self,
                "Sales accepted not ticked for every lead",
                f"The leads were assigned to {name}, but:\n" + "\n".join(result.problems),
            )
        super().accept()

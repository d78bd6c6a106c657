"""Give sales-ready leads to a salesperson: the manager's daily action (DESIGN §1, §4).

Several leads at once: the manager selects them in the *Sales acceptance* queue, picks a
salesperson here and, optionally, ticks *Sales accepted* for all of them in the same go.
The services check the manager's rights; a refusal is shown in its own words.

Taking a lead from one salesperson and giving it to another is never silent: the dialog
says whose the selected leads are, and *Assign* asks before reassigning any that belong
to someone else - "No" gives only the leads nobody else has, as Dynamics' *Assign* leaves
owned records alone unless told otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from leaddesk.services.errors import ServiceError
from leaddesk.services.lists import lead_rows
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
WARNING_COLOUR = "#a15c00"
"""The note that assigning takes leads from their owners: a caution, not an error."""


@dataclass
class AssignResult:
    owner: str
    lead_ids: list[int]
    assigned: int = 0
    accepted: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    """Leads left with the salesperson they already had (the user said No to taking them)."""


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
        self.result: AssignResult | None = None  # type: ignore[assignment]
        rows = lead_rows(db, self._lead_ids) if self._lead_ids else {}
        self.owners: dict[int, str | None] = {
            lead_id: (row.owner if row is not None else None)
            for lead_id, row in ((i, rows.get(i)) for i in self._lead_ids)
        }
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
        self.owners_label = QLabel(self._owners_text())
        self.owners_label.setObjectName("owners")
        self.owners_label.setWordWrap(True)
        self.reassign_label = QLabel()
        self.reassign_label.setObjectName("reassign")
        self.reassign_label.setWordWrap(True)
        self.reassign_label.setStyleSheet(f"color: {WARNING_COLOUR};")
        self.people.currentItemChanged.connect(lambda *_a: self._show_reassignments())
        self._show_reassignments()
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
        layout.addWidget(self.owners_label)
        layout.addWidget(self.reassign_label)
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

    # --- whose the leads are -----------------------------------------------------------

    def _owners_text(self) -> str:
        owned = Counter(owner for owner in self.owners.values() if owner)
        total = len(self.owners)
        if not owned:
            return "It has no owner yet." if total == 1 else "None of them has an owner yet."
        if total == 1:
            return f"It belongs to {next(iter(owned))}."
        whose = ", ".join(f"{name} ({count})" for name, count in owned.most_common())
        have = sum(owned.values())
        if have == total:
            return f"All {format_count(total)} already have an owner: {whose}."
        return f"{format_count(have)} of the {format_count(total)} already have an owner: {whose}."

    def reassigned_ids(self, name: str | None = None) -> list[int]:
        """The selected leads that belong to someone other than ``name`` (the chosen
        salesperson): assigning takes them away from their owner."""
        name = self.chosen_name() if name is None else name
        return [i for i, owner in self.owners.items() if owner and owner != name]

    def _show_reassignments(self) -> None:
        taken = self.reassigned_ids()
        name = self.chosen_name()
        if not taken or name is None:
            self.reassign_label.setVisible(False)
            return
        owners = sorted({self.owners[i] or "" for i in taken})
        noun = "lead" if len(taken) == 1 else "leads"
        self.reassign_label.setText(
            f"Assigning to {name} takes {format_count(len(taken))} {noun} from "
            f"{_and_list(owners)}; you will be asked first."
        )
        self.reassign_label.setVisible(True)

    def _confirm_reassignment(self, name: str) -> list[int] | None:
        """Ask before taking leads from their owners: the leads to assign, or ``None``
        to go back to the dialog."""
        taken = self.reassigned_ids(name)
        if not taken:
            return list(self._lead_ids)
        free = [i for i in self._lead_ids if i not in set(taken)]
        owners = Counter(self.owners[i] for i in taken)
        whose = ", ".join(f"{owner} ({count})" for owner, count in owners.most_common())
        if len(self._lead_ids) == 1:
            text = f"This lead belongs to {next(iter(owners))}. Give it to {name} instead?"
        else:
            share = (
                f"{format_count(len(taken))} of the {format_count(len(self._lead_ids))} leads"
                if free
                else f"All {format_count(len(taken))} leads"
            )
            text = f"{share} already belong to someone else: {whose}.\n\nReassign them to {name}?"
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
        if free:
            noun = "lead" if len(free) == 1 else "leads"
            text += (
                f"\n\nYes reassigns them; No assigns only the {format_count(len(free))} "
                f"{noun} without another owner; Cancel goes back."
            )
            buttons |= QMessageBox.StandardButton.No
        answer = QMessageBox.question(
            self, "Reassign leads?", text, buttons, QMessageBox.StandardButton.Cancel
        )
        if answer == QMessageBox.StandardButton.Yes:
            return list(self._lead_ids)
        if answer == QMessageBox.StandardButton.No and free:
            return free
        return None

    def accept(self) -> None:
        name = self.chosen_name()
        if name is None or not self._lead_ids:
            return
        lead_ids = self._confirm_reassignment(name)
        if lead_ids is None:
            return
        now = self._clock()
        try:
            assigned = assign(self._db, lead_ids, name, self._actor, now)
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
        kept = [i for i in self._lead_ids if i not in set(lead_ids)]
        result = AssignResult(name, lead_ids, assigned, kept=kept)
        if self.accept_box.isChecked():
            for lead_id in lead_ids:
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


def _and_list(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]

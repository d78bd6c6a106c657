"""Who is at the desk: the first-start question and *File → Switch user…*.

Every process action is recorded with the user who did it and limited by their role, so
the app asks once who is working and remembers it in the database (``set_current_user``),
where the command line finds it too. An admin can add a colleague from here.
"""

from __future__ import annotations

from leaddesk.domain.process import USER_ROLES, allowed
from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.services.process import Actor, UserRow, add_user, list_users, set_current_user
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import ERROR_COLOUR
from leaddesk.ui.qt import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)

ROLE_WORDS = {
    "admin": "admin — everything, including users",
    "marketer": "marketer — scoring models and the process",
    "telemarketer": "telemarketer — the telemarketing queue",
    "manager": "sales manager — assigns sales-ready leads",
    "salesperson": "salesperson — works their own leads",
}


def role_label(role: str) -> str:
    return "sales manager" if role == "manager" else role


class UserPickerDialog(QDialog):
    """Lists the desk's users with their roles; Enter (or double-click) chooses one.

    ``adder`` is the user adding colleagues (only an admin may); after ``accept`` the
    chosen user is the desk's current user and ``chosen`` holds it.
    """

    def __init__(
        self,
        db: Database,
        *,
        current: Actor | None,
        clock: Clock = utc_now,
        first_start: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._clock = clock
        self._current = current
        self.chosen: Actor | None = None
        self.setWindowTitle("Who is working?" if first_start else "Switch user")
        self.setMinimumWidth(460)

        intro = QLabel(
            "<b>Who is at this desk?</b><br>Every stage change, checkbox and assignment is "
            "recorded with your name, and your role decides what you can do. LeadDesk "
            "remembers your choice; change it later with <i>File → Switch user…</i> "
            "(Ctrl+Shift+U)."
            if first_start
            else "Choose who is working at this desk now."
        )
        intro.setWordWrap(True)
        self.users = QListWidget()
        self.users.setObjectName("users")
        self.users.setSpacing(1)
        self.users.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.users.itemDoubleClicked.connect(lambda _item: self.accept())
        self.users.currentRowChanged.connect(lambda _row: self._sync())

        self.add_button = QPushButton("&Add user…")
        self.add_button.setCheckable(True)
        self.add_button.toggled.connect(self._show_add_form)
        can_add = current is not None and allowed(current.role, "manage_users")
        self.add_button.setEnabled(can_add)
        self.add_button.setToolTip(
            "Add a colleague to this desk"
            if can_add
            else "Only an admin can add users; choose an admin first"
        )
        self.add_form = self._build_add_form()
        self.add_form.setVisible(False)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Start working" if first_start else "Switch")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        bottom = QHBoxLayout()
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.users, 1)
        layout.addWidget(self.add_form)
        layout.addWidget(self.error_label)
        layout.addLayout(bottom)
        self._fill(select_id=current.id if current else None)

    def _build_add_form(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("Name")
        self.new_role = QComboBox()
        for role in USER_ROLES:
            self.new_role.addItem(ROLE_WORDS[role], role)
        self.new_role.setCurrentIndex(USER_ROLES.index("telemarketer"))
        self.create_button = QPushButton("Add")
        self.create_button.clicked.connect(self.create_user)
        self.new_name.returnPressed.connect(self.create_user)
        row.addWidget(self.new_name, 1)
        row.addWidget(self.new_role)
        row.addWidget(self.create_button)
        return box

    def _fill(self, select_id: int | None) -> None:
        self.users.clear()
        rows: list[UserRow] = [u for u in list_users(self._db) if u.active]
        order = {role: n for n, role in enumerate(USER_ROLES)}
        rows.sort(key=lambda u: (order.get(u.role, 99), u.name.lower()))
        for user in rows:
            item = QListWidgetItem(f"{user.name}  —  {role_label(user.role)}")
            item.setData(Qt.ItemDataRole.UserRole, user.id)
            item.setToolTip(ROLE_WORDS.get(user.role, user.role))
            self.users.addItem(item)
            if user.id == select_id:
                self.users.setCurrentItem(item)
        if self.users.currentRow() < 0 and self.users.count():
            self.users.setCurrentRow(0)
        self._sync()

    def _sync(self) -> None:
        self.ok_button.setEnabled(self.users.currentItem() is not None)

    def _show_add_form(self, on: bool) -> None:
        self.add_form.setVisible(on)
        if on:
            self.new_name.setFocus()

    def select_user(self, name: str) -> None:
        """Make the row of the user called ``name`` current (for the keyboard and tests)."""
        for row in range(self.users.count()):
            item = self.users.item(row)
            if item.text().split("  —  ")[0].lower() == name.strip().lower():
                self.users.setCurrentRow(row)
                return
        raise LookupError(f"no user named {name!r} in the list")

    def create_user(self) -> int | None:
        """Add the user typed in the form (admins only; the service checks too)."""
        self.error_label.setVisible(False)
        if self._current is None:
            return None
        try:
            user_id = add_user(
                self._db,
                self.new_name.text(),
                str(self.new_role.currentData()),
                self._current,
                self._clock(),
            )
        except ValidationError as exc:
            self._error("; ".join(exc.errors.values()))
            return None
        except ServiceError as exc:
            self._error(str(exc))
            return None
        self.new_name.clear()
        self.add_button.setChecked(False)
        self._fill(select_id=user_id)
        self.users.setFocus()
        return user_id

    def _error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def accept(self) -> None:
        item = self.users.currentItem()
        if item is None:
            return
        try:
            self.chosen = set_current_user(self._db, int(item.data(Qt.ItemDataRole.UserRole)))
        except ServiceError as exc:
            self._error(str(exc))
            return
        super().accept()

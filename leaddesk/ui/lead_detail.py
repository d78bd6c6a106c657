"""The lead pane: who the lead is, where it is in the process, and what happened to it.

Under the header sits the process bar (``process_bar.ProcessPanel``: stages, checkboxes,
qualification fields, the process actions); under that, tabs keep the rest readable at
1280×800: *Details* (the form), *Activity* (what the contact did), *Score* (every
model's score and why, ``score_panel.ScorePanel``) and *History* (the audit trail).

The form sends only the fields the user changed (the service touches nothing else) and
never throws typed values away: a refused save leaves every field as typed with the
reason in red under the offending one, and switching leads with unsaved edits (in the
form or in the qualification fields) asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.services.process import Actor, AuditEntry, history
from leaddesk.services.records import LeadDetail, TimelineEntry, get_lead_detail, update_lead_form
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import (
    ERROR_COLOUR,
    format_amount,
    format_date,
    format_relative,
    format_time,
    stars_text,
)
from leaddesk.ui.process_bar import ProcessPanel
from leaddesk.ui.qt import (
    QCheckBox,
    QComboBox,
    QEvent,
    QFont,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QLineEdit,
    QModelIndex,
    QPainter,
    QPushButton,
    QScrollArea,
    QSize,
    QSizePolicy,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    Qt,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)

NOTE_STYLE = (
    "QLabel { background: palette(alternate-base); border: 1px solid palette(mid);"
    " border-radius: 4px; padding: 6px; }"
)
# What a user is offered for buying role; the service normalises whatever is typed
# ("Decision maker" becomes ``decision_maker``), so the list is a convenience, not a rule.
BUYING_ROLE_CHOICES = ("decision_maker", "influencer", "champion", "user", "gatekeeper", "other")
# Properties that say most about an activity, shown first in the timeline.
KEY_PROPERTIES = ("subject", "url", "campaign")
TAB_DETAILS, TAB_ACTIVITY, TAB_SCORE, TAB_HISTORY = range(4)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format_amount(value)
    return str(value)


def _role_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _role_key(text: str) -> str:
    return text.strip().lower().replace(" ", "_")


@dataclass
class FormField:
    """One editable field, its error line, and the value it was loaded with (so the
    form can tell what the user changed and send only that)."""

    group: str
    name: str
    label: str
    widget: QLineEdit | QCheckBox | QComboBox
    error: QLabel
    original: Any = None

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"

    def load(self, value: Any) -> None:
        self.original = value
        widget = self.widget
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(_role_label(value) if value else "")
        else:
            widget.setText(_as_text(value))
            widget.setCursorPosition(0)
        self.show_error(None)

    def value(self) -> Any:
        widget = self.widget
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentText().strip()
        return widget.text().strip()

    def changed(self) -> bool:
        widget = self.widget
        if isinstance(widget, QCheckBox):
            return widget.isChecked() != bool(self.original)
        if isinstance(widget, QComboBox):
            return _role_key(widget.currentText()) != (self.original or "")
        return widget.text().strip() != _as_text(self.original)

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))

    def on_edit(self, callback: Callable[[], None]) -> None:
        widget = self.widget
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(callback)
        elif isinstance(widget, QComboBox):
            widget.currentTextChanged.connect(callback)
        else:
            widget.textChanged.connect(callback)


CONTACT_FORM = (
    ("email", "E-mail", "text"),
    ("first_name", "First name", "text"),
    ("last_name", "Last name", "text"),
    ("phone", "Phone", "text"),
    ("job_title", "Job title", "text"),
    ("department", "Department", "text"),
    ("buying_role", "Buying role", "role"),
    ("country", "Country", "text"),
    ("state", "State", "text"),
    ("city", "City", "text"),
    ("age", "Age", "number"),
    ("source", "Source", "text"),
    ("is_employee", "Is one of our employees", "bool"),
    ("is_customer", "Is already a customer", "bool"),
    ("email_subscribed", "Subscribed to e-mails", "bool"),
)
ACCOUNT_FORM = (
    ("name", "Name", "text"),
    ("domain", "Domain", "text"),
    ("industry", "Industry", "text"),
    ("employees", "Employees", "number"),
    ("annual_revenue", "Annual revenue", "number"),
    ("country", "Country", "text"),
    ("state", "State", "text"),
    ("city", "City", "text"),
)
LEAD_FORM = (
    ("topic", "Topic", "text"),
    ("source", "Source", "text"),
)


class ElidedLabel(QLabel):
    """One line of plain text that never wraps and never widens its parent: too long for
    its width, it ends in "…" and its tooltip holds the whole text.

    The lead header is made of these: a wrapping line (a long owner name, a long topic)
    made the header one line taller and pushed the process bar, the tabs and the score
    chart down each time another lead was selected.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_tip(self, tip: str) -> None:
        """The tooltip while the text fits (when it does not, the tooltip is the text)."""
        self._tip = tip

    def is_elided(self) -> bool:
        width = self.contentsRect().width()
        return self.fontMetrics().horizontalAdvance(self.text()) > width

    def tip(self) -> str:
        """What hovering shows: the whole text when it is cut, else the set tip."""
        return self.text() if self.is_elided() else self._tip

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            self.setToolTip(self.tip())
        return super().event(event)

    def minimumSizeHint(self) -> QSize:
        height = super().minimumSizeHint().height()
        return QSize(self.fontMetrics().horizontalAdvance("…") * 3, height)

    def paintEvent(self, event: QEvent) -> None:
        rect = self.contentsRect()
        metrics = self.fontMetrics()
        text = metrics.elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        painter.drawText(rect, int(self.alignment().value), text)
        painter.end()


def _fit_columns(tree: QTreeWidget) -> None:
    """A when/who/what table in the narrow lead pane: the short first two columns as
    wide as their longest entry (a time cut to "22 Nov 2026 12:…" says nothing), the
    last one takes the rest and wraps its text onto more lines rather than cutting it.
    Every cell's whole text is also its tooltip."""
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(False)
    tree.setAlternatingRowColors(True)
    tree.setWordWrap(True)
    tree.setTextElideMode(Qt.TextElideMode.ElideRight)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
    tree.setItemDelegateForColumn(2, _WrappingDelegate(tree))

    def relayout(column: int, _old: int, _new: int) -> None:
        # Row heights depend on the last column's width: measure again when it changes.
        if column == 2:
            tree.doItemsLayout()

    header.sectionResized.connect(relayout)


def _align_top(item: QTreeWidgetItem) -> None:
    """A row whose last cell wraps reads from its top line, like a table in a mail client."""
    for column in range(item.columnCount()):
        item.setTextAlignment(column, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)


class _WrappingDelegate(QStyledItemDelegate):
    """Measures a cell at its column's width, so wrapped text gets the lines it needs
    (a tree view asks its delegate for row heights without saying how wide the cell is,
    and an unbounded width never wraps)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self._tree = tree

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # type: ignore[override]
        sized = QStyleOptionViewItem(option)
        rect = sized.rect
        rect.setWidth(self._tree.columnWidth(index.column()))
        rect.setHeight(max(rect.height(), 1))  # Qt wraps only within a valid rectangle
        sized.rect = rect
        return super().sizeHint(sized, index)


def _error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(f"color: {ERROR_COLOUR};")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def _note_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    label.setVisible(False)
    return label


class LeadDetailPane(QWidget):
    """Shows one lead. Tells the window when something changed so the list can follow:
    ``saved`` after the form was stored, ``process_changed(lead_id)`` after a process
    action (checkbox, stage, status, fields), ``assign_requested`` for *Assign…*."""

    saved = Signal()
    log_activity_requested = Signal()
    process_changed = Signal(int)
    assign_requested = Signal()

    def __init__(self, db: Database, clock: Clock = utc_now, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._clock = clock
        self._detail: LeadDetail | None = None
        self._fields: dict[str, FormField] = {}
        self._score_stale = True
        self.score_panel: Any = None
        self.audit: list[AuditEntry] = []

        self._stack = QStackedWidget()
        self._placeholder = QLabel("Select a lead to see its details.")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self._build_content())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # --- building -----------------------------------------------------------------------

    def _build_content(self) -> QWidget:
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self._build_header())
        self.process = ProcessPanel(self._db, self._clock)
        self.process.setObjectName("process_panel")
        self.process.changed.connect(self._after_process_change)
        self.process.assign_requested.connect(self.assign_requested)
        layout.addWidget(self.process)

        form_area = QWidget()
        form_layout = QVBoxLayout(form_area)
        form_layout.setContentsMargins(4, 4, 4, 4)
        self.form_scroll = QScrollArea()
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setWidget(self._build_form())
        form_layout.addWidget(self.form_scroll)
        self.form_error = _error_label()
        form_layout.addWidget(self.form_error)
        form_layout.addLayout(self._build_buttons())

        self.tabs = QTabWidget()
        self.tabs.setObjectName("lead_tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(form_area, "&Details")
        self.tabs.addTab(self._build_timeline(), "Ac&tivity")
        self.score_scroll = QScrollArea()
        self.score_scroll.setWidgetResizable(True)
        self.score_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.score_host = QWidget()
        self.score_host_layout = QVBoxLayout(self.score_host)
        self.score_host_layout.setContentsMargins(4, 4, 4, 4)
        self.score_scroll.setWidget(self.score_host)
        self.tabs.addTab(self.score_scroll, "Sco&re")
        self.tabs.addTab(self._build_history(), "Hist&ory")
        self.tabs.currentChanged.connect(self._tab_changed)
        layout.addWidget(self.tabs, 1)
        return content

    def _build_header(self) -> QWidget:
        """Three lines, always three whatever the lead: its name (and, on the right as in
        a Dynamics record header, when it was created); company, topic and e-mail; score,
        sales-ready and owner. Lines that do not fit are
        cut with "…" (whole in the tooltip) rather than wrapped, so the process bar and
        the tabs below stay put from one lead to the next."""
        header = QWidget()
        layout = QVBoxLayout(header)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        self.name_label = QLabel()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.subtitle_label = ElidedLabel()
        self.score_label = QLabel()
        self.score_label.setToolTip(
            "The primary scoring model's score; stars are relative to its sales-ready "
            "threshold. The Score tab explains it."
        )
        self.ready_label = QLabel("<b>sales-ready</b>")
        self.ready_label.setToolTip("At or above the primary model's sales-ready threshold")
        self.facts_label = ElidedLabel()
        self.created_label = QLabel()
        self.created_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        self.created_label.setStyleSheet("color: palette(placeholder-text);")
        self.note_label = _note_label()
        facts_row = QHBoxLayout()
        facts_row.setSpacing(10)
        facts_row.addWidget(self.score_label)
        facts_row.addWidget(self.ready_label)
        facts_row.addWidget(self.facts_label, 1)
        name_row = QHBoxLayout()
        name_row.setSpacing(10)
        name_row.addWidget(self.name_label, 1)
        name_row.addWidget(self.created_label, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(name_row)
        layout.addWidget(self.subtitle_label)
        layout.addLayout(facts_row)
        layout.addWidget(self.note_label)
        return header

    def _build_form(self) -> QWidget:
        form = QWidget()
        layout = QVBoxLayout(form)
        layout.setContentsMargins(0, 0, 8, 0)
        self.contact_group = self._group("Contact", "contact", CONTACT_FORM)
        self.contact_note = _note_label()
        self.account_group = self._group("Account", "account", ACCOUNT_FORM)
        self.account_note = _note_label()
        self.lead_group = self._group("Lead", "lead", LEAD_FORM)
        layout.addWidget(self.contact_note)
        layout.addWidget(self.contact_group)
        layout.addWidget(self.account_note)
        layout.addWidget(self.account_group)
        layout.addWidget(self.lead_group)
        layout.addStretch(1)
        return form

    def _group(self, title: str, group: str, spec: tuple[tuple[str, str, str], ...]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for name, label, kind in spec:
            widget: QLineEdit | QCheckBox | QComboBox
            if kind == "bool":
                widget = QCheckBox(label)
            elif kind == "role":
                widget = QComboBox()
                widget.setEditable(True)
                widget.addItem("")
                widget.addItems([_role_label(k) for k in BUYING_ROLE_CHOICES])
            else:
                widget = QLineEdit()
                if kind == "number":
                    widget.setMaximumWidth(160)
            widget.setObjectName(f"{group}.{name}")
            error = _error_label()
            error.setObjectName(f"{group}.{name}.error")
            field = FormField(group, name, label, widget, error)
            field.on_edit(lambda *_args, field=field: self._field_edited(field))
            self._fields[field.key] = field
            cell = QWidget()
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            cell_layout.setSpacing(1)
            cell_layout.addWidget(widget)
            cell_layout.addWidget(error)
            if kind == "bool":
                form.addRow("", cell)
            else:
                form.addRow(f"{label}:", cell)
                row_label = form.labelForField(cell)
                if isinstance(row_label, QLabel):
                    row_label.setBuddy(widget)
        return box

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.setShortcut(QKeySequence.StandardKey.Save)
        self.save_button.setToolTip("Save the changes (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Put back the values last saved")
        self.revert_button.clicked.connect(self.revert)
        self.dirty_label = QLabel()
        self.dirty_label.setEnabled(False)
        row.addWidget(self.dirty_label)
        row.addStretch(1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        return row

    def _build_timeline(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.timeline_title = QLabel("Activity")
        bold = QFont(self.timeline_title.font())
        bold.setBold(True)
        self.timeline_title.setFont(bold)
        self.log_button = QPushButton("Log activity…")
        self.log_button.setToolTip("Record a call, meeting, visit… for this lead (Ctrl+L)")
        self.log_button.clicked.connect(self.log_activity_requested)
        top.addWidget(self.timeline_title)
        top.addStretch(1)
        top.addWidget(self.log_button)
        self.timeline = QTreeWidget()
        self.timeline.setHeaderLabels(["When", "Activity", "Details"])
        _fit_columns(self.timeline)
        self.timeline.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout.addLayout(top)
        layout.addWidget(self.timeline)
        return box

    def _build_history(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        self.history_title = QLabel("History")
        bold = QFont(self.history_title.font())
        bold.setBold(True)
        self.history_title.setFont(bold)
        self.history_tree = QTreeWidget()
        self.history_tree.setObjectName("history")
        self.history_tree.setHeaderLabels(["When", "Who", "What"])
        _fit_columns(self.history_tree)
        layout.addWidget(self.history_title)
        layout.addWidget(self.history_tree)
        return box

    # --- state ------------------------------------------------------------------------------

    @property
    def lead_id(self) -> int | None:
        return self._detail.id if self._detail else None

    @property
    def detail(self) -> LeadDetail | None:
        return self._detail

    def field(self, key: str) -> FormField:
        """The form field for a service error key such as ``"contact.email"``."""
        return self._fields[key]

    def changes(self) -> dict[str, dict[str, Any]]:
        """What the user changed, per group, as the service's ``update_lead_form`` takes it."""
        out: dict[str, dict[str, Any]] = {"contact": {}, "account": {}, "lead": {}}
        for field in self._fields.values():
            if field.widget.isEnabled() and field.changed():
                out[field.group][field.name] = field.value()
        return out

    def has_unsaved_changes(self) -> bool:
        if self._detail is None:
            return False
        return any(self.changes().values()) or self.process.has_unsaved_fields()

    def set_actor(self, actor: Actor | None) -> None:
        """The user at the desk: process actions are done as them, and the buttons their
        role cannot use are disabled."""
        self.process.set_actor(actor)

    # --- loading ------------------------------------------------------------------------

    def show_lead(self, lead_id: int | None) -> None:
        """Show a lead with its saved values (callers ask about unsaved edits first)."""
        if lead_id is None:
            self._detail = None
            self.process.show_lead(None)
            self._stack.setCurrentIndex(0)
            return
        try:
            detail = get_lead_detail(self._db, lead_id)
            self.process.show_lead(lead_id)
        except ServiceError as exc:
            self._detail = None
            self._placeholder.setText(str(exc))
            self._stack.setCurrentIndex(0)
            return
        self._detail = detail
        self._fill_header(detail)
        self._fill_form(detail)
        self._fill_timeline(detail)
        self._fill_history()
        self._invalidate_score()
        self._stack.setCurrentIndex(1)
        self._update_buttons()

    def reload(self) -> None:
        """Fetch the lead again (its score or timeline changed) without discarding edits
        in progress: the form is refilled only when it holds nothing unsaved."""
        if self._detail is None:
            return
        keep_form = any(self.changes().values())
        try:
            detail = get_lead_detail(self._db, self._detail.id)
        except ServiceError:
            self.show_lead(None)
            return
        self._detail = detail
        self._fill_header(detail)
        if not keep_form:
            self._fill_form(detail)
        self.process.reload()
        self._fill_timeline(detail)
        self._fill_history()
        self._invalidate_score()
        self._update_buttons()

    def _after_process_change(self, lead_id: int) -> None:
        """A checkbox, stage, status or field changed: the header, history and score
        tabs follow, and the window hears of it."""
        if self._detail is not None and self._detail.id == lead_id:
            try:
                self._detail = get_lead_detail(self._db, lead_id)
            except ServiceError:
                self.show_lead(None)
                return
            self._fill_header(self._detail)
            self._fill_history()
        self.process_changed.emit(lead_id)

    def _fill_header(self, detail: LeadDetail) -> None:
        lead = detail.lead
        self.name_label.setText(detail.display_name)
        company = detail.account.get("name") if detail.account else None
        email = detail.contact.get("email") if detail.contact else None
        parts = [p for p in (company, lead.get("topic") or None, email) if p]
        self.subtitle_label.setText("  ·  ".join(parts))
        self.score_label.setText(
            f"<span style='font-size: large'>Score <b>{lead['score']}</b>  "
            f"{stars_text(lead['stars'])}</span>"
        )
        self.ready_label.setVisible(bool(lead.get("sales_ready")) and lead.get("status") == "open")
        self.facts_label.setText(f"Owner: {detail.owner_name or 'nobody yet'}")
        self.facts_label.set_tip(f"Stage: {detail.stage_label}")
        created = format_date(lead.get("created_at"))
        self.created_label.setText(f"created {created}" if created else "")
        self.created_label.setToolTip(format_time(lead.get("created_at")))
        if detail.contact is None and detail.account is None:
            self.note_label.setText(
                "This lead has no contact and no account, so it cannot be scored. "
                "Give it a company in Details, or link a contact to it."
            )
            self.note_label.setVisible(True)
        else:
            self.note_label.setVisible(False)

    def _fill_form(self, detail: LeadDetail) -> None:
        sources = {
            "contact": detail.contact or {},
            "account": detail.account or {},
            "lead": detail.lead,
        }
        for field in self._fields.values():
            field.load(sources[field.group].get(field.name))
        has_contact = detail.contact is not None
        self.contact_group.setEnabled(has_contact)
        self.contact_note.setVisible(not has_contact)
        if not has_contact:
            self.contact_note.setText(
                "This lead belongs to an account only: it has no contact person, so there "
                "is nobody whose details to edit or whose activities to log."
            )
        self.account_note.setVisible(detail.account is None)
        if detail.account is None:
            self.account_note.setText("No company yet. Type a name to create one for this lead.")
        self.form_error.setVisible(False)

    def _fill_timeline(self, detail: LeadDetail) -> None:
        now = self._clock()
        self.timeline.clear()
        items = [self._timeline_item(entry, detail, now) for entry in detail.timeline]
        self.timeline.addTopLevelItems(items)
        count = len(detail.timeline)
        self.timeline_title.setText(f"Activity ({count})" if count else "Activity — none yet")
        self.tabs.setTabText(TAB_ACTIVITY, f"Ac&tivity ({count})" if count else "Ac&tivity")
        self.log_button.setEnabled(detail.contact is not None)
        if detail.contact is None:
            self.log_button.setToolTip("Activities are logged for a contact; this lead has none")
        else:
            self.log_button.setToolTip("Record a call, meeting, visit… for this lead (Ctrl+L)")

    def _timeline_item(
        self, entry: TimelineEntry, detail: LeadDetail, now: datetime
    ) -> QTreeWidgetItem:
        props = entry.properties
        shown = [f"{props[k]}" for k in KEY_PROPERTIES if props.get(k) not in (None, "")]
        shown += [
            f"{k}: {v}" for k, v in props.items() if k not in KEY_PROPERTIES and v not in (None, "")
        ]
        if detail.contact is None:
            shown.insert(0, entry.contact_email)
        if entry.logged_by:
            shown.append(f"by {entry.logged_by}")
        item = QTreeWidgetItem(
            [format_time(entry.occurred_at), entry.type_label, "  ·  ".join(shown)]
        )
        item.setToolTip(
            0, f"{format_time(entry.occurred_at)}, {format_relative(entry.occurred_at, now)}"
        )
        item.setToolTip(1, entry.type_label)
        lines = [f"{k}: {v}" for k, v in props.items() if v not in (None, "")]
        if detail.contact is None:
            lines.insert(0, entry.contact_email)
        if entry.logged_by:
            lines.append(f"logged by {entry.logged_by}")
        item.setToolTip(2, "\n".join(lines))
        item.setData(0, Qt.ItemDataRole.UserRole, entry.id)
        _align_top(item)
        return item

    def _fill_history(self) -> None:
        """The audit trail, newest first: when, who (or "automatic"), what."""
        self.history_tree.clear()
        if self._detail is None:
            return
        try:
            self.audit = history(self._db, self._detail.id)
        except ServiceError:
            self.audit = []
        label = self.process.stage_label
        now = self._clock()
        items = []
        for entry in reversed(self.audit):
            who = "automatic" if entry.automatic or not entry.user else entry.user
            what = entry.describe(label)
            item = QTreeWidgetItem([format_time(entry.at), who, what])
            item.setToolTip(0, f"{format_time(entry.at)}, {format_relative(entry.at, now)}")
            item.setToolTip(1, who)
            item.setToolTip(2, what)
            _align_top(item)
            if entry.automatic:
                item.setForeground(1, self.palette().placeholderText())
            items.append(item)
        self.history_tree.addTopLevelItems(items)
        count = len(self.audit)
        self.history_title.setText(
            f"History ({count}), newest first" if count else "History — nothing recorded yet"
        )
        self.tabs.setTabText(TAB_HISTORY, f"Hist&ory ({count})" if count else "Hist&ory")

    def history_texts(self) -> list[tuple[str, str]]:
        """(who, what) of each timeline row as shown, newest first."""
        out = []
        for row in range(self.history_tree.topLevelItemCount()):
            item = self.history_tree.topLevelItem(row)
            if item is not None:
                out.append((item.text(1), item.text(2)))
        return out

    # --- the Score tab: filled when it is looked at ----------------------------------------

    def _invalidate_score(self) -> None:
        self._score_stale = True
        if self.tabs.currentIndex() == TAB_SCORE:
            self.refresh_score()

    def _tab_changed(self, index: int) -> None:
        if index == TAB_SCORE and self._score_stale:
            self.refresh_score()

    def refresh_score(self) -> None:
        """Show every model's score, subtotals, explanation and history for the lead.
        The panel (and matplotlib, for its chart) is only loaded when first needed."""
        if self.score_panel is None:
            from leaddesk.ui.score_panel import ScorePanel

            self.score_panel = ScorePanel()
            self.score_host_layout.addWidget(self.score_panel)
            self.score_panel.show()
        if self._detail is None:
            self.score_panel.clear()
        else:
            self.score_panel.show_lead(self._db, self._detail.id, self._clock())
        self._score_stale = False

    def show_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)

    # --- editing ------------------------------------------------------------------------

    def _field_edited(self, field: FormField) -> None:
        field.show_error(None)
        self._update_buttons()

    def _update_buttons(self) -> None:
        dirty = self.has_unsaved_changes()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        self.dirty_label.setText("Unsaved changes" if dirty else "")

    def save(self) -> bool:
        """Save what changed. On refusal nothing is written and the form keeps the
        typed values, with each reason shown under its field."""
        if self._detail is None:
            return True
        if self.process.has_unsaved_fields() and not self.process.save_fields():
            return False
        changes = self.changes()
        if not any(changes.values()):
            return True
        for field in self._fields.values():
            field.show_error(None)
        self.form_error.setVisible(False)
        try:
            update_lead_form(
                self._db,
                self._detail.id,
                contact=changes["contact"] or None,
                account=changes["account"] or None,
                lead=changes["lead"] or None,
                now=self._clock(),
            )
        except ValidationError as exc:
            self._show_errors(exc.errors)
            return False
        except ServiceError as exc:
            self.form_error.setText(f"Not saved: {exc}")
            self.form_error.setVisible(True)
            return False
        self.show_lead(self._detail.id)
        self.saved.emit()
        return True

    def _show_errors(self, errors: dict[str, str]) -> None:
        stray: list[str] = []
        first: FormField | None = None
        for key, message in errors.items():
            field = self._fields.get(key)
            if field is None:
                stray.append(f"{key}: {message}")
                continue
            field.show_error(message)
            if first is None:
                first = field
        text = "Not saved — fix the fields marked in red."
        if stray:
            text = "Not saved: " + "; ".join(stray)
        self.form_error.setText(text)
        self.form_error.setVisible(True)
        if first is not None:
            first.widget.setFocus()
            self.form_scroll.ensureWidgetVisible(first.widget)

    def revert(self) -> None:
        if self._detail is not None:
            self._fill_form(self._detail)
            self.process.revert_fields()
            self._update_buttons()

    def focus_process(self) -> None:
        """Enter on a list row lands here: the first thing to do in the lead's stage
        (a checkbox to tick, a field to fill, *Next stage*)."""
        if not self.process.focus_first():
            self.focus_form()

    def focus_form(self) -> None:
        """The first field of the Details form the user can edit."""
        self.tabs.setCurrentIndex(TAB_DETAILS)
        for field in self._fields.values():
            if field.widget.isEnabled() and field.widget.isVisibleTo(self):
                field.widget.setFocus(Qt.FocusReason.OtherFocusReason)
                return
        self.setFocus()

"""The process editor (admins and marketers; *Process → Edit process…*).

Stages can be renamed in place, reordered, added and removed, and each stage's fields
edited (key, label, type, choices); the stages the automatic moves attach to (their
*role*) cannot be removed. The disqualification reasons and the Encharge-style
disqualification rules are edited here too.

Nothing is stored until *Save*, and Save first shows what will happen to the leads
(``preview_stages``: "3 leads in Nurture will move to Automated marketing qualification")
and asks to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leaddesk.domain.conditions import Condition
from leaddesk.domain.process import FIELD_TYPES, StageSpec
from leaddesk.services.activities import list_activity_types
from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.services.fields import lead_fields
from leaddesk.services.process import (
    Actor,
    DisqualificationRule,
    StageEdit,
    StagePlan,
    disqualification_reasons,
    disqualification_rules,
    preview_stages,
    save_disqualification_rules,
    save_stages,
    set_disqualification_reasons,
    stages,
    starter_disqualification_rules,
)
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.condition_builder import ConditionBuilder, ConditionProblems
from leaddesk.ui.display import ERROR_COLOUR, format_count
from leaddesk.ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFont,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSize,
    QSpinBox,
    QSplitter,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    Signal,
)

FIELD_COLUMNS = ("Key", "Label", "Type", "Choices (comma-separated)")
MUTED_STYLE = "color: palette(placeholder-text);"
TYPE_COLUMNS = 3
TYPE_CELL_EXTRA = 56  # the checkbox, the item's margins and the gap to the next column
TYPE_ROW_PADDING = 8
TYPE_MAX_ROWS = 8


@dataclass
class StageDraft:
    key: str | None  # None: a stage added in this editor
    label: str
    role: str | None
    fields: list[dict[str, Any]] = field(default_factory=list)
    original_label: str | None = None

    @classmethod
    def of(cls, spec: StageSpec) -> StageDraft:
        return cls(spec.key, spec.label, spec.role, [dict(f) for f in spec.fields], spec.label)

    def edit(self) -> StageEdit:
        return StageEdit(self.key, self.label, tuple(dict(f) for f in self.fields))


@dataclass
class RuleDraft:
    name: str
    when: Condition | None = None
    inactive_days: int | None = None
    activity_types: list[str] = field(default_factory=list)
    active: bool = True

    @classmethod
    def of(cls, rule: DisqualificationRule) -> RuleDraft:
        return cls(
            rule.name,
            rule.when,
            rule.inactive_days,
            list(rule.activity_types or ()),
            rule.active,
        )

    def rule(self) -> DisqualificationRule:
        return DisqualificationRule(
            self.name.strip(),
            self.when,
            self.inactive_days,
            tuple(self.activity_types) or None,
            self.active,
        )


def role_words(role: str) -> str:
    return role.replace("_", " ")


def plan_lines(plan: StagePlan, before: list[StageDraft], drafts: list[StageDraft]) -> list[str]:
    """What saving does, in sentences: leads moved, stages renamed, added, reordered."""
    labels = {d.key: d.original_label or d.label for d in before}
    new_labels = {s.key: s.label for s in plan.stages}
    lines = []
    for removed, (target, count) in plan.moves.items():
        noun = "lead" if count == 1 else "leads"
        where = new_labels.get(target, target)
        if count:
            lines.append(
                f"{format_count(count)} {noun} in {labels.get(removed, removed)} will move to "
                f"{where}."
            )
        else:
            lines.append(f"{labels.get(removed, removed)} is removed (no lead is in it).")
    for draft in drafts:
        if draft.key is None:
            lines.append(f"New stage: {draft.label.strip()}.")
        elif draft.original_label and draft.original_label != draft.label.strip():
            lines.append(f"{draft.original_label} is renamed {draft.label.strip()}.")
    kept_before = [d.key for d in before if d.key in {s.key for s in plan.stages}]
    kept_after = [s.key for s in plan.stages if s.key in set(kept_before)]
    if kept_before != kept_after:
        lines.append("The stages are put in the new order.")
    old_fields = {d.key: d.fields for d in before}
    for draft in drafts:
        if draft.key is not None and old_fields.get(draft.key) != draft.fields:
            lines.append(f"The fields of {draft.label.strip()} change.")
    return lines


class ProcessEditor(QDialog):
    """Non-modal use: ``open()`` it; ``saved`` fires after everything was stored."""

    saved = Signal()

    def __init__(
        self,
        db: Database,
        actor: Actor,
        *,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._clock = clock
        self._loading = False
        self.last_plan: StagePlan | None = None
        self.setWindowTitle("Edit the lead process")
        self.resize(980, 640)

        self._before = [StageDraft.of(s) for s in stages(db)]
        self.drafts = [StageDraft.of(s) for s in stages(db)]
        self._reasons_before = disqualification_reasons(db)
        self._rules_before = [RuleDraft.of(r) for r in disqualification_rules(db)]
        self.rules = [RuleDraft.of(r) for r in disqualification_rules(db)]
        self._types = [(t.key, t.label) for t in list_activity_types(db)]

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_stages_tab(), "&Stages")
        self.tabs.addTab(self._build_disqualification_tab(), "&Disqualification")
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save…")
        self.save_button.setToolTip("Shows what will happen to the leads, then asks to confirm")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._fill_stages(select=0)
        self._fill_reasons()
        self._fill_rules(select=0 if self.rules else None)

    # ================================================================= stages

    def _build_stages_tab(self) -> QWidget:
        page = QWidget()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        heading = QLabel("Stages, in order (double-click or F2 to rename)")
        self.stage_list = QListWidget()
        self.stage_list.setObjectName("stage_list")
        self.stage_list.setSpacing(2)
        self.stage_list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.stage_list.currentRowChanged.connect(self._stage_selected)
        self.stage_list.itemChanged.connect(self._stage_renamed)
        heading.setBuddy(self.stage_list)
        self.up_button = QPushButton("Move &up")
        self.up_button.clicked.connect(lambda: self.move_stage(-1))
        self.down_button = QPushButton("Move do&wn")
        self.down_button.clicked.connect(lambda: self.move_stage(1))
        self.add_stage_button = QPushButton("&Add stage")
        self.add_stage_button.clicked.connect(lambda: self.add_stage())
        self.remove_stage_button = QPushButton("&Remove stage")
        self.remove_stage_button.clicked.connect(self.remove_stage)
        row1 = QHBoxLayout()
        row1.addWidget(self.up_button)
        row1.addWidget(self.down_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.add_stage_button)
        row2.addWidget(self.remove_stage_button)
        self.role_label = QLabel()
        self.role_label.setWordWrap(True)
        self.role_label.setStyleSheet(MUTED_STYLE)
        left_layout.addWidget(heading)
        left_layout.addWidget(self.stage_list, 1)
        left_layout.addLayout(row1)
        left_layout.addLayout(row2)
        left_layout.addWidget(self.role_label)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        self.fields_title = QLabel("Fields")
        bold = QFont(self.fields_title.font())
        bold.setBold(True)
        self.fields_title.setFont(bold)
        hint = QLabel(
            "Fields are filled on the lead while it is in this stage (for example budget, "
            "authority, need, timeline). The key is what the command line and exports use."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(MUTED_STYLE)
        self.fields_table = QTableWidget(0, len(FIELD_COLUMNS))
        self.fields_table.setObjectName("fields_table")
        self.fields_table.setHorizontalHeaderLabels(list(FIELD_COLUMNS))
        self.fields_table.verticalHeader().setVisible(False)
        self.fields_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.fields_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.fields_table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.fields_table.setColumnWidth(0, 130)
        self.fields_table.setColumnWidth(1, 170)
        self.fields_table.setColumnWidth(2, 100)
        self.fields_table.itemChanged.connect(self._field_cell_changed)
        self.add_field_button = QPushButton("Add &field")
        self.add_field_button.clicked.connect(lambda: self.add_field())
        self.remove_field_button = QPushButton("Remo&ve field")
        self.remove_field_button.clicked.connect(self.remove_field)
        field_buttons = QHBoxLayout()
        field_buttons.addWidget(self.add_field_button)
        field_buttons.addWidget(self.remove_field_button)
        field_buttons.addStretch(1)
        right_layout.addWidget(self.fields_title)
        right_layout.addWidget(hint)
        right_layout.addWidget(self.fields_table, 1)
        right_layout.addLayout(field_buttons)

        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([330, 620])
        layout = QVBoxLayout(page)
        layout.addWidget(splitter)
        return page

    def _fill_stages(self, select: int | None) -> None:
        self._loading = True
        self.stage_list.clear()
        for draft in self.drafts:
            item = QListWidgetItem(draft.label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if draft.role:
                item.setToolTip(
                    f"The automatic moves use this stage ({role_words(draft.role)}): it can be "
                    "renamed and moved, not removed"
                )
            else:
                item.setToolTip("A stage of this desk's own; leads enter it by hand")
            if draft.key is None:
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
            self.stage_list.addItem(item)
        self._loading = False
        if select is not None and self.drafts:
            self.stage_list.setCurrentRow(max(0, min(select, len(self.drafts) - 1)))
        self._sync_stage_buttons()

    def current_stage(self) -> StageDraft | None:
        row = self.stage_list.currentRow()
        return self.drafts[row] if 0 <= row < len(self.drafts) else None

    def select_stage(self, label: str) -> None:
        for row, draft in enumerate(self.drafts):
            if draft.label == label:
                self.stage_list.setCurrentRow(row)
                return
        raise LookupError(label)

    def _stage_selected(self, _row: int) -> None:
        self._fill_fields()
        self._sync_stage_buttons()

    def _stage_renamed(self, item: QListWidgetItem) -> None:
        if self._loading:
            return
        row = self.stage_list.row(item)
        if 0 <= row < len(self.drafts):
            self.drafts[row].label = item.text().strip()
            self._fill_fields_title()

    def rename_stage(self, row: int, label: str) -> None:
        """What renaming in place does (for the keyboard and tests)."""
        item = self.stage_list.item(row)
        if item is not None:
            item.setText(label)

    def move_stage(self, step: int) -> None:
        row = self.stage_list.currentRow()
        target = row + step
        if not (0 <= row < len(self.drafts) and 0 <= target < len(self.drafts)):
            return
        self.drafts[row], self.drafts[target] = self.drafts[target], self.drafts[row]
        self._fill_stages(select=target)

    def add_stage(self, label: str | None = None) -> StageDraft:
        """A new stage after the selected one (named ``label``, else opened for typing)."""
        row = self.stage_list.currentRow()
        position = row + 1 if row >= 0 else len(self.drafts)
        taken = {d.label.lower() for d in self.drafts}
        name, n = label or "New stage", 2
        while label is None and name.lower() in taken:
            name, n = f"New stage {n}", n + 1
        draft = StageDraft(None, name, None, [])
        self.drafts.insert(position, draft)
        self._fill_stages(select=position)
        if label is None:
            item = self.stage_list.item(position)
            if item is not None:
                self.stage_list.editItem(item)
        return draft

    def remove_stage(self) -> None:
        draft = self.current_stage()
        if draft is None or draft.role:
            return
        row = self.stage_list.currentRow()
        del self.drafts[row]
        self._fill_stages(select=min(row, len(self.drafts) - 1))

    def _sync_stage_buttons(self) -> None:
        draft = self.current_stage()
        row = self.stage_list.currentRow()
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < len(self.drafts) - 1)
        if draft is None:
            self.remove_stage_button.setEnabled(False)
            self.role_label.setText("")
            return
        if draft.role:
            why = (
                f"{draft.label} cannot be removed: the automatic moves use it "
                f"({role_words(draft.role)}). It can be renamed and moved."
            )
            self.remove_stage_button.setEnabled(False)
            self.remove_stage_button.setToolTip(why)
            self.role_label.setText(why)
        else:
            self.remove_stage_button.setEnabled(True)
            self.remove_stage_button.setToolTip(
                "Remove the stage; its leads move to the nearest earlier stage"
            )
            self.role_label.setText(
                "A stage of this desk's own. Removing it moves its leads to the nearest "
                "earlier stage (the preview says how many)."
            )

    # ----------------------------------------------------------------- fields

    def _fill_fields_title(self) -> None:
        draft = self.current_stage()
        self.fields_title.setText(f"Fields of {draft.label}" if draft else "Fields")

    def _fill_fields(self) -> None:
        self._fill_fields_title()
        draft = self.current_stage()
        self._loading = True
        self.fields_table.setRowCount(0)
        for spec in draft.fields if draft else []:
            self._append_field_row(spec)
        self._loading = False
        enabled = draft is not None
        self.add_field_button.setEnabled(enabled)
        self.remove_field_button.setEnabled(enabled and self.fields_table.rowCount() > 0)

    def _append_field_row(self, spec: dict[str, Any]) -> None:
        row = self.fields_table.rowCount()
        self.fields_table.insertRow(row)
        self.fields_table.setItem(row, 0, QTableWidgetItem(str(spec.get("key") or "")))
        self.fields_table.setItem(row, 1, QTableWidgetItem(str(spec.get("label") or "")))
        combo = QComboBox()
        combo.addItems(list(FIELD_TYPES))
        combo.setCurrentText(str(spec.get("type") or "text"))
        combo.currentTextChanged.connect(lambda _t, combo=combo: self._type_changed(combo))
        self.fields_table.setCellWidget(row, 2, combo)
        choices = QTableWidgetItem(", ".join(str(c) for c in spec.get("choices") or []))
        self.fields_table.setItem(row, 3, choices)
        self._sync_choice_cell(row)

    def _sync_choice_cell(self, row: int) -> None:
        combo = self.fields_table.cellWidget(row, 2)
        item = self.fields_table.item(row, 3)
        if item is None or not isinstance(combo, QComboBox):
            return
        is_choice = combo.currentText() == "choice"
        flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
        if is_choice:
            flags |= Qt.ItemFlag.ItemIsEditable
        self._loading, was = True, self._loading
        item.setFlags(flags)
        item.setToolTip("" if is_choice else "Only choice fields have choices")
        self._loading = was

    def _type_changed(self, combo: QComboBox) -> None:
        for row in range(self.fields_table.rowCount()):
            if self.fields_table.cellWidget(row, 2) is combo:
                self._sync_choice_cell(row)
        self._store_fields()

    def _field_cell_changed(self, _item: QTableWidgetItem) -> None:
        if not self._loading:
            self._store_fields()

    def _store_fields(self) -> None:
        draft = self.current_stage()
        if draft is None or self._loading:
            return
        fields: list[dict[str, Any]] = []
        for row in range(self.fields_table.rowCount()):
            key_item = self.fields_table.item(row, 0)
            label_item = self.fields_table.item(row, 1)
            combo = self.fields_table.cellWidget(row, 2)
            choices_item = self.fields_table.item(row, 3)
            kind = combo.currentText() if isinstance(combo, QComboBox) else "text"
            spec: dict[str, Any] = {
                "key": key_item.text().strip() if key_item else "",
                "label": label_item.text().strip() if label_item else "",
                "type": kind,
            }
            if kind == "choice":
                text = choices_item.text() if choices_item else ""
                spec["choices"] = [c.strip() for c in text.split(",") if c.strip()]
            fields.append(spec)
        draft.fields = fields
        self.remove_field_button.setEnabled(bool(fields))

    def add_field(
        self,
        key: str | None = None,
        label: str | None = None,
        kind: str = "text",
        choices: list[str] | None = None,
    ) -> None:
        draft = self.current_stage()
        if draft is None:
            return
        taken = {str(f.get("key")) for f in draft.fields}
        n = len(draft.fields) + 1
        new_key = key or f"field_{n}"
        while key is None and new_key in taken:
            n += 1
            new_key = f"field_{n}"
        spec: dict[str, Any] = {"key": new_key, "label": label or "New field", "type": kind}
        if choices:
            spec["choices"] = list(choices)
        draft.fields.append(spec)
        self._fill_fields()
        row = self.fields_table.rowCount() - 1
        self.fields_table.setCurrentCell(row, 1)
        if label is None:
            item = self.fields_table.item(row, 1)
            if item is not None:
                self.fields_table.editItem(item)

    def remove_field(self) -> None:
        draft = self.current_stage()
        row = self.fields_table.currentRow()
        if draft is None or not 0 <= row < len(draft.fields):
            return
        del draft.fields[row]
        self._fill_fields()

    # ================================================================= disqualification

    def _build_disqualification_tab(self) -> QWidget:
        page = QWidget()
        layout = QHBoxLayout(page)

        reasons_box = QGroupBox("Reasons offered when disqualifying")
        reasons_layout = QVBoxLayout(reasons_box)
        self.reason_list = QListWidget()
        self.reason_list.setObjectName("reasons")
        self.reason_list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        add_reason = QPushButton("Add reason")
        add_reason.clicked.connect(lambda: self.add_reason())
        remove_reason = QPushButton("Remove reason")
        remove_reason.clicked.connect(self.remove_reason)
        reason_buttons = QHBoxLayout()
        reason_buttons.addWidget(add_reason)
        reason_buttons.addWidget(remove_reason)
        reasons_layout.addWidget(self.reason_list, 1)
        reasons_layout.addLayout(reason_buttons)

        rules_box = QGroupBox("Disqualification rules (applied when leads are re-scored)")
        rules_layout = QVBoxLayout(rules_box)
        self.rule_list = QListWidget()
        self.rule_list.setObjectName("rules")
        self.rule_list.setMaximumHeight(84)
        self.rule_list.currentRowChanged.connect(self._rule_selected)
        self.rule_list.itemChanged.connect(self._rule_item_changed)
        add_rule = QPushButton("Add rule")
        add_rule.clicked.connect(lambda: self.add_rule())
        self.remove_rule_button = QPushButton("Remove rule")
        self.remove_rule_button.clicked.connect(self.remove_rule)
        self.examples_button = QPushButton("Add the Encharge examples")
        self.examples_button.setToolTip(
            "No e-mail opened in 60 days; job title student or unemployed"
        )
        self.examples_button.clicked.connect(self.add_examples)
        rule_buttons = QHBoxLayout()
        rule_buttons.addWidget(add_rule)
        rule_buttons.addWidget(self.remove_rule_button)
        rule_buttons.addStretch(1)
        rule_buttons.addWidget(self.examples_button)

        self.rule_editor = QWidget()
        form = QFormLayout(self.rule_editor)
        form.setContentsMargins(0, 0, 0, 0)
        self.rule_name = QLineEdit()
        self.rule_name.textEdited.connect(lambda _t: self._store_rule())
        self.rule_active = QCheckBox("Active")
        self.rule_active.toggled.connect(lambda _on: self._store_rule())
        self.condition = ConditionBuilder(
            lead_fields(self._db), empty_text="No field condition (only the quiet period counts)."
        )
        self.condition.changed.connect(self._store_rule)
        condition_host = QWidget()
        host_layout = QVBoxLayout(condition_host)
        host_layout.setContentsMargins(0, 0, 0, 0)
        host_layout.addWidget(self.condition)
        host_layout.addStretch(1)  # conditions stay together at the top
        condition_scroll = QScrollArea()
        condition_scroll.setWidgetResizable(True)
        condition_scroll.setWidget(condition_host)
        condition_scroll.setMinimumHeight(110)
        self.quiet_box = QCheckBox("No activity for")
        self.quiet_days = QSpinBox()
        self.quiet_days.setRange(1, 3650)
        self.quiet_days.setSuffix(" days")
        self.quiet_box.toggled.connect(lambda _on: self._store_rule())
        self.quiet_days.valueChanged.connect(lambda _v: self._store_rule())
        quiet_row = QHBoxLayout()
        quiet_row.addWidget(self.quiet_box)
        quiet_row.addWidget(self.quiet_days)
        quiet_row.addStretch(1)
        self.type_list = QListWidget()
        self.type_list.setObjectName("activity_types")
        self.type_list.setToolTip("Which activities count; none ticked: any activity")
        for key, label in self._types:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.type_list.addItem(item)
        self._lay_out_types()
        self.type_list.itemChanged.connect(lambda _i: self._store_rule())
        form.addRow("Name:", self.rule_name)
        form.addRow("", self.rule_active)
        form.addRow("When:", condition_scroll)
        form.addRow("And:", quiet_row)
        form.addRow("Of types:", self.type_list)
        self.rule_problem = QLabel()
        self.rule_problem.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.rule_problem.setWordWrap(True)
        self.rule_problem.setVisible(False)

        rules_layout.addWidget(self.rule_list)
        rules_layout.addLayout(rule_buttons)
        rules_layout.addWidget(self.rule_editor, 1)
        rules_layout.addWidget(self.rule_problem)

        layout.addWidget(reasons_box, 1)
        layout.addWidget(rules_box, 3)
        return page

    def _lay_out_types(self) -> None:
        """The activity types as columns of checkboxes, every one in view: a desk has a
        dozen or so, and a one-column list as short as this form allows cut the last
        one off and made the user scroll to tick it."""
        types = self.type_list
        metrics = types.fontMetrics()
        widest = max((metrics.horizontalAdvance(label) for _key, label in self._types), default=80)
        cell = QSize(widest + TYPE_CELL_EXTRA, metrics.height() + TYPE_ROW_PADDING)
        types.setFlow(QListView.Flow.LeftToRight)
        types.setWrapping(True)
        types.setResizeMode(QListView.ResizeMode.Adjust)
        types.setGridSize(cell)
        # A desk that imported dozens of types scrolls past the first rows instead of
        # squeezing the conditions above.
        rows = min(max(-(-len(self._types) // TYPE_COLUMNS), 1), TYPE_MAX_ROWS)
        frame = 2 * types.frameWidth() + 4
        types.setFixedHeight(rows * cell.height() + frame)
        types.setMinimumWidth(TYPE_COLUMNS * cell.width() + frame)

    def _fill_reasons(self) -> None:
        self.reason_list.clear()
        for reason in self._reasons_before:
            item = QListWidgetItem(reason)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.reason_list.addItem(item)

    def reasons(self) -> list[str]:
        out = []
        for row in range(self.reason_list.count()):
            text = self.reason_list.item(row).text().strip()
            if text:
                out.append(text)
        return out

    def add_reason(self, text: str | None = None) -> None:
        item = QListWidgetItem(text or "New reason")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.reason_list.addItem(item)
        self.reason_list.setCurrentItem(item)
        if text is None:
            self.reason_list.editItem(item)

    def remove_reason(self) -> None:
        row = self.reason_list.currentRow()
        if row >= 0:
            self.reason_list.takeItem(row)

    def _fill_rules(self, select: int | None) -> None:
        self._loading = True
        self.rule_list.clear()
        for rule in self.rules:
            item = QListWidgetItem(rule.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if rule.active else Qt.CheckState.Unchecked)
            item.setToolTip(rule.rule().describe())
            self.rule_list.addItem(item)
        self._loading = False
        if select is not None and self.rules:
            self.rule_list.setCurrentRow(max(0, min(select, len(self.rules) - 1)))
        self._rule_selected(self.rule_list.currentRow())

    def current_rule(self) -> RuleDraft | None:
        row = self.rule_list.currentRow()
        return self.rules[row] if 0 <= row < len(self.rules) else None

    def _rule_selected(self, _row: int) -> None:
        rule = self.current_rule()
        self.rule_editor.setEnabled(rule is not None)
        self.remove_rule_button.setEnabled(rule is not None)
        self._loading = True
        self.rule_name.setText(rule.name if rule else "")
        self.rule_active.setChecked(rule.active if rule else False)
        self.condition.set_condition(rule.when if rule else None)
        self.quiet_box.setChecked(bool(rule and rule.inactive_days))
        self.quiet_days.setValue(rule.inactive_days if rule and rule.inactive_days else 60)
        wanted = set(rule.activity_types if rule else [])
        for row in range(self.type_list.count()):
            item = self.type_list.item(row)
            item.setCheckState(
                Qt.CheckState.Checked
                if item.data(Qt.ItemDataRole.UserRole) in wanted
                else Qt.CheckState.Unchecked
            )
        self.quiet_days.setEnabled(self.quiet_box.isChecked())
        self.type_list.setEnabled(self.quiet_box.isChecked())
        self._loading = False
        self.rule_problem.setVisible(False)

    def _rule_item_changed(self, item: QListWidgetItem) -> None:
        if self._loading:
            return
        row = self.rule_list.row(item)
        if 0 <= row < len(self.rules):
            self.rules[row].active = item.checkState() == Qt.CheckState.Checked
            if row == self.rule_list.currentRow():
                self._loading = True
                self.rule_active.setChecked(self.rules[row].active)
                self._loading = False

    def _store_rule(self) -> None:
        rule = self.current_rule()
        if rule is None or self._loading:
            return
        rule.name = self.rule_name.text()
        rule.active = self.rule_active.isChecked()
        peeked = self.condition.peek()
        if not self.condition.problems():
            rule.when = peeked
        rule.inactive_days = self.quiet_days.value() if self.quiet_box.isChecked() else None
        rule.activity_types = [
            str(self.type_list.item(r).data(Qt.ItemDataRole.UserRole))
            for r in range(self.type_list.count())
            if self.type_list.item(r).checkState() == Qt.CheckState.Checked
        ]
        self.quiet_days.setEnabled(self.quiet_box.isChecked())
        self.type_list.setEnabled(self.quiet_box.isChecked())
        item = self.rule_list.currentItem()
        if item is not None:
            self._loading = True
            item.setText(rule.name or "(no name)")
            item.setCheckState(Qt.CheckState.Checked if rule.active else Qt.CheckState.Unchecked)
            item.setToolTip(rule.rule().describe())
            self._loading = False

    def add_rule(self, rule: RuleDraft | None = None) -> RuleDraft:
        draft = rule or RuleDraft(f"Rule {len(self.rules) + 1}", inactive_days=60)
        self.rules.append(draft)
        self._fill_rules(select=len(self.rules) - 1)
        if rule is None:
            self.rule_name.setFocus()
            self.rule_name.selectAll()
        return draft

    def remove_rule(self) -> None:
        row = self.rule_list.currentRow()
        if 0 <= row < len(self.rules):
            del self.rules[row]
            self._fill_rules(select=min(row, len(self.rules) - 1))

    def add_examples(self) -> None:
        """The two examples of the Encharge guide, unless a rule of that name exists."""
        names = {r.name.strip().lower() for r in self.rules}
        added = 0
        for example in starter_disqualification_rules():
            if example.name.lower() not in names:
                self.rules.append(RuleDraft.of(example))
                added += 1
        self._fill_rules(select=len(self.rules) - 1 if added else self.rule_list.currentRow())

    # ================================================================= saving

    def stage_edits(self) -> list[StageEdit]:
        return [d.edit() for d in self.drafts]

    def preview(self) -> tuple[StagePlan, list[str]]:
        """What Save would do (raises ServiceError when the process would be refused)."""
        plan = preview_stages(self._db, self.stage_edits())
        lines = plan_lines(plan, self._before, self.drafts)
        if self.reasons() != self._reasons_before:
            lines.append("The disqualification reasons change.")
        if [r.rule() for r in self.rules] != [r.rule() for r in self._rules_before]:
            lines.append(
                "The disqualification rules change; they apply at each lead's next re-score."
            )
        return plan, lines

    def _refuse(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def save(self) -> bool:
        """Preview, confirm, store. Returns True when everything was stored."""
        self.error_label.setVisible(False)
        try:
            self.condition.condition()
        except ConditionProblems as exc:
            self.tabs.setCurrentIndex(1)
            self._refuse("The rule's condition is not complete: " + "; ".join(map(str, exc.args)))
            return False
        self._store_rule()
        try:
            plan, lines = self.preview()
        except ValidationError as exc:
            self._refuse("Not saved: " + "; ".join(exc.errors.values()))
            return False
        except ServiceError as exc:
            self._refuse(f"Not saved: {exc}")
            return False
        self.last_plan = plan
        if not lines:
            self.accept()
            return True
        answer = QMessageBox.question(
            self,
            "Save the process?",
            "Saving will do this:\n\n" + "\n".join(f"• {line}" for line in lines),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer != QMessageBox.StandardButton.Save:
            return False
        now = self._clock()
        try:
            # Reasons and rules first: the stages were checked by the preview already.
            if self.reasons() != self._reasons_before:
                set_disqualification_reasons(self._db, self.reasons(), self._actor)
            rules = [r.rule() for r in self.rules]
            if rules != [r.rule() for r in self._rules_before]:
                save_disqualification_rules(self._db, rules, self._actor)
            save_stages(self._db, self.stage_edits(), self._actor, now)
        except ValidationError as exc:
            self._refuse("Not saved: " + "; ".join(exc.errors.values()))
            return False
        except ServiceError as exc:
            self._refuse(f"Not saved: {exc}")
            return False
        self.saved.emit()
        super().accept()
        return True

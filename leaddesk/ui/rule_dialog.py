"""Adding or editing one rule of a scoring model.

The three kinds of rule (DESIGN §3) take different settings, so the dialog shows only the
ones of the chosen kind. OK checks the rule exactly as a scoring file would be checked
(the rule goes through the file format's parser), so a rule the dialog accepts can always
be saved, exported and imported again; a refusal is shown in the dialog and keeps every
setting as typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from leaddesk.domain.conditions import Condition
from leaddesk.domain.scoring import (
    ACTIVITY,
    ENGAGEMENT,
    FIT,
    INACTIVITY,
    PROPERTY,
    Rule,
    ScoringModel,
)
from leaddesk.domain.scoring_file import ScoringFileError, dump_document, parse_document
from leaddesk.services.activities import ActivityTypeRow, list_activity_types
from leaddesk.services.fields import FieldInfo, activity_fields, lead_fields
from leaddesk.store.database import Database
from leaddesk.ui.condition_builder import ConditionBuilder, ConditionProblems, tree_items
from leaddesk.ui.display import ERROR_COLOUR
from leaddesk.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["KIND_LABELS", "RuleDialog", "RuleProblems", "kind_label"]

KIND_LABELS: dict[str, str] = {
    PROPERTY: "Property (who they are)",
    ACTIVITY: "Activity (what they did)",
    INACTIVITY: "Inactivity (going quiet)",
}
GROUP_LABELS: dict[str, str] = {FIT: "Fit", ENGAGEMENT: "Engagement"}
MAX_POINTS = 100_000
MAX_DAYS = 3650
DEFAULT_EXPIRY_DAYS = 180
DEFAULT_QUIET_DAYS = 30
_RULE_PATH = "$.models[0].rules[0]"


def kind_label(kind: str) -> str:
    return {PROPERTY: "Property", ACTIVITY: "Activity", INACTIVITY: "Inactivity"}.get(kind, kind)


class RuleProblems(ValueError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _check(rule: Rule) -> list[str]:
    """Problems a scoring file holding this rule would have, in the dialog's words."""
    probe = ScoringModel("probe", True, None, rules=(rule,))
    try:
        parse_document(dump_document([probe]))
    except ScoringFileError as error:
        out = []
        for problem in error.problems:
            where = problem.path.removeprefix(_RULE_PATH).lstrip(".")
            out.append(f"{where}: {problem.reason}" if where else problem.reason)
        return out
    return []


class RuleDialog(QDialog):
    """``rule()`` is the result once ``exec()`` returned Accepted.

    ``db`` is the UI thread's database, read for the field, operator and activity-type
    lists; nothing is written.
    """

    def __init__(
        self,
        db: Database,
        rule: Rule | None = None,
        parent: QWidget | None = None,
        *,
        lead_field_list: Sequence[FieldInfo] | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._result: Rule | None = None
        self._group_touched = rule is not None
        self.setWindowTitle("Edit rule" if rule is not None else "Add rule")
        self._types: list[ActivityTypeRow] = list_activity_types(db)
        self._lead_fields = (
            list(lead_field_list) if lead_field_list is not None else lead_fields(db)
        )

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Visited the pricing page")
        self.kind_combo = QComboBox()
        for key, label in KIND_LABELS.items():
            self.kind_combo.addItem(label, key)
        self.group_combo = QComboBox()
        for key, label in GROUP_LABELS.items():
            self.group_combo.addItem(label, key)
        self.group_combo.setToolTip(
            "Fit: who they are (job, company). Engagement: what they did. The lead shows "
            "both subtotals."
        )
        self.points_spin = QSpinBox()
        self.points_spin.setRange(-MAX_POINTS, MAX_POINTS)
        self.points_spin.setValue(10)
        self.points_spin.setToolTip("Negative points lower the score (unsubscribed, quiet…)")
        self.points_hint = QLabel()
        self.points_hint.setStyleSheet("color: palette(placeholder-text);")
        points_row = QHBoxLayout()
        points_row.addWidget(self.points_spin)
        points_row.addWidget(self.points_hint, 1)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Kind:", self.kind_combo)
        form.addRow("&Group:", self.group_combo)
        points_label = QLabel("&Points:")
        points_label.setBuddy(self.points_spin)
        form.addRow(points_label, points_row)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._property_page())
        self.pages.addWidget(self._activity_page())
        self.pages.addWidget(self._inactivity_page())

        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(720, 520)

        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.group_combo.activated.connect(self._group_chosen)
        self.points_spin.valueChanged.connect(self._update_hint)
        self.activity_combo.currentIndexChanged.connect(self._activity_type_changed)
        self.expires_box.toggled.connect(self._sync_enabled)
        self.max_box.toggled.connect(self._sync_enabled)
        self.repeat_box.toggled.connect(self._update_hint)
        for signal in (
            self.name_edit.textChanged,
            self.kind_combo.currentIndexChanged,
            self.group_combo.currentIndexChanged,
            self.points_spin.valueChanged,
            self.activity_combo.currentIndexChanged,
            self.expires_box.toggled,
            self.expires_spin.valueChanged,
            self.max_box.toggled,
            self.max_spin.valueChanged,
            self.days_spin.valueChanged,
            self.repeat_box.toggled,
            self.types_tree.itemChanged,
            self.property_conditions.changed,
            self.activity_conditions.changed,
        ):
            signal.connect(self._recheck)
        if rule is not None:
            self.set_rule(rule)
        else:
            self._kind_changed()
        self._sync_enabled()
        self._update_hint()

    # ----------------------------------------------------------------- pages

    @staticmethod
    def _scrolled(widget: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        # Tab goes from the settings above straight into the conditions, not to the
        # scroll area itself (the wheel and the scroll bar still scroll it).
        area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        area.setWidget(widget)
        return area

    def _property_page(self) -> QWidget:
        box = QGroupBox("Gives its points while the lead matches")
        self.property_conditions = ConditionBuilder(
            self._lead_fields, empty_text="No conditions: every lead gets the points."
        )
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addWidget(self.property_conditions)
        inner_layout.addStretch(1)
        layout = QVBoxLayout(box)
        layout.addWidget(self._scrolled(inner))
        return box

    def _activity_page(self) -> QWidget:
        page = QWidget()
        self.activity_combo = QComboBox()
        for row in self._types:
            self.activity_combo.addItem(row.label, row.key)
        self.activity_combo.setMaxVisibleItems(20)
        self.expires_box = QCheckBox("Points expire after")
        self.expires_box.setChecked(True)
        self.expires_spin = QSpinBox()
        self.expires_spin.setRange(1, MAX_DAYS)
        self.expires_spin.setValue(DEFAULT_EXPIRY_DAYS)
        self.expires_spin.setSuffix(" days")
        self.max_box = QCheckBox("Count at most")
        self.max_spin = QSpinBox()
        self.max_spin.setRange(1, 10_000)
        self.max_spin.setValue(3)
        self.max_spin.setSuffix(" times")
        expiry_row = QHBoxLayout()
        expiry_row.addWidget(self.expires_box)
        expiry_row.addWidget(self.expires_spin)
        expiry_row.addSpacing(24)
        expiry_row.addWidget(self.max_box)
        expiry_row.addWidget(self.max_spin)
        expiry_row.addStretch(1)
        form = QFormLayout()
        form.addRow("&Activity type:", self.activity_combo)
        form.addRow("", expiry_row)
        box = QGroupBox("Only activities whose details match (optional)")
        self.activity_conditions = ConditionBuilder(
            activity_fields(self._db, self.activity_type() or None),
            empty_text="No conditions: every activity of this type counts.",
        )
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addWidget(self.activity_conditions)
        inner_layout.addStretch(1)
        box_layout = QVBoxLayout(box)
        box_layout.addWidget(self._scrolled(inner))
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(box, 1)
        return page

    def _inactivity_page(self) -> QWidget:
        page = QWidget()
        self.days_spin = QSpinBox()
        self.days_spin.setRange(1, MAX_DAYS)
        self.days_spin.setValue(DEFAULT_QUIET_DAYS)
        self.days_spin.setSuffix(" days")
        self.repeat_box = QCheckBox("Repeat for every further quiet period (decay)")
        self.types_tree = QTreeWidget()
        self.types_tree.setHeaderHidden(True)
        self.types_tree.setRootIsDecorated(False)
        for row in self._types:
            item = QTreeWidgetItem([row.label])
            item.setData(0, Qt.ItemDataRole.UserRole, row.key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Unchecked)
            self.types_tree.addTopLevelItem(item)
        types_label = QLabel(
            "Counting only these activity types (tick none to count any activity):"
        )
        types_label.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("No activity for:", self.days_spin)
        form.addRow("", self.repeat_box)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(types_label)
        layout.addWidget(self.types_tree, 1)
        return page

    # ----------------------------------------------------------------- reactions

    def kind(self) -> str:
        data = self.kind_combo.currentData()
        return data if isinstance(data, str) else PROPERTY

    def activity_type(self) -> str:
        data = self.activity_combo.currentData()
        return data if isinstance(data, str) else ""

    def _kind_changed(self) -> None:
        kind = self.kind()
        self.pages.setCurrentIndex({PROPERTY: 0, ACTIVITY: 1, INACTIVITY: 2}[kind])
        if not self._group_touched:
            self._set_combo(self.group_combo, FIT if kind == PROPERTY else ENGAGEMENT)
        if kind == INACTIVITY and self.points_spin.value() > 0 and not self.name_edit.text():
            self.points_spin.setValue(-5)
        self._update_hint()

    def _group_chosen(self) -> None:
        self._group_touched = True

    def _activity_type_changed(self) -> None:
        self.activity_conditions.set_fields(activity_fields(self._db, self.activity_type() or None))

    def _sync_enabled(self) -> None:
        self.expires_spin.setEnabled(self.expires_box.isChecked())
        self.max_spin.setEnabled(self.max_box.isChecked())
        self._update_hint()

    def _update_hint(self) -> None:
        points = self.points_spin.value()
        kind = self.kind()
        if kind == ACTIVITY:
            hint = "for each matching activity"
            if self.max_box.isChecked():
                hint += f", up to {points * self.max_spin.value():+d}"
        elif kind == INACTIVITY:
            hint = "for every quiet period" if self.repeat_box.isChecked() else "once"
        else:
            hint = "while the lead matches"
        self.points_hint.setText(hint)

    @staticmethod
    def _set_combo(combo: QComboBox, key: str) -> None:
        index = combo.findData(key)
        if index >= 0:
            combo.setCurrentIndex(index)

    # ----------------------------------------------------------------- rule in / out

    def set_rule(self, rule: Rule) -> None:
        self.name_edit.setText(rule.name)
        self._set_combo(self.kind_combo, rule.kind)
        self._set_combo(self.group_combo, rule.group)
        self.points_spin.setValue(rule.points)
        if rule.kind == PROPERTY:
            self.property_conditions.set_condition(rule.when)
        elif rule.kind == ACTIVITY:
            if rule.activity and self.activity_combo.findData(rule.activity) < 0:
                # A type from an imported file that this desk does not know (yet).
                self.activity_combo.addItem(rule.activity, rule.activity)
            self._set_combo(self.activity_combo, rule.activity or "")
            self.expires_box.setChecked(rule.expires_after_days is not None)
            if rule.expires_after_days is not None:
                self.expires_spin.setValue(rule.expires_after_days)
            self.max_box.setChecked(rule.max_times is not None)
            if rule.max_times is not None:
                self.max_spin.setValue(rule.max_times)
            self.activity_conditions.set_condition(rule.when)
        elif rule.kind == INACTIVITY:
            self.days_spin.setValue(rule.days or DEFAULT_QUIET_DAYS)
            self.repeat_box.setChecked(rule.repeat)
            wanted = set(rule.activity_types or ())
            known = {item.data(0, Qt.ItemDataRole.UserRole) for item in tree_items(self.types_tree)}
            for key in sorted(wanted - known):
                item = QTreeWidgetItem([key])
                item.setData(0, Qt.ItemDataRole.UserRole, key)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.types_tree.addTopLevelItem(item)
            self.set_checked_types(sorted(wanted))
        self._kind_changed()

    def checked_types(self) -> tuple[str, ...]:
        return tuple(
            str(item.data(0, Qt.ItemDataRole.UserRole))
            for item in tree_items(self.types_tree)
            if item.checkState(0) == Qt.CheckState.Checked
        )

    def set_checked_types(self, keys: Sequence[str]) -> None:
        wanted = set(keys)
        for item in tree_items(self.types_tree):
            checked = item.data(0, Qt.ItemDataRole.UserRole) in wanted
            item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def build_rule(self) -> Rule:
        """The rule as set up, or RuleProblems saying what is wrong with it."""
        rule, problems = self._checked(flag=True)
        if problems or rule is None:
            raise RuleProblems(problems or ["The rule is incomplete."])
        return rule

    def _condition(self, builder: ConditionBuilder, *, flag: bool) -> Condition | None:
        if flag:
            return builder.condition()
        cond, problems = builder.checked()
        if problems:
            raise ConditionProblems(problems)
        return cond

    def _checked(self, *, flag: bool) -> tuple[Rule | None, list[str]]:
        """The rule and its problems; ``flag`` marks the broken condition rows (OK was
        pressed) rather than only reporting them (re-checking while the user edits)."""
        problems: list[str] = []
        name = self.name_edit.text().strip()
        if not name:
            problems.append("Give the rule a name.")
        kind = self.kind()
        group = str(self.group_combo.currentData())
        points = self.points_spin.value()
        rule: Rule | None = None
        try:
            if kind == PROPERTY:
                rule = Rule(
                    PROPERTY,
                    name,
                    group,
                    points,
                    when=self._condition(self.property_conditions, flag=flag),
                )
            elif kind == ACTIVITY:
                if not self.activity_type():
                    problems.append("Choose the activity type this rule counts.")
                rule = Rule(
                    ACTIVITY,
                    name,
                    group,
                    points,
                    when=self._condition(self.activity_conditions, flag=flag),
                    activity=self.activity_type() or None,
                    expires_after_days=(
                        self.expires_spin.value() if self.expires_box.isChecked() else None
                    ),
                    max_times=self.max_spin.value() if self.max_box.isChecked() else None,
                )
            else:
                rule = Rule(
                    INACTIVITY,
                    name,
                    group,
                    points,
                    days=self.days_spin.value(),
                    repeat=self.repeat_box.isChecked(),
                    activity_types=self.checked_types() or None,
                )
        except ConditionProblems as error:
            problems.extend(f"Condition: {p}" for p in error.problems)
        if not problems and rule is not None:
            problems.extend(_check(rule))
        return rule, problems

    def _recheck(self) -> None:
        """Once OK has shown problems, they follow the edits: a fixed value or another
        kind of rule must not leave a stale complaint under the form. Before the first
        OK nothing is said: complaining about a rule still being typed is noise."""
        if self.error_label.isHidden():
            return
        _rule, problems = self._checked(flag=False)
        if problems:
            self.error_label.setText("\n".join(problems))
        else:
            self.error_label.clear()
            self.error_label.hide()

    def rule(self) -> Rule:
        """The accepted rule (valid only after the dialog was accepted)."""
        if self._result is None:
            return self.build_rule()
        return self._result

    def accept(self) -> None:
        try:
            self._result = self.build_rule()
        except RuleProblems as error:
            self.error_label.setText("\n".join(error.problems))
            self.error_label.show()
            return
        self.error_label.hide()
        super().accept()

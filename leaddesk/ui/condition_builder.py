"""A widget that edits a condition tree (DESIGN §3.1 conditions) without typing JSON.

Marketers pick fields from what exists (``services.fields``), operators that fit the
field's type (``operators_for``), and type values in an editor shaped by the operator
(nothing, one value, a list, a low/high pair). Values are checked with the same
``leaf_value_problem`` the file parser uses, so the builder can never produce a rule that
a round trip through a scoring file would refuse. A problem is shown in red under its row
and :meth:`ConditionBuilder.condition` refuses to return a broken tree.

The root group is implicit when it holds a single condition under "All of": a rule with
one test reads as that test, not as "all of (one thing)".
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from leaddesk.domain.conditions import (
    OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    FieldType,
    Leaf,
    Not,
    ValueShape,
    leaf_value_problem,
    number_from_text,
    operators_for,
)
from leaddesk.services.fields import FieldInfo
from leaddesk.ui.display import ERROR_COLOUR
from leaddesk.ui.qt import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    Qt,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)

__all__ = ["ConditionBuilder", "ConditionProblems", "tree_items"]

ALL_LABEL = "All of"
ANY_LABEL = "Any of"
FIELD_COMBO_WIDTH = 190
OP_COMBO_WIDTH = 120
ROW_SPACING = 4
INDENT = 12
PROBLEM_STYLE = f"color: {ERROR_COLOUR}; font-size: small;"
GROUP_STYLE = (
    # A rule down the left of a nested group shows what its "All of / Any of" covers.
    "QFrame#conditionGroup { border: none; border-left: 3px solid #aab4c3; }"
    "QFrame#conditionRoot { border: none; }"
)


class ConditionProblems(ValueError):
    """The tree cannot be built; ``problems`` says why, one readable line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def tree_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    """The top-level items of a flat tree (checklists), skipping the None Qt never gives."""
    items = (tree.topLevelItem(i) for i in range(tree.topLevelItemCount()))
    return [item for item in items if item is not None]


# --------------------------------------------------------------------------- values


def split_list(text: str) -> list[str]:
    """Comma-separated values; a value holding a comma is written in double quotes."""
    if not text.strip():
        return []
    row = next(csv.reader([text], skipinitialspace=True), [])
    return [item.strip() for item in row if item.strip()]


def join_list(values: Sequence[object]) -> str:
    parts = []
    for value in values:
        text = _value_text(value)
        if "," in text or '"' in text:
            text = '"' + text.replace('"', '""') + '"'
        parts.append(text)
    return ", ".join(parts)


def _value_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _typed(text: str, field_type: FieldType) -> tuple[object, str | None]:
    """One typed value as the leaf will hold it, or a reason it is not one."""
    text = text.strip()
    if not text:
        return None, None
    if field_type is FieldType.NUMBER:
        number = number_from_text(text)
        if number is None:
            return text, f"“{text}” is not a number"
        return number, None
    return text, None


def _guess_type(value: object) -> FieldType:
    sample = value[0] if isinstance(value, tuple) and value else value
    if isinstance(sample, bool):
        return FieldType.BOOL
    if isinstance(sample, int | float):
        return FieldType.NUMBER
    return FieldType.TEXT


# --------------------------------------------------------------------------- value editors


class _ChecklistPopup(QFrame):
    """The choices of a field as checkboxes, filling a comma-separated list."""

    def __init__(self, choices: Sequence[str], editor: QLineEdit) -> None:
        super().__init__(editor, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._editor = editor
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        chosen = {item.casefold() for item in split_list(editor.text())}
        for choice in choices:
            item = QTreeWidgetItem([choice])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = choice.casefold() in chosen
            item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.tree.addTopLevelItem(item)
        self.tree.itemChanged.connect(self._sync)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree)
        rows = min(len(choices), 12)
        self.resize(max(editor.width(), 220), 8 + rows * self.tree.sizeHintForRow(0) + 6)

    def _sync(self) -> None:
        listed = {item.text(0).casefold(): item for item in tree_items(self.tree)}
        current = split_list(self._editor.text())
        # Free values the user typed that are not among the choices are kept.
        kept = [value for value in current if value.casefold() not in listed]
        picked = [
            item.text(0) for item in listed.values() if item.checkState(0) == Qt.CheckState.Checked
        ]
        self._editor.setText(join_list(kept + picked))


class _ValueEditor(QWidget):
    """The value part of a leaf, shaped by the operator and the field's type."""

    changed = Signal()

    def __init__(self, field: FieldInfo, shape: ValueShape, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.shape = shape
        self.line: QLineEdit | None = None
        self.high: QLineEdit | None = None
        self.combo: QComboBox | None = None
        self.pick: QToolButton | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(ROW_SPACING)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        if shape is ValueShape.NONE:
            return
        if shape is ValueShape.SCALAR and field.type is FieldType.BOOL:
            self.combo = QComboBox()
            self.combo.addItem("yes", True)
            self.combo.addItem("no", False)
            self.combo.currentIndexChanged.connect(self.changed)
            layout.addWidget(self.combo)
            layout.addStretch(1)
            return
        if shape is ValueShape.SCALAR and field.choices:
            self.combo = QComboBox()
            self.combo.setEditable(True)
            self.combo.addItems(list(field.choices))
            self.combo.setCurrentIndex(-1)
            self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            line = self.combo.lineEdit()
            if line is not None:
                line.setPlaceholderText("value")
            self.combo.currentTextChanged.connect(self.changed)
            layout.addWidget(self.combo)
            return
        self.line = QLineEdit()
        self.line.textChanged.connect(self.changed)
        layout.addWidget(self.line)
        if shape is ValueShape.PAIR:
            self.line.setPlaceholderText(self._placeholder("low"))
            layout.addWidget(QLabel("and"))
            self.high = QLineEdit()
            self.high.setPlaceholderText(self._placeholder("high"))
            self.high.textChanged.connect(self.changed)
            layout.addWidget(self.high)
        elif shape is ValueShape.LIST:
            self.line.setPlaceholderText("values, separated by commas")
            if field.choices:
                self.pick = QToolButton()
                self.pick.setText("Pick…")
                self.pick.setToolTip("Tick values from the ones found in your data")
                self.pick.clicked.connect(self._pick)
                layout.addWidget(self.pick)
        else:
            self.line.setPlaceholderText(self._placeholder("value"))

    def focus_widgets(self) -> list[QWidget]:
        """The editor's controls from left to right, for the builder's tab order."""
        widgets = (self.combo, self.line, self.high, self.pick)
        return [widget for widget in widgets if widget is not None]

    def _placeholder(self, word: str) -> str:
        if self.field.type is FieldType.NUMBER:
            return "number" if word == "value" else f"{word} (number)"
        if self.field.type is FieldType.DATE:
            return "YYYY-MM-DD"
        return word

    def _pick(self) -> None:
        assert self.line is not None
        popup = _ChecklistPopup(self.field.choices, self.line)
        popup.move(self.line.mapToGlobal(self.line.rect().bottomLeft()))
        popup.show()

    # The editor's content as one string, to tell "unchanged since loaded" apart.
    def text_key(self) -> str:
        if self.combo is not None and self.field.type is FieldType.BOOL:
            return str(self.combo.currentData())
        if self.combo is not None:
            return self.combo.currentText()
        low = self.line.text() if self.line is not None else ""
        high = self.high.text() if self.high is not None else ""
        return f"{low}\x00{high}"

    def set_value(self, value: object) -> None:
        if self.shape is ValueShape.NONE:
            return
        if self.combo is not None and self.field.type is FieldType.BOOL:
            truthy = value is True or _value_text(value).casefold() in ("yes", "true", "1", "y")
            self.combo.setCurrentIndex(0 if truthy else 1)
        elif self.combo is not None:
            self.combo.setCurrentText(_value_text(value))
        elif self.shape is ValueShape.PAIR:
            assert self.line is not None and self.high is not None
            pair = value if isinstance(value, tuple | list) else (value, None)
            low, high = [*pair, None, None][:2]
            self.line.setText(_value_text(low))
            self.high.setText(_value_text(high))
        elif self.shape is ValueShape.LIST:
            assert self.line is not None
            items = value if isinstance(value, tuple | list) else () if value is None else (value,)
            self.line.setText(join_list(list(items)))
        else:
            assert self.line is not None
            self.line.setText(_value_text(value))

    def value(self) -> tuple[object, str | None]:
        """The leaf's value and, when the typed text is not one, why."""
        kind = self.field.type
        if self.shape is ValueShape.NONE:
            return None, None
        if self.combo is not None and kind is FieldType.BOOL:
            return self.combo.currentData(), None
        if self.combo is not None:
            return _typed(self.combo.currentText(), kind)
        assert self.line is not None
        if self.shape is ValueShape.PAIR:
            assert self.high is not None
            low, low_problem = _typed(self.line.text(), kind)
            high, high_problem = _typed(self.high.text(), kind)
            return (low, high), low_problem or high_problem
        if self.shape is ValueShape.LIST:
            values: list[object] = []
            problem = None
            for text in split_list(self.line.text()):
                item, item_problem = _typed(text, kind)
                problem = problem or item_problem
                values.append(item)
            return tuple(values), problem
        return _typed(self.line.text(), kind)


# --------------------------------------------------------------------------- rows and groups

# The domain's messages name operators by their file keys; the builder shows labels.
_KEY_HINTS = (
    ("is_set/is_not_set", "“is set” or “is not set”"),
    ("in/not_in", "“is one of”"),
)


def _readable(problem: str, op: str) -> str:
    text = problem.removeprefix(f"{op} ")
    for key, words in _KEY_HINTS:
        text = text.replace(key, words)
    return text


@dataclass
class _Loaded:
    """What a leaf was loaded from: returned as it was while the row is left untouched,
    so loading and reading back never changes a value's type (``5`` versus ``"5"``)."""

    field: str
    op: str
    text_key: str
    value: object


class _LeafRow(QWidget):
    changed = Signal()
    remove_requested = Signal(object)

    def __init__(self, builder: ConditionBuilder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._builder = builder
        self._loaded: _Loaded | None = None
        self._show_problem = False
        self.not_box = QCheckBox("not")
        self.not_box.setToolTip("Holds when the condition does not")
        self.field_combo = QComboBox()
        self.field_combo.setFixedWidth(FIELD_COMBO_WIDTH)
        self.field_combo.setMaxVisibleItems(20)
        self.op_combo = QComboBox()
        self.op_combo.setFixedWidth(OP_COMBO_WIDTH)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Remove this condition")
        self.remove_button.setAutoRaise(True)
        self.problem_label = QLabel()
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        self.problem_label.setWordWrap(True)
        self.problem_label.hide()
        self.value_editor = _ValueEditor(FieldInfo("", "", FieldType.TEXT), ValueShape.NONE)

        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(ROW_SPACING)
        self._row.addWidget(self.not_box)
        self._row.addWidget(self.field_combo)
        self._row.addWidget(self.op_combo)
        self._row.addWidget(self.value_editor, 1)
        self._row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addLayout(self._row)
        layout.addWidget(self.problem_label)

        self.fill_fields(None)
        self.field_combo.currentIndexChanged.connect(self._field_changed)
        self.op_combo.currentIndexChanged.connect(self._op_changed)
        self.not_box.toggled.connect(self._emit)
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self))

    # ----------------------------------------------------------------- fields, operators

    def field(self) -> FieldInfo:
        key = self.field_combo.currentData()
        return self._builder.field_info(key if isinstance(key, str) else "")

    def fill_fields(self, keep: str | None) -> None:
        """Refill the field list (the builder's fields changed) keeping this row's field."""
        self.field_combo.blockSignals(True)
        self.field_combo.clear()
        for info in self._builder.fields_with(keep):
            self.field_combo.addItem(info.label, info.key)
            self.field_combo.setItemData(
                self.field_combo.count() - 1, info.key, Qt.ItemDataRole.ToolTipRole
            )
        index = self.field_combo.findData(keep) if keep else 0
        self.field_combo.setCurrentIndex(max(index, 0))
        self.field_combo.blockSignals(False)

    def _fill_ops(self, keep: str | None) -> None:
        self.op_combo.blockSignals(True)
        self.op_combo.clear()
        for spec in operators_for(self.field().type):
            self.op_combo.addItem(spec.label, spec.key)
        if keep is not None and self.op_combo.findData(keep) < 0 and keep in OPERATORS:
            # A loaded leaf whose operator does not fit the field's type: keep it visible.
            self.op_combo.addItem(OPERATORS[keep].label, keep)
        index = self.op_combo.findData(keep) if keep else -1
        if index < 0:
            index = max(self.op_combo.findData("eq"), 0)
        self.op_combo.setCurrentIndex(index)
        self.op_combo.blockSignals(False)

    def op(self) -> str:
        data = self.op_combo.currentData()
        return data if isinstance(data, str) else "eq"

    def _rebuild_value(self) -> None:
        """A new value editor for the current field and operator, keeping what was typed
        when the shape allows it."""
        old = self.value_editor
        previous, _ = old.value()
        editor = _ValueEditor(self.field(), OPERATORS[self.op()].shape)
        if editor.shape is old.shape and previous not in (None, ()):
            editor.set_value(previous)
        editor.changed.connect(self._value_edited)
        self._row.replaceWidget(old, editor)
        old.deleteLater()
        self.value_editor = editor

    def _field_changed(self) -> None:
        self._fill_ops(self.op())
        self._rebuild_value()
        self._emit()

    def _op_changed(self) -> None:
        self._rebuild_value()
        self._emit()

    def _value_edited(self) -> None:
        self._show_problem = True
        self._emit()

    def _emit(self) -> None:
        self.refresh_problem()
        self.changed.emit()

    # ----------------------------------------------------------------- load / build

    def load(self, leaf: Leaf | None, negated: bool = False) -> None:
        key = leaf.field if leaf is not None else None
        if leaf is not None:
            self._builder.remember_field(leaf.field, leaf.value)
        self.fill_fields(key)
        self._fill_ops(leaf.op if leaf is not None else None)
        self._rebuild_value()
        self.not_box.blockSignals(True)
        self.not_box.setChecked(negated)
        self.not_box.blockSignals(False)
        if leaf is not None:
            self.value_editor.blockSignals(True)
            self.value_editor.set_value(leaf.value)
            self.value_editor.blockSignals(False)
            self._loaded = _Loaded(leaf.field, leaf.op, self.value_editor.text_key(), leaf.value)
            self._show_problem = True
        self.refresh_problem()

    def build(self) -> tuple[Condition | None, str | None]:
        """The leaf, or the problem named with its field (for the dialog's summary)."""
        cond, problem = self._build()
        if problem is None:
            return cond, None
        return (
            None,
            f"{self.field().label or 'condition'} {OPERATORS[self.op()].label} …: {problem}",
        )

    def _build(self) -> tuple[Condition | None, str | None]:
        field = self.field()
        op = self.op()
        loaded = self._loaded
        if (
            loaded is not None
            and loaded.field == field.key
            and loaded.op == op
            and loaded.text_key == self.value_editor.text_key()
        ):
            value: object = loaded.value
            problem = None
        else:
            value, problem = self.value_editor.value()
        if not field.key:
            problem = "choose a field"
        problem = problem or leaf_value_problem(op, value)
        if problem is not None:
            return None, _readable(problem, op)
        leaf = Leaf(field.key, op, value)
        return (Not(leaf) if self.not_box.isChecked() else leaf), None

    def focus_widgets(self) -> list[QWidget]:
        return [
            self.not_box,
            self.field_combo,
            self.op_combo,
            *self.value_editor.focus_widgets(),
            self.remove_button,
        ]

    def refresh_problem(self, force: bool = False) -> None:
        if force:
            self._show_problem = True
        _, problem = self._build()  # under its own row, naming the field again is noise
        show = problem is not None and self._show_problem
        self.problem_label.setText(problem or "")
        self.problem_label.setVisible(show)


class _GroupWidget(QFrame):
    changed = Signal()
    remove_requested = Signal(object)

    def __init__(
        self, builder: ConditionBuilder, *, root: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._builder = builder
        self.root = root
        self.setObjectName("conditionRoot" if root else "conditionGroup")
        self.combinator = QComboBox()
        self.combinator.addItem(ALL_LABEL, "all")
        self.combinator.addItem(ANY_LABEL, "any")
        self.combinator.setToolTip("All of: every condition must hold. Any of: one is enough.")
        self.not_box = QCheckBox("not")
        self.not_box.setToolTip("Holds when the group does not")
        self.add_leaf_button = QPushButton("+ Condition")
        self.add_group_button = QPushButton("+ Group")
        self.add_group_button.setToolTip("A nested group with its own All of / Any of")
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Remove this group and its conditions")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setVisible(not root)
        self.empty_label = QLabel(builder.empty_text if root else "Empty group: add a condition")
        self.empty_label.setStyleSheet(
            "color: palette(placeholder-text);" if root else PROBLEM_STYLE
        )

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(ROW_SPACING)
        header.addWidget(self.not_box)
        header.addWidget(self.combinator)
        self.these_label = QLabel("these conditions:")
        header.addWidget(self.these_label)
        header.addStretch(1)
        header.addWidget(self.add_leaf_button)
        header.addWidget(self.add_group_button)
        header.addWidget(self.remove_button)
        self.items_layout = QVBoxLayout()
        self.items_layout.setContentsMargins(0 if root else INDENT, 0, 0, 0)
        self.items_layout.setSpacing(ROW_SPACING)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0 if root else 6, 0, 0, 0)
        layout.setSpacing(ROW_SPACING)
        layout.addLayout(header)
        layout.addLayout(self.items_layout)
        layout.addWidget(self.empty_label)

        self.combinator.currentIndexChanged.connect(self._emit)
        self.not_box.toggled.connect(self._emit)
        self.add_leaf_button.clicked.connect(lambda: self.add_leaf())
        self.add_group_button.clicked.connect(lambda: self.add_group())
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self))
        self._sync_empty()

    def _emit(self) -> None:
        self._sync_empty()
        self.changed.emit()

    def _sync_empty(self) -> None:
        empty = not self.children_items()
        self.empty_label.setVisible(empty)
        if self.root:
            # "not All of these conditions:" over nothing is noise; it appears with the first.
            for widget in (self.not_box, self.combinator, self.these_label):
                widget.setVisible(not empty or self.not_box.isChecked())

    def children_items(self) -> list[_LeafRow | _GroupWidget]:
        out: list[_LeafRow | _GroupWidget] = []
        for i in range(self.items_layout.count()):
            layout_item = self.items_layout.itemAt(i)
            widget = layout_item.widget() if layout_item is not None else None
            if isinstance(widget, _LeafRow | _GroupWidget):
                out.append(widget)
        return out

    def add_leaf(self, leaf: Leaf | None = None, negated: bool = False) -> _LeafRow:
        row = _LeafRow(self._builder)
        row.load(leaf, negated)
        row.changed.connect(self._emit)
        row.remove_requested.connect(self._remove)
        self.items_layout.addWidget(row)
        row.show()  # at once: a layout shows a new child of a visible parent only later
        self._emit()
        if leaf is None:
            row.field_combo.setFocus()
        return row

    def add_group(self, cond: AllOf | AnyOf | None = None, negated: bool = False) -> _GroupWidget:
        group = _GroupWidget(self._builder, root=False)
        if cond is not None:
            group.load(cond, negated)
        else:
            group.add_leaf()
        group.changed.connect(self._emit)
        group.remove_requested.connect(self._remove)
        self.items_layout.addWidget(group)
        group.show()
        self._emit()
        return group

    def _remove(self, widget: QWidget) -> None:
        self.items_layout.removeWidget(widget)
        widget.hide()
        widget.deleteLater()
        self._emit()

    def clear_items(self) -> None:
        for widget in self.children_items():
            self.items_layout.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        self._sync_empty()

    def load(self, cond: AllOf | AnyOf, negated: bool = False) -> None:
        self.blockSignals(True)
        self.clear_items()
        self.combinator.setCurrentIndex(0 if isinstance(cond, AllOf) else 1)
        self.not_box.setChecked(negated)
        for item in cond.items:
            self.add_item(item)
        self.blockSignals(False)
        self._sync_empty()

    def add_item(self, cond: Condition) -> None:
        if isinstance(cond, Leaf):
            self.add_leaf(cond)
        elif isinstance(cond, AllOf | AnyOf):
            self.add_group(cond)
        elif isinstance(cond.item, Leaf):
            self.add_leaf(cond.item, negated=True)
        elif isinstance(cond.item, AllOf | AnyOf):
            self.add_group(cond.item, negated=True)
        else:  # not (not x): a negated group around the inner "not"
            self.add_group(AllOf((cond.item,)), negated=True)

    def refresh_problems(self) -> None:
        for child in self.children_items():
            if isinstance(child, _LeafRow):
                child.refresh_problem(force=True)
            else:
                child.refresh_problems()

    def focus_widgets(self) -> list[QWidget]:
        """The header's controls, then every row's and nested group's, top to bottom."""
        out: list[QWidget] = [
            self.not_box,
            self.combinator,
            self.add_leaf_button,
            self.add_group_button,
            self.remove_button,
        ]
        for child in self.children_items():
            out.extend(child.focus_widgets())
        return out

    def build(self) -> tuple[Condition | None, list[str]]:
        items: list[Condition] = []
        problems: list[str] = []
        for child in self.children_items():
            if isinstance(child, _LeafRow):
                cond, problem = child.build()
                if problem is not None:
                    problems.append(problem)
            else:
                cond, child_problems = child.build()
                problems.extend(child_problems)
            if cond is not None:
                items.append(cond)
        if problems:
            return None, problems
        combinator = self.combinator.currentData()
        negated = self.not_box.isChecked()
        if not items:
            if self.root and not negated:
                return None, []
            return None, ["an empty group: add a condition to it or remove it"]
        if self.root and len(items) == 1 and combinator == "all" and not negated:
            return items[0], []
        group: Condition = AllOf(tuple(items)) if combinator == "all" else AnyOf(tuple(items))
        return (Not(group) if negated else group), []


# --------------------------------------------------------------------------- the builder


class ConditionBuilder(QWidget):
    """Edits one condition tree over a list of fields.

    ``changed`` fires on every edit; :meth:`condition` returns the tree (None when there
    are no conditions) or raises :class:`ConditionProblems`, flagging each broken row.

    Rows are created after the window around the builder, so Qt would put them at the
    end of the window's tab order, after its OK or Save button; after every change the
    builder's controls are chained in the order they appear, which keeps Tab moving
    top to bottom through the conditions before it leaves the builder.
    """

    changed = Signal()

    def __init__(
        self,
        fields: Sequence[FieldInfo] = (),
        parent: QWidget | None = None,
        *,
        empty_text: str = "No conditions.",
    ) -> None:
        super().__init__(parent)
        self.empty_text = empty_text
        self._fields: list[FieldInfo] = list(fields)
        self._extra: dict[str, FieldInfo] = {}
        self.setStyleSheet(GROUP_STYLE)
        self.root = _GroupWidget(self, root=True)
        self.root.changed.connect(self.changed)
        self.changed.connect(self.fix_tab_order)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.root)

    def fix_tab_order(self) -> None:
        """Chain the controls in visual order, right after the root's first one: what
        came after the builder in its window (a dialog's buttons) stays after it."""
        for first, second in pairwise(self.root.focus_widgets()):
            QWidget.setTabOrder(first, second)

    # ----------------------------------------------------------------- fields

    def fields(self) -> list[FieldInfo]:
        return list(self._fields)

    def set_fields(self, fields: Sequence[FieldInfo]) -> None:
        """Offer other fields (an activity rule's type changed) without losing the tree."""
        self._fields = list(fields)
        self._refill(self.root)

    def _refill(self, group: _GroupWidget) -> None:
        for child in group.children_items():
            if isinstance(child, _LeafRow):
                key = child.field().key
                child.fill_fields(key)
                child.refresh_problem()
            else:
                self._refill(child)

    def field_info(self, key: str) -> FieldInfo:
        for info in self._fields:
            if info.key == key:
                return info
        if key in self._extra:
            return self._extra[key]
        if self._fields and not key:
            return self._fields[0]
        return FieldInfo(key, key, FieldType.TEXT)

    def fields_with(self, key: str | None) -> list[FieldInfo]:
        """The offered fields, plus ``key`` when a loaded condition names a field the
        data does not show (yet): it must stay selectable, not be silently replaced."""
        out = list(self._fields)
        if key and all(info.key != key for info in out):
            out.append(self._extra.get(key) or FieldInfo(key, key, FieldType.TEXT))
        return out

    def remember_field(self, key: str, value: object) -> None:
        if any(info.key == key for info in self._fields) or key in self._extra:
            return
        self._extra[key] = FieldInfo(key, key, _guess_type(value))

    # ----------------------------------------------------------------- tree

    def set_condition(self, cond: Condition | None) -> None:
        self.root.blockSignals(True)
        self.root.clear_items()
        self.root.combinator.setCurrentIndex(0)
        self.root.not_box.setChecked(False)
        if isinstance(cond, AllOf | AnyOf):
            self.root.load(cond)
        elif isinstance(cond, Not) and isinstance(cond.item, AllOf | AnyOf):
            self.root.load(cond.item, negated=True)
        elif cond is not None:
            self.root.add_item(cond)
        self.root.blockSignals(False)
        self.root._sync_empty()
        self.changed.emit()

    def checked(self) -> tuple[Condition | None, list[str]]:
        """The tree and what stops it from being built, flagging nothing: a dialog
        re-checking as the user types must not mark rows they have not touched yet."""
        return self.root.build()

    def problems(self) -> list[str]:
        """What stops the tree from being built, without flagging rows (for previews)."""
        return self.root.build()[1]

    def peek(self) -> Condition | None:
        """The tree when it is valid, else None, flagging nothing (for previews)."""
        cond, problems = self.root.build()
        return None if problems else cond

    def condition(self) -> Condition | None:
        cond, problems = self.root.build()
        if problems:
            self.root.refresh_problems()
            raise ConditionProblems(problems)
        return cond

    def add_leaf(self, leaf: Leaf | None = None) -> _LeafRow:
        """Append a condition to the root group (the "+ Condition" button, for callers)."""
        return self.root.add_leaf(leaf)

    def leaf_rows(self) -> list[_LeafRow]:
        out: list[_LeafRow] = []

        def walk(group: _GroupWidget) -> None:
            for child in group.children_items():
                if isinstance(child, _LeafRow):
                    out.append(child)
                else:
                    walk(child)

        walk(self.root)
        return out

"""The scoring-model editor: the models on the left, the selected one's draft on the right.

Editing a model re-scores every lead, which takes seconds on a large desk and moves
numbers salespeople act on, so edits are a **draft**: nothing is stored until Save, and a
what-if panel says - before saving - how many leads would go up or down and who would
cross the sales-ready threshold. The what-if is recomputed on a worker thread a moment
after the draft stops changing; a run overtaken by a newer draft is cancelled and its
result ignored.

Actions that do not edit the draft's rules (activate, reorder, rename, delete, import)
are applied at once, each as a background job with progress and Cancel, because each
re-scores everyone. A pending draft survives them: only the field the action changed is
brought up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from leaddesk.domain.conditions import describe
from leaddesk.domain.scoring import ACTIVITY, INACTIVITY, PROPERTY, Rule, ScoringModel
from leaddesk.domain.scoring_file import (
    ScoringFileError,
    dump_document,
    load_text,
    parse_document,
)
from leaddesk.services import scoring
from leaddesk.services.activities import list_activity_types
from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.services.fields import lead_fields
from leaddesk.services.scoring import ModelInfo, WhatIf
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock
from leaddesk.ui.condition_builder import ConditionBuilder, ConditionProblems, tree_items
from leaddesk.ui.display import ERROR_COLOUR, format_count
from leaddesk.ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QCloseEvent,
    QFileDialog,
    QFont,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTimer,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.rule_dialog import RuleDialog, kind_label
from leaddesk.ui.workers import Job, error_text, run_job, show_error, show_problems

__all__ = ["ScoringWindow", "expiry_text", "rule_condition_text"]

WHAT_IF_DELAY_MS = 400
WHAT_IF_EXAMPLES = 5
STATUS_PADDING = 20  # the item's margins on both sides, and air before the frame
NEW_ID = -1  # the list entry of a model that has not been saved yet
MAX_SCORE = 1_000_000
RULE_COLUMNS = ("Name", "Kind", "Condition", "Points", "Group", "Expiry")
MUTED_STYLE = "color: palette(placeholder-text);"
WINDOW_TITLE = "Scoring models"


def expiry_text(rule: Rule) -> str:
    if rule.kind != ACTIVITY:
        return "—"
    if rule.expires_after_days is None:
        return "never"
    return f"{rule.expires_after_days} day{'s' if rule.expires_after_days != 1 else ''}"


def rule_condition_text(rule: Rule, type_labels: dict[str, str] | None = None) -> str:
    """What the rule counts, in the words the rules table shows."""
    labels = type_labels or {}
    if rule.kind == PROPERTY:
        return "always" if rule.when is None else describe(rule.when)
    if rule.kind == ACTIVITY:
        text = labels.get(rule.activity or "", rule.activity or "?")
        if rule.when is not None:
            text += f" where {describe(rule.when)}"
        if rule.max_times is not None:
            text += f", at most {rule.max_times}×"
        return text
    if rule.kind == INACTIVITY:
        kinds = (
            "no activity"
            if not rule.activity_types
            else "no " + " or ".join(labels.get(t, t) for t in rule.activity_types)
        )
        text = f"{kinds} for {rule.days} days"
        return text + (", every period" if rule.repeat else "")
    return ""


def _plural(count: int, one: str, many: str | None = None) -> str:
    word = one if count == 1 else (many or one + "s")
    return f"{format_count(count)} {word}"


def what_if_summary(result: WhatIf) -> str:
    return (
        f"{_plural(result.up, 'lead')} would go up, {format_count(result.down)} down "
        f"({format_count(result.unchanged)} unchanged of {format_count(result.leads)}); "
        f"{format_count(result.newly_ready)} would become sales-ready, "
        f"{format_count(result.no_longer_ready)} would fall below the threshold "
        "(they stay sales-ready)."
    )


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A form label whose mnemonic focuses ``widget`` (a row holding a layout has none)."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _model_problems(model: ScoringModel) -> list[str]:
    """What a scoring file holding this model would refuse (floor above cap, …)."""
    try:
        parse_document(dump_document([model]))
    except ScoringFileError as error:
        return [
            f"{p.path.removeprefix('$.models[0]').lstrip('.') or 'model'}: {p.reason}"
            for p in error.problems
        ]
    return []


class ScoringWindow(QMainWindow):
    """Non-modal window; ``models_changed`` fires after every stored change so the main
    window can refresh its lists (scores moved)."""

    models_changed = Signal()
    what_if_ready = Signal(object)  # the WhatIf of the current draft, for tests and status

    def __init__(self, url: str, clock: Clock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._url = url
        self._clock = clock
        self._db = Database(url)
        self._infos: list[ModelInfo] = []
        self._current_id: int | None = None  # NEW_ID for an unsaved model
        self._baseline: ScoringModel | None = None
        self._rules: list[Rule] = []
        self._loading = False
        self._job: Job[Any] | None = None
        self._what_if_job: Job[Any] | None = None
        self._what_if_generation = 0
        self._close_confirmed = False
        self._new_name = "New model"
        self.last_what_if: WhatIf | None = None
        self._type_labels = {row.key: row.label for row in list_activity_types(self._db)}
        self._lead_fields = lead_fields(self._db)

        self.setWindowTitle(f"{WINDOW_TITLE}[*] — LeadDesk")
        self.resize(1280, 800)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_list_side())
        splitter.addWidget(self._build_editor_side())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 950])  # the starter models' names and "★ Primary" in full
        self.setCentralWidget(splitter)
        self.statusBar().setSizeGripEnabled(True)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(WHAT_IF_DELAY_MS)
        self._debounce.timeout.connect(self._start_what_if)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Save), self).activated.connect(self.save)

        self.reload()

    # ================================================================= building

    def _build_list_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(8, 8, 4, 8)
        self.model_list = QTreeWidget()
        self.model_list.setColumnCount(2)
        self.model_list.setHeaderLabels(["Model", "Status"])
        self.model_list.setRootIsDecorated(False)
        self.model_list.setUniformRowHeights(True)
        self.model_list.setAlternatingRowColors(True)
        header = self.model_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Sized for its longest word plus the cell's margins: sized to contents, "★ Primary"
        # touched the frame and lost its last letter.
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        metrics = self.model_list.fontMetrics()
        widest = max(
            metrics.horizontalAdvance(text)
            for text in ("Status", "★ Primary", "Active", "Inactive", "Unsaved")
        )
        header.resizeSection(1, widest + STATUS_PADDING)
        self.model_list.currentItemChanged.connect(self._list_selection_changed)
        hint = QLabel(
            "Every active model scores every lead; the first active one (★) gives the "
            "score and stars in the lead list."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(MUTED_STYLE)

        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename…")
        self.duplicate_button = QPushButton("Duplicate")
        self.delete_button = QPushButton("Delete…")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.activate_button = QPushButton("Deactivate")
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        self.add_button.setToolTip("A new, empty model (inactive until you switch it on)")
        self.duplicate_button.setToolTip("An inactive copy to experiment with")
        self.up_button.setToolTip("Earlier models come first; the first active one is primary")
        self.import_button.setToolTip("Add or replace models from a leaddesk.scoring/1 file")
        self.export_button.setToolTip("Write every saved model to a JSON file")
        self.add_button.clicked.connect(self.add_model)
        self.rename_button.clicked.connect(self.rename_model)
        self.duplicate_button.clicked.connect(self.duplicate_model)
        self.delete_button.clicked.connect(self.delete_model)
        self.up_button.clicked.connect(lambda: self.move_model(-1))
        self.down_button.clicked.connect(lambda: self.move_model(1))
        self.activate_button.clicked.connect(self.toggle_active)
        self.import_button.clicked.connect(self.import_models)
        self.export_button.clicked.connect(self.export_models)

        self.starter_button = QPushButton("Add the starter models")
        self.starter_button.setToolTip(
            "ActiveCampaign's and Encharge's recommended tables, ready to use or adapt"
        )
        self.starter_button.clicked.connect(self.install_starters)
        layout.addWidget(self.model_list, 1)
        layout.addWidget(self.starter_button)
        layout.addWidget(hint)
        for row in (
            (self.add_button, self.rename_button, self.duplicate_button),
            (self.up_button, self.down_button, self.delete_button),
            (self.activate_button, self.import_button, self.export_button),
        ):
            line = QHBoxLayout()
            line.setSpacing(4)
            for button in row:
                line.addWidget(button)
            layout.addLayout(line)
        return side

    def _build_editor_side(self) -> QWidget:
        side = QWidget()
        outer = QVBoxLayout(side)
        outer.setContentsMargins(4, 8, 8, 8)

        # --- model settings
        settings = QGroupBox("Model")
        self.name_edit = QLineEdit()
        self.active_box = QCheckBox("Active (scores leads)")
        self.threshold_spin = QSpinBox()
        self.threshold_spin.setRange(0, MAX_SCORE)
        self.threshold_spin.setSpecialValueText("none")
        self.threshold_spin.setToolTip("Leads at or above this score are sales ready (0 = none)")
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("optional, e.g. Hot lead")
        self.tag_edit.setToolTip("A tag the lead gets when it reaches the threshold")
        self.floor_box = QCheckBox("No floor")
        self.floor_box.setToolTip("Without a floor, negative rules can take a score below zero")
        self.floor_spin = QSpinBox()
        self.floor_spin.setRange(-MAX_SCORE, MAX_SCORE)
        self.cap_box = QCheckBox("Cap at")
        self.cap_spin = QSpinBox()
        self.cap_spin.setRange(-MAX_SCORE, MAX_SCORE)
        self.cap_spin.setValue(100)
        form = QFormLayout(settings)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        name_row = QHBoxLayout()
        name_row.addWidget(self.name_edit, 1)
        name_row.addSpacing(12)
        name_row.addWidget(self.active_box)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_spin)
        threshold_row.addSpacing(12)
        threshold_row.addWidget(QLabel("Tag leads that reach it:"))
        threshold_row.addWidget(self.tag_edit, 1)
        limits_row = QHBoxLayout()
        limits_row.addWidget(QLabel("Floor:"))
        limits_row.addWidget(self.floor_spin)
        limits_row.addWidget(self.floor_box)
        limits_row.addSpacing(24)
        limits_row.addWidget(self.cap_box)
        limits_row.addWidget(self.cap_spin)
        limits_row.addStretch(1)
        form.addRow(_buddy("&Name:", self.name_edit), name_row)
        form.addRow(_buddy("&Sales ready at:", self.threshold_spin), threshold_row)
        form.addRow("Score limits:", limits_row)

        # --- rules
        rules_box = QGroupBox("Rules")
        self.rules_table = QTableWidget(0, len(RULE_COLUMNS))
        self.rules_table.setHorizontalHeaderLabels(list(RULE_COLUMNS))
        self.rules_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.rules_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.rules_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rules_table.setAlternatingRowColors(True)
        self.rules_table.setShowGrid(False)
        self.rules_table.setWordWrap(False)
        self.rules_table.verticalHeader().setVisible(False)
        self.rules_table.verticalHeader().setDefaultSectionSize(24)
        rheader = self.rules_table.horizontalHeader()
        rheader.setHighlightSections(False)
        rheader.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rheader.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        rheader.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rules_table.setColumnWidth(0, 220)
        self.rules_table.setMinimumHeight(200)
        self.rules_table.doubleClicked.connect(lambda _index: self.edit_rule())
        self.rules_table.itemSelectionChanged.connect(self._sync_buttons)
        for key, action in (
            (Qt.Key.Key_Delete, self.remove_rule),
            (Qt.Key.Key_Return, self.edit_rule),
        ):
            shortcut = QShortcut(QKeySequence(key), self.rules_table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(action)
        self.add_rule_button = QPushButton("Add rule…")
        self.edit_rule_button = QPushButton("Edit…")
        self.remove_rule_button = QPushButton("Remove")
        self.rule_up_button = QPushButton("Move up")
        self.rule_down_button = QPushButton("Move down")
        self.add_rule_button.clicked.connect(self.add_rule)
        self.edit_rule_button.clicked.connect(self.edit_rule)
        self.remove_rule_button.clicked.connect(self.remove_rule)
        self.rule_up_button.clicked.connect(lambda: self.move_rule(-1))
        self.rule_down_button.clicked.connect(lambda: self.move_rule(1))
        rule_buttons = QVBoxLayout()
        for button in (
            self.add_rule_button,
            self.edit_rule_button,
            self.remove_rule_button,
            self.rule_up_button,
            self.rule_down_button,
        ):
            rule_buttons.addWidget(button)
        rule_buttons.addStretch(1)
        rules_layout = QHBoxLayout(rules_box)
        rules_layout.addWidget(self.rules_table, 1)
        rules_layout.addLayout(rule_buttons)

        # --- exclusions
        exclude_box = QGroupBox("Exclude leads when (they are not scored at all)")
        self.exclude_builder = ConditionBuilder(
            self._lead_fields, empty_text="No exclusions: every lead is scored."
        )
        exclude_layout = QVBoxLayout(exclude_box)
        exclude_layout.addWidget(self.exclude_builder)

        editor = QWidget()
        editor_layout = QVBoxLayout(editor)
        editor_layout.setContentsMargins(0, 0, 6, 0)
        editor_layout.addWidget(settings)
        editor_layout.addWidget(rules_box, 1)
        editor_layout.addWidget(exclude_box)
        self.editor_scroll = QScrollArea()
        self.editor_scroll.setWidgetResizable(True)
        self.editor_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.editor_scroll.setWidget(editor)
        self.editor = editor

        # --- what-if and buttons, always in view
        self.what_if_box = QGroupBox("Effect of your changes")
        self.what_if_label = QLabel()
        self.what_if_label.setWordWrap(True)
        self.what_if_examples = QTableWidget(0, 4)
        self.what_if_examples.setHorizontalHeaderLabels(
            ["Example lead", "Now", "After saving", "Change"]
        )
        self.what_if_examples.verticalHeader().setVisible(False)
        self.what_if_examples.verticalHeader().setDefaultSectionSize(22)
        self.what_if_examples.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.what_if_examples.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.what_if_examples.setShowGrid(False)
        self.what_if_examples.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        eheader = self.what_if_examples.horizontalHeader()
        eheader.setHighlightSections(False)
        eheader.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        eheader.setStretchLastSection(True)
        eheader.setMinimumSectionSize(80)
        # The examples' room is kept while there are none: a table appearing under the
        # rules after each edit would squeeze the rules table the user is working in.
        self.what_if_placeholder = QLabel("The leads whose scores would move most show here.")
        self.what_if_placeholder.setStyleSheet(MUTED_STYLE)
        self.what_if_placeholder.setAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
        )
        self.what_if_area = QStackedWidget()
        self.what_if_area.addWidget(self.what_if_placeholder)
        self.what_if_area.addWidget(self.what_if_examples)
        self.what_if_area.setFixedHeight(24 + 22 * WHAT_IF_EXAMPLES + 4)
        self._show_examples(False)
        what_if_layout = QVBoxLayout(self.what_if_box)
        what_if_layout.addWidget(self.what_if_label)
        what_if_layout.addWidget(self.what_if_area)

        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Store the model and re-score every lead (Ctrl+S)")
        self.save_button.setDefault(True)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Throw the unsaved changes away")
        self.save_button.clicked.connect(lambda: self.save())
        self.revert_button.clicked.connect(self.revert)
        buttons = QHBoxLayout()
        buttons.addWidget(self.error_label, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        outer.addWidget(self.editor_scroll, 1)
        outer.addWidget(self.what_if_box)
        outer.addLayout(buttons)

        for signal in (
            self.name_edit.textChanged,
            self.active_box.toggled,
            self.threshold_spin.valueChanged,
            self.tag_edit.textChanged,
            self.floor_box.toggled,
            self.floor_spin.valueChanged,
            self.cap_box.toggled,
            self.cap_spin.valueChanged,
            self.exclude_builder.changed,
        ):
            signal.connect(self._draft_changed)
        return side

    # ================================================================= list of models

    def infos(self) -> list[ModelInfo]:
        return list(self._infos)

    def _info(self, model_id: int | None) -> ModelInfo | None:
        return next((info for info in self._infos if info.id == model_id), None)

    def primary_id(self) -> int | None:
        return next((info.id for info in self._infos if info.active), None)

    def reload(self, select_id: int | None = None) -> None:
        """Re-read the stored models and show ``select_id`` (or keep the current one)."""
        self._infos = scoring.list_models(self._db)
        wanted = select_id if select_id is not None else self._current_id
        if self._info(wanted) is None and wanted != NEW_ID:
            wanted = self._infos[0].id if self._infos else None
        self._fill_list(wanted)
        if wanted == NEW_ID:
            return
        self._load_model(wanted)

    def _fill_list(self, select_id: int | None) -> None:
        self._loading = True
        try:
            self.model_list.clear()
            primary = self.primary_id()
            bold = QFont(self.model_list.font())
            bold.setBold(True)
            for info in self._infos:
                if info.id == primary:
                    status = "★ Primary"
                elif info.active:
                    status = "Active"
                else:
                    status = "Inactive"
                item = QTreeWidgetItem([info.name, status])
                item.setData(0, Qt.ItemDataRole.UserRole, info.id)
                item.setToolTip(0, info.name)
                if info.id == primary:
                    item.setFont(0, bold)
                    item.setToolTip(1, "Its score and stars show in the lead list")
                if not info.active:
                    item.setForeground(1, self.palette().placeholderText())
                self.model_list.addTopLevelItem(item)
                if info.id == select_id:
                    self.model_list.setCurrentItem(item)
            if select_id == NEW_ID:
                name = self._new_name
                item = QTreeWidgetItem([name, "Unsaved"])
                item.setData(0, Qt.ItemDataRole.UserRole, NEW_ID)
                italic = QFont(self.model_list.font())
                italic.setItalic(True)
                item.setFont(0, italic)
                self.model_list.addTopLevelItem(item)
                self.model_list.setCurrentItem(item)
        finally:
            self._loading = False
        self._sync_buttons()

    def _item_id(self, item: QTreeWidgetItem | None) -> int | None:
        if item is None:
            return None
        value = item.data(0, Qt.ItemDataRole.UserRole)
        return int(value) if value is not None else None

    def _select_in_list(self, model_id: int | None) -> None:
        self._loading = True
        try:
            for item in tree_items(self.model_list):
                if self._item_id(item) == model_id:
                    self.model_list.setCurrentItem(item)
                    break
        finally:
            self._loading = False

    def _list_selection_changed(
        self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        if self._loading:
            return
        target = self._item_id(current)
        if target == self._current_id:
            return
        # Stay on the edited model until the user has said what to do with its draft.
        self._select_in_list(self._current_id)
        self._ask_unsaved(lambda: self.select_model(target))

    def select_model(self, model_id: int | None) -> None:
        """Show ``model_id`` in the editor (its draft, if any, must be dealt with first)."""
        if self._current_id == NEW_ID and model_id != NEW_ID:
            self._fill_list(model_id)
        else:
            self._select_in_list(model_id)
        self._load_model(model_id)

    # ================================================================= the draft

    def _load_model(self, model_id: int | None, model: ScoringModel | None = None) -> None:
        """Fill the editor from the stored model (or the given new one); no draft left."""
        info = self._info(model_id)
        self._current_id = model_id
        if model is None:
            model = info.model if info is not None else None
        self._baseline = model
        self._loading = True
        try:
            self.editor.setEnabled(model is not None)
            self._set_editor(model or ScoringModel("", False, None))
        finally:
            self._loading = False
        self.error_label.hide()
        self._draft_changed()

    def _set_editor(self, model: ScoringModel) -> None:
        self.name_edit.setText(model.name)
        self.active_box.setChecked(model.active)
        self.threshold_spin.setValue(model.sales_ready_at or 0)
        self.tag_edit.setText(model.threshold_tag or "")
        self.floor_box.setChecked(model.floor is None)
        self.floor_spin.setValue(model.floor if model.floor is not None else 0)
        self.cap_box.setChecked(model.cap is not None)
        if model.cap is not None:
            self.cap_spin.setValue(model.cap)
        self.exclude_builder.set_condition(model.exclude)
        self._rules = list(model.rules)
        self._fill_rules()

    def current_id(self) -> int | None:
        return self._current_id

    def draft(self, *, flag: bool = False) -> ScoringModel:
        """The model as edited; raises ConditionProblems when the exclusions are broken
        (``flag`` marks the broken rows, as Save does; previews stay quiet)."""
        if flag:
            exclude = self.exclude_builder.condition()
        else:
            problems = self.exclude_builder.problems()
            if problems:
                raise ConditionProblems(problems)
            exclude = self.exclude_builder.peek()
        tag = self.tag_edit.text().strip()
        return ScoringModel(
            name=self.name_edit.text().strip(),
            active=self.active_box.isChecked(),
            sales_ready_at=self.threshold_spin.value() or None,
            floor=None if self.floor_box.isChecked() else self.floor_spin.value(),
            cap=self.cap_spin.value() if self.cap_box.isChecked() else None,
            exclude=exclude,
            rules=tuple(self._rules),
            threshold_tag=tag or None,
        )

    def is_dirty(self) -> bool:
        if self._current_id is None or self._baseline is None:
            return False
        if self._current_id == NEW_ID:
            return True
        try:
            return self.draft() != self._baseline
        except ConditionProblems:
            return True

    def _draft_changed(self) -> None:
        if self._loading:
            return
        self.floor_spin.setEnabled(not self.floor_box.isChecked())
        self.cap_spin.setEnabled(self.cap_box.isChecked())
        dirty = self.is_dirty()
        self.setWindowModified(dirty)
        self.error_label.hide()
        self._sync_buttons()
        self._what_if_generation += 1  # whatever is running now answers an older draft
        if self._current_id is None:
            self._debounce.stop()
            self._show_what_if_message(
                "No scoring model yet: add one, import a scoring file or add the starter models."
            )
            return
        if not dirty:
            self._debounce.stop()
            self._show_what_if_message(
                "No unsaved changes. Edit the model to see how scores would move before saving."
            )
            return
        self._show_what_if_message("Working out the effect…", keep_examples=True)
        self._debounce.start()

    # ----------------------------------------------------------------- rules table

    def _fill_rules(self, select: int | None = None) -> None:
        table = self.rules_table
        table.setRowCount(len(self._rules))
        for row, rule in enumerate(self._rules):
            condition = rule_condition_text(rule, self._type_labels)
            cells = (
                rule.name,
                kind_label(rule.kind),
                condition,
                f"{rule.points:+d}",
                rule.group.capitalize(),
                expiry_text(rule),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 2:
                    item.setToolTip(condition)
                if column == 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                table.setItem(row, column, item)
        if select is not None and 0 <= select < len(self._rules):
            table.selectRow(select)
        else:
            table.clearSelection()
        self._sync_buttons()

    def selected_rule(self) -> int | None:
        rows = self.rules_table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def rules(self) -> list[Rule]:
        return list(self._rules)

    def _rule_dialog(self, rule: Rule | None) -> RuleDialog:
        return RuleDialog(self._db, rule, self, lead_field_list=self._lead_fields)

    def add_rule(self) -> None:
        if self._current_id is None:
            return
        dialog = self._rule_dialog(None)
        accepted = dialog.exec()
        dialog.deleteLater()
        if accepted:
            self._rules.append(dialog.rule())
            self._fill_rules(len(self._rules) - 1)
            self._draft_changed()

    def edit_rule(self) -> None:
        row = self.selected_rule()
        if row is None:
            return
        dialog = self._rule_dialog(self._rules[row])
        accepted = dialog.exec()
        dialog.deleteLater()
        if accepted:
            self._rules[row] = dialog.rule()
            self._fill_rules(row)
            self._draft_changed()

    def remove_rule(self) -> None:
        row = self.selected_rule()
        if row is None:
            return
        del self._rules[row]
        self._fill_rules(min(row, len(self._rules) - 1))
        self._draft_changed()

    def move_rule(self, step: int) -> None:
        row = self.selected_rule()
        if row is None or not 0 <= row + step < len(self._rules):
            return
        rules = self._rules
        rules[row], rules[row + step] = rules[row + step], rules[row]
        self._fill_rules(row + step)
        self._draft_changed()

    def set_rule(self, row: int, rule: Rule) -> None:
        """Replace one rule of the draft (what the rule dialog's OK does)."""
        self._rules[row] = rule
        self._fill_rules(row)
        self._draft_changed()

    # ----------------------------------------------------------------- what-if

    def _show_what_if_message(self, text: str, *, keep_examples: bool = False) -> None:
        self.what_if_label.setText(text)
        self.what_if_label.setStyleSheet(MUTED_STYLE)
        if not keep_examples:
            self._show_examples(False)

    def _show_examples(self, shown: bool) -> None:
        self.what_if_area.setCurrentWidget(
            self.what_if_examples if shown else self.what_if_placeholder
        )

    def _start_what_if(self) -> None:
        if self._current_id is None or not self.is_dirty():
            return
        try:
            draft = self.draft()
        except ConditionProblems:
            self._show_what_if_message("Fix the exclusions marked in red to see the effect.")
            return
        problems = _model_problems(replace(draft, name=draft.name or "draft"))
        if problems:
            self._show_what_if_message("Fix this first: " + "; ".join(problems))
            return
        if self._what_if_job is not None and self._what_if_job.running:
            self._what_if_job.cancel()
        generation = self._what_if_generation
        model_id = self._current_id if self._current_id != NEW_ID else None
        now = self._clock()

        def compute(db: Database, progress: scoring.Progress) -> WhatIf:
            return scoring.what_if(
                db, draft, now, model_id=model_id, examples=WHAT_IF_EXAMPLES, progress=progress
            )

        self._what_if_job = run_job(
            self,
            "What if",
            compute,
            self._url,
            on_done=lambda result: self._what_if_done(generation, result),
            on_error=lambda error: self._what_if_failed(generation, error),
            on_cancelled=lambda: None,
            show_progress=False,
            report=False,
        )

    def _what_if_done(self, generation: int, result: WhatIf) -> None:
        if generation != self._what_if_generation:
            return  # an older draft's answer
        self.last_what_if = result
        self.what_if_label.setText(what_if_summary(result))
        self.what_if_label.setStyleSheet("")
        table = self.what_if_examples
        table.setRowCount(len(result.examples))
        for row, example in enumerate(result.examples):
            arrow = "▲" if example.new > example.old else "▼"
            cells = (
                example.name,
                str(example.old),
                str(example.new),
                f"{arrow} {example.new - example.old:+d}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (1, 2):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                table.setItem(row, column, item)
        self._show_examples(bool(result.examples))
        self.what_if_ready.emit(result)

    def _what_if_failed(self, generation: int, error: BaseException) -> None:
        if generation == self._what_if_generation:
            self._show_what_if_message(f"Could not work out the effect: {error_text(error)}")

    def what_if_running(self) -> bool:
        return self._debounce.isActive() or (
            self._what_if_job is not None and self._what_if_job.running
        )

    # ================================================================= saving

    def _unsaved_question(self) -> QMessageBox.StandardButton:
        name = self.name_edit.text().strip() or "the new model"
        return QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to “{name}”? Saving re-scores every lead.",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )

    def _ask_unsaved(self, then: Callable[[], None]) -> bool:
        """Run ``then`` once the draft is saved or discarded; False if the user cancelled."""
        if not self.is_dirty():
            then()
            return True
        answer = self._unsaved_question()
        if answer == QMessageBox.StandardButton.Save:
            return self.save(after=then)
        if answer == QMessageBox.StandardButton.Discard:
            self.revert()
            then()
            return True
        return False

    def save(self, after: Callable[[], None] | None = None) -> bool:
        """Store the draft and re-score everyone (background job). False if refused."""
        if self._current_id is None or self.busy():
            return False
        try:
            draft = self.draft(flag=True)
        except ConditionProblems as error:
            self._refuse(["Exclusions: " + p for p in error.problems])
            return False
        problems = [] if draft.name else ["Give the model a name."]
        problems += [] if not draft.name else _model_problems(draft)
        if problems:
            self._refuse(problems)
            return False
        model_id = self._current_id if self._current_id != NEW_ID else None
        now = self._clock()

        def store(db: Database, progress: scoring.Progress) -> int:
            return scoring.save_model(db, draft, now, model_id=model_id, progress=progress)

        def saved(new_id: int) -> None:
            self.statusBar().showMessage(f"Saved “{draft.name}”; every lead was re-scored.", 8000)
            self._current_id = new_id
            self.reload(select_id=new_id)
            if after is not None:
                after()

        self._run(
            "Save scoring model",
            f"Saving “{draft.name}” and re-scoring every lead…",
            store,
            saved,
            on_error=lambda error: self._refuse([error_text(error)], box=True),
        )
        return True

    def _refuse(self, problems: list[str], *, box: bool = False) -> None:
        self.error_label.setText("Not saved: " + " ".join(problems))
        self.error_label.show()
        if box:
            show_error(self, "Not saved", "\n".join(problems))

    def revert(self) -> None:
        if self._current_id == NEW_ID:
            self._current_id = None
            self.reload()
            return
        self._load_model(self._current_id)

    # ================================================================= immediate actions

    def busy(self) -> bool:
        return self._job is not None and self._job.running

    def current_job(self) -> Job[Any] | None:
        return self._job

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.editor, self.model_list, self.save_button, self.revert_button):
            widget.setEnabled(
                not busy and (widget is not self.editor or self._baseline is not None)
            )
        self._sync_buttons()

    def _run(
        self,
        title: str,
        label: str,
        fn: Callable[[Database, scoring.Progress], Any],
        on_done: Callable[[Any], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Job[Any]:
        """A re-scoring action: busy while it runs, ``models_changed`` when it worked."""

        def done(result: Any) -> None:
            self._set_busy(False)
            on_done(result)
            self.models_changed.emit()

        def failed(error: BaseException) -> None:
            self._set_busy(False)
            if on_error is not None:
                on_error(error)
            else:
                show_error(self, title, error)

        def cancelled() -> None:
            self._set_busy(False)
            self.statusBar().showMessage("Cancelled; nothing was changed.", 8000)
            QMessageBox.information(self, title, "Cancelled; nothing was changed.")

        self._job = run_job(
            self, title, fn, self._url, done, failed, label=label, on_cancelled=cancelled
        )
        self._set_busy(True)
        return self._job

    def _after_stored_change(
        self, select_id: int | None = None, fields: tuple[str, ...] = ()
    ) -> None:
        """Re-read the models after an immediate action, keeping a pending draft: only the
        ``fields`` the action changed ("name", "active") are taken from the stored model."""
        dirty = self.is_dirty() and self._current_id != NEW_ID
        keep_id = self._current_id
        self._infos = scoring.list_models(self._db)
        target = select_id if select_id is not None else keep_id
        if self._info(target) is None and target != NEW_ID:
            target = self._infos[0].id if self._infos else None
        self._fill_list(target)
        if target == NEW_ID:
            return
        info = self._info(target)
        if not dirty or target != keep_id or info is None:
            self._load_model(target)
            return
        self._baseline = info.model
        self._loading = True
        try:
            if "name" in fields:
                self.name_edit.setText(info.model.name)
            if "active" in fields:
                self.active_box.setChecked(info.model.active)
        finally:
            self._loading = False
        self._draft_changed()

    def add_model(self) -> None:
        def start() -> None:
            names = {info.name.casefold() for info in self._infos}
            name, n = "New model", 2
            while name.casefold() in names:
                name, n = f"New model {n}", n + 1
            model = ScoringModel(name, False, 100)
            self._new_name = name
            self._current_id = NEW_ID
            self._fill_list(NEW_ID)
            self._load_model(NEW_ID, model)
            self.name_edit.setFocus()
            self.name_edit.selectAll()

        self._ask_unsaved(start)

    def install_starters(self) -> None:
        if self.busy():
            return
        now = self._clock()

        def installed(names: list[str]) -> None:
            self._after_stored_change()
            added = ", ".join(names) if names else "none (they are already here)"
            self.statusBar().showMessage(f"Starter models added: {added}.", 8000)

        self._run(
            "Add the starter models",
            "Adding the starter models and scoring every lead…",
            lambda db, progress: scoring.install_starter_models(db, now, progress),
            installed,
        )

    def rename_model(self) -> None:
        info = self._info(self._current_id)
        if info is None:
            self.name_edit.setFocus()
            self.name_edit.selectAll()
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=info.name)
        name = name.strip()
        if not ok or not name or name == info.name:
            return
        model = replace(info.model, name=name)
        now = self._clock()
        model_id = info.id
        self._run(
            "Rename scoring model",
            f"Renaming to “{name}”…",
            lambda db, progress: scoring.save_model(
                db, model, now, model_id=model_id, progress=progress
            ),
            lambda _id: self._after_stored_change(model_id, ("name",)),
        )

    def duplicate_model(self) -> None:
        info = self._info(self._current_id)
        if info is None or self.busy():
            return
        try:
            new_id = scoring.duplicate_model(self._db, info.id, self._clock())
        except ServiceError as error:
            show_error(self, "Duplicate scoring model", error)
            return
        self._after_stored_change()
        self.models_changed.emit()
        self._ask_unsaved(lambda: self.select_model(new_id))

    def delete_model(self) -> None:
        if self._current_id == NEW_ID:
            self.revert()
            return
        info = self._info(self._current_id)
        if info is None or self.busy():
            return
        answer = QMessageBox.question(
            self,
            "Delete scoring model",
            f"Delete “{info.name}”? Its scores are removed from every lead"
            + (" and the lead list shows the next active model." if info.active else ".")
            + " This cannot be undone (export it first to keep a copy).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        now = self._clock()
        model_id = info.id

        def deleted(_result: object) -> None:
            self._current_id = None
            self.reload()
            self.statusBar().showMessage(f"Deleted “{info.name}”.", 8000)

        self._run(
            "Delete scoring model",
            f"Deleting “{info.name}” and re-scoring every lead…",
            lambda db, progress: scoring.delete_model(db, model_id, now, progress),
            deleted,
        )

    def move_model(self, step: int) -> None:
        ids = [info.id for info in self._infos]
        if self._current_id not in ids or self.busy():
            return
        row = ids.index(self._current_id)
        if not 0 <= row + step < len(ids):
            return
        ids[row], ids[row + step] = ids[row + step], ids[row]
        now = self._clock()
        self._run(
            "Reorder scoring models",
            "Reordering and re-scoring every lead…",
            lambda db, progress: scoring.reorder_models(db, ids, now, progress),
            lambda _result: self._after_stored_change(),
        )

    def toggle_active(self) -> None:
        info = self._info(self._current_id)
        if info is None or self.busy():
            if self._current_id == NEW_ID:
                self.active_box.toggle()
            return
        active = not info.active
        now = self._clock()
        model_id = info.id
        verb = "Activating" if active else "Deactivating"
        self._run(
            "Activate scoring model" if active else "Deactivate scoring model",
            f"{verb} “{info.name}” and re-scoring every lead…",
            lambda db, progress: scoring.set_active(db, model_id, active, now, progress),
            lambda _result: self._after_stored_change(model_id, ("active",)),
        )

    def import_models(self) -> None:
        if self.busy():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Import scoring models", "", "Scoring files (*.json);;All files (*)"
        )
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Import a scoring file, refusing it whole (every problem listed) when invalid."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            show_error(self, "Import scoring models", f"Could not read {path.name}: {error}")
            return
        try:
            models = load_text(text)
        except ScoringFileError as error:
            count = len(error.problems)
            show_problems(
                self,
                "Import scoring models",
                f"{path.name} was not imported: {count} problem{'s' if count != 1 else ''} "
                "(nothing was changed).",
                [str(problem) for problem in error.problems],
            )
            return
        existing = {info.name.casefold() for info in self._infos}
        replaced = [m.name for m in models if m.name.casefold() in existing]
        if replaced:
            answer = QMessageBox.question(
                self,
                "Import scoring models",
                "This replaces "
                + ", ".join(f"“{n}”" for n in replaced)
                + " with the file's version and re-scores every lead. Continue?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.Yes,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        now = self._clock()

        def imported(names: list[str]) -> None:
            self._after_stored_change()
            self.statusBar().showMessage(
                f"Imported {len(names)} model{'s' if len(names) != 1 else ''}: " + ", ".join(names),
                8000,
            )

        self._run(
            "Import scoring models",
            f"Importing {path.name} and re-scoring every lead…",
            lambda db, progress: scoring.import_models(db, text, now, progress),
            imported,
        )

    def export_models(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export scoring models", "scoring-models.json", "Scoring files (*.json)"
        )
        if path:
            self.export_file(Path(path))

    def export_file(self, path: Path) -> None:
        try:
            path.write_text(scoring.export_models(self._db), encoding="utf-8")
        except OSError as error:
            show_error(self, "Export scoring models", f"Could not write {path}: {error}")
            return
        note = " (unsaved changes are not included)" if self.is_dirty() else ""
        self.statusBar().showMessage(f"Exported every saved model to {path}{note}.", 8000)

    # ================================================================= state

    def _sync_buttons(self) -> None:
        busy = self.busy()
        info = self._info(self._current_id)
        stored = info is not None
        ids = [i.id for i in self._infos]
        row = ids.index(info.id) if info is not None else -1
        self.add_button.setEnabled(not busy)
        self.rename_button.setEnabled(not busy and stored)
        self.duplicate_button.setEnabled(not busy and stored)
        self.delete_button.setEnabled(not busy and self._current_id is not None)
        self.up_button.setEnabled(not busy and stored and row > 0)
        self.down_button.setEnabled(not busy and stored and 0 <= row < len(ids) - 1)
        self.activate_button.setEnabled(not busy and stored)
        self.activate_button.setText(
            "Deactivate" if info is not None and info.active else "Activate"
        )
        self.import_button.setEnabled(not busy)
        self.starter_button.setVisible(not self._infos)
        self.starter_button.setEnabled(not busy)
        self.export_button.setEnabled(not busy and bool(self._infos))
        dirty = self.is_dirty()
        self.save_button.setEnabled(not busy and dirty)
        self.revert_button.setEnabled(not busy and dirty)
        has_rule = self.selected_rule() is not None
        editing = self._current_id is not None and not busy
        self.add_rule_button.setEnabled(editing)
        self.edit_rule_button.setEnabled(editing and has_rule)
        self.remove_rule_button.setEnabled(editing and has_rule)
        rule_row = self.selected_rule()
        self.rule_up_button.setEnabled(editing and rule_row is not None and rule_row > 0)
        self.rule_down_button.setEnabled(
            editing and rule_row is not None and rule_row < len(self._rules) - 1
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy():
            self.statusBar().showMessage("Wait for the re-score to finish, or cancel it.", 8000)
            event.ignore()
            return
        if not self._close_confirmed and self.is_dirty():
            answer = self._unsaved_question()
            if answer == QMessageBox.StandardButton.Save:
                event.ignore()

                def close_after_save() -> None:
                    self._close_confirmed = True
                    self.close()

                self.save(after=close_after_save)
                return
            if answer != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
        self._close_confirmed = False  # a window shown again asks again
        self._debounce.stop()
        self._what_if_generation += 1  # a late answer must not touch a closed window
        if self._what_if_job is not None and self._what_if_job.running:
            self._what_if_job.cancel()
            self._what_if_job.wait()
        self._db.dispose()
        super().closeEvent(event)

    def validation_problems(self) -> list[str]:
        """What Save would refuse now, for callers that want to say it before trying."""
        try:
            draft = self.draft()
        except ConditionProblems as error:
            return error.problems
        except ValidationError as error:
            return list(error.errors.values())
        return _model_problems(draft) if draft.name else ["Give the model a name."]

"""The scoring-model editor, its rule dialog and condition builder, driven like a user."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from leaddesk.domain.conditions import AllOf, AnyOf, Condition, FieldType, Leaf, Not
from leaddesk.domain.scoring import (
    ACTIVITY,
    ENGAGEMENT,
    FIT,
    INACTIVITY,
    PROPERTY,
    Rule,
    ScoringModel,
    activity_rule,
    property_rule,
)
from leaddesk.services import scoring
from leaddesk.services.fields import FieldInfo, lead_fields
from leaddesk.services.lists import lead_rows
from leaddesk.store.database import Database
from leaddesk.ui import scoring_window as scoring_window_module
from leaddesk.ui.condition_builder import ConditionBuilder, ConditionProblems
from leaddesk.ui.qt import QComboBox, QDialog, QMessageBox, QPushButton, Qt
from leaddesk.ui.rule_dialog import RuleDialog
from leaddesk.ui.scoring_window import ScoringWindow
from tests.conftest import NOW

WAIT_MS = 15_000

TEST_MODEL = ScoringModel(
    name="Test model",
    active=True,
    sales_ready_at=10,
    exclude=Leaf("contact.job_title", "contains", "student"),
    rules=(
        property_rule("CEO or CMO", 5, Leaf("contact.job_title", "in", ("CEO", "CMO"))),
        activity_rule("Opened an email", 2, "email_open", expires_after_days=180),
        activity_rule("Pricing page", 10, "page_visit", when=Leaf("url", "contains", "/pricing")),
    ),
)
SECOND_MODEL = ScoringModel(
    name="Second model",
    active=True,
    sales_ready_at=50,
    rules=(property_rule("Everyone", 1, None),),
)


# --------------------------------------------------------------------------- helpers


@dataclass
class Boxes:
    """Every message box answers itself; ``question`` answers pop from ``answers``."""

    answers: list[QMessageBox.StandardButton] = field(default_factory=list)
    shown: list[tuple[str, str]] = field(default_factory=list)  # (kind, all its text)

    def texts(self, kind: str) -> list[str]:
        return [text for k, text in self.shown if k == kind]


@pytest.fixture
def boxes(monkeypatch: pytest.MonkeyPatch) -> Boxes:
    recorded = Boxes()

    def recorder(kind: str) -> Any:
        def show(_parent: object, title: str, text: str, *_a: object, **_k: object) -> Any:
            recorded.shown.append((kind, f"{title}\n{text}"))
            if kind == "question":
                assert recorded.answers, f"unexpected question: {text}"
                return recorded.answers.pop(0)
            return QMessageBox.StandardButton.Ok

        return staticmethod(show)

    for kind in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))

    def exec_box(box: QMessageBox) -> int:
        text = "\n".join((box.windowTitle(), box.text(), box.informativeText()))
        recorded.shown.append(("box", text))
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", exec_box)
    return recorded


@pytest.fixture
def desk(small_desk: Database) -> Database:
    scoring.save_model(small_desk, TEST_MODEL, NOW)
    return small_desk


@pytest.fixture
def window(qtbot: QtBot, desk: Database, db_url: str, boxes: Boxes) -> Iterator[ScoringWindow]:
    # Not handed to qtbot.addWidget: pytest-qt would close it before this fixture can
    # answer the "unsaved changes" question.
    win = ScoringWindow(db_url, lambda: NOW)
    win.show()
    yield win
    job = win.current_job()
    if job is not None:
        job.wait()
        qtbot.waitUntil(lambda: not win.busy(), timeout=WAIT_MS)
    boxes.answers[:] = [QMessageBox.StandardButton.Discard]
    win.close()
    win.deleteLater()


def choose(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    assert index >= 0, f"{data!r} not offered"
    combo.setCurrentIndex(index)


def set_leaf(row: Any, field_key: str, op: str, text: str = "", negated: bool = False) -> None:
    choose(row.field_combo, field_key)
    choose(row.op_combo, op)
    editor = row.value_editor
    if editor.combo is not None and editor.combo.isEditable():
        editor.combo.setCurrentText(text)
    elif editor.combo is not None:
        editor.combo.setCurrentIndex(0 if text == "yes" else 1)
    elif editor.line is not None:
        low, _, high = text.partition("|")
        editor.line.setText(low)
        if editor.high is not None:
            editor.high.setText(high)
    row.not_box.setChecked(negated)


def click(button: QPushButton) -> None:
    button.click()


def scores(db: Database) -> dict[int, int]:
    rows = lead_rows(db, list(range(1, 50)))
    return {lead_id: row.score for lead_id, row in rows.items()}


def wait_idle(qtbot: QtBot, window: ScoringWindow) -> None:
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT_MS)


# --------------------------------------------------------------------------- rule dialog


def test_rule_dialog_builds_a_property_rule_with_nested_any_and_not(
    qtbot: QtBot, small_desk: Database
) -> None:
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("Senior at a big company")
    choose(dialog.kind_combo, PROPERTY)
    dialog.points_spin.setValue(7)
    root = dialog.property_conditions.root
    click(root.add_leaf_button)
    click(root.add_group_button)
    first, group = root.children_items()
    set_leaf(first, "contact.job_title", "in", "CEO, CMO")
    choose(group.combinator, "any")
    click(group.add_leaf_button)
    inner_first, inner_second = group.children_items()
    set_leaf(inner_first, "account.employees", "gt", "25")
    set_leaf(inner_second, "account.industry", "eq", "Software", negated=True)

    click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.rule() == Rule(
        PROPERTY,
        "Senior at a big company",
        FIT,
        7,
        when=AllOf(
            (
                Leaf("contact.job_title", "in", ("CEO", "CMO")),
                AnyOf(
                    (
                        Leaf("account.employees", "gt", 25),
                        Not(Leaf("account.industry", "eq", "Software")),
                    )
                ),
            )
        ),
    )


def test_rule_dialog_builds_an_activity_rule_with_expiry_limit_and_condition(
    qtbot: QtBot, small_desk: Database
) -> None:
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("Pricing page")
    choose(dialog.kind_combo, ACTIVITY)
    choose(dialog.activity_combo, "page_visit")
    assert "url" in {f.key for f in dialog.activity_conditions.fields()}
    dialog.points_spin.setValue(20)
    dialog.expires_box.setChecked(True)
    dialog.expires_spin.setValue(90)
    dialog.max_box.setChecked(True)
    dialog.max_spin.setValue(3)
    click(dialog.activity_conditions.root.add_leaf_button)
    (row,) = dialog.activity_conditions.leaf_rows()
    set_leaf(row, "url", "contains", "/pricing")

    click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.rule() == Rule(
        ACTIVITY,
        "Pricing page",
        ENGAGEMENT,
        20,
        when=Leaf("url", "contains", "/pricing"),
        activity="page_visit",
        expires_after_days=90,
        max_times=3,
    )


def test_rule_dialog_builds_a_repeating_inactivity_rule(qtbot: QtBot, small_desk: Database) -> None:
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("Quiet month")
    choose(dialog.kind_combo, INACTIVITY)
    dialog.points_spin.setValue(-3)
    dialog.days_spin.setValue(30)
    dialog.repeat_box.setChecked(True)
    dialog.set_checked_types(["page_visit", "email_open"])

    click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    assert dialog.result() == QDialog.DialogCode.Accepted
    rule = dialog.rule()
    assert rule == Rule(
        INACTIVITY,
        "Quiet month",
        ENGAGEMENT,
        -3,
        days=30,
        repeat=True,
        activity_types=rule.activity_types,
    )
    assert set(rule.activity_types or ()) == {"page_visit", "email_open"}


def test_rule_dialog_refuses_an_invalid_rule_and_keeps_the_input(
    qtbot: QtBot, small_desk: Database
) -> None:
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.show()
    choose(dialog.kind_combo, PROPERTY)
    click(dialog.property_conditions.root.add_leaf_button)
    (row,) = dialog.property_conditions.leaf_rows()
    set_leaf(row, "contact.job_title", "in", "")

    click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    message = dialog.error_label.text()
    assert "name" in message and "is one of" in message
    assert row.problem_label.isVisible()
    assert row.field().key == "contact.job_title"


def test_rule_dialog_error_follows_the_edits_after_ok(qtbot: QtBot, small_desk: Database) -> None:
    """The complaint OK showed goes away once the user fixed what it names, and does not
    outlive a switch to another kind of rule."""
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.property_conditions.root.add_leaf_button, Qt.MouseButton.LeftButton)
    (row,) = dialog.property_conditions.leaf_rows()
    choose(row.field_combo, "contact.age")
    line = row.value_editor.line
    assert line is not None
    qtbot.keyClicks(line, "x")
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisible()
    assert "not a number" in dialog.error_label.text() and "name" in dialog.error_label.text()

    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClicks(line, "30")
    assert dialog.error_label.isVisible()  # the missing name is still a problem
    assert "not a number" not in dialog.error_label.text()
    qtbot.keyClicks(dialog.name_edit, "Over thirty")
    assert not dialog.error_label.isVisible()

    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClicks(line, "abc")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisible() and "not a number" in dialog.error_label.text()
    choose(dialog.kind_combo, ACTIVITY)  # the property conditions no longer count
    assert not dialog.error_label.isVisible()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_rule_dialog_tabs_through_the_conditions_before_the_buttons(
    qtbot: QtBot, small_desk: Database
) -> None:
    dialog = RuleDialog(small_desk)
    qtbot.addWidget(dialog)
    dialog.show()
    root = dialog.property_conditions.root
    qtbot.mouseClick(root.add_leaf_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(root.add_leaf_button, Qt.MouseButton.LeftButton)
    first, second = dialog.property_conditions.leaf_rows()
    choose(first.field_combo, "contact.age")  # a new value editor, created last
    qtbot.waitUntil(lambda: first.value_editor.isVisible())

    dialog.name_edit.setFocus()
    visited = []
    for _ in range(30):
        widget = dialog.focusWidget()
        visited.append(widget)
        if widget is dialog.buttons.button(dialog.buttons.StandardButton.Ok):
            break
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    expected = [
        dialog.name_edit,
        dialog.kind_combo,
        dialog.group_combo,
        dialog.points_spin,
        root.not_box,
        root.combinator,
        root.add_leaf_button,
        root.add_group_button,
        first.not_box,
        first.field_combo,
        first.op_combo,
        first.value_editor.line,
        first.remove_button,
        second.not_box,
        second.field_combo,
        second.op_combo,
        second.value_editor.line,
        second.remove_button,
        dialog.buttons.button(dialog.buttons.StandardButton.Ok),
    ]
    assert visited == expected


def test_rule_dialog_loads_a_rule_and_gives_it_back_unchanged(
    qtbot: QtBot, small_desk: Database
) -> None:
    for rule in TEST_MODEL.rules:
        dialog = RuleDialog(small_desk, rule)
        qtbot.addWidget(dialog)
        assert dialog.build_rule() == rule


# --------------------------------------------------------------------------- condition builder

ROUND_TRIPS: list[Condition] = [
    Leaf("contact.job_title", "contains", "student"),
    Not(Leaf("contact.is_employee", "eq", True)),
    AnyOf((Leaf("account.employees", "gte", 10),)),
    Not(AllOf((Leaf("contact.age", "lt", 18), Leaf("contact.email", "is_not_set")))),
    AllOf(
        (
            Leaf("contact.job_title", "in", ("CEO", "CMO", "Head, Sales")),
            AnyOf(
                (
                    Leaf("account.employees", "gt", 25),
                    Not(Leaf("account.country", "eq", "Brazil")),
                    AllOf(
                        (
                            Leaf("contact.age", "between", (25, 45)),
                            Leaf("contact.is_customer", "eq", True),
                        )
                    ),
                )
            ),
            Not(
                AnyOf((Leaf("contact.email", "is_set"), Leaf("lead.source", "starts_with", "web")))
            ),
            Leaf("account.annual_revenue", "gte", 2.5),
            Leaf("contact.custom.tier", "eq", 5),  # a field the desk does not show (yet)
        )
    ),
]


# What services.fields offers for these keys; a fixed list keeps these tests off the disk.
FIELDS = [
    FieldInfo("contact.job_title", "Contact: Job title", FieldType.TEXT, ("CEO", "CMO")),
    FieldInfo("contact.is_employee", "Contact: Is an employee", FieldType.BOOL),
    FieldInfo("contact.is_customer", "Contact: Is a customer", FieldType.BOOL),
    FieldInfo("contact.age", "Contact: Age", FieldType.NUMBER),
    FieldInfo("contact.email", "Contact: E-mail", FieldType.TEXT),
    FieldInfo("account.employees", "Account: Employees", FieldType.NUMBER),
    FieldInfo("account.annual_revenue", "Account: Annual revenue", FieldType.NUMBER),
    FieldInfo("account.country", "Account: Country", FieldType.TEXT, ("Brazil", "Portugal")),
    FieldInfo("lead.source", "Lead: Source", FieldType.TEXT, ("web",)),
]


def test_the_fixed_fields_are_what_the_service_offers(small_desk: Database) -> None:
    offered = {info.key: info.type for info in lead_fields(small_desk)}
    assert {info.key: info.type for info in FIELDS}.items() <= offered.items()


@pytest.mark.parametrize("cond", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_condition_builder_round_trips(qtbot: QtBot, cond: Condition) -> None:
    builder = ConditionBuilder(FIELDS)
    qtbot.addWidget(builder)
    builder.set_condition(cond)
    assert builder.condition() == cond
    builder.set_condition(None)
    assert builder.condition() is None


def test_condition_builder_flags_bad_values_inline(qtbot: QtBot) -> None:
    builder = ConditionBuilder(FIELDS)
    qtbot.addWidget(builder)
    builder.show()
    click(builder.root.add_leaf_button)
    click(builder.root.add_group_button)
    row, group = builder.root.children_items()
    set_leaf(row, "account.employees", "gt", "many")
    (inner,) = group.children_items()
    set_leaf(inner, "account.employees", "between", "50|10")

    with pytest.raises(ConditionProblems) as raised:
        builder.condition()

    assert len(raised.value.problems) == 2
    assert "not a number" in row.problem_label.text() and row.problem_label.isVisible()
    assert "low value first" in inner.problem_label.text()
    set_leaf(row, "account.employees", "gt", "100")
    set_leaf(inner, "account.employees", "between", "10|50")
    assert builder.condition() == AllOf(
        (
            Leaf("account.employees", "gt", 100),
            AllOf((Leaf("account.employees", "between", (10, 50)),)),
        )
    )
    assert not row.problem_label.isVisible()


# --------------------------------------------------------------------------- the window


def edit_points(
    monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, row: int, points: int
) -> None:
    """Edit one rule through its dialog, as a double-click and OK would."""

    def fake_exec(dialog: RuleDialog) -> int:
        dialog.points_spin.setValue(points)
        dialog.accept()
        return int(dialog.result())

    monkeypatch.setattr(RuleDialog, "exec", fake_exec)
    window.rules_table.selectRow(row)
    click(window.edit_rule_button)


def test_what_if_follows_the_draft_and_matches_the_service(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, desk: Database
) -> None:
    model_id = window.current_id()
    assert not window.is_dirty()

    with qtbot.waitSignal(window.what_if_ready, timeout=WAIT_MS) as first:
        edit_points(monkeypatch, window, 1, 50)  # "Opened an email": 2 -> 50
    assert window.is_dirty() and window.save_button.isEnabled()
    expected = scoring.what_if(desk, window.draft(), NOW, model_id=model_id, examples=5)
    assert first.args[0] == expected
    assert expected.up > 0 and expected.newly_ready > 0
    assert f"{expected.up} leads would go up" in window.what_if_label.text()

    with qtbot.waitSignal(window.what_if_ready, timeout=WAIT_MS) as second:
        edit_points(monkeypatch, window, 0, -40)  # "CEO or CMO": 5 -> -40
    assert second.args[0] != first.args[0]
    assert second.args[0] == scoring.what_if(
        desk, window.draft(), NOW, model_id=model_id, examples=5
    )
    assert second.args[0].down > 0


def test_the_rules_table_keeps_its_height_when_the_examples_appear(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow
) -> None:
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.rules_table.height() > 0)
    before = window.rules_table.height()
    with qtbot.waitSignal(window.what_if_ready, timeout=WAIT_MS) as ready:
        edit_points(monkeypatch, window, 1, 50)
    assert ready.args[0].examples and window.what_if_examples.isVisible()
    qtbot.wait(50)  # the layout settles
    assert window.rules_table.height() == before


def test_save_stores_the_draft_and_rescores(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, desk: Database
) -> None:
    before = scores(desk)
    edit_points(monkeypatch, window, 1, 50)

    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.save_button)

    (stored,) = scoring.list_models(desk)
    assert stored.model.rules[1].points == 50
    after = scores(desk)
    assert after != before
    assert all(after[lead] >= before[lead] for lead in before)
    assert not window.is_dirty() and not window.save_button.isEnabled()


def test_cancelling_a_save_keeps_the_old_model_and_scores(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    window: ScoringWindow,
    desk: Database,
    boxes: Boxes,
) -> None:
    before = scores(desk)
    edit_points(monkeypatch, window, 1, 50)
    reached = threading.Event()  # the worker is inside the service's transaction
    gate = threading.Event()
    real_save = scoring.save_model

    def gated_save(db: Database, model: ScoringModel, now: Any, **kwargs: Any) -> int:
        progress = kwargs.pop("progress")

        def held(done: int, total: int) -> bool:
            reached.set()
            gate.wait(WAIT_MS / 1000)
            return bool(progress(done, total))

        return real_save(db, model, now, progress=held, **kwargs)

    monkeypatch.setattr(scoring, "save_model", gated_save)
    changed: list[bool] = []
    window.models_changed.connect(lambda: changed.append(True))
    assert window.save()
    job = window.current_job()
    assert job is not None and job.progress_dialog is not None
    cancel = job.progress_dialog.findChild(QPushButton)
    assert cancel is not None
    assert reached.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        cancel.click()
        gate.set()

    assert job.outcome == "cancelled"
    assert any("nothing was changed" in text for text in boxes.texts("information"))
    assert scoring.list_models(desk)[0].model == TEST_MODEL
    assert scores(desk) == before
    assert changed == []
    assert window.is_dirty() and window.rules()[1].points == 50  # the draft is kept


def test_a_bad_import_lists_every_problem_with_its_path(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    window: ScoringWindow,
    desk: Database,
    boxes: Boxes,
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "leaddesk.scoring/1",
                "models": [
                    {
                        "name": "Broken",
                        "exclude": {"field": "contact.age", "op": "gt"},
                        "rules": [{"kind": "property", "name": "r", "points": "five"}],
                    }
                ],
            }
        )
    )
    monkeypatch.setattr(
        scoring_window_module.QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *_a, **_k: (str(bad), "")),
    )

    click(window.import_button)

    (text,) = boxes.texts("box")
    assert "bad.json was not imported: 2 problems" in text
    assert "$.models[0].exclude.value" in text
    assert "$.models[0].rules[0].points" in text
    assert [info.name for info in scoring.list_models(desk)] == ["Test model"]


def test_export_then_import_adds_the_models(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    window: ScoringWindow,
    desk: Database,
    tmp_path: Path,
) -> None:
    exported = tmp_path / "models.json"
    monkeypatch.setattr(
        scoring_window_module.QFileDialog,
        "getSaveFileName",
        staticmethod(lambda *_a, **_k: (str(exported), "")),
    )
    click(window.export_button)
    document = json.loads(exported.read_text())
    document["models"][0]["name"] = "Imported copy"
    exported.write_text(json.dumps(document))
    monkeypatch.setattr(
        scoring_window_module.QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *_a, **_k: (str(exported), "")),
    )

    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.import_button)

    names = [info.name for info in scoring.list_models(desk)]
    assert names == ["Test model", "Imported copy"]
    assert window.model_list.topLevelItemCount() == 2


def test_delete_asks_first(
    qtbot: QtBot, window: ScoringWindow, desk: Database, boxes: Boxes
) -> None:
    boxes.answers.append(QMessageBox.StandardButton.No)
    click(window.delete_button)
    assert len(boxes.texts("question")) == 1 and "Delete “Test model”" in boxes.texts("question")[0]
    assert len(scoring.list_models(desk)) == 1

    boxes.answers.append(QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.delete_button)

    assert scoring.list_models(desk) == []
    assert window.model_list.topLevelItemCount() == 0
    assert all(score == 0 for score in scores(desk).values())


def test_moving_a_model_down_changes_the_primary(
    qtbot: QtBot, window: ScoringWindow, desk: Database
) -> None:
    second_id = scoring.save_model(desk, SECOND_MODEL, NOW)
    window.reload()
    first_id = window.primary_id()
    assert first_id != second_id
    assert not window.up_button.isEnabled()

    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.down_button)

    assert [info.id for info in scoring.list_models(desk)] == [second_id, first_id]
    assert window.primary_id() == second_id
    top = window.model_list.topLevelItem(0)
    assert top.text(0) == "Second model" and "Primary" in top.text(1)
    assert window.current_id() == first_id  # still editing the model that moved
    assert set(scores(desk).values()) == {1}  # the list shows the new primary's score


def test_deactivating_keeps_the_pending_draft(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, desk: Database
) -> None:
    edit_points(monkeypatch, window, 1, 50)

    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.activate_button)

    assert scoring.list_models(desk)[0].active is False
    assert not window.active_box.isChecked()
    assert window.is_dirty() and window.rules()[1].points == 50
    assert window.activate_button.text() == "Activate"


def test_closing_with_unsaved_changes_asks(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, boxes: Boxes
) -> None:
    window.threshold_spin.setValue(42)
    assert window.is_dirty()

    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    window.close()
    assert window.isVisible()

    boxes.answers.append(QMessageBox.StandardButton.Discard)
    window.close()
    assert not window.isVisible()
    assert len(boxes.texts("question")) == 2


def test_closing_during_a_what_if_cancels_it_without_hanging(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, boxes: Boxes
) -> None:
    started = threading.Event()

    def endless_what_if(*_args: Any, progress: Any, **_kwargs: Any) -> Any:
        started.set()
        while progress(0, 1):
            time.sleep(0.005)
        raise scoring.RescoreCancelled()

    monkeypatch.setattr(scoring, "what_if", endless_what_if)
    window.threshold_spin.setValue(42)
    window._debounce.stop()
    window._start_what_if()
    assert started.wait(WAIT_MS / 1000) and window.what_if_running()

    boxes.answers.append(QMessageBox.StandardButton.Discard)
    began = time.monotonic()
    window.close()

    assert not window.isVisible()
    assert time.monotonic() - began < 5
    job = window._what_if_job
    assert job is not None and not job._thread.isRunning()


def test_a_new_model_is_created_on_save(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, window: ScoringWindow, desk: Database
) -> None:
    click(window.add_button)
    assert window.is_dirty()
    window.name_edit.setText("Fresh")
    new_rule = property_rule("Buyers", 3, Leaf("contact.job_title", "eq", "Buyer"))

    def fake_exec(dialog: RuleDialog) -> int:
        dialog.set_rule(new_rule)
        dialog.accept()
        return int(dialog.result())

    monkeypatch.setattr(RuleDialog, "exec", fake_exec)
    click(window.add_rule_button)
    assert window.rules() == [new_rule]

    with qtbot.waitSignal(window.models_changed, timeout=WAIT_MS):
        click(window.save_button)

    stored = {info.name: info for info in scoring.list_models(desk)}
    assert stored["Fresh"].model == replace(ScoringModel("Fresh", False, 100), rules=(new_rule,))
    assert window.current_id() == stored["Fresh"].id
    assert not window.is_dirty()


def test_rule_table_describes_each_rule(window: ScoringWindow) -> None:
    table = window.rules_table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(3)]
    assert rows[0] == ["CEO or CMO", "Property", "job title is one of CEO, CMO", "+5", "Fit", "—"]
    assert rows[1][2:] == ["Email opened", "+2", "Engagement", "180 days"]
    assert rows[2][2] == 'Page visited where url contains "/pricing"'
    assert rows[2][5] == "never"
    assert table.horizontalHeaderItem(2).text() == "Condition"
    assert Qt.AlignmentFlag.AlignRight & Qt.AlignmentFlag(table.item(0, 3).textAlignment())


def test_an_empty_desk_offers_the_starter_models(
    qtbot: QtBot, small_desk: Database, db_url: str, boxes: Boxes
) -> None:
    win = ScoringWindow(db_url, lambda: NOW)
    qtbot.addWidget(win)
    win.show()
    assert win.model_list.topLevelItemCount() == 0 and not win.editor.isEnabled()
    assert "No scoring model yet" in win.what_if_label.text()
    assert win.starter_button.isVisible()

    with qtbot.waitSignal(win.models_changed, timeout=WAIT_MS):
        click(win.starter_button)

    assert win.model_list.topLevelItemCount() == 2 and win.editor.isEnabled()
    assert not win.starter_button.isVisible()
    assert any(score > 0 for score in scores(small_desk).values())

"""The lead process as people work it at the desk: who is working, the queues, the process
bar, assigning from the Sales acceptance queue, rights, and the scores on the lead."""

from __future__ import annotations

from collections.abc import Callable

from pytestqt.qtbot import QtBot

from leaddesk.services import process, records, scoring
from leaddesk.services.lists import LeadQuery, lead_ids, queue_counts
from leaddesk.services.process import Actor
from leaddesk.store.database import Database
from leaddesk.ui.assign_dialog import AssignDialog
from leaddesk.ui.display import format_date
from leaddesk.ui.lead_detail import TAB_HISTORY, TAB_SCORE
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.process_bar import DisqualifyDialog, StageChevrons
from leaddesk.ui.qt import QApplication, QMessageBox, Qt, QWidget
from leaddesk.ui.queues import COUNT_ROLE, QueueModel
from leaddesk.ui.user_picker import UserPickerDialog
from tests.conftest import NOW
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]


def lead_of(db: Database, email: str) -> int:
    contact = records.find_contact_id(db, email)
    return lead_ids(db, LeadQuery(contact_id=contact))[0]


def activate(qtbot: QtBot, window: MainWindow) -> None:
    handle = window.windowHandle()
    assert handle is not None
    handle.requestActivate()
    qtbot.waitUntil(window.isActiveWindow)


def click_stage(qtbot: QtBot, chevrons: StageChevrons, key: str) -> None:
    qtbot.mouseClick(chevrons, Qt.MouseButton.LeftButton, pos=chevrons.centre_of(key))


def count(window: MainWindow, queue: str) -> int | None:
    return window.queues.queue_model.count(queue)


def test_the_queue_model_passes_the_model_tester(qtmodeltester: object) -> None:
    model = QueueModel()
    model.set_counts({"all": 6, "telemarketing": 2, "sales_acceptance": 0})
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert model.data(model.index(1, 0), COUNT_ROLE) == 2
    assert model.data(model.index(1, 0)) == "Telemarketing queue"


def test_a_telemarketer_works_a_lead_from_the_queue_to_sales_ready(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    eva = lead_of(small_desk, "eva@initech.example")
    carla = lead_of(small_desk, "carla@globex.example")
    for lead in (eva, carla):
        process.mark(small_desk, lead, "telemarketing_ready", True, team["manager"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["telemarketer"])
    assert "Tina" in window.windowTitle() and "Tina" in window.user_status.text()

    qtbot.mouseClick(
        window.queues.viewport(),
        Qt.MouseButton.LeftButton,
        pos=window.queues.visualRect(window.queues.queue_model.index(1, 0)).center(),
    )
    assert window.queue == "telemarketing"
    assert window.leads_model.rowCount() == 2
    assert (count(window, "telemarketing"), count(window, "sales_acceptance")) == (2, 0)

    activate(qtbot, window)
    window.leads_view.setFocus()
    window.leads_view.setCurrentIndex(window.leads_model.index(window.leads_model.row_of(eva), 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Return)
    bar = window.detail.process
    assert window.detail.lead_id == eva
    assert bar.chevrons.active == "telemarketing_acceptance"
    assert bar.isAncestorOf(QApplication.focusWidget())  # the keyboard lands on the process

    click_stage(qtbot, bar.chevrons, "telemarketing_qualification")
    assert bar.shown_stage == "telemarketing_qualification"
    assert list(bar.editors) == ["budget", "authority", "need", "timeline", "notes"]
    assert bar.chevrons.active == "telemarketing_acceptance"  # looking is not moving
    click_stage(qtbot, bar.chevrons, "telemarketing_acceptance")

    # The stage's own checkbox is the one that moves it on; the one that brought it
    # here is only shown, so the obvious click never sends it back.
    assert list(bar.flag_boxes) == ["accepted_telemarketing"]
    assert bar.entry_label is not None
    assert bar.entry_label.text() == f"✓ Telemarketing ready — ticked by Max, {format_date(NOW)}"
    qtbot.mouseClick(bar.flag_boxes["accepted_telemarketing"], Qt.MouseButton.LeftButton)
    assert bar.view is not None and bar.view.stage == "telemarketing_qualification"
    assert bar.chevrons.active == "telemarketing_qualification"
    assert count(window, "telemarketing") == 2  # both telemarketing stages are the queue

    qtbot.keyClicks(bar.editors["budget"].widget, "20k EUR")
    qtbot.keyClicks(bar.editors["need"].widget, "Replace spreadsheets")
    assert bar.save_fields_button is not None and bar.save_fields_button.isEnabled()
    qtbot.mouseClick(bar.save_fields_button, Qt.MouseButton.LeftButton)
    assert process.process_view(small_desk, eva).qualification == {
        "budget": "20k EUR",
        "need": "Replace spreadsheets",
    }

    assert "Sales ready" in bar.next_button.toolTip()
    qtbot.mouseClick(bar.next_button, Qt.MouseButton.LeftButton)
    assert bar.view.stage == "sales_acceptance"
    assert bar.chevrons.active == "sales_acceptance"
    assert bar.view.flags["sales_ready"]
    assert bar.entry_label is not None and bar.entry_label.text().startswith("✓ Sales ready")
    assert list(bar.flag_boxes) == ["sales_accepted"]
    assert (count(window, "telemarketing"), count(window, "sales_acceptance")) == (1, 1)
    assert [window.leads_model.id_at(0)] == [carla]  # it left the queue…
    qtbot.waitUntil(lambda: window.detail.lead_id == carla)  # …and the next lead is shown
    assert "left the Telemarketing queue" in window.statusBar().currentMessage()

    window.detail.show_lead(eva)  # Eva's trail, as when she is opened from All leads
    window.detail.show_tab(TAB_HISTORY)
    timeline = window.detail.history_texts()
    assert timeline[0] == ("Tina", "stage Telemarketing qualification → Sales acceptance")
    assert ("Tina", "ticked Sales ready") in timeline
    assert ("Tina", "budget: — → 20k EUR") in timeline
    assert ("Tina", "ticked Accepted telemarketing") in timeline
    assert timeline[-1] == ("Max", "ticked Telemarketing ready")  # oldest last


def test_a_manager_assigns_three_leads_at_once(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    leads = lead_ids(small_desk, LeadQuery(sort="name", descending=False))[:3]
    for lead in leads:
        process.mark(small_desk, lead, "sales_ready", True, team["manager"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["manager"])
    activate(qtbot, window)
    qtbot.keyClick(window.leads_view, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert window.queue == "sales_acceptance"
    assert window.leads_model.rowCount() == 3
    assert window.assign_button.isVisible()

    window.leads_view.setFocus()
    window.leads_view.setCurrentIndex(window.leads_model.index(0, 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert sorted(window.selected_lead_ids()) == sorted(leads)
    assert window.assign_action.isEnabled() and window.assign_button.text() == "Assign 3…"

    # First only assign: the rows stay and repaint, the list is not read again.
    qtbot.mouseClick(window.assign_button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(AssignDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Assign 3 leads"
    assert [dialog.people.item(r).text() for r in range(dialog.people.count())] == ["Sam"]
    dialog.choose("Sam")
    with qtbot.assertNotEmitted(window.leads_model.modelReset):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert window.leads_model.rowCount() == 3
    assert {window.leads_model.record(r).owner for r in range(3)} == {"Sam"}

    # Then assign with Sales accepted ticked: they leave the queue, row by row.
    window.leads_view.selectAll()
    qtbot.keyClick(
        window.leads_view,
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = next(d for d in window.findChildren(AssignDialog) if d.isVisible())
    dialog.accept_box.setChecked(True)
    with qtbot.assertNotEmitted(window.leads_model.modelReset):
        qtbot.keyClick(dialog.people, Qt.Key.Key_Return)
    assert window.leads_model.rowCount() == 0
    assert count(window, "sales_acceptance") == 0
    assert "3 sales-accepted" in window.statusBar().currentMessage()

    window.set_actor(team["salesperson"])
    window.show_queue("mine")
    shown = [window.leads_model.id_at(r) for r in range(window.leads_model.rowCount())]
    assert sorted(shown) == sorted(leads)
    assert count(window, "mine") == 3
    assert queue_counts(small_desk, team["salesperson"].id)["mine"] == 3


def test_a_telemarketer_cannot_assign_and_is_told_why(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    eva = lead_of(small_desk, "eva@initech.example")
    process.mark(small_desk, eva, "sales_ready", True, team["manager"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["telemarketer"])
    window.show_queue("sales_acceptance")
    window.leads_view.setCurrentIndex(window.leads_model.index(0, 0))
    qtbot.waitUntil(lambda: window.detail.lead_id == eva)

    assert not window.assign_action.isEnabled()
    assert not window.assign_button.isEnabled()
    assert "A telemarketer cannot assign leads" in window.assign_action.toolTip()
    bar = window.detail.process
    assert bar.assign_button is not None and not bar.assign_button.isEnabled()
    assert not bar.flag_boxes["sales_accepted"].isEnabled()

    dialog = window.assign_selected()  # called through anyway
    assert dialog is not None
    dialog.choose("Sam")
    dialog.accept()
    assert message_boxes.shown[-1] == (
        "warning",
        "Not assigned",
        "Tina: a telemarketer cannot assign leads (allowed: admin, manager)",
    )
    assert not dialog.isVisible()
    assert process.process_view(small_desk, eva).owner is None

    assert not bar.set_flag("sales_accepted", True)
    kind, _title, text = message_boxes.shown[-1]
    assert kind == "warning" and "cannot tick Sales accepted" in text
    assert not bar.flag_boxes["sales_accepted"].isChecked()


def test_disqualify_shows_a_badge_and_reopen_brings_it_back(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    diego = lead_of(small_desk, "diego@globex.example")
    window = make_window(small_desk)
    window.set_actor(team["salesperson"])
    window.detail.show_lead(diego)
    bar = window.detail.process
    dialog = bar.disqualify()
    assert isinstance(dialog, DisqualifyDialog)
    dialog.reason_combo.setCurrentText("Student or job seeker")
    dialog.accept()
    assert bar.badge.isVisibleTo(window) and bar.badge.text() == (
        "Disqualified: Student or job seeker"
    )
    assert not bar.next_button.isEnabled() and "reopen it first" in bar.next_button.toolTip()
    assert count(window, "disqualified") == 1
    assert window.detail.history_texts()[0] == (
        "Sam",
        "disqualified (Student or job seeker)",
    )
    qtbot.mouseClick(bar.reopen_button, Qt.MouseButton.LeftButton)
    assert not bar.badge.isVisibleTo(window)
    assert count(window, "disqualified") == 0


def test_first_start_asks_who_is_working_and_remembers(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    assert not process.has_chosen_user(small_desk)
    window = make_window(small_desk)
    window.start_up()
    dialog = window.findChild(UserPickerDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Who is working?"
    assert dialog.add_button.isEnabled()  # the desk's admin may add colleagues

    dialog.add_button.click()
    qtbot.keyClicks(dialog.new_name, "Tom")
    dialog.new_role.setCurrentIndex(dialog.new_role.findData("salesperson"))
    qtbot.keyClick(dialog.new_name, Qt.Key.Key_Return)
    assert process.resolve_actor(small_desk, "Tom").role == "salesperson"

    dialog.select_user("Tina")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert process.has_chosen_user(small_desk)
    assert process.current_user(small_desk).name == "Tina"
    assert window.actor is not None and window.actor.name == "Tina"
    assert window.user_status.text() == "Working as Tina (telemarketer)"
    qtbot.waitUntil(lambda: window.rescore_job is None, timeout=10_000)

    again = make_window(small_desk)
    again.start_up()
    assert again.findChild(UserPickerDialog) is None
    assert again.actor is not None and again.actor.name == "Tina"
    qtbot.waitUntil(lambda: again.rescore_job is None, timeout=10_000)


def test_the_starter_models_are_offered_once(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    process.set_current_user(small_desk, team["admin"].id)
    window = make_window(small_desk)
    message_boxes.answer = QMessageBox.StandardButton.No
    assert window.offer_starter_models() is None
    assert message_boxes.kinds() == ["question"]
    assert window.offer_starter_models() is None  # declined: never asked again
    assert message_boxes.kinds() == ["question"]
    assert not scoring.has_models(small_desk)

    window._settings.remove("scoring/starter_models_declined")
    message_boxes.answer = QMessageBox.StandardButton.Yes
    job = window.offer_starter_models()
    assert job is not None
    qtbot.waitUntil(lambda: not job.running, timeout=20_000)
    assert scoring.has_models(small_desk)
    assert window.leads_model.record(0).score > 0


def test_the_score_tab_and_the_scoring_window_by_role(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    scoring.install_starter_models(small_desk, NOW)
    names = [m.name for m in scoring.list_models(small_desk)]
    window = make_window(small_desk)
    window.set_actor(team["admin"])
    ana = lead_of(small_desk, "ana@acme.example")
    window.detail.show_lead(ana)
    assert window.detail.score_panel is None  # not built until looked at
    window.detail.show_tab(TAB_SCORE)
    panel = window.detail.score_panel
    assert panel is not None and panel.isVisibleTo(window)
    assert [r.model_name for r in panel.results] == names

    assert window.scoring_action.isEnabled()
    window.scoring_action.trigger()
    scoring_window = window.scoring_window
    assert scoring_window is not None and scoring_window.isVisible()
    scoring_window.close()

    window.set_actor(team["telemarketer"])
    assert not window.scoring_action.isEnabled()
    assert "A telemarketer cannot edit scoring models" in window.scoring_action.toolTip()
    assert not window.edit_process_action.isEnabled()


def test_switch_user_from_the_menu(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    window = make_window(small_desk)
    activate(qtbot, window)
    qtbot.keyClick(
        window.leads_view,
        Qt.Key.Key_U,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = window.findChild(UserPickerDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Switch user"
    dialog.select_user("Max")
    dialog.accept()
    assert window.actor == team["manager"]
    assert process.current_user(small_desk) == team["manager"]


def test_a_new_desk_asks_demo_then_who_then_starter_models(
    qtbot: QtBot, make_window: MakeWindow, db: Database, message_boxes: MessageBoxes
) -> None:
    from leaddesk.ui.demo_loading import DemoDataDialog

    window = make_window(db)
    window.start_up()
    demo = window.findChild(DemoDataDialog)
    assert demo is not None and demo.isVisible()
    qtbot.mouseClick(demo.other_button, Qt.MouseButton.LeftButton)  # Start empty
    qtbot.waitUntil(lambda: window.findChild(UserPickerDialog) is not None)
    picker = window.findChild(UserPickerDialog)
    assert picker is not None and picker.windowTitle() == "Who is working?"
    picker.select_user("Admin")
    picker.accept()
    qtbot.waitUntil(lambda: "question" in message_boxes.kinds())
    assert message_boxes.shown[-1][1] == "No scoring model yet"
    assert process.has_chosen_user(db)
    qtbot.waitUntil(lambda: window.rescore_job is None, timeout=10_000)


def test_time_passing_is_rescored_in_the_background(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database
) -> None:
    scoring.install_starter_models(small_desk, NOW)
    window = make_window(small_desk)
    job = window.rescore_for_time()
    assert job is not None and window.rescore_for_time() is None  # one at a time
    qtbot.waitUntil(lambda: not job.running, timeout=10_000)
    assert job.result is True
    message = window.statusBar().currentMessage()
    assert message == "Scores brought up to date for the time passed."
    again = window.rescore_for_time()
    assert again is not None
    qtbot.waitUntil(lambda: not again.running, timeout=10_000)
    assert again.result is False  # done today already


def test_skipped_telemarketing_stages_are_not_shown_as_done(qtbot: QtBot) -> None:
    from leaddesk.domain.process import DEFAULT_STAGES

    chevrons = StageChevrons()
    qtbot.addWidget(chevrons)
    by_key = {s.key: s for s in DEFAULT_STAGES}
    by_score = {"telemarketing_ready": False, "accepted_telemarketing": False}
    chevrons.set_state(DEFAULT_STAGES, "sales_acceptance", None, "open", by_score)
    assert chevrons._done(by_key["automated_qualification"])
    assert not chevrons._done(by_key["telemarketing_acceptance"])
    assert not chevrons._done(by_key["telemarketing_qualification"])
    called = {"telemarketing_ready": True, "accepted_telemarketing": True}
    chevrons.set_state(DEFAULT_STAGES, "sales_acceptance", None, "open", called)
    assert chevrons._done(by_key["telemarketing_acceptance"])
    assert chevrons._done(by_key["telemarketing_qualification"])
    assert not chevrons._done(by_key["sales_acceptance"])


def focused() -> QWidget | None:
    return QApplication.focusWidget()


def test_a_telemarketer_works_a_lead_from_the_keyboard(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    """DESIGN §1: calls, ticks Accepted telemarketing, fills the qualification fields,
    ticks Sales ready -- without the mouse."""
    eva = lead_of(small_desk, "eva@initech.example")
    process.mark(small_desk, eva, "telemarketing_ready", True, team["manager"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["telemarketer"])
    window.show_queue("telemarketing")
    activate(qtbot, window)
    window.leads_view.setFocus()
    window.leads_view.setCurrentIndex(window.leads_model.index(0, 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Return)
    bar = window.detail.process
    assert bar.view is not None and bar.view.lead_id == eva

    box = focused()
    assert box is bar.flag_boxes["accepted_telemarketing"] and not box.isChecked()
    assert "Telemarketing ready" not in bar.flag_boxes  # shown, not offered
    qtbot.keyClick(box, Qt.Key.Key_Space)
    assert bar.view.stage == "telemarketing_qualification"
    assert focused() is bar.editors["budget"].widget

    for text in ("20k EUR", "the CFO", "Replace spreadsheets", "Q1", "Call back Tuesday"):
        widget = focused()
        assert widget is not None
        qtbot.keyClicks(widget, text)
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    assert focused() is bar.save_fields_button
    qtbot.keyClick(bar.save_fields_button, Qt.Key.Key_Tab)
    sales_ready = bar.flag_boxes["sales_ready"]
    assert focused() is sales_ready
    qtbot.keyClick(sales_ready, Qt.Key.Key_Space)  # saves the fields first

    view = process.process_view(small_desk, eva)
    assert view.stage == "sales_acceptance" and view.flags["sales_ready"]
    assert view.qualification == {
        "budget": "20k EUR",
        "authority": "the CFO",
        "need": "Replace spreadsheets",
        "timeline": "Q1",
        "notes": "Call back Tuesday",
    }
    assert count(window, "sales_acceptance") == 1
    assert count(window, "telemarketing") == 0


def test_a_manager_assigns_and_accepts_from_the_keyboard(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    eva = lead_of(small_desk, "eva@initech.example")
    process.mark(small_desk, eva, "sales_ready", True, team["telemarketer"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["manager"])
    window.show_queue("sales_acceptance")
    activate(qtbot, window)
    window.leads_view.setFocus()
    window.leads_view.setCurrentIndex(window.leads_model.index(0, 0))
    qtbot.keyClick(window.leads_view, Qt.Key.Key_Return)
    bar = window.detail.process
    assert bar.view is not None and bar.view.lead_id == eva
    assert "assign a salesperson, then tick <b>Sales accepted</b>." in bar.stage_hint.text()
    assert bar.stage_hint.text().count("Sales accepted") == 1

    assert focused() is bar.assign_button  # Sales accepted waits for a salesperson
    assert not bar.flag_boxes["sales_accepted"].isEnabled()
    qtbot.keyClick(bar.assign_button, Qt.Key.Key_Space)
    dialog = next(d for d in window.findChildren(AssignDialog) if d.isVisible())
    dialog.choose("Sam")
    qtbot.keyClick(dialog.people, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert bar.view.owner == "Sam"

    accepted = bar.flag_boxes["sales_accepted"]
    qtbot.waitUntil(lambda: focused() is accepted)
    qtbot.keyClick(accepted, Qt.Key.Key_Space)
    view = process.process_view(small_desk, eva)
    assert view.flags["sales_accepted"] and view.owner == "Sam"
    assert "Sam works it now" in bar.stage_hint.text()
    assert count(window, "sales_acceptance") == 0


def test_unticking_a_checkbox_that_moves_the_lead_back_asks_first(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    team: dict[str, Actor],
    message_boxes: MessageBoxes,
) -> None:
    eva = lead_of(small_desk, "eva@initech.example")
    process.mark(small_desk, eva, "accepted_telemarketing", True, team["telemarketer"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["telemarketer"])
    window.detail.show_lead(eva)
    bar = window.detail.process
    assert bar.shown_stage == "telemarketing_qualification"
    assert "accepted_telemarketing" not in bar.flag_boxes

    click_stage(qtbot, bar.chevrons, "telemarketing_acceptance")
    assert bar.stage_title.text() == "Telemarketing acceptance  ·  done"
    box = bar.flag_boxes["accepted_telemarketing"]
    assert box.isChecked() and "moves the lead back to Telemarketing acceptance" in box.toolTip()

    message_boxes.answer = QMessageBox.StandardButton.Cancel
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("question", "Move the lead back?")
    assert text.startswith(
        "Unticking Accepted telemarketing moves the lead back from Telemarketing "
        "qualification to Telemarketing acceptance."
    )
    assert bar.flag_boxes["accepted_telemarketing"].isChecked()
    assert process.process_view(small_desk, eva).stage == "telemarketing_qualification"

    message_boxes.answer = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(bar.flag_boxes["accepted_telemarketing"], Qt.MouseButton.LeftButton)
    view = process.process_view(small_desk, eva)
    assert view.stage == "telemarketing_acceptance" and not view.flags["accepted_telemarketing"]


def test_a_won_lead_ticks_only_the_stages_it_went_through(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    admin = team["admin"]
    cur = process.stages(small_desk)
    edits = [process.StageEdit(s.key, s.label, tuple(s.fields)) for s in cur]
    edits.insert(4, process.StageEdit(None, "Demo scheduled"))
    process.save_stages(small_desk, edits, admin, NOW)
    eva = lead_of(small_desk, "eva@initech.example")
    process.mark(small_desk, eva, "sales_ready", True, team["manager"], NOW)  # no call made
    process.assign(small_desk, [eva], "Sam", team["manager"], NOW)
    process.mark(small_desk, eva, "sales_accepted", True, team["manager"], NOW)
    process.win(small_desk, eva, team["salesperson"], NOW)

    window = make_window(small_desk)
    window.set_actor(team["salesperson"])
    window.detail.show_lead(eva)
    chevrons = window.detail.process.chevrons
    states = {s.label: chevrons.state_of(s) for s in chevrons.stages}
    assert states == {
        "Inquiry": "done",
        "Automated marketing qualification": "skipped",  # never scored on this desk
        "Telemarketing acceptance": "skipped",
        "Telemarketing qualification": "skipped",
        "Demo scheduled": "skipped",
        "Sales acceptance": "current",
    }
    demo = next(s for s in chevrons.stages if s.label == "Demo scheduled")
    assert chevrons.tooltip_of(demo).startswith("Demo scheduled — skipped")

    bar = window.detail.process
    assert bar.stage_title.text() == "Sales acceptance  ·  where the lead was won"
    hint = bar.stage_hint.text()
    assert hint == f"Won on {format_date(NOW)} by Sam. Reopen it to work it again."
    assert "managers' queue" not in hint
    click_stage(qtbot, chevrons, "telemarketing_acceptance")
    assert "Reopen it to work it again" in bar.stage_hint.text()

    # Six stages in the 1280-wide window's pane: every word whole, nothing elided.
    for width in (495, 560):
        layout = chevrons.chevron_layout(width)
        lines = [line for stage_lines in layout.lines for line in stage_lines]
        assert not any(line.endswith(("…", "-")) for line in lines), (width, lines)
        assert layout.font.pointSizeF() >= chevrons.MIN_POINT


def test_a_stage_a_lead_went_through_by_hand_is_done(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, team: dict[str, Actor]
) -> None:
    cur = process.stages(small_desk)
    edits = [process.StageEdit(s.key, s.label, tuple(s.fields)) for s in cur]
    edits.insert(4, process.StageEdit(None, "Demo scheduled"))
    plan = process.save_stages(small_desk, edits, team["admin"], NOW)
    demo = next(s for s in plan.stages if s.label == "Demo scheduled")
    eva = lead_of(small_desk, "eva@initech.example")
    carla = lead_of(small_desk, "carla@globex.example")
    process.move_stage(small_desk, eva, demo.key, team["manager"], NOW)
    for lead in (eva, carla):
        process.mark(small_desk, lead, "sales_ready", True, team["manager"], NOW)
    window = make_window(small_desk)
    window.set_actor(team["manager"])
    chevrons = window.detail.process.chevrons
    window.detail.show_lead(eva)
    assert chevrons.state_of(demo) == "done"
    window.detail.show_lead(carla)
    assert chevrons.state_of(demo) == "skipped"
    bar = window.detail.process
    click_stage(qtbot, chevrons, demo.key)
    assert bar.stage_title.text() == "Demo scheduled  ·  skipped"
    assert bar.stage_hint.text() == (
        "Skipped: the lead went on without passing through this stage (Max ticked Sales ready)."
    )

"""The import wizard driven like a user: a Brazilian Excel file (semicolons, Windows-1252)
through detection, mapping, the dry run, the import and the report; strict mode, cancel,
drag and drop, roles, and the external scores an import brings to the score panel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select, text

from leaddesk.domain.csv_format import DateOrder
from leaddesk.services import process
from leaddesk.services.importing import Problem, RejectedRow
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Activity, Contact, ExternalScore, Lead
from leaddesk.ui import import_wizard
from leaddesk.ui.import_wizard import (
    ImportWizard,
    PreviewModel,
    ProblemsModel,
    guess_record_type,
    parse_match_text,
)
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import (
    QApplication,
    QDragEnterEvent,
    QDropEvent,
    QFileDialog,
    QMimeData,
    QPointF,
    Qt,
    QUrl,
    QWizard,
)
from leaddesk.ui.score_panel import ScorePanel
from tests.conftest import NOW
from tests.ui.conftest import MessageBoxes

MakeWindow = Callable[[Database], MainWindow]

# Saved by Excel in Brazil: semicolons, Windows-1252 (í = ED, ã = E3, ç = E7, á = E1), CRLF.
# Line 4 has no e-mail address.
CONTATOS = (
    b"E-mail;Nome;Sobrenome;Cargo;Empresa;Pa\xeds\r\n"
    b"joao@novo.example;Jo\xe3o;Gon\xe7alves;Diretor;Acme Tools;Brasil\r\n"
    b"ana@acme.example;Ana;Souza;CEO;Acme Tools;Brasil\r\n"
    b";Sem;E-mail;Gerente;Globex;Portugal\r\n"
    b"marcia@lusa.example;M\xe1rcia;Concei\xe7\xe3o;CTO;Lusa Tecnologia;Portugal\r\n"
)


@pytest.fixture
def contatos(tmp_path: Path) -> Path:
    path = tmp_path / "contatos.csv"
    path.write_bytes(CONTATOS)
    return path


def snapshot(db: Database) -> dict[str, Any]:
    """Everything an import can touch, to compare before and after."""
    with db.reading() as session:
        return {
            table: session.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()
            for table in ("accounts", "contacts", "leads", "activities", "external_scores")
        }


def count(db: Database, model: Any) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count(model.id))) or 0)


def open_wizard(window: MainWindow, path: Path, record_type: str) -> ImportWizard:
    wizard = window.open_import()
    assert isinstance(wizard, ImportWizard) and wizard.isVisible()
    wizard.file_page.set_path(str(path))
    wizard.file_page.set_record_type(record_type)
    return wizard


def to_format_page(qtbot: QtBot, wizard: ImportWizard) -> None:
    wizard.next()
    assert wizard.currentId() == wizard.FORMAT_PAGE
    qtbot.waitUntil(wizard.format_page.isComplete)


def to_check_page(qtbot: QtBot, wizard: ImportWizard) -> None:
    """From the mapping page: the dry run, finished."""
    wizard.next()
    assert wizard.currentId() == wizard.CHECK_PAGE
    qtbot.waitUntil(wizard.check_page.isComplete)


def run_import(qtbot: QtBot, wizard: ImportWizard) -> None:
    wizard.next()
    assert wizard.currentId() == wizard.RUN_PAGE
    qtbot.waitUntil(wizard.run_page.isComplete, timeout=15_000)


def test_a_brazilian_excel_file_end_to_end(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    contatos: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(small_desk)
    window.show_tab(1)  # the contacts list is on screen, so it must be read again after
    assert window.contacts_model.rowCount() == 5
    wizard = open_wizard(window, contatos, "contacts")

    # Page 2: detected, and read right (ã and ç arrive as themselves).
    to_format_page(qtbot, wizard)
    page2 = wizard.format_page
    assert page2.encoding_combo.currentData() == "cp1252"
    assert page2.encoding_combo.currentText() == "Windows-1252  (detected)"
    assert page2.delimiter_combo.currentData() == ";"
    assert page2.delimiter_combo.currentText() == "Semicolon  ;  (detected)"
    preview = page2.preview_model
    assert [preview.headerData(c, Qt.Orientation.Horizontal) for c in range(6)] == [
        "E-mail",
        "Nome",
        "Sobrenome",
        "Cargo",
        "Empresa",
        "País",
    ]
    assert preview.rowCount() == 4
    assert preview.data(preview.index(0, 1)) == "João"
    assert preview.data(preview.index(0, 2)) == "Gonçalves"
    assert preview.headerData(2, Qt.Orientation.Vertical) == "4"  # the file's line number
    assert page2.date_label.text() == "No column holds dates."

    # Overriding the encoding re-reads the rows live: Latin-1 reads these bytes the same,
    # UTF-8 cannot read them at all and says so.
    page2.encoding_combo.setCurrentIndex(page2.encoding_combo.findData("utf-8"))
    assert not page2.isComplete()
    assert "is not UTF-8 text" in page2.error_label.text()
    page2.encoding_combo.setCurrentIndex(page2.encoding_combo.findData("cp1252"))
    assert page2.isComplete() and preview.data(preview.index(3, 1)) == "Márcia"

    # Page 3: the guesses, marked, and one changed.
    wizard.next()
    page3 = wizard.mapping_page
    guessed = {h: page3.combo_for(h).currentData() for h in ("E-mail", "Nome", "Cargo", "País")}
    assert guessed == {
        "E-mail": "email",
        "Nome": "first_name",
        "Cargo": "job_title",
        "País": "country",
    }
    assert [page3.tag_text(row) for row in range(6)] == ["guessed"] * 6
    assert page3.combo_for("Cargo").font().italic()
    assert page3.match_edit.text() == "email"
    assert not page3.blank_overwrites.isChecked() and page3.create_accounts.isChecked()
    cargo = page3.combo_for("Cargo")
    cargo.setCurrentIndex(cargo.findData("department"))
    assert page3.tag_text(3) == "your choice" and not cargo.font().italic()
    assert wizard.mapping == {"Cargo": "department"}

    # Page 4: the dry run over the whole file.
    to_check_page(qtbot, wizard)
    page4 = wizard.check_page
    assert page4.stats.values == {
        "rows in the file": 4,
        "rows OK": 3,
        "rows with problems": 1,
        "to create": 2,
        "to update": 1,
        "unchanged": 0,
    }
    assert page4.problems_model.items() == [(4, "E-mail", "", "an e-mail address is required")]
    assert page4.good_rows.isChecked() and page4.choice_box.isVisible()
    assert count(small_desk, Contact) == 5  # nothing written yet

    # Page 5: the import and its report.
    run_import(qtbot, wizard)
    page5 = wizard.run_page
    assert page5.outcome == "imported"
    assert page5.stats.values == {"created": 2, "updated": 1, "skipped": 0, "rejected": 1}
    assert page5.rejected_model.items() == [(4, "E-mail", "", "an e-mail address is required")]
    assert page5.status_label.text() == "Imported contatos.csv."
    assert "1 account added" in page5.details_label.text()

    rejects = tmp_path / "fix-me.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *_a, **_k: (str(rejects), ""))
    )
    qtbot.mouseClick(page5.save_rejects_button, Qt.MouseButton.LeftButton)
    assert (
        rejects.read_bytes()
        == (
            "\ufeffE-mail;Nome;Sobrenome;Cargo;Empresa;País;reason\r\n"
            ";Sem;E-mail;Gerente;Globex;Portugal;E-mail: an e-mail address is required\r\n"
        ).encode()
    )

    # The window read its lists and counts again.
    emails = [
        window.contacts_model.data(window.contacts_model.index(r, 1))
        for r in range(window.contacts_model.rowCount())
    ]
    assert "joao@novo.example" in emails and "marcia@lusa.example" in emails
    assert window.contacts_model.rowCount() == 7
    assert "7 contacts · 4 accounts" in window.counts_label.text()
    with small_desk.reading() as session:
        joao = session.scalars(select(Contact).where(Contact.email == "joao@novo.example")).one()
        assert (joao.first_name, joao.last_name) == ("João", "Gonçalves")
        assert (joao.department, joao.job_title, joao.country) == ("Diretor", None, "Brasil")
    wizard.accept()


def test_a_leads_import_adds_rows_to_the_lead_list(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(
        b"email,topic,source\r\n"
        b"nina@novo.example,Pricing webinar,fair\r\n"
        b"ana@acme.example,Pricing webinar,web\r\n"
    )
    window = make_window(small_desk)
    assert window.leads_model.rowCount() == 6
    wizard = open_wizard(window, path, "leads")
    to_format_page(qtbot, wizard)
    wizard.next()
    to_check_page(qtbot, wizard)
    # Ana already has a lead for the pricing webinar: the same record, unchanged.
    assert wizard.check_page.stats.values["to create"] == 1
    assert wizard.check_page.stats.values["unchanged"] == 1
    run_import(qtbot, wizard)
    assert wizard.run_page.stats.values == {"created": 1, "updated": 0, "skipped": 1, "rejected": 0}
    assert not wizard.run_page.save_rejects_button.isVisible()
    assert window.leads_model.rowCount() == 7
    topics = {
        window.leads_model.record(r).email: window.leads_model.record(r).topic
        for r in range(window.leads_model.rowCount())
    }
    assert topics["nina@novo.example"] == "Pricing webinar"
    assert window.counts_label.text().startswith("7 leads shown · 7 leads")
    assert window.statusBar().currentMessage() == (
        "Imported leads.csv: 1 created, 0 updated, 1 skipped, 0 rejected."
    )


def test_the_date_order_is_shown_with_the_files_own_date_and_can_be_changed(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    path = tmp_path / "atividades.csv"
    path.write_bytes(b"E-mail;Tipo;Data\r\nana@acme.example;liga\xe7\xe3o;03/11/2026 10:00\r\n")
    window = make_window(small_desk)
    wizard = open_wizard(window, path, "activities")
    to_format_page(qtbot, wizard)
    page2 = wizard.format_page
    assert page2.date_combo.currentText() == "Automatic"
    assert page2.date_label.text() == (
        "Dates read day first: 22/11/2026 14:05 is 22 November 2026, 14:05; times without a "
        "zone are taken as local time. In this file, 03/11/2026 10:00 is 3 November 2026, 10:00."
    )
    page2.date_combo.setCurrentIndex(page2.date_combo.findData(DateOrder.MONTH_FIRST))
    assert page2.date_label.text().endswith(
        "In this file, 03/11/2026 10:00 is 11 March 2026, 10:00."
    )
    wizard.next()
    to_check_page(qtbot, wizard)
    run_import(qtbot, wizard)
    assert wizard.run_page.stats.values["created"] == 1
    assert wizard.run_page.details_label.text() == "New activity types: ligação; 2 leads re-scored."
    with small_desk.reading() as session:
        moment = session.scalar(select(Activity.occurred_at).order_by(Activity.id.desc()))
    assert moment is not None and (moment.month, moment.day) in ((3, 10), (3, 11))


def test_the_format_page_tints_exactly_the_rows_the_check_rejects(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad e-mail address reads fine as text; it is refused when the rows are checked.
    The preview says so already, with the reason, rather than two pages later - from a
    check of the rows it shows, not a dry run of the whole file."""
    checks: list[bool] = []
    real_preview = import_wizard.preview_csv

    def preview_csv(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("db") is not None:
            checks.append(kwargs["shown_only"])
        return real_preview(*args, **kwargs)

    monkeypatch.setattr(import_wizard, "preview_csv", preview_csv)
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        b"Email,First Name,Age\r\n"
        b"ok@novo.example,Ok,41\r\n"
        b"bad-email-address,Pedro,33\r\n"
        b"diego@novo.example,Diego,abc\r\n"
        b"anna@novo.example,Anna,38\r\n"
    )
    window = make_window(small_desk)
    wizard = open_wizard(window, path, "contacts")
    to_format_page(qtbot, wizard)
    page2 = wizard.format_page
    qtbot.waitUntil(lambda: page2.check_job is None, timeout=15_000)
    preview = page2.preview_model
    assert preview.rejected_rows() == [1, 2]
    assert preview.data(preview.index(1, 0), Qt.ItemDataRole.BackgroundRole) is not None
    assert preview.data(preview.index(0, 0), Qt.ItemDataRole.BackgroundRole) is None
    assert preview.data(preview.index(1, 0), Qt.ItemDataRole.ToolTipRole) == (
        "bad-email-address\n⚠ 'bad-email-address' is not a valid e-mail address"
    )
    # Any cell of the row says why, naming the column.
    assert preview.data(preview.index(1, 1), Qt.ItemDataRole.ToolTipRole) == (
        "Pedro\n⚠ Email: 'bad-email-address' is not a valid e-mail address"
    )
    assert page2.check_label.text() == (
        "2 of these 4 rows would not be imported (tinted; point at the row to see why)."
    )
    assert checks and all(checks)

    wizard.next()
    to_check_page(qtbot, wizard)
    tinted = [int(preview.headerData(r, Qt.Orientation.Vertical)) for r in preview.rejected_rows()]
    assert [line for line, *_ in wizard.check_page.problems_model.items()] == tinted == [3, 4]
    assert checks[-1] is False  # the check page checks every row
    wizard.reject()


def test_strict_mode_refuses_the_file_and_changes_nothing(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, contatos: Path
) -> None:
    window = make_window(small_desk)
    before = snapshot(small_desk)
    wizard = open_wizard(window, contatos, "contacts")
    to_format_page(qtbot, wizard)
    wizard.next()
    to_check_page(qtbot, wizard)
    wizard.check_page.strict.setChecked(True)
    run_import(qtbot, wizard)
    page5 = wizard.run_page
    assert page5.outcome == "refused"
    assert page5.status_label.text() == (
        "The file was refused: 1 row cannot be imported, so nothing was imported."
    )
    assert page5.stats.values == {"created": 0, "updated": 0, "skipped": 0, "rejected": 1}
    assert page5.save_rejects_button.isVisibleTo(wizard)
    assert snapshot(small_desk) == before
    assert window.contacts_model.rowCount() == 5 or not window.contacts_model.is_loaded


def test_cancel_during_the_import_leaves_the_desk_unchanged(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    contatos: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The import is held once every row is written (inside its transaction, before the
    # re-score) until Cancel was pressed.
    real_import = import_wizard.import_csv
    reached = threading.Event()
    release = threading.Event()

    def held_import(db: Database, **options: Any) -> Any:
        progress = options.pop("progress")

        def report(done: int, total: int) -> bool:
            if done >= 700 and not reached.is_set():
                reached.set()
                release.wait(10)
            return bool(progress(done, total))

        return real_import(db, progress=report, **options)

    monkeypatch.setattr(import_wizard, "import_csv", held_import)
    window = make_window(small_desk)
    before = snapshot(small_desk)
    wizard = open_wizard(window, contatos, "contacts")
    to_format_page(qtbot, wizard)
    wizard.next()
    to_check_page(qtbot, wizard)
    wizard.next()
    qtbot.waitUntil(reached.is_set)
    assert wizard.run_page.importing
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.CancelButton), Qt.MouseButton.LeftButton)
    assert wizard.isVisible()  # Cancel cancels the import; the wizard stays to say so
    assert wizard.run_page.status_label.text() == "Cancelling… nothing will be imported."
    release.set()
    qtbot.waitUntil(wizard.run_page.isComplete)
    assert wizard.run_page.outcome == "cancelled"
    assert wizard.run_page.status_label.text() == "Import cancelled. Nothing was imported."
    assert snapshot(small_desk) == before


def test_dropping_a_csv_file_opens_the_wizard_with_it(
    qtbot: QtBot,
    make_window: MakeWindow,
    small_desk: Database,
    contatos: Path,
    tmp_path: Path,
    message_boxes: MessageBoxes,
) -> None:
    window = make_window(small_desk)

    def drop(*paths: Path) -> QDropEvent:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        enter = QDragEnterEvent(
            QPointF(300, 300),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(window, enter)
        assert enter.isAccepted()
        event = QDropEvent(
            QPointF(300, 300),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(window, event)
        return event

    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG")
    drop(picture)
    assert window.import_wizard is None
    assert message_boxes.shown == [
        ("warning", "Import", "photo.png is not a CSV file; LeadDesk imports .csv and .txt files.")
    ]

    event = drop(contatos)
    assert event.isAccepted()
    wizard = window.import_wizard
    assert isinstance(wizard, ImportWizard) and wizard.isVisible()
    assert wizard.file_page.path_edit.text() == str(contatos)
    assert wizard.file_page.record_type() == "contacts"  # guessed from "contatos"
    assert wizard.file_page.isComplete()


def test_browsing_for_a_file_guesses_what_it_holds(
    make_window: MakeWindow,
    small_desk: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "Atividades de novembro.csv"
    path.write_bytes(b"email;tipo;data\r\nana@acme.example;call;21/11/2026 10:00\r\n")
    window = make_window(small_desk)
    wizard = window.open_import()
    assert wizard.file_page.record_type() == "leads"  # the list on screen
    assert not wizard.file_page.isComplete()
    wizard.file_page.set_path(str(tmp_path / "missing.csv"))
    assert not wizard.file_page.isComplete()
    assert wizard.file_page.path_error.text() == "No such file."
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *_a, **_k: (str(path), ""))
    )
    wizard.file_page.browse_button.click()
    assert wizard.file_page.path_edit.text() == str(path)
    assert wizard.file_page.record_type() == "activities"
    assert wizard.file_page.isComplete() and not wizard.file_page.path_error.isVisible()


def test_only_admins_and_marketers_import(
    make_window: MakeWindow, small_desk: Database, message_boxes: MessageBoxes
) -> None:
    admin = process.current_user(small_desk)
    process.add_user(small_desk, "Sam", "salesperson", admin, NOW)
    process.add_user(small_desk, "Mia", "marketer", admin, NOW)
    window = make_window(small_desk)
    assert window.import_action.isEnabled()
    window.set_actor(process.resolve_actor(small_desk, "Sam"))
    assert not window.import_action.isEnabled()
    assert window.import_action.toolTip().startswith("A salesperson cannot import files")
    assert window.open_import() is None
    assert message_boxes.kinds() == ["warning"]
    window.set_actor(process.resolve_actor(small_desk, "Mia"))
    assert window.import_action.isEnabled()
    assert window.import_action.shortcut().toString() == "Ctrl+I"


def test_an_imported_external_score_shows_in_the_score_panel(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    path = tmp_path / "partner-scores.csv"
    path.write_bytes(
        b"email,model,score,updated_at\r\n"
        b"carla@globex.example,Partner score,72,2026-11-03T10:00:00Z\r\n"
    )
    window = make_window(small_desk)
    row = next(
        r
        for r in range(window.leads_model.rowCount())
        if window.leads_model.record(r).email == "carla@globex.example"
    )
    window.leads_view.setCurrentIndex(window.leads_model.index(row, 0))
    lead_id = window.leads_model.id_at(row)
    qtbot.waitUntil(lambda: window.detail.lead_id == lead_id)
    window.detail.show_tab(2)  # the Score tab
    panel = window.detail.score_panel
    assert isinstance(panel, ScorePanel)
    assert panel.external_texts() == [] and not panel.external_box.isVisible()

    wizard = window.open_import(str(path))
    assert wizard.file_page.record_type() == "scores"  # guessed from the file name
    to_format_page(qtbot, wizard)
    wizard.next()
    assert [wizard.mapping_page.combo_for(h).currentData() for h in ("model", "score")] == [
        "model",
        "score",
    ]
    assert wizard.mapping_page.match_edit.isReadOnly()
    to_check_page(qtbot, wizard)
    run_import(qtbot, wizard)
    assert wizard.run_page.stats.values["created"] == 1
    assert count(small_desk, ExternalScore) == 1

    assert panel.external_texts() == ["Partner score 72 · external, updated 3 Nov 2026"]
    assert panel.external_box.isVisible()


def test_the_score_panel_shows_no_external_scores_when_there_are_none(
    qtbot: QtBot, small_desk: Database
) -> None:
    panel = ScorePanel()
    qtbot.addWidget(panel)
    panel.show()
    with small_desk.transaction() as session:
        scored, other = session.scalars(select(Lead.id).order_by(Lead.id).limit(2))
        session.add(
            ExternalScore(
                lead_id=scored,
                name="Intent",
                score=55.5,
                updated_at=datetime(2026, 11, 20),
                imported_at=NOW,
            )
        )
    panel.show_lead(small_desk, scored, NOW)
    assert panel.external_texts() == ["Intent 55.5 · external, updated 20 Nov 2026"]
    assert panel.external_box.isVisible()
    panel.show_lead(small_desk, other, NOW)
    assert panel.external_texts() == [] and not panel.external_box.isVisible()


def test_a_match_strategy_the_user_types_is_checked(
    qtbot: QtBot, make_window: MakeWindow, small_desk: Database, tmp_path: Path
) -> None:
    path = tmp_path / "companies.csv"
    path.write_bytes(b"Empresa;Site;Cidade\r\nAcme Tools;acme.example;Recife\r\n")
    window = make_window(small_desk)
    wizard = open_wizard(window, path, "accounts")
    to_format_page(qtbot, wizard)
    wizard.next()
    page3 = wizard.mapping_page
    assert page3.match_edit.text() == "domain, else name"
    page3.match_edit.setText("name + colour")
    assert not page3.isComplete()
    assert page3.match_error.text().startswith("Cannot match accounts on colour")
    page3.match_edit.setText("name + city")
    assert page3.isComplete()
    to_check_page(qtbot, wizard)
    assert wizard.match == ["name,city"]
    assert wizard.check_page.stats.values["to create"] == 1  # no Acme Tools in Recife yet
    assert "Accounts matched by name + city." in wizard.check_page.details_label.text()
    assert count(small_desk, Account) == 3


def test_helpers() -> None:
    assert parse_match_text("email + topic, else account + topic", "leads") == [
        "email,topic",
        "account,topic",
    ]
    assert parse_match_text("first name + last name", "contacts") == ["first_name,last_name"]
    assert guess_record_type("Atividades de novembro.csv") == "activities"
    assert guess_record_type("Contas.csv") == "accounts"
    assert guess_record_type("export.csv", "leads") == "leads"


def test_the_models_pass_the_model_tester(qtmodeltester: Any) -> None:
    preview = PreviewModel()
    preview.set_preview(
        ["email", "name"],
        [["a@x.example", "Ana"], ["b@x.example"], ["", "Sem", "extra"]],
        [2, 3, 5],
        {5: [Problem("email", "an e-mail address is required")]},
    )
    qtmodeltester.check(preview)
    assert preview.data(preview.index(2, 0), Qt.ItemDataRole.ToolTipRole) == (
        "\n⚠ an e-mail address is required"
    )
    problems = ProblemsModel()
    problems.set_rejected(
        [
            RejectedRow(5, ("", "Sem"), (Problem("email", "an e-mail address is required"),)),
            RejectedRow(9, ("x", "y", "z"), (Problem("", "3 cells"), Problem("name", "too long"))),
        ],
        ["email", "name"],
    )
    qtmodeltester.check(problems)
    assert problems.items() == [
        (5, "email", "", "an e-mail address is required"),
        (9, "", "", "3 cells"),
        (9, "name", "y", "too long"),
    ]
    assert problems.data(problems.index(1, 1)) == "(whole row)"

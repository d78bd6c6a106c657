"""Importing CSV files: the files as users have them, matching, bad rows, atomicity."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from leaddesk.domain import csv_format as fmt
from leaddesk.domain.scoring import ScoringModel
from leaddesk.domain.scoring_file import FORMAT, parse_document
from leaddesk.services import importing, records
from leaddesk.services.importing import (
    ImportCancelled,
    ImportFileError,
    ImportRefused,
    import_csv,
    preview_csv,
    write_rejects,
)
from leaddesk.store.database import Database
from leaddesk.store.models import (
    Account,
    Activity,
    ActivityType,
    Contact,
    ExternalScore,
    Lead,
    ScoreHistory,
)
from leaddesk.store.sqlite_values import sqlite_datetime


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def count(db: Database, model: Any) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def contacts(db: Database) -> dict[str, dict[str, Any]]:
    with db.reading() as session:
        out = {}
        for c in session.scalars(select(Contact)):
            account = session.get(Account, c.account_id) if c.account_id else None
            out[c.email] = {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "job_title": c.job_title,
                "city": c.city,
                "country": c.country,
                "age": c.age,
                "phone": c.phone,
                "is_customer": c.is_customer,
                "account": account.name if account else None,
                "custom": dict(c.custom or {}),
            }
        return out


def model(definition: dict[str, Any]) -> ScoringModel:
    return parse_document({"format": FORMAT, "models": [definition]})[0]


def local(moment: datetime) -> datetime:
    """What a naive time in a file is stored as: local time, converted to UTC."""
    return fmt.to_utc_naive(moment)


# --- encodings, delimiters, quoting -------------------------------------------------------------


def test_utf8_comma_file(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "email,first_name,last_name,city\r\nana@x.com,Ana,Conceição,São Paulo\r\n".encode(),
    )
    report = import_csv(db, path, "contacts", now=now)
    assert (report.encoding, report.delimiter) == ("utf-8", ",")
    assert report.created == 1
    assert contacts(db)["ana@x.com"]["last_name"] == "Conceição"


def test_utf8_with_bom_does_not_pollute_the_first_header(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.csv", b"\xef\xbb\xbfemail;Nome\r\nana@x.com;Jos\xc3\xa9\r\n")
    report = import_csv(db, path, "contacts", now=now)
    assert report.encoding == "utf-8-sig"
    assert report.headers == ["email", "Nome"]
    assert contacts(db)["ana@x.com"]["first_name"] == "José"


def test_windows_1252_semicolon_file_from_excel_in_brazil(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    # Byte by byte: ç = E7, ã = E3, é = E9 in Windows-1252; "País" header with í = ED.
    data = (
        b"E-mail;Nome;Sobrenome;Cidade;Pa\xeds;Idade\r\n"
        b"joao@x.com.br;Jo\xe3o;Concei\xe7\xe3o;S\xe3o Paulo;Brasil;41\r\n"
        b"jose@x.com.br;Jos\xe9;Ara\xfajo;Bras\xedlia;Brasil;1.234\r\n"
    )
    path = write(tmp_path / "c.csv", data)
    report = import_csv(db, path, "contacts", now=now)
    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    stored = contacts(db)
    assert stored["joao@x.com.br"]["first_name"] == "João"
    assert stored["joao@x.com.br"]["last_name"] == "Conceição"
    assert stored["joao@x.com.br"]["city"] == "São Paulo"
    assert stored["joao@x.com.br"]["country"] == "Brasil"
    # "1.234" in a semicolon (comma-decimal) file is one thousand two hundred and
    # thirty-four — and too old, which the form refuses too.
    assert [r.lines() for r in report.rejected] == [["line 3, column Idade: must be at most 130"]]


def test_tab_file(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(tmp_path / "c.tsv", b"email\tjob_title\r\nana@x.com\tCEO, founder\r\n")
    report = import_csv(db, path, "contacts", now=now)
    assert report.delimiter == "\t"
    assert contacts(db)["ana@x.com"]["job_title"] == "CEO, founder"


def test_quoted_fields_with_delimiters_and_newlines_and_line_numbers(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    data = (
        b"email,job_title,city\r\n"
        b'ana@x.com,"Head of sales, EMEA","Lisboa\r\nPortugal"\r\n'
        b'bo@x.com,"say ""hi""",Porto\r\n'
        b"not-an-email,x,y\r\n"
    )
    report = import_csv(db, write(tmp_path / "c.csv", data), "contacts", now=now)
    stored = contacts(db)
    assert stored["ana@x.com"]["job_title"] == "Head of sales, EMEA"
    assert stored["ana@x.com"]["city"] == "Lisboa\r\nPortugal"
    assert stored["bo@x.com"]["job_title"] == 'say "hi"'
    # The bad row is record 4 but starts on line 5: the quoted newline took a line.
    assert [r.line for r in report.rejected] == [5]
    assert report.rejected[0].column == "email"


def test_encoding_and_delimiter_can_be_forced(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "email|first_name\nana@x.com|Zoë\n".encode("latin-1"))
    import_csv(db, path, "contacts", now=now, encoding="latin-1", delimiter="|")
    assert contacts(db)["ana@x.com"]["first_name"] == "Zoë"


def test_wrong_forced_encoding_is_a_clear_refusal(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.csv", b"email,first_name\nana@x.com,Jo\xe3o\n")
    with pytest.raises(ImportFileError, match="not UTF-8 text"):
        import_csv(db, path, "contacts", now=now, encoding="utf-8")
    assert count(db, Contact) == 0


def test_unreadable_and_empty_files(db: Database, now: datetime, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        import_csv(db, tmp_path / "missing.csv", "contacts", now=now)
    with pytest.raises(ImportFileError, match="empty"):
        import_csv(db, write(tmp_path / "e.csv", b"\r\n\r\n"), "contacts", now=now)
    with pytest.raises(ImportFileError, match="no email column"):
        import_csv(db, write(tmp_path / "n.csv", b"name\r\nAna\r\n"), "contacts", now=now)


# --- mapping ---------------------------------------------------------------------------------


def test_guessed_mapping_and_custom_fields(db: Database, now: datetime, tmp_path: Path) -> None:
    data = (
        "E-mail;Nome;Sobrenome;Cargo;Empresa;País;Telefone;Cidade;Cor favorita\r\n"
        "ana@x.com;Ana;Souza;CEO;Acme Ltda;Brasil;+55 11 5555;Recife;azul\r\n"
    ).encode("cp1252")
    report = import_csv(db, write(tmp_path / "c.csv", data), "contacts", now=now)
    assert report.accounts_created == 1
    assert contacts(db)["ana@x.com"] == {
        "first_name": "Ana",
        "last_name": "Souza",
        "job_title": "CEO",
        "city": "Recife",
        "country": "Brasil",
        "age": None,
        "phone": "+55 11 5555",
        "is_customer": False,
        "account": "Acme Ltda",
        "custom": {"Cor favorita": "azul"},
    }


def test_accounts_in_portuguese(db: Database, now: datetime, tmp_path: Path) -> None:
    data = (
        "Empresa;Site;Setor;Funcionários;Faturamento\r\n"
        "Acme Ltda;https://www.acme.com.br/;Indústria;1.200;R$ 1.234.567,89\r\n"
    ).encode("cp1252")
    import_csv(db, write(tmp_path / "a.csv", data), "accounts", now=now)
    with db.reading() as session:
        account = session.scalars(select(Account)).one()
        assert (account.name, account.domain, account.employees) == (
            "Acme Ltda",
            "acme.com.br",
            1200,
        )
        assert account.annual_revenue == pytest.approx(1234567.89)
        assert account.industry == "Indústria"


def test_user_mapping_overrides_guesses(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", b"mail,Nome,notes,junk\r\nana@x.com,Ana,VIP,zzz\r\n")
    import_csv(
        db,
        path,
        "contacts",
        now=now,
        mapping={"Nome": "last_name", "notes": "custom.remark", "junk": "-"},
    )
    stored = contacts(db)["ana@x.com"]
    assert stored["last_name"] == "Ana"
    assert stored["first_name"] is None
    assert stored["custom"] == {"remark": "VIP"}


def test_mapping_an_unknown_column_or_field_refuses_the_file(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.csv", b"email\r\nana@x.com\r\n")
    with pytest.raises(ImportFileError, match="no column 'E-mail address'"):
        import_csv(db, path, "contacts", now=now, mapping={"E-mail address": "email"})
    with pytest.raises(ImportFileError, match="cannot map column 'email' to 'shoe_size'"):
        import_csv(db, path, "contacts", now=now, mapping={"email": "shoe_size"})
    assert count(db, Contact) == 0


# --- matching and duplicates -------------------------------------------------------------------


def test_existing_contacts_are_updated_not_duplicated(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    before = count(small_desk, Contact)
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,job_title,city\r\n"
        b"ANA@acme.example,,Chief executive,Olinda\r\n"
        b"new@x.com,Nina,,\r\n"
        b"bruno@acme.example,Bruno,Engineer,\r\n",
    )
    report = import_csv(small_desk, path, "contacts", now=now)
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    assert count(small_desk, Contact) == before + 1
    ana = contacts(small_desk)["ana@acme.example"]
    # The empty first_name cell did not blank the stored first name.
    assert ana["first_name"] == "Ana"
    assert (ana["job_title"], ana["city"]) == ("Chief executive", "Olinda")


def test_blank_overwrites_when_asked(small_desk: Database, now: datetime, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", b"email,first_name,job_title\r\nana@acme.example,Ana,\r\n")
    import_csv(small_desk, path, "contacts", now=now, blank_overwrites=True)
    assert contacts(small_desk)["ana@acme.example"]["job_title"] is None


def test_duplicate_rows_in_one_file_are_merged(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,last_name,city,colour\r\n"
        b"ana@x.com,Ana,,Lisboa,blue\r\n"
        b"bo@x.com,Bo,,,\r\n"
        b"Ana@X.com,,Souza,Porto,\r\n",
    )
    report = import_csv(db, path, "contacts", now=now)
    assert (report.created, report.merged, report.rows) == (2, 1, 3)
    ana = contacts(db)["ana@x.com"]
    assert (ana["first_name"], ana["last_name"], ana["city"]) == ("Ana", "Souza", "Porto")
    assert ana["custom"] == {"colour": "blue"}


def test_duplicates_across_chunks_are_merged_too(
    db: Database, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing._Importer, "chunk_rows", 2)
    lines = ["email,city"] + [f"p{i}@x.com,C{i}" for i in range(5)] + ["p0@x.com,Later"]
    path = write(tmp_path / "c.csv", "\n".join(lines).encode())
    report = import_csv(db, path, "contacts", now=now)
    assert (report.created, report.updated, report.merged) == (5, 0, 1)
    assert contacts(db)["p0@x.com"]["city"] == "Later"


def test_configurable_match_fields(small_desk: Database, now: datetime, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,last_name,city\r\nana.souza@new.example,Ana,Souza,Natal\r\n",
    )
    report = import_csv(small_desk, path, "contacts", now=now, match=["first_name,last_name"])
    assert report.updated == 1
    stored = contacts(small_desk)
    assert "ana@acme.example" not in stored
    assert stored["ana.souza@new.example"]["city"] == "Natal"
    with pytest.raises(ImportFileError, match="cannot match contacts on shoe_size"):
        import_csv(small_desk, path, "contacts", now=now, match=["shoe_size"])


def test_two_new_records_cannot_share_an_email(db: Database, now: datetime, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,last_name\r\nann@x.com,Ann,Smith\r\nann@x.com,Ann,Jones\r\n",
    )
    report = import_csv(db, path, "contacts", now=now, match=["first_name,last_name"])
    assert report.created == 1
    assert [r.lines() for r in report.rejected] == [
        ["line 3, column email: ann@x.com belongs to another contact"]
    ]


def test_accounts_match_by_domain_then_name(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    before = count(small_desk, Account)
    path = write(
        tmp_path / "a.csv",
        b"name,domain,industry,employees\r\n"
        b"ACME TOOLS INC,https://www.acme.example/,Tools,130\r\n"
        b"globex,,Software AG,\r\n"
        b"Initech,initech-other.example,,\r\n",
    )
    report = import_csv(small_desk, path, "accounts", now=now)
    # Acme by domain (despite the new name), Globex by name; Initech exists but on another
    # domain, so it is another company.
    assert (report.updated, report.created) == (2, 1)
    assert count(small_desk, Account) == before + 1
    with small_desk.reading() as session:
        acme = session.scalars(select(Account).where(Account.domain == "acme.example")).one()
        assert (acme.name, acme.employees, acme.industry) == ("ACME TOOLS INC", 130, "Tools")
        globex = session.scalars(select(Account).where(Account.domain == "globex.example")).one()
        assert globex.industry == "Software AG"


def test_leads_match_on_contact_and_topic_and_create_contacts(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    leads_before = count(small_desk, Lead)
    contacts_before = count(small_desk, Contact)
    path = write(
        tmp_path / "l.csv",
        b"email,topic,source,account\r\n"
        b"ana@acme.example,Pricing webinar,partner,\r\n"
        b"ana@acme.example,New topic,web,\r\n"
        b"stranger@new.example,Pricing webinar,ads,Newco\r\n"
        b",Account-based push,abm,Globex\r\n",
    )
    report = import_csv(small_desk, path, "leads", now=now)
    assert (report.created, report.updated) == (3, 1)
    assert report.contacts_created == 1
    assert report.accounts_created == 1
    assert count(small_desk, Lead) == leads_before + 3
    assert count(small_desk, Contact) == contacts_before + 1
    with small_desk.reading() as session:
        updated = session.scalars(
            select(Lead)
            .join(Contact, Contact.id == Lead.contact_id)
            .where(Contact.email == "ana@acme.example", Lead.topic == "Pricing webinar")
        ).one()
        assert updated.source == "partner"
        account_only = session.scalars(select(Lead).where(Lead.contact_id.is_(None))).one()
        assert account_only.topic == "Account-based push"
        stranger = session.scalars(
            select(Contact).where(Contact.email == "stranger@new.example")
        ).one()
        assert stranger.account_id is not None


def test_unknown_activity_types_are_created_and_activities_are_not_doubled(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    before = count(small_desk, Activity)
    path = write(
        tmp_path / "a.csv",
        b"email,type,occurred_at,url,campaign\r\n"
        b"ana@acme.example,Webinar Replay Watched,2026-11-20T10:00:00Z,/replay,Spring\r\n"
        b"ana@acme.example,email_open,21/11/2026 09:30,,Spring\r\n"
        b"ana@acme.example,email_open,21/11/2026 09:30,,\r\n",
    )
    report = import_csv(small_desk, path, "activities", now=now)
    assert report.activity_types_created == ["webinar_replay_watched"]
    assert (report.created, report.merged) == (2, 1)
    with small_desk.reading() as session:
        assert session.get(ActivityType, "webinar_replay_watched") is not None
        replay = session.scalars(
            select(Activity).where(Activity.type_key == "webinar_replay_watched")
        ).one()
        assert replay.occurred_at == datetime(2026, 11, 20, 10, 0)
        assert replay.properties == {"url": "/replay", "campaign": "Spring"}
        opened = session.scalars(
            select(Activity).where(Activity.type_key == "email_open").order_by(Activity.id.desc())
        ).first()
        assert opened is not None and opened.occurred_at == local(datetime(2026, 11, 21, 9, 30))
    again = import_csv(small_desk, path, "activities", now=now)
    assert (again.created, again.updated, again.skipped) == (0, 0, 3)
    assert count(small_desk, Activity) == before + 2


@pytest.mark.parametrize("bulk", [False, True], ids=["per-lead", "bulk"])
def test_activities_update_last_activity_and_rescore_the_leads(
    small_desk: Database,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    """Big imports re-score through the bulk path, small ones lead by lead: same result."""
    monkeypatch.setattr(importing, "BULK_RESCORE_AT", 1 if bulk else 10**9)
    from leaddesk.services.scoring import save_model

    opens = model(
        {
            "name": "Opens",
            "active": True,
            "sales_ready_at": 100,
            "rules": [
                {
                    "kind": "activity",
                    "name": "Opened",
                    "group": "engagement",
                    "points": 5,
                    "activity": "email_open",
                }
            ],
        }
    )
    save_model(small_desk, opens, now)
    with small_desk.reading() as session:
        lead_id, score = session.execute(
            select(Lead.id, Lead.score)
            .join(Contact, Contact.id == Lead.contact_id)
            .where(Contact.email == "bruno@acme.example")
        ).one()
        assert score == 0
    rows = [
        f"bruno@acme.example,email_open,{(now - timedelta(hours=h)).isoformat()}Z"
        for h in range(1, 4)
    ]
    path = write(tmp_path / "a.csv", ("email,type,occurred_at\n" + "\n".join(rows)).encode())
    report = import_csv(small_desk, path, "activities", now=now)
    assert report.leads_rescored == 1
    with small_desk.reading() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        assert lead.score == 15
        assert lead.last_activity_at == now - timedelta(hours=1)
        history = session.scalars(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id))
        assert [h.cause for h in history][-1] == "import"


# --- bad rows -------------------------------------------------------------------------------


def test_every_kind_of_bad_row_is_reported_with_line_and_column(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    contacts_file = write(
        tmp_path / "c.csv",
        b"email,first_name,age,is_customer,account\r\n"
        b",NoEmail,,,\r\n"
        b"not-an-email,Bad,,,\r\n"
        b"ok@x.com,Ok,34,yes,Acme Tools\r\n"
        b"old@x.com,Old,forty,,\r\n"
        b"who@x.com,Who,,maybe,\r\n"
        b"lost@x.com,Lost,,,Nowhere Inc\r\n",
    )
    report = import_csv(small_desk, contacts_file, "contacts", now=now, create_accounts=False)
    assert [line for r in report.rejected for line in r.lines()] == [
        "line 2, column email: an e-mail address is required",
        "line 3, column email: 'not-an-email' is not a valid e-mail address",
        "line 5, column age: must be a whole number",
        "line 6, column is_customer: must be yes or no",
        "line 7, column account: no account named 'Nowhere Inc'",
    ]
    assert report.created == 1
    accounts_file = write(
        tmp_path / "a.csv", b"name,employees,domain\r\nNeg,-5,neg.example\r\n,3,\r\nOk,3,\r\n"
    )
    report = import_csv(small_desk, accounts_file, "accounts", now=now)
    assert [line for r in report.rejected for line in r.lines()] == [
        "line 2, column employees: cannot be negative",
        "line 3, column name: a company name is required",
    ]
    activities_file = write(
        tmp_path / "x.csv",
        b"email,type,occurred_at\r\n"
        b"ana@acme.example,email_open,31/02/2026\r\n"
        b"nobody@x.com,email_open,2026-01-01\r\n"
        b"ana@acme.example,,2026-01-01\r\n",
    )
    report = import_csv(small_desk, activities_file, "activities", now=now)
    assert [line for r in report.rejected for line in r.lines()] == [
        "line 2, column occurred_at: '31/02/2026' is not a valid date read as day/month/year",
        "line 3, column email: no contact with e-mail nobody@x.com",
        "line 4, column type: an activity type is required",
    ]


def test_strict_refuses_the_whole_file(small_desk: Database, now: datetime, tmp_path: Path) -> None:
    before = (count(small_desk, Contact), count(small_desk, Account))
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,account\r\nfine@x.com,Fine,Brand New Co\r\nbad,Bad,\r\n",
    )
    with pytest.raises(ImportRefused) as refused:
        import_csv(small_desk, path, "contacts", now=now, strict=True)
    assert [r.line for r in refused.value.report.rejected] == [3]
    assert (count(small_desk, Contact), count(small_desk, Account)) == before


def test_rejects_file_can_be_fixed_and_imported(
    db: Database, now: datetime, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "c.csv",
        b"email;first_name;note\r\nok@x.com;Ok;\r\nbad-mail;=cmd|' /C calc'!A0;x\r\n",
    )
    report = import_csv(db, path, "contacts", now=now)
    rejects = tmp_path / "rejects.csv"
    assert write_rejects(report, rejects) == 1
    raw = rejects.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(rejects.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0] == ["email", "first_name", "note", "reason"]
    assert rows[1][0] == "bad-mail"
    assert rows[1][1] == "'=cmd|' /C calc'!A0"  # never a live formula
    assert "not a valid e-mail address" in rows[1][3]
    rows[1][0] = "fixed@x.com"
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)
    again = import_csv(db, fixed, "contacts", now=now, mapping={"reason": "-"})
    assert again.created == 1 and not again.rejected
    assert contacts(db)["fixed@x.com"]["first_name"] == "=cmd|' /C calc'!A0"


def test_cancel_leaves_everything_as_it_was(
    small_desk: Database, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing._Importer, "chunk_rows", 10)
    monkeypatch.setattr(importing._Activities, "chunk_rows", 10)
    before = {m: count(small_desk, m) for m in (Contact, Account, Activity, ActivityType)}
    rows = [f"p{i}@x.com,Company {i}" for i in range(100)]
    path = write(tmp_path / "c.csv", ("email,account\n" + "\n".join(rows)).encode())
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return len(calls) < 4  # cancel after some chunks were written

    with pytest.raises(ImportCancelled):
        import_csv(small_desk, path, "contacts", now=now, progress=progress)
    assert len(calls) == 4 and calls[-1][0] > 0
    assert {m: count(small_desk, m) for m in before} == before


def test_progress_goes_from_zero_to_done(db: Database, now: datetime, tmp_path: Path) -> None:
    calls: list[int] = []
    path = write(tmp_path / "c.csv", b"email\na@x.com\n")
    import_csv(db, path, "contacts", now=now, progress=lambda d, t: calls.append(d) or True)
    assert calls[0] == 0 and calls[-1] == 1000
    assert calls == sorted(calls)


# --- external scores ---------------------------------------------------------------------------


def _external(db: Database) -> dict[tuple[int, str], tuple[float, datetime]]:
    with db.reading() as session:
        return {
            (s.lead_id, s.name): (s.score, s.updated_at)
            for s in session.scalars(select(ExternalScore))
        }


def test_external_scores(small_desk: Database, now: datetime, tmp_path: Path) -> None:
    with small_desk.reading() as session:
        ana_leads = list(
            session.scalars(
                select(Lead.id)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(Contact.email == "ana@acme.example")
                .order_by(Lead.id)
            )
        )
        eva_lead = session.scalars(
            select(Lead.id)
            .join(Contact, Contact.id == Lead.contact_id)
            .where(Contact.email == "eva@initech.example")
        ).one()
    assert len(ana_leads) == 2
    path = write(
        tmp_path / "s.csv",
        f"email,lead_id,model,score,updated_at\r\n"
        f"ana@acme.example,,Partner fit,80,2026-11-01T00:00:00Z\r\n"
        f',{eva_lead},Partner fit,"12,5",2026-11-10T00:00:00Z\r\n'
        f"ana@acme.example,,Partner fit,99,2026-10-01T00:00:00Z\r\n"
        f"ghost@x.com,,Partner fit,1,2026-10-01T00:00:00Z\r\n".encode(),
    )
    report = import_csv(small_desk, path, "scores", now=now)
    # One row for Ana scores each of her two open leads; her older row is ignored.
    assert report.created == 3
    assert [r.lines() for r in report.rejected] == [
        ["line 5, column email: no contact with e-mail ghost@x.com"]
    ]
    stored = _external(small_desk)
    assert stored[(ana_leads[0], "Partner fit")] == (80.0, datetime(2026, 11, 1))
    assert stored[(ana_leads[1], "Partner fit")] == (80.0, datetime(2026, 11, 1))
    assert stored[(eva_lead, "Partner fit")] == (12.5, datetime(2026, 11, 10))
    older = write(
        tmp_path / "older.csv",
        b"email,model,score,updated_at\r\nana@acme.example,Partner fit,5,2026-01-01\r\n",
    )
    report = import_csv(small_desk, older, "scores", now=now)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert _external(small_desk)[(ana_leads[0], "Partner fit")][0] == 80.0
    newer = write(
        tmp_path / "newer.csv",
        b"email,model,score,updated_at\r\nana@acme.example,Partner fit,40,2026-11-20T00:00:00Z\r\n",
    )
    report = import_csv(small_desk, newer, "scores", now=now)
    assert report.updated == 2
    assert _external(small_desk)[(ana_leads[0], "Partner fit")][0] == 40.0


PARTNER_FIT_RULE: dict[str, Any] = {
    "kind": "property",
    "name": "Partner likes them",
    "group": "fit",
    "points": 25,
    "when": {"field": "lead.external_score.Partner fit", "op": "gte", "value": 50},
}
"""A rule on an external score (``lead.external_score.NAME``), as a marketer writes one."""


def test_external_scores_can_be_used_in_conditions(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    from leaddesk.services.scoring import save_model

    partner = model(
        {
            "name": "With partner",
            "active": True,
            "sales_ready_at": 100,
            "rules": [PARTNER_FIT_RULE],
        }
    )
    save_model(small_desk, partner, now)
    path = write(
        tmp_path / "s.csv",
        b"email,model,score,updated_at\r\n"
        b"carla@globex.example,Partner fit,70,2026-11-01T00:00:00Z\r\n"
        b"diego@globex.example,Partner fit,10,2026-11-01T00:00:00Z\r\n",
    )
    report = import_csv(small_desk, path, "scores", now=now)
    assert report.leads_rescored == 2
    with small_desk.reading() as session:
        scores = dict(
            session.execute(
                select(Contact.email, Lead.score).join(Contact, Contact.id == Lead.contact_id)
            ).all()
        )
    assert scores["carla@globex.example"] == 25
    assert scores["diego@globex.example"] == 0


@pytest.mark.parametrize("bulk", [False, True], ids=["per-lead", "bulk"])
def test_an_activity_import_rescores_models_that_read_external_scores(
    small_desk: Database,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    """A big import re-scores the whole desk in bulk even when a model reads external
    scores, and the bulk path reads them as the per-lead path does."""
    from leaddesk.services import bulk_rescore
    from leaddesk.services.scoring import save_model

    monkeypatch.setattr(importing, "BULK_RESCORE_AT", 1 if bulk else 10**9)
    calls: list[int] = []
    original = bulk_rescore.bulk_rescore

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bulk_rescore, "bulk_rescore", spy)
    partner = model(
        {
            "name": "With partner",
            "active": True,
            "sales_ready_at": 100,
            "rules": [
                PARTNER_FIT_RULE,
                {
                    "kind": "property",
                    "name": "Partner scored them",
                    "group": "fit",
                    "points": 100,
                    "when": {"field": "lead.external_score.Partner fit", "op": "is_set"},
                },
                {
                    "kind": "activity",
                    "name": "Opened",
                    "group": "engagement",
                    "points": 5,
                    "activity": "email_open",
                },
            ],
        }
    )
    save_model(small_desk, partner, now)
    scores = write(
        tmp_path / "s.csv",
        b"email,model,score,updated_at\r\n"
        b"carla@globex.example,Partner fit,70,2026-11-01T00:00:00Z\r\n"
        b"diego@globex.example,Partner fit,0,2026-11-01T00:00:00Z\r\n",
    )
    import_csv(small_desk, scores, "scores", now=now)
    calls.clear()
    opened = (now - timedelta(hours=1)).isoformat()
    path = write(
        tmp_path / "a.csv",
        (
            "email,type,occurred_at\n"
            f"carla@globex.example,email_open,{opened}Z\n"
            f"diego@globex.example,email_open,{opened}Z\n"
            f"bruno@acme.example,email_open,{opened}Z\n"
        ).encode(),
    )
    report = import_csv(small_desk, path, "activities", now=now)
    assert report.leads_rescored == 3
    assert bool(calls) == bulk
    with small_desk.reading() as session:
        got = dict(
            session.execute(
                select(Contact.email, Lead.score).join(Contact, Contact.id == Lead.contact_id)
            ).all()
        )
        causes = set(session.scalars(select(ScoreHistory.cause)))
    # Carla: 70 >= 50 and set; Diego: 0 is a score (set), not a missing one; Bruno: none.
    assert got["carla@globex.example"] == 25 + 100 + 5
    assert got["diego@globex.example"] == 100 + 5
    assert got["bruno@acme.example"] == 5
    assert "import" in causes


# --- the wizard's preview ------------------------------------------------------------------------


def test_preview_without_a_database(tmp_path: Path) -> None:
    data = (
        "E-mail;Nome;Idade;Data de cadastro;Cor\r\n"
        "ana@x.com;Ana;34;22/11/2026 14:05;azul\r\n"
        "bo@x.com;Conceição;abc;03/04/2026 10:00;\r\n"
    ).encode("cp1252")
    preview = preview_csv(write(tmp_path / "c.csv", data), "contacts")
    assert (preview.encoding, preview.encoding_detected) == ("cp1252", True)
    assert (preview.delimiter, preview.delimiter_label) == (";", "semicolon")
    assert preview.headers == ["E-mail", "Nome", "Idade", "Data de cadastro", "Cor"]
    assert preview.rows[0] == ["ana@x.com", "Ana", "34", "22/11/2026 14:05", "azul"]
    assert preview.row_lines == [2, 3]
    by_header = {c.header: c for c in preview.columns}
    assert by_header["E-mail"].field == "email" and by_header["E-mail"].guessed
    assert by_header["Cor"].field is None and by_header["Cor"].custom == "Cor"
    assert "email" in preview.target_fields
    assert preview.missing_required == []
    assert preview.problems == {3: [importing.Problem("Idade", "must be a whole number")]}
    assert preview.total_rows is None


def test_preview_reports_the_date_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"email,type,occurred_at\r\na@x.com,call,11/22/2026 14:05\r\n")
    preview = preview_csv(path, "activities")
    assert "month first" in preview.date_interpretation
    forced = preview_csv(path, "activities", date_order=fmt.DateOrder.DAY_FIRST)
    assert "day first" in forced.date_interpretation
    assert forced.problems[2][0].column == "occurred_at"


def test_preview_with_a_database_counts_without_writing(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    before = count(small_desk, Contact)
    path = write(
        tmp_path / "c.csv",
        b"email,first_name,city\r\n"
        b"ana@acme.example,Ana,Olinda\r\n"
        b"bruno@acme.example,Bruno,\r\n"
        b"new@x.com,New,\r\n"
        b"bad,Bad,\r\n",
    )
    preview = preview_csv(path, "contacts", db=small_desk, now=now, mapping={"city": "city"})
    assert (preview.total_rows, preview.rows_ok, preview.rows_with_problems) == (4, 3, 1)
    assert (preview.to_create, preview.to_update, preview.unchanged) == (1, 1, 1)
    assert preview.columns[2].guessed is False
    assert 5 in preview.problems
    assert count(small_desk, Contact) == before
    assert contacts(small_desk)["ana@acme.example"]["city"] is None


def test_preview_can_check_only_the_rows_it_shows(
    small_desk: Database, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wizard's format page tints the rows it shows as the desk would judge them,
    without a dry run of the whole file: the rows after them are not even read."""
    path = write(
        tmp_path / "a.csv",
        b"email,type,occurred_at\r\n"
        b"ana@acme.example,call,2026-11-20 10:00\r\n"
        b"nobody@x.example,call,2026-11-20 10:00\r\n"
        + b"later@x.example,call,2026-11-20 10:00\r\n"
        * 500,
    )
    read: list[int] = []
    real_batch = importing._Reader.batch

    def batch(reader: Any, size: int) -> list[tuple[int, list[str]]]:
        records = real_batch(reader, size)
        read.extend(line for line, _cells in records)
        parsed.append(reader._csv.line_num)  # what the csv module went through
        return records

    parsed: list[int] = []

    monkeypatch.setattr(importing._Reader, "batch", batch)
    shown = preview_csv(path, "activities", db=small_desk, now=now, rows=2, shown_only=True)
    assert shown.row_lines == [2, 3]
    assert [p.reason for p in shown.problems[3]] == ["no contact with e-mail nobody@x.example"]
    assert list(shown.problems) == [3]
    assert shown.total_rows is None and shown.report is None
    assert read == [2, 3]
    assert max(parsed) <= 3
    whole = preview_csv(path, "activities", db=small_desk, now=now, rows=2)
    assert whole.problems == shown.problems
    assert (whole.total_rows, whole.rows_with_problems) == (502, 501)


# --- atomicity under a kill ------------------------------------------------------------------


def test_killing_an_import_midway_leaves_the_desk_as_it_was(
    db: Database, db_url: str, now: datetime, tmp_path: Path
) -> None:
    people = [f"p{i}@kill.example" for i in range(200)]
    contacts_file = write(tmp_path / "c.csv", ("email\n" + "\n".join(people)).encode())
    import_csv(db, contacts_file, "contacts", now=now)
    big = tmp_path / "a.csv"
    start = datetime(2026, 1, 1)
    with big.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "type", "occurred_at", "url"])
        for i in range(200_000):
            when = start + timedelta(seconds=37 * i)
            writer.writerow([people[i % 200], "page_visit", when.isoformat() + "Z", f"/p/{i}"])
    before = {m.__tablename__: count(db, m) for m in (Contact, Activity, Lead, ActivityType)}
    schema = _schema(db)  # a file this big is written with the activities' indexes set aside
    db.dispose()
    path = Path(db_url.removeprefix("sqlite:///"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("LEADDESK_DB", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leaddesk",
            "--db",
            str(path),
            "--now",
            now.isoformat(),
            "import",
            "activities",
            str(big),
            "--progress",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    killed_at = None
    deadline = time.monotonic() + 60
    for line in process.stderr:
        # Past the first chunks: rows are being written inside the open transaction.
        if line.startswith("progress ") and int(line.split()[1].split("/")[0]) >= 150:
            killed_at = line.strip()
            process.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "the import never got going"
    process.wait(timeout=30)
    process.stderr.close()
    assert killed_at is not None, "the import finished before it could be killed"
    assert process.returncode == -signal.SIGKILL
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        after = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in before
        }
        schema_after = sorted(
            connection.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            ).fetchall()
        )
    finally:
        connection.close()
    assert after == before
    assert schema_after == schema


def test_temp_tables_do_not_outlive_the_import(db: Database, now: datetime, tmp_path: Path) -> None:
    import_csv(db, write(tmp_path / "c.csv", b"email\na@x.com\n"), "contacts", now=now)
    with db.reading() as session:
        names = {r[0] for r in session.execute(text("SELECT name FROM sqlite_temp_master"))}
    assert not {n for n in names if n.startswith("_leaddesk_import")}


def test_properties_keep_their_stored_type_on_reimport(
    small_desk: Database, now: datetime, tmp_path: Path
) -> None:
    from leaddesk.services.activities import log_activity

    log_activity(
        small_desk,
        email="eva@initech.example",
        type_key="purchase",
        occurred_at=datetime(2026, 11, 1, 10),
        now=now,
        properties={"amount": 1200, "recurring": True},
    )
    path = write(
        tmp_path / "a.csv",
        b"email,type,occurred_at,amount,recurring\r\n"
        b"eva@initech.example,purchase,2026-11-01T10:00:00Z,1200,true\r\n",
    )
    report = import_csv(small_desk, path, "activities", now=now)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    with small_desk.reading() as session:
        stored = session.scalars(select(Activity).where(Activity.type_key == "purchase")).one()
        assert (
            json.dumps(stored.properties, sort_keys=True) == '{"amount": 1200, "recurring": true}'
        )
    records.get_contact(small_desk, 1)  # the desk is still readable


# --- the fast paths store and report exactly what the row-by-row path does ----------------------

TRICKY_CONTACTS = (
    "email,first_name,last_name,phone,job_title,buying_role,city,age,is_customer,"
    "email_subscribed,account,account_domain,Cor favorita\r\n"
    "ana@acme.example,Ana,Souza,'+55 11 5555,'=SUM(A1),Decision Maker, Recife ,30,sim,,,,azul\r\n"
    "new1@x.com,  New  ,'-dash,,' plain,CHAMPION,São  Paulo,-5,,,Brand New Co,,\r\n"
    "New2@X.com,Zoë,,,'\tTabbed,,,131,maybe,yes,,new.example.org,'=verde\r\n"
    "new3@x.com,Três,,,,user, ,forty,não,0,Acme Tools,acme.example,\r\n"
    "new3@x.com,,Silva,,CTO,,Porto, 42 ,TRUE,,,,roxo\r\n"
    "bad-email,Bad,,,,,,,,,,,\r\n"
    ",NoEmail,,,,,,,,,,,\r\n"
    "'=x@y.com,Neutral,,,,,,,,,,,\r\n"
    "short@x.com,Short\r\n"
    "long@x.com,Long,,,,,,,,,,,,extra\r\n"
    "longblank@x.com,LongBlank,,,,,,,,,,,, \r\n"
    ",,,,,,,,,,,,\r\n"
    "\r\n"
    " BRUNO@acme.example ,Bruno,,,,,,,,,Nowhere Co,bad domain,\r\n"
    "eva@initech.example,,,,,,,0,1,n,Globex,,\r\n"
    "eva@initech.example,Eva,,,,,,130,,,,,\r\n"
    "new4@x.com,Quatro,,,,,,,,,,,\r\n"
    "new5@x.com,Cinco,,'+351 21,'\tTabbed,' decision maker,'@home,,,,'=Evil Co,,'=roxo\r\n"
    "ana@acme.example,,,,'\tTabbed,,,,,,,,\r\n"
)

TRICKY_ACTIVITIES = (
    "email,type,occurred_at,lead_topic,url,campaign\r\n"
    "ana@acme.example,email_open,2026-11-20T10:00:00Z,,/a,Spring\r\n"
    "ana@acme.example,Email Open,2026-11-20T10:00:00.000000Z,,,Summer\r\n"
    "ana@acme.example,Webinar Replay Watched,2026-11-20T11:00:00.5Z,Pricing webinar,'=x,\r\n"
    "ANA@acme.example ,page_visit,21/11/2026 09:30,trial signup,/b,\r\n"
    "bruno@acme.example,page_visit,2026-11-21T09:30:00+02:00,,/c, \r\n"
    "bruno@acme.example,page_visit,2026-11-21 09:30,No such topic,/c,\r\n"
    "carla@globex.example,,2026-11-21T09:30:00Z,,,\r\n"
    "carla@globex.example,email_click,31/02/2026,,,\r\n"
    "carla@globex.example,email_click,,,,\r\n"
    "nobody@x.com,email_open,2026-11-21T09:30:00Z,,,\r\n"
    "eva@initech.example,email_open,2026-13-01T10:00:00Z,,,\r\n"
    "eva@initech.example,email_open,2026-11-19T10:00:00Z\r\n"
    "eva@initech.example,email_open,2026-11-19T10:00:00Z,,,,\r\n"
    "eva@initech.example,email_open,2026-11-19T11:00:00Z,,/d,Spring\r\n"
)

NEW_CONTACTS = (
    "email,first_name,phone,buying_role,age,is_employee,account,account_domain,Cor favorita\r\n"
    "n1@new.example,Um,'+55 11,Decision Maker,33,yes,Acme Tools,,azul\r\n"
    "n2@new.example,Dois,,,,,,globex.example,\r\n"
    "n3@new.example,Três,,user,0,não,Fresh Co,fresh.example,'=verde\r\n"
    "n4@new.example, Quatro ,,,130,,Fresh Co,,\r\n"
    "n5@new.example,Cinco,,,,sim,,,\r\n"
    "n6@new.example,Seis,,,,,Initech,initech.example,roxo\r\n"
)

CLEAN_ACTIVITIES = "email,type,occurred_at,lead_topic,url\r\n" + "".join(
    f"{who}@{where}.example,{kind},2026-11-{day:02d}T{hour:02d}:05:00.{hour * 12345:06d}Z,"
    f"{topic},{url}\r\n"
    for day in range(1, 21)
    for hour, (who, where, kind, topic, url) in enumerate(
        [
            ("ana", "acme", "email_open", "", ""),
            ("ana", "acme", "page_visit", "Trial signup", "/t"),
            ("bruno", "acme", "Brand New Type", "", "'=1+1"),
            ("carla", "globex", "email_click", "", "/c"),
            ("eva", "initech", "page_visit", "demo request", "/d"),
        ]
    )
)


# The same activities an hour later, without fractions of a second (another ISO form).
CLEAN_WHOLE_SECONDS = "email,type,occurred_at,lead_topic,url\r\n" + "".join(
    f"{who}@{where}.example,{kind},2026-11-{day:02d}T1{hour}:05:00Z,{topic},{url}\r\n"
    for day in range(1, 21)
    for hour, (who, where, kind, topic, url) in enumerate(
        [
            ("ana", "acme", "email_open", "", ""),
            ("carla", "globex", "email_click", "", "/c"),
            ("eva", "initech", "page_visit", "demo request", "/d"),
        ]
    )
)


def _row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch every fast path off: rows go through the parser, validate and the loops."""
    monkeypatch.setattr(importing._Contacts, "_setup_fast", lambda self: None)
    monkeypatch.setattr(importing._Activities, "_setup_fast", lambda self: None)
    monkeypatch.setattr(importing._Activities, "_process_plain", lambda self, *a: False)
    monkeypatch.setattr(importing._Contacts, "_plain_items", lambda self, *a: None)


def _desk_rows(db: Database) -> dict[str, list[Any]]:
    with db.reading() as session:
        return {
            table: [
                tuple(row)
                for row in session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            ]
            for table in (
                "contacts",
                "accounts",
                "activities",
                "activity_types",
                "leads",
                "lead_events",
                "score_history",
            )
        }


def _imported(
    db: Database, files: list[tuple[Path, str]], now: datetime, options: dict[str, Any]
) -> list[Any]:
    out: list[Any] = []
    for path, kind in files:
        report = import_csv(db, path, kind, now=now, **options)
        out.append((report.summary(), report.rows, report.accounts_created))
        out.append(report.activity_types_created)
        out.append([(r.line, r.cells, r.problems) for r in report.rejected])
        out.append(_desk_rows(db))
    return out


@pytest.mark.parametrize("chunk_rows", [None, 3])
@pytest.mark.parametrize(
    "options", [{}, {"blank_overwrites": True}, {"create_accounts": False}], ids=str
)
def test_fast_paths_match_the_row_by_row_path(
    tmp_path: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    chunk_rows: int | None,
    options: dict[str, Any],
) -> None:
    from leaddesk.services.desk import open_desk
    from tests.factories import build_small_desk

    if chunk_rows is not None:
        monkeypatch.setattr(importing._Importer, "chunk_rows", chunk_rows)
        monkeypatch.setattr(importing._Activities, "chunk_rows", chunk_rows)
    files = [
        (write(tmp_path / "n.csv", NEW_CONTACTS.encode()), "contacts"),
        (write(tmp_path / "c.csv", TRICKY_CONTACTS.encode()), "contacts"),
        (write(tmp_path / "clean.csv", CLEAN_ACTIVITIES.encode()), "activities"),
        (write(tmp_path / "whole.csv", CLEAN_WHOLE_SECONDS.encode()), "activities"),
        (write(tmp_path / "a.csv", TRICKY_ACTIVITIES.encode()), "activities"),
        (tmp_path / "clean.csv", "activities"),  # again: every row is stored already
        (tmp_path / "c.csv", "contacts"),
    ]
    results = []
    for row_by_row in (False, True):
        with monkeypatch.context() as patch:
            if row_by_row:
                _row_by_row(patch)
            desk = open_desk(f"sqlite:///{tmp_path / f'desk-{row_by_row}.sqlite'}", now).db
            try:
                build_small_desk(desk, now)
                results.append(_imported(desk, files, now, options))
            finally:
                desk.dispose()
    fast, slow = results
    assert fast == slow
    assert fast[0][0] != "0 created, 0 updated, 0 skipped, 0 rejected"


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        (
            "activities",
            b"email,type,occurred_at,url\nana@acme.example,page_visit,"
            b"2026-11-20T10:00:00Z,/pricing\n",
        ),
        ("scores", b"email,model,score,updated_at\nana@acme.example,Partner,72,2026-11-01\n"),
    ],
)
def test_the_dry_run_preview_works_for_fixed_matching_types(
    small_desk: Database, now: datetime, tmp_path: Path, kind: str, content: bytes
) -> None:
    """The wizard's summary page runs preview_csv with a database for every type."""
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(content)
    preview = importing.preview_csv(path, kind, db=small_desk, now=now)
    assert preview.total_rows == 1
    assert preview.rows_ok == 1
    assert preview.to_create + preview.to_update == (1 if kind == "activities" else 2)


# --- indexes set aside for a big file ----------------------------------------------------------


def _schema(db: Database) -> list[tuple[str, str, str]]:
    with db.reading() as session:
        return sorted(
            (str(r[0]), str(r[1]), str(r[2]))
            for r in session.execute(
                text("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
            )
        )


@pytest.mark.parametrize("chunk_rows", [None, 3])
def test_setting_indexes_aside_changes_nothing_but_the_speed(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch, chunk_rows: int | None
) -> None:
    """Every file of the fast-path test, imported with the indexes of the tables written set
    aside (any file counts as big) and without: the same reports, rows and schema. The
    second import of clean.csv finds its rows stored, so the indexes come back mid-file."""
    from leaddesk.services.desk import open_desk
    from tests.factories import build_small_desk

    if chunk_rows is not None:
        monkeypatch.setattr(importing._Importer, "chunk_rows", chunk_rows)
        monkeypatch.setattr(importing._Activities, "chunk_rows", chunk_rows)
    files = [
        (write(tmp_path / "n.csv", NEW_CONTACTS.encode()), "contacts"),
        (write(tmp_path / "c.csv", TRICKY_CONTACTS.encode()), "contacts"),
        (write(tmp_path / "clean.csv", CLEAN_ACTIVITIES.encode()), "activities"),
        (write(tmp_path / "a.csv", TRICKY_ACTIVITIES.encode()), "activities"),
        (tmp_path / "clean.csv", "activities"),
        (write(tmp_path / "whole.csv", CLEAN_WHOLE_SECONDS.encode()), "activities"),
    ]
    results = []
    dropped: list[str] = []
    set_aside = importing._IndexesAside.set_aside
    worth_it = importing._IndexesAside.worth_it

    def spy(self: Any, store: Any, tables: Any) -> None:
        set_aside(self, store, tables)
        dropped.extend(self.statements)

    def as_if_huge(ctx: Any, tables: Any) -> list[str]:
        ctx.file_size *= 10**6  # the rows read so far are a millionth of the file
        try:
            return worth_it(ctx, tables)
        finally:
            ctx.file_size //= 10**6

    for aside in (True, False):
        with monkeypatch.context() as patch:
            if aside:
                patch.setattr(importing._IndexesAside, "worth_it", staticmethod(as_if_huge))
                patch.setattr(importing._IndexesAside, "set_aside", spy)
            else:
                patch.setattr(importing._IndexesAside, "worth_it", lambda ctx, tables: [])
            desk = open_desk(f"sqlite:///{tmp_path / f'desk-{aside}.sqlite'}", now).db
            try:
                build_small_desk(desk, now)
                schema = _schema(desk)
                results.append(_imported(desk, files, now, {}))
                assert _schema(desk) == schema
            finally:
                desk.dispose()
    assert results[0] == results[1]
    assert any("ix_activities_contact_time" in sql for sql in dropped)
    assert any("ix_contacts_account_id" in sql for sql in dropped)


def test_a_cancelled_import_leaves_the_indexes_it_set_aside(
    small_desk: Database, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing._Activities, "chunk_rows", 5)
    monkeypatch.setattr(
        importing._IndexesAside, "worth_it", staticmethod(lambda ctx, tables: list(tables))
    )
    schema = _schema(small_desk)
    before = _desk_rows(small_desk)
    path = write(tmp_path / "a.csv", CLEAN_ACTIVITIES.encode())
    calls: list[int] = []

    def progress(done: int, total: int) -> bool:
        calls.append(done)
        return len(calls) < 6  # after a few chunks were written without the indexes

    with pytest.raises(ImportCancelled):
        import_csv(small_desk, path, "activities", now=now, progress=progress)
    assert _schema(small_desk) == schema
    assert _desk_rows(small_desk) == before
    with small_desk.reading() as session:
        plan = " ".join(
            str(r[-1])
            for r in session.execute(
                text("EXPLAIN QUERY PLAN SELECT id FROM activities WHERE contact_id = 1")
            )
        )
    assert "USING" in plan and "INDEX" in plan


@pytest.mark.parametrize(
    "cells",
    [
        ["2026-11-22T14:05:00Z", "2026-01-01T00:00:00Z", "2024-02-29T23:59:59Z"],
        ["2026-11-22T14:05:00.123456Z", "2026-01-01T00:00:00.000001Z"],
        ["2026-11-22T14:05:00Z", "2026-11-22T14:05:00.500000Z"],  # an export: both forms
        ["2026-11-22T14:05:00.5Z", "2026-11-22T14:05:00.12345Z"],  # read, not pre-encoded
        ["2026-11-22T14:05:00Z", "2026-02-30T10:00:00Z"],  # no such day
        ["2026-11-22T14:05:00Z", "2026-11-22T24:00:00Z"],
        ["2026-11-22T14:05:00Z", "2026-11-22 14:05:00Z"],
        ["2026-11-22T14:05:00Z", "2026-11-22T14:05:00+00:00"],
        ["2026-11-22T14:05:00Z", "２０２６-11-22T14:05:00Z"],
        ["2026-11-22T14:05:00Z", "2026-11-22T14:05:00Z\n2026-11-22T14:05:00Z"],
        ["2026-11-22T14:05:00Z", ""],
        [" 2026-11-22T14:05:00Z"],
    ],
)
def test_a_column_of_iso_dates_reads_as_each_cell_would(cells: list[str]) -> None:
    """The column reader gives what ``parse_datetime_utc`` gives each cell, and times as
    SQLAlchemy stores them; or None, and the cells go one by one."""
    read = importing._iso_utc_column(cells)
    if read is None:
        plain = all(
            len(c) in (20, 27) and c.isascii() and c[10] == "T" and "\n" not in c for c in cells
        )
        if plain:  # refused although it looks plain: it must not be a real date
            with pytest.raises(ValueError):
                for cell in cells:
                    datetime.fromisoformat(cell)
        return
    whens, texts = read
    assert whens == [fmt.parse_datetime_utc(c) for c in cells]
    if texts is not None:
        assert texts == [sqlite_datetime(w) for w in whens]
    else:
        assert {len(c) for c in cells} - {20, 27}


@pytest.mark.parametrize("chunk_rows", [2, 3, 50])
def test_rows_are_numbered_by_their_first_line_whatever_breaks_their_cells_hold(
    small_desk: Database,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_rows: int,
) -> None:
    """Records are read a batch at a time: a batch of one-line records and one with cells
    spanning lines (\\n, \\r\\n, a lone \\r, blank lines in a cell) number each row as the
    csv module's line count does."""
    monkeypatch.setattr(importing._Importer, "chunk_rows", chunk_rows)
    data = (
        "email,first_name,job_title\r\n"
        "bad1,A,x\r\n"
        "ok1@x.com,B,y\r\n"
        'bad2,"multi\r\nline",z\r\n'
        "\r\n"
        'bad3,"lone\rreturn","two\n\nbreaks"\r\n'
        'ok2@x.com,C,"q\r\n\r\nq"\r\n'
        "bad4,D,e\n"
        'bad5,"\r",f\r'
        "ok3@x.com,E,g\r\n"
        "bad6,F,h"
    )
    path = write(tmp_path / "c.csv", data.encode())
    expected = [
        r.line
        for r in fmt.read_records(io.StringIO(data, newline=""), ",")
        if r.cells and r.cells[0].startswith("bad")
    ]
    report = import_csv(small_desk, path, "contacts", now=now)
    assert [r.line for r in report.rejected] == expected
    assert expected == [2, 4, 7, 14, 15, 18]


@pytest.mark.parametrize(
    ("tail", "words"),
    [
        (
            b"big@x.com," + b"A" * 140_000 + b"\n",
            "cannot read the CSV after line 2001: field larger than field limit",
        ),
        (b"bad@x.com,Jo\xe3o\n", "is not UTF-8 text (near line"),
    ],
)
def test_a_file_failing_deep_inside_is_refused_at_the_line_it_fails(
    db: Database,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tail: bytes,
    words: str,
) -> None:
    """Past the first batches: the failure is reported in the words and at the line of
    reading the file row by row, and nothing is imported."""
    monkeypatch.setattr(importing._Importer, "chunk_rows", 300)
    rows = b"".join(f"p{i}@x.com,P{i}\n".encode() for i in range(2000))
    path = write(tmp_path / "c.csv", b"email,first_name\n" + rows + tail + b"z@x.com,Z\n")
    one_by_one = importing._Reader(importing._open_source(path, "utf-8", None))
    with pytest.raises(ImportFileError) as expected:
        for _record in one_by_one.rows():
            pass
    one_by_one.close()
    with pytest.raises(ImportFileError) as refused:
        import_csv(db, path, "contacts", now=now, encoding="utf-8")
    assert str(refused.value) == str(expected.value)
    assert words in str(refused.value)
    assert count(db, Contact) == 0


@pytest.mark.parametrize(
    "column",
    [
        ["2026-11-22 12:00:00.000000"] * 3,  # created_at: the same text on every row
        ["it's", "it's", "it's"],  # a quote to escape
        ["", "", ""],
        [None, None, None],
        [True, True, True],
        [False, False, False],
        [7, 7, 7],
        ["12", "12", "12"],  # numeric text: the column's affinity decides, alike
        ["{}", "{}", "{}"],
        [1, True, 1],  # equal, yet not one type
        [True, 1, 1.0],
        [0.0, -0.0, 0.0],  # floats are always bound
        ["a\x00b", "a\x00b", "a\x00b"],
        ["x", "y", "x"],
        ["x", "x", "y"],
        [None, None, "x"],
        ["é'\"", "é'\"", "é'\""],
    ],
)
def test_a_column_written_as_a_literal_stores_what_binding_stores(column: list[Any]) -> None:
    """``_insert_statement`` writes a column every row stores the same as a literal; the
    rows must hold the same values of the same storage class as when bound."""
    conn = sqlite3.connect(":memory:")
    for table in ("bound", "literal"):
        conn.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, t VARCHAR(20), n INTEGER, "
            "b BOOLEAN, d DATETIME, j JSON, r FLOAT)"
        )
    names = ["id", "t", "n", "b", "d", "j", "r"]
    ids = list(range(1, len(column) + 1))
    columns = [ids, *([column] * (len(names) - 1))]
    conn.executemany(
        f"INSERT INTO bound ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        list(zip(*columns, strict=True)),
    )
    sql, bound = importing._insert_statement("literal", names, columns)
    assert bound[0] is ids  # the ids are always bound: one statement per row
    conn.executemany(sql, list(zip(*bound, strict=True)))
    selected = ", ".join(f"quote({n}), typeof({n})" for n in names)
    assert (
        conn.execute(f"SELECT {selected} FROM literal ORDER BY id").fetchall()
        == conn.execute(f"SELECT {selected} FROM bound ORDER BY id").fetchall()
    )


def test_only_columns_stored_alike_become_literals() -> None:
    sql, bound = importing._insert_statement(
        "t",
        ["id", "a", "b", "c", "d"],
        [[1, 2], ["x", "x"], [None, None], [1, True], [0.5, 0.5]],
    )
    assert sql == "INSERT INTO t (id, a, b, c, d) VALUES (?, 'x', NULL, ?, ?)"
    assert bound == [[1, 2], [1, True], [0.5, 0.5]]
    # One row: everything but the ids is constant.
    sql, bound = importing._insert_statement("t", ["id", "a"], [[5], ["o'k"]])
    assert sql == "INSERT INTO t (id, a) VALUES (?, 'o''k')"
    assert bound == [[5]]

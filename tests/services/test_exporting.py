"""Exporting CSV files: what Excel needs, formula neutralisation, the list view's rows,
and the round trip (export, import, nothing changed)."""

from __future__ import annotations

import csv
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from leaddesk.services import activities, exporting, records
from leaddesk.services.exporting import ExportCancelled, ExportError, export_csv
from leaddesk.services.importing import import_csv
from leaddesk.services.lists import ContactQuery, LeadQuery
from leaddesk.store.database import Database


def read(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def snapshot(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, for comparing a desk before and after."""
    connection = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        tables = [
            r[0]
            for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(connection.execute(f"SELECT * FROM {t}"), key=repr) for t in tables}
    finally:
        connection.close()


@pytest.fixture
def rich_desk(small_desk: Database, now: datetime, tmp_path: Path) -> Database:
    """The small desk plus what exports must carry: custom fields, odd characters,
    formula-like text, activity properties of several types, an external score."""
    contact_id = records.find_contact_id(small_desk, "ana@acme.example")
    assert contact_id is not None
    records.update_contact(
        small_desk,
        contact_id,
        {
            "job_title": '=HYPERLINK("http://evil.example")',
            "phone": "+55 (11) 5555-0000",
            "city": 'São Paulo; "centro"\nandar 3',
            "custom": {"favourite": "blue", "city": "clash", "score": 7, "vip": True},
        },
        now,
    )
    records.update_account(
        small_desk, 1, {"custom": {"segment": "SMB", "tier": 2}, "annual_revenue": 1234.5}, now
    )
    activities.log_activity(
        small_desk,
        email="carla@globex.example",
        type_key="purchase",
        occurred_at=datetime(2026, 11, 3, 8, 15, 30, 250000),
        now=now,
        properties={"amount": 1200.5, "recurring": False, "plan": "-pro", "url": "@home"},
    )
    path = tmp_path / "scores-in.csv"
    path.write_text(
        "email,model,score,updated_at\ncarla@globex.example,Partner,12.5,2026-11-01T00:00:00Z\n"
    )
    import_csv(small_desk, path, "scores", now=now)
    return small_desk


def test_export_then_import_changes_nothing(
    rich_desk: Database, db_url: str, now: datetime, tmp_path: Path
) -> None:
    before = snapshot(db_url)
    files = {}
    for kind in ("accounts", "contacts", "leads", "activities", "scores"):
        files[kind] = tmp_path / f"{kind}.csv"
        assert export_csv(rich_desk, kind, files[kind]) > 0
    later = datetime(2027, 1, 1)  # a different clock would show in any updated_at written
    for kind, path in files.items():
        report = import_csv(rich_desk, path, kind, now=later)
        assert (report.created, report.updated, report.rejected) == (0, 0, []), kind
        assert report.skipped == report.rows
    assert snapshot(db_url) == before


def test_export_then_import_with_semicolons_and_no_bom(
    rich_desk: Database, db_url: str, now: datetime, tmp_path: Path
) -> None:
    before = snapshot(db_url)
    for kind in ("accounts", "contacts", "leads", "activities"):
        path = tmp_path / f"{kind}.csv"
        export_csv(rich_desk, kind, path, delimiter=";", bom=False)
        assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
        report = import_csv(rich_desk, path, kind, now=now)
        assert report.delimiter == ";"
        assert (report.created, report.updated) == (0, 0), kind
    assert snapshot(db_url) == before


def test_utf8_with_bom_by_default(rich_desk: Database, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    export_csv(rich_desk, "contacts", path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfemail,first_name,")
    assert "São Paulo".encode() in raw


def test_columns_are_the_import_columns_plus_custom_fields(
    rich_desk: Database, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    export_csv(rich_desk, "contacts", path)
    header = read(path)[0]
    assert header[:17] == [
        "email",
        "first_name",
        "last_name",
        "phone",
        "job_title",
        "department",
        "buying_role",
        "country",
        "state",
        "city",
        "age",
        "source",
        "is_employee",
        "is_customer",
        "email_subscribed",
        "account",
        "account_domain",
    ]
    # A custom field named like a column is written apart from it.
    assert header[17:] == ["custom.city", "favourite", "score", "vip"]
    path = tmp_path / "leads.csv"
    export_csv(rich_desk, "leads", path)
    assert read(path)[0][:10] == [
        "id",
        "email",
        "account",
        "account_domain",
        "topic",
        "source",
        "owner",
        "stage",
        "status",
        "score",
    ]
    path = tmp_path / "activities.csv"
    export_csv(rich_desk, "activities", path)
    rows = read(path)
    assert rows[0][:4] == ["email", "type", "occurred_at", "lead_topic"]
    purchase = next(r for r in rows if r[1] == "purchase")
    named = dict(zip(rows[0], purchase, strict=True))
    assert named["occurred_at"] == "2026-11-03T08:15:30.250000Z"
    assert (named["amount"], named["recurring"]) == ("1200.5", "false")


def test_formula_cells_are_neutralised(rich_desk: Database, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    export_csv(rich_desk, "contacts", path)
    rows = read(path)
    ana = dict(zip(rows[0], next(r for r in rows if r[0] == "ana@acme.example"), strict=True))
    assert ana["job_title"] == '\'=HYPERLINK("http://evil.example")'
    assert ana["phone"] == "'+55 (11) 5555-0000"
    assert ana["city"] == 'São Paulo; "centro"\nandar 3'
    path = tmp_path / "activities.csv"
    export_csv(rich_desk, "activities", path)
    rows = read(path)
    purchase = dict(zip(rows[0], next(r for r in rows if r[1] == "purchase"), strict=True))
    assert (purchase["plan"], purchase["url"]) == ("'-pro", "'@home")
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_the_list_view_is_exported_in_its_order(rich_desk: Database, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    count = export_csv(
        rich_desk,
        "leads",
        path,
        lead_query=LeadQuery(search="acme", sort="topic", descending=False),
    )
    rows = read(path)
    assert count == len(rows) - 1 == 3
    assert [r[4] for r in rows[1:]] == sorted(r[4] for r in rows[1:])
    path = tmp_path / "contacts.csv"
    export_csv(rich_desk, "contacts", path, contact_query=ContactQuery(search="globex"))
    assert sorted(r[0] for r in read(path)[1:]) == ["carla@globex.example", "diego@globex.example"]


def test_bad_requests(rich_desk: Database, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot export 'shoes'"):
        export_csv(rich_desk, "shoes", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="not a delimiter"):
        export_csv(rich_desk, "leads", tmp_path / "x.csv", delimiter=";;")
    with pytest.raises(ExportError, match="cannot write"):
        export_csv(rich_desk, "leads", tmp_path / "missing" / "x.csv")


@pytest.mark.parametrize("kind", ["accounts", "contacts", "leads", "activities", "scores"])
def test_progress_counts_up_to_the_rows_written(
    rich_desk: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(exporting, "CHUNK", 1)  # a report after every row
    calls: list[tuple[int, int]] = []
    count = export_csv(
        rich_desk, kind, tmp_path / "out.csv", progress=lambda d, t: calls.append((d, t)) or True
    )
    assert len(read(tmp_path / "out.csv")) == count + 1
    assert calls[0] == (0, count)
    assert calls[-1] == (count, count)
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)
    assert {t for _d, t in calls} == {count}


def test_progress_of_a_list_view_counts_its_rows(rich_desk: Database, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    query = LeadQuery(search="globex")
    count = export_csv(
        rich_desk,
        "leads",
        tmp_path / "out.csv",
        lead_query=query,
        progress=lambda d, t: calls.append((d, t)) or True,
    )
    everything = export_csv(rich_desk, "leads", tmp_path / "all.csv")
    assert 0 < count < everything
    assert calls[0] == (0, count) and calls[-1] == (count, count)


def test_cancel_stops_the_export_and_removes_the_unfinished_file(
    rich_desk: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporting, "CHUNK", 1)
    answers = iter([True, True, False])
    target = tmp_path / "contacts.csv"
    with pytest.raises(ExportCancelled):
        export_csv(rich_desk, "contacts", target, progress=lambda _d, _t: next(answers))
    assert not target.exists()

"""``leaddesk scoring``, ``rescore``, ``explain`` and scores in ``leads`` and ``log``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli.test_cli import run

MODEL_FILE = {
    "format": "leaddesk.scoring/1",
    "models": [
        {
            "name": "Clicks",
            "active": True,
            "sales_ready_at": 10,
            "floor": 0,
            "cap": None,
            "rules": [
                {
                    "kind": "activity",
                    "name": "Clicked",
                    "group": "engagement",
                    "points": 5,
                    "activity": "email_click",
                    "expires_after_days": 10,
                }
            ],
        }
    ],
}


def _desk(tmp_path: Path) -> str:
    """A small desk with one contact, built with the command line only."""
    db = str(tmp_path / "desk.sqlite")
    assert run(tmp_path, "demo", "--leads", "20", "--seed", "5", db=db).returncode == 0
    return db


def test_scoring_import_export_round_trip(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    source = tmp_path / "clicks.json"
    source.write_text(json.dumps(MODEL_FILE), encoding="utf-8")
    imported = run(tmp_path, "scoring", "import", str(source), db=db)
    assert imported.returncode == 0, imported.stderr
    assert "Clicks" in imported.stdout
    exported = run(tmp_path, "scoring", "export", str(tmp_path / "out.json"), db=db)
    assert exported.returncode == 0, exported.stderr
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    names = [m["name"] for m in data["models"]]
    assert "Clicks" in names and len(names) == 3  # two starter models from the demo
    clicks = next(m for m in data["models"] if m["name"] == "Clicks")
    assert clicks == MODEL_FILE["models"][0]


def test_bad_scoring_file_is_refused_with_paths(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    before = run(tmp_path, "scoring", "export", "-", db=db).stdout
    broken = json.loads(json.dumps(MODEL_FILE))
    broken["models"][0]["rules"][0]["kind"] = "telepathy"
    broken["models"][0]["rules"].append(
        {
            "kind": "property",
            "name": "x",
            "group": "fit",
            "points": 1,
            "when": {"field": "contact.age", "op": "bigger", "value": 3},
        }
    )
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = run(tmp_path, "scoring", "import", str(path), db=db)
    assert result.returncode == 1
    assert "$.models[0].rules[0].kind" in result.stderr
    assert "$.models[0].rules[1].when.op" in result.stderr
    assert "nothing imported" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run(tmp_path, "scoring", "export", "-", db=db).stdout == before


def test_log_prints_the_new_score_and_explain_adds_up(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    source = tmp_path / "clicks.json"
    only_clicks = dict(MODEL_FILE)
    source.write_text(json.dumps(only_clicks), encoding="utf-8")
    run(tmp_path, "scoring", "import", str(source), db=db)
    leads = json.loads(run(tmp_path, "leads", "--format", "json", db=db).stdout)
    lead = next(row for row in leads if row["email"])
    before = lead["scores"].get("Clicks", 0)
    logged = run(tmp_path, "log", lead["email"], "email_click", db=db)
    assert logged.returncode == 0, logged.stderr
    assert f"lead #{lead['id']}" in logged.stdout
    explained = run(tmp_path, "explain", str(lead["id"]), "--format", "json", db=db)
    assert explained.returncode == 0, explained.stderr
    data = json.loads(explained.stdout)
    clicks = next(m for m in data["models"] if m["model"] == "Clicks")
    assert clicks["total"] == before + 5
    assert sum(c["points"] for c in clicks["contributions"]) == clicks["total"]
    text = run(tmp_path, "explain", str(lead["id"]), db=db)
    assert "Clicks:" in text.stdout and "Clicked" in text.stdout


def test_leads_csv_has_a_column_per_model(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    result = run(tmp_path, "leads", "--format", "csv", db=db)
    header = next(csv.reader(io.StringIO(result.stdout)))
    assert header[:8] == [
        "id",
        "email",
        "topic",
        "score",
        "stage",
        "sales_ready",
        "status",
        "owner",
    ]
    assert len(header) == 10  # the two starter models
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    primary = header[8]
    assert all(row["score"] == row[primary] for row in rows)


def test_rescore_later_expires_points(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    source = tmp_path / "clicks.json"
    source.write_text(json.dumps(MODEL_FILE), encoding="utf-8")
    run(tmp_path, "scoring", "import", str(source), db=db)
    leads = json.loads(run(tmp_path, "leads", "--format", "json", db=db).stdout)
    email = next(row["email"] for row in leads if row["email"])
    run(tmp_path, "log", email, "email_click", db=db)

    def clicks_score() -> int:
        rows = json.loads(run(tmp_path, "leads", "--format", "json", db=db).stdout)
        return sum(r["scores"].get("Clicks", 0) for r in rows if r["email"] == email)

    assert clicks_score() >= 5
    later = run(tmp_path, "--now", "2027-01-01T00:00:00Z", "rescore", db=db)
    assert later.returncode == 0, later.stderr
    assert "Re-scored 20 leads" in later.stdout
    assert clicks_score() == 0


def test_explain_unknown_lead(tmp_path: Path) -> None:
    db = _desk(tmp_path)
    result = run(tmp_path, "explain", "99999", db=db)
    assert result.returncode == 1
    assert result.stderr.strip() == "leaddesk: no lead #99999"

"""The real ``leaddesk`` command, run as a separate process as a user would run it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOW = "2026-11-22T12:00:00+00:00"


def run(tmp_path: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m leaddesk`` from a neutral folder, so the installed package runs."""
    env = dict(os.environ)
    env.pop("LEADDESK_DB", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    command = [sys.executable, "-m", "leaddesk"]
    if db is not None:
        command += ["--db", db]
    command += ["--now", NOW, *args]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.sqlite"
    result = run(folder, "demo", "--leads", "300", "--seed", "3", db=str(path))
    assert result.returncode == 0, result.stderr
    assert "Added 300 leads" in result.stdout
    return str(path)


def test_leads_as_csv(tmp_path: Path, demo_db: str) -> None:
    result = run(tmp_path, "leads", "--format", "csv", db=demo_db)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:8] == [
        "id",
        "email",
        "topic",
        "score",
        "stage",
        "sales_ready",
        "status",
        "owner",
    ]
    assert len(rows) == 301
    assert {row[5] for row in rows[1:]} <= {"true", "false"}
    assert all("@" in row[1] for row in rows[1:] if row[1])


def test_leads_as_json_and_table(tmp_path: Path, demo_db: str) -> None:
    result = run(tmp_path, "leads", "--format", "json", "--limit", "5", db=demo_db)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data) == 5
    assert {"id", "email", "topic", "score", "stage", "owner"} <= set(data[0])
    table = run(tmp_path, "leads", "--limit", "3", db=demo_db)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "Name", "Company"]
    assert "(3 leads)" in table.stdout


def test_leads_by_stage(tmp_path: Path, demo_db: str) -> None:
    result = run(tmp_path, "leads", "--format", "csv", "--stage", "no_such_stage", db=demo_db)
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("id,email,topic,score,stage,sales_ready,status,owner")


def test_log_then_list_shows_it(tmp_path: Path, demo_db: str) -> None:
    listing = run(tmp_path, "leads", "--format", "json", db=demo_db)
    email = next(row["email"] for row in json.loads(listing.stdout) if row["email"])
    result = run(
        tmp_path,
        "log",
        email.upper(),
        "page_visit",
        "--at",
        "2026-11-22T11:30:00Z",
        "--prop",
        "url=https://example.com/pricing",
        db=demo_db,
    )
    assert result.returncode == 0, result.stderr
    assert "Logged page_visit" in result.stdout
    assert "score" in result.stdout and "stage" in result.stdout
    after = json.loads(run(tmp_path, "leads", "--format", "json", db=demo_db).stdout)
    mine = [row for row in after if row["email"] == email]
    assert mine and all(row["last_activity_at"] == "2026-11-22T11:30:00" for row in mine)


def test_unknown_email_is_one_line_and_non_zero(tmp_path: Path, demo_db: str) -> None:
    result = run(tmp_path, "log", "nobody@nowhere.example", "call", db=demo_db)
    assert result.returncode == 1
    assert result.stderr.strip() == "leaddesk: no contact with e-mail nobody@nowhere.example"
    assert "Traceback" not in result.stderr


def test_bad_inputs_are_one_line_errors(tmp_path: Path, demo_db: str) -> None:
    bad_time = run(tmp_path, "log", "a@b.example", "call", "--at", "yesterday", db=demo_db)
    assert bad_time.returncode == 1 and "--at" in bad_time.stderr
    bad_prop = run(tmp_path, "log", "a@b.example", "call", "--prop", "nokey", db=demo_db)
    assert bad_prop.returncode == 1 and "KEY=VALUE" in bad_prop.stderr
    for result in (bad_time, bad_prop):
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_bad_db_is_refused(tmp_path: Path) -> None:
    missing_folder = run(tmp_path, "leads", db=str(tmp_path / "no" / "such" / "desk.sqlite"))
    assert missing_folder.returncode == 1
    assert "does not exist" in missing_folder.stderr
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("these are my notes, not a database\n" * 100)
    garbage = run(tmp_path, "leads", db=str(not_a_db))
    assert garbage.returncode == 1
    assert "database" in garbage.stderr.lower()
    assert not_a_db.read_text().startswith("these are my notes")
    bad_url = run(tmp_path, "leads", db="nosuchdriver://x/y")
    assert bad_url.returncode == 1
    for result in (missing_folder, garbage, bad_url):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_database_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "env.sqlite"
    env = dict(os.environ, LEADDESK_DB=str(path), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "leaddesk", "demo", "--leads", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert path.exists()


def test_demo_without_activities(tmp_path: Path) -> None:
    path = tmp_path / "bare.sqlite"
    result = run(tmp_path, "demo", "--leads", "50", "--no-activities", db=str(path))
    assert result.returncode == 0, result.stderr
    assert "Added 50 leads" in result.stdout and " 0 activities" in result.stdout
    listed = run(tmp_path, "leads", "--format", "csv", db=str(path))
    assert listed.returncode == 0, listed.stderr
    assert len(list(csv.reader(io.StringIO(listed.stdout)))) == 1 + 50

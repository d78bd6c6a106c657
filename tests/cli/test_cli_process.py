"""The process from the terminal: users, --as with roles enforced, checkboxes, assignment,
status and the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run


def test_process_from_the_terminal(tmp_path: Path) -> None:
    db = str(tmp_path / "desk.sqlite")
    assert run(tmp_path, "demo", "--leads", "30", "--seed", "9", db=db).returncode == 0
    added = run(tmp_path, "user", "add", "Tess", "--role", "telemarketer", db=db)
    assert added.returncode == 0, added.stderr
    users = run(tmp_path, "user", "list", db=db).stdout
    assert "Tess" in users and "telemarketer" in users and "* Admin" in users

    leads = json.loads(run(tmp_path, "leads", "--format", "json", db=db).stdout)
    lead = next(
        row
        for row in leads
        if row["status"] == "open" and row["stage"] in ("inquiry", "automated_qualification")
    )
    lid = str(lead["id"])

    refused = run(tmp_path, "--as", "Tess", "assign", lid, "Admin", db=db)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "leaddesk: Tess: a telemarketer cannot assign leads (allowed: admin, manager)"
    )
    marked = run(tmp_path, "--as", "tess", "mark", lid, "telemarketing_ready", db=db)
    assert marked.returncode == 0, marked.stderr
    assert "stage Telemarketing acceptance" in marked.stdout
    run(tmp_path, "--as", "Tess", "mark", lid, "accepted_telemarketing", db=db)
    qualified = run(tmp_path, "--as", "Tess", "qualify", lid, "budget=50k", "need=CRM", db=db)
    assert qualified.returncode == 0 and "budget=50k" in qualified.stdout
    run(tmp_path, "--as", "Tess", "mark", lid, "sales_ready", db=db)
    ready = run(tmp_path, "leads", "--sales-ready", "--format", "json", db=db)
    assert int(lid) in {row["id"] for row in json.loads(ready.stdout)}

    no_owner = run(tmp_path, "mark", lid, "sales_accepted", db=db)
    assert no_owner.returncode == 1 and "assign a salesperson" in no_owner.stderr
    salesperson = next(
        line[2:].rsplit(None, 1)[0].strip()
        for line in users.splitlines()
        if line.strip().endswith("salesperson")
    )
    assigned = run(tmp_path, "assign", lid, salesperson, db=db)
    assert assigned.returncode == 0, assigned.stderr
    accepted = run(tmp_path, "mark", lid, "sales_accepted", db=db)
    assert accepted.returncode == 0, accepted.stderr
    owned = json.loads(
        run(tmp_path, "leads", "--owner", salesperson, "--format", "json", db=db).stdout
    )
    assert int(lid) in {row["id"] for row in owned}

    moved = run(tmp_path, "stage", lid, "inquiry", "--reason", "wrong contact", db=db)
    assert moved.returncode == 0 and "Inquiry" in moved.stdout
    bad_stage = run(tmp_path, "stage", lid, "nowhere", db=db)
    assert bad_stage.returncode == 1 and "no stage 'nowhere'" in bad_stage.stderr
    run(tmp_path, "disqualify", lid, "--reason", "No budget", db=db)
    disq = json.loads(
        run(tmp_path, "leads", "--queue", "disqualified", "--format", "json", db=db).stdout
    )
    assert int(lid) in {row["id"] for row in disq}
    run(tmp_path, "reopen", lid, db=db)
    won = run(tmp_path, "win", lid, db=db)
    assert won.returncode == 0

    trail = run(tmp_path, "history", lid, db=db).stdout.splitlines()
    text = "\n".join(trail)
    assert "Tess" in text and "ticked Telemarketing ready" in text
    assert f"assigned to {salesperson}" in text
    assert "Sales acceptance → Inquiry (wrong contact)" in text
    assert "disqualified (No budget)" in text and "reopened" in text and "marked won" in text


def test_unknown_user_for_as(tmp_path: Path) -> None:
    db = str(tmp_path / "desk.sqlite")
    run(tmp_path, "demo", "--leads", "5", db=db)
    result = run(tmp_path, "--as", "Nobody", "win", "1", db=db)
    assert result.returncode == 1
    assert "no user named 'Nobody'" in result.stderr

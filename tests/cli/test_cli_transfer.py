"""``leaddesk import`` and ``leaddesk export``, run as a user runs them."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import run


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "desk.sqlite"
    contacts = folder / "seed.csv"
    contacts.write_bytes(
        b"email,first_name,account,account_domain\r\n"
        b"ana@acme.example,Ana,Acme,acme.example\r\n"
        b"bo@acme.example,Bo,Acme,acme.example\r\n"
    )
    result = run(folder, "import", "contacts", str(contacts), db=str(path))
    assert result.returncode == 0, result.stderr
    assert "2 created" in result.stdout
    return path


@pytest.fixture
def desk(template: Path, tmp_path: Path) -> str:
    """A fresh copy of a desk with two contacts at Acme (the import ran once, as a user
    would run it; copying the closed file is cheaper than running it again)."""
    path = tmp_path / "desk.sqlite"
    shutil.copy(template, path)
    return str(path)


def count(db: str, table: str) -> int:
    connection = sqlite3.connect(db)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        connection.close()


def test_import_prints_counts_and_every_rejected_line(tmp_path: Path, desk: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        "E-mail;Nome;Funcionários;Idade\r\n"
        "ana@acme.example;Ana Maria;;\r\n"
        "novo@x.com.br;João;;41\r\n"
        "sem-arroba;X;;\r\n"
        "velho@x.com.br;Velho;;cento e dez\r\n".encode("cp1252")
    )
    rejects = tmp_path / "rejects.csv"
    result = run(tmp_path, "import", "contacts", str(path), "--rejects", str(rejects), db=desk)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 created, 1 updated, 0 skipped, 2 rejected" in out
    assert "line 4, column E-mail: 'sem-arroba' is not a valid e-mail address" in out
    assert "line 5, column Idade: must be a whole number" in out
    assert f"Rejected rows written to {rejects}" in out
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ["E-mail", "Nome", "Funcionários", "Idade", "reason"]
    assert [r[0] for r in rows[1:]] == ["sem-arroba", "velho@x.com.br"]
    assert count(desk, "contacts") == 3


def test_strict_refuses_and_exits_one(tmp_path: Path, desk: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"email,first_name\r\nfine@x.com,Fine\r\nbad,Bad\r\n")
    result = run(tmp_path, "import", "contacts", str(path), "--strict", db=desk)
    assert result.returncode == 1
    assert "line 3, column email" in result.stdout
    assert result.stderr.strip().startswith("leaddesk: ")
    assert "nothing was imported" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert count(desk, "contacts") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "Nope=email"], "no column 'Nope'"),
        (["--map", "email"], "write COLUMN=FIELD"),
        (["--match", "shoe_size"], "cannot match contacts on shoe_size"),
        (["--encoding", "klingon"], "unknown encoding"),
    ],
)
def test_bad_options_refuse_the_file_in_one_line(
    tmp_path: Path, desk: str, args: list[str], message: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"email\r\nx@y.com\r\n")
    result = run(tmp_path, "import", "contacts", str(path), *args, db=desk)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert count(desk, "contacts") == 2


def test_unreadable_file(tmp_path: Path, desk: str) -> None:
    result = run(tmp_path, "import", "leads", str(tmp_path / "missing.csv"), db=desk)
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_options_reach_the_import(tmp_path: Path, desk: str) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"mail|empresa|cidade\r\nnew@x.com|Unknown Co|\r\nana@acme.example||\r\n")
    result = run(
        tmp_path,
        "import",
        "contacts",
        str(path),
        "--delimiter",
        "|",
        "--map",
        "mail=email",
        "--no-create-accounts",
        "--blank-overwrites",
        db=desk,
    )
    assert result.returncode == 0, result.stderr
    assert "line 2, column empresa: no account named 'Unknown Co'" in result.stdout
    connection = sqlite3.connect(desk)
    try:
        # --blank-overwrites: the empty company cell unlinked Ana from Acme.
        assert connection.execute(
            "SELECT account_id FROM contacts WHERE email = 'ana@acme.example'"
        ).fetchone() == (None,)
    finally:
        connection.close()


def test_export_then_import(tmp_path: Path, desk: str) -> None:
    out = tmp_path / "contacts.csv"
    result = run(tmp_path, "export", "contacts", str(out), "--delimiter", ";", "--no-bom", db=desk)
    assert result.returncode == 0, result.stderr
    assert f"Wrote 2 contacts to {out}" in result.stdout
    assert out.read_bytes().startswith(b"email;first_name;")
    again = run(tmp_path, "import", "contacts", str(out), db=desk)
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 2 skipped, 0 rejected" in again.stdout
    to_stdout = run(tmp_path, "export", "accounts", "-", db=desk)
    assert to_stdout.stdout.splitlines()[0].startswith("name,domain,industry")
    assert "Acme,acme.example" in to_stdout.stdout

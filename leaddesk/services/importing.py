"""Importing CSV files of accounts, contacts, leads, activities and external scores.

The shape of the work, and why:

- **One transaction.** Everything a file does (records, accounts and contacts it had to
  create, activity types, the re-score) commits together or not at all, so a crash, a
  kill or a cancel leaves the desk exactly as it was (DESIGN §5.1). Strict mode is the
  same transaction rolled back at the end when any row was bad.
- **Streaming.** Rows are read and written in chunks of ``CHUNK_ROWS``; only the chunk
  in hand, the rejected rows and a few id sets live in memory, so a million-row file
  costs what ten thousand rows cost. The csv module reads a batch of records at a time
  (``_Reader.batch``), their line numbers worked out per batch.
- **Bulk statements.** Existing records are looked up per chunk (``WHERE email IN``, a
  temporary table joined on the activities' covering index) and written with one
  ``executemany`` per chunk: straight DBAPI on SQLite with values pre-encoded the way
  SQLAlchemy stores them (a column every row stores the same, such as ``created_at``,
  written as a literal instead of bound a million times), Core elsewhere. A file at
  least as big as a table it writes (a first import into a new desk) writes it with its
  non-unique indexes dropped and builds them once at the end (``_IndexesAside``):
  inside the transaction, so a rollback brings them back.
- **Same rules as the forms.** Rows go through ``clean_contact``/``clean_account``, so the
  import refuses exactly what the lead form refuses, with the same words.
- **Fast paths that change nothing.** A million-row file cannot afford a few function
  layers per cell, so contacts and activities (the big files) are read by column: cells
  cleaned with one C-level ``map`` or comprehension per column, repeated values (e-mails,
  types, yes/no, property combinations) looked up in caches keyed by the raw cell, ISO
  dates parsed a column at a time, new rows written from columns. Every cache miss is
  computed by the same functions the row-by-row path uses, and any row that is not plain
  (a problem, a short row, unusual options) goes through the parser and ``validate``, so
  what is stored and reported is theirs (the tests compare both paths). The cyclic
  garbage collector is paused for the import: it would walk the chunk in hand again
  and again and find nothing to free.
- **As if logged one by one.** The leads an import touches get their
  ``last_activity_at`` in one statement and are re-scored (with the process moves the
  scores call for) inside the same transaction.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import compress, islice, repeat
from operator import getitem, is_, itemgetter
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import table as lightweight_table
from sqlalchemy.orm import Session

from leaddesk.domain import csv_format as fmt
from leaddesk.domain.activity_types import normalise_type_key
from leaddesk.domain.matching import (
    DEFAULT_MATCH,
    OPTIONAL_KEY_PARTS,
    MatchKey,
    MatchSpec,
    MatchSpecError,
    PendingRecord,
    RowMerger,
    changed_fields,
    describe_match,
    key_part,
    match_keys,
    merge_values,
    parse_match,
)
from leaddesk.domain.process import DEFAULT_STAGE_KEY
from leaddesk.domain.validation import (
    CONTACT_BOOL_FIELDS,
    CONTACT_TEXT_FIELDS,
    ValidationError,
    clean_account,
    clean_contact,
    email_problem,
    normalise_email,
)
from leaddesk.services import recompute
from leaddesk.services.errors import ServiceError
from leaddesk.store import bulk_indexes
from leaddesk.store.database import BULK_CACHE_KIB, Database
from leaddesk.store.models import (
    Account,
    Activity,
    ActivityType,
    Contact,
    ExternalScore,
    Lead,
    Stage,
    User,
)
from leaddesk.store.sqlite_values import sqlite_datetime, sqlite_naive_datetime

CHUNK_ROWS = 20_000
PREVIEW_ROWS = 20
RESCORE_BATCH = 2000
READ_BLOCK = 1 << 20
_IN_BATCH = 5000  # values per IN (...) list, well under every driver's parameter limit

Progress = Callable[[int, int], bool]
"""``progress(done, total)``: thousandths of the whole import; return False to cancel."""

CONTACT_COLUMNS = (
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
)
ACCOUNT_COLUMNS = (
    "name",
    "domain",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "state",
    "city",
)
_CONTACT_SET = frozenset(CONTACT_COLUMNS)
_CONTACT_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(CONTACT_COLUMNS),
    "is_employee": False,
    "is_customer": False,
    "email_subscribed": True,
    "custom": {},
    "account_id": None,
}
_NUMBER_FIELDS = {"annual_revenue", "score"}
_INTEGER_FIELDS = {"age", "employees", "lead_id"}
_BOOL_FIELDS = {"is_employee", "is_customer", "email_subscribed"}
_DATE_FIELDS = {"occurred_at", "updated_at"}
_IDENTITY_FIELDS = {"email", "name", "type", "occurred_at", "model", "score", "lead_id"}
"""Fields an empty cell never blanks, even with ``blank_overwrites``: they are what the
record is, not something about it."""


# --- errors -------------------------------------------------------------------------------


class ImportFileError(ServiceError):
    """The file cannot be imported at all: unreadable, empty, a required column missing,
    a mapping naming a column the file does not have."""


class ImportCancelled(ServiceError):
    def __init__(self) -> None:
        super().__init__("import cancelled; nothing was imported")


class ImportRefused(ServiceError):
    """Strict mode and some rows were bad: nothing was imported. ``report`` lists them."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        bad = len(report.rejected)
        super().__init__(
            f"{report.path} refused: {bad} row{'s' if bad != 1 else ''} cannot be imported "
            "and --strict was given; nothing was imported"
        )


# --- what an import reports ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    column: str  # the column as the file names it; "" for a problem of the whole row
    reason: str

    def describe(self, line: int) -> str:
        where = f"line {line}, column {self.column}" if self.column else f"line {line}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class RejectedRow:
    line: int  # physical line where the record starts
    cells: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def column(self) -> str:
        return self.problems[0].column if self.problems else ""

    @property
    def reason(self) -> str:
        return "; ".join(f"{p.column}: {p.reason}" if p.column else p.reason for p in self.problems)

    def lines(self) -> list[str]:
        return [p.describe(self.line) for p in self.problems]


@dataclass
class ImportReport:
    """Counts are of records: ``created`` + ``updated`` + ``unchanged`` + ``merged`` +
    rejected rows = the data rows read, except for external scores, where one row may
    score several open leads of a contact."""

    record_type: str
    path: str
    encoding: str
    delimiter: str
    headers: list[str]
    match: str = ""
    date_interpretation: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    accounts_created: int = 0
    contacts_created: int = 0
    activity_types_created: list[str] = field(default_factory=list)
    leads_rescored: int = 0
    refused: bool = False
    dry_run: bool = False

    @property
    def skipped(self) -> int:
        """Rows that changed nothing: identical to the stored record, or folded into an
        earlier row of the file for the same record."""
        return self.unchanged + self.merged

    def summary(self) -> str:
        return (
            f"{self.created:,} created, {self.updated:,} updated, {self.skipped:,} skipped, "
            f"{len(self.rejected):,} rejected"
        )


@dataclass(frozen=True)
class ColumnInfo:
    """How one column of the file is read. ``field`` is a target field of the record
    type; ``custom`` the custom field (or activity property) it is kept as; neither means
    the column is ignored. ``guessed`` is True when LeadDesk chose, False when the user
    did (the wizard marks guesses)."""

    index: int
    header: str
    field: str | None
    custom: str | None
    guessed: bool
    read_only: bool = False


@dataclass(frozen=True)
class Preview:
    """Everything the import wizard shows before anything is written."""

    record_type: str
    path: str
    encoding: str
    encoding_label: str
    encoding_detected: bool
    delimiter: str
    delimiter_label: str
    delimiter_detected: bool
    headers: list[str]
    rows: list[list[str]]  # the first rows, as cells
    row_lines: list[int]  # the file line each of those rows starts on
    columns: list[ColumnInfo]
    target_fields: tuple[str, ...]
    required_fields: tuple[tuple[str, ...], ...]
    missing_required: list[str]  # "email" when no column is mapped to it
    match: MatchSpec
    match_text: str
    date_interpretation: str
    problems: dict[int, list[Problem]]  # by line, for the preview rows
    # The whole file, validated in a rolled-back dry run (None without a database):
    total_rows: int | None = None
    rows_ok: int | None = None
    rows_with_problems: int | None = None
    to_create: int | None = None
    to_update: int | None = None
    unchanged: int | None = None
    report: ImportReport | None = None


def target_fields(record_type: str) -> tuple[str, ...]:
    _check_type(record_type)
    return fmt.TARGET_FIELDS[record_type]


def _check_type(record_type: str) -> None:
    if record_type not in fmt.RECORD_TYPES:
        raise ImportFileError(
            f"cannot import {record_type!r}; choose one of {', '.join(fmt.RECORD_TYPES)}"
        )


# --- reading the file -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    size: int
    encoding: str
    encoding_detected: bool
    delimiter: str
    delimiter_detected: bool


class _CountingReader(io.RawIOBase):
    """Counts the bytes the CSV reader has consumed, for the progress bar."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            yield block


def _open_source(path: str | Path, encoding: str | None, delimiter: str | None) -> _Source:
    file = Path(path)
    try:
        size = file.stat().st_size
        if file.is_dir():
            raise ImportFileError(f"{file} is a folder, not a CSV file")
        with file.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise ImportFileError(f"cannot read {file}: {exc.strerror or exc}") from None
    if encoding:
        try:
            chosen = fmt.encoding_name(encoding)
        except LookupError:
            raise ImportFileError(f"unknown encoding {encoding!r}") from None
        if chosen == fmt.UTF8 and head.startswith(b"\xef\xbb\xbf"):
            chosen = fmt.UTF8_BOM
        detected_encoding = False
    else:
        chosen = fmt.detect_encoding(_blocks(file))
        detected_encoding = True
    if delimiter:
        try:
            sep = fmt.delimiter_from_text(delimiter)
        except ValueError as exc:
            raise ImportFileError(str(exc)) from None
        detected_delimiter = False
    else:
        sample = head.decode(chosen, errors="replace")
        sep = fmt.detect_delimiter(sample)
        detected_delimiter = True
    return _Source(file, size, chosen, detected_encoding, sep, detected_delimiter)


class _Reader:
    """The file's records with their line numbers, failures turned into one-line
    reasons (a wrong encoding, a NUL byte, an unterminated quote)."""

    def __init__(self, source: _Source, last_line: int | None = None) -> None:
        self.source = source
        self.last_line = last_line  # records starting after it are not read
        self.raw = _CountingReader(source.path.open("rb"))
        self.text = io.TextIOWrapper(
            io.BufferedReader(self.raw, READ_BLOCK),
            encoding=source.encoding,
            newline="",
            errors="strict",
        )
        self._csv = fmt.csv_reader(self.text, source.delimiter)
        self.line = 0

    def __iter__(self) -> Iterator[fmt.Record]:
        for line, cells in self.rows():
            self.line = line
            yield fmt.Record(line, cells)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(line, cells)`` of the records not read yet (the import's hot loop; the
        preview and the header take ``fmt.Record`` objects through ``__iter__``)."""
        reader = self._csv
        line = self.line
        start = reader.line_num
        try:
            # fmt.numbered_rows, inlined: one generator per row instead of two.
            for cells in reader:
                line = start + 1
                yield line, cells
                start = reader.line_num
        except UnicodeDecodeError:
            self.line = line
            label = fmt.ENCODING_LABELS.get(self.source.encoding, self.source.encoding)
            raise ImportFileError(
                f"{self.source.path} is not {label} text (near line {self.line + 1}); "
                "choose its encoding (e.g. --encoding cp1252)"
            ) from None
        except csv.Error as exc:
            self.line = line
            raise ImportFileError(
                f"{self.source.path}: cannot read the CSV after line {self.line}: {exc}"
            ) from None
        self.line = line

    def batch(self, size: int) -> list[tuple[int, list[str]]]:
        """The next ``size`` records (fewer at the end of the file), numbered as
        ``rows`` numbers them, read by one C-level ``islice`` instead of a generator step
        per record. A record takes one line as a rule, and when the batch took as many
        lines as it has records each did, so the numbers follow. Otherwise each record
        spans one line more than the line breaks in its cells (with ``newline=""`` the
        file's lines end at ``\n``, ``\r\n`` or ``\r``, and a quoted cell keeps them as
        they are; a blank line is a record of its own). A file the csv module cannot
        read is read again by ``rows``, to fail at the same line with the same words."""
        reader = self._csv
        start = reader.line_num
        if self.last_line is not None:
            if start >= self.last_line:
                return []
            # A record takes at least one line: no more records than lines are left.
            size = min(size, self.last_line - start)
        try:
            records = list(islice(reader, size))
        except (UnicodeDecodeError, csv.Error):
            again = _Reader(self.source)
            try:
                for _numbered in again.rows():
                    pass
            finally:
                again.close()
            raise ImportFileError(f"{self.source.path}: cannot read the CSV") from None
        taken = reader.line_num - start
        if taken == len(records):
            lines = list(range(start + 1, start + taken + 1))
        else:
            lines = []
            line = start + 1
            for cells in records:
                lines.append(line)
                line += 1
                for cell in cells:
                    if "\n" in cell or "\r" in cell:
                        line += cell.count("\n") + cell.count("\r") - cell.count("\r\n")
        numbered = list(zip(lines, records, strict=True))
        if self.last_line is not None and lines and lines[-1] > self.last_line:
            numbered = [(line, cells) for line, cells in numbered if line <= self.last_line]
            lines = lines[: len(numbered)]
        if lines:
            self.line = lines[-1]
        return numbered

    @property
    def bytes_read(self) -> int:
        return self.raw.count

    def close(self) -> None:
        self.text.close()


def _header_and_rows(reader: _Reader) -> tuple[list[str], Iterator[fmt.Record]]:
    records = iter(reader)
    for record in records:
        if not fmt.is_blank(record.cells):
            return fmt.dedupe_headers(record.cells), records
    raise ImportFileError(f"{reader.source.path} is empty: no header row")


# --- columns and mapping --------------------------------------------------------------------

_IGNORE = {"", "-", "ignore", "none", "skip"}


def resolve_columns(
    headers: Sequence[str], record_type: str, mapping: Mapping[str, str | None] | None = None
) -> list[ColumnInfo]:
    """The guessed mapping with the user's choices laid over it.

    ``mapping`` maps a column (as the file names it, or any spelling that normalises
    the same) to a target field, to ``custom`` / ``custom.NAME`` (``property.NAME``) to
    keep it as a custom field or property, or to ``""``/``-``/None to ignore it. A field
    the user gives to one column is taken from whichever column had guessed it.
    """
    _check_type(record_type)
    targets = fmt.TARGET_FIELDS[record_type]
    read_only = fmt.READ_ONLY_FIELDS.get(record_type, frozenset())
    guesses = fmt.guess_mapping(headers, record_type)
    chosen: dict[int, tuple[str | None, str | None]] = {}
    by_header = {h: i for i, h in enumerate(headers)}
    by_norm: dict[str, int] = {}
    for i, h in enumerate(headers):
        by_norm.setdefault(fmt.normalise_header(h), i)
    for name, target in (mapping or {}).items():
        index = by_header.get(name.strip())
        if index is None:
            index = by_norm.get(fmt.normalise_header(name))
        if index is None:
            raise ImportFileError(
                f"the file has no column {name!r} (its columns: {', '.join(headers)})"
            )
        value = (target or "").strip()
        if value.lower() in _IGNORE:
            chosen[index] = (None, None)
        elif value.lower() in ("custom", "property"):
            chosen[index] = (None, _custom_name(headers[index]))
        elif value.lower().startswith(("custom.", "property.")):
            name = value.split(".", 1)[1].strip()
            if not name:
                raise ImportFileError(f"give the custom field for column {name!r} a name")
            chosen[index] = (None, name)
        elif value in targets:
            chosen[index] = (value, None)
        else:
            raise ImportFileError(
                f"cannot map column {name!r} to {value!r}: {record_type} have the fields "
                f"{', '.join(targets)} (or custom.NAME, or - to ignore the column)"
            )
    user_fields = {f for f, _ in chosen.values() if f}
    out: list[ColumnInfo] = []
    for i, (header, guess) in enumerate(zip(headers, guesses, strict=True)):
        if i in chosen:
            target, custom = chosen[i]
            guessed = False
        else:
            target = guess.field if guess.field not in user_fields else None
            custom = None if target else _custom_name(header)
            guessed = True
        out.append(ColumnInfo(i, header, target, custom, guessed, read_only=target in read_only))
    return out


def _custom_name(header: str) -> str:
    """``custom.x`` is how an export writes a custom field whose name is also a standard
    column; anything else is kept under the column's own name."""
    if header.lower().startswith("custom.") and len(header) > 7:
        return header[7:]
    return header


def _missing_required(columns: Sequence[ColumnInfo], record_type: str) -> list[str]:
    mapped = {c.field for c in columns if c.field}
    return [
        " or ".join(group)
        for group in fmt.REQUIRED_FIELDS[record_type]
        if not mapped.intersection(group)
    ]


# --- rows -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    line: int
    cells: list[str]
    values: dict[str, Any]
    custom: dict[str, Any]


class _RowRejected(Exception):
    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = dict(problems)  # keyed by field name or column header


@dataclass(frozen=True)
class _Options:
    record_type: str
    now: datetime
    match: MatchSpec
    strict: bool
    create_accounts: bool
    blank_overwrites: bool
    user_id: int | None
    date_order: fmt.DateOrder
    decimal_comma: bool | None


_SECONDS = b"0000-00-00T00:00:00Z"
_MICROSECONDS = b"0000-00-00T00:00:00.000000Z"
_ISO_SHAPES = frozenset(
    b"0000-00-00T00:00:00" + (b"." + b"0" * digits if digits else b"") + b"Z" for digits in range(7)
)
"""The forms of an ISO 8601 UTC cell the column reader takes (an export writes the
first, or the second when there are microseconds), every digit written as 0."""
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_STORED_WIDTH = slice(0, 26)  # len("2026-11-22 14:05:00.000000")


def _iso_utc_column(cells: Sequence[str]) -> tuple[list[datetime], list[str] | None] | None:
    """A column of ISO 8601 UTC cells (``2026-11-22T14:05:00.123456Z``, as an export
    writes them) → naive UTC datetimes; None when any cell is of another form or not a
    real date. For such a cell ``fmt.parse_datetime_utc`` is exactly ``fromisoformat``
    and dropping the UTC zone, which ``fromisoformat`` of the cell without its ``Z`` is.
    Whether every cell has such a form is asked of the whole column at once: its digits
    turned into 0 by one ``bytes.translate``, the distinct shapes compared with the
    allowed ones.

    Also, when every cell has whole seconds or all six digits of microseconds, the
    times as SQLite stores them (``sqlite_datetime``: a space for ``T``, six digits of
    microseconds, no ``Z``), by string operations on the whole column instead of an
    ``isoformat`` per row."""
    if not cells:
        return None
    joined = "\n".join(cells)
    try:
        shaped = joined.encode("ascii").translate(_DIGITS_AS_ZERO)
    except UnicodeEncodeError:
        return None
    if not set(shaped.split(b"\n")) <= _ISO_SHAPES:
        return None
    naive = joined.replace("Z", "").split("\n")
    if len(naive) != len(cells):
        return None  # a cell with a line break in it
    try:
        whens = list(map(datetime.fromisoformat, naive))
    except ValueError:
        return None
    texts = None
    widths = set(map(len, cells))
    # (An hour 24, which some Pythons read as the next day, is left to ``isoformat``.)
    if widths <= {len(_SECONDS), len(_MICROSECONDS)} and "T24" not in joined:
        # Whole seconds gain ".000000"; a cell with microseconds then has seven
        # characters too many, which the slice takes off again.
        texts = joined.replace("T", " ").replace("Z", ".000000").split("\n")
        if len(_MICROSECONDS) in widths:
            texts = list(map(getitem, texts, repeat(_STORED_WIDTH)))
    return whens, texts


def _cell(raw: str) -> str:
    """A cell as ``_RowParser.parse`` reads it: stripped, and a formula an export
    neutralised given back."""
    cell = raw.strip()
    if cell and cell[0] == "'":
        cell = fmt.restore_neutralised(cell)
    return cell


class _RowParser:
    """Cells → typed values per the column mapping. Problems are collected per column so
    a row reports everything wrong with it at once. The per-column plan (converter
    chosen once) keeps this loop cheap: it runs for every cell of a million-row file."""

    def __init__(self, columns: Sequence[ColumnInfo], options: _Options) -> None:
        self.width = len(columns)
        self.options = options
        self.plan: list[tuple[int, str, str | None, str | None, Callable[[str], Any] | None]] = [
            (c.index, c.header, c.field, c.custom, self._converter(c.field))
            for c in columns
            if (c.field and not c.read_only) or c.custom
        ]
        self.custom_columns = [(i, key) for i, _h, _f, key, _c in self.plan if key is not None]
        positions = [i for i, _key in self.custom_columns]
        self.custom_key: Callable[[Sequence[str]], tuple[str, ...]]
        if len(positions) > 1:
            self.custom_key = itemgetter(*positions)
        elif positions:
            only = positions[0]
            self.custom_key = lambda cells: (cells[only],)
        else:
            self.custom_key = lambda _cells: ()

    def single_fields(self) -> dict[str, tuple[int, Callable[[str], Any] | None]] | None:
        """Each mapped field's column and converter, or None when a field is read from
        more than one column (the later non-empty cell wins; only ``parse`` does that)."""
        out: dict[str, tuple[int, Callable[[str], Any] | None]] = {}
        for index, _header, name, custom_key, convert in self.plan:
            if custom_key is not None or name is None:
                continue
            if name in out:
                return None
            out[name] = (index, convert)
        return out

    def convert(self, name: str, cell: str) -> Any:
        """One field's value from a stripped, non-empty cell, as ``parse`` reads it;
        raises ValueError with the problem."""
        for _index, _header, field_name, _custom, convert in self.plan:
            if field_name == name:
                return cell if convert is None else convert(cell)
        raise KeyError(name)

    def custom_values(self, raw: Sequence[str]) -> dict[str, Any]:
        """The custom fields (or properties) of a row from the raw cells of its custom
        columns (``custom_key(cells)``), as ``parse`` builds them."""
        blank = self.options.blank_overwrites
        out: dict[str, Any] = {}
        for value, (_index, key) in zip(raw, self.custom_columns, strict=True):
            cell = _cell(value)
            if cell:
                out[key] = cell
            elif blank:
                out[key] = None
        return out

    def _converter(self, name: str | None) -> Callable[[str], Any] | None:
        decimal_comma = self.options.decimal_comma
        if name in _DATE_FIELDS:
            order = self.options.date_order
            return lambda cell: fmt.parse_datetime_utc(cell, order)
        if name in _INTEGER_FIELDS:

            def integer(cell: str) -> int:
                if cell.isdigit():
                    return int(cell)
                try:
                    return fmt.parse_integer(cell, decimal_comma=decimal_comma)
                except ValueError:
                    raise ValueError("must be a whole number") from None

            return integer
        if name in _NUMBER_FIELDS:

            def number(cell: str) -> float:
                if cell.isdigit():
                    return float(cell)
                try:
                    return fmt.parse_number(cell, decimal_comma=decimal_comma)
                except ValueError:
                    raise ValueError("must be a number") from None

            return number
        if name in _BOOL_FIELDS:

            def boolean(cell: str) -> bool | None:
                try:
                    return fmt.parse_bool(cell)
                except ValueError:
                    raise ValueError("must be yes or no") from None

            return boolean
        return None

    def parse(self, record: fmt.Record) -> _Row:
        return self.parse_cells(record.line, record.cells)

    def parse_cells(self, line: int, cells: list[str]) -> _Row:
        width = len(cells)
        problems: dict[str, str] = {}
        if width > self.width and any(c.strip() for c in cells[self.width :]):
            problems[""] = f"the row has {width} cells but the header has {self.width} columns"
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        blank = self.options.blank_overwrites
        for index, header, name, custom_key, convert in self.plan:
            cell = cells[index].strip() if index < width else ""
            if cell and cell[0] == "'":
                cell = fmt.restore_neutralised(cell)
            if custom_key is not None:
                if cell:
                    custom[custom_key] = cell
                elif blank:
                    custom[custom_key] = None
                continue
            assert name is not None
            if not cell:
                if blank and name not in _IDENTITY_FIELDS:
                    values[name] = None
                continue
            if convert is None:
                values[name] = cell
                continue
            try:
                values[name] = convert(cell)
            except ValueError as exc:
                problems[header] = str(exc)
        if problems:
            raise _RowRejected(problems)
        return _Row(line, cells, values, custom)


# --- writing --------------------------------------------------------------------------------


def _encoder(table: Table, name: str) -> Callable[[Any], Any] | None:
    kind = table.c[name].type
    if isinstance(kind, JSON):
        return _json_text
    if isinstance(kind, DateTime):
        return _memo_datetime()
    return None


def _memo_datetime() -> Callable[[datetime], str]:
    """``created_at``/``updated_at`` are the same instant on every row of an import."""
    last: list[Any] = [None, ""]

    def encode(value: datetime) -> str:
        if value is not last[0]:
            last[0], last[1] = value, sqlite_datetime(value)
        return str(last[1])

    return encode


def _sql_constant(values: Sequence[Any]) -> str | None:
    """The SQL literal of a column whose every value is stored the same (one text,
    integer, yes/no or NULL on every row), else None. Such a column is written as a
    literal in the INSERT instead of bound per row: binding a text costs the driver a
    copy per row, which for ``created_at`` over a million activities is a quarter of
    the ``executemany``. The literal stores exactly what binding does (same value,
    same storage class: a column's affinity applies to both alike). Floats are never
    taken (``0.0`` and ``-0.0`` are equal but stored apart), nor text with a NUL."""
    if not values:
        return None
    first = values[0]
    kind = type(first)
    if kind not in _LITERAL_TYPES or values[-1] != first or values.count(first) != len(values):
        return None
    if kind is not str and first is not None and set(map(type, values)) != {kind}:
        return None  # 1 == True == 1.0: equal values of another type
    if first is None:
        return "NULL"
    if kind is str:
        return None if "\x00" in first else "'" + first.replace("'", "''") + "'"
    return str(int(first))


_LITERAL_TYPES = frozenset({str, int, bool, type(None)})


def _insert_statement(
    table: str, names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> tuple[str, list[Sequence[Any]]]:
    """``INSERT INTO table (names) VALUES (...)`` with the columns (but the first)
    every row stores the same as literals (``_sql_constant``), and the columns left to
    bind."""
    slots: list[str] = []
    bound: list[Sequence[Any]] = []
    for n, values in enumerate(columns):
        # The first column (the ids) is always bound: a statement needs a parameter
        # per row to be run once per row.
        literal = _sql_constant(values) if n else None
        if literal is None:
            slots.append("?")
            bound.append(values)
        else:
            slots.append(literal)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(slots)})"
    return sql, bound


def _blank_as_none(cells: Iterable[Any]) -> list[Any]:
    """A column's "" as None, other cells as they are. Not a dict look-up per cell: that
    hashes every text; a column with no "" is one C-level scan and a copy."""
    column = cells if isinstance(cells, list | tuple) else list(cells)
    if "" not in column:
        return list(column)
    return [None if cell == "" else cell for cell in column]


def _json_column(values: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """Custom fields as stored (``_json_text`` of the value, ``{}`` for none), each
    distinct set of fields encoded once: a file repeats the same few again and again."""
    cache: dict[tuple[tuple[str, Any], ...], str] = {}
    out: list[str] = []
    for value in values:
        if not value:
            out.append("{}")
            continue
        key = tuple(value.items())
        text_ = cache.get(key)
        if text_ is None:
            text_ = cache[key] = _json_text(value)
        out.append(text_)
    return out


def _json_text(value: Any) -> str:
    return json.dumps(value) if value else ("{}" if isinstance(value, dict) else json.dumps(value))


class _Store:
    """Bulk writes: DBAPI ``executemany`` with pre-encoded values on SQLite (ids assigned
    after the current maximum, as the demo generator does), Core with RETURNING
    elsewhere."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.raw = session.get_bind().dialect.name == "sqlite"
        self._next: dict[str, int] = {}
        self.max_before: dict[str, int] = {}

    def max_id(self, table: Table) -> int:
        if table.name not in self.max_before:
            self.max_before[table.name] = int(
                self.session.scalar(select(func.max(table.c.id))) or 0
            )
        return self.max_before[table.name]

    def driver(self) -> Any:
        """The DBAPI connection under the session's transaction."""
        return self.session.connection().connection.driver_connection

    def cursor(self) -> Any:
        return self.driver().cursor()

    def encode(self, table: Table, name: str, value: Any) -> Any:
        if value is None or not self.raw:
            return value
        encoder = _encoder(table, name)
        return value if encoder is None else encoder(value)

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        if not rows:
            return []
        if self.raw:
            names = list(rows[0])
            # Column by column: each column in one C-level ``map``.
            return self.insert_columns(
                table, names, [list(map(itemgetter(n), rows)) for n in names]
            )
        self.max_id(table)
        result = self.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(r[0]) for r in result]

    def insert_columns(
        self,
        table: Table,
        names: Sequence[str],
        columns: list[list[Any]],
        encoded: Set[str] = frozenset(),
    ) -> list[int]:
        """SQLite: rows given as columns of Python values (one list per name), encoded
        the way SQLAlchemy stores them (JSON, times: one comprehension per column;
        ``encoded`` names columns given as stored text already) and written with ids
        after the current maximum, in one ``executemany``."""
        count = len(columns[0])
        start = self._next.get(table.name) or self.max_id(table) + 1
        ids = list(range(start, start + count))
        self._next[table.name] = start + count
        for j, name in enumerate(names):
            encoder = _encoder(table, name)
            if encoder is None or name in encoded:
                continue
            values = columns[j]
            first = values[0]
            if first is not None and len(set(map(id, values))) == 1:
                # One object for the whole column (created_at, updated_at): encoded once.
                columns[j] = [encoder(first)] * count
            else:
                columns[j] = [None if v is None else encoder(v) for v in values]
        sql, bound = _insert_statement(table.name, ["id", *names], [ids, *columns])
        self.executemany(sql, list(zip(*bound, strict=True)))
        return ids

    def insert_plain(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(table), list(rows))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cursor = self.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def update(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """``rows`` are ``{"id": ..., column: value, ...}``; one executemany per set of
        columns changed."""
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
        for names, group in groups.items():
            if not names:
                continue
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({n: bindparam(f"b_{n}") for n in names})
            )
            self.session.execute(
                statement,
                [{"b_id": r["id"], **{f"b_{n}": r[n] for n in names}} for r in group],
                execution_options={"synchronize_session": False},
            )

    def created_here(self, table: Table, record_id: int) -> bool:
        return record_id > self.max_id(table)


INDEXES_ASIDE_MIN_ROWS = 20_000
"""Files of at least this many rows (estimated from the first chunk), and at least as
many as a table they write to holds, are written with that table's indexes set aside
(``_IndexesAside``)."""


class _IndexesAside:
    """Indexes dropped for the rest of a big import and built again, as they were
    defined, at its end: on a table the file at least doubles, maintaining each B-tree
    row by row costs more than building it once from the finished table (a third of
    writing a million activities). Unique indexes stay: they are constraints.

    SQLite's DDL is part of the transaction, so a cancel, a kill or a refused file
    leaves the indexes exactly as they were. Only on SQLite, and only inside the
    import's open transaction (outside one, a DROP would be committed at once). The
    importer must call ``restore`` before anything it runs reads those tables by an
    index (``finish``), or fall back to it as soon as it needs one."""

    def __init__(self) -> None:
        self.statements: list[str] = []  # CREATE INDEX statements of the indexes dropped

    def __bool__(self) -> bool:
        return bool(self.statements)

    @staticmethod
    def worth_it(ctx: _Context, tables: Sequence[str]) -> list[str]:
        """Those of ``tables`` the file (estimated from the chunk in hand and the bytes
        read) will at least double, when it is big enough for this to pay."""
        store = ctx.store
        if not store.raw:
            return []
        estimate = len(ctx.records) * ctx.file_size // max(ctx.bytes_read, 1)
        if estimate < INDEXES_ASIDE_MIN_ROWS:
            return []
        driver = store.session.connection().connection.driver_connection
        if not getattr(driver, "in_transaction", False):
            return []
        cursor = store.cursor()
        try:
            return [
                table
                for table in tables
                if int(cursor.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) <= estimate
            ]
        finally:
            cursor.close()

    def set_aside(self, store: _Store, tables: Sequence[str]) -> None:
        self.statements += bulk_indexes.set_aside(store.driver(), tables)

    def restore(self, store: _Store) -> None:
        if not self.statements:
            return
        bulk_indexes.restore(store.driver(), self.statements)
        self.statements = []


def _batches(items: Sequence[Any], size: int = _IN_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_TEMP_IDS = "_leaddesk_import_ids"
_TEMP_KEYS = "_leaddesk_import_keys"


def _temp_tables(session: Session) -> None:
    """Scratch tables private to this connection (TEMP), for joins against big id sets
    that would not fit in one IN list."""
    session.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {_TEMP_IDS} (id INTEGER PRIMARY KEY, at TIMESTAMP)")
    )
    session.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TEMP_KEYS} (n INTEGER PRIMARY KEY, "
            "contact_id INTEGER, type_key VARCHAR(60), occurred_at TIMESTAMP)"
        )
    )
    session.execute(text(f"DELETE FROM {_TEMP_IDS}"))
    session.execute(text(f"DELETE FROM {_TEMP_KEYS}"))


_ids_table = lightweight_table(_TEMP_IDS, column("id", Integer), column("at", DateTime))


def _temp_ids() -> Any:
    return select(_ids_table.c.id)


def _drop_temp_tables(session: Session) -> None:
    session.execute(text(f"DROP TABLE IF EXISTS {_TEMP_IDS}"))
    session.execute(text(f"DROP TABLE IF EXISTS {_TEMP_KEYS}"))


def _fill_temp_ids(store: _Store, values: Mapping[int, datetime | None]) -> None:
    """The scratch table holds these ids, each with a time (stored as the DateTime
    columns it is compared with store theirs)."""
    store.session.execute(text(f"DELETE FROM {_TEMP_IDS}"))
    rows: Iterable[tuple[int, Any]] = values.items()
    if store.raw and any(values.values()):
        ats = list(values.values())
        if None in ats:
            rows = [(i, None if at is None else sqlite_datetime(at)) for i, at in rows]
        else:
            rows = zip(values, map(sqlite_naive_datetime, cast(list[datetime], ats)), strict=True)
    if store.raw:
        store.executemany(f"INSERT INTO {_TEMP_IDS} (id, at) VALUES (?, ?)", rows)
    else:
        for batch in _batches(list(rows)):
            store.session.execute(
                text(f"INSERT INTO {_TEMP_IDS} (id, at) VALUES (:id, :at)"),
                [{"id": i, "at": at} for i, at in batch],
            )


def _align_custom(stored: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Incoming custom cells that say what is stored keep the stored value (and type)."""
    out = dict(incoming)
    for key, value in incoming.items():
        if (
            stored
            and key in stored
            and isinstance(value, str)
            and fmt.format_cell(stored[key]) == value
        ):
            out[key] = stored[key]
    return out


# --- importers ------------------------------------------------------------------------------


class _Context:
    def __init__(
        self, session: Session, options: _Options, report: ImportReport, header_of: dict[str, str]
    ) -> None:
        self.session = session
        self.options = options
        self.report = report
        self.store = _Store(session)
        self.header_of = header_of
        self.parser: _RowParser | None = None
        self.records: list[tuple[int, list[str]]] = []  # the chunk in hand, as read
        self.file_size = 0  # bytes, and how many of them were read so far: how many rows
        self.bytes_read = 0  # the file holds, estimated from the chunks in hand
        self._cells: dict[int, list[str]] | None = None

    @property
    def cells(self) -> dict[int, list[str]]:
        """The chunk's cells by line, for rejecting the lines of a merged record; built
        on the first such rejection, not for every row."""
        if self._cells is None:
            self._cells = dict(self.records)
        return self._cells

    def next_chunk(self) -> None:
        self.records = []
        self._cells = None

    def reject(self, line: int, cells: Sequence[str], problems: Mapping[str, str]) -> None:
        listed = tuple(
            Problem(self.header_of.get(key, key), reason) for key, reason in problems.items()
        )
        self.report.rejected.append(RejectedRow(line, tuple(cells), listed))

    def reject_lines(self, lines: Iterable[int], problems: Mapping[str, str]) -> None:
        for line in lines:
            self.reject(line, self.cells.get(line, []), problems)


class _AccountIndex:
    """Every account's domain and name keys, for resolving the ``account`` column of
    contacts and leads (accounts are few next to contacts: tens of thousands)."""

    def __init__(self, session: Session) -> None:
        self.by_domain: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.keys: dict[int, tuple[str, str]] = {}
        # key_part of the cells a file names (each company is looked up a few times).
        self._name_keys: dict[Any, str] = {}
        self._domain_keys: dict[Any, str] = {}
        for account_id, name, domain in session.execute(
            select(Account.id, Account.name, Account.domain).order_by(Account.id)
        ):
            self.add(account_id, name, domain)

    def add(self, account_id: int, name: str | None, domain: str | None) -> None:
        self.add_keys(account_id, key_part("name", name), key_part("domain", domain))

    def add_keys(self, account_id: int, name_key: str, domain_key: str) -> None:
        """``add`` with the keys computed already."""
        self.keys[account_id] = (name_key, domain_key)
        if domain_key:
            self.by_domain.setdefault(domain_key, account_id)
        if name_key:
            self.by_name.setdefault(name_key, account_id)

    def key(self, field_name: str, value: Any) -> str:
        """``key_part`` of a name or domain cell, memoised."""
        cache = self._domain_keys if field_name == "domain" else self._name_keys
        found = cache.get(value)
        if found is None:
            if len(cache) > 200_000:
                cache.clear()
            found = cache[value] = key_part(field_name, value)
        return found

    def find(self, name: str | None, domain: str | None) -> int | None:
        domain_key = self.key("domain", domain)
        if domain_key and domain_key in self.by_domain:
            return self.by_domain[domain_key]
        name_key = self.key("name", name)
        if name_key and (not domain_key) and name_key in self.by_name:
            return self.by_name[name_key]
        if name_key and domain_key and name_key in self.by_name:
            # A known company under a domain it does not have yet: the same company.
            found = self.by_name[name_key]
            return found if not self.keys[found][1] else None
        return None

    def describes(self, account_id: int | None, name: str | None, domain: str | None) -> bool:
        """Whether the file's account cells describe this stored account (so a contact
        already linked to one of two same-named companies stays where it is)."""
        if account_id is None or account_id not in self.keys:
            return False
        name_key, domain_key = self.keys[account_id]
        wanted_domain = key_part("domain", domain)
        wanted_name = key_part("name", name)
        if wanted_domain:
            return wanted_domain == domain_key
        return bool(wanted_name) and wanted_name == name_key


class _AccountRefs:
    """Resolves (account name, account domain) cells to account ids, creating the
    accounts a file names when allowed. New accounts are written before the rows that
    need them, once per chunk."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.index = _AccountIndex(ctx.session)
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        # Files name the same few companies over and over: answers are cached per cells.
        self._checked: dict[tuple[Any, Any], dict[str, str]] = {}
        self._resolved: dict[tuple[Any, Any], int] = {}

    def check(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Problems with a row's account cells, before anything is written."""
        return self.check_pair(values.get("account"), values.get("account_domain"))

    def check_pair(self, name: Any, domain: Any) -> dict[str, str]:
        if not name and not domain:
            return {}
        cached = self._checked.get((name, domain))
        if cached is None:
            cached = self._checked[(name, domain)] = self._check(name, domain)
        return dict(cached) if cached else {}

    def _check(self, name: Any, domain: Any) -> dict[str, str]:
        if self.index.find(name, domain) is not None:
            return {}
        if not self.ctx.options.create_accounts:
            if domain:
                return {"account_domain": f"no account with domain {domain!r}"}
            return {"account": f"no account named {name!r}"}
        try:
            cleaned = clean_account({"name": name or domain, "domain": domain}, creating=True)
        except ValidationError as exc:
            return {
                ("account_domain" if k == "domain" else "account"): v for k, v in exc.errors.items()
            }
        key = (
            self.index.key("name", cleaned["name"]),
            self.index.key("domain", cleaned.get("domain")),
        )
        self.pending.setdefault(key, cleaned)
        return {}

    def flush(self) -> None:
        if not self.pending:
            return
        now = self.ctx.options.now
        rows = []
        for cleaned in self.pending.values():
            row = {**dict.fromkeys(ACCOUNT_COLUMNS), **cleaned}
            row.update(custom={}, created_at=now, updated_at=now)
            rows.append(row)
        ids = self.ctx.store.insert(Account.__table__, rows)  # type: ignore[arg-type]
        # The pending keys are the rows' name and domain keys (``_check``).
        for account_id, (name_key, domain_key) in zip(ids, self.pending, strict=True):
            self.index.add_keys(account_id, name_key, domain_key)
        self.ctx.report.accounts_created += len(ids)
        self.pending.clear()

    def resolve(self, values: Mapping[str, Any]) -> int | None:
        return self.resolve_pair(values.get("account"), values.get("account_domain"))

    def resolve_pair(self, name: Any, domain: Any) -> int | None:
        if not name and not domain:
            return None
        found = self._resolved.get((name, domain))
        if found is None:
            found = self.index.find(name, domain)
            if found is not None:
                self._resolved[(name, domain)] = found
        return found


class _Importer:
    """One record type. ``validate`` runs per row (no database writes), ``process`` per
    chunk of valid rows, ``finish`` once at the end and returns the leads to re-score."""

    chunk_rows = CHUNK_ROWS

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.options = ctx.options
        self.report = ctx.report
        self.store = ctx.store
        assert ctx.parser is not None
        self.parser: _RowParser = ctx.parser

    def validate(self, row: _Row) -> dict[str, Any]:
        raise NotImplementedError

    def prepare(self, records: Sequence[tuple[int, list[str]]]) -> list[Any]:
        """The rows of ``records`` that can be imported, parsed and validated, in file
        order (what ``process`` takes); the others are rejected here. Row by row through
        the parser and ``validate``; importers with a faster way for the common case
        override this and fall back to it for any row that is not plain."""
        parse = self.parser.parse_cells
        validate = self.validate
        reject = self.ctx.reject
        out: list[Any] = []
        for line, cells in records:
            try:
                row = parse(line, cells)
                values = validate(row)
            except _RowRejected as exc:
                reject(line, cells, exc.problems)
                continue
            out.append((row, values))
        return out

    def process(self, rows: list[Any]) -> None:
        raise NotImplementedError

    def finish(self) -> list[int]:
        return []

    def count(
        self, record_id: int | None, created_earlier: bool, lines: int, changed: bool
    ) -> None:
        """Counts for one record of a chunk; ``created_earlier``: the record was created
        or already updated by an earlier chunk of this same file."""
        if record_id is None:
            self.report.created += 1
            self.report.merged += lines - 1
        elif created_earlier:
            self.report.merged += lines
        elif changed:
            self.report.updated += 1
            self.report.merged += lines - 1
        else:
            self.report.unchanged += 1
            self.report.merged += lines - 1


def _leads_of(
    session: Session,
    store: _Store,
    contact_ids: Iterable[int],
    account_ids: Iterable[int],
    *,
    filled: bool = False,
) -> list[int]:
    """Leads whose facts read these contacts or accounts (their own leads, the leads of
    the accounts' contacts, and account-only leads), via a temporary table. Core
    statements on the session's connection: the ORM would load a hundred thousand ids
    one row object at a time. ``filled``: the scratch table holds exactly the contact
    ids already (``_fill_temp_ids``), so they are not written again."""
    out: set[int] = set()
    contacts = sorted(set(contact_ids))
    accounts = sorted(set(account_ids))
    connection = session.connection()
    if contacts:
        if not filled:
            _fill_temp_ids(store, dict.fromkeys(contacts))
        ids_table = _temp_ids()
        out.update(
            connection.scalars(
                select(Lead.id).where(
                    or_(
                        Lead.contact_id.in_(ids_table),
                        Lead.contact_id.is_(None)
                        & Lead.account_id.in_(
                            select(Contact.account_id).where(Contact.id.in_(ids_table))
                        ),
                    )
                )
            )
        )
    if accounts:
        _fill_temp_ids(store, dict.fromkeys(accounts))
        ids_table = _temp_ids()
        out.update(
            connection.scalars(
                select(Lead.id).where(
                    or_(
                        Lead.account_id.in_(ids_table),
                        Lead.contact_id.in_(
                            select(Contact.id).where(Contact.account_id.in_(ids_table))
                        ),
                    )
                )
            )
        )
    return sorted(out)


def _contacts_by_email(store: _Store, emails: Iterable[str]) -> dict[str, tuple[int, int | None]]:
    """(id, account id) of the contacts with these (normalised) e-mails. Plain SQL on
    SQLite: compiling a 5,000-value IN list through SQLAlchemy costs more than running
    it."""
    out: dict[str, tuple[int, int | None]] = {}
    ordered = sorted(e for e in emails if e)
    for batch in _batches(ordered):
        if store.raw:
            cursor = store.cursor()
            try:
                rows = cursor.execute(
                    "SELECT email, id, account_id FROM contacts WHERE email IN "
                    f"({', '.join('?' * len(batch))})",
                    list(batch),
                ).fetchall()
            finally:
                cursor.close()
        else:
            rows = list(
                store.session.execute(
                    select(Contact.email, Contact.id, Contact.account_id).where(
                        Contact.email.in_(batch)
                    )
                )
            )
        for email, cid, account_id in rows:
            out[email] = (cid, account_id)
    return out


def _clean(values: Mapping[str, Any], cleaner: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    try:
        return cleaner(values, creating=False)
    except ValidationError as exc:
        raise _RowRejected(exc.errors) from None


# accounts -----------------------------------------------------------------------------------


class _Accounts(_Importer):
    def __init__(self, ctx: _Context) -> None:
        super().__init__(ctx)
        self.table: Table = Account.__table__  # type: ignore[assignment]
        self.spec = self.options.match
        needed = sorted({f for alt in self.spec for f in alt} | {"name", "domain"})
        self.index: list[dict[MatchKey, int]] = [{} for _ in self.spec]
        self.keys_of: dict[int, list[MatchKey | None]] = {}
        for row in ctx.session.execute(
            select(Account.id, *(getattr(Account, f) for f in needed)).order_by(Account.id)
        ):
            self._index(row[0], dict(zip(needed, row[1:], strict=True)))
        self.touched: set[int] = set()

    def _index(self, account_id: int, values: Mapping[str, Any]) -> None:
        keys = match_keys(values, self.spec)
        self.keys_of[account_id] = keys
        for i, key in enumerate(keys):
            if key is not None:
                self.index[i].setdefault(key, account_id)

    def validate(self, row: _Row) -> dict[str, Any]:
        values = {k: v for k, v in row.values.items() if k in ACCOUNT_COLUMNS}
        cleaned = _clean(values, clean_account)
        if row.custom:
            cleaned["custom"] = row.custom
        return cleaned

    def process(self, rows: list[tuple[_Row, dict[str, Any]]]) -> None:
        merger = RowMerger(self.spec, blank_overwrites=self.options.blank_overwrites)
        for row, values in rows:
            merger.add(
                values, row.line, lambda i, key: self.index[i].get(key), self.keys_of.__getitem__
            )
        ids = [r.existing_id for r in merger.records if r.existing_id is not None]
        stored: dict[int, dict[str, Any]] = {}
        for batch in _batches(ids):
            for found in self.ctx.session.execute(
                select(
                    Account.id, Account.custom, *(getattr(Account, c) for c in ACCOUNT_COLUMNS)
                ).where(Account.id.in_(batch))
            ):
                stored[found[0]] = {
                    "custom": found[1] or {},
                    **dict(zip(ACCOUNT_COLUMNS, found[2:], strict=True)),
                }
        now = self.options.now
        creates: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in merger.records:
            if record.existing_id is None:
                if not record.values.get("name"):
                    self.ctx.reject_lines(record.lines, {"name": "a company name is required"})
                    continue
                new: dict[str, Any] = {**dict.fromkeys(ACCOUNT_COLUMNS), "custom": {}}
                new.update({k: v for k, v in record.values.items() if v is not None})
                new.update(created_at=now, updated_at=now)
                creates.append(new)
                self.count(None, False, len(record.lines), True)
                continue
            current = stored[record.existing_id]
            incoming = dict(record.values)
            if "custom" in incoming:
                incoming["custom"] = _align_custom(current["custom"], incoming["custom"])
            if incoming.get("name") is None and "name" in incoming:
                del incoming["name"]  # a name is required; never blanked
            merged = merge_values(current, incoming, blank_overwrites=self.options.blank_overwrites)
            changes = changed_fields(current, merged)
            earlier = self.store.created_here(self.table, record.existing_id) or (
                record.existing_id in self.touched
            )
            self.count(record.existing_id, earlier, len(record.lines), bool(changes))
            if changes:
                updates.append({"id": record.existing_id, **changes, "updated_at": now})
                self.touched.add(record.existing_id)
                self._index(record.existing_id, merged)
        ids_new = self.store.insert(self.table, creates)
        for account_id, created in zip(ids_new, creates, strict=True):
            self._index(account_id, created)
        self.store.update(self.table, updates)

    def finish(self) -> list[int]:
        return _leads_of(self.ctx.session, self.store, (), self.touched)


# contacts -----------------------------------------------------------------------------------

_BAD: Any = object()
"""A cell the fast path leaves to the parser: the row takes the row-by-row path."""
_MISSING: Any = object()


@dataclass(frozen=True)
class _ContactColumns:
    email: int
    text: list[tuple[str, int]]
    age: int | None
    flags: list[tuple[str, int]]
    account: int | None
    account_domain: int | None


def _text_column(cells: Sequence[str], *, clean: bool = True, role: bool = False) -> list[str]:
    """A text column as ``parse`` and then ``clean_contact`` (``clean``) leave it:
    stripped ("" for an empty cell: no value), a formula an export neutralised given
    back (and stripped again by ``clean``). Plain cells cost one C-level ``strip``
    each; whether any starts with ``'`` is asked of the joined column. ``role``: buying
    roles are lower case with underscores."""
    out = list(map(str.strip, cells))
    joined = "\x00".join(out)
    if joined.startswith("'") or "\x00'" in joined:
        restore = fmt.restore_neutralised
        # Never empty: the restored text ends with the cell's last character.
        if clean:
            out = [restore(c).strip() if c[:1] == "'" else c for c in out]
        else:
            out = [restore(c) if c[:1] == "'" else c for c in out]
    if role:
        out = [c.lower().replace(" ", "_") for c in out]
    return out


class _Contacts(_Importer):
    def __init__(self, ctx: _Context) -> None:
        super().__init__(ctx)
        self.table: Table = Contact.__table__  # type: ignore[assignment]
        self.spec = self.options.match
        self.by_email = self.spec == (("email",),)
        self.accounts = _AccountRefs(ctx)
        self.touched: set[int] = set()
        self.index: list[dict[MatchKey, int]] = [{} for _ in self.spec]
        self.keys_of: dict[int, list[MatchKey | None]] = {}
        self._fast = self._setup_fast()
        self._names: tuple[str, ...] = ()  # the fields of rows kept as columns
        self._cells_read: dict[str, dict[str, Any]] = {}
        self._customs: dict[tuple[str, ...], dict[str, Any]] = {}
        self._aside_decided = False
        self._indexes_aside = _IndexesAside()
        if not self.by_email:
            needed = sorted({f for alt in self.spec for f in alt})
            for row in ctx.session.execute(
                select(Contact.id, *(getattr(Contact, f) for f in needed)).order_by(Contact.id)
            ):
                self._index(row[0], dict(zip(needed, row[1:], strict=True)))

    def _index(self, contact_id: int, values: Mapping[str, Any]) -> None:
        if self.by_email:
            return
        keys = match_keys(values, self.spec)
        self.keys_of[contact_id] = keys
        for i, key in enumerate(keys):
            if key is not None:
                self.index[i].setdefault(key, contact_id)

    def _keys_of(self, contact_id: int) -> Sequence[MatchKey | None]:
        return self.keys_of.get(contact_id, ())

    def validate(self, row: _Row) -> dict[str, Any]:
        values = row.values
        cleaned = _clean(
            {k: values[k] for k in values.keys() & _CONTACT_SET}
            if values.keys() - _CONTACT_SET
            else values,
            clean_contact,
        )
        problems = self.accounts.check(values)
        if problems:
            raise _RowRejected(problems)
        for name in ("account", "account_domain"):
            if name in row.values:
                cleaned[f"_{name}"] = row.values[name]
        if row.custom:
            cleaned["custom"] = row.custom
        return cleaned

    def _setup_fast(self) -> _ContactColumns | None:
        """Where :meth:`prepare`'s fast path finds each field, or None when the options
        or the mapping call for the row-by-row parser."""
        fields = self.parser.single_fields()
        if self.options.blank_overwrites or fields is None or "email" not in fields:
            return None
        if set(fields) - _CONTACT_SET - {"account", "account_domain"}:
            return None

        def at(name: str) -> int | None:
            found = fields.get(name) if fields else None
            return found[0] if found else None

        email = at("email")
        assert email is not None
        return _ContactColumns(
            email=email,
            text=[(n, i) for n in CONTACT_TEXT_FIELDS if (i := at(n)) is not None],
            age=at("age"),
            flags=[(n, i) for n in CONTACT_BOOL_FIELDS if (i := at(n)) is not None],
            account=at("account"),
            account_domain=at("account_domain"),
        )

    def prepare(self, records: Sequence[tuple[int, list[str]]]) -> list[Any]:
        """Rows → ``(row, cleaned values)`` as ``validate`` gives them, column by column.

        A column is cleaned in one pass (text cells stripped by one ``map``; e-mails
        checked; ages and yes/no cells read through a cache of the few distinct values a
        file has), then each row's dict is assembled from the columns. A row
        with a problem, a cell an export neutralised, no e-mail, or not as many cells as
        the header goes through the parser and ``validate``, so what is reported and
        stored is exactly theirs; so do all rows when the options call for it.
        """
        plan = self._fast
        if plan is None:
            return super().prepare(records)
        width = self.parser.width
        plain = [cells for _line, cells in records if len(cells) == width]
        columns: list[list[Any]] = []
        names: list[str] = []
        if plain:

            def column(index: int) -> list[str]:
                return list(map(itemgetter(index), plain))

            names.append("email")
            columns.append(self._emails_of(column(plan.email)))
            for name, index in plan.text:
                names.append(name)
                columns.append(_text_column(column(index), role=name == "buying_role"))
            if plan.age is not None:
                names.append("age")
                columns.append(self._cached_column(column(plan.age), "age"))
            for name, index in plan.flags:
                names.append(name)
                columns.append(self._cached_column(column(index), name))
            for name, at in (("_account", plan.account), ("_account_domain", plan.account_domain)):
                if at is not None:
                    names.append(name)
                    columns.append(_text_column(column(at), clean=False))
        if (
            plain
            and len(plain) == len(records)
            and None not in columns[0]
            and not any(_BAD in c for c in columns[1:])
        ):
            items = self._plain_items(records, names, columns)
            if items is not None:
                return items
        has_account = plan.account is not None or plan.account_domain is not None
        custom_key = self.parser.custom_key
        custom_of = self._custom_of if self.parser.custom_columns else None
        rows = zip(*columns, strict=True)
        check = self.accounts.check_pair
        slow = super().prepare
        out: list[Any] = []
        for record in records:
            line, cells = record
            if len(cells) == width:
                values = next(rows)
                if values[0] is not None and _BAD not in values:
                    cleaned = {
                        k: v
                        for k, v in zip(names, values)  # noqa: B905 - columns of one length
                        if v is not None and v != ""
                    }
                    if not has_account or not check(
                        cleaned.get("_account"), cleaned.get("_account_domain")
                    ):
                        custom = custom_of(custom_key(cells)) if custom_of else None
                        if custom:
                            cleaned["custom"] = custom
                        out.append((_Row(line, cells, cleaned, custom or {}), cleaned))
                        continue
            out += slow((record,))
        return out

    def _plain_items(
        self, records: Sequence[tuple[int, list[str]]], names: list[str], columns: list[list[Any]]
    ) -> list[Any] | None:
        """A batch every row of which the fast path reads, kept as columns: each row
        becomes ``(line, cells, values, custom)``, ``values`` the row's cells in
        ``names`` order ("" or None for no value), so a chunk of new people is written
        without a dict per row (``_create_columns``); ``process`` builds the dicts
        ``prepare`` would have given when it needs them (``_as_dicts``). The account
        cells are checked row after row, in file order, as ``validate`` checks them;
        when one is refused, None (the caller goes row by row, and those checks are
        answered from their cache)."""
        self._names = tuple(names)
        if "_account" in names or "_account_domain" in names:
            absent: list[None] = [None] * len(records)
            pairs = zip(
                *(
                    _blank_as_none(columns[names.index(n)]) if n in names else absent
                    for n in ("_account", "_account_domain")
                ),
                strict=True,
            )
            # Each pair in the order it first appears: what checking row after row
            # does, since a pair's later checks are answered from the cache.
            if any(self.accounts.check_pair(*pair) for pair in dict.fromkeys(pairs)):
                return None
        cells_of = list(map(itemgetter(1), records))
        if self.parser.custom_columns:
            # The cache's own dicts: ``_as_dicts`` copies them for the rows that need one.
            customs: Iterable[dict[str, Any] | None] = self._shared_customs(
                list(map(self.parser.custom_key, cells_of))
            )
        else:
            customs = repeat(None)
        lines = map(itemgetter(0), records)
        return list(zip(lines, cells_of, zip(*columns, strict=True), customs, strict=False))

    def _as_dicts(self, rows: list[Any]) -> list[tuple[_Row, dict[str, Any]]]:
        """Chunk items as ``validate`` gives them: ``(row, cleaned values)``."""
        if all(len(item) == 2 for item in rows):
            return rows
        names = self._names
        out: list[tuple[_Row, dict[str, Any]]] = []
        for item in rows:
            if len(item) == 2:
                out.append(item)
                continue
            line, cells, values, custom = item
            cleaned = {
                k: v
                for k, v in zip(names, values)  # noqa: B905 - columns of one length
                if v is not None and v != ""
            }
            custom = dict(custom) if custom else {}  # each row owns its dict
            if custom:
                cleaned["custom"] = custom
            out.append((_Row(line, cells, cleaned, custom), cleaned))
        return out

    def _emails_of(self, cells: Sequence[str]) -> list[str | None]:
        """E-mail keys of a column; None where the row must take the slow path (no
        e-mail, a neutralised cell, an invalid address)."""
        stripped = list(map(str.strip, cells))
        problems = list(map(email_problem, stripped))
        # normalise_email is strip + lower; the cells are stripped already.
        return [
            None if problem is not None or cell[:1] == "'" else lowered
            for cell, lowered, problem in zip(
                stripped, map(str.lower, stripped), problems, strict=True
            )
        ]

    def _cached_column(self, cells: Sequence[str], name: str) -> list[Any]:
        """A column of few distinct values (ages, yes/no): each read once through the
        parser's converter and ``clean_contact``; _BAD where that finds a problem."""
        cache = self._cells_read.setdefault(name, {})
        out = list(map(cache.get, cells, repeat(_MISSING)))
        if _MISSING in out:
            for i, value in enumerate(out):
                if value is _MISSING:
                    raw = cells[i]
                    value = cache.get(raw, _MISSING)
                    if value is _MISSING:
                        value = self._read_cell(name, raw)
                        if len(cache) > 10_000:
                            cache.clear()
                        cache[raw] = value
                    out[i] = value
        return out

    def _read_cell(self, name: str, raw: str) -> Any:
        cell = _cell(raw)
        if not cell:
            return None
        try:
            value = self.parser.convert(name, cell)
            return clean_contact({name: value}, creating=False).get(name)
        except (ValueError, ValidationError):
            return _BAD

    def _shared_customs(self, keys: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        """The custom fields of rows by the raw cells of their custom columns, as the
        cache's own dicts (not to be changed)."""
        found = list(map(self._customs.get, keys))
        if None in found:
            for i, value in enumerate(found):
                if value is None:
                    self._custom_of(keys[i])
                    found[i] = self._customs[keys[i]]
        return cast(list[dict[str, Any]], found)

    def _custom_of(self, key: tuple[str, ...]) -> dict[str, Any]:
        cache = self._customs
        found = cache.get(key)
        if found is None:
            found = self.parser.custom_values(key)
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = found
        return dict(found)  # each row owns its dict, as the parser gives it

    def _create_columns(self, rows: list[Any]) -> None:
        """A chunk of new people (the common file): every row kept as columns by
        ``prepare``, one row per e-mail, none known. Each row is then its own new
        contact, as the merger and the loop in ``process`` would find one by one, and
        the contacts are written column by column, each column what ``process`` would
        put in its row dicts (``_CONTACT_DEFAULTS`` where a row has no value)."""
        count = len(rows)
        names = self._names
        given = dict(zip(names, zip(*map(itemgetter(2), rows), strict=True), strict=True))
        columns: dict[str, list[Any]] = {}
        for name, default in _CONTACT_DEFAULTS.items():
            cells = given.get(name)
            if cells is None:
                columns[name] = [default] * count
            elif name == "age":
                columns[name] = list(cells)  # None when empty; 0 is an age
            elif default is None:
                columns[name] = _blank_as_none(cells)  # "" → None
            else:  # yes/no: None when empty, which leaves the default
                columns[name] = [default if v is None else v for v in cells]
        columns["custom"] = _json_column(map(itemgetter(3), rows))
        absent: list[None] = [None] * count
        pairs = list(
            zip(
                *(
                    _blank_as_none(given[n]) if n in given else absent
                    for n in ("_account", "_account_domain")
                ),
                strict=True,
            )
        )
        # Each company the file names is looked up once (the answer is the same each time).
        account_of = {pair: self.accounts.resolve_pair(*pair) for pair in dict.fromkeys(pairs)}
        columns["account_id"] = list(map(account_of.__getitem__, pairs))
        now = self.options.now
        columns["created_at"] = columns["updated_at"] = [now] * count
        self.report.created += count
        self.store.insert_columns(
            self.table, list(columns), list(columns.values()), encoded={"custom"}
        )

    def _stored(
        self,
        emails: Sequence[str],
        ids: Sequence[int],
        known: Mapping[str, tuple[int, int | None]] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Stored contacts with these e-mails or ids (``known``: the e-mails' lookup,
        already made), as dicts of their columns."""
        columns = (
            Contact.id,
            Contact.account_id,
            Contact.custom,
            *(getattr(Contact, c) for c in CONTACT_COLUMNS),
        )
        out: dict[int, dict[str, Any]] = {}
        if self.store.raw and emails:
            # Which e-mails are known, in plain SQL (most rows of a file of new people
            # are not): the full rows are then read for those contacts only.
            found = _contacts_by_email(self.store, emails) if known is None else known
            ids = [*ids, *(cid for cid, _account in found.values())]
            emails = []
        for condition, items in ((Contact.email, emails), (Contact.id, ids)):
            for batch in _batches(sorted(set(items))):
                for row in self.ctx.session.execute(select(*columns).where(condition.in_(batch))):
                    out[row[0]] = {
                        "account_id": row[1],
                        "custom": row[2] or {},
                        **dict(zip(CONTACT_COLUMNS, row[3:], strict=True)),
                    }
        return out

    def process(self, rows: list[Any]) -> None:
        if not self._aside_decided:
            # Nothing here reads contacts or accounts by an index that is set aside:
            # e-mails are unique (that index stays), the rest is looked up by id or in
            # memory.
            self._aside_decided = True
            tables = _IndexesAside.worth_it(self.ctx, ["contacts", "accounts"])
            self._indexes_aside.set_aside(self.store, tables)
        self.accounts.flush()
        known: dict[str, tuple[int, int | None]] | None = None
        if (
            self.by_email
            and self.store.raw
            and rows
            and set(map(len, rows)) == {4}  # every row kept as columns by prepare
        ):
            emails = list(map(itemgetter(0), map(itemgetter(2), rows)))
            if len(set(emails)) == len(emails):
                known = _contacts_by_email(self.store, emails)
                if not known:
                    self._create_columns(rows)
                    return
        rows = self._as_dicts(rows)
        emails = [v["email"] for _, v in rows if v.get("email")]
        stored = self._stored(emails, [], known)
        by_email = {data["email"]: cid for cid, data in stored.items()}

        def existing(index: int, key: MatchKey) -> int | None:
            if self.by_email:
                return by_email.get(key[0])
            return self.index[index].get(key)

        merger = RowMerger(self.spec, blank_overwrites=self.options.blank_overwrites)
        for row, values in rows:
            merger.add(values, row.line, existing, self._keys_of)
        if not self.by_email:
            missing = [
                r.existing_id
                for r in merger.records
                if r.existing_id is not None and r.existing_id not in stored
            ]
            stored.update(self._stored([], [i for i in missing if i is not None]))
            by_email = {data["email"]: cid for cid, data in stored.items()}
        now = self.options.now
        creates: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        claimed: dict[str, PendingRecord] = {}
        for record in merger.records:
            values = record.values  # the record is done with after this loop
            account_cells = "_account" in values or "_account_domain" in values
            account_name = values.pop("_account", None)
            account_domain = values.pop("_account_domain", None)
            email = values.get("email")
            owner = by_email.get(email) if email else None
            if email and (
                (owner is not None and owner != record.existing_id)
                or (email in claimed and claimed[email] is not record)
            ):
                self.ctx.reject_lines(
                    record.lines, {"email": f"{email} belongs to another contact"}
                )
                continue
            if email:
                claimed[email] = record
            if record.existing_id is None:
                if not email:
                    self.ctx.reject_lines(record.lines, {"email": "an e-mail address is required"})
                    continue
                if None in values.values():
                    new = dict(_CONTACT_DEFAULTS)
                    for name, value in values.items():
                        if value is not None:
                            new[name] = value
                else:  # the same, in one step: every key of values is a contact column
                    new = {**_CONTACT_DEFAULTS, **values}
                new["custom"] = values.get("custom") or {}
                new["account_id"] = self.accounts.resolve_pair(account_name, account_domain)
                new["created_at"] = new["updated_at"] = now
                creates.append(new)
                self.count(None, False, len(record.lines), True)
                continue
            current = stored[record.existing_id]
            if "custom" in values:
                values["custom"] = _align_custom(current["custom"], values["custom"])
            if account_name or account_domain:
                if not self.accounts.index.describes(
                    current["account_id"], account_name, account_domain
                ):
                    values["account_id"] = self.accounts.resolve(
                        {"account": account_name, "account_domain": account_domain}
                    )
            elif self.options.blank_overwrites and account_cells:
                values["account_id"] = None
            merged = merge_values(current, values, blank_overwrites=self.options.blank_overwrites)
            for flag in ("is_employee", "is_customer", "email_subscribed"):
                if merged.get(flag) is None:
                    merged[flag] = current[flag]
            changes = changed_fields(current, merged)
            earlier = self.store.created_here(self.table, record.existing_id) or (
                record.existing_id in self.touched
            )
            self.count(record.existing_id, earlier, len(record.lines), bool(changes))
            if changes:
                updates.append({"id": record.existing_id, **changes, "updated_at": now})
                self.touched.add(record.existing_id)
                self._index(record.existing_id, merged)
        new_ids = self.store.insert(self.table, creates)
        for contact_id, created in zip(new_ids, creates, strict=True):
            self._index(contact_id, created)
        self.store.update(self.table, updates)

    def finish(self) -> list[int]:
        self._indexes_aside.restore(self.store)
        return _leads_of(self.ctx.session, self.store, self.touched, ())


# leads --------------------------------------------------------------------------------------

_LEAD_VALUE_FIELDS = ("topic", "source", "owner_id", "account_id", "custom")


class _Leads(_Importer):
    def __init__(self, ctx: _Context) -> None:
        super().__init__(ctx)
        self.table: Table = Lead.__table__  # type: ignore[assignment]
        self.contacts_table: Table = Contact.__table__  # type: ignore[assignment]
        self.spec = self.options.match
        self.optional = OPTIONAL_KEY_PARTS["leads"]
        self.accounts = _AccountRefs(ctx)
        self.users: dict[str, int] = {}
        for user_id, name, email in ctx.session.execute(select(User.id, User.name, User.email)):
            self.users.setdefault(key_part("name", name), user_id)
            if email:
                self.users.setdefault(key_part("email", email), user_id)
        inquiry = ctx.session.scalar(select(Stage.key).where(Stage.role == "inquiry"))
        self.first_stage = inquiry or DEFAULT_STAGE_KEY
        self.touched: set[int] = set()
        self.new_contacts: set[int] = set()

    def validate(self, row: _Row) -> dict[str, Any]:
        values = row.values
        problems: dict[str, str] = {}
        out: dict[str, Any] = {}
        email = values.get("email")
        if email is not None:
            problem = email_problem(email)
            if problem:
                problems["email"] = problem
            else:
                out["email"] = normalise_email(email)
        if not email and not values.get("account") and not values.get("account_domain"):
            problems["email"] = "a lead needs an e-mail address or an account"
        for name in ("topic", "source"):
            if name in values:
                out[name] = (values[name] or "").strip() or (None if name == "source" else "")
        if "owner" in values:
            owner = values["owner"]
            if owner is None:
                out["owner_id"] = None
            else:
                found = self.users.get(key_part("name", owner)) or self.users.get(
                    key_part("email", owner)
                )
                if found is None:
                    problems["owner"] = f"no user named {owner!r}"
                out["owner_id"] = found
        problems.update(self.accounts.check(values))
        if problems:
            raise _RowRejected(problems)
        for name in ("account", "account_domain"):
            if values.get(name):
                out[f"_{name}"] = values[name]
        if row.custom:
            out["custom"] = row.custom
        return out

    def process(self, rows: list[tuple[_Row, dict[str, Any]]]) -> None:
        session = self.ctx.session
        self.accounts.flush()
        now = self.options.now
        emails = sorted({v["email"] for _, v in rows if v.get("email")})
        contacts: dict[str, tuple[int, int | None]] = {}
        for batch in _batches(emails):
            for cid, email, account_id in session.execute(
                select(Contact.id, Contact.email, Contact.account_id).where(
                    Contact.email.in_(batch)
                )
            ):
                contacts[email] = (cid, account_id)
        # Contacts the file names but the desk lacks are created first (DESIGN §5.1).
        new_contacts: dict[str, dict[str, Any]] = {}
        for _row, values in rows:
            new_email: str | None = values.get("email")
            if new_email and new_email not in contacts and new_email not in new_contacts:
                account_id = self.accounts.resolve(
                    {
                        "account": values.get("_account"),
                        "account_domain": values.get("_account_domain"),
                    }
                )
                new_contacts[new_email] = {
                    **_CONTACT_DEFAULTS,
                    "email": new_email,
                    "account_id": account_id,
                    "custom": {},
                    "created_at": now,
                    "updated_at": now,
                }
        contact_rows = list(new_contacts.values())
        contact_ids = self.store.insert(self.contacts_table, contact_rows)
        for cid, created in zip(contact_ids, contact_rows, strict=True):
            contacts[created["email"]] = (cid, created["account_id"])
            self.new_contacts.add(cid)
        self.report.contacts_created += len(contact_rows)
        # Stored leads of these contacts and accounts, keyed as the strategy keys rows.
        email_of = {cid: email for email, (cid, _a) in contacts.items()}
        account_ids = sorted(
            {
                a
                for _r, v in rows
                if not v.get("email")
                and (
                    a := self.accounts.resolve(
                        {"account": v.get("_account"), "account_domain": v.get("_account_domain")}
                    )
                )
                is not None
            }
        )
        stored: dict[int, dict[str, Any]] = {}
        index: list[dict[MatchKey, int]] = [{} for _ in self.spec]
        columns = (
            Lead.id,
            Lead.contact_id,
            Lead.account_id,
            Lead.topic,
            Lead.source,
            Lead.owner_id,
            Lead.custom,
            Lead.status,
        )
        found_rows: list[Any] = []
        for batch in _batches(sorted(email_of)):
            found_rows.extend(session.execute(select(*columns).where(Lead.contact_id.in_(batch))))
        for batch in _batches(account_ids):
            found_rows.extend(
                session.execute(
                    select(*columns).where(Lead.contact_id.is_(None), Lead.account_id.in_(batch))
                )
            )
        # Open leads first, then the newest: the one a user means by "this contact's lead
        # on this topic".
        found_rows.sort(key=lambda r: (r[7] != "open", -r[0]))
        for lid, cid, aid, topic, source, owner_id, custom, _status in found_rows:
            stored[lid] = {
                "contact_id": cid,
                "account_id": aid,
                "topic": topic,
                "source": source,
                "owner_id": owner_id,
                "custom": custom or {},
            }
            key_values = {
                "email": email_of.get(cid) if cid is not None else None,
                "account": str(aid) if cid is None and aid is not None else None,
                "topic": topic,
                "source": source,
            }
            for i, key in enumerate(match_keys(key_values, self.spec, self.optional)):
                if key is not None:
                    index[i].setdefault(key, lid)
        merger = RowMerger(
            self.spec, blank_overwrites=self.options.blank_overwrites, optional=self.optional
        )
        for row, values in rows:
            keyed = dict(values)
            if not values.get("email"):
                account_id = self.accounts.resolve(
                    {
                        "account": values.get("_account"),
                        "account_domain": values.get("_account_domain"),
                    }
                )
                keyed["account"] = str(account_id) if account_id is not None else None
            keyed.setdefault("topic", "")
            merger.add(keyed, row.line, lambda i, key: index[i].get(key))
        creates: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in merger.records:
            values = record.values
            lead_email: str | None = values.get("email")
            contact_id, contact_account = contacts[lead_email] if lead_email else (None, None)
            account_id = self.accounts.resolve(
                {"account": values.get("_account"), "account_domain": values.get("_account_domain")}
            )
            if record.existing_id is None:
                new: dict[str, Any] = {
                    "contact_id": contact_id,
                    "account_id": account_id,
                    "topic": values.get("topic") or "",
                    "source": values.get("source"),
                    "owner_id": values.get("owner_id"),
                    "stage": self.first_stage,
                    "status": "open",
                    "status_reason": None,
                    "sales_ready": False,
                    "telemarketing_ready": False,
                    "accepted_telemarketing": False,
                    "sales_accepted": False,
                    "qualification": {},
                    "tags": [],
                    "custom": {
                        k: v for k, v in (values.get("custom") or {}).items() if v is not None
                    },
                    "score": 0,
                    "stars": 0,
                    "scored_at": None,
                    "last_activity_at": None,
                    "created_at": now,
                    "updated_at": now,
                }
                creates.append(new)
                self.count(None, False, len(record.lines), True)
                continue
            current = stored[record.existing_id]
            incoming = {k: v for k, v in values.items() if k in _LEAD_VALUE_FIELDS}
            if "custom" in incoming:
                incoming["custom"] = _align_custom(current["custom"], incoming["custom"])
            if account_id is not None and account_id not in (
                current["account_id"],
                contact_account,
            ):
                incoming["account_id"] = account_id
            if "topic" in incoming and incoming["topic"] is None:
                incoming["topic"] = ""
            merged = merge_values(current, incoming, blank_overwrites=self.options.blank_overwrites)
            if merged.get("topic") is None:
                merged["topic"] = ""
            changes = changed_fields(current, merged)
            earlier = self.store.created_here(self.table, record.existing_id) or (
                record.existing_id in self.touched
            )
            self.count(record.existing_id, earlier, len(record.lines), bool(changes))
            if changes:
                updates.append({"id": record.existing_id, **changes, "updated_at": now})
                self.touched.add(record.existing_id)
        self.touched.update(self.store.insert(self.table, creates))
        self.store.update(self.table, updates)

    def finish(self) -> list[int]:
        touched = sorted(self.touched)
        if touched:
            # New leads read their contact's (or account's) past activities.
            _fill_temp_ids(self.store, dict.fromkeys(touched))
            ids_table = _temp_ids()
            by_contact = (
                select(func.max(Activity.occurred_at))
                .where(Activity.contact_id == Lead.contact_id)
                .scalar_subquery()
            )
            by_account = (
                select(func.max(Activity.occurred_at))
                .join(Contact, Contact.id == Activity.contact_id)
                .where(Contact.account_id == Lead.account_id)
                .scalar_subquery()
            )
            session = self.ctx.session
            session.execute(
                update(Lead)
                .where(Lead.id.in_(ids_table), Lead.contact_id.is_not(None))
                .values(last_activity_at=by_contact)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(Lead)
                .where(Lead.id.in_(ids_table), Lead.contact_id.is_(None))
                .values(last_activity_at=by_account)
                .execution_options(synchronize_session=False)
            )
        return touched


# activities ---------------------------------------------------------------------------------


class _Activities(_Importer):
    """The hot path: a million rows. Rows stay tuples of plain values, read and written
    by column when a chunk is plain (``_prepare_columns``, ``_process_plain``); the
    duplicate check is one indexed join per chunk, for only the rows not later than
    their contact's latest stored activity; and the leads' last activity is one
    UPDATE ... FROM at the end. A file big next to the table is written without the
    table's indexes, which are built again once, at the end."""

    chunk_rows = 50_000

    def __init__(self, ctx: _Context) -> None:
        super().__init__(ctx)
        self.table: Table = Activity.__table__  # type: ignore[assignment]
        self.types: dict[str, str] = {}
        for key, label in ctx.session.execute(select(ActivityType.key, ActivityType.label)):
            self.types[key] = key
            self.types.setdefault(label.strip().casefold(), key)
        self.latest: dict[int, datetime] = {}  # contact → newest activity imported
        self.touched_ids: set[int] = set()
        self._emails: dict[str, str] = {}
        self._normalised: dict[str, str] = {}
        self._json_cache: dict[tuple[tuple[str, Any], ...], str] = {}
        # The fast path's caches, keyed by raw cells (see ``prepare``).
        self._fast = self._setup_fast()
        order = self.options.date_order
        self._read_when: Callable[[str], datetime] = lambda cell: fmt.parse_datetime_utc(
            cell, order
        )
        self._c_email: dict[str, str] = {}
        self._c_type: dict[str, str] = {}
        self._c_when: dict[str, datetime] = {}
        self._c_props: dict[tuple[str, ...], tuple[dict[str, Any], str]] = {}
        self._contacts: dict[str, int | None] = {}
        self._topic_keys: dict[str | None, str] = {}
        # The indexes set aside for the import (their CREATE statements), and while they
        # are, each contact's latest activity stored before it (as stored).
        self._aside_decided = False
        self._indexes_aside = _IndexesAside()
        self._stored_latest: dict[int, str] = {}
        self.keys_table = Table(
            _TEMP_KEYS,
            MetaData(),
            Column("n", Integer),
            Column("contact_id", Integer),
            Column("type_key", String),
            Column("occurred_at", DateTime),
        )

    def validate(self, row: _Row) -> dict[str, Any]:
        values = row.values
        problems: dict[str, str] = {}
        email = values.get("email")
        # A file names each contact and type many times: their checks are cached.
        email_key = self._emails.get(email) if isinstance(email, str) else None
        if email_key is None:
            problem = email_problem(email)
            if problem:
                problems["email"] = problem
            elif isinstance(email, str):
                email_key = normalise_email(email)
                if len(self._emails) > 500_000:
                    self._emails.clear()
                self._emails[email] = email_key
        type_text = values.get("type")
        if not type_text or not self._type_text_key(type_text):
            problems["type"] = "an activity type is required"
        if values.get("occurred_at") is None:
            problems["occurred_at"] = "a date is required"
        if problems:
            raise _RowRejected(problems)
        return {
            "email": email_key,
            "type": type_text,
            "occurred_at": values["occurred_at"],
            "lead_topic": values.get("lead_topic"),
            "properties": row.custom,
        }

    def _type_text_key(self, text_: str) -> str:
        key = self._normalised.get(text_)
        if key is None:
            key = self._normalised[text_] = normalise_type_key(text_)
        return key

    def _type_key(self, text_: str) -> str:
        """The stored type a cell names (by key or label); an unknown type is created,
        as logging it by hand would require (DESIGN §5.1)."""
        found = self.types.get(text_)
        if found is not None:
            return found
        label = text_.strip()
        key = self.types.get(label.casefold()) or self.types.get(self._type_text_key(text_))
        if key is None:
            key = self._type_text_key(text_)
            self.ctx.session.execute(
                insert(ActivityType).values(key=key, label=label, category="custom", builtin=False)
            )
            self.types[key] = key
            self.types.setdefault(label.casefold(), key)
            self.report.activity_types_created.append(key)
        self.types[text_] = key
        return key

    def _json(self, props: Mapping[str, Any]) -> str:
        if not props:
            return "{}"
        signature = tuple(props.items())
        text_ = self._json_cache.get(signature)
        if text_ is None:
            if len(self._json_cache) > 20_000:
                self._json_cache.clear()
            text_ = self._json_cache[signature] = json.dumps(dict(props))
        return text_

    # A prepared row: (line, cells, e-mail key, type cell, occurred_at, lead topic,
    # properties, their JSON text or None, occurred_at as stored or None). Tuples, not
    # objects: there are a million.

    def _setup_fast(self) -> tuple[int, int, int, int | None] | None:
        """Column positions for :meth:`prepare`'s fast path, or None when the options
        or the mapping call for the row-by-row parser (blank cells that overwrite, a
        field mapped from two columns)."""
        parser = self.parser
        fields = parser.single_fields()
        if self.options.blank_overwrites or fields is None:
            return None
        if not {"email", "type", "occurred_at"} <= fields.keys():
            return None
        if set(fields) - {"email", "type", "occurred_at", "lead_topic"}:
            return None
        return (
            fields["email"][0],
            fields["type"][0],
            fields["occurred_at"][0],
            fields["lead_topic"][0] if "lead_topic" in fields else None,
        )

    def prepare(self, records: Sequence[tuple[int, list[str]]]) -> list[Any]:
        """Rows → prepared tuples. The common row (as many cells as the header, every
        cell fine) is read from caches keyed by the raw cells - a file repeats its
        e-mails, types and property combinations thousands of times - and a cache miss
        computes exactly what the parser and :meth:`validate` would. Any row that is not
        plain goes through them, so its problems are reported in their words."""
        plan = self._fast
        if plan is None:
            return [self._item(row, values) for row, values in super().prepare(records)]
        width = self.parser.width
        cells_of = list(map(itemgetter(1), records))
        if set(map(len, cells_of)) == {width}:
            found = self._prepare_columns(records, cells_of, plan)
            if found is not None:
                return found
        return self._prepare_rows(records, plan)

    def _prepare_columns(
        self,
        records: Sequence[tuple[int, list[str]]],
        cells_of: list[list[str]],
        plan: tuple[int, int, int, int | None],
    ) -> list[Any] | None:
        """The fast path by column, for a batch whose rows all have the header's width:
        each column is looked up in its cache with one ``map`` (C speed), misses are
        filled one by one, and the dates of a column of ISO 8601 UTC cells (what every
        export writes) are read with one ``map`` of ``datetime.fromisoformat``. None
        when a row needs the parser (the caller then goes row by row)."""
        ie, it, io, il = plan

        def column(index: int) -> list[str]:
            return list(map(itemgetter(index), cells_of))

        raw = column(ie)
        emails = self._fill(raw, self._c_email, self._email_of)
        raw = column(it)
        types = self._fill(raw, self._c_type, self._type_of)
        if "" in emails or "" in types:
            return None
        raw = column(io)
        read = _iso_utc_column(raw)
        texts: Iterable[str | None]
        if read is not None:
            whens, stored = read
            texts = repeat(None) if stored is None else stored
        else:
            whens = self._fill(raw, self._c_when, self._when_of)
            if None in whens:
                return None
            texts = repeat(None)
        if il is None:
            topics: Sequence[str | None] = [None] * len(cells_of)
        else:
            cells = _text_column(column(il), clean=False)  # as ``_cell`` reads them
            topics = _blank_as_none(cells)  # "" → None
        keys = list(map(self.parser.custom_key, cells_of))
        props = self._fill(keys, self._c_props, self._props_for)
        return list(
            zip(
                map(itemgetter(0), records),
                cells_of,
                emails,
                types,
                whens,
                topics,
                map(itemgetter(0), props),
                map(itemgetter(1), props),
                texts,
                strict=False,  # texts may be an endless repeat(None)
            )
        )

    @staticmethod
    def _fill(
        raw: Sequence[Any], cache: Mapping[Any, Any], compute: Callable[[Any], Any]
    ) -> list[Any]:
        """A column looked up in its cache in one ``map``; the misses computed one by
        one (``compute`` caches what it computes, so a value repeated in the batch is
        computed once). Only the misses are visited in Python."""
        found = list(map(cache.get, raw))
        if None in found:
            get = cache.get
            for i in compress(range(len(found)), map(is_, found, repeat(None))):
                key = raw[i]
                value = get(key)
                found[i] = compute(key) if value is None else value
        return found

    def _prepare_rows(
        self, records: Sequence[tuple[int, list[str]]], plan: tuple[int, int, int, int | None]
    ) -> list[Any]:
        """The fast path row by row (a batch with short or long rows, or a bad cell)."""
        ie, it, io, il = plan
        width = self.parser.width
        emails, types, whens, props_of = self._c_email, self._c_type, self._c_when, self._c_props
        email_of, type_of, when_of, props_for = (
            self._email_of,
            self._type_of,
            self._when_of,
            self._props_for,
        )
        custom_key = self.parser.custom_key
        slow = super().prepare
        out: list[Any] = []
        append = out.append
        for record in records:
            cells = record[1]
            if len(cells) == width:
                raw = cells[ie]
                email = emails.get(raw) or email_of(raw)
                raw = cells[it]
                type_text = types.get(raw) or type_of(raw)
                raw = cells[io]
                when = whens.get(raw)
                if when is None:
                    when = when_of(raw)
                if email and type_text and when is not None:
                    topic = None
                    if il is not None and (raw := cells[il]):
                        topic = _cell(raw) or None
                    key = custom_key(cells)
                    props = props_of.get(key)
                    if props is None:
                        props = props_for(key)
                    append((record[0], cells, email, type_text, when, topic, *props, None))
                    continue
            for row, values in slow((record,)):
                append(self._item(row, values))
        return out

    @staticmethod
    def _item(row: _Row, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return (
            row.line,
            row.cells,
            values["email"],
            values["type"],
            values["occurred_at"],
            values["lead_topic"],
            values["properties"],
            None,
            None,
        )

    def _email_of(self, raw: str) -> str:
        """The e-mail key of a raw cell ("" when the row must take the slow path)."""
        cell = _cell(raw)
        if not cell or email_problem(cell):
            return ""
        if len(self._c_email) > 500_000:
            self._c_email.clear()
        key = self._c_email[raw] = normalise_email(cell)
        return key

    def _type_of(self, raw: str) -> str:
        cell = _cell(raw)
        if not cell or not self._type_text_key(cell):
            return ""
        if len(self._c_type) > 10_000:
            self._c_type.clear()
        self._c_type[raw] = cell
        return cell

    def _when_of(self, raw: str) -> datetime | None:
        cell = _cell(raw)
        if not cell:
            return None
        try:
            when: datetime = self._read_when(cell)
        except ValueError:
            return None
        if len(self._c_when) > 100_000:
            self._c_when.clear()
        self._c_when[raw] = when
        return when

    def _props_for(self, key: tuple[str, ...]) -> tuple[dict[str, Any], str]:
        """Properties of a row from its raw custom cells, and their JSON. Rows share the
        dict: nothing downstream changes a row's properties in place (merges copy)."""
        props = self.parser.custom_values(key)
        found = (props, self._json(props))
        if len(self._c_props) > 50_000:
            self._c_props.clear()
        self._c_props[key] = found
        return found

    def _contact_ids(self, emails: Iterable[str]) -> dict[str, int | None]:
        """Contact id by e-mail key, None for no contact. An activity import creates no
        contacts, so answers hold for the whole file: each e-mail is asked for once."""
        known = self._contacts
        wanted = {e for e in emails if e not in known}
        if wanted:
            if len(known) > 500_000:
                known.clear()
            found = _contacts_by_email(self.store, wanted)
            for email in wanted:
                hit = found.get(email)
                known[email] = hit[0] if hit is not None else None
        return known

    def process(self, rows: list[Any]) -> None:
        if not self._aside_decided:
            self._aside_decided = True
            self._set_indexes_aside()
        reject = self.ctx.reject
        contacts = self._contact_ids(set(map(itemgetter(2), rows)))
        topics = self._lead_topics(rows, contacts)
        if self._process_plain(rows, contacts, topics):
            return
        # (contact, type, time) → [lead id, properties, rows folded in, lead topic, JSON]
        pending: dict[tuple[int, str, datetime], list[Any]] = {}
        blank = self.options.blank_overwrites
        types = self.types
        type_key_of = self._type_key
        for line, cells, email, type_text, when, lead_topic, props, props_json, _at in rows:
            cid = contacts.get(email)
            if cid is None:
                reject(line, cells, {"email": f"no contact with e-mail {email}"})
                continue
            lead_id: int | None = None
            if lead_topic:
                lead_id = topics.get((cid, key_part("topic", lead_topic)))
                if lead_id is None:
                    reject(
                        line, cells, {"lead_topic": f"this contact has no lead on {lead_topic!r}"}
                    )
                    continue
            key = (cid, types.get(type_text) or type_key_of(type_text), when)
            entry = pending.get(key)
            if entry is None:
                pending[key] = [lead_id, props, 1, lead_topic, props_json]
            else:
                if lead_id is not None:
                    entry[0], entry[3] = lead_id, lead_topic
                entry[1] = merge_values(entry[1], props, blank_overwrites=blank)
                entry[2] += 1
                entry[4] = None
        if not pending:
            return
        keys = list(pending)
        times = list(map(sqlite_naive_datetime, (k[2] for k in keys))) if self.store.raw else []
        self._write(pending, keys, times, self._existing(keys, times))

    def _lead_topics(
        self, rows: Sequence[Any], contacts: Mapping[str, int | None]
    ) -> dict[tuple[int, str], int]:
        """(contact, topic key) → the lead a ``lead_topic`` cell names: open leads first,
        then the newest."""
        topics: dict[tuple[int, str], int] = {}
        if not any(map(itemgetter(5), rows)):
            return topics
        named = compress(map(itemgetter(2), rows), map(itemgetter(5), rows))
        known: set[int | None] = set(map(contacts.get, named))
        known.discard(None)
        wanted = sorted(cast(set[int], known))
        found: list[Any] = []
        for batch in _batches(wanted):
            if self.store.raw:  # plain SQL: compiling a long IN list costs more than running it
                cursor = self.store.cursor()
                try:
                    found += cursor.execute(
                        "SELECT id, contact_id, topic, status FROM leads WHERE contact_id IN "
                        f"({', '.join('?' * len(batch))})",
                        list(batch),
                    ).fetchall()
                finally:
                    cursor.close()
                continue
            found.extend(
                self.ctx.session.execute(
                    select(Lead.id, Lead.contact_id, Lead.topic, Lead.status).where(
                        Lead.contact_id.in_(batch)
                    )
                )
            )
        found.sort(key=lambda r: (r[3] != "open", -r[0]))
        topic_key = self._topic_key
        for lid, owner_contact, topic, _status in found:
            topics.setdefault((owner_contact, topic_key(topic)), lid)
        return topics

    def _topic_key(self, topic: str | None) -> str:
        """``key_part("topic", topic)``, cached: a file names a few topics many times."""
        found = self._topic_keys.get(topic)
        if found is None:
            if len(self._topic_keys) > 10_000:
                self._topic_keys.clear()
            found = self._topic_keys[topic] = key_part("topic", topic)
        return found

    def _process_plain(
        self,
        rows: Sequence[Any],
        contacts: Mapping[str, int | None],
        topics: Mapping[tuple[int, str], int],
    ) -> bool:
        """``process`` by column for the common chunk: on SQLite, without blank cells
        that overwrite, every row's contact (and lead topic) known and no two rows for
        the same activity. Whether that holds is known before anything is written or
        rejected; False leaves the chunk to the row-by-row loop, which then does what
        it always did (the activity types created here are the ones it would create,
        in the same order: every row passes its checks)."""
        if self.options.blank_overwrites or not self.store.raw:
            return False
        n = len(rows)
        found_ids = list(map(contacts.get, map(itemgetter(2), rows)))
        if not n or None in found_ids:
            return False
        cids = cast(list[int], found_ids)
        lead_topics = list(map(itemgetter(5), rows))
        lead_ids: list[int | None] = [None] * n
        if any(lead_topics):
            topic_key = self._topic_key
            for i in compress(range(n), lead_topics):
                lead_id = topics.get((cids[i], topic_key(lead_topics[i])))
                if lead_id is None:
                    return False
                lead_ids[i] = lead_id
        type_texts = list(map(itemgetter(3), rows))
        found_keys = list(map(self.types.get, type_texts))
        if None in found_keys:
            for i, type_key in enumerate(found_keys):
                if type_key is None:
                    found_keys[i] = self._type_key(type_texts[i])
        type_keys = cast(list[str], found_keys)
        whens: list[datetime] = list(map(itemgetter(4), rows))
        keys = list(zip(cids, type_keys, whens, strict=True))
        if len(set(keys)) != n:
            return False  # rows to fold together: the loop merges them
        times = list(map(itemgetter(8), rows))  # as stored, when prepare had them
        if None in times:
            times = list(map(sqlite_naive_datetime, whens))
        props = list(map(itemgetter(6), rows))
        jsons = list(map(itemgetter(7), rows))
        if None in jsons:
            for i, props_json in enumerate(jsons):
                if props_json is None:
                    jsons[i] = self._json(props[i])
        existing = self._existing(keys, times)
        if existing:
            pending = dict(
                zip(
                    keys,
                    map(list, zip(lead_ids, props, repeat(1), lead_topics, jsons, strict=False)),
                    strict=True,
                )
            )
            self._write(pending, keys, times, existing)
            return True
        self._insert_columns([cids, lead_ids, type_keys, times, jsons])
        self.report.created += n
        latest = self.latest
        for cid, when in zip(cids, whens, strict=True):
            previous = latest.get(cid)
            if previous is None or when > previous:
                latest[cid] = when
        return True

    def _write(
        self,
        pending: dict[tuple[int, str, datetime], list[Any]],
        keys: list[tuple[int, str, datetime]],
        times: list[str],
        existing: dict[int, tuple[int, Any, int | None, str | None]],
    ) -> None:
        """Insert the new activities of a chunk and update the stored ones it names."""
        store = self.store
        blank = self.options.blank_overwrites
        raw = store.raw
        now_value: Any = sqlite_datetime(self.options.now) if raw else self.options.now
        inserts: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        latest = self.latest
        created = merged_rows = 0
        for n, key in enumerate(keys):
            lead_id, props, lines, lead_topic, props_json = pending[key]
            cid, type_key, when = key
            found_row = existing.get(n) if existing else None
            if found_row is None:
                if blank:
                    props = {k: v for k, v in props.items() if v is not None}
                    props_json = None
                if raw:
                    inserts.append(
                        (
                            cid,
                            lead_id,
                            type_key,
                            times[n],
                            props_json if props_json is not None else self._json(props),
                            None,
                            now_value,
                        )
                    )
                else:
                    inserts.append((cid, lead_id, type_key, when, dict(props), None, now_value))
                created += 1
                if lines > 1:
                    merged_rows += lines - 1
                previous = latest.get(cid)
                if previous is None or when > previous:
                    latest[cid] = when
                continue
            activity_id, stored_props, stored_lead, stored_topic = found_row
            stored_props = stored_props or {}
            merged = merge_values(
                stored_props, _align_custom(stored_props, props), blank_overwrites=blank
            )
            change: dict[str, Any] = {}
            if merged != stored_props:
                change["properties"] = merged
            if (
                lead_id is not None
                and lead_id != stored_lead
                and key_part("topic", stored_topic) != key_part("topic", lead_topic)
            ):
                change["lead_id"] = lead_id
            earlier = store.created_here(self.table, activity_id) or activity_id in self.touched_ids
            self.count(activity_id, earlier, lines, bool(change))
            if change:
                updates.append({"id": activity_id, **change})
                self.touched_ids.add(activity_id)
                latest.setdefault(cid, when)
        self.report.created += created
        self.report.merged += merged_rows
        self._insert(inserts)
        store.update(self.table, updates)

    def _set_indexes_aside(self) -> None:
        """The ``activities`` indexes set aside for a file at least as big as the table
        (``_IndexesAside``). Meanwhile the duplicate check knows without an index that a
        row later than its contact's latest activity, stored before the import or
        imported since, cannot exist (``_may_exist``); the first chunk with a row that
        might be stored builds the indexes again, and the import goes on with them."""
        if not _IndexesAside.worth_it(self.ctx, ["activities"]):
            return
        cursor = self.store.cursor()
        try:
            latest = dict(
                cursor.execute(
                    "SELECT contact_id, max(occurred_at) FROM activities GROUP BY contact_id"
                ).fetchall()
            )
        finally:
            cursor.close()
        self._indexes_aside.set_aside(self.store, ["activities"])
        self._stored_latest = latest

    def _restore_indexes(self) -> None:
        self._indexes_aside.restore(self.store)
        self._stored_latest = {}

    def _may_exist(self, keys: Sequence[tuple[int, str, datetime]], times: Sequence[str]) -> bool:
        """Whether any of these activities can be stored already, with the indexes set
        aside: only one not later than its contact's latest activity, stored before the
        import (compared as stored, as ``_latest_stored`` does) or imported since. Only
        the rows of contacts with such an activity are looked at (a sorted file shares
        one contact or so with the chunks before)."""
        cids = list(map(itemgetter(0), keys))
        in_chunk = set(cids)
        whens = list(map(itemgetter(2), keys))
        latest: Mapping[int, Any]
        for latest, values in ((self._stored_latest, times), (self.latest, whens)):
            both = in_chunk.intersection(latest)
            if both and any(
                value <= latest[cid]
                for cid, value in compress(
                    zip(cids, values, strict=True), map(both.__contains__, cids)
                )
            ):
                return True
        return False

    _NAMES = ("contact_id", "lead_id", "type_key", "occurred_at", "properties")

    def _new_ids(self, count: int) -> int:
        """The first of ``count`` ids after the highest one (SQLite)."""
        store = self.store
        start = store._next.get(self.table.name) or store.max_id(self.table) + 1
        store._next[self.table.name] = start + count
        return start

    def _insert_columns(self, columns: list[list[Any]]) -> None:
        """New activities given as columns (``_NAMES``, stored values), on SQLite. With
        the indexes set aside, straight from the columns in file order; else as rows
        in index order (``_insert``)."""
        now_value = sqlite_datetime(self.options.now)
        if not self._indexes_aside:
            self._insert(list(zip(*columns, repeat(None), repeat(now_value))))
            return
        count = len(columns[0])
        start = self._new_ids(count)
        sql, bound = _insert_statement(
            "activities",
            ("id", *self._NAMES, "user_id", "created_at"),
            [range(start, start + count), *columns, [None] * count, [now_value] * count],
        )
        self.store.executemany(sql, zip(*bound, strict=True))

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        """New activities given as rows: ``_NAMES``, ``user_id``, ``created_at``."""
        if not rows:
            return
        if self.store.raw:
            start = self._new_ids(len(rows))
            if not self._indexes_aside:
                # In index order: B-tree inserts then touch neighbouring pages, which on
                # a desk of millions of activities is about twice as fast as file order.
                rows.sort(key=itemgetter(0, 2, 3))
            sql, bound = _insert_statement(
                "activities",
                ("id", *self._NAMES, "user_id", "created_at"),
                [range(start, start + len(rows)), *zip(*rows, strict=True)],
            )
            self.store.executemany(sql, zip(*bound, strict=True))
        else:
            self.store.max_id(self.table)
            names = (*self._NAMES, "user_id", "created_at")
            self.store.insert_plain(self.table, [dict(zip(names, r, strict=True)) for r in rows])

    def _latest_stored(self, contact_ids: Iterable[int]) -> dict[int, str]:
        """Each contact's latest stored activity time, as stored (SQLite text, which
        sorts as the times do)."""
        out: dict[int, str] = {}
        cursor = self.store.cursor()
        try:
            for batch in _batches(sorted(contact_ids)):
                out.update(
                    cursor.execute(
                        "SELECT contact_id, max(occurred_at) FROM activities "
                        f"WHERE contact_id IN ({', '.join('?' * len(batch))}) "
                        "GROUP BY contact_id",
                        list(batch),
                    ).fetchall()
                )
        finally:
            cursor.close()
        return out

    def _existing(
        self, keys: list[tuple[int, str, datetime]], times: list[str]
    ) -> dict[int, tuple[int, Any, int | None, str | None]]:
        """Stored activities with the same contact, type and time, by position in
        ``keys``: one join of a scratch table on the (contact, type, time) index
        instead of a query per row."""
        session = self.ctx.session
        store = self.store
        session.execute(text(f"DELETE FROM {_TEMP_KEYS}"))
        if store.raw:
            if self._indexes_aside:
                if not self._may_exist(keys, times):
                    return {}
                self._restore_indexes()  # the probe below needs them
            # Only a key no later than its contact's latest stored activity can exist:
            # one probe per contact (the (contact, time) index) spares the per-key probe
            # for files of new activities, the common case.
            latest = self._latest_stored(set(map(itemgetter(0), keys)))
            if not latest:
                return {}
            lasts = map(latest.get, map(itemgetter(0), keys))
            probe = [
                (n, key[0], key[1], at)
                for n, (key, at, last) in enumerate(zip(keys, times, lasts, strict=True))
                if last is not None and at <= last
            ]
            if not probe:
                return {}
            store.executemany(
                f"INSERT INTO {_TEMP_KEYS} (n, contact_id, type_key, occurred_at) "
                "VALUES (?, ?, ?, ?)",
                probe,
            )
        else:
            session.execute(
                insert(self.keys_table),
                [
                    {"n": n, "contact_id": k[0], "type_key": k[1], "occurred_at": k[2]}
                    for n, k in enumerate(keys)
                ],
            )
        t = self.keys_table
        # No ORDER BY: it would make SQLite scan every activity in id order instead of
        # probing the (contact, type, time) index once per key.
        query = (
            select(t.c.n, Activity.id, Activity.properties, Activity.lead_id, Lead.topic)
            .select_from(t)
            .join(
                Activity,
                (Activity.contact_id == t.c.contact_id)
                & (Activity.type_key == t.c.type_key)
                & (Activity.occurred_at == t.c.occurred_at),
            )
            .outerjoin(Lead, Lead.id == Activity.lead_id)
        )
        out: dict[int, tuple[int, Any, int | None, str | None]] = {}
        for n, activity_id, props, lead_id, topic in session.execute(query):
            if n not in out or activity_id < out[n][0]:
                out[n] = (activity_id, props, lead_id, topic)
        return out

    def finish(self) -> list[int]:
        self._restore_indexes()
        if not self.latest:
            return []
        session = self.ctx.session
        _fill_temp_ids(self.store, self.latest)
        touched = select(_ids_table.c.id, _ids_table.c.at).subquery("touched")
        # One statement for every lead of every contact the file touched, as logging
        # each activity would have done (recompute.note_activity), then the account-only
        # leads of those contacts' companies.
        session.execute(
            update(Lead)
            .where(Lead.contact_id == touched.c.id)
            .where(or_(Lead.last_activity_at.is_(None), Lead.last_activity_at < touched.c.at))
            .values(last_activity_at=touched.c.at)
            .execution_options(synchronize_session=False)
        )
        per_account = (
            select(Contact.account_id.label("account_id"), func.max(touched.c.at).label("at"))
            .join(touched, touched.c.id == Contact.id)
            .where(Contact.account_id.is_not(None))
            .group_by(Contact.account_id)
            .subquery("per_account")
        )
        session.execute(
            update(Lead)
            .where(Lead.contact_id.is_(None), Lead.account_id == per_account.c.account_id)
            .where(or_(Lead.last_activity_at.is_(None), Lead.last_activity_at < per_account.c.at))
            .values(last_activity_at=per_account.c.at)
            .execution_options(synchronize_session=False)
        )
        # The scratch table still holds the contacts of ``self.latest``, and only them.
        return _leads_of(session, self.store, self.latest, (), filled=True)


# external scores ----------------------------------------------------------------------------


class _Scores(_Importer):
    """External scores: an older row never overwrites a newer one. A row naming a
    contact by e-mail scores each of that contact's open leads (a score describes the
    person; their won or disqualified leads are history)."""

    def __init__(self, ctx: _Context) -> None:
        super().__init__(ctx)
        self.table: Table = ExternalScore.__table__  # type: ignore[assignment]
        self.touched: set[int] = set()

    def validate(self, row: _Row) -> dict[str, Any]:
        values = row.values
        problems: dict[str, str] = {}
        email = values.get("email")
        if email is not None:
            problem = email_problem(email)
            if problem:
                problems["email"] = problem
        if email is None and values.get("lead_id") is None:
            problems["email"] = "an e-mail address or a lead id is required"
        name = (values.get("model") or "").strip()
        if not name:
            problems["model"] = "the score's name (model) is required"
        elif len(name) > 120:
            problems["model"] = "a score name has at most 120 characters"
        if values.get("score") is None:
            problems["score"] = "a score is required"
        if problems:
            raise _RowRejected(problems)
        return {
            "email": normalise_email(email) if email else None,
            "lead_id": values.get("lead_id"),
            "name": name,
            "score": float(values["score"]),
            "updated_at": values.get("updated_at") or self.options.now,
        }

    def process(self, rows: list[tuple[_Row, dict[str, Any]]]) -> None:
        session = self.ctx.session
        emails = sorted({v["email"] for _, v in rows if v["email"]})
        lead_ids = sorted({v["lead_id"] for _, v in rows if v["lead_id"] is not None})
        open_leads: dict[str, list[int]] = {}
        known_email: set[str] = set()
        for batch in _batches(emails):
            for email, lead_id in session.execute(
                select(Contact.email, Lead.id)
                .outerjoin(Lead, (Lead.contact_id == Contact.id) & (Lead.status == "open"))
                .where(Contact.email.in_(batch))
                .order_by(Lead.id)
            ):
                known_email.add(email)
                if lead_id is not None:
                    open_leads.setdefault(email, []).append(lead_id)
        known_leads: set[int] = set()
        for batch in _batches(lead_ids):
            known_leads.update(session.scalars(select(Lead.id).where(Lead.id.in_(batch))))
        best: dict[tuple[int, str], dict[str, Any]] = {}
        for row, values in rows:
            if values["lead_id"] is not None:
                if values["lead_id"] not in known_leads:
                    self.ctx.reject(
                        row.line, row.cells, {"lead_id": f"no lead #{values['lead_id']}"}
                    )
                    continue
                targets = [values["lead_id"]]
            elif values["email"] not in known_email:
                self.ctx.reject(
                    row.line, row.cells, {"email": f"no contact with e-mail {values['email']}"}
                )
                continue
            else:
                targets = open_leads.get(values["email"], [])
                if not targets:
                    self.ctx.reject(
                        row.line, row.cells, {"email": f"{values['email']} has no open lead"}
                    )
                    continue
            for lead_id in targets:
                key = (lead_id, values["name"])
                current = best.get(key)
                if current is None:
                    best[key] = {**values, "lines": 1}
                else:
                    self.report.merged += 1
                    if values["updated_at"] >= current["updated_at"]:
                        best[key] = {**values, "lines": current["lines"] + 1}
        stored: dict[tuple[int, str], tuple[int, float, datetime]] = {}
        targets_all = sorted({k[0] for k in best})
        for batch in _batches(targets_all):
            for sid, lead_id, name, score, updated_at in session.execute(
                select(
                    ExternalScore.id,
                    ExternalScore.lead_id,
                    ExternalScore.name,
                    ExternalScore.score,
                    ExternalScore.updated_at,
                ).where(ExternalScore.lead_id.in_(batch))
            ):
                stored[(lead_id, name)] = (sid, score, updated_at)
        now = self.options.now
        creates: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (lead_id, name), values in best.items():
            found = stored.get((lead_id, name))
            if found is None:
                creates.append(
                    {
                        "lead_id": lead_id,
                        "name": name,
                        "score": values["score"],
                        "updated_at": values["updated_at"],
                        "imported_at": now,
                    }
                )
                self.report.created += 1
                self.touched.add(lead_id)
                continue
            sid, score, updated_at = found
            if updated_at > values["updated_at"] or (
                updated_at == values["updated_at"] and score == values["score"]
            ):
                self.report.unchanged += 1
                continue
            updates.append(
                {
                    "id": sid,
                    "score": values["score"],
                    "updated_at": values["updated_at"],
                    "imported_at": now,
                }
            )
            self.report.updated += 1
            self.touched.add(lead_id)
        self.store.insert(self.table, creates)
        self.store.update(self.table, updates)

    def finish(self) -> list[int]:
        return sorted(self.touched)


_IMPORTERS: dict[str, type[_Importer]] = {
    "accounts": _Accounts,
    "contacts": _Contacts,
    "leads": _Leads,
    "activities": _Activities,
    "scores": _Scores,
}


# --- the run --------------------------------------------------------------------------------


class _Tracker:
    """Progress in thousandths: reading the file is the first 70 %, the re-score the
    rest (on a big activity file they take about as long as each other)."""

    READ_SHARE = 700

    def __init__(self, progress: Progress | None, size: int) -> None:
        self.progress = progress
        self.size = max(size, 1)

    def _report(self, done: int) -> None:
        if self.progress is not None and not self.progress(min(done, 1000), 1000):
            raise ImportCancelled()

    def reading(self, bytes_read: int) -> None:
        self._report(self.READ_SHARE * min(bytes_read, self.size) // self.size)

    def rescoring(self, done: int, total: int) -> None:
        share = 1000 - self.READ_SHARE
        self._report(self.READ_SHARE + (share * done // total if total else share))

    def rescore_progress(self, done: int, total: int) -> bool:
        """For the bulk re-score, which cancels on False rather than on an exception."""
        try:
            self.rescoring(done, total)
        except ImportCancelled:
            return False
        return True


def _resolve_options(
    record_type: str,
    match: Sequence[str] | MatchSpec | None,
) -> MatchSpec:
    if not match:
        return DEFAULT_MATCH[record_type]
    # The preview resolves the strategy and hands it on to the dry run: the default of a
    # type whose matching is fixed (activities, scores) must pass as it is.
    if match == DEFAULT_MATCH[record_type]:
        return DEFAULT_MATCH[record_type]
    if all(isinstance(m, str) for m in match):
        try:
            return parse_match([m for m in match if isinstance(m, str)], record_type)
        except MatchSpecError as exc:
            raise ImportFileError(str(exc)) from None
    spec = tuple(tuple(alt) for alt in match if not isinstance(alt, str))
    try:
        return parse_match([",".join(alt) for alt in spec], record_type)
    except MatchSpecError as exc:
        raise ImportFileError(str(exc)) from None


def _date_order(
    reader_source: _Source, columns: Sequence[ColumnInfo], sample_limit: int = 2000
) -> tuple[fmt.DateOrder, str]:
    """Decide day-first or month-first from the first rows' date cells, as the preview
    shows it; the same reading then applies to the whole file."""
    date_columns = [c.index for c in columns if c.field in _DATE_FIELDS]
    if not date_columns:
        return fmt.DateOrder.DAY_FIRST, ""
    reader = _Reader(reader_source)
    values: list[str] = []
    try:
        _headers, records = _header_and_rows(reader)
        for n, record in enumerate(records):
            if n >= sample_limit:
                break
            for i in date_columns:
                if i < len(record.cells) and record.cells[i].strip():
                    values.append(record.cells[i])
    except ImportFileError:
        pass
    finally:
        reader.close()
    order, _ambiguous = fmt.detect_date_order(values)
    numeric = any(not v.strip()[:4].isdigit() for v in values)
    return order, fmt.describe_date_order(order, numeric_seen=numeric)


def _run(
    session: Session,
    source: _Source,
    record_type: str,
    *,
    now: datetime,
    mapping: Mapping[str, str | None] | None,
    match: Sequence[str] | MatchSpec | None,
    strict: bool,
    create_accounts: bool,
    blank_overwrites: bool,
    progress: Progress | None,
    user_id: int | None,
    date_order: fmt.DateOrder | None,
    dry_run: bool,
    last_line: int | None = None,
) -> ImportReport:
    _check_type(record_type)
    spec = _resolve_options(record_type, match)
    reader = _Reader(source, last_line)
    cache: int | None = None
    store: _Store | None = None
    try:
        headers, _records = _header_and_rows(reader)
        columns = resolve_columns(headers, record_type, mapping)
        missing = _missing_required(columns, record_type)
        if missing:
            field_name = missing[0].split()[0]
            raise ImportFileError(
                f"{source.path} has no {missing[0]} column (columns: {', '.join(headers)}; "
                f"map one with --map COLUMN={field_name})"
            )
        detected_order, interpretation = _date_order(source, columns)
        order = date_order or detected_order
        if date_order is not None:
            interpretation = fmt.describe_date_order(order)
        options = _Options(
            record_type=record_type,
            now=now,
            match=spec,
            strict=strict,
            create_accounts=create_accounts,
            blank_overwrites=blank_overwrites,
            user_id=user_id,
            date_order=order,
            decimal_comma=True if source.delimiter == ";" else None,
        )
        report = ImportReport(
            record_type=record_type,
            path=str(source.path),
            encoding=source.encoding,
            delimiter=source.delimiter,
            headers=headers,
            match=describe_match(spec),
            date_interpretation=interpretation,
            dry_run=dry_run,
        )
        header_of = {c.field: c.header for c in columns if c.field}
        ctx = _Context(session, options, report, header_of)
        ctx.parser = _RowParser(columns, options)
        ctx.file_size = source.size
        tracker = _Tracker(progress, source.size)
        _temp_tables(session)
        store = ctx.store
        cache = _grow_cache(store)
        importer = _IMPORTERS[record_type](ctx)
        tracker.reading(0)
        with _without_cycle_collector():
            report.rows = _read_chunks(reader, importer, ctx, tracker)
            tracker.reading(source.size)
            report.rejected.sort(key=lambda r: r.line)
            if strict and report.rejected:
                report.refused = True
                raise ImportRefused(report)
            touched = importer.finish()
            if not dry_run:
                _rescore(session, touched, now, tracker)
                report.leads_rescored = len(touched)
            else:
                report.leads_rescored = len(touched)
        tracker.rescoring(1, 1)
        _drop_temp_tables(session)
        return report
    finally:
        reader.close()
        if cache is not None and store is not None:
            _restore_cache(store, cache)


@contextmanager
def _without_cycle_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the file is read and written and
    the touched leads are re-scored.

    A chunk holds tens of thousands of row lists and tuples, the caches hold more, and
    the re-score builds its own big tables: every few hundred allocations the collector
    would walk them all again, which on a million-row file costs a fifth of the import
    and frees nothing (rows are freed by reference counting when their chunk is
    written). Reference counting still runs; only cycles wait for the end of the import.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_chunks(reader: _Reader, importer: _Importer, ctx: _Context, tracker: _Tracker) -> int:
    """Read the rows after the header and hand them to the importer in chunks of
    ``chunk_rows`` valid rows; returns the number of data rows (blank ones not counted).

    Records are prepared in batches that can at most fill the chunk in hand, so a row
    is validated only once the rows before it have been written - as when rows went
    one by one (validation can note accounts to create, which the next chunk writes).
    """
    chunk_rows = importer.chunk_rows
    chunk: list[Any] = []
    rows = 0
    while True:
        batch = _without_blank_rows(reader.batch(chunk_rows - len(chunk)))
        if batch is None:
            break
        rows += len(batch)
        ctx.records += batch
        ctx.bytes_read = reader.bytes_read
        chunk += importer.prepare(batch)
        if len(chunk) >= chunk_rows:
            importer.process(chunk)
            chunk = []
            ctx.next_chunk()
            tracker.reading(reader.bytes_read)
    if chunk:
        importer.process(chunk)
        ctx.next_chunk()
    return rows


def _without_blank_rows(
    records: list[tuple[int, list[str]]],
) -> list[tuple[int, list[str]]] | None:
    """The records that are not blank (``fmt.is_blank``); None when ``records`` is
    empty (the end of the file). Only a row whose first cell is blank can be blank, and
    whether any is, is asked of the first cells in two C-level scans; the rows are then
    checked one by one only in a batch that has such a row."""
    if not records:
        return None
    try:
        firsts = list(map(itemgetter(0), map(itemgetter(1), records)))
    except IndexError:  # an empty record ([]), a blank line
        firsts = None
    if firsts is not None and "" not in firsts and not any(map(str.isspace, firsts)):
        return records
    return [r for r in records if not fmt.is_blank(r[1])]


def _grow_cache(store: _Store) -> int | None:
    """A bulk transaction's page cache (``BULK_CACHE_KIB``) for the dry run as well, which
    reads in an ordinary session: index pages of a big table are then read once per
    import instead of once per chunk. Returns the setting to restore."""
    if not store.raw:
        return None
    cursor = store.cursor()
    try:
        previous = int(cursor.execute("PRAGMA cache_size").fetchone()[0])
        cursor.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    finally:
        cursor.close()
    return previous


def _restore_cache(store: _Store, previous: int) -> None:
    with suppress(Exception):
        cursor = store.cursor()
        try:
            cursor.execute(f"PRAGMA cache_size={previous}")
        finally:
            cursor.close()


BULK_RESCORE_AT = 5000
"""Touched leads from which re-scoring the whole desk in bulk SQL beats re-scoring the
touched leads one by one (the bulk path does 100,000 leads in a few seconds; the
per-lead path takes about that long for 2,000)."""


def _rescore(session: Session, lead_ids: Sequence[int], now: datetime, tracker: _Tracker) -> None:
    """Scores and process moves for the touched leads, in the import's transaction, as
    logging each activity would have made them (``recompute.rescore`` does both)."""
    session.flush()
    total = len(lead_ids)
    tracker.rescoring(0, total)
    if total >= BULK_RESCORE_AT:
        from leaddesk.services import scoring

        everything = getattr(scoring, "_rescore_everything", None)
        if everything is not None:
            # Every lead is re-scored at ``now``; only the scores that move are written,
            # so for leads the file did not touch this is the daily time-based re-score
            # arriving early.
            try:
                everything(session, now, "import", tracker.rescore_progress)
            except scoring.RescoreCancelled:
                raise ImportCancelled() from None
            tracker.rescoring(total, total)
            return
    for start in range(0, total, RESCORE_BATCH):
        recompute.rescore(session, lead_ids[start : start + RESCORE_BATCH], now, "import")
        tracker.rescoring(min(start + RESCORE_BATCH, total), total)


def import_csv(
    db: Database,
    path: str | os.PathLike[str],
    record_type: str,
    *,
    now: datetime,
    encoding: str | None = None,
    delimiter: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    match: Sequence[str] | MatchSpec | None = None,
    strict: bool = False,
    create_accounts: bool = True,
    blank_overwrites: bool = False,
    progress: Progress | None = None,
    user_id: int | None = None,
    date_order: fmt.DateOrder | None = None,
) -> ImportReport:
    """Import one CSV file in one transaction (see the module docstring).

    ``match``: strings such as ``["domain", "name"]`` (alternatives, first that finds a
    record wins) or ``["first_name,last_name"]`` (one composite key). ``user_id`` is the
    importing user; imported activities are the contacts' own, so it is not written on
    them. A file touching ``BULK_RESCORE_AT`` leads or more re-scores the whole desk
    through the bulk path; smaller ones re-score the touched leads one by one. Raises
    ImportFileError (nothing read), ImportRefused (strict and bad rows), ImportCancelled
    (``progress`` returned False); the desk is unchanged after each of them.
    """
    source = _open_source(Path(path), encoding, delimiter)
    with db.transaction(bulk=True) as session:
        return _run(
            session,
            source,
            record_type,
            now=now,
            mapping=mapping,
            match=match,
            strict=strict,
            create_accounts=create_accounts,
            blank_overwrites=blank_overwrites,
            progress=progress,
            user_id=user_id,
            date_order=date_order,
            dry_run=False,
        )


def preview_csv(
    path: str | os.PathLike[str],
    record_type: str,
    *,
    db: Database | None = None,
    now: datetime | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    match: Sequence[str] | MatchSpec | None = None,
    create_accounts: bool = True,
    blank_overwrites: bool = False,
    date_order: fmt.DateOrder | None = None,
    rows: int = PREVIEW_ROWS,
    progress: Progress | None = None,
    shown_only: bool = False,
) -> Preview:
    """What the wizard shows: detection, the first rows, the mapping with its guesses,
    the problems of those rows and, given a database, the whole file validated in a dry
    run that is rolled back (rows OK / with problems, to create / to update).

    ``shown_only``: the dry run stops after the rows shown, so their problems are those
    the desk would find (an unknown owner, an account to match) without reading a million
    rows to tint twenty; only ``problems`` is filled in then, the counts stay unknown.
    What a later row would change about an earlier one (two rows of one contact merged)
    is seen by the whole-file check only."""
    _check_type(record_type)
    spec = _resolve_options(record_type, match)
    source = _open_source(Path(path), encoding, delimiter)
    reader = _Reader(source)
    try:
        headers, records = _header_and_rows(reader)
        columns = resolve_columns(headers, record_type, mapping)
        first: list[fmt.Record] = []
        for record in records:
            if fmt.is_blank(record.cells):
                continue
            first.append(record)
            if len(first) >= rows:
                break
    finally:
        reader.close()
    detected_order, interpretation = _date_order(source, columns)
    order = date_order or detected_order
    if date_order is not None:
        interpretation = fmt.describe_date_order(order)
    options = _Options(
        record_type,
        now or datetime(2000, 1, 1),
        spec,
        False,
        create_accounts,
        blank_overwrites,
        None,
        order,
        True if source.delimiter == ";" else None,
    )
    parser = _RowParser(columns, options)
    header_of = {c.field: c.header for c in columns if c.field}
    problems: dict[int, list[Problem]] = {}
    for record in first:
        try:
            parser.parse(record)
        except _RowRejected as exc:
            problems[record.line] = [
                Problem(header_of.get(k, k), v) for k, v in exc.problems.items()
            ]
    missing = _missing_required(columns, record_type)
    preview = Preview(
        record_type=record_type,
        path=str(source.path),
        encoding=source.encoding,
        encoding_label=fmt.ENCODING_LABELS.get(source.encoding, source.encoding),
        encoding_detected=source.encoding_detected,
        delimiter=source.delimiter,
        delimiter_label=fmt.DELIMITER_LABELS.get(source.delimiter, source.delimiter),
        delimiter_detected=source.delimiter_detected,
        headers=headers,
        rows=[list(r.cells) for r in first],
        row_lines=[r.line for r in first],
        columns=columns,
        target_fields=fmt.TARGET_FIELDS[record_type],
        required_fields=fmt.REQUIRED_FIELDS[record_type],
        missing_required=missing,
        match=spec,
        match_text=describe_match(spec),
        date_interpretation=interpretation,
        problems=problems,
    )
    if db is None or missing:
        return preview
    last_line = (preview.row_lines[-1] if preview.row_lines else 0) if shown_only else None
    with db.reading() as session:
        report = _run(
            session,
            source,
            record_type,
            now=now or datetime.now(),
            mapping=mapping,
            match=spec,
            strict=False,
            create_accounts=create_accounts,
            blank_overwrites=blank_overwrites,
            progress=progress,
            user_id=None,
            date_order=order,
            dry_run=True,
            last_line=last_line,
        )
    for rejected in report.rejected:
        if rejected.line in set(preview.row_lines):
            problems[rejected.line] = list(rejected.problems)
    if shown_only:
        return replace(preview, problems=problems)
    bad_lines = len({r.line for r in report.rejected})
    return replace(
        preview,
        problems=problems,
        total_rows=report.rows,
        rows_ok=report.rows - bad_lines,
        rows_with_problems=bad_lines,
        to_create=report.created,
        to_update=report.updated,
        unchanged=report.skipped,
        report=report,
    )


def write_rejects(report: ImportReport, path: str | os.PathLike[str]) -> int:
    """The rejected rows as a CSV the user can fix and import again: the file's own
    columns, then ``reason``. UTF-8 with BOM and the source's delimiter, so it opens in
    the same spreadsheet the file came from."""
    with Path(path).open("w", encoding=fmt.UTF8_BOM, newline="") as handle:
        writer = csv.writer(handle, delimiter=report.delimiter)
        writer.writerow([*report.headers, "reason"])
        width = len(report.headers)
        for row in report.rejected:
            cells = [fmt.neutralise_formula(c) for c in row.cells]
            cells = (cells + [""] * width)[: max(width, len(cells))]
            writer.writerow([*cells, fmt.neutralise_formula(row.reason)])
    return len(report.rejected)

"""Exporting accounts, contacts, leads, activities and external scores as CSV.

The columns are the import's (DESIGN §5.1), custom fields and activity properties
become extra columns, and values are written exactly as the import reads them back
(ISO times in UTC, ``true``/``false``, ``'`` before a cell a spreadsheet would run as a
formula), so exporting a desk and importing the file again changes nothing.

UTF-8 with a byte-order mark by default: without it Excel on Windows reads UTF-8 as
Windows-1252 and mangles every accent. Rows are read and written in chunks, so a
million activities never sit in memory at once.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, aliased

from leaddesk.domain import csv_format as fmt
from leaddesk.services import lists
from leaddesk.services.errors import Cancelled, ServiceError
from leaddesk.services.importing import ACCOUNT_COLUMNS, CONTACT_COLUMNS
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Activity, Contact, ExternalScore, Lead, User

EXPORT_TYPES = ("accounts", "contacts", "leads", "activities", "scores")
CHUNK = 2000

COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ACCOUNT_COLUMNS,
    "contacts": (*CONTACT_COLUMNS, "account", "account_domain"),
    "leads": (
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
    ),
    "activities": ("email", "type", "occurred_at", "lead_topic"),
    "scores": ("lead_id", "email", "model", "score", "updated_at"),
}


class ExportError(ServiceError):
    pass


class ExportCancelled(Cancelled):
    """The progress callback said stop; the unfinished file has been removed."""


Progress = Callable[[int, int], bool]


def _json_keys(session: Session, table: str, column: str) -> list[str]:
    """Every key used in a JSON column (custom fields, activity properties): SQLite
    lists them in C with ``json_each``; other databases are scanned in chunks."""
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(
            text(
                f"SELECT DISTINCT j.key FROM {table}, json_each({table}.{column}) AS j "
                f"WHERE {table}.{column} IS NOT NULL AND {table}.{column} != '{{}}'"
            )
        )
        return sorted(str(r[0]) for r in rows)
    keys: set[str] = set()
    model = {"accounts": Account, "contacts": Contact, "leads": Lead, "activities": Activity}[table]
    attribute = getattr(model, column)
    for value in session.execute(select(attribute).execution_options(yield_per=CHUNK)).scalars():
        keys.update(str(k) for k in (value or {}))
    return sorted(keys)


def _extra_headers(keys: Sequence[str], fixed: Sequence[str]) -> list[str]:
    """A custom field named like a standard column (or already starting ``custom.``) is
    written as ``custom.NAME`` so the import keeps it apart from the standard one."""
    taken = set(fixed)
    return [f"custom.{k}" if k in taken or k.lower().startswith("custom.") else k for k in keys]


def _cell(value: object) -> str:
    text_value = fmt.format_cell(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text_value  # a negative number is a number, not a formula
    return fmt.neutralise_formula(text_value)


def _in_order(
    session: Session, query: Select[Any] | Any, id_column: Any, ids: Sequence[int] | None
) -> Iterator[Any]:
    """Rows in the list's order (ids fetched a chunk at a time) or, for everything, in
    id order streamed from one query."""
    if ids is None:
        yield from session.execute(query.order_by(id_column).execution_options(yield_per=CHUNK))
        return
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start : start + CHUNK])
        found = {row[0]: row for row in session.execute(query.where(id_column.in_(part)))}
        for record_id in part:
            if record_id in found:
                yield found[record_id]


def _rows(
    session: Session,
    record_type: str,
    db: Database,
    lead_query: lists.LeadQuery | None,
    contact_query: lists.ContactQuery | None,
    account_query: lists.AccountQuery | None,
) -> tuple[list[str], int, Iterator[list[str]]]:
    """The header, how many rows will follow (for progress) and the rows."""
    fixed = COLUMNS[record_type]

    def total(ids: Sequence[int] | None, column: Any) -> int:
        if ids is not None:
            return len(ids)
        return int(session.scalar(select(func.count(column))) or 0)

    if record_type == "accounts":
        keys = _json_keys(session, "accounts", "custom")
        ids = lists.account_ids(db, account_query) if account_query else None
        query = select(Account.id, Account.custom, *(getattr(Account, c) for c in fixed))
        return (
            [*fixed, *_extra_headers(keys, fixed)],
            total(ids, Account.id),
            (
                [*(_cell(v) for v in row[2:]), *(_cell((row[1] or {}).get(k)) for k in keys)]
                for row in _in_order(session, query, Account.id, ids)
            ),
        )
    if record_type == "contacts":
        keys = _json_keys(session, "contacts", "custom")
        ids = lists.contact_ids(db, contact_query) if contact_query else None
        query = select(
            Contact.id,
            Contact.custom,
            *(getattr(Contact, c) for c in CONTACT_COLUMNS),
            Account.name,
            Account.domain,
        ).outerjoin(Account, Account.id == Contact.account_id)
        return (
            [*fixed, *_extra_headers(keys, fixed)],
            total(ids, Contact.id),
            (
                [*(_cell(v) for v in row[2:]), *(_cell((row[1] or {}).get(k)) for k in keys)]
                for row in _in_order(session, query, Contact.id, ids)
            ),
        )
    if record_type == "leads":
        keys = _json_keys(session, "leads", "custom")
        ids = lists.lead_ids(db, lead_query) if lead_query else None
        company = aliased(Account)
        query = (
            select(
                Lead.id,
                Lead.custom,
                Contact.email,
                company.name,
                company.domain,
                Lead.topic,
                Lead.source,
                User.name,
                Lead.stage,
                Lead.status,
                Lead.score,
            )
            .select_from(Lead)
            .outerjoin(Contact, Contact.id == Lead.contact_id)
            .outerjoin(company, company.id == func.coalesce(Lead.account_id, Contact.account_id))
            .outerjoin(User, User.id == Lead.owner_id)
        )
        return (
            [*fixed, *_extra_headers(keys, fixed)],
            total(ids, Lead.id),
            (
                [
                    _cell(row[0]),
                    *(_cell(v) for v in row[2:]),
                    *(_cell((row[1] or {}).get(k)) for k in keys),
                ]
                for row in _in_order(session, query, Lead.id, ids)
            ),
        )
    if record_type == "activities":
        keys = _json_keys(session, "activities", "properties")
        activity_ids: list[int] | None = None
        if lead_query is not None:
            # The activities of the listed leads' contacts, newest last, as the list's
            # export of "what these leads did".
            wanted = lists.lead_ids(db, lead_query)
            contacts: set[int] = set()
            for start in range(0, len(wanted), CHUNK):
                contacts.update(
                    c
                    for c in session.scalars(
                        select(Lead.contact_id).where(Lead.id.in_(wanted[start : start + CHUNK]))
                    )
                    if c is not None
                )
            activity_ids = []
            ordered = sorted(contacts)
            for start in range(0, len(ordered), CHUNK):
                activity_ids.extend(
                    session.scalars(
                        select(Activity.id).where(
                            Activity.contact_id.in_(ordered[start : start + CHUNK])
                        )
                    )
                )
            activity_ids.sort()
        query = (
            select(
                Activity.id,
                Activity.properties,
                Contact.email,
                Activity.type_key,
                Activity.occurred_at,
                Lead.topic,
            )
            .join(Contact, Contact.id == Activity.contact_id)
            .outerjoin(Lead, Lead.id == Activity.lead_id)
        )
        return (
            [*fixed, *_extra_headers(keys, fixed)],
            total(activity_ids, Activity.id),
            (
                [*(_cell(v) for v in row[2:]), *(_cell((row[1] or {}).get(k)) for k in keys)]
                for row in _in_order(session, query, Activity.id, activity_ids)
            ),
        )
    query = (
        select(
            ExternalScore.id,
            ExternalScore.lead_id,
            Contact.email,
            ExternalScore.name,
            ExternalScore.score,
            ExternalScore.updated_at,
        )
        .join(Lead, Lead.id == ExternalScore.lead_id)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
    )
    return (
        list(fixed),
        total(None, ExternalScore.id),
        ([_cell(v) for v in row[1:]] for row in _in_order(session, query, ExternalScore.id, None)),
    )


def export_csv(
    db: Database,
    record_type: str,
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    bom: bool = True,
    lead_query: lists.LeadQuery | None = None,
    contact_query: lists.ContactQuery | None = None,
    account_query: lists.AccountQuery | None = None,
    progress: Progress | None = None,
) -> int:
    """Write every record of the type (or the list view's records, in its order, when
    a query is given) to ``path``; ``-`` writes to standard output. Returns the number of
    rows written.

    ``progress(done, total)`` is called every few thousand rows; when it returns False the
    export stops with ExportCancelled and the unfinished file is deleted (a file that
    looks complete but is not would be worse than none)."""
    if record_type not in EXPORT_TYPES:
        raise ExportError(f"cannot export {record_type!r}; choose one of {', '.join(EXPORT_TYPES)}")
    try:
        sep = fmt.delimiter_from_text(delimiter)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    queries = (lead_query, contact_query, account_query)
    if str(path) == "-":
        return _write(db, record_type, sys.stdout, sep, queries, progress)
    target = Path(path)
    encoding = fmt.UTF8_BOM if bom else fmt.UTF8
    try:
        handle = target.open("w", encoding=encoding, newline="")
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with handle:
            return _write(db, record_type, handle, sep, queries, progress)
    except ExportCancelled:
        target.unlink(missing_ok=True)
        raise


def _write(
    db: Database,
    record_type: str,
    handle: TextIO,
    delimiter: str,
    queries: tuple[lists.LeadQuery | None, lists.ContactQuery | None, lists.AccountQuery | None],
    progress: Progress | None,
) -> int:
    writer = csv.writer(handle, delimiter=delimiter)
    count = 0
    with db.reading() as session:
        headers, total, rows = _rows(session, record_type, db, *queries)
        if progress is not None and not progress(0, total):
            raise ExportCancelled("export cancelled")
        writer.writerow(headers)
        batch: list[list[str]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                writer.writerows(batch)
                count += len(batch)
                batch = []
                if progress is not None and not progress(min(count, total), total):
                    raise ExportCancelled("export cancelled")
        writer.writerows(batch)
        count += len(batch)
    if progress is not None:
        progress(count, max(total, count))
    return count


def export_columns(record_type: str) -> tuple[str, ...]:
    """The fixed columns of an export, before custom fields and properties."""
    return COLUMNS[record_type]

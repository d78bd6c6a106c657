"""Transfer verbs: importing and exporting CSV files (DESIGN §5, §5.1)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TextIO

from leaddesk.cli.common import EXIT_FAILED, EXIT_OK, CliError, Handler, Subparsers, open_desk_db

IMPORT_TYPES = ("accounts", "contacts", "leads", "activities", "scores")
EXPORT_TYPES = ("accounts", "contacts", "leads", "activities", "scores")


def register(sub: Subparsers) -> dict[str, Handler]:
    imp = sub.add_parser(
        "import",
        help="import a CSV file of accounts, contacts, leads, activities or external scores",
        description="Import a CSV file in one transaction: rows are matched to existing "
        "records (contacts by e-mail, accounts by domain then name, leads by contact and "
        "topic), duplicate rows are merged, and every rejected row is listed with its line.",
    )
    imp.add_argument("type", choices=IMPORT_TYPES, help="what the file holds")
    imp.add_argument("file", help="the CSV file")
    imp.add_argument("--encoding", metavar="E", help="utf-8, cp1252, latin-1… (default: detect)")
    imp.add_argument("--delimiter", metavar="D", help="',', ';', tab or '|' (default: detect)")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read COLUMN as FIELD (or custom.NAME, or - to ignore it); repeatable",
    )
    imp.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="FIELD,...",
        help="match existing records on these fields (all must be equal); repeat for "
        "fallbacks tried in order, e.g. --match domain --match name",
    )
    imp.add_argument(
        "--strict", action="store_true", help="refuse the whole file if any row is bad"
    )
    imp.add_argument("--rejects", metavar="FILE", help="write the rejected rows and reasons here")
    imp.add_argument(
        "--no-create-accounts",
        dest="create_accounts",
        action="store_false",
        help="reject rows naming an unknown account instead of creating it",
    )
    imp.add_argument(
        "--blank-overwrites",
        action="store_true",
        help="let empty cells blank the fields of existing records",
    )
    imp.add_argument(
        "--date-order",
        choices=("day-first", "month-first"),
        help="how to read 03/04/2026 (default: detect, day first when unsure)",
    )
    imp.add_argument("--progress", action="store_true", help="print progress (per mille) to stderr")

    exp = sub.add_parser("export", help="export records to a CSV file")
    exp.add_argument("type", choices=EXPORT_TYPES, help="what to export")
    exp.add_argument("file", help="where to write (- for standard output)")
    exp.add_argument("--delimiter", metavar="D", default=",", help="',' (default), ';' or tab")
    exp.add_argument(
        "--no-bom",
        dest="bom",
        action="store_false",
        help="plain UTF-8 without the byte-order mark Excel needs",
    )
    return {"import": cmd_import, "export": cmd_export}


def _mapping(items: list[str]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip():
            raise CliError(f"--map {item!r}: write COLUMN=FIELD (e.g. --map 'E-mail=email')")
        mapping[column.strip()] = target.strip()
    return mapping


def cmd_import(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.domain.csv_format import DateOrder
    from leaddesk.services.importing import ImportRefused, import_csv, write_rejects

    mapping = _mapping(args.map)
    order = None
    if args.date_order:
        order = DateOrder.DAY_FIRST if args.date_order == "day-first" else DateOrder.MONTH_FIRST

    def progress(done: int, total: int) -> bool:
        print(f"progress {done}/{total}", file=sys.stderr, flush=True)
        return True

    db = open_desk_db(args, now)
    try:
        try:
            report = import_csv(
                db,
                args.file,
                args.type,
                now=now,
                encoding=args.encoding,
                delimiter=args.delimiter,
                mapping=mapping or None,
                match=args.match or None,
                strict=args.strict,
                create_accounts=args.create_accounts,
                blank_overwrites=args.blank_overwrites,
                progress=progress if args.progress else None,
                date_order=order,
            )
        except ImportRefused as exc:
            for row in exc.report.rejected:
                for line in row.lines():
                    out.write(line + "\n")
            if args.rejects:
                write_rejects(exc.report, args.rejects)
                out.write(f"Rejected rows written to {args.rejects}\n")
            print(f"leaddesk: {exc}", file=sys.stderr)
            return EXIT_FAILED
    finally:
        db.dispose()
    out.write(f"Imported {args.type} from {args.file}: {report.summary()}.\n")
    extras = []
    if report.accounts_created:
        extras.append(f"{report.accounts_created:,} new accounts")
    if report.contacts_created:
        extras.append(f"{report.contacts_created:,} new contacts")
    if report.activity_types_created:
        extras.append(f"new activity types: {', '.join(report.activity_types_created)}")
    if report.leads_rescored:
        extras.append(f"{report.leads_rescored:,} leads re-scored")
    if extras:
        out.write("Also: " + "; ".join(extras) + ".\n")
    if report.date_interpretation:
        out.write(f"Dates: {report.date_interpretation}.\n")
    for row in report.rejected:
        for line in row.lines():
            out.write(line + "\n")
    if args.rejects and report.rejected:
        write_rejects(report, args.rejects)
        out.write(f"Rejected rows written to {args.rejects}\n")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.exporting import export_csv

    db = open_desk_db(args, now)
    try:
        count = export_csv(db, args.type, args.file, delimiter=args.delimiter, bom=args.bom)
    finally:
        db.dispose()
    if args.file != "-":
        out.write(f"Wrote {count:,} {args.type} to {args.file}\n")
    return EXIT_OK

"""The ``leaddesk`` command line (DESIGN §5): the desktop app and the terminal verbs.

Every failure a user can cause ends as one line on stderr and a non-zero exit, never a
traceback: the verbs raise the services' own errors and ``main`` turns them into text.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from leaddesk import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

LEAD_CSV_COLUMNS = ("id", "email", "topic", "score", "stage", "sales_ready", "status", "owner")


class CliError(Exception):
    """A refusal the command line reports as one line."""


# --- time -----------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_time(text: str, *, option: str) -> datetime:
    """ISO-8601 → naive UTC. A time without offset is the user's local time, because that
    is what someone typing ``--at "2026-11-22 14:05"`` at their desk means."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{option}: {text!r} is not an ISO-8601 time (e.g. 2026-11-22T14:05)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # interpret as local time
    return parsed.astimezone(UTC).replace(tzinfo=None)


def local_text(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leaddesk",
        description="LeadDesk: lead management at your desk. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"LeadDesk {__version__}")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database: a SQLAlchemy URL or a SQLite file path "
        "(default: $LEADDESK_DB, else leaddesk.sqlite in your data folder)",
    )
    parser.add_argument(
        "--now",
        metavar="ISO-8601",
        help="the clock for time-dependent scoring (default: the current time)",
    )
    parser.add_argument("--as", dest="as_user", metavar="USER", help="act as this user")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("gui", help="open the desktop app (the default)")

    demo = sub.add_parser("demo", help="fill the database with realistic demo data")
    demo.add_argument("--leads", type=int, default=2000, metavar="N", help="how many leads")
    demo.add_argument("--seed", type=int, default=7, metavar="S", help="random seed")

    leads = sub.add_parser("leads", help="list leads")
    leads.add_argument("--stage", metavar="KEY", help="only leads in this stage")
    leads.add_argument("--search", metavar="TEXT", help="name, e-mail, company or topic")
    leads.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    leads.add_argument("--limit", type=int, metavar="N", help="at most N leads")

    log = sub.add_parser("log", help="log an activity for a contact")
    log.add_argument("email", help="the contact's e-mail address")
    log.add_argument("type", help="activity type, e.g. email_open, page_visit, call")
    log.add_argument("--at", metavar="TIME", help="when it happened (default: now)")
    log.add_argument(
        "--prop",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a property such as url=/pricing (repeatable)",
    )
    log.add_argument("--lead", type=int, metavar="ID", help="attach it to this lead")

    scoring = sub.add_parser("scoring", help="scoring models: import or export them as JSON")
    scoring_sub = scoring.add_subparsers(dest="scoring_command", metavar="ACTION", required=True)
    scoring_import = scoring_sub.add_parser(
        "import", help="import models (replacing models of the same name) and re-score"
    )
    scoring_import.add_argument("file", help="a leaddesk.scoring/1 JSON file")
    scoring_export = scoring_sub.add_parser("export", help="write every model to a JSON file")
    scoring_export.add_argument("file", help="where to write (- for standard output)")

    sub.add_parser("rescore", help="re-score every lead (expiry and decay take effect)")

    explain = sub.add_parser("explain", help="why a lead has its score")
    explain.add_argument("lead_id", type=int, metavar="LEAD_ID")
    explain.add_argument("--format", choices=("text", "json"), default="text")

    shot = sub.add_parser("screenshot", help="save a PNG of the main window")
    shot.add_argument("file", help="where to write the PNG")
    shot.add_argument("--size", default="1280x800", metavar="WxH", help="window size")
    return parser


# --- verbs ----------------------------------------------------------------------------------


def _open(args: argparse.Namespace, now: datetime) -> Any:
    from leaddesk.services.desk import open_desk
    from leaddesk.store.database import resolve_url

    return open_desk(resolve_url(args.db), now).db


def cmd_demo(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.demo import generate_demo

    if args.leads < 1:
        raise CliError("--leads must be at least 1")
    from leaddesk.services.scoring import install_starter_models, rescore_all

    db = _open(args, now)
    try:
        summary = generate_demo(db, leads=args.leads, seed=args.seed, now=now)
        added = install_starter_models(db, now)
        if not added:
            rescore_all(db, now, "record edited")
    finally:
        db.dispose()
    out.write(
        f"Added {summary.leads:,} leads, {summary.contacts:,} contacts, "
        f"{summary.accounts:,} accounts, {summary.activities:,} activities "
        f"and {summary.users:,} users.\n"
    )
    if added:
        out.write(f"Installed the starter scoring models: {', '.join(added)}.\n")
    return EXIT_OK


def cmd_scoring(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from pathlib import Path

    from leaddesk.domain.scoring_file import ScoringFileError
    from leaddesk.services.scoring import export_models, import_models

    if args.scoring_command == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CliError(f"{args.file} is not UTF-8 text") from None
        db = _open(args, now)
        try:
            names = import_models(db, text, now)
        except ScoringFileError as exc:
            problems = "; ".join(str(p) for p in exc.problems)
            raise CliError(
                f"{args.file} refused, nothing imported ({len(exc.problems)} problem"
                f"{'s' if len(exc.problems) != 1 else ''}): {problems}"
            ) from None
        finally:
            db.dispose()
        out.write(f"Imported {len(names)} model(s): {', '.join(names)}; every lead re-scored.\n")
        return EXIT_OK
    db = _open(args, now)
    try:
        text = export_models(db)
    finally:
        db.dispose()
    if args.file == "-":
        out.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        out.write(f"Wrote {args.file}\n")
    return EXIT_OK


def cmd_rescore(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.scoring import rescore_all

    db = _open(args, now)
    try:
        summary = rescore_all(db, now, "time passed")
    finally:
        db.dispose()
    out.write(f"Re-scored {summary.leads:,} leads; {summary.changed:,} scores changed.\n")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.domain.scoring import explain_lines
    from leaddesk.services.records import get_lead_detail
    from leaddesk.services.scoring import explain

    db = _open(args, now)
    try:
        detail = get_lead_detail(db, args.lead_id, timeline_limit=0)
        results = explain(db, args.lead_id, now)
    finally:
        db.dispose()
    if args.format == "json":
        json.dump(
            {
                "lead": args.lead_id,
                "name": detail.display_name,
                "topic": detail.lead["topic"],
                "now": now.isoformat(),
                "models": [r.to_dict() for r in results],
            },
            out,
            ensure_ascii=False,
            indent=2,
        )
        out.write("\n")
        return EXIT_OK
    out.write(f"Lead #{args.lead_id} {detail.display_name} — {detail.lead['topic']}\n")
    if not results:
        out.write("No active scoring model: every score is 0.\n")
    for result in results:
        out.write("\n".join(explain_lines(result)) + "\n\n")
    return EXIT_OK


def _lead_rows_in_order(db: Any, ids: Sequence[int]) -> Iterator[tuple[Any, dict[str, int]]]:
    """Rows in the query's order, fetched a thousand at a time so that listing 100,000
    leads never holds them all in memory."""
    from leaddesk.services.lists import lead_model_scores, lead_rows

    chunk = 1000
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        rows = lead_rows(db, part)
        scores = lead_model_scores(db, part)
        for lead_id in part:
            if lead_id in rows:
                yield rows[lead_id], scores.get(lead_id, {})


def cmd_leads(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.lists import LeadQuery, active_model_names, lead_ids

    db = _open(args, now)
    try:
        query = LeadQuery(search=args.search or "", stage=args.stage, sort="score")
        ids = lead_ids(db, query)
        if args.limit is not None:
            ids = ids[: max(args.limit, 0)]
        models = active_model_names(db)
        rows = _lead_rows_in_order(db, ids)
        if args.format == "csv":
            _leads_csv(rows, models, out)
        elif args.format == "json":
            _leads_json(rows, out)
        else:
            _leads_table([row for row, _ in rows], out)
    finally:
        db.dispose()
    return EXIT_OK


def _csv_value(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _leads_csv(
    rows: Iterator[tuple[Any, dict[str, int]]], models: Sequence[str], out: TextIO
) -> None:
    """DESIGN §5: the fixed columns first, then one column per active model."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*LEAD_CSV_COLUMNS, *models])
    for row, scores in rows:
        fixed = (
            row.id,
            row.email,
            row.topic,
            row.score,
            row.stage,
            row.sales_ready,
            row.status,
            row.owner,
        )
        writer.writerow([*(_csv_value(v) for v in fixed), *(scores.get(m, 0) for m in models)])


def _leads_json(rows: Iterator[tuple[Any, dict[str, int]]], out: TextIO) -> None:
    data = [
        {
            "id": row.id,
            "name": row.name,
            "email": row.email,
            "company": row.company,
            "topic": row.topic,
            "score": row.score,
            "stars": row.stars,
            "scores": scores,
            "stage": row.stage,
            "sales_ready": row.sales_ready,
            "status": row.status,
            "owner": row.owner,
            "last_activity_at": row.last_activity_at.isoformat() if row.last_activity_at else None,
        }
        for row, scores in rows
    ]
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")


def _leads_table(rows: list[Any], out: TextIO) -> None:
    headers = (
        "ID",
        "Name",
        "Company",
        "Topic",
        "Score",
        "Stage",
        "Status",
        "Owner",
        "Last activity",
    )
    table = [
        (
            str(r.id),
            r.name,
            r.company or "",
            r.topic,
            str(r.score),
            r.stage_label,
            r.status,
            r.owner or "",
            local_text(r.last_activity_at),
        )
        for r in rows
    ]
    widths = [len(h) for h in headers]
    for line in table:
        widths = [min(max(w, len(c)), 40) for w, c in zip(widths, line, strict=True)]
    right = {0, 4}

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            text = cell if len(cell) <= width else cell[: width - 1] + "…"
            parts.append(text.rjust(width) if i in right else text.ljust(width))
        return "  ".join(parts).rstrip()

    out.write(fmt(headers) + "\n")
    for line in table:
        out.write(fmt(line) + "\n")
    out.write(f"({len(table):,} leads)\n")


def _parse_props(items: Sequence[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--prop {item!r}: write it as KEY=VALUE, e.g. url=/pricing")
        props[key.strip()] = value
    return props


def cmd_log(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.activities import log_activity

    occurred_at = parse_time(args.at, option="--at") if args.at else now
    props = _parse_props(args.prop)
    db = _open(args, now)
    try:
        result = log_activity(
            db,
            email=args.email,
            type_key=args.type,
            occurred_at=occurred_at,
            now=now,
            properties=props,
            lead_id=args.lead,
        )
    finally:
        db.dispose()
    out.write(
        f"Logged {args.type} #{result.activity_id} for {args.email.strip().lower()} "
        f"at {local_text(occurred_at)}.\n"
    )
    if not result.leads:
        out.write("  This contact has no leads.\n")
    for lead in result.leads:
        topic = lead.topic or "(no topic)"
        out.write(f"  lead #{lead.id} {topic}: score {lead.score}, stage {lead.stage_label}\n")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace, now_text: str | None) -> int:
    from leaddesk.store.database import resolve_url
    from leaddesk.ui.app import run_gui

    clock: Callable[[], datetime]
    if now_text:
        fixed = parse_time(now_text, option="--now")
        clock = lambda: fixed  # noqa: E731
    else:
        clock = utc_now
    return run_gui(resolve_url(args.db), clock=clock)


def cmd_screenshot(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.store.database import resolve_url
    from leaddesk.ui.screenshot import save_screenshot

    try:
        width, height = (int(p) for p in args.size.lower().split("x"))
    except ValueError:
        raise CliError(f"--size {args.size!r}: write it as WIDTHxHEIGHT, e.g. 1280x800") from None
    save_screenshot(resolve_url(args.db), args.file, size=(width, height), clock=lambda: now)
    out.write(f"Saved {args.file}\n")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------


def _user_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    from leaddesk.domain.scoring_file import ScoringFileError
    from leaddesk.services.errors import ServiceError, ValidationError
    from leaddesk.store.database import DatabaseUrlError
    from leaddesk.store.migrate import DatabaseTooNewError, MigrationFailedError

    return (
        CliError,
        ServiceError,
        ScoringFileError,
        ValidationError,
        DatabaseUrlError,
        DatabaseTooNewError,
        MigrationFailedError,
        SQLAlchemyError,
        OSError,
    )


def _one_line(exc: BaseException) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        original = getattr(exc, "orig", None)
        text = str(original) if original is not None else str(exc).split("\n", 1)[0]
        return f"database error: {text}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        if args.command in (None, "gui"):
            return cmd_gui(args, args.now)
        now = parse_time(args.now, option="--now") if args.now else utc_now()
        verbs: dict[str, Callable[[argparse.Namespace, datetime, TextIO], int]] = {
            "demo": cmd_demo,
            "leads": cmd_leads,
            "log": cmd_log,
            "scoring": cmd_scoring,
            "rescore": cmd_rescore,
            "explain": cmd_explain,
            "screenshot": cmd_screenshot,
        }
        return verbs[args.command](args, now, out)
    except KeyboardInterrupt:
        print("leaddesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except _user_errors() as exc:
        print(f"leaddesk: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())

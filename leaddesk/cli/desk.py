"""Desk verbs: the app itself, demo data, listing leads, logging activities."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO

from leaddesk.cli.common import (
    EXIT_OK,
    CliError,
    Handler,
    Subparsers,
    csv_value,
    local_text,
    open_desk_db,
    parse_time,
    utc_now,
)

LEAD_CSV_COLUMNS = ("id", "email", "topic", "score", "stage", "sales_ready", "status", "owner")


def register(sub: Subparsers) -> dict[str, Handler]:
    sub.add_parser("gui", help="open the desktop app (the default)")

    demo = sub.add_parser("demo", help="fill the database with realistic demo data")
    demo.add_argument("--leads", type=int, default=2000, metavar="N", help="how many leads")
    demo.add_argument("--seed", type=int, default=7, metavar="S", help="random seed")
    demo.add_argument(
        "--no-activities",
        dest="activities",
        action="store_false",
        help="accounts, contacts and leads only, no activity history (to import your own)",
    )

    leads = sub.add_parser("leads", help="list leads")
    leads.add_argument("--stage", metavar="KEY", help="only leads in this stage")
    leads.add_argument("--search", metavar="TEXT", help="name, e-mail, company or topic")
    leads.add_argument(
        "--sales-ready", action="store_true", help="only sales-ready leads (still open)"
    )
    leads.add_argument("--owner", metavar="USER", help="only leads owned by this user")
    leads.add_argument(
        "--queue",
        choices=("all", "telemarketing", "sales_acceptance", "mine", "disqualified"),
        help="a work queue (mine = the --as user's or the current user's)",
    )
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

    shot = sub.add_parser("screenshot", help="save a PNG of the main window")
    shot.add_argument("file", help="where to write the PNG")
    shot.add_argument("--size", default="1280x800", metavar="WxH", help="window size")
    return {
        "demo": cmd_demo,
        "leads": cmd_leads,
        "log": cmd_log,
        "screenshot": cmd_screenshot,
    }


def cmd_demo(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services.demo import load_demo

    if args.leads < 1:
        raise CliError("--leads must be at least 1")
    db = open_desk_db(args, now)
    try:
        loaded = load_demo(
            db, leads=args.leads, seed=args.seed, now=now, activities=args.activities
        )
    finally:
        db.dispose()
    summary = loaded.summary
    out.write(
        f"Added {summary.leads:,} leads, {summary.contacts:,} contacts, "
        f"{summary.accounts:,} accounts, {summary.activities:,} activities "
        f"and {summary.users:,} users.\n"
    )
    if loaded.models:
        out.write(f"Installed the starter scoring models: {', '.join(loaded.models)}.\n")
    if loaded.team_actions:
        out.write(f"The demo team has worked a few leads ({loaded.team_actions} process steps).\n")
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

    db = open_desk_db(args, now)
    try:
        me = None
        if args.queue == "mine":
            from leaddesk.services.process import resolve_actor

            me = resolve_actor(db, args.as_user).id
        if args.owner:
            from leaddesk.services.process import resolve_actor

            resolve_actor(db, args.owner)  # an unknown name is an error, not an empty list
        query = LeadQuery(
            search=args.search or "",
            stage=args.stage,
            sales_ready=True if args.sales_ready else None,
            status="open" if args.sales_ready else None,
            owner_name=args.owner,
            queue=args.queue,
            me=me,
            sort="score",
        )
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
        writer.writerow([*(csv_value(v) for v in fixed), *(scores.get(m, 0) for m in models)])


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
    db = open_desk_db(args, now)
    try:
        from leaddesk.services.process import resolve_actor

        actor = resolve_actor(db, args.as_user)
        result = log_activity(
            db,
            user_id=actor.id,
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

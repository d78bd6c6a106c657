"""Process verbs: users, stages, checkboxes, assignment, status, the audit trail.

Every verb acts as ``--as USER`` or, without it, as the desk's current user (on a new
database the admin it creates), and the services enforce that user's rights.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TextIO

from leaddesk.cli.common import EXIT_OK, CliError, Handler, Subparsers, local_text, open_desk_db
from leaddesk.domain.process import FLAGS, USER_ROLES


def register(sub: Subparsers) -> dict[str, Handler]:
    user = sub.add_parser("user", help="users and their roles")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="add a user (admins only)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=USER_ROLES)
    add.add_argument("--email")
    user_sub.add_parser("list", help="list users")
    use = user_sub.add_parser("use", help="make this user the desk's current user")
    use.add_argument("name")

    stage = sub.add_parser("stage", help="move a lead to a stage by hand")
    stage.add_argument("lead_id", type=int, metavar="LEAD_ID")
    stage.add_argument("key", metavar="KEY", help="stage key, e.g. telemarketing_acceptance")
    stage.add_argument("--reason", metavar="TEXT")

    mark = sub.add_parser("mark", help="tick (or with --off untick) a process checkbox")
    mark.add_argument("lead_id", type=int, metavar="LEAD_ID")
    mark.add_argument("flag", choices=FLAGS)
    mark.add_argument("--off", action="store_true", help="untick it")

    assign = sub.add_parser("assign", help="assign leads to a salesperson (managers)")
    assign.add_argument("lead_ids", type=int, nargs="+", metavar="LEAD_ID")
    assign.add_argument("user", metavar="USER")

    disqualify = sub.add_parser("disqualify", help="disqualify a lead")
    disqualify.add_argument("lead_id", type=int, metavar="LEAD_ID")
    disqualify.add_argument("--reason", required=True, metavar="TEXT")

    win = sub.add_parser("win", help="mark a lead won")
    win.add_argument("lead_id", type=int, metavar="LEAD_ID")

    reopen = sub.add_parser("reopen", help="reopen a won or disqualified lead")
    reopen.add_argument("lead_id", type=int, metavar="LEAD_ID")

    qualify = sub.add_parser("qualify", help="fill qualification fields (budget=… need=…)")
    qualify.add_argument("lead_id", type=int, metavar="LEAD_ID")
    qualify.add_argument("values", nargs="+", metavar="FIELD=VALUE")

    hist = sub.add_parser("history", help="the lead's audit trail")
    hist.add_argument("lead_id", type=int, metavar="LEAD_ID")
    return {
        "user": cmd_user,
        "stage": cmd_stage,
        "mark": cmd_mark,
        "assign": cmd_assign,
        "disqualify": cmd_disqualify,
        "win": cmd_win,
        "reopen": cmd_reopen,
        "qualify": cmd_qualify,
        "history": cmd_history,
    }


def _stage_label(db: object, key: str) -> str:
    from leaddesk.services.process import stages

    for stage in stages(db):  # type: ignore[arg-type]
        if stage.key == key:
            return stage.label
    return key


def cmd_user(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        if args.user_command == "list":
            current = process.current_user(db)
            for user in process.list_users(db):
                marker = "*" if user.id == current.id else " "
                out.write(f"{marker} {user.name:<24} {user.role}\n")
            return EXIT_OK
        if args.user_command == "use":
            chosen = process.resolve_actor(db, args.name)
            process.set_current_user(db, chosen.id)
            out.write(f"{chosen.name} ({chosen.role}) is now at the desk.\n")
            return EXIT_OK
        actor = process.resolve_actor(db, args.as_user)
        process.add_user(db, args.name, args.role, actor, now, email=args.email)
        out.write(f"Added {args.name.strip()} ({args.role}).\n")
        return EXIT_OK
    finally:
        db.dispose()


def cmd_stage(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        actor = process.resolve_actor(db, args.as_user)
        process.move_stage(db, args.lead_id, args.key, actor, now, args.reason)
        out.write(f"Lead #{args.lead_id} is in {_stage_label(db, args.key)}.\n")
    finally:
        db.dispose()
    return EXIT_OK


def cmd_mark(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        actor = process.resolve_actor(db, args.as_user)
        stage = process.mark(db, args.lead_id, args.flag, not args.off, actor, now)
        word = "Unticked" if args.off else "Ticked"
        out.write(f"{word} {args.flag} on lead #{args.lead_id}; stage {_stage_label(db, stage)}.\n")
    finally:
        db.dispose()
    return EXIT_OK


def cmd_assign(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        actor = process.resolve_actor(db, args.as_user)
        changed = process.assign(db, args.lead_ids, args.user, actor, now)
        out.write(f"Assigned {changed} lead(s) to {args.user}.\n")
    finally:
        db.dispose()
    return EXIT_OK


def _status(args: argparse.Namespace, now: datetime, out: TextIO, status: str) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        actor = process.resolve_actor(db, args.as_user)
        process.set_status(db, args.lead_id, status, actor, now, getattr(args, "reason", None))
        words = {"won": "won", "disqualified": "disqualified", "open": "reopened"}
        out.write(f"Lead #{args.lead_id} {words[status]}.\n")
    finally:
        db.dispose()
    return EXIT_OK


def cmd_disqualify(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    return _status(args, now, out, "disqualified")


def cmd_win(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    return _status(args, now, out, "won")


def cmd_reopen(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    return _status(args, now, out, "open")


def cmd_qualify(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    values: dict[str, str] = {}
    for item in args.values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{item!r}: write it as FIELD=VALUE, e.g. budget=50000")
        values[key.strip()] = value
    db = open_desk_db(args, now)
    try:
        actor = process.resolve_actor(db, args.as_user)
        saved = process.set_qualification(db, args.lead_id, values, actor, now)
    finally:
        db.dispose()
    shown = ", ".join(f"{k}={v}" for k, v in saved.items() if v not in (None, ""))
    out.write(f"Lead #{args.lead_id}: {shown or 'no qualification fields filled'}.\n")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from leaddesk.services import process

    db = open_desk_db(args, now)
    try:
        entries = process.history(db, args.lead_id)
        labels = {s.key: s.label for s in process.stages(db)}
    finally:
        db.dispose()
    if not entries:
        out.write(f"Lead #{args.lead_id} has no process history yet.\n")
    for entry in entries:
        who = "automatic" if entry.automatic else (entry.user or "someone")
        text = entry.describe(lambda key: labels.get(key or "", key or "—"))
        out.write(f"{local_text(entry.at)}  {who:<14} {text}\n")
    return EXIT_OK

"""The ``leaddesk`` command line (DESIGN §5): the desktop app and the terminal verbs.

Every failure a user can cause ends as one line on stderr and a non-zero exit, never a
traceback: the verbs raise the services' own errors and ``main`` turns them into text.
Each group of verbs lives in its own module and registers its sub-commands here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from leaddesk import __version__
from leaddesk.cli import desk, process, scoring, transfer
from leaddesk.cli.common import EXIT_FAILED, EXIT_OK, CliError, Handler, parse_time, utc_now

VERB_MODULES = (desk, scoring, process, transfer)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
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

    handlers: dict[str, Handler] = {}
    for module in VERB_MODULES:
        handlers.update(module.register(sub))
    return parser, handlers


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
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        if args.command in (None, "gui"):
            return desk.cmd_gui(args, args.now)
        now = parse_time(args.now, option="--now") if args.now else utc_now()
        return handlers[args.command](args, now, out)
    except KeyboardInterrupt:
        print("leaddesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except _user_errors() as exc:
        print(f"leaddesk: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED

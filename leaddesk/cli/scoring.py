"""Scoring verbs: model files, re-scoring, explanations."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TextIO

from leaddesk.cli.common import EXIT_OK, CliError, Handler, Subparsers, open_desk_db


def register(sub: Subparsers) -> dict[str, Handler]:
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

    return {"scoring": cmd_scoring, "rescore": cmd_rescore, "explain": cmd_explain}


def cmd_scoring(args: argparse.Namespace, now: datetime, out: TextIO) -> int:
    from pathlib import Path

    from leaddesk.domain.scoring_file import ScoringFileError
    from leaddesk.services.scoring import export_models, import_models

    if args.scoring_command == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CliError(f"{args.file} is not UTF-8 text") from None
        db = open_desk_db(args, now)
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
    db = open_desk_db(args, now)
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

    db = open_desk_db(args, now)
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

    db = open_desk_db(args, now)
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

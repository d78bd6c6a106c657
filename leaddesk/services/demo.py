"""Demo data written to a desk: what ``leaddesk demo`` and the app's "Load demo data" do.

The rows themselves come from ``services.demo_rows`` (their shape and why are described
there). Here they are written: DBAPI ``executemany`` in batches on SQLite, Core ``insert``
with the same rows elsewhere, everything in one transaction that the progress callback can
cancel, leaving the desk exactly as before. Big demos make their rows in a child process
while this one writes, and set the secondary indexes aside until the end. ``load_demo``
adds the starter models, the first scoring and a morning of the team's work.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.orm import Session

from leaddesk.services.demo_rows import (
    ACTIVITY_KEYS,
    CITIES,
    DESK_DOMAIN,
    TABLES,
    WINDOW,
    Batch,
    DemoSummary,
    DeskStart,
    Emit,
    Request,
    RowGenerator,
    constant_columns,
)
from leaddesk.services.errors import Cancelled
from leaddesk.store import bulk_indexes
from leaddesk.store.database import Database
from leaddesk.store.models import Account, Activity, ActivityType, Contact, Lead, User

log = logging.getLogger(__name__)

INDEXES_ASIDE_MIN_LEADS = 20_000
"""From this many leads (into a desk with no more than that), the tables' secondary
indexes are dropped for the generation and built at its end (``store.bulk_indexes``):
~10 % of a 100,000-lead demo."""

CHILD_MIN_LEADS = 20_000
"""From this many leads the rows are made in a child process (``_generate_in_child``):
below it, starting one costs more than the overlap saves."""

KEPT_BY_THE_WRITER = frozenset(
    {
        "ix_contacts_account_id",
        "ix_leads_contact_id",
        "ix_leads_account_id",
        "ix_leads_owner_id",
        "ix_leads_score",
        "ix_leads_stage_score",
        "ix_leads_status_score",
        "ix_leads_last_activity_at",
        "ix_leads_topic",
        "ix_leads_score_search",
        "ix_activities_lead_id",
        "ix_activities_contact_time",
        "ix_activities_contact_type_time",
    }
)
"""The secondary indexes a big demo keeps while its rows are made in a child process.
Their keys arrive in order (ids of rows the same run makes) or take a handful of values (a
new lead's stage, status, score, owner, topic), so this process maintains them in the
time it would otherwise spend waiting for the child's next batch. The others (names,
companies, domains, the search column) take keys all over their B-tree and are built at
the end from one sort. 100,000 leads without activities: 3.39 s with every index set
aside, 3.17 s with these kept."""

MODELS: dict[str, Any] = {
    "users": User,
    "accounts": Account,
    "contacts": Contact,
    "leads": Lead,
    "activities": Activity,
}

Progress = Callable[[int, int], bool]


class DemoCancelled(Cancelled):
    """The progress callback asked to stop; the transaction has been rolled back."""


class _Writer:
    """Writes a batch of generated rows on the session's connection, table by table."""

    def __init__(self, session: Session, raw: bool) -> None:
        self.session = session
        self.raw = raw
        constants = constant_columns(raw)
        self.tables: list[tuple[Table, tuple[str, ...], dict[str, Any]]] = [
            (MODELS[name].__table__, columns, constants.get(name, {})) for name, columns in TABLES
        ]

    def write(self, batch: Batch) -> None:
        connection: Connection = self.session.connection()
        for (table, columns, constants), rows in zip(self.tables, batch, strict=True):
            if not rows:
                continue
            if self.raw:
                values = ["?"] * len(columns) + [_sql_literal(v) for v in constants.values()]
                sql = (
                    f"INSERT INTO {table.name} ({', '.join((*columns, *constants))}) "
                    f"VALUES ({', '.join(values)})"
                )
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(sql, rows)
                finally:
                    cursor.close()
            else:
                connection.execute(
                    insert(table),
                    [dict(constants, **dict(zip(columns, r, strict=True))) for r in rows],
                )


def generate_demo(
    db: Database,
    *,
    leads: int = 2000,
    seed: int = 7,
    now: datetime,
    progress: Progress | None = None,
    activities: bool = True,
) -> DemoSummary:
    """Add a demo data set of ``leads`` leads to the desk, in one transaction.

    The same seed on an equally filled desk gives identical rows; ``now`` is the only
    clock read. Raises DemoCancelled (and leaves the desk untouched) when ``progress``
    returns False. ``activities=False`` writes the accounts, contacts and leads only (no
    history, nobody a customer by purchase): a desk to try importing one's own activity
    file onto, and the benchmark's "generate 100,000 contacts" figure.
    """
    if leads < 0:
        raise ValueError("the number of leads cannot be negative")
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    with db.transaction(bulk=True) as session:
        return _generate_in(session, leads, seed, now, progress, activities)


def _generate_in(
    session: Session,
    leads: int,
    seed: int,
    now: datetime,
    progress: Progress | None,
    activities: bool = True,
) -> DemoSummary:
    raw = _fast_path(session)
    known_types = set(session.scalars(select(ActivityType.key)))
    missing = [k for k in ACTIVITY_KEYS if k not in known_types]
    if missing:
        raise ValueError(f"activity types missing from the desk: {', '.join(missing)}")
    request = Request(_desk_start(session), seed, now, raw, leads, activities)
    writer = _Writer(session, raw)

    def write(batch: Batch, done: int) -> None:
        writer.write(batch)
        if progress is not None and progress(done, leads) is False:
            raise DemoCancelled("demo data generation was cancelled")

    driver: Any = session.connection().connection.driver_connection
    aside: list[str] = []
    if raw and leads >= INDEXES_ASIDE_MIN_LEADS:
        existing = int(session.scalar(select(func.count(Lead.id))) or 0)
        if existing <= leads:  # the tables at least double: building beats maintaining
            if not driver.in_transaction:
                # The driver opens its transaction lazily, at the first write; the DROPs
                # must be inside the session's transaction so a cancel brings them back.
                driver.execute("BEGIN")
            in_child = leads >= CHILD_MIN_LEADS
            aside = bulk_indexes.set_aside(
                driver,
                ["accounts", "contacts", "leads", "activities"],
                keep=KEPT_BY_THE_WRITER if in_child else (),
            )
    summary = None
    if raw and leads >= CHILD_MIN_LEADS:
        summary = _generate_in_child(request, write)
    if summary is None:
        summary = RowGenerator(
            request.start, seed, now, raw, leads, write, with_activities=activities
        ).run(leads)
    bulk_indexes.restore(driver, aside)
    return summary


def _sql_literal(value: str | int | None) -> str:
    """A constant column's value as SQLite stores it when bound (bools as 0/1)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def _desk_start(session: Session) -> DeskStart:
    def next_id(column: Any) -> int:
        return int(session.scalar(select(func.max(column))) or 0) + 1

    return DeskStart(
        emails=frozenset(session.scalars(select(Contact.email))),
        domains=frozenset(d for d in session.scalars(select(Account.domain)) if d is not None),
        user_names=frozenset(session.scalars(select(User.name))),
        account_id=next_id(Account.id),
        contact_id=next_id(Contact.id),
        lead_id=next_id(Lead.id),
        activity_id=next_id(Activity.id),
        user_id=next_id(User.id),
    )


def _child_command() -> list[str] | None:
    """The interpreter running this program, on the row generator; None when Python cannot
    say where it is (an embedded interpreter). ``-P``: the folder the app was started
    from is not put on the child's path, where a ``queue.py`` of the user's would shadow
    the standard library's."""
    if not sys.executable:
        return None
    return [sys.executable, "-P", "-m", "leaddesk.services.demo_rows"]


def _child_environment() -> dict[str, str]:
    """This environment, plus the folder holding the ``leaddesk`` package when it is not
    an installed one (a source checkout): installed, the child finds it as this process
    did, and putting site-packages on PYTHONPATH would put it before the standard library."""
    env = dict(os.environ)
    package_root = os.path.realpath(Path(__file__).resolve().parents[2])
    paths = sysconfig.get_paths()
    installed = {os.path.realpath(paths[k]) for k in ("purelib", "platlib")}
    installed.add(os.path.realpath(site.getusersitepackages()))
    if package_root not in installed:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _generate_in_child(request: Request, write: Emit) -> DemoSummary | None:
    """The rows made by ``python -m leaddesk.services.demo_rows`` while this process writes
    the batch before: 2.2 s of Python and 2 s of inserts for 100,000 leads overlap on two
    cores instead of adding up.

    None when no child could be started or it ended before its first batch (the caller
    then makes the rows itself: a child that cannot run must not cost the user the demo).
    A child that fails later is an error. A cancel or an error stops the child; its rows
    were only ever written inside the caller's transaction, so the rollback takes them
    back."""
    command = _child_command()
    if command is None:
        return None
    with tempfile.TemporaryFile() as stderr:
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_child_environment(),
            )
        except OSError as exc:
            log.warning("demo rows made in this process: no child process (%s)", exc)
            return None
        received = 0
        try:
            assert child.stdin is not None and child.stdout is not None
            try:
                with child.stdin:
                    pickle.dump(request, child.stdin, pickle.HIGHEST_PROTOCOL)
            except BrokenPipeError:
                pass  # it died at once; what it said is read below
            while True:
                try:
                    message = pickle.load(child.stdout)
                except (EOFError, pickle.UnpicklingError):
                    child.wait()
                    stderr.seek(0)
                    said = stderr.read().decode("utf-8", "replace").strip()
                    ended = f"the demo's row generator stopped (exit code {child.returncode})"
                    ended += f": {said.splitlines()[-1]}" if said else ""
                    if not received:
                        log.warning("demo rows made in this process: %s", ended)
                        return None
                    raise RuntimeError(ended) from None
                received += 1
                if message[0] == "rows":
                    write(message[1], message[2])
                elif message[0] == "end":
                    summary: DemoSummary = message[1]
                    return summary
                else:
                    raise RuntimeError(f"the demo's row generator failed:\n{message[1]}")
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()


TEAM_MORNING = timedelta(hours=6)
"""How long before ``now`` the loaded demo's data ends and its first scoring runs (the
overnight sync and score of a real desk); the team's work (``_team_work``) fills the
hours between, so a lead's history reads first scored, then worked."""
TEAM_START = timedelta(hours=5)
"""How long before ``now`` the team's first action is: after the first scoring."""


@dataclass(frozen=True)
class LoadedDemo:
    summary: DemoSummary
    models: list[str]
    team_actions: int


def load_demo(
    db: Database,
    *,
    leads: int = 2000,
    seed: int = 7,
    now: datetime,
    progress: Progress | None = None,
    activities: bool = True,
) -> LoadedDemo:
    """What ``leaddesk demo`` and the app's "Load demo data" do, in ONE transaction: the
    data, the starter scoring models (scoring everyone, which moves leads through the
    automatic stages) and a morning of the team's work, so that every queue has leads in
    it. A cancel at any point leaves the desk as it was.

    The order of a real desk's morning, so that every lead's history reads forward and
    nothing is dated after ``now``: the data (activities, leads) ends ``TEAM_MORNING``
    before ``now`` and is scored then; the team works the scored leads in the hours
    after; at ``now`` the daily re-score brings expiry and decay up to date (recorded as
    the day's time-based re-score, so opening the desk does not run it again)."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    scored_at = now - TEAM_MORNING

    # One bar for both phases, in leads: generating is the first 80 %, scoring the rest.
    def generating(done: int, total: int) -> bool:
        return progress is None or progress(done * 8 // 10, leads)

    def scoring_progress(done: int, total: int) -> bool:
        share = leads * 2 // 10 * done // max(total, 1)
        return progress is None or progress(leads * 8 // 10 + share, leads)

    from leaddesk.services.desk import set_setting
    from leaddesk.services.scoring import (
        LAST_TIME_RESCORE_KEY,
        RescoreCancelled,
        _rescore_everything,
        install_starter_models_in,
    )

    with db.transaction(bulk=True) as session:
        summary = _generate_in(session, leads, seed, scored_at, generating, activities)
        try:
            models = install_starter_models_in(session, scored_at, scoring_progress)
            if not models:
                _rescore_everything(session, scored_at, "record edited", scoring_progress)
        except RescoreCancelled:
            raise DemoCancelled() from None
        actions = _team_work(session, random.Random(seed + 1), now)
        _rescore_everything(session, now, "time passed", None)
        set_setting(session, LAST_TIME_RESCORE_KEY, {"at": now.isoformat()})
        if progress is not None and progress(leads, leads) is False:
            raise DemoCancelled()
        return LoadedDemo(summary, models, actions)


def _team_work(session: Session, rng: random.Random, now: datetime) -> int:
    """A few leads worked by the demo team, through the real process rules and audit:
    some in the telemarketing stages (one qualified), some assigned and accepted by a
    manager, a couple won, a few disqualified with a reason. Bounded, so 100,000-lead
    demos stay fast.

    Dated from ``TEAM_START`` before ``now`` up to ``now``: after the first scoring
    (``TEAM_MORNING`` before ``now``), whose automatic moves put these leads in the
    stages the team picks them from."""
    from leaddesk.domain import process as proc
    from leaddesk.services.process import lead_state, load_stages, write_outcome

    users: dict[str, list[User]] = {}
    for user in session.scalars(select(User).order_by(User.id)):
        users.setdefault(user.role, []).append(user)
    if not all(users.get(r) for r in ("telemarketer", "manager", "salesperson")):
        return 0
    stages = load_stages(session)
    scored = list(
        session.scalars(
            select(Lead)
            .where(
                Lead.status == "open",
                Lead.stage == stages.for_role(proc.ROLE_SCORED).key,
                Lead.contact_id.is_not(None),
            )
            .order_by(Lead.score.desc(), Lead.id)
            .limit(60)
        )
    )
    ready = list(
        session.scalars(
            select(Lead)
            .where(Lead.status == "open", Lead.sales_ready.is_(True), Lead.owner_id.is_(None))
            .order_by(Lead.score.desc(), Lead.id)
            .limit(12)
        )
    )
    actions = 0

    def act(lead: Lead, user: User, outcome: proc.Outcome, minutes: int) -> proc.LeadState:
        nonlocal actions
        when = now - min(timedelta(minutes=minutes), TEAM_START)
        write_outcome(session, lead, outcome, actor_id=user.id, automatic=False, now=when)
        actions += len(outcome.changes)
        return outcome.state

    for i, lead in enumerate(scored[:20]):
        caller = rng.choice(users["telemarketer"])
        minutes = 300 - i * 7
        state = act(
            lead,
            caller,
            proc.set_flag(lead_state(session, lead), "telemarketing_ready", True, stages),
            minutes,
        )
        if i % 3 == 0:
            state = act(
                lead,
                caller,
                proc.set_flag(state, "accepted_telemarketing", True, stages),
                minutes - 3,
            )
            if i % 6 == 0:
                lead.qualification = {
                    "budget": rng.choice(["€20k/year", "under $10k", "to be approved"]),
                    "need": rng.choice(
                        ["Replace spreadsheets", "Scoring for 5 reps", "CRM migration"]
                    ),
                    "timeline": rng.choice(["This quarter", "Next quarter", "2027"]),
                }
    for i, lead in enumerate(scored[20:26]):
        seller = rng.choice(users["salesperson"])
        reason = rng.choice(("No budget", "Could not reach", "Chose a competitor"))
        act(
            lead,
            seller,
            proc.set_status(lead_state(session, lead), "disqualified", reason),
            200 - i,
        )
    for i, lead in enumerate(ready[:8]):
        manager = rng.choice(users["manager"])
        seller = rng.choice(users["salesperson"])
        state = act(
            lead, manager, proc.assign(lead_state(session, lead), seller.id, seller.name), 120 - i
        )
        lead.owner_id = seller.id
        if i % 2 == 0:
            state = act(
                lead,
                manager,
                proc.set_flag(lead_state(session, lead), "sales_accepted", True, stages),
                110 - i,
            )
            if i % 4 == 0:
                act(lead, seller, proc.set_status(state, "won", None), 30 - i)
    return actions


def _fast_path(session: Session) -> bool:
    """Whether rows can go straight to the DBAPI as pre-encoded text (SQLite, whose driver
    and storage format are known); other databases get Core inserts with Python values."""
    return session.get_bind().dialect.name == "sqlite"


__all__ = [
    "CITIES",
    "DESK_DOMAIN",
    "WINDOW",
    "DemoCancelled",
    "DemoSummary",
    "generate_demo",
    "load_demo",
]

"""Demo data: reproducible, internally consistent, readable by the ORM, and all-or-nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select, text

from leaddesk.services import demo, demo_rows
from leaddesk.services.demo import CITIES, DESK_DOMAIN, WINDOW, DemoCancelled, generate_demo
from leaddesk.services.desk import open_desk
from leaddesk.store.database import Database
from leaddesk.store.models import (
    USER_ROLES,
    Account,
    Activity,
    Contact,
    Lead,
    User,
)

LEADS = 2000
TABLES = ("users", "accounts", "contacts", "leads", "activities")
SQLALCHEMY_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def _fresh(path: Path, now: datetime) -> Database:
    return open_desk(f"sqlite:///{path}", now).db


def _rows(db: Database, table: str, limit: int | None = None) -> list[tuple[Any, ...]]:
    sql = f"SELECT * FROM {table} ORDER BY 1"
    if limit is not None:
        sql += f" LIMIT {limit}"
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
        }


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One 2,000-lead demo desk shared by the read-only tests (generating it once keeps the
    module fast)."""
    from tests.conftest import NOW

    db = _fresh(tmp_path_factory.mktemp("demo") / "demo.sqlite", NOW)
    generate_demo(db, leads=LEADS, seed=7, now=NOW)
    yield db
    db.dispose()


def _scalar(db: Database, sql: str) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


# --- reproducibility ---------------------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_another_seed_does_not(
    tmp_path: Path, now: datetime
) -> None:
    first, second, other = (_fresh(tmp_path / f"{n}.sqlite", now) for n in ("a", "b", "c"))
    try:
        for db, seed in ((first, 11), (second, 11), (other, 12)):
            generate_demo(db, leads=300, seed=seed, now=now)
        for table in TABLES:
            assert _rows(first, table) == _rows(second, table), table
        assert _rows(first, "contacts") != _rows(other, "contacts")
        assert _rows(first, "activities", 500) != _rows(other, "activities", 500)
    finally:
        for db in (first, second, other):
            db.dispose()


def test_fast_path_stores_exactly_what_sqlalchemy_types_store(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-encoded SQLite rows must be byte-for-byte what Core with the JSON and
    DateTime types writes, or the ORM would misread them (or sort them wrongly)."""
    fast, core = _fresh(tmp_path / "fast.sqlite", now), _fresh(tmp_path / "core.sqlite", now)
    try:
        generate_demo(fast, leads=200, seed=3, now=now)
        monkeypatch.setattr(demo, "_fast_path", lambda _session: False)
        generate_demo(core, leads=200, seed=3, now=now)
        for table in TABLES:
            assert _rows(fast, table) == _rows(core, table), table
    finally:
        fast.dispose()
        core.dispose()


@pytest.mark.parametrize(
    "base", [datetime(2026, 5, 24, 12), datetime(2026, 5, 24, 23, 59, 58, 123456)]
)
def test_time_text_is_what_isoformat_writes(base: datetime) -> None:
    codec = demo_rows._Codec(True, base)
    for seconds in [0, 1, 59, 60, 3599, 86_399, 86_400, 15_724_800, 34_559_999, 34_560_000, -5]:
        expected = (base + timedelta(seconds=seconds)).isoformat(" ", "microseconds")
        assert codec.when(seconds) == expected, seconds
    assert demo_rows._Codec(False, base).when(90) == base + timedelta(seconds=90)


def test_list_labels_are_written_with_the_leads(demo_db: Database) -> None:
    """The demo writes the folded sort/search columns itself; recomputing them the way a
    form edit does must find nothing to change."""
    from leaddesk.services import recompute

    before = _rows(demo_db, "leads")
    assert all(row[-1] for row in before)  # every lead can be found
    with demo_db.transaction() as session:
        recompute.refresh_lead_labels(session)
    assert _rows(demo_db, "leads") == before


# --- counts and records ------------------------------------------------------------------------


def test_summary_matches_what_was_written(demo_db: Database) -> None:
    counts = _counts(demo_db)
    assert counts["leads"] == LEADS
    assert counts["users"] == 1 + 13  # the desk's Admin plus the demo team
    assert counts["activities"] > 8 * LEADS
    assert counts["contacts"] < LEADS < counts["contacts"] * 1.5
    assert counts["accounts"] < counts["contacts"]


def test_summary_counts_the_rows_added(db: Database, now: datetime) -> None:
    before = _counts(db)
    summary = generate_demo(db, leads=150, now=now)
    after = _counts(db)
    assert summary.leads == 150
    assert (summary.users, summary.accounts, summary.contacts, summary.activities) == (
        after["users"] - before["users"],
        after["accounts"] - before["accounts"],
        after["contacts"] - before["contacts"],
        after["activities"] - before["activities"],
    )


def test_contact_emails_are_unique_lower_case_and_fictional(demo_db: Database) -> None:
    with demo_db.reading() as session:
        emails = list(session.scalars(select(Contact.email)))
        domains = list(session.scalars(select(Account.domain)))
        employees = list(session.scalars(select(Contact.email).where(Contact.is_employee)))
        customers = session.scalar(select(func.count()).where(Contact.is_customer))
    assert len(emails) == len(set(emails))
    assert all(e == e.strip().lower() and e.count("@") == 1 for e in emails)
    assert all(".example" in e.split("@")[1] for e in emails)
    assert len(domains) == len(set(domains))
    assert all(re.fullmatch(r"[a-z0-9-]+\.example\.(com|net|org)", d or "") for d in domains)
    assert employees and all(e.endswith("@" + DESK_DOMAIN) for e in employees)
    assert customers


def test_contacts_and_accounts_are_plausible(demo_db: Database) -> None:
    with demo_db.reading() as session:
        contacts = list(session.scalars(select(Contact)))
        accounts = list(session.scalars(select(Account)))
        session.expunge_all()  # keep the loaded values after the reading session ends
    places = {(country, s, c) for country, rows in CITIES.items() for s, c, _a in rows}
    assert all((c.country, c.state, c.city) in places for c in contacts)
    assert all((a.country, a.state, a.city) in places for a in accounts)
    ages = [c.age for c in contacts if c.age is not None]
    assert min(ages) >= 20 and max(ages) <= 65
    assert {c.source for c in contacts} <= {"web", "event", "referral", "import", "ads", "partner"}
    roles = {c.buying_role for c in contacts}
    assert {"decision_maker", "influencer", "user"} <= roles
    assert {"Student", "Unemployed", "Intern"} <= {c.job_title for c in contacts}
    subscribed = sum(c.email_subscribed for c in contacts)
    assert 0.8 * len(contacts) < subscribed < len(contacts)
    with_account = sum(c.account_id is not None for c in contacts)
    assert with_account > 0.85 * len(contacts)
    sizes = [a.employees for a in accounts if a.employees is not None]
    assert min(sizes) >= 1 and max(sizes) <= 50_000
    assert any(s < 10 for s in sizes) and any(s >= 1000 for s in sizes)
    # Revenue follows size: the big half earns more than the small half.
    paired = sorted((a.employees or 0, a.annual_revenue) for a in accounts if a.annual_revenue)
    half = len(paired) // 2
    assert sum(r for _e, r in paired[half:]) > 10 * sum(r for _e, r in paired[:half])


def test_leads_start_in_inquiry_one_per_contact_and_topic(demo_db: Database) -> None:
    with demo_db.engine.connect() as conn:
        duplicates = conn.execute(
            text(
                "SELECT contact_id, topic FROM leads WHERE contact_id IS NOT NULL "
                "GROUP BY contact_id, topic HAVING count(*) > 1"
            )
        ).all()
        stages = conn.execute(text("SELECT DISTINCT stage, status, score FROM leads")).all()
        per_contact: dict[int, int] = dict(
            conn.execute(
                text(
                    "SELECT n, count(*) FROM (SELECT count(*) n FROM leads "
                    "WHERE contact_id IS NOT NULL GROUP BY contact_id) GROUP BY n"
                )
            ).all()
        )
        account_only = conn.execute(
            text("SELECT count(*), count(account_id) FROM leads WHERE contact_id IS NULL")
        ).one()
        owned = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT u.role), min(u.role) FROM leads l "
                "JOIN users u ON u.id = l.owner_id"
            )
        ).one()
    assert duplicates == []
    assert stages == [("inquiry", "open", 0)]
    assert set(per_contact) == {1, 2, 3}
    assert per_contact[1] > 4 * (per_contact[2] + per_contact[3])
    assert account_only[0] == account_only[1]  # account-only leads do have the account
    assert 0.01 * LEADS <= account_only[0] <= 0.04 * LEADS
    assert 0.25 * LEADS <= owned[0] <= 0.35 * LEADS
    assert owned[1:] == (1, "salesperson")


def test_every_role_has_users_and_the_admin_is_kept(demo_db: Database) -> None:
    with demo_db.reading() as session:
        users = list(session.scalars(select(User)))
        session.expunge_all()
    assert {u.role for u in users} == set(USER_ROLES)
    assert "Admin" in {u.name for u in users}
    assert len({u.name for u in users}) == len(users)
    assert sum(u.role == "salesperson" for u in users) == 5


# --- activities --------------------------------------------------------------------------------


def test_activity_volumes_fall_in_the_expected_order(demo_db: Database) -> None:
    with demo_db.engine.connect() as conn:
        volume: dict[str, int] = dict(
            conn.execute(text("SELECT type_key, count(*) FROM activities GROUP BY 1")).all()
        )
    assert volume["email_sent"] > volume["email_open"] > volume["email_click"]
    assert volume["email_click"] > volume["email_reply"] > volume["purchase"] > 0
    assert volume["form_submit"] > volume["email_reply"] > volume["webinar_attended"]
    assert volume["webinar_attended"] > volume["demo"]
    for rare in ("unsubscribe", "email_bounce", "meeting_cancelled", "trial_signup", "call"):
        assert 0 < volume[rare] < 0.1 * LEADS, rare
    total = sum(volume.values())
    assert 8 * LEADS < total < 14 * LEADS


def test_activity_volume_is_heavy_tailed(demo_db: Database) -> None:
    with demo_db.engine.connect() as conn:
        per_contact = sorted(
            n for (n,) in conn.execute(text("SELECT count(*) FROM activities GROUP BY contact_id"))
        )
    median = per_contact[len(per_contact) // 2]
    assert per_contact[-1] > 4 * median
    assert per_contact[len(per_contact) // 10] < median / 2


def test_activities_lie_in_the_six_months_before_now_after_the_contact_arrived(
    demo_db: Database, now: datetime
) -> None:
    with demo_db.reading() as session:
        first, last = session.execute(
            select(func.min(Activity.occurred_at), func.max(Activity.occurred_at))
        ).one()
        lead_first, lead_last = session.execute(
            select(func.min(Lead.created_at), func.max(Lead.created_at))
        ).one()
        early = session.execute(
            select(func.count())
            .select_from(Activity)
            .join(Contact, Contact.id == Activity.contact_id)
            .where(Activity.occurred_at < Contact.created_at)
        ).scalar_one()
        before_leads = session.execute(
            select(Activity.contact_id, func.min(Activity.occurred_at)).group_by(
                Activity.contact_id
            )
        ).all()
        first_lead = dict(
            session.execute(
                select(Lead.contact_id, func.min(Lead.created_at)).group_by(Lead.contact_id)
            ).all()
        )
    assert now - WINDOW <= first and last <= now
    assert now - WINDOW <= lead_first and lead_last <= now
    assert lead_last > now - timedelta(days=7) and lead_first < now - timedelta(days=150)
    assert early == 0
    assert all(when >= first_lead[cid] - timedelta(days=2) for cid, when in before_leads)


def test_last_activity_at_is_the_latest_activity_of_the_leads_people(demo_db: Database) -> None:
    with demo_db.engine.connect() as conn:
        wrong = conn.execute(
            text(
                """
                SELECT count(*) FROM leads l
                WHERE l.last_activity_at IS NOT (
                    CASE WHEN l.contact_id IS NOT NULL THEN
                        (SELECT max(a.occurred_at) FROM activities a
                         WHERE a.contact_id = l.contact_id)
                    ELSE
                        (SELECT max(a.occurred_at) FROM activities a
                         JOIN contacts c ON c.id = a.contact_id
                         WHERE c.account_id = l.account_id)
                    END)
                """
            )
        ).scalar_one()
        missing = conn.execute(
            text("SELECT count(*) FROM leads WHERE last_activity_at IS NULL")
        ).scalar_one()
    assert wrong == 0
    assert missing < 0.05 * LEADS


def test_activity_properties_carry_their_context(demo_db: Database) -> None:
    with demo_db.reading() as session:
        by_type: dict[str, list[dict[str, Any]]] = {}
        for key, props in session.execute(select(Activity.type_key, Activity.properties)):
            by_type.setdefault(key, []).append(props)
        lead_linked = session.scalar(select(func.count()).where(Activity.lead_id.is_not(None)))
    for key in ("email_sent", "email_open", "email_click", "email_reply"):
        assert all({"campaign", "subject"} <= p.keys() for p in by_type[key]), key
    urls = {p["url"] for p in by_type["page_visit"]}
    assert {"/pricing", "/checkout", "/features"} <= urls
    assert any(u.startswith("/blog/") for u in urls)
    assert {p["network"] for p in by_type["social_click"]} == {"linkedin", "facebook", "twitter"}
    names = {p["name"] for p in by_type["product_event"]}
    assert names == {"task_created", "project_created", "report_exported"}
    assert any(p.get("recurring") is True for p in by_type["product_event"])
    assert lead_linked and lead_linked < sum(map(len, by_type.values())) / 2


def test_orm_reads_back_json_and_datetimes(demo_db: Database) -> None:
    with demo_db.reading() as session:
        activity = session.scalars(
            select(Activity).where(Activity.type_key == "email_click").limit(1)
        ).one()
        lead = session.scalars(
            select(Lead).where(Lead.last_activity_at.is_not(None)).limit(1)
        ).one()
        contact = session.get(Contact, lead.contact_id)
        account = session.scalars(select(Account).limit(1)).one()
        session.expunge_all()
    assert isinstance(activity.occurred_at, datetime) and activity.occurred_at.tzinfo is None
    assert isinstance(activity.properties, dict) and "url" in activity.properties
    assert isinstance(lead.last_activity_at, datetime)
    assert isinstance(lead.tags, list) and lead.qualification == {} and lead.custom == {}
    assert contact is not None and isinstance(contact.custom, dict)
    assert contact.is_employee in (True, False)
    assert account.custom["segment"] in ("SMB", "Mid-market", "Enterprise")
    with demo_db.engine.connect() as conn:
        stored = conn.execute(text("SELECT occurred_at, created_at FROM activities LIMIT 50")).all()
        admin = conn.execute(text("SELECT created_at FROM users WHERE name = 'Admin'")).scalar()
    assert SQLALCHEMY_DATETIME.match(str(admin))  # how the ORM itself wrote it
    assert all(SQLALCHEMY_DATETIME.match(a) and SQLALCHEMY_DATETIME.match(b) for a, b in stored)


# --- transactions ------------------------------------------------------------------------------


def test_cancelling_leaves_the_desk_as_it_was(db: Database, now: datetime) -> None:
    generate_demo(db, leads=100, now=now)
    before = _counts(db)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return len(calls) < 2

    with pytest.raises(DemoCancelled):
        generate_demo(db, leads=LEADS, seed=9, now=now, progress=progress)
    assert len(calls) == 2 and calls[0][0] > 0 and calls[0][1] == LEADS
    assert _counts(db) == before


def test_progress_reaches_the_total(db: Database, now: datetime) -> None:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return True

    generate_demo(db, leads=LEADS, now=now, progress=progress)
    assert len(calls) >= 2
    assert calls[-1] == (LEADS, LEADS)
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)


def test_running_twice_adds_without_clashes(db: Database, now: datetime) -> None:
    first = generate_demo(db, leads=300, seed=5, now=now)
    second = generate_demo(db, leads=300, seed=5, now=now)
    counts = _counts(db)
    assert counts["leads"] == 600
    assert counts["contacts"] == first.contacts + second.contacts
    assert counts["users"] == 1 + first.users + second.users
    with db.engine.connect() as conn:
        for column, table in (("email", "contacts"), ("domain", "accounts"), ("name", "users")):
            distinct = conn.execute(text(f"SELECT count(DISTINCT {column}) FROM {table}"))
            assert distinct.scalar_one() == counts[table], table


def test_negative_lead_count_is_refused(db: Database, now: datetime) -> None:
    with pytest.raises(ValueError):
        generate_demo(db, leads=-1, now=now)
    assert _counts(db)["users"] == 1


def test_load_demo_fills_every_queue_in_one_transaction(db: Database, now: datetime) -> None:
    from leaddesk.services.demo import load_demo
    from leaddesk.services.lists import queue_counts
    from leaddesk.services.process import history
    from leaddesk.services.scoring import list_models

    loaded = load_demo(db, leads=400, seed=11, now=now)
    assert loaded.summary.leads == 400
    assert len(loaded.models) == 2 and len(list_models(db)) == 2
    counts = queue_counts(db, None)
    assert counts["telemarketing"] >= 10
    assert counts["sales_acceptance"] >= 1
    assert counts["disqualified"] == 6
    with db.reading() as session:
        worked = session.scalar(
            select(func.count(Lead.id)).where(Lead.telemarketing_ready.is_(True))
        )
        won = session.scalar(select(func.count(Lead.id)).where(Lead.status == "won"))
        lead_id = session.scalar(select(Lead.id).where(Lead.telemarketing_ready.is_(True)))
    assert worked >= 20 and won >= 1
    assert lead_id is not None
    trail = history(db, lead_id)
    assert any(e.user and not e.automatic for e in trail)


def test_cancelled_load_demo_leaves_nothing(db: Database, now: datetime) -> None:
    from leaddesk.services.demo import load_demo
    from leaddesk.services.scoring import list_models

    calls: list[int] = []

    def stop_while_scoring(done: int, total: int) -> bool:
        calls.append(done)
        return done < total * 8 // 10  # stop once generation is over

    with pytest.raises(DemoCancelled):
        load_demo(db, leads=200, seed=3, now=now, progress=stop_while_scoring)
    assert max(calls) >= 160  # generation had finished: the scoring phase was cancelled
    with db.reading() as session:
        assert session.scalar(select(func.count(Lead.id))) == 0
    assert list_models(db) == []


def test_load_demo_history_reads_forward_and_ends_now(db: Database, now: datetime) -> None:
    """The demo's morning in order: data, then the first scoring, then the team's work;
    nothing after ``now`` and no event of a lead before that lead was first scored."""
    from leaddesk.services.demo import load_demo
    from leaddesk.services.process import history
    from leaddesk.services.scoring import rescore_if_due
    from leaddesk.store.models import LeadEvent, ScoreHistory

    load_demo(db, leads=300, seed=5, now=now)
    with db.reading() as session:
        first_scored = dict(
            session.execute(
                select(LeadEvent.lead_id, func.min(LeadEvent.at))
                .where(LeadEvent.reason == "first scored")
                .group_by(LeadEvent.lead_id)
            ).all()
        )
        scores = session.execute(select(ScoreHistory.lead_id, ScoreHistory.at)).all()
        events = session.execute(select(LeadEvent.lead_id, LeadEvent.at, LeadEvent.automatic)).all()
        latest = [
            session.scalar(select(func.max(column)))
            for column in (
                Activity.occurred_at,
                Lead.created_at,
                LeadEvent.at,
                ScoreHistory.at,
            )
        ]
        created = dict(session.execute(select(Lead.id, Lead.created_at)).all())
    assert all(moment is not None and moment <= now for moment in latest)
    assert events and all(lead in first_scored for lead, _at, _auto in events)
    early = [(lead, at) for lead, at, _auto in events if at < first_scored[lead]]
    early += [(lead, at) for lead, at in scores if at < first_scored[lead]]
    assert early == []
    team = [(lead, at) for lead, at, automatic in events if not automatic]
    assert team and all(at > first_scored[lead] for lead, at in team)
    assert all(created[lead] <= at for lead, at in first_scored.items())

    worked = team[0][0]
    trail = history(db, worked)
    assert trail[0].automatic and "first scored" in trail[0].describe()
    assert [e.at for e in trail] == sorted(e.at for e in trail)
    assert rescore_if_due(db, now) is False  # the day's time-based re-score is done


def test_without_activities_writes_the_records_only(db: Database, now: datetime) -> None:
    summary = generate_demo(db, leads=200, seed=5, now=now, activities=False)
    counts = _counts(db)
    assert summary.activities == 0 and counts["activities"] == 0
    assert (counts["leads"], counts["contacts"], counts["accounts"]) == (
        200,
        summary.contacts,
        summary.accounts,
    )
    assert _scalar(db, "SELECT count(*) FROM leads WHERE last_activity_at IS NOT NULL") == 0
    assert _scalar(db, "SELECT count(*) FROM leads WHERE search_text = ''") == 0


def _schema(db: Database) -> list[tuple[Any, ...]]:
    """Every table and index by name and definition (a rebuilt index gets new pages)."""
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        return sorted(tuple(r) for r in rows)


def test_indexes_set_aside_for_a_big_demo_come_back_and_change_nothing(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big generation builds the secondary indexes at its end: the same rows and the
    same schema as maintaining them row by row; a cancel leaves them as they were."""
    plain, aside = _fresh(tmp_path / "plain.sqlite", now), _fresh(tmp_path / "aside.sqlite", now)
    try:
        generate_demo(plain, leads=300, seed=4, now=now)
        monkeypatch.setattr(demo, "INDEXES_ASIDE_MIN_LEADS", 50)
        dropped: list[str] = []
        real_set_aside = demo.bulk_indexes.set_aside

        def spy(driver: Any, tables: Any, keep: Any = ()) -> list[str]:
            dropped.extend(real_set_aside(driver, tables, keep))
            return dropped

        monkeypatch.setattr(demo.bulk_indexes, "set_aside", spy)
        schema = _schema(aside)
        with pytest.raises(DemoCancelled):
            generate_demo(aside, leads=300, seed=4, now=now, progress=lambda _d, _t: False)
        assert _schema(aside) == schema and _counts(aside)["leads"] == 0
        dropped.clear()
        generate_demo(aside, leads=300, seed=4, now=now)
        assert any("ix_activities_contact_time" in sql for sql in dropped)
        assert _schema(aside) == schema
        for table in TABLES:
            assert _rows(aside, table) == _rows(plain, table), table
        assert _scalar(aside, "PRAGMA integrity_check") == "ok"
    finally:
        plain.dispose()
        aside.dispose()


# --- rows made in a child process ---------------------------------------------------------------


def test_a_child_process_makes_exactly_the_rows_this_one_would(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, child = _fresh(tmp_path / "here.sqlite", now), _fresh(tmp_path / "child.sqlite", now)
    started: list[list[str]] = []
    real_command = demo._child_command

    def command() -> list[str]:
        started.append(cast(list[str], real_command()))
        return started[-1]

    try:
        for db in (here, child):  # a second run too: it must not clash with the first
            generate_demo(db, leads=300, seed=6, now=now)
        assert started == []
        schema = _schema(child)
        # Big enough for a child and for setting indexes aside (some kept by the writer).
        monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
        monkeypatch.setattr(demo, "INDEXES_ASIDE_MIN_LEADS", 100)
        monkeypatch.setattr(demo, "_child_command", command)
        generate_demo(child, leads=600, seed=8, now=now)
        monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 10**9)
        monkeypatch.setattr(demo, "INDEXES_ASIDE_MIN_LEADS", 10**9)
        generate_demo(here, leads=600, seed=8, now=now)
        assert len(started) == 1
        for table in TABLES:
            assert _rows(child, table) == _rows(here, table), table
        assert _schema(child) == schema
        assert _scalar(child, "PRAGMA integrity_check") == "ok"
    finally:
        here.dispose()
        child.dispose()


def test_cancelling_stops_the_child_and_leaves_the_desk_as_it_was(
    db: Database, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    children: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        children.append(real_popen(*args, **kwargs))
        return children[-1]

    monkeypatch.setattr(demo.subprocess, "Popen", popen)
    monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
    before = _counts(db)
    with pytest.raises(DemoCancelled):
        generate_demo(db, leads=LEADS, now=now, progress=lambda done, _total: done < 300)
    assert _counts(db) == before
    assert len(children) == 1 and children[0].returncode is not None


DIES_AFTER_ONE_BATCH = """
import pickle, sys
pickle.load(sys.stdin.buffer)
sys.stdout.buffer.write(pickle.dumps(("rows", ([], [], [], [], []), 0)))
sys.stdout.buffer.write(pickle.dumps(("rows", ([], [], [], [], []), 0))[:9])  # cut short
sys.stdout.flush()
print("out of memory", file=sys.stderr)
sys.exit(3)
"""


def test_a_child_that_dies_midway_is_an_error_and_writes_nothing(
    db: Database, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
    monkeypatch.setattr(
        demo, "_child_command", lambda: [sys.executable, "-c", DIES_AFTER_ONE_BATCH]
    )
    before = _counts(db)
    with pytest.raises(RuntimeError, match=r"exit code 3\): out of memory"):
        generate_demo(db, leads=300, now=now)
    assert _counts(db) == before


@pytest.mark.parametrize("request_size", ["small", "larger than a pipe"])
def test_a_child_that_dies_at_once_leaves_the_rows_to_this_process(
    tmp_path: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request_size: str,
) -> None:
    """A child that cannot run (a broken environment) must not cost the user the demo."""
    import sys

    here, fallback = _fresh(tmp_path / "here.sqlite", now), _fresh(tmp_path / "fb.sqlite", now)
    try:
        if request_size != "small":  # the request (the desk's e-mails) fills the pipe
            for db in (here, fallback):
                generate_demo(db, leads=3000, seed=1, now=now)
        generate_demo(here, leads=200, seed=2, now=now)
        monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
        monkeypatch.setattr(
            demo,
            "_child_command",
            lambda: [sys.executable, "-c", "import sys; print('no module', file=sys.stderr)"],
        )
        with caplog.at_level("WARNING", logger=demo.__name__):
            generate_demo(fallback, leads=200, seed=2, now=now)
        assert "demo rows made in this process" in caplog.text and "no module" in caplog.text
        for table in TABLES:
            assert _rows(fallback, table) == _rows(here, table), table
    finally:
        here.dispose()
        fallback.dispose()


def test_a_child_whose_parent_stops_reading_ends(tmp_path: Path, now: datetime) -> None:
    """The parent killed or crashed: the child must not stay behind, blocked on a full
    outbox, for ever."""
    import pickle
    import subprocess

    from leaddesk.services.demo_rows import DeskStart, Request

    start = DeskStart(frozenset(), frozenset(), frozenset(), 1, 1, 1, 1, 1)
    request = Request(start, 7, now, True, 100_000, True)
    command = demo._child_command()
    assert command is not None
    child = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=demo._child_environment()
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        with child.stdin:
            pickle.dump(request, child.stdin)
        assert pickle.load(child.stdout)[0] == "rows"
        child.stdout.close()
        assert child.wait(timeout=60) != 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_module_in_the_users_folder_does_not_reach_the_child(
    tmp_path: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The app started from a folder holding a ``queue.py``: the child must still import
    the standard library's (and make the rows, not leave them to the fallback)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "queue.py").write_text("raise ImportError('the user's own queue.py')\n")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
    db = _fresh(tmp_path / "desk.sqlite", now)
    try:
        with caplog.at_level("WARNING", logger=demo.__name__):
            summary = generate_demo(db, leads=200, now=now)
        assert summary.leads == 200
        assert "made in this process" not in caplog.text
    finally:
        db.dispose()


@pytest.mark.parametrize("executable", ["missing", "unknown"])
def test_without_a_child_process_the_rows_are_made_here(
    tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    here, fallback = _fresh(tmp_path / "here.sqlite", now), _fresh(tmp_path / "fb.sqlite", now)
    try:
        generate_demo(here, leads=200, seed=2, now=now)
        monkeypatch.setattr(demo, "CHILD_MIN_LEADS", 100)
        if executable == "missing":
            monkeypatch.setattr(demo, "_child_command", lambda: [str(tmp_path / "no-python")])
        else:  # an embedded interpreter: sys.executable is empty
            monkeypatch.setattr(demo.sys, "executable", "")
        generate_demo(fallback, leads=200, seed=2, now=now)
        for table in TABLES:
            assert _rows(fallback, table) == _rows(here, table), table
    finally:
        here.dispose()
        fallback.dispose()


def test_the_indexes_the_writer_keeps_exist(db: Database) -> None:
    """A renamed index would silently be set aside again; this names the drift."""
    names = {row[1] for row in _schema(db) if row[0] == "index"}
    assert names >= demo.KEPT_BY_THE_WRITER

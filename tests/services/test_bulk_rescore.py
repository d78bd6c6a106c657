"""The bulk re-score must leave the database exactly as the per-lead path does.

The per-lead path (``recompute.score_only``: facts per lead, the pure engine, the ORM) is
the reference, because it is what explanations are computed from. Each case builds a
randomised desk - the awkward data included: mixed case and stray spaces, numeric
strings, missing and blank fields, list facts, future activities, activities exactly at
an expiry or inactivity boundary, account-only leads, leads with neither contact nor
account - and random models covering every operator, ``max_times``, ``repeat``,
exclusions, floors and caps, then re-scores two copies of the same SQLite file, one each
way, over several rounds (time passing, models reordered and deactivated), and compares
``lead_scores``, the leads' list score and stars, and the history rows.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from leaddesk.domain.conditions import (
    OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    leaf_value_problem,
)
from leaddesk.domain.scoring import (
    ScoringModel,
    activity_rule,
    inactivity_rule,
    property_rule,
)
from leaddesk.domain.scoring_file import ScoringFileError, dump_document, parse_document
from leaddesk.domain.starter_models import starter_models
from leaddesk.services import bulk_rescore as bulk_module
from leaddesk.services import recompute
from leaddesk.services.bulk_rescore import (
    _field_sql,
    _lead_columns,
    _lead_parts,
    _lead_row,
    _lead_sql,
    _parallel_file,
    bulk_rescore,
    bulk_totals,
)
from leaddesk.services.desk import open_desk
from leaddesk.services.scoring import RescoreCancelled, _rescore_everything, rescore_all
from leaddesk.store.database import Database
from leaddesk.store.models import (
    Account,
    Activity,
    ActivityType,
    Contact,
    Lead,
    LeadScore,
    ScoreHistory,
    ScoringModelRecord,
)

NOW = datetime(2026, 11, 22, 12, 0, 0)
TYPES = (
    "email_open",
    "email_click",
    "page_visit",
    "product_event",
    "social_click",
    "purchase",
    "unsubscribe",
    "meeting_booked",
    "custom_event",
)

# --------------------------------------------------------------------------- values

TEXTS = (
    "CEO",
    " ceo ",
    "Ceo",
    "Student intern",
    "student",
    "/pricing",
    " /Pricing/plans ",
    "/checkout",
    "/BUY?x=1",
    "linkedin",
    " LinkedIn ",
    "facebook",
    "task_created",
    "project_created",
    "US",
    "usa ",
    "Brazil",
    "London",
    "decision_maker",
    "30",
    " 30 ",
    "30.0",
    "1e3",
    "yes",
    "No",
    "on",
    "0",
    "1",
    "true",
    "2026-10-01",
    "2026-10-01T12:00:00",
    "lots",
    "gold",
    " Gold",
    "é",
)
NUMBERS = (0, 1, 2, 25, 30, 45, 46, 120, -3, 2.5, 30.0, 1000, 99999)


def fact_value(rng: random.Random) -> Any:
    """A value as a form, an import or an API might have stored it."""
    roll = rng.random()
    if roll < 0.12:
        return None
    if roll < 0.18:
        return rng.choice(("", "   "))
    if roll < 0.55:
        return rng.choice(TEXTS)
    if roll < 0.75:
        return rng.choice(NUMBERS)
    if roll < 0.85:
        return rng.choice((True, False))
    return rng.sample(TEXTS, rng.randint(0, 3))


def properties(rng: random.Random) -> dict[str, Any]:
    keys = ("url", "campaign", "name", "recurring", "network", "amount", "plan", "type", "tags")
    return {key: fact_value(rng) for key in rng.sample(keys, rng.randint(0, 5))}


# --------------------------------------------------------------------------- desks


def build_desk(db: Database, rng: random.Random) -> None:
    """Rows straight through the ORM: the desk's content is the point, not how it got in."""
    with db.transaction() as session:
        session.add(ActivityType(key="custom_event", label="Custom event", builtin=False))
        accounts = []
        for n in range(rng.randint(3, 10)):
            account = Account(
                name=rng.choice(("Acme", "acme ", "Globex", "Initech")) + f" {n}",
                industry=rng.choice((None, "Software", " software", "Retail")),
                employees=rng.choice((None, 0, 5, 25, 26, 120, 5000)),
                annual_revenue=rng.choice((None, 0.0, -0.0, 1.5, 2e6, 0.1 + 0.2)),
                country=rng.choice((None, "US", "Brazil")),
                custom={"segment": fact_value(rng)} if rng.random() < 0.5 else {},
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(account)
            accounts.append(account)
        session.flush()
        contacts = []
        for n in range(rng.randint(10, 40)):
            custom = {"tier": fact_value(rng), "score": fact_value(rng)}
            contact = Contact(
                email=f"c{n}@desk.example",
                first_name=rng.choice((None, "Ana", "bruno")),
                job_title=rng.choice((None, "", "CEO", " ceo", "CMO", "Student intern", "Buyer")),
                department=rng.choice((None, "Sales")),
                buying_role=rng.choice((None, "decision_maker", " Decision_Maker ", "user")),
                country=rng.choice((None, "US", "usa", " UK ", "Brazil")),
                city=rng.choice((None, "London", "new york", "NYC", "Porto")),
                age=rng.choice((None, 18, 25, 33, 45, 46)),
                source=rng.choice((None, "web", "import")),
                is_employee=rng.random() < 0.1,
                is_customer=rng.random() < 0.2,
                email_subscribed=rng.random() < 0.8,
                account_id=rng.choice([None, *[a.id for a in accounts]]),
                custom=custom if rng.random() < 0.6 else {},
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(contact)
            contacts.append(contact)
        session.flush()
        for n in range(rng.randint(15, 60)):
            roll = rng.random()
            contact_id = rng.choice(contacts).id if roll < 0.8 else None
            if roll < 0.6:
                account_id = None
            elif roll < 0.93:
                account_id = rng.choice(accounts).id  # own account, or account-only
            else:
                account_id = None  # neither: unscorable when contact_id is None too
            created = NOW - timedelta(days=rng.choice((0, 1, 29, 30, 31, 60, 89, 90, 400)))
            if rng.random() < 0.1:
                created = NOW + timedelta(days=2)
            session.add(
                Lead(
                    contact_id=contact_id,
                    account_id=account_id,
                    topic=rng.choice(("Pricing webinar", " pricing WEBINAR", "Trial")) + str(n),
                    source=rng.choice((None, "web", "Web ")),
                    stage="inquiry",
                    status=rng.choice(("open", "won")),
                    tags=rng.sample(["vip", "VIP ", "priority", "Hot lead"], rng.randint(0, 2)),
                    custom={"priority": fact_value(rng)} if rng.random() < 0.5 else {},
                    created_at=created,
                    updated_at=NOW,
                )
            )
        boundaries = [NOW - timedelta(days=d) for d in (1, 7, 30, 60, 90, 180)]
        micro = timedelta(microseconds=1)
        for contact in contacts:
            for _ in range(rng.randint(0, 14)):
                roll = rng.random()
                if roll < 0.25:
                    when = rng.choice(boundaries) + rng.choice((-micro, timedelta(0), micro))
                elif roll < 0.32:
                    when = NOW + rng.choice((micro, timedelta(days=3)))  # the future
                else:
                    when = NOW - timedelta(seconds=rng.randint(0, 400 * 86400), microseconds=7)
                session.add(
                    Activity(
                        contact_id=contact.id,
                        type_key=rng.choice(TYPES),
                        occurred_at=when,
                        properties=properties(rng),
                        created_at=NOW,
                    )
                )


# --------------------------------------------------------------------------- models

LEAD_FIELDS = (
    "contact.job_title",
    "contact.country",
    "contact.city",
    "contact.age",
    "contact.buying_role",
    "contact.is_employee",
    "contact.is_customer",
    "contact.email_subscribed",
    "contact.email",
    "contact.custom.tier",
    "contact.custom.score",
    "contact.nonexistent",
    "account.employees",
    "account.annual_revenue",
    "account.industry",
    "account.name",
    "account.custom.segment",
    "lead.topic",
    "lead.source",
    "lead.stage",
    "lead.status",
    "lead.tags",
    "lead.custom.priority",
)
ACTIVITY_FIELDS = ("url", "campaign", "name", "recurring", "network", "amount", "type", "tags")


def operand(rng: random.Random, op: str) -> Any:
    shape = OPERATORS[op].shape.value
    if shape == "none":
        return None
    if shape == "list":
        return [v for v in rng.sample(TEXTS + NUMBERS, rng.randint(1, 3)) if v != ""]
    if shape == "pair":
        if rng.random() < 0.7:
            low = rng.choice(NUMBERS)
            return [low, low + rng.choice((0, 1, 20))]
        return ["2026-01-01", rng.choice(("2026-10-01", "2026-12-31T00:00:00"))]
    if op in ("gt", "gte", "lt", "lte"):
        return rng.choice((*NUMBERS, "2026-06-01", "30"))
    return rng.choice((*TEXTS, *NUMBERS, True, False))


def condition(rng: random.Random, fields: tuple[str, ...], depth: int = 0) -> Condition:
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return AllOf(tuple(condition(rng, fields, depth + 1) for _ in range(rng.randint(1, 3))))
    if depth < 2 and roll < 0.3:
        return AnyOf(tuple(condition(rng, fields, depth + 1) for _ in range(rng.randint(1, 3))))
    if depth < 2 and roll < 0.38:
        return Not(condition(rng, fields, depth + 1))
    while True:
        op = rng.choice(tuple(OPERATORS))
        value = operand(rng, op)
        if leaf_value_problem(op, value) is None:
            return Leaf(rng.choice(fields), op, value)


def random_model(rng: random.Random, name: str) -> ScoringModel:
    while True:
        rules = []
        for n in range(rng.randint(3, 10)):
            kind = rng.random()
            group = rng.choice(("fit", "engagement"))
            points = rng.choice((-20, -5, -1, 1, 2, 5, 10, 20, 100))
            if kind < 0.3:
                when = None if rng.random() < 0.15 else condition(rng, LEAD_FIELDS)
                rules.append(property_rule(f"p{n}", points, when, group=group))
            elif kind < 0.85:
                rules.append(
                    activity_rule(
                        f"a{n}",
                        points,
                        rng.choice(TYPES),
                        when=None if rng.random() < 0.4 else condition(rng, ACTIVITY_FIELDS),
                        expires_after_days=rng.choice((None, None, 1, 7, 30, 180)),
                        max_times=rng.choice((None, None, None, 1, 2, 3)),
                        group=group,
                    )
                )
            else:
                rules.append(
                    inactivity_rule(
                        f"i{n}",
                        rng.choice((-5, -1, 3)),
                        rng.choice((1, 7, 30, 90)),
                        repeat=rng.random() < 0.6,
                        activity_types=(
                            None if rng.random() < 0.4 else rng.sample(TYPES, rng.randint(1, 4))
                        ),
                        group=group,
                    )
                )
        floor = rng.choice((0, 0, None, -10, 5))
        cap = rng.choice((None, None, 30, 200))
        if floor is not None and cap is not None and floor > cap:
            cap = None
        threshold = rng.choice((None, 10, 50, 100))
        if threshold is not None and cap is not None and threshold > cap:
            threshold = cap
        model = ScoringModel(
            name=name,
            active=True,
            sales_ready_at=threshold,
            floor=floor,
            cap=cap,
            exclude=None if rng.random() < 0.4 else condition(rng, LEAD_FIELDS),
            rules=tuple(rules),
        )
        try:  # only models a file (and so the database) can hold
            return parse_document(dump_document([model]))[0]
        except ScoringFileError:
            continue


def install(db: Database, models: list[ScoringModel]) -> None:
    with db.transaction() as session:
        for position, model in enumerate(models, start=1):
            definition = dump_document([model])["models"]
            assert isinstance(definition, list)
            session.add(
                ScoringModelRecord(
                    name=model.name,
                    position=position,
                    active=True,
                    definition=definition[0],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


# --------------------------------------------------------------------------- comparing


def state(db: Database) -> tuple[list[Any], list[Any], Counter[Any]]:
    with db.reading() as session:
        scores = session.execute(
            select(
                LeadScore.lead_id,
                LeadScore.model_id,
                LeadScore.score,
                LeadScore.fit,
                LeadScore.engagement,
                LeadScore.excluded,
            ).order_by(LeadScore.lead_id, LeadScore.model_id)
        ).all()
        leads = session.execute(
            select(Lead.id, Lead.score, Lead.stars, Lead.scored_at.is_(None)).order_by(Lead.id)
        ).all()
        history = Counter(
            session.execute(
                select(
                    ScoreHistory.lead_id,
                    ScoreHistory.model_id,
                    ScoreHistory.model_name,
                    ScoreHistory.at,
                    ScoreHistory.old_score,
                    ScoreHistory.new_score,
                    ScoreHistory.cause,
                )
            ).all()
        )
    return list(scores), list(leads), history


def per_lead(session: Any, now: datetime, cause: str) -> None:
    ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
    for start in range(0, len(ids), 7):  # small batches: batching must not matter
        recompute.score_only(session, ids[start : start + 7], now, cause)


def bulk(session: Any, now: datetime, cause: str) -> None:
    before = len(list(session.scalars(select(ScoreHistory.id))))
    result = bulk_rescore(session, recompute.active_models(session), now, cause, None)
    assert result.leads == len(list(session.scalars(select(Lead.id))))
    assert result.changed == len(list(session.scalars(select(ScoreHistory.id)))) - before


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Callable[[int], tuple[Database, Database]]]:
    opened: list[Database] = []

    def make(seed: int) -> tuple[Database, Database]:
        rng = random.Random(seed)
        source = tmp_path / f"source{seed}.sqlite"
        db = open_desk(f"sqlite:///{source}", NOW).db
        build_desk(db, rng)
        models = [random_model(rng, f"Model {n}") for n in range(rng.randint(1, 3))]
        if seed % 3 == 0:
            models = [*starter_models(), *models]
        install(db, models)
        db.dispose()
        copies = []
        for name in ("bulk", "reference"):
            target = tmp_path / f"{name}{seed}.sqlite"
            shutil.copy(source, target)
            copy = Database(f"sqlite:///{target}")
            opened.append(copy)
            copies.append(copy)
        return copies[0], copies[1]

    yield make
    for db in opened:
        db.dispose()


ROUNDS: tuple[tuple[datetime, str], ...] = (
    (NOW, "model changed"),
    (NOW + timedelta(days=30), "time passed"),  # boundaries land exactly on the data
    (NOW + timedelta(days=30, microseconds=1), "time passed"),
    (datetime(2026, 12, 22, 14, 0, tzinfo=timezone(timedelta(hours=2))), "time passed"),
    (NOW + timedelta(days=200), "time passed"),
)


def change_models(db: Database, seed: int, round_: int) -> None:
    """The same edit on both copies between rounds: reorder, switch one off and on."""
    with db.transaction() as session:
        records = list(session.scalars(select(ScoringModelRecord).order_by(ScoringModelRecord.id)))
        if round_ == 2 and len(records) > 1:
            for position, record in enumerate(reversed(records), start=1):
                record.position = position
        if round_ == 3 and len(records) > 1:
            records[seed % len(records)].active = False
            session.flush()
            active = [r.id for r in records if r.active]
            session.execute(
                LeadScore.__table__.delete().where(LeadScore.model_id.not_in(active))  # type: ignore[attr-defined]
            )
        if round_ == 4:
            session.execute(update(ScoringModelRecord).values(active=True))


@pytest.mark.parametrize("seed", range(12))
def test_bulk_leaves_exactly_what_the_per_lead_path_leaves(
    pair: Callable[[int], tuple[Database, Database]], seed: int
) -> None:
    fast, reference = pair(seed)
    for round_, (now, cause) in enumerate(ROUNDS):
        for db in (fast, reference):
            change_models(db, seed, round_)
        with fast.transaction() as session:
            bulk(session, now, cause)
        with reference.transaction() as session:
            per_lead(session, now, cause)
        got, want = state(fast), state(reference)
        assert got[0] == want[0], f"lead_scores differ in round {round_}"
        assert got[1] == want[1], f"leads differ in round {round_}"
        assert got[2] == want[2], f"history differs in round {round_}"


@pytest.mark.parametrize("seed", (0, 5))
def test_bulk_totals_match_compute_totals(
    pair: Callable[[int], tuple[Database, Database]], seed: int
) -> None:
    fast, _reference = pair(seed)
    with fast.reading() as session:
        models = [m.model for m in recompute.active_models(session)]
        # A draft being previewed may be inactive: it is scored all the same.
        inactive = [replace(m, active=False) if n == 0 else m for n, m in enumerate(models)]
        ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
        want = recompute.compute_totals(session, ids, inactive, NOW + timedelta(days=3))
        got = bulk_totals(session, inactive, NOW + timedelta(days=3))
    assert got == want


def test_every_fact_the_per_lead_path_builds_is_read_by_the_bulk_path(
    pair: Callable[[int], tuple[Database, Database]],
) -> None:
    """``_field_sql`` mirrors ``recompute.build_facts``: a fact added there and not here
    would read as missing in bulk and silently change scores."""
    fast, _reference = pair(1)
    with fast.reading() as session:
        ids = list(session.scalars(select(Lead.id)))
        names = {name for facts in recompute.build_facts(session, ids) for name in facts.fields}
    assert names
    assert sorted(name for name in names if _field_sql(name) is None) == []


def test_cancel_raises_and_the_rollback_keeps_the_old_scores(
    pair: Callable[[int], tuple[Database, Database]],
) -> None:
    fast, _reference = pair(3)
    with fast.transaction() as session:
        bulk(session, NOW, "model changed")
    before = state(fast)
    for stop_at in (1, 2, 3):
        calls: list[tuple[int, int]] = []

        def progress(
            done: int, total: int, stop_at: int = stop_at, calls: list[Any] = calls
        ) -> bool:
            calls.append((done, total))
            return len(calls) < stop_at

        with pytest.raises(RescoreCancelled), fast.transaction() as session:
            models = recompute.active_models(session)
            bulk_rescore(session, models, NOW + timedelta(days=90), "time passed", progress)
        assert state(fast) == before
        assert calls and all(done <= total for done, total in calls)


def test_progress_reaches_the_end(pair: Callable[[int], tuple[Database, Database]]) -> None:
    fast, _reference = pair(4)
    calls: list[tuple[int, int]] = []
    with fast.transaction() as session:
        models = recompute.active_models(session)
        result = bulk_rescore(
            session, models, NOW, "model changed", lambda d, t: calls.append((d, t)) is None
        )
    assert calls[0][0] == 0
    assert calls[-1] == (result.leads, result.leads)
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)


def test_nothing_moves_nothing_is_written(
    pair: Callable[[int], tuple[Database, Database]],
) -> None:
    fast, _reference = pair(6)
    with fast.transaction() as session:
        bulk(session, NOW, "model changed")
    with fast.transaction() as session:
        result = bulk_rescore(session, recompute.active_models(session), NOW, "time passed", None)
    assert result.changed == 0
    assert result.changed_lead_ids == []


def test_no_models_scores_nothing(tmp_path: Path) -> None:
    db = open_desk(f"sqlite:///{tmp_path / 'empty.sqlite'}", NOW).db
    try:
        build_desk(db, random.Random(9))
        with db.transaction() as session:
            result = bulk_rescore(session, [], NOW, "model changed", None)
        assert result.changed == 0 and result.leads > 0
        assert state(db)[0] == []
    finally:
        db.dispose()


# --------------------------------------------------------------------------- parallel reads


@pytest.fixture
def slices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every aggregate a reader connection runs (so a test can tell the parallel
    path ran, not just that the results agree)."""
    started: list[str] = []
    start = bulk_module._Reader.start

    def spy(self: Any, sql: str, params: Any) -> None:
        if "FROM activities" in sql:  # not the lead query
            started.append(sql)
        start(self, sql, params)

    monkeypatch.setattr(bulk_module._Reader, "start", spy)
    return started


def hold_write_lock(session: Any) -> None:
    """What ``_rescore_everything`` does first: drop the scores of inactive models. The
    write puts the transaction in SQLite's write transaction, which parallel reads need."""
    active = [m.id for m in recompute.active_models(session)]
    session.execute(
        LeadScore.__table__.delete().where(LeadScore.model_id.not_in(active))  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("seed", range(6))
def test_parallel_reads_leave_exactly_what_the_per_lead_path_leaves(
    pair: Callable[[int], tuple[Database, Database]],
    slices: list[str],
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    """The activity aggregate split over 1-3 reader connections (contact-id ranges of
    uneven fill) adds up to what the per-lead engine computes."""
    monkeypatch.setattr(bulk_module, "PARALLEL_SLICES", seed % 3 + 1)
    fast, reference = pair(seed)
    for round_, (now, cause) in enumerate(ROUNDS):
        for db in (fast, reference):
            change_models(db, seed, round_)
        with fast.transaction() as session:
            hold_write_lock(session)
            before = len(list(session.scalars(select(ScoreHistory.id))))
            result = bulk_rescore(
                session, recompute.active_models(session), now, cause, None, parallel_reads=True
            )
            assert result.changed == len(list(session.scalars(select(ScoreHistory.id)))) - before
        with reference.transaction() as session:
            per_lead(session, now, cause)
        got, want = state(fast), state(reference)
        assert got[0] == want[0], f"lead_scores differ in round {round_}"
        assert got[1] == want[1], f"leads differ in round {round_}"
        assert got[2] == want[2], f"history differs in round {round_}"
    assert len(slices) >= seed % 3 + 1, "the readers never ran"


def test_parallel_reads_only_inside_a_write_transaction(
    pair: Callable[[int], tuple[Database, Database]], tmp_path: Path
) -> None:
    """Readers see the last commit: only while the caller holds the write lock is that
    the state its transaction started from (nobody else can commit meanwhile)."""
    fast, _reference = pair(2)
    with fast.transaction() as session:
        driver = session.connection().connection.driver_connection
        assert _parallel_file(driver) is None  # reads so far: no write lock
        hold_write_lock(session)
        assert _parallel_file(driver) == str(fast.engine.url.database)
    memory = Database("sqlite://")
    try:
        with memory.transaction() as session:
            session.execute(select(1))
            driver = session.connection().connection.driver_connection
            driver.execute("CREATE TABLE t (x)")
            driver.execute("INSERT INTO t VALUES (1)")
            assert driver.in_transaction
            assert _parallel_file(driver) is None  # nothing other connections could open
    finally:
        memory.dispose()


def add_uncommitted_activities(session: Any) -> None:
    """Activities an import would have written earlier in its own transaction."""
    contacts = list(session.scalars(select(Lead.contact_id).where(Lead.contact_id.is_not(None))))
    for contact_id in sorted(set(contacts))[:5]:
        for type_key in ("email_click", "meeting_booked", "page_visit"):
            session.add(
                Activity(
                    contact_id=contact_id,
                    type_key=type_key,
                    occurred_at=NOW - timedelta(days=1),
                    properties={"url": "/pricing"},
                    created_at=NOW,
                )
            )
    session.flush()


def test_an_import_rescore_sees_its_own_uncommitted_rows(
    pair: Callable[[int], tuple[Database, Database]], slices: list[str]
) -> None:
    """``_rescore_everything`` as the import calls it (positionally, no ``parallel_reads``)
    reads everything on the import's connection, so rows written earlier in the same
    transaction count; readers on other connections would not have seen them."""
    fast, reference = pair(0)  # the starter models score clicks, meetings and pricing pages
    with fast.transaction() as session:
        add_uncommitted_activities(session)
        _rescore_everything(session, NOW, "import", None)
    with reference.transaction() as session:
        add_uncommitted_activities(session)
        per_lead(session, NOW, "import")
    assert slices == []
    got, want = state(fast), state(reference)
    assert got[0] == want[0]
    assert got[2] == want[2]


def test_parallel_reads_would_miss_uncommitted_rows(
    pair: Callable[[int], tuple[Database, Database]], slices: list[str]
) -> None:
    """Why ``parallel_reads`` is the caller's promise: with it, activities the transaction
    has not committed are not counted."""
    fast, reference = pair(0)
    for db, parallel in ((fast, True), (reference, False)):
        with db.transaction() as session:
            hold_write_lock(session)
            add_uncommitted_activities(session)
            models = recompute.active_models(session)
            bulk_rescore(session, models, NOW, "import", None, parallel_reads=parallel)
    assert slices
    assert state(fast)[0] != state(reference)[0]


def test_rescore_all_reads_in_parallel_with_the_same_results(
    pair: Callable[[int], tuple[Database, Database]],
    slices: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daily job and ``leaddesk rescore`` take the parallel path, and it leaves what
    the single-connection path leaves (process moves included)."""
    parallel, single = pair(3)
    for day in (0, 1, 45, 200):
        now = NOW + timedelta(days=day)
        monkeypatch.setattr(bulk_module, "PARALLEL_SLICES", 2)
        count = len(slices)
        rescore_all(parallel, now)
        assert len(slices) == count + 2
        monkeypatch.setattr(bulk_module, "PARALLEL_SLICES", 0)
        rescore_all(single, now)
        assert len(slices) == count + 2
        assert state(parallel) == state(single)
        with parallel.reading() as a, single.reading() as b:
            stages = select(Lead.id, Lead.stage, Lead.status, Lead.sales_ready).order_by(Lead.id)
            assert a.execute(stages).all() == b.execute(stages).all()


def test_cancel_during_parallel_reads_keeps_everything(
    pair: Callable[[int], tuple[Database, Database]], slices: list[str]
) -> None:
    fast, _reference = pair(3)
    with fast.transaction() as session:
        bulk(session, NOW, "model changed")
    before = state(fast)
    for stop_at in (1, 2, 3, 4):
        calls: list[tuple[int, int]] = []

        def progress(
            done: int, total: int, stop_at: int = stop_at, calls: list[Any] = calls
        ) -> bool:
            calls.append((done, total))
            return len(calls) < stop_at

        with pytest.raises(RescoreCancelled), fast.transaction() as session:
            hold_write_lock(session)
            models = recompute.active_models(session)
            bulk_rescore(
                session,
                models,
                NOW + timedelta(days=90),
                "time passed",
                progress,
                parallel_reads=True,
            )
        assert state(fast) == before
        assert not [t for t in threading.enumerate() if t.name == "leaddesk-bulk-read"]
    assert slices
    with fast.transaction() as session:  # no reader left holding the file
        bulk(session, NOW + timedelta(days=90), "time passed")
    assert state(fast) != before


@pytest.mark.parametrize("blob", (False, True))
def test_lead_columns_hold_exactly_what_rows_would(
    pair: Callable[[int], tuple[Database, Database]], blob: bool
) -> None:
    """The lead query comes back as JSON arrays; REALs (JSON keeps 15 digits) and BLOBs
    (JSON has none) must still arrive as the driver's row values, types included."""
    fast, _reference = pair(1)
    fields = [
        "account.annual_revenue",
        "contact.age",
        "contact.job_title",
        "contact.is_customer",
        "contact.custom.tier",
        "lead.tags",
        "lead.nonexistent",
    ]
    with fast.transaction() as session:
        driver = session.connection().connection.driver_connection
        driver.execute("UPDATE accounts SET annual_revenue = 0.1 + 0.2")  # 17 digits
        driver.execute("UPDATE contacts SET age = 2.5 WHERE id % 2 = 0")
        if blob:
            driver.execute("UPDATE contacts SET job_title = X'00ff' WHERE id % 3 = 0")
        model_ids = [m.id for m in recompute.active_models(session)]
        sql, params = _lead_sql(fields, model_ids)
        cursor = driver.cursor()
        got = _lead_columns(
            cursor, _lead_row(lambda: cursor.execute(sql, params).fetchone()), fields, model_ids
        )

        columns, source, params = _lead_parts(fields, model_ids)
        rows = driver.execute(
            f"SELECT {', '.join(columns)} {source} ORDER BY l.id", params
        ).fetchall()
        session.rollback()
    want = [list(column) for column in zip(*rows, strict=True)]
    assert got == want
    assert [[type(v) for v in c] for c in got] == [[type(v) for v in c] for c in want]
    assert 0.1 + 0.2 in got[-7] and 2.5 in got[-6]
    assert (b"\x00\xff" in got[-5]) == blob

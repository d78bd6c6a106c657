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
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

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
    _external_name,
    _field_sql,
    _lead_columns,
    _lead_parts,
    _lead_row,
    _lead_sql,
    _parallel_file,
    _stored_scores,
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


def quoted(found: dict[str, Any]) -> dict[str, Any]:
    """Quotes in some properties texts (which the slices inline as SQL literals), without
    drawing from the random sequence the desks and models come from."""
    if len(found) % 2:
        found["note"] = 'it\'s "quoted"'
    return found


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
        leads = []
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
            leads.append(
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
        session.add_all(leads)
        session.flush()
        add_external_scores(session, rng, [lead.id for lead in leads])
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
                        properties=quoted(properties(rng)),
                        created_at=NOW,
                    )
                )


EXTERNAL_NAMES = ("Partner fit", "intent", "Intent ")
EXTERNAL_SCORES = (0.0, -0.0, 12.5, 30, 50.0, 80, -3.0, 0.1 + 0.2, 1e-300, "lots", " 30 ")


def add_external_scores(session: Any, rng: random.Random, lead_ids: list[int]) -> None:
    """Scores imported from other tools: some leads have none, some several, some 0 (set,
    not missing); names differ only by case or a space; text that is not a number stays
    text in the REAL column, as SQLite keeps it (written in SQL: the ORM would refuse it)."""
    rows = [
        {"lead": lead_id, "name": name, "score": rng.choice(EXTERNAL_SCORES), "at": str(NOW)}
        for lead_id in lead_ids
        for name in EXTERNAL_NAMES
        if rng.random() < 0.5
    ]
    if rows:
        session.execute(
            text(
                "INSERT INTO external_scores (lead_id, name, score, updated_at, imported_at) "
                "VALUES (:lead, :name, :score, :at, :at)"
            ),
            rows,
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
    *(f"lead.external_score.{name}" for name in EXTERNAL_NAMES),
    "lead.external_score.never imported",
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


EXTERNAL_FIELDS = tuple(f for f in LEAD_FIELDS if f.startswith("lead.external_score."))


def external_model(rng: random.Random, name: str) -> ScoringModel:
    """A model whose property rules and exclusion read external scores only: missing
    against 0, numbers against text, one name against another."""
    while True:
        rules = [
            property_rule(
                f"x{n}",
                rng.choice((-5, 1, 2, 10, 25)),
                condition(rng, EXTERNAL_FIELDS),
                group=rng.choice(("fit", "engagement")),
            )
            for n in range(rng.randint(2, 6))
        ]
        field = rng.choice(EXTERNAL_FIELDS)
        rules += [
            property_rule("has one", 3, Leaf(field, "is_set")),
            property_rule("zero", 7, Leaf(field, "eq", 0)),
            property_rule("high", 11, Leaf(field, "gte", 50)),
            activity_rule("opens", 1, "email_open", max_times=3),
        ]
        model = ScoringModel(
            name=name,
            active=True,
            sales_ready_at=rng.choice((None, 10, 30)),
            floor=rng.choice((None, 0)),
            cap=None,
            exclude=None if rng.random() < 0.5 else condition(rng, EXTERNAL_FIELDS),
            rules=tuple(rules),
        )
        try:
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
def pair(tmp_path: Path) -> Iterator[Callable[..., tuple[Database, Database]]]:
    opened: list[Database] = []

    def make(seed: int, external: bool = False) -> tuple[Database, Database]:
        """``external``: only models reading external scores, two or three of them."""
        rng = random.Random(seed)
        source = tmp_path / f"source{seed}.sqlite"
        db = open_desk(f"sqlite:///{source}", NOW).db
        build_desk(db, rng)
        if external:
            models = [external_model(rng, f"External {n}") for n in range(rng.randint(2, 3))]
        else:
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


@pytest.mark.parametrize("seed", range(8))
def test_external_scores_count_as_in_the_per_lead_path(
    pair: Callable[..., tuple[Database, Database]], seed: int
) -> None:
    """``lead.external_score.NAME`` in rules and exclusions of several models: the bulk
    path reads the same value (float, text, 0 as set, no row as missing) per lead."""
    fast, reference = pair(seed, external=True)
    for round_, (now, cause) in enumerate(ROUNDS[:3]):
        for db in (fast, reference):
            change_models(db, seed, round_)
        with fast.transaction() as session:
            bulk(session, now, cause)
        with reference.transaction() as session:
            per_lead(session, now, cause)
        got, want = state(fast), state(reference)
        assert got == want, f"differ in round {round_}"
    with fast.reading() as session:
        models = [m.model for m in recompute.active_models(session)]
        ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
        assert bulk_totals(session, models, NOW) == recompute.compute_totals(
            session, ids, models, NOW
        )
    with fast.reading() as session:
        fits = {s.fit for s in session.scalars(select(LeadScore))}
    assert len(fits) > 1, "the external scores moved nothing: the test proves nothing"


def test_an_external_score_of_zero_is_set_and_no_row_is_missing(
    pair: Callable[..., tuple[Database, Database]],
) -> None:
    fast, reference = pair(2, external=True)
    model = ScoringModel(
        name="Zero",
        active=True,
        sales_ready_at=None,
        floor=None,
        cap=None,
        exclude=Leaf("lead.external_score.intent", "eq", "lots"),
        rules=(
            property_rule("set", 1, Leaf("lead.external_score.Partner fit", "is_set")),
            property_rule("unset", 10, Leaf("lead.external_score.Partner fit", "is_not_set")),
            property_rule("zero", 100, Leaf("lead.external_score.Partner fit", "eq", 0)),
            property_rule("low", 1000, Leaf("lead.external_score.Partner fit", "lt", 1)),
        ),
    )
    for db in (fast, reference):
        with db.transaction() as session:
            session.execute(update(ScoringModelRecord).values(active=False))
            session.execute(text("DELETE FROM external_scores"))
            scorable = (Lead.contact_id.is_not(None)) | (Lead.account_id.is_not(None))
            ids = list(session.scalars(select(Lead.id).where(scorable).order_by(Lead.id)))
            session.execute(
                text(
                    "INSERT INTO external_scores (lead_id, name, score, updated_at, imported_at)"
                    " VALUES (:lead, :name, :score, :at, :at)"
                ),
                [
                    {"lead": ids[0], "name": "Partner fit", "score": 0, "at": str(NOW)},
                    {"lead": ids[1], "name": "Partner fit", "score": 0.5, "at": str(NOW)},
                    {"lead": ids[2], "name": "partner fit", "score": 0, "at": str(NOW)},
                    {"lead": ids[3], "name": "Partner fit", "score": 0, "at": str(NOW)},
                    {"lead": ids[3], "name": "intent", "score": "lots", "at": str(NOW)},
                ],
            )
        install(db, [model])
    with fast.transaction() as session:
        bulk(session, NOW, "model changed")
    with reference.transaction() as session:
        per_lead(session, NOW, "model changed")
    assert state(fast) == state(reference)
    with fast.reading() as session:
        zero = session.scalars(
            select(ScoringModelRecord.id).where(ScoringModelRecord.name == "Zero")
        ).one()
        got = dict(
            session.execute(
                select(LeadScore.lead_id, LeadScore.score).where(LeadScore.model_id == zero)
            ).all()
        )
    assert [got[i] for i in ids[:4]] == [1101, 1001, 10, 0]  # the last one excluded
    assert {got[i] for i in ids[4:]} == {10}


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
    assert any(_external_name(name) for name in names)
    unread = [name for name in names if _field_sql(name) is None and _external_name(name) is None]
    assert sorted(unread) == []


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

    def spy(self: Any, sql: str, params: Any, *rest: Any) -> None:
        if "FROM activities" in sql:  # not the lead query
            started.append(sql)
        start(self, sql, params, *rest)

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


@pytest.mark.parametrize(("seed", "limit"), [(0, 0), (3, 0), (6, 1), (0, 5000), (9, 5000)])
def test_conditional_rules_per_text_or_per_row_leave_the_same(
    pair: Callable[[int], tuple[Database, Database]],
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    limit: int,
) -> None:
    """The slices count conditional activity rules in pure SQL, each distinct properties
    text evaluated once by the engine; above ``INLINE_LIMIT`` texts of a type they call
    the engine per row instead (and the caller's thread then waits for them before its
    own Python). Both leave what the per-lead path leaves."""
    monkeypatch.setattr(bulk_module, "INLINE_LIMIT", limit)
    pure: list[bool] = []
    pure_sql = bulk_module._Reader.pure_sql

    def spy(self: Any) -> bool:
        pure.append(pure_sql(self))
        return pure[-1]

    monkeypatch.setattr(bulk_module._Reader, "pure_sql", spy)
    fast, reference = pair(seed)  # starter models: rules on page visits, products, clicks
    for round_, (now, cause) in enumerate(ROUNDS[:3]):
        with fast.transaction() as session:
            hold_write_lock(session)
            models = recompute.active_models(session)
            bulk_rescore(session, models, now, cause, None, parallel_reads=True)
        with reference.transaction() as session:
            per_lead(session, now, cause)
        assert state(fast) == state(reference), f"differ in round {round_}"
    assert pure and all(pure) == (limit >= 5000)


def test_inlined_texts_are_sql_literals_of_the_exact_text() -> None:
    """Quotes double, every text is compared byte for byte (``+properties``), texts worth
    nothing are left out, and what a literal cannot hold keeps the function."""
    rule = activity_rule("pricing", 5, "page_visit", when=Leaf("url", "contains", "pricing"))
    bundle = bulk_module._Bundle("page_visit", [rule])
    texts = ['{"url": "/pricing\'s"}', '{"url": "/home"}', '{"url": " /PRICING "}']
    sql = bulk_module._inline_bundle(bundle, texts)
    assert sql == (
        '(CASE WHEN +properties IN (\'{"url": " /PRICING "}\', \'{"url": "/pricing\'\'s"}\')'
        " THEN 5 ELSE 0 END)"
    )
    assert bulk_module._inline_bundle(bundle, ['{"url": "/home"}']) == "0"
    assert bulk_module._inline_bundle(bundle, []) == "0"
    for odd in (None, 5, b"{}", '{"url": "\x00"}'):
        assert bulk_module._inline_bundle(bundle, [*texts, odd]) is None


def test_stored_scores_are_placed_by_lead_whatever_the_table_order(
    pair: Callable[[int], tuple[Database, Database]],
) -> None:
    """Scores are read by a plain scan of ``lead_scores``; rows written out of lead order,
    and leads without a row, still line up with the leads as the join would."""
    fast, _reference = pair(4)
    with fast.transaction() as session:
        bulk(session, NOW, "model changed")
    with fast.transaction() as session:
        driver = session.connection().connection.driver_connection
        rows = driver.execute("SELECT * FROM lead_scores ORDER BY lead_id DESC").fetchall()
        driver.execute("DELETE FROM lead_scores")
        holes = ", ".join("?" for _ in rows[0])
        driver.executemany(f"INSERT INTO lead_scores VALUES ({holes})", rows[::2] + rows[1::4])
        lead_ids = [i for (i,) in driver.execute("SELECT id FROM leads ORDER BY id")]
        model_ids = [m.id for m in recompute.active_models(session)]
        got = _stored_scores(driver.cursor(), model_ids, lead_ids)
        want = []
        for model_id in model_ids:
            joined = driver.execute(
                "SELECT s.score, s.fit, s.engagement, s.excluded FROM leads l LEFT JOIN "
                "lead_scores s ON s.lead_id = l.id AND s.model_id = ? ORDER BY l.id",
                [model_id],
            ).fetchall()
            want.append([list(column) for column in zip(*joined, strict=True)])
        session.rollback()
    assert got == want
    assert any(None in column for columns in got for column in columns)


def test_readers_run_whatever_their_priority_allows(
    pair: Callable[[int], tuple[Database, Database]],
    slices: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lowering a reader thread's priority is a nicety: refused, it changes nothing."""

    def refuse(*_args: Any) -> None:
        raise PermissionError("not allowed")

    monkeypatch.setattr(bulk_module.os, "setpriority", refuse, raising=False)
    fast, reference = pair(3)
    with fast.transaction() as session:
        hold_write_lock(session)
        models = recompute.active_models(session)
        bulk_rescore(session, models, NOW, "model changed", None, parallel_reads=True)
    with reference.transaction() as session:
        per_lead(session, NOW, "model changed")
    assert slices
    assert state(fast) == state(reference)


@pytest.mark.parametrize("bits, slots", [(2, 1), (2, 31), (9, 6), (20, 3), (31, 2), (62, 1)])
def test_packed_subtotals_are_unpacked_exactly_in_sql(bits: int, slots: int) -> None:
    """``_Planner.outputs`` takes each component's subtotal out of its packed SUM in SQL;
    every value a slot may hold, the extremes included, comes back as it went in, as the
    Python arithmetic it replaced (``(s + half) % size - half``, then ``s >>= bits``)
    reads it."""
    planner = bulk_module._Planner(NOW, bulk_module._FUNCTION)
    planner.add_column("MAX(occurred_at)", [], bulk_module._MAX)
    column = planner.add_column("SUM(0)", [], bulk_module._SUM)
    planner.packs.append((column, bits, slots))
    for slot in range(slots):
        component = bulk_module._Component(slot, False, [], 1, pack=0, slot=slot)
        planner.components.append(component)
    exprs, kinds, position = planner.outputs()
    assert position == {1: 1} and kinds == ["sum", "max"] + ["sum"] * slots
    assert [c.output for c in planner.components] == list(range(2, 2 + slots))
    half = 1 << (bits - 1)
    rng = random.Random(bits * 100 + slots)
    cases = [[-half] * slots, [half - 1] * slots, [0] * slots]
    cases += [[rng.choice((-half, half - 1, 0, rng.randrange(-half, half))) for _ in range(slots)]]
    cases += [[rng.randrange(-half, half) for _ in range(slots)] for _ in range(50)]
    conn = sqlite3.connect(":memory:")
    try:
        sql = f"SELECT {', '.join(exprs)} FROM (SELECT 7 AS c0, NULL AS c1, ? AS c2)"
        for values in cases:
            packed = sum(v << (bits * slot) for slot, v in enumerate(values))
            row = conn.execute(sql, [packed]).fetchone()
            assert list(row[2:]) == values
            rest, python = packed, []
            for _ in range(slots):
                value = ((rest + half) % (1 << bits)) - half
                python.append(value)
                rest = (rest - value) >> bits
            assert python == values
        # A contact without a row of the pack's column reads 0 in every slot.
        row = conn.execute(sql, [None]).fetchone()
        assert list(row[2:]) == [0] * slots
    finally:
        conn.close()


def test_differing_finds_what_comparing_lead_by_lead_finds() -> None:
    """``_differing`` compares blocks of leads as list slices and only the blocks that
    differ lead by lead: the same positions as comparing every lead's tuple, with
    ``bool`` on the stored flag (``None`` where a lead has no stored row)."""
    rng = random.Random(5)
    for size in (0, 1, bulk_module._BLOCK - 1, bulk_module._BLOCK, 3 * bulk_module._BLOCK + 7):
        for rate in (0.0, 0.01, 0.5):
            new = [rng.randrange(-3, 4) for _ in range(size)]
            old: list[Any] = [v + 1 if rng.random() < rate else v for v in new]
            old = [None if rng.random() < rate / 2 else v for v in old]
            flags = [rng.random() < rate for _ in range(size)]
            new_ex = [rng.random() < 0.3 for _ in range(size)]
            old_ex: list[Any] = [
                rng.choice((None, 0, 1, 2, True, False)) if rng.random() < rate else int(x)
                for x in new_ex
            ]
            got = bulk_module._differing(size, [(new, old, None), (new_ex, old_ex, bool)], flags)
            want = [
                i
                for i in range(size)
                if (new[i], new_ex[i]) != (old[i], bool(old_ex[i])) or flags[i]
            ]
            assert got == want


def test_account_aggregates_combine_contacts_as_row_by_row_merging_does() -> None:
    """``_account_aggregates`` merges column by column; the row-by-row merge it replaced
    (first contact's row as it is, then each further contact's non-None values added or
    kept when later) is the reference, Nones and contacts without a row included."""
    rng = random.Random(11)
    kinds = ["sum", "max", "sum", "max", "sum"]
    size = 300
    columns: list[list[Any]] = [list(range(1000, 1000 + size))]
    for kind in kinds[1:]:
        if kind == "sum":
            columns.append([rng.choice((None, 0, rng.randrange(-50, 50))) for _ in range(size)])
        else:
            columns.append(
                [
                    rng.choice((None, f"2026-0{rng.randrange(1, 10)}-01 00:00:00.000000"))
                    for _ in range(size)
                ]
            )
    where = {contact: n for n, contact in enumerate(columns[0])}
    pairs = [(rng.randrange(900, 1000 + size + 50), rng.randrange(1, 40)) for _ in range(400)]
    want: dict[int, list[Any]] = {}
    for contact_id, account_id in pairs:
        at = where.get(contact_id)
        if at is None:
            continue
        row = [column[at] for column in columns]
        merged = want.get(account_id)
        if merged is None:
            want[account_id] = [account_id, *row[1:]]
            continue
        for n in range(1, len(kinds)):
            value = row[n]
            if value is None:
                continue
            if merged[n] is None:
                merged[n] = value
            elif kinds[n] == "sum":
                merged[n] += value
            elif value > merged[n]:
                merged[n] = value
    got = bulk_module._account_aggregates(kinds, columns, where, pairs)
    assert got == want
    assert len(want) > 10

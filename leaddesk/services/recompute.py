"""Keeping derived lead data true: last activity, scores, score history.

These helpers run inside the caller's transaction (the activity being logged, the
record being edited), which is what makes the list show the new score the moment the
action commits, and what makes a failed action leave no half-updated score behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, Text, bindparam, func, insert, or_, select, type_coerce, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from leaddesk.domain import process as proc
from leaddesk.domain.process import ROLE_INQUIRY, LeadState, Outcome, Stages, StageSpec
from leaddesk.domain.scoring import ActivityFact, LeadFacts, ScoringModel, score_models, stars
from leaddesk.domain.scoring_file import FORMAT, parse_document
from leaddesk.domain.validation import ACCOUNT_FIELDS, CONTACT_FIELDS
from leaddesk.store.models import (
    Account,
    Activity,
    Contact,
    ExternalScore,
    Lead,
    LeadScore,
    ScoreHistory,
    ScoringModelRecord,
)

if TYPE_CHECKING:
    from leaddesk.services.process import DisqualificationRule

CONTACT_FACT_FIELDS = CONTACT_FIELDS  # TODO: bulk_rescore imports these names
ACCOUNT_FACT_FIELDS = ACCOUNT_FIELDS


# --- which leads an action touches ------------------------------------------------------


def leads_of_contact(session: Session, contact_id: int) -> list[int]:
    return list(session.scalars(select(Lead.id).where(Lead.contact_id == contact_id)))


def leads_of_account(session: Session, account_id: int) -> list[int]:
    """Leads whose facts read this account: its own leads and those of its contacts."""
    contact_ids = select(Contact.id).where(Contact.account_id == account_id)
    return list(
        session.scalars(
            select(Lead.id).where(
                or_(Lead.account_id == account_id, Lead.contact_id.in_(contact_ids))
            )
        )
    )


_lead_t = cast(Table, Lead.__table__)
_TOUCHED_BY_CONTACT = (
    select(_lead_t.c.id)
    .where(_lead_t.c.contact_id == bindparam("contact_id"))
    .order_by(_lead_t.c.id)
)
_TOUCHED_BY_CONTACT_OR_ACCOUNT = (
    select(_lead_t.c.id)
    .where(
        or_(
            _lead_t.c.contact_id == bindparam("contact_id"),
            _lead_t.c.contact_id.is_(None) & (_lead_t.c.account_id == bindparam("account_id")),
        )
    )
    .order_by(_lead_t.c.id)
)
_NOTE_ACTIVITY = (
    update(_lead_t)
    .where(_lead_t.c.id.in_(bindparam("ids", expanding=True)))
    .where(
        or_(
            _lead_t.c.last_activity_at.is_(None),
            _lead_t.c.last_activity_at < bindparam("occurred_at"),
        )
    )
    .values(last_activity_at=bindparam("occurred_at"))
)


def leads_touched_by_contact(
    session: Session, contact_id: int, account_id: int | None
) -> list[int]:
    """Leads that read this contact's activities: the contact's own leads and the
    account-only leads of the contact's account."""
    session.flush()
    conn = session.connection()
    if account_id is None:
        return list(conn.scalars(_TOUCHED_BY_CONTACT, {"contact_id": contact_id}))
    return list(
        conn.scalars(
            _TOUCHED_BY_CONTACT_OR_ACCOUNT, {"contact_id": contact_id, "account_id": account_id}
        )
    )


# --- last activity ------------------------------------------------------------------------


def note_activity(session: Session, lead_ids: Sequence[int], occurred_at: datetime) -> None:
    if not lead_ids:
        return
    session.flush()
    session.connection().execute(
        _NOTE_ACTIVITY, {"ids": list(lead_ids), "occurred_at": occurred_at}
    )
    _expire_loaded(session, (Lead,))


def last_activity_for(session: Session, lead_ids: Sequence[int]) -> dict[int, datetime]:
    out: dict[int, datetime] = {}
    for lead in session.scalars(select(Lead).where(Lead.id.in_(lead_ids))):
        if lead.contact_id is not None:
            when = session.scalar(
                select(func.max(Activity.occurred_at)).where(Activity.contact_id == lead.contact_id)
            )
        elif lead.account_id is not None:
            when = session.scalar(
                select(func.max(Activity.occurred_at))
                .join(Contact, Contact.id == Activity.contact_id)
                .where(Contact.account_id == lead.account_id)
            )
        else:
            when = None
        if when is not None:
            out[lead.id] = when
    return out


def refresh_last_activity(session: Session, lead_ids: Sequence[int]) -> None:
    latest = last_activity_for(session, lead_ids)
    for lead_id in lead_ids:
        session.execute(
            update(Lead).where(Lead.id == lead_id).values(last_activity_at=latest.get(lead_id))
        )


# --- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveModel:
    id: int
    name: str
    model: ScoringModel


_parsed_cache: dict[str, ScoringModel] = {}


def raw_json(column: Any) -> Any:
    """A JSON column read as its stored text (no decoding), for cheap cache keys."""
    return type_coerce(column, Text)


def json_key(value: Any) -> str:
    """The cache key of a value read with ``raw_json``: SQLite gives the text, a driver
    that decodes JSON itself gives the value."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_active_cache: dict[tuple[int, str, str], ActiveModel] = {}


def active_models(session: Session) -> list[ActiveModel]:
    """Active models in the user's order; the first is the primary one the list shows.

    Parsed definitions are cached by their JSON text (not by id, which another database
    may reuse) because logging one activity must stay within a few milliseconds and
    re-parsing every rule each time would not.
    """
    rows = session.connection().execute(
        select(
            ScoringModelRecord.id,
            ScoringModelRecord.name,
            raw_json(ScoringModelRecord.definition),
        )
        .where(ScoringModelRecord.active.is_(True))
        .order_by(ScoringModelRecord.position, ScoringModelRecord.id)
    )
    return [_active_model(model_id, name, raw) for model_id, name, raw in rows]


def _active_model(model_id: int, name: str, raw: Any) -> ActiveModel:
    """The parsed model of one stored definition (read with ``raw_json``), from the cache
    when this id, name and text were seen before."""
    text_key = json_key(raw)
    found = _active_cache.get((model_id, name, text_key))
    if found is None:
        definition = json_value(raw)
        key = json.dumps(definition, sort_keys=True)
        model = _parsed_cache.get(key)
        if model is None:
            if len(_parsed_cache) > 64:
                _parsed_cache.clear()
            model = parse_document({"format": FORMAT, "models": [definition]})[0]
            _parsed_cache[key] = model
        if len(_active_cache) > 64:
            _active_cache.clear()
        found = ActiveModel(model_id, name, model)
        _active_cache[(model_id, name, text_key)] = found
    return found


def _fields(prefix: str, row: Any, names: Iterable[str]) -> dict[str, Any]:
    data = {f"{prefix}.{name}": getattr(row, name) for name in names}
    for key, value in (row.custom or {}).items():
        data[f"{prefix}.custom.{key}"] = value
    return data


_contact_t = cast(Table, Contact.__table__)
_account_t = cast(Table, Account.__table__)
_activity_t = cast(Table, Activity.__table__)
_external_t = cast(Table, ExternalScore.__table__)
_FACT_LEADS = (
    select(
        _lead_t.c.id,
        _lead_t.c.contact_id,
        _lead_t.c.account_id,
        _lead_t.c.topic,
        _lead_t.c.source,
        _lead_t.c.stage,
        _lead_t.c.status,
        _lead_t.c.tags,
        _lead_t.c.custom,
        _lead_t.c.created_at,
    )
    .where(_lead_t.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_lead_t.c.id)
)
_FACT_CONTACTS = select(_contact_t).where(_contact_t.c.id.in_(bindparam("ids", expanding=True)))
_FACT_ACCOUNTS = select(_account_t).where(_account_t.c.id.in_(bindparam("ids", expanding=True)))
_FACT_EXTERNAL = select(_external_t.c.lead_id, _external_t.c.name, _external_t.c.score).where(
    _external_t.c.lead_id.in_(bindparam("ids", expanding=True))
)
_FACT_CONTACT_ACTIVITIES = select(
    _activity_t.c.id,
    _activity_t.c.contact_id,
    _activity_t.c.type_key,
    _activity_t.c.occurred_at,
    _activity_t.c.properties,
).where(_activity_t.c.contact_id.in_(bindparam("ids", expanding=True)))
_FACT_ACCOUNT_ACTIVITIES = (
    select(
        _activity_t.c.id,
        _contact_t.c.account_id,
        _activity_t.c.type_key,
        _activity_t.c.occurred_at,
        _activity_t.c.properties,
    )
    .join(_contact_t, _contact_t.c.id == _activity_t.c.contact_id)
    .where(_contact_t.c.account_id.in_(bindparam("ids", expanding=True)))
)


def build_facts(session: Session, lead_ids: Sequence[int]) -> list[LeadFacts]:
    """Everything scoring reads about these leads, in a handful of queries."""
    if not lead_ids:
        return []
    session.flush()
    conn = session.connection()
    ids = list(lead_ids)
    leads = list(conn.execute(_FACT_LEADS, {"ids": ids}))
    contact_ids = {lead.contact_id for lead in leads if lead.contact_id is not None}
    contacts: dict[int, Any] = {}
    if contact_ids:
        contacts = {c.id: c for c in conn.execute(_FACT_CONTACTS, {"ids": list(contact_ids)})}
    account_ids = {lead.account_id for lead in leads if lead.account_id is not None}
    account_ids |= {c.account_id for c in contacts.values() if c.account_id is not None}
    accounts: dict[int, Any] = {}
    if account_ids:
        accounts = {a.id: a for a in conn.execute(_FACT_ACCOUNTS, {"ids": list(account_ids)})}
    account_only = {
        lead.account_id for lead in leads if lead.contact_id is None and lead.account_id
    }
    external: dict[int, dict[str, float]] = defaultdict(dict)
    for lead_id, name, score in conn.execute(_FACT_EXTERNAL, {"ids": ids}):
        external[lead_id][name] = score
    activities_by_contact: dict[int, list[ActivityFact]] = defaultdict(list)
    activities_by_account: dict[int, list[ActivityFact]] = defaultdict(list)
    if contact_ids:
        for act_id, cid, type_key, when, props in conn.execute(
            _FACT_CONTACT_ACTIVITIES, {"ids": list(contact_ids)}
        ):
            activities_by_contact[cid].append(ActivityFact(act_id, type_key, when, props or {}))
    if account_only:
        for act_id, aid, type_key, when, props in conn.execute(
            _FACT_ACCOUNT_ACTIVITIES, {"ids": list(account_only)}
        ):
            activities_by_account[aid].append(ActivityFact(act_id, type_key, when, props or {}))
    facts: list[LeadFacts] = []
    for lead in leads:
        contact = contacts.get(lead.contact_id) if lead.contact_id else None
        account_id = lead.account_id or (contact.account_id if contact else None)
        account = accounts.get(account_id) if account_id else None
        fields: dict[str, Any] = {
            "lead.topic": lead.topic,
            "lead.source": lead.source,
            "lead.stage": lead.stage,
            "lead.status": lead.status,
            "lead.tags": list(lead.tags or []),
        }
        for key, value in (lead.custom or {}).items():
            fields[f"lead.custom.{key}"] = value
        for name, score in external.get(lead.id, {}).items():
            fields[f"lead.external_score.{name}"] = score
        if contact is not None:
            fields.update(_fields("contact", contact, CONTACT_FIELDS))
            acts = activities_by_contact.get(contact.id, [])
        elif lead.account_id is not None:
            acts = activities_by_account.get(lead.account_id, [])
        else:
            acts = []
        if account is not None:
            fields.update(_fields("account", account, ACCOUNT_FIELDS))
        facts.append(
            LeadFacts(
                lead_id=lead.id,
                fields=fields,
                activities=acts,
                created_at=lead.created_at,
                has_contact=contact is not None,
                has_account=account is not None,
            )
        )
    return facts


@dataclass(frozen=True, slots=True)
class Totals:
    """What the lists and history need of a score; the full explanation is recomputed
    on demand by ``scoring.explain`` from the same engine."""

    total: int
    fit: int
    engagement: int
    excluded: bool


def compute_totals(
    session: Session, lead_ids: Sequence[int], models: Sequence[ScoringModel], now: datetime
) -> dict[int, list[Totals]]:
    """Every lead's totals under each model, in the models' order.

    This is the one place both the per-action re-score and the model editor's what-if
    go through, so a faster implementation here speeds up both.
    """
    return totals_from_facts(build_facts(session, lead_ids), models, now)


def totals_from_facts(
    facts_list: Sequence[LeadFacts], models: Sequence[ScoringModel], now: datetime
) -> dict[int, list[Totals]]:
    out: dict[int, list[Totals]] = {}
    # score_models builds each lead's activity index once for all models; a draft being
    # previewed may be inactive, so every model given here is scored.
    scored = [m if m.active else replace(m, active=True) for m in models]
    for facts in facts_list:
        results = score_models(scored, facts, now)
        out[facts.lead_id] = [Totals(r.total, r.fit, r.engagement, r.excluded) for r in results]
    return out


def rescore(session: Session, lead_ids: Sequence[int], now: datetime, cause: str) -> None:
    """Re-score these leads with every active model, keep the history of changes, and
    make the process moves the new scores call for (DESIGN §4), all in the caller's
    transaction.

    With no active model every lead's list score is 0, which is the truth: nothing has
    been scored; disqualification rules still apply.
    """
    from leaddesk.services import process

    if not lead_ids:
        return
    models = active_models(session)
    rules = process.has_active_rules(session)
    if not models and not rules:
        return
    mark = process.mark_before_scoring(session, lead_ids)
    facts_list = build_facts(session, lead_ids)
    if models:
        _write_scores(
            session,
            lead_ids,
            models,
            totals_from_facts(facts_list, [m.model for m in models], now),
            now,
            cause,
        )
    process.apply_after_scoring(session, mark, now, facts_list if rules else None)


def score_only(session: Session, lead_ids: Sequence[int], now: datetime, cause: str) -> None:
    """Scores and history without the process moves: the full re-score runs the moves once
    for everybody afterwards (``process.apply_after_scoring``)."""
    models = active_models(session)
    if not lead_ids or not models:
        return
    totals = compute_totals(session, lead_ids, [m.model for m in models], now)
    _write_scores(session, lead_ids, models, totals, now, cause)


def _upsert_scores(session: Session, rows: list[dict[str, Any]], existing: set[int]) -> None:
    """Write ``lead_scores`` rows in one statement where the dialect allows it."""
    table = cast(Table, LeadScore.__table__)
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.lead_id, table.c.model_id],
            set_={
                "score": stmt.excluded.score,
                "fit": stmt.excluded.fit,
                "engagement": stmt.excluded.engagement,
                "excluded": stmt.excluded.excluded,
                "computed_at": stmt.excluded.computed_at,
            },
        )
        conn.execute(stmt, rows)
        return
    new_rows = [r for r in rows if id(r) not in existing]
    old_rows = [
        {**r, "b_lead_id": r["lead_id"], "b_model_id": r["model_id"]}
        for r in rows
        if id(r) in existing
    ]
    if old_rows:
        conn.execute(
            update(table)
            .where(table.c.lead_id == bindparam("b_lead_id"))
            .where(table.c.model_id == bindparam("b_model_id"))
            .values(
                score=bindparam("score"),
                fit=bindparam("fit"),
                engagement=bindparam("engagement"),
                excluded=bindparam("excluded"),
                computed_at=bindparam("computed_at"),
            ),
            old_rows,
        )
    if new_rows:
        conn.execute(insert(table), new_rows)


def _write_scores(
    session: Session,
    lead_ids: Sequence[int],
    models: Sequence[ActiveModel],
    totals: dict[int, list[Totals]],
    now: datetime,
    cause: str,
) -> None:
    """Scores, history and the list columns in a few Core statements (one per table),
    inside the caller's transaction. ORM objects of these leads loaded earlier in the
    session are expired, so they read the new values."""
    session.flush()
    conn = session.connection()
    score_t = cast(Table, LeadScore.__table__)
    old_scores: dict[tuple[int, int], int] = {}
    for chunk_start in range(0, len(lead_ids), 5000):
        chunk = list(lead_ids[chunk_start : chunk_start + 5000])
        for lead_id, model_id, score in conn.execute(
            select(score_t.c.lead_id, score_t.c.model_id, score_t.c.score).where(
                score_t.c.lead_id.in_(chunk)
            )
        ):
            old_scores[(lead_id, model_id)] = score
    primary = models[0]
    score_rows: list[dict[str, Any]] = []
    existing: set[int] = set()
    history: list[dict[str, Any]] = []
    lead_rows: list[dict[str, Any]] = []
    for lead_id, results in totals.items():
        for active, result in zip(models, results, strict=True):
            old = old_scores.get((lead_id, active.id))
            row = {
                "lead_id": lead_id,
                "model_id": active.id,
                "score": result.total,
                "fit": result.fit,
                "engagement": result.engagement,
                "excluded": result.excluded,
                "computed_at": now,
            }
            score_rows.append(row)
            if old is not None:
                existing.add(id(row))
            if result.total != (old or 0):
                history.append(
                    {
                        "lead_id": lead_id,
                        "model_id": active.id,
                        "model_name": active.name,
                        "at": now,
                        "old_score": old or 0,
                        "new_score": result.total,
                        "cause": cause,
                    }
                )
        primary_total = results[0].total
        lead_rows.append(
            {
                "b_id": lead_id,
                "score": primary_total,
                "stars": stars(primary_total, primary.model.sales_ready_at),
                "scored_at": now,
            }
        )
    if score_rows:
        _upsert_scores(session, score_rows, existing)
    if history:
        conn.execute(insert(cast(Table, ScoreHistory.__table__)), history)
    if lead_rows:
        lead_t = cast(Table, Lead.__table__)
        conn.execute(
            update(lead_t)
            .where(lead_t.c.id == bindparam("b_id"))
            .values(
                score=bindparam("score"),
                stars=bindparam("stars"),
                scored_at=bindparam("scored_at"),
            ),
            lead_rows,
        )
    _expire_loaded(session, (Lead, LeadScore, ScoreHistory))


def _expire_loaded(session: Session, classes: tuple[type, ...]) -> None:
    """Core writes bypass the identity map: expire what the session holds of these."""
    if not session.identity_map:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, classes):
            session.expire(obj)


# --- the lead list's folded sort and search columns -----------------------------------------


def refresh_lead_labels(session: Session, lead_ids: Iterable[int] | None = None) -> int:
    """Recompute ``sort_name``, ``sort_company`` and ``search_text`` for these leads (all
    leads when None). Every writer of names, e-mails, companies or topics calls this in its
    own transaction: the forms, the demo generator and the importer."""
    from leaddesk.domain.search_text import lead_labels

    LeadAccount = aliased(Account)
    query = (
        select(
            Lead.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            LeadAccount.name,
            Lead.topic,
        )
        .select_from(Lead)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(
            LeadAccount, LeadAccount.id == func.coalesce(Lead.account_id, Contact.account_id)
        )
    )
    ids = None if lead_ids is None else sorted(set(lead_ids))
    chunks = [None] if ids is None else [ids[i : i + 5000] for i in range(0, len(ids), 5000)]
    count = 0
    for chunk in chunks:
        if chunk is not None and not chunk:
            continue
        part = query if chunk is None else query.where(Lead.id.in_(chunk))
        updates = []
        for lead_id, first, last, email, company, topic in session.execute(part):
            sort_name, sort_company, search_text = lead_labels(first, last, email, company, topic)
            updates.append(
                {
                    "b_id": lead_id,
                    "sort_name": sort_name,
                    "sort_company": sort_company,
                    "search_text": search_text,
                }
            )
        if updates:
            table = cast(Table, Lead.__table__)
            session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    sort_name=bindparam("sort_name"),
                    sort_company=bindparam("sort_company"),
                    search_text=bindparam("search_text"),
                ),
                updates,
            )
            count += len(updates)
    return count


# --- one contact's leads, on SQLite -----------------------------------------------------------
#
# Logging an activity is the desk's hot path: a telemarketer logs a call and expects the
# list to show the new score at once. Through the functions above that costs ~20
# SQLAlchemy statements (30-110 µs of overhead each on top of SQLite's few µs) and re-reads
# and re-checks the models, rules and stages every time. The path below does the same work
# for the leads that read one contact's activities with about a dozen plain statements on
# the session's own DBAPI connection (so inside the caller's transaction), decodes values
# with the very processors SQLAlchemy would use, reads the desk's configuration in one
# statement and parses it once per distinct content (so a model edited by another
# connection or program is seen at once), and leaves index entries alone when a score did
# not change. ``test_activities`` checks it against ``rescore`` on the same data.

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class DeskConfig:
    """What a re-score reads besides the leads themselves."""

    models: tuple[ActiveModel, ...]
    #: every model's (name, sales-ready threshold, threshold tag), inactive ones too
    thresholds: Mapping[int, tuple[str, int | None, str | None]]
    #: the active disqualification rules, in their stored order
    rules: tuple[DisqualificationRule, ...]
    stages: tuple[StageSpec, ...]
    inquiry_stage: str | None

    def stage_label(self, key: str) -> str:
        return next((s.label for s in self.stages if s.key == key), None) or key


_CONFIG_SQL = (
    "SELECT 'm', id, name, position, active, definition, NULL FROM scoring_models "
    "UNION ALL SELECT 'r', NULL, key, NULL, NULL, value, NULL FROM app_settings "
    "WHERE key = ? "
    "UNION ALL SELECT 's', NULL, key, position, role, fields, label FROM stages"
)
_config_cache: dict[tuple[Any, ...], DeskConfig] = {}


def sqlite_driver(session: Session) -> Any | None:
    """The DBAPI connection under the session's transaction when the fast path can use it
    (SQLite through the standard ``sqlite3`` module), else None."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite" or dialect.driver != "pysqlite":
        return None
    return connection.connection.driver_connection


def run_sql(cursor: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    """``cursor.execute`` raising SQLAlchemy's exceptions, as the ORM path would."""
    try:
        return cursor.execute(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


def _run_many(cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    try:
        cursor.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, rows, exc, sqlite3.Error) from exc


def desk_config(cursor: Any) -> DeskConfig:
    """Models, rules and stages in one statement; parsed only when their text changed."""
    from leaddesk.services.process import DISQUALIFICATION_RULES_KEY

    rows = tuple(run_sql(cursor, _CONFIG_SQL, (DISQUALIFICATION_RULES_KEY,)).fetchall())
    found = _config_cache.get(rows)
    if found is None:
        found = _parse_config(rows)
        if len(_config_cache) > 16:
            _config_cache.clear()
        _config_cache[rows] = found
    return found


def _parse_config(rows: Sequence[Sequence[Any]]) -> DeskConfig:
    from leaddesk.services.process import rules_from_stored, threshold_of

    models = sorted((r[3], r[1], r[2], r[5]) for r in rows if r[0] == "m" and r[4] == 1)
    thresholds = {r[1]: (r[2], *threshold_of(r[5])) for r in rows if r[0] == "m"}
    stored_rules = next((r[5] for r in rows if r[0] == "r"), None)
    stages = [
        StageSpec(r[2], r[6], r[4], tuple(dict(f) for f in json_value(r[5]) or []))
        for r in sorted((r for r in rows if r[0] == "s"), key=lambda r: (r[3], r[2]))
    ]
    return DeskConfig(
        models=tuple(_active_model(i, name, raw) for _pos, i, name, raw in models),
        thresholds=thresholds,
        rules=tuple(r for r in rules_from_stored(stored_rules) if r.active),
        stages=tuple(stages),
        inquiry_stage=next((s.key for s in stages if s.role == ROLE_INQUIRY), None),
    )


_proc_cache: dict[tuple[Any, ...], tuple[_Processor, ...]] = {}


def _result_processors(dialect: Any, table: Table, names: Sequence[str]) -> tuple[_Processor, ...]:
    """What SQLAlchemy applies to these columns' raw values when it reads them."""
    key = (dialect, table.name, tuple(names))
    found = _proc_cache.get(key)
    if found is None:
        found = tuple(
            table.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
            for name in names
        )
        if len(_proc_cache) > 64:
            _proc_cache.clear()
        _proc_cache[key] = found
    return found


def bind_processor(dialect: Any, column: Any) -> Callable[[Any], Any]:
    """What SQLAlchemy applies to a value it writes into this column."""
    key = (dialect, column.table.name, column.name, "bind")
    found = _proc_cache.get(key)
    if found is None:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        found = (processor,)
        _proc_cache[key] = found
    return found[0] or _identity


def _identity(value: Any) -> Any:
    return value


def _decoded(processors: Sequence[_Processor], values: Sequence[Any]) -> list[Any]:
    return [
        value if processor is None or value is None else processor(value)
        for processor, value in zip(processors, values, strict=True)
    ]


_LEAD_COLUMNS = (
    "id",
    "contact_id",
    "account_id",
    "topic",
    "source",
    "stage",
    "status",
    "tags",
    "custom",
    "created_at",
    "scored_at",
    "score",
    "stars",
    "telemarketing_ready",
    "accepted_telemarketing",
    "sales_ready",
    "sales_accepted",
    "owner_id",
)
_CONTACT_COLUMNS = ("id", "account_id", "custom", *CONTACT_FIELDS)
_ACCOUNT_COLUMNS = ("id", "custom", *ACCOUNT_FIELDS)
_ACTIVITY_COLUMNS = ("id", "type_key", "occurred_at", "properties")
_LEADS_OF_CONTACT = (
    "SELECT "
    + ", ".join(
        [f"l.{n}" for n in _LEAD_COLUMNS]
        + ["u.role"]
        + [f"c.{n}" for n in _CONTACT_COLUMNS]
        + [f"a.{n}" for n in _ACCOUNT_COLUMNS]
    )
    + " FROM leads AS l LEFT JOIN users AS u ON u.id = l.owner_id"
    " LEFT JOIN contacts AS c ON c.id = l.contact_id"
    " LEFT JOIN accounts AS a ON a.id = coalesce(l.account_id, c.account_id)"
)
_BY_CONTACT = " WHERE l.contact_id = ? ORDER BY l.id"
_BY_CONTACT_OR_ACCOUNT = (
    " WHERE l.contact_id = ? OR (l.contact_id IS NULL AND l.account_id = ?) ORDER BY l.id"
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


@dataclass
class _LeadRow:
    id: int
    contact_id: int | None
    account_id: int | None
    topic: str
    stage: str
    scored_at: Any
    score: int
    stars: int
    state: LeadState
    fields: dict[str, Any]
    #: the ``contact.*`` / ``account.*`` facts, None when the lead has no such record
    contact_fields: dict[str, Any] | None
    account_fields: dict[str, Any] | None
    created_at: datetime


def rescore_contact(
    session: Session,
    cursor: Any,
    contact_id: int,
    account_id: int | None,
    occurred_at: datetime | None,
    now: datetime,
    cause: str,
) -> list[tuple[int, str, int, str, str]]:
    """``leads_touched_by_contact`` + ``note_activity`` (when ``occurred_at`` is given) +
    ``rescore`` for the leads that read this contact's activities, on SQLite through
    ``cursor`` (of :func:`sqlite_driver`). Returns each touched lead's id, topic, list
    score, stage and stage label afterwards, by id."""
    from leaddesk.services import process

    session.flush()
    dialect = session.get_bind().dialect
    if account_id is None:
        raw_leads = run_sql(cursor, _LEADS_OF_CONTACT + _BY_CONTACT, (contact_id,)).fetchall()
    else:
        raw_leads = run_sql(
            cursor, _LEADS_OF_CONTACT + _BY_CONTACT_OR_ACCOUNT, (contact_id, account_id)
        ).fetchall()
    if not raw_leads:
        return []
    ids = [row[0] for row in raw_leads]
    if occurred_at is not None:
        when = bind_processor(dialect, _lead_t.c.last_activity_at)(occurred_at)
        run_sql(
            cursor,
            f"UPDATE leads SET last_activity_at = ? WHERE id IN ({_marks(len(ids))})"
            " AND (last_activity_at IS NULL OR last_activity_at < ?)",
            (when, *ids, when),
        )
        _expire_loaded(session, (Lead,))
    config = desk_config(cursor)
    leads = _lead_rows(cursor, dialect, raw_leads)
    if not config.models and not config.rules:
        return [(r.id, r.topic, r.score, r.stage, config.stage_label(r.stage)) for r in leads]
    facts = _contact_facts(cursor, dialect, leads)
    unscored = {
        r.id
        for r in leads
        if r.scored_at is None
        and config.inquiry_stage is not None
        and r.stage == config.inquiry_stage
    }
    scores: dict[int, int] = {}
    history: list[tuple[Any, ...]] = []
    if config.models:
        totals = totals_from_facts(facts, [m.model for m in config.models], now)
        scores, history = _write_few(session, cursor, dialect, config, leads, totals, now, cause)
    # The automatic moves, as process.apply_after_scoring makes them.
    crossings: dict[int, list[proc.Crossing]] = {}
    for lead_id, model_id, _name, _at, old, new, _cause in history:
        name, threshold, tag = config.thresholds.get(model_id, ("", None, None))
        if proc.crossed(old, new, threshold):
            assert threshold is not None
            crossings.setdefault(lead_id, []).append(proc.Crossing(name, old, new, threshold, tag))
    first = {
        r.id
        for r in leads
        if r.id in unscored
        and config.models
        and (r.contact_id is not None or r.account_id is not None)
    }
    by_id = {r.id: r for r in leads}
    moved = False
    todo = sorted(first | set(crossings))
    if todo:
        stages = Stages(config.stages)
        outcomes = []
        for lead_id in todo:
            outcome = proc.after_scoring(
                by_id[lead_id].state,
                stages,
                first_scored=lead_id in first,
                crossings=crossings.get(lead_id, ()),
            )
            if outcome.changes:
                outcomes.append((lead_id, outcome))
                by_id[lead_id].stage = outcome.state.stage
        process.write_outcomes(session, outcomes, actor_id=None, automatic=True, now=now)
        moved = bool(outcomes)
    if config.rules:
        if moved:
            # Rare: states changed above; the reference re-reads them.
            process.apply_disqualification_rules(session, facts, now)
            stage_now = dict(
                session.execute(select(Lead.id, Lead.stage).where(Lead.id.in_(ids))).all()
            )
            for r in leads:
                r.stage = stage_now.get(r.id, r.stage)
        else:
            outcomes = _disqualify(cursor, config, facts, by_id, now)
            for lead_id, outcome in outcomes:
                by_id[lead_id].stage = outcome.state.stage
            process.write_outcomes(session, outcomes, actor_id=None, automatic=True, now=now)
    return [
        (r.id, r.topic, scores.get(r.id, r.score), r.stage, config.stage_label(r.stage))
        for r in leads
    ]


def _lead_rows(cursor: Any, dialect: Any, raw_leads: Sequence[Sequence[Any]]) -> list[_LeadRow]:
    """Decode the joined lead, owner role, contact and account rows; the contact and
    account parts become the ``contact.*`` and ``account.*`` facts."""
    from leaddesk.services.process import state_of

    lead_procs = _result_processors(dialect, _lead_t, _LEAD_COLUMNS)
    contact_procs = _result_processors(dialect, _contact_t, _CONTACT_COLUMNS)
    account_procs = _result_processors(dialect, _account_t, _ACCOUNT_COLUMNS)
    n_lead, n_contact = len(_LEAD_COLUMNS), len(_CONTACT_COLUMNS)
    out: list[_LeadRow] = []
    for raw in raw_leads:
        (
            lead_id,
            contact_id,
            account_id,
            topic,
            source,
            stage,
            status,
            tags,
            custom,
            created_at,
            scored_at,
            score,
            stars_,
            tr,
            at,
            sr,
            sa,
            owner_id,
        ) = _decoded(lead_procs, raw[:n_lead])
        role = raw[n_lead]
        contact_raw = raw[n_lead + 1 : n_lead + 1 + n_contact]
        account_raw = raw[n_lead + 1 + n_contact :]
        fields: dict[str, Any] = {
            "lead.topic": topic,
            "lead.source": source,
            "lead.stage": stage,
            "lead.status": status,
            "lead.tags": list(tags or []),
        }
        for key, value in (custom or {}).items():
            fields[f"lead.custom.{key}"] = value
        contact_fields = account_fields = None
        if contact_raw[0] is not None:
            contact = _decoded(contact_procs, contact_raw)
            contact_fields = _record_fields("contact", CONTACT_FIELDS, contact[3:], contact[2])
        if account_raw[0] is not None:
            account = _decoded(account_procs, account_raw)
            account_fields = _record_fields("account", ACCOUNT_FIELDS, account[2:], account[1])
        out.append(
            _LeadRow(
                id=lead_id,
                contact_id=contact_id,
                account_id=account_id,
                topic=topic,
                stage=stage,
                scored_at=scored_at,
                score=score,
                stars=stars_,
                state=state_of(stage, status, tr, at, sr, sa, owner_id, role, tags),
                fields=fields,
                contact_fields=contact_fields,
                account_fields=account_fields,
                created_at=created_at,
            )
        )
    return out


def _record_fields(
    prefix: str, names: Sequence[str], values: Sequence[Any], custom: Any
) -> dict[str, Any]:
    data = {f"{prefix}.{name}": value for name, value in zip(names, values, strict=True)}
    for key, value in (custom or {}).items():
        data[f"{prefix}.custom.{key}"] = value
    return data


def _contact_facts(cursor: Any, dialect: Any, leads: Sequence[_LeadRow]) -> list[LeadFacts]:
    """``build_facts`` for leads decoded by ``_lead_rows``."""
    ids = [r.id for r in leads]
    external: dict[int, dict[str, float]] = defaultdict(dict)
    for lead_id, name, score in run_sql(
        cursor,
        f"SELECT lead_id, name, score FROM external_scores WHERE lead_id IN ({_marks(len(ids))})",
        ids,
    ):
        external[lead_id][name] = score
    activity_procs = _result_processors(dialect, _activity_t, _ACTIVITY_COLUMNS)[2:]
    contact_ids = sorted(
        {r.contact_id for r in leads if r.contact_id is not None and r.contact_fields}
    )
    by_contact: dict[int, list[ActivityFact]] = defaultdict(list)
    if contact_ids:
        for act_id, cid, type_key, *raw in run_sql(
            cursor,
            "SELECT id, contact_id, type_key, occurred_at, properties FROM activities"
            f" WHERE contact_id IN ({_marks(len(contact_ids))})",
            contact_ids,
        ):
            when, props = _decoded(activity_procs, raw)
            by_contact[cid].append(ActivityFact(act_id, type_key, when, props or {}))
    account_only = sorted({r.account_id for r in leads if r.contact_id is None and r.account_id})
    by_account: dict[int, list[ActivityFact]] = defaultdict(list)
    if account_only:
        for act_id, aid, type_key, *raw in run_sql(
            cursor,
            "SELECT activities.id, contacts.account_id, activities.type_key,"
            " activities.occurred_at, activities.properties FROM activities"
            " JOIN contacts ON contacts.id = activities.contact_id"
            f" WHERE contacts.account_id IN ({_marks(len(account_only))})",
            account_only,
        ):
            when, props = _decoded(activity_procs, raw)
            by_account[aid].append(ActivityFact(act_id, type_key, when, props or {}))
    facts: list[LeadFacts] = []
    for r in leads:
        fields = dict(r.fields)
        for name, score in external.get(r.id, {}).items():
            fields[f"lead.external_score.{name}"] = score
        if r.contact_fields is not None:
            fields.update(r.contact_fields)
            acts = by_contact.get(cast(int, r.contact_id), [])
        elif r.account_id is not None:
            acts = by_account.get(r.account_id, [])
        else:
            acts = []
        if r.account_fields is not None:
            fields.update(r.account_fields)
        facts.append(
            LeadFacts(
                lead_id=r.id,
                fields=fields,
                activities=acts,
                created_at=r.created_at,
                has_contact=r.contact_fields is not None,
                has_account=r.account_fields is not None,
            )
        )
    return facts


def _write_few(
    session: Session,
    cursor: Any,
    dialect: Any,
    config: DeskConfig,
    leads: Sequence[_LeadRow],
    totals: dict[int, list[Totals]],
    now: datetime,
    cause: str,
) -> tuple[dict[int, int], list[tuple[Any, ...]]]:
    """``_write_scores`` for a few leads. A row whose values did not change gets only its
    time stamp: rewriting an unchanged score would still move its entries in every index
    on the column (four on ``leads.score``), which is most of a commit's pages. Returns
    the leads' list scores and the history rows written, in the order written."""
    ids = [r.id for r in leads]
    at = bind_processor(dialect, _lead_t.c.scored_at)(now)
    old: dict[tuple[int, int], tuple[int, int, int, bool]] = {
        (lead_id, model_id): (score, fit, engagement, bool(excluded))
        for lead_id, model_id, score, fit, engagement, excluded in run_sql(
            cursor,
            "SELECT lead_id, model_id, score, fit, engagement, excluded FROM lead_scores"
            f" WHERE lead_id IN ({_marks(len(ids))})",
            ids,
        )
    }
    upserts: list[tuple[Any, ...]] = []
    stamps: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    lead_updates: list[tuple[Any, ...]] = []
    lead_stamps: list[tuple[Any, ...]] = []
    scores: dict[int, int] = {}
    threshold = config.models[0].model.sales_ready_at
    by_id = {r.id: r for r in leads}
    for lead_id, results in totals.items():
        for active, result in zip(config.models, results, strict=True):
            new = (result.total, result.fit, result.engagement, result.excluded)
            before = old.get((lead_id, active.id))
            if before == new:
                stamps.append((at, lead_id, active.id))
            else:
                upserts.append((lead_id, active.id, *new[:3], int(result.excluded), at))
            old_score = before[0] if before is not None else 0
            if result.total != old_score:
                history.append(
                    (lead_id, active.id, active.name, at, old_score, result.total, cause)
                )
        total = results[0].total
        rating = stars(total, threshold)
        scores[lead_id] = total
        row = by_id[lead_id]
        if (total, rating) == (row.score, row.stars):
            lead_stamps.append((at, lead_id))
        else:
            lead_updates.append((total, rating, at, lead_id))
    if upserts:
        _run_many(
            cursor,
            "INSERT INTO lead_scores"
            " (lead_id, model_id, score, fit, engagement, excluded, computed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (lead_id, model_id) DO UPDATE SET score = excluded.score,"
            " fit = excluded.fit, engagement = excluded.engagement,"
            " excluded = excluded.excluded, computed_at = excluded.computed_at",
            upserts,
        )
    if stamps:
        _run_many(
            cursor,
            "UPDATE lead_scores SET computed_at = ? WHERE lead_id = ? AND model_id = ?",
            stamps,
        )
    if history:
        _run_many(
            cursor,
            "INSERT INTO score_history"
            " (lead_id, model_id, model_name, at, old_score, new_score, cause)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            history,
        )
    if lead_updates:
        _run_many(
            cursor,
            "UPDATE leads SET score = ?, stars = ?, scored_at = ? WHERE id = ?",
            lead_updates,
        )
    if lead_stamps:
        _run_many(cursor, "UPDATE leads SET scored_at = ? WHERE id = ?", lead_stamps)
    _expire_loaded(session, (Lead, LeadScore, ScoreHistory))
    return scores, history


def _disqualify(
    cursor: Any,
    config: DeskConfig,
    facts: Sequence[LeadFacts],
    by_id: Mapping[int, _LeadRow],
    now: datetime,
) -> list[tuple[int, Outcome]]:
    """``process.apply_disqualification_rules`` when the re-score moved no lead (so the
    states read before it are still true): rules first, then the one look-up of manual
    reopenings for the leads a rule hit."""
    hits: dict[int, str] = {}
    for item in facts:
        if by_id[item.lead_id].state.status != "open":
            continue
        if not (item.has_contact or item.has_account):
            continue
        rule = next((r for r in config.rules if r.matches(item, now)), None)
        if rule is not None:
            hits[item.lead_id] = rule.name
    if not hits:
        return []
    ids = sorted(hits)
    reopened = {
        lead_id
        for (lead_id,) in run_sql(
            cursor,
            "SELECT lead_id FROM lead_events WHERE lead_id IN"
            f" ({_marks(len(ids))}) AND kind = 'status' AND to_value = 'open'"
            " AND automatic IS 0",
            ids,
        )
    }
    return [
        (lead_id, proc.set_status(by_id[lead_id].state, "disqualified", hits[lead_id]))
        for lead_id in ids
        if lead_id not in reopened
    ]

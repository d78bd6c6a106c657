"""Keeping derived lead data true: last activity, scores, score history.

These helpers run inside the caller's transaction (the activity being logged, the
record being edited), which is what makes the list show the new score the moment the
action commits, and what makes a failed action leave no half-updated score behind.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, func, insert, or_, select, type_coerce, update
from sqlalchemy.orm import Session, aliased

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
    out: list[ActiveModel] = []
    for model_id, name, raw in rows:
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
        out.append(found)
    return out


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
    from leaddesk.domain.search_text import fold, search_blob

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
            name = " ".join(p for p in (first, last) if p) or email or company or ""
            updates.append(
                {
                    "b_id": lead_id,
                    "sort_name": fold(name),
                    "sort_company": fold(company),
                    "search_text": search_blob((name, email, company, topic)),
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

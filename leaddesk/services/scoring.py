"""Scoring models as users manage them: list, save, import/export, explain, re-score.

Any change to a model re-scores every lead in the same transaction as the change, so
scores never disagree with the models that produced them; the UI runs these calls on a
worker thread with its own ``Database`` and a progress callback that can cancel, which
rolls the whole change back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from leaddesk.domain import process as proc
from leaddesk.domain.scoring import ScoreResult, ScoringModel, score_lead
from leaddesk.domain.scoring_file import FORMAT, dump_document, dump_text, load_text
from leaddesk.domain.starter_models import starter_models
from leaddesk.services import recompute
from leaddesk.services.errors import NotFoundError, ServiceError, ValidationError
from leaddesk.store.database import Database
from leaddesk.store.models import Lead, LeadScore, ScoreHistory, ScoringModelRecord

Progress = Callable[[int, int], bool]
RESCORE_BATCH = 2000
LAST_TIME_RESCORE_KEY = "last_time_rescore"


class RescoreCancelled(ServiceError):
    def __init__(self) -> None:
        super().__init__("re-score cancelled; the previous scores are kept")


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    position: int
    active: bool
    model: ScoringModel


@dataclass(frozen=True)
class RescoreSummary:
    leads: int
    changed: int


def _definition(model: ScoringModel) -> dict[str, Any]:
    models = dump_document([model])["models"]
    assert isinstance(models, list)
    definition = models[0]
    assert isinstance(definition, dict)
    return definition


def _load(record: ScoringModelRecord) -> ScoringModel:
    from leaddesk.domain.scoring_file import parse_document

    model = parse_document({"format": FORMAT, "models": [record.definition]})[0]
    return replace(model, name=record.name, active=record.active)


def list_models(db: Database) -> list[ModelInfo]:
    with db.reading() as session:
        rows = session.scalars(
            select(ScoringModelRecord).order_by(ScoringModelRecord.position, ScoringModelRecord.id)
        )
        return [ModelInfo(r.id, r.name, r.position, r.active, _load(r)) for r in rows]


def _next_position(session: Session) -> int:
    return int(session.scalar(select(func.max(ScoringModelRecord.position))) or 0) + 1


def _upsert(session: Session, model: ScoringModel, now: datetime) -> ScoringModelRecord:
    record = session.scalar(
        select(ScoringModelRecord).where(func.lower(ScoringModelRecord.name) == model.name.lower())
    )
    if record is None:
        record = ScoringModelRecord(
            name=model.name,
            position=_next_position(session),
            created_at=now,
        )
        session.add(record)
    record.name = model.name
    record.active = model.active
    record.definition = _definition(model)
    record.updated_at = now
    session.flush()
    return record


def _rescore_everything(
    session: Session,
    now: datetime,
    cause: str,
    progress: Progress | None,
    *,
    parallel_reads: bool = False,
    thresholds_before: Mapping[int, int | None] | None = None,
) -> RescoreSummary:
    """Re-score every lead inside the caller's transaction (see module docstring), then
    make the process moves the new scores call for and apply the disqualification rules.

    ``parallel_reads``: the transaction has not changed any activity (only models and
    settings), so the re-score may aggregate them on other connections (``bulk_rescore``'s
    argument of that name). False for imports and the demo, whose re-score must see the
    activities they just wrote.

    ``thresholds_before``: the active models' thresholds before the caller changed the
    models (``process.thresholds_in_force``), so that a lowered threshold makes the leads
    already over it sales-ready, as the what-if said it would.
    """
    from leaddesk.services import process

    active_ids = [m.id for m in recompute.active_models(session)]
    session.execute(delete(LeadScore).where(LeadScore.model_id.not_in(active_ids)))
    mark = process.mark_before_scoring(session, None)
    if not active_ids:
        total = int(session.scalar(select(func.count(Lead.id))) or 0)
        result = session.execute(
            update(Lead).where((Lead.score != 0) | (Lead.stars != 0)).values(score=0, stars=0)
        )
        changed = int(getattr(result, "rowcount", 0) or 0)
    else:
        from leaddesk.services.bulk_rescore import bulk_rescore

        models = recompute.active_models(session)
        bulk = bulk_rescore(session, models, now, cause, progress, parallel_reads=parallel_reads)
        total, changed = bulk.leads, bulk.changed
    process.apply_after_scoring(session, mark, now, None, thresholds_before)
    if process.has_active_rules(session):
        ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
        for start in range(0, len(ids), RESCORE_BATCH):
            facts = recompute.build_facts(session, ids[start : start + RESCORE_BATCH])
            process.apply_disqualification_rules(session, facts, now)
    return RescoreSummary(total, changed)


def _rescore_for_models(
    session: Session,
    now: datetime,
    progress: Progress | None,
    thresholds_before: Mapping[int, int | None] | None,
) -> RescoreSummary:
    """The re-score after a change to the models themselves (save, delete, activate,
    reorder, import): nothing but models changed in the transaction, so the activities can
    be read in parallel; ``thresholds_before`` as ``_rescore_everything`` takes it."""
    return _rescore_everything(
        session,
        now,
        "model changed",
        progress,
        parallel_reads=True,
        thresholds_before=thresholds_before,
    )


def rescore_all(
    db: Database, now: datetime, cause: str = "time passed", progress: Progress | None = None
) -> RescoreSummary:
    """Re-score every lead at ``now``: what ``leaddesk rescore`` and the daily job run."""
    with db.transaction(bulk=True) as session:
        # Nothing but the re-score itself writes in this transaction.
        summary = _rescore_everything(session, now, cause, progress, parallel_reads=True)
        from leaddesk.services.desk import set_setting

        set_setting(session, LAST_TIME_RESCORE_KEY, {"at": now.isoformat()})
        return summary


def rescore_if_due(db: Database, now: datetime, progress: Progress | None = None) -> bool:
    """Re-score when the last time-based re-score is a day old or more (expiry and decay
    move in whole days, so more often buys nothing)."""
    from leaddesk.services.desk import get_setting

    with db.reading() as session:
        last = get_setting(session, LAST_TIME_RESCORE_KEY)
    if last is not None:
        try:
            when = datetime.fromisoformat(str(last.get("at")))
        except ValueError:
            when = None
        if when is not None and now - when < _ONE_DAY and when <= now:
            return False
    rescore_all(db, now, "time passed", progress)
    return True


_ONE_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)


def save_model(
    db: Database,
    model: ScoringModel,
    now: datetime,
    *,
    model_id: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Create or replace one model and re-score everyone with it, all or nothing."""
    if not model.name.strip():
        raise ValidationError({"name": "give the model a name"})
    from leaddesk.services import process

    with db.transaction() as session:
        before = process.thresholds_in_force(session)
        if model_id is not None:
            record = session.get(ScoringModelRecord, model_id)
            if record is None:
                raise NotFoundError(f"no scoring model #{model_id}")
            clash = session.scalar(
                select(ScoringModelRecord.id).where(
                    func.lower(ScoringModelRecord.name) == model.name.strip().lower(),
                    ScoringModelRecord.id != model_id,
                )
            )
            if clash is not None:
                raise ValidationError({"name": f"there is already a model named {model.name!r}"})
            record.name = model.name.strip()
            record.active = model.active
            record.definition = _definition(model)
            record.updated_at = now
            session.flush()
        else:
            exists = session.scalar(
                select(ScoringModelRecord.id).where(
                    func.lower(ScoringModelRecord.name) == model.name.strip().lower()
                )
            )
            if exists is not None:
                raise ValidationError({"name": f"there is already a model named {model.name!r}"})
            record = _upsert(session, model, now)
        _rescore_for_models(session, now, progress, before)
        return record.id


def delete_model(
    db: Database, model_id: int, now: datetime, progress: Progress | None = None
) -> None:
    with db.transaction() as session:
        record = session.get(ScoringModelRecord, model_id)
        if record is None:
            raise NotFoundError(f"no scoring model #{model_id}")
        session.delete(record)
        session.flush()
        _rescore_for_models(session, now, progress, None)


def set_active(
    db: Database, model_id: int, active: bool, now: datetime, progress: Progress | None = None
) -> None:
    from leaddesk.services import process

    with db.transaction() as session:
        before = process.thresholds_in_force(session)
        record = session.get(ScoringModelRecord, model_id)
        if record is None:
            raise NotFoundError(f"no scoring model #{model_id}")
        record.active = active
        record.updated_at = now
        session.flush()
        _rescore_for_models(session, now, progress, before)


def reorder_models(
    db: Database, model_ids: Sequence[int], now: datetime, progress: Progress | None = None
) -> None:
    """Put the models in this order; the first active one becomes the list's score."""
    with db.transaction() as session:
        records = {r.id: r for r in session.scalars(select(ScoringModelRecord))}
        if set(model_ids) != set(records):
            raise ValidationError({"order": "the new order must name every model once"})
        for position, model_id in enumerate(model_ids, start=1):
            records[model_id].position = position
        session.flush()
        _rescore_for_models(session, now, progress, None)


def duplicate_model(db: Database, model_id: int, now: datetime) -> int:
    """A copy to experiment with; it starts inactive so nobody's score moves."""
    with db.transaction() as session:
        record = session.get(ScoringModelRecord, model_id)
        if record is None:
            raise NotFoundError(f"no scoring model #{model_id}")
        names = {n.lower() for n in session.scalars(select(ScoringModelRecord.name))}
        base = f"{record.name} (copy)"
        name, n = base, 2
        while name.lower() in names:
            name, n = f"{base} {n}", n + 1
        copy = replace(_load(record), name=name, active=False)
        return _upsert(session, copy, now).id


def import_models(
    db: Database, text: str, now: datetime, progress: Progress | None = None
) -> list[str]:
    """Import a ``leaddesk.scoring/1`` file: models of the same name are replaced, the
    rest added, and everyone re-scored, in one transaction. A file that does not
    validate raises ScoringFileError before anything is touched."""
    from leaddesk.services import process

    models = load_text(text)
    with db.transaction() as session:
        before = process.thresholds_in_force(session)
        for model in models:
            _upsert(session, model, now)
        _rescore_for_models(session, now, progress, before)
    return [m.name for m in models]


def export_models(db: Database) -> str:
    return dump_text(info.model for info in list_models(db))


def install_starter_models(
    db: Database, now: datetime, progress: Progress | None = None
) -> list[str]:
    """The two starter models from the seeds (DESIGN §3 "Starter models"), added only
    where no model of that name exists, so a user's edits are never overwritten."""
    with db.transaction() as session:
        return install_starter_models_in(session, now, progress)


def install_starter_models_in(
    session: Session, now: datetime, progress: Progress | None = None
) -> list[str]:
    """The same inside the caller's transaction (the demo loads data and models at once)."""
    added: list[str] = []
    names = {n.lower() for n in session.scalars(select(ScoringModelRecord.name))}
    for model in starter_models():
        if model.name.lower() not in names:
            _upsert(session, model, now)
            added.append(model.name)
    if added:
        _rescore_everything(session, now, "model changed", progress)
    return added


def has_models(db: Database) -> bool:
    with db.reading() as session:
        return session.scalar(select(ScoringModelRecord.id).limit(1)) is not None


# --- explanation and history ---------------------------------------------------------------


def explain(db: Database, lead_id: int, now: datetime) -> list[ScoreResult]:
    """Each active model's score of the lead at ``now``, with its explanation."""
    with db.reading() as session:
        if session.get(Lead, lead_id) is None:
            raise NotFoundError(f"no lead #{lead_id}")
        models = recompute.active_models(session)
        facts = recompute.build_facts(session, [lead_id])[0]
        return [score_lead(active.model, facts, now) for active in models]


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    model_name: str
    old_score: int
    new_score: int
    cause: str


def score_history(db: Database, lead_id: int) -> list[HistoryPoint]:
    with db.reading() as session:
        rows = session.scalars(
            select(ScoreHistory)
            .where(ScoreHistory.lead_id == lead_id)
            .order_by(ScoreHistory.at, ScoreHistory.id)
        )
        return [HistoryPoint(r.at, r.model_name, r.old_score, r.new_score, r.cause) for r in rows]


@dataclass(frozen=True)
class StoredScore:
    model_id: int
    model_name: str
    score: int
    fit: int
    engagement: int
    excluded: bool


def stored_scores(db: Database, lead_id: int) -> list[StoredScore]:
    with db.reading() as session:
        rows = session.execute(
            select(LeadScore, ScoringModelRecord.name)
            .join(ScoringModelRecord, ScoringModelRecord.id == LeadScore.model_id)
            .where(LeadScore.lead_id == lead_id, ScoringModelRecord.active.is_(True))
            .order_by(ScoringModelRecord.position, ScoringModelRecord.id)
        )
        return [
            StoredScore(s.model_id, name, s.score, s.fit, s.engagement, s.excluded)
            for s, name in rows
        ]


# --- what-if ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfExample:
    lead_id: int
    name: str
    old: int
    new: int


@dataclass(frozen=True)
class WhatIf:
    """How a draft model would move scores compared with what the leads have now."""

    leads: int
    up: int
    down: int
    unchanged: int
    newly_ready: int
    no_longer_ready: int
    examples: tuple[WhatIfExample, ...]


def what_if(
    db: Database,
    draft: ScoringModel,
    now: datetime,
    *,
    model_id: int | None = None,
    examples: int = 5,
    progress: Progress | None = None,
) -> WhatIf:
    """Score every lead with ``draft`` and compare with the stored scores of ``model_id``
    (nothing for a new model). Reads only; saving is a separate action.

    ``newly_ready`` counts exactly the leads saving would make sales-ready: open, not
    sales-ready yet, and reaching the draft's threshold from below the one in force now
    (``process.reached``, the rule the save applies). ``no_longer_ready`` counts scores
    that would drop below the threshold; those leads stay sales-ready (it is sticky)."""
    from leaddesk.services.lists import lead_rows

    moved_new: dict[int, int] = {}
    with db.reading() as session:
        old_threshold: int | None = None
        stored: dict[int, int] = {}
        if model_id is not None:
            record = session.get(ScoringModelRecord, model_id)
            if record is None:
                raise NotFoundError(f"no scoring model #{model_id}")
            if record.active:
                old_threshold = _load(record).sales_ready_at
            stored = dict(
                session.execute(
                    select(LeadScore.lead_id, LeadScore.score).where(LeadScore.model_id == model_id)
                ).all()
            )
        ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
        total = len(ids)
        can_become_ready = set(
            session.scalars(
                select(Lead.id).where(Lead.status == "open", Lead.sales_ready.is_(False))
            )
        )
        threshold = draft.sales_ready_at if draft.active else None
        up = down = same = newly = fell = 0
        moved: list[tuple[int, int, int]] = []
        from leaddesk.services.bulk_rescore import bulk_totals

        # Every lead in one bulk pass; it reports progress and raises RescoreCancelled.
        for lead_id, (result,) in bulk_totals(session, [draft], now, progress).items():
            old = stored.get(lead_id, 0)
            new = result.total
            if new > old:
                up += 1
            elif new < old:
                down += 1
            else:
                same += 1
            was_ready = old_threshold is not None and old >= old_threshold
            is_ready = threshold is not None and new >= threshold
            newly += int(
                lead_id in can_become_ready and proc.reached(old, new, threshold, old_threshold)
            )
            fell += int(was_ready and not is_ready)
            if new != old:
                moved.append((abs(new - old), lead_id, old))
                moved_new[lead_id] = new
    moved.sort(key=lambda item: (-item[0], item[1]))
    picked = moved[:examples]
    rows = lead_rows(db, [lead_id for _, lead_id, _ in picked])
    sample = tuple(
        WhatIfExample(
            lead_id,
            rows[lead_id].name if lead_id in rows else f"#{lead_id}",
            old,
            moved_new[lead_id],
        )
        for _, lead_id, old in picked
    )
    return WhatIf(total, up, down, same, newly, fell, sample)


@dataclass(frozen=True)
class ExternalScoreRow:
    name: str
    score: float
    updated_at: datetime


def external_scores(db: Database, lead_id: int) -> list[ExternalScoreRow]:
    """Scores other tools computed for the lead (imported from CSV), shown beside the
    rule-based ones."""
    from leaddesk.store.models import ExternalScore

    with db.reading() as session:
        rows = session.scalars(
            select(ExternalScore)
            .where(ExternalScore.lead_id == lead_id)
            .order_by(ExternalScore.name)
        )
        return [ExternalScoreRow(r.name, r.score, r.updated_at) for r in rows]

"""The lead business process as users work it: checkboxes, stages, assignment, status,
qualification fields, the audit trail, users and their rights, and the automatic moves
that follow scoring.

Rights are checked here, not only in the UI, so the command line and the app refuse the
same things with the same words. Every action writes its audit entries in the same
transaction as the change itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from leaddesk.domain import process as proc
from leaddesk.domain.conditions import Condition, describe, evaluate
from leaddesk.domain.process import LeadState, Outcome, ProcessError, Stages, StageSpec
from leaddesk.domain.scoring import LeadFacts
from leaddesk.domain.scoring_file import ScoringFileError, condition_to_json, parse_condition
from leaddesk.services.desk import CURRENT_USER_KEY, get_setting, set_setting
from leaddesk.services.errors import NotFoundError, ServiceError, ValidationError
from leaddesk.store.database import Database
from leaddesk.store.models import (
    Lead,
    LeadEvent,
    LeadScore,
    ScoreHistory,
    ScoringModelRecord,
    Stage,
    User,
)
from leaddesk.store.sqlite_values import sqlite_datetime, sqlite_json

DISQUALIFICATION_REASONS_KEY = "disqualification_reasons"
DISQUALIFICATION_RULES_KEY = "disqualification_rules"


class PermissionDenied(ServiceError):
    pass


class ProcessRefused(ServiceError):
    pass


# --- users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    id: int
    name: str
    role: str


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    role: str
    email: str | None
    active: bool


def _actor(user: User) -> Actor:
    return Actor(user.id, user.name, user.role)


def _user_by_name(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.name) == name.strip().lower()))
    if user is None:
        known = ", ".join(session.scalars(select(User.name).order_by(User.name)))
        raise NotFoundError(f"no user named {name.strip()!r} (users: {known})")
    return user


def resolve_actor(db: Database, name: str | None) -> Actor:
    """The user an action is done as: the one named, else the desk's current user."""
    with db.reading() as session:
        if name:
            return _actor(_user_by_name(session, name))
        return _current(session)


def _current(session: Session) -> Actor:
    setting = get_setting(session, CURRENT_USER_KEY) or {}
    user = session.get(User, setting.get("id")) if setting.get("id") else None
    if user is None:
        user = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    if user is None:
        raise NotFoundError(
            "this desk has no users; add one with: leaddesk user add NAME --role admin"
        )
    return _actor(user)


def current_user(db: Database) -> Actor:
    with db.reading() as session:
        return _current(session)


def has_chosen_user(db: Database) -> bool:
    """False until someone said who is at the desk (the app asks on first start)."""
    with db.reading() as session:
        return bool((get_setting(session, CURRENT_USER_KEY) or {}).get("chosen"))


def set_current_user(db: Database, user_id: int) -> Actor:
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no user #{user_id}")
        set_setting(session, CURRENT_USER_KEY, {"id": user.id, "chosen": True})
        return _actor(user)


def list_users(db: Database) -> list[UserRow]:
    with db.reading() as session:
        rows = session.scalars(select(User).order_by(User.role, User.name))
        return [UserRow(u.id, u.name, u.role, u.email, u.active) for u in rows]


def add_user(
    db: Database, name: str, role: str, actor: Actor, now: datetime, email: str | None = None
) -> int:
    _require(actor, "manage_users")
    clean = name.strip()
    if not clean:
        raise ValidationError({"name": "give the user a name"})
    if role not in proc.USER_ROLES:
        raise ValidationError({"role": f"role must be one of: {', '.join(proc.USER_ROLES)}"})
    with db.transaction() as session:
        if session.scalar(select(User.id).where(func.lower(User.name) == clean.lower())):
            raise ValidationError({"name": f"there is already a user named {clean!r}"})
        user = User(name=clean, role=role, email=email, active=True, created_at=now)
        session.add(user)
        session.flush()
        return user.id


def _require(actor: Actor, action: str) -> None:
    try:
        proc.require(actor.role, action)
    except ProcessError as exc:
        raise PermissionDenied(f"{actor.name}: {exc}") from None


# --- stages ------------------------------------------------------------------------------------


def load_stages(session: Session) -> Stages:
    rows = session.scalars(select(Stage).order_by(Stage.position, Stage.key))
    return Stages(
        [StageSpec(r.key, r.label, r.role, tuple(dict(f) for f in r.fields or [])) for r in rows]
    )


def stages(db: Database) -> list[StageSpec]:
    with db.reading() as session:
        return list(load_stages(session).ordered)


# --- applying outcomes ------------------------------------------------------------------------


def lead_state(session: Session, lead: Lead) -> LeadState:
    owner = session.get(User, lead.owner_id) if lead.owner_id else None
    return LeadState(
        stage=lead.stage,
        status=lead.status,
        telemarketing_ready=lead.telemarketing_ready,
        accepted_telemarketing=lead.accepted_telemarketing,
        sales_ready=lead.sales_ready,
        sales_accepted=lead.sales_accepted,
        owner_id=lead.owner_id,
        owner_role=owner.role if owner else None,
        tags=tuple(str(t) for t in lead.tags or []),
    )


def write_outcome(
    session: Session,
    lead: Lead,
    outcome: Outcome,
    *,
    actor_id: int | None,
    automatic: bool,
    now: datetime,
) -> None:
    if not outcome.changes:
        return
    state = outcome.state
    lead.stage = state.stage
    lead.status = state.status
    lead.telemarketing_ready = state.telemarketing_ready
    lead.accepted_telemarketing = state.accepted_telemarketing
    lead.sales_ready = state.sales_ready
    lead.sales_accepted = state.sales_accepted
    lead.owner_id = state.owner_id
    lead.tags = list(state.tags)
    lead.updated_at = now
    for change in outcome.changes:
        if change.kind == "status":
            lead.status_reason = change.reason if state.status != "open" else None
        session.add(
            LeadEvent(
                lead_id=lead.id,
                at=now,
                user_id=actor_id,
                kind=change.kind,
                from_value=change.from_value,
                to_value=change.to_value,
                automatic=automatic,
                reason=change.reason,
            )
        )


def _lead(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(f"no lead #{lead_id}")
    return lead


def _refusing(fn: Any) -> Any:
    """Domain refusals become service errors with the same readable words."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ProcessError as exc:
            raise ProcessRefused(str(exc)) from None

    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


@_refusing
def mark(db: Database, lead_id: int, flag: str, on: bool, actor: Actor, now: datetime) -> str:
    """Tick or untick a process checkbox; returns the lead's stage key afterwards."""
    if flag not in proc.FLAGS:
        raise ProcessError(f"unknown checkbox {flag!r} (one of: {', '.join(proc.FLAGS)})")
    _require(actor, flag)
    with db.transaction() as session:
        lead = _lead(session, lead_id)
        outcome = proc.set_flag(lead_state(session, lead), flag, on, load_stages(session))
        if (
            on
            and flag == "sales_accepted"
            and outcome.state.owner_role
            not in (
                "salesperson",
                "manager",
                "admin",
            )
        ):
            raise ProcessError("the lead's owner must be a salesperson to accept it")
        write_outcome(session, lead, outcome, actor_id=actor.id, automatic=False, now=now)
        return lead.stage


@_refusing
def move_stage(
    db: Database, lead_id: int, key: str, actor: Actor, now: datetime, reason: str | None = None
) -> None:
    _require(actor, "move_stage")
    with db.transaction() as session:
        lead = _lead(session, lead_id)
        outcome = proc.move_to_stage(
            lead_state(session, lead), key, load_stages(session), (reason or "").strip() or None
        )
        write_outcome(session, lead, outcome, actor_id=actor.id, automatic=False, now=now)


@_refusing
def assign(
    db: Database, lead_ids: Sequence[int], user_name: str, actor: Actor, now: datetime
) -> int:
    """Give several leads to one salesperson at once (the manager's queue action)."""
    _require(actor, "assign")
    with db.transaction() as session:
        owner = _user_by_name(session, user_name)
        if owner.role not in ("salesperson", "manager", "admin"):
            raise ProcessError(f"{owner.name} is a {owner.role}; leads go to salespeople")
        changed = 0
        for lead_id in lead_ids:
            lead = _lead(session, lead_id)
            state = lead_state(session, lead)
            outcome = _named_previous_owner(session, proc.assign(state, owner.id, owner.name))
            if outcome.changes:
                changed += 1
            write_outcome(session, lead, outcome, actor_id=actor.id, automatic=False, now=now)
        return changed


def _named_previous_owner(session: Session, outcome: Outcome) -> Outcome:
    """The domain knows owners by id; the audit trail shows people by name."""
    changes = []
    for change in outcome.changes:
        if change.kind == "assign" and change.from_value is not None:
            previous = session.get(User, int(change.from_value))
            change = replace(change, from_value=previous.name if previous else change.from_value)
        changes.append(change)
    return Outcome(outcome.state, tuple(changes))


@_refusing
def unassign(db: Database, lead_id: int, actor: Actor, now: datetime) -> None:
    _require(actor, "assign")
    with db.transaction() as session:
        lead = _lead(session, lead_id)
        outcome = _named_previous_owner(session, proc.assign(lead_state(session, lead), None, None))
        write_outcome(session, lead, outcome, actor_id=actor.id, automatic=False, now=now)


@_refusing
def set_status(
    db: Database,
    lead_id: int,
    status: str,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Win, disqualify (with a reason) or reopen a lead."""
    action = {"won": "win", "disqualified": "disqualify", "open": "reopen"}.get(status, status)
    _require(actor, action)
    with db.transaction() as session:
        lead = _lead(session, lead_id)
        outcome = proc.set_status(lead_state(session, lead), status, reason)
        write_outcome(session, lead, outcome, actor_id=actor.id, automatic=False, now=now)


def disqualify(db: Database, lead_id: int, reason: str, actor: Actor, now: datetime) -> None:
    set_status(db, lead_id, "disqualified", actor, now, reason)


def win(db: Database, lead_id: int, actor: Actor, now: datetime) -> None:
    set_status(db, lead_id, "won", actor, now)


def reopen(db: Database, lead_id: int, actor: Actor, now: datetime) -> None:
    set_status(db, lead_id, "open", actor, now)


def set_qualification(
    db: Database, lead_id: int, values: Mapping[str, Any], actor: Actor, now: datetime
) -> dict[str, Any]:
    """Fill the fields of the lead's stages (budget, authority, need, timeline, notes…)."""
    _require(actor, "qualification")
    with db.transaction() as session:
        lead = _lead(session, lead_id)
        all_fields = [f for s in load_stages(session).ordered for f in s.fields]
        cleaned = proc.clean_qualification(all_fields, values)
        merged = dict(lead.qualification or {})
        changed = {k: v for k, v in cleaned.items() if merged.get(k) != v}
        if not changed:
            return merged
        for key, value in changed.items():
            session.add(
                LeadEvent(
                    lead_id=lead.id,
                    at=now,
                    user_id=actor.id,
                    kind="qualification",
                    from_value=_text(merged.get(key)),
                    to_value=_text(value),
                    automatic=False,
                    reason=key,
                )
            )
        merged.update(changed)
        lead.qualification = merged
        lead.updated_at = now
        return merged


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# --- what the lead form shows -----------------------------------------------------------------


@dataclass(frozen=True)
class ProcessView:
    lead_id: int
    stages: tuple[StageSpec, ...]
    stage: str
    status: str
    status_reason: str | None
    flags: dict[str, bool]
    owner: str | None
    tags: tuple[str, ...]
    qualification: dict[str, Any]


def process_view(db: Database, lead_id: int) -> ProcessView:
    with db.reading() as session:
        lead = _lead(session, lead_id)
        owner = session.get(User, lead.owner_id) if lead.owner_id else None
        return ProcessView(
            lead_id=lead.id,
            stages=load_stages(session).ordered,
            stage=lead.stage,
            status=lead.status,
            status_reason=lead.status_reason,
            flags={f: bool(getattr(lead, f)) for f in proc.FLAGS},
            owner=owner.name if owner else None,
            tags=tuple(str(t) for t in lead.tags or []),
            qualification=dict(lead.qualification or {}),
        )


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user: str | None
    automatic: bool
    kind: str
    from_value: str | None
    to_value: str | None
    reason: str | None

    def describe(self, stage_label: Any = None) -> str:
        label = stage_label or (lambda key: key)
        if self.kind == "stage":
            text = f"stage {label(self.from_value)} → {label(self.to_value)}"
        elif self.kind == "flag":
            name, _, value = (self.to_value or "").partition("=")
            word = "ticked" if value == "true" else "unticked"
            text = f"{word} {proc.FLAG_LABELS.get(name, name)}"
        elif self.kind == "assign":
            text = f"assigned to {self.to_value}" if self.to_value else "unassigned"
        elif self.kind == "tag":
            text = f"tagged {self.to_value}"
        elif self.kind == "status":
            text = {"won": "marked won", "disqualified": "disqualified", "open": "reopened"}.get(
                self.to_value or "", f"status {self.to_value}"
            )
        elif self.kind == "qualification":
            text = f"{self.reason}: {self.from_value or '—'} → {self.to_value or '—'}"
            return text
        else:
            text = f"{self.kind}: {self.from_value} → {self.to_value}"
        if self.reason:
            text += f" ({self.reason})"
        return text


def history(db: Database, lead_id: int) -> list[AuditEntry]:
    """The lead's audit trail, oldest first."""
    with db.reading() as session:
        _lead(session, lead_id)
        rows = session.execute(
            select(LeadEvent, User.name)
            .outerjoin(User, User.id == LeadEvent.user_id)
            .where(LeadEvent.lead_id == lead_id)
            .order_by(LeadEvent.at, LeadEvent.id)
        )
        return [
            AuditEntry(e.at, name, e.automatic, e.kind, e.from_value, e.to_value, e.reason)
            for e, name in rows
        ]


# --- disqualification reasons and rules ----------------------------------------------------------


def disqualification_reasons(db: Database) -> list[str]:
    with db.reading() as session:
        stored = get_setting(session, DISQUALIFICATION_REASONS_KEY)
    if stored and isinstance(stored.get("reasons"), list):
        return [str(r) for r in stored["reasons"]]
    return list(proc.DEFAULT_DISQUALIFICATION_REASONS)


def set_disqualification_reasons(db: Database, reasons: Iterable[str], actor: Actor) -> list[str]:
    _require(actor, "edit_process")
    clean: list[str] = []
    for reason in reasons:
        text = reason.strip()
        if text and text.lower() not in {r.lower() for r in clean}:
            clean.append(text)
    if not clean:
        raise ValidationError({"reasons": "keep at least one reason"})
    with db.transaction() as session:
        set_setting(session, DISQUALIFICATION_REASONS_KEY, {"reasons": clean})
    return clean


@dataclass(frozen=True)
class DisqualificationRule:
    """Encharge-style automatic disqualification: fields that rule a lead out (students,
    job seekers) and/or a quiet period (no e-mail opened in 60 days). When both are given
    both must hold. A lead a user reopened by hand is not disqualified again by rules."""

    name: str
    when: Condition | None = None
    inactive_days: int | None = None
    activity_types: tuple[str, ...] | None = None
    active: bool = True

    def describe(self) -> str:
        parts = []
        if self.when is not None:
            parts.append(describe(self.when))
        if self.inactive_days is not None:
            kinds = ", ".join(self.activity_types) if self.activity_types else "any activity"
            parts.append(f"no {kinds} in {self.inactive_days} days")
        return " and ".join(parts) or "always"

    def matches(self, facts: LeadFacts, now: datetime) -> bool:
        if not self.active or (self.when is None and self.inactive_days is None):
            return False
        if self.when is not None and not evaluate(self.when, facts.fields):
            return False
        if self.inactive_days is not None:
            since = now - timedelta(days=self.inactive_days)
            wanted = set(self.activity_types or ())
            for activity in facts.activities:
                if since < activity.occurred_at <= now and (not wanted or activity.type in wanted):
                    return False
            if facts.created_at > since:
                return False  # too new to have been quiet that long
        return True


def _rule_to_json(rule: DisqualificationRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "active": rule.active,
        "when": condition_to_json(rule.when) if rule.when is not None else None,
        "inactive_days": rule.inactive_days,
        "activity_types": list(rule.activity_types) if rule.activity_types else None,
    }


def _rule_from_json(data: Mapping[str, Any]) -> DisqualificationRule:
    when = data.get("when")
    return DisqualificationRule(
        name=str(data.get("name") or "Rule"),
        when=parse_condition(when) if when else None,
        inactive_days=int(data["inactive_days"]) if data.get("inactive_days") else None,
        activity_types=tuple(data["activity_types"]) if data.get("activity_types") else None,
        active=bool(data.get("active", True)),
    )


_rules_cache: dict[str, list[DisqualificationRule]] = {}


def _load_rules(session: Session) -> list[DisqualificationRule]:
    """The stored rules, parsed once per distinct stored text (logging an activity reads
    them every time)."""
    from sqlalchemy import Text, type_coerce

    from leaddesk.store.models import AppSetting

    session.flush()
    raw = session.connection().scalar(
        select(type_coerce(AppSetting.value, Text)).where(
            AppSetting.key == DISQUALIFICATION_RULES_KEY
        )
    )
    return rules_from_stored(raw)


def rules_from_stored(raw: Any) -> list[DisqualificationRule]:
    """The rules of the setting's stored value (its JSON text on SQLite, or the decoded
    value), parsed once per distinct text."""
    if raw is None:
        return []
    import json

    key = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
    cached = _rules_cache.get(key)
    if cached is None:
        stored = (json.loads(raw) if isinstance(raw, str) else raw) or {}
        cached = [_rule_from_json(item) for item in stored.get("rules", [])]
        if len(_rules_cache) > 16:
            _rules_cache.clear()
        _rules_cache[key] = cached
    return list(cached)


def disqualification_rules(db: Database) -> list[DisqualificationRule]:
    with db.reading() as session:
        return _load_rules(session)


def save_disqualification_rules(
    db: Database, rules: Sequence[DisqualificationRule], actor: Actor
) -> None:
    """Rules take effect at the next re-score of each lead (logging, editing, daily)."""
    _require(actor, "edit_process")
    names = [r.name.strip().lower() for r in rules]
    if any(not n for n in names):
        raise ValidationError({"name": "every rule needs a name"})
    if len(set(names)) != len(names):
        raise ValidationError({"name": "two rules have the same name"})
    for rule in rules:
        if rule.inactive_days is not None and rule.inactive_days < 1:
            raise ValidationError({"inactive_days": f"{rule.name}: days must be at least 1"})
    with db.transaction() as session:
        set_setting(
            session, DISQUALIFICATION_RULES_KEY, {"rules": [_rule_to_json(r) for r in rules]}
        )


def starter_disqualification_rules() -> list[DisqualificationRule]:
    """The two examples of the Encharge guide."""
    from leaddesk.domain.conditions import AnyOf, Leaf

    return [
        DisqualificationRule(
            "No e-mail opened in 60 days",
            inactive_days=60,
            activity_types=("email_open", "email_click", "email_reply"),
        ),
        DisqualificationRule(
            "Student or unemployed",
            when=AnyOf(
                (
                    Leaf("contact.job_title", "contains", "student"),
                    Leaf("contact.job_title", "contains", "unemployed"),
                )
            ),
        ),
    ]


def parse_rule_condition(data: object) -> Condition:
    try:
        return parse_condition(data)
    except ScoringFileError as exc:
        raise ValidationError({"when": "; ".join(str(p) for p in exc.problems)}) from None


# --- automatic moves after scoring --------------------------------------------------------------


@dataclass(frozen=True)
class ScoringMark:
    """Taken before a re-score, so the moves after it can tell what the re-score did."""

    unscored: frozenset[int]
    history_id: int


def mark_before_scoring(session: Session, lead_ids: Sequence[int] | None) -> ScoringMark:
    session.flush()
    conn = session.connection()
    inquiry = select(Stage.key).where(Stage.role == proc.ROLE_INQUIRY).scalar_subquery()
    lead_t = cast(Table, Lead.__table__)
    query = select(lead_t.c.id).where(lead_t.c.scored_at.is_(None), lead_t.c.stage == inquiry)
    if lead_ids is not None:
        query = query.where(lead_t.c.id.in_(list(lead_ids)))
    unscored = frozenset(conn.scalars(query))
    last = conn.scalar(select(func.max(ScoreHistory.id))) or 0
    return ScoringMark(unscored, int(last))


def _first_scored(session: Session, unscored: frozenset[int]) -> set[int]:
    """Of the leads that were unscored in the inquiry stage before the re-score, those
    the re-score scored (a lead with neither contact nor account cannot be)."""
    if not unscored:
        return set()
    scorable = Lead.scored_at.is_not(None) & (
        (Lead.contact_id.is_not(None)) | (Lead.account_id.is_not(None))
    )
    if len(unscored) <= 500:
        return set(session.scalars(select(Lead.id).where(Lead.id.in_(unscored), scorable)))
    return set(session.scalars(select(Lead.id).where(scorable))) & unscored


def _states(session: Session, lead_ids: Sequence[int]) -> dict[int, LeadState]:
    """Process states of many leads in a few statements (the first scoring of a
    100,000-lead desk moves every lead)."""
    if session.get_bind().dialect.name == "sqlite":
        return _states_sqlite(session, lead_ids)
    return _states_core(session, lead_ids)


def _states_core(session: Session, lead_ids: Sequence[int]) -> dict[int, LeadState]:
    out: dict[int, LeadState] = {}
    for start in range(0, len(lead_ids), 5000):
        chunk = list(lead_ids[start : start + 5000])
        rows = session.execute(
            select(
                Lead.id,
                Lead.stage,
                Lead.status,
                Lead.telemarketing_ready,
                Lead.accepted_telemarketing,
                Lead.sales_ready,
                Lead.sales_accepted,
                Lead.owner_id,
                User.role,
                Lead.tags,
            )
            .outerjoin(User, User.id == Lead.owner_id)
            .where(Lead.id.in_(chunk))
        )
        for lead_id, *state in rows:
            out[lead_id] = state_of(*state)
    return out


_STATES_SQL = (
    "SELECT l.id, l.stage, l.status, l.telemarketing_ready, l.accepted_telemarketing, "
    "l.sales_ready, l.sales_accepted, l.owner_id, u.role, l.tags FROM leads l "
    "LEFT JOIN users u ON u.id = l.owner_id WHERE l.id IN ({})"
)


def _states_sqlite(session: Session, lead_ids: Sequence[int]) -> dict[int, LeadState]:
    """``_states`` through the driver: Core's result processing (JSON and booleans for
    every row) was most of the 2 s this took for 100,000 leads. Tag lists are decoded
    once per distinct text; flags arrive as 0/1 and are made booleans."""
    session.flush()  # the driver does not autoflush as Core's reads do
    out: dict[int, LeadState] = {}
    decoded: dict[str | None, list[Any]] = {None: []}
    driver: Any = session.connection().connection.driver_connection
    cursor = driver.cursor()
    try:
        for start in range(0, len(lead_ids), 5000):
            chunk = list(lead_ids[start : start + 5000])
            sql = _STATES_SQL.format(", ".join("?" * len(chunk)))
            for lead_id, stage, status, tr, at, sr, sa, owner, role, tags in cursor.execute(
                sql, chunk
            ):
                found = decoded.get(tags)
                if found is None:
                    found = decoded[tags] = json.loads(tags)
                out[lead_id] = state_of(
                    stage, status, bool(tr), bool(at), bool(sr), bool(sa), owner, role, found
                )
    finally:
        cursor.close()
    return out


def state_of(
    stage: str,
    status: str,
    telemarketing_ready: bool,
    accepted_telemarketing: bool,
    sales_ready: bool,
    sales_accepted: bool,
    owner_id: int | None,
    owner_role: str | None,
    tags: Sequence[Any] | None,
) -> LeadState:
    """A lead's process state from its stored columns, in the order the bulk readers
    select them (tags as the stored JSON list, possibly empty or NULL)."""
    return LeadState(
        stage=stage,
        status=status,
        telemarketing_ready=telemarketing_ready,
        accepted_telemarketing=accepted_telemarketing,
        sales_ready=sales_ready,
        sales_accepted=sales_accepted,
        owner_id=owner_id,
        owner_role=owner_role,
        tags=tuple(str(t) for t in tags or []),
    )


def write_outcomes(
    session: Session,
    outcomes: Sequence[tuple[int, Outcome]],
    *,
    actor_id: int | None,
    automatic: bool,
    now: datetime,
) -> None:
    """``write_outcome`` for many leads: one UPDATE and one INSERT of audit entries, each
    executed for all rows at once. On SQLite both go straight to the driver with the
    values pre-encoded as SQLAlchemy's types store them (the first scoring of a
    100,000-lead desk moves every lead: 5 s of the Core executemany's per-row processing
    there); ``test_process_services`` holds the two paths to the same rows."""
    outcomes = [(lead_id, o) for lead_id, o in outcomes if o.changes]
    if not outcomes:
        return
    session.flush()
    updates: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for lead_id, outcome in outcomes:
        state = outcome.state
        reason = next((c.reason for c in reversed(outcome.changes) if c.kind == "status"), None)
        status_changed = any(c.kind == "status" for c in outcome.changes)
        updates.append(
            (
                state.stage,
                state.status,
                state.telemarketing_ready,
                state.accepted_telemarketing,
                state.sales_ready,
                state.sales_accepted,
                state.owner_id,
                list(state.tags),
                status_changed,
                reason if state.status != "open" else None,
                lead_id,
            )
        )
        for change in outcome.changes:
            events.append((lead_id, change.kind, change.from_value, change.to_value, change.reason))
    if session.get_bind().dialect.name == "sqlite":
        _write_outcomes_sqlite(session, updates, events, actor_id, automatic, now)
    else:
        _write_outcomes_core(session, updates, events, actor_id, automatic, now)
    # ORM objects loaded earlier in this session would now be stale.
    session.expire_all()


_OUTCOME_UPDATE = (
    "UPDATE leads SET stage = ?, status = ?, telemarketing_ready = ?, "
    "accepted_telemarketing = ?, sales_ready = ?, sales_accepted = ?, owner_id = ?, "
    "tags = ?, updated_at = ?, status_reason = CASE WHEN ? THEN ? ELSE status_reason END "
    "WHERE id = ?"
)
_OUTCOME_EVENT = (
    "INSERT INTO lead_events (lead_id, at, user_id, kind, from_value, to_value, automatic, "
    "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _write_outcomes_sqlite(
    session: Session,
    updates: Sequence[tuple[Any, ...]],
    events: Sequence[tuple[Any, ...]],
    actor_id: int | None,
    automatic: bool,
    now: datetime,
) -> None:
    at = sqlite_datetime(now)
    tags: dict[tuple[str, ...], str] = {}  # most leads share a few tag lists (mostly none)

    def tags_text(values: list[str]) -> str:
        key = tuple(values)
        text = tags.get(key)
        if text is None:
            text = tags[key] = sqlite_json(values)
        return text

    driver: Any = session.connection().connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.executemany(
            _OUTCOME_UPDATE,
            [(*u[:7], tags_text(u[7]), at, *u[8:]) for u in updates],
        )
        cursor.executemany(
            _OUTCOME_EVENT,
            [(e[0], at, actor_id, e[1], e[2], e[3], automatic, e[4]) for e in events],
        )
    finally:
        cursor.close()


def _write_outcomes_core(
    session: Session,
    updates: Sequence[tuple[Any, ...]],
    events: Sequence[tuple[Any, ...]],
    actor_id: int | None,
    automatic: bool,
    now: datetime,
) -> None:
    table = cast(Table, Lead.__table__)
    names = (
        "stage",
        "status",
        "telemarketing_ready",
        "accepted_telemarketing",
        "sales_ready",
        "sales_accepted",
        "owner_id",
        "tags",
        "b_status_changed",
        "b_reason",
        "b_id",
    )
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            stage=bindparam("stage"),
            status=bindparam("status"),
            telemarketing_ready=bindparam("telemarketing_ready"),
            accepted_telemarketing=bindparam("accepted_telemarketing"),
            sales_ready=bindparam("sales_ready"),
            sales_accepted=bindparam("sales_accepted"),
            owner_id=bindparam("owner_id"),
            tags=bindparam("tags"),
            updated_at=bindparam("updated_at"),
            status_reason=case(
                (bindparam("b_status_changed"), bindparam("b_reason")),
                else_=table.c.status_reason,
            ),
        ),
        [dict(zip(names, u, strict=True), updated_at=now) for u in updates],
    )
    session.execute(
        insert(LeadEvent),
        [
            {
                "lead_id": lead_id,
                "at": now,
                "user_id": actor_id,
                "kind": kind,
                "from_value": from_value,
                "to_value": to_value,
                "automatic": automatic,
                "reason": reason,
            }
            for lead_id, kind, from_value, to_value, reason in events
        ],
    )


_threshold_cache: dict[str, tuple[int | None, str | None]] = {}


def _thresholds(session: Session) -> dict[int, tuple[str, int | None, str | None]]:
    """Every model's name, sales-ready threshold and tag (inactive models too: a history
    row may name one), parsed once per distinct definition text."""
    from sqlalchemy import Text, type_coerce

    out: dict[int, tuple[str, int | None, str | None]] = {}
    for model_id, name, raw in session.connection().execute(
        select(
            ScoringModelRecord.id,
            ScoringModelRecord.name,
            type_coerce(ScoringModelRecord.definition, Text),
        )
    ):
        found = threshold_of(raw)
        out[model_id] = (name, found[0], found[1])
    return out


def threshold_of(raw: Any) -> tuple[int | None, str | None]:
    """A model's sales-ready threshold and tag from its stored definition (JSON text on
    SQLite, or the decoded value), parsed once per distinct text."""
    import json

    key = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
    found = _threshold_cache.get(key)
    if found is None:
        definition = (json.loads(raw) if isinstance(raw, str) else raw) or {}
        found = (definition.get("sales_ready_at"), definition.get("threshold_tag"))
        if len(_threshold_cache) > 64:
            _threshold_cache.clear()
        _threshold_cache[key] = found
    return found


def thresholds_in_force(session: Session) -> dict[int, int | None]:
    """The active models' sales-ready thresholds, read before the models are changed, so
    the re-score after the change can tell which leads reach a lowered threshold
    (``apply_after_scoring``'s ``thresholds_before``)."""
    active = set(
        session.scalars(select(ScoringModelRecord.id).where(ScoringModelRecord.active.is_(True)))
    )
    return {
        model_id: threshold
        for model_id, (_name, threshold, _tag) in _thresholds(session).items()
        if model_id in active
    }


def apply_after_scoring(
    session: Session,
    mark_: ScoringMark,
    now: datetime,
    facts: Sequence[LeadFacts] | None = None,
    thresholds_before: Mapping[int, int | None] | None = None,
) -> int:
    """Automatic moves for what the re-score since ``mark_`` did: first scored → automated
    qualification; a threshold crossed → sales-ready, sales acceptance, threshold tag.
    Then the disqualification rules, for the leads whose facts are given. Returns how many
    leads changed.

    ``thresholds_before`` (from :func:`thresholds_in_force`, when the models themselves
    were changed): a lead reaches a model's threshold when its score is at or above the
    threshold now and was below the one in force before (``proc.reached``) - so lowering a
    threshold makes the leads already over the new bar sales-ready, even though their
    scores did not move and left no history row."""
    session.flush()
    conn = session.connection()
    history = list(
        conn.execute(
            select(
                ScoreHistory.lead_id,
                ScoreHistory.model_id,
                ScoreHistory.old_score,
                ScoreHistory.new_score,
            )
            .where(ScoreHistory.id > mark_.history_id)
            .order_by(ScoreHistory.id)
        )
    )
    thresholds: dict[int, tuple[str, int | None, str | None]] = {}
    if history or thresholds_before is not None:
        thresholds = _thresholds(session)
    crossings: dict[int, list[proc.Crossing]] = {}
    for lead_id, model_id, old, new in history:
        if model_id is None:
            continue
        name, threshold, tag = thresholds.get(model_id, ("", None, None))
        if thresholds_before is None:
            hit = proc.crossed(old, new, threshold)
        else:
            hit = proc.reached(old, new, threshold, thresholds_before.get(model_id))
        if hit:
            assert threshold is not None
            crossings.setdefault(lead_id, []).append(proc.Crossing(name, old, new, threshold, tag))
    if thresholds_before is not None:
        _reached_without_moving(session, history, thresholds, thresholds_before, crossings)
    first = _first_scored(session, mark_.unscored)
    todo = sorted(first | set(crossings))
    changed = 0
    if todo:
        stages_ = load_stages(session)
        outcomes = []
        for lead_id, state in _states(session, todo).items():
            outcome = proc.after_scoring(
                state,
                stages_,
                first_scored=lead_id in first,
                crossings=crossings.get(lead_id, ()),
            )
            if outcome.changes:
                outcomes.append((lead_id, outcome))
        write_outcomes(session, outcomes, actor_id=None, automatic=True, now=now)
        changed += len(outcomes)
    if facts:
        changed += apply_disqualification_rules(session, facts, now)
    return changed


def _reached_without_moving(
    session: Session,
    history: Sequence[Any],
    thresholds: Mapping[int, tuple[str, int | None, str | None]],
    before: Mapping[int, int | None],
    crossings: dict[int, list[proc.Crossing]],
) -> None:
    """Leads whose score for a model stayed put but is now over a threshold that was
    lowered (or newly set): one indexed range read per such model."""
    moved = {(lead_id, model_id) for lead_id, model_id, _old, _new in history}
    active = set(
        session.scalars(select(ScoringModelRecord.id).where(ScoringModelRecord.active.is_(True)))
    )
    for model_id in sorted(active):
        name, threshold, tag = thresholds.get(model_id, ("", None, None))
        previous = before.get(model_id)
        if threshold is None or (previous is not None and previous <= threshold):
            continue
        query = select(LeadScore.lead_id, LeadScore.score).where(
            LeadScore.model_id == model_id, LeadScore.score >= threshold
        )
        if previous is not None:
            query = query.where(LeadScore.score < previous)
        for lead_id, score in session.execute(query):
            if (lead_id, model_id) not in moved:
                crossings.setdefault(lead_id, []).append(
                    proc.Crossing(name, score, score, threshold, tag)
                )


def apply_disqualification_rules(
    session: Session, facts: Sequence[LeadFacts], now: datetime
) -> int:
    rules = [r for r in _load_rules(session) if r.active]
    if not rules:
        return 0
    ids = [f.lead_id for f in facts]
    open_ids = set(session.scalars(select(Lead.id).where(Lead.id.in_(ids), Lead.status == "open")))
    reopened = set(
        session.scalars(
            select(LeadEvent.lead_id).where(
                LeadEvent.lead_id.in_(ids),
                LeadEvent.kind == "status",
                LeadEvent.to_value == "open",
                LeadEvent.automatic.is_(False),
            )
        )
    )
    hits: dict[int, str] = {}
    for item in facts:
        if item.lead_id not in open_ids or item.lead_id in reopened:
            continue
        if not (item.has_contact or item.has_account):
            continue
        rule = next((r for r in rules if r.matches(item, now)), None)
        if rule is not None:
            hits[item.lead_id] = rule.name
    outcomes = [
        (lead_id, proc.set_status(state, "disqualified", hits[lead_id]))
        for lead_id, state in _states(session, sorted(hits)).items()
    ]
    write_outcomes(session, outcomes, actor_id=None, automatic=True, now=now)
    return len(outcomes)


def has_active_rules(session: Session) -> bool:
    return any(r.active for r in _load_rules(session))


# --- queues ----------------------------------------------------------------------------------

QUEUES = ("all", "telemarketing", "sales_acceptance", "mine", "disqualified")
QUEUE_LABELS = {
    "all": "All leads",
    "telemarketing": "Telemarketing queue",
    "sales_acceptance": "Sales acceptance",
    "mine": "My leads",
    "disqualified": "Disqualified",
}


# --- the process editor -----------------------------------------------------------------------


@dataclass(frozen=True)
class StageEdit:
    """One stage as the editor wants it; ``key`` None for a new stage."""

    key: str | None
    label: str
    fields: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class StagePlan:
    stages: tuple[StageSpec, ...]
    moves: dict[str, tuple[str, int]]  # removed key -> (target key, how many leads)


def _key_for(label: str, taken: set[str]) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in label.strip().lower()).strip("_")
    while "__" in base:
        base = base.replace("__", "_")
    base = base or "stage"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _plan(session: Session, edits: Sequence[StageEdit]) -> StagePlan:
    current = load_stages(session)
    taken = {s.key for s in current.ordered}
    new: list[StageSpec] = []
    seen: set[str] = set()
    for edit in edits:
        label = edit.label.strip()
        if not label:
            raise ProcessError("every stage needs a name")
        fields = tuple(proc.clean_stage_fields(edit.fields))
        if edit.key is None:
            key = _key_for(label, taken | seen)
            new.append(StageSpec(key, label, None, fields))
        else:
            old = current.get(edit.key)
            new.append(StageSpec(old.key, label, old.role, fields))
            key = old.key
        if key in seen:
            raise ProcessError(f"stage {key!r} appears twice")
        seen.add(key)
    for stage in current.ordered:
        if stage.role and stage.key not in seen:
            raise ProcessError(
                f"{stage.label} cannot be removed: the automatic moves use it "
                f"({stage.role.replace('_', ' ')})"
            )
    labels = [s.label.lower() for s in new]
    if len(set(labels)) != len(labels):
        raise ProcessError("two stages have the same name")
    moves: dict[str, tuple[str, int]] = {}
    for index, stage in enumerate(current.ordered):
        if stage.key in seen:
            continue
        # Leads of a removed stage go to the nearest earlier stage that stays.
        target = next(
            (s.key for s in reversed(current.ordered[:index]) if s.key in seen), new[0].key
        )
        count = int(session.scalar(select(func.count(Lead.id)).where(Lead.stage == stage.key)) or 0)
        moves[stage.key] = (target, count)
    return StagePlan(tuple(new), moves)


@_refusing
def preview_stages(db: Database, edits: Sequence[StageEdit]) -> StagePlan:
    with db.reading() as session:
        return _plan(session, edits)


@_refusing
def save_stages(db: Database, edits: Sequence[StageEdit], actor: Actor, now: datetime) -> StagePlan:
    """Rename, reorder, add and remove stages; leads of a removed stage move to the
    nearest earlier stage that stays, with an audit entry each."""
    _require(actor, "edit_process")
    with db.transaction() as session:
        plan = _plan(session, edits)
        for removed, (target, _count) in plan.moves.items():
            for lead in session.scalars(select(Lead).where(Lead.stage == removed)):
                outcome = Outcome(
                    LeadState(**{**lead_state(session, lead).__dict__, "stage": target}),
                    (proc.Change("stage", removed, target, "stage removed from the process"),),
                )
                write_outcome(session, lead, outcome, actor_id=actor.id, automatic=True, now=now)
            session.delete(session.get(Stage, removed))
        session.flush()
        for position, spec in enumerate(plan.stages):
            row = session.get(Stage, spec.key)
            if row is None:
                row = Stage(key=spec.key, role=None)
                session.add(row)
            row.label = spec.label
            row.position = position
            row.fields = [dict(f) for f in spec.fields]
        return plan

"""The lead business process (DESIGN §4): stages, checkboxes, roles, automatic moves.

Everything here is pure: a lead's process state goes in, the changes to make (and the
audit entries describing them) come out. The service layer applies them inside the same
transaction as the action that caused them.

Stages carry a ``role`` so that the automatic moves (first scored, sales-ready by score)
and the checkboxes find their target even after an admin renamed or reordered the
stages; custom stages have no role and are only entered by hand.

Decisions where DESIGN is silent:

* A move made by a checkbox or by the score only goes *forward*: a lead a user already
  moved past the target stage (a custom "Negotiation" stage after sales acceptance, say)
  is not pulled back.
* The score makes a lead sales-ready when it *crosses* a model's threshold (old score
  below, new score at or above). A user who unticks *Sales ready* on a lead whose score
  is still high is therefore not overruled at the next re-score; the next crossing counts.
* Unticking a checkbox moves the lead back only if it is still in the stage that
  checkbox moved it to; otherwise the flag is cleared and the stage left alone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# --- stages ------------------------------------------------------------------------------

ROLE_INQUIRY = "inquiry"
ROLE_SCORED = "scored"
ROLE_TELEMARKETING_READY = "telemarketing_ready"
ROLE_TELEMARKETING_ACCEPTED = "telemarketing_accepted"
ROLE_SALES_READY = "sales_ready"
STAGE_ROLES = (
    ROLE_INQUIRY,
    ROLE_SCORED,
    ROLE_TELEMARKETING_READY,
    ROLE_TELEMARKETING_ACCEPTED,
    ROLE_SALES_READY,
)

FIELD_TYPES = ("text", "number", "choice", "checkbox", "date")


@dataclass(frozen=True)
class StageSpec:
    key: str
    label: str
    role: str | None
    fields: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


QUALIFICATION_FIELDS: tuple[Mapping[str, Any], ...] = (
    {"key": "budget", "label": "Budget", "type": "text"},
    {"key": "authority", "label": "Authority", "type": "text"},
    {"key": "need", "label": "Need", "type": "text"},
    {"key": "timeline", "label": "Timeline", "type": "text"},
    {"key": "notes", "label": "Notes", "type": "text"},
)

DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("inquiry", "Inquiry", ROLE_INQUIRY),
    StageSpec("automated_qualification", "Automated marketing qualification", ROLE_SCORED),
    StageSpec("telemarketing_acceptance", "Telemarketing acceptance", ROLE_TELEMARKETING_READY),
    StageSpec(
        "telemarketing_qualification",
        "Telemarketing qualification",
        ROLE_TELEMARKETING_ACCEPTED,
        QUALIFICATION_FIELDS,
    ),
    StageSpec("sales_acceptance", "Sales acceptance", ROLE_SALES_READY),
)

DEFAULT_STAGE_KEY = "inquiry"
DEFAULT_DISQUALIFICATION_REASONS = (
    "No budget",
    "No need",
    "Not the decision maker",
    "Chose a competitor",
    "Could not reach",
    "Student or job seeker",
    "Spam or fake",
    "Other",
)


class ProcessError(ValueError):
    """A process action that cannot be done, with a reason fit to show the user."""


class Stages:
    """The ordered stages of a desk, with look-ups by key and by role."""

    def __init__(self, stages: Sequence[StageSpec]) -> None:
        if not stages:
            raise ProcessError("the process needs at least one stage")
        self.ordered = tuple(stages)
        self._by_key = {s.key: s for s in stages}
        self._position = {s.key: i for i, s in enumerate(stages)}
        self._by_role = {s.role: s for s in stages if s.role}

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, key: str) -> StageSpec:
        try:
            return self._by_key[key]
        except KeyError:
            raise ProcessError(f"there is no stage {key!r}") from None

    def for_role(self, role: str) -> StageSpec:
        stage = self._by_role.get(role)
        if stage is None:  # only a damaged database lacks a role stage
            raise ProcessError(f"the process has no stage for {role.replace('_', ' ')}")
        return stage

    def position(self, key: str) -> int:
        """Unknown keys (a stage removed under a lead) sort first, so forward moves work."""
        return self._position.get(key, -1)

    def label(self, key: str) -> str:
        stage = self._by_key.get(key)
        return stage.label if stage else key


# --- users and rights ---------------------------------------------------------------------

USER_ROLES = ("admin", "marketer", "telemarketer", "manager", "salesperson")

# Which roles may do what. Enforced by the services (the UI only mirrors it), so the
# command line and any future client obey the same rules.
RIGHTS: Mapping[str, frozenset[str]] = {
    "edit_scoring": frozenset({"admin", "marketer"}),
    "edit_process": frozenset({"admin", "marketer"}),
    "manage_users": frozenset({"admin"}),
    "assign": frozenset({"admin", "manager"}),
    "sales_accepted": frozenset({"admin", "manager"}),
    "telemarketing_ready": frozenset({"admin", "marketer", "telemarketer", "manager"}),
    "accepted_telemarketing": frozenset({"admin", "telemarketer", "manager"}),
    "sales_ready": frozenset({"admin", "marketer", "telemarketer", "manager"}),
    "qualification": frozenset({"admin", "telemarketer", "manager"}),
    "move_stage": frozenset(USER_ROLES),
    "disqualify": frozenset(USER_ROLES),
    "win": frozenset({"admin", "manager", "salesperson"}),
    "reopen": frozenset(USER_ROLES),
    "import": frozenset({"admin", "marketer"}),
}

ACTION_WORDS = {
    "edit_scoring": "edit scoring models",
    "edit_process": "edit the process",
    "manage_users": "manage users",
    "assign": "assign leads",
    "sales_accepted": "tick Sales accepted",
    "telemarketing_ready": "tick Telemarketing ready",
    "accepted_telemarketing": "tick Accepted telemarketing",
    "sales_ready": "tick Sales ready",
    "qualification": "fill qualification fields",
    "move_stage": "move leads between stages",
    "disqualify": "disqualify leads",
    "win": "mark leads won",
    "reopen": "reopen leads",
    "import": "import files",
}


def allowed(role: str, action: str) -> bool:
    return role in RIGHTS.get(action, frozenset())


def require(role: str, action: str) -> None:
    if not allowed(role, action):
        who = ", ".join(sorted(RIGHTS.get(action, frozenset()))) or "nobody"
        raise ProcessError(f"a {role} cannot {ACTION_WORDS.get(action, action)} (allowed: {who})")


# --- a lead's process state and the changes to it -------------------------------------------

FLAGS = ("telemarketing_ready", "accepted_telemarketing", "sales_ready", "sales_accepted")
FLAG_LABELS = {
    "telemarketing_ready": "Telemarketing ready",
    "accepted_telemarketing": "Accepted telemarketing",
    "sales_ready": "Sales ready",
    "sales_accepted": "Sales accepted",
}
FLAG_ROLE = {
    "telemarketing_ready": ROLE_TELEMARKETING_READY,
    "accepted_telemarketing": ROLE_TELEMARKETING_ACCEPTED,
    "sales_ready": ROLE_SALES_READY,
}


@dataclass(frozen=True)
class LeadState:
    stage: str
    status: str = "open"
    telemarketing_ready: bool = False
    accepted_telemarketing: bool = False
    sales_ready: bool = False
    sales_accepted: bool = False
    owner_id: int | None = None
    owner_role: str | None = None
    tags: tuple[str, ...] = ()

    def flag(self, name: str) -> bool:
        return bool(getattr(self, name))


@dataclass(frozen=True)
class Change:
    """One audit entry: what changed, from what, to what, and why."""

    kind: str  # stage, flag, assign, tag, status
    from_value: str | None
    to_value: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    state: LeadState
    changes: tuple[Change, ...]


def _move_forward(
    state: LeadState, stages: Stages, role: str, reason: str | None, changes: list[Change]
) -> LeadState:
    target = stages.for_role(role)
    if stages.position(state.stage) >= stages.position(target.key):
        return state
    changes.append(Change("stage", state.stage, target.key, reason))
    return replace(state, stage=target.key)


def _set_flag(state: LeadState, name: str, on: bool, changes: list[Change]) -> LeadState:
    if state.flag(name) == on:
        return state
    changes.append(Change("flag", f"{name}={str(not on).lower()}", f"{name}={str(on).lower()}"))
    flags = {f: state.flag(f) for f in FLAGS}
    flags[name] = on
    return replace(
        state,
        telemarketing_ready=flags["telemarketing_ready"],
        accepted_telemarketing=flags["accepted_telemarketing"],
        sales_ready=flags["sales_ready"],
        sales_accepted=flags["sales_accepted"],
    )


def _require_open(state: LeadState) -> None:
    if state.status != "open":
        raise ProcessError(f"the lead is {state.status}; reopen it first")


def set_flag(state: LeadState, name: str, on: bool, stages: Stages) -> Outcome:
    """Tick or untick one of the process checkboxes (rights are checked by the caller)."""
    if name not in FLAGS:
        raise ProcessError(f"unknown checkbox {name!r} (one of: {', '.join(FLAGS)})")
    _require_open(state)
    changes: list[Change] = []
    new = state
    if on:
        if name == "sales_accepted":
            if state.owner_id is None:
                raise ProcessError("assign a salesperson before ticking Sales accepted")
            if not state.sales_ready:
                new = _set_flag(new, "sales_ready", True, changes)
            new = _set_flag(new, name, True, changes)
            new = _move_forward(new, stages, ROLE_SALES_READY, None, changes)
            return Outcome(new, tuple(changes))
        if name == "accepted_telemarketing":
            new = _set_flag(new, "telemarketing_ready", True, changes)
        new = _set_flag(new, name, True, changes)
        new = _move_forward(new, stages, FLAG_ROLE[name], None, changes)
        return Outcome(new, tuple(changes))
    if name != "sales_accepted" and state.sales_accepted:
        raise ProcessError("untick Sales accepted first")
    if name == "telemarketing_ready" and state.accepted_telemarketing:
        raise ProcessError("untick Accepted telemarketing first")
    new = _set_flag(new, name, False, changes)
    role = FLAG_ROLE.get(name)
    if role is not None and state.stage == stages.for_role(role).key:
        back = _stage_before_flag(new, name, stages)
        if back != new.stage:
            changes.append(Change("stage", new.stage, back))
            new = replace(new, stage=back)
    return Outcome(new, tuple(changes))


def _stage_before_flag(state: LeadState, name: str, stages: Stages) -> str:
    """Where a lead goes back to when the checkbox that moved it is unticked."""
    if name == "sales_ready":
        if state.accepted_telemarketing:
            return stages.for_role(ROLE_TELEMARKETING_ACCEPTED).key
        if state.telemarketing_ready:
            return stages.for_role(ROLE_TELEMARKETING_READY).key
    if name == "accepted_telemarketing":
        return stages.for_role(ROLE_TELEMARKETING_READY).key
    return stages.for_role(ROLE_SCORED).key


def move_to_stage(state: LeadState, key: str, stages: Stages, reason: str | None) -> Outcome:
    """A user moves the lead by hand, anywhere; the flags are left as they are."""
    target = stages.get(key)
    if target.key == state.stage:
        return Outcome(state, ())
    return Outcome(
        replace(state, stage=target.key),
        (Change("stage", state.stage, target.key, reason),),
    )


def assign(state: LeadState, owner_id: int | None, owner_label: str | None) -> Outcome:
    if state.owner_id == owner_id:
        return Outcome(state, ())
    if owner_id is None and state.sales_accepted:
        raise ProcessError("untick Sales accepted before removing the salesperson")
    return Outcome(
        replace(state, owner_id=owner_id),
        (Change("assign", _text(state.owner_id), owner_label),),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def set_status(state: LeadState, status: str, reason: str | None) -> Outcome:
    if status not in ("open", "won", "disqualified"):
        raise ProcessError(f"unknown status {status!r}")
    if status == state.status:
        raise ProcessError(f"the lead is already {status}")
    if status == "disqualified" and not (reason or "").strip():
        raise ProcessError("give a reason for disqualifying the lead")
    return Outcome(
        replace(state, status=status),
        (Change("status", state.status, status, (reason or "").strip() or None),),
    )


# --- automatic moves after scoring -----------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    """A model's score went from below its threshold to at or above it."""

    model_name: str
    old: int
    new: int
    threshold: int
    tag: str | None


def crossed(old: int, new: int, threshold: int | None) -> bool:
    return threshold is not None and old < threshold <= new


def reached(old: int, new: int, threshold: int | None, before: int | None) -> bool:
    """The score is at or above the threshold now and was below the one in force before.

    With an unchanged threshold this is :func:`crossed`. When a model's threshold is
    lowered (or set for the first time), leads whose score did not move but is now over
    the bar also reach it: DESIGN §4 defines sales-ready by score >= ``sales_ready_at``, and
    the model editor's what-if promises exactly these leads. A raised threshold moves
    nobody back: sales-ready is sticky. ``before`` is None when no threshold was in force
    (a new or inactive model, or one without ``sales_ready_at``).
    """
    if threshold is None or new < threshold:
        return False
    return before is None or old < before


def after_scoring(
    state: LeadState, stages: Stages, *, first_scored: bool, crossings: Sequence[Crossing]
) -> Outcome:
    """The automatic moves of DESIGN §4, for an open lead that was just (re-)scored."""
    if state.status != "open":
        return Outcome(state, ())
    changes: list[Change] = []
    new = state
    if first_scored and new.stage == stages.for_role(ROLE_INQUIRY).key:
        new = _move_forward(new, stages, ROLE_SCORED, "first scored", changes)
    for crossing in crossings:
        reason = f"{crossing.model_name} reached {crossing.threshold} ({crossing.new})"
        if not new.sales_ready:
            new = _set_flag(new, "sales_ready", True, changes)
            changes[-1] = replace(changes[-1], reason=reason)
            new = _move_forward(new, stages, ROLE_SALES_READY, reason, changes)
        if crossing.tag and crossing.tag not in new.tags:
            changes.append(Change("tag", None, crossing.tag, reason))
            new = replace(new, tags=(*new.tags, crossing.tag))
    return Outcome(new, tuple(changes))


# --- qualification fields -------------------------------------------------------------------


def clean_stage_fields(fields: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a stage's field definitions as the process editor saves them."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, spec in enumerate(fields):
        key = str(spec.get("key") or "").strip()
        label = str(spec.get("label") or key).strip()
        kind = str(spec.get("type") or "text")
        if not key or not key.replace("_", "").isalnum():
            raise ProcessError(f"field {i + 1}: give it a key made of letters, digits and _")
        if key in seen:
            raise ProcessError(f"field {key!r} appears twice")
        if kind not in FIELD_TYPES:
            raise ProcessError(f"field {key!r}: type must be one of {', '.join(FIELD_TYPES)}")
        item: dict[str, Any] = {"key": key, "label": label or key, "type": kind}
        if kind == "choice":
            choices = [str(c).strip() for c in spec.get("choices") or [] if str(c).strip()]
            if not choices:
                raise ProcessError(f"field {key!r}: a choice field needs choices")
            item["choices"] = choices
        seen.add(key)
        out.append(item)
    return out


def clean_qualification(
    fields: Sequence[Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check values typed into a stage's fields; unknown keys are refused so nothing the
    user typed is silently dropped."""
    specs = {str(f["key"]): f for f in fields}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, raw in values.items():
        spec = specs.get(key)
        if spec is None:
            errors[key] = "this stage has no such field"
            continue
        kind = spec.get("type", "text")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            out[key] = None
            continue
        if kind == "number":
            try:
                number = float(str(raw).strip().replace(",", "."))
            except ValueError:
                errors[key] = "must be a number"
                continue
            if not math.isfinite(number):
                errors[key] = "must be a number"
                continue
            out[key] = int(number) if number.is_integer() else number
        elif kind == "checkbox":
            text = str(raw).strip().lower()
            if isinstance(raw, bool):
                out[key] = raw
            elif text in ("true", "yes", "1", "on"):
                out[key] = True
            elif text in ("false", "no", "0", "off"):
                out[key] = False
            else:
                errors[key] = "must be yes or no"
        elif kind == "choice":
            choices = [str(c) for c in spec.get("choices") or []]
            match = next((c for c in choices if c.lower() == str(raw).strip().lower()), None)
            if match is None:
                errors[key] = f"must be one of: {', '.join(choices)}"
            else:
                out[key] = match
        elif kind == "date":
            try:
                out[key] = dt.date.fromisoformat(str(raw).strip()[:10]).isoformat()
            except ValueError:
                errors[key] = "must be a date (YYYY-MM-DD)"
        else:
            out[key] = str(raw).strip()
    if errors:
        from leaddesk.domain.validation import ValidationError

        raise ValidationError(errors)
    return out

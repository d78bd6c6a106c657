"""Scoring models, their rules, and the evaluation of a lead against them (DESIGN §3).

Everything here is a pure function of a model, a lead's facts and an explicit ``now``:
scores depend on time (expiry, inactivity), and taking ``now`` as a parameter is what lets
the command line's ``--now``, the daily re-score and the tests agree on a result.

Semantic choices the DESIGN leaves open, made here once:

* **Expiry boundary.** An activity counts while ``now - occurred_at < N days``: one that is
  exactly N days old has expired, one a second younger still counts.
* **Future activities** (``occurred_at > now``) are ignored by every rule - an activity
  logged with a wrong clock, or a score computed for an earlier ``--now``, must not count
  what has not happened yet. They also do not reset inactivity.
* **max_times keeps the most recent activities.** They are the ones that expire last, so
  the score stays at its cap for as long as possible and the explanation's expiry dates
  are the real ones (an older activity could never take over when a newer one expires).
* **Inactivity.** "No activity in the last ``days`` days" means the last such activity is
  at or before ``now - days``. With ``repeat`` the rule applies once per *full* period
  since that activity (or since the lead was created, when there is none). A lead younger
  than one period with no activity loses nothing.
* **Clamping** to ``[floor, cap]`` applies to the total only; the ``fit`` and
  ``engagement`` subtotals are the raw sums of their rules. So that an explanation always
  adds up, a clamp shows as its own contribution (rule name "floor" or "cap") holding the
  adjustment: ``sum(c.points for c in result.contributions) == result.total`` always.
* **Time zones.** Aware datetimes are compared in UTC and naive ones are taken to be UTC,
  so a mix of the two (SQLite returns naive values) never raises.
* **Unknown keys.** Rules carry no bag of extra keys: the file format refuses unknown keys
  so that a typo fails loudly, and a model in memory holds exactly what a file can say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from leaddesk.domain.conditions import Condition, describe, evaluate, first_match

__all__ = [
    "ACTIVITY",
    "GROUPS",
    "INACTIVITY",
    "PROPERTY",
    "RULE_KINDS",
    "ActivityFact",
    "Contribution",
    "CountedActivity",
    "LeadFacts",
    "Rule",
    "ScoreResult",
    "ScoringModel",
    "activity_rule",
    "explain_lines",
    "inactivity_rule",
    "property_rule",
    "score_lead",
    "score_models",
    "stars",
]

PROPERTY = "property"
ACTIVITY = "activity"
INACTIVITY = "inactivity"
RULE_KINDS: tuple[str, ...] = (PROPERTY, ACTIVITY, INACTIVITY)
FIT = "fit"
ENGAGEMENT = "engagement"
GROUPS: tuple[str, ...] = (FIT, ENGAGEMENT)

UNSCORABLE_REASON = "cannot be scored: linked to neither a contact nor an account"


@dataclass(frozen=True)
class Rule:
    """One signal of a model. Which optional fields apply depends on ``kind``:

    * property: ``when`` (absent = always holds);
    * activity: ``activity`` (type key), ``when`` (on the activity's properties and
      ``type``), ``expires_after_days``, ``max_times``;
    * inactivity: ``days``, ``repeat``, ``activity_types`` (absent = any type).
    """

    kind: str
    name: str
    group: str
    points: int
    when: Condition | None = None
    activity: str | None = None
    expires_after_days: int | None = None
    max_times: int | None = None
    days: int | None = None
    repeat: bool = False
    activity_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.activity_types, list):
            object.__setattr__(self, "activity_types", tuple(self.activity_types))


def property_rule(name: str, points: int, when: Condition | None, group: str = FIT) -> Rule:
    return Rule(PROPERTY, name, group, points, when=when)


def activity_rule(
    name: str,
    points: int,
    activity: str,
    *,
    when: Condition | None = None,
    expires_after_days: int | None = None,
    max_times: int | None = None,
    group: str = ENGAGEMENT,
) -> Rule:
    return Rule(
        ACTIVITY,
        name,
        group,
        points,
        when=when,
        activity=activity,
        expires_after_days=expires_after_days,
        max_times=max_times,
    )


def inactivity_rule(
    name: str,
    points: int,
    days: int,
    *,
    repeat: bool = False,
    activity_types: Sequence[str] | None = None,
    group: str = ENGAGEMENT,
) -> Rule:
    return Rule(
        INACTIVITY,
        name,
        group,
        points,
        days=days,
        repeat=repeat,
        activity_types=None if activity_types is None else tuple(activity_types),
    )


@dataclass(frozen=True)
class ScoringModel:
    """A named set of rules with a sales-ready threshold.

    ``floor`` defaults to 0 because a lead that merely exists should not look worse than
    one nobody has heard of; ``None`` lets negative signals push a score below zero.
    ``threshold_tag`` is the sticky tag (e.g. "Hot lead") that crossing the threshold adds.
    """

    name: str
    active: bool
    sales_ready_at: int | None
    floor: int | None = 0
    cap: int | None = None
    exclude: Condition | None = None
    rules: tuple[Rule, ...] = ()
    threshold_tag: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rules, list):
            object.__setattr__(self, "rules", tuple(self.rules))


@dataclass(frozen=True)
class ActivityFact:
    id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, object]


@dataclass(frozen=True)
class LeadFacts:
    """What the service layer knows about one lead, flattened for scoring.

    ``fields`` holds ``contact.*``, ``account.*`` and ``lead.*`` keys; ``activities`` are
    the contact's (for an account-only lead, those of every contact of the account).
    """

    lead_id: int
    fields: Mapping[str, object]
    activities: Sequence[ActivityFact]
    created_at: datetime
    has_contact: bool
    has_account: bool


@dataclass(frozen=True)
class CountedActivity:
    id: int
    type: str
    occurred_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Contribution:
    """Points one rule gave (or a clamp adjustment, kind "floor"/"cap", group None).

    ``since`` is set for inactivity rules: the last matching activity, or the lead's
    creation when there was none - what the quiet period is counted from.
    """

    rule_name: str
    kind: str
    group: str | None
    points: int
    times: int
    activities: tuple[CountedActivity, ...] = ()
    expires_at: datetime | None = None
    since: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "rule_name": self.rule_name,
            "kind": self.kind,
            "group": self.group,
            "points": self.points,
            "times": self.times,
            "activities": [
                {
                    "id": a.id,
                    "type": a.type,
                    "occurred_at": a.occurred_at.isoformat(),
                    "expires_at": None if a.expires_at is None else a.expires_at.isoformat(),
                }
                for a in self.activities
            ],
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "since": None if self.since is None else self.since.isoformat(),
        }


@dataclass(frozen=True)
class ScoreResult:
    model_name: str
    sales_ready_at: int | None
    total: int
    fit: int
    engagement: int
    contributions: tuple[Contribution, ...]
    excluded: bool
    excluded_by: str | None
    scorable: bool
    reason: str | None
    sales_ready: bool

    @property
    def stars(self) -> int:
        return stars(self.total, self.sales_ready_at)

    def to_dict(self) -> dict[str, object]:
        """A JSON-able form, for ``leaddesk explain --format json`` and score history."""
        return {
            "model": self.model_name,
            "sales_ready_at": self.sales_ready_at,
            "total": self.total,
            "fit": self.fit,
            "engagement": self.engagement,
            "stars": self.stars,
            "sales_ready": self.sales_ready,
            "scorable": self.scorable,
            "reason": self.reason,
            "excluded": self.excluded,
            "excluded_by": self.excluded_by,
            "contributions": [c.to_dict() for c in self.contributions],
        }


def stars(score: int, sales_ready_at: int | None) -> int:
    """A 0-5 star rating relative to the threshold, for the lead list.

    Five stars are kept for leads that reached the threshold, so a glance tells sales-ready
    from nearly-ready: 0 stars at or below 0; 5 at or above the threshold; in between,
    ``1 + floor(4 * score / threshold)``, i.e. 1-4 stars in equal quarters of the way up.
    A model without a threshold is rated as if its threshold were 100.
    """
    threshold = 100 if sales_ready_at is None else sales_ready_at
    if score <= 0:
        return 0
    if score >= threshold:
        return 5
    return 1 + (4 * score) // threshold


# --------------------------------------------------------------------------- evaluation


def _utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _plus(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:  # an activity dated near year 9999 expires "at the end of time"
        return datetime.max.replace(tzinfo=moment.tzinfo)


class _ActivityView(Mapping[str, object]):
    """An activity's properties plus its ``type``, without copying them into a new dict."""

    __slots__ = ("_properties", "_type")

    def __init__(self, activity: ActivityFact) -> None:
        self._properties = activity.properties
        self._type = activity.type

    def __getitem__(self, key: str) -> object:
        if key == "type":
            return self._type
        return self._properties[key]

    def get(self, key: str, default: object = None) -> object:
        if key == "type":
            return self._type
        return self._properties.get(key, default)

    def __iter__(self) -> Iterator[str]:
        yield "type"
        yield from (key for key in self._properties if key != "type")

    def __len__(self) -> int:
        return len(self._properties) + (0 if "type" in self._properties else 1)


@dataclass(frozen=True, slots=True)
class _Entry:
    moment: datetime  # naive UTC, for comparisons
    activity: ActivityFact


class _Index:
    """A lead's past activities by type, newest first; built once per lead, not per rule."""

    __slots__ = ("by_type", "created", "newest", "now")

    def __init__(self, facts: LeadFacts, now: datetime) -> None:
        self.now = _utc_naive(now)
        self.created = _utc_naive(facts.created_at)
        by_type: dict[str, list[_Entry]] = {}
        for activity in facts.activities:
            moment = _utc_naive(activity.occurred_at)
            if moment > self.now:
                continue
            by_type.setdefault(activity.type, []).append(_Entry(moment, activity))
        for entries in by_type.values():
            entries.sort(key=lambda e: (e.moment, e.activity.id), reverse=True)
        self.by_type = by_type
        heads = [entries[0] for entries in by_type.values()]
        self.newest: _Entry | None = max(heads, key=lambda e: e.moment) if heads else None


def _property(rule: Rule, fields: Mapping[str, object]) -> Contribution | None:
    if rule.when is not None and not evaluate(rule.when, fields):
        return None
    return Contribution(rule.name, rule.kind, rule.group, rule.points, 1)


def _activity(rule: Rule, index: _Index) -> Contribution | None:
    if rule.activity is None:
        return None
    entries = index.by_type.get(rule.activity)
    if not entries:
        return None
    lifetime = None if rule.expires_after_days is None else timedelta(days=rule.expires_after_days)
    cutoff = None if lifetime is None else index.now - lifetime
    limit = rule.max_times
    counted: list[CountedActivity] = []
    for entry in entries:
        if cutoff is not None and entry.moment <= cutoff:
            break  # newest first: every older one has expired too
        activity = entry.activity
        if rule.when is not None and not evaluate(rule.when, _ActivityView(activity)):
            continue
        expires = None if lifetime is None else _plus(activity.occurred_at, lifetime)
        counted.append(CountedActivity(activity.id, activity.type, activity.occurred_at, expires))
        if limit is not None and len(counted) >= limit:
            break
    if not counted:
        return None
    times = len(counted)
    # Newest first, so the last counted activity is the one whose points expire first.
    return Contribution(
        rule.name,
        rule.kind,
        rule.group,
        rule.points * times,
        times,
        tuple(counted),
        counted[-1].expires_at,
    )


def _inactivity(rule: Rule, index: _Index, created_at: datetime) -> Contribution | None:
    if rule.days is None or rule.days < 1:
        return None
    last: _Entry | None
    if rule.activity_types is None:
        last = index.newest
    else:
        heads = [index.by_type[t][0] for t in rule.activity_types if t in index.by_type]
        last = max(heads, key=lambda e: e.moment) if heads else None
    if last is None:
        since, since_moment = created_at, index.created
    else:
        since, since_moment = last.activity.occurred_at, last.moment
    period = timedelta(days=rule.days)
    elapsed = index.now - since_moment
    if elapsed < period:
        return None
    times = elapsed // period if rule.repeat else 1
    return Contribution(rule.name, rule.kind, rule.group, rule.points * times, times, since=since)


def _not_scored(
    model: ScoringModel, *, scorable: bool, reason: str | None, excluded_by: str | None
) -> ScoreResult:
    return ScoreResult(
        model_name=model.name,
        sales_ready_at=model.sales_ready_at,
        total=0,
        fit=0,
        engagement=0,
        contributions=(),
        excluded=excluded_by is not None,
        excluded_by=excluded_by,
        scorable=scorable,
        reason=reason,
        sales_ready=False,
    )


def _score(model: ScoringModel, facts: LeadFacts, index: _Index) -> ScoreResult:
    if not (facts.has_contact or facts.has_account):
        return _not_scored(model, scorable=False, reason=UNSCORABLE_REASON, excluded_by=None)
    if model.exclude is not None:
        matched = first_match(model.exclude, facts.fields)
        if matched is not None:
            text = describe(matched)
            return _not_scored(model, scorable=True, reason=f"excluded: {text}", excluded_by=text)
    contributions: list[Contribution] = []
    fit = engagement = 0
    for rule in model.rules:
        if rule.kind == PROPERTY:
            contribution = _property(rule, facts.fields)
        elif rule.kind == ACTIVITY:
            contribution = _activity(rule, index)
        elif rule.kind == INACTIVITY:
            contribution = _inactivity(rule, index, facts.created_at)
        else:
            contribution = None
        if contribution is None:
            continue
        contributions.append(contribution)
        if rule.group == FIT:
            fit += contribution.points
        else:
            engagement += contribution.points
    raw = fit + engagement
    total = raw
    if model.floor is not None and total < model.floor:
        total = model.floor
        contributions.append(Contribution("floor", "floor", None, total - raw, 1))
    if model.cap is not None and total > model.cap:
        adjustment = model.cap - total
        total = model.cap
        contributions.append(Contribution("cap", "cap", None, adjustment, 1))
    return ScoreResult(
        model_name=model.name,
        sales_ready_at=model.sales_ready_at,
        total=total,
        fit=fit,
        engagement=engagement,
        contributions=tuple(contributions),
        excluded=False,
        excluded_by=None,
        scorable=True,
        reason=None,
        sales_ready=model.sales_ready_at is not None and total >= model.sales_ready_at,
    )


def score_lead(model: ScoringModel, facts: LeadFacts, now: datetime) -> ScoreResult:
    """The score ``model`` gives the lead at ``now``, with everything needed to explain it.

    Scores an inactive model too: the model editor previews a draft before switching it on.
    """
    return _score(model, facts, _Index(facts, now))


def score_models(
    models: Sequence[ScoringModel], facts: LeadFacts, now: datetime
) -> list[ScoreResult]:
    """Scores from every active model, in the models' order (the first is the primary)."""
    index = _Index(facts, now)
    return [_score(model, facts, index) for model in models if model.active]


# --------------------------------------------------------------------------- explanation


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _detail(contribution: Contribution) -> str:
    if contribution.kind in ("floor", "cap"):
        return f"score clamped to the {contribution.kind}"
    if contribution.kind == INACTIVITY:
        since = "" if contribution.since is None else f" since {_when(contribution.since)}"
        return f"{contribution.times} × quiet period{since}"
    if contribution.kind == ACTIVITY:
        noun = "activity" if contribution.times == 1 else "activities"
        items = "; ".join(
            f"#{a.id} {a.type} {_when(a.occurred_at)}, "
            + ("never expires" if a.expires_at is None else f"expires {_day(a.expires_at)}")
            for a in contribution.activities
        )
        return f"{contribution.times} {noun}: {items}"
    return contribution.group or ""


def explain_lines(result: ScoreResult) -> list[str]:
    """The explanation as text lines, as ``leaddesk explain`` prints it.

    The first line is the verdict; each further line is one contribution, its points
    first, so a reader can add the column up to the total.
    """
    if not result.scorable:
        return [f"{result.model_name}: {result.reason}"]
    if result.excluded:
        return [f"{result.model_name}: excluded by {result.excluded_by} (score 0)"]
    if result.sales_ready_at is None:
        threshold = "no sales-ready threshold"
    elif result.sales_ready:
        threshold = f"sales ready: reached {result.sales_ready_at}"
    else:
        threshold = f"sales ready at {result.sales_ready_at}"
    lines = [
        f"{result.model_name}: {result.total} (fit {result.fit}, engagement "
        f"{result.engagement}; {threshold})"
    ]
    if not result.contributions:
        lines.append("   0  no rule applies")
    for contribution in result.contributions:
        lines.append(
            f"{contribution.points:>+4d}  {contribution.rule_name}  ({_detail(contribution)})"
        )
    return lines

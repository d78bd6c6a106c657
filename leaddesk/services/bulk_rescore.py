"""Re-scoring every lead at once, in bulk SQL, with exactly the per-lead path's results.

Why this exists: the per-lead path (``recompute.rescore``) builds Python facts for every
lead and runs the pure engine over every activity - right for one logged activity, but a
model edit re-scores 100,000 leads over 1,000,000 activities and must take about a second
(issue 3). So the work is split by where it is cheap:

* **One scan of ``activities``** (SQLite, grouped by contact, over the covering index
  ``(contact_id, type_key, occurred_at)``) adds up every activity rule's points. Each
  aggregate costs a pass over a million rows, so rules are folded together: per type one
  ``CASE type_key WHEN ...`` branch holding every rule of that type, and the subtotals of
  several models packed into one integer ``SUM`` (each in its own bit range, decoded
  exactly in Python). ``max_times`` rules get a count each (capped in Python); each
  distinct set of inactivity types one ``MAX(occurred_at)``. Every column adds up or
  maxes over contacts, so an account-only lead's aggregate is combined from its
  account's contacts without a second scan.
* **Conditions are never translated into SQL.** Trimming, case folding, numeric coercion,
  boolean spellings, list facts and missing-field rules live in
  :mod:`leaddesk.domain.conditions` only. An activity rule's ``when`` is evaluated by the
  engine through a SQL function that SQLite calls only on rows of that rule's type inside
  its window, memoised on the properties' JSON text: a million rows cost a few hundred
  evaluations. Property rules and exclusions are evaluated by the engine once per
  distinct value of the fields they read, column by column over all leads.
* **One query of leads** joined to their contact, account and stored scores feeds a
  column-wise combination (inactivity, clamping, stars) that follows the engine's
  arithmetic; only the differences are written.

SQL compares times as text: SQLAlchemy stores naive UTC datetimes in SQLite as
``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts chronologically; ``+occurred_at`` drops the
column's NUMERIC affinity so that SQLite compares the text instead of trying to convert
it on every row. Databases other than SQLite go through the per-lead path in batches:
slower, never different.

Only rows whose values change are written, so a daily re-score where little moved costs
reads only: ``lead_scores.computed_at`` and ``leads.scored_at`` record when a value last
changed (``scored_at`` is also set on a lead's first scoring, which the process's "first
scored" move looks for), not when it was last confirmed.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leaddesk.domain.conditions import AllOf, AnyOf, Condition, Leaf, Not, evaluate
from leaddesk.domain.scoring import (
    ACTIVITY,
    FIT,
    INACTIVITY,
    PROPERTY,
    ActivityFact,
    Rule,
    ScoringModel,
    _ActivityView,
    stars,
)
from leaddesk.services import recompute
from leaddesk.services.recompute import ACCOUNT_FACT_FIELDS, CONTACT_FACT_FIELDS, ActiveModel
from leaddesk.store.models import Lead, LeadScore, ScoreHistory

__all__ = ["BulkResult", "bulk_rescore", "bulk_totals"]

Progress = Callable[[int, int], bool]

#: Leads per batch when falling back to the per-lead path.
FALLBACK_BATCH = 2000
#: Bits SQLite's signed 64-bit SUM leaves for packed subtotals (one kept for the sign).
_PACK_BITS = 62
#: The covering index the activity scan wants; used by name only when it exists.
_ACTIVITY_INDEX = "ix_activities_contact_type_time"
_FUNCTION = "leaddesk_bulk_rule_points"

_BOOL_COLUMNS = frozenset({"is_employee", "is_customer", "email_subscribed"})
_LEAD_COLUMNS = ("topic", "source", "stage", "status")
_EPOCH = datetime(1970, 1, 1)
_SUM, _MAX = "sum", "max"


@dataclass(frozen=True)
class BulkResult:
    """``changed`` counts history rows written (one per lead and model whose score moved);
    ``changed_lead_ids`` lists, ascending, the leads with any written score or list row."""

    leads: int
    changed: int
    changed_lead_ids: list[int]


class _Unsupported(Exception):
    """The fast path cannot run on this database."""


# --------------------------------------------------------------------------- helpers


def _utc_naive(moment: datetime) -> datetime:
    """What the engine compares with: aware datetimes in UTC, naive ones as they are."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _db_text(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores: wall-clock fields, tzinfo dropped,
    so that rows written here are byte-identical to those the ORM would write."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _leaf_fields(cond: Condition, out: list[str]) -> list[str]:
    if isinstance(cond, Leaf):
        if cond.field not in out:
            out.append(cond.field)
    elif isinstance(cond, AllOf | AnyOf):
        for item in cond.items:
            _leaf_fields(item, out)
    elif isinstance(cond, Not):
        _leaf_fields(cond.item, out)
    return out


def _hkey(value: object) -> object:
    """A hashable key that tells apart values the engine treats differently.

    ``True == 1 == 1.0`` in Python, yet ``contains "1.0"`` or ``eq "yes"`` do not treat
    them alike, so the type is part of the key; floats go by ``repr`` so that ``-0.0``
    and ``0.0`` (whose texts differ) do not share a memo entry.
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, float):
        return (float, repr(value))
    if isinstance(value, list | tuple):
        return (type(value), tuple(_hkey(item) for item in value))
    if isinstance(value, dict):
        return (dict, tuple((str(k), _hkey(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return (type(value), repr(value))
    return (type(value), value)


def _key_column(values: Sequence[object]) -> Sequence[object]:
    """Memo keys for one fact column: the values themselves when they are all text, all
    ints or all booleans (no two of them can then be equal yet behave differently)."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) <= 1 and kinds <= {str, int, bool}:
        return values
    return [_hkey(v) for v in values]


def _limit(max_times: int | None) -> int | None:
    """The engine appends an activity before testing ``len >= max_times``, so a limit
    below one still counts one activity; mirrored here rather than "fixed"."""
    if max_times is None:
        return None
    return max(1, int(max_times))


def _quiet(since: str | datetime, now: datetime, period: timedelta, repeat: bool) -> int:
    """How many times an inactivity rule applies, exactly as the engine counts it."""
    moment = since if isinstance(since, datetime) else datetime.fromisoformat(since)
    elapsed = now - _utc_naive(moment)
    if elapsed < period:
        return 0
    return elapsed // period if repeat else 1


# --------------------------------------------------------------------------- the plan


class _Bundle(dict[str | None, int]):
    """Conditional activity rules evaluated together on one row: same type and window, and
    the same packed slot (``weight``) of the aggregate they add to.

    A dict from properties JSON text to points, filled on demand: its C-level
    ``__getitem__`` is what SQLite calls per row, so a repeated text costs no Python
    frame at all and only a new one reaches the engine.
    """

    def __init__(self, type_key: str, rules: list[Rule]) -> None:
        super().__init__()
        self.type_key = type_key
        self.rules = rules
        self.weight = 1

    def __missing__(self, text: str | None) -> int:
        properties = json.loads(text) if text is not None else None
        # The engine's own view of an activity, so that ``type`` and odd property shapes
        # behave exactly as in the per-lead path.
        view = _ActivityView(ActivityFact(0, self.type_key, _EPOCH, properties or {}))
        found = self.weight * sum(
            rule.points for rule in self.rules if rule.when is None or evaluate(rule.when, view)
        )
        self[text] = found
        return found


@dataclass
class _Term:
    """One rule's (or bundle's) contribution to a type branch of a packed SUM."""

    type_key: str
    sql: str
    params: list[object]
    bundle: int | None = None  # the bundle then carries the slot's weight


@dataclass
class _Component:
    """The SQL-summed activity points of one model's group (fit or engagement)."""

    model: int
    is_fit: bool
    terms: list[_Term]
    bound: int  # sum of the absolute points of its rules
    pack: int = -1
    slot: int = -1


@dataclass
class _ModelPlan:
    model: ScoringModel
    #: (aggregate column of the raw count, limit, points, is_fit) for max_times rules.
    capped: list[tuple[int, int, int, bool]] = field(default_factory=list)
    #: (condition or None for "always", points, is_fit)
    properties: list[tuple[Condition | None, int, bool]] = field(default_factory=list)
    #: (aggregate column or None when no activity counts, period, cutoff text, repeat,
    #:  points, is_fit)
    inactivity: list[tuple[int | None, timedelta, str, bool, int, bool]] = field(
        default_factory=list
    )


class _Planner:
    """Turns the models into one aggregate SELECT over activities."""

    def __init__(self, now: datetime, function: str) -> None:
        self.now = now
        self.now_text = _db_text(now)
        self.function = function
        self.columns: list[str] = []
        self.kinds: list[str] = []
        self.params: list[object] = []
        self.inactivity_columns: dict[tuple[str, ...] | None, int] = {}
        self.bundles: list[_Bundle] = []
        self.components: list[_Component] = []
        #: Packed SUM columns: (column, bits per slot, slots).
        self.packs: list[tuple[int, int, int]] = []

    def add_column(self, sql: str, params: Sequence[object], kind: str) -> int:
        self.columns.append(sql)
        self.kinds.append(kind)
        self.params.extend(params)
        return len(self.columns)  # position 0 is the group key

    def _bundle(self, bundle: _Bundle) -> tuple[int, str]:
        self.bundles.append(bundle)
        number = len(self.bundles) - 1
        return number, f"{self.function}_{number}(properties)"

    def inactivity_column(self, types: tuple[str, ...] | None) -> int | None:
        key = None if types is None else tuple(sorted(set(types)))
        if key == ():
            return None
        found = self.inactivity_columns.get(key)
        if found is None:
            if key is None:
                found = self.add_column("MAX(occurred_at)", [], _MAX)
            else:
                holes = ", ".join("?" for _ in key)
                sql = f"MAX(occurred_at) FILTER (WHERE type_key IN ({holes}))"
                found = self.add_column(sql, key, _MAX)
            self.inactivity_columns[key] = found
        return found

    def plan(self, index: int, model: ScoringModel) -> _ModelPlan:
        plan = _ModelPlan(model)
        terms: dict[bool, list[_Term]] = {True: [], False: []}
        conditional: dict[tuple[bool, str, str | None], list[Rule]] = {}
        bound: dict[bool, int] = {True: 0, False: 0}
        for rule in model.rules:
            is_fit = rule.group == FIT
            if rule.kind == PROPERTY:
                plan.properties.append((rule.when, rule.points, is_fit))
            elif rule.kind == INACTIVITY:
                if rule.days is None or rule.days < 1:
                    continue
                period = timedelta(days=rule.days)
                column = self.inactivity_column(rule.activity_types)
                cutoff = _db_text(self.now - period)
                plan.inactivity.append((column, period, cutoff, rule.repeat, rule.points, is_fit))
            elif rule.kind == ACTIVITY and rule.activity is not None:
                self._activity(rule, rule.activity, is_fit, plan, terms, conditional, bound)
        for (is_fit, type_key, expiry), rules in conditional.items():
            number, call = self._bundle(_Bundle(type_key, rules))
            if expiry is None:
                terms[is_fit].append(_Term(type_key, call, [], number))
            else:
                sql = f"CASE WHEN +occurred_at > ? THEN {call} ELSE 0 END"
                terms[is_fit].append(_Term(type_key, sql, [expiry], number))
        for is_fit in (True, False):
            if terms[is_fit]:
                self.components.append(_Component(index, is_fit, terms[is_fit], bound[is_fit]))
        return plan

    def _activity(
        self,
        rule: Rule,
        type_key: str,
        is_fit: bool,
        plan: _ModelPlan,
        terms: dict[bool, list[_Term]],
        conditional: dict[tuple[bool, str, str | None], list[Rule]],
        bound: dict[bool, int],
    ) -> None:
        when = rule.when
        if when is not None and all(f == "type" for f in _leaf_fields(when, [])):
            # A condition on the type alone is a constant for this rule.
            if not evaluate(when, {"type": type_key}):
                return
            rule = replace(rule, when=None)
        expiry = (
            None
            if rule.expires_after_days is None
            else _db_text(self.now - timedelta(days=rule.expires_after_days))
        )
        limit = _limit(rule.max_times)
        if limit is not None:
            parts = ["type_key = ?"]
            params: list[object] = [type_key]
            if expiry is not None:
                parts.append("+occurred_at > ?")
                params.append(expiry)
            if rule.when is not None:
                _number, call = self._bundle(_Bundle(type_key, [replace(rule, points=1)]))
                parts.append(call)
            sql = f"COUNT(*) FILTER (WHERE {' AND '.join(parts)})"
            plan.capped.append((self.add_column(sql, params, _SUM), limit, rule.points, is_fit))
        elif rule.when is not None:
            conditional.setdefault((is_fit, type_key, expiry), []).append(rule)
            bound[is_fit] += abs(rule.points)
        else:
            window = "" if expiry is None else " * (+occurred_at > ?)"
            params = [] if expiry is None else [expiry]
            terms[is_fit].append(_Term(type_key, f"{int(rule.points)}{{w}}{window}", params))
            bound[is_fit] += abs(rule.points)

    def pack(self, activities: int) -> None:
        """Fold the components into as few SUM columns as their value ranges allow.

        A contact's (or an account's) subtotal for a component is at most ``activities``
        times the sum of the absolute points of its rules, so ``bits`` per slot always
        hold it; several slots share one SQLite integer, and every aggregate saved is a
        pass over the activities saved.
        """
        groups: list[tuple[list[_Component], int]] = []
        for component in self.components:
            bits = (2 * max(1, activities) * max(1, component.bound)).bit_length() + 1
            if groups:
                members, width = groups[-1]
                if (len(members) + 1) * max(bits, width) <= _PACK_BITS:
                    members.append(component)
                    groups[-1] = (members, max(bits, width))
                    continue
            groups.append(([component], bits))
        for members, bits in groups:
            branches: dict[str, list[tuple[str, list[object]]]] = {}
            for slot, component in enumerate(members):
                weight = 1 << (bits * slot)
                component.pack, component.slot = len(self.packs), slot
                for term in component.terms:
                    sql = term.sql.replace("{w}", "" if weight == 1 else f" * {weight}")
                    branches.setdefault(term.type_key, []).append((sql, term.params))
                    if term.bundle is not None:
                        self.bundles[term.bundle].weight = weight
            sql_branches: list[str] = []
            params: list[object] = []
            for type_key, parts in branches.items():
                sql_branches.append("WHEN ? THEN " + " + ".join(sql for sql, _ in parts))
                params.append(type_key)
                for _sql, part_params in parts:
                    params.extend(part_params)
            sql = f"SUM(CASE type_key {' '.join(sql_branches)} ELSE 0 END)"
            self.packs.append((self.add_column(sql, params, _SUM), bits, len(members)))


# --------------------------------------------------------------------------- reading


def _field_sql(name: str) -> tuple[str, Callable[[Any], object] | None] | None:
    """The lead-query expression for a fact and the conversion to the value the ORM
    would give; None for a name no lead has (the engine then sees it missing).

    Must mirror ``recompute.build_facts``; the equivalence test checks that it does.
    """
    prefix, _, rest = name.partition(".")
    table = {"contact": "c", "account": "acc", "lead": "l"}.get(prefix)
    if table is None:
        return None
    if rest.startswith("custom."):
        return f"{table}.custom", _custom_reader(rest[len("custom.") :])
    if prefix == "contact" and rest in CONTACT_FACT_FIELDS:
        return f"c.{rest}", (_bool_value if rest in _BOOL_COLUMNS else None)
    if prefix == "account" and rest in ACCOUNT_FACT_FIELDS:
        return f"acc.{rest}", None
    if prefix == "lead" and rest in _LEAD_COLUMNS:
        return f"l.{rest}", None
    if prefix == "lead" and rest == "tags":
        return "l.tags", _tags_value
    return None


def _custom_reader(key: str) -> Callable[[Any], object]:
    parsed: dict[str | None, object] = {}

    def read(text: str | None) -> object:
        # Custom JSON is mostly "{}" or repeats itself: parse each distinct text once.
        data = parsed.get(text, parsed)
        if data is parsed:
            data = None if text is None else json.loads(text)
            parsed[text] = data
        return data.get(key) if isinstance(data, dict) else None

    return read


def _bool_value(value: object) -> object:
    return None if value is None else bool(value)


def _tags_value(text: str | None) -> object:
    data = None if text is None else json.loads(text)
    return list(data or [])


def _raw_connection(session: Session) -> Any:
    """The DBAPI connection under the session's transaction, so that every read and write
    happens inside the caller's transaction and sees its flushed work."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        raise _Unsupported("not SQLite")
    driver = connection.connection.driver_connection
    if driver is None:
        raise _Unsupported("no DBAPI connection")
    return driver


@dataclass
class _ModelTotals:
    total: list[int]
    fit: list[int]
    engagement: list[int]
    excluded: list[bool]


@dataclass
class _Scored:
    """Column-wise, per lead in id order: what the write phase and the what-if need."""

    lead_ids: Sequence[int]
    results: list[_ModelTotals]
    #: stored[m]: the lead_scores columns (score, fit, engagement, excluded), None when
    #: the lead has no row for the model (``score`` is NOT NULL in the table)
    stored: Sequence[Sequence[Sequence[Any]]]
    list_score: Sequence[int]
    list_stars: Sequence[int]
    never_scored: Sequence[int]


def _score_all(
    session: Session,
    models: Sequence[ScoringModel],
    model_ids: Sequence[int],
    now: datetime,
    progress: Progress | None,
) -> _Scored:
    from leaddesk.services.scoring import RescoreCancelled

    session.flush()
    driver = _raw_connection(session)
    planner = _Planner(_utc_naive(now), _FUNCTION)
    plans = [planner.plan(i, model) for i, model in enumerate(models)]

    for number, bundle in enumerate(planner.bundles):
        driver.create_function(f"{_FUNCTION}_{number}", 1, bundle.__getitem__, deterministic=True)
    cursor = driver.cursor()
    try:
        return _score_with(cursor, planner, plans, model_ids, progress, RescoreCancelled)
    finally:
        cursor.close()
        for number in range(len(planner.bundles)):
            driver.create_function(f"{_FUNCTION}_{number}", 1, None)  # drop the memos


_FIXED = 8  # lead query columns before the stored scores


def _lead_query(fields: Sequence[str], model_ids: Sequence[int]) -> tuple[str, list[object]]:
    columns = ["l.id", "c.id", "l.account_id", "acc.id", "l.created_at", "l.score", "l.stars"]
    columns.append("l.scored_at IS NULL")
    joins = [
        "FROM leads l LEFT JOIN contacts c ON c.id = l.contact_id "
        "LEFT JOIN accounts acc ON acc.id = COALESCE(l.account_id, c.account_id)"
    ]
    params: list[object] = []
    for n, model_id in enumerate(model_ids):
        alias = f"s{n}"
        columns += [f"{alias}.{name}" for name in ("score", "fit", "engagement", "excluded")]
        joins.append(
            f"LEFT JOIN lead_scores {alias} ON {alias}.lead_id = l.id AND {alias}.model_id = ?"
        )
        params.append(model_id)
    for name in fields:
        spec = _field_sql(name)
        columns.append("NULL" if spec is None else spec[0])
    return f"SELECT {', '.join(columns)} {' '.join(joins)} ORDER BY l.id", params


def _score_with(
    cursor: Any,
    planner: _Planner,
    plans: Sequence[_ModelPlan],
    model_ids: Sequence[int],
    progress: Progress | None,
    cancelled: type[Exception],
) -> _Scored:
    total_leads = int(cursor.execute("SELECT COUNT(*) FROM leads").fetchone()[0])

    def report(done: int) -> None:
        if progress is not None and not progress(done, total_leads):
            raise cancelled()

    report(0)
    activities = int(cursor.execute("SELECT COUNT(*) FROM activities").fetchone()[0])
    planner.pack(activities)

    # --- leads, their facts and stored scores, as columns
    fields: list[str] = []
    for plan in plans:
        conditions = [c for c, _p, _f in plan.properties if c is not None]
        if plan.model.exclude is not None:
            conditions.append(plan.model.exclude)
        for cond in conditions:
            for name in _leaf_fields(cond, []):
                if name not in fields:
                    fields.append(name)
    sql, params = _lead_query(fields, model_ids)
    rows = cursor.execute(sql, params).fetchall()
    width = _FIXED + 4 * len(model_ids) + len(fields)
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) or [() for _ in range(width)]
    del rows
    contact_ids: Sequence[int | None] = columns[1]
    lead_accounts: Sequence[int | None] = columns[2]
    facts: dict[str, _Fact] = {}
    for n, name in enumerate(fields):
        spec = _field_sql(name)
        convert = None if spec is None else spec[1]
        facts[name] = _Fact(columns[_FIXED + 4 * len(model_ids) + n], convert)
    report(total_leads // 4)

    # --- activities: one aggregate per contact, combined per account-only account
    by_contact: dict[int, Sequence[Any]] = {}
    by_account: dict[int, Sequence[Any]] = {}
    if planner.columns:
        indexed = cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [_ACTIVITY_INDEX]
        ).fetchone()
        hint = f" INDEXED BY {_ACTIVITY_INDEX}" if indexed else ""
        sql = (
            f"SELECT contact_id, {', '.join(planner.columns)} FROM activities{hint} "
            "WHERE +occurred_at <= ? GROUP BY contact_id"
        )
        by_contact = {r[0]: r for r in cursor.execute(sql, [*planner.params, planner.now_text])}
        account_only = {
            a
            for c, a in zip(contact_ids, lead_accounts, strict=True)
            if c is None and a is not None
        }
        if account_only:
            by_account = _account_aggregates(cursor, planner.kinds, by_contact, account_only)
    report(total_leads * 3 // 4)

    aggregates: list[Sequence[Any] | None] = [
        by_contact.get(c) if c is not None else (by_account.get(a) if a is not None else None)
        for c, a in zip(contact_ids, lead_accounts, strict=True)
    ]
    scorable = list(map(operator.is_not, contact_ids, [None] * len(contact_ids)))
    scorable = [s or a is not None for s, a in zip(scorable, columns[3], strict=True)]
    components = _unpack(planner, aggregates)
    results = [
        _combine(planner, index, plan, aggregates, components, facts, columns[4], scorable)
        for index, plan in enumerate(plans)
    ]
    stored = [columns[_FIXED + 4 * m : _FIXED + 4 * m + 4] for m in range(len(model_ids))]
    report(total_leads)
    return _Scored(columns[0], results, stored, columns[5], columns[6], columns[7])


def _account_aggregates(
    cursor: Any,
    kinds: Sequence[str],
    by_contact: dict[int, Sequence[Any]],
    accounts: set[int],
) -> dict[int, Sequence[Any]]:
    """An account-only lead reads the activities of every contact of its account: every
    aggregate column either adds up or takes the latest, so combine its contacts' rows."""
    holes = ", ".join("?" for _ in accounts)
    out: dict[int, list[Any]] = {}
    for contact_id, account_id in cursor.execute(
        f"SELECT id, account_id FROM contacts WHERE account_id IN ({holes})", sorted(accounts)
    ):
        row = by_contact.get(contact_id)
        if row is None:
            continue
        merged = out.get(account_id)
        if merged is None:
            out[account_id] = [account_id, *row[1:]]
            continue
        for n, kind in enumerate(kinds, start=1):
            value = row[n]
            if value is None:
                continue
            if merged[n] is None:
                merged[n] = value
            elif kind == _SUM:
                merged[n] += value
            elif value > merged[n]:
                merged[n] = value
    return dict(out)


def _unpack(planner: _Planner, aggregates: Sequence[Sequence[Any] | None]) -> list[list[int]]:
    """Per component, its subtotal for every lead (0 without activities)."""
    out: list[list[int]] = [[] for _ in planner.components]
    for number, (column, bits, slots) in enumerate(planner.packs):
        sums = [0 if a is None else a[column] or 0 for a in aggregates]
        members = sorted((c.slot, n) for n, c in enumerate(planner.components) if c.pack == number)
        if slots == 1:
            out[members[0][1]] = sums
            continue
        size, half = 1 << bits, 1 << (bits - 1)
        for _slot, n in members:
            values = [((s + half) % size) - half for s in sums]
            out[n] = values
            sums = [(s - v) >> bits for s, v in zip(sums, values, strict=True)]
    return out


@dataclass
class _Fact:
    """One fact for every lead, as SQLite returned it; ``convert`` turns a raw value into
    what the ORM would give (booleans, parsed JSON) and is applied to distinct values only,
    which is what makes a condition cost one engine call per distinct value."""

    raw: Sequence[object]
    convert: Callable[[Any], object] | None
    keys: Sequence[object] | None = None

    def key_column(self) -> Sequence[object]:
        if self.keys is None:
            self.keys = _key_column(self.raw)
        return self.keys

    def value(self, raw: object) -> object:
        return raw if self.convert is None else self.convert(raw)


def _condition_column(cond: Condition, facts: dict[str, _Fact], size: int) -> list[bool]:
    """``cond`` for every lead, asking the engine once per distinct tuple of its facts."""
    names = _leaf_fields(cond, [])
    if not names:
        return [evaluate(cond, {})] * size
    if len(names) == 1:
        fact = facts[names[0]]
        keys: Sequence[object] = fact.key_column()
        samples = dict(zip(keys, fact.raw, strict=True))
        table = {key: evaluate(cond, {names[0]: fact.value(raw)}) for key, raw in samples.items()}
    else:
        chosen = [facts[name] for name in names]
        keys = list(zip(*[fact.key_column() for fact in chosen], strict=True))
        raws = dict(zip(keys, zip(*[fact.raw for fact in chosen], strict=True), strict=True))
        table = {
            key: evaluate(cond, {n: f.value(r) for n, f, r in zip(names, chosen, raw, strict=True)})
            for key, raw in raws.items()
        }
    return list(map(table.__getitem__, keys))


def _combine(
    planner: _Planner,
    index: int,
    plan: _ModelPlan,
    aggregates: Sequence[Sequence[Any] | None],
    components: Sequence[list[int]],
    facts: dict[str, _Fact],
    created: Sequence[str],
    scorable: Sequence[bool],
) -> _ModelTotals:
    """One model's totals for every lead, column by column, with the engine's arithmetic."""
    size = len(scorable)
    subtotal: dict[bool, list[int]] = {True: [0] * size, False: [0] * size}
    for n, component in enumerate(planner.components):
        if component.model == index:
            subtotal[component.is_fit] = list(
                map(operator.add, subtotal[component.is_fit], components[n])
            )
    for column, limit, points, is_fit in plan.capped:
        counts = [0 if a is None else min(a[column] or 0, limit) * points for a in aggregates]
        subtotal[is_fit] = list(map(operator.add, subtotal[is_fit], counts))
    for cond, points, is_fit in plan.properties:
        if cond is None:
            subtotal[is_fit] = [v + points for v in subtotal[is_fit]]
            continue
        holds = _condition_column(cond, facts, size)
        subtotal[is_fit] = list(map(operator.add, subtotal[is_fit], map(points.__mul__, holds)))
    now = planner.now
    for last, period, cutoff, repeat, points, is_fit in plan.inactivity:
        if last is None:
            since: Sequence[Any] = created
        else:
            since = [
                c if a is None or a[last] is None else a[last]
                for a, c in zip(aggregates, created, strict=True)
            ]
        if set(map(type, since)) == {str} and set(map(len, since)) == {26}:
            # All in the stored format, which sorts like time: "s > cutoff" is "active
            # within the period", and otherwise at least one full period has passed.
            parse = datetime.fromisoformat
            if repeat:
                added = [0 if s > cutoff else (now - parse(s)) // period * points for s in since]
            else:
                added = [0 if s > cutoff else points for s in since]
        else:
            added = [_quiet(s, now, period, repeat) * points for s in since]
        subtotal[is_fit] = list(map(operator.add, subtotal[is_fit], added))
    model = plan.model
    fit, engagement = subtotal[True], subtotal[False]
    totals = list(map(operator.add, fit, engagement))
    floor, cap = model.floor, model.cap
    if floor is not None:
        totals = [floor if t < floor else t for t in totals]
    if cap is not None:
        totals = [cap if t > cap else t for t in totals]
    if model.exclude is None:
        excluded = [False] * size
    else:
        excluded = _condition_column(model.exclude, facts, size)
        excluded = [x and ok for x, ok in zip(excluded, scorable, strict=True)]
    # Unscorable and excluded leads score 0 everywhere (the engine's _not_scored).
    keep = [ok and not x for ok, x in zip(scorable, excluded, strict=True)]
    return _ModelTotals(
        [t if k else 0 for t, k in zip(totals, keep, strict=True)],
        [f if k else 0 for f, k in zip(fit, keep, strict=True)],
        [e if k else 0 for e, k in zip(engagement, keep, strict=True)],
        excluded,
    )


# --------------------------------------------------------------------------- public API


def bulk_totals(
    session: Session,
    models: Sequence[ScoringModel],
    now: datetime,
    progress: Progress | None = None,
) -> dict[int, list[recompute.Totals]]:
    """``recompute.compute_totals`` for every lead at once: what the model editor's what-if
    needs to preview a draft over the whole desk in about a second.

    Like ``compute_totals`` it scores every model given, active or not. Reads only.
    """
    try:
        scored = _score_all(session, models, (), now, progress)
    except _Unsupported:
        ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
        out: dict[int, list[recompute.Totals]] = {}
        _report(progress, 0, len(ids))
        for start in range(0, len(ids), FALLBACK_BATCH):
            batch = ids[start : start + FALLBACK_BATCH]
            out.update(recompute.compute_totals(session, batch, models, now))
            _report(progress, min(start + FALLBACK_BATCH, len(ids)), len(ids))
        return out
    per_model = [
        list(map(recompute.Totals, r.total, r.fit, r.engagement, r.excluded))
        for r in scored.results
    ]
    rows = zip(scored.lead_ids, *per_model, strict=True)
    return {lead_id: list(totals) for lead_id, *totals in rows}


def _report(progress: Progress | None, done: int, total: int) -> None:
    from leaddesk.services.scoring import RescoreCancelled

    if progress is not None and not progress(done, total):
        raise RescoreCancelled()


def bulk_rescore(
    session: Session,
    models: Sequence[ActiveModel],
    now: datetime,
    cause: str,
    progress: Progress | None,
) -> BulkResult:
    """Re-score every lead with ``models`` (the first is the primary) inside the caller's
    transaction, leaving ``lead_scores``, ``score_history`` and the leads' list score and
    stars exactly as the per-lead path over every lead would.

    ``progress(done, total)`` returning False raises ``RescoreCancelled`` before anything
    is written; nothing is committed here, so the caller's rollback keeps the old scores.
    """
    if not models:
        leads = int(session.scalar(select(func.count(Lead.id))) or 0)
        return BulkResult(leads, 0, [])
    scored_models = [m.model if m.model.active else replace(m.model, active=True) for m in models]
    try:
        scored = _score_all(session, scored_models, [m.id for m in models], now, progress)
    except _Unsupported:
        return _per_lead(session, models, now, cause, progress)
    return _write(session, models, scored, now, cause)


def _write(
    session: Session,
    models: Sequence[ActiveModel],
    scored: _Scored,
    now: datetime,
    cause: str,
) -> BulkResult:
    at = _db_text(now)
    score_rows: list[tuple[object, ...]] = []
    history_rows: list[tuple[object, ...]] = []
    touched: set[int] = set()
    lead_ids = scored.lead_ids
    for active, new, old in zip(models, scored.results, scored.stored, strict=True):
        o_score, o_fit, o_engagement, o_excluded = old
        differ = [
            i
            for i, (t, os_, f, of, e, oe, x, ox) in enumerate(
                zip(
                    new.total,
                    o_score,
                    new.fit,
                    o_fit,
                    new.engagement,
                    o_engagement,
                    new.excluded,
                    o_excluded,
                    strict=True,
                )
            )
            if os_ is None or t != os_ or f != of or e != oe or x != bool(ox)
        ]
        for i in differ:
            lead_id, score = lead_ids[i], new.total[i]
            score_rows.append(
                (lead_id, active.id, score, new.fit[i], new.engagement[i], int(new.excluded[i]), at)
            )
            old_score = o_score[i] or 0
            if score != old_score:
                history_rows.append((lead_id, active.id, active.name, at, old_score, score, cause))
        touched.update(differ)
    threshold = models[0].model.sales_ready_at
    primary = scored.results[0].total
    rating = {t: stars(t, threshold) for t in set(primary)}
    new_stars = list(map(rating.__getitem__, primary))
    lead_updates: list[tuple[int, int, str, int]] = [
        (t, s, at, lead_id)
        for lead_id, t, s, ot, os_, never in zip(
            lead_ids,
            primary,
            new_stars,
            scored.list_score,
            scored.list_stars,
            scored.never_scored,
            strict=True,
        )
        if t != ot or s != os_ or never
    ]
    cursor = _raw_connection(session).cursor()
    try:
        if score_rows:
            cursor.executemany(
                "INSERT INTO lead_scores "
                "(lead_id, model_id, score, fit, engagement, excluded, computed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (lead_id, model_id) DO UPDATE SET score = excluded.score, "
                "fit = excluded.fit, engagement = excluded.engagement, "
                "excluded = excluded.excluded, computed_at = excluded.computed_at",
                score_rows,
            )
        if history_rows:
            cursor.executemany(
                "INSERT INTO score_history "
                "(lead_id, model_id, model_name, at, old_score, new_score, cause) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                history_rows,
            )
        if lead_updates:
            cursor.executemany(
                "UPDATE leads SET score = ?, stars = ?, scored_at = ? WHERE id = ?",
                lead_updates,
            )
    finally:
        cursor.close()
    _expire_written(session)
    changed = {lead_ids[i] for i in touched} | {row[3] for row in lead_updates}
    return BulkResult(len(lead_ids), len(history_rows), sorted(changed))


def _expire_written(session: Session) -> None:
    """Objects the session already holds must not show the scores from before."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Lead | LeadScore | ScoreHistory):
            session.expire(obj)


def _per_lead(
    session: Session,
    models: Sequence[ActiveModel],
    now: datetime,
    cause: str,
    progress: Progress | None,
) -> BulkResult:
    """The reference path, batch by batch, for databases the fast path cannot read."""
    ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
    before = set(session.scalars(select(ScoreHistory.id)))
    _report(progress, 0, len(ids))
    for start in range(0, len(ids), FALLBACK_BATCH):
        recompute.score_only(session, ids[start : start + FALLBACK_BATCH], now, cause)
        _report(progress, min(start + FALLBACK_BATCH, len(ids)), len(ids))
    session.flush()
    written = [
        lead_id
        for history_id, lead_id in session.execute(select(ScoreHistory.id, ScoreHistory.lead_id))
        if history_id not in before
    ]
    return BulkResult(len(ids), len(written), sorted(set(written)))

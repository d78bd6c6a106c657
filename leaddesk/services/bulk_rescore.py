"""Re-scoring every lead at once, in bulk SQL, with exactly the per-lead path's results.

Why this exists: the per-lead path (``recompute.rescore``) builds Python facts for every
lead and runs the pure engine over every activity - right for one logged activity, but a
model edit re-scores 100,000 leads over 1,000,000 activities and must take about a second
(issue 3). So the work is split by where it is cheap:

* **One scan of ``activities``** (SQLite, grouped by contact, over the covering index
  ``(contact_id, type_key, occurred_at)``) adds up every activity rule's points. Each
  aggregate costs a pass over a million rows, so rules are folded together: per type one
  ``CASE type_key WHEN ...`` branch holding every rule of that type, and the subtotals of
  several models packed into one integer ``SUM`` (each in its own bit range, taken
  apart exactly in SQL per contact, ``_Planner.outputs``). ``max_times`` rules get a
  count each (capped in Python); each distinct set of inactivity types one
  ``MAX(occurred_at)``. Rows of types no column
  reads are dropped first (``type_filter``). Every column adds up or maxes over
  contacts, so an account-only lead's aggregate is combined from its account's contacts
  without a second scan.
* **Conditions are never translated into SQL.** Trimming, case folding, numeric coercion,
  boolean spellings, list facts and missing-field rules live in
  :mod:`leaddesk.domain.conditions` only. An activity rule's ``when`` is evaluated by the
  engine through a SQL function that SQLite calls only on rows of that rule's type inside
  its window, memoised on the properties' JSON text: a million rows cost a few hundred
  evaluations. The parallel slices (below) first collect the distinct texts of those
  types (``_TextPool``), ask the same memo once per text and count with
  ``+properties IN (...)`` in pure SQL (``_inline_bundle``), so that they never need the
  GIL; past ``INLINE_LIMIT`` texts of a type they keep the per-row function. Property
  rules and exclusions are evaluated by the engine once per distinct value of the fields
  they read, column by column over all leads.
* **One query of leads** joined to their contact and account, returned as one JSON
  array per column (cheaper than a Python row per lead), a plain scan of ``lead_scores``
  per model for the stored scores, and one query per external score a condition names
  (``lead.external_score.NAME``) feed a column-wise combination (inactivity, clamping,
  stars) that follows the engine's arithmetic; only the differences are written.
* **Both cores, when the caller allows it** (``parallel_reads``: the daily re-score and
  model edits, not imports): read-only connections aggregate slices of the contacts in
  threads of their own while the caller's connection reads the leads; the caller's
  transaction holds the write lock, so they read exactly what it would. When the slices
  run pure SQL, the caller's thread evaluates the property rules meanwhile.

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

import contextlib
import functools
import itertools
import json
import operator
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

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
from leaddesk.store.sqlite_values import sqlite_datetime

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
#: Slices of contacts the activity aggregate is split into on parallel reads.
PARALLEL_SLICES = 2
#: How much nicer than the caller's the reader threads run (Linux only; 0 to leave them).
READER_NICE = 5
#: Distinct properties texts of one type (in the whole table) up to which a conditional
#: activity rule is evaluated once per text and the slices count in pure SQL; above it,
#: per row through the memoised SQL function.
INLINE_LIMIT = 5000
#: Characters of inlined texts per rule bundle and slice, at most.
_INLINE_CHARS = 1_000_000


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
    output: int = -1  # its position in the aggregate's output (``_Planner.outputs``)


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
        self.now_text = sqlite_datetime(now)
        self.function = function
        self.columns: list[str] = []
        self.kinds: list[str] = []
        self.params: list[object] = []
        self.inactivity_columns: dict[tuple[str, ...] | None, int] = {}
        self.bundles: list[_Bundle] = []
        self.components: list[_Component] = []
        #: Packed SUM columns: (column, bits per slot, slots).
        self.packs: list[tuple[int, int, int]] = []
        #: The activity types some column reads; None once one reads every type.
        self.types: set[str] | None = set()

    def add_column(self, sql: str, params: Sequence[object], kind: str) -> int:
        self.columns.append(sql)
        self.kinds.append(kind)
        self.params.extend(params)
        return len(self.columns)  # position 0 is the group key

    def read_types(self, types: Sequence[str] | None) -> None:
        if types is None or self.types is None:
            self.types = None
        else:
            self.types.update(types)

    def type_filter(self) -> str:
        """A WHERE term keeping the rows of the types some column reads: the others add
        nothing, and a contact with none of them gets no row, which reads like no
        activity (every column 0 or NULL), so skipping them early costs less than
        letting every column's CASE turn them down."""
        if self.types is None or any("\x00" in t for t in self.types):
            return ""
        return f"type_key IN ({', '.join(map(_literal, sorted(self.types)))}) AND "

    def _bundle(self, bundle: _Bundle) -> tuple[int, str]:
        self.bundles.append(bundle)
        number = len(self.bundles) - 1
        return number, f"{self.function}_{number}(properties)"

    def inactivity_column(self, types: tuple[str, ...] | None) -> int | None:
        key = None if types is None else tuple(sorted(set(types)))
        if key == ():
            return None
        self.read_types(key)
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
                cutoff = sqlite_datetime(self.now - period)
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
        self.read_types([type_key])
        when = rule.when
        if when is not None and all(f == "type" for f in _leaf_fields(when, [])):
            # A condition on the type alone is a constant for this rule.
            if not evaluate(when, {"type": type_key}):
                return
            rule = replace(rule, when=None)
        expiry = (
            None
            if rule.expires_after_days is None
            else sqlite_datetime(self.now - timedelta(days=rule.expires_after_days))
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

    def outputs(self) -> tuple[list[str], list[str], dict[int, int]]:
        """What the aggregate hands back per contact, over the inner query's ``c0``..``cN``:
        the contact id, every column that is not a packed SUM as it is, and each
        component's subtotal taken out of its packed SUM in SQL (a few integer operations
        per contact in SQLite rather than Python work per lead). Returns the expressions,
        their kinds (``_SUM`` or ``_MAX``, for ``_account_aggregates``) and each unpacked
        column's position; components learn theirs (``_Component.output``).

        Slot ``j`` of a pack holds ``v_j`` in ``[-half, half)`` (``pack`` sized the slots
        so), so adding ``half`` to every slot makes each a plain ``bits``-wide digit of a
        non-negative number below ``2**62``: shift and mask read it exactly, without the
        sign questions of ``%`` and ``>>`` on negative numbers.
        """
        exprs, kinds = ["c0"], [_SUM]
        position: dict[int, int] = {}
        packed = {column for column, _bits, _slots in self.packs}
        for column, kind in enumerate(self.kinds, start=1):
            if column not in packed:
                position[column] = len(exprs)
                exprs.append(f"c{column}")
                kinds.append(kind)
        for number, (column, bits, slots) in enumerate(self.packs):
            members = sorted(
                ((c.slot, c) for c in self.components if c.pack == number),
                key=operator.itemgetter(0),
            )
            half, mask = 1 << (bits - 1), (1 << bits) - 1
            offset = sum(half << (bits * slot) for slot in range(slots))
            for slot, component in members:
                component.output = len(exprs)
                kinds.append(_SUM)
                if slots == 1:
                    exprs.append(f"COALESCE(c{column}, 0)")
                else:
                    shift = bits * slot
                    exprs.append(
                        f"(((COALESCE(c{column}, 0) + {offset}) >> {shift}) & {mask}) - {half}"
                    )
        return exprs, kinds, position


# --------------------------------------------------------------------------- reading


def _field_sql(name: str) -> tuple[str, Callable[[Any], object] | None] | None:
    """The lead-query expression for a fact and the conversion to the value the ORM
    would give; None for a name no lead has (the engine then sees it missing) and for
    external scores, which ``_external_column`` reads.

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


_EXTERNAL_PREFIX = "lead.external_score."


def _external_name(name: str) -> str | None:
    """The ``external_scores.name`` a fact reads, for ``lead.external_score.NAME``.

    Not part of the lead query: ``_external_column`` reads them, so that a REAL score
    never passes through JSON (15 digits) and a desk without them pays nothing.
    """
    if name.startswith(_EXTERNAL_PREFIX):
        return name[len(_EXTERNAL_PREFIX) :]
    return None


def _external_column(cursor: Any, name: str, lead_ids: Sequence[int]) -> list[object]:
    """Every lead's external score called ``name``, as ``recompute.build_facts`` reads it:
    the driver's value, untouched (the column is REAL, so a float, whatever the file
    had), None where the lead has none, which the engine treats like an absent fact.
    ``(lead_id, name)`` is unique, so there is no choice of row to mirror; names match
    exactly (case and spaces included), as the per-lead path's dictionary keys do.
    """
    found = dict(
        cursor.execute("SELECT lead_id, score FROM external_scores WHERE name = ?", [name])
    )
    if not found:
        return [None] * len(lead_ids)
    return list(map(found.get, lead_ids))


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


# --------------------------------------------------------------------------- parallel reads


def _parallel_file(driver: Any) -> str | None:
    """The database file other connections may read instead of ``driver``, or None.

    Only while ``driver`` is inside a write transaction: it then holds SQLite's write
    lock, so nothing can be committed until it finishes and a connection opened now reads
    exactly the state the transaction started from. Whether the transaction's own
    uncommitted changes matter is the caller's call (``parallel_reads``); an in-memory or
    temporary database has no file to share. Only in WAL mode, where readers never wait
    for the writer (``Database`` always sets it; a file from elsewhere may not have it).
    """
    if not driver.in_transaction:
        return None
    if str(driver.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        return None
    for _seq, name, file in driver.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file) if file else None
    return None


def _yield_to_caller() -> None:
    """Lower this reader thread's priority (Linux, where it is a per-thread setting).

    The caller's thread is the critical path: the slices finish before it needs them,
    while the lead query and the Python after it cannot start sooner. With more threads
    than free cores (two slices and the caller on two), equal priorities slow the caller
    down for nothing.
    """
    if READER_NICE and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _TextPool:
    """The distinct ``properties`` of the activity types conditional rules read, over the
    whole table: each reader scans a share of the rows (by rowid, a plain table scan,
    cheaper than the index), then waits for the others and reads the union.

    The union holds every text any slice can meet: the readers read the same committed
    state (the caller holds the write lock), and a superset costs nothing but SQL text.
    """

    def __init__(self, types: Sequence[str], parties: int) -> None:
        holes = ", ".join("?" for _ in types)
        self.sql = (
            "SELECT DISTINCT type_key, properties FROM activities "
            f"WHERE rowid BETWEEN ? AND ? AND type_key IN ({holes})"
        )
        self.types = list(types)
        self.texts: dict[object, set[object]] = {}
        self.lock = threading.Lock()
        # A reader that never arrives (its thread could not start) must not hold the
        # others for ever: they then call the function, as without a pool.
        self.barrier = threading.Barrier(parties, timeout=30)

    def gather(self, connection: Any, first: int, last: int) -> dict[object, set[object]] | None:
        """The union, once every reader has added its share; None when one could not
        (its slice then calls the function, as the others' do)."""
        try:
            rows = connection.execute(self.sql, [first, last, *self.types]).fetchall()
        except BaseException:
            self.barrier.abort()
            raise
        with self.lock:
            for type_key, text in rows:
                self.texts.setdefault(type_key, set()).add(text)
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            return None
        return self.texts


def _inline_bundle(bundle: _Bundle, texts: Collection[object]) -> str | None:
    """``bundle``'s points as a pure SQL expression over the ``properties`` texts of its
    type, each text evaluated once by the engine (``bundle[text]``, the very memo the
    SQL function reads); None when the function must stay: too many distinct texts
    (``INLINE_LIMIT``), or values a text literal cannot stand for.

    ``+properties`` drops the column's NUMERIC affinity, so that ``IN`` compares the
    stored texts byte for byte, as the memo's keys are compared.
    """
    if len(texts) > INLINE_LIMIT:
        return None
    if any(type(text) is not str or "\x00" in text for text in texts):
        return None  # a NULL, a number stored as such, a BLOB, a NUL
    by_points: dict[int, list[str]] = {}
    size = 0
    for text in sorted(cast(Collection[str], texts)):
        size += len(text)
        if size > _INLINE_CHARS:
            return None
        points = int(bundle[text])
        if points:
            by_points.setdefault(points, []).append(text)
    if not by_points:
        return "0"
    whens = " ".join(
        f"WHEN +properties IN ({', '.join(map(_literal, group))}) THEN {points}"
        for points, group in by_points.items()
    )
    return f"(CASE {whens} ELSE 0 END)"


class _Reader:
    """One read-only connection running one slice of the activity aggregate in a thread of
    its own.

    Python's sqlite3 releases the GIL while SQLite steps, so the slices and the caller's
    connection (reading the leads meanwhile) use both cores.
    """

    def __init__(self, path: str, bundles: Sequence[_Bundle]) -> None:
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        self.connection = sqlite3.connect(
            uri, uri=True, check_same_thread=False, isolation_level=None
        )
        self.bundles = bundles
        self.thread: threading.Thread | None = None
        self.rows: list[Any] = []
        self.error: BaseException | None = None
        #: Set once the slice's SQL is final; ``pure`` tells whether it calls no bundle.
        self.planned = threading.Event()
        self.pure = False
        self.pool: _TextPool | None = None
        self.closing = False
        try:
            self.connection.execute("SELECT json_array(1)").fetchall()
            self.connection.execute("PRAGMA query_only=ON")
            self.connection.execute("PRAGMA busy_timeout=5000")
            self.connection.execute("PRAGMA cache_size=-65536")
            # Memory-mapped: a fresh connection's cache is empty, and copying every page
            # of the index into it costs more than the aggregate saves.
            self.connection.execute("PRAGMA mmap_size=4294967296")
            for number, bundle in enumerate(bundles):
                self.connection.create_function(
                    f"{_FUNCTION}_{number}", 1, bundle.__getitem__, deterministic=True
                )
        except BaseException:
            self.connection.close()
            raise

    def start(
        self,
        sql: str,
        params: Sequence[object],
        share: tuple[_TextPool, int, int] | None = None,
    ) -> None:
        """Run ``sql``; with ``share`` (the pool and this reader's rowid range of it),
        first replace the bundle calls that ``_inline_bundle`` can."""
        self.pool = None if share is None else share[0]
        self.thread = threading.Thread(
            target=self._run, args=(sql, params, share), name="leaddesk-bulk-read", daemon=True
        )
        self.thread.start()

    def _run(
        self, sql: str, params: Sequence[object], share: tuple[_TextPool, int, int] | None
    ) -> None:
        connection = self.connection
        _yield_to_caller()
        try:
            connection.execute("BEGIN")
            if share is not None:
                pool, first, last = share
                texts = pool.gather(connection, first, last)
                if texts is not None:
                    sql = self._inline(sql, texts)
            self.pure = _FUNCTION not in sql
            self.planned.set()
            if not self.closing:
                self.rows = connection.execute(sql, params).fetchall()
        except BaseException as exc:  # handed to the caller's thread by result()
            self.error = exc
        finally:
            self.planned.set()
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")

    def _inline(self, sql: str, texts: dict[object, set[object]]) -> str:
        for number, bundle in enumerate(self.bundles):
            call = f"{_FUNCTION}_{number}(properties)"
            if call in sql:
                inlined = _inline_bundle(bundle, texts.get(bundle.type_key, set()))
                if inlined is not None:
                    sql = sql.replace(call, inlined)
        return sql

    def pure_sql(self) -> bool:
        """Whether the slice runs without calling Python (so without the GIL): the
        caller's thread may then run Python meanwhile without stalling it."""
        self.planned.wait()
        return self.pure and self.error is None

    def result(self) -> list[Any]:
        assert self.thread is not None
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.rows

    def close(self) -> None:
        """Stop a read still running (a cancel, an error elsewhere) and let go of the file."""
        if self.thread is not None:
            self.closing = True
            if self.pool is not None:
                self.pool.barrier.abort()  # a reader waiting for the others stops waiting
            if self.thread.is_alive():
                self.connection.interrupt()
            self.thread.join()
        self.connection.close()


def _score_all(
    session: Session,
    models: Sequence[ScoringModel],
    model_ids: Sequence[int],
    now: datetime,
    progress: Progress | None,
    parallel_reads: bool = False,
) -> _Scored:
    from leaddesk.services.scoring import RescoreCancelled

    session.flush()
    driver = _raw_connection(session)
    planner = _Planner(_utc_naive(now), _FUNCTION)
    plans = [planner.plan(i, model) for i, model in enumerate(models)]
    path = _parallel_file(driver) if parallel_reads and planner.columns else None

    for number, bundle in enumerate(planner.bundles):
        driver.create_function(f"{_FUNCTION}_{number}", 1, bundle.__getitem__, deterministic=True)
    cursor = driver.cursor()
    readers: list[_Reader] = []
    try:
        if path is not None and PARALLEL_SLICES > 0:
            try:
                for _ in range(PARALLEL_SLICES):
                    readers.append(_Reader(path, planner.bundles))
            except sqlite3.Error:
                # No second connection (a read-only folder, an SQLite without JSON):
                # the caller's connection reads everything, as it always may.
                for reader in readers:
                    reader.close()
                readers = []
        return _score_with(cursor, planner, plans, model_ids, progress, RescoreCancelled, readers)
    finally:
        for reader in readers:
            reader.close()
        cursor.close()
        for number in range(len(planner.bundles)):
            driver.create_function(f"{_FUNCTION}_{number}", 1, None)  # drop the memos


_FIXED = 8  # lead query columns before the stored scores (or the facts, without models)


def _lead_parts(
    fields: Sequence[str], model_ids: Sequence[int]
) -> tuple[list[str], str, list[object]]:
    """The lead query's column expressions, its FROM clause and parameters."""
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
    return columns, " ".join(joins), params


def _lead_sql(fields: Sequence[str], model_ids: Sequence[int]) -> tuple[str, list[object]]:
    """The lead query as one row holding one JSON array per column.

    Building a Python row per lead and transposing costs more than SQLite's JSON text plus
    ``json.loads`` per column, and SQLite builds it without holding the GIL, which the
    parallel slices' bundles need meanwhile. JSON keeps
    integers and texts exactly, not REALs (15 digits) and not BLOBs (an error): see
    ``_lead_columns``.
    """
    columns, source, params = _lead_parts(fields, model_ids)
    arrays = ", ".join(f"json_group_array({sql})" for sql in columns)
    return f"SELECT {arrays} {source}", params


def _lead_columns(
    cursor: Any, row: Sequence[Any] | None, fields: Sequence[str], model_ids: Sequence[int]
) -> list[list[Any]]:
    """The lead columns, in lead-id order, every value as the driver returns it in a row.

    ``row`` is ``_lead_sql``'s result, None when it could not be built (a BLOB): then
    every column is read as rows. A fact column with a REAL in it is read again as rows
    (JSON rounds REALs to 15 digits, and conditions may compare all 17); the columns
    before the facts are integers and stored times by the schema.
    """
    columns, source, params = _lead_parts(fields, model_ids)
    if row is None:
        rows = cursor.execute(f"SELECT {', '.join(columns)} {source} ORDER BY l.id", params)
        out = [list(column) for column in zip(*rows, strict=True)]
        return out or [[] for _ in columns]
    out = [json.loads(text) for text in row]
    for n in range(len(columns) - len(fields), len(columns)):
        if float in set(map(type, out[n])):
            sql = f"SELECT {columns[n]} {source} ORDER BY l.id"
            out[n] = [value for (value,) in cursor.execute(sql, params)]
    ids = out[0]
    if any(map(operator.ge, ids, itertools.islice(ids, 1, None))):
        # SQLite adds the leads up in the order it scans them, which is by id; should
        # that ever change, sort here.
        order = sorted(range(len(ids)), key=ids.__getitem__)
        out = [[column[i] for i in order] for column in out]
    return out


_STORED = ("score", "fit", "engagement", "excluded")


def _stored_texts(cursor: Any, model_ids: Sequence[int]) -> list[Sequence[str] | None]:
    """Per model, the JSON arrays ``_stored_scores`` parses (None where JSON cannot hold a
    value): the SQL half, which runs without the GIL, apart so that it can run early.
    (One scan per model: a single scan ``FILTER``ing by model costs more, not less.)"""
    names = ", ".join(f"json_group_array({name})" for name in ("lead_id", *_STORED))
    sql = f"SELECT {names} FROM lead_scores NOT INDEXED WHERE model_id = ?"
    return [
        _lead_row(functools.partial(_fetch_one, cursor, sql, [model_id])) for model_id in model_ids
    ]


def _fetch_one(cursor: Any, sql: str, params: Sequence[object]) -> Sequence[Any]:
    return cast(Sequence[Any], cursor.execute(sql, params).fetchone())


def _stored_scores(
    cursor: Any,
    model_ids: Sequence[int],
    lead_ids: Sequence[int],
    texts: Sequence[Sequence[str] | None] | None = None,
) -> list[list[Sequence[Any]]]:
    """Per model, its ``lead_scores`` columns (``_STORED``) for every lead, in the order of
    ``lead_ids``, None where a lead has no row.

    One plain scan of the table per model, as JSON arrays, instead of two look-ups in the
    primary key's index per lead in the lead query (half that query's time). Rows come in
    table order, which is lead order unless rows were written out of turn: then they are
    placed by lead id. The columns are integers by the schema; should JSON not hold one
    (a BLOB), the rows are read as rows.
    """
    out: list[list[Sequence[Any]]] = []
    if texts is None:
        texts = _stored_texts(cursor, model_ids)
    for model_id, found in zip(model_ids, texts, strict=True):
        if found is not None:
            ids, *values = (json.loads(text) for text in found)
        else:
            rows = cursor.execute(
                f"SELECT lead_id, {', '.join(_STORED)} FROM lead_scores WHERE model_id = ?",
                [model_id],
            ).fetchall()
            ids, *values = ([row[n] for row in rows] for n in range(len(_STORED) + 1))
        if ids != lead_ids:
            where = dict(zip(ids, range(len(ids)), strict=True))
            order = list(map(where.get, lead_ids))
            values = [[None if i is None else column[i] for i in order] for column in values]
        out.append(values)
    return out


def _lead_row(fetch: Callable[[], Sequence[Any]]) -> Sequence[Any] | None:
    """``_lead_sql``'s row from ``fetch``, or None when JSON could not hold a value."""
    try:
        return fetch()
    except sqlite3.Error as error:
        if "blob" not in str(error).lower():  # "JSON cannot hold BLOB values"
            raise
        return None


def _activity_hint(cursor: Any) -> str:
    indexed = cursor.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [_ACTIVITY_INDEX]
    ).fetchone()
    return f" INDEXED BY {_ACTIVITY_INDEX}" if indexed else ""


def _activity_sql(cursor: Any, planner: _Planner, ranged: bool, as_json: bool) -> str:
    """The activity aggregate per contact, as ``_Planner.outputs`` columns: a row per
    contact, or (``as_json``) one row holding one JSON array per column. ``ranged`` adds
    a contact-id range (two more parameters, before the time)."""
    hint = _activity_hint(cursor)
    where = "contact_id BETWEEN ? AND ? AND " if ranged else ""
    selected = ", ".join(f"{sql} AS c{n}" for n, sql in enumerate(planner.columns, start=1))
    inner = (
        f"SELECT contact_id AS c0, {selected} FROM activities{hint} "
        f"WHERE {where}{planner.type_filter()}+occurred_at <= ? GROUP BY contact_id"
    )
    exprs, _kinds, _position = planner.outputs()
    if as_json:
        exprs = [f"json_group_array({sql})" for sql in exprs]
    return f"SELECT {', '.join(exprs)} FROM ({inner})"


def _start_slices(cursor: Any, planner: _Planner, readers: Sequence[_Reader]) -> None:
    """Split the contacts that have activities into ranges of about equal width, one per
    reader, and start each reader's aggregate.

    Each reader hands back one JSON array per column rather than a row per contact: a
    thread that needs the GIL for every row waits, at each one, for the Python work of
    the caller's thread, and flat arrays are the cheapest to parse. The aggregates are
    integers and stored time texts, which JSON carries exactly.
    """
    low, high = cursor.execute(
        "SELECT (SELECT MIN(contact_id) FROM activities), (SELECT MAX(contact_id) FROM activities)"
    ).fetchone()
    low, high = (0, -1) if low is None else (int(low), int(high))
    sql = _activity_sql(cursor, planner, ranged=True, as_json=True)
    types = sorted({bundle.type_key for bundle in planner.bundles})
    pool = _TextPool(types, len(readers)) if types else None
    row_low, row_high = cursor.execute(
        "SELECT (SELECT MIN(rowid) FROM activities), (SELECT MAX(rowid) FROM activities)"
    ).fetchone()
    row_low, row_high = (0, -1) if row_low is None else (int(row_low), int(row_high))
    width = (high - low + len(readers)) // len(readers)
    row_width = (row_high - row_low + len(readers)) // len(readers)
    for n, reader in enumerate(readers):
        first = low + n * width
        last = high if n == len(readers) - 1 else first + width - 1
        rows = (
            row_low + n * row_width,
            row_high if n == len(readers) - 1 else row_low + (n + 1) * row_width - 1,
        )
        share = None if pool is None else (pool, rows[0], rows[1])
        reader.start(sql, [*planner.params, first, last, planner.now_text], share)


def _collect(readers: Sequence[_Reader], width: int) -> list[list[Any]]:
    """The slices' aggregates as columns (contact id first), each slice parsed as soon as
    its reader is done; the slices' contact ranges do not overlap."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for reader in readers:
        for column, text in zip(out, reader.result()[0], strict=True):
            column.extend(json.loads(text))
    return out


def _account_only(
    cursor: Any, contact_ids: Sequence[int | None], lead_accounts: Sequence[int | None]
) -> tuple[list[int], list[tuple[int, int]]]:
    """The positions of the account-only leads (an account, no contact) and the (contact,
    account) pairs of their accounts' contacts: read before the aggregates arrive."""
    leads = [
        i
        for i in itertools.compress(
            range(len(contact_ids)), map(operator.is_, contact_ids, itertools.repeat(None))
        )
        if lead_accounts[i] is not None
    ]
    if not leads:
        return [], []
    accounts = sorted({cast(int, lead_accounts[i]) for i in leads})
    holes = ", ".join("?" for _ in accounts)
    pairs = cursor.execute(
        f"SELECT id, account_id FROM contacts WHERE account_id IN ({holes})", accounts
    ).fetchall()
    return leads, pairs


def _by_lead(
    kinds: Sequence[str],
    columns: list[list[Any]],
    contact_ids: Sequence[int | None],
    lead_accounts: Sequence[int | None],
    account_only: tuple[list[int], list[tuple[int, int]]],
) -> list[Sequence[Any]]:
    """Per aggregate column (position 0, the contact ids, left empty), its value for every
    lead: its contact's, or for an account-only lead its account's contacts' combined
    (``_account_aggregates``, over ``_account_only``'s answer); a lead with no such row
    reads what no activity gives (0 for sums, None for the latest time).

    Looks each lead's row up once and then copies column by column in C (``map``), which
    costs less than a Python row per lead.
    """
    where = dict(zip(columns[0], itertools.count()))
    leads, pairs = account_only
    by_account: dict[int, int] = {}
    if pairs:
        for account_id, row in _account_aggregates(kinds, columns, where, pairs).items():
            by_account[account_id] = len(columns[0])
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    missing = len(columns[0])
    for column, kind in zip(columns, kinds, strict=True):
        column.append(0 if kind == _SUM else None)
    rows = list(map(where.get, contact_ids, itertools.repeat(missing)))
    for i in leads:
        rows[i] = by_account.get(cast(int, lead_accounts[i]), missing)
    out: list[Sequence[Any]] = [()]
    out.extend(list(map(column.__getitem__, rows)) for column in columns[1:])
    return out


def _score_with(
    cursor: Any,
    planner: _Planner,
    plans: Sequence[_ModelPlan],
    model_ids: Sequence[int],
    progress: Progress | None,
    cancelled: type[Exception],
    readers: Sequence[_Reader] = (),
) -> _Scored:
    total_leads = int(cursor.execute("SELECT COUNT(*) FROM leads").fetchone()[0])

    def report(done: int) -> None:
        if progress is not None and not progress(done, total_leads):
            raise cancelled()

    report(0)
    activities = int(cursor.execute("SELECT COUNT(*) FROM activities").fetchone()[0])
    planner.pack(activities)
    if readers and planner.columns:
        # The readers aggregate the activities while this connection reads the leads.
        _start_slices(cursor, planner, readers)
    else:
        readers = ()
    parallel = bool(readers)

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
    externals = [name for name in fields if _external_name(name) is not None]
    fields = [name for name in fields if _external_name(name) is None]
    # The stored scores are read apart (``_stored_scores``), hence no model ids here.
    sql, params = _lead_sql(fields, ())
    exprs, kinds, position = planner.outputs()
    by_contact: list[list[Any]] = []
    # One row of JSON texts: SQLite runs it without the GIL, as the readers' slices.
    row = _lead_row(lambda: cursor.execute(sql, params).fetchone())
    # Also without the GIL, and before waiting to learn whether the slices need it.
    stored_texts = _stored_texts(cursor, model_ids)
    if readers and not all(reader.pure_sql() for reader in readers):
        # Collected before any long Python step: these slices call the bundles (and so
        # need the GIL) until they finish, and would wait for it at every row.
        by_contact = _collect(readers, len(exprs))
        readers = ()
    columns: list[Sequence[Any]] = list(_lead_columns(cursor, row, fields, ()))
    stored = _stored_scores(cursor, model_ids, columns[0], stored_texts)
    contact_ids: Sequence[int | None] = columns[1]
    lead_accounts: Sequence[int | None] = columns[2]
    facts: dict[str, _Fact] = {}
    for n, name in enumerate(fields):
        spec = _field_sql(name)
        convert = None if spec is None else spec[1]
        facts[name] = _Fact(columns[_FIXED + n], convert)
    for name in externals:
        facts[name] = _Fact(_external_column(cursor, str(_external_name(name)), columns[0]), None)
    scorable = list(map(operator.is_not, contact_ids, [None] * len(contact_ids)))
    scorable = [s or a is not None for s, a in zip(scorable, columns[3], strict=True)]
    account_only = _account_only(cursor, contact_ids, lead_accounts)
    # Pure-SQL slices are still running on the other core meanwhile.
    static = [_static(plan, facts, scorable) for plan in plans]
    if readers:
        by_contact = _collect(readers, len(exprs))
    report(total_leads // 4)

    # --- activities: one aggregate per contact, combined per account-only account
    aggregates: list[Sequence[Any]] = []
    if planner.columns:
        if not parallel:
            sql = _activity_sql(cursor, planner, ranged=False, as_json=False)
            rows = cursor.execute(sql, [*planner.params, planner.now_text]).fetchall()
            by_contact = [list(column) for column in zip(*rows, strict=True)]
            by_contact = by_contact or [[] for _ in exprs]
        aggregates = _by_lead(kinds, by_contact, contact_ids, lead_accounts, account_only)
    report(total_leads * 3 // 4)

    results = [
        _combine(planner, index, plan, aggregates, position, static[index], columns[4], scorable)
        for index, plan in enumerate(plans)
    ]
    report(total_leads)
    return _Scored(columns[0], results, stored, columns[5], columns[6], columns[7])


def _account_aggregates(
    kinds: Sequence[str],
    columns: Sequence[Sequence[Any]],
    where: dict[Any, int],
    pairs: Sequence[tuple[int, int]],
) -> dict[int, list[Any]]:
    """An account-only lead reads the activities of every contact of its account: every
    aggregate column either adds up or takes the latest, so combine its contacts' rows
    (``columns`` per contact, ``where`` a contact's position in them; ``pairs`` the
    accounts' (contact, account) pairs).

    Column by column, in the pairs' order: an account starts from its first contact's
    value (None included), then each further contact's non-None value is added or kept
    when later."""
    ats = list(map(where.get, map(operator.itemgetter(0), pairs)))
    kept = [
        (at, account_id) for at, (_c, account_id) in zip(ats, pairs, strict=True) if at is not None
    ]
    out: dict[int, list[Any]] = {account_id: [account_id] for _at, account_id in kept}
    for n in range(1, len(kinds)):
        column, adds = columns[n], kinds[n] == _SUM
        merged: dict[int, Any] = {}
        for at, account_id in kept:
            value = column[at]
            if account_id not in merged:
                merged[account_id] = value
            elif value is None:
                continue
            elif (old := merged[account_id]) is None:
                merged[account_id] = value
            elif adds:
                merged[account_id] = old + value
            elif value > old:
                merged[account_id] = value
        for account_id, row in out.items():
            row.append(merged[account_id])
    return out


@dataclass
class _Fact:
    """One fact for every lead, as SQLite returned it; ``convert`` turns a raw value into
    what the ORM would give (booleans, parsed JSON) and is applied to distinct values only,
    which is what makes a condition cost one engine call per distinct value."""

    raw: Sequence[object]
    convert: Callable[[Any], object] | None
    keys: Sequence[object] | None = None
    samples: list[tuple[object, object]] | None = None

    def key_column(self) -> Sequence[object]:
        if self.keys is None:
            self.keys = _key_column(self.raw)
        return self.keys

    def distinct(self) -> list[tuple[object, object]]:
        """(key, one raw value with that key) per distinct key; several conditions and
        models often read the same fact."""
        if self.samples is None:
            keys = self.key_column()
            if keys is self.raw:  # the values are their own keys
                self.samples = [(key, key) for key in dict.fromkeys(keys)]
            else:
                self.samples = list(dict(zip(keys, self.raw, strict=True)).items())
        return self.samples

    def value(self, raw: object) -> object:
        return raw if self.convert is None else self.convert(raw)


def _distinct(
    fact_names: Sequence[str], facts: dict[str, _Fact]
) -> tuple[Sequence[Any], Sequence[tuple[Any, Any]]]:
    """Per lead, the memo key of these facts; and (key, one lead's raw values) per
    distinct key (the raw values as a tuple when there are several facts)."""
    if len(fact_names) == 1:
        fact = facts[fact_names[0]]
        return fact.key_column(), fact.distinct()
    # Several facts: number each fact's distinct keys and combine the numbers in mixed
    # radix, one int per lead (cheaper to build and hash than a tuple per lead).
    combined: list[int] = []
    uniques: list[list[tuple[object, object]]] = []
    for fact in (facts[name] for name in fact_names):
        pairs = fact.distinct()
        index = {key: n for n, (key, _raw) in enumerate(pairs)}
        codes = list(map(index.__getitem__, fact.key_column()))
        if uniques:
            combined = list(map(operator.add, map(len(pairs).__mul__, combined), codes))
        else:
            combined = codes
        uniques.append(pairs)
    samples: list[tuple[Any, Any]] = []
    for code in dict.fromkeys(combined):
        raws: list[object] = []
        rest = code
        for pairs in reversed(uniques):
            rest, n = divmod(rest, len(pairs))
            raws.append(pairs[n][1])
        samples.append((code, tuple(reversed(raws))))
    return combined, samples


def _values(fact_names: Sequence[str], facts: dict[str, _Fact], raw: Any) -> dict[str, object]:
    """What the engine sees of one lead's facts, from its raw values."""
    if len(fact_names) == 1:
        return {fact_names[0]: facts[fact_names[0]].value(raw)}
    return {n: facts[n].value(r) for n, r in zip(fact_names, raw, strict=True)}


def _condition_column(cond: Condition, facts: dict[str, _Fact], size: int) -> list[bool]:
    """``cond`` for every lead, asking the engine once per distinct tuple of its facts."""
    names = _leaf_fields(cond, [])
    if not names:
        return [evaluate(cond, {})] * size
    keys, samples = _distinct(names, facts)
    table = {key: evaluate(cond, _values(names, facts, raw)) for key, raw in samples}
    return list(map(table.__getitem__, keys))


def _points_column(
    names: Sequence[str], rules: Sequence[tuple[Condition, int]], facts: dict[str, _Fact]
) -> list[int]:
    """The points of several property rules that read the same facts, for every lead: one
    table per distinct tuple of those facts, one look-up per lead."""
    keys, samples = _distinct(names, facts)
    table: dict[Any, int] = {}
    for key, raw in samples:
        seen = _values(names, facts, raw)
        table[key] = sum(points for cond, points in rules if evaluate(cond, seen))
    return list(map(table.__getitem__, keys))


def _add_up(columns: Sequence[Sequence[int]], constant: int, size: int) -> list[int]:
    """The sum of these columns plus a constant, as a new list."""
    if not columns:
        return [constant] * size
    if len(columns) == 1:
        out = list(columns[0])
    elif len(columns) == 2:
        out = list(map(operator.add, columns[0], columns[1]))
    else:
        out = list(map(sum, zip(*columns, strict=True)))
    if constant:
        out = [value + constant for value in out]
    return out


@dataclass
class _Static:
    """A model's points and exclusions that read no activity, for every lead: computable
    while the activity aggregate is still running, so that as little as possible is left
    for after it."""

    #: Per group (is_fit), the property rules' points summed, None when 0 for every lead.
    fixed: dict[bool, list[int] | None]
    excluded: list[bool]
    #: The leads that are unscorable or excluded, ascending (``_dropped``).
    dropped: list[int]


def _static(plan: _ModelPlan, facts: dict[str, _Fact], scorable: Sequence[bool]) -> _Static:
    """Property rules reading the same facts share one table (their points summed per
    distinct value); the exclusion is one engine call per distinct value too."""
    size = len(scorable)
    parts: dict[bool, list[Sequence[int]]] = {True: [], False: []}
    constant = {True: 0, False: 0}
    grouped: dict[tuple[tuple[str, ...], bool], list[tuple[Condition, int]]] = {}
    for cond, points, is_fit in plan.properties:
        names = () if cond is None else tuple(_leaf_fields(cond, []))
        if cond is None or not names:
            # "always", or a condition on no fact: the same for every lead
            if cond is None or evaluate(cond, {}):
                constant[is_fit] += points
            continue
        grouped.setdefault((names, is_fit), []).append((cond, points))
    for (names, is_fit), rules in grouped.items():
        parts[is_fit].append(_points_column(names, rules, facts))
    model = plan.model
    if model.exclude is None:
        excluded = [False] * size
    else:
        excluded = _condition_column(model.exclude, facts, size)
        if any(excluded):
            # ``evaluate`` answers booleans; ``&`` of two of them is their ``and``.
            excluded = list(map(operator.and_, map(bool, excluded), scorable))
    fixed = {
        is_fit: _add_up(parts[is_fit], constant[is_fit], size)
        if parts[is_fit] or constant[is_fit]
        else None
        for is_fit in (True, False)
    }
    return _Static(fixed, excluded, _dropped(scorable, excluded))


def _combine(
    planner: _Planner,
    index: int,
    plan: _ModelPlan,
    aggregates: Sequence[Sequence[Any]],
    position: dict[int, int],
    static: _Static,
    created: Sequence[str],
    scorable: Sequence[bool],
) -> _ModelTotals:
    """One model's totals for every lead, column by column, with the engine's arithmetic.

    Every rule's points are a column added up once at the end. ``aggregates`` holds
    ``_by_lead``'s columns (``position`` maps a planner column to its place there).
    """
    size = len(scorable)
    parts: dict[bool, list[Sequence[int]]] = {
        is_fit: [] if column is None else [column] for is_fit, column in static.fixed.items()
    }
    for component in planner.components:
        if component.model == index:
            parts[component.is_fit].append(aggregates[component.output])
    for column, limit, points, is_fit in plan.capped:
        counts = aggregates[position[column]]
        parts[is_fit].append([min(c or 0, limit) * points for c in counts])
    now = planner.now
    for last, period, cutoff, repeat, points, is_fit in plan.inactivity:
        if last is None:
            since: Sequence[Any] = created
        else:
            since = [
                c if a is None else a
                for a, c in zip(aggregates[position[last]], created, strict=True)
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
        parts[is_fit].append(added)
    model = plan.model
    fit = _add_up(parts[True], 0, size)
    engagement = _add_up(parts[False], 0, size)
    totals = list(map(operator.add, fit, engagement))
    floor, cap = model.floor, model.cap
    if floor is not None and size and min(totals) < floor:
        totals = [floor if t < floor else t for t in totals]
    if cap is not None and size and max(totals) > cap:
        totals = [cap if t > cap else t for t in totals]
    excluded = static.excluded
    # Unscorable and excluded leads score 0 everywhere (the engine's _not_scored).
    for i in static.dropped:
        totals[i] = fit[i] = engagement[i] = 0
    return _ModelTotals(totals, fit, engagement, excluded)


def _dropped(scorable: Sequence[bool], excluded: Sequence[bool]) -> list[int]:
    """The leads that are unscorable or excluded (a few, usually)."""
    compress = itertools.compress
    out = set(compress(range(len(scorable)), map(operator.not_, scorable)))
    out.update(compress(range(len(excluded)), excluded))
    return sorted(out)


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
    *,
    parallel_reads: bool = False,
) -> BulkResult:
    """Re-score every lead with ``models`` (the first is the primary) inside the caller's
    transaction, leaving ``lead_scores``, ``score_history`` and the leads' list score and
    stars exactly as the per-lead path over every lead would.

    ``progress(done, total)`` returning False raises ``RescoreCancelled`` before anything
    is written; nothing is committed here, so the caller's rollback keeps the old scores.

    ``parallel_reads=True`` lets extra read-only connections aggregate the activities on
    the other core while the caller's connection reads the leads. Those connections see
    the last committed state, not the caller's transaction, so pass True only when the
    transaction has not changed ``activities`` (a model edit, the daily re-score); an
    import, which re-scores inside the transaction that wrote the rows, must not. It is
    used only while the transaction holds SQLite's write lock (see ``_parallel_file``),
    otherwise ignored.
    """
    if not models:
        leads = int(session.scalar(select(func.count(Lead.id))) or 0)
        return BulkResult(leads, 0, [])
    scored_models = [m.model if m.model.active else replace(m.model, active=True) for m in models]
    try:
        scored = _score_all(
            session, scored_models, [m.id for m in models], now, progress, parallel_reads
        )
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
    at = sqlite_datetime(now)
    score_rows: list[tuple[object, ...]] = []
    history_rows: list[tuple[object, ...]] = []
    touched: set[int] = set()
    lead_ids = scored.lead_ids
    for active, new, old in zip(models, scored.results, scored.stored, strict=True):
        o_score, o_fit, o_engagement, o_excluded = old
        # A lead without a stored row has None there, which no new score equals.
        differ = _differing(
            len(lead_ids),
            [
                (new.total, o_score, None),
                (new.fit, o_fit, None),
                (new.engagement, o_engagement, None),
                (new.excluded, o_excluded, bool),
            ],
        )
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
    listed = _differing(
        len(lead_ids),
        [(primary, scored.list_score, None), (new_stars, scored.list_stars, None)],
        scored.never_scored,
    )
    lead_updates = [(primary[i], new_stars[i], at, lead_ids[i]) for i in listed]
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


#: Leads per block that ``_differing`` compares at once.
_BLOCK = 512


def _differing(
    size: int,
    pairs: Sequence[tuple[Sequence[Any], Sequence[Any], Callable[[Any], Any] | None]],
    flags: Sequence[Any] = (),
) -> list[int]:
    """The positions, ascending, where ``new != convert(old)`` for any (new, old, convert)
    column pair, or where ``flags`` is true. Every column holds ``size`` values.

    A daily re-score changes a lead in a hundred: blocks of leads are compared as list
    slices (in C, equal elements skipped at C speed) and only the blocks that differ are
    looked at lead by lead. A block the slices call equal is equal after ``convert`` too
    (``convert`` is ``bool`` on the stored flag, and ``new == old`` for a boolean ``new``
    implies ``new == bool(old)``).
    """
    found: set[int] = set()
    compress, ne = itertools.compress, operator.ne
    for new, old, convert in pairs:
        for start in range(0, size, _BLOCK):
            stop = min(start + _BLOCK, size)
            fresh, stale = new[start:stop], old[start:stop]
            if fresh != stale:
                before = stale if convert is None else map(convert, stale)
                found.update(compress(range(start, stop), map(ne, fresh, before)))
    found.update(compress(range(size), flags))
    return sorted(found)


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

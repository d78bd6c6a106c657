"""Which record a file row is: match keys, strategies, and folding duplicate rows together.

A strategy is an ordered list of alternatives, each a tuple of fields that must all be
equal (a composite key): accounts are matched by domain, else by name; contacts by
e-mail; leads by (contact, topic). The first alternative that finds a record wins, so a
row with a domain never falls back to a same-named company on another domain unless no
record has that domain.

Values are compared the way people mean them: e-mail and domain through the same
normalisation the forms use, other text case-insensitively with runs of spaces collapsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leaddesk.domain.validation import normalise_domain, normalise_email

MatchKey = tuple[str, ...]
MatchSpec = tuple[tuple[str, ...], ...]

DEFAULT_MATCH: dict[str, MatchSpec] = {
    "accounts": (("domain",), ("name",)),
    "contacts": (("email",),),
    "leads": (("email", "topic"), ("account", "topic")),
    "activities": (("email", "type", "occurred_at"),),
    "scores": (("lead", "model"),),
}

MATCHABLE: dict[str, frozenset[str]] = {
    "accounts": frozenset({"name", "domain", "industry", "country", "state", "city", "employees"}),
    "contacts": frozenset(
        {
            "email",
            "first_name",
            "last_name",
            "phone",
            "job_title",
            "department",
            "country",
            "state",
            "city",
            "source",
        }
    ),
    "leads": frozenset({"email", "account", "topic", "source"}),
}
"""Fields a user may build a strategy from; activities and external scores have one
fixed identity (contact, type, time / lead, model) and are not configurable."""

OPTIONAL_KEY_PARTS: dict[str, frozenset[str]] = {"leads": frozenset({"topic", "source"})}
"""Key parts that may be empty: a lead's topic defaults to "", and "" is a topic."""


class MatchSpecError(ValueError):
    pass


def parse_match(texts: Sequence[str], record_type: str) -> MatchSpec:
    """``["domain", "name"]`` (two alternatives) or ``["first_name,last_name"]`` (one
    composite key) → a strategy; every field must be one the record type can match on."""
    allowed = MATCHABLE.get(record_type)
    if allowed is None:
        raise MatchSpecError(
            f"{record_type} are always matched by {', '.join(DEFAULT_MATCH[record_type][0])}"
        )
    spec: list[tuple[str, ...]] = []
    for text in texts:
        fields = tuple(f.strip() for f in text.split(",") if f.strip())
        if not fields:
            continue
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise MatchSpecError(
                f"cannot match {record_type} on {', '.join(unknown)} "
                f"(choose from {', '.join(sorted(allowed))})"
            )
        spec.append(fields)
    if not spec:
        raise MatchSpecError("give at least one field to match on")
    return tuple(spec)


def describe_match(spec: MatchSpec) -> str:
    return ", else ".join(" + ".join(alt) for alt in spec)


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def key_part(field_name: str, value: object) -> str:
    """One field's contribution to a key: what makes two spellings the same record."""
    if value is None:
        return ""
    if type(value) is str:
        if field_name == "email":
            return normalise_email(value)
        if field_name in ("domain", "account_domain"):
            return normalise_domain(value)
        return " ".join(value.casefold().split())
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if field_name == "email":
        return normalise_email(text)
    if field_name in ("domain", "account_domain"):
        return normalise_domain(text)
    return " ".join(text.casefold().split())


def match_key(
    values: Mapping[str, object],
    fields: Sequence[str],
    optional: frozenset[str] = frozenset(),
) -> MatchKey | None:
    """The composite key of these fields, or None when a required part is empty (a row
    without a domain cannot be matched by domain)."""
    parts = []
    for name in fields:
        part = key_part(name, values.get(name))
        if not part and name not in optional:
            return None
        parts.append(part)
    return tuple(parts)


def match_keys(
    values: Mapping[str, object], spec: MatchSpec, optional: frozenset[str] = frozenset()
) -> list[MatchKey | None]:
    return [match_key(values, alt, optional) for alt in spec]


def merge_values(
    base: Mapping[str, Any], update: Mapping[str, Any], *, blank_overwrites: bool = False
) -> dict[str, Any]:
    """A later row over an earlier one (or over the stored record): non-empty values
    override, empty ones never blank a field unless the user asked for that. Mappings
    (custom fields, activity properties) merge key by key under the same rule."""
    out = dict(base)
    for name, value in update.items():
        kind = type(value)
        # Exact built-in types first: ``isinstance(value, Mapping)`` is an ABC check,
        # and an import runs this for every field of every row that updates a record.
        if kind is str:
            if value.strip():
                out[name] = value
            elif blank_overwrites:
                out[name] = None
            continue
        if value is None:
            if blank_overwrites:
                out[name] = None
            continue
        if kind is dict or (kind not in _SCALARS and isinstance(value, Mapping)):
            current = out.get(name)
            merged = merge_values(
                current if isinstance(current, Mapping) else {},
                value,
                blank_overwrites=blank_overwrites,
            )
            # A custom field the file blanks is removed, not kept as an empty value.
            for key, item in value.items():
                if blank_overwrites and is_empty(item):
                    merged.pop(key, None)
            out[name] = merged
        elif not is_empty(value):
            out[name] = value
        elif blank_overwrites:
            out[name] = None
    return out


def changed_fields(existing: Mapping[str, Any], merged: Mapping[str, Any]) -> dict[str, Any]:
    """The fields whose merged value differs from what is stored (an update that changes
    nothing is reported as skipped, and writes nothing)."""
    return {
        name: value
        for name, value in merged.items()
        if name in existing and not _same(existing[name], value)
    }


_SCALARS = frozenset({int, float, bool, datetime})
"""Exact types that are never mappings (str and None are dealt with before)."""


def _same(a: object, b: object) -> bool:
    if type(a) is str and type(b) is str:  # the common case, before the isinstance checks
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return dict(a) == dict(b)
    return a == b


@dataclass(eq=False)
class PendingRecord:
    """One record a chunk of rows will create or update, with every row folded into it."""

    values: dict[str, Any]
    lines: list[int]
    existing_id: int | None = None
    keys: list[MatchKey | None] = field(default_factory=list)


def _own(values: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values as the record's own: a plain dict is taken as it is (the caller
    hands over a fresh one per row), anything else is copied."""
    return values if type(values) is dict else dict(values)


ExistingLookup = Callable[[int, MatchKey], int | None]
StoredKeys = Callable[[int], Sequence[MatchKey | None]]


def conflicts(
    row_keys: Sequence[MatchKey | None], other_keys: Sequence[MatchKey | None], upto: int
) -> bool:
    """Whether two records disagree on an earlier alternative of the strategy: a row on
    domain ``b.com`` must not fall back to the same-named company on ``a.com``."""
    for mine, theirs in zip(row_keys[:upto], other_keys[:upto], strict=False):
        if mine is not None and theirs is not None and mine != theirs:
            return True
    return False


class RowMerger:
    """Folds the rows of a chunk into records: a row joins an earlier row of the chunk or
    a stored record when the first alternative of the strategy that has a key finds one
    that does not contradict it on an earlier alternative.

    Stored records come from ``existing(alternative_index, key)`` and their keys from
    ``stored_keys(id)``, which the service answers from bulk lookups, so this stays free
    of SQL.
    """

    def __init__(
        self,
        spec: MatchSpec,
        *,
        blank_overwrites: bool = False,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self.spec = spec
        self.blank_overwrites = blank_overwrites
        self.optional = optional
        self.records: list[PendingRecord] = []
        self._by_key: list[dict[MatchKey, list[PendingRecord]]] = [{} for _ in spec]
        self._by_existing: dict[int, PendingRecord] = {}
        # One alternative of one field (contacts by e-mail): the common case, kept cheap.
        single = len(spec) == 1 and len(spec[0]) == 1 and spec[0][0] not in optional
        self._single: str | None = spec[0][0] if single else None

    def add(
        self,
        values: Mapping[str, Any],
        line: int,
        existing: ExistingLookup,
        stored_keys: StoredKeys | None = None,
    ) -> tuple[PendingRecord, bool]:
        """Returns the record the row went into and whether it joined an earlier row."""
        if self._single is not None:
            return self._add_single(values, line, existing)
        keys = match_keys(values, self.spec, self.optional)
        target: PendingRecord | None = None
        for index, key in enumerate(keys):
            if key is None:
                continue
            for candidate in self._by_key[index].get(key, ()):
                if not conflicts(keys, candidate.keys, index):
                    target = candidate
                    break
            if target is not None:
                break
            found = existing(index, key)
            if found is not None and (
                index == 0 or stored_keys is None or not conflicts(keys, stored_keys(found), index)
            ):
                target = self._by_existing.get(found)
                if target is None:
                    target = PendingRecord(_own(values), [line], existing_id=found)
                    self._by_existing[found] = target
                    self.records.append(target)
                    self._register(target, keys)
                    return target, False
                break
        if target is None:
            target = PendingRecord(_own(values), [line])
            self.records.append(target)
            self._register(target, keys)
            return target, False
        target.values = merge_values(target.values, values, blank_overwrites=self.blank_overwrites)
        target.lines.append(line)
        self._register(target)
        return target, True

    def _add_single(
        self, values: Mapping[str, Any], line: int, existing: ExistingLookup
    ) -> tuple[PendingRecord, bool]:
        """``add`` for a strategy of one field (contacts by e-mail, the common case, a
        row per contact): the same steps without the loops over alternatives. With one
        alternative there is no earlier one to conflict on, so the first record of the
        chunk under the key, else the stored record, is the row's record."""
        assert self._single is not None
        part = key_part(self._single, values.get(self._single))
        key: MatchKey | None = (part,) if part else None
        target: PendingRecord | None = None
        if key is not None:
            bucket = self._by_key[0].get(key)
            if bucket:
                target = bucket[0]
            else:
                found = existing(0, key)
                if found is not None:
                    target = self._by_existing.get(found)
                    if target is None:
                        target = PendingRecord(_own(values), [line], existing_id=found)
                        self._by_existing[found] = target
                        self.records.append(target)
                        self._register(target, [key])
                        return target, False
        if target is None:
            target = PendingRecord(_own(values), [line])
            self.records.append(target)
            self._register(target, [key])
            return target, False
        target.values = merge_values(target.values, values, blank_overwrites=self.blank_overwrites)
        target.lines.append(line)
        self._register(target)
        return target, True

    def _register(self, record: PendingRecord, keys: list[MatchKey | None] | None = None) -> None:
        """Index a record under each of its keys. A new record (``keys`` given) cannot be
        in any bucket yet; a merged one may already be."""
        fresh = keys is not None
        record.keys = (
            keys if keys is not None else match_keys(record.values, self.spec, self.optional)
        )
        for index, key in enumerate(record.keys):
            if key is None:
                continue
            bucket = self._by_key[index].get(key)
            if bucket is None:
                self._by_key[index][key] = [record]
            elif fresh or not any(r is record for r in bucket):
                bucket.append(record)

"""Condition trees: the "when" of scoring rules and a model's exclusions (DESIGN §3, §3.1).

A condition is a tree of frozen dataclasses, so it can be built once (from a file or the
UI's condition builder), shared between threads and compared for equality in tests.

Semantics, chosen so that rules written by marketers behave the way they read:

* **Text** compares case-insensitively and trimmed, on both sides: ``" ceo "`` equals
  ``"CEO"``.
* **Missing facts.** A fact that is absent, ``None`` or a blank string counts as *missing*
  (a cleared form field may be stored either way, and they must behave alike). On a missing
  fact every positive operator (``eq in contains starts_with gt gte lt lte between
  is_set``) is false and every negative one (``ne not_in not_contains is_not_set``) is
  true. Each negative operator is exactly the complement of its positive twin, so
  ``{"not": {"field": f, "op": "eq", ...}}`` and ``{"field": f, "op": "ne", ...}`` never
  disagree.
* **Numbers** compare numerically; a numeric string fact (``"30"``, as CSV imports
  produce) is coerced. A value that cannot be compared makes the leaf false - a rule must
  never take scoring down because one contact has ``employees = "lots"``.
* **Booleans.** ``eq true`` matches ``True`` and the strings ``true yes y on 1`` (and
  ``eq false`` the strings ``false no n off 0``), because imported CSV files spell
  booleans many ways.
* **Dates.** ``datetime``/``date`` objects and ISO 8601 strings compare as datetimes for
  the ordering operators. Aware datetimes are converted to UTC and naive ones are taken
  to be UTC already, so mixing them never raises.
* **Collections.** A fact holding a list (tags, say) ``contains`` a value when one of its
  items equals it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "FieldType",
    "Leaf",
    "Not",
    "OperatorSpec",
    "ValueShape",
    "describe",
    "evaluate",
    "field_label",
    "first_match",
    "leaf_value_problem",
    "number_from_text",
    "operators_for",
]


class ValueShape(StrEnum):
    """What a leaf's ``value`` must look like for an operator."""

    NONE = "none"
    SCALAR = "scalar"
    LIST = "list"
    PAIR = "pair"


class FieldType(StrEnum):
    """Kinds of field the UI's condition builder distinguishes."""

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"


@dataclass(frozen=True)
class OperatorSpec:
    """Metadata that lets the condition builder offer only operators that fit a field."""

    key: str
    label: str
    shape: ValueShape
    field_types: frozenset[FieldType]
    negative: bool  # true when the operator holds on a missing fact


_ALL_TYPES = frozenset(FieldType)
_TEXT = frozenset({FieldType.TEXT})
_TEXT_NUM = frozenset({FieldType.TEXT, FieldType.NUMBER})
_ORDERED = frozenset({FieldType.NUMBER, FieldType.DATE})

OPERATORS: Mapping[str, OperatorSpec] = {
    spec.key: spec
    for spec in (
        OperatorSpec("eq", "is", ValueShape.SCALAR, _ALL_TYPES, False),
        OperatorSpec("ne", "is not", ValueShape.SCALAR, _ALL_TYPES, True),
        OperatorSpec("in", "is one of", ValueShape.LIST, _TEXT_NUM, False),
        OperatorSpec("not_in", "is not one of", ValueShape.LIST, _TEXT_NUM, True),
        OperatorSpec("contains", "contains", ValueShape.SCALAR, _TEXT, False),
        OperatorSpec("not_contains", "does not contain", ValueShape.SCALAR, _TEXT, True),
        OperatorSpec("starts_with", "starts with", ValueShape.SCALAR, _TEXT, False),
        OperatorSpec("gt", ">", ValueShape.SCALAR, _ORDERED, False),
        OperatorSpec("gte", ">=", ValueShape.SCALAR, _ORDERED, False),
        OperatorSpec("lt", "<", ValueShape.SCALAR, _ORDERED, False),
        OperatorSpec("lte", "<=", ValueShape.SCALAR, _ORDERED, False),
        OperatorSpec("between", "is between", ValueShape.PAIR, _ORDERED, False),
        OperatorSpec("is_set", "is set", ValueShape.NONE, _ALL_TYPES, False),
        OperatorSpec("is_not_set", "is not set", ValueShape.NONE, _ALL_TYPES, True),
    )
}

_ORDERING_OPS = frozenset({"gt", "gte", "lt", "lte", "between"})


def operators_for(field_type: FieldType) -> list[OperatorSpec]:
    """The operators that make sense for a field of this type, in display order."""
    return [spec for spec in OPERATORS.values() if field_type in spec.field_types]


# --------------------------------------------------------------------------- coercions

_TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "off", "0"})

Number: TypeAlias = int | float | Decimal


def _norm_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat().casefold()
    return str(value).strip().casefold()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _as_number(value: object) -> Number | None:
    """A finite number for ``value``, or None when it is not (safely) numeric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        return number_from_text(value)
    return None


def number_from_text(text: str) -> int | float | None:
    """The number a person typed, or None: the condition builder reads its value boxes
    with this, so a value it accepts is one the engine compares numerically."""
    text = text.strip()
    # int() and float() accept "1_000"; nobody types that meaning a thousand.
    if not text or "_" in text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_datetime(value: object) -> datetime | None:
    """A naive UTC datetime for ``value`` so that aware and naive values can be compared."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        # Bare numbers ("2024", "20240101") are numbers first; dates need a separator.
        if len(text) < 8 or "-" not in text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        offset = moment.utcoffset()
        if offset is None:
            return moment.replace(tzinfo=None)
        try:
            return moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return None
    return moment


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        if value == 1:
            return True
        if value == 0:
            return False
        return None
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE_WORDS:
            return True
        if text in _FALSE_WORDS:
            return False
    return None


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return not value.strip()
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value) == 0
    return False


@dataclass(frozen=True, slots=True)
class _Operand:
    """A rule-side value converted once, so evaluation does no parsing per lead."""

    raw: object
    text: str
    number: Number | None
    moment: datetime | None
    boolean: bool | None

    @classmethod
    def of(cls, raw: object) -> _Operand:
        return cls(raw, _norm_text(raw), _as_number(raw), _as_datetime(raw), _as_bool(raw))


def _equals(fact: object, operand: _Operand) -> bool:
    raw = operand.raw
    if type(fact) is str and type(raw) is str:  # the common case, first
        return fact.strip().casefold() == operand.text
    if isinstance(raw, bool) or isinstance(fact, bool):
        fact_bool = _as_bool(fact)
        return fact_bool is not None and fact_bool == operand.boolean
    if _is_number(raw) or _is_number(fact):
        fact_number = _as_number(fact)
        return (
            fact_number is not None and operand.number is not None and fact_number == operand.number
        )
    if isinstance(raw, date) or isinstance(fact, date):
        fact_moment = _as_datetime(fact)
        return fact_moment is not None and fact_moment == operand.moment
    return _norm_text(fact) == operand.text


def _compare(fact: object, operand: _Operand) -> int | None:
    """-1, 0 or 1 as ``fact`` is below, at or above ``operand``; None if incomparable."""
    if operand.number is not None:
        fact_number = _as_number(fact)
        if fact_number is None:
            return None
        return (fact_number > operand.number) - (fact_number < operand.number)
    if operand.moment is not None:
        fact_moment = _as_datetime(fact)
        if fact_moment is None:
            return None
        return (fact_moment > operand.moment) - (fact_moment < operand.moment)
    return None


def _contains(fact: object, operand: _Operand) -> bool:
    if isinstance(fact, list | tuple | set | frozenset):
        return any(_equals(item, operand) for item in fact)
    return operand.text in _norm_text(fact)


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Leaf:
    """``field op value``. Lists are stored as tuples so that leaves stay hashable."""

    field: str
    op: str
    value: object = None
    _operands: tuple[_Operand, ...] = dataclass_field(
        init=False, repr=False, compare=False, hash=False, default=()
    )
    _negative: bool = dataclass_field(
        init=False, repr=False, compare=False, hash=False, default=False
    )

    def __post_init__(self) -> None:
        spec = OPERATORS.get(self.op)
        if spec is None:
            raise ValueError(f"unknown operator {self.op!r}")
        value = self.value
        if isinstance(value, list):
            value = tuple(value)
            object.__setattr__(self, "value", value)
        if isinstance(value, tuple):
            operands = tuple(_Operand.of(item) for item in value)
        elif spec.shape is ValueShape.NONE:
            operands = ()
        else:
            operands = (_Operand.of(value),)
        object.__setattr__(self, "_operands", operands)
        object.__setattr__(self, "_negative", spec.negative)


@dataclass(frozen=True)
class AllOf:
    """Holds when every item holds (an empty ``all`` always holds)."""

    items: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if isinstance(self.items, list):
            object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class AnyOf:
    """Holds when at least one item holds (an empty ``any`` never holds)."""

    items: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if isinstance(self.items, list):
            object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class Not:
    item: Condition


Condition: TypeAlias = Leaf | AllOf | AnyOf | Not


def _positive(leaf: Leaf, fact: object) -> bool:
    """The positive twin of ``leaf.op`` on a present fact."""
    op = leaf.op
    operands = leaf._operands
    if op in ("eq", "ne"):
        return _equals(fact, operands[0])
    if op in ("in", "not_in"):
        return any(_equals(fact, operand) for operand in operands)
    if op in ("contains", "not_contains"):
        return _contains(fact, operands[0])
    if op == "starts_with":
        return _norm_text(fact).startswith(operands[0].text)
    if op in ("is_set", "is_not_set"):
        return True
    if op == "between":
        if len(operands) != 2:
            return False
        low = _compare(fact, operands[0])
        high = _compare(fact, operands[1])
        return low is not None and high is not None and low >= 0 and high <= 0
    if not operands:
        return False
    order = _compare(fact, operands[0])
    if order is None:
        return False
    if op == "gt":
        return order > 0
    if op == "gte":
        return order >= 0
    if op == "lt":
        return order < 0
    return order <= 0  # lte


def _evaluate_leaf(leaf: Leaf, facts: Mapping[str, object]) -> bool:
    negative = leaf._negative
    try:
        fact = facts.get(leaf.field)
        if _is_missing(fact):
            return negative
        return _positive(leaf, fact) != negative
    except Exception:  # one odd fact (a broken __str__, say) must not stop a re-score
        return False


def evaluate(cond: Condition, facts: Mapping[str, object]) -> bool:
    """Whether ``cond`` holds for ``facts``; never raises, whatever the fact values."""
    if isinstance(cond, Leaf):
        return _evaluate_leaf(cond, facts)
    if isinstance(cond, AllOf):
        return all(evaluate(item, facts) for item in cond.items)
    if isinstance(cond, AnyOf):
        return any(evaluate(item, facts) for item in cond.items)
    return not evaluate(cond.item, facts)


def first_match(cond: Condition, facts: Mapping[str, object]) -> Condition | None:
    """The most specific part of ``cond`` that makes it hold, or None when it does not.

    An explanation should name the reason a lead was excluded, not repeat the whole
    exclusion list: for ``any`` that is the first item that holds (recursively); for
    ``all`` and ``not`` every part is needed, so the condition itself is the reason.
    """
    if isinstance(cond, AnyOf):
        for item in cond.items:
            found = first_match(item, facts)
            if found is not None:
                return found
        return None
    return cond if evaluate(cond, facts) else None


# --------------------------------------------------------------------------- validation


def _comparable_kind(value: object) -> str | None:
    """ "number" or "date" when an ordering operator can use ``value``, else None."""
    if isinstance(value, bool):
        return None
    if _as_number(value) is not None:
        return "number"
    if isinstance(value, datetime | date | str) and _as_datetime(value) is not None:
        return "date"
    return None


def _is_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, str | int | datetime | date)


def leaf_value_problem(op: str, value: object) -> str | None:
    """Why ``value`` does not suit ``op``, or None when it does.

    Lives here, beside the semantics, so that the file parser and the condition builder
    reject exactly the same leaves.
    """
    spec = OPERATORS.get(op)
    if spec is None:
        return f"unknown operator {op!r}; expected one of {', '.join(OPERATORS)}"
    if spec.shape is ValueShape.NONE:
        return None if value is None else f"{op} takes no value"
    if spec.shape is ValueShape.LIST:
        if not isinstance(value, list | tuple):
            return f"{op} needs a list of values"
        if not value:
            return f"{op} needs at least one value"
        for item in value:
            if not _is_scalar(item):
                return f"{op} values must be text, numbers or booleans"
            if isinstance(item, str) and not item.strip():
                return f"{op} values must not be blank"
        return None
    if spec.shape is ValueShape.PAIR:
        if not isinstance(value, list | tuple) or len(value) != 2:
            return f"{op} needs a list of exactly two values [low, high]"
        low, high = value
        kinds = (_comparable_kind(low), _comparable_kind(high))
        if None in kinds:
            return f"{op} needs two numbers or two ISO dates"
        if kinds[0] != kinds[1]:
            return f"{op} needs two values of the same kind (both numbers or both dates)"
        if _compare(low, _Operand.of(high)) == 1:
            return f"{op} needs the low value first"
        return None
    if value is None:
        hint = "; use is_set/is_not_set for a missing field" if op in ("eq", "ne") else ""
        return f"{op} needs a value{hint}"
    if isinstance(value, list | tuple):
        hint = "; use in/not_in for a list" if op in ("eq", "ne") else ""
        return f"{op} needs a single value, not a list{hint}"
    if not _is_scalar(value):
        return f"{op} needs text, a number or a boolean"
    if isinstance(value, str) and not value.strip():
        return f"{op} needs a value that is not blank; use is_set/is_not_set instead"
    if op in _ORDERING_OPS and _comparable_kind(value) is None:
        return f"{op} needs a number or an ISO date, got {value!r}"
    if op in ("contains", "not_contains", "starts_with") and isinstance(value, bool):
        return f"{op} needs text"
    return None


# --------------------------------------------------------------------------- describe


def field_label(name: str) -> str:
    """Readable words for a field key: ``contact.job_title`` is just "job title".

    The contact is the subject of most rules, so its prefix is dropped; account and lead
    fields keep theirs so "account employees" is not mistaken for a contact field.
    """
    prefix, dot, rest = name.partition(".")
    if dot and prefix == "contact":
        return rest.replace("_", " ")
    if dot and prefix in ("account", "lead"):
        return f"{prefix} {rest.replace('_', ' ')}"
    return name.replace("_", " ")


def _format_value(value: object, quoted: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return f'"{value}"' if quoted else value
    return str(value)


_FLAG_WORDS = {
    "is_employee": "an employee",
    "is_customer": "a customer",
}


def _flag_words(cond: Leaf) -> str | None:
    """Yes/no fields read as sentences: "is a customer", "is not an employee", "is
    subscribed to e-mail" rather than "is customer is true"."""
    if cond.op not in ("eq", "ne") or not isinstance(cond.value, bool):
        return None
    prefix, _, name = cond.field.rpartition(".")
    positive = cond.value if cond.op == "eq" else not cond.value
    owner = "" if prefix in ("", "contact") else f"{prefix} "
    if name in _FLAG_WORDS:
        return f"{owner}is {'' if positive else 'not '}{_FLAG_WORDS[name]}"
    if name == "email_subscribed":
        return f"{owner}is {'' if positive else 'not '}subscribed to e-mail"
    return None


def describe(cond: Condition) -> str:
    """Readable words for ``cond``, as shown in the rule table and in explanations."""
    if isinstance(cond, AllOf):
        if not cond.items:
            return "always"
        return "all of (" + " and ".join(describe(item) for item in cond.items) + ")"
    if isinstance(cond, AnyOf):
        if not cond.items:
            return "never"
        return "any of (" + " or ".join(describe(item) for item in cond.items) + ")"
    if isinstance(cond, Not):
        return f"not ({describe(cond.item)})"
    spec = OPERATORS[cond.op]
    subject = field_label(cond.field)
    value = cond.value
    flag = _flag_words(cond)
    if flag is not None:
        return flag
    if spec.shape is ValueShape.NONE:
        return f"{subject} {spec.label}"
    if spec.shape is ValueShape.LIST and isinstance(value, tuple):
        return f"{subject} {spec.label} " + ", ".join(_format_value(v, False) for v in value)
    if spec.shape is ValueShape.PAIR and isinstance(value, tuple) and len(value) == 2:
        low, high = (_format_value(v, False) for v in value)
        return f"{subject} {spec.label} {low} and {high}"
    quoted = cond.op in ("contains", "not_contains", "starts_with")
    return f"{subject} {spec.label} {_format_value(value, quoted)}"

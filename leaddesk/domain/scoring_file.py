"""The ``leaddesk.scoring/1`` file format (DESIGN §3.1): validation, parsing and dumping.

Teams keep these files under version control and edit them by hand, so the parser is
strict and talkative: a file is accepted whole or rejected whole, and a rejection lists
*every* problem with its JSON path (``$.models[0].rules[3].when.any[1].op``) rather than
stopping at the first. Unknown keys are refused, because a misspelt
``expire_after_days`` that passed silently would give points that never expire.

What the parser accepts is exactly what ``dump_document`` writes back:
``parse_document(dump_document(models)) == models`` for every list it returns. Optional
keys holding their default are left out of dumps so that files stay tidy and diffs small;
``floor`` and ``cap`` are always written, as in the DESIGN example, because their
defaults are the ones a reader is most likely to misremember.

Parsing (and not just dumping) lives here rather than beside the conditions so that all
knowledge of the JSON shape sits in one module; what value an operator takes is asked of
:func:`leaddesk.domain.conditions.leaf_value_problem`, so the UI's condition builder and
this parser can never disagree.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from leaddesk.domain.activity_types import normalise_type_key
from leaddesk.domain.conditions import (
    OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    leaf_value_problem,
)
from leaddesk.domain.scoring import (
    ACTIVITY,
    ENGAGEMENT,
    FIT,
    GROUPS,
    INACTIVITY,
    PROPERTY,
    RULE_KINDS,
    Rule,
    ScoringModel,
)

__all__ = [
    "FORMAT",
    "Problem",
    "ScoringFileError",
    "condition_to_json",
    "dump_document",
    "dump_text",
    "load_text",
    "parse_condition",
    "parse_document",
]

FORMAT = "leaddesk.scoring/1"

#: Deeper condition trees are refused: nobody writes them by hand, and refusing them keeps
#: a hostile file from exhausting the stack.
MAX_CONDITION_DEPTH = 32

_TOP_KEYS = ("format", "models")
_MODEL_KEYS = (
    "name",
    "active",
    "sales_ready_at",
    "threshold_tag",
    "floor",
    "cap",
    "exclude",
    "rules",
)
_ACTIVITY_KEYS = ("activity", "expires_after_days", "max_times")
_INACTIVITY_KEYS = ("days", "repeat", "activity_types")
_RULE_KEYS = ("kind", "name", "group", "points", *_ACTIVITY_KEYS, *_INACTIVITY_KEYS, "when")
_LEAF_KEYS = ("field", "op", "value")
_COMBINATORS = ("all", "any", "not")
_LEAD_PREFIXES = ("contact.", "account.", "lead.")


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ScoringFileError(Exception):
    """A scoring file that does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        heading = f"invalid scoring file ({count} problem{'s' if count != 1 else ''})"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the keys it had more than once."""

    duplicate_keys: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates: list[str] = []
        for key, _ in pairs:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen.add(key)
        obj.duplicate_keys = tuple(duplicates)
    return obj


def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(str(key))}]"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path, reason))

    # ----------------------------------------------------------------- generic helpers

    def object_keys(self, data: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> None:
        for key in getattr(data, "duplicate_keys", ()):
            self.problem(_child(path, key), "key appears more than once")
        for key in data:
            if key in allowed:
                continue
            reason = f"unknown key {key!r}"
            if isinstance(key, str):
                close = difflib.get_close_matches(key, allowed, n=1)
                if close:
                    reason += f" (did you mean {close[0]!r}?)"
            self.problem(_child(path, key), reason)

    def text(self, data: Mapping[Any, Any], key: str, path: str, *, required: bool) -> str | None:
        where = _child(path, key)
        if key not in data:
            if required:
                self.problem(where, "missing")
            return None
        value = data[key]
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.problem(where, f"must be text, not {_type_name(value)}")
            return None
        if not value.strip():
            self.problem(where, "must not be blank")
            return None
        return value

    def integer(
        self,
        data: Mapping[Any, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        minimum: int | None = None,
    ) -> int | None:
        where = _child(path, key)
        if key not in data:
            if required:
                self.problem(where, "missing")
            return None
        value = data[key]
        if value is None and not required:
            return None
        if not _is_int(value):
            self.problem(where, f"must be a whole number, not {_type_name(value)}")
            return None
        assert isinstance(value, int)
        if minimum is not None and value < minimum:
            self.problem(where, f"must be at least {minimum}")
            return None
        return value

    def boolean(self, data: Mapping[Any, Any], key: str, path: str, default: bool) -> bool:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.problem(_child(path, key), f"must be true or false, not {_type_name(value)}")
            return default
        return value

    def type_key(self, value: object, where: str) -> str | None:
        if not isinstance(value, str):
            self.problem(where, f"must be an activity type key, not {_type_name(value)}")
            return None
        if not value.strip():
            self.problem(where, "must not be blank")
            return None
        if normalise_type_key(value) != value:
            self.problem(
                where,
                f"activity type keys are lower-case snake_case: "
                f"{normalise_type_key(value)!r}, not {value!r}",
            )
            return None
        return value

    # ----------------------------------------------------------------- conditions

    def condition(self, data: object, path: str, context: str, depth: int = 1) -> Condition | None:
        if depth > MAX_CONDITION_DEPTH:
            self.problem(path, f"conditions nested more than {MAX_CONDITION_DEPTH} deep")
            return None
        if not isinstance(data, dict):
            self.problem(
                path,
                'a condition must be an object: {"field", "op", "value"} or '
                f'{{"all": [...]}} / {{"any": [...]}} / {{"not": {{...}}}}, '
                f"not {_type_name(data)}",
            )
            return None
        combinators = [key for key in _COMBINATORS if key in data]
        if not combinators:
            return self.leaf(data, path, context)
        for key in getattr(data, "duplicate_keys", ()):
            self.problem(_child(path, key), "key appears more than once")
        combinator = combinators[0]
        for key in data:
            if key != combinator:
                self.problem(
                    _child(path, key), f"not allowed beside {combinator!r}: one per object"
                )
        where = _child(path, combinator)
        if combinator == "not":
            item = self.condition(data["not"], where, context, depth + 1)
            return None if item is None else Not(item)
        items = data[combinator]
        if not isinstance(items, list):
            self.problem(where, f"must be a list of conditions, not {_type_name(items)}")
            return None
        if not items:
            self.problem(where, "must list at least one condition")
            return None
        parsed = [
            self.condition(item, f"{where}[{i}]", context, depth + 1)
            for i, item in enumerate(items)
        ]
        conditions = tuple(c for c in parsed if c is not None)
        if len(conditions) != len(parsed):
            return None
        return AllOf(conditions) if combinator == "all" else AnyOf(conditions)

    def leaf(self, data: Mapping[Any, Any], path: str, context: str) -> Condition | None:
        before = len(self.problems)
        self.object_keys(data, path, _LEAF_KEYS)
        field_name = self.text(data, "field", path, required=True)
        if field_name is not None:
            where = _child(path, "field")
            if context == "lead" and not (
                field_name.startswith(_LEAD_PREFIXES) and field_name.partition(".")[2].strip()
            ):
                self.problem(
                    where,
                    f"{field_name!r} is not a lead fact: name a contact.*, account.* or "
                    "lead.* field",
                )
            elif context == "activity" and field_name.startswith(_LEAD_PREFIXES):
                self.problem(
                    where,
                    f"{field_name!r}: an activity rule's condition tests the activity's own "
                    "properties (url, campaign, subject, type, ...); use a property rule "
                    "for contact, account or lead fields",
                )
        op = data.get("op")
        op_path = _child(path, "op")
        if "op" not in data:
            self.problem(op_path, "missing")
        elif not isinstance(op, str) or op not in OPERATORS:
            self.problem(
                op_path, f"unknown operator {op!r}; expected one of {', '.join(OPERATORS)}"
            )
        else:
            value = data.get("value")
            reason = _json_value_problem(value) or leaf_value_problem(op, value)
            if reason is not None:
                self.problem(_child(path, "value"), reason)
        if len(self.problems) != before or field_name is None or not isinstance(op, str):
            return None
        return Leaf(field_name, op, data.get("value"))

    # ----------------------------------------------------------------- rules and models

    def rule(self, data: object, path: str) -> Rule | None:
        if not isinstance(data, dict):
            self.problem(path, f"a rule must be an object, not {_type_name(data)}")
            return None
        before = len(self.problems)
        self.object_keys(data, path, _RULE_KEYS)
        kind = data.get("kind")
        if "kind" not in data:
            self.problem(_child(path, "kind"), "missing")
        elif kind not in RULE_KINDS:
            self.problem(
                _child(path, "kind"),
                f"unknown rule kind {kind!r}; expected one of {', '.join(RULE_KINDS)}",
            )
        if kind in RULE_KINDS:
            foreign = {
                PROPERTY: (*_ACTIVITY_KEYS, *_INACTIVITY_KEYS),
                ACTIVITY: _INACTIVITY_KEYS,
                INACTIVITY: (*_ACTIVITY_KEYS, "when"),
            }[kind]
            for key in foreign:
                if key in data:
                    owner = "activity" if key in _ACTIVITY_KEYS else "inactivity"
                    if key == "when":
                        reason = "inactivity rules take no condition"
                    else:
                        reason = f"only allowed in {owner} rules"
                    self.problem(_child(path, key), reason)
        name = self.text(data, "name", path, required=True)
        group: object = data.get("group", FIT if kind == PROPERTY else ENGAGEMENT)
        if group not in GROUPS:
            self.problem(
                _child(path, "group"), f"unknown group {group!r}; expected fit or engagement"
            )
        points = self.integer(data, "points", path, required=True)
        when: Condition | None = None
        if data.get("when") is not None and kind in (PROPERTY, ACTIVITY):
            context = "lead" if kind == PROPERTY else "activity"
            when = self.condition(data["when"], _child(path, "when"), context)
        activity: str | None = None
        days: int | None = None
        activity_types: tuple[str, ...] | None = None
        expires = max_times = None
        repeat = False
        if kind == ACTIVITY:
            where = _child(path, "activity")
            if data.get("activity") is None:
                self.problem(where, "an activity rule needs the activity type it counts")
            else:
                activity = self.type_key(data["activity"], where)
            expires = self.integer(data, "expires_after_days", path, minimum=1)
            max_times = self.integer(data, "max_times", path, minimum=1)
        elif kind == INACTIVITY:
            if data.get("days") is None:
                self.problem(
                    _child(path, "days"), "an inactivity rule needs a positive number of days"
                )
            else:
                days = self.integer(data, "days", path, minimum=1)
            repeat = self.boolean(data, "repeat", path, False)
            activity_types = self.activity_types(data, path)
        if len(self.problems) != before:
            return None
        assert isinstance(kind, str) and isinstance(group, str)
        assert name is not None and points is not None
        return Rule(
            kind=kind,
            name=name,
            group=group,
            points=points,
            when=when,
            activity=activity,
            expires_after_days=expires,
            max_times=max_times,
            days=days,
            repeat=repeat,
            activity_types=activity_types,
        )

    def activity_types(self, data: Mapping[Any, Any], path: str) -> tuple[str, ...] | None:
        value = data.get("activity_types")
        if value is None:
            return None
        where = _child(path, "activity_types")
        if not isinstance(value, list):
            self.problem(where, f"must be a list of activity type keys, not {_type_name(value)}")
            return None
        if not value:
            self.problem(where, "must list at least one type (leave it out for any type)")
            return None
        keys = [self.type_key(item, f"{where}[{i}]") for i, item in enumerate(value)]
        found = tuple(key for key in keys if key is not None)
        return found if len(found) == len(keys) else None

    def model(self, data: object, path: str) -> ScoringModel | None:
        if not isinstance(data, dict):
            self.problem(path, f"a model must be an object, not {_type_name(data)}")
            return None
        before = len(self.problems)
        self.object_keys(data, path, _MODEL_KEYS)
        name = self.text(data, "name", path, required=True)
        active = self.boolean(data, "active", path, True)
        sales_ready_at = self.integer(data, "sales_ready_at", path, minimum=1)
        threshold_tag = self.text(data, "threshold_tag", path, required=False)
        floor = self.integer(data, "floor", path) if "floor" in data else 0
        cap = self.integer(data, "cap", path)
        if floor is not None and cap is not None and floor > cap:
            self.problem(_child(path, "floor"), f"floor {floor} is above cap {cap}")
        if sales_ready_at is not None and cap is not None and sales_ready_at > cap:
            self.problem(
                _child(path, "sales_ready_at"),
                f"threshold {sales_ready_at} is above cap {cap} and could never be reached",
            )
        exclude: Condition | None = None
        if data.get("exclude") is not None:
            exclude = self.condition(data["exclude"], _child(path, "exclude"), "lead")
        rules: list[Rule] = []
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            self.problem(_child(path, "rules"), f"must be a list, not {_type_name(raw_rules)}")
        else:
            for i, item in enumerate(raw_rules):
                rule = self.rule(item, f"{_child(path, 'rules')}[{i}]")
                if rule is not None:
                    rules.append(rule)
        if len(self.problems) != before or name is None:
            return None
        return ScoringModel(
            name=name,
            active=active,
            sales_ready_at=sales_ready_at,
            floor=floor,
            cap=cap,
            exclude=exclude,
            rules=tuple(rules),
            threshold_tag=threshold_tag,
        )

    def document(self, data: object) -> list[ScoringModel]:
        if not isinstance(data, dict):
            self.problem(
                "$",
                f'expected an object {{"format": "{FORMAT}", "models": [...]}}, '
                f"not {_type_name(data)}",
            )
            return []
        self.object_keys(data, "$", _TOP_KEYS)
        if "format" not in data:
            self.problem("$.format", f'missing; expected "{FORMAT}"')
        elif data["format"] != FORMAT:
            self.problem("$.format", f'expected "{FORMAT}", found {data["format"]!r}')
        raw_models = data.get("models")
        if "models" not in data:
            self.problem("$.models", "missing")
            return []
        if not isinstance(raw_models, list):
            self.problem("$.models", f"must be a list, not {_type_name(raw_models)}")
            return []
        models: list[ScoringModel] = []
        first_seen: dict[str, int] = {}
        for i, item in enumerate(raw_models):
            path = f"$.models[{i}]"
            model = self.model(item, path)
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                key = item["name"].strip().casefold()
                if key and key in first_seen:
                    self.problem(
                        f"{path}.name",
                        f"duplicate model name {item['name']!r} (also $.models[{first_seen[key]}])",
                    )
                first_seen.setdefault(key, i)
            if model is not None:
                models.append(model)
        return models


def _json_value_problem(value: object) -> str | None:
    """Refuse values JSON cannot hold, or holds but nobody means (NaN, infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite"
    if isinstance(value, list):
        for item in value:
            if isinstance(item, float) and not math.isfinite(item):
                return "numbers must be finite"
    return None


# --------------------------------------------------------------------------- public API


def parse_condition(data: object, *, activity: bool = False) -> Condition:
    """One condition in its JSON form (as the UI pastes or stores it).

    ``activity`` selects activity-rule conditions, whose fields are the activity's own
    properties rather than ``contact.*``/``account.*``/``lead.*`` fields.
    """
    parser = _Parser()
    cond = parser.condition(data, "$", "activity" if activity else "lead")
    if parser.problems or cond is None:
        raise ScoringFileError(parser.problems or [Problem("$", "not a condition")])
    return cond


def parse_document(data: object) -> list[ScoringModel]:
    """The models of a decoded ``leaddesk.scoring/1`` document.

    Raises :class:`ScoringFileError` listing every problem, and nothing else, whatever
    ``data`` holds.
    """
    parser = _Parser()
    models = parser.document(data)
    if parser.problems:
        raise ScoringFileError(parser.problems)
    return models


def load_text(text: str) -> list[ScoringModel]:
    """The models of a ``leaddesk.scoring/1`` file's text."""
    if text.startswith("\ufeff"):  # Windows editors like to add a byte-order mark
        text = text[1:]
    try:
        data = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as error:
        raise ScoringFileError(
            [
                Problem(
                    "$", f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
                )
            ]
        ) from None
    except RecursionError:
        raise ScoringFileError([Problem("$", "not valid JSON: nested too deeply")]) from None
    except ValueError as error:  # e.g. an integer with more digits than Python allows
        raise ScoringFileError([Problem("$", f"not valid JSON: {error}")]) from None
    return parse_document(data)


def _json_scalar(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def condition_to_json(cond: Condition) -> dict[str, object]:
    if isinstance(cond, AllOf):
        return {"all": [condition_to_json(item) for item in cond.items]}
    if isinstance(cond, AnyOf):
        return {"any": [condition_to_json(item) for item in cond.items]}
    if isinstance(cond, Not):
        return {"not": condition_to_json(cond.item)}
    out: dict[str, object] = {"field": cond.field, "op": cond.op}
    if isinstance(cond.value, tuple):
        out["value"] = [_json_scalar(item) for item in cond.value]
    elif cond.value is not None:
        out["value"] = _json_scalar(cond.value)
    return out


def _rule_to_json(rule: Rule) -> dict[str, object]:
    out: dict[str, object] = {
        "kind": rule.kind,
        "name": rule.name,
        "group": rule.group,
        "points": rule.points,
    }
    if rule.activity is not None:
        out["activity"] = rule.activity
    if rule.expires_after_days is not None:
        out["expires_after_days"] = rule.expires_after_days
    if rule.max_times is not None:
        out["max_times"] = rule.max_times
    if rule.days is not None:
        out["days"] = rule.days
    if rule.repeat:
        out["repeat"] = True
    if rule.activity_types is not None:
        out["activity_types"] = list(rule.activity_types)
    if rule.when is not None:
        out["when"] = condition_to_json(rule.when)
    return out


def _model_to_json(model: ScoringModel) -> dict[str, object]:
    out: dict[str, object] = {
        "name": model.name,
        "active": model.active,
        "sales_ready_at": model.sales_ready_at,
    }
    if model.threshold_tag is not None:
        out["threshold_tag"] = model.threshold_tag
    out["floor"] = model.floor
    out["cap"] = model.cap
    if model.exclude is not None:
        out["exclude"] = condition_to_json(model.exclude)
    out["rules"] = [_rule_to_json(rule) for rule in model.rules]
    return out


def dump_document(models: Iterable[ScoringModel]) -> dict[str, object]:
    """The JSON document for ``models``; everything a model holds is written, so a rule
    carrying a field its kind does not use fails loudly on reading rather than vanishing."""
    return {"format": FORMAT, "models": [_model_to_json(model) for model in models]}


def dump_text(models: Iterable[ScoringModel]) -> str:
    return json.dumps(dump_document(models), indent=2, ensure_ascii=False) + "\n"

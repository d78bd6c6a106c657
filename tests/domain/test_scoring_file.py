"""The leaddesk.scoring/1 format: parsing, every problem with its path, round trips."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaddesk.domain.conditions import OPERATORS, AllOf, AnyOf, Condition, Leaf, Not
from leaddesk.domain.scoring import Rule, ScoringModel, activity_rule, inactivity_rule
from leaddesk.domain.scoring_file import (
    FORMAT,
    MAX_CONDITION_DEPTH,
    Problem,
    ScoringFileError,
    condition_to_json,
    dump_document,
    dump_text,
    load_text,
    parse_condition,
    parse_document,
)
from leaddesk.domain.starter_models import starter_models

DESIGN_EXAMPLE = """
{
  "format": "leaddesk.scoring/1",
  "models": [
    {
      "name": "Default",
      "active": true,
      "sales_ready_at": 100,
      "floor": 0,
      "cap": null,
      "exclude": {"any": [
        {"field": "contact.is_employee", "op": "eq", "value": true},
        {"field": "contact.job_title", "op": "contains", "value": "student"}
      ]},
      "rules": [
        {"kind": "property", "name": "CEO or CMO", "group": "fit", "points": 5,
         "when": {"field": "contact.job_title", "op": "in", "value": ["CEO", "CMO"]}},
        {"kind": "property", "name": "More than 25 employees", "group": "fit", "points": 10,
         "when": {"field": "account.employees", "op": "gt", "value": 25}},
        {"kind": "activity", "name": "Opened an email", "group": "engagement", "points": 1,
         "activity": "email_open", "expires_after_days": 180},
        {"kind": "activity", "name": "Visited the pricing page", "group": "engagement",
         "points": 20, "activity": "page_visit", "expires_after_days": 180,
         "when": {"field": "url", "op": "contains", "value": "/pricing"}},
        {"kind": "inactivity", "name": "Quiet for 30 days", "group": "engagement",
         "points": -1, "days": 30, "repeat": true}
      ]
    }
  ]
}
"""

DESIGN_MODEL = ScoringModel(
    name="Default",
    active=True,
    sales_ready_at=100,
    floor=0,
    cap=None,
    exclude=AnyOf(
        (
            Leaf("contact.is_employee", "eq", True),
            Leaf("contact.job_title", "contains", "student"),
        )
    ),
    rules=(
        Rule("property", "CEO or CMO", "fit", 5,
             when=Leaf("contact.job_title", "in", ("CEO", "CMO"))),
        Rule("property", "More than 25 employees", "fit", 10,
             when=Leaf("account.employees", "gt", 25)),
        activity_rule("Opened an email", 1, "email_open", expires_after_days=180),
        activity_rule(
            "Visited the pricing page",
            20,
            "page_visit",
            expires_after_days=180,
            when=Leaf("url", "contains", "/pricing"),
        ),
        inactivity_rule("Quiet for 30 days", -1, 30, repeat=True),
    ),
)  # fmt: skip


def problems_of(data: object) -> list[tuple[str, str]]:
    with pytest.raises(ScoringFileError) as info:
        parse_document(data)
    return [(p.path, p.reason) for p in info.value.problems]


def doc(*models: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "models": list(models)}


def a_model(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "M", "floor": 0, "cap": None, "rules": []}
    base.update(changes)
    return base


def assert_problem(data: object, path: str, fragment: str) -> None:
    found = problems_of(data)
    assert any(p == path and fragment in r for p, r in found), found


# --------------------------------------------------------------------------- happy paths


def test_the_design_example_parses() -> None:
    assert load_text(DESIGN_EXAMPLE) == [DESIGN_MODEL]


def test_dump_writes_the_design_key_order_and_omits_defaults() -> None:
    data = dump_document([DESIGN_MODEL])
    assert list(data) == ["format", "models"]
    models = data["models"]
    assert isinstance(models, list)
    (model,) = models
    assert list(model) == [
        "name", "active", "sales_ready_at", "floor", "cap", "exclude", "rules",
    ]  # fmt: skip
    assert model["cap"] is None
    assert model["rules"] == json.loads(DESIGN_EXAMPLE)["models"][0]["rules"]
    assert list(model["rules"][3]) == [
        "kind", "name", "group", "points", "activity", "expires_after_days", "when",
    ]  # fmt: skip


def test_dump_text_is_indented_json_ending_in_a_newline() -> None:
    text = dump_text([DESIGN_MODEL])
    assert text.startswith('{\n  "format": "leaddesk.scoring/1",\n  "models": [\n')
    assert text.endswith("}\n")
    assert load_text(text) == [DESIGN_MODEL]


def test_optional_keys_take_their_defaults() -> None:
    (model,) = parse_document(
        doc(
            {
                "name": "Minimal",
                "rules": [
                    {"kind": "property", "name": "p", "points": 1},
                    {"kind": "activity", "name": "a", "points": 1, "activity": "call"},
                    {"kind": "inactivity", "name": "i", "points": -1, "days": 7},
                ],
            }
        )
    )
    assert model == ScoringModel(
        "Minimal",
        active=True,
        sales_ready_at=None,
        floor=0,
        cap=None,
        rules=(
            Rule("property", "p", "fit", 1),
            Rule("activity", "a", "engagement", 1, activity="call"),
            Rule("inactivity", "i", "engagement", -1, days=7),
        ),
    )


def test_explicit_null_floor_means_no_floor_and_threshold_tag_round_trips() -> None:
    (model,) = parse_document(doc(a_model(floor=None, threshold_tag="Hot lead")))
    assert model.floor is None
    assert model.threshold_tag == "Hot lead"
    assert parse_document(dump_document([model])) == [model]
    assert dump_document([model])["models"][0]["floor"] is None  # type: ignore[index]


def test_empty_model_list_is_valid() -> None:
    assert parse_document(doc()) == []


def test_a_bom_is_ignored() -> None:
    assert load_text("\ufeff" + DESIGN_EXAMPLE) == [DESIGN_MODEL]


# --------------------------------------------------------------------------- problems


def test_every_problem_is_reported_with_its_path() -> None:
    data = {
        "format": "leaddesk.scoring/2",
        "models": [
            {
                "name": "A",
                "active": "yes",
                "floor": 10,
                "cap": 5,
                "rules": [
                    {"kind": "property", "name": "p", "group": "fit", "points": True},
                    {"kind": "activity", "name": "a", "points": 1},
                    {"kind": "inactivity", "name": "i", "points": 1},
                    {
                        "kind": "property",
                        "name": "q",
                        "points": 2,
                        "when": {
                            "any": [
                                {"field": "contact.age", "op": "gt", "value": 3},
                                {"field": "contact.age", "op": "bigger", "value": 3},
                            ]
                        },
                    },
                ],
            },
            {"name": "a ", "rules": [], "colour": "red"},
        ],
    }
    assert problems_of(data) == [
        ("$.format", "expected \"leaddesk.scoring/1\", found 'leaddesk.scoring/2'"),
        ("$.models[0].active", "must be true or false, not text"),
        ("$.models[0].floor", "floor 10 is above cap 5"),
        ("$.models[0].rules[0].points", "must be a whole number, not a boolean"),
        ("$.models[0].rules[1].activity", "an activity rule needs the activity type it counts"),
        ("$.models[0].rules[2].days", "an inactivity rule needs a positive number of days"),
        (
            "$.models[0].rules[3].when.any[1].op",
            "unknown operator 'bigger'; expected one of eq, ne, in, not_in, contains, "
            "not_contains, starts_with, gt, gte, lt, lte, between, is_set, is_not_set",
        ),
        ("$.models[1].colour", "unknown key 'colour'"),
        ("$.models[1].name", "duplicate model name 'a ' (also $.models[0])"),
    ]


@pytest.mark.parametrize(
    ("leaf", "path_suffix", "fragment"),
    [
        ({"field": "contact.age", "op": "gt", "value": [1, 2]}, "value", "single value"),
        ({"field": "contact.age", "op": "gt", "value": "old"}, "value", "number or an ISO"),
        ({"field": "contact.age", "op": "lte", "value": None}, "value", "needs a value"),
        ({"field": "contact.title", "op": "in", "value": "CEO"}, "value", "list"),
        ({"field": "contact.title", "op": "not_in"}, "value", "list"),
        ({"field": "contact.age", "op": "between", "value": [1]}, "value", "exactly two"),
        ({"field": "contact.age", "op": "between", "value": 3}, "value", "exactly two"),
        ({"field": "contact.age", "op": "is_set", "value": 3}, "value", "no value"),
        ({"field": "contact.age", "op": "eq", "value": float("nan")}, "value", "finite"),
        ({"field": "contact.age", "op": 5, "value": 1}, "op", "unknown operator 5"),
        ({"field": "contact.age", "value": 1}, "op", "missing"),
        ({"op": "eq", "value": 1}, "field", "missing"),
        ({"field": 3, "op": "eq", "value": 1}, "field", "must be text"),
        ({"field": "job_title", "op": "eq", "value": "x"}, "field", "not a lead fact"),
        ({"field": "contact.", "op": "eq", "value": "x"}, "field", "not a lead fact"),
        ({"field": "contact.age", "op": "eq", "value": 1, "vaule": 2}, "vaule", "did you mean"),
        ({"all": []}, "all", "at least one"),
        ({"any": {"field": "contact.age"}}, "any", "must be a list"),
        ({"not": {"field": "contact.age", "op": "is_set"}, "op": "eq"}, "op", "beside 'not'"),
        ({"not": "x"}, "not", "must be an object"),
    ],
)
def test_condition_problems(leaf: dict[str, Any], path_suffix: str, fragment: str) -> None:
    rule = {"kind": "property", "name": "r", "points": 1, "when": leaf}
    assert_problem(doc(a_model(rules=[rule])), f"$.models[0].rules[0].when.{path_suffix}", fragment)


@pytest.mark.parametrize(
    ("rule", "path_suffix", "fragment"),
    [
        ({"name": "r", "points": 1}, "kind", "missing"),
        ({"kind": "score", "name": "r", "points": 1}, "kind", "unknown rule kind 'score'"),
        ({"kind": "property", "points": 1}, "name", "missing"),
        ({"kind": "property", "name": 7, "points": 1}, "name", "must be text"),
        ({"kind": "property", "name": "  ", "points": 1}, "name", "blank"),
        ({"kind": "property", "name": "r"}, "points", "missing"),
        ({"kind": "property", "name": "r", "points": 1.5}, "points", "whole number"),
        ({"kind": "property", "name": "r", "points": "5"}, "points", "whole number"),
        ({"kind": "property", "name": "r", "points": 1, "group": "fun"}, "group", "unknown group"),
        ({"kind": "property", "name": "r", "points": 1, "days": 3}, "days", "inactivity rules"),
        ({"kind": "property", "name": "r", "points": 1, "activity": "x"}, "activity", "activity"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "Page Visit"},
         "activity", "'page_visit'"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": 3}, "activity", "type key"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call",
          "expires_after_days": -1}, "expires_after_days", "at least 1"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call",
          "expires_after_days": 0}, "expires_after_days", "at least 1"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call", "max_times": 0},
         "max_times", "at least 1"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call", "repeat": True},
         "repeat", "only allowed in inactivity rules"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call",
          "expire_after_days": 5}, "expire_after_days", "did you mean 'expires_after_days'"),
        ({"kind": "activity", "name": "r", "points": 1, "activity": "call",
          "when": {"field": "contact.job_title", "op": "eq", "value": "x"}},
         "when.field", "activity's own properties"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 0}, "days", "at least 1"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": "30"}, "days", "whole number"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 3, "repeat": "yes"},
         "repeat", "true or false"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 3, "activity_types": []},
         "activity_types", "at least one"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 3, "activity_types": "call"},
         "activity_types", "must be a list"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 3,
          "activity_types": ["call", "Email Open"]}, "activity_types[1]", "'email_open'"),
        ({"kind": "inactivity", "name": "r", "points": 1, "days": 3,
          "when": {"field": "contact.age", "op": "is_set"}}, "when", "no condition"),
    ],
)  # fmt: skip
def test_rule_problems(rule: dict[str, Any], path_suffix: str, fragment: str) -> None:
    assert_problem(doc(a_model(rules=[rule])), f"$.models[0].rules[0].{path_suffix}", fragment)


@pytest.mark.parametrize(
    ("model", "path_suffix", "fragment"),
    [
        ({"rules": []}, "name", "missing"),
        (a_model(name=["M"]), "name", "must be text"),
        (a_model(active=1), "active", "true or false"),
        (a_model(sales_ready_at=0), "sales_ready_at", "at least 1"),
        (a_model(sales_ready_at=True), "sales_ready_at", "whole number"),
        (a_model(sales_ready_at=200, cap=100), "sales_ready_at", "never be reached"),
        (a_model(floor="0"), "floor", "whole number"),
        (a_model(floor=5, cap=4), "floor", "above cap"),
        (a_model(threshold_tag=""), "threshold_tag", "blank"),
        (a_model(rules={"kind": "property"}), "rules", "must be a list"),
        (a_model(rules=["x"]), "rules[0]", "must be an object"),
        (a_model(exclude=[1]), "exclude", "must be an object"),
        (a_model(exclude={"field": "url", "op": "eq", "value": 1}), "exclude.field", "lead fact"),
        (a_model(Rules=[]), "Rules", "did you mean 'rules'"),
    ],
)
def test_model_problems(model: dict[str, Any], path_suffix: str, fragment: str) -> None:
    assert_problem(doc(model), f"$.models[0].{path_suffix}", fragment)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ([], "$", "expected an object"),
        ("x", "$", "expected an object"),
        ({"models": []}, "$.format", "missing"),
        ({"format": FORMAT}, "$.models", "missing"),
        ({"format": FORMAT, "models": {}}, "$.models", "must be a list"),
        ({"format": FORMAT, "models": [], "version": 2}, "$.version", "unknown key"),
        ({"format": FORMAT, "models": [], "a b": 2}, '$["a b"]', "unknown key"),
        ({"format": FORMAT, "models": [None]}, "$.models[0]", "must be an object"),
    ],
)
def test_document_problems(data: object, path: str, fragment: str) -> None:
    assert_problem(data, path, fragment)


def test_deep_conditions_are_refused() -> None:
    cond: dict[str, Any] = {"field": "contact.age", "op": "is_set"}
    for _ in range(MAX_CONDITION_DEPTH + 5):
        cond = {"not": cond}
    rule = {"kind": "property", "name": "r", "points": 1, "when": cond}
    found = problems_of(doc(a_model(rules=[rule])))
    assert len(found) == 1
    assert "nested more than" in found[0][1]
    assert found[0][0].startswith("$.models[0].rules[0].when.not.not.")


def test_invalid_json_reports_line_and_column() -> None:
    with pytest.raises(ScoringFileError) as info:
        load_text('{\n  "format": "leaddesk.scoring/1",\n  "models": [,]\n}')
    (problem,) = info.value.problems
    assert problem.path == "$"
    assert problem.reason.startswith("not valid JSON: Expecting value (line 3, column 14)")


def test_absurdly_nested_json_is_a_problem_not_a_crash() -> None:
    with pytest.raises(ScoringFileError):
        load_text("[" * 100_000 + "]" * 100_000)


def test_duplicate_json_keys_are_reported() -> None:
    text = (
        '{"format": "leaddesk.scoring/1", "models": [{"name": "A", "name": "B", '
        '"rules": [{"kind": "property", "name": "r", "points": 1, "points": 2, '
        '"when": {"field": "contact.age", "op": "is_set", "op": "is_not_set"}}]}]}'
    )
    with pytest.raises(ScoringFileError) as info:
        load_text(text)
    assert [(p.path, p.reason) for p in info.value.problems] == [
        ("$.models[0].name", "key appears more than once"),
        ("$.models[0].rules[0].points", "key appears more than once"),
        ("$.models[0].rules[0].when.op", "key appears more than once"),
    ]


def test_error_message_lists_every_problem() -> None:
    error = ScoringFileError([Problem("$.a", "bad"), Problem("$.b", "worse")])
    assert str(error) == "invalid scoring file (2 problems)\n  $.a: bad\n  $.b: worse"


def test_parse_condition() -> None:
    data = {"any": [{"field": "url", "op": "contains", "value": "/buy"}]}
    cond = parse_condition(data, activity=True)
    assert cond == AnyOf((Leaf("url", "contains", "/buy"),))
    assert condition_to_json(cond) == data
    with pytest.raises(ScoringFileError) as info:
        parse_condition(data)  # url is not a lead fact
    assert info.value.problems[0].path == "$.any[0].field"


# --------------------------------------------------------------------------- properties

KNOWN_KEYS = [
    "format",
    "models",
    "name",
    "kind",
    "points",
    "when",
    "field",
    "op",
    "value",
    "any",
    "all",
    "not",
    "days",
    "activity",
    "rules",
    "floor",
    "cap",
    "exclude",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def _parse_or_problems(data: object) -> list[ScoringModel] | None:
    try:
        models = parse_document(data)
    except ScoringFileError as error:
        assert error.problems
        assert all(isinstance(p, Problem) and p.path.startswith("$") for p in error.problems)
        return None
    # Whatever parses must survive its own round trip.
    assert parse_document(dump_document(models)) == models
    return models


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_scoring_file_error(data: object) -> None:
    _parse_or_problems(data)
    _parse_or_problems({"format": FORMAT, "models": [data]})
    _parse_or_problems(doc(a_model(rules=[data])))
    _parse_or_problems(
        doc(a_model(rules=[{"kind": "property", "name": "r", "points": 1, "when": data}]))
    )


@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_but_scoring_file_error(text: str) -> None:
    with contextlib.suppress(ScoringFileError):
        load_text(text)


VALID_DOCUMENT = dump_document([*starter_models(), DESIGN_MODEL])


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """``data`` with one spot somewhere in the tree replaced, removed or added to."""
    if isinstance(data, dict) and data and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(data)))
        return {**data, key: draw(mutated(data[key]))}
    if isinstance(data, list) and data and draw(st.booleans()):
        i = draw(st.integers(0, len(data) - 1))
        return [*data[:i], draw(mutated(data[i])), *data[i + 1 :]]
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace" or not isinstance(data, dict | list):
        return draw(json_values)
    if isinstance(data, dict):
        if action == "drop" and data:
            key = draw(st.sampled_from(sorted(data)))
            return {k: v for k, v in data.items() if k != key}
        return {**data, draw(st.text(max_size=8)): draw(json_values)}
    if action == "drop" and data:
        return data[1:]
    return [*data, draw(json_values)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(VALID_DOCUMENT))
def test_mutated_valid_documents_never_raise_anything_but_scoring_file_error(data: Any) -> None:
    before = copy.deepcopy(data)
    _parse_or_problems(data)
    assert data == before  # the parser does not modify its input


# --------------------------------------------------------------------------- round trip

texts = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")
lead_fields = st.sampled_from(
    ["contact.job_title", "contact.age", "account.employees", "lead.topic"]
)
activity_fields = st.sampled_from(["url", "campaign", "type", "name", "network"])
numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
iso_dates = st.dates().map(lambda d: d.isoformat())
scalars = texts | numbers | st.booleans()


@st.composite
def leaves(draw: st.DrawFn, fields: st.SearchStrategy[str]) -> Leaf:
    field = draw(fields)
    op = draw(st.sampled_from(sorted(OPERATORS)))
    value: object
    if op in ("eq", "ne"):
        value = draw(scalars)
    elif op in ("in", "not_in"):
        value = draw(st.lists(scalars, min_size=1, max_size=4))
    elif op in ("contains", "not_contains", "starts_with"):
        value = draw(texts)
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(numbers | iso_dates)
    elif op == "between":
        if draw(st.booleans()):
            value = sorted(draw(st.lists(st.integers(-1000, 1000), min_size=2, max_size=2)))
        else:
            days = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2)))
            value = [d.isoformat() for d in days]
    else:
        value = None
    return Leaf(field, op, value)


def conditions(fields: st.SearchStrategy[str]) -> st.SearchStrategy[Condition]:
    return st.recursive(
        leaves(fields),
        lambda inner: (
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: AllOf(tuple(xs)))
            | st.lists(inner, min_size=1, max_size=3).map(lambda xs: AnyOf(tuple(xs)))
            | inner.map(Not)
        ),
        max_leaves=6,
    )


type_keys = st.sampled_from(["email_open", "page_visit", "call", "custom_event_2"])
groups = st.sampled_from(["fit", "engagement"])
positive = st.integers(1, 10_000)

rules = st.one_of(
    st.builds(
        Rule,
        kind=st.just("property"),
        name=texts,
        group=groups,
        points=st.integers(-1000, 1000),
        when=st.none() | conditions(lead_fields),
    ),
    st.builds(
        Rule,
        kind=st.just("activity"),
        name=texts,
        group=groups,
        points=st.integers(-1000, 1000),
        when=st.none() | conditions(activity_fields),
        activity=type_keys,
        expires_after_days=st.none() | positive,
        max_times=st.none() | positive,
    ),
    st.builds(
        Rule,
        kind=st.just("inactivity"),
        name=texts,
        group=groups,
        points=st.integers(-1000, 1000),
        days=positive,
        repeat=st.booleans(),
        activity_types=st.none() | st.lists(type_keys, min_size=1, max_size=3).map(tuple),
    ),
)


@st.composite
def models(draw: st.DrawFn) -> ScoringModel:
    floor = draw(st.none() | st.integers(-100, 100))
    cap = draw(st.none() | st.integers(max(floor or 0, 1), 1000))
    sales_ready_at = draw(st.none() | st.integers(1, cap or 10_000))
    return ScoringModel(
        name=draw(texts),
        active=draw(st.booleans()),
        sales_ready_at=sales_ready_at,
        floor=floor,
        cap=cap,
        exclude=draw(st.none() | conditions(lead_fields)),
        rules=tuple(draw(st.lists(rules, max_size=4))),
        threshold_tag=draw(st.none() | texts),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(models(), max_size=3, unique_by=lambda m: m.name.strip().casefold()))
def test_valid_models_round_trip(generated: list[ScoringModel]) -> None:
    assert parse_document(dump_document(generated)) == generated
    assert load_text(dump_text(generated)) == generated

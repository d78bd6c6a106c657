"""Condition semantics: every operator, missing facts, coercions, and never raising."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaddesk.domain.conditions import (
    OPERATORS,
    AllOf,
    AnyOf,
    FieldType,
    Leaf,
    Not,
    ValueShape,
    describe,
    evaluate,
    field_label,
    first_match,
    leaf_value_problem,
    operators_for,
)


def holds(field_value: object, op: str, value: object = None) -> bool:
    facts = {} if field_value is _ABSENT else {"f": field_value}
    return evaluate(Leaf("f", op, value), facts)


_ABSENT = object()


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("fact", "value", "expected"),
    [
        ("CEO", "CEO", True),
        ("  ceo ", "CEO", True),
        ("CEO", " ceo  ", True),
        ("CTO", "CEO", False),
        ("Straße", "STRASSE", True),  # casefold, not lower
    ],
)
def test_eq_on_text_ignores_case_and_surrounding_space(
    fact: str, value: str, expected: bool
) -> None:
    assert holds(fact, "eq", value) is expected
    assert holds(fact, "ne", value) is not expected


def test_in_and_not_in() -> None:
    assert holds(" cmo", "in", ["CEO", "CMO"]) is True
    assert holds("CTO", "in", ["CEO", "CMO"]) is False
    assert holds("CTO", "not_in", ["CEO", "CMO"]) is True
    assert holds("cmo", "not_in", ("CEO", "CMO")) is False


def test_contains_and_starts_with() -> None:
    assert holds("https://x.com/Pricing/plans", "contains", "/pricing") is True
    assert holds("https://x.com/blog", "contains", "/pricing") is False
    assert holds("https://x.com/blog", "not_contains", "/pricing") is True
    assert holds("Graduate Student", "contains", " STUDENT ") is True
    assert holds("  Head of Sales", "starts_with", "head") is True
    assert holds("Sales head", "starts_with", "head") is False


def test_contains_on_a_list_fact_means_membership() -> None:
    assert holds(["vip", "Partner"], "contains", "partner") is True
    assert holds(["vip", "partner"], "contains", "part") is False
    assert holds(["vip"], "not_contains", "partner") is True


# --------------------------------------------------------------------------- missing facts


NEGATIVE_OPS = {"ne", "not_in", "not_contains", "is_not_set"}
SAMPLE_VALUES: dict[str, object] = {
    "eq": "x",
    "ne": "x",
    "in": ["x"],
    "not_in": ["x"],
    "contains": "x",
    "not_contains": "x",
    "starts_with": "x",
    "gt": 1,
    "gte": 1,
    "lt": 1,
    "lte": 1,
    "between": [1, 2],
    "is_set": None,
    "is_not_set": None,
}


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("missing", [_ABSENT, None, "", "   "])
def test_missing_fact_fails_positive_ops_and_passes_negative_ones(op: str, missing: object) -> None:
    assert holds(missing, op, SAMPLE_VALUES[op]) is (op in NEGATIVE_OPS)
    assert OPERATORS[op].negative is (op in NEGATIVE_OPS)


def test_is_set() -> None:
    assert holds("x", "is_set") is True
    assert holds(0, "is_set") is True
    assert holds(False, "is_set") is True
    assert holds([], "is_set") is False
    assert holds("x", "is_not_set") is False


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("fact", "op", "value", "expected"),
    [
        (26, "gt", 25, True),
        (25, "gt", 25, False),
        (25, "gte", 25, True),
        (24, "lt", 25, True),
        (25, "lt", 25, False),
        (25, "lte", 25, True),
        ("30", "gt", 25, True),  # numeric strings, as CSV imports give them
        (" 30 ", "gt", 25, True),
        ("25.5", "gt", 25, True),
        (30, "gt", "25", True),  # a numeric string value
        (Decimal("25.01"), "gt", 25, True),
        (2.5, "lt", 3, True),
        ("lots", "gt", 25, False),  # not comparable: false, not an error
        ("lots", "lte", 25, False),
        (True, "gt", 0, False),  # a boolean is not a number
        ("nan", "gt", 0, False),
        ("inf", "gt", 0, False),
        ("1_000", "gt", 25, False),
        (float("nan"), "lt", 0, False),
        (Decimal("NaN"), "gt", 0, False),
    ],
)
def test_ordering_on_numbers(fact: object, op: str, value: object, expected: bool) -> None:
    assert holds(fact, op, value) is expected


def test_between_is_inclusive() -> None:
    assert holds(25, "between", [25, 45]) is True
    assert holds(45, "between", [25, 45]) is True
    assert holds("30", "between", [25, 45]) is True
    assert holds(24, "between", [25, 45]) is False
    assert holds(46, "between", [25, 45]) is False
    assert holds("old", "between", [25, 45]) is False


def test_eq_on_numbers_is_numeric() -> None:
    assert holds(25, "eq", 25.0) is True
    assert holds("25", "eq", 25) is True
    assert holds(25, "eq", "25") is True
    assert holds("twenty", "eq", 25) is False
    assert holds("twenty", "ne", 25) is True


def test_two_text_facts_compare_as_text_even_when_numeric() -> None:
    # Postal codes: "02134" is not "2134".
    assert holds("02134", "eq", "2134") is False


# --------------------------------------------------------------------------- booleans


@pytest.mark.parametrize("fact", [True, "true", "TRUE", " yes ", "1", 1, "y", "on"])
def test_eq_true_accepts_spellings_of_true(fact: object) -> None:
    assert holds(fact, "eq", True) is True
    assert holds(fact, "eq", False) is False


@pytest.mark.parametrize("fact", [False, "false", "No", "0", 0, "off"])
def test_eq_false_accepts_spellings_of_false(fact: object) -> None:
    assert holds(fact, "eq", False) is True
    assert holds(fact, "eq", True) is False


def test_eq_true_rejects_non_booleans() -> None:
    assert holds("maybe", "eq", True) is False
    assert holds(2, "eq", True) is False
    assert holds("maybe", "ne", True) is True


def test_bool_fact_against_text_value() -> None:
    assert holds(True, "eq", "yes") is True
    assert holds(True, "eq", "CEO") is False


# --------------------------------------------------------------------------- dates


def test_dates_compare_as_datetimes() -> None:
    assert holds(datetime(2026, 3, 1, 12), "gt", "2026-03-01") is True
    assert holds("2026-02-28", "lt", "2026-03-01") is True
    assert holds(date(2026, 3, 1), "gte", "2026-03-01T00:00:00") is True
    assert holds("2026-03-01T10:00:00Z", "between", ["2026-03-01", "2026-03-02"]) is True
    assert holds("not a date", "gt", "2026-03-01") is False
    assert holds(datetime(2026, 3, 1), "gt", datetime(2026, 2, 1)) is True


def test_aware_and_naive_datetimes_mix_without_raising() -> None:
    aware = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))  # 10:00 UTC
    assert holds(aware, "lt", datetime(2026, 3, 1, 11)) is True
    assert holds(aware, "gt", datetime(2026, 3, 1, 9)) is True
    assert holds(datetime(2026, 3, 1, 10), "eq", aware) is True


def test_a_date_is_not_a_number() -> None:
    assert holds(datetime(2026, 3, 1), "gt", 25) is False
    assert holds(30, "gt", "2026-03-01") is False


# --------------------------------------------------------------------------- combinators


CEO = Leaf("contact.job_title", "eq", "CEO")
BIG = Leaf("account.employees", "gt", 25)
STUDENT = Leaf("contact.job_title", "contains", "student")


def test_all_any_not_nest() -> None:
    cond = AnyOf((AllOf((CEO, BIG)), Not(AnyOf((STUDENT, BIG)))))
    assert evaluate(cond, {"contact.job_title": "ceo", "account.employees": 30}) is True
    assert evaluate(cond, {"contact.job_title": "ceo", "account.employees": 10}) is True
    assert evaluate(cond, {"contact.job_title": "student", "account.employees": 10}) is False
    assert evaluate(cond, {"contact.job_title": "cto", "account.employees": 30}) is False
    assert evaluate(cond, {}) is True  # nothing known: not (student or big) holds


def test_empty_all_and_any() -> None:
    assert evaluate(AllOf(()), {}) is True
    assert evaluate(AnyOf(()), {}) is False


def test_not_of_a_positive_op_equals_its_negative_twin() -> None:
    for facts in ({}, {"f": None}, {"f": "x"}, {"f": "y"}):
        assert evaluate(Not(Leaf("f", "eq", "x")), facts) == evaluate(Leaf("f", "ne", "x"), facts)


def test_first_match_names_the_item_of_an_any_that_held() -> None:
    employee = Leaf("contact.is_employee", "eq", True)
    cond = AnyOf((employee, STUDENT))
    facts = {"contact.job_title": "PhD Student", "contact.is_employee": False}
    assert first_match(cond, facts) == STUDENT
    assert first_match(cond, {"contact.is_employee": "yes"}) == employee
    assert first_match(cond, {}) is None
    nested = AnyOf((AnyOf((BIG,)), AllOf((CEO, STUDENT))))
    assert first_match(nested, {"account.employees": 40}) == BIG
    both = AllOf((CEO, BIG))
    assert first_match(both, {"contact.job_title": "CEO", "account.employees": 40}) == both


# --------------------------------------------------------------------------- leaves


def test_leaf_stores_lists_as_tuples_and_stays_hashable() -> None:
    leaf = Leaf("contact.job_title", "in", ["CEO", "CMO"])
    assert leaf.value == ("CEO", "CMO")
    assert leaf == Leaf("contact.job_title", "in", ("CEO", "CMO"))
    assert hash(leaf) == hash(Leaf("contact.job_title", "in", ("CEO", "CMO")))
    assert AllOf([CEO]) == AllOf((CEO,))  # type: ignore[arg-type]


def test_leaf_refuses_an_unknown_operator() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        Leaf("f", "equals", 1)


@pytest.mark.parametrize(
    ("op", "value", "fragment"),
    [
        ("gt", [1, 2], "single value"),
        ("gt", "abc", "number or an ISO date"),
        ("gt", True, "number or an ISO date"),
        ("gt", None, "needs a value"),
        ("in", "CEO", "list"),
        ("in", [], "at least one"),
        ("in", [["a"]], "text, numbers"),
        ("between", [1], "exactly two"),
        ("between", [1, 2, 3], "exactly two"),
        ("between", 5, "exactly two"),
        ("between", [1, "2026-01-01"], "same kind"),
        ("between", [5, 1], "low value first"),
        ("between", ["x", 1], "two numbers"),
        ("is_set", "x", "no value"),
        ("eq", None, "is_not_set"),
        ("eq", ["a", "b"], "in/not_in"),
        ("eq", "  ", "blank"),
        ("eq", {"a": 1}, "text, a number"),
        ("eq", float("nan"), "text, a number"),
        ("contains", True, "needs text"),
        ("nope", 1, "unknown operator"),
    ],
)
def test_leaf_value_problems(op: str, value: object, fragment: str) -> None:
    problem = leaf_value_problem(op, value)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("gt", 25),
        ("gt", 2.5),
        ("gt", "25"),
        ("lte", "2026-01-01"),
        ("between", [25, 45]),
        ("between", ["2026-01-01", "2026-02-01T10:00"]),
        ("in", ["CEO", 5, True]),
        ("eq", True),
        ("contains", "/pricing"),
        ("is_not_set", None),
    ],
)
def test_leaf_values_that_fit(op: str, value: object) -> None:
    assert leaf_value_problem(op, value) is None


def test_operator_metadata() -> None:
    assert list(OPERATORS) == [
        "eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with",
        "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set",
    ]  # fmt: skip
    assert OPERATORS["between"].shape is ValueShape.PAIR
    assert OPERATORS["in"].shape is ValueShape.LIST
    assert OPERATORS["is_set"].shape is ValueShape.NONE
    assert OPERATORS["gt"].shape is ValueShape.SCALAR
    assert [s.key for s in operators_for(FieldType.BOOL)] == ["eq", "ne", "is_set", "is_not_set"]
    number_ops = {s.key for s in operators_for(FieldType.NUMBER)}
    assert {"gt", "between", "in"} <= number_ops
    assert "contains" not in number_ops
    assert "gt" not in {s.key for s in operators_for(FieldType.TEXT)}


# --------------------------------------------------------------------------- describe


def test_field_labels() -> None:
    assert field_label("contact.job_title") == "job title"
    assert field_label("account.employees") == "account employees"
    assert field_label("lead.topic") == "lead topic"
    assert field_label("url") == "url"


@pytest.mark.parametrize(
    ("cond", "text"),
    [
        (Leaf("contact.job_title", "in", ["CEO", "CMO"]), "job title is one of CEO, CMO"),
        (Leaf("account.employees", "gt", 25), "account employees > 25"),
        (Leaf("url", "contains", "/pricing"), 'url contains "/pricing"'),
        (Leaf("contact.age", "between", [25, 45]), "age is between 25 and 45"),
        (Leaf("contact.is_employee", "eq", True), "is an employee"),
        (Leaf("account.is_customer", "ne", True), "account is not a customer"),
        (Leaf("contact.email_subscribed", "eq", False), "is not subscribed to e-mail"),
        (Leaf("contact.phone", "is_not_set"), "phone is not set"),
        (Leaf("lead.topic", "starts_with", "web"), 'lead topic starts with "web"'),
        (Not(Leaf("network", "eq", "linkedin")), "not (network is linkedin)"),
        (
            AnyOf((Leaf("url", "contains", "/a"), Leaf("url", "contains", "/b"))),
            'any of (url contains "/a" or url contains "/b")',
        ),
        (AllOf((CEO, BIG)), "all of (job title is CEO and account employees > 25)"),
    ],
)
def test_describe(cond: Leaf | AllOf | AnyOf | Not, text: str) -> None:
    assert describe(cond) == text


# --------------------------------------------------------------------------- robustness


class _Nasty:
    def __str__(self) -> str:
        raise RuntimeError("boom")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = object.__hash__


fact_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["25", " 30 ", "true", "2026-01-01", "2026-01-01T10:00+02:00", "inf"])
    | st.datetimes()
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.decimals()
    | st.just(_Nasty()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
rule_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["2026-01-01", "25"])
    | st.lists(st.integers() | st.text(max_size=5), max_size=3)
)


@given(op=st.sampled_from(sorted(OPERATORS)), fact=fact_values, value=rule_values)
def test_evaluate_never_raises(op: str, fact: object, value: object) -> None:
    leaf = Leaf("f", op, value)
    result = evaluate(leaf, {"f": fact})
    assert isinstance(result, bool)
    describe(leaf)


@given(fact=st.integers(-100, 100), low=st.integers(-100, 100), high=st.integers(-100, 100))
def test_between_matches_python_chained_comparison(fact: int, low: int, high: int) -> None:
    assert holds(fact, "between", [low, high]) is (low <= fact <= high)
    assert holds(str(fact), "between", [low, high]) is (low <= fact <= high)

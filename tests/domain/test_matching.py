"""Match keys, strategies and the folding of duplicate rows, without a database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import pytest

from leaddesk.domain.matching import (
    DEFAULT_MATCH,
    MatchKey,
    MatchSpecError,
    RowMerger,
    changed_fields,
    is_empty,
    key_part,
    match_key,
    merge_values,
    parse_match,
)


def test_key_parts_compare_as_people_mean_them() -> None:
    assert key_part("email", "  Ana@Example.COM ") == "ana@example.com"
    assert key_part("domain", "https://www.Acme.com/about") == "acme.com"
    assert key_part("name", "  ACME   Tools ") == "acme tools"
    assert key_part("name", "Ação") == key_part("name", "AÇÃO")
    assert key_part("topic", None) == ""
    assert key_part("occurred_at", datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00"
    assert key_part("employees", 12.0) == key_part("employees", 12)


def test_a_key_needs_every_required_part() -> None:
    assert match_key({"email": "A@x.com"}, ("email",)) == ("a@x.com",)
    assert match_key({"email": ""}, ("email",)) is None
    assert match_key({"first_name": "Ana"}, ("first_name", "last_name")) is None
    # A lead's topic may be empty: "" is a topic.
    assert match_key(
        {"email": "a@x.com", "topic": ""}, ("email", "topic"), frozenset({"topic"})
    ) == ("a@x.com", "")


def test_parse_match() -> None:
    assert parse_match(["domain", "name"], "accounts") == (("domain",), ("name",))
    assert parse_match(["first_name, last_name"], "contacts") == (("first_name", "last_name"),)
    with pytest.raises(MatchSpecError, match="cannot match contacts on shoe_size"):
        parse_match(["shoe_size"], "contacts")
    with pytest.raises(MatchSpecError, match="always matched"):
        parse_match(["email"], "activities")
    with pytest.raises(MatchSpecError):
        parse_match([" , "], "contacts")


def test_default_strategies_follow_the_design() -> None:
    assert DEFAULT_MATCH["contacts"] == (("email",),)
    assert DEFAULT_MATCH["accounts"] == (("domain",), ("name",))
    assert DEFAULT_MATCH["leads"][0] == ("email", "topic")


def test_later_values_fill_and_override_empty_ones_never_blank() -> None:
    base = {"first_name": "Ana", "city": "Lisboa", "phone": None}
    merged = merge_values(base, {"city": "Porto", "first_name": "", "phone": "123"})
    assert merged == {"first_name": "Ana", "city": "Porto", "phone": "123"}


def test_blank_overwrites_blanks() -> None:
    merged = merge_values(
        {"first_name": "Ana", "city": "Lisboa"}, {"city": None}, blank_overwrites=True
    )
    assert merged == {"first_name": "Ana", "city": None}


def test_custom_fields_merge_key_by_key() -> None:
    base = {"custom": {"colour": "blue", "size": "L"}}
    assert merge_values(base, {"custom": {"colour": "", "shoe": "42"}}) == {
        "custom": {"colour": "blue", "size": "L", "shoe": "42"}
    }
    assert merge_values(base, {"custom": {"colour": None}}, blank_overwrites=True) == {
        "custom": {"size": "L"}
    }


def test_changed_fields_ignore_equal_values_and_number_types() -> None:
    stored = {"age": 30, "city": "Porto", "is_customer": False, "custom": {"a": "1"}}
    assert changed_fields(stored, {"age": 30.0, "city": "Porto", "custom": {"a": "1"}}) == {}
    assert changed_fields(stored, {"city": "Lisboa", "is_customer": True}) == {
        "city": "Lisboa",
        "is_customer": True,
    }


def _nothing(_index: int, _key: MatchKey) -> int | None:
    return None


def test_duplicate_rows_in_a_file_become_one_record() -> None:
    merger = RowMerger(DEFAULT_MATCH["contacts"])
    merger.add({"email": "ana@x.com", "first_name": "Ana", "city": "Lisboa"}, 2, _nothing)
    merger.add({"email": "bo@x.com", "first_name": "Bo"}, 3, _nothing)
    record, joined = merger.add({"email": "ANA@x.com", "city": "Porto", "phone": "1"}, 4, _nothing)
    assert joined
    assert len(merger.records) == 2
    assert record.lines == [2, 4]
    assert record.values == {
        "email": "ANA@x.com",
        "first_name": "Ana",
        "city": "Porto",
        "phone": "1",
    }


def test_a_row_joins_the_stored_record_its_key_finds() -> None:
    stored = {("ana@x.com",): 17}
    merger = RowMerger(DEFAULT_MATCH["contacts"])
    record, joined = merger.add({"email": "ana@x.com"}, 2, lambda _i, key: stored.get(key))
    assert not joined
    assert record.existing_id == 17
    again, joined = merger.add(
        {"email": "Ana@X.com", "city": "Porto"}, 3, lambda _i, key: stored.get(key)
    )
    assert joined and again is record
    assert record.values["city"] == "Porto"


def test_accounts_fall_back_from_domain_to_name() -> None:
    merger = RowMerger(DEFAULT_MATCH["accounts"])
    first, _ = merger.add({"name": "Acme", "domain": "acme.com"}, 2, _nothing)
    # No domain: matched by name to the first row.
    second, joined = merger.add({"name": "ACME", "industry": "Tools"}, 3, _nothing)
    assert joined and second is first
    assert first.values["industry"] == "Tools"


def test_same_name_on_another_domain_is_another_company() -> None:
    merger = RowMerger(DEFAULT_MATCH["accounts"])
    merger.add({"name": "Sigmagrid Ltda", "domain": "sigmagrid.com"}, 2, _nothing)
    _record, joined = merger.add(
        {"name": "Sigmagrid Ltda", "domain": "sigmagrid-auto.com"}, 3, _nothing
    )
    assert not joined
    assert len(merger.records) == 2


def test_stored_record_on_another_domain_is_not_matched_by_name() -> None:
    by_name = {("acme",): 5}
    keys = {5: [("acme.com",), ("acme",)]}
    merger = RowMerger(DEFAULT_MATCH["accounts"])
    record, _ = merger.add(
        {"name": "Acme", "domain": "acme.co.uk"},
        2,
        lambda i, key: by_name.get(key) if i == 1 else None,
        keys.__getitem__,
    )
    assert record.existing_id is None
    # Without a domain the same row would have been Acme #5.
    merger = RowMerger(DEFAULT_MATCH["accounts"])
    record, _ = merger.add(
        {"name": "Acme"}, 3, lambda i, key: by_name.get(key) if i == 1 else None, keys.__getitem__
    )
    assert record.existing_id == 5


def test_leads_match_on_contact_and_topic() -> None:
    merger = RowMerger(DEFAULT_MATCH["leads"], optional=frozenset({"topic", "source"}))
    a, _ = merger.add({"email": "ana@x.com", "topic": "Pricing"}, 2, _nothing)
    b, _ = merger.add({"email": "ana@x.com", "topic": "Demo"}, 3, _nothing)
    c, joined = merger.add({"email": "ana@x.com", "topic": "pricing "}, 4, _nothing)
    assert a is not b
    assert joined and c is a


# --- the fast type checks decide exactly as the generic ones -----------------------------------


def _reference_merge(
    base: Mapping[str, Any], update: Mapping[str, Any], *, blank_overwrites: bool = False
) -> dict[str, Any]:
    """merge_values as written before its exact-type fast path."""
    out = dict(base)
    for name, value in update.items():
        if isinstance(value, Mapping):
            current = out.get(name)
            merged = _reference_merge(
                current if isinstance(current, Mapping) else {},
                value,
                blank_overwrites=blank_overwrites,
            )
            for key, item in value.items():
                if blank_overwrites and is_empty(item):
                    merged.pop(key, None)
            out[name] = merged
        elif not is_empty(value):
            out[name] = value
        elif blank_overwrites:
            out[name] = None
    return out


def _reference_same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return dict(a) == dict(b)
    return a == b


class _Text(str):
    """A str subclass: not the exact type the fast path looks for."""


_VALUES: list[Any] = [
    None,
    "",
    "  ",
    "\t",
    "Ana",
    " Ana ",
    _Text(""),
    _Text("x"),
    0,
    1,
    1.0,
    2.5,
    float("nan"),
    True,
    False,
    datetime(2026, 1, 2, 3, 4),
    {},
    {"a": "1", "b": ""},
    {"a": None},
    MappingProxyType({"a": "2"}),
    [],
    ["x"],
]


@pytest.mark.parametrize("blank", [False, True])
def test_merge_values_matches_the_generic_rules(blank: bool) -> None:
    base = {"f": "old", "m": {"a": "0", "z": "9"}, "n": 3}
    for value in _VALUES:
        for name in ("f", "m", "n", "new"):
            update = {name: value}
            assert merge_values(base, update, blank_overwrites=blank) == _reference_merge(
                base, update, blank_overwrites=blank
            ), (name, value)


def test_same_matches_the_generic_rules() -> None:
    for a in _VALUES:
        for b in _VALUES:
            got = changed_fields({"x": a}, {"x": b})
            want = {} if _reference_same(a, b) else {"x": b}
            assert got == want, (a, b)

"""Sorting, searching and filtering the big lists in SQL."""

from __future__ import annotations

from datetime import datetime

import pytest

from leaddesk.services import lists
from leaddesk.services.lists import AccountQuery, ContactQuery, LeadQuery
from leaddesk.store.database import Database


def _names(db: Database, query: LeadQuery) -> list[str]:
    ids = lists.lead_ids(db, query)
    rows = lists.lead_rows(db, ids)
    return [rows[i].name for i in ids]


def test_sort_by_name_both_ways(small_desk: Database) -> None:
    up = _names(small_desk, LeadQuery(sort="name", descending=False))
    assert up == sorted(up, key=str.lower)
    assert up[0] == "Ana Souza"
    down = _names(small_desk, LeadQuery(sort="name", descending=True))
    assert down[0] == "Eva Zimmer"


def test_sort_by_company_and_topic(small_desk: Database) -> None:
    ids = lists.lead_ids(small_desk, LeadQuery(sort="company", descending=False))
    companies = [lists.lead_rows(small_desk, ids)[i].company for i in ids]
    assert companies == sorted(companies, key=lambda c: (c or "").lower())
    ids = lists.lead_ids(small_desk, LeadQuery(sort="topic", descending=False))
    topics = [lists.lead_rows(small_desk, ids)[i].topic for i in ids]
    assert topics == sorted(topics, key=str.lower)


def test_every_sort_key_runs(small_desk: Database) -> None:
    for key in lists.LEAD_SORT_KEYS:
        assert len(lists.lead_ids(small_desk, LeadQuery(sort=key))) == 6
    for key in lists.CONTACT_SORT_KEYS:
        assert len(lists.contact_ids(small_desk, ContactQuery(sort=key))) == 5
    for key in lists.ACCOUNT_SORT_KEYS:
        assert len(lists.account_ids(small_desk, AccountQuery(sort=key))) == 3


def test_search_matches_name_email_company_and_topic(small_desk: Database) -> None:
    assert _names(small_desk, LeadQuery(search="souza", sort="topic", descending=False)) == [
        "Ana Souza",
        "Ana Souza",
    ]
    assert set(_names(small_desk, LeadQuery(search="GLOBEX"))) == {"Carla Mendes", "Diego Ramos"}
    assert _names(small_desk, LeadQuery(search="webinar bruno")) == ["Bruno Lima"]
    assert _names(small_desk, LeadQuery(search="eva@initech")) == ["Eva Zimmer"]
    assert _names(small_desk, LeadQuery(search="100%_")) == []


def test_filters_by_contact_and_account(small_desk: Database) -> None:
    acme = lists.account_ids(small_desk, AccountQuery(search="acme"))
    assert len(acme) == 1
    assert sorted(_names(small_desk, LeadQuery(account_id=acme[0]))) == [
        "Ana Souza",
        "Ana Souza",
        "Bruno Lima",
    ]
    carla = lists.contact_ids(small_desk, ContactQuery(search="carla"))
    assert _names(small_desk, LeadQuery(contact_id=carla[0])) == ["Carla Mendes"]


def test_contact_and_account_rows(small_desk: Database) -> None:
    ids = lists.contact_ids(small_desk, ContactQuery(sort="leads", descending=True))
    rows = lists.contact_rows(small_desk, ids)
    assert rows[ids[0]].name == "Ana Souza" and rows[ids[0]].leads == 2
    accounts = lists.account_rows(small_desk, lists.account_ids(small_desk, AccountQuery()))
    by_name = {a.name: a for a in accounts.values()}
    assert by_name["Acme Tools"].contacts == 2
    assert by_name["Acme Tools"].employees == 120


def test_desk_counts(small_desk: Database) -> None:
    counts = lists.desk_counts(small_desk)
    assert (counts.leads, counts.open_leads, counts.contacts, counts.accounts) == (6, 6, 5, 3)
    assert counts.activities == 4


def test_search_ignores_accents_and_follows_edits(small_desk: Database) -> None:
    from datetime import datetime

    from leaddesk.services import records

    now = datetime(2026, 11, 22, 12, 0)
    acme = lists.account_ids(small_desk, AccountQuery(search="acme"))[0]
    records.update_account(small_desk, acme, {"name": "Açaí Ferramentas"}, now)
    assert sorted(_names(small_desk, LeadQuery(search="acai"))) == [
        "Ana Souza",
        "Ana Souza",
        "Bruno Lima",
    ]
    assert _names(small_desk, LeadQuery(search="acme tools")) == []
    carla = lists.contact_ids(small_desk, ContactQuery(search="carla"))[0]
    records.update_contact(small_desk, carla, {"last_name": "Gonçalves"}, now)
    assert _names(small_desk, LeadQuery(search="GONCALVES")) == ["Carla Gonçalves"]
    by_company = _names(small_desk, LeadQuery(sort="company", descending=False))
    assert by_company[:3] == ["Ana Souza", "Ana Souza", "Bruno Lima"]  # "Açaí" sorts as "acai"


def test_a_search_sorted_by_a_column_finds_what_one_statement_finds(
    db: Database, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorted by name, company, topic or last activity, a search of the whole list takes
    its matches from the search index and keeps them in the list's order: the same ids,
    in the same order, as the single statement that filters and sorts at once."""
    from leaddesk.services.demo import generate_demo

    generate_demo(db, leads=400, seed=3, now=now)
    queries = [
        LeadQuery(search=text, sort=sort, descending=descending, queue=queue, me=2)
        for text in ("a", "an", "ana", "silva gmbh", "example.com", "pricing", "zzzq", "50%_")
        for sort in ("name", "company", "topic", "last_activity")
        for descending in (False, True)
        for queue in (None, "all")
    ]
    assert all(lists._search_then_sort(db, q) for q in queries)
    found = [lists.lead_ids(db, q) for q in queries]
    assert any(len(ids) > 100 for ids in found) and any(0 < len(ids) < 50 for ids in found)
    monkeypatch.setattr(lists, "_search_then_sort", lambda _db, _q: False)
    assert [lists.lead_ids(db, q) for q in queries] == found


def test_a_narrowed_or_score_sorted_search_stays_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for q in (
        LeadQuery(search="ana", sort="score"),
        LeadQuery(search="ana", sort="stage"),
        LeadQuery(search="ana", sort="name", queue="mine", me=2),
        LeadQuery(search="ana", sort="name", stage="inquiry"),
        LeadQuery(search="", sort="name"),
    ):
        assert not lists._search_then_sort(db, q), q
    # group_concat is SQLite's (PostgreSQL has none, MySQL's is cut at 1 KB).
    assert lists._search_then_sort(db, LeadQuery(search="ana", sort="name"))
    monkeypatch.setattr(db.engine.dialect, "name", "postgresql")
    assert not lists._search_then_sort(db, LeadQuery(search="ana", sort="name"))

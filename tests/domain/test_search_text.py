"""Folding for the lead list's sort and search columns, without Qt or a database."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from leaddesk.domain.search_text import fold, lead_labels, search_blob, search_words


def _reference_fold(text: str) -> str:
    """The definition, without the ASCII short cut."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def test_accents_case_and_spaces_are_ignored() -> None:
    assert fold("  São   Paulo ") == "sao paulo"
    assert fold("GONÇALVES") == "goncalves"
    assert fold("Straße") == "strasse"
    assert fold("ANA\tMaria\n") == "ana maria"
    assert fold(None) == ""
    assert fold("") == ""


def test_search_words_and_blob() -> None:
    assert search_words(" Joao  SILVA ") == ["joao", "silva"]
    assert search_blob(["João Silva", None, "", "ACME Ltda."]) == "joao silva acme ltda."


@given(st.text())
def test_fold_matches_its_definition_for_any_text(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_short_cut_matches_the_definition(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
)
def test_lead_labels_are_the_folded_name_company_and_everything(
    first: str | None, last: str | None, email: str | None, company: str | None, topic: str | None
) -> None:
    name = " ".join(p for p in (first, last) if p) or email or company or ""
    assert lead_labels(first, last, email, company, topic) == (
        fold(name),
        fold(company),
        search_blob((name, email, company, topic)),
    )


def test_an_account_only_lead_is_listed_under_its_company() -> None:
    assert lead_labels(None, None, None, "Ação Ltda", "Trade show") == (
        "acao ltda",
        "acao ltda",
        "acao ltda acao ltda trade show",
    )

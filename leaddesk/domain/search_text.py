"""How names and search terms are compared: without case and without accents.

A telemarketer typing "sao paulo" or "GONCALVES" must find "São Paulo" and "Gonçalves";
SQLite's own ``lower()`` and ``LIKE`` fold ASCII letters only, so LeadDesk stores a folded
copy of what the lead list sorts and searches on and folds the user's words the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache


def fold(text: str | None) -> str:
    """Lower-case, accents removed, whitespace collapsed."""
    if not text:
        return ""
    if text.isascii():
        # NFKD and combining marks leave ASCII alone and casefold is lower() there: the
        # short cut matters because the demo and imports fold hundreds of thousands of names.
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def search_words(text: str) -> list[str]:
    """The words of a search box, folded; every word must match somewhere."""
    return fold(text).split()


def search_blob(parts: Iterable[str | None]) -> str:
    """One folded string holding everything a lead can be found by."""
    return " ".join(f for f in (fold(p) for p in parts) if f)


def lead_labels(
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    company: str | None,
    topic: str | None,
) -> tuple[str, str, str]:
    """A lead's folded ``(sort_name, sort_company, search_text)``.

    The name a lead is listed under is its contact's name, else the e-mail, else the
    company (account-only leads), so every row sorts somewhere sensible; the search text
    holds all of it plus the topic. One definition for every writer of these columns (the
    forms' recompute, the demo generator, the importer), so they can never disagree.
    """
    # Folded a part at a time: fold("First Last") is fold("First") + " " + fold("Last")
    # (both per character, spaces collapsed), and a desk repeats first and last names far
    # more than whole names, so the cache hits. The test holds this to the definition.
    folded_email = fold(email)
    folded_company = _fold_repeated(company)
    if first_name or last_name:
        first, last = _fold_repeated(first_name), _fold_repeated(last_name)
        folded_name = f"{first} {last}" if first and last else first or last
    elif email:
        folded_name = folded_email
    else:
        folded_name = folded_company
    parts = (folded_name, folded_email, folded_company, _fold_repeated(topic))
    return folded_name, folded_company, " ".join(filter(None, parts))


_fold_repeated = lru_cache(maxsize=8192)(fold)
"""``fold`` for the values a desk repeats (names, companies, topics): a demo or an import
folds hundreds of thousands of them, and accented ones take the slow path."""

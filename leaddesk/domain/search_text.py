"""How names and search terms are compared: without case and without accents.

A telemarketer typing "sao paulo" or "GONCALVES" must find "São Paulo" and "Gonçalves";
SQLite's own ``lower()`` and ``LIKE`` fold ASCII letters only, so LeadDesk stores a folded
copy of what the lead list sorts and searches on and folds the user's words the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


def fold(text: str | None) -> str:
    """Lower-case, accents removed, whitespace collapsed."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def search_words(text: str) -> list[str]:
    """The words of a search box, folded; every word must match somewhere."""
    return fold(text).split()


def search_blob(parts: Iterable[str | None]) -> str:
    """One folded string holding everything a lead can be found by."""
    return " ".join(f for f in (fold(p) for p in parts) if f)

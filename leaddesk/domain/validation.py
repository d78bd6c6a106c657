"""Field validation for contacts, accounts and leads.

Validation returns every problem at once, keyed by field name, so the UI can put each
message next to its field and the command line can print them all; nothing is ever
half-saved because one field was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Deliberately permissive: one @, something before it, a dotted domain after it, no spaces.
# Real validation of deliverability is a bounce, not a regex.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

CONTACT_TEXT_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "department",
    "buying_role",
    "country",
    "state",
    "city",
    "source",
)
CONTACT_BOOL_FIELDS = ("is_employee", "is_customer", "email_subscribed")
ACCOUNT_TEXT_FIELDS = ("name", "domain", "industry", "country", "state", "city")

# Every editable field of a contact and an account, in the order forms, files and scoring
# facts list them (DESIGN §2, §5.1). One place, so a new field reaches them all.
CONTACT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "department",
    "buying_role",
    "country",
    "state",
    "city",
    "age",
    "source",
    "is_employee",
    "is_customer",
    "email_subscribed",
)
ACCOUNT_FIELDS = (
    "name",
    "domain",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "state",
    "city",
)
BUYING_ROLES = ("decision_maker", "influencer", "champion", "user", "gatekeeper", "other")


class ValidationError(ValueError):
    """Carries a message per field; ``str()`` joins them for one-line reporting."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def normalise_email(value: str) -> str:
    return value.strip().lower()


def email_problem(value: object) -> str | None:
    # Stripped once: an import checks every row's address.
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return "an e-mail address is required"
    if not _EMAIL.match(text):
        return f"{text!r} is not a valid e-mail address"
    return None


def normalise_domain(value: str) -> str:
    """``https://www.Acme.com/about`` and ``acme.com`` are the same company domain."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    if text.startswith("www."):
        text = text[4:]
    return text


def _clean_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _whole_number(
    value: object, field: str, errors: dict[str, str], minimum: int, maximum: int | None = None
) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        errors[field] = "must be a whole number"
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors[field] = "must be a whole number"
        return None
    if number < minimum:
        errors[field] = "cannot be negative" if minimum == 0 else f"must be at least {minimum}"
        return None
    if maximum is not None and number > maximum:
        errors[field] = f"must be at most {maximum}"
        return None
    return number


def _amount(value: object, field: str, errors: dict[str, str]) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        errors[field] = "must be a number"
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        errors[field] = "must be a number"
        return None
    if number < 0:
        errors[field] = "cannot be negative"
        return None
    return number


def _boolean(value: object, field: str, errors: dict[str, str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n", ""):
        return False
    errors[field] = "must be yes or no"
    return None


def clean_contact(changes: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate and normalise contact fields; raises ValidationError listing every problem.

    Only the keys present in ``changes`` are returned, so an edit touches what the user
    changed and nothing else.
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "email" in changes or creating:
        problem = email_problem(changes.get("email"))
        if problem:
            errors["email"] = problem
        else:
            out["email"] = normalise_email(str(changes["email"]))
    for name in CONTACT_TEXT_FIELDS:
        if name in changes:
            out[name] = _clean_text(changes[name])
    if out.get("buying_role"):
        out["buying_role"] = str(out["buying_role"]).lower().replace(" ", "_")
    if "age" in changes:
        out["age"] = _whole_number(changes["age"], "age", errors, 0, 130)
    for name in CONTACT_BOOL_FIELDS:
        if name in changes:
            value = _boolean(changes[name], name, errors)
            if value is not None:
                out[name] = value
    if "account_id" in changes:
        out["account_id"] = changes["account_id"]
    if "custom" in changes:
        custom = changes["custom"]
        if not isinstance(custom, Mapping):
            errors["custom"] = "custom fields must be a mapping of names to values"
        else:
            out["custom"] = dict(custom)
    if errors:
        raise ValidationError(errors)
    return out


def clean_account(changes: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name in ACCOUNT_TEXT_FIELDS:
        if name in changes:
            out[name] = _clean_text(changes[name])
    if (creating or "name" in changes) and not out.get("name"):
        errors["name"] = "a company name is required"
    if out.get("domain"):
        out["domain"] = normalise_domain(out["domain"])
        if "." not in out["domain"] or " " in out["domain"]:
            errors["domain"] = f"{out['domain']!r} is not a domain name"
    if "employees" in changes:
        out["employees"] = _whole_number(changes["employees"], "employees", errors, 0)
    if "annual_revenue" in changes:
        out["annual_revenue"] = _amount(changes["annual_revenue"], "annual_revenue", errors)
    if "custom" in changes:
        custom = changes["custom"]
        if not isinstance(custom, Mapping):
            errors["custom"] = "custom fields must be a mapping of names to values"
        else:
            out["custom"] = dict(custom)
    if errors:
        raise ValidationError(errors)
    return out


def clean_lead(changes: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "topic" in changes:
        out["topic"] = _clean_text(changes["topic"]) or ""
    if "source" in changes:
        out["source"] = _clean_text(changes["source"])
    for name in ("contact_id", "account_id", "owner_id"):
        if name in changes:
            out[name] = changes[name]
    if errors:
        raise ValidationError(errors)
    return out

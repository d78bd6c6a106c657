"""The seeded catalogue of activity types (DESIGN §2).

Users may add their own types (custom product or web events); these are the ones every
new database starts with. Keys are stable identifiers used by scoring rules and CSV files;
labels are what the UI shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActivityTypeSpec:
    key: str
    label: str
    category: str  # email, web, sales, product, social, negative, commerce


BUILTIN_ACTIVITY_TYPES: tuple[ActivityTypeSpec, ...] = (
    ActivityTypeSpec("email_sent", "Email sent", "email"),
    ActivityTypeSpec("email_open", "Email opened", "email"),
    ActivityTypeSpec("email_click", "Email link clicked", "email"),
    ActivityTypeSpec("email_reply", "Email replied", "email"),
    ActivityTypeSpec("email_bounce", "Email bounced", "negative"),
    ActivityTypeSpec("unsubscribe", "Unsubscribed", "negative"),
    ActivityTypeSpec("page_visit", "Page visited", "web"),
    ActivityTypeSpec("form_submit", "Form submitted", "web"),
    ActivityTypeSpec("content_download", "Content downloaded", "web"),
    ActivityTypeSpec("event_attended", "Event attended", "web"),
    ActivityTypeSpec("webinar_attended", "Webinar attended", "web"),
    ActivityTypeSpec("social_click", "Social post clicked", "social"),
    ActivityTypeSpec("call", "Call", "sales"),
    ActivityTypeSpec("meeting_booked", "Meeting booked", "sales"),
    ActivityTypeSpec("meeting", "Meeting held", "sales"),
    ActivityTypeSpec("meeting_cancelled", "Meeting cancelled", "negative"),
    ActivityTypeSpec("demo", "Demo", "sales"),
    ActivityTypeSpec("note", "Note", "sales"),
    ActivityTypeSpec("trial_signup", "Trial signup", "product"),
    ActivityTypeSpec("product_event", "Product event", "product"),
    ActivityTypeSpec("purchase", "Purchase", "commerce"),
)

BUILTIN_KEYS: frozenset[str] = frozenset(t.key for t in BUILTIN_ACTIVITY_TYPES)


def normalise_type_key(text: str) -> str:
    """Turn what a user typed ("Webinar Attended", "trial-signup") into a type key.

    Keys are lower-case snake_case so that files and rules written by hand match the
    catalogue regardless of how they were capitalised.
    """
    cleaned = []
    for ch in text.strip().lower():
        cleaned.append(ch if ch.isalnum() else "_")
    key = "".join(cleaned)
    while "__" in key:
        key = key.replace("__", "_")
    return key.strip("_")

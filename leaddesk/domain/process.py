"""The lead business process: stage definitions (DESIGN §4).

Stages carry a ``role`` so that the automatic moves (first scored, sales-ready by score)
find their target even after an admin renamed or reordered the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageSpec:
    key: str
    label: str
    role: str | None
    fields: tuple[dict[str, object], ...] = field(default_factory=tuple)


QUALIFICATION_FIELDS: tuple[dict[str, object], ...] = (
    {"key": "budget", "label": "Budget", "type": "text"},
    {"key": "authority", "label": "Authority", "type": "text"},
    {"key": "need", "label": "Need", "type": "text"},
    {"key": "timeline", "label": "Timeline", "type": "text"},
    {"key": "notes", "label": "Notes", "type": "text"},
)

DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("inquiry", "Inquiry", "inquiry"),
    StageSpec("automated_qualification", "Automated marketing qualification", "scored"),
    StageSpec("telemarketing_acceptance", "Telemarketing acceptance", "telemarketing_ready"),
    StageSpec(
        "telemarketing_qualification",
        "Telemarketing qualification",
        "telemarketing_accepted",
        QUALIFICATION_FIELDS,
    ),
    StageSpec("sales_acceptance", "Sales acceptance", "sales_ready"),
)

DEFAULT_STAGE_KEY = "inquiry"

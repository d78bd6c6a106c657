"""SQLAlchemy 2 typed models: the schema Alembic migrations must match.

Conventions:
- Times are stored as naive UTC datetimes. The UI converts to local time for display and
  the command line reads naive ``--at``/``--now`` values as local time.
- E-mail addresses are stored trimmed and lower-cased, which is what makes the unique
  constraint case-insensitive on every database (SQLite ``NOCASE`` would not travel to
  PostgreSQL).
- ``leads.score``, ``leads.stars`` and ``leads.last_activity_at`` are denormalised from
  ``lead_scores`` and ``activities`` so that the lead list can sort 100,000 rows on an
  indexed column of one table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_ROLES = ("admin", "marketer", "telemarketer", "manager", "salesperson")
LEAD_STATUSES = ("open", "won", "disqualified")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(200), index=True)
    industry: Mapped[str | None] = mapped_column(String(120))
    employees: Mapped[int | None] = mapped_column(Integer)
    annual_revenue: Mapped[float | None]
    country: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(120))
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_accounts_name", "name"),)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(60))
    job_title: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(120))
    buying_role: Mapped[str | None] = mapped_column(String(60))
    country: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(120))
    age: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(120))
    is_employee: Mapped[bool] = mapped_column(Boolean, default=False)
    is_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    email_subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_contacts_last_name_first_name", "last_name", "first_name"),)


class Stage(Base):
    """A step of the lead business process; ``role`` ties the automatic moves to it."""

    __tablename__ = "stages"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(60), unique=True)
    fields: Mapped[list[Any]] = mapped_column(default=list)


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    topic: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str | None] = mapped_column(String(120))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    stage: Mapped[str] = mapped_column(String(60), default="inquiry")
    status: Mapped[str] = mapped_column(String(20), default="open")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    sales_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    telemarketing_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_telemarketing: Mapped[bool] = mapped_column(Boolean, default=False)
    sales_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    qualification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[int] = mapped_column(Integer, default=0)
    stars: Mapped[int] = mapped_column(Integer, default=0)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Folded (lower-case, accent-free) copies of what the list sorts and searches on, kept
    # by services.recompute.refresh_lead_labels: sorting 100,000 leads by name or company
    # on an index of one table is ten times faster than through two joins.
    sort_name: Mapped[str] = mapped_column(String(300), default="", server_default="")
    sort_company: Mapped[str] = mapped_column(String(200), default="", server_default="")
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_leads_score", "score"),
        Index("ix_leads_sort_name", "sort_name"),
        Index("ix_leads_sort_company", "sort_company"),
        # Covers a search as the list shows it (best score first): SQLite scans this
        # index, not the wide rows, for each keystroke.
        Index("ix_leads_score_search", "score", "id", "search_text"),
        Index("ix_leads_stage_score", "stage", "score"),
        Index("ix_leads_last_activity_at", "last_activity_at"),
        Index("ix_leads_topic", "topic"),
        Index("ix_leads_status_score", "status", "score"),
    )


class ActivityType(Base):
    __tablename__ = "activity_types"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40), default="custom")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    type_key: Mapped[str] = mapped_column(ForeignKey("activity_types.key"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        # Covering index for scoring and the timeline: a contact's activities by type and
        # time are read without touching the table.
        Index("ix_activities_contact_type_time", "contact_id", "type_key", "occurred_at"),
        Index("ix_activities_contact_time", "contact_id", "occurred_at"),
    )


class ScoringModelRecord(Base):
    """A scoring model: its rules are kept as the ``leaddesk.scoring/1`` model object."""

    __tablename__ = "scoring_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LeadScore(Base):
    __tablename__ = "lead_scores"

    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_models.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[int] = mapped_column(Integer, default=0)
    fit: Mapped[int] = mapped_column(Integer, default=0)
    engagement: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_lead_scores_model_score", "model_id", "score"),)


class ScoreHistory(Base):
    __tablename__ = "score_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("scoring_models.id", ondelete="SET NULL")
    )
    model_name: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime)
    old_score: Mapped[int] = mapped_column(Integer)
    new_score: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(40))

    __table_args__ = (Index("ix_score_history_lead_at", "lead_id", "at"),)


class LeadEvent(Base):
    """The audit trail of a lead: stage changes, checkboxes, assignments, tags, status."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_lead_events_lead_at", "lead_id", "at"),)


class AppSetting(Base):
    """Desk-wide settings that belong with the data (current user, last daily re-score)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ExternalScore(Base):
    """A score another tool computed for a lead (a partner's model, a team's own
    spreadsheet), kept with the time it was computed so an older file never overwrites a
    newer score. Conditions read it as ``lead.external_score.NAME``."""

    __tablename__ = "external_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    score: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    imported_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("lead_id", "name"),)


__all__ = [
    "LEAD_STATUSES",
    "USER_ROLES",
    "Account",
    "Activity",
    "ActivityType",
    "AppSetting",
    "Base",
    "Contact",
    "ExternalScore",
    "Lead",
    "LeadEvent",
    "LeadScore",
    "ScoreHistory",
    "ScoringModelRecord",
    "Stage",
    "User",
]

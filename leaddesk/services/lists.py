"""The three big lists (leads, contacts, accounts): ids in order, rows on demand.

A view asks for the ordered ids of everything that matches (one narrow query, sorted and
filtered in SQL) and then for the few rows it is painting. That keeps a 100,000-lead list
instant without loading 100,000 ORM objects, and lets a sort or a search be one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from leaddesk.domain.search_text import search_words
from leaddesk.services.records import display_name
from leaddesk.store.database import Database
from leaddesk.store.models import (
    Account,
    Activity,
    Contact,
    Lead,
    LeadScore,
    ScoringModelRecord,
    Stage,
    User,
)

# --- leads -------------------------------------------------------------------------------

LEAD_SORT_KEYS = ("name", "company", "topic", "score", "stars", "stage", "owner", "last_activity")


@dataclass(frozen=True)
class LeadQuery:
    search: str = ""
    stage: str | None = None
    status: str | None = None
    owner_id: int | None = None
    owner_name: str | None = None
    sales_ready: bool | None = None
    contact_id: int | None = None
    account_id: int | None = None
    queue: str | None = None  # all, telemarketing, sales_acceptance, mine, disqualified
    me: int | None = None  # the user at the desk, for the "mine" queue
    sort: str = "score"
    descending: bool = True


@dataclass(frozen=True)
class LeadRow:
    id: int
    name: str
    email: str | None
    company: str | None
    topic: str
    score: int
    stars: int
    stage: str
    stage_label: str
    owner: str | None
    last_activity_at: datetime | None
    status: str
    sales_ready: bool
    source: str | None


_LeadAccount = aliased(Account)

# A column or expression to ORDER BY.
SortColumn = ColumnElement[Any] | InstrumentedAttribute[Any]


def _lead_base(columns: Sequence[Any], joins: bool = True) -> Select[Any]:
    if not joins:
        return select(*columns).select_from(Lead)
    return (
        select(*columns)
        .select_from(Lead)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(
            _LeadAccount, _LeadAccount.id == func.coalesce(Lead.account_id, Contact.account_id)
        )
    )


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_words(text: str) -> list[str]:
    return [w for w in text.strip().lower().split() if w]


def _lead_sort_column(key: str, db: Database | None = None) -> SortColumn:
    """A plain indexed column wherever possible: expressions force SQLite to compute a key
    for all 100,000 rows before sorting them."""
    if key == "name":
        return Lead.sort_name
    if key == "company":
        return Lead.sort_company
    if key == "topic":
        return Lead.topic
    if key in ("score", "stars"):
        return Lead.score
    if key == "stage":
        # Stage order lives in a five-row table; a CASE over those few keys sorts without
        # a join per lead.
        positions = _small_table(db, select(Stage.key, Stage.position))
        return case(positions, value=Lead.stage, else_=-1) if positions else Lead.stage
    if key == "owner":
        names = _small_table(db, select(User.id, func.lower(User.name)))
        return case(names, value=Lead.owner_id, else_="") if names else Lead.owner_id
    if key == "last_activity":
        # No activity sorts as the oldest: SQLite puts NULLs first ascending, last descending.
        return Lead.last_activity_at
    raise ValueError(f"cannot sort leads by {key!r}")


def _small_table(db: Database | None, query: Any) -> dict[Any, Any]:
    if db is None:
        return {}
    with db.engine.connect() as conn:
        return {k: v for k, v in conn.execute(query)}


def _apply_lead_filters(query: Select[Any], q: LeadQuery) -> Select[Any]:
    for word in search_words(q.search):
        # search_text is folded (lower-case, no accents), like the words: a plain LIKE.
        query = query.where(Lead.search_text.like(_like(word), escape="\\"))
    if q.stage is not None:
        query = query.where(Lead.stage == q.stage)
    if q.status is not None:
        query = query.where(Lead.status == q.status)
    if q.owner_id is not None:
        query = query.where(Lead.owner_id == q.owner_id)
    if q.owner_name is not None:
        query = query.where(
            Lead.owner_id.in_(select(User.id).where(func.lower(User.name) == q.owner_name.lower()))
        )
    if q.sales_ready is not None:
        query = query.where(Lead.sales_ready.is_(q.sales_ready))
    if q.queue is not None:
        query = _queue_filter(query, q.queue, q.me)
    if q.contact_id is not None:
        query = query.where(Lead.contact_id == q.contact_id)
    if q.account_id is not None:
        query = query.where(
            or_(Lead.account_id == q.account_id, Contact.account_id == q.account_id)
        )
    return query


def _queue_filter(query: Select[Any], queue: str, user_id: int | None) -> Select[Any]:
    """The work queues of DESIGN §1/§4; stage membership goes through the stages' roles so
    renamed or reordered stages keep their queues."""
    if queue == "all":
        return query
    if queue == "telemarketing":
        keys = select(Stage.key).where(
            Stage.role.in_(("telemarketing_ready", "telemarketing_accepted"))
        )
        return query.where(Lead.status == "open", Lead.stage.in_(keys))
    if queue == "sales_acceptance":
        return query.where(
            Lead.status == "open", Lead.sales_ready.is_(True), Lead.sales_accepted.is_(False)
        )
    if queue == "mine":
        return query.where(Lead.status == "open", Lead.owner_id == (user_id or -1))
    if queue == "disqualified":
        return query.where(Lead.status == "disqualified")
    raise ValueError(f"unknown queue {queue!r}")


def queue_counts(db: Database, user_id: int | None) -> dict[str, int]:
    """Counts beside each queue in the sidebar: one pass over the leads table."""
    is_open = Lead.status == "open"
    with db.engine.connect() as conn:
        telemarketing = list(
            conn.execute(
                select(Stage.key).where(
                    Stage.role.in_(("telemarketing_ready", "telemarketing_accepted"))
                )
            ).scalars()
        )
        row = conn.execute(
            select(
                func.count(Lead.id),
                func.sum(case((is_open & Lead.stage.in_(telemarketing), 1), else_=0)),
                func.sum(
                    case(
                        (is_open & Lead.sales_ready.is_(True) & Lead.sales_accepted.is_(False), 1),
                        else_=0,
                    )
                ),
                func.sum(case((is_open & (Lead.owner_id == (user_id or -1)), 1), else_=0)),
                func.sum(case((Lead.status == "disqualified", 1), else_=0)),
            )
        ).one()
    keys = ("all", "telemarketing", "sales_acceptance", "mine", "disqualified")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


def lead_ids(db: Database, q: LeadQuery) -> list[int]:
    """Ids of every matching lead in display order (ties broken by id, so stable)."""
    column = _lead_sort_column(q.sort, db)
    order = column.desc() if q.descending else column.asc()
    tie = Lead.id.desc() if q.descending else Lead.id.asc()
    if _search_then_sort(db, q):
        # The matches, from the one index that holds the search text (as one text: 100,000
        # ids come 20 ms sooner than as rows), kept in the order of the whole list. Sorted
        # by name, "a" takes 110 ms this way and 160 ms as one statement, which reads
        # every lead's row through the name index to test its search text; "ana" 75 ms
        # instead of 125.
        matches = _apply_lead_filters(_lead_base([func.group_concat(Lead.id)], False), q)
        unsearched = replace(q, search="")
        everyone = _apply_lead_filters(_lead_base([Lead.id], _needs_joins(q)), unsearched)
        with db.engine.connect() as conn:
            # One read transaction (the driver opens none for a SELECT; closing the
            # connection rolls it back), so both statements see the same leads.
            conn.exec_driver_sql("BEGIN")
            text = conn.execute(matches).scalar()
            matching = set(map(int, text.split(","))) if text else set()
            ordered = _ids_on(conn, everyone.order_by(order, tie))
        return [i for i in ordered if i in matching]
    query = _apply_lead_filters(_lead_base([Lead.id], _needs_joins(q)), q)
    return _ids(db, query.order_by(order, tie))


def _search_then_sort(db: Database, q: LeadQuery) -> bool:
    """Whether a search of the whole list is cheaper done apart from its sort: when the
    list is sorted by an indexed column other than the score (whose index holds the search
    text) and nothing else narrows the leads (a queue or a filter leaves few rows to test
    one by one; the stage and owner sorts compute their key, best for the matches only)."""
    plain = replace(q, search="", sort="score", descending=True, queue=None, me=None)
    return (
        db.engine.dialect.name == "sqlite"  # group_concat: SQLite's, unbounded there
        and q.sort in _INDEXED_SORTS
        and bool(search_words(q.search))
        and q.queue in (None, "all")
        and plain == LeadQuery()
    )


_INDEXED_SORTS = frozenset({"name", "company", "topic", "last_activity"})


def _needs_joins(q: LeadQuery) -> bool:
    """Sorts, searches and queues read the leads table alone (names, companies and search
    text are folded copies on it); joining contacts and accounts would double the cost of a
    100,000-row sort."""
    return q.account_id is not None


def _ids(db: Database, query: Select[Any]) -> list[int]:
    """The ids, straight from the driver: for 100,000 rows SQLAlchemy's result machinery
    costs as much as SQLite's sort, and a list of ints needs none of it. The statement is
    still built and compiled (and cached) by SQLAlchemy; only plain parameters (text and
    numbers) are used here, so no type processing is skipped."""
    with db.engine.connect() as conn:
        return _ids_on(conn, query)


def _ids_on(conn: Connection, query: Select[Any]) -> list[int]:
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.params
    positions = compiled.positiontup
    if positions is None or not all(
        isinstance(params[name], int | str | float) for name in positions
    ):
        return list(conn.execute(query).scalars().all())
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), [params[name] for name in positions])
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()


def count_leads(db: Database, q: LeadQuery) -> int:
    query = _apply_lead_filters(_lead_base([func.count(Lead.id)], _needs_joins(q)), q)
    with db.reading() as session:
        return int(session.scalar(query) or 0)


def lead_rows(db: Database, ids: Sequence[int]) -> dict[int, LeadRow]:
    if not ids:
        return {}
    query = (
        _lead_base(
            [
                Lead.id,
                Contact.first_name,
                Contact.last_name,
                Contact.email,
                _LeadAccount.name,
                Lead.topic,
                Lead.score,
                Lead.stars,
                Lead.stage,
                Stage.label,
                User.name,
                Lead.last_activity_at,
                Lead.status,
                Lead.sales_ready,
                Lead.source,
            ]
        )
        .outerjoin(Stage, Stage.key == Lead.stage)
        .outerjoin(User, User.id == Lead.owner_id)
        .where(Lead.id.in_(list(ids)))
    )
    out: dict[int, LeadRow] = {}
    with db.reading() as session:
        for row in session.execute(query):
            (
                lid,
                first,
                last,
                email,
                company,
                topic,
                score,
                stars_,
                stage,
                label,
                owner,
                last_at,
                status,
                ready,
                source,
            ) = row
            contact = {"first_name": first, "last_name": last, "email": email} if email else None
            account = {"name": company} if company else None
            out[lid] = LeadRow(
                id=lid,
                name=display_name(contact, account),
                email=email,
                company=company,
                topic=topic,
                score=score,
                stars=stars_,
                stage=stage,
                stage_label=label or stage,
                owner=owner,
                last_activity_at=last_at,
                status=status,
                sales_ready=ready,
                source=source,
            )
    return out


# --- contacts -----------------------------------------------------------------------------

CONTACT_SORT_KEYS = ("name", "email", "company", "job_title", "country", "leads")


@dataclass(frozen=True)
class ContactQuery:
    search: str = ""
    account_id: int | None = None
    sort: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    email: str
    company: str | None
    job_title: str | None
    country: str | None
    leads: int
    account_id: int | None


def _contact_sort_column(key: str) -> SortColumn:
    if key == "name":
        full = func.trim(
            func.coalesce(Contact.first_name, "")
            + literal(" ")
            + func.coalesce(Contact.last_name, "")
        )
        return func.lower(func.coalesce(func.nullif(full, ""), Contact.email))
    if key == "email":
        return Contact.email
    if key == "company":
        return func.lower(func.coalesce(Account.name, ""))
    if key == "job_title":
        return func.lower(func.coalesce(Contact.job_title, ""))
    if key == "country":
        return func.lower(func.coalesce(Contact.country, ""))
    if key == "leads":
        return select(func.count(Lead.id)).where(Lead.contact_id == Contact.id).scalar_subquery()
    raise ValueError(f"cannot sort contacts by {key!r}")


def _contact_filters(query: Select[Any], q: ContactQuery) -> Select[Any]:
    for word in _search_words(q.search):
        pattern = _like(word)
        query = query.where(
            or_(
                Contact.first_name.ilike(pattern, escape="\\"),
                Contact.last_name.ilike(pattern, escape="\\"),
                Contact.email.ilike(pattern, escape="\\"),
                Account.name.ilike(pattern, escape="\\"),
                Contact.job_title.ilike(pattern, escape="\\"),
            )
        )
    if q.account_id is not None:
        query = query.where(Contact.account_id == q.account_id)
    return query


def contact_ids(db: Database, q: ContactQuery) -> list[int]:
    column = _contact_sort_column(q.sort)
    order = column.desc() if q.descending else column.asc()
    tie = Contact.id.desc() if q.descending else Contact.id.asc()
    query = _contact_filters(
        select(Contact.id).outerjoin(Account, Account.id == Contact.account_id), q
    ).order_by(order, tie)
    return _ids(db, query)


def contact_rows(db: Database, ids: Sequence[int]) -> dict[int, ContactRow]:
    if not ids:
        return {}
    lead_count = select(func.count(Lead.id)).where(Lead.contact_id == Contact.id).scalar_subquery()
    query = (
        select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Account.name,
            Contact.job_title,
            Contact.country,
            lead_count,
            Contact.account_id,
        )
        .outerjoin(Account, Account.id == Contact.account_id)
        .where(Contact.id.in_(list(ids)))
    )
    out: dict[int, ContactRow] = {}
    with db.reading() as session:
        for cid, first, last, email, company, title, country, leads, account_id in session.execute(
            query
        ):
            name = display_name({"first_name": first, "last_name": last, "email": email}, None)
            out[cid] = ContactRow(cid, name, email, company, title, country, leads, account_id)
    return out


# --- accounts -----------------------------------------------------------------------------

ACCOUNT_SORT_KEYS = ("name", "domain", "industry", "employees", "country", "contacts")


@dataclass(frozen=True)
class AccountQuery:
    search: str = ""
    sort: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    domain: str | None
    industry: str | None
    employees: int | None
    country: str | None
    contacts: int


def _account_sort_column(key: str) -> SortColumn:
    if key in ("name", "domain", "industry", "country"):
        return func.lower(func.coalesce(getattr(Account, key), ""))
    if key == "employees":
        return func.coalesce(Account.employees, -1)
    if key == "contacts":
        return (
            select(func.count(Contact.id)).where(Contact.account_id == Account.id).scalar_subquery()
        )
    raise ValueError(f"cannot sort accounts by {key!r}")


def account_ids(db: Database, q: AccountQuery) -> list[int]:
    column = _account_sort_column(q.sort)
    order = column.desc() if q.descending else column.asc()
    tie = Account.id.desc() if q.descending else Account.id.asc()
    query = select(Account.id)
    for word in _search_words(q.search):
        pattern = _like(word)
        query = query.where(
            or_(
                Account.name.ilike(pattern, escape="\\"),
                Account.domain.ilike(pattern, escape="\\"),
                Account.industry.ilike(pattern, escape="\\"),
                Account.city.ilike(pattern, escape="\\"),
                Account.country.ilike(pattern, escape="\\"),
            )
        )
    return _ids(db, query.order_by(order, tie))


def account_rows(db: Database, ids: Sequence[int]) -> dict[int, AccountRow]:
    if not ids:
        return {}
    contact_count = (
        select(func.count(Contact.id)).where(Contact.account_id == Account.id).scalar_subquery()
    )
    query = select(
        Account.id,
        Account.name,
        Account.domain,
        Account.industry,
        Account.employees,
        Account.country,
        contact_count,
    ).where(Account.id.in_(list(ids)))
    with db.reading() as session:
        return {row[0]: AccountRow(*row) for row in session.execute(query)}


# --- counts for the status bar --------------------------------------------------------------


@dataclass(frozen=True)
class DeskCounts:
    leads: int
    open_leads: int
    sales_ready: int
    contacts: int
    accounts: int
    activities: int


def desk_counts(db: Database) -> DeskCounts:
    with db.engine.connect() as conn:
        leads, open_leads, ready = conn.execute(
            select(
                func.count(Lead.id),
                func.sum(case((Lead.status == "open", 1), else_=0)),
                func.sum(case(((Lead.status == "open") & Lead.sales_ready.is_(True), 1), else_=0)),
            )
        ).one()
        contacts = conn.execute(select(func.count(Contact.id))).scalar() or 0
        accounts = conn.execute(select(func.count(Account.id))).scalar() or 0
        # max(id) is instant where count(*) scans a million rows; exact enough for a
        # status bar and exact unless activities were deleted.
        activities = conn.execute(select(func.max(Activity.id))).scalar() or 0
    return DeskCounts(
        int(leads or 0),
        int(open_leads or 0),
        int(ready or 0),
        int(contacts),
        int(accounts),
        int(activities),
    )


# --- per-model scores, for exports that show every model --------------------------------


def active_model_names(db: Database) -> list[str]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(ScoringModelRecord.name)
                .where(ScoringModelRecord.active.is_(True))
                .order_by(ScoringModelRecord.position, ScoringModelRecord.id)
            )
        )


def lead_model_scores(db: Database, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each lead's score from each active model (absent when never scored)."""
    out: dict[int, dict[str, int]] = {}
    if not ids:
        return out
    query = (
        select(LeadScore.lead_id, ScoringModelRecord.name, LeadScore.score)
        .join(ScoringModelRecord, ScoringModelRecord.id == LeadScore.model_id)
        .where(LeadScore.lead_id.in_(list(ids)), ScoringModelRecord.active.is_(True))
    )
    with db.reading() as session:
        for lead_id, name, score in session.execute(query):
            out.setdefault(lead_id, {})[name] = score
    return out

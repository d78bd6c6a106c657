"""Lazy table models for the three big lists.

A list of 100,000 leads must paint, sort and search in a blink, so a model never holds
rows: it holds the ordered ids the service computed in SQL (one narrow query) and asks
for the rows of the page being painted, keeping a bounded cache of recent pages. Sorting
and searching run the id query again; a ``QSortFilterProxyModel`` would need every row in
memory and would sort in Python. (Anki's browser table works the same way.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from leaddesk.services.lists import (
    ACCOUNT_SORT_KEYS,
    CONTACT_SORT_KEYS,
    LEAD_SORT_KEYS,
    AccountQuery,
    AccountRow,
    ContactQuery,
    ContactRow,
    LeadQuery,
    LeadRow,
    account_ids,
    account_rows,
    contact_ids,
    contact_rows,
    lead_ids,
    lead_rows,
)
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import ERROR_COLOUR, format_count, format_relative, format_time, stars_text
from leaddesk.ui.qt import (
    QAbstractTableModel,
    QColor,
    QFont,
    QGuiApplication,
    QModelIndex,
    QObject,
    QPalette,
    QPersistentModelIndex,
    Qt,
)

ID_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""``data(index, ID_ROLE)``: the id of the record on that row, without fetching the row."""

AnyIndex = QModelIndex | QPersistentModelIndex
_ALIGN_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ALIGN_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CELL_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
)
_NO_FLAGS = Qt.ItemFlag.NoItemFlags


@dataclass(frozen=True)
class Column:
    """One list column: its header, the service's sort key, a default width (the lists
    never measure their contents), and how a row reads in it."""

    title: str
    sort_key: str
    width: int
    text: Callable[[Any, datetime], str]
    tooltip: Callable[[Any, datetime], str] | None = None
    numeric: bool = False


class LazyTableModel(QAbstractTableModel):
    """Ordered ids in memory, rows fetched a page at a time when the view paints them.

    Subclasses name their columns and the two service calls (ids for a query, rows for
    some ids). The query is the service's frozen dataclass (``LeadQuery``…), so sort,
    search and filters are all ``dataclasses.replace`` on it followed by one id query.
    """

    PAGE_SIZE = 150
    CACHE_LIMIT = 3000
    columns: tuple[Column, ...] = ()
    default_order: tuple[str, ...] = ()
    """Sort keys in the order the columns first stand on screen; empty: model order."""
    nouns = ("row", "rows")

    def __init__(
        self, db: Database, query: Any, clock: Clock = utc_now, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._query = query
        self._clock = clock
        self._ids: list[int] = []
        self._positions: dict[int, int] | None = None
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._loaded = False

    # --- what subclasses provide ------------------------------------------------------

    def _fetch_ids(self, query: Any) -> list[int]:
        raise NotImplementedError

    def _fetch_rows(self, ids: Sequence[int]) -> Mapping[int, Any]:
        raise NotImplementedError

    def _foreground(self, row: Any, column: Column) -> Any:
        return None

    def _font(self, row: Any, column: Column) -> QFont | None:
        return None

    # --- the query ----------------------------------------------------------------------

    @property
    def query(self) -> Any:
        return self._query

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def ensure_loaded(self) -> None:
        """Run the id query the first time the list is shown (tabs load when opened)."""
        if not self._loaded:
            self.reload()

    def reload(self) -> None:
        """Re-run the id query: the set of matching records may have changed."""
        ids = self._fetch_ids(self._query)
        self.beginResetModel()
        self._ids = ids
        self._positions = None
        self._cache.clear()
        self._loaded = True
        self.endResetModel()

    def set_search(self, text: str) -> bool:
        """Search; True when the list was read again (the text changed the query)."""
        return self._change_query(search=text.strip())

    def set_filter(self, **criteria: Any) -> None:
        """Narrow the list by query fields (``contact_id=7``); ``None`` lifts a filter."""
        self._change_query(**criteria)

    def _change_query(self, **changes: Any) -> bool:
        updated = replace(self._query, **changes)
        if updated == self._query and self._loaded:
            return False
        self._query = updated
        if self._loaded:
            self.reload()
        return self._loaded

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in SQL. Rows keep their selection: a sort is a layout change, not a reset."""
        if not 0 <= column < len(self.columns):
            return
        updated = replace(
            self._query,
            sort=self.columns[column].sort_key,
            descending=order == Qt.SortOrder.DescendingOrder,
        )
        if updated == self._query and self._loaded:
            return
        self._query = updated
        if not self._loaded:
            return
        ids = self._fetch_ids(self._query)
        if len(ids) != len(self._ids):
            # Someone else changed the records meanwhile: row count changes need a reset.
            self.beginResetModel()
            self._ids = ids
            self._positions = None
            self._cache.clear()
            self.endResetModel()
            return
        self.layoutAboutToBeChanged.emit()
        old_ids = self._ids
        self._ids = ids
        self._positions = None
        before = self.persistentIndexList()
        # Usually one selected row: a C-speed list.index per record beats building a
        # 100,000-entry position map on every header click.
        moved: dict[int, int | None] = {}
        after = []
        for index in before:
            record_id = old_ids[index.row()]
            if record_id not in moved:
                try:
                    moved[record_id] = ids.index(record_id)
                except ValueError:
                    moved[record_id] = None
            new_row = moved[record_id]
            after.append(
                self.index(new_row, index.column()) if new_row is not None else QModelIndex()
            )
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def describe_count(self) -> str:
        """ "1 lead", "12,345 leads": the size of the list as the status bar says it."""
        count = len(self._ids)
        return f"{format_count(count)} {self.nouns[0] if count == 1 else self.nouns[1]}"

    def sort_column(self) -> int:
        for number, column in enumerate(self.columns):
            if column.sort_key == self._query.sort:
                return number
        return 0

    def sort_order(self) -> Qt.SortOrder:
        if self._query.descending:
            return Qt.SortOrder.DescendingOrder
        return Qt.SortOrder.AscendingOrder

    # --- rows -----------------------------------------------------------------------------

    def id_at(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def ids(self) -> list[int]:
        """A copy of the ids in list order: what the list was, to find one's place in it
        after it changed (:meth:`nearest_row`)."""
        return list(self._ids)

    def nearest_row(self, old_ids: Sequence[int], old_row: int) -> int | None:
        """Where the user's place went after records left or the list was read again:
        the row, in the list as it is now, of the first record at or below ``old_row`` in
        ``old_ids`` that is still listed (the next message, as a mail client moves to
        after a delete), else of the nearest one above it; ``None`` for an empty list."""
        if not self._ids:
            return None
        positions = self._position_map()
        start = min(max(old_row, 0), len(old_ids))
        for record_id in old_ids[start:]:
            row = positions.get(record_id)
            if row is not None:
                return row
        for record_id in reversed(old_ids[:start]):
            row = positions.get(record_id)
            if row is not None:
                return row
        return min(start, len(self._ids) - 1)

    def row_of(self, record_id: int) -> int | None:
        if self._positions is not None:
            return self._positions.get(record_id)
        try:
            return self._ids.index(record_id)  # one lookup: cheaper than building the map
        except ValueError:
            return None

    def record(self, row: int) -> Any | None:
        """The service's row object for a list row (fetched with its page if needed)."""
        if not 0 <= row < len(self._ids):
            return None
        return self._row(row)

    def refresh_rows(self, ids: Iterable[int]) -> None:
        """Refetch these records (an activity or an edit changed them) and repaint just
        their rows; the order is left alone so the row under the user does not jump."""
        wanted_ids = set(ids)
        if len(wanted_ids) > 8:
            self._position_map()
        rows = sorted(
            row for row in (self.row_of(record_id) for record_id in wanted_ids) if row is not None
        )
        if not rows:
            return
        wanted = [self._ids[row] for row in rows]
        fetched = self._fetch_rows(wanted)
        for record_id in wanted:
            self._cache[record_id] = fetched.get(record_id)
            self._cache.move_to_end(record_id)
        self._trim_cache()
        last_column = self.columnCount() - 1
        start = previous = rows[0]
        for row in [*rows[1:], None]:
            if row is not None and row == previous + 1:
                previous = row
                continue
            self.dataChanged.emit(self.index(start, 0), self.index(previous, last_column))
            if row is not None:
                start = previous = row

    def resync(self, touched: Iterable[int]) -> list[int]:
        """After an action on some records: repaint them where they still belong, and take
        out the rows of those that left the list (a lead ticked out of a queue). Rows that
        stay keep their place, so nothing jumps under the user; only when records *joined*
        the list is it read again from scratch. Returns the ids that left."""
        touched_ids = set(touched)
        if not self._loaded:
            return []
        ids = self._fetch_ids(self._query)
        fresh = set(ids)
        gone = [record_id for record_id in self._ids if record_id not in fresh]
        if len(fresh) > len(self._ids) - len(gone):
            self.reload()  # something joined: only a fresh read puts it in its place
            return gone
        if gone:
            self._remove_ids(set(gone))
        self.refresh_rows(touched_ids & fresh)
        return gone

    def _remove_ids(self, gone: set[int]) -> None:
        rows = [row for row, record_id in enumerate(self._ids) if record_id in gone]
        # Contiguous runs, last first, so earlier row numbers stay valid while removing.
        runs: list[tuple[int, int]] = []
        for row in rows:
            if runs and runs[-1][1] == row - 1:
                runs[-1] = (runs[-1][0], row)
            else:
                runs.append((row, row))
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            for record_id in self._ids[first : last + 1]:
                self._cache.pop(record_id, None)
            del self._ids[first : last + 1]
            self._positions = None
            self.endRemoveRows()

    def refresh_all_rows(self) -> None:
        """Forget every cached row and repaint: an edit may have renamed a company that
        many rows show, and only the visible ones will be fetched again."""
        self._cache.clear()
        if self._ids:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._ids) - 1, self.columnCount() - 1)
            )

    def _position_map(self) -> dict[int, int]:
        if self._positions is None:
            self._positions = {record_id: row for row, record_id in enumerate(self._ids)}
        return self._positions

    def _row(self, row: int) -> Any | None:
        record_id = self._ids[row]
        if record_id in self._cache:
            self._cache.move_to_end(record_id)
            return self._cache[record_id]
        self._fetch_page(row // self.PAGE_SIZE)
        return self._cache.get(record_id)

    def _fetch_page(self, page: int) -> None:
        start = page * self.PAGE_SIZE
        wanted = [i for i in self._ids[start : start + self.PAGE_SIZE] if i not in self._cache]
        fetched = self._fetch_rows(wanted)
        for record_id in wanted:
            # None marks a record deleted since the ids were read: shown blank, not refetched.
            self._cache[record_id] = fetched.get(record_id)
        self._trim_cache()

    def _trim_cache(self) -> None:
        while len(self._cache) > self.CACHE_LIMIT:
            self._cache.popitem(last=False)

    # --- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        # Asked for every cell on every paint: the flags are built once (issue 6).
        return _CELL_FLAGS if index.isValid() else _NO_FLAGS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGN_RIGHT if column.numeric else _ALIGN_LEFT
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        if role == ID_ROLE:
            return self._ids[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGN_RIGHT if column.numeric else _ALIGN_LEFT
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.FontRole,
        ):
            return None
        row = self._row(index.row())
        if row is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row, self._clock())
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.tooltip is not None:
                return column.tooltip(row, self._clock()) or None
            return column.text(row, self._clock()) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, column)
        return self._font(row, column)


def _text(value: object) -> str:
    return "" if value is None else str(value)


STATUS_LABELS = {"won": "Won", "disqualified": "Disqualified"}
"""A closed lead's status as its Stage cell starts with it (open leads show the stage)."""
WON_COLOUR = "#2e7d32"


def _stage_text(row: LeadRow, _now: datetime) -> str:
    """A closed lead says so first ("Won · Sales acceptance"): won and disqualified
    leads are both greyed, and the status, not where it stopped, is what tells them apart.
    The list has no Status column (the services cannot sort by status), so the Stage
    cell carries it, which also keeps a sort by stage grouping leads where they stopped."""
    status = STATUS_LABELS.get(row.status)
    return f"{status} · {row.stage_label}" if status else row.stage_label


def _status_note(row: LeadRow, _now: datetime) -> str:
    if row.status == "won":
        return f"Won (closed at the {row.stage_label} stage)"
    if row.status == "disqualified":
        return f"Disqualified (ruled out at the {row.stage_label} stage)"
    if row.status != "open":
        return f"{row.stage_label} — {row.status}"
    return row.stage_label + (" — sales-ready" if row.sales_ready else "")


LEAD_COLUMNS = (
    Column(
        "Name",
        "name",
        124,
        lambda r, _n: r.name,
        lambda r, _n: f"{r.name} <{r.email}>" if r.email else r.name,
    ),
    Column("Company", "company", 96, lambda r, _n: _text(r.company)),
    Column("Topic", "topic", 110, lambda r, _n: r.topic),
    Column("Score", "score", 58, lambda r, _n: str(r.score), numeric=True),
    Column(
        "Stars",
        "stars",
        62,
        lambda r, _n: stars_text(r.stars),
        lambda r, _n: f"{r.stars} of 5 stars",
    ),
    Column("Stage", "stage", 118, _stage_text, _status_note),
    Column(
        "Owner",
        "owner",
        104,
        lambda r, _n: _text(r.owner),
        lambda r, _n: f"Owner: {r.owner}" if r.owner else "No owner yet",
    ),
    Column(
        "Last activity",
        "last_activity",
        90,
        lambda r, now: format_relative(r.last_activity_at, now),
        lambda r, _n: format_time(r.last_activity_at) or "No activity yet",
    ),
)
assert tuple(c.sort_key for c in LEAD_COLUMNS) == LEAD_SORT_KEYS


class LeadTableModel(LazyTableModel):
    """The lead list. ``default_order`` is how the columns stand on screen until the user
    moves them (the model's own order is the services' sort keys): at 1280 pixels the
    list is about 570 wide, and what a queue is worked by must fit in it - who the lead
    is, its score, its stage and its owner (a manager assigning from Sales acceptance
    needs the owner); the topic and the rest follow, a scroll away."""

    columns = LEAD_COLUMNS
    nouns = ("lead", "leads")
    default_order = (
        "name",
        "company",
        "score",
        "stage",
        "owner",
        "topic",
        "stars",
        "last_activity",
    )

    def __init__(
        self,
        db: Database,
        clock: Clock = utc_now,
        parent: QObject | None = None,
        query: LeadQuery | None = None,
    ) -> None:
        super().__init__(db, query or LeadQuery(), clock, parent)

    def _fetch_ids(self, query: LeadQuery) -> list[int]:
        return lead_ids(self._db, query)

    def _fetch_rows(self, ids: Sequence[int]) -> Mapping[int, LeadRow]:
        return lead_rows(self._db, ids)

    def _foreground(self, row: LeadRow, column: Column) -> Any:
        """Closed leads are greyed (off the pipeline); their Stage cell is coloured by
        how they closed, green for won and red for disqualified, so the two read apart."""
        if row.status == "open":
            return None
        if column.sort_key == "stage" and row.status in STATUS_LABELS:
            return QColor(WON_COLOUR if row.status == "won" else ERROR_COLOUR)
        return QGuiApplication.palette().color(
            QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
        )

    def _font(self, row: LeadRow, column: Column) -> QFont | None:
        if row.sales_ready and row.status == "open" and column.sort_key in ("name", "score"):
            font = QFont()
            font.setBold(True)
            return font
        return None


CONTACT_COLUMNS = (
    Column("Name", "name", 160, lambda r, _n: r.name),
    Column("E-mail", "email", 200, lambda r, _n: r.email),
    Column("Company", "company", 140, lambda r, _n: _text(r.company)),
    Column("Job title", "job_title", 140, lambda r, _n: _text(r.job_title)),
    Column("Country", "country", 90, lambda r, _n: _text(r.country)),
    Column("Leads", "leads", 60, lambda r, _n: format_count(r.leads), numeric=True),
)
assert tuple(c.sort_key for c in CONTACT_COLUMNS) == CONTACT_SORT_KEYS


class ContactTableModel(LazyTableModel):
    columns = CONTACT_COLUMNS
    nouns = ("contact", "contacts")

    def __init__(
        self,
        db: Database,
        clock: Clock = utc_now,
        parent: QObject | None = None,
        query: ContactQuery | None = None,
    ) -> None:
        super().__init__(db, query or ContactQuery(), clock, parent)

    def _fetch_ids(self, query: ContactQuery) -> list[int]:
        return contact_ids(self._db, query)

    def _fetch_rows(self, ids: Sequence[int]) -> Mapping[int, ContactRow]:
        return contact_rows(self._db, ids)


ACCOUNT_COLUMNS = (
    Column("Name", "name", 190, lambda r, _n: r.name),
    Column("Domain", "domain", 160, lambda r, _n: _text(r.domain)),
    Column("Industry", "industry", 140, lambda r, _n: _text(r.industry)),
    Column(
        "Employees",
        "employees",
        90,
        lambda r, _n: "" if r.employees is None else format_count(r.employees),
        numeric=True,
    ),
    Column("Country", "country", 100, lambda r, _n: _text(r.country)),
    Column("Contacts", "contacts", 80, lambda r, _n: format_count(r.contacts), numeric=True),
)
assert tuple(c.sort_key for c in ACCOUNT_COLUMNS) == ACCOUNT_SORT_KEYS


class AccountTableModel(LazyTableModel):
    columns = ACCOUNT_COLUMNS
    nouns = ("account", "accounts")

    def __init__(
        self,
        db: Database,
        clock: Clock = utc_now,
        parent: QObject | None = None,
        query: AccountQuery | None = None,
    ) -> None:
        super().__init__(db, query or AccountQuery(), clock, parent)

    def _fetch_ids(self, query: AccountQuery) -> list[int]:
        return account_ids(self._db, query)

    def _fetch_rows(self, ids: Sequence[int]) -> Mapping[int, AccountRow]:
        return account_rows(self._db, ids)

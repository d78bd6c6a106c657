"""The main window: the work queues, the three lists, and the lead on the right.

Everyone triages from the lead list (DESIGN §1), so it is built for the keyboard: arrows
move and show the lead, Enter jumps into its process bar, Ctrl+F searches, Ctrl+L logs
an activity. The queue sidebar narrows the lead list to a person's work (the
telemarketing queue, sales acceptance, my leads…) with counts kept current after every
action. Contacts and accounts are ways into their leads: opening one filters the lead
list to it, with a chip that says so and lifts the filter.

Somebody is always at the desk (``services.process.current_user``): every action is
done as them, and what their role cannot do is disabled with a tooltip saying why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaddesk import __version__
from leaddesk.domain.process import allowed
from leaddesk.services.desk import is_empty
from leaddesk.services.errors import ServiceError
from leaddesk.services.lists import DeskCounts, desk_counts, queue_counts
from leaddesk.services.process import (
    QUEUE_LABELS,
    Actor,
    current_user,
    has_chosen_user,
)
from leaddesk.services.scoring import has_models, install_starter_models, rescore_if_due
from leaddesk.store.database import Database, sqlite_file
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import format_count
from leaddesk.ui.lead_detail import LeadDetailPane
from leaddesk.ui.process_bar import refusal
from leaddesk.ui.qt import (
    QAbstractItemView,
    QAction,
    QByteArray,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QEvent,
    QFont,
    QHBoxLayout,
    QHeaderView,
    QItemSelectionModel,
    QKeyEvent,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QModelIndex,
    QMouseEvent,
    QObject,
    QPainter,
    QPalette,
    QPersistentModelIndex,
    QPointF,
    QPolygonF,
    QPushButton,
    QRect,
    QSettings,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionHeader,
    QStyleOptionViewItem,
    Qt,
    QTabBar,
    QTableView,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.queues import WORK_QUEUES, QueueList
from leaddesk.ui.table_models import (
    AccountTableModel,
    ContactTableModel,
    LazyTableModel,
    LeadTableModel,
)
from leaddesk.ui.user_picker import UserPickerDialog, role_label
from leaddesk.ui.workers import Job, error_text, run_job

if TYPE_CHECKING:
    # The dialogs and the import wizard are imported when first opened, not at start-up:
    # they are not needed for the first paint of the lead list (issue 6).
    from leaddesk.ui.assign_dialog import AssignDialog
    from leaddesk.ui.demo_loading import DemoDataDialog, DemoLoader
    from leaddesk.ui.log_activity_dialog import LogActivityDialog

SEARCH_DELAY_MS = 200
# Holding an arrow key must not fetch every lead it passes; the pane follows after a pause.
DETAIL_DELAY_MS = 80
# The counts and the first lead are read after the list's first paint, or after this long.
FIRST_PAINT_WAIT_MS = 1000
DEFAULT_SIZE = (1280, 800)
DEFAULT_SPLIT = (174, 596, 510)  # queues, list, lead
# Time passing moves scores (expiry, decay): checked hourly, done when a day has passed.
RESCORE_CHECK_MS = 60 * 60 * 1000
CHECKPOINT_IDLE_MS = 2_000
"""How often the event loop, when free, has the WAL copied into the database file (off the
UI thread), so that commits - logging an activity - do not pay for it (store.database)."""
STARTER_DECLINED_KEY = "scoring/starter_models_declined"
FOLDER_KEY = "files/folder"
IMPORT_TIP = "Import accounts, contacts, leads, activities or external scores from a CSV file"
CHIP_STYLE = (
    "QToolButton { border: 1px solid palette(highlight); border-radius: 10px;"
    " padding: 2px 10px; background: palette(alternate-base); }"
    "QToolButton:hover { background: palette(midlight); }"
)


SORT_ARROW = 7
"""Width of the sort arrow the list headers draw, and (about) the gap kept before it."""


class RecordHeader(QHeaderView):
    """A list header whose sort arrow points the way the list runs - down when the
    biggest comes first, as in Outlook, Excel and HubSpot - whatever the style's own
    convention (Fusion draws an *up* arrow for a descending sort), and keeps clear of
    the label, which is moved or elided to make room for it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionsClickable(True)  # as the table's own header is: clicks sort

    def initStyleOptionForIndex(self, option: QStyleOptionHeader, logicalIndex: int) -> None:
        super().initStyleOptionForIndex(option, logicalIndex)
        if self.isSortIndicatorShown() and logicalIndex == self.sortIndicatorSection():
            option.sortIndicator = QStyleOptionHeader.SortIndicator.None_
            # Trailing spaces move a right-aligned label left of the arrow, and make a
            # long left-aligned one elide before it.
            space = max(1, self.fontMetrics().horizontalAdvance(" "))
            option.text += " " * (-(-(2 * SORT_ARROW + 2) // space))

    def paintSection(self, painter: QPainter, rect: QRect, logicalIndex: int) -> None:
        super().paintSection(painter, rect, logicalIndex)
        if not self.isSortIndicatorShown() or logicalIndex != self.sortIndicatorSection():
            return
        down = self.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        half = SORT_ARROW / 2
        x = rect.right() - SORT_ARROW - 5
        y = rect.center().y() + 1
        top, bottom = y - half / 1.4, y + half / 1.4
        points = (
            [QPointF(x, top), QPointF(x + SORT_ARROW, top), QPointF(x + half, bottom)]
            if down
            else [QPointF(x, bottom), QPointF(x + SORT_ARROW, bottom), QPointF(x + half, top)]
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.ButtonText))
        painter.drawPolygon(QPolygonF(points))
        painter.restore()


def abbreviate(text: str, fits: Callable[[str], bool]) -> str:
    """Shorten the leading words of a name that does not fit, keeping the last one whole:
    stage names share their start ("Telemarketing acceptance", "Telemarketing
    qualification") and differ at the end, so "Telem. acceptance" tells them apart where
    "Telemarketing a…" cannot. Words are cut to five letters first (the same "Telem."
    on every row, so the column reads as one list), then shorter until the name fits;
    ``text`` itself when even initials do not fit (the view then elides it in the
    middle)."""
    if fits(text):
        return text
    head, dot, tail = text.rpartition(" · ")
    if dot:
        # "Won · Sales acceptance": the status before the dot is what matters; the
        # stage after it is shortened, else left out (the tooltip still names it).
        short = abbreviate(tail, lambda t: fits(head + dot + t))
        return head + dot + short if fits(head + dot + short) else head
    words = text.split(" ")
    longest = max((len(word) for word in words[:-1]), default=0)
    for keep in range(min(longest - 2, 5), 0, -1):
        candidate = " ".join(
            word[:keep] + "." if number < len(words) - 1 and len(word) > keep + 1 else word
            for number, word in enumerate(words)
        )
        if fits(candidate):
            return candidate
    return text


class StageDelegate(QStyledItemDelegate):
    """Stage cells: leading words abbreviated to fit (:func:`abbreviate`), else elided in
    the middle; the tooltip keeps the full name."""

    TEXT_MARGIN = 8

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle
        room = option.rect.width() - self.TEXT_MARGIN
        if room > 0 and option.text:
            metrics = option.fontMetrics
            option.text = abbreviate(
                option.text, lambda text: metrics.horizontalAdvance(text) <= room
            )


class RecordTable(QTableView):
    """A list view tuned for 100,000 rows: fixed row heights (Qt never measures rows),
    no grid, whole-row selection, and one ``open_requested`` for Enter and double-click."""

    open_requested = Signal(QModelIndex)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeader(RecordHeader(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTabKeyNavigation(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = self.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 10)
        columns = self.horizontalHeader()
        columns.setHighlightSections(False)
        columns.setStretchLastSection(True)
        columns.setSectionsMovable(True)
        columns.setMinimumSectionSize(40)
        columns.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (
            event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and self.currentIndex().isValid()
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            self.open_requested.emit(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and event.button() == Qt.MouseButton.LeftButton:
            self.open_requested.emit(index)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)


class SearchField(QLineEdit):
    """Esc clears the search (a second Esc goes back to the list); Down goes to the list."""

    leave_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.text():
                self.clear()
            else:
                self.leave_requested.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Down:
            self.leave_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


@dataclass
class ListTab:
    key: str
    title: str
    model: LazyTableModel
    view: RecordTable
    placeholder: str
    search: str = ""


class _AfterFirstPaint(QObject):
    """Calls ``then`` once, from the event loop, after ``widget`` has finished its first
    paint; then stops watching. A widget hidden before it painted (another tab chosen at
    once), or one not shown within ``FIRST_PAINT_WAIT_MS``, does not hold it back."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget: QWidget | None = widget
        self._then: Callable[[], None] | None = then
        widget.installEventFilter(self)
        QTimer.singleShot(FIRST_PAINT_WAIT_MS, self, self._stop_watching)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Paint, QEvent.Type.Hide):
            self._stop_watching()
        return False

    def _stop_watching(self) -> None:
        if self._widget is not None:
            self._widget.removeEventFilter(self)
            self._widget = None
            QTimer.singleShot(0, self, self._fire)

    def _fire(self) -> None:
        # One more turn of the event loop: whatever else waited for that paint runs first.
        QTimer.singleShot(0, self, self._call)

    def _call(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            then()


def _queue_place(key: str) -> str:
    """A queue as a status-bar message names what a lead left ("the Sales acceptance
    queue", "My leads", "the list")."""
    label = QUEUE_LABELS[key]
    if key == "all":
        return "the list"
    if key == "mine" or label.lower().endswith("queue"):
        return label if key == "mine" else f"the {label}"
    return f"the {label} queue"


def _display_location(url: str) -> str:
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


class MainWindow(QMainWindow):
    """The desk. ``settings`` defaults to the user's LeadDesk settings; tests pass an
    isolated ``QSettings`` so they never read or overwrite the user's layout.

    Nothing modal happens while constructing: the first-start questions (who is working,
    demo data, starter models) and the time-passing re-score run from :meth:`start_up`.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utc_now,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._clock = clock
        self._settings = settings if settings is not None else QSettings()
        self._counts: DeskCounts | None = None
        self._lead_filter: str | None = None
        self._demo_loader: DemoLoader | None = None
        self._actor: Actor | None = self._read_actor()
        self._queue = "all"
        self._queue_sorts: dict[str, tuple[str, bool]] = {}
        self._follow_selection = True
        self._jobs: list[Job[Any]] = []
        self.rescore_job: Job[Any] | None = None
        self.starter_job: Job[Any] | None = None
        self.scoring_window: Any = None
        self.process_editor: Any = None
        self.import_wizard: Any = None
        self.export_dialog: Any = None

        self.leads_model = LeadTableModel(db, clock, self)
        self.contacts_model = ContactTableModel(db, clock, self)
        self.accounts_model = AccountTableModel(db, clock, self)
        self.detail = LeadDetailPane(db, clock)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self._show_selected_lead)
        self._rescore_timer = QTimer(self)
        self._rescore_timer.setInterval(RESCORE_CHECK_MS)
        self._rescore_timer.timeout.connect(self.rescore_for_time)
        self._checkpoint_timer = QTimer(self)
        self._checkpoint_timer.setInterval(CHECKPOINT_IDLE_MS)
        self._checkpoint_timer.timeout.connect(db.checkpoint_in_background)
        self._checkpoint_timer.start()

        self._build_lists()
        self._build_layout()
        self._build_menus()
        self.counts_label = QLabel()
        self.user_status = QLabel()
        self.user_status.setObjectName("user_status")
        self.statusBar().addPermanentWidget(self.counts_label)
        self.statusBar().addPermanentWidget(self.user_status)

        self.detail.saved.connect(self._after_lead_saved)
        self.detail.log_activity_requested.connect(self.log_activity)
        self.detail.process_changed.connect(
            lambda lead_id: self._after_process([lead_id], reload_detail=False)
        )
        self.detail.assign_requested.connect(self.assign_lead_on_screen)

        self.setAcceptDrops(True)
        self._restore_settings()
        self._apply_queue(self._queue, initial=True)
        self.current_tab.model.ensure_loaded()
        self._show_search_for(self.current_tab)
        self._show_actor()
        if self.tabs.currentIndex() == 0:
            # Selected now, read into the pane after the first paint (below).
            self._follow_selection = False
            try:
                self._select_row(self.leads_view, 0)
            finally:
                self._follow_selection = True
        self._update_actions()
        # The desk's counts and the first lead's details take longer than painting the
        # list itself: they are read once the list is on screen (issue 6).
        self._first_paint = _AfterFirstPaint(
            self.current_tab.view.viewport(), self._after_first_paint
        )

    def _after_first_paint(self) -> None:
        self.refresh_counts()
        QTimer.singleShot(0, self, self._show_first_lead)

    def _show_first_lead(self) -> None:
        if self.detail.lead_id is None:
            self._show_selected_lead()

    # --- building -----------------------------------------------------------------------

    def _build_lists(self) -> None:
        self.leads_view = RecordTable()
        self.contacts_view = RecordTable()
        self.accounts_view = RecordTable()
        self.list_tabs = [
            ListTab(
                "leads",
                "&Leads",
                self.leads_model,
                self.leads_view,
                "Search name, e-mail, company, topic  (Ctrl+F)",
            ),
            ListTab(
                "contacts",
                "&Contacts",
                self.contacts_model,
                self.contacts_view,
                "Search name, e-mail, company, job title  (Ctrl+F)",
            ),
            ListTab(
                "accounts",
                "&Accounts",
                self.accounts_model,
                self.accounts_view,
                "Search name, domain, industry, city, country  (Ctrl+F)",
            ),
        ]
        for tab in self.list_tabs:
            view = tab.view
            view.setObjectName(f"{tab.key}_view")
            view.setModel(tab.model)
            header = view.horizontalHeader()
            for number, column in enumerate(tab.model.columns):
                header.resizeSection(number, column.width)
            keys = [column.sort_key for column in tab.model.columns]
            for visual, key in enumerate(tab.model.default_order):
                header.moveSection(header.visualIndex(keys.index(key)), visual)
            stage = keys.index("stage") if "stage" in keys else -1
            if stage >= 0:
                view.setItemDelegateForColumn(stage, StageDelegate(view))
            header.setSortIndicator(tab.model.sort_column(), tab.model.sort_order())
            tab.model.modelReset.connect(lambda tab=tab: self._after_model_reset(tab))
            tab.model.layoutChanged.connect(lambda *_a, tab=tab: self._scroll_to_current(tab))
        self.leads_view.open_requested.connect(self._open_lead)
        self.leads_view.selectionModel().currentRowChanged.connect(
            lambda *_a: self._lead_selection_changed()
        )
        self.leads_view.selectionModel().selectionChanged.connect(
            lambda *_a: self._update_actions()
        )
        self.contacts_view.open_requested.connect(self._open_contact)
        self.accounts_view.open_requested.connect(self._open_account)

    def _build_sidebar(self) -> QWidget:
        side = QWidget()
        side.setObjectName("sidebar")
        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 8, 0, 6)
        layout.setSpacing(4)
        title = QLabel("Queues")
        bold = QFont(title.font())
        bold.setBold(True)
        title.setFont(bold)
        self.queues = QueueList()
        self.queues.setObjectName("queues")
        self.queues.queue_chosen.connect(self.show_queue)
        self.queues.leave_requested.connect(self._focus_list)
        title.setBuddy(self.queues)
        layout.addWidget(title)
        layout.addWidget(self.queues)
        layout.addStretch(1)

        who = QLabel("At the desk")
        who.setFont(bold)
        self.user_label = QLabel()
        self.user_label.setObjectName("user_label")
        self.user_label.setWordWrap(True)
        self.switch_button = QPushButton("Switch user…")
        self.switch_button.setToolTip("Choose who is working at this desk (Ctrl+Shift+U)")
        self.switch_button.clicked.connect(self.switch_user)
        layout.addWidget(who)
        layout.addWidget(self.user_label)
        layout.addWidget(self.switch_button)
        return side

    def _build_layout(self) -> None:
        self.tabs = QTabBar()
        self.tabs.setDocumentMode(True)
        self.tabs.setExpanding(False)
        self.stack = QStackedWidget()
        for tab in self.list_tabs:
            self.tabs.addTab(tab.title.replace("&", ""))
            self.stack.addWidget(tab.view)
        self.tabs.currentChanged.connect(self._tab_changed)

        self.search = SearchField()
        self.search.setObjectName("search")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_edited)
        self.search.returnPressed.connect(self._search_return)
        self.search.leave_requested.connect(self._focus_list)
        self.filter_chip = QToolButton()
        self.filter_chip.setObjectName("filter_chip")
        self.filter_chip.setStyleSheet(CHIP_STYLE)
        self.filter_chip.setToolTip("Show all leads again")
        self.filter_chip.setVisible(False)
        self.filter_chip.clicked.connect(self.clear_lead_filter)
        self.assign_button = QPushButton("Assign…")
        self.assign_button.setObjectName("assign_button")
        self.assign_button.clicked.connect(self.assign_selected)
        self.assign_button.setVisible(False)

        search_row = QHBoxLayout()
        search_row.setContentsMargins(0, 0, 0, 0)
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.filter_chip)
        search_row.addWidget(self.assign_button)

        lists = QWidget()
        lists_layout = QVBoxLayout(lists)
        lists_layout.setContentsMargins(6, 6, 0, 0)
        lists_layout.setSpacing(6)
        lists_layout.addWidget(self.tabs)
        lists_layout.addLayout(search_row)
        lists_layout.addWidget(self.stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_sidebar())
        self.splitter.addWidget(lists)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.setCentralWidget(self.splitter)
        self.resize(*DEFAULT_SIZE)
        self.splitter.setSizes(list(DEFAULT_SPLIT))

    def _action(
        self, text: str, slot: object, shortcut: str | QKeySequence | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setToolTipsVisible(True)
        self.switch_user_action = self._action(
            "S&witch user…",
            self.switch_user,
            "Ctrl+Shift+U",
            tip="Choose who is working at this desk",
        )
        file_menu.addAction(self.switch_user_action)
        file_menu.addSeparator()
        self.import_action = self._action("&Import…", self.open_import, "Ctrl+I", tip=IMPORT_TIP)
        self.export_action = self._action(
            "&Export…",
            self.open_export,
            "Ctrl+E",
            tip="Write the current list, or everything, to a CSV file",
        )
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        self.demo_action = self._action(
            "Load &demo data…",
            self.load_demo_data,
            tip="Fill the desk with made-up leads to explore",
        )
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        file_menu.addAction(self.quit_action)

        lead_menu = bar.addMenu("L&ead")
        lead_menu.setToolTipsVisible(True)
        self.open_action = self._action(
            "&Open",
            self.open_selected_lead,
            tip="Show the selected lead and go to its process bar (Enter)",
        )
        self.log_action = self._action("&Log activity…", self.log_activity, "Ctrl+L")
        self.save_action = self._action(
            "&Save changes", self.detail.save, tip="Save the lead form (Ctrl+S)"
        )
        self.revert_action = self._action("&Revert changes", self.detail.revert)
        for action in (self.open_action, self.log_action, self.save_action, self.revert_action):
            lead_menu.addAction(action)
        lead_menu.addSeparator()
        process = self.detail.process
        self.assign_action = self._action(
            "&Assign…",
            self.assign_selected,
            "Ctrl+Shift+A",
            tip="Give the selected leads to a salesperson",
        )
        self.next_stage_action = self._action("&Next stage", process.next_stage)
        self.move_stage_action = self._action("&Move to stage…", process.move_to_stage)
        self.won_action = self._action("Mark &won", process.mark_won)
        self.disqualify_action = self._action("Dis&qualify…", process.disqualify)
        self.reopen_action = self._action("Reo&pen", process.reopen)
        self.process_actions = [
            (self.next_stage_action, process.next_button),
            (self.move_stage_action, process.move_button),
            (self.won_action, process.won_button),
            (self.disqualify_action, process.disqualify_button),
            (self.reopen_action, process.reopen_button),
        ]
        lead_menu.addAction(self.assign_action)
        for action, _button in self.process_actions:
            lead_menu.addAction(action)

        view_menu = bar.addMenu("&View")
        self.tab_actions: list[QAction] = []
        for number, tab in enumerate(self.list_tabs):
            action = self._action(
                tab.title, lambda _c=False, n=number: self.show_tab(n), f"Ctrl+{number + 1}"
            )
            view_menu.addAction(action)
            self.tab_actions.append(action)
        view_menu.addSeparator()
        self.queue_actions: list[QAction] = []
        for number, key in enumerate(QUEUE_LABELS):
            action = self._action(
                QUEUE_LABELS[key],
                lambda _c=False, k=key: self.show_queue(k, focus=True),
                f"Alt+{number + 1}",
            )
            view_menu.addAction(action)
            self.queue_actions.append(action)
        view_menu.addSeparator()
        self.search_action = self._action("&Search", self.focus_search, "Ctrl+F")
        self.clear_filter_action = self._action("&Show all leads", self.clear_lead_filter)
        self.refresh_action = self._action("&Refresh", self.refresh, "F5")
        for action in (self.search_action, self.clear_filter_action, self.refresh_action):
            view_menu.addAction(action)

        scoring_menu = bar.addMenu("&Scoring")
        scoring_menu.setToolTipsVisible(True)
        self.scoring_action = self._action(
            "Scoring &models…", self.open_scoring, tip="Edit the scoring models and their signals"
        )
        scoring_menu.addAction(self.scoring_action)

        process_menu = bar.addMenu("&Process")
        process_menu.setToolTipsVisible(True)
        self.edit_process_action = self._action(
            "&Edit process…",
            self.edit_process,
            tip="Stages, their fields, disqualification reasons and rules",
        )
        process_menu.addAction(self.edit_process_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About LeadDesk", self.show_about))

    # --- who is at the desk -------------------------------------------------------------------

    def _read_actor(self) -> Actor | None:
        try:
            return current_user(self._db)
        except ServiceError:
            return None

    @property
    def actor(self) -> Actor | None:
        return self._actor

    def set_actor(self, actor: Actor | None) -> None:
        """Work as ``actor`` from now on: actions, rights, *My leads* and its count."""
        self._actor = actor
        self._show_actor()
        if self._queue == "mine":
            self._apply_queue("mine")
        self.refresh_counts()
        self._update_actions()

    def _show_actor(self) -> None:
        actor = self._actor
        self.detail.set_actor(actor)
        who = f"{actor.name} ({role_label(actor.role)})" if actor else "nobody"
        self.setWindowTitle(f"LeadDesk — {who} — {_display_location(self._db.url)}")
        self.user_status.setText(f"Working as {who}")
        self.user_label.setText(
            f"<b>{actor.name}</b><br>{role_label(actor.role)}" if actor else "Nobody chosen"
        )
        self._permit(
            self.scoring_action,
            "edit_scoring",
            "Edit the scoring models and their signals",
        )
        self._permit(
            self.edit_process_action,
            "edit_process",
            "Stages, their fields, disqualification reasons and rules",
        )
        self._permit(self.import_action, "import", IMPORT_TIP)

    def _permit(self, action: QAction, right: str, tip: str) -> None:
        why = refusal(self._actor, right)
        action.setEnabled(why is None)
        action.setToolTip(tip if why is None else why)
        action.setStatusTip(tip if why is None else why)

    def switch_user(self, *, first_start: bool = False) -> UserPickerDialog:
        """Ask who is working (non-blocking); the choice is remembered in the desk."""
        dialog = UserPickerDialog(
            self._db, current=self._actor, clock=self._clock, first_start=first_start, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._user_chosen(dialog))
        dialog.open()
        return dialog

    def _user_chosen(self, dialog: UserPickerDialog) -> None:
        if dialog.chosen is not None:
            self.set_actor(dialog.chosen)
            self.statusBar().showMessage(f"Working as {dialog.chosen.name}.", 4000)

    # --- start-up: the first-start questions and time passing ----------------------------------

    def start_up(self) -> None:
        """What the program does once the window is up: re-score for the time that passed
        (in the background), then, on a new desk, offer demo data, ask who is working and
        offer the starter scoring models, one after the other."""
        self.rescore_for_time()
        self._rescore_timer.start()
        if is_empty(self._db):
            dialog = self.offer_demo_data()
            dialog.finished.connect(lambda _r: QTimer.singleShot(0, self._after_demo_question))
        else:
            self._ask_who_is_working()

    def _after_demo_question(self) -> None:
        if self._demo_loader is not None:
            self._demo_loader.done.connect(self._ask_who_is_working)
        else:
            self._ask_who_is_working()

    def _ask_who_is_working(self) -> None:
        if has_chosen_user(self._db):
            self.offer_starter_models()
            return
        dialog = self.switch_user(first_start=True)
        dialog.finished.connect(lambda _r: QTimer.singleShot(0, self.offer_starter_models))

    def offer_starter_models(self) -> Job[Any] | None:
        """A desk without a scoring model scores nothing: offer the starter models once.
        A "No" is remembered (in the settings) and never asked again."""
        if has_models(self._db) or self._settings.value(STARTER_DECLINED_KEY, False) in (
            True,
            "true",
        ):
            return None
        if self._actor is None or not allowed(self._actor.role, "edit_scoring"):
            return None
        answer = QMessageBox.question(
            self,
            "No scoring model yet",
            "This desk has no scoring model, so no lead gets a score and none becomes "
            "sales-ready by itself.\n\nAdd the two starter models (ActiveCampaign's engagement "
            "model and Encharge's fit-and-engagement model)? You can edit them in "
            "Scoring → Scoring models….",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self._settings.setValue(STARTER_DECLINED_KEY, True)
            self._settings.sync()
            self.statusBar().showMessage(
                "No starter models; add models any time from Scoring → Scoring models….", 6000
            )
            return None
        now = self._clock()

        def install(db: Database, progress: Callable[[int, int], bool]) -> list[str]:
            return install_starter_models(db, now, progress)

        self.starter_job = run_job(
            self,
            "Starter scoring models",
            install,
            self._db.url,
            on_done=self._starter_installed,
            label="Adding the starter models and scoring every lead…",
        )
        return self.starter_job

    def _starter_installed(self, names: list[str]) -> None:
        self.starter_job = None
        self._after_scores_changed()
        if names:
            self.statusBar().showMessage(f"Added the scoring models: {', '.join(names)}.", 6000)

    def rescore_for_time(self) -> Job[Any] | None:
        """Bring scores up to date with the time that passed (expiry, decay) when the last
        such re-score is a day old: a background job, the UI never waits for it."""
        if self.rescore_job is not None or self._demo_loader is not None:
            return None
        now = self._clock()

        def rescore(db: Database, progress: Callable[[int, int], bool]) -> bool:
            return rescore_if_due(db, now, progress)

        job: Job[Any] = Job(
            self._db.url,
            rescore,
            parent_widget=self,
            title="Re-scoring",
            show_progress=False,
            report=False,
            on_done=self._rescored_for_time,
            on_error=lambda error: self._rescore_failed(error),
            on_cancelled=lambda: self._rescore_ended(),
        )
        job.progressed.connect(self._rescore_progress)
        self.rescore_job = job
        job.start()
        return job

    def _rescore_progress(self, done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 100
        self.statusBar().showMessage(f"Re-scoring for time passing… {percent}%")

    def _rescore_ended(self) -> None:
        self.rescore_job = None
        self.statusBar().clearMessage()

    def _rescored_for_time(self, done: bool) -> None:
        self._rescore_ended()
        if done:
            self._after_scores_changed()
            self.statusBar().showMessage("Scores brought up to date for the time passed.", 5000)

    def _rescore_failed(self, error: BaseException) -> None:
        self._rescore_ended()
        self.statusBar().showMessage(f"Re-scoring for time passing failed: {error_text(error)}")

    def _after_scores_changed(self) -> None:
        """Scores moved for many leads (models edited, time passed): read the list again,
        the counts and the lead on screen."""
        self._reload_leads()
        self.detail.reload()
        self.refresh_counts()
        self._update_actions()

    # --- queues ---------------------------------------------------------------------------------

    @property
    def queue(self) -> str:
        return self._queue

    def show_queue(self, key: str, *, focus: bool = False) -> None:
        """Show the leads of one work queue (the sidebar, or Alt+1…5)."""
        if self.queues.current_queue() != key:
            self.queues.set_queue(key)  # comes back here through queue_chosen
        elif key != self._queue:
            self._apply_queue(key)
        if self.tabs.currentIndex() != 0:
            self.tabs.setCurrentIndex(0)
        if focus:
            self._focus_list()

    def _apply_queue(self, key: str, *, initial: bool = False) -> None:
        model = self.leads_model
        if not initial:
            self._queue_sorts[self._queue] = (model.query.sort, model.query.descending)
        default = (
            ("score", True) if key in WORK_QUEUES else (model.query.sort, model.query.descending)
        )
        sort, descending = self._queue_sorts.get(key, default)
        self._queue = key
        wide = key == "sales_acceptance"
        self.leads_view.setSelectionMode(
            QAbstractItemView.SelectionMode.ExtendedSelection
            if wide
            else QAbstractItemView.SelectionMode.SingleSelection
        )
        self.assign_button.setVisible(wide)
        me = self._actor.id if self._actor else None
        model.set_filter(
            queue=None if key == "all" else key, me=me, sort=sort, descending=descending
        )
        header = self.leads_view.horizontalHeader()
        header.setSortIndicator(
            model.sort_column(), model.sort_order()
        )  # the model already sorts this way: no second query
        if not initial and self.tabs.currentIndex() == 0:
            model.ensure_loaded()
            if self.leads_view.currentIndex().row() < 0 or self.detail.lead_id is None:
                self._select_row(self.leads_view, 0)
            if model.rowCount() == 0:
                QTimer.singleShot(0, self, self._follow_highlight)  # an empty queue, an empty pane
            self._update_status()
        self._update_actions()

    # --- lists ------------------------------------------------------------------------------

    @property
    def current_tab(self) -> ListTab:
        return self.list_tabs[self.tabs.currentIndex()]

    def show_tab(self, number: int) -> None:
        self.tabs.setCurrentIndex(number)
        self._focus_list()

    def _tab_changed(self, number: int) -> None:
        if self._search_timer.isActive():
            self._search_timer.stop()
            self._apply_search()
        self.stack.setCurrentIndex(number)
        tab = self.list_tabs[number]
        tab.model.ensure_loaded()
        self._show_search_for(tab)
        self._update_status()
        self._update_actions()

    def _show_search_for(self, tab: ListTab) -> None:
        self.search.blockSignals(True)
        self.search.setText(tab.search)
        self.search.blockSignals(False)
        self.search.setPlaceholderText(tab.placeholder)
        self.filter_chip.setVisible(tab.key == "leads" and self._lead_filter is not None)
        self.assign_button.setVisible(tab.key == "leads" and self._queue == "sales_acceptance")

    def _search_edited(self, text: str) -> None:
        self.current_tab.search = text
        self._search_timer.start()

    def _search_return(self) -> None:
        self._search_timer.stop()
        self._apply_search()
        self._focus_list()

    def _apply_search(self) -> None:
        for tab in self.list_tabs:
            if tab.model.is_loaded or tab is self.current_tab:
                searched = tab.model.set_search(tab.search)
                if searched and not tab.view.currentIndex().isValid():
                    # No lead of the old list kept its place in the new one: the new list
                    # starts at its first row, not at the old list's scroll position.
                    tab.view.scrollToTop()
        self._update_status()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _focus_list(self) -> None:
        view = self.current_tab.view
        view.setFocus(Qt.FocusReason.OtherFocusReason)
        # Focusing a view makes its first cell current without selecting it; a list the
        # keyboard lands on should show which row Enter will open.
        if not view.selectionModel().hasSelection():
            current = view.currentIndex()
            self._select_row(view, current.row() if current.isValid() else 0)

    def _select_row(self, view: QTableView, row: int) -> None:
        model = view.model()
        if 0 <= row < model.rowCount():
            view.setCurrentIndex(model.index(row, 0))
            view.scrollTo(view.currentIndex())

    def _after_model_reset(self, tab: ListTab) -> None:
        """A search or reload rebuilt the list: keep the lead on screen selected if it is
        still in the list, so a search does not lose the user's place."""
        if tab.key == "leads" and self.detail.lead_id is not None:
            row = self.leads_model.row_of(self.detail.lead_id)
            if row is not None:
                self._select_row(self.leads_view, row)
        self._update_status()

    def _scroll_to_current(self, tab: ListTab) -> None:
        if tab.view.currentIndex().isValid():
            tab.view.scrollTo(tab.view.currentIndex())

    # --- leads --------------------------------------------------------------------------------

    def selected_lead_id(self) -> int | None:
        index = self.leads_view.currentIndex()
        return self.leads_model.id_at(index.row()) if index.isValid() else None

    def selected_lead_ids(self) -> list[int]:
        """Every selected lead (several in the Sales acceptance queue), in list order."""
        rows = sorted(index.row() for index in self.leads_view.selectionModel().selectedRows())
        ids = [i for i in (self.leads_model.id_at(r) for r in rows) if i is not None]
        if not ids and self.selected_lead_id() is not None:
            ids = [self.selected_lead_id()]  # type: ignore[list-item]
        return ids

    def _lead_selection_changed(self) -> None:
        if self._follow_selection:
            self._detail_timer.start()
        self._update_actions()

    def _show_selected_lead(self) -> None:
        self._detail_timer.stop()
        lead_id = self.selected_lead_id()
        if lead_id is None or lead_id == self.detail.lead_id:
            return
        if not self.confirm_leave_lead():
            self._highlight_lead_on_screen()
            return
        self.detail.show_lead(lead_id)
        self._update_actions()

    def _highlight_lead_on_screen(self) -> None:
        """The user kept a lead with unsaved edits: show the list that way too - its row
        highlighted, or no row at all when it is no longer in the list."""
        kept = self.detail.lead_id
        row = self.leads_model.row_of(kept) if kept is not None else None
        self._follow_selection = False
        try:
            if row is not None:
                self._select_row(self.leads_view, row)
            else:
                self.leads_view.selectionModel().clear()
        finally:
            self._follow_selection = True
        self._update_actions()

    def _follow_highlight(self) -> None:
        """Make the pane show the highlighted lead, or the empty state when no row is
        highlighted (an emptied queue), asking first about unsaved edits."""
        self._detail_timer.stop()
        lead_id = self.selected_lead_id()
        if lead_id == self.detail.lead_id:
            return
        if not self.confirm_leave_lead():
            self._highlight_lead_on_screen()
            return
        self.detail.show_lead(lead_id)
        self._update_actions()

    def _open_lead(self, index: QModelIndex) -> None:
        if self.leads_view.currentIndex() != index:
            self.leads_view.setCurrentIndex(index)
        self._show_selected_lead()
        if self.detail.lead_id == self.leads_model.id_at(index.row()):
            self.detail.focus_process()

    def open_selected_lead(self) -> None:
        index = self.leads_view.currentIndex()
        if self.current_tab.key == "leads" and index.isValid():
            self._open_lead(index)
        elif self.current_tab.key != "leads":
            self._open_from(self.current_tab)

    def confirm_leave_lead(self) -> bool:
        """Unsaved form edits are never dropped silently: save, discard, or stay."""
        if not self.detail.has_unsaved_changes():
            return True
        name = self.detail.detail.display_name if self.detail.detail else "this lead"
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"You changed {name} but did not save. Save the changes?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.detail.save()
        if answer == QMessageBox.StandardButton.Discard:
            self.detail.revert()
            return True
        return False

    def _open_from(self, tab: ListTab) -> None:
        index = tab.view.currentIndex()
        if not index.isValid():
            return
        if tab.key == "contacts":
            self._open_contact(index)
        elif tab.key == "accounts":
            self._open_account(index)

    def _open_contact(self, index: QModelIndex) -> None:
        contact = self.contacts_model.record(index.row())
        if contact is not None:
            self.filter_leads(f"Leads of {contact.name}", contact_id=contact.id)

    def _open_account(self, index: QModelIndex) -> None:
        account = self.accounts_model.record(index.row())
        if account is not None:
            self.filter_leads(f"Leads of {account.name}", account_id=account.id)

    def filter_leads(
        self, label: str, *, contact_id: int | None = None, account_id: int | None = None
    ) -> None:
        """Show only one contact's or account's leads, with a chip that lifts the filter.
        The filter applies to all leads, whatever queue was shown."""
        self._lead_filter = label
        leads = self.list_tabs[0]
        leads.search = ""
        if self._queue != "all":
            self.queues.set_queue("all")
        self.leads_model.set_filter(search="", contact_id=contact_id, account_id=account_id)
        self.leads_model.ensure_loaded()
        self.filter_chip.setText(f"{label}  ✕")
        self.tabs.setCurrentIndex(0)
        self._show_search_for(leads)
        self._focus_list()
        self._select_row(self.leads_view, 0)
        self._update_status()

    def clear_lead_filter(self) -> None:
        if self._lead_filter is None:
            return
        self._lead_filter = None
        self.leads_model.set_filter(contact_id=None, account_id=None)
        self.filter_chip.setVisible(False)
        self._update_status()

    @property
    def lead_filter_label(self) -> str | None:
        return self._lead_filter

    # --- actions on the lead -----------------------------------------------------------------

    def log_activity(self) -> LogActivityDialog | None:
        """Open the log dialog for the lead on screen; returns it (it is non-blocking)."""
        if self._detail_timer.isActive():
            self._show_selected_lead()
        detail = self.detail.detail
        if detail is None:
            self.statusBar().showMessage("Select a lead first.", 4000)
            return None
        if detail.contact_id is None:
            self.statusBar().showMessage(
                "This lead has no contact; activities are logged for a contact.", 6000
            )
            return None
        from leaddesk.ui.log_activity_dialog import LogActivityDialog

        dialog = LogActivityDialog(
            self._db,
            detail.id,
            clock=self._clock,
            lead_name=detail.display_name,
            user_id=self._actor.id if self._actor else None,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._after_activity_logged(dialog))
        dialog.open()
        return dialog

    def _after_activity_logged(self, dialog: LogActivityDialog) -> None:
        logged = dialog.logged
        if logged is None:
            return
        self._resync([lead.id for lead in logged.leads])
        self.detail.reload()
        self.refresh_counts()
        count = len(logged.leads)
        rescored = f"{format_count(count)} {'lead' if count == 1 else 'leads'} re-scored"
        self.statusBar().showMessage(f"Logged {dialog.logged_label()} — {rescored}.", 5000)

    def _after_lead_saved(self) -> None:
        for model in (self.leads_model, self.contacts_model, self.accounts_model):
            model.refresh_all_rows()
        self.refresh_counts()
        self.statusBar().showMessage("Saved.", 3000)

    def assign_selected(self) -> AssignDialog | None:
        """*Assign…*: give every selected lead to one salesperson (non-blocking dialog).
        Disabled for roles that cannot assign; called anyway, the service's refusal is
        shown."""
        if self.current_tab.key != "leads":
            return None
        return self.assign_leads(self.selected_lead_ids())

    def assign_lead_on_screen(self) -> AssignDialog | None:
        lead_id = self.detail.lead_id
        return self.assign_leads([lead_id]) if lead_id is not None else None

    def assign_leads(self, lead_ids: list[int]) -> AssignDialog | None:
        if not lead_ids:
            self.statusBar().showMessage("Select the leads to assign first.", 4000)
            return None
        if self._actor is None:
            QMessageBox.warning(self, "Not assigned", "Choose who is working first.")
            return None
        owner = self.detail.process.view.owner if self.detail.process.view else None
        from leaddesk.ui.assign_dialog import AssignDialog

        dialog = AssignDialog(
            self._db,
            lead_ids,
            self._actor,
            clock=self._clock,
            current_owner=owner if len(lead_ids) == 1 else None,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._assigned(dialog))
        dialog.open()
        return dialog

    def _assigned(self, dialog: AssignDialog) -> None:
        result = dialog.result
        if result is None:
            return
        self._after_process(result.lead_ids)
        noun = "lead" if len(result.lead_ids) == 1 else "leads"
        text = f"Assigned {format_count(len(result.lead_ids))} {noun} to {result.owner}"
        if result.accepted:
            text += f"; {format_count(len(result.accepted))} sales-accepted"
        if result.kept:
            kept = len(result.kept)
            text += f"; {format_count(kept)} kept {'its' if kept == 1 else 'their'} owner"
        self.statusBar().showMessage(text + ".", 6000)

    def _after_process(self, lead_ids: Iterable[int], *, reload_detail: bool = True) -> None:
        """After a process action: repaint the touched rows, take out those that left the
        queue, refresh the counts, and read the lead on screen again (unless the action
        came from its own process bar, which already did). When the lead on screen left,
        the status bar names it: the pane moves on to the next lead (:meth:`_resync`)."""
        ids = list(lead_ids)
        shown = self.detail.detail
        gone = self._resync(ids)
        if reload_detail and self.detail.lead_id in ids:
            self.detail.reload()
        self.refresh_counts()
        self._update_actions()
        if gone:
            where = _queue_place(self._queue)
            if len(gone) == 1 and shown is not None and gone[0] == shown.id:
                text = f"{shown.display_name} left {where}"
            else:
                noun = "lead left" if len(gone) == 1 else "leads left"
                text = f"{format_count(len(gone))} {noun} {where}"
            self.statusBar().showMessage(text + ".", 5000)

    def _resync(self, ids: list[int]) -> list[int]:
        """Repaint the touched rows and take out those that left the list, keeping the
        user's place (:meth:`_keep_place`). Returns the ids that left."""
        place = self._place()
        self._follow_selection = False
        try:
            gone = self.leads_model.resync(ids)
        finally:
            self._follow_selection = True
        self._keep_place(place)
        return gone

    def _reload_leads(self) -> None:
        """Read the lead list again (scores moved, the process changed, F5) keeping the
        user's place, as :meth:`_resync` does."""
        if not self.leads_model.is_loaded:
            return
        place = self._place()
        self._follow_selection = False
        try:
            self.leads_model.reload()
        finally:
            self._follow_selection = True
        self._keep_place(place)

    def _place(self) -> tuple[list[int], int]:
        """The list as it is and the highlighted row (else the row of the lead on
        screen; -1 for neither), to find the user's place after the list changed."""
        row = self.leads_view.currentIndex().row()
        if row < 0 and self.detail.lead_id is not None:
            found = self.leads_model.row_of(self.detail.lead_id)
            row = -1 if found is None else found
        return self.leads_model.ids(), row

    def _keep_place(self, place: tuple[list[int], int]) -> None:
        """After rows left or the list was read again, the highlighted row and the lead on
        screen are the same lead, so the next key or click acts on the lead the user sees.
        The highlighted lead keeps its highlight while it is in the list; when it left,
        the highlight lands on the lead that followed it - the row now at the same place,
        as a mail client moves on after a delete - or on the last row; in an emptied list
        nothing is highlighted and the pane shows its empty state. A multiple selection
        whose highlighted lead stayed is left alone (assigned but still waiting)."""
        old_ids, old_row = place
        model = self.leads_model
        view = self.leads_view
        if not 0 <= old_row < len(old_ids):
            return
        row = model.row_of(old_ids[old_row])
        stayed = row is not None
        if row is None:
            row = model.nearest_row(old_ids, old_row)
        self._follow_selection = False
        try:
            if row is None:
                view.selectionModel().clear()
            elif not stayed or view.currentIndex().row() != row:
                index = model.index(row, 0)
                view.selectionModel().setCurrentIndex(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                view.scrollTo(index)
            elif not view.selectionModel().hasSelection():
                view.selectionModel().select(
                    view.currentIndex(),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
        finally:
            self._follow_selection = True
        if self.selected_lead_id() != self.detail.lead_id:
            # Not at once: this may run inside a click on the pane's own process bar,
            # whose widgets showing another lead replaces.
            QTimer.singleShot(0, self, self._follow_highlight)
        self._update_actions()

    def open_scoring(self) -> Any:
        """*Scoring → Scoring models…* (admins and marketers)."""
        if self._actor is None or not allowed(self._actor.role, "edit_scoring"):
            QMessageBox.warning(
                self, "Scoring models", refusal(self._actor, "edit_scoring") or "Not allowed"
            )
            return None
        if self.scoring_window is not None:
            self.scoring_window.show()
            self.scoring_window.raise_()
            self.scoring_window.activateWindow()
            return self.scoring_window
        from leaddesk.ui.scoring_window import ScoringWindow

        window = ScoringWindow(self._db.url, self._clock, self)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.models_changed.connect(self._after_scores_changed)
        window.destroyed.connect(lambda *_a: setattr(self, "scoring_window", None))
        self.scoring_window = window
        window.show()
        return window

    def edit_process(self) -> Any:
        """*Process → Edit process…* (admins and marketers)."""
        if self._actor is None or not allowed(self._actor.role, "edit_process"):
            QMessageBox.warning(
                self, "Edit process", refusal(self._actor, "edit_process") or "Not allowed"
            )
            return None
        from leaddesk.ui.process_editor import ProcessEditor

        editor = ProcessEditor(self._db, self._actor, clock=self._clock, parent=self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.saved.connect(self._after_process_edited)
        self.process_editor = editor
        editor.open()
        return editor

    def _after_process_edited(self) -> None:
        self._reload_leads()
        self.detail.reload()
        self.refresh_counts()
        self.statusBar().showMessage("Process saved.", 5000)

    def _update_actions(self) -> None:
        on_leads = self.current_tab.key == "leads"
        has_lead = self.detail.lead_id is not None or self.selected_lead_id() is not None
        self.open_action.setEnabled(not on_leads or has_lead)
        self.log_action.setEnabled(has_lead)
        self.clear_filter_action.setEnabled(self._lead_filter is not None)
        why = refusal(self._actor, "assign")
        count = len(self.selected_lead_ids()) if on_leads else 0
        if why is None and not count:
            why = "Select the leads to assign"
        self.assign_action.setEnabled(why is None)
        tip = "Give the selected leads to a salesperson (Ctrl+Shift+A)"
        for widget in (self.assign_action, self.assign_button):
            widget.setEnabled(why is None)
            widget.setToolTip(tip if why is None else why)
        self.assign_button.setText(f"Assign {count}…" if count > 1 else "Assign…")
        shown = self.detail.process.view is not None
        for action, button in self.process_actions:
            action.setEnabled(shown and button.isEnabled())
            action.setToolTip(button.toolTip())

    # --- the whole desk -------------------------------------------------------------------

    def refresh(self) -> None:
        """F5: read everything again (another program, or the command line, may have
        changed the database)."""
        for tab in self.list_tabs:
            if tab is self.list_tabs[0]:
                self._reload_leads()
            elif tab.model.is_loaded:
                tab.model.reload()
        self.detail.reload()
        self.refresh_counts()

    def refresh_counts(self) -> None:
        self._counts = desk_counts(self._db)
        self.queues.set_counts(queue_counts(self._db, self._actor.id if self._actor else None))
        self._update_status()

    def _update_status(self) -> None:
        counts = self._counts
        if counts is None:
            return
        tab = self.current_tab
        shown = f"{tab.model.describe_count()} shown"
        self.counts_label.setText(
            f"{shown} · {format_count(counts.leads)} leads · "
            f"{format_count(counts.sales_ready)} sales-ready · "
            f"{format_count(counts.contacts)} contacts · {format_count(counts.accounts)} accounts"
        )

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About LeadDesk",
            f"<h3>LeadDesk {__version__}</h3>"
            "<p>Lead management for small sales teams: contacts, accounts, leads, "
            "activities, scoring and the lead business process.</p>"
            f"<p>Database: <code>{_display_location(self._db.url)}</code></p>",
        )

    # --- import and export ------------------------------------------------------------------

    def _folder(self) -> str:
        return str(self._settings.value(FOLDER_KEY, "") or "")

    def _remember_folder(self, path: str) -> None:
        self._settings.setValue(FOLDER_KEY, str(Path(path).parent))

    def open_import(self, path: str | None = None) -> Any:
        """*File → Import…* (admins and marketers): the import wizard, non-blocking. A
        ``path`` (a file dropped on the window) is preselected."""
        if self._actor is None or not allowed(self._actor.role, "import"):
            QMessageBox.warning(self, "Import", refusal(self._actor, "import") or "Not allowed")
            return None
        wizard = self.import_wizard
        if wizard is not None and wizard.isVisible():
            if path and wizard.currentId() == wizard.FILE_PAGE:
                wizard.file_page.set_path(path)
            wizard.raise_()
            wizard.activateWindow()
            return wizard
        from leaddesk.ui import import_wizard as wizard_module

        default = self.current_tab.key
        record_type = wizard_module.guess_record_type(path, default) if path else default
        wizard = wizard_module.ImportWizard(
            self._db,
            clock=self._clock,
            user_id=self._actor.id,
            path=path,
            record_type=record_type,
            last_folder=self._folder(),
            parent=self,
        )
        wizard.imported.connect(self._after_import)
        wizard.finished.connect(lambda _r: self._import_closed(wizard))
        self.import_wizard = wizard
        wizard.open()
        return wizard

    def _import_closed(self, wizard: Any) -> None:
        if wizard.path:
            self._remember_folder(wizard.path)
        if self.import_wizard is wizard:
            self.import_wizard = None
        if not wizard.busy:
            wizard.deleteLater()

    def _after_import(self, report: Any) -> None:
        """The desk changed under every list: read them, the counts and the lead again."""
        self.refresh()
        self._update_actions()
        self.statusBar().showMessage(
            f"Imported {Path(report.path).name}: {report.summary()}.", 8000
        )

    def current_lists(self) -> dict[str, Any]:
        """Each list as shown (query, description, rows), for *Export → the current list*."""
        from leaddesk.ui.export_dialog import CurrentList

        if self._search_timer.isActive():
            self._search_timer.stop()
            self._apply_search()
        out: dict[str, Any] = {}
        for tab in self.list_tabs:
            model = tab.model
            parts = []
            if tab.key == "leads":
                parts.append(QUEUE_LABELS[self._queue])
                if self._lead_filter:
                    parts.append(self._lead_filter)
            else:
                parts.append(f"All {tab.key}")
            if model.query.search:
                parts.append(f"matching “{model.query.search}”")
            column = model.columns[model.sort_column()]
            order = "descending" if model.query.descending else "ascending"
            parts.append(f"sorted by {column.title}, {order}")
            out[tab.key] = CurrentList(
                model.query, " · ".join(parts), model.rowCount() if model.is_loaded else None
            )
        return out

    def open_export(self) -> Any:
        """*File → Export…*: the current list as shown, or everything, to CSV."""
        from leaddesk.ui.export_dialog import ExportDialog

        if self.export_dialog is not None and self.export_dialog.isVisible():
            self.export_dialog.raise_()
            return self.export_dialog
        dialog = ExportDialog(
            self._db,
            lists=self.current_lists(),
            record_type=self.current_tab.key,
            folder=self._folder(),
            today=self._clock().date(),
            parent=self,
        )
        dialog.exported.connect(self._exported)
        dialog.finished.connect(lambda _r: setattr(self, "export_dialog", None))
        self.export_dialog = dialog
        dialog.open()
        return dialog

    def _exported(self, count: int, path: str, record_type: str) -> None:
        self._remember_folder(path)
        noun = "external scores" if record_type == "scores" else record_type
        self.statusBar().showMessage(f"Exported {format_count(count)} {noun} to {path}.", 8000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Files dropped on the window are imported; the drop says why when it cannot be."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        problem = None
        if len(urls) != 1:
            problem = "Drop one file at a time: LeadDesk imports one CSV file at a time."
        elif not urls[0].isLocalFile():
            problem = f"{urls[0].toString()} is not a file on this computer."
        else:
            from leaddesk.ui.import_wizard import IMPORT_SUFFIXES

            path = Path(urls[0].toLocalFile())
            if path.suffix.lower() not in IMPORT_SUFFIXES:
                problem = f"{path.name} is not a CSV file; LeadDesk imports .csv and .txt files."
            elif not path.is_file():
                problem = f"{path.name} is not a file LeadDesk can read."
        if problem is not None:
            event.ignore()
            QMessageBox.warning(self, "Import", problem)
            return
        event.acceptProposedAction()
        self.open_import(str(path))

    # --- demo data --------------------------------------------------------------------------

    def offer_demo_data(self) -> DemoDataDialog:
        """The welcome dialog of an empty desk: load demo data, or start empty."""
        return self._ask_demo(first_start=True)

    def load_demo_data(self) -> DemoDataDialog | None:
        if self._demo_loader is not None:
            return None
        return self._ask_demo(first_start=is_empty(self._db))

    def _ask_demo(self, *, first_start: bool) -> DemoDataDialog:
        from leaddesk.ui.demo_loading import DemoDataDialog

        dialog = DemoDataDialog(self, first_start=first_start)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.start_demo(dialog.lead_count()))
        dialog.open()
        return dialog

    def start_demo(self, leads: int) -> DemoLoader | None:
        if self._demo_loader is not None:
            return None
        from leaddesk.ui.demo_loading import DemoLoader

        loader = DemoLoader(self._db.url, leads, self._clock, self)
        loader.done.connect(lambda: self._demo_finished(loader))
        self._demo_loader = loader
        self.demo_action.setEnabled(False)
        loader.start()
        return loader

    @property
    def demo_loader(self) -> DemoLoader | None:
        return self._demo_loader

    def _demo_finished(self, loader: DemoLoader) -> None:
        self._demo_loader = None
        self.demo_action.setEnabled(True)
        if loader.outcome == "loaded":
            self.refresh()
            if self.current_tab.key == "leads":
                self._select_row(self.leads_view, 0)
            self.statusBar().showMessage("Demo data loaded.", 5000)
        elif loader.outcome == "cancelled":
            self.statusBar().showMessage("Demo data cancelled; nothing was added.", 5000)
        else:
            QMessageBox.warning(self, "Demo data not loaded", loader.error)
        loader.deleteLater()

    # --- settings -------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        settings = self._settings
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/splitter3")
        if isinstance(state, QByteArray):
            self.splitter.restoreState(state)
        for tab in self.list_tabs:
            state = settings.value(f"tables/{tab.key}/header")
            if isinstance(state, QByteArray):
                tab.view.horizontalHeader().restoreState(state)
            # Sorting picks up the (restored) sort indicator; the model only records it
            # until the list is first shown, so no list is queried twice.
            tab.view.setSortingEnabled(True)
        stored_tab = str(settings.value("window/tab", 0))
        number = int(stored_tab) if stored_tab.isdigit() else 0
        if 0 <= number < len(self.list_tabs):
            self.tabs.setCurrentIndex(number)
        queue = str(settings.value("window/queue", "all"))
        if queue in QUEUE_LABELS:
            self.queues.blockSignals(True)
            self.queues.set_queue(queue)
            self.queues.blockSignals(False)
            self._queue = queue

    def save_settings(self) -> None:
        settings = self._settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter3", self.splitter.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        settings.setValue("window/queue", self._queue)
        for tab in self.list_tabs:
            settings.setValue(f"tables/{tab.key}/header", tab.view.horizontalHeader().saveState())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_leave_lead():
            event.ignore()
            return
        if self._demo_loader is not None:
            self._demo_loader.wait()
        self._rescore_timer.stop()
        self._checkpoint_timer.stop()
        for job in (self.rescore_job, self.starter_job):
            if job is not None and job.running:
                job.cancel()
                job.wait()
        if self.import_wizard is not None:
            self.import_wizard.stop()
        export_job = self.export_dialog.job if self.export_dialog is not None else None
        if export_job is not None and export_job.running:
            export_job.cancel()
            export_job.wait()
        if self.scoring_window is not None:
            self.scoring_window.close()
        self.save_settings()
        event.accept()

"""The main window: the three lists on the left, the lead on the right.

Everyone triages from the lead list (DESIGN §1), so it is built for the keyboard: arrows
move and show the lead, Enter jumps into its form, Ctrl+F searches, Ctrl+L logs an
activity. Contacts and accounts are ways into their leads: opening one filters the lead
list to it, with a chip that says so and lifts the filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leaddesk import __version__
from leaddesk.services.desk import is_empty
from leaddesk.services.lists import DeskCounts, desk_counts
from leaddesk.store.database import Database, sqlite_file
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.demo_loading import DemoDataDialog, DemoLoader
from leaddesk.ui.display import format_count
from leaddesk.ui.lead_detail import LeadDetailPane
from leaddesk.ui.log_activity_dialog import LogActivityDialog
from leaddesk.ui.qt import (
    QAbstractItemView,
    QAction,
    QByteArray,
    QCloseEvent,
    QHBoxLayout,
    QHeaderView,
    QKeyEvent,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QModelIndex,
    QMouseEvent,
    QSettings,
    QSplitter,
    QStackedWidget,
    Qt,
    QTabBar,
    QTableView,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.table_models import (
    AccountTableModel,
    ContactTableModel,
    LazyTableModel,
    LeadTableModel,
)

SEARCH_DELAY_MS = 200
# Holding an arrow key must not fetch every lead it passes; the pane follows after a pause.
DETAIL_DELAY_MS = 80
DEFAULT_SIZE = (1280, 800)
CHIP_STYLE = (
    "QToolButton { border: 1px solid palette(highlight); border-radius: 10px;"
    " padding: 2px 10px; background: palette(alternate-base); }"
    "QToolButton:hover { background: palette(midlight); }"
)


class RecordTable(QTableView):
    """A list view tuned for 100,000 rows: fixed row heights (Qt never measures rows),
    no grid, whole-row selection, and one ``open_requested`` for Enter and double-click."""

    open_requested = Signal(QModelIndex)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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


def _display_location(url: str) -> str:
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


class MainWindow(QMainWindow):
    """The desk. ``settings`` defaults to the user's LeadDesk settings; tests pass an
    isolated ``QSettings`` so they never read or overwrite the user's layout."""

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
        self.setWindowTitle(f"LeadDesk — {_display_location(db.url)}")

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

        self._build_lists()
        self._build_layout()
        self._build_menus()
        self.counts_label = QLabel()
        self.statusBar().addPermanentWidget(self.counts_label)

        self.detail.saved.connect(self._after_lead_saved)
        self.detail.log_activity_requested.connect(self.log_activity)

        self._restore_settings()
        self.current_tab.model.ensure_loaded()
        self._show_search_for(self.current_tab)
        self.refresh_counts()
        if self.tabs.currentIndex() == 0:
            self._select_row(self.leads_view, 0)
        self._update_actions()

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
            header.setSortIndicator(tab.model.sort_column(), tab.model.sort_order())
            tab.model.modelReset.connect(lambda tab=tab: self._after_model_reset(tab))
            tab.model.layoutChanged.connect(lambda *_a, tab=tab: self._scroll_to_current(tab))
        self.leads_view.open_requested.connect(self._open_lead)
        self.leads_view.selectionModel().currentRowChanged.connect(
            lambda *_a: self._lead_selection_changed()
        )
        self.contacts_view.open_requested.connect(self._open_contact)
        self.accounts_view.open_requested.connect(self._open_account)

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

        search_row = QHBoxLayout()
        search_row.setContentsMargins(0, 0, 0, 0)
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.filter_chip)

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
        self.splitter.addWidget(lists)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.setCentralWidget(self.splitter)
        self.resize(*DEFAULT_SIZE)
        self.splitter.setSizes([830, 450])

    def _action(
        self, text: str, slot: object, shortcut: str | QKeySequence | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
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
        self.open_action = self._action(
            "&Open",
            self.open_selected_lead,
            tip="Show the selected lead and go to its form (Enter)",
        )
        self.log_action = self._action("&Log activity…", self.log_activity, "Ctrl+L")
        self.save_action = self._action(
            "&Save changes", self.detail.save, tip="Save the lead form (Ctrl+S)"
        )
        self.revert_action = self._action("&Revert changes", self.detail.revert)
        for action in (self.open_action, self.log_action, self.save_action, self.revert_action):
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
        self.search_action = self._action("&Search", self.focus_search, "Ctrl+F")
        self.clear_filter_action = self._action("&Show all leads", self.clear_lead_filter)
        self.refresh_action = self._action("&Refresh", self.refresh, "F5")
        for action in (self.search_action, self.clear_filter_action, self.refresh_action):
            view_menu.addAction(action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About LeadDesk", self.show_about))

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
                tab.model.set_search(tab.search)
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

    def _lead_selection_changed(self) -> None:
        self._detail_timer.start()
        self._update_actions()

    def _show_selected_lead(self) -> None:
        self._detail_timer.stop()
        lead_id = self.selected_lead_id()
        if lead_id is None or lead_id == self.detail.lead_id:
            return
        if not self.confirm_leave_lead():
            # Stay on the lead with the unsaved edits, and show the list that way too.
            kept = self.detail.lead_id
            row = self.leads_model.row_of(kept) if kept is not None else None
            if row is not None:
                self._select_row(self.leads_view, row)
            return
        self.detail.show_lead(lead_id)
        self._update_actions()

    def _open_lead(self, index: QModelIndex) -> None:
        self.leads_view.setCurrentIndex(index)
        self._show_selected_lead()
        if self.detail.lead_id == self.leads_model.id_at(index.row()):
            self.detail.focus_form()

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
        """Show only one contact's or account's leads, with a chip that lifts the filter."""
        self._lead_filter = label
        leads = self.list_tabs[0]
        leads.search = ""
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
        dialog = LogActivityDialog(
            self._db, detail.id, clock=self._clock, lead_name=detail.display_name, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._after_activity_logged(dialog))
        dialog.open()
        return dialog

    def _after_activity_logged(self, dialog: LogActivityDialog) -> None:
        logged = dialog.logged
        if logged is None:
            return
        self.leads_model.refresh_rows(lead.id for lead in logged.leads)
        self.detail.reload()
        self.refresh_counts()
        self.statusBar().showMessage(
            f"Logged {dialog.type_combo.currentText()} — {len(logged.leads)} lead(s) re-scored.",
            5000,
        )

    def _after_lead_saved(self) -> None:
        for model in (self.leads_model, self.contacts_model, self.accounts_model):
            model.refresh_all_rows()
        self.refresh_counts()
        self.statusBar().showMessage("Saved.", 3000)

    def _update_actions(self) -> None:
        on_leads = self.current_tab.key == "leads"
        has_lead = self.detail.lead_id is not None or self.selected_lead_id() is not None
        self.open_action.setEnabled(not on_leads or has_lead)
        self.log_action.setEnabled(has_lead)
        self.clear_filter_action.setEnabled(self._lead_filter is not None)

    # --- the whole desk -------------------------------------------------------------------

    def refresh(self) -> None:
        """F5: read everything again (another program, or the command line, may have
        changed the database)."""
        for tab in self.list_tabs:
            if tab.model.is_loaded:
                tab.model.reload()
        self.detail.reload()
        self.refresh_counts()

    def refresh_counts(self) -> None:
        self._counts = desk_counts(self._db)
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

    # --- demo data --------------------------------------------------------------------------

    def offer_demo_data(self) -> DemoDataDialog:
        """The welcome dialog of an empty desk: load demo data, or start empty."""
        return self._ask_demo(first_start=True)

    def load_demo_data(self) -> DemoDataDialog | None:
        if self._demo_loader is not None:
            return None
        return self._ask_demo(first_start=is_empty(self._db))

    def _ask_demo(self, *, first_start: bool) -> DemoDataDialog:
        dialog = DemoDataDialog(self, first_start=first_start)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.start_demo(dialog.lead_count()))
        dialog.open()
        return dialog

    def start_demo(self, leads: int) -> DemoLoader | None:
        if self._demo_loader is not None:
            return None
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
        for key, splitter in (
            ("window/splitter", self.splitter),
            ("window/detail_splitter", self.detail.splitter),
        ):
            state = settings.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
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

    def save_settings(self) -> None:
        settings = self._settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/detail_splitter", self.detail.splitter.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        for tab in self.list_tabs:
            settings.setValue(f"tables/{tab.key}/header", tab.view.horizontalHeader().saveState())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_leave_lead():
            event.ignore()
            return
        if self._demo_loader is not None:
            self._demo_loader.wait()
        self.save_settings()
        event.accept()

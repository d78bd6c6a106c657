"""The work queues beside the lead list (DESIGN §1, §4): where each person starts the day.

*All leads*, the *Telemarketing queue*, *Sales acceptance*, *My leads* and *Disqualified*,
each with how many leads wait in it. The counts come from ``services.lists.queue_counts``
and are refreshed by the window after every action, so ticking a lead out of a queue is
seen at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leaddesk.services.process import QUEUE_LABELS, QUEUES
from leaddesk.ui.display import format_count
from leaddesk.ui.qt import (
    QAbstractItemView,
    QAbstractListModel,
    QFont,
    QKeyEvent,
    QListView,
    QModelIndex,
    QObject,
    QPainter,
    QPalette,
    QPersistentModelIndex,
    QSize,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    Qt,
    QWidget,
    Signal,
)

QUEUE_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""``data(index, QUEUE_ROLE)``: the queue's key (``"telemarketing"``…)."""
COUNT_ROLE = int(Qt.ItemDataRole.UserRole) + 2
"""``data(index, COUNT_ROLE)``: how many leads are in the queue (None before counting)."""

QUEUE_HINTS = {
    "all": "Every lead, whatever its stage or status",
    "telemarketing": "Open leads in the two telemarketing stages, best score first",
    "sales_acceptance": (
        "Sales-ready leads waiting for a salesperson; select several and Assign… (Ctrl+Shift+A)"
    ),
    "mine": "Your open leads, best score first",
    "disqualified": "Leads ruled out, by a person or by a disqualification rule",
}
WORK_QUEUES = ("telemarketing", "sales_acceptance", "mine")
"""Queues a person works through from the top: they open sorted by score, best first."""

AnyIndex = QModelIndex | QPersistentModelIndex


class QueueModel(QAbstractListModel):
    """One row per queue, in the order of ``QUEUES``; counts are set from outside."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._keys = list(QUEUES)
        self._counts: dict[str, int] = {}

    def key_at(self, row: int) -> str | None:
        return self._keys[row] if 0 <= row < len(self._keys) else None

    def row_of(self, key: str) -> int:
        return self._keys.index(key)

    def count(self, key: str) -> int | None:
        return self._counts.get(key)

    def set_counts(self, counts: Mapping[str, int]) -> None:
        changed = [k for k in self._keys if self._counts.get(k) != counts.get(k)]
        self._counts = {k: int(v) for k, v in counts.items() if k in self._keys}
        for key in changed:
            index = self.index(self._keys.index(key), 0)
            self.dataChanged.emit(index, index)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._keys):
            return None
        key = self._keys[index.row()]
        count = self._counts.get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            return QUEUE_LABELS[key]
        if role == Qt.ItemDataRole.ToolTipRole:
            return QUEUE_HINTS[key]
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return QUEUE_LABELS[key] + ("" if count is None else f", {count} leads")
        if role == QUEUE_ROLE:
            return key
        if role == COUNT_ROLE:
            return count
        return None


class _QueueDelegate(QStyledItemDelegate):
    """The queue's name on the left and its count right-aligned, like a mail folder."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 48, max(size.height(), option.fontMetrics.height() + 12))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        count = index.data(COUNT_ROLE)
        count_text = "" if count is None else format_count(int(count))
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        rect = opt.rect.adjusted(8, 0, -8, 0)
        painter.save()
        painter.setPen(opt.palette.color(role))
        font = QFont(opt.font)
        metrics = opt.fontMetrics
        count_width = metrics.horizontalAdvance(count_text) + (8 if count_text else 0)
        label = metrics.elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
            Qt.TextElideMode.ElideRight,
            max(0, rect.width() - count_width),
        )
        painter.setFont(font)
        painter.drawText(
            rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), label
        )
        if count_text:
            bold = QFont(font)
            bold.setBold(bool(count))
            painter.setFont(bold)
            if not selected and not count:
                painter.setPen(opt.palette.color(QPalette.ColorGroup.Disabled, role))
            painter.drawText(
                rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), count_text
            )
        painter.restore()


class QueueList(QListView):
    """The sidebar. ``queue_chosen`` fires when the user picks another queue; Enter or
    Right moves on to the lead list (``leave_requested``)."""

    queue_chosen = Signal(str)
    leave_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue_model = QueueModel(self)
        self.setModel(self.queue_model)
        self.setItemDelegate(_QueueDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setUniformItemSizes(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setCurrentIndex(self.queue_model.index(0, 0))
        self.selectionModel().currentRowChanged.connect(self._current_changed)

    def current_queue(self) -> str:
        return self.queue_model.key_at(self.currentIndex().row()) or "all"

    def set_queue(self, key: str) -> None:
        """Select a queue (emits ``queue_chosen`` when it changes)."""
        self.setCurrentIndex(self.queue_model.index(self.queue_model.row_of(key), 0))

    def set_counts(self, counts: Mapping[str, int]) -> None:
        self.queue_model.set_counts(counts)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        key = self.queue_model.key_at(current.row())
        if key is not None:
            self.queue_chosen.emit(key)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Right):
            self.leave_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        rows = self.queue_model.rowCount()
        height = sum(self.sizeHintForRow(r) for r in range(rows)) + 2 * self.frameWidth() + 4
        return QSize(170, height)

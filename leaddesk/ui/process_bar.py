"""The lead's business process, across the top of the lead pane (DESIGN §4).

Like Dynamics 365's business process flow: the stages in order as chevrons, the active
one highlighted and the ones the lead went through ticked; clicking a stage shows *its*
work underneath, and *Next stage* does what moves the lead on (ticks the checkbox that
leads to the next stage, or moves it to a custom stage). Won and disqualified leads say
so in a badge with a *Reopen* button.

A stage's panel offers the checkbox that moves the lead *on* (at Telemarketing
acceptance: *Accepted telemarketing*, DESIGN §1 and §4), after the stage's fields; the
checkbox that brought the lead in is shown read-only, with who ticked it and when.
Unticking a checkbox that would send the lead back a stage (only possible from an
earlier stage's panel) asks first, naming the stage and the queue it leaves: reading a
finished stage should stay safe, yet undoing a mistaken tick must stay possible without
the *Move to stage…* dialog.

Every action goes through ``services.process`` as the user at the desk. Buttons the
user's role cannot use are disabled with a tooltip that says why (mirroring
``domain.process.allowed``); should the service refuse anyway, its message is shown as is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

from leaddesk.domain.process import (
    ACTION_WORDS,
    FLAG_LABELS,
    FLAGS,
    RIGHTS,
    ROLE_INQUIRY,
    ROLE_SALES_READY,
    ROLE_SCORED,
    ROLE_TELEMARKETING_ACCEPTED,
    ROLE_TELEMARKETING_READY,
    LeadState,
    ProcessError,
    Stages,
    StageSpec,
    allowed,
)
from leaddesk.domain.process import set_flag as preview_flag
from leaddesk.services.errors import ServiceError, ValidationError
from leaddesk.services.process import (
    Actor,
    AuditEntry,
    ProcessView,
    disqualification_reasons,
    history,
    mark,
    move_stage,
    process_view,
    set_qualification,
    set_status,
)
from leaddesk.store.database import Database
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.display import ERROR_COLOUR, format_date
from leaddesk.ui.qt import (
    QApplication,
    QCheckBox,
    QColor,
    QComboBox,
    QDate,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFont,
    QFontMetrics,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QKeyEvent,
    QLabel,
    QLineEdit,
    QMessageBox,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
    QPoint,
    QPointF,
    QPolygonF,
    QPushButton,
    QSizePolicy,
    Qt,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from leaddesk.ui.workers import error_text

# The checkbox whose ticking moves a lead *into* a stage of that role.
ENTRY_FLAG = {
    ROLE_TELEMARKETING_READY: "telemarketing_ready",
    ROLE_TELEMARKETING_ACCEPTED: "accepted_telemarketing",
    ROLE_SALES_READY: "sales_ready",
}
# The checkbox a stage's panel offers: the one whose ticking moves the lead *out of* a
# stage of that role (DESIGN §4: at Telemarketing acceptance the telemarketer ticks
# Accepted telemarketing). The checkbox that brought the lead in belongs to the stage
# before and is shown read-only here, so the obvious click never sends the lead back.
EXIT_FLAG = {
    ROLE_SCORED: "telemarketing_ready",
    ROLE_TELEMARKETING_READY: "accepted_telemarketing",
    ROLE_TELEMARKETING_ACCEPTED: "sales_ready",
    ROLE_SALES_READY: "sales_accepted",
}
# What to do in the stage, naming the checkbox that moves the lead on (once).
STAGE_HINTS = {
    ROLE_INQUIRY: "A new lead: check who it is (contact and company in Details); it moves "
    "on by itself when it is first scored.",
    ROLE_SCORED: "Waiting here while its score grows; it moves on by itself at the "
    "sales-ready threshold. Tick <b>Telemarketing ready</b> to have it called sooner.",
    ROLE_TELEMARKETING_READY: "In the telemarketing queue, waiting for a call: tick "
    "<b>Accepted telemarketing</b> when you take it on.",
    ROLE_TELEMARKETING_ACCEPTED: "Call, record what you found, then tick <b>Sales ready</b>.",
    ROLE_SALES_READY: "In the managers' queue: assign a salesperson, then tick "
    "<b>Sales accepted</b>.",
}
CUSTOM_STAGE_HINT = "A stage of this desk's own process."
REOPEN_HINT = "Reopen it to work it again."
WON_COLOUR = "#2e7d32"
DISQUALIFIED_COLOUR = "#616161"
DONE_FILL = "#dcebdc"
DONE_TEXT = "#1b5e20"
EMPTY_DATE = QDate(1900, 1, 1)
CHIP_STYLE = (
    "QLabel { background: #fff3e0; color: #e65100; border: 1px solid #ffb74d;"
    " border-radius: 9px; padding: 1px 8px; font-weight: bold; }"
)
BADGE_STYLE = "QLabel {{ background: {0}; color: white; border-radius: 4px; padding: 2px 8px; }}"
PANEL_STYLE = (
    "QFrame#stagePanel { border: 1px solid palette(mid); border-radius: 4px;"
    " background: palette(alternate-base); }"
)


def who_may(action: str) -> str:
    roles = sorted(RIGHTS.get(action, frozenset()))
    return ", ".join(roles) or "nobody"


def refusal(actor: Actor | None, action: str) -> str | None:
    """Why ``actor`` cannot do ``action`` (None when they can): the tooltip of a disabled
    button, in the services' words."""
    if actor is None:
        return "Choose who is working first (File → Switch user…)"
    if allowed(actor.role, action):
        return None
    return (
        f"A {actor.role} cannot {ACTION_WORDS.get(action, action)} "
        f"(allowed: {who_may(action)}); switch user with Ctrl+Shift+U"
    )


# The checkbox that marks each telemarketing stage as really passed through (the
# evidence when a lead's history is not at hand).
_ROLE_FLAG = {
    "telemarketing_ready": "telemarketing_ready",
    "telemarketing_accepted": "accepted_telemarketing",
}


@dataclass(frozen=True)
class Trail:
    """What the lead's history says about its process: the stages it has been in, the
    entry that ticked each checkbox still ticked, and the one that closed it."""

    visited: frozenset[str]
    ticked: Mapping[str, AuditEntry]
    closed: AuditEntry | None

    @classmethod
    def of(cls, view: ProcessView, entries: Sequence[AuditEntry]) -> Trail:
        visited = {view.stage}
        ticked: dict[str, AuditEntry] = {}
        closed: AuditEntry | None = None
        for entry in entries:
            if entry.kind == "stage":
                visited.update(v for v in (entry.from_value, entry.to_value) if v)
            elif entry.kind == "flag":
                name, _, value = (entry.to_value or "").partition("=")
                if value == "true":
                    ticked[name] = entry
                else:
                    ticked.pop(name, None)
            elif entry.kind == "status" and entry.to_value == view.status:
                closed = entry
        return cls(frozenset(visited), ticked, closed if view.status != "open" else None)


def _by_whom(entry: AuditEntry) -> str:
    when = format_date(entry.at)
    if entry.automatic or not entry.user:
        return f"automatically, {when}{f': {entry.reason}' if entry.reason else ''}"
    return f"by {entry.user}, {when}"


def closed_hint(view: ProcessView, trail: Trail | None) -> str:
    """What a won or disqualified lead needs: nothing but a reopen, and when it closed."""
    word = "Won" if view.status == "won" else "Disqualified"
    entry = trail.closed if trail is not None else None
    if entry is None:
        return f"{word}. {REOPEN_HINT}"
    when = format_date(entry.at)
    who = f"by {entry.user}" if entry.user and not entry.automatic else "automatically"
    return f"{word} on {when} {who}. {REOPEN_HINT}"


def stage_hint(view: ProcessView, stage: StageSpec, state: str, trail: Trail | None) -> str:
    """The line under the stage's title: what to do here, or why there is nothing to."""
    if view.status != "open":
        return closed_hint(view, trail)
    if state == "done":
        return "Done: the lead went through this stage."
    if state == "skipped":
        why = "."
        ready = trail.ticked.get("sales_ready") if trail is not None else None
        if ready is not None and (ready.automatic or not ready.user):
            why = " (its score made it sales-ready)."
        elif ready is not None:
            why = f" ({ready.user} ticked Sales ready)."
        return f"Skipped: the lead went on without passing through this stage{why}"
    if state == "current" and stage.role == ROLE_SALES_READY and view.flags.get("sales_accepted"):
        hint = (
            f"Sales accepted: {view.owner or 'the salesperson'} works it now; mark it won "
            "or disqualify it when the deal is decided."
        )
    else:
        hint = STAGE_HINTS.get(stage.role or "", CUSTOM_STAGE_HINT)
    if state == "ahead":
        return f"Not reached yet. {hint}"
    step = next_step(view)
    if step is not None and step.flag is not None and FLAG_LABELS[step.flag] not in hint:
        hint += f" <i>Next stage</i> ticks <b>{FLAG_LABELS[step.flag]}</b>."
    elif step is not None and step.stage is not None and step.label not in hint:
        hint += f" <i>Next stage</i> moves it to <b>{step.label}</b>."
    return hint


@dataclass(frozen=True)
class NextStep:
    """What *Next stage* does for a lead: tick ``flag``, or move to ``stage``."""

    label: str
    tip: str
    action: str  # the right it needs
    flag: str | None = None
    stage: str | None = None


def next_step(view: ProcessView) -> NextStep | None:
    stages = list(view.stages)
    keys = [s.key for s in stages]
    index = keys.index(view.stage) if view.stage in keys else -1
    current = stages[index] if index >= 0 else None
    if (
        current is not None
        and current.role == ROLE_SALES_READY
        and not view.flags.get("sales_accepted")
    ):
        return NextStep(
            "Sales accepted",
            "Ticks Sales accepted: the assigned salesperson takes the lead on",
            "sales_accepted",
            flag="sales_accepted",
        )
    if index + 1 >= len(stages):
        return None
    target = stages[index + 1]
    flag = ENTRY_FLAG.get(target.role or "")
    if flag is not None and not view.flags.get(flag):
        return NextStep(
            target.label,
            f"Ticks {FLAG_LABELS[flag]}, which moves the lead to {target.label}",
            flag,
            flag=flag,
        )
    return NextStep(
        target.label, f"Moves the lead to {target.label}", "move_stage", stage=target.key
    )


# --- the chevrons ----------------------------------------------------------------------------

STAGE_STATE_WORDS = {
    "current": "current stage",
    "done": "done",
    "skipped": "skipped: the lead went on without passing through it",
    "ahead": "not reached yet",
}


def _pieces(word: str, metrics: QFontMetrics, width: int) -> list[str]:
    """A word too wide for the chevron, broken with hyphens (kept whole when it fits), so
    "Telemarketing" reads "Telemarket-/ing" rather than "Telemarket…"."""
    pieces: list[str] = []
    while metrics.horizontalAdvance(word) > width and len(word) >= 8:
        cut = len(word) - 4  # pieces of four letters at least; shorter words are elided
        while cut > 4 and metrics.horizontalAdvance(f"{word[:cut]}-") > width:
            cut -= 1
        pieces.append(f"{word[:cut]}-")
        word = word[cut:]
    pieces.append(word)
    return pieces


def _wrap(text: str, metrics: QFontMetrics, width: int, max_lines: int) -> list[str]:
    words = [p for w in text.split() for p in _pieces(w, metrics, width)]
    lines: list[str] = []
    while words:
        line = words.pop(0)
        while (
            words
            and not line.endswith("-")
            and metrics.horizontalAdvance(f"{line} {words[0]}") <= width
        ):
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    # elidedText wants a few pixels more than horizontalAdvance: only elide what is over.
    return [
        line
        if metrics.horizontalAdvance(line) <= width
        else metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
        for line in lines
    ]


def _water_level(needs: Sequence[int], width: int) -> float:
    """The widest a chevron may be so that all fit in ``width`` when the short names keep
    what they need: only the longest words get hyphenated ("Inquiry" never does)."""
    remaining = float(width)
    ordered = sorted(needs)
    for index, need in enumerate(ordered):
        share = remaining / (len(ordered) - index)
        if need > share:
            return share
        remaining -= need
    return float(max(needs, default=width))


@dataclass(frozen=True)
class ChevronLayout:
    """Where each chevron sits and how its caption is broken, for one widget width."""

    font: QFont  # the caption font (bold is set per chevron when painting)
    spans: tuple[tuple[float, float], ...]  # left and width of each chevron
    insets: tuple[tuple[int, int], ...]  # the text's margins from each chevron's edges
    lines: tuple[tuple[str, ...], ...]
    height: int


class StageChevrons(QWidget):
    """The stages as clickable chevrons. ``stage_clicked(key)`` on a click, or on
    Left/Right (which move the shown stage) and Space/Enter from the keyboard.

    A chevron is ticked only for a stage the lead really went through (its history shows
    it there): a lead made sales-ready by its score skips the telemarketing stages, and a
    tick there would tell a manager a call was made. Chevrons are as wide as their longest
    word needs, the rest shared out evenly, and the font shrinks (to 7 pt) before any word
    is hyphenated, so a desk with six or seven stages still reads every name; the full
    name and the stage's state are in each chevron's tooltip.
    """

    stage_clicked = Signal(str)
    ARROW = 9
    MAX_LINES = 4
    MIN_POINT = 7.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stages: list[StageSpec] = []
        self.active: str | None = None
        self.shown: str | None = None
        self.status = "open"
        self.flags: dict[str, bool] = {}
        self.visited: frozenset[str] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self._hover: int | None = None
        self._layouts: dict[tuple[int, tuple[str, ...], int], ChevronLayout] = {}
        small = QFont(self.font())
        small.setPointSizeF(small.pointSizeF() * 0.92)
        self._font = small

    def set_state(
        self,
        stages: Sequence[StageSpec],
        active: str,
        shown: str | None,
        status: str,
        flags: Mapping[str, bool] | None = None,
        visited: Collection[str] | None = None,
    ) -> None:
        """``visited``: the stages the lead's history shows it in; without it the
        telemarketing checkboxes stand in as the evidence."""
        self.stages = list(stages)
        self.active = active
        self.shown = shown
        self.status = status
        self.flags = dict(flags or {})
        self.visited = None if visited is None else frozenset(visited)
        self.setToolTip("")
        self.updateGeometry()
        self._fit_height()
        self.update()

    def _fit_height(self) -> None:
        self.setFixedHeight(self.heightForWidth(max(self.width(), 200)))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def chevron_layout(self, width: int) -> ChevronLayout:
        labels = tuple(s.label for s in self.stages)
        active = self._position(self.active)
        key = (width, labels, active)
        cached = self._layouts.get(key)
        if cached is None:
            if len(self._layouts) > 16:
                self._layouts.clear()
            cached = self._layouts[key] = self._lay_out(width, labels, active)
        return cached

    def _lay_out(self, width: int, labels: tuple[str, ...], active: int) -> ChevronLayout:
        count = max(1, len(labels))
        insets = tuple(
            (
                self.ARROW + 2 if index else 11,  # the ✓ sits in this margin
                self.ARROW + 2 if index < count - 1 else 5,
            )
            for index in range(count)
        )
        font = QFont(self._font)
        font.setBold(True)  # measured bold: the shown chevron's caption is
        size = font.pointSizeF()
        while True:
            font.setPointSizeF(size)
            metrics = QFontMetrics(font)
            needs = [
                max([24, *(metrics.horizontalAdvance(w) for w in label.split())]) + sum(inset)
                for label, inset in zip(labels, insets, strict=False)
            ]
            if sum(needs) <= width or size <= self.MIN_POINT:
                break
            size = max(self.MIN_POINT, size - 0.25)
        total = sum(needs) or 1
        if total <= width:
            slack = (width - total) / count
            widths = [float(need + slack) for need in needs]
        elif 0 <= active < len(needs) and width - needs[active] >= 40 * (count - 1):
            # Too narrow for every name: the lead's own stage keeps its name whole and the
            # others share what is left.
            others = [need for index, need in enumerate(needs) if index != active]
            cap = _water_level(others, width - needs[active])
            widths = [
                float(need) if index == active else min(float(need), cap)
                for index, need in enumerate(needs)
            ]
        else:
            cap = _water_level(needs, width)
            widths = [min(float(need), cap) for need in needs]
        spans: list[tuple[float, float]] = []
        left = 0.0
        for span in widths:
            spans.append((left, span))
            left += span
        lines = tuple(
            tuple(_wrap(label, metrics, max(8, int(span) - sum(inset)), self.MAX_LINES))
            for label, (_left, span), inset in zip(labels, spans, insets, strict=False)
        )
        height = metrics.lineSpacing() * max([2, *(len(ls) for ls in lines)]) + 10
        font.setBold(False)
        return ChevronLayout(QFont(font), tuple(spans), insets, lines, height)

    def fitted_font(self, width: int) -> QFont:
        return self.chevron_layout(width).font

    def heightForWidth(self, width: int) -> int:
        return self.chevron_layout(width).height

    def hasHeightForWidth(self) -> bool:
        return True

    def _position(self, key: str | None) -> int:
        keys = [s.key for s in self.stages]
        return keys.index(key) if key in keys else -1

    def state_of(self, stage: StageSpec) -> str:
        """``current``, ``done``, ``skipped`` (behind the lead, never passed through) or
        ``ahead``. A won lead's stages after the one it was won in stay ahead."""
        if stage.key == self.active:
            return "current"
        position, active = self._position(stage.key), self._position(self.active)
        if position > active:
            return "ahead"
        flag = _ROLE_FLAG.get(stage.role or "")
        if flag is not None and self.flags.get(flag):
            return "done"  # its checkbox was ticked (Accepted telemarketing jumps over it)
        if self.visited is not None:
            return "done" if stage.key in self.visited else "skipped"
        if stage.role is None:
            return "skipped"  # a custom stage is only entered by hand: no evidence
        return "done" if flag is None else "skipped"

    def _done(self, stage: StageSpec) -> bool:
        return self.state_of(stage) == "done"

    def _segment(self, index: int) -> QPolygonF:
        count = max(1, len(self.stages))
        left, width = self.chevron_layout(self.width()).spans[index]
        right = left + width - 1
        h = self.height() - 1
        a = self.ARROW
        first = index == 0
        last = index == count - 1
        points = [
            QPointF(left, 0),
            QPointF(right - (0 if last else a), 0),
            QPointF(right, h / 2),
            QPointF(right - (0 if last else a), h),
            QPointF(left, h),
        ]
        if not first:
            points.insert(5, QPointF(left + a, h / 2))
        return QPolygonF(points)

    def index_at(self, x: float) -> int | None:
        if not self.stages or self.width() <= 0:
            return None
        for index, (left, width) in enumerate(self.chevron_layout(self.width()).spans):
            if left <= x < left + width:
                return index
        return None

    def centre_of(self, key: str) -> QPoint:
        """The middle of a stage's chevron (where a click lands on it)."""
        index = self._position(key)
        left, width = self.chevron_layout(self.width()).spans[index]
        return QPoint(int(left + width / 2), self.height() // 2)

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        layout = self.chevron_layout(self.width())
        palette = self.palette()
        for index, stage in enumerate(self.stages):
            state = self.state_of(stage)
            active = state == "current"
            done = state == "done"
            if active and self.status == "disqualified":
                fill, text = QColor(DISQUALIFIED_COLOUR), QColor("white")
            elif active and self.status == "won":
                fill, text = QColor(WON_COLOUR), QColor("white")
            elif active:
                fill = palette.color(QPalette.ColorRole.Highlight)
                text = palette.color(QPalette.ColorRole.HighlightedText)
            elif done:
                fill, text = QColor(DONE_FILL), QColor(DONE_TEXT)
            else:
                fill = palette.color(QPalette.ColorRole.Button)
                text = palette.color(QPalette.ColorRole.ButtonText)
                if state == "skipped":
                    text = palette.color(QPalette.ColorRole.PlaceholderText)
            if index == self._hover and not active:
                fill = fill.darker(108)
            polygon = self._segment(index)
            shown = stage.key == self.shown
            painter.setBrush(fill)
            pen = QPen(palette.color(QPalette.ColorRole.Dark if shown else QPalette.ColorRole.Mid))
            pen.setWidthF(2.0 if shown else 1.0)
            painter.setPen(pen)
            painter.drawPolygon(polygon)
            left, span = layout.spans[index]
            inset_left, inset_right = layout.insets[index]
            font = QFont(layout.font)
            font.setBold(active or shown)
            painter.setFont(font)
            metrics = QFontMetrics(font)
            painter.setPen(text)
            if done or (active and self.status == "won"):
                painter.drawText(QPointF(left + 2, metrics.ascent() + 2), "✓")
            if shown and self.hasFocus():
                focus = QPen(text)
                focus.setStyle(Qt.PenStyle.DotLine)
                painter.setPen(focus)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(
                    polygon.boundingRect().adjusted(self.ARROW + 3, 3, -self.ARROW - 3, -3)
                )
                painter.setPen(text)
            lines = layout.lines[index]
            inner = span - inset_left - inset_right
            line_h = metrics.lineSpacing()
            top = (self.height() - line_h * len(lines)) / 2
            for number, line in enumerate(lines):
                painter.drawText(
                    QPointF(
                        left + inset_left + (inner - metrics.horizontalAdvance(line)) / 2,
                        top + number * line_h + metrics.ascent(),
                    ),
                    line,
                )
        painter.end()

    def tooltip_of(self, stage: StageSpec) -> str:
        state = self.state_of(stage)
        if state == "current" and self.status != "open":
            words = f"where the lead was {self.status}"
        else:
            words = STAGE_STATE_WORDS[state]
        return f"{stage.label} — {words}" + ("" if stage.key == self.shown else "; click to see it")

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hover = self.index_at(event.position().x())
        if hover != self._hover:
            self._hover = hover
            if hover is not None:
                self.setToolTip(self.tooltip_of(self.stages[hover]))
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: Any) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().x())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self.stage_clicked.emit(self.stages[index].key)
            event.accept()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        position = self._position(self.shown)
        if event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self.stages:
            step = -1 if event.key() == Qt.Key.Key_Left else 1
            target = min(max(position + step, 0), len(self.stages) - 1)
            self.stage_clicked.emit(self.stages[target].key)
            event.accept()
            return
        super().keyPressEvent(event)

    def click_stage(self, key: str) -> None:
        """What a click on the stage's chevron does (for the keyboard and tests)."""
        self.stage_clicked.emit(key)


# --- qualification field editors ---------------------------------------------------------------


class FieldEditor:
    """One qualification field: an editor by type, the stored value, and whether the
    user changed it."""

    def __init__(self, spec: Mapping[str, Any], on_edit: Callable[[], None]) -> None:
        self.spec = dict(spec)
        self.key = str(spec["key"])
        self.label = str(spec.get("label") or self.key)
        self.kind = str(spec.get("type") or "text")
        self.original: Any = None
        self.widget: QWidget
        self.clear_button: QToolButton | None = None
        if self.kind == "checkbox":
            box = QCheckBox(self.label)
            box.toggled.connect(lambda _on: on_edit())
            self.widget = box
        elif self.kind == "choice":
            combo = QComboBox()
            combo.addItem("")
            combo.addItems([str(c) for c in spec.get("choices") or []])
            combo.currentIndexChanged.connect(lambda _i: on_edit())
            self.widget = combo
        elif self.kind == "date":
            edit = QDateEdit()
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setMinimumDate(EMPTY_DATE)
            edit.setSpecialValueText("—")
            edit.setDate(EMPTY_DATE)
            edit.dateChanged.connect(lambda _d: on_edit())
            self.widget = edit
            self.clear_button = QToolButton()
            self.clear_button.setText("✕")
            self.clear_button.setToolTip(f"Clear {self.label}")
            self.clear_button.setAutoRaise(True)
            self.clear_button.clicked.connect(lambda: edit.setDate(EMPTY_DATE))
        else:
            line = QLineEdit()
            if self.kind == "number":
                line.setAlignment(Qt.AlignmentFlag.AlignRight)
                line.setPlaceholderText("number")
            line.textEdited.connect(lambda _t: on_edit())
            self.widget = line
        self.widget.setObjectName(f"qualification.{self.key}")
        self.widget.setToolTip(self.label)

    def cell(self) -> QWidget:
        if self.clear_button is None:
            return self.widget
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.widget, 1)
        row.addWidget(self.clear_button)
        return box

    def load(self, value: Any) -> None:
        self.original = value
        widget = self.widget
        widget.blockSignals(True)
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            text = "" if value is None else str(value)
            index = widget.findText(text)
            if index < 0 and text:
                widget.addItem(text)
                index = widget.count() - 1
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QDateEdit):
            parsed = QDate.fromString(str(value)[:10], "yyyy-MM-dd") if value else EMPTY_DATE
            widget.setDate(parsed if parsed.isValid() else EMPTY_DATE)
        elif isinstance(widget, QLineEdit):
            widget.setText("" if value is None else _plain(value))
            widget.setCursorPosition(0)
        widget.blockSignals(False)

    def value(self) -> Any:
        widget = self.widget
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentText().strip() or None
        if isinstance(widget, QDateEdit):
            chosen = widget.date()
            return None if chosen == EMPTY_DATE else chosen.toString("yyyy-MM-dd")
        assert isinstance(widget, QLineEdit)
        return widget.text().strip() or None

    def changed(self) -> bool:
        value = self.value()
        if self.kind == "checkbox":
            return bool(value != bool(self.original))
        if self.kind == "date" and isinstance(self.original, date):
            return bool(value != self.original.isoformat())
        original = None if self.original in (None, "") else _plain(self.original)
        return (None if value is None else str(value)) != original

    def set_enabled(self, on: bool, tip: str | None) -> None:
        self.widget.setEnabled(on)
        self.widget.setToolTip(self.label if on or not tip else tip)
        if self.clear_button is not None:
            self.clear_button.setEnabled(on)


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- small dialogs -----------------------------------------------------------------------------


class MoveStageDialog(QDialog):
    """*Move to stage…*: any stage, with an optional reason for the audit trail."""

    def __init__(
        self, stages: Sequence[StageSpec], current: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to stage")
        self.stage_combo = QComboBox()
        for stage in stages:
            self.stage_combo.addItem(stage.label, stage.key)
        keys = [s.key for s in stages]
        position = keys.index(current) if current in keys else 0
        self.stage_combo.setCurrentIndex(min(position + 1, len(keys) - 1))
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("optional: why, for the history")
        form = QFormLayout()
        form.addRow("&Stage:", self.stage_combo)
        form.addRow("&Reason:", self.reason_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Move")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def chosen(self) -> tuple[str, str]:
        return str(self.stage_combo.currentData()), self.reason_edit.text().strip()


class DisqualifyDialog(QDialog):
    """*Disqualify…*: a reason from the desk's list, or typed."""

    def __init__(self, reasons: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Disqualify lead")
        self.reason_combo = QComboBox()
        self.reason_combo.setEditable(True)
        self.reason_combo.addItems(list(reasons))
        self.reason_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        form = QFormLayout()
        form.addRow("&Reason:", self.reason_combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Disqualify")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The lead leaves the work queues; it can be reopened."))
        layout.addLayout(form)
        layout.addWidget(buttons)

    def reason(self) -> str:
        return self.reason_combo.currentText().strip()


# --- the panel ---------------------------------------------------------------------------------


class ProcessPanel(QWidget):
    """The chevrons, the shown stage's checkboxes and fields, and the process actions.

    ``changed(lead_id)`` fires after every stored change so the window can refresh the
    list row, the queue counts and the lead's history; ``assign_requested`` asks the
    window for its assign dialog (the same one the queue uses for many leads).
    """

    changed = Signal(int)
    assign_requested = Signal()

    def __init__(self, db: Database, clock: Clock = utc_now, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._clock = clock
        self._actor: Actor | None = None
        self.view: ProcessView | None = None
        self.trail: Trail | None = None
        self.shown_stage: str | None = None
        self.editors: dict[str, FieldEditor] = {}
        self.flag_boxes: dict[str, QCheckBox] = {}
        self.dialog: QDialog | None = None
        self._refocus = False
        self._focus_on_reload = False
        self.owner_label: QLabel | None = None
        self.assign_button: QPushButton | None = None
        self.save_fields_button: QPushButton | None = None
        self.fields_state: QLabel | None = None
        self.entry_label: QLabel | None = None

        self.chevrons = StageChevrons()
        self.chevrons.setObjectName("stage_chevrons")
        self.chevrons.stage_clicked.connect(self.show_stage)

        self.status_row = QWidget()
        status_layout = QHBoxLayout(self.status_row)
        status_layout.setContentsMargins(0, 0, 0, 0)
        status_layout.setSpacing(6)
        self.tags_layout = QHBoxLayout()
        self.tags_layout.setSpacing(4)
        self.badge = QLabel()
        self.badge.setObjectName("status_badge")
        self.reopen_button = QPushButton("Reopen")
        self.reopen_button.setObjectName("reopen")
        self.reopen_button.clicked.connect(self.reopen)
        status_layout.addLayout(self.tags_layout)
        status_layout.addStretch(1)
        status_layout.addWidget(self.badge)
        status_layout.addWidget(self.reopen_button)

        self.stage_frame = QFrame()
        self.stage_frame.setObjectName("stagePanel")
        self.stage_frame.setStyleSheet(PANEL_STYLE)
        self.stage_layout = QVBoxLayout(self.stage_frame)
        self.stage_layout.setContentsMargins(8, 6, 8, 6)
        self.stage_layout.setSpacing(4)
        self.stage_title = QLabel()
        bold = QFont(self.stage_title.font())
        bold.setBold(True)
        self.stage_title.setFont(bold)
        self.stage_hint = QLabel()
        self.stage_hint.setWordWrap(True)
        self.stage_hint.setStyleSheet("color: palette(placeholder-text);")
        self.stage_body = QWidget()
        self.stage_layout.addWidget(self.stage_title)
        self.stage_layout.addWidget(self.stage_hint)
        self.stage_layout.addWidget(self.stage_body)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.stage_layout.addWidget(self.error_label)

        self.next_button = QPushButton("&Next stage ▸")
        self.next_button.setObjectName("next_stage")
        self.next_button.clicked.connect(self.next_stage)
        self.move_button = QPushButton("&Move to stage…")
        self.move_button.clicked.connect(self.move_to_stage)
        self.won_button = QPushButton("Mark &won")
        self.won_button.clicked.connect(self.mark_won)
        self.disqualify_button = QPushButton("Dis&qualify…")
        self.disqualify_button.clicked.connect(self.disqualify)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.next_button)
        actions.addWidget(self.move_button)
        actions.addStretch(1)
        actions.addWidget(self.won_button)
        actions.addWidget(self.disqualify_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.chevrons)
        layout.addWidget(self.status_row)
        layout.addWidget(self.stage_frame)
        layout.addLayout(actions)

    # --- state ----------------------------------------------------------------------------

    @property
    def lead_id(self) -> int | None:
        return self.view.lead_id if self.view else None

    def set_actor(self, actor: Actor | None) -> None:
        self._actor = actor
        if self.view is not None:
            self._fill(keep_edits=True)

    def stage_label(self, key: str | None) -> str:
        if key is None:
            return "—"
        for stage in self.view.stages if self.view else ():
            if stage.key == key:
                return stage.label
        return key

    def show_lead(self, lead_id: int | None) -> None:
        """Show a lead's process with its active stage opened."""
        self._focus_on_reload = False
        if lead_id is None:
            self.view = self.trail = None
            return
        self.view = self._read(lead_id)
        self.shown_stage = self.view.stage
        self._fill(keep_edits=False)

    def reload(self) -> None:
        """Read the lead again after a change. The stage shown follows the lead when it
        was showing the active stage; values typed and not yet saved stay."""
        if self.view is None:
            return
        dirty = self.has_unsaved_fields()
        followed = self.shown_stage == self.view.stage and not dirty
        try:
            self.view = self._read(self.view.lead_id)
        except ServiceError:
            self.view = self.trail = None
            return
        if followed or self.shown_stage not in {s.key for s in self.view.stages}:
            self.shown_stage = self.view.stage
        self._fill(keep_edits=dirty)
        if self._focus_on_reload:
            self._focus_on_reload = False
            self.focus_first()

    def _read(self, lead_id: int) -> ProcessView:
        view = process_view(self._db, lead_id)
        self.trail = Trail.of(view, history(self._db, lead_id))
        return view

    def show_stage(self, key: str) -> None:
        """Show the checkboxes and fields of stage ``key`` (a click on its chevron)."""
        if self.view is None or key == self.shown_stage:
            return
        if self.has_unsaved_fields() and not self.save_fields():
            return
        self.shown_stage = key
        self._fill(keep_edits=False)

    def has_unsaved_fields(self) -> bool:
        return any(editor.changed() for editor in self.editors.values())

    # --- filling ------------------------------------------------------------------------------

    def _fill(self, *, keep_edits: bool) -> None:
        view = self.view
        if view is None:
            return
        kept = {k: e.value() for k, e in self.editors.items() if e.changed()} if keep_edits else {}
        self.chevrons.set_state(
            view.stages,
            view.stage,
            self.shown_stage,
            view.status,
            view.flags,
            self.trail.visited if self.trail is not None else None,
        )
        self._fill_status(view)
        stage = next((s for s in view.stages if s.key == self.shown_stage), None)
        if stage is None:
            stage = view.stages[0]
            self.shown_stage = stage.key
        self._fill_stage(view, stage)
        for key, value in kept.items():
            if key in self.editors:
                self.editors[key].load(value)
                self.editors[key].original = view.qualification.get(key)
        self._fill_actions(view)
        self.error_label.setVisible(False)
        self._sync_save()

    def _fill_status(self, view: ProcessView) -> None:
        while self.tags_layout.count():
            item = self.tags_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # gone from the screen now, deleted when Qt gets to it
                widget.deleteLater()
        for tag in view.tags:
            chip = QLabel(tag)
            chip.setObjectName("tag_chip")
            chip.setStyleSheet(CHIP_STYLE)
            chip.setToolTip("Added when a scoring model's threshold was crossed; it stays")
            self.tags_layout.addWidget(chip)
        if view.status == "won":
            self.badge.setText("✓ Won")
            self.badge.setStyleSheet(BADGE_STYLE.format(WON_COLOUR))
        elif view.status == "disqualified":
            self.badge.setText(f"Disqualified: {view.status_reason or 'no reason given'}")
            self.badge.setStyleSheet(BADGE_STYLE.format(DISQUALIFIED_COLOUR))
        self.badge.setVisible(view.status != "open")
        self.reopen_button.setVisible(view.status != "open")
        self._permit(self.reopen_button, "reopen", "Open the lead again, in the stage it was in")
        self.status_row.setVisible(bool(view.tags) or view.status != "open")
        status_layout = self.status_row.layout()
        if status_layout is not None:
            status_layout.activate()

    def _permit(
        self, widget: QWidget, action: str, tip: str, *, blocked: str | None = None
    ) -> None:
        why = refusal(self._actor, action) or blocked
        widget.setEnabled(why is None)
        widget.setToolTip(tip if why is None else why)

    def _closed_reason(self, view: ProcessView) -> str | None:
        if view.status == "open":
            return None
        return f"The lead is {view.status}; reopen it first"

    def _fill_stage(self, view: ProcessView, stage: StageSpec) -> None:
        """The shown stage's panel, in the order the work is done: how the lead got here
        (read-only), the salesperson, the fields, then the checkbox that moves it on."""
        self.editors = {}
        self.flag_boxes = {}
        self.owner_label = self.assign_button = None
        self.save_fields_button = self.fields_state = self.entry_label = None
        old = self.stage_body
        self.stage_body = QWidget()
        self.stage_layout.replaceWidget(old, self.stage_body)
        focused = QApplication.focusWidget()
        had_focus = focused is not None and old.isAncestorOf(focused)
        old.hide()
        old.deleteLater()
        # Hidden while it is filled, shown at the end: then its new children are visible
        # at once (focus can go to them) instead of after the next layout pass.
        self.stage_body.hide()
        self._refocus = self._refocus or had_focus
        body = QVBoxLayout(self.stage_body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(4)
        state = self.chevrons.state_of(stage)
        where = STAGE_STATE_WORDS[state].partition(":")[0]
        if view.status != "open" and state == "current":
            where = f"where the lead was {view.status}"
        self.stage_title.setText(f"{stage.label}  ·  {where}")
        self.stage_hint.setText(stage_hint(view, stage, state, self.trail))
        closed = self._closed_reason(view)

        entry = ENTRY_FLAG.get(stage.role or "")
        if state == "current" and entry is not None and view.flags.get(entry):
            self.entry_label = QLabel(self._entry_text(entry))
            self.entry_label.setObjectName("entry_flag")
            self.entry_label.setWordWrap(True)
            self.entry_label.setStyleSheet(f"color: {DONE_TEXT};")
            self.entry_label.setToolTip(
                f"{FLAG_LABELS[entry]} brought the lead to this stage. To send it back, "
                "open the stage before and untick it there, or use Move to stage…"
            )
            body.addWidget(self.entry_label)
        if stage.role == ROLE_SALES_READY:
            owner_row = QHBoxLayout()
            owner_label = QLabel(f"Salesperson: <b>{view.owner or 'nobody yet'}</b>")
            owner_label.setObjectName("owner_label")
            assign_button = QPushButton("&Assign…")
            assign_button.setObjectName("assign_lead")
            blocked = closed or (
                "Untick Sales accepted to give the lead to someone else"
                if view.flags.get("sales_accepted")
                else None
            )
            self._permit(
                assign_button,
                "assign",
                "Give the lead to a salesperson (Ctrl+Shift+A)",
                blocked=blocked,
            )
            assign_button.clicked.connect(self._assign_clicked)
            owner_row.addWidget(owner_label)
            owner_row.addWidget(assign_button)
            self.owner_label, self.assign_button = owner_label, assign_button
            owner_row.addStretch(1)
            body.addLayout(owner_row)
        if stage.fields:
            self._fill_fields(view, stage, body, closed)
        flag = EXIT_FLAG.get(stage.role or "")
        if flag is not None:
            row = QHBoxLayout()
            box = QCheckBox(FLAG_LABELS[flag])
            box.setObjectName(flag)
            box.setChecked(bool(view.flags.get(flag)))
            blocked = closed
            if flag == "sales_accepted" and not view.owner and not box.isChecked():
                blocked = blocked or "Assign a salesperson first"
            tip = _flag_tip(flag)
            back = self._backwards(view, flag) if box.isChecked() else None
            if back is not None:
                tip = (
                    f"Unticking it moves the lead back to {self.stage_label(back)} "
                    "(you are asked first)"
                )
            self._permit(box, flag, tip, blocked=blocked)
            box.clicked.connect(lambda on, flag=flag: self.set_flag(flag, on))
            self.flag_boxes[flag] = box
            row.addWidget(box)
            row.addStretch(1)
            body.addLayout(row)
        self.stage_body.show()
        self._chain_focus()

    def _assign_clicked(self) -> None:
        # The assign dialog's answer comes back as a reload(); the keyboard then goes on to
        # what is next (Sales accepted) instead of getting lost with the rebuilt button.
        self._focus_on_reload = True
        self.assign_requested.emit()

    def _entry_text(self, flag: str) -> str:
        entry = self.trail.ticked.get(flag) if self.trail is not None else None
        text = f"✓ {FLAG_LABELS[flag]}"
        if entry is not None:
            text += f" — ticked {_by_whom(entry)}"
        return text

    def _fill_fields(
        self, view: ProcessView, stage: StageSpec, body: QVBoxLayout, closed: str | None
    ) -> None:
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        why = refusal(self._actor, "qualification") or closed
        for number, spec in enumerate(stage.fields):
            editor = FieldEditor(spec, self._sync_save)
            editor.load(view.qualification.get(editor.key))
            editor.set_enabled(why is None, why)
            self.editors[editor.key] = editor
            row, column = divmod(number, 2)
            if editor.kind == "checkbox":
                grid.addWidget(editor.cell(), row, column * 2 + 1)
            else:
                label = QLabel(f"{editor.label}:")
                label.setBuddy(editor.widget)
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                grid.addWidget(label, row, column * 2)
                grid.addWidget(editor.cell(), row, column * 2 + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        body.addLayout(grid)
        save_row = QHBoxLayout()
        fields_state = QLabel()
        fields_state.setStyleSheet("color: palette(placeholder-text);")
        save_button = QPushButton("Save fields")
        save_button.setObjectName("save_fields")
        save_button.setToolTip(
            "Store what you typed (also saved when you tick a checkbox or move on)"
        )
        save_button.setEnabled(why is None)
        save_button.clicked.connect(self.save_fields)
        save_row.addWidget(fields_state, 1)
        save_row.addWidget(save_button)
        body.addLayout(save_row)
        self.save_fields_button, self.fields_state = save_button, fields_state

    def _backwards(self, view: ProcessView, flag: str) -> str | None:
        """The stage unticking ``flag`` would send the lead back to (None when it stays),
        worked out by the same domain rule the service applies."""
        flags = {name: bool(view.flags.get(name)) for name in FLAGS}
        state = LeadState(
            stage=view.stage,
            status=view.status,
            telemarketing_ready=flags["telemarketing_ready"],
            accepted_telemarketing=flags["accepted_telemarketing"],
            sales_ready=flags["sales_ready"],
            sales_accepted=flags["sales_accepted"],
        )
        try:
            outcome = preview_flag(state, flag, False, Stages(view.stages))
        except ProcessError:
            return None  # refused: the service says why when it is tried
        if outcome.state.stage == view.stage:
            return None
        return outcome.state.stage

    def _chain_focus(self) -> None:
        """Tab goes chevrons → the stage's checkboxes and fields → Next stage, in reading
        order (widgets made later would otherwise come last in the window's chain)."""
        chain: list[QWidget] = [self.chevrons]
        chain += [w for w in self.stage_body.findChildren(QWidget) if _takes_focus(w)]
        chain.append(self.next_button)
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _fill_actions(self, view: ProcessView) -> None:
        closed = self._closed_reason(view)
        step = next_step(view)
        if step is None:
            self.next_button.setText("&Next stage ▸")
            self._permit(
                self.next_button, "move_stage", "", blocked=closed or "This is the last stage"
            )
        else:
            self.next_button.setText(
                "&Next: Sales accepted" if step.flag == "sales_accepted" else "&Next stage ▸"
            )
            blocked = closed
            if step.flag == "sales_accepted" and not view.owner:
                blocked = blocked or "Assign a salesperson first"
            self._permit(self.next_button, step.action, step.tip, blocked=blocked)
        self._permit(
            self.move_button, "move_stage", "Put the lead in any stage by hand", blocked=closed
        )
        self._permit(
            self.won_button, "win", "The deal is closed: mark the lead won", blocked=closed
        )
        self._permit(
            self.disqualify_button,
            "disqualify",
            "Rule the lead out, with a reason",
            blocked=closed,
        )

    def _sync_save(self) -> None:
        dirty = self.has_unsaved_fields()
        if self.save_fields_button is not None and self.fields_state is not None:
            self.save_fields_button.setEnabled(dirty)
            self.fields_state.setText("Unsaved changes" if dirty else "")

    # --- actions ------------------------------------------------------------------------------

    def _act(self, title: str, action: Callable[[Actor], object]) -> bool:
        """Run one service action as the user at the desk; a refusal is shown in the
        service's own words and nothing else happens."""
        if self.view is None:
            return False
        if self._actor is None:
            QMessageBox.warning(self, title, "Choose who is working first (File → Switch user…).")
            return False
        try:
            action(self._actor)
        except ValidationError as exc:
            QMessageBox.warning(self, title, "\n".join(exc.errors.values()) or str(exc))
            return False
        except ServiceError as exc:
            QMessageBox.warning(self, title, str(exc))
            self.reload()  # the checkbox the user clicked goes back to what is stored
            return False
        except Exception as exc:  # the database itself (locked by a long re-score, gone)
            QMessageBox.warning(self, title, error_text(exc))
            self.reload()
            return False
        lead_id = self.view.lead_id
        focused = QApplication.focusWidget()
        keyboard = focused is not None and self.isAncestorOf(focused)
        self.reload()
        self.changed.emit(lead_id)
        if keyboard or self._refocus:
            self.focus_first()  # the keyboard carries on with what there is to do next
        self._refocus = False
        return True

    def _save_first(self) -> bool:
        return not self.has_unsaved_fields() or self.save_fields()

    def set_flag(self, flag: str, on: bool) -> bool:
        """Tick or untick a process checkbox (what clicking it does). Unticking one that
        would move the lead back a stage asks first: the lead may leave the queue of the
        person looking at it, and a stray click should not do that silently."""
        if self.view is None or not self._save_first():
            self.reload()
            return False
        back = None if on else self._backwards(self.view, flag)
        if back is not None and not self._confirm_back(flag, back):
            self.reload()  # the checkbox goes back to ticked
            return False
        lead_id = self.view.lead_id
        title = f"{FLAG_LABELS[flag]} not {'ticked' if on else 'unticked'}"
        return self._act(
            title, lambda actor: mark(self._db, lead_id, flag, on, actor, self._clock())
        )

    def _confirm_back(self, flag: str, back: str) -> bool:
        view = self.view
        assert view is not None
        queues = {
            ROLE_TELEMARKETING_READY: "the telemarketing queue",
            ROLE_TELEMARKETING_ACCEPTED: "the telemarketing queue",
            ROLE_SALES_READY: "the managers' Sales acceptance queue",
        }
        role = next((s.role for s in view.stages if s.key == view.stage), None)
        back_role = next((s.role for s in view.stages if s.key == back), None)
        text = (
            f"Unticking {FLAG_LABELS[flag]} moves the lead back from "
            f"{self.stage_label(view.stage)} to {self.stage_label(back)}"
        )
        leaves = queues.get(role or "")
        if leaves is not None and leaves != queues.get(back_role or ""):
            text += f", out of {leaves}"
        answer = QMessageBox.question(
            self,
            "Move the lead back?",
            f"{text}.\n\nUntick it and move the lead back?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def next_stage(self) -> bool:
        view = self.view
        if view is None:
            return False
        step = next_step(view)
        if step is None or not self._save_first():
            return False
        if step.flag is not None:
            return self.set_flag(step.flag, True)
        target = step.stage
        assert target is not None
        return self._act(
            "Not moved",
            lambda actor: move_stage(self._db, view.lead_id, target, actor, self._clock()),
        )

    def move_to_stage(self) -> MoveStageDialog | None:
        """Opens the dialog (non-blocking) and moves the lead when it is accepted."""
        view = self.view
        if view is None:
            return None
        dialog = MoveStageDialog(view.stages, view.stage, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._move(view.lead_id, *dialog.chosen()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _move(self, lead_id: int, key: str, reason: str) -> None:
        if not self._save_first():
            return
        self._act(
            "Not moved",
            lambda actor: move_stage(self._db, lead_id, key, actor, self._clock(), reason),
        )

    def mark_won(self) -> bool:
        view = self.view
        if view is None or not self._save_first():
            return False
        return self._act(
            "Not marked won",
            lambda actor: set_status(self._db, view.lead_id, "won", actor, self._clock()),
        )

    def disqualify(self) -> DisqualifyDialog | None:
        view = self.view
        if view is None:
            return None
        dialog = DisqualifyDialog(disqualification_reasons(self._db), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._disqualify(view.lead_id, dialog.reason()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _disqualify(self, lead_id: int, reason: str) -> None:
        if not self._save_first():
            return
        self._act(
            "Not disqualified",
            lambda actor: set_status(
                self._db, lead_id, "disqualified", actor, self._clock(), reason
            ),
        )

    def reopen(self) -> bool:
        view = self.view
        if view is None:
            return False
        return self._act(
            "Not reopened",
            lambda actor: set_status(self._db, view.lead_id, "open", actor, self._clock()),
        )

    def save_fields(self) -> bool:
        """Store the qualification fields the user changed; a refused value is named
        under the fields and everything typed stays."""
        view = self.view
        if view is None or self._actor is None:
            return False
        values = {k: e.value() for k, e in self.editors.items() if e.changed()}
        if not values:
            return True
        try:
            set_qualification(self._db, view.lead_id, values, self._actor, self._clock())
        except ValidationError as exc:
            labels = {k: e.label for k, e in self.editors.items()}
            self.error_label.setText(
                "Not saved: " + "; ".join(f"{labels.get(k, k)} {m}" for k, m in exc.errors.items())
            )
            self.error_label.setVisible(True)
            return False
        except ServiceError as exc:
            self.error_label.setText(f"Not saved: {exc}")
            self.error_label.setVisible(True)
            return False
        lead_id = view.lead_id
        self.view = process_view(self._db, lead_id)
        for key, editor in self.editors.items():
            editor.original = self.view.qualification.get(key)
        self.error_label.setVisible(False)
        self._sync_save()
        self.changed.emit(lead_id)
        return True

    def revert_fields(self) -> None:
        if self.view is not None:
            for key, editor in self.editors.items():
                editor.load(self.view.qualification.get(key))
            self._sync_save()

    def focus_first(self) -> bool:
        """Put the keyboard on the first thing to do in the shown stage."""
        # In the order the stage's work is done: the fields, the salesperson while there
        # is none, then the checkbox that moves the lead on -- never a ticked checkbox
        # (Space there would untick it).
        candidates: list[QWidget] = [e.widget for e in self.editors.values()]
        if self.assign_button is not None and self.view is not None and not self.view.owner:
            candidates.append(self.assign_button)
        candidates += [b for b in self.flag_boxes.values() if not b.isChecked()]
        candidates += [self.next_button, self.chevrons]
        for widget in candidates:
            if widget.isEnabled() and widget.isVisibleTo(self):
                widget.setFocus(Qt.FocusReason.OtherFocusReason)
                return True
        return False


def _takes_focus(widget: QWidget) -> bool:
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and not isinstance(
        widget.parentWidget(), QDateEdit | QComboBox
    )


def _flag_tip(flag: str) -> str:
    return {
        "telemarketing_ready": "Puts the lead in the telemarketing queue",
        "accepted_telemarketing": "A telemarketer takes the lead on (Telemarketing qualification)",
        "sales_ready": "Qualified: send the lead to the managers' Sales acceptance queue",
        "sales_accepted": "The assigned salesperson takes the lead on; it becomes theirs",
    }[flag]

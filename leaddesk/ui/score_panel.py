"""A lead's scores, why it has them, and how they moved (DESIGN §3 "Explanation").

A salesperson trusts a number only when it can be taken apart: every active model's
score is shown with its fit and engagement subtotals and a breakdown of the rules that
gave the points, from which activities, and when those points run out. An excluded lead
says which condition excluded it; a lead that cannot be scored says what to link.

The history chart uses matplotlib, which takes a noticeable time to import, so it is
imported the first time a chart is actually drawn and never at start-up. It reads like
the score charts of HubSpot or Dynamics: one step line per model (a score holds its value
until the next change), a dot at each change, a legend naming the models, and a time axis
that ends at *now* and spans at least a week, so a lead scored once (or whose changes all
share one moment) still gets a readable axis instead of matplotlib's multi-year fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from leaddesk.domain.conditions import AllOf, AnyOf, Condition, Leaf, Not, describe, field_label
from leaddesk.domain.scoring import ACTIVITY, INACTIVITY, PROPERTY, Contribution, ScoreResult
from leaddesk.services.activities import list_activity_types
from leaddesk.services.errors import ServiceError
from leaddesk.services.records import get_lead_detail
from leaddesk.services.scoring import (
    ExternalScoreRow,
    HistoryPoint,
    explain,
    external_scores,
    list_models,
    score_history,
)
from leaddesk.store.database import Database
from leaddesk.ui.display import (
    ERROR_COLOUR,
    format_amount,
    format_date,
    format_time,
    stars_text,
    to_local,
)
from leaddesk.ui.lead_detail import ElidedLabel
from leaddesk.ui.qt import (
    QFont,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["CHART_SIZE", "ScorePanel", "chart_x_range", "date_tick_labels"]

CHART_SIZE = (360, 160)  # pixels, preferred; the lead pane is narrow
CHART_MIN_HEIGHT = 120
CHART_MAX_HEIGHT = 240
MIN_CHART_SPAN = timedelta(days=7)
"""The shortest time axis: a lead first scored this morning is shown against its week."""
CHART_LEFT_PAD = 0.03
"""Share of the span left empty before the first point, so its jump is off the axis."""
DETAIL_CHARS = 34
TREE_MIN_HEIGHT = 100
CHART_DPI = 100
CHART_FONT_PT = 7.5
MODEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
STAR_COLOUR = "#e0a800"
READY_COLOUR = "#2e7d32"
MUTED_STYLE = "color: palette(placeholder-text);"
UNSCORABLE_HINT = (
    "Link a contact or an account to this lead so that its activities and facts can be scored."
)
LEGEND_NAME_CHARS = 32
HISTORY_TITLE = (
    "<b>Score history</b> <span style='color: gray'>(dashed: sales-ready threshold)</span>"
)


def _short(name: str, limit: int = LEGEND_NAME_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def chart_x_range(moments: Sequence[datetime], now: datetime) -> tuple[datetime, datetime]:
    """The time axis for changes at ``moments``: it ends at ``now`` (or at the latest
    change, should a clock have written one later) and reaches back to the first change,
    but at least ``MIN_CHART_SPAN``, with a little room before the first change.

    Matplotlib's own answer for a single moment is several years either side, most of
    them in the future: a score chart must never suggest a future it cannot know.
    """
    right = max(now, *moments) if moments else now
    left = min(right - MIN_CHART_SPAN, *moments) if moments else right - MIN_CHART_SPAN
    return left - (right - left) * CHART_LEFT_PAD, right


def date_tick_labels(ticks: Sequence[datetime]) -> list[str]:
    """Labels for the axis ticks in the pane's own date style ("14 Nov"), the year on the
    first tick and where it changes; month ticks read "Sep", hour ticks "06:00"."""
    months = len(ticks) > 1 and all(t.day == 1 and (t.hour, t.minute) == (0, 0) for t in ticks)
    hours = any((t.hour, t.minute) != (0, 0) for t in ticks)
    labels: list[str] = []
    previous: datetime | None = None
    for tick in ticks:
        if months:
            text = f"{tick:%b}"
        elif hours:
            text = f"{tick:%H:%M}"
            if previous is None or tick.date() != previous.date():
                text = f"{tick.day} {tick:%b} {text}"
        else:
            text = f"{tick.day} {tick:%b}"
        if previous is None or tick.year != previous.year:
            text += f" {tick.year}"
        labels.append(text)
        previous = tick
    return labels


def _leaves(cond: Condition | None) -> list[Leaf]:
    if cond is None:
        return []
    if isinstance(cond, Leaf):
        return [cond]
    if isinstance(cond, AllOf | AnyOf):
        return [leaf for item in cond.items for leaf in _leaves(item)]
    if isinstance(cond, Not):
        return _leaves(cond.item)
    return []


def _shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_amount(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def property_detail(cond: Condition | None, records: dict[str, dict[str, Any] | None]) -> str:
    """What a property rule matched on this lead, as its values: "country: United
    Kingdom", "age: 43". That answers "why does THIS lead get the points", which the
    rule's name (usually a restatement of its condition) does not. A field the lead's
    record does not hold (an external score, a computed fact) reads as the condition."""
    parts: list[str] = []
    seen: set[str] = set()
    for leaf in _leaves(cond):
        if leaf.field in seen:
            continue
        seen.add(leaf.field)
        group, _, name = leaf.field.partition(".")
        record = records.get(group)
        if record is not None and name.startswith("custom."):
            record, name = record.get("custom") or {}, name.removeprefix("custom.")
        if record is not None and record.get(name) not in (None, ""):
            parts.append(f"{field_label(leaf.field)}: {_shown_value(record[name])}")
        else:
            parts.append(describe(leaf))
    return "  ·  ".join(parts)


def external_text(row: ExternalScoreRow) -> str:
    """ "Partner score 72 · external, updated 3 Nov 2026": the number and its age, and
    that LeadDesk's rules did not compute it."""
    return (
        f"{row.name} {format_amount(row.score)} · external, updated {format_date(row.updated_at)}"
    )


class _ExternalScores(QFrame):
    """Scores other tools computed (imported from CSV), under the model cards: plain
    lines, not cards, so they never read as one of the desk's own models."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("externalScores")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("<b>External scores</b>")
        self.title.setToolTip(
            "Imported from other tools; rules can use them as lead.external_score.NAME"
        )
        self.lines: list[QLabel] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.title)

    def set_rows(self, rows: Sequence[ExternalScoreRow]) -> None:
        for label in self.lines:
            self._layout.removeWidget(label)
            label.hide()
            label.setParent(None)
            label.deleteLater()
        self.lines = []
        for row in rows:
            label = QLabel(external_text(row))
            label.setToolTip(f"{row.name}: {row.score:g}, as of {format_time(row.updated_at)}")
            self._layout.addWidget(label)
            self.lines.append(label)
        self.setVisible(bool(rows))


class _ModelCard(QFrame):
    """One model's verdict: the big number, stars, subtotals and the threshold."""

    def __init__(self, result: ScoreResult, primary: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("scoreCard")
        self.total_label = QLabel(str(result.total))
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 2.0)
        big.setBold(True)
        self.total_label.setFont(big)
        self.total_label.setMinimumWidth(48)
        self.total_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        name = QLabel(result.model_name + ("  (primary)" if primary else ""))
        bold = QFont(self.font())
        bold.setBold(True)
        name.setFont(bold)
        name.setToolTip(
            "The lead list shows this model's score" if primary else "Also scoring every lead"
        )
        self.stars_label = QLabel(stars_text(result.stars))
        self.stars_label.setStyleSheet(f"color: {STAR_COLOUR};")
        self.stars_label.setToolTip(f"{result.stars} of 5 stars, relative to the threshold")
        # One line, cut with "…" when long (an exclusion's condition can be): a wrapping
        # label would make the Score tab ask for its preferred height, not its minimum,
        # and push the chart out of sight.
        self.detail_label = ElidedLabel(self._detail())
        self.ready_label = QLabel(self._ready())
        if result.sales_ready:
            self.ready_label.setStyleSheet(f"color: {READY_COLOUR}; font-weight: bold;")
        else:
            self.ready_label.setStyleSheet(MUTED_STYLE)

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(name)
        top.addWidget(self.stars_label)
        top.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(0)
        right.addLayout(top)
        right.addWidget(self.detail_label)
        right.addWidget(self.ready_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(10)
        layout.addWidget(self.total_label)
        layout.addLayout(right, 1)

    def _detail(self) -> str:
        result = self.result
        if not result.scorable:
            return "Cannot be scored"
        if result.excluded:
            return f"Excluded: {result.excluded_by}"
        return f"Fit {result.fit}  ·  Engagement {result.engagement}"

    def _ready(self) -> str:
        result = self.result
        threshold = result.sales_ready_at
        if threshold is None:
            return "No sales-ready threshold"
        if result.sales_ready:
            return f"✓ Sales ready (threshold {threshold})"
        if not result.scorable or result.excluded:
            return f"Sales ready at {threshold}"
        return f"{threshold - result.total} to go to sales ready ({threshold})"


class ScorePanel(QWidget):
    """Embeddable in the lead pane: ``show_lead(db, lead_id, now)`` and ``clear()``.

    ``results`` and ``history`` hold what is shown, for callers and tests; ``canvas`` is
    the matplotlib canvas once a chart was drawn (None before).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results: list[ScoreResult] = []
        self.history: list[HistoryPoint] = []
        self.canvas: Any = None
        self._figure: Any = None
        self.chart_draws = 0
        self._cards: list[_ModelCard] = []

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        self.cards_layout = QVBoxLayout()
        self.cards_layout.setSpacing(4)
        self.external: list[ExternalScoreRow] = []
        self.external_box = _ExternalScores()

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Rule", "Points", "Details"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setWordWrap(False)
        header = self.tree.header()
        # The rule's name takes what the points and the (short) details leave.
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setMinimumHeight(TREE_MIN_HEIGHT)

        self.history_title = QLabel(
            "<b>Score history</b> <span style='color: gray'>(dashed: sales-ready threshold)</span>"
        )
        self.history_label = QLabel()
        self.history_label.setStyleSheet(MUTED_STYLE)
        self.history_label.setWordWrap(True)
        self.chart_host = QVBoxLayout()
        self.chart_host.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.message_label)
        layout.addLayout(self.cards_layout)
        layout.addWidget(self.external_box)
        layout.addWidget(self.tree, 3)
        layout.addWidget(self.history_title)
        layout.addWidget(self.history_label)
        layout.addLayout(self.chart_host, 2)
        self.clear()

    # ----------------------------------------------------------------- public API

    def clear(self) -> None:
        self.results = []
        self.history = []
        self.external = []
        self.external_box.set_rows([])
        for card in self._cards:
            self.cards_layout.removeWidget(card)
            # Hidden and detached at once: deletion waits for the event loop, and until
            # then the old card would be painted under the new one.
            card.hide()
            card.setParent(None)
            card.deleteLater()
        self._cards = []
        self.tree.clear()
        self.tree.hide()
        self.message_label.hide()
        self.history_title.hide()
        self.history_label.hide()
        if self.canvas is not None:
            self.canvas.hide()

    def show_lead(self, db: Database, lead_id: int, now: datetime) -> None:
        """Show the lead's scores at ``now`` (read on the calling thread: one lead is quick)."""
        self.clear()
        try:
            results = explain(db, lead_id, now)
            history = score_history(db, lead_id)
            type_labels = {row.key: row.label for row in list_activity_types(db)}
            external = external_scores(db, lead_id)
            conditions = {
                (info.name, rule.name): rule.when
                for info in list_models(db)
                if info.active
                for rule in info.model.rules
                if rule.kind == PROPERTY
            }
            detail = get_lead_detail(db, lead_id, timeline_limit=0)
        except ServiceError as error:
            self._message(str(error), error=True)
            return
        self.results = results
        self.external = external
        self.external_box.set_rows(external)
        if not results:
            self._message(
                "No scoring model is active, so this lead has no score. Open the scoring "
                "models to add or switch one on."
            )
            return
        if not results[0].scorable:
            self._message(
                "<b>This lead cannot be scored:</b> it is linked to neither a contact nor an "
                f"account. {UNSCORABLE_HINT}"
            )
        for index, result in enumerate(results):
            card = _ModelCard(result, primary=index == 0 and len(results) > 1)
            self.cards_layout.addWidget(card)
            self._cards.append(card)
        if results[0].scorable:
            records = {"contact": detail.contact, "account": detail.account, "lead": detail.lead}
            self._fill_tree(results, type_labels, conditions, records)
        names = {r.model_name for r in results}
        self.history = [p for p in history if p.model_name in names] or history
        self._show_history(now)

    # ----------------------------------------------------------------- pieces

    def external_texts(self) -> list[str]:
        """The external scores as shown, one line each (empty when there are none)."""
        return [label.text() for label in self.external_box.lines]

    def message_text(self) -> str:
        return self.message_label.text() if self.message_label.isVisible() else ""

    def _message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")
        self.message_label.show()

    def _fill_tree(
        self,
        results: Sequence[ScoreResult],
        labels: dict[str, str],
        conditions: dict[tuple[str, str], Condition | None],
        records: dict[str, dict[str, Any] | None],
    ) -> None:
        self.tree.clear()
        font = QFont(self.tree.font())
        font.setBold(True)
        for index, result in enumerate(results):
            if result.excluded:
                summary = " (excluded, not scored)"
            elif not result.contributions:
                summary = " (no rule applies)"
            else:
                summary = ""
            # The model's name is long and the pane narrow: its row spans every column.
            top = QTreeWidgetItem([f"{result.model_name}: {result.total}{summary}"])
            top.setFont(0, font)
            top.setData(0, Qt.ItemDataRole.UserRole, result.total)
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)
            if result.excluded:
                child = QTreeWidgetItem(["Excluded by", "0", str(result.excluded_by)])
                child.setToolTip(2, str(result.excluded_by))
                top.addChild(child)
            for contribution in result.contributions:
                matched = ""
                if contribution.kind == PROPERTY:
                    key = (result.model_name, contribution.rule_name)
                    matched = property_detail(conditions.get(key), records)
                top.addChild(self._contribution_item(contribution, labels, matched))
            top.setExpanded(index == 0)
        self.tree.show()

    def _contribution_item(
        self, contribution: Contribution, labels: dict[str, str], matched: str = ""
    ) -> QTreeWidgetItem:
        """One rule's row. The Details column says what the points hang on: until when
        an activity's points count, since when a lead has been quiet, and for a property
        rule the lead's values it matched (long ones shortened, whole in the tooltip)."""
        name = contribution.rule_name
        if contribution.times > 1:
            name += f" ×{contribution.times}"
        tip = ""
        if contribution.kind in ("floor", "cap"):
            name = f"Held at the {contribution.kind}"
            detail = "score limit"
        elif contribution.kind == ACTIVITY:
            if contribution.expires_at is None:
                detail = "never expires"
            else:
                detail = f"until {format_date(contribution.expires_at)}"
                if contribution.times > 1:
                    tip = "The first of these points expire then; the others later"
        elif contribution.kind == INACTIVITY:
            since = contribution.since
            detail = "quiet" if since is None else f"quiet since {format_date(since)}"
        else:
            tip = f"{(contribution.group or 'property').capitalize()} rule"
            tip += f"; this lead's {matched}" if matched else ", true of every lead"
            detail = _short(matched, DETAIL_CHARS)
        item = QTreeWidgetItem([name, f"{contribution.points:+d}", detail])
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip(0, name)
        item.setToolTip(2, tip or detail)
        for activity in contribution.activities:
            label = labels.get(activity.type, activity.type)
            expires = (
                "never expires"
                if activity.expires_at is None
                else f"until {format_date(activity.expires_at)}"
            )
            child = QTreeWidgetItem([f"{label} · {format_date(activity.occurred_at)}", "", expires])
            child.setToolTip(0, f"Activity #{activity.id}, {format_time(activity.occurred_at)}")
            item.addChild(child)
        return item

    def _show_history(self, now: datetime) -> None:
        self.history_title.show()
        self.history_title.setText(HISTORY_TITLE if self.history else "<b>Score history</b>")
        if not self.history:
            self.history_label.setText("No score changes recorded yet.")
            self.history_label.show()
            if self.canvas is not None:
                self.canvas.hide()
            return
        self.history_label.hide()
        self._draw_history(now)

    def _draw_history(self, now: datetime) -> None:
        # Imported here, not at the top: matplotlib costs start-up time nobody should pay
        # before looking at a lead with history.
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.dates import AutoDateLocator, num2date
        from matplotlib.figure import Figure
        from matplotlib.ticker import Formatter

        if self.canvas is None:
            width, height = CHART_SIZE
            # Constrained layout re-fits the axes at every draw, so the chart keeps its
            # axis labels whatever height the pane leaves it.
            self._figure = Figure(
                figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI, layout="constrained"
            )
            self._figure.get_layout_engine().set(w_pad=0.03, h_pad=0.03, hspace=0, wspace=0)
            self.canvas = FigureCanvasQTAgg(self._figure)  # type: ignore[no-untyped-call]
            self.canvas.setMinimumSize(CHART_SIZE[0] // 2, CHART_MIN_HEIGHT)
            self.canvas.setMaximumHeight(CHART_MAX_HEIGHT)
            self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            self.chart_host.addWidget(self.canvas)
        figure = self._figure
        figure.clear()
        ax = figure.add_subplot(1, 1, 1)
        names = [r.model_name for r in self.results]
        for point in self.history:
            if point.model_name not in names:
                names.append(point.model_name)
        thresholds = {r.model_name: r.sales_ready_at for r in self.results}

        def local(moment: datetime) -> datetime:
            return to_local(moment).replace(tzinfo=None)

        left, right = chart_x_range([local(p.at) for p in self.history], local(now))
        top = 0
        bottom = 0
        for index, name in enumerate(names):
            points = [p for p in self.history if p.model_name == name]
            if not points:
                continue
            colour = MODEL_COLOURS[index % len(MODEL_COLOURS)]
            xs = [local(points[0].at)]
            ys = [points[0].old_score]
            for point in points:
                xs.append(local(point.at))
                ys.append(point.new_score)
            if right > xs[-1]:
                xs.append(right)
                ys.append(ys[-1])
            ax.step(xs, ys, where="post", color=colour, linewidth=1.4, label=_short(name))
            # A dot per change: several changes at one moment, or one at the axis's end,
            # would otherwise be a line too thin to notice.
            ax.plot(
                [local(p.at) for p in points],
                [p.new_score for p in points],
                linestyle="none",
                marker="o",
                markersize=3,
                color=colour,
                clip_on=False,
            )
            top = max(top, *ys)
            bottom = min(bottom, *ys)
            threshold = thresholds.get(name)
            if threshold is not None:
                ax.axhline(threshold, color=colour, linestyle="--", linewidth=0.8, alpha=0.6)
                top = max(top, threshold)

        ax.set_xlim(left, right)
        ax.set_ylim(bottom=bottom, top=top * 1.12 + 1)
        locator = AutoDateLocator(minticks=3, maxticks=5)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        as_date: Any = num2date  # untyped in matplotlib

        def to_date(value: float) -> datetime:
            # Matplotlib hands dates back UTC-aware; the chart plots naive local times.
            moment: datetime = as_date(value)
            return moment.replace(tzinfo=None)

        class DateLabels(Formatter):
            """The ticks labelled together: whether to show a year depends on the
            neighbours, which matplotlib's one-tick-at-a-time formatters cannot see."""

            def format_ticks(self, values: Sequence[float]) -> list[str]:
                return date_tick_labels([to_date(v) for v in values])

            def __call__(self, x: float, pos: int | None = None) -> str:
                return date_tick_labels([to_date(x)])[0]

        ax.xaxis.set_major_formatter(DateLabels())
        ax.tick_params(labelsize=CHART_FONT_PT, length=2, pad=2)
        ax.grid(True, axis="y", linewidth=0.4, alpha=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        # Above the plot, not on it: inside, it hides the lines it names. Shown for one
        # model too, so the line always says whose score it is.
        figure.legend(
            loc="outside upper left",
            ncols=2,
            fontsize=CHART_FONT_PT - 0.5,
            frameon=False,
            handlelength=1.4,
            columnspacing=1.0,
            borderaxespad=0.1,
        )
        self.canvas.draw_idle()
        self.canvas.show()
        self.chart_draws += 1

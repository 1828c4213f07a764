"""Charts drawn on the server as SVG: horizontal bars, stacked bars (and a funnel built on them),
and a line for weekly trends. Pure functions of their data, no Django models and no queries.

Every chart is a `Chart`: the SVG (role="img", with <title> and <desc> referenced by
aria-labelledby, and a <title> on each mark for a hover tooltip) and the same figures as a
table (`columns`, `rows`), which templates/dashboard/_chart.html renders beside it, so a
screen reader, a phone too narrow for the picture, or a printout reads the numbers.

The SVG scales with its container (viewBox, width 100%); text is drawn at a fixed size in
viewBox units, so charts are laid out for a 480-unit width: about life-size in the dashboard's
chart column on a laptop; on a phone the column scrolls sideways rather than shrink the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.formats import localize
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 480
ROW = 28  # height of one bar row
LABEL_WIDTH = 150  # room for the labels left of horizontal bars
VALUE_WIDTH = 80  # room for the value right of a bar
FONT = 'font-family="system-ui, sans-serif" font-size="13"'
# Colour-blind-safe (Okabe-Ito) order, dark enough for 3:1 against white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999")
MUTED = "#6b7280"
GRID = "#e5e7eb"


@dataclass(frozen=True)
class Chart:
    """An SVG picture and the table of the same figures."""

    chart_id: str
    title: str
    description: str
    svg: SafeString
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    legend: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (label, colour)

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def head_html(self) -> SafeString:
        """The table's header cells, as templates/dashboard/_chart.html wrote them cell by cell
        (a year's tables are hundreds of cells: one string each instead of template nodes)."""
        cells = []
        for i, column in enumerate(self.columns):
            text = _cell(column) if column else '<span class="sr-only">Row</span>'
            cells.append(f'<th scope="col">{text}</th>' if i == 0 else _NUM_HEAD.format(text))
        return mark_safe("".join(cells))

    @property
    def rows_html(self) -> SafeString:
        """The table's rows, each followed by the template's line break and indent."""
        lines = []
        for row in self.rows:
            cells = [
                f'<th scope="row">{_cell(cell)}</th>'
                if i == 0
                else f'<td class="num">{_cell(cell)}</td>'
                for i, cell in enumerate(row)
            ]
            lines.append(f"<tr>{''.join(cells)}</tr>\n        ")
        return mark_safe("".join(lines))


_NUM_HEAD = '<th scope="col" class="num">{}</th>'


def _cell(value: object) -> str:
    """A value as the template writes it: localized, then escaped (autoescape)."""
    return str(conditional_escape(value if isinstance(value, str) else str(localize(value))))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _open_svg(chart_id: str, title: str, description: str, height: float) -> list[str]:
    t, d = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{t} {d}" class="chart" id="{escape(chart_id)}" {FONT}>',
        f'<title id="{t}">{escape(title)}</title>',
        f'<desc id="{d}">{escape(description)}</desc>',
    ]


def _finish(parts: list[str]) -> SafeString:
    parts.append("</svg>")
    # Every piece of text above went through escape(); numbers are formatted by us.
    return mark_safe("".join(parts))


def _clip(label: str, limit: int = 20) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    display: str = ""  # the text after the bar (default: the value)


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    value_header: str = "Value",
    max_value: float | None = None,
    colour: str = PALETTE[0],
    empty_text: str = "No data in this range.",
    axis_label: str = "",
    axis_format: Callable[[float], str] | None = None,
    value_width: int = VALUE_WIDTH,
) -> Chart:
    """Horizontal bars, one per row, largest value (or `max_value`) scaled to the full width.

    With `axis_label`, an axis under the bars names the measure, with five ticks formatted by
    `axis_format` (e.g. percent with max_value=1.0): one chart, one measure, said on it."""
    axis_height = 40 if axis_label else 0
    height = max(len(bars), 1) * ROW + 10 + axis_height
    parts = _open_svg(chart_id, title, description, height)
    top = max([max_value or 0.0, *(b.value for b in bars)]) or 1.0
    span = WIDTH - LABEL_WIDTH - value_width
    if axis_label:
        base = max(len(bars), 1) * ROW + 10
        parts.append(
            f'<line x1="{LABEL_WIDTH}" x2="{LABEL_WIDTH + span}" y1="{base}" y2="{base}" '
            f'stroke="{MUTED}"/>'
        )
        fmt = axis_format or number
        for k in range(5):
            x = LABEL_WIDTH + span * k / 4
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{MUTED}"/>'
                f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" fill="{MUTED}" '
                f'font-size="11">{escape(fmt(top * k / 4))}</text>'
            )
        parts.append(
            f'<text x="{LABEL_WIDTH + span / 2:.1f}" y="{base + 34}" text-anchor="middle" '
            f'class="axis-label">{escape(axis_label)}</text>'
        )
    if not bars:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="24" text-anchor="middle" fill="{MUTED}">')
        parts.append(f"{escape(empty_text)}</text>")
    for i, bar in enumerate(bars):
        y = 5 + i * ROW
        w = max(span * max(bar.value, 0.0) / top, 0.0)
        shown = bar.display or number(bar.value)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 19}" text-anchor="end">'
            f"{escape(_clip(bar.label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{w:.1f}" height="{ROW - 10}" '
            f'fill="{colour}" rx="2"><title>{escape(bar.label)}: {escape(shown)}</title></rect>'
            f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + 19}">{escape(shown)}</text>'
        )
    rows = tuple((b.label, b.display or number(b.value)) for b in bars)
    return Chart(
        chart_id, title, description, _finish(parts), ("", axis_label or value_header), rows
    )


@dataclass(frozen=True)
class StackedRow:
    label: str
    values: tuple[float, ...]  # one per series, in series order
    note: str = ""  # text after the bar (e.g. a rate)


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[str],
    rows: Sequence[StackedRow],
    note_header: str = "",
    colours: Sequence[str] = PALETTE,
    empty_text: str = "No data in this range.",
) -> Chart:
    """Horizontal bars split into segments (one per series), scaled to the largest total; a
    legend on top."""
    legend_height = 26
    height = legend_height + max(len(rows), 1) * ROW + 10
    parts = _open_svg(chart_id, title, description, height)
    x = 0.0
    for s, name in enumerate(series):
        parts.append(
            f'<rect x="{x:.0f}" y="6" width="12" height="12" fill="{colours[s % len(colours)]}"/>'
            f'<text x="{x + 17:.0f}" y="17">{escape(name)}</text>'
        )
        x += 30 + 7.5 * len(name)
    top = max([sum(r.values) for r in rows] + [0.0]) or 1.0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    if not rows:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="{legend_height + 20}" text-anchor="middle" ')
        parts.append(f'fill="{MUTED}">{escape(empty_text)}</text>')
    for i, row in enumerate(rows):
        y = legend_height + 5 + i * ROW
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 19}" text-anchor="end">'
            f"{escape(_clip(row.label))}</text>"
        )
        x = float(LABEL_WIDTH)
        for s, value in enumerate(row.values):
            w = span * max(value, 0.0) / top
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 10}" '
                    f'fill="{colours[s % len(colours)]}"><title>{escape(row.label)}, '
                    f"{escape(series[s])}: {number(value)}</title></rect>"
                )
            x += w
        shown = row.note or number(sum(row.values))
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 19}">{escape(shown)}</text>')
    columns = ("", *series, *((note_header,) if note_header else ()))
    table = tuple(
        (r.label, *(number(v) for v in r.values), *((r.note,) if note_header else ())) for r in rows
    )
    legend = tuple((name, colours[s % len(colours)]) for s, name in enumerate(series))
    return Chart(chart_id, title, description, _finish(parts), columns, table, legend)


@dataclass(frozen=True)
class FunnelStep:
    label: str
    count: int
    rate: float | None  # share of the step before


def funnel_chart(
    *, chart_id: str, title: str, description: str, steps: Sequence[FunnelStep]
) -> Chart:
    """Centred bars narrowing step by step, each under its label, count and conversion from
    the step before."""
    step_height = 50
    height = max(len(steps), 1) * step_height + 6
    parts = _open_svg(chart_id, title, description, height)
    top = max([s.count for s in steps] + [0]) or 1
    span = WIDTH - 20
    for i, step in enumerate(steps):
        y = 4 + i * step_height
        w = max(span * step.count / top, 2.0)
        x = (WIDTH - w) / 2
        rate = f" ({percent(step.rate)} of the step before)" if step.rate is not None else ""
        caption = f"{step.label}: {number(step.count)}" + (
            f" \u00b7 {percent(step.rate)}" if step.rate is not None else ""
        )
        parts.append(
            f'<text x="{WIDTH / 2:.0f}" y="{y + 13}" text-anchor="middle">{escape(caption)}</text>'
            f'<rect x="{x:.1f}" y="{y + 19}" width="{w:.1f}" height="{step_height - 26}" '
            f'fill="{PALETTE[i % len(PALETTE)]}" rx="3"><title>{escape(step.label)}: '
            f"{number(step.count)}{escape(rate)}</title></rect>"
        )
    rows = tuple(
        (s.label, number(s.count), percent(s.rate) if s.rate is not None else "") for s in steps
    )
    return Chart(
        chart_id, title, description, _finish(parts), ("Step", "Count", "From step before"), rows
    )


@dataclass(frozen=True)
class Point:
    label: str  # x axis label (e.g. an ISO week)
    value: float | None  # None: no data (a gap in the line)
    detail: str = ""  # extra table / tooltip text (e.g. "7 of 9 met")


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[Point],
    value_header: str = "Value",
    y_max: float = 1.0,
    y_format: Callable[[float | None], str] = percent,
    detail_header: str = "",
) -> Chart:
    """A line over evenly spaced points (weeks), 0..y_max, gaps where a value is missing."""
    height, left, right, top_pad, bottom = 200, 44, 14, 12, 30
    parts = _open_svg(chart_id, title, description, height)
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    for k in range(5):
        value = y_max * k / 4
        y = top_pad + plot_h * (1 - k / 4)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{MUTED}">{escape(y_format(value))}</text>'
        )
    n = len(points)
    step = plot_w / (n - 1) if n > 1 else 0.0

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (step * i if n > 1 else plot_w / 2)
        return x, top_pad + plot_h * (1 - min(max(value / y_max, 0.0), 1.0))

    segment: list[str] = []
    segments: list[list[str]] = []
    for i, p in enumerate(points):
        if p.value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        x, y = xy(i, p.value)
        segment.append(f"{x:.1f},{y:.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            parts.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{PALETTE[0]}" '
                f'stroke-width="2.5"/>'
            )
    label_every = max(1, -(-n // 8))  # at most ~8 x labels, so they never overlap
    for i, p in enumerate(points):
        x = left + (step * i if n > 1 else plot_w / 2)
        if i % label_every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" fill="{MUTED}">'
                f"{escape(p.label)}</text>"
            )
        if p.value is not None:
            _, y = xy(i, p.value)
            tip = f"{p.label}: {y_format(p.value)}" + (f" ({p.detail})" if p.detail else "")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{PALETTE[0]}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    if not any(p.value is not None for p in points):
        parts.append(
            f'<text x="{WIDTH / 2:.0f}" y="{top_pad + plot_h / 2:.0f}" text-anchor="middle" '
            f'fill="{MUTED}">No data in this range.</text>'
        )
    columns = ("", value_header, *((detail_header,) if detail_header else ()))
    rows = tuple(
        (p.label, y_format(p.value), *((p.detail,) if detail_header else ())) for p in points
    )
    return Chart(chart_id, title, description, _finish(parts), columns, rows)

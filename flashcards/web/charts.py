"""SVG charts drawn on the server: bar charts, a calendar heatmap, 100 % bars.

Place in the data flow: services.stats figures -> web/stats.py picks the series ->
these helpers -> inline <svg> markup in templates/stats/index.html. No JavaScript,
no inline styles: every colour comes from a class that static/stats.css maps onto
the light / dark palette. Each chart is `role="img"` with a <title> and <desc>
(`aria-labelledby`); the page puts a data table under it. Every number and label
passes through `escape`; the output is Markup.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = 12  # viewBox units; the CSS sets the same size so text scales with the chart


@dataclass(frozen=True)
class Series:
    """One stacked layer of a bar chart; `css` picks its colour."""

    key: str
    label: str
    values: Sequence[float]
    css: str = ""


def _num(value: float) -> str:
    """A coordinate with at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def compact(value: float) -> str:
    """1234 -> '1.2k', 12 -> '12', 0.5 -> '0.5'."""
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^n) up to at least `maximum`."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1 and maximum >= 1:
        step = 1
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 6))
    return ticks


def _open(
    chart_id: str, title: str, desc: str, width: int, height: int, css: str
) -> str:
    return (
        f'<svg class="chart {escape(css)}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    axis_labels: dict[int, str] | None = None,
    unit: str = "",
    width: int = 380,
    height: int = 180,
    value_text: Callable[[float], str] = compact,
) -> Markup:
    """Vertical bars, stacked when there are several series.

    `categories` names each bar (in its tooltip); `axis_labels` maps bar indexes
    to the few labels written under the axis.
    """
    left, right, top, bottom = 38, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(categories), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0))
    top_value = ticks[-1]
    parts = [_open(chart_id, title, desc, width, height, "bar-chart")]
    parts.append('<g class="grid">')
    for tick in ticks:
        y = top + plot_h - plot_h * tick / top_value
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="tick" x="{left - 5}" y="{_num(y + FONT / 3)}" '
            f'text-anchor="end">{escape(compact(tick))}</text>'
        )
    parts.append("</g>")
    band = plot_w / count
    bar_w = max(band * 0.78, 1.0) if count > 1 else min(plot_w * 0.5, 60)
    parts.append('<g class="bars">')
    for index, name in enumerate(categories):
        x = left + band * index + (band - bar_w) / 2
        base: float = top + plot_h
        total = totals[index]
        tip = ", ".join(
            f"{s.label} {value_text(s.values[index])}"
            for s in series
            if s.values[index]
        )
        label = f"{name}: {value_text(total)}{(' ' + unit) if unit else ''}"
        if len(series) > 1 and total:
            label += f" ({tip})"
        parts.append(f"<g><title>{escape(label)}</title>")
        if not total:
            # An invisible full-height target so the tooltip works on empty days.
            parts.append(
                f'<rect class="hit" x="{_num(x)}" y="{top}" width="{_num(bar_w)}" '
                f'height="{plot_h}"/>'
            )
        for layer in series:
            value = layer.values[index]
            if not value:
                continue
            h = plot_h * value / top_value
            base -= h
            parts.append(
                f'<rect class="bar {escape(layer.css or layer.key)}" x="{_num(x)}" '
                f'y="{_num(base)}" width="{_num(bar_w)}" height="{_num(max(h, 0.5))}"/>'
            )
        parts.append("</g>")
    parts.append("</g>")
    parts.append('<g class="axis">')
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>'
    )
    placed: list[tuple[float, float]] = []
    # The first and last labels win; the others are dropped where they would touch.
    labels = sorted(
        (axis_labels or {}).items(),
        key=lambda item: (item[0] not in (0, count - 1), item[0]),
    )
    for index, text in labels:
        x = left + band * index + band / 2
        half = len(text) * FONT * 0.3 + 3
        anchor, start, end = "middle", x - half, x + half
        if start < left - 4:
            anchor, start, end = "start", x - band / 2, x - band / 2 + 2 * half
            x = start
        elif end > width - right + 4:
            anchor, start, end = "end", x + band / 2 - 2 * half, x + band / 2
            x = end
        if any(start < b and a < end for a, b in placed):
            continue
        placed.append((start, end))
        parts.append(
            f'<text class="tick" x="{_num(x)}" y="{height - 6}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    parts.append("</g></svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    value: float


def stacked_rows(
    *,
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[tuple[str, Sequence[Segment]]],
    width: int = 340,
    row_height: int = 26,
    label_width: int = 84,
    shares_in_bars: bool = True,
    note: Callable[[Sequence[Segment]], str] | None = None,
) -> Markup:
    """Horizontal 100 % bars, one per row, split into coloured segments.

    Rows are labelled on the left (`label_width`, 0 for none); `note` writes a
    figure on the right of each row; shares of 10 % and more are written in the
    bars when `shares_in_bars`.
    """
    left, right, top = label_width, 44 if note else 2, 4
    gap = 10
    height = top + len(rows) * (row_height + gap)
    plot_w = width - left - right
    parts = [_open(chart_id, title, desc, width, height, "rows-chart")]
    for index, (label, segments) in enumerate(rows):
        y = top + index * (row_height + gap)
        total = sum(s.value for s in segments)
        if label_width:
            parts.append(
                f'<text class="row-label" x="{left - 8}" '
                f'y="{_num(y + row_height / 2 + FONT / 3)}" text-anchor="end">'
                f"{escape(label)}</text>"
            )
        parts.append(
            f'<rect class="track" x="{left}" y="{y}" width="{plot_w}" '
            f'height="{row_height}" rx="3"/>'
        )
        x = float(left)
        for segment in segments:
            if not total or not segment.value:
                continue
            w = plot_w * segment.value / total
            share = segment.value / total
            parts.append(
                f'<rect class="bar {escape(segment.key)}" x="{_num(x)}" y="{y}" '
                f'width="{_num(w)}" height="{row_height}">'
                f"<title>{escape(label)}: {escape(segment.label)} "
                f"{escape(compact(segment.value))} ({share:.0%})</title></rect>"
            )
            if shares_in_bars and w > 34:
                parts.append(
                    f'<text class="in-bar" x="{_num(x + w / 2)}" '
                    f'y="{_num(y + row_height / 2 + FONT / 3)}" text-anchor="middle">'
                    f"{share:.0%}</text>"
                )
            x += w
        if note:
            parts.append(
                f'<text class="row-note" x="{width - 2}" '
                f'y="{_num(y + row_height / 2 + FONT / 3)}" text-anchor="end">'
                f"{escape(note(segments))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class HeatDay:
    date: dt.date
    value: int
    text: str  # the tooltip


WEEKDAY_LABELS = {0: "Mon", 2: "Wed", 4: "Fri"}


def heat_levels(values: Sequence[int], levels: int = 4) -> list[int]:
    """Thresholds splitting the non-zero values into `levels` even quantiles."""
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return [1] * (levels - 1)
    return [
        nonzero[min(len(nonzero) - 1, len(nonzero) * step // levels)]
        for step in range(1, levels)
    ]


def heatmap(
    *,
    chart_id: str,
    title: str,
    desc: str,
    days: Sequence[HeatDay],
    cell: int = 11,
    gap: int = 2,
) -> Markup:
    """A GitHub-style calendar: one column per week (Monday on top)."""
    left, top = 30, 16
    pitch = cell + gap
    weeks = -(-len(days) // 7)
    width = left + weeks * pitch
    height = top + 7 * pitch
    thresholds = heat_levels([d.value for d in days])
    parts = [_open(chart_id, title, desc, width, height, "heatmap")]
    for row, name in WEEKDAY_LABELS.items():
        parts.append(
            f'<text class="tick" x="{left - 5}" '
            f'y="{_num(top + row * pitch + cell - 2)}" text-anchor="end">{name}</text>'
        )
    for index, day in enumerate(days):
        column, row = divmod(index, 7)
        x = left + column * pitch
        y = top + row * pitch
        # A month's name stands over the week that holds its first day.
        week = days[column * 7 : column * 7 + 7]
        first = next((d.date for d in week if d.date.day == 1), None)
        if row == 0 and first is not None and column < weeks - 1:
            parts.append(
                f'<text class="tick" x="{x}" y="{top - 5}">'
                f"{first.strftime('%b')}</text>"
            )
        level = 0 if day.value <= 0 else 1 + sum(day.value >= t for t in thresholds)
        parts.append(
            f'<rect class="heat heat-{min(level, 4)}" x="{x}" y="{y}" width="{cell}" '
            f'height="{cell}" rx="2"><title>{escape(day.text)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

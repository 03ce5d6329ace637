"""Charts written as SVG text: line charts (one line per series over ordinal years, a y axis
with round ticks, dashed target lines with their labels, a shaded band, a legend), horizontal
bars (one per district and year or dimension) and estimates with their intervals.

The indicator pages draw one chart per indicator and city — 36,000 at national scale — and a
chart through Altair and vl-convert cost ~0.2–0.6 s of CPU (two hours for the site at L), so
every chart people read is drawn here, well under 1 ms each: the pages' line charts and the
annual reports' small multiples, district bars and survey intervals (a report's six Altair
charts were 1.7 s of its 2 s). Every line has its own colour and dash pattern and a point at
each value, so that lines are told apart without colour; each bar and interval carries its
figures as a <title>; the page's table holds the numbers.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

# Tableau 10, Altair's default palette: the same colours as the reports' charts
COLOURS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac")
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3", "10 4")
TARGET = "#a40e26"
BAND = "#2da44e"
WIDTH, HEIGHT = 460, 240                       # the plot area
LEFT, TOP, BOTTOM, LEGEND = 64, 12, 34, 180


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high (about `count` of them)."""
    if high == low:
        low, high = low - 1, high + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= m * step)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _number(v: float) -> str:
    return f"{v:,.10g}" if abs(v) < 1e6 else f"{v:.3g}"


def line_chart(series: list[tuple[str, list[tuple[int, float]]]], y_title: str,
               targets: list[tuple[float, str]] | None = None,
               band: tuple[float, float] | None = None, font: str = "sans-serif",
               width: int = WIDTH, height: int = HEIGHT, legend: bool = True,
               title: str | None = None) -> str:
    """SVG of `series` [(name, [(year, value), ...]), ...]; `targets` [(value, label)];
    `band` (low, high) shaded; a plot area of `width` × `height`, a legend on the right
    (or none), a `title` above."""
    targets = targets or []
    years = sorted({y for _, points in series for y, _ in points})
    values = [v for _, points in series for _, v in points]
    values += [v for v, _ in targets] + (list(band) if band else [])
    ticks = nice_ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    left = LEFT if y_title else 44
    top = TOP + (18 if title else 0)
    right = LEGEND if legend else 8

    def x(year: int) -> float:
        return left + (years.index(year) + 0.5) * width / len(years)

    def y(value: float) -> float:
        return top + height - (value - low) / (high - low) * height

    total_w = left + width + right
    total_h = max(top + height + BOTTOM, top + 16 * len(series) + 8 if legend else 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="{escape(font)}" font-size="11">']
    if title:
        out.append(f'<text x="{left}" y="12" font-weight="bold">{escape(title)}</text>')
    if band:
        upper, lower = y(max(band)), y(min(band))
        out.append(f'<rect class="band" x="{left}" y="{upper:.1f}" width="{width}" '
                   f'height="{lower - upper:.1f}" fill="{BAND}" fill-opacity="0.12"/>')
    for t in ticks:     # grid and y labels
        out.append(f'<line x1="{left}" x2="{left + width}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="#ddd"/><text x="{left - 6}" y="{y(t) + 4:.1f}" '
                   f'text-anchor="end" fill="#57606a">{_number(t)}</text>')
    for year in years:
        out.append(f'<text x="{x(year):.1f}" y="{top + height + 16}" text-anchor="middle" '
                   f'fill="#57606a">{year}</text>')
    if y_title:
        out.append(f'<text transform="translate(14 {top + height / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle" font-weight="bold">{escape(y_title)}</text>')
    for value, text in targets:
        out.append(f'<line class="target" x1="{left}" x2="{left + width}" y1="{y(value):.1f}" '
                   f'y2="{y(value):.1f}" stroke="{TARGET}" stroke-dasharray="6 4"/>'
                   f'<text x="{left + 2}" y="{y(value) - 4:.1f}" fill="{TARGET}">'
                   f'{escape(text)}</text>')
    for number, (name, points) in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        dash = DASHES[number // len(COLOURS) % len(DASHES)] or DASHES[number % len(DASHES)]
        path = " ".join(f"{x(yr):.1f},{y(v):.1f}" for yr, v in sorted(points))
        out.append(f'<g class="series"><title>{escape(name)}</title>'
                   f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                   + "".join(f'<circle cx="{x(yr):.1f}" cy="{y(v):.1f}" r="2.5" '
                             f'fill="{colour}"/>' for yr, v in points) + "</g>")
        if legend:
            ly = top + 8 + 16 * number
            out.append(f'<line x1="{left + width + 12}" x2="{left + width + 36}" y1="{ly}" '
                       f'y2="{ly}" stroke="{colour}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + f'/><text '
                       f'x="{left + width + 40}" y="{ly + 4}">{escape(name[:24])}</text>')
    out.append("</svg>")
    return "".join(out)


# -- bars and intervals (the annual report's district charts, the survey's error bars) -------

def text_width(text: str, size: float = 11) -> float:
    """About how wide `text` is drawn at `size` px: a CJK character is one em, others ~0.6."""
    return sum(size if ord(c) > 0x2E7F else 0.6 * size for c in text)


def _x_axis(out: list[str], left: float, top: float, width: float, height: float,
            domain: tuple[float, float], title: str) -> Callable[[float], float]:
    """Grid, tick labels and title of a horizontal value axis; returns value → x."""
    low, high = domain

    def x(value: float) -> float:
        return left + (min(max(value, low), high) - low) / (high - low) * width

    for t in nice_ticks(low, high, count=4 if width < 240 else 5):
        if low <= t <= high:
            out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" '
                       f'y2="{top + height}" stroke="#ddd"/><text x="{x(t):.1f}" '
                       f'y="{top + height + 13}" text-anchor="middle" fill="#57606a">'
                       f'{_number(t)}</text>')
    if title:
        out.append(f'<text x="{left + width / 2:.1f}" y="{top + height + 28}" '
                   f'text-anchor="middle" font-weight="bold">{escape(title)}</text>')
    return x


def bar_chart(categories: list[str], series: list[tuple[str, str, list[float | None]]],
              domain: tuple[float, float], x_title: str = "", title: str | None = None,
              width: int = 420, font: str = "sans-serif", bar: int = 9) -> str:
    """Horizontal bars: for each category (a row, labelled on the left) one bar per series
    [(name, colour, values aligned with categories)], side by side; a value of None draws no
    bar. Each bar carries its category, series and value as a <title>; a legend names the
    series when there is more than one."""
    label_w = max((text_width(c) for c in categories), default=0) + 10
    left = label_w
    top = 18 if title else 4
    row_h = bar * len(series) + 4
    height = row_h * len(categories)
    legend_h = 22 if len(series) > 1 else 0
    axis_h = 34 if x_title else 18
    total_w = int(left + width + 16)
    total_h = int(top + height + axis_h + legend_h)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="{escape(font)}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="12" font-weight="bold">{escape(title)}</text>')
    x = _x_axis(out, left, top, width, height, domain, x_title)
    for row, category in enumerate(categories):
        y0 = top + row * row_h + 2
        out.append(f'<text x="{left - 6}" y="{y0 + row_h / 2 + 2:.1f}" text-anchor="end">'
                   f'{escape(category)}</text>')
        for number, (name, colour, values) in enumerate(series):
            value = values[row]
            if value is None:
                continue
            out.append(f'<rect class="bar" x="{x(domain[0]):.1f}" y="{y0 + number * bar:.1f}" '
                       f'width="{x(value) - x(domain[0]):.1f}" height="{bar - 1}" '
                       f'fill="{colour}"><title>{escape(category)} · {escape(name)}: '
                       f'{value:,.1f}</title></rect>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + height}" '
               f'stroke="#888"/>')
    if legend_h:
        lx, ly = left, top + height + axis_h + 14
        for name, colour, _ in series:
            out.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" '
                       f'fill="{colour}"/><text x="{lx + 14:.1f}" y="{ly}">{escape(name)}</text>')
            lx += 24 + text_width(name)
    out.append("</svg>")
    return "".join(out)


def interval_chart(rows: list[tuple[str, float, float, float]], domain: tuple[float, float],
                   x_title: str = "", title: str | None = None, width: int = 200,
                   font: str = "sans-serif") -> str:
    """An estimate and its interval per row [(label, estimate, low, high)]: a line from low to
    high and a dot at the estimate, each with its numbers as a <title>."""
    label_w = max((text_width(r[0]) for r in rows), default=0) + 10
    left, top, row_h = label_w, 18 if title else 4, 14
    height = row_h * len(rows)
    total_w = int(left + width + 16)
    total_h = int(top + height + (32 if x_title else 18))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="{escape(font)}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="12" font-weight="bold">{escape(title)}</text>')
    x = _x_axis(out, left, top, width, height, domain, x_title)
    for row, (label, estimate, low, high) in enumerate(rows):
        cy = top + row * row_h + row_h / 2
        out.append(f'<text x="{left - 6}" y="{cy + 4:.1f}" text-anchor="end">{escape(label)}'
                   f'</text><g class="interval"><title>{escape(label)}: {estimate:.1f} '
                   f'({low:.1f}–{high:.1f})</title><line x1="{x(low):.1f}" '
                   f'x2="{x(high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="#6e7781" '
                   f'stroke-width="1.5"/><circle cx="{x(estimate):.1f}" cy="{cy:.1f}" r="3" '
                   f'fill="#08519c"/></g>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + height}" '
               f'stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)


def multiples(charts: list[str]) -> str:
    """Small charts side by side, wrapping (the page's .multiples style)."""
    return '<div class="multiples">' + "".join(charts) + "</div>"

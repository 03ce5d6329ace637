"""A line chart written as SVG text: one line per series over ordinal years, a y axis with
round ticks, dashed target lines with their labels, a shaded band, and a legend.

The indicator pages draw one chart per indicator and city — 36,000 at national scale — and a
chart through Altair and vl-convert costs ~0.2 s of CPU (two hours for the site at L), so these
are drawn here, well under 1 ms each; so are the annual reports' small multiples of each
dimension's indicators (four Altair facets cost 2.3 s of a report's 3.5 s). Every
line has its own colour and dash pattern and a point at each value, so that lines are told
apart without colour; the page's table holds the numbers.
"""
from __future__ import annotations

import math
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

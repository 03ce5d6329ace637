"""A line chart written as SVG text: one line per series over ordinal years, a y axis with
round ticks, dashed target lines with their labels, a shaded band, and a legend.

The indicator pages draw one chart per indicator and city — 36,000 at national scale — and a
chart through Altair and vl-convert costs ~0.2 s of CPU (two hours for the site at L), so these
are drawn here, ~1 ms each. The annual reports keep Altair (a few charts per report). Every
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
               band: tuple[float, float] | None = None, font: str = "sans-serif") -> str:
    """SVG of `series` [(name, [(year, value), ...]), ...]; `targets` [(value, label)];
    `band` (low, high) shaded."""
    targets = targets or []
    years = sorted({y for _, points in series for y, _ in points})
    values = [v for _, points in series for _, v in points]
    values += [v for v, _ in targets] + (list(band) if band else [])
    ticks = nice_ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]

    def x(year: int) -> float:
        return LEFT + (years.index(year) + 0.5) * WIDTH / len(years)

    def y(value: float) -> float:
        return TOP + HEIGHT - (value - low) / (high - low) * HEIGHT

    legend_rows = len(series)
    total_h = max(TOP + HEIGHT + BOTTOM, TOP + 16 * legend_rows + 8)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + LEGEND}" '
           f'height="{total_h}" viewBox="0 0 {LEFT + WIDTH + LEGEND} {total_h}" '
           f'font-family="{escape(font)}" font-size="11">']
    if band:
        top, bottom = y(max(band)), y(min(band))
        out.append(f'<rect class="band" x="{LEFT}" y="{top:.1f}" width="{WIDTH}" '
                   f'height="{bottom - top:.1f}" fill="{BAND}" fill-opacity="0.12"/>')
    for t in ticks:     # grid and y labels
        out.append(f'<line x1="{LEFT}" x2="{LEFT + WIDTH}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(t) + 4:.1f}" '
                   f'text-anchor="end" fill="#57606a">{_number(t)}</text>')
    for year in years:
        out.append(f'<text x="{x(year):.1f}" y="{TOP + HEIGHT + 16}" text-anchor="middle" '
                   f'fill="#57606a">{year}</text>')
    out.append(f'<text transform="translate(14 {TOP + HEIGHT / 2:.0f}) rotate(-90)" '
               f'text-anchor="middle" font-weight="bold">{escape(y_title)}</text>')
    for value, text in targets:
        out.append(f'<line class="target" x1="{LEFT}" x2="{LEFT + WIDTH}" y1="{y(value):.1f}" '
                   f'y2="{y(value):.1f}" stroke="{TARGET}" stroke-dasharray="6 4"/>'
                   f'<text x="{LEFT + 2}" y="{y(value) - 4:.1f}" fill="{TARGET}">'
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
        ly = TOP + 8 + 16 * number
        out.append(f'<line x1="{LEFT + WIDTH + 12}" x2="{LEFT + WIDTH + 36}" y1="{ly}" '
                   f'y2="{ly}" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + f'/><text '
                   f'x="{LEFT + WIDTH + 40}" y="{ly + 4}">{escape(name[:24])}</text>')
    out.append("</svg>")
    return "".join(out)

"""Small, deterministic inline-SVG charts for reports (no JavaScript, no network, same bytes for the same data)."""

from __future__ import annotations

import math
from html import escape

PALETTE = {"weights": "#4e79a7", "kv_cache": "#59a14f", "activation": "#f28e2b", "overhead": "#9c9c9c", "free": "#e8e8e8"}
SERIES = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def bar_chart(items: list[tuple[str, float]], title: str, unit: str, chart_id: str, width: int = 720) -> str:
    """Horizontal bars, one per item, with the value printed at the end of each bar."""
    bar_h, gap, left, top = 22, 8, 190, 30
    height = top + len(items) * (bar_h + gap) + 10
    vmax = max([v for _, v in items] + [1e-9])
    span = width - left - 110
    out = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="0" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(1.0, span * v / vmax)
        out.append(f'<text x="{left - 6}" y="{y + 15}" font-size="12" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{SERIES[i % len(SERIES)]}"/>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="12">{_fmt(v)} {escape(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _nice_step(vmax: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 x 10^k) giving about ``ticks`` ticks up to ``vmax``."""
    raw = max(vmax, 1e-9) / ticks
    k = 10 ** math.floor(math.log10(raw))
    return next(m * k for m in (1, 2, 5, 10) if m * k >= raw)


def stacked_bars(rows: list[tuple[str, list[tuple[str, float]]]], title: str, unit: str, chart_id: str,
                 width: int = 900, max_rows: int = 80, legend: dict[str, str] | None = None,
                 more: str = "... and {n} more devices (devices.csv lists all)") -> str:
    """One horizontal bar per row, split into named segments (memory of a device: weights, KV, ... free), over an
    axis in ``unit`` with round ticks; the row's label (device and the models on it) left of its bar."""
    shown = rows[:max_rows]
    bar_h, gap, left, top = 16, 5, 330, 48
    plot_bottom = top + len(shown) * (bar_h + gap)
    height = plot_bottom + 34 + (20 if len(rows) > max_rows else 0)
    step = _nice_step(max([sum(v for _, v in segs) for _, segs in shown] + [1e-9]))
    vmax = step * math.ceil(max([sum(v for _, v in segs) for _, segs in shown] + [1e-9]) / step)
    span = width - left - 20
    names = legend or {k: k.replace("_", " ") for k in PALETTE}
    out = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="0" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    x = 0
    for name, color in PALETTE.items():
        out.append(f'<rect x="{x}" y="28" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x + 16}" y="38" font-size="12">{escape(names.get(name, name))}</text>')
        x += 110
    for i, (label, segs) in enumerate(shown):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end">{escape(label)}</text>')
        cx = float(left)
        for name, v in segs:
            w = span * v / vmax
            if w <= 0:
                continue
            out.append(f'<rect x="{cx:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE.get(name, "#999")}">'
                       f'<title>{escape(label)} {escape(names.get(name, name))}: {_fmt(v)} {escape(unit)}</title></rect>')
            cx += w
    out.append(f'<line x1="{left}" y1="{plot_bottom}" x2="{left + span}" y2="{plot_bottom}" stroke="#333"/>')
    for k in range(round(vmax / step) + 1):
        tx = left + span * k * step / vmax
        out.append(f'<line x1="{tx:.1f}" y1="{plot_bottom}" x2="{tx:.1f}" y2="{plot_bottom + 4}" stroke="#333"/>'
                   f'<text x="{tx:.1f}" y="{plot_bottom + 16}" font-size="11" text-anchor="middle">{k * step:g}</text>')
    out.append(f'<text x="{left + span / 2:.1f}" y="{plot_bottom + 30}" font-size="12" text-anchor="middle">{escape(unit)}</text>')
    if len(rows) > max_rows:
        out.append(f'<text x="0" y="{height - 6}" font-size="11">{escape(more.format(n=len(rows) - max_rows))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def line_chart(xs: list[str], series: dict[str, list[float | None]], title: str, unit: str, chart_id: str,
               width: int = 720, height: int = 300) -> str:
    """Points joined by lines over categorical x values (a sweep); None leaves a gap (infeasible)."""
    left, top, bottom, right = 70, 40, 40, 20
    vals = [v for s in series.values() for v in s if v is not None]
    vmax = max([*vals, 1e-9]) * 1.1
    pw, ph = width - left - right, height - top - bottom
    out = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="0" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#333"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#333"/>']
    for k in range(5):
        tick = vmax * k / 4
        y = top + ph - ph * k / 4
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(tick)}</text>')
    n = max(1, len(xs) - 1)
    for i, x in enumerate(xs):
        px = left + pw * i / n if len(xs) > 1 else left + pw / 2
        out.append(f'<text x="{px:.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle">{escape(x)}</text>')
    for j, (name, ys) in enumerate(series.items()):
        color = SERIES[j % len(SERIES)]
        pts = []
        for i, v in enumerate(ys):
            if v is None:
                continue
            px = left + pw * i / n if len(xs) > 1 else left + pw / 2
            py = top + ph - ph * v / vmax
            pts.append(f"{px:.1f},{py:.1f}")
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}"><title>{escape(xs[i])}: {_fmt(v)} {escape(unit)}</title></circle>')
        if len(pts) > 1:
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + 10 + 150 * j}" y="{top - 8}" font-size="12" fill="{color}">{escape(name)} ({escape(unit)})</text>')
    out.append("</svg>")
    return "\n".join(out)

"""The hourly schedule as a chart: stacked committed / on-demand / spot GPUs per hour against demand (inline SVG,
deterministic, no JavaScript)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.plans.schedule import HourPlan, SchedulePlan

KIND_COLORS = {"committed": "#4e79a7", "on_demand": "#f28e2b", "spot": "#59a14f"}
DEMAND_COLOR = "#e15759"


def demand_gpus(h: HourPlan) -> float:
    """The hour's demand in GPUs: each model's demand / capacity held, times the GPUs its replicas use."""
    total = 0.0
    for m, d in h.demand.items():
        reps = [r for r in h.replicas if r.model == m]
        cap = h.capacity.get(m, 0.0)
        gpus = sum(r.tp * r.pp * r.replicas for r in reps)
        if cap > 0:
            total += gpus * min(1.0, d / cap)
    return total


def schedule_chart(sp: SchedulePlan, chart_id: str = "chart-schedule", width: int = 900, height: int = 320) -> str:
    """One column per hour, split into committed, on-demand and spot GPUs; a line for the demand in GPUs."""
    left, top, bottom = 50, 48, 36
    n = len(sp.hours)
    plot_w, plot_h = width - left - 10, height - top - bottom
    cols = [{k: sp.gpus(h, k) for k in KIND_COLORS} for h in sp.hours]
    need = [demand_gpus(h) for h in sp.hours]
    vmax = max([sum(c.values()) for c in cols] + need + [1])
    step = plot_w / max(n, 1)
    title = f"{sp.scenario}: GPUs per hour by pricing kind, against demand"
    out = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="0" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    x = 0
    for name, color in [*KIND_COLORS.items(), ("demand (GPUs)", DEMAND_COLOR)]:
        out.append(f'<rect x="{x}" y="28" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x + 16}" y="38" font-size="12">{escape(name.replace("_", "-"))}</text>')
        x += 120
    base = top + plot_h
    out.append(f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end">{vmax:g}</text>'
               f'<text x="{left - 6}" y="{base}" font-size="11" text-anchor="end">0</text>'
               f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>')
    for i, (h, c) in enumerate(zip(sp.hours, cols, strict=True)):
        y = float(base)
        for kind, color in KIND_COLORS.items():
            seg = plot_h * c[kind] / vmax
            if seg > 0:
                y -= seg
                out.append(f'<rect x="{left + i * step + 1:.1f}" y="{y:.1f}" width="{max(1.0, step - 2):.1f}" '
                           f'height="{seg:.1f}" fill="{color}"><title>hour {h.hour}: {c[kind]} {kind.replace("_", "-")} '
                           f'GPUs</title></rect>')
        if n <= 48 or h.hour % 24 == 0:
            out.append(f'<text x="{left + (i + 0.5) * step:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">'
                       f'{h.hour % 24 if n <= 48 else f"d{h.hour // 24 + 1}"}</text>')
    pts = " ".join(f"{left + (i + 0.5) * step:.1f},{base - plot_h * v / vmax:.1f}" for i, v in enumerate(need))
    out.append(f'<polyline points="{pts}" fill="none" stroke="{DEMAND_COLOR}" stroke-width="2"/>')
    out.append("</svg>")
    return "\n".join(out)

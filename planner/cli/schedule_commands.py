"""``planner plan`` on a scenario with a profile: the commitment, a compact 24-hour view, JSON, and the autoscaler
CSV (hour, model, gpu, tp, pp, replicas). Called from ``planner.cli.solve_commands.plan``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.schedule import HourPlan, SchedulePlan

AUTOSCALER_COLUMNS = ["hour", "model", "gpu", "tp", "pp", "replicas"]


def plan_schedule_command(s: Scenario, fmt: str, out: Path | None, schedule_csv: Path | None,
                          time_limit: float | None, threads: int | None, solver: str, reproducible: bool,
                          quiet: bool, write: Callable[[str, Path | None], None],
                          check_out_path: Callable[[Path | None], None]) -> None:
    """``write`` and ``check_out_path``: the plan command's own (passed in: no import circle)."""
    from planner.report.tables import to_csv, to_json, to_markdown
    from planner.scheduling import plan_schedule

    check_out_path(schedule_csv)
    if not quiet:
        sys.stderr.write(f"planning {s.name} hour by hour: {len(s.models)} model(s), {len(s.gpu_ids)} GPU type(s)\n")
    sp = plan_schedule(s, time_limit_s=time_limit, threads=threads, solver=solver)
    if schedule_csv is not None:
        write(to_csv(sp.autoscaler_rows(), AUTOSCALER_COLUMNS), schedule_csv)
    if fmt == "json" or (fmt == "table" and out is not None):
        write(to_json(sp.to_dict(reproducible=reproducible)), out)
    if fmt == "markdown":
        rows, cols = day_rows(sp)
        write(f"# Hourly schedule: {sp.scenario}\n\n{summary_lines(sp)}\n\n" + to_markdown(rows, cols), out)
    if fmt == "table":
        print_schedule(sp)


def summary_lines(sp: SchedulePlan) -> str:
    parts = sp.cost_parts_usd_per_month()
    gap = "" if sp.status == "optimal" else f" (bound ${sp.bound_usd_per_month:,.0f}/month, gap {sp.gap:.1%})"
    lines = [f"{sp.scenario}: {sp.status} over {sp.searched}{gap}",
             f"${sp.cost_usd_per_month:,.0f}/month = committed ${parts['committed']:,.0f} + on-demand "
             f"${parts['on_demand']:,.0f} + spot ${parts['spot']:,.0f} ({sp.term} term, spot cap {sp.spot_max_share:.0%}, "
             f"{sp.spot_mode})",
             "commit: " + (", ".join(f"{n} x {oid}" for oid, n in sorted(sp.committed.items())) or "nothing")]
    for name, c in sp.comparisons.items():
        lines.append(f"vs {name.replace('_', ' ')}: ${c['cost_usd_per_month']:,.0f}/month; this schedule saves {c['savings']:.1%}")
    return "\n".join(lines)


def day_rows(sp: SchedulePlan) -> tuple[list[dict], list[str]]:
    """The compact 24-hour view: the costliest day of the period, one row per hour."""
    days = [sp.hours[d * 24:(d + 1) * 24] for d in range(len(sp.hours) // 24)]
    day = max(days, key=lambda hs: (sum(h.cost_usd_per_hour for h in hs), -hs[0].hour))
    models = sorted(sp.units)
    rows = [_hour_row(sp, h, models) for h in day]
    return rows, ["hour", "committed", "on_demand", "spot", "usd_per_hour", *models]


def _hour_row(sp: SchedulePlan, h: HourPlan, models: list[str]) -> dict:
    label = f"{h.hour % 24:02d}:00" if sp.period_hours == 24 else f"day {h.hour // 24 + 1} {h.hour % 24:02d}:00"
    row: dict = {"hour": label,
                 "committed": sp.gpus(h, "committed"), "on_demand": sp.gpus(h, "on_demand"), "spot": sp.gpus(h, "spot"),
                 "usd_per_hour": round(h.cost_usd_per_hour, 2)}
    for m in models:
        reps = sum(r.replicas for r in h.replicas if r.model == m)
        row[m] = f"{reps} ({h.demand[m]})"
    return row


def print_schedule(sp: SchedulePlan) -> None:
    from rich.console import Console

    from planner.report.tables import print_table

    con = Console(width=max(120, Console().width))
    con.print(summary_lines(sp))
    rows, cols = day_rows(sp)
    heads = ["hour", "committed GPUs", "on-demand GPUs", "spot GPUs", "$/h", *[f"{m} replicas (demand)" for m in cols[5:]]]
    print_table(rows, cols, heads, title="Hourly schedule (GPUs by pricing kind; replicas and demand per model)")
    for n in sp.notes:
        con.print(f"Note: {n}")

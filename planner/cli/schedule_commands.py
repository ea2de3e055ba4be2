"""``planner plan`` on a scenario with a profile: the commitment, a compact 24-hour view, JSON, and the autoscaler
CSV (hour, model, gpu, tp, pp, replicas). Called from ``planner.cli.solve_commands.plan``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.schedule import SchedulePlan

def plan_schedule_command(s: Scenario, fmt: str, out: Path | None, schedule_csv: Path | None,
                          time_limit: float | None, threads: int | None, solver: str, reproducible: bool,
                          quiet: bool, write: Callable[[str, Path | None], None],
                          check_out_path: Callable[[Path | None], None]) -> None:
    """``write`` and ``check_out_path``: the plan command's own (passed in: no import circle)."""
    from planner.report.schedule_report import AUTOSCALER_COLUMNS, day_rows, summary_lines
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
        write(f"# Hourly schedule: {sp.scenario}\n\n" + "\n".join(summary_lines(sp)) + "\n\n" + to_markdown(rows, cols), out)
    if fmt == "table":
        print_schedule(sp)


def print_schedule(sp: SchedulePlan) -> None:
    from rich.console import Console

    from planner.report.schedule_report import day_rows, summary_lines
    from planner.report.tables import print_table

    con = Console(width=max(120, Console().width))
    con.print("\n".join(summary_lines(sp)))
    rows, cols = day_rows(sp)
    heads = ["hour", "committed GPUs", "on-demand GPUs", "spot GPUs", "$/h", *[f"{m} replicas (demand)" for m in cols[5:]]]
    print_table(rows, cols, heads, title="Hourly schedule (GPUs by pricing kind; replicas and demand per model)")
    for n in sp.notes:
        con.print(f"Note: {n}")


def report_schedule_command(s: Scenario, target: Path, time_limit: float | None, threads: int | None) -> list[str]:
    """``planner report`` on a scenario with a profile: the schedule's report folder."""
    from planner.report.schedule_report import write_schedule_report
    from planner.scheduling import plan_schedule

    sp = plan_schedule(s, time_limit_s=time_limit, threads=threads)
    return write_schedule_report(sp, target)

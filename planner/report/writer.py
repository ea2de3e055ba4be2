"""Planning reports: one data structure (``report_data``) rendered as HTML, Markdown, CSV, JSON and Excel.

``write_report`` writes every file into a temporary folder beside the target and swaps it in only when all of them
are written (``planner.report.files.write_folder``), so a failure leaves no half-written report and never destroys an
earlier one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from planner.report.data import DEPLOYMENT_COLUMNS, DEVICE_COLUMNS, report_data
from planner.report.files import write_folder
from planner.report.html import render_html
from planner.report.markdown import render_markdown
from planner.report.tables import to_csv, to_json
from planner.report.xlsx import write_xlsx

if TYPE_CHECKING:
    from planner.candidates.deployments import CandidateSet
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan


def write_report(p: Plan, s: Scenario, cs: CandidateSet, out: Path, extra_files: dict[str, str] | None = None,
                 currency: str | None = None, lang: str | None = None) -> list[str]:
    """Write report.html, report.md, plan.json, deployments.csv, devices.csv, cost_by_model.csv and report.xlsx into
    ``out`` atomically.

    Money is shown in ``currency`` (default: the scenario's) and plan.json gains a ``costs`` block with the same
    shopping list and totals; words are in ``lang`` (default: the scenario's)."""
    from planner.plans.launch import attach_launch, launch_script
    from planner.report.money import costs_block, money_for

    out = Path(out)
    d = report_data(p, s, cs, currency, lang)
    plan_json = attach_launch(p.to_dict(), p, s)
    plan_json["costs"] = costs_block(p, s, money_for(s, currency))
    files = {
        "report.md": render_markdown(d), "report.html": render_html(d), "plan.json": to_json(plan_json),
        "deployments.csv": to_csv(d["deployments"], DEPLOYMENT_COLUMNS), "devices.csv": to_csv(d["devices"], DEVICE_COLUMNS),
        "cost_by_model.csv": to_csv(d["cost_by_model"], ["model", "dedicated_gpus", "per_hour", "per_month", "share"]),
        "launch.sh": launch_script(p, s), **(extra_files or {}),
    }
    write_folder(out, files, lambda tmp: write_xlsx(d, tmp / "report.xlsx", plan_json))
    return sorted(x.name for x in out.iterdir())

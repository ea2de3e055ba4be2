"""The report of an hourly schedule (a scenario with a profile or a commitment): report.md, report.html with the
stacked chart of committed / on-demand / spot GPUs against demand, plan.json, autoscaler.csv (per-hour replica
targets), hourly.csv and report.xlsx, written atomically like every report (``planner.report.files.write_folder``).

Every money figure comes from the schedule's own cost parts (``SchedulePlan.cost_parts_usd_per_month``), so the
report, plan.json and the spreadsheet agree to the cent; plan.json is written reproducibly (no timings) so the same
scenario gives the same files byte for byte.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.report.files import write_folder
from planner.report.tables import to_csv, to_json, to_markdown

if TYPE_CHECKING:
    from planner.plans.schedule import HourPlan, SchedulePlan

AUTOSCALER_COLUMNS = ["hour", "model", "gpu", "tp", "pp", "replicas"]
COMPARISON_LABELS = {"peak_flat_on_demand": "peak-flat, all on demand",
                     "all_committed_at_peak": "all committed at the peak"}


def summary_lines(sp: SchedulePlan) -> list[str]:
    """The schedule in a few lines: status, the monthly cost and its parts, the commitment, the comparisons."""
    parts = sp.cost_parts_usd_per_month()
    gap = "" if sp.status == "optimal" else f" (bound ${sp.bound_usd_per_month:,.0f}/month, gap {sp.gap:.1%})"
    lines = [f"{sp.scenario}: {sp.status} over {sp.searched}{gap}",
             f"${sp.cost_usd_per_month:,.0f}/month = committed ${parts['committed']:,.0f} + on-demand "
             f"${parts['on_demand']:,.0f} + spot ${parts['spot']:,.0f} ({sp.term} term, spot cap {sp.spot_max_share:.0%}, "
             f"{sp.spot_mode})",
             "commit: " + (", ".join(f"{n} x {oid}" for oid, n in sorted(sp.committed.items())) or "nothing")]
    for name, c in sp.comparisons.items():
        lines.append(f"vs {name.replace('_', ' ')}: ${c['cost_usd_per_month']:,.0f}/month; this schedule saves {c['savings']:.1%}")
    return lines


def day_rows(sp: SchedulePlan) -> tuple[list[dict[str, Any]], list[str]]:
    """The compact 24-hour view: the costliest day of the period, one row per hour."""
    days = [sp.hours[d * 24:(d + 1) * 24] for d in range(len(sp.hours) // 24)]
    day = max(days, key=lambda hs: (sum(h.cost_usd_per_hour for h in hs), -hs[0].hour))
    models = sorted(sp.units)
    return [_hour_row(sp, h, models) for h in day], ["hour", "committed", "on_demand", "spot", "usd_per_hour", *models]


def hourly_rows(sp: SchedulePlan) -> tuple[list[dict[str, Any]], list[str]]:
    """Every hour of the period (hourly.csv and the spreadsheet)."""
    models = sorted(sp.units)
    return [_hour_row(sp, h, models) for h in sp.hours], ["hour", "committed", "on_demand", "spot", "usd_per_hour", *models]


def _hour_row(sp: SchedulePlan, h: HourPlan, models: list[str]) -> dict[str, Any]:
    label = f"{h.hour % 24:02d}:00" if sp.period_hours == 24 else f"day {h.hour // 24 + 1} {h.hour % 24:02d}:00"
    row: dict[str, Any] = {"hour": label, "committed": sp.gpus(h, "committed"), "on_demand": sp.gpus(h, "on_demand"),
                           "spot": sp.gpus(h, "spot"), "usd_per_hour": round(h.cost_usd_per_hour, 2)}
    for m in models:
        reps = sum(r.replicas for r in h.replicas if r.model == m)
        row[m] = f"{reps} ({_demand(sp, m, h.demand[m])})"
    return row


def _demand(sp: SchedulePlan, model: str, units: int) -> str:
    """A demand in the user's unit: sequences, or requests/s (the schedule counts milli-requests internally)."""
    if sp.units.get(model) == "milli_requests_per_s":
        return f"{units / 1000:g} req/s"
    return f"{units} seq"


def commitment_rows(sp: SchedulePlan) -> list[dict[str, Any]]:
    """What to commit to: offer, count, GPUs, the committed price and its monthly cost (730 h)."""
    from planner.units import HOURS_PER_MONTH

    offers = {o.id: o for o in sp.offers}
    rows = []
    for oid, n in sorted(sp.committed.items()):
        o = offers[oid]
        each = o.committed_usd_per_hour or 0.0
        rows.append({"offer": oid, "gpu": o.gpu, "count": n, "gpus": n * o.gpus_per_instance,
                     "committed_usd_per_hour": round(each, 4), "basis": o.committed_basis,
                     "usd_per_month": round(n * each * HOURS_PER_MONTH, 2)})
    return rows


def comparison_rows(sp: SchedulePlan) -> list[dict[str, Any]]:
    rows = [{"plan": "this schedule", "usd_per_month": round(sp.cost_usd_per_month, 2), "saves": ""}]
    for name, c in sp.comparisons.items():
        rows.append({"plan": COMPARISON_LABELS.get(name, name.replace("_", " ")),
                     "usd_per_month": round(c["cost_usd_per_month"], 2), "saves": f"{c['savings']:.1%}"})
    return rows


COMMIT_HEADS = ["offer", "GPU", "count", "GPUs", "committed $/h each", "basis", "$/month"]
COMPARE_HEADS = ["plan", "$/month", "this schedule saves"]


def schedule_markdown(sp: SchedulePlan) -> str:
    day, cols = day_rows(sp)
    commit = commitment_rows(sp)
    out = [f"# Hourly schedule: {sp.scenario}", "", *[f"- {x}" for x in summary_lines(sp)], "",
           "## What to commit to", "",
           to_markdown(commit, list(commit[0]) if commit else ["offer"], COMMIT_HEADS if commit else ["offer"])
           if commit else "Nothing: every hour is cheaper on demand or on spot.", "",
           "## Against the alternatives", "", to_markdown(comparison_rows(sp), ["plan", "usd_per_month", "saves"],
                                                           COMPARE_HEADS), "",
           "## The busiest day, hour by hour", "",
           "GPUs by pricing kind, the hour's cost, and per model its replicas (and demand).", "",
           to_markdown(day, cols, _day_heads(cols)), ""]
    if sp.notes:
        out += ["## Notes", "", *[f"- {n}" for n in sp.notes], ""]
    out += ["The chart of GPUs per hour against demand is in report.html; per-hour replica targets for an autoscaler "
            "are in autoscaler.csv (hour, model, gpu, tp, pp, replicas).", ""]
    return "\n".join(x.rstrip("\n") if x.startswith("|") else x for x in out)


def _day_heads(cols: list[str]) -> list[str]:
    return ["hour", "committed GPUs", "on-demand GPUs", "spot GPUs", "$/h", *[f"{m} replicas (demand)" for m in cols[5:]]]


def _html_table(rows: list[dict[str, Any]], cols: list[str], heads: list[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in heads) + "</tr>"]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{escape('' if v is None else str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def schedule_html(sp: SchedulePlan) -> str:
    from planner.report.schedule_chart import schedule_chart

    day, cols = day_rows(sp)
    commit = commitment_rows(sp)
    parts = sp.cost_parts_usd_per_month()
    kpis = [(f"${sp.cost_usd_per_month:,.2f}", "per month (730 h)"),
            (f"${parts['committed']:,.2f}", f"committed ({sp.term})"),
            (f"${parts['on_demand']:,.2f}", "on demand"), (f"${parts['spot']:,.2f}", "spot"),
            (sp.status, "optimal over " + sp.searched if sp.status == "optimal" else f"gap {sp.gap:.2%}")]
    body = [f"<h1>Hourly schedule: {escape(sp.scenario)}</h1>", '<div class="kpis">',
            *[f'<div class="kpi"><div class="v">{escape(v)}</div><div class="l">{escape(label)}</div></div>'
              for v, label in kpis], "</div>",
            "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in summary_lines(sp)) + "</ul>",
            "<h2>GPUs per hour against demand</h2>", schedule_chart(sp),
            "<h2>What to commit to</h2>",
            _html_table(commit, list(commit[0]), COMMIT_HEADS) if commit else "<p>Nothing.</p>",
            "<h2>Against the alternatives</h2>",
            _html_table(comparison_rows(sp), ["plan", "usd_per_month", "saves"], COMPARE_HEADS),
            "<h2>The busiest day, hour by hour</h2>", _html_table(day, cols, _day_heads(cols))]
    if sp.notes:
        body += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in sp.notes) + "</ul>"]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Hourly schedule: {escape(sp.scenario)}</title>", f"<style>\n{_css()}</style>", "</head>", "<body>",
        *body, '<p class="muted">Written by planner. Months are 730 hours.</p>', "</body>", "</html>", ""])


def _css() -> str:
    """The reports' one stylesheet (``templates/report.css``, also included by report.html.j2)."""
    from planner.resources import TEMPLATES_DIR

    return (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")


def _write_xlsx(sp: SchedulePlan, path: Path) -> None:
    """Summary, commitment (with a totals row), alternatives, every hour and the autoscaler targets, each sheet laid
    out by the report's own sheet writer (``planner.report.xlsx.write_sheet``)."""
    from openpyxl import Workbook

    from planner.report.xlsx import write_sheet

    d = {"symbol": "$", "lang": "en"}
    parts = sp.cost_parts_usd_per_month()
    summary = [("scenario", sp.scenario), ("status", sp.status), ("searched", sp.searched),
               ("cost per month (USD)", round(sp.cost_usd_per_month, 2)),
               *[(f"{k.replace('_', '-')} per month (USD)", round(v, 2)) for k, v in parts.items()],
               ("term", sp.term), ("spot cap", sp.spot_max_share)]
    commit = [{"offer": r["offer"], "gpu": r["gpu"], "count": r["count"], "gpus": r["gpus"],
               "per_hour": r["committed_usd_per_hour"], "basis": r["basis"], "per_month": r["usd_per_month"]}
              for r in commitment_rows(sp)]
    alternatives = [{"plan": r["plan"], "per_month": r["usd_per_month"],
                     "savings": sp.comparisons[name]["savings"] if name else None}
                    for name, r in zip([None, *sp.comparisons], comparison_rows(sp), strict=True)]
    rows, cols = hourly_rows(sp)
    models = cols[5:]
    hourly = [{"hour": r["hour"], "committed_gpus": r["committed"], "on_demand_gpus": r["on_demand"],
               "spot_gpus": r["spot"], "per_hour": r["usd_per_hour"], **{f"model:{m}": r[m] for m in models}}
              for r in rows]
    wb = Workbook()
    wb.remove(wb.active)
    write_sheet(wb.create_sheet("Summary"), ["item", "value"], ["item", "value"],
                [{"item": k, "value": v} for k, v in summary], d)
    write_sheet(wb.create_sheet("Commit"), COMMIT_HEADS, list(commit[0]) if commit else ["offer"], commit, d,
                {"offer": "total", "count": sum(r["count"] for r in commit), "gpus": sum(r["gpus"] for r in commit),
                 "per_month": None} if commit else None)
    write_sheet(wb.create_sheet("Alternatives"), COMPARE_HEADS, ["plan", "per_month", "savings"], alternatives, d)
    write_sheet(wb.create_sheet("Hourly"), _day_heads(cols), list(hourly[0]), hourly, d)
    write_sheet(wb.create_sheet("Autoscaler"), AUTOSCALER_COLUMNS, AUTOSCALER_COLUMNS, sp.autoscaler_rows(), d)
    wb.save(path)


def write_schedule_report(sp: SchedulePlan, out: Path) -> list[str]:
    """Write the schedule's report folder atomically; returns the file names."""
    rows, cols = hourly_rows(sp)
    files = {"report.md": schedule_markdown(sp), "report.html": schedule_html(sp),
             "plan.json": to_json(sp.to_dict(reproducible=True)),
             "autoscaler.csv": to_csv(sp.autoscaler_rows(), AUTOSCALER_COLUMNS), "hourly.csv": to_csv(rows, cols)}
    out = Path(out)
    write_folder(out, files, lambda tmp: _write_xlsx(sp, tmp / "report.xlsx"))
    return sorted(x.name for x in out.iterdir())

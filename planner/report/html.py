"""The HTML report (a Jinja template with inline SVG charts)."""

from __future__ import annotations

from typing import Any

from planner.report.data import DEPLOYMENT_COLUMNS, DEVICE_COLUMNS, money
from planner.resources import TEMPLATES_DIR


def render_html(d: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from planner.report.charts import bar_chart, stacked_bars

    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                      autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    mem_rows = [(r["device"], [("weights", r["weights_gib"]), ("kv_cache", r["kv_cache_gib"]),
                               ("activation", r["activation_gib"]), ("overhead", r["overhead_gib"]),
                               ("free", r["free_gib"])]) for r in d["devices"]]
    charts = {
        "memory": stacked_bars(mem_rows, "Memory on each device", "GiB", "chart-memory"),
        "cost": bar_chart([(r["gpu"], r["usd_per_month"]) for r in d["cost_by_gpu"]], "Monthly cost by GPU type", "USD",
                          "chart-cost"),
    }
    if d["baselines"]:
        charts["baselines"] = bar_chart(
            [("this plan", d["summary"]["cost_usd_per_hour"])] + [(r["baseline"], r["usd_per_hour"]) for r in d["baselines"]
                                                                 if r["usd_per_hour"] is not None],
            "Hourly cost against baselines", "USD/h", "chart-baselines")
    return env.get_template("report.html.j2").render(d=d, s=d["summary"], charts=charts, dep_cols=DEPLOYMENT_COLUMNS,
                                                     dev_cols=DEVICE_COLUMNS, money=money)

"""The HTML report (a Jinja template with inline SVG charts)."""

from __future__ import annotations

from typing import Any

from planner.i18n import catalogue, t
from planner.resources import TEMPLATES_DIR


def _charts(d: dict[str, Any]) -> dict[str, str]:
    """Memory per device (model names on the bars, a GiB axis) and cost charts with one unit each (per month)."""
    from planner.report.charts import bar_chart, stacked_bars

    lang, cur = d["lang"], d["currency"]
    segs = ("weights", "kv_cache", "activation", "overhead", "free")
    mem_rows = [(f"{r['device']} · {r['models'] or t(lang, 'idle')}", [(k, r[f"{k}_gib"]) for k in segs])
                for r in d["devices"]]
    month = t(lang, "unit.per_month", cur=cur)
    charts = {
        "memory": stacked_bars(mem_rows, t(lang, "chart.memory"), "GiB", "chart-memory",
                               legend={k: t(lang, f"mem.{k}") for k in segs}, more=catalogue(lang)["chart.more_devices"]),
        "cost": bar_chart([(r["gpu"], float(r["per_month"])) for r in d["cost_by_gpu"]], t(lang, "chart.cost_by_gpu"),
                          month, "chart-cost"),
    }
    if d["cost_by_model"]:
        charts["chargeback"] = bar_chart([(r["model"], float(r["per_month"])) for r in d["cost_by_model"]],
                                         t(lang, "chart.cost_by_model"), month, "chart-chargeback")
    base = [(r["baseline"], float(r["per_month"])) for r in d["baselines"] if r["per_month"] is not None]
    if base:
        charts["baselines"] = bar_chart([(t(lang, "this_plan"), float(d["summary"]["cost_per_month"])), *base],
                                        t(lang, "chart.baselines"), month, "chart-baselines")
    return charts


def _numeric_columns(tb: Any) -> set[str]:
    """Columns whose values are numbers (right-aligned)."""
    from decimal import Decimal

    return {c for c in tb.columns if any(isinstance(r.get(c), (int, float, Decimal)) and not isinstance(r.get(c), bool)
                                         for r in tb.rows)}


def render_html(d: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from planner.report.markdown import summary_lines
    from planner.report.views import formatted, headers, tables

    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                      autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    lang = d["lang"]
    sections = [{"key": tb.key, "title": t(lang, f"h.{tb.key}"), "intro": catalogue(lang).get(f"intro.{tb.key}"),
                 "heads": headers(d, tb.columns), "cols": tb.columns, "rows": formatted(tb, lang),
                 "has_total": tb.total is not None, "num_cols": _numeric_columns(tb)} for tb in tables(d)]
    return env.get_template("report.html.j2").render(
        d=d, s=d["summary"], charts=_charts(d), sections=sections, summary=summary_lines(d),
        tr=lambda key, **kw: t(lang, key, **kw), html_lang="zh-CN" if lang == "zh" else "en",
        source_heads=headers(d, ["key", "as_of", "text"]))

"""The report's tables as every format shows them: columns, translated headers, and cells for a reader.

``tables(d)`` lists the sections in report order. Markdown and HTML print the formatted cells; the XLSX writes the raw
numbers of the same columns with number formats. Money columns carry the report currency in their header.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from planner.i18n import column, t
from planner.report.data import DEPLOYMENT_COLUMNS, DEVICE_COLUMNS

MONEY_MONTH = {"price_per_month", "subtotal_per_month", "per_month", "on_demand", "spot", "owned", "purchase"}
MONEY_HOUR = {"price_per_hour", "subtotal_per_hour", "per_hour"}
PERCENT = {"savings", "share", "left_share_of_target", "keep"}
GIB = {c for c in DEVICE_COLUMNS if c.endswith("_gib")}


@dataclass(frozen=True)
class Table:
    key: str  # the section's message key and the XLSX sheet's
    columns: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None  # a totals row (money columns summed), or None


def tables(d: dict[str, Any]) -> list[Table]:
    """The report's tables, in order: shopping list and chargeback first."""
    shop = ["provider", "instance", "region", "gpu", "gpus_per_instance", "count", "pricing", "price_per_hour",
            "price_per_month", "subtotal_per_hour", "subtotal_per_month", "quoted", "confidence", "source", "as_of"]
    s = d["summary"]
    out = [
        Table("shopping_list", shop, d["shopping_list"],
              {"provider": t(d["lang"], "total"), "count": sum(r["count"] for r in d["shopping_list"]),
               "subtotal_per_hour": s["cost_per_hour"], "subtotal_per_month": s["cost_per_month"]}),
        Table("cost_by_model", ["model", "dedicated_gpus", "per_hour", "per_month", "share"], d["cost_by_model"],
              {"model": t(d["lang"], "total"), "per_hour": s["cost_per_hour"], "per_month": s["cost_per_month"],
               "share": 1.0}),
        Table("resilience", ["model", "survive", "keep", "domain", "worst_failure", "required", "left",
                             "left_share_of_target"], d["resilience"]),
        Table("deployments", DEPLOYMENT_COLUMNS, d["deployments"]),
        Table("cost_by_gpu", ["gpu", "gpus", "per_hour", "per_month"], d["cost_by_gpu"],
              {"gpu": t(d["lang"], "total"), "gpus": s["gpus"], "per_hour": s["cost_per_hour"],
               "per_month": s["cost_per_month"]}),
        Table("devices", DEVICE_COLUMNS, d["devices"]),
        Table("baselines", ["baseline", "per_month", "savings", "note"], d["baselines"]),
        Table("rent_vs_own", ["gpu", "gpus", "on_demand", "spot", "owned", "purchase", "breakeven_months"],
              d["rent_vs_own"]),
        Table("seed_vs_detailed", ["model", "model_id", "params_b", "precision", "seed_1_2_gb", "seed_2x_gb",
                                   "detailed_need_gb", "allocated_gb", "concurrency", "context_tokens"],
              d["seed_vs_detailed"]),
        Table("candidates", ["model", "candidates", "gpu_types", "rejected", "top_rejections"], d["candidates"]),
    ]
    return out


def headers(d: dict[str, Any], cols: list[str]) -> list[str]:
    return [column(d["lang"], c, cur=d["currency"]) for c in cols]


def hour_str(x: Decimal | float) -> str:
    """An hourly price: two decimals, more only where the price has them (up to six: converted prices)."""
    v = Decimal(str(x)).normalize()
    exp = v.as_tuple().exponent
    decimals = max(2, min(6, -exp if isinstance(exp, int) else 2))
    return f"{v:,.{decimals}f}"


def cell(col: str, v: Any, lang: str) -> Any:
    """A value as a reader sees it: money with thousands separators, percents, pricing and units in words."""
    if v is None:
        return "-"
    if col in MONEY_MONTH:
        return f"{v:,.2f}"
    if col in MONEY_HOUR:
        return hour_str(v)
    if col in PERCENT:
        return f"{v:.1%}"
    if col == "pricing":
        return t(lang, f"pricing.{v}")
    if col == "unit":
        return t(lang, f"unit.{v.replace('/', '_per_')}")
    if col == "confidence" and v:
        return t(lang, f"confidence.{v}")
    if col in GIB:
        return f"{v:,.2f}"
    return v


def formatted(tb: Table, lang: str) -> list[dict[str, Any]]:
    rows = [{c: cell(c, r.get(c), lang) for c in tb.columns} for r in tb.rows]
    if tb.total is not None:
        rows.append({c: cell(c, tb.total[c], lang) if c in tb.total else "" for c in tb.columns})
    return rows

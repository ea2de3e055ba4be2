"""The Excel report for finance: shopping list and cost per model first, then one sheet per table.

Every sheet has a frozen, bold header row, an autofilter over its data, column widths that fit the text, and number
formats: money in the report currency (hourly prices to four decimals), percents, GiB with two decimals. Tables with
money end in a totals row whose cells are ``=SUM(...)`` formulas over the rows above (the same figures as plan.json's
``costs`` block).
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from planner.i18n import t
from planner.report.views import GIB, MONEY_HOUR, MONEY_MONTH, PERCENT, Table, cell, headers, tables

if TYPE_CHECKING:
    from pathlib import Path

    from openpyxl.worksheet.worksheet import Worksheet

PERCENT_FORMAT = "0.0%"
GIB_FORMAT = "#,##0.00"


def money_formats(symbol: str) -> tuple[str, str]:
    """(per month, per hour) number formats in the report currency."""
    return f'"{symbol}"#,##0.00', f'"{symbol}"#,##0.00##'


def _width(v: Any) -> int:
    """Display width of a cell: East Asian wide characters count twice."""
    text = "" if v is None else str(v)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _plain(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return v


def write_sheet(ws: Worksheet, heads: list[str], cols: list[str], rows: list[dict[str, Any]], d: dict[str, Any],
                total: dict[str, Any] | None = None) -> None:
    """One sheet: bold frozen header, autofilter, widths, number formats by column name (views.MONEY_*, PERCENT,
    GIB), and a totals row (``total``: its values; money columns named in it get ``=SUM`` formulas). ``d`` needs the
    currency ``symbol`` and the ``lang``."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    month_fmt, hour_fmt = money_formats(d["symbol"])
    ws.append(heads)
    for c in ws[1]:
        c.font = Font(bold=True)
    words = {"pricing", "unit", "confidence"}
    for r in rows:
        ws.append([cell(c, r.get(c), d["lang"]) if c in words and r.get(c) else _plain(r.get(c)) for c in cols])
    last = len(rows) + 1
    if total is not None:
        ws.append([total.get(c) if c not in MONEY_HOUR | MONEY_MONTH else
                   f"=SUM({get_column_letter(i + 1)}2:{get_column_letter(i + 1)}{last})" if c in total else None
                   for i, c in enumerate(cols)])
        for c in ws[last + 1]:
            c.font = Font(bold=True)
    for i, c in enumerate(cols, start=1):
        fmt = month_fmt if c in MONEY_MONTH else hour_fmt if c in MONEY_HOUR else PERCENT_FORMAT if c in PERCENT \
            else GIB_FORMAT if c in GIB else None
        if fmt:
            for row in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                row[0].number_format = fmt
        widest = max([_width(heads[i - 1])] + [_width(_plain(r.get(c))) + (4 if fmt else 0) for r in rows])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, widest + 2))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last}"


def _summary_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    s, lang = d["summary"], d["lang"]
    keys = ["scenario", "status", "pricing", "currency", "cost_per_hour", "cost_per_month", "cost_usd_per_hour",
            "cost_usd_per_month", "gpus", "fleet_tokens_per_s", "per_million_tokens", "gap"]
    rows = [{"field": k, "item": t(lang, f"field.{k}", cur=d["currency"]), "value": _plain(s[k])} for k in keys]
    rows += [{"field": f"gpus_{g}", "item": f"GPUs: {g}", "value": n} for g, n in s["gpus_by_type"].items()]
    if d["fx"]:
        rows.append({"field": "fx_rate", "item": t(lang, "field.fx_rate"), "value": d["fx"]["describe"]})
    return rows


def _instances(d: dict[str, Any], plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": i["id"], "offer": i["offer"], "gpu": i["gpu"], "gpus": len(i["devices"]),
             "usd_per_hour": i["usd_per_hour"]} for i in plan_json["instances"]]


def write_xlsx(d: dict[str, Any], path: Path, plan_json: dict[str, Any]) -> None:
    """The workbook: shopping list, cost per model, summary, then every other table (openpyxl)."""
    from openpyxl import Workbook

    lang = d["lang"]
    wb = Workbook()
    wb.remove(wb.active)
    tbs = tables(d)
    extra = [
        Table("summary", ["item", "value", "field"], _summary_rows(d)),
        Table("instances", ["id", "offer", "gpu", "gpus", "usd_per_hour"], _instances(d, plan_json)),
        Table("rejected", ["model", "gpu", "tp", "pp", "reason"], d["rejected"]),
        Table("sources", ["key", "as_of", "text"], d["sources"]),
    ]
    order = tbs[:2] + extra[:1] + tbs[2:] + extra[1:]
    for tb in order:
        ws = wb.create_sheet(t(lang, f"sheet.{tb.key}"))
        write_sheet(ws, headers(d, tb.columns), tb.columns, tb.rows, d, tb.total)
    wb.save(path)

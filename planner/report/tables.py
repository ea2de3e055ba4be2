"""Rendering rows as a terminal table, JSON, CSV or Markdown. Data goes to stdout; nothing here decides content."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "json", "csv", "markdown")


def to_json(data: Any) -> str:
    """Deterministic JSON: insertion order kept, floats as Python prints them, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_cell(x) for x in v)
    return str(v)


def _csv_cell(v: Any) -> Any:
    """A CSV cell: empty for None, lists joined by ';', anything else as is."""
    if v is None:
        return ""
    return ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None) -> str:
    headers = list(headers or columns)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None,
                title: str | None = None, caption: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, caption=caption, show_lines=False, header_style="bold")
    for h in headers or columns:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*(_cell(r.get(c)) for c in columns))
    Console(soft_wrap=False, width=max(120, Console().width)).print(t)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, headers: Sequence[str] | None = None,
         title: str | None = None, json_data: Any = None, caption: str | None = None) -> None:
    """Print ``rows`` in ``fmt``; JSON prints ``json_data`` when given (the full records), else the rows."""
    import sys

    if fmt == "json":
        sys.stdout.write(to_json(json_data if json_data is not None else list(rows)))
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows, columns))
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(rows, columns, headers))
    else:
        print_table(rows, columns, headers, title, caption)

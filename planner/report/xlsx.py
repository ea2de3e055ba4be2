"""The Excel report: one sheet per table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.report.data import DEPLOYMENT_COLUMNS, DEVICE_COLUMNS

if TYPE_CHECKING:
    from pathlib import Path


def write_xlsx(d: dict[str, Any], path: Path, plan_json: dict[str, Any]) -> None:
    """One sheet per table, for finance. pandas with openpyxl."""
    import pandas as pd

    summary = {k: v for k, v in d["summary"].items() if not isinstance(v, dict)}
    summary.update({f"gpus_{k}": v for k, v in d["summary"]["gpus_by_type"].items()})
    sheets = {
        "summary": pd.DataFrame([{"field": k, "value": v} for k, v in summary.items()]),
        "deployments": pd.DataFrame(d["deployments"], columns=DEPLOYMENT_COLUMNS),
        "devices": pd.DataFrame(d["devices"], columns=DEVICE_COLUMNS),
        "cost_by_gpu": pd.DataFrame(d["cost_by_gpu"]),
        "instances": pd.DataFrame([{"id": i["id"], "offer": i["offer"], "gpu": i["gpu"], "gpus": len(i["devices"]),
                                    "usd_per_hour": i["usd_per_hour"]} for i in plan_json["instances"]]),
        "baselines": pd.DataFrame(d["baselines"]),
        "rent_vs_own": pd.DataFrame(d["rent_vs_own"]),
        "seed_vs_detailed": pd.DataFrame(d["seed_vs_detailed"]),
        "candidates": pd.DataFrame(d["candidates"]),
        "rejected": pd.DataFrame(d["rejected"]),
        "sources": pd.DataFrame(d["sources"]),
    }
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name, index=False)

"""compare, sweep and owned hardware, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CMP = str(ROOT / "scenarios" / "a10-vs-4090-vs-a100.yaml")


def test_compare_side_by_side(run_cli):
    code, out, _ = run_cli("compare", CMP, "--fleets", "a10,rtx-4090,a100-80gb-sxm,mixed", "--format", "json", "-q")
    assert code == 0
    d = json.loads(out)
    rows = {r["name"]: r for r in d["fleets"]}
    assert set(rows) == {"a10", "rtx-4090", "a100-80gb-sxm", "mixed"}
    feasible = [r for r in rows.values() if r["feasible"]]
    assert rows["mixed"]["feasible"]
    # the mix can use any single type's fleet, so it is never dearer than the best of them
    assert rows["mixed"]["cost_usd_per_month"] <= min(r["cost_usd_per_month"] for r in feasible) + 1e-6
    assert rows["mixed"]["savings_vs_best_single"] >= 0
    for r in rows.values():
        if not r["feasible"]:
            assert r["why"]


def test_compare_readme_table_is_current(run_cli):
    """The README shows `planner compare` on the A10/4090/A100 scenario; its numbers must be what the tool prints."""
    code, out, _ = run_cli("compare", CMP, "--fleets", "a10,rtx-4090,a100-80gb-sxm,mixed", "--format", "markdown", "-q")
    assert code == 0
    readme = (ROOT / "README.md").read_text()
    assert out.strip() in readme


def test_sweep_concurrency_cost_never_falls(run_cli):
    code, out, _ = run_cli("sweep", CMP, "--vary", "chat.concurrency=16,64,256", "--format", "json", "-q")
    assert code == 0
    pts = json.loads(out)["points"]
    costs = [p["cost_usd_per_month"] for p in pts]
    assert costs == sorted(costs)


def test_sweep_price_and_pricing(run_cli, tmp_path):
    code, out, _ = run_cli("sweep", CMP, "--vary", "price:a10=0.1,2.0", "--format", "json", "-q")
    assert code == 0
    pts = json.loads(out)["points"]
    types = [{part.split(" x ")[1] for part in p["fleet"].split(", ")} for p in pts]
    assert "a10" in types[0] and "a10" not in types[1]  # a cheap A10 is chosen, a dear one is not
    code, out, _ = run_cli("sweep", CMP, "--vary", "pricing=on_demand,spot,owned", "--format", "json", "-q",
                           "--out", str(tmp_path / "sw"))
    assert code == 0
    assert {p["value"] for p in json.loads(out)["points"]} == {"on_demand", "spot", "owned"}
    assert (tmp_path / "sw" / "sweep.html").read_text().count("<svg") == 1


def test_owned_report_shows_rent_vs_own(tmp_path, run_cli):
    code, _out, _ = run_cli("report", str(ROOT / "scenarios" / "local-7b-int4.yaml"), "--out", str(tmp_path / "r"), "-q")
    assert code == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Rent or own the same GPUs" in md and "owned USD/month" in md


def test_sweep_context_keeps_the_prompt_output_split_and_never_gets_cheaper(run_cli):
    """Regression: a shorter context once became a (context - 1)-token prompt with a 1-token output, which made the
    2k point of this sweep 60x dearer than the 8k one."""
    code, out, _ = run_cli("sweep", str(ROOT / "scenarios" / "service-7b-int8.yaml"), "--vary",
                           "context_tokens=2048,8192,32768", "--format", "json", "-q")
    assert code == 0
    costs = [p["cost_usd_per_month"] for p in json.loads(out)["points"]]
    assert costs == sorted(costs)


def test_chinese_clouds_compare_in_the_readme_is_current(run_cli):
    """The README quotes `planner compare` on scenarios/aliyun-vs-autodl.yaml (issue 17): it must be what the tool prints."""
    code, out, _ = run_cli("compare", str(ROOT / "scenarios" / "aliyun-vs-autodl.yaml"), "--fleets",
                           "l20,a800-80gb,h20,rtx-4090d,a10g,mixed", "--format", "markdown", "-q")
    assert code == 0
    assert out.strip() in (ROOT / "README.md").read_text()

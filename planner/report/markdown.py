"""The Markdown report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.report.data import DEPLOYMENT_COLUMNS, DEVICE_COLUMNS, money, report_data
from planner.report.tables import to_markdown

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan


def render_markdown(d: dict[str, Any]) -> str:
    s = d["summary"]
    lines = [f"# GPU plan: {s['scenario']}", ""]
    if s["description"]:
        lines += [s["description"].strip(), ""]
    lines += [
        "## Summary", "",
        f"- **{money(s['cost_usd_per_month'])} per month** ({money(s['cost_usd_per_hour'])} per hour, {s['pricing'].replace('_', '-')} pricing)",
        f"- Status: {s['status']}" + ("" if s["status"] == "optimal" else f" (bound {money(s['bound_usd_per_hour'])}/h, gap {s['gap']:.2%})"),
        f"- GPUs: {s['gpus']} ({', '.join(f'{n} x {g}' for g, n in s['gpus_by_type'].items())})",
        f"- Output tokens at target load: {s['fleet_tokens_per_s']:,.0f}/s; cost per million tokens: "
        + ("-" if s["usd_per_million_tokens"] is None else f"${s['usd_per_million_tokens']:.3f}"),
    ]
    if s.get("best_single_type"):
        bs = s["best_single_type"]
        lines.append(f"- Against the best single GPU type ({bs['gpu']}, {money(bs['cost_usd_per_hour'])}/h): saves {bs['savings']:.1%}")
    if s.get("greedy"):
        lines.append(f"- Against a greedy plan ({money(s['greedy']['cost_usd_per_hour'])}/h): saves {s['greedy']['savings']:.1%}")
    lines += ["", "## Deployments", "", to_markdown(d["deployments"], DEPLOYMENT_COLUMNS),
              "## Cost by GPU type", "", to_markdown(d["cost_by_gpu"], ["gpu", "usd_per_hour", "usd_per_month"]),
              "## Devices", "", to_markdown(d["devices"], DEVICE_COLUMNS),
              "## Baselines", "", to_markdown(d["baselines"], ["baseline", "usd_per_hour", "savings", "note"]),
              "## Rent or own the same GPUs", "",
              to_markdown(d["rent_vs_own"], ["gpu", "gpus", "on_demand_usd_per_month", "spot_usd_per_month",
                                             "owned_usd_per_month", "purchase_usd", "breakeven_months"]),
              "## Rules of thumb vs detailed estimate", "",
              "The source articles estimate params x bytes x 1.2 (or x 2). Detailed: weights per replica + activations + "
              "runtime + KV cache of the target concurrency; allocated: what the plan's engines reserve.", "",
              to_markdown(d["seed_vs_detailed"], ["model", "model_id", "params_b", "precision", "seed_1_2_gb", "seed_2x_gb",
                                                  "detailed_need_gb", "allocated_gb", "concurrency", "context_tokens"]),
              "## Candidates considered", "", to_markdown(d["candidates"], ["model", "candidates", "gpu_types", "rejected", "top_rejections"]),
              "## Assumptions and sources", ""]
    lines += [f"- {a}" for a in d["assumptions"]] + [f"- Note: {n}" for n in d["notes"]] + [""]
    lines += [to_markdown(d["sources"], ["key", "as_of", "text"])]
    return "\n".join(lines)


def plan_markdown(p: Plan, s: Scenario) -> str:
    """The Markdown report of a plan (what `planner plan --format markdown` prints)."""
    from planner.candidates.deployments import build_candidates

    return render_markdown(report_data(p, s, build_candidates(s)))



"""Fleet metrics, defined once: demand units, a replica's request rate by Little's law, the fleet's output tokens/s
at target load, and rent-versus-own costs. Used by candidates, the checker, reports and studies (no solver import)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from planner.estimate.speed import constants_for, load_calibration, serving_point
from planner.inputs.pricing import owned_usd_per_gpu_hour, priced_offers
from planner.units import HOURS_PER_MONTH

if TYPE_CHECKING:
    from planner.inputs.scenario import ModelReq, Scenario
    from planner.plans.records import Plan


def demand_units(m: ModelReq) -> tuple[int, str]:
    """A model's demand in the units capacities count: sequences, or milli-requests per second."""
    if m.request_rate_per_s is not None:
        return math.ceil(m.request_rate_per_s * 1000 - 1e-9), "milli_requests_per_s"
    assert m.concurrency is not None
    return m.concurrency, "sequences"


def request_units(concurrency: int, ttft_ms: float, step_ms: float, output_tokens: int) -> int:
    """Milli-requests per second one replica sustains at ``concurrency`` (Little's law: concurrency / end-to-end time,
    where a request takes its TTFT plus one serving step per output token)."""
    e2e_s = (ttft_ms + output_tokens * step_ms) / 1000.0
    return math.floor(concurrency / e2e_s * 1000)


def fleet_tokens_per_s(p: Plan, s: Scenario) -> float:
    """Output tokens per second the fleet produces at its target load.

    Each model's target concurrency is spread over its replicas in proportion to their capacity, and every dedicated
    replica's speed is evaluated at that load (a replica running below capacity serves each stream faster than at
    its SLO-bound batch). Shared engines run at their planned concurrency; request-rate models produce rate x output.
    """
    cal = load_calibration(s.calibration_path)
    total = 0.0
    reqs = {m.name: m for m in s.models}
    for m in p.models:
        mine = [r for r in p.replicas if r.model == m.name]
        req = reqs[m.name]
        if req.request_rate_per_s is not None:
            total += req.request_rate_per_s * req.output_tokens
            continue
        share = (m.target_concurrency or 0) / m.served_concurrency if m.served_concurrency else 0.0
        for r in mine:
            load = max(1, round(r.concurrency * share))
            if r.shared or load >= r.concurrency:
                total += r.tokens_per_s * min(1.0, share)
                continue
            g = s.catalog.gpus[r.gpu]
            sp = serving_point(req.arch, g, constants_for(g, cal), precision=req.precision,
                               kv_cache_dtype=req.kv_cache_dtype, tp=r.tp, pp=r.pp, batch=load,
                               input_tokens=req.input_tokens, output_tokens=req.output_tokens)
            total += sp.tokens_per_s
    return total


def rent_vs_own(p: Plan, s: Scenario) -> list[dict[str, Any]]:
    """The plan's GPUs priced three ways: renting on demand, on spot, and owning (purchase amortized + power + hosting)."""
    rows = []
    for gid, n in p.gpus_by_type().items():
        g = s.catalog.gpus[gid]
        row: dict[str, Any] = {"gpu": gid, "gpus": n}
        for mode in ("on_demand", "spot"):
            offers = priced_offers(g, mode, s.owned, s.providers)
            per = min((o.usd_per_gpu_hour for o in offers), default=None)
            row[f"{mode}_usd_per_month"] = None if per is None else round(per * n * HOURS_PER_MONTH, 2)
        own = owned_usd_per_gpu_hour(g, s.owned)
        row["owned_usd_per_month"] = None if own is None else round(own * n * HOURS_PER_MONTH, 2)
        row["purchase_usd"] = None if g.purchase is None else round(g.purchase.usd * n, 2)
        row["breakeven_months"] = None
        if own is not None and row["on_demand_usd_per_month"] and g.purchase:
            running = (own - g.purchase.usd / (s.owned.amortization_months * HOURS_PER_MONTH)) * n * HOURS_PER_MONTH
            saving = row["on_demand_usd_per_month"] - running
            row["breakeven_months"] = round(g.purchase.usd * n / saving, 1) if saving > 0 else None
        rows.append(row)
    return rows

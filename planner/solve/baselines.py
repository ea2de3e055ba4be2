"""Baselines every plan is compared with: a simple greedy plan and the cheapest single-GPU-type fleet."""

from __future__ import annotations

import math
from typing import Any

from planner.candidates.deployments import Candidate, CandidateSet
from planner.errors import InfeasibleError, SolveTimeoutError


def _per_gpu_price(cs: CandidateSet, gid: str, tp: int) -> float | None:
    ps = [o.usd_per_gpu_hour for o in cs.offers if o.gpu == gid and o.gpus_per_instance >= tp]
    return min(ps) if ps else None


def greedy(cs: CandidateSet) -> tuple[dict[str, int], dict[str, int], float] | None:
    """What a careful person does by hand: per model, the candidate with the lowest price per unit of capacity, as
    many replicas as the demand needs; then, per GPU type, each TP group goes into a bought instance with room or
    into a new instance of the cheapest per-GPU offer that holds it and is still available (``max_instances``).
    Ignores limits, budget, sharing, simplicity limits and resilience."""
    replicas: dict[str, int] = {}
    groups: dict[str, list[int]] = {}
    price: dict[tuple[str, int], float | None] = {}
    for m in cs.scenario.models:
        best: tuple[float, Candidate] | None = None
        for c in cs.for_model(m.name):
            if c.over:  # stages bound to a fabric offer: not a hand plan's first choice
                continue
            if (c.gpu, c.group_gpus) not in price:
                price[(c.gpu, c.group_gpus)] = _per_gpu_price(cs, c.gpu, c.group_gpus)
            p = price[(c.gpu, c.group_gpus)]
            if p is None:
                continue
            n = max(m.min_replicas, math.ceil(cs.demand[m.name] / c.capacity_units))
            total = p * c.gpus * n
            if best is None or (total, c.key) < (best[0], best[1].key):
                best = (total, c)
        if best is None:
            return None
        c = best[1]
        n = max(m.min_replicas, math.ceil(cs.demand[m.name] / c.capacity_units))
        replicas[c.key] = n
        groups.setdefault(c.gpu, []).extend([c.group_gpus] * (c.groups * n))  # all stages in one instance
    instances: dict[str, int] = {}
    for gid, sizes in sorted(groups.items()):
        free: list[tuple[str, int]] = []  # (offer id, free GPUs) of instances bought so far
        for size in sorted(sizes, reverse=True):
            i = next((j for j, (_, f) in enumerate(free) if f >= size), None)
            if i is not None:
                free[i] = (free[i][0], free[i][1] - size)
                continue
            offers = sorted((o for o in cs.offers if o.gpu == gid and o.gpus_per_instance >= size
                             and (o.max_instances is None or instances.get(o.id, 0) < o.max_instances)),
                            key=lambda o: (o.usd_per_gpu_hour, o.gpus_per_instance, o.id))
            if not offers:
                return None  # the offers that hold this group are sold out (their availability, max_instances)
            o = offers[0]
            instances[o.id] = instances.get(o.id, 0) + 1
            free.append((o.id, o.gpus_per_instance - size))
    prices = {o.id: o.usd_per_hour for o in cs.offers}
    return replicas, instances, sum(prices[k] * v for k, v in instances.items())


def _check_baseline(cs: CandidateSet, sol: Any) -> None:
    """A baseline is a plan too: placed and passed through the checker (PlanCheckError otherwise)."""
    from planner.plans.check import require_valid
    from planner.plans.placement import build_plan

    p = build_plan(cs, sol.replicas, sol.instances, sol.patterns, status=sol.status, cost=sol.cost_usd_per_hour,
                   bound=sol.bound_usd_per_hour, solve_seconds=sol.solve_seconds)
    require_valid(p, cs.scenario, f"the single-type baseline on {cs.scenario.gpu_ids[0]}")


def single_type(cs: CandidateSet, deadline: float | None, threads: int) -> tuple[dict[str, Any], list[str]]:
    """The cheapest fleet of each single GPU type (scenario limits kept, budget ignored), each planned on its own
    (candidates and sharing patterns rebuilt for that GPU type alone). The types share the time left before
    ``deadline`` equally; returns the results and the types skipped for want of time."""
    import time
    from dataclasses import replace

    from planner.candidates.deployments import build_candidates
    from planner.solve.formulation import solve_fleet

    out: dict[str, Any] = {}
    skipped: list[str] = []
    gpu_types = sorted({c.gpu for c in cs.candidates} | {p.gpu for p in cs.patterns})
    for i, gid in enumerate(gpu_types):
        models_ok = all(any(c.gpu == gid for c in cs.for_model(m.name)) or (m.name, gid) in cs.shared
                        for m in cs.scenario.models)
        if not models_ok:
            out[gid] = {"feasible": False, "reason": "some model has no deployment on this GPU type"}
            continue
        left = 60.0 if deadline is None else deadline - time.perf_counter()
        per = left / (len(gpu_types) - i)
        if per < 0.05:
            skipped.append(gid)
            continue
        try:
            stop = time.perf_counter() + per
            one = build_candidates(replace(cs.scenario, gpu_ids=(gid,)), stop)
            sol = solve_fleet(one, time_limit_s=max(0.01, stop - time.perf_counter()), threads=threads,
                              budget_usd_per_hour=None)
            _check_baseline(one, sol)
            out[gid] = {"feasible": True, "cost_usd_per_hour": round(sol.cost_usd_per_hour, 4), "status": sol.status,
                        "gpus": sum(o.gpus_per_instance * n for o in one.offers for k, n in sol.instances.items() if o.id == k)}
        except InfeasibleError:
            out[gid] = {"feasible": False, "reason": "infeasible within the scenario's limits"}
        except SolveTimeoutError:
            out[gid] = {"feasible": False, "reason": f"no plan found within {per:.1f} s"}
    return out, skipped

"""What-if studies over a scenario: the same fleet on different GPU choices (compare), or one input varied (sweep)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from planner.errors import InfeasibleError, InputError, SolveTimeoutError, did_you_mean
from planner.inputs.catalog import Catalog
from planner.inputs.pricing import PRICING_MODES
from planner.inputs.scenario import Scenario
from planner.pipeline import plan
from planner.plans.metrics import fleet_tokens_per_s

SKIP_BELOW_S = 0.05  # a point with less time than this left is skipped (and says so)
SWEEP_FIELDS = ("concurrency", "context_tokens", "precision", "pricing", "price", "min_replicas")


def parse_fleets(spec: str, s: Scenario) -> list[tuple[str, tuple[str, ...]]]:
    """'a10,rtx-4090,a100-80gb-sxm,mixed' -> fleets; 'a10+l4' is one fleet of two GPU types; 'mixed' is all of them."""
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if part == "mixed":
            out.append(("mixed", s.gpu_ids))
            continue
        ids = tuple(x.strip() for x in part.split("+"))
        for g in ids:
            if g not in s.catalog.gpus:
                raise InputError(f"--fleets: unknown GPU '{g}'{did_you_mean(g, s.catalog.ids())}; use GPU ids, 'a+b' for a mix, or 'mixed'")
        out.append((part, ids))
    if not out:
        raise InputError("--fleets: give at least one fleet, e.g. a10,rtx-4090,a100-80gb-sxm,mixed")
    return out


def _outcome(s: Scenario, time_limit_s: float | None, threads: int | None) -> dict[str, Any]:
    if time_limit_s is not None and time_limit_s < SKIP_BELOW_S:
        return {"feasible": False, "why": "skipped: no time left within --time-limit", "plan": None}
    try:
        p = plan(s, time_limit_s=time_limit_s, threads=threads, baselines=False)
    except InfeasibleError as exc:
        return {"feasible": False, "why": _why(exc), "plan": None}
    except SolveTimeoutError as exc:
        return {"feasible": False, "why": exc.message, "plan": None}
    target = sum(m.target_units for m in p.models)
    served = sum(m.served_units for m in p.models)
    tps = fleet_tokens_per_s(p, s)
    return {
        "feasible": True, "why": "", "plan": p, "status": p.status, "cost_usd_per_hour": round(p.cost_usd_per_hour, 4),
        "cost_usd_per_month": round(p.cost_usd_per_month, 2), "gpus": p.gpus,
        "fleet": ", ".join(f"{n} x {g}" for g, n in p.gpus_by_type().items()),
        "utilization": round(target / served, 4) if served else 0.0,
        "usd_per_million_tokens": round(p.cost_usd_per_hour / (tps * 3600) * 1e6, 4) if tps > 0 else None,
    }


def _why(exc: InfeasibleError) -> str:
    e = exc.explanation or {}
    if "models" in e:
        parts = []
        for m in e["models"][:3]:
            c = m.get("closest")
            if m.get("binding"):
                parts.append(f"{m['model']}: {m['binding'][0]}")
            elif c:
                parts.append(f"{m['model']}: short by {c['shortfall_gib_per_device']} GiB per device on {c['gpu']}")
            elif m.get("slo"):
                parts.append(f"{m['model']}: {m['slo'][0]}")
            elif m.get("reasons"):
                parts.append(f"{m['model']}: {m['reasons'][0]}")
            else:
                parts.append(f"{m['model']}: no priced deployment")
        return "; ".join(parts)
    if e.get("binding"):
        return "; ".join(e["binding"])
    return exc.message


def compare(s: Scenario, fleets: list[tuple[str, tuple[str, ...]]], time_limit_s: float | None = None,
            threads: int | None = None, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Solve the scenario restricted to each fleet; savings are against the cheapest feasible single-type fleet.
    ``time_limit_s`` is the wall clock of the whole comparison: the fleets share the time left."""
    import time

    rows = []
    deadline = time.perf_counter() + (time_limit_s if time_limit_s is not None else s.solver.time_limit_s)
    for i, (name, ids) in enumerate(fleets):
        if progress:
            progress(name)
        share = (deadline - time.perf_counter()) / (len(fleets) - i)
        r = _outcome(replace(s, gpu_ids=tuple(ids)), share, threads)
        r["name"] = name
        r["gpu_types"] = list(ids)
        rows.append(r)
    singles = [r for r, (_, ids) in zip(rows, fleets, strict=True) if r["feasible"] and len(ids) == 1]
    best = min(singles, key=lambda r: (r["cost_usd_per_hour"], r["name"])) if singles else None
    for r in rows:
        r["savings_vs_best_single"] = (round(1 - r["cost_usd_per_hour"] / best["cost_usd_per_hour"], 4)
                                       if best and r["feasible"] and best["cost_usd_per_hour"] else None)
        r["best_single"] = best["name"] if best else None
    return rows


def parse_vary(spec: str, s: Scenario) -> tuple[str, str | None, list[str]]:
    """'concurrency=16,32' | 'chat.concurrency=16,32' | 'price:a10=0.5,0.8' | 'pricing=on_demand,spot,owned'."""
    if "=" not in spec:
        raise InputError(f"--vary: '{spec}' needs FIELD=v1,v2,...; fields: {', '.join(SWEEP_FIELDS)}")
    key, vals = spec.split("=", 1)
    values = [v.strip() for v in vals.split(",") if v.strip()]
    if not values:
        raise InputError(f"--vary: no values after '{key}='")
    target = None
    if key.startswith("price:"):
        field, target = "price", key[len("price:"):]
        if target not in s.catalog.gpus:
            raise InputError(f"--vary: unknown GPU '{target}'{did_you_mean(target, s.catalog.ids())}")
    elif "." in key:
        target, field = key.split(".", 1)
        names = [m.name for m in s.models]
        if target not in names:
            raise InputError(f"--vary: no model named '{target}' in the scenario{did_you_mean(target, names)}")
    else:
        field = key
    if field not in SWEEP_FIELDS:
        raise InputError(f"--vary: cannot vary '{field}'; fields: {', '.join(SWEEP_FIELDS)}{did_you_mean(field, SWEEP_FIELDS)}")
    from planner.inputs.options import check_vary_values

    check_vary_values(field, values, PRICING_MODES)
    return field, target, values


def _with_price(cat: Catalog, gid: str, usd_per_gpu_hour: float) -> Catalog:
    """Every offer of ``gid`` rescaled so that its cheapest GPU-hour costs ``usd_per_gpu_hour``; a purchase too."""
    g = cat.gpus[gid]
    priced = [o for o in g.offers if o.usd_per_hour is not None]
    if priced:
        cheapest = min(o.usd_per_hour / o.gpus_per_instance for o in priced)  # type: ignore[operator]
        k = usd_per_gpu_hour / cheapest
        offers = tuple(replace(o, usd_per_hour=None if o.usd_per_hour is None else round(o.usd_per_hour * k, 6),
                               spot_usd_per_hour=None if o.spot_usd_per_hour is None else round(o.spot_usd_per_hour * k, 6))
                       for o in g.offers)
    else:
        from planner.inputs.catalog import Offer

        offers = (Offer("what-if", f"1x {gid}", 1, usd_per_gpu_hour, None, None, "sweep", "what-if"),)
    return replace(cat, gpus={**cat.gpus, gid: replace(g, offers=offers)})


def sweep_scenario(s: Scenario, field: str, target: str | None, value: str) -> Scenario:
    if field == "pricing":
        return replace(s, pricing=value)
    if field == "price":
        assert target is not None
        return replace(s, catalog=_with_price(s.catalog, target, float(value)))
    models = []
    for m in s.models:
        if target is not None and m.name != target:
            models.append(m)
            continue
        if field == "precision":
            models.append(replace(m, precision=value))
        elif field == "min_replicas":
            models.append(replace(m, min_replicas=int(value)))
        elif field == "context_tokens":
            v = int(value)
            if v > m.arch.max_context:
                raise InputError(f"--vary: context_tokens {v} exceeds {m.arch.id}'s maximum of {m.arch.max_context}")
            # keep the scenario's prompt/output split: a shorter context shortens both, never the output alone
            inp = min(v - 1, max(1, round(v * m.input_tokens / (m.input_tokens + m.output_tokens)))) if v > 1 else 1
            models.append(replace(m, context_tokens=v, input_tokens=inp, output_tokens=max(1, v - inp)))
        elif field == "concurrency":
            if m.concurrency is None:
                raise InputError(f"--vary: model {m.name} is sized by request rate, not concurrency")
            models.append(replace(m, concurrency=int(value)))
    return replace(s, models=tuple(models))


def sweep(s: Scenario, field: str, target: str | None, values: list[str], time_limit_s: float | None = None,
          threads: int | None = None, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The scenario at each value; ``time_limit_s`` is the wall clock of the whole sweep (the points share it)."""
    import time

    rows = []
    deadline = time.perf_counter() + (time_limit_s if time_limit_s is not None else s.solver.time_limit_s)
    for i, v in enumerate(values):
        if progress:
            progress(v)
        share = (deadline - time.perf_counter()) / (len(values) - i)
        r = _outcome(sweep_scenario(s, field, target, v), share, threads)
        r["value"] = v
        rows.append(r)
    return rows


def rows_for_output(rows: list[dict[str, Any]], first: str) -> list[dict[str, Any]]:
    keys = [first, "feasible", "cost_usd_per_month", "cost_usd_per_hour", "gpus", "fleet", "utilization",
            "usd_per_million_tokens", "savings_vs_best_single", "status", "why"]
    return [{k: r.get(k) for k in keys} for r in rows]


def percent_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows with shares as percentages, for tables people read (JSON keeps the fractions)."""
    out = []
    for r in rows:
        v = dict(r)
        for k in ("utilization", "savings_vs_best_single"):
            if v.get(k) is not None:
                v[k] = f"{v[k]:.1%}"
        out.append(v)
    return out

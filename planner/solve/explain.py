"""Infeasible scenarios explained in the user's terms: what does not fit, by how much, and what would."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from planner.candidates.deployments import CandidateSet, RejectionKind
from planner.estimate.memory import estimate_memory, parallel_problem
from planner.estimate.speed import constants_for, serving_point
from planner.inputs.pricing import micro_usd
from planner.inputs.scenario import ModelReq, Scenario
from planner.units import GIB, TP_SIZES

Verify = Callable[[Scenario], bool]  # re-plans a changed scenario within the time left: True when it has a plan

_LOWER = {"fp32": ["bf16", "fp8", "int8", "int4"], "fp16": ["fp8", "int8", "int4"], "bf16": ["fp8", "int8", "int4"],
          "fp8": ["int8", "int4"], "int8": ["int4"], "int4": []}


def _fits(m: ModelReq, s: Scenario, gid: str, precision: str | None = None, context: int | None = None) -> tuple[int, int] | None:
    """Smallest (TP, PP) on ``gid`` where one sequence fits, or None."""
    g = s.catalog.gpus[gid]
    prec = precision or m.precision
    for gpus in TP_SIZES[:6]:  # 1 to 32 GPUs in all (the TP ladder's powers of two)
        for tp in reversed(TP_SIZES[:4]):  # TP 8, 4, 2, 1: within one 8-GPU node
            pp = gpus // tp
            if tp > gpus or gpus % tp or tp > g.max_gpus_per_node or pp > m.arch.num_layers:
                continue
            if parallel_problem(m.arch, g, tp, pp, prec, m.kv_cache_dtype):
                continue
            e = estimate_memory(m.arch, g, tp=tp, pp=pp, precision=prec, kv_cache_dtype=m.kv_cache_dtype,
                                context_tokens=context or m.context_tokens, gpu_memory_utilization=s.gpu_memory_utilization,
                                engine=m.engine)
            if e.max_concurrency >= 1:
                return tp, pp
    return None


def _best_speed(m: ModelReq, cs: CandidateSet) -> dict[str, Any] | None:
    """The fastest stream any allowed deployment reaches (batch 1, PP 1 or the smallest PP allowed), over the priced
    GPU types, the model's TP sizes and its precision or a lower one: the achievable min_tokens_per_s and max_ttft_ms."""
    s = cs.scenario
    largest: dict[str, int] = {}
    for o in cs.offers:
        largest[o.gpu] = max(largest.get(o.gpu, 0), o.gpus_per_instance)
    pp = min(m.pp or (1,))
    best: dict[str, Any] | None = None
    best_key = (0.0, 0.0)
    for gid in sorted(largest):
        g = s.catalog.gpus[gid]
        c = constants_for(g, cs.calibration) if cs.calibration else None
        if c is None:
            continue
        for prec in [m.precision, *_LOWER.get(m.precision, [])]:
            for tp in (m.tp or TP_SIZES):
                if tp > min(largest[gid], g.max_gpus_per_node) or parallel_problem(m.arch, g, tp, pp, prec, m.kv_cache_dtype):
                    continue
                e = estimate_memory(m.arch, g, tp=tp, pp=pp, precision=prec, kv_cache_dtype=m.kv_cache_dtype,
                                    context_tokens=m.context_tokens, gpu_memory_utilization=s.gpu_memory_utilization,
                                    engine=m.engine)
                if e.max_concurrency < 1:
                    continue
                sp = serving_point(m.arch, g, c, precision=e.precision, kv_cache_dtype=e.kv_cache_dtype, tp=tp, pp=pp,
                                   batch=1, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
                row = {"gpu": gid, "tp": tp, "pp": pp, "precision": prec,
                       "tokens_per_s": round(sp.tokens_per_s_per_stream, 1), "ttft_ms": round(sp.ttft_ms, 1)}
                if best is None or (sp.tokens_per_s_per_stream, -sp.ttft_ms) > best_key:
                    best, best_key = row, (sp.tokens_per_s_per_stream, -sp.ttft_ms)
    return best


def _slo_binding(m: ModelReq, cs: CandidateSet) -> list[str]:
    """The SLO as the binding constraint, with the value the fastest allowed deployment achieves."""
    best = _best_speed(m, cs)
    if best is None:
        return []
    where = f"{best['gpu']} TP{best['tp']}" + (f" x PP{best['pp']}" if best["pp"] > 1 else "") + f", {best['precision']}"
    out = []
    if m.min_tokens_per_s is not None and best["tokens_per_s"] < m.min_tokens_per_s:
        out.append(f"slo.min_tokens_per_s {m.min_tokens_per_s:g}: at most {best['tokens_per_s']:g} tokens/s per "
                   f"stream is achievable ({where}, batch 1)")
    if m.max_ttft_ms is not None and best["ttft_ms"] > m.max_ttft_ms:
        out.append(f"slo.max_ttft_ms {m.max_ttft_ms:g}: at least {best['ttft_ms']:g} ms is achievable ({where}, batch 1)")
    return out


def _suggestions(m: ModelReq, cs: CandidateSet) -> list[tuple[str, Scenario]]:
    """Changes that might make the model fit, each with the scenario that tests it (one model alone)."""
    s = cs.scenario
    # the model alone, without GPU-type limits and budget; limits on offer ids state availability and are kept
    alone = replace(s, models=(m,), limits={k: v for k, v in s.limits.items() if k not in s.catalog.gpus},
                    max_usd_per_hour=None)
    out: list[tuple[str, Scenario]] = []
    priced = sorted({o.gpu for o in cs.offers})
    for p in _LOWER.get(m.precision, []) + [x for x in ("int8", "fp8", "bf16") if x not in _LOWER.get(m.precision, []) and x != m.precision]:
        hit = next(((g, f) for g in priced if (f := _fits(m, s, g, precision=p))), None)
        if hit:
            out.append((f"precision {p}: fits on {hit[0]} with TP={hit[1][0]} PP={hit[1][1]}",
                        replace(alone, models=(replace(m, precision=p),))))
            break
    if m.context_tokens > 512:
        lo, hi, found = max(256, m.input_tokens + m.output_tokens), m.context_tokens - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            if any(_fits(m, s, g, context=mid) for g in priced[:8]):
                found, lo = mid, mid + 1
            else:
                hi = mid - 1
        if found:
            out.append((f"context_tokens {found} or less fits on a priced GPU type",
                        replace(alone, models=(replace(m, context_tokens=found),))))
    if m.tp or m.pp:
        out.append(("drop the model's tp / pp lists (every split the machines allow)",
                    replace(alone, models=(replace(m, tp=None, pp=None),))))
    others = [g for g in s.catalog.gpus if g not in priced]
    bigger = sorted(((s.catalog.gpus[g].memory_gib, g) for g in others if _fits(m, s, g)), reverse=True)
    for _, g in bigger[:4]:
        out.append((f"GPU type {g} (not in this scenario or unpriced) runs it", replace(alone, gpu_ids=(*s.gpu_ids, g))))
    best = _best_speed(m, cs) if (m.min_tokens_per_s or m.max_ttft_ms) else None
    if best is not None:
        tps = None if m.min_tokens_per_s is None else min(m.min_tokens_per_s, int(best["tokens_per_s"] * 10) / 10)
        ttft = None if m.max_ttft_ms is None else max(m.max_ttft_ms, -(-best["ttft_ms"] * 10 // 1) / 10)
        changed = replace(m, precision=best["precision"], min_tokens_per_s=tps, max_ttft_ms=ttft)
        what = ", ".join(x for x in (f"slo.min_tokens_per_s {tps:g}" if tps is not None else "",
                                     f"slo.max_ttft_ms {ttft:g}" if ttft is not None else "",
                                     f"precision {best['precision']}" if best["precision"] != m.precision else "") if x)
        out.append((f"{what}: meets the SLO on {best['gpu']} TP{best['tp']}", replace(alone, models=(changed,))))
    return out


def explain_model(m: ModelReq, cs: CandidateSet, deadline: float | None = None,
                  verify: Verify | None = None) -> dict[str, Any]:
    """Why a model has no deployment, the binding constraint with its achievable value, the closest deployment, and
    what would make it fit: each suggestion re-planned (``verify``) before it is kept, within ``deadline``."""
    rej = [r for r in cs.rejected if r.model == m.name]
    mem = [r for r in rej if r.shortfall_bytes]
    out: dict[str, Any] = {"model": m.name, "problem": "no GPU type in the scenario can run it"}
    slo = [r for r in rej if r.kind is RejectionKind.SLO]
    binding = _slo_binding(m, cs) if slo or not (mem or rej) or (m.min_tokens_per_s or m.max_ttft_ms) else []
    if binding:
        out["binding"] = binding
        out["problem"] = "its SLO cannot be met on any allowed deployment"
    if mem:
        best = min(mem, key=lambda r: (r.shortfall_bytes, r.gpu, r.tp, r.pp))
        out["closest"] = {"gpu": best.gpu, "tp": best.tp, "pp": best.pp, "reason": best.reason,
                          "shortfall_gib_per_device": round((best.shortfall_bytes or 0) / GIB, 2)}
    other = sorted({r.reason for r in rej if not r.shortfall_bytes and r.tp and r.kind not in (RejectionKind.SLO, RejectionKind.DOMINATED)})
    if other:
        out["reasons"] = other[:5]
    if slo:
        out["slo"] = sorted({r.reason for r in slo})[:3]
    noprice = [r.gpu for r in rej if r.tp == 0]
    if noprice:
        out["unpriced_gpus"] = sorted(set(noprice))
    fixes, unverified = [], 0
    for text, changed in _suggestions(m, cs):
        if verify is None or (deadline is not None and time.perf_counter() > deadline):
            unverified += 1
            continue
        if verify(changed):
            fixes.append(text)
    out["what_would_fit"] = fixes
    if unverified:
        out["note"] = f"{unverified} suggestion(s) left out: no time left to verify them by re-planning"
    return out


def explain_fleet(cs: CandidateSet, deadline: float | None, threads: int) -> dict[str, Any]:
    """Every model can run, yet no fleet satisfies the limits or budget: which binds, and what raising it buys. The
    two solves share the time left before ``deadline`` (skipped, with a note, when none is left)."""
    from planner.errors import InfeasibleError, SolveTimeoutError
    from planner.solve.formulation import solve_fleet

    s = cs.scenario
    out: dict[str, Any] = {"problem": "limits or budget leave no feasible fleet"}

    def share(k: int) -> float:
        return 30.0 if deadline is None else (deadline - time.perf_counter()) / k

    if share(2) < 0.05:
        out["detail"] = "explanation skipped: no time left within --time-limit to re-plan without limits and budget"
        return out
    try:
        free = solve_fleet(cs, time_limit_s=share(2), threads=threads, limits={}, budget_usd_per_hour=None)
    except (InfeasibleError, SolveTimeoutError):
        kept = [k for k, on in (("resilience", s.resilient), ("max_gpu_types", s.max_gpu_types is not None),
                                ("max_providers", s.max_providers is not None),
                                ("the offers' availability (max_instances)", True)) if on]
        out["detail"] = f"no fleet found even without limits and budget ({', '.join(kept)} still apply)"
        return out
    need: dict[str, int] = {}
    for oid, n in free.instances.items():
        o = next(x for x in cs.offers if x.id == oid)
        need[o.gpu] = need.get(o.gpu, 0) + n * o.gpus_per_instance
    out["unconstrained_plan"] = {"cost_usd_per_hour": round(free.cost_usd_per_hour, 4), "gpus_by_type": dict(sorted(need.items()))}
    binding = []
    fixes = []
    for key, lim in sorted(s.limits.items()):
        if key in need and need[key] > lim:
            binding.append(f"limit {key}: the cheapest fleet uses {need[key]}, the limit is {lim}")
            fixes.append(f"raise limits.{key} to {need[key]} (the cheapest fleet's use)")
    if s.max_usd_per_hour is not None:
        try:
            with_limits = solve_fleet(cs, time_limit_s=max(0.01, share(1)), threads=threads, budget_usd_per_hour=None)
            if micro_usd(with_limits.cost_usd_per_hour) > micro_usd(s.max_usd_per_hour):
                binding.append(f"budget: the cheapest fleet within the limits costs {with_limits.cost_usd_per_hour:.2f} $/h, "
                               f"the budget is {s.max_usd_per_hour:g} $/h")
        except (InfeasibleError, SolveTimeoutError):
            binding.append(f"budget {s.max_usd_per_hour:g} $/h and the limits together")
    out["binding"] = binding
    if s.max_usd_per_hour and micro_usd(free.cost_usd_per_hour) > micro_usd(s.max_usd_per_hour):
        fixes.append(f"raise max_usd_per_hour to {math.ceil(free.cost_usd_per_hour * 100 - 1e-9) / 100:.2f}"
                     + (" with the limits raised as above" if binding and fixes else ""))
    out["what_would_fit"] = fixes
    return out


def explanation_lines(e: dict[str, Any]) -> list[str]:
    """The explanation as short lines for a terminal."""
    out = []
    for m in e.get("models", []):
        head = f"{m['model']}: {m['problem']}"
        out_b = [f"  binding: {b}" for b in m.get("binding", [])]
        c = m.get("closest")
        if c:
            head += f"; closest: {c['gpu']} TP={c['tp']} PP={c['pp']}, short by {c['shortfall_gib_per_device']} GiB per device"
        out.append(head)
        out += out_b
        out += [f"  because: {r}" for r in m.get("reasons", [])[:2]]
        out += [f"  SLO: {r}" for r in m.get("slo", [])[:2]]
        if m.get("unpriced_gpus"):
            out.append(f"  no price under this pricing for: {', '.join(m['unpriced_gpus'])}")
        out += [f"  would fit: {f}" for f in m.get("what_would_fit", [])]
        if m.get("note"):
            out.append(f"  note: {m['note']}")
    if "binding" in e:
        out += [f"binding: {b}" for b in e["binding"]]
        u = e.get("unconstrained_plan")
        if u:
            gpus = ", ".join(f"{n} x {g}" for g, n in u["gpus_by_type"].items())
            out.append(f"without limits and budget: {u['cost_usd_per_hour']} USD/hour on {gpus}")
        out += [f"would fit: {f}" for f in e.get("what_would_fit", [])]
    if e.get("detail"):
        out.append(e["detail"])
    return out

"""Infeasible scenarios explained in the user's terms: what does not fit, by how much, and what would."""

from __future__ import annotations

from typing import Any

from planner.candidates.deployments import CandidateSet, RejectionKind
from planner.estimate.memory import estimate_memory, parallel_problem
from planner.inputs.scenario import ModelReq, Scenario
from planner.units import GIB, TP_SIZES

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
                                context_tokens=context or m.context_tokens, gpu_memory_utilization=s.gpu_memory_utilization)
            if e.max_concurrency >= 1:
                return tp, pp
    return None


def explain_model(m: ModelReq, cs: CandidateSet) -> dict[str, Any]:
    """Why a model has no deployment, the closest one, and what would make it fit."""
    s = cs.scenario
    rej = [r for r in cs.rejected if r.model == m.name]
    mem = [r for r in rej if r.shortfall_bytes]
    out: dict[str, Any] = {"model": m.name, "problem": "no GPU type in the scenario can run it"}
    if mem:
        best = min(mem, key=lambda r: (r.shortfall_bytes, r.gpu, r.tp, r.pp))
        out["closest"] = {"gpu": best.gpu, "tp": best.tp, "pp": best.pp, "reason": best.reason,
                          "shortfall_gib_per_device": round((best.shortfall_bytes or 0) / GIB, 2)}
    other = sorted({r.reason for r in rej if not r.shortfall_bytes and r.tp and r.kind not in (RejectionKind.SLO, RejectionKind.DOMINATED)})
    if other:
        out["reasons"] = other[:5]
    slo = [r for r in rej if r.kind is RejectionKind.SLO]
    if slo:
        out["slo"] = sorted({r.reason for r in slo})[:3]
    noprice = [r.gpu for r in rej if r.tp == 0]
    if noprice:
        out["unpriced_gpus"] = sorted(set(noprice))
    fixes = []
    priced = sorted({o.gpu for o in cs.offers})
    for p in _LOWER.get(m.precision, []) + [x for x in ("int8", "fp8", "bf16") if x not in _LOWER.get(m.precision, []) and x != m.precision]:
        hit = next(((g, f) for g in priced if (f := _fits(m, s, g, precision=p))), None)
        if hit:
            fixes.append(f"precision {p}: fits on {hit[0]} with TP={hit[1][0]} PP={hit[1][1]}")
            break
    if m.context_tokens > 512:
        lo, hi, found = 256, m.context_tokens - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            if any(_fits(m, s, g, context=mid) for g in priced[:8]):
                found, lo = mid, mid + 1
            else:
                hi = mid - 1
        if found:
            fixes.append(f"context_tokens {found} or less fits on a priced GPU type")
    others = [g for g in s.catalog.gpus if g not in priced]
    bigger = sorted(((s.catalog.gpus[g].memory_gib, g) for g in others if _fits(m, s, g)), reverse=True)
    if bigger:
        fixes.append(f"GPU types with enough memory but not in this scenario or unpriced: {', '.join(g for _, g in bigger[:4])}")
    if m.min_tokens_per_s or m.max_ttft_ms:
        fixes.append("relax the SLO (min_tokens_per_s / max_ttft_ms)")
    out["what_would_fit"] = fixes
    return out


def explain_fleet(cs: CandidateSet, time_limit_s: float, threads: int) -> dict[str, Any]:
    """Every model can run, yet no fleet satisfies the limits or budget: which binds, and what raising it buys."""
    from planner.errors import InfeasibleError, SolveTimeoutError
    from planner.solve.formulation import solve_fleet

    s = cs.scenario
    out: dict[str, Any] = {"problem": "limits or budget leave no feasible fleet"}
    try:
        free = solve_fleet(cs, time_limit_s=time_limit_s, threads=threads, limits={}, budget_usd_per_hour=None)
    except (InfeasibleError, SolveTimeoutError):
        out["detail"] = "no fleet found even without limits and budget"
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
            with_limits = solve_fleet(cs, time_limit_s=time_limit_s, threads=threads, budget_usd_per_hour=None)
            if with_limits.cost_usd_per_hour > s.max_usd_per_hour:
                binding.append(f"budget: the cheapest fleet within the limits costs {with_limits.cost_usd_per_hour:.2f} $/h, "
                               f"the budget is {s.max_usd_per_hour:g} $/h")
        except (InfeasibleError, SolveTimeoutError):
            binding.append(f"budget {s.max_usd_per_hour:g} $/h and the limits together")
    out["binding"] = binding
    if s.max_usd_per_hour:
        fixes.append(f"raise max_usd_per_hour to {free.cost_usd_per_hour:.2f} with the limits raised as above")
    out["what_would_fit"] = fixes
    return out


def explanation_lines(e: dict[str, Any]) -> list[str]:
    """The explanation as short lines for a terminal."""
    out = []
    for m in e.get("models", []):
        head = f"{m['model']}: {m['problem']}"
        c = m.get("closest")
        if c:
            head += f"; closest: {c['gpu']} TP={c['tp']} PP={c['pp']}, short by {c['shortfall_gib_per_device']} GiB per device"
        out.append(head)
        out += [f"  because: {r}" for r in m.get("reasons", [])[:2]]
        out += [f"  SLO: {r}" for r in m.get("slo", [])[:2]]
        if m.get("unpriced_gpus"):
            out.append(f"  no price under this pricing for: {', '.join(m['unpriced_gpus'])}")
        out += [f"  would fit: {f}" for f in m.get("what_would_fit", [])]
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

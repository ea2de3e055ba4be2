"""Report data: everything a report shows, as plain data (``report_data``), and the groupings the CLI tables share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.candidates.deployments import CandidateSet, RejectionKind
from planner.estimate.memory import estimate_memory
from planner.estimate.rules_of_thumb import seed_estimate_bytes
from planner.plans.metrics import fleet_tokens_per_s, rent_vs_own
from planner.units import GB, GIB, HOURS_PER_MONTH

if TYPE_CHECKING:
    from planner.inputs.pricing import Owned
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Device, ModelResult, Plan, Replica

DEPLOYMENT_COLUMNS = ["model", "model_id", "precision", "gpu", "tp", "pp", "replicas", "concurrency_per_replica",
                      "target", "served", "unit", "binds", "decode_ms_per_token", "ttft_ms", "tokens_per_s_per_stream"]
DEVICE_COLUMNS = ["instance", "offer", "device", "gpu", "replicas", "weights_gib", "kv_cache_gib", "activation_gib",
                  "overhead_gib", "used_gib", "usable_gib", "total_gib", "free_gib"]

DeploymentKey = tuple[str, int, int, int, str]  # gpu, tp, pp, concurrency per replica, what binds ("shared" or binding)


def money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _g(x: float) -> float:
    return round(x / GIB, 2)


def deployment_groups(p: Plan) -> list[tuple[ModelResult, DeploymentKey, list[Replica]]]:
    """Each model's replicas grouped by deployment, in plan order (the report's and the CLI's deployment rows)."""
    out = []
    for m in p.models:
        groups: dict[DeploymentKey, list[Replica]] = {}
        for r in p.replicas:
            if r.model == m.name:
                groups.setdefault((r.gpu, r.tp, r.pp, r.concurrency, "shared" if r.shared else r.binding), []).append(r)
        out += [(m, key, rs) for key, rs in groups.items()]
    return out


def device_bytes(d: Device) -> tuple[int, int, int, int]:
    """Bytes on a device: weights, KV cache, activation, runtime overhead."""
    return (sum(x.weights_bytes for x in d.shards), sum(x.kv_cache_bytes for x in d.shards),
            sum(x.activation_bytes for x in d.shards), sum(x.overhead_bytes for x in d.shards))


def report_data(p: Plan, s: Scenario, cs: CandidateSet) -> dict[str, Any]:
    """Everything a report shows, as plain data (deterministic: no timings)."""
    cost_by_gpu: dict[str, float] = {}
    for inst in p.instances:
        cost_by_gpu[inst.gpu] = cost_by_gpu.get(inst.gpu, 0.0) + inst.usd_per_hour
    return {
        "summary": _summary(p, s),
        "deployments": _deployment_rows(p, s), "devices": _device_rows(p),
        "cost_by_gpu": [{"gpu": k, "usd_per_hour": round(v, 4), "usd_per_month": round(v * HOURS_PER_MONTH, 2)}
                        for k, v in sorted(cost_by_gpu.items())],
        "baselines": _baseline_rows(p), "rent_vs_own": rent_vs_own(p, s), "seed_vs_detailed": _seed_rows(p, s),
        "candidates": _candidate_rows(s, cs),
        "rejected": [{"model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "reason": r.reason} for r in cs.rejected],
        "sources": sorted(_sources(p, s).values(), key=lambda x: x["key"]),
        "assumptions": _assumptions(p, s), "notes": list(p.notes),
    }


def _summary(p: Plan, s: Scenario) -> dict[str, Any]:
    tps = fleet_tokens_per_s(p, s)
    cpmt = p.cost_usd_per_hour / (tps * 3600) * 1e6 if tps > 0 else None
    b = p.baselines
    return {
        "scenario": p.scenario, "description": s.description, "status": p.status, "gap": round(p.gap, 6),
        "bound_usd_per_hour": round(p.bound_usd_per_hour, 4), "cost_usd_per_hour": round(p.cost_usd_per_hour, 4),
        "cost_usd_per_month": round(p.cost_usd_per_month, 2), "gpus": p.gpus, "gpus_by_type": p.gpus_by_type(),
        "fleet_tokens_per_s": round(tps, 1), "usd_per_million_tokens": None if cpmt is None else round(cpmt, 4),
        "pricing": s.pricing, "best_single_type": b.get("best_single_type"), "greedy": b.get("greedy"),
    }


def _deployment_rows(p: Plan, s: Scenario) -> list[dict[str, Any]]:
    reqs = {m.name: m for m in s.models}
    rows = []
    for m, (gpu, tp, pp, conc, binds), rs in deployment_groups(p):
        r0 = rs[0]
        rows.append({
            "model": m.name, "model_id": m.model, "precision": reqs[m.name].precision, "gpu": gpu, "tp": tp, "pp": pp,
            "replicas": len(rs), "concurrency_per_replica": conc, "target": m.target_units, "served": m.served_units,
            "unit": m.unit, "binds": binds, "decode_ms_per_token": round(r0.step_ms, 2),
            "ttft_ms": round(r0.ttft_ms, 1), "tokens_per_s_per_stream": round(1000.0 / r0.step_ms, 1),
        })
    return rows


def _device_rows(p: Plan) -> list[dict[str, Any]]:
    rows = []
    for inst in p.instances:
        for d in inst.devices:
            w, kv, a, o = device_bytes(d)
            rows.append({
                "instance": inst.id, "offer": inst.offer, "device": d.id, "gpu": d.gpu,
                "replicas": " ".join(x.replica + (f"[stage {x.stage}]" if x.stage else "") for x in d.shards),
                "weights_gib": _g(w), "kv_cache_gib": _g(kv), "activation_gib": _g(a), "overhead_gib": _g(o),
                "used_gib": _g(d.memory_used_bytes), "usable_gib": _g(d.memory_usable_bytes), "total_gib": _g(d.memory_total_bytes),
                "free_gib": _g(d.memory_total_bytes - d.memory_used_bytes),
            })
    return rows


def _seed_rows(p: Plan, s: Scenario) -> list[dict[str, Any]]:
    """The source articles' rules of thumb beside the detailed estimate and what the plan allocates."""
    rows = []
    for m in s.models:
        a = m.arch
        g = s.catalog.gpus[next((r.gpu for r in p.replicas if r.model == m.name), s.gpu_ids[0])]
        e = estimate_memory(a, g, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, context_tokens=m.context_tokens,
                            gpu_memory_utilization=s.gpu_memory_utilization)
        conc = m.concurrency or max(1, sum(r.concurrency for r in p.replicas if r.model == m.name))
        replicas = sum(1 for r in p.replicas if r.model == m.name)
        need = e.weights_total_bytes * max(1, replicas) + e.per_device.activation_bytes * replicas + \
            e.per_device.overhead_bytes * replicas + conc * e.seq_kv_bytes
        allocated = sum(x.total_bytes for i in p.instances for d in i.devices for x in d.shards if x.model == m.name)
        rows.append({"model": m.name, "model_id": a.id, "params_b": round(a.params / 1e9, 2), "precision": m.precision,
                     "seed_1_2_gb": round(seed_estimate_bytes(a.params, m.precision, "seed-1.2") / GB, 1),
                     "seed_2x_gb": round(seed_estimate_bytes(a.params, m.precision, "seed-2x") / GB, 1),
                     "detailed_need_gb": round(need / GB, 1), "allocated_gb": round(allocated / GB, 1),
                     "concurrency": conc, "context_tokens": m.context_tokens})
    return rows


def _candidate_rows(s: Scenario, cs: CandidateSet) -> list[dict[str, Any]]:
    """Per model: candidates kept, GPU types, rejections and the three most common reasons."""
    rows = []
    for m in s.models:
        cands = cs.for_model(m.name)
        rej = [r for r in cs.rejected if r.model == m.name]
        reasons: dict[str, int] = {}
        for r in rej:
            key = r.reason.split(":")[0] if r.kind in (RejectionKind.NO_SPLIT, RejectionKind.SLO) else r.reason
            key = key if len(key) < 140 else key[:137] + "..."
            reasons[key] = reasons.get(key, 0) + 1
        top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        rows.append({"model": m.name, "candidates": len(cands), "gpu_types": len({c.gpu for c in cands}),
                     "rejected": len(rej), "top_rejections": "; ".join(f"{k} (x{v})" for k, v in top)})
    return rows


def _sources(p: Plan, s: Scenario) -> dict[str, dict[str, str]]:
    """The catalog sources behind the plan's prices and GPU figures, by key."""
    sources: dict[str, dict[str, str]] = {}
    for inst in p.instances:
        g = s.catalog.gpus[inst.gpu]
        for o in g.offers:
            if o.id == inst.offer:
                sources[o.source] = {"key": o.source, "text": s.catalog.source_text(o.source), "as_of": o.as_of}
        if s.pricing == "owned" and g.purchase:
            sources[g.purchase.source] = {"key": g.purchase.source, "text": s.catalog.source_text(g.purchase.source),
                                          "as_of": g.purchase.as_of}
        for f in ("memory_gib", "bandwidth_gb_s", "bf16_tflops"):
            k = g.sources.get(f)
            if k:
                sources[k] = {"key": k, "text": s.catalog.source_text(k), "as_of": s.catalog.sources.get(k, {}).get("as_of", "")}
    return sources


def _assumptions(p: Plan, s: Scenario) -> list[str]:
    assumptions = [
        f"pricing: {s.pricing.replace('_', '-')}" + (f" (providers: {', '.join(s.providers)})" if s.providers else ""),
        f"gpu_memory_utilization: {s.gpu_memory_utilization} (vLLM semantics: a fraction of the CUDA-visible total)",
        "engine: vLLM V1 defaults (max_num_batched_tokens 8192 and max_num_seqs 1024 on >= 70 GiB GPUs other than A100, else 2048 and 256)",
        "memory: weights from exact parameter counts; KV cache in 16-token blocks; activation peak and runtime from vLLM logs",
        "speed: decode and prefill model calibrated on 131 measured TensorRT-LLM points (planner/data/calibration.yaml)",
        f"month = {HOURS_PER_MONTH} hours",
    ]
    o: Owned = s.owned
    assumptions.append(f"owned hardware: purchase over {o.amortization_months} months, {o.usd_per_kwh} USD/kWh, PUE {o.pue}, "
                       f"{o.hosting_usd_per_gpu_month} USD hosting per GPU-month, draw {o.utilization_of_tdp:.0%} of TDP")
    if any(len(d.shards) > 1 for i in p.instances for d in i.devices):
        assumptions.append("shared devices: each engine gets its own --gpu-memory-utilization (the fraction in plan.json, "
                           "vLLM's per-instance semantics); start co-resident engines one at a time, so that each "
                           "profiles its memory after the others have loaded")
    if s.max_usd_per_hour:
        assumptions.append(f"budget: {s.max_usd_per_hour} USD/hour")
    if s.limits:
        assumptions.append("limits: " + ", ".join(f"{k} <= {v}" for k, v in sorted(s.limits.items())))
    return assumptions


def _baseline_rows(p: Plan) -> list[dict[str, Any]]:
    b = p.baselines
    rows = []
    if b.get("greedy"):
        rows.append({"baseline": "greedy", "usd_per_hour": b["greedy"]["cost_usd_per_hour"], "savings": b["greedy"]["savings"]})
    for gid, v in sorted((b.get("single_type") or {}).items()):
        rows.append({"baseline": f"only {gid}", "usd_per_hour": v.get("cost_usd_per_hour"),
                     "savings": None if not v.get("feasible") else round(1 - p.cost_usd_per_hour / v["cost_usd_per_hour"], 4)
                     if v["cost_usd_per_hour"] else None, "note": v.get("reason", "")})
    return rows

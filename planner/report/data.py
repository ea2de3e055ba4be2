"""Report data: everything a report shows, as plain data (``report_data``), and the groupings the CLI tables share."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from planner.candidates.deployments import CandidateSet, RejectionKind
from planner.estimate.memory import estimate_memory
from planner.estimate.rules_of_thumb import seed_estimate_bytes
from planner.i18n import t
from planner.plans.metrics import fleet_tokens_per_s
from planner.units import GB, GIB, HOURS_PER_MONTH

if TYPE_CHECKING:
    from planner.inputs.pricing import Owned
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Device, ModelResult, Plan, Replica
    from planner.report.money import Money

DEPLOYMENT_COLUMNS = ["model", "model_id", "precision", "gpu", "tp", "pp", "replicas", "concurrency_per_replica",
                      "target", "served", "unit", "binds", "decode_ms_per_token", "ttft_ms", "tokens_per_s_per_stream"]
DEVICE_COLUMNS = ["instance", "offer", "device", "gpu", "models", "replicas", "weights_gib", "kv_cache_gib", "activation_gib",
                  "overhead_gib", "used_gib", "usable_gib", "total_gib", "free_gib"]

DeploymentKey = tuple[str, int, int, int, str]  # gpu, tp, pp, concurrency per replica, what binds ("shared" or binding)


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


def report_data(p: Plan, s: Scenario, cs: CandidateSet, currency: str | None = None, lang: str | None = None) -> dict[str, Any]:
    """Everything a report shows, as plain data (deterministic: no timings), money in ``currency`` (default: the
    scenario's), words in ``lang`` (default: the scenario's)."""
    from planner.report import money as mn

    m = mn.money_for(s, currency)
    lang = lang or s.lang
    lines = mn.shopping_list(p, s, m)
    by_gpu = mn.cost_by_gpu(lines)
    return {
        "lang": lang, "currency": m.currency, "symbol": m.symbol, "fx": _fx(m),
        "summary": _summary(p, s, m, mn.totals(lines)), "shopping_list": lines,
        "cost_by_model": mn.cost_by_model(p, s, m),
        "deployments": _deployment_rows(p, s), "devices": _device_rows(p),
        "cost_by_gpu": by_gpu,
        "baselines": _baseline_rows(p, m, lang), "rent_vs_own": mn.rent_vs_own(p, s, m, by_gpu),
        "seed_vs_detailed": _seed_rows(p, s), "candidates": _candidate_rows(s, cs),
        "rejected": [{"model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "reason": r.reason} for r in cs.rejected],
        "sources": sorted(_sources(p, s, m).values(), key=lambda x: x["key"]),
        "assumptions": _assumptions(p, s, m, lang), "notes": list(p.notes) + price_notes(p, lang),
        "resilience": _resilience_rows(p),
    }


def _fx(m: Money) -> dict[str, Any] | None:
    r = m.rate
    return None if r is None else {"pair": r.pair, "value": r.value, "as_of": r.as_of, "source": r.source,
                                   "text": r.text, "describe": r.describe()}


def price_notes(p: Plan, lang: str) -> list[str]:
    """A plan that buys at a low-confidence or a stale price says so (``Plan.price_warnings``)."""
    out = []
    low = [f"{w['offer']} ({w['source']}, {w['as_of']})" for w in p.price_warnings if "low_confidence" in w["why"]]
    if low:
        out.append(t(lang, "note.low_confidence", offers="; ".join(low)))
    old = [f"{w['offer']} ({w['source']}, {w['as_of']}, {w['age_months']})" for w in p.price_warnings
           if "stale" in w["why"]]
    if old:
        out.append(t(lang, "note.stale_price", reference=p.price_warnings[0]["reference"], offers="; ".join(old)))
    return out


def _summary(p: Plan, s: Scenario, m: Money, tot: dict[str, Decimal]) -> dict[str, Any]:
    tps = fleet_tokens_per_s(p, s)
    per_hour = m.hourly(p.cost_usd_per_hour) if tot["per_hour"] == 0 else tot["per_hour"]
    cpmt = float(per_hour) / (tps * 3600) * 1e6 if tps > 0 else None
    b = p.baselines
    bs = b.get("best_single_type")
    greedy = b.get("greedy")
    return {
        "scenario": p.scenario, "description": s.description, "status": p.status, "gap": round(p.gap, 6),
        "currency": m.currency, "cost_per_hour": tot["per_hour"], "cost_per_month": tot["per_month"],
        "bound_per_hour": m.hourly(p.bound_usd_per_hour).quantize(Decimal("0.0001")),
        "cost_usd_per_hour": round(p.cost_usd_per_hour, 4), "cost_usd_per_month": round(p.cost_usd_per_month, 2),
        "gpus": p.gpus, "gpus_by_type": p.gpus_by_type(),
        "fleet_tokens_per_s": round(tps, 1), "per_million_tokens": None if cpmt is None else round(cpmt, 4),
        "pricing": s.pricing,
        "best_single_type": None if not bs else {"gpu": bs["gpu"], "per_hour": m.hourly(bs["cost_usd_per_hour"]),
                                                 "savings": bs["savings"], "breaks": bs.get("breaks", [])},
        "greedy": None if not greedy else {"per_hour": m.hourly(greedy["cost_usd_per_hour"]), "savings": greedy["savings"],
                                           "breaks": greedy.get("breaks", [])},
    }


def _resilience_rows(p: Plan) -> list[dict[str, Any]]:
    """Per model: the failure domain it must survive, its worst single failure and what is left (in its units)."""
    rows = []
    res = p.resilience()
    for m in p.models:
        r = res[m.name]
        rate = m.unit == "milli_requests_per_s"  # shown in requests/s, as the deployments table shows it
        rows.append({"model": m.name, "survive": r["survive"], "keep": None if r["survive"] == "none" else r["keep"],
                     "domain": r["domain"], "worst_failure": r["worst_failure"] or "-",
                     "required": r["required_units"] / 1000 if rate else r["required_units"],
                     "left": r["left_units"] / 1000 if rate else r["left_units"],
                     "left_share_of_target": r["left_share_of_target"]})
    return rows


def _deployment_rows(p: Plan, s: Scenario) -> list[dict[str, Any]]:
    reqs = {m.name: m for m in s.models}
    rows = []
    for m, (gpu, tp, pp, conc, binds), rs in deployment_groups(p):
        r0 = rs[0]
        rows.append({
            "model": m.name, "model_id": m.model, "precision": reqs[m.name].precision, "gpu": gpu, "tp": tp, "pp": pp,
            "replicas": len(rs), "concurrency_per_replica": conc, **_human_units(m),
            "binds": binds, "decode_ms_per_token": round(r0.step_ms, 2),
            "ttft_ms": round(r0.ttft_ms, 1), "tokens_per_s_per_stream": round(1000.0 / r0.step_ms, 1),
        })
    return rows


def _human_units(m: ModelResult) -> dict[str, Any]:
    """Target and served load in a reader's units: requests/s (the plan counts milli-requests/s) or sequences."""
    if m.unit == "milli_requests_per_s":
        return {"target": m.target_units / 1000, "served": m.served_units / 1000, "unit": "requests/s"}
    return {"target": m.target_units, "served": m.served_units, "unit": "sequences"}


def _device_rows(p: Plan) -> list[dict[str, Any]]:
    rows = []
    for inst in p.instances:
        for d in inst.devices:
            w, kv, a, o = device_bytes(d)
            rows.append({
                "instance": inst.id, "offer": inst.offer, "device": d.id, "gpu": d.gpu,
                "models": ", ".join(dict.fromkeys(x.model for x in d.shards)),
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
                            gpu_memory_utilization=s.gpu_memory_utilization, engine=m.engine)
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


def _sources(p: Plan, s: Scenario, m: Money) -> dict[str, dict[str, str]]:
    """The catalog sources behind the plan's prices and GPU figures, and the exchange rates used, by key."""
    sources: dict[str, dict[str, str]] = {}
    used = {o.currency for i in p.instances for o in s.catalog.gpus[i.gpu].offers if o.id == i.offer} | {m.currency}
    for cur in sorted(used - {"USD"}):
        r = s.catalog.fx.rate(cur)
        if r is not None:
            sources[r.source] = {"key": r.source, "text": f"{r.describe()}: {r.text}", "as_of": r.as_of}
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


def _assumptions(p: Plan, s: Scenario, m: Money, lang: str) -> list[str]:
    o: Owned = s.owned
    providers = t(lang, "assume.providers", providers=", ".join(s.providers)) if s.providers else ""
    out = [t(lang, "assume.pricing", pricing=t(lang, f"pricing.{s.pricing}"), providers=providers),
           t(lang, "assume.gmu", value=s.gpu_memory_utilization), t(lang, "assume.engine"), t(lang, "assume.memory"),
           t(lang, "assume.speed"), t(lang, "assume.month", hours=HOURS_PER_MONTH),
           t(lang, "assume.owned", months=o.amortization_months, kwh=o.usd_per_kwh, pue=o.pue,
             hosting=o.hosting_usd_per_gpu_month, draw=f"{o.utilization_of_tdp:.0%}")]
    r = m.rate
    out.append(t(lang, "assume.currency_usd") if r is None else
               t(lang, "assume.currency", currency=m.currency, rate=r.describe()))
    if any(len(d.shards) > 1 for i in p.instances for d in i.devices):
        out.append(t(lang, "assume.shared"))
    if s.max_usd_per_hour:
        out.append(t(lang, "assume.budget", usd=s.max_usd_per_hour))
    if s.limits:
        out.append(t(lang, "assume.limits", limits=", ".join(f"{k} <= {v}" for k, v in sorted(s.limits.items()))))
    return out


def _baseline_rows(p: Plan, m: Money, lang: str) -> list[dict[str, Any]]:
    """The greedy and single-type baselines, per month in the report currency, with this plan's saving."""
    b = p.baselines
    rows = []
    if b.get("greedy"):
        rows.append({"baseline": t(lang, "baseline.greedy"), "per_month": m.monthly(b["greedy"]["cost_usd_per_hour"]),
                     "savings": b["greedy"]["savings"], "note": breaks_note(b["greedy"].get("breaks"), lang)})
    for gid, v in sorted((b.get("single_type") or {}).items()):
        usd = v.get("cost_usd_per_hour")
        reason = v.get("reason", "")
        if reason == "some model has no deployment on this GPU type":
            reason = t(lang, "baseline.no_deployment")
        comparable = v.get("feasible") and usd and not v.get("breaks")
        rows.append({"baseline": t(lang, "baseline.only", gpu=gid), "per_month": None if usd is None else m.monthly(usd),
                     "savings": round(1 - p.cost_usd_per_hour / usd, 4) if comparable else None,
                     "note": reason or breaks_note(v.get("breaks"), lang)})
    return rows


def breaks_note(breaks: list[str] | None, lang: str) -> str:
    """'not comparable: breaks <rules>' for a baseline fleet that breaks rules of the scenario, else ''."""
    return t(lang, "baseline.breaks", rules=", ".join(breaks)) if breaks else ""

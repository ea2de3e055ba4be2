"""Planning reports: one data structure (``report_data``) rendered as HTML, Markdown, CSV, JSON and Excel.

``write_report`` writes every file into a temporary folder beside the target and swaps it in only when all of them
are written, so a failure leaves no half-written report and never destroys an earlier one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from planner.candidates.deployments import CandidateSet, RejectionKind
from planner.errors import InputError
from planner.estimate.memory import estimate_memory, seed_estimate_bytes
from planner.inputs.pricing import Owned
from planner.inputs.scenario import Scenario
from planner.plans.metrics import fleet_tokens_per_s, rent_vs_own
from planner.plans.records import Plan
from planner.report.tables import to_csv, to_json, to_markdown
from planner.resources import TEMPLATES_DIR
from planner.units import GB, GIB, HOURS_PER_MONTH

DEPLOYMENT_COLUMNS = ["model", "model_id", "precision", "gpu", "tp", "pp", "replicas", "concurrency_per_replica",
                      "target", "served", "unit", "binds", "decode_ms_per_token", "ttft_ms", "tokens_per_s_per_stream"]
DEVICE_COLUMNS = ["instance", "offer", "device", "gpu", "replicas", "weights_gib", "kv_cache_gib", "activation_gib",
                  "overhead_gib", "used_gib", "usable_gib", "total_gib", "free_gib"]


def _g(x: float) -> float:
    return round(x / GIB, 2)


def report_data(p: Plan, s: Scenario, cs: CandidateSet) -> dict[str, Any]:
    """Everything a report shows, as plain data (deterministic: no timings)."""
    reqs = {m.name: m for m in s.models}
    dep_rows = []
    for m in p.models:
        mine = [r for r in p.replicas if r.model == m.name]
        groups: dict[tuple, list] = {}
        for r in mine:
            groups.setdefault((r.gpu, r.tp, r.pp, r.concurrency, "shared" if r.shared else r.binding), []).append(r)
        for (gpu, tp, pp, conc, binds), rs in groups.items():
            r0 = rs[0]
            dep_rows.append({
                "model": m.name, "model_id": m.model, "precision": reqs[m.name].precision, "gpu": gpu, "tp": tp, "pp": pp,
                "replicas": len(rs), "concurrency_per_replica": conc, "target": m.target_units, "served": m.served_units,
                "unit": m.unit, "binds": binds, "decode_ms_per_token": round(r0.step_ms, 2),
                "ttft_ms": round(r0.ttft_ms, 1), "tokens_per_s_per_stream": round(1000.0 / r0.step_ms, 1),
            })
    dev_rows = []
    for inst in p.instances:
        for d in inst.devices:
            w = sum(x.weights_bytes for x in d.shards)
            kv = sum(x.kv_cache_bytes for x in d.shards)
            a = sum(x.activation_bytes for x in d.shards)
            o = sum(x.overhead_bytes for x in d.shards)
            dev_rows.append({
                "instance": inst.id, "offer": inst.offer, "device": d.id, "gpu": d.gpu,
                "replicas": " ".join(x.replica + (f"[stage {x.stage}]" if x.stage else "") for x in d.shards),
                "weights_gib": _g(w), "kv_cache_gib": _g(kv), "activation_gib": _g(a), "overhead_gib": _g(o),
                "used_gib": _g(d.memory_used_bytes), "usable_gib": _g(d.memory_usable_bytes), "total_gib": _g(d.memory_total_bytes),
                "free_gib": _g(d.memory_total_bytes - d.memory_used_bytes),
            })
    cost_by_gpu: dict[str, float] = {}
    for inst in p.instances:
        cost_by_gpu[inst.gpu] = cost_by_gpu.get(inst.gpu, 0.0) + inst.usd_per_hour
    tps = fleet_tokens_per_s(p, s)
    cpmt = p.cost_usd_per_hour / (tps * 3600) * 1e6 if tps > 0 else None
    seed_rows = []
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
        seed_rows.append({"model": m.name, "model_id": a.id, "params_b": round(a.params / 1e9, 2), "precision": m.precision,
                          "seed_1_2_gb": round(seed_estimate_bytes(a.params, m.precision, "seed-1.2") / GB, 1),
                          "seed_2x_gb": round(seed_estimate_bytes(a.params, m.precision, "seed-2x") / GB, 1),
                          "detailed_need_gb": round(need / GB, 1), "allocated_gb": round(allocated / GB, 1),
                          "concurrency": conc, "context_tokens": m.context_tokens})
    cand_rows = []
    for m in s.models:
        cands = cs.for_model(m.name)
        rej = [r for r in cs.rejected if r.model == m.name]
        reasons: dict[str, int] = {}
        for r in rej:
            key = r.reason.split(":")[0] if r.kind in (RejectionKind.NO_SPLIT, RejectionKind.SLO) else r.reason
            key = key if len(key) < 140 else key[:137] + "..."
            reasons[key] = reasons.get(key, 0) + 1
        cand_rows.append({"model": m.name, "candidates": len(cands), "gpu_types": len({c.gpu for c in cands}),
                          "rejected": len(rej),
                          "top_rejections": "; ".join(f"{k} (x{v})" for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3])})
    rej_rows = [{"model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "reason": r.reason} for r in cs.rejected]
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
    b = p.baselines
    base_rows = []
    if b.get("greedy"):
        base_rows.append({"baseline": "greedy", "usd_per_hour": b["greedy"]["cost_usd_per_hour"], "savings": b["greedy"]["savings"]})
    for gid, v in sorted((b.get("single_type") or {}).items()):
        base_rows.append({"baseline": f"only {gid}", "usd_per_hour": v.get("cost_usd_per_hour"),
                          "savings": None if not v.get("feasible") else round(1 - p.cost_usd_per_hour / v["cost_usd_per_hour"], 4)
                          if v["cost_usd_per_hour"] else None, "note": v.get("reason", "")})
    return {
        "summary": {
            "scenario": p.scenario, "description": s.description, "status": p.status, "gap": round(p.gap, 6),
            "bound_usd_per_hour": round(p.bound_usd_per_hour, 4), "cost_usd_per_hour": round(p.cost_usd_per_hour, 4),
            "cost_usd_per_month": round(p.cost_usd_per_month, 2), "gpus": p.gpus, "gpus_by_type": p.gpus_by_type(),
            "fleet_tokens_per_s": round(tps, 1), "usd_per_million_tokens": None if cpmt is None else round(cpmt, 4),
            "pricing": s.pricing, "best_single_type": b.get("best_single_type"), "greedy": b.get("greedy"),
        },
        "deployments": dep_rows, "devices": dev_rows,
        "cost_by_gpu": [{"gpu": k, "usd_per_hour": round(v, 4), "usd_per_month": round(v * HOURS_PER_MONTH, 2)}
                        for k, v in sorted(cost_by_gpu.items())],
        "baselines": base_rows, "rent_vs_own": rent_vs_own(p, s), "seed_vs_detailed": seed_rows,
        "candidates": cand_rows, "rejected": rej_rows, "sources": sorted(sources.values(), key=lambda x: x["key"]),
        "assumptions": assumptions, "notes": list(p.notes),
    }


# ---- renderers ---------------------------------------------------------------------------------------------------

def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def render_markdown(d: dict[str, Any]) -> str:
    s = d["summary"]
    lines = [f"# GPU plan: {s['scenario']}", ""]
    if s["description"]:
        lines += [s["description"].strip(), ""]
    lines += [
        "## Summary", "",
        f"- **{_money(s['cost_usd_per_month'])} per month** ({_money(s['cost_usd_per_hour'])} per hour, {s['pricing'].replace('_', '-')} pricing)",
        f"- Status: {s['status']}" + ("" if s["status"] == "optimal" else f" (bound {_money(s['bound_usd_per_hour'])}/h, gap {s['gap']:.2%})"),
        f"- GPUs: {s['gpus']} ({', '.join(f'{n} x {g}' for g, n in s['gpus_by_type'].items())})",
        f"- Output tokens at target load: {s['fleet_tokens_per_s']:,.0f}/s; cost per million tokens: "
        + ("-" if s["usd_per_million_tokens"] is None else f"${s['usd_per_million_tokens']:.3f}"),
    ]
    if s.get("best_single_type"):
        bs = s["best_single_type"]
        lines.append(f"- Against the best single GPU type ({bs['gpu']}, {_money(bs['cost_usd_per_hour'])}/h): saves {bs['savings']:.1%}")
    if s.get("greedy"):
        lines.append(f"- Against a greedy plan ({_money(s['greedy']['cost_usd_per_hour'])}/h): saves {s['greedy']['savings']:.1%}")
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


def render_html(d: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from planner.report.charts import bar_chart, stacked_bars

    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                      autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    mem_rows = [(r["device"], [("weights", r["weights_gib"]), ("kv_cache", r["kv_cache_gib"]),
                               ("activation", r["activation_gib"]), ("overhead", r["overhead_gib"]),
                               ("free", r["free_gib"])]) for r in d["devices"]]
    charts = {
        "memory": stacked_bars(mem_rows, "Memory on each device", "GiB", "chart-memory"),
        "cost": bar_chart([(r["gpu"], r["usd_per_month"]) for r in d["cost_by_gpu"]], "Monthly cost by GPU type", "USD",
                          "chart-cost"),
    }
    if d["baselines"]:
        charts["baselines"] = bar_chart(
            [("this plan", d["summary"]["cost_usd_per_hour"])] + [(r["baseline"], r["usd_per_hour"]) for r in d["baselines"]
                                                                 if r["usd_per_hour"] is not None],
            "Hourly cost against baselines", "USD/h", "chart-baselines")
    return env.get_template("report.html.j2").render(d=d, s=d["summary"], charts=charts, dep_cols=DEPLOYMENT_COLUMNS,
                                                     dev_cols=DEVICE_COLUMNS, money=_money)


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


def write_report(p: Plan, s: Scenario, cs: CandidateSet, out: Path, extra_files: dict[str, str] | None = None) -> list[str]:
    """Write report.html, report.md, plan.json, deployments.csv, devices.csv and report.xlsx into ``out`` atomically."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, expected a folder")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    d = report_data(p, s, cs)
    plan_json = p.to_dict()
    try:
        (tmp / "report.md").write_text(render_markdown(d), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(d), encoding="utf-8")
        (tmp / "plan.json").write_text(to_json(plan_json), encoding="utf-8")
        (tmp / "deployments.csv").write_text(to_csv(d["deployments"], DEPLOYMENT_COLUMNS), encoding="utf-8")
        (tmp / "devices.csv").write_text(to_csv(d["devices"], DEVICE_COLUMNS), encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        write_xlsx(d, tmp / "report.xlsx", plan_json)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(x.name for x in out.iterdir())


def swap_in(tmp: Path, out: Path) -> None:
    """Replace folder ``out`` by ``tmp``; the old folder survives until the new one is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError as exc:
        if old is not None:
            old.rename(out)
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def plan_markdown(p: Plan, s: Scenario) -> str:
    """The Markdown report of a plan (what `planner plan --format markdown` prints)."""
    from planner.candidates.deployments import build_candidates

    return render_markdown(report_data(p, s, build_candidates(s)))



"""Plan and report rendering (Markdown for now; HTML, CSV and Excel come with the report command)."""

from __future__ import annotations

from .output import to_markdown
from .units import GIB


def plan_markdown(p, s) -> str:  # type: ignore[no-untyped-def]
    lines = [f"# Plan: {p.scenario}", "",
             f"- Status: **{p.status}** (bound ${p.bound_usd_per_hour:,.2f}/h, gap {p.gap:.2%})",
             f"- Cost: **${p.cost_usd_per_hour:,.2f}/hour**, ${p.cost_usd_per_month:,.0f}/month ({p.pricing} pricing)",
             f"- GPUs: {p.gpus} ({', '.join(f'{n} x {g}' for g, n in p.gpus_by_type().items())})", ""]
    rows = [{"model": r.model, "replica": r.id, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "concurrency": r.concurrency,
             "binds": "shared" if r.shared else r.bound, "tok_s": round(r.tokens_per_s, 1)} for r in p.replicas]
    lines += ["## Replicas", "", to_markdown(rows, list(rows[0].keys()) if rows else [])]
    drows = []
    for inst in p.instances:
        for d in inst.devices:
            drows.append({"device": d.id, "replicas": ", ".join(x.replica for x in d.shards),
                          "used_gib": round(d.memory_used_bytes / GIB, 2), "total_gib": round(d.memory_total_bytes / GIB, 2)})
    lines += ["## Devices", "", to_markdown(drows, ["device", "replicas", "used_gib", "total_gib"])]
    return "\n".join(lines)

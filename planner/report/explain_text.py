"""An infeasibility explanation as terminal lines in a reader's language: the labels come from the message catalogue;
the figures, ids and the solver's own findings inside them are printed as the solver states them."""

from __future__ import annotations

from typing import Any

from planner.i18n import t


def explanation_lines(e: dict[str, Any], lang: str) -> list[str]:
    """The same lines as ``planner.solve.explain.explanation_lines``, labelled in ``lang``."""
    out = []
    for m in e.get("models", []):
        head = f"{m['model']}: {m['problem']}"
        c = m.get("closest")
        if c:
            head += t(lang, "explain.closest", gpu=c["gpu"], tp=c["tp"], pp=c["pp"], gib=c["shortfall_gib_per_device"])
        out.append(head)
        out += [t(lang, "explain.because", reason=r) for r in m.get("reasons", [])[:2]]
        out += [t(lang, "explain.slo", reason=r) for r in m.get("slo", [])[:2]]
        if m.get("unpriced_gpus"):
            out.append(t(lang, "explain.unpriced", gpus=", ".join(m["unpriced_gpus"])))
        out += [t(lang, "explain.would_fit", fix=f) for f in m.get("what_would_fit", [])]
    if "binding" in e:
        out += [t(lang, "explain.binding", what=b) for b in e["binding"]]
        u = e.get("unconstrained_plan")
        if u:
            gpus = ", ".join(f"{n} x {g}" for g, n in u["gpus_by_type"].items())
            out.append(t(lang, "explain.unconstrained", usd=u["cost_usd_per_hour"], gpus=gpus))
        out += [t(lang, "explain.fix", fix=f) for f in e.get("what_would_fit", [])]
        if e.get("detail"):
            out.append(e["detail"])
    return out

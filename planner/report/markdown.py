"""The Markdown report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.i18n import t
from planner.report.data import breaks_note, report_data
from planner.report.tables import to_markdown
from planner.report.views import formatted, headers, hour_str, tables

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan


def summary_lines(d: dict[str, Any]) -> list[str]:
    """The summary bullets (shared with the HTML report's key figures)."""
    s, lang, sym = d["summary"], d["lang"], d["symbol"]
    out = [t(lang, "sum.cost", month=f"{sym}{s['cost_per_month']:,.2f}", hour=f"{sym}{hour_str(s['cost_per_hour'])}",
             pricing=t(lang, f"pricing.{s['pricing']}")),
           t(lang, "sum.status", status=t(lang, f"status.{s['status']}")) + (
               "" if s["status"] == "optimal" else t(lang, "sum.gap", bound=f"{sym}{s['bound_per_hour']:,.2f}",
                                                      gap=f"{s['gap']:.2%}")),
           t(lang, "sum.gpus", n=s["gpus"], types=", ".join(f"{n} x {g}" for g, n in s["gpus_by_type"].items())),
           t(lang, "sum.tokens", tps=f"{s['fleet_tokens_per_s']:,.0f}",
             cpmt="-" if s["per_million_tokens"] is None else f"{sym}{s['per_million_tokens']:.3f}")]
    if d["fx"]:
        out.append(t(lang, "sum.fx", rate=d["fx"]["describe"], usd=f"${s['cost_usd_per_month']:,.2f}"))
    if s.get("best_single_type"):
        bs = s["best_single_type"]
        out.append(t(lang, "sum.best_single", gpu=bs["gpu"], cost=f"{sym}{bs['per_hour']:,.2f}",
                     savings=saving_text(bs["savings"], bs.get("breaks"), lang)))
    if s.get("greedy"):
        g = s["greedy"]
        out.append(t(lang, "sum.greedy", cost=f"{sym}{g['per_hour']:,.2f}",
                     savings=saving_text(g["savings"], g.get("breaks"), lang)))
    return out


def saving_text(savings: float | None, breaks: list[str] | None, lang: str) -> str:
    """'saves 12.3%', or, for a baseline that breaks rules of the scenario, 'not comparable: breaks <rules>'."""
    if breaks or savings is None:
        return breaks_note(breaks or ["?"], lang)
    return t(lang, "saves", savings=f"{savings:.1%}")


def render_markdown(d: dict[str, Any]) -> str:
    s, lang = d["summary"], d["lang"]
    lines = [f"# {t(lang, 'title', scenario=s['scenario'])}", ""]
    if s["description"]:
        lines += [s["description"].strip(), ""]
    lines += [f"## {t(lang, 'h.summary')}", ""] + [f"- {x}" for x in summary_lines(d)] + [""]
    for tb in tables(d):
        lines += [f"## {t(lang, f'h.{tb.key}')}", ""]
        intro = f"intro.{tb.key}"
        if intro in _keys(lang):
            lines += [t(lang, intro), ""]
        lines += [to_markdown(formatted(tb, lang), tb.columns, headers(d, tb.columns))]
    lines += [f"## {t(lang, 'h.assumptions')}", ""]
    lines += [f"- {a}" for a in d["assumptions"]] + [f"- {t(lang, 'note', note=n)}" for n in d["notes"]] + [""]
    lines += [to_markdown(d["sources"], ["key", "as_of", "text"], headers(d, ["key", "as_of", "text"]))]
    return "\n".join(lines)


def _keys(lang: str) -> dict[str, str]:
    from planner.i18n import catalogue

    return catalogue(lang)


def plan_markdown(p: Plan, s: Scenario, currency: str | None = None, lang: str | None = None) -> str:
    """The Markdown report of a plan (what `planner plan --format markdown` prints)."""
    from planner.candidates.deployments import build_candidates

    return render_markdown(report_data(p, s, build_candidates(s), currency, lang))

"""What `planner plan` prints in a terminal: the headline, the deployments and devices tables, the baselines.

Words come from the message catalogue of ``lang``; money is in ``currency`` (USD prints the plan's own figures).
Also the CLI's shared helpers for the study commands: money columns converted to the currency, headers translated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.i18n import column, t
from planner.units import GIB

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan


def print_plan_table(p: Plan, s: Scenario | None = None, currency: str = "USD", lang: str = "en") -> None:
    from rich.console import Console

    from planner.inputs.currency import shipped_fx
    from planner.report.data import deployment_groups, device_bytes
    from planner.report.money import Money
    from planner.report.tables import print_table

    m = Money(currency, s.catalog.fx if s is not None else shipped_fx())
    sym = m.symbol

    def hour(usd: float) -> float:
        return usd if currency == "USD" else float(m.hourly(usd))

    con = Console(width=max(120, Console().width))
    gap = "" if p.status == "optimal" else t(lang, "plan.gap", bound=f"{sym}{hour(p.bound_usd_per_hour):,.2f}", gap=f"{p.gap:.1%}")
    month = p.cost_usd_per_month if currency == "USD" else float(sum(m.monthly(i.usd_per_hour) for i in p.instances))
    con.print(t(lang, "plan.headline", scenario=p.scenario, status=t(lang, f"status.{p.status}"), gap=gap,
                hour=f"{sym}{hour(p.cost_usd_per_hour):,.2f}", month=f"{sym}{month:,.0f}", gpus=p.gpus,
                types=", ".join(f"{n} x {g}" for g, n in p.gpus_by_type().items()), seconds=f"{p.solve_seconds:.2f}"))
    rows = []
    for mr, (gpu, tp, pp, conc, binds), rs in deployment_groups(p):
        rate = mr.unit == "milli_requests_per_s"
        rows.append({"model": mr.name, "target": f"{mr.target_units / 1000:g} req/s" if rate else mr.target_units,
                     "served": f"{mr.served_units / 1000:g} req/s" if rate else mr.served_units, "gpu": gpu,
                     "split": f"TP{tp}" + (f" x PP{pp}" if pp > 1 else ""), "replicas": len(rs), "per_replica": conc,
                     "binds": binds})
    cols = ["model", "target", "served", "gpu", "split", "replicas", "per_replica", "binds"]
    print_table(rows, cols, [column(lang, c) for c in cols], title=t(lang, "plan.deployments"))
    _print_models(p, s, m, lang)
    drows = []
    for inst in p.instances:
        for d in inst.devices:
            w, kv, act, ovh = device_bytes(d)
            drows.append({"device": d.id, "on it": ", ".join(f"{x.replica}" + (f"[{x.stage}]" if x.stage else "") for x in d.shards) or "(idle)",
                          "weights": round(w / GIB, 1), "kv": round(kv / GIB, 1), "act+rt": round((act + ovh) / GIB, 1),
                          "free": round((d.memory_total_bytes - d.memory_used_bytes) / GIB, 1),
                          "$/h": hour(inst.usd_per_hour) if d.id.endswith("/gpu0") else None})
    print_table(drows, ["device", "on it", "weights", "kv", "act+rt", "free", "$/h"],
                [column(lang, c) for c in ("device", "on_it", "weights", "kv", "act_rt", "free")]
                + [column(lang, "instance_price", sym=sym)], title=t(lang, "plan.devices"))
    b = p.baselines
    for key, extra in (("best_single_type", "best_single"), ("greedy", "greedy")):
        if b.get(key):
            v, args = b[key], {"gpu": b[key].get("gpu"), "cost": f"{sym}{hour(b[key]['cost_usd_per_hour']):,.2f}"}
            if v.get("breaks") or v["savings"] is None:  # a baseline breaking the scenario's rules is no comparison
                con.print(t(lang, f"plan.{extra}_breaks", rules=", ".join(v.get("breaks") or ["?"]), **args))
            else:
                con.print(t(lang, f"plan.{extra}", savings=f"{v['savings']:.1%}", **args))
    for n in p.notes:
        con.print(t(lang, "note", note=n))
    if s is not None:
        from planner.report.data import price_notes

        for n in price_notes(p, lang):
            con.print(t(lang, "note", note=n), markup=False)
    if m.rate is not None:
        con.print(t(lang, "plan.fx", currency=currency, rate=m.rate.describe()))


def _print_models(p: Plan, s: Scenario | None, m: Any, lang: str) -> None:
    """Per model: its cost (chargeback, ``Instance.cost_shares``) and, with resilience, its worst single failure."""
    from planner.report.tables import print_table

    res = p.resilience()
    resilient = any(r["survive"] != "none" for r in res.values())
    if s is not None:
        from planner.report.money import cost_by_model

        rows = cost_by_model(p, s, m)
    else:
        rows = [{"model": k, "per_hour": v[0], "per_month": v[1]} for k, v in p.model_costs().items()]
    for r in rows:
        x = res.get(r["model"])
        r["per_hour"] = f"{r['per_hour']:,.4f}"
        r["per_month"] = f"{r['per_month']:,.2f}"
        if x is not None:
            r["worst_failure"] = f"{x['worst_failure'] or '-'} ({x['domain']})"
            r["left"] = f"{x['left_share_of_target']:.0%}"
    cols = ["model", "per_hour", "per_month"] + (["worst_failure", "left_share_of_target"] if resilient else [])
    for r in rows:
        r["left_share_of_target"] = r.get("left", "")
    print_table(rows, cols, [column(lang, c, cur=m.currency) for c in cols], title=t(lang, "h.cost_by_model"))


MONEY_KEYS = ("cost_usd_per_month", "cost_usd_per_hour", "usd_per_million_tokens")


def convert_rows(rows: list[dict[str, Any]], heads: list[str], cols: list[str], currency: str,
                 s: Scenario) -> tuple[list[dict[str, Any]], list[str]]:
    """Study rows (compare, sweep) with their USD columns in ``currency`` and the headers saying so."""
    if currency == "USD":
        return rows, heads
    fx = s.catalog.fx
    out = [{k: (round(fx.from_usd(v, currency), 4 if k == "usd_per_million_tokens" else 2)
                if k in MONEY_KEYS and isinstance(v, (int, float)) else v) for k, v in r.items()} for r in rows]
    return out, [h.replace("USD", currency) if c in MONEY_KEYS else h for h, c in zip(heads, cols, strict=True)]


STUDY_HEADS = {"fleet": "study.fleet", "feasible": "study.feasible", "USD/month": "study.per_month",
               "USD/hour": "study.per_hour", "GPUs": "study.gpus", "GPUs chosen": "study.gpus_chosen",
               "fleet chosen": "study.fleet_chosen", "load / capacity": "study.utilization",
               "USD per M tokens": "study.per_million_tokens", "savings vs best single type": "study.savings",
               "why not": "study.why"}


def study_view(rows: list[dict[str, Any]], heads: list[str], cols: list[str], s: Scenario,
               currency: str | None, lang: str | None, plans: list[Any] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Compare and sweep tables in the asked currency (default: the scenario's) and language. With ``plans`` (one per
    row, None where infeasible) the monthly cost is the shopping list's total, from the sources' own prices."""
    rows, heads = convert_rows(rows, heads, cols, currency or s.currency, s)
    if plans is not None and (currency or s.currency) != "USD":
        from planner.report.money import Money, shopping_list, totals

        m = Money(currency or s.currency, s.catalog.fx)
        rows = [dict(r, cost_usd_per_month=float(totals(shopping_list(p, s, m))["per_month"])) if p is not None else r
                for r, p in zip(rows, plans, strict=True)]
    lang = lang or s.lang
    cur = currency or s.currency
    if lang != "en":
        heads = [t(lang, STUDY_HEADS[h.replace(cur, "USD")], cur=cur) if h.replace(cur, "USD") in STUDY_HEADS else h
                 for h in heads]
    return rows, heads

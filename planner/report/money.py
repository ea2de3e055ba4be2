"""Money in a report: the shopping list, costs by GPU type and by model, and rent-vs-own, in the report's currency.

One rule makes every total add up to the cent (``Decimal``, half-up):

    price_per_hour   = the source's own figure when it quotes in the report currency, else usd_per_hour x rate
    price_per_month  = cents(price_per_hour x 730)              one instance for a month
    subtotal         = count x price_per_month                  one line of the shopping list
    total            = sum of the subtotals                     what plan.json's ``costs`` block states too

Costs by GPU type, by model (chargeback: ``planner.plans.records.Instance.cost_shares``, the rule plan.json's
``models[].cost_usd_per_hour`` uses too) and the rent-vs-own column of the plan's own pricing are sums of the same
instance-months, so they equal the shopping list's total. The other rent-vs-own columns price the same number of GPUs
as the cheapest whole instances of that pricing (a what-if; TP groups are not re-checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from planner.inputs.currency import SYMBOLS, FxRates, Rate, cents
from planner.inputs.pricing import owned_usd_per_gpu_hour, priced_offers
from planner.plans.records import IDLE, split_exactly
from planner.units import HOURS_PER_MONTH

if TYPE_CHECKING:
    from planner.inputs.catalog import Offer
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Instance, Plan

HOURLY = Decimal("0.000001")  # hourly prices to six decimals: a converted total stays within a cent of the exact one


@dataclass(frozen=True)
class Money:
    """The report currency and the rate that converts USD into it (None for USD)."""

    currency: str
    fx: FxRates

    @property
    def rate(self) -> Rate | None:
        return self.fx.rate(self.currency)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.currency]

    def hourly(self, usd: float) -> Decimal:
        return Decimal(repr(self.fx.from_usd(usd, self.currency))).quantize(HOURLY)

    def monthly(self, usd_per_hour: float) -> Decimal:
        return cents(self.hourly(usd_per_hour) * HOURS_PER_MONTH)

    def fmt(self, x: float | Decimal | None, decimals: int = 2) -> str:
        return "-" if x is None else f"{self.symbol}{x:,.{decimals}f}"


def money_for(s: Scenario, currency: str | None = None) -> Money:
    return Money(currency or s.currency, s.catalog.fx)


def _offer(s: Scenario, inst: Instance) -> Offer | None:
    return next((o for o in s.catalog.gpus[inst.gpu].offers if o.id == inst.offer), None)


def _unit_hour(m: Money, s: Scenario, inst: Instance) -> tuple[Decimal, Offer | None]:
    """One instance-hour in the report currency: the source's figure when it quotes in that currency."""
    o = _offer(s, inst)
    if o is not None and o.currency == m.currency:
        native = {"on_demand": o.price_per_hour, "spot": o.spot_price_per_hour}.get(s.pricing)
        if native is not None:
            return Decimal(repr(native)).quantize(HOURLY), o
    return m.hourly(inst.usd_per_hour), o


def _quoted(o: Offer | None, pricing: str) -> str:
    if o is None:
        return ""
    native = {"on_demand": o.price_per_hour, "spot": o.spot_price_per_hour}.get(pricing)
    return "" if native is None else f"{native:g} {o.currency}/h"


def shopping_list(p: Plan, s: Scenario, m: Money) -> list[dict[str, Any]]:
    """What to rent (or buy): one line per offer, with its count, prices, subtotals and the price's source."""
    lines: dict[str, dict[str, Any]] = {}
    for inst in p.instances:
        unit, o = _unit_hour(m, s, inst)
        line = lines.get(inst.offer)
        if line is None:
            line = lines[inst.offer] = {
                "provider": inst.provider, "instance": inst.instance_type, "region": (o.region if o else None) or "",
                "gpu": inst.gpu, "gpus_per_instance": len(inst.devices), "count": 0, "gpus": 0,
                "pricing": s.pricing, "price_per_hour": unit, "price_per_month": cents(unit * HOURS_PER_MONTH),
                "quoted": _quoted(o, s.pricing), "confidence": (o.confidence if o else None) or "",
                "source": o.source if o else (s.catalog.gpus[inst.gpu].purchase.source  # type: ignore[union-attr]
                                              if s.pricing == "owned" else ""),
                "as_of": o.as_of if o else "",
            }
        line["count"] += 1
        line["gpus"] += len(inst.devices)
    rows = sorted(lines.values(), key=lambda r: (r["provider"], r["instance"]))
    for r in rows:
        r["subtotal_per_hour"] = r["price_per_hour"] * r["count"]
        r["subtotal_per_month"] = r["price_per_month"] * r["count"]
    return rows


def totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {"per_hour": sum((r["subtotal_per_hour"] for r in lines), Decimal(0)),
            "per_month": sum((r["subtotal_per_month"] for r in lines), Decimal(0))}


def cost_by_gpu(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in lines:
        g = out.setdefault(r["gpu"], {"gpu": r["gpu"], "gpus": 0, "per_hour": Decimal(0), "per_month": Decimal(0)})
        g["gpus"] += r["gpus"]
        g["per_hour"] += r["subtotal_per_hour"]
        g["per_month"] += r["subtotal_per_month"]
    return [out[k] for k in sorted(out)]


def cost_by_model(p: Plan, s: Scenario, m: Money) -> list[dict[str, Any]]:
    """Chargeback: the shopping list's hourly total (six decimals) and monthly total (cents) split by
    ``Plan.cost_shares`` (an instance's used GPUs equally, a shared GPU by the memory each engine holds), exact to
    the last unit, so the rows add up to the totals and match plan.json's ``models[].cost_usd_per_*`` in USD."""
    tot = totals(shopping_list(p, s, m))
    shares = p.cost_shares()
    hour = split_exactly(int(tot["per_hour"] / HOURLY), shares)
    month = split_exactly(int(tot["per_month"] * 100), shares)
    gpus = {x.name: sum(len(r.devices) for r in p.replicas if r.model == x.name and not r.shared) for x in p.models}
    total = sum(month.values())
    return [{"model": k, "per_hour": Decimal(hour[k]) * HOURLY, "per_month": Decimal(month[k]) / 100,
             "share": month[k] / total if total else 0.0, "dedicated_gpus": gpus.get(k, 0)}
            for k in [x.name for x in p.models] + [IDLE] if k in shares]


def _cheapest_cover_usd(offers: list[tuple[int, float]], n: int) -> float | None:
    """Cheapest hourly cost of whole instances (size, price) holding at least ``n`` GPUs (a small knapsack)."""
    if not offers:
        return None
    big = max(size for size, _ in offers)
    best: list[float | None] = [0.0] + [None] * (n + big)
    for g in range(1, n + big + 1):
        cands = [c + price for size, price in offers if (c := best[max(0, g - size)]) is not None]
        best[g] = min(cands) if cands else None
    vals = [v for v in best[n:] if v is not None]
    return min(vals) if vals else None


def rent_vs_own(p: Plan, s: Scenario, m: Money, by_gpu: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's GPUs priced on demand, on spot and owned; the plan's own pricing is the plan's cost exactly."""
    rows = []
    planned = {r["gpu"]: r["per_month"] for r in by_gpu}
    for gid, n in p.gpus_by_type().items():
        g = s.catalog.gpus[gid]
        row: dict[str, Any] = {"gpu": gid, "gpus": n}
        for mode in ("on_demand", "spot"):
            if mode == s.pricing:
                row[mode] = planned[gid]
                continue
            offers = [(o.gpus_per_instance, o.usd_per_hour) for o in priced_offers(g, mode, s.owned, s.providers)]
            usd = _cheapest_cover_usd(offers, n)
            row[mode] = None if usd is None else m.monthly(usd)
        own = owned_usd_per_gpu_hour(g, s.owned)
        row["owned"] = planned[gid] if s.pricing == "owned" else None if own is None else m.monthly(own * n)
        row["purchase"] = None if g.purchase is None else cents(m.hourly(g.purchase.usd) * n) \
            if g.purchase.currency != m.currency or g.purchase.price is None else cents(Decimal(repr(g.purchase.price)) * n)
        row["breakeven_months"] = None
        if own is not None and row["on_demand"] and g.purchase:
            running = m.monthly((own - g.purchase.usd / (s.owned.amortization_months * HOURS_PER_MONTH)) * n)
            saving = row["on_demand"] - running
            row["breakeven_months"] = round(float(row["purchase"] / saving), 1) if saving > 0 else None
        rows.append(row)
    return rows


def costs_block(p: Plan, s: Scenario, m: Money) -> dict[str, Any]:
    """The report's money as plan.json states it: currency, rate, shopping list and totals (JSON numbers)."""
    lines = shopping_list(p, s, m)
    tot = totals(lines)
    r = m.rate
    return {
        "currency": m.currency,
        "fx": None if r is None else {"pair": r.pair, "value": r.value, "as_of": r.as_of, "source": r.source},
        "hours_per_month": HOURS_PER_MONTH,
        "lines": [{k: _num(v) for k, v in x.items()} for x in lines],
        "total_per_hour": _num(tot["per_hour"]), "total_per_month": _num(tot["per_month"]),
    }


def _num(v: Any) -> Any:
    """A Decimal as a JSON number (float; money has at most six decimals, so the float prints them exactly)."""
    return float(v) if isinstance(v, Decimal) else v

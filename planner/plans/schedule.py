"""The hourly schedule: what is committed, what runs each hour (instances by offer and pricing kind, replicas per
model), what it costs per month; and its independent checker (never imports the solver)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.inputs.commitment import TieredOffer, tiered_offers
from planner.plans.metrics import demand_units
from planner.units import HOURS_PER_MONTH

if TYPE_CHECKING:
    from planner.candidates.deployments import CandidateSet
    from planner.inputs.scenario import Scenario

KINDS = ("committed", "on_demand", "spot")
MILLI = 1000  # availability and the spot cap in per mille (the program's own rounding, restated here)


@dataclass(frozen=True)
class ReplicaTarget:
    """Replicas of one deployment of a model in one hour: on firm (committed or on-demand) and on spot instances."""

    model: str
    gpu: str
    tp: int
    pp: int
    capacity_units: int  # per replica
    firm: int
    spot: int

    @property
    def replicas(self) -> int:
        return self.firm + self.spot


@dataclass(frozen=True)
class HourPlan:
    hour: int
    instances: dict[str, dict[str, int]]  # offer -> pricing kind -> instances
    replicas: tuple[ReplicaTarget, ...]
    demand: dict[str, int]  # model -> demand units this hour
    capacity: dict[str, float]  # model -> units held (spot at its availability in expected mode)
    cost_usd_per_hour: float


@dataclass(frozen=True)
class SchedulePlan:
    scenario: str
    status: str  # optimal | feasible (over ``searched``)
    searched: str  # the space the optimum is over
    period_hours: int
    term: str
    spot_mode: str
    spot_max_share: float
    units: dict[str, str]  # model -> "sequences" or "milli_requests_per_s"
    offers: tuple[TieredOffer, ...]
    committed: dict[str, int]
    hours: tuple[HourPlan, ...]
    bound_usd_per_month: float
    solve_seconds: float
    solver: dict[str, Any] = field(default_factory=dict)
    comparisons: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def month_factor(self) -> float:
        """Months are 730 hours: a period's cost times 730 / period hours."""
        return HOURS_PER_MONTH / self.period_hours

    def cost_parts_usd_per_month(self) -> dict[str, float]:
        price = {o.id: o for o in self.offers}
        parts = dict.fromkeys(KINDS, 0.0)
        for h in self.hours:
            for oid, kinds in h.instances.items():
                for kind, n in kinds.items():
                    parts[kind] += n * _price(price[oid], kind)
        return {k: v * self.month_factor for k, v in parts.items()}

    @property
    def cost_usd_per_month(self) -> float:
        return sum(self.cost_parts_usd_per_month().values())

    @property
    def gap(self) -> float:
        c = self.cost_usd_per_month
        return 0.0 if c <= 0 else max(0.0, (c - self.bound_usd_per_month) / c)

    def gpus(self, h: HourPlan, kind: str) -> int:
        n = {o.id: o.gpus_per_instance for o in self.offers}
        return sum(k.get(kind, 0) * n[oid] for oid, k in h.instances.items())

    def to_dict(self, reproducible: bool = False) -> dict[str, Any]:
        parts = self.cost_parts_usd_per_month()
        return {
            "scenario": self.scenario, "status": self.status, "searched": self.searched,
            "period_hours": self.period_hours, "term": self.term,
            "spot": {"mode": self.spot_mode, "max_share": self.spot_max_share},
            "cost_usd_per_month": {"total": round(sum(parts.values()), 2),
                                   **{k: round(v, 2) for k, v in parts.items()}},
            "bound_usd_per_month": round(self.bound_usd_per_month, 2), "gap": round(self.gap, 6),
            "committed": dict(sorted(self.committed.items())),
            "offers": [{"id": o.id, "gpu": o.gpu, "gpus_per_instance": o.gpus_per_instance,
                        "on_demand_usd_per_hour": o.on_demand_usd_per_hour,
                        "committed_usd_per_hour": o.committed_usd_per_hour, "committed_basis": o.committed_basis,
                        "spot_usd_per_hour": o.spot_list_usd_per_hour, "spot_planned_usd_per_hour":
                            None if o.spot_usd_per_hour is None else round(o.spot_usd_per_hour, 6),
                        "spot_interruption_rate": o.interruption_rate}
                       for o in self.offers if any(oid == o.id for h in self.hours for oid in h.instances)],
            "schedule": [
                {"hour": h.hour, "instances": h.instances,
                 "gpus": {k: self.gpus(h, k) for k in KINDS},
                 "replicas": [{"model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "firm": r.firm, "spot": r.spot}
                              for r in h.replicas],
                 "demand_units": h.demand, "capacity_units": {k: round(v, 3) for k, v in h.capacity.items()},
                 "cost_usd_per_hour": round(h.cost_usd_per_hour, 4)}
                for h in self.hours
            ],
            "units": self.units,
            "comparisons": self.comparisons,
            "solve_seconds": 0.0 if reproducible else round(self.solve_seconds, 3),
            "solver": {k: v for k, v in self.solver.items()
                       if not reproducible or k in ("solver", "status", "variables", "constraints", "slots")},
            "notes": list(self.notes),
        }

    def autoscaler_rows(self) -> list[dict[str, Any]]:
        """Per-hour replica targets (hour, model, gpu, tp, pp, replicas): what an autoscaler reads."""
        return [{"hour": h.hour, "model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "replicas": r.replicas}
                for h in self.hours for r in h.replicas]


def _price(o: TieredOffer, kind: str) -> float:
    p = {"committed": o.committed_usd_per_hour, "on_demand": o.on_demand_usd_per_hour, "spot": o.spot_usd_per_hour}[kind]
    if p is None:
        raise ValueError(f"offer {o.id} has no {kind} price")
    return p


# ---- the checker -------------------------------------------------------------------------------------------------

def check_schedule(sp: SchedulePlan, scenario: Scenario, cs: CandidateSet) -> list[str]:
    """Every hour: demand recomputed from the profile, capacity >= demand, minimum replicas, every TP group placed in
    an instance of its pool (first-fit decreasing), instance counts, the spot cap, limits; then the cost recomputed."""
    assert scenario.profile is not None and scenario.commitment is not None
    c = scenario.commitment
    offers = {o.id: o for o in tiered_offers(scenario.catalog, scenario.gpu_ids, scenario.providers, scenario.limits, c)}
    caps = {(x.model, x.gpu, x.tp, x.pp): x.capacity_units for x in cs.candidates if not x.over}
    problems: list[str] = []
    if len(sp.hours) != scenario.profile.period_hours:
        problems.append(f"{len(sp.hours)} hours scheduled; the profile has {scenario.profile.period_hours}")
    for h in sp.hours:
        problems += _check_counts(sp, h, offers)
        problems += _check_demand(sp, h, scenario, offers, caps)
        problems += _check_packing(h, offers)
        problems += _check_spot_cap(h, offers, c.spot_max_share)
        problems += _check_limits(h, offers, scenario.limits)
        problems += _check_hour_cost(h, offers)
    problems += _check_cost(sp, offers)
    return problems


def _check_counts(sp: SchedulePlan, h: HourPlan, offers: dict[str, TieredOffer]) -> list[str]:
    out = []
    for oid, kinds in h.instances.items():
        if oid not in offers:
            out.append(f"hour {h.hour}: unknown offer {oid}")
            continue
        for kind, n in kinds.items():
            if kind not in KINDS or not isinstance(n, int) or n < 0:
                out.append(f"hour {h.hour}: {oid} {kind}: {n!r} is not a count of a pricing kind")
        if kinds.get("committed", 0) != sp.committed.get(oid, 0):
            out.append(f"hour {h.hour}: {oid} runs {kinds.get('committed', 0)} committed, the commitment is "
                       f"{sp.committed.get(oid, 0)}")
        if kinds.get("spot", 0) and offers[oid].spot_usd_per_hour is None:
            out.append(f"hour {h.hour}: {oid} has no spot price but runs spot")
        if kinds.get("committed", 0) and offers[oid].committed_usd_per_hour is None:
            out.append(f"hour {h.hour}: {oid} has no committed price but is committed")
    for oid, n in sp.committed.items():
        if n and oid not in h.instances:
            out.append(f"hour {h.hour}: committed {oid} missing")
    return out


def _availability(gpu: str, offers: dict[str, TieredOffer]) -> int:
    rates = [o.interruption_rate for o in offers.values() if o.gpu == gpu and o.spot_usd_per_hour is not None]
    return round(MILLI * (1 - max(rates))) if rates else 0


def _check_demand(sp: SchedulePlan, h: HourPlan, s: Scenario, offers: dict[str, TieredOffer],
                  caps: dict[tuple[str, str, int, int], int]) -> list[str]:
    assert s.profile is not None and s.commitment is not None
    out = []
    expected = s.commitment.spot_mode == "expected"
    for m in s.models:
        target, _ = demand_units(m)
        need = s.profile.demand_units(m.name, target)[h.hour]
        if h.demand.get(m.name) != need:
            out.append(f"hour {h.hour}: {m.name}: demand {h.demand.get(m.name)} stated, {need} from the profile")
        held_milli = 0
        reps = 0
        for r in h.replicas:
            if r.model != m.name:
                continue
            cap = caps.get((r.model, r.gpu, r.tp, r.pp))
            if cap is None:
                out.append(f"hour {h.hour}: {m.name} on {r.gpu} TP{r.tp} PP{r.pp} is not a candidate")
                continue
            a = _availability(r.gpu, offers) if expected else MILLI
            held_milli += MILLI * cap * r.firm + a * cap * r.spot
            reps += r.firm + r.spot
        if held_milli < MILLI * need:
            out.append(f"hour {h.hour}: {m.name} holds {held_milli / MILLI:g} units, demand {need}")
        if need > 0 and reps < m.min_replicas:
            out.append(f"hour {h.hour}: {m.name} runs {reps} replicas, minimum {m.min_replicas}")
        if abs(h.capacity.get(m.name, 0.0) - held_milli / MILLI) > 1e-6:
            out.append(f"hour {h.hour}: {m.name}: capacity {h.capacity.get(m.name)} stated, {held_milli / MILLI:g} recomputed")
    return out


def _check_packing(h: HourPlan, offers: dict[str, TieredOffer]) -> list[str]:
    """Every replica (all its pipeline stages, TP x PP GPUs: schedules plan no pipeline across instances) fits in one
    instance of its pool, first-fit decreasing (power-of-two groups: exact)."""
    out = []
    for pool, kinds in (("firm", ("committed", "on_demand")), ("spot", ("spot",))):
        for gpu in sorted({r.gpu for r in h.replicas}):
            free = sorted((offers[oid].gpus_per_instance for oid, k in h.instances.items() if offers[oid].gpu == gpu
                           for kind in kinds for _ in range(k.get(kind, 0))), reverse=True)
            groups = sorted((r.tp * r.pp for r in h.replicas if r.gpu == gpu
                             for _ in range(r.firm if pool == "firm" else r.spot)), reverse=True)
            for g in groups:
                i = next((j for j, f in enumerate(free) if f >= g), None)
                if i is None:
                    out.append(f"hour {h.hour}: {pool} {gpu}: a group of {g} GPUs has no instance with room")
                    break
                free[i] -= g
    return out


def _check_spot_cap(h: HourPlan, offers: dict[str, TieredOffer], cap: float) -> list[str]:
    total = spot = 0
    for oid, kinds in h.instances.items():
        n = offers[oid].gpus_per_instance
        total += n * sum(kinds.values())
        spot += n * kinds.get("spot", 0)
    if MILLI * spot > round(cap * MILLI) * total:
        return [f"hour {h.hour}: {spot} of {total} GPUs on spot, above the cap of {cap:.0%}"]
    return []


def _check_limits(h: HourPlan, offers: dict[str, TieredOffer], limits: dict[str, int]) -> list[str]:
    out = []
    for key, lim in sorted(limits.items()):
        used = sum((offers[oid].gpus_per_instance if offers[oid].gpu == key else 1) * sum(k.values())
                   for oid, k in h.instances.items() if offers[oid].gpu == key or oid == key)
        if used > lim:
            out.append(f"hour {h.hour}: {key}: {used} used, limit {lim}")
    return out


def _listed_price(o: TieredOffer, kind: str) -> float:
    """The offer's price of a kind; 0 when it has none (``_check_counts`` reports that kind as a problem)."""
    p = {"committed": o.committed_usd_per_hour, "on_demand": o.on_demand_usd_per_hour, "spot": o.spot_usd_per_hour}[kind]
    return 0.0 if p is None else p


def _check_hour_cost(h: HourPlan, offers: dict[str, TieredOffer]) -> list[str]:
    cost = sum(n * _listed_price(offers[oid], kind) for oid, k in h.instances.items() for kind, n in k.items() if n)
    if not math.isclose(cost, h.cost_usd_per_hour, rel_tol=1e-9, abs_tol=1e-6):
        return [f"hour {h.hour}: cost {h.cost_usd_per_hour} stated, {cost} recomputed"]
    return []


def _check_cost(sp: SchedulePlan, offers: dict[str, TieredOffer]) -> list[str]:
    period = sum(n * _listed_price(offers[oid], kind) for h in sp.hours for oid, k in h.instances.items()
                 for kind, n in k.items() if n)
    monthly = period * HOURS_PER_MONTH / len(sp.hours) if sp.hours else 0.0
    if not math.isclose(monthly, sp.cost_usd_per_month, rel_tol=1e-9, abs_tol=1e-6):
        return [f"cost {sp.cost_usd_per_month} per month stated, {monthly} recomputed"]
    if sp.bound_usd_per_month > monthly + 1e-6:
        return [f"bound {sp.bound_usd_per_month} above the cost {monthly}"]
    return []

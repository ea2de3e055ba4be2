"""Planning over a day or a week, no I/O: scenario with a profile -> candidates -> the multi-period program
(``planner.solve.schedule``) -> an hourly schedule -> its checker, with the peak-flat comparisons."""

from __future__ import annotations

import time
from dataclasses import replace

from planner.candidates.deployments import CandidateSet, build_candidates
from planner.errors import InfeasibleError, InputError
from planner.inputs.commitment import DEFAULT_COMMITMENT, TieredOffer, tiered_offers
from planner.inputs.profiles import DemandProfile
from planner.inputs.scenario import Scenario
from planner.plans.schedule import HourPlan, ReplicaTarget, SchedulePlan, check_schedule
from planner.solve.schedule import MILLI, ScheduleSolution, Slot, cheapest_choice, slots_of, solve_schedule
from planner.units import HOURS_PER_MONTH


class ScheduleCheckError(RuntimeError):
    """The checker rejected a schedule the solver produced: a bug in planner, never printed as a plan."""


def plan_schedule(scenario: Scenario, *, time_limit_s: float | None = None, threads: int | None = None,
                  solver: str = "auto", candidates: CandidateSet | None = None) -> SchedulePlan:
    """The cheapest hourly schedule for a scenario with a profile (or a commitment block), checked."""
    if scenario.pricing != "on_demand":
        raise InputError(f"{scenario.source}: pricing: a profile or commitment plans committed, on-demand and spot "
                         f"capacity itself; set pricing: on_demand (got {scenario.pricing})")
    started = time.perf_counter()
    tl = time_limit_s if time_limit_s is not None else scenario.solver.time_limit_s
    th = threads if threads is not None else scenario.solver.threads
    c = scenario.commitment or DEFAULT_COMMITMENT
    profile = scenario.profile or DemandProfile(24, {m.name: (1.0,) * 24 for m in scenario.models},
                                                {m.name: "flat" for m in scenario.models})
    scenario = replace(scenario, profile=profile, commitment=c)
    cs = candidates or build_candidates(scenario)
    cs = replace(cs, scenario=scenario)
    _require_dedicated(cs)
    offers = tiered_offers(scenario.catalog, scenario.gpu_ids, scenario.providers, scenario.limits, c)
    hourly = {m.name: profile.demand_units(m.name, cs.demand[m.name]) for m in scenario.models}
    slots = slots_of(hourly)
    peak = Slot(hours=(0,), demand={m: max(v) for m, v in hourly.items()})

    def run(offers: list[TieredOffer], slots: list[Slot], hours: int, share: float, part: float,
            hint: dict[str, str] | None = None) -> ScheduleSolution:
        return solve_schedule(cs, offers, slots, hours, spot_mode=c.spot_mode, spot_max_share=share,
                              time_limit_s=max(1.0, tl * part), threads=th, solver=solver, hint=hint,
                              budget_usd_per_hour=scenario.max_usd_per_hour)

    on_demand = [replace(o, committed_usd_per_hour=None, spot_usd_per_hour=None) for o in offers]
    flat = run(on_demand, [peak], 1, 0.0, 0.15)
    committed_all = [replace(o, on_demand_usd_per_hour=o.committed_usd_per_hour or o.on_demand_usd_per_hour,
                             committed_usd_per_hour=None, spot_usd_per_hour=None) for o in offers]
    allc = run(committed_all, [peak], 1, 0.0, 0.1)
    left = (tl - (time.perf_counter() - started)) / tl  # the schedule gets the rest of the limit
    sol = run(offers, slots, profile.period_hours, c.spot_max_share, left, cheapest_choice(flat))
    sp = _schedule_plan(scenario, cs, offers, slots, sol, profile.period_hours)
    sp = replace(sp, comparisons=_comparisons(sp, flat, allc), notes=_notes(cs, sp))
    problems = check_schedule(sp, scenario, cs)
    if problems:
        raise ScheduleCheckError("the schedule failed the independent checker: " + "; ".join(problems[:5]))
    return sp


def _require_dedicated(cs: CandidateSet) -> None:
    """Every model needs a dedicated candidate: the schedule does not model device sharing."""
    missing = [m.name for m in cs.scenario.models if not cs.for_model(m.name)]
    if missing:
        raise InfeasibleError(f"{len(missing)} model(s) have no dedicated deployment, and hourly schedules do not model "
                              f"device sharing: {', '.join(missing)}")


def _schedule_plan(s: Scenario, cs: CandidateSet, offers: list[TieredOffer], slots: list[Slot], sol: ScheduleSolution,
                   period_hours: int) -> SchedulePlan:
    """The solution expanded from slots to hours."""
    assert s.commitment is not None
    by_id = {o.id: o for o in offers}
    cands = {c.key: c for c in cs.candidates}
    hours: list[HourPlan | None] = [None] * period_hours
    expected = s.commitment.spot_mode == "expected"
    avail = {g: _availability(g, offers) for g in {o.gpu for o in offers}}
    for i, slot in enumerate(slots):
        inst: dict[str, dict[str, int]] = {}
        for oid, n in sol.committed.items():
            inst.setdefault(oid, {})["committed"] = n
        for kind, vals in (("on_demand", sol.on_demand[i]), ("spot", sol.spot[i])):
            for oid, n in vals.items():
                inst.setdefault(oid, {})[kind] = n
        reps = []
        for key in sorted(set(sol.firm_replicas[i]) | set(sol.spot_replicas[i])):
            c = cands[key]
            reps.append(ReplicaTarget(c.model, c.gpu, c.tp, c.pp, c.capacity_units, sol.firm_replicas[i].get(key, 0),
                                      sol.spot_replicas[i].get(key, 0)))
        cap = {m.name: 0.0 for m in s.models}
        for r in reps:
            a = avail[r.gpu] if expected else MILLI
            cap[r.model] += (MILLI * r.capacity_units * r.firm + a * r.capacity_units * r.spot) / MILLI
        cost = sum(n * _kind_price(by_id[oid], kind) for oid, k in inst.items() for kind, n in k.items())
        for h in slot.hours:
            hours[h] = HourPlan(hour=h, instances=dict(sorted(inst.items())), replicas=tuple(reps),
                                demand=dict(slot.demand), capacity=cap, cost_usd_per_hour=cost)
    searched = ("dedicated replicas (device sharing is not modelled in hourly schedules)" if cs.patterns
                else "every dedicated deployment (no device-sharing pattern applies)")
    return SchedulePlan(
        scenario=s.name, status=sol.status, searched=searched, period_hours=period_hours, term=s.commitment.term,
        spot_mode=s.commitment.spot_mode, spot_max_share=s.commitment.spot_max_share, units=dict(cs.unit),
        offers=tuple(offers), committed=dict(sol.committed), hours=tuple(h for h in hours if h is not None),
        bound_usd_per_month=sol.bound_usd_per_period * HOURS_PER_MONTH / period_hours, solve_seconds=sol.solve_seconds,
        solver=sol.stats)


def _availability(gpu: str, offers: list[TieredOffer]) -> int:
    rates = [o.interruption_rate for o in offers if o.gpu == gpu and o.spot_usd_per_hour is not None]
    return round(MILLI * (1 - max(rates))) if rates else 0


def _kind_price(o: TieredOffer, kind: str) -> float:
    p = {"committed": o.committed_usd_per_hour, "on_demand": o.on_demand_usd_per_hour, "spot": o.spot_usd_per_hour}[kind]
    assert p is not None
    return p


def _comparisons(sp: SchedulePlan, flat: ScheduleSolution, allc: ScheduleSolution) -> dict:
    """Peak-flat provisioning (every model at its peak, every hour): all on demand, and all committed."""
    cost = sp.cost_usd_per_month
    out = {}
    for name, sol in (("peak_flat_on_demand", flat), ("all_committed_at_peak", allc)):
        month = sol.cost_usd_per_period * HOURS_PER_MONTH
        out[name] = {"cost_usd_per_month": round(month, 2), "status": sol.status,
                     "instances": dict(sorted(sol.on_demand[0].items())),
                     "savings": round(1 - cost / month, 6) if month > 0 else 0.0}
    return out


def _notes(cs: CandidateSet, sp: SchedulePlan) -> tuple[str, ...]:
    notes = []
    if cs.patterns:
        notes.append("device sharing is not modelled in hourly schedules: the schedule is optimal over dedicated "
                     "replicas only, and a single-period plan with sharing may be cheaper at some hours")
    if sp.spot_max_share > 0:
        notes.append(f"spot counts {'at its expected availability' if sp.spot_mode == 'expected' else 'fully, with on-demand fallback priced in'}"
                     f" (interruption rates: the AWS Spot Advisor bucket's upper edge, else the scenario's assumption)")
    uncommitted = sorted({o.id for o in sp.offers if o.committed_usd_per_hour is None})
    if uncommitted and sp.term != "none":
        notes.append(f"{len(uncommitted)} offer(s) have no public {sp.term} commitment price and can only be rented; "
                     "state commitment.discounts to plan them")
    return tuple(notes)

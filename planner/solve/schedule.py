"""The multi-period integer program: what to commit to, and what to rent by the hour (on demand or spot), so that
every hour of a day or a week is served at the lowest monthly cost.

Notation
    h in H          hours of the period (24 or 168); hours with the same demand vector form one slot s with w_s hours
    s in S          slots; D_ms demand of model m in slot s (ceil(target_m x f_mh), ``planner.inputs.profiles``)
    m in M          models; r_m minimum replicas (in slots with D_ms > 0; none when D_ms = 0)
    k in K_m        dedicated candidates of model m: GPU type g_k, TP t_k, PP p_k, capacity c_k per replica
    o in O          offers: GPU type g_o, n_o GPUs per instance, prices per instance-hour: committed P^c_o (if any),
                    on-demand P^d_o, spot P^e_o (if any; the fallback blend in fallback mode, planner.inputs.commitment)
    a_g             per-mille availability of spot on GPU type g: 1000 (1 - max_o r_o) over its spot offers
    sigma           spot cap: the largest share of an hour's GPUs that may run on spot (per mille)

Variables (per-hour variables only where needed: x and z only for slots where the model has demand, z and e only
for GPU types with a spot price when sigma > 0, c only for offers with a committed price)
    c_o   in Z>=0   committed instances of offer o, paid for every hour
    d_os  in Z>=0   on-demand instances of offer o in slot s
    e_os  in Z>=0   spot instances of offer o in slot s
    x_ks  in Z>=0   replicas of candidate k in slot s on committed or on-demand instances ("firm")
    z_ks  in Z>=0   replicas of candidate k in slot s on spot instances

Objective: the period's cost in micro-USD (times 730 / |H| for a month)
    min  |H| sum_o P^c_o c_o  +  sum_s w_s sum_o (P^d_o d_os + P^e_o e_os)

Constraints (every slot s)
    (1) demand     expected mode: sum_k 1000 c_k x_ks + sum_k a_{g_k} c_k z_ks >= 1000 D_ms
                   fallback mode: sum_k c_k (x_ks + z_ks) >= D_ms                                    for all m
    (2) replicas   sum_k (x_ks + z_ks) >= r_m                                                for all m with D_ms > 0
    (3) firm packing   sum_{k: g_k = g, t_k >= t} t_k p_k x_ks <= sum_{o: g_o = g} floor(n_o / t) t (c_o + d_os)
    (4) spot packing   sum_{k: g_k = g, t_k >= t} t_k p_k z_ks <= sum_{o: g_o = g} floor(n_o / t) t e_os
                                                                                  for all g, t in T_g (as in formulation)
    (5) spot cap   1000 sum_o n_o e_os <= sigma sum_o n_o (c_o + d_os + e_os)
    (6) limits     sum_{o: g_o = g} n_o (c_o + d_os + e_os) <= L_g,   c_o + d_os + e_os <= L_o
    (7) budget     sum_o (P^c_o c_o + P^d_o d_os + P^e_o e_os) <= B (the scenario's USD per hour, every hour)

(3) and (4) are exact for the reason the single-period program's (4) is: power-of-two TP groups, first-fit
decreasing. Device sharing is not modelled here: the schedule is optimal over dedicated replicas, and the plan says
so (``planner.pipeline.plan`` adds the note). Merging hours with equal demand vectors into weighted slots is exact
(the slots' variables would be equal in some optimum anyway). The warm start is the single-period plan at each
model's peak, replicated per slot at the slot's demand.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from planner.candidates.deployments import Candidate, CandidateSet
from planner.errors import InfeasibleError, InputError, SolveTimeoutError, not_one_of
from planner.inputs.commitment import TieredOffer
from planner.solve.backends import SOLVERS, LinearModel, choose_backend, run_backend

PRICE_SCALE = 1_000_000  # the objective counts cost in micro-USD (catalog prices have at most 6 decimals)
MILLI = 1000  # availability and the spot cap in per mille

Terms = list[tuple[int, int]]


@dataclass(frozen=True)
class Slot:
    """Hours of the period with one demand vector."""

    hours: tuple[int, ...]
    demand: dict[str, int]  # model -> demand units

    @property
    def weight(self) -> int:
        return len(self.hours)


def slots_of(hourly: dict[str, tuple[int, ...]]) -> list[Slot]:
    """Hours merged by equal demand vectors, in order of their first hour."""
    models = sorted(hourly)
    n = len(next(iter(hourly.values())))
    groups: dict[tuple[int, ...], list[int]] = {}
    for h in range(n):
        groups.setdefault(tuple(hourly[m][h] for m in models), []).append(h)
    return [Slot(tuple(hs), dict(zip(models, key, strict=True))) for key, hs in groups.items()]


@dataclass(frozen=True)
class ScheduleSolution:
    status: str  # optimal | feasible
    committed: dict[str, int]  # offer -> c_o
    on_demand: tuple[dict[str, int], ...]  # per slot: offer -> d_os
    spot: tuple[dict[str, int], ...]  # per slot: offer -> e_os
    firm_replicas: tuple[dict[str, int], ...]  # per slot: candidate key -> x_ks
    spot_replicas: tuple[dict[str, int], ...]  # per slot: candidate key -> z_ks
    cost_usd_per_period: float
    bound_usd_per_period: float
    solve_seconds: float
    stats: dict[str, Any]


class ScheduleModel:
    """The integer program of the module doc: variables, then one ``_add_<constraint>`` per family."""

    def __init__(self, cs: CandidateSet, offers: list[TieredOffer], slots: list[Slot], period_hours: int, *,
                 spot_mode: str, spot_max_share: float, limits: dict[str, int],
                 budget_usd_per_hour: float | None) -> None:
        self.cs, self.offers, self.slots, self.H = cs, offers, slots, period_hours
        self.mode, self.sigma = spot_mode, round(spot_max_share * MILLI)
        self.limits, self.budget = limits, budget_usd_per_hour
        self.models = list(cs.scenario.models)
        self.req = {m.name: m for m in self.models}
        gpus = {o.gpu for o in offers}
        # pipelines across instances are not scheduled (their stages bind to one fabric offer): one-instance only
        self.by_model: dict[str, list[Candidate]] = {m.name: [c for c in cs.for_model(m.name)
                                                              if c.gpu in gpus and not c.over] for m in self.models}
        self.gpu_types = sorted(gpus)
        self.offers_of = {g: [o for o in offers if o.gpu == g] for g in self.gpu_types}
        self.avail = {g: self._availability(g) for g in self.gpu_types}
        self.lm = LinearModel()
        self._variables()
        for s in range(len(slots)):
            self._add_demand(s)
            self._add_min_replicas(s)
            self._add_firm_packing(s)
            self._add_spot_packing(s)
            self._add_spot_cap(s)
            self._add_limits(s)
            self._add_budget(s)
        self._set_objective()

    def _availability(self, g: str) -> int | None:
        """a_g per mille, or None when GPU type g has no spot (no spot price, or sigma = 0)."""
        spot = [o for o in self.offers_of[g] if o.spot_usd_per_hour is not None]
        if not spot or self.sigma == 0:
            return None
        return round(MILLI * (1 - max(o.interruption_rate for o in spot)))

    # ---- variables --------------------------------------------------------------------------------------------------
    def _variables(self) -> None:
        lm = self.lm
        self.x: list[dict[str, int]] = []
        self.z: list[dict[str, int]] = []
        for s, slot in enumerate(self.slots):
            xs, zs = {}, {}
            for m in self.models:
                d = slot.demand[m.name]
                if d <= 0:
                    continue
                for c in self.by_model[m.name]:
                    xs[c.key] = lm.var(f"x[{c.key},{s}]", math.ceil(d / c.capacity_units) + m.min_replicas)
                    a = self.avail[c.gpu]
                    if a:
                        per = c.capacity_units * (a if self.mode == "expected" else MILLI)
                        zs[c.key] = lm.var(f"z[{c.key},{s}]", math.ceil(MILLI * d / per) + m.min_replicas)
            self.x.append(xs)
            self.z.append(zs)
        self.d: list[dict[str, int]] = []
        self.e: list[dict[str, int]] = []
        peak: dict[str, int] = {}
        for s in range(len(self.slots)):
            firm = self._gpu_need(self.x[s])
            spot = self._gpu_need(self.z[s])
            ds, es = {}, {}
            for o in self.offers:
                ub = math.ceil(firm.get(o.gpu, 0) / o.gpus_per_instance)
                ds[o.id] = lm.var(f"d[{o.id},{s}]", self._capped(o, ub))
                peak[o.id] = max(peak.get(o.id, 0), ub)
                if o.spot_usd_per_hour is not None and self.avail[o.gpu]:
                    es[o.id] = lm.var(f"e[{o.id},{s}]", self._capped(o, math.ceil(spot.get(o.gpu, 0) / o.gpus_per_instance)))
            self.d.append(ds)
            self.e.append(es)
        self.c = {o.id: lm.var(f"c[{o.id}]", self._capped(o, peak.get(o.id, 0)))
                  for o in self.offers if o.committed_usd_per_hour is not None}

    def _gpu_need(self, reps: dict[str, int]) -> dict[str, int]:
        need: dict[str, int] = {}
        for key, v in reps.items():
            c = self.cand(key)
            need[c.gpu] = need.get(c.gpu, 0) + c.gpus * self.lm.vars[v].ub
        return need

    @staticmethod
    def _capped(o: TieredOffer, ub: int) -> int:
        return ub if o.max_instances is None else min(ub, o.max_instances)

    def cand(self, key: str) -> Candidate:
        if not hasattr(self, "_cands"):
            self._cands = {c.key: c for cs in self.by_model.values() for c in cs}
        return self._cands[key]

    # ---- the problem's quantities ------------------------------------------------------------------------------------
    def held_units(self, s: int, model: str) -> Terms:
        """Demand units model m holds in slot s (expected mode: per mille, spot at a_g)."""
        terms: Terms = []
        scale = MILLI if self.mode == "expected" else 1
        for c in self.by_model[model]:
            if c.key in self.x[s]:
                terms.append((c.capacity_units * scale, self.x[s][c.key]))
            if c.key in self.z[s]:
                a = self.avail[c.gpu] or 0
                terms.append((c.capacity_units * (a if self.mode == "expected" else 1), self.z[s][c.key]))
        return terms

    def instances(self, s: int, o: TieredOffer, kinds: str = "cde") -> Terms:
        """Instances of offer o running in slot s, of the pricing kinds asked (c committed, d on-demand, e spot)."""
        terms: Terms = []
        if "c" in kinds and o.id in self.c:
            terms.append((1, self.c[o.id]))
        if "d" in kinds:
            terms.append((1, self.d[s][o.id]))
        if "e" in kinds and o.id in self.e[s]:
            terms.append((1, self.e[s][o.id]))
        return terms

    def groups_at_least(self, reps: dict[str, int], g: str, t: int) -> Terms:
        """GPUs of type g in groups of size >= t among the replicas ``reps`` (a replica's stages share one instance:
        schedules plan no pipeline across instances)."""
        return [(c.gpus, v) for key, v in reps.items() if (c := self.cand(key)).gpu == g and c.group_gpus >= t]

    def usable_for(self, s: int, g: str, t: int, kinds: str) -> Terms:
        """GPUs of type g that groups of size t can use: sum_o floor(n_o / t) t (instances of the kinds)."""
        return [((o.gpus_per_instance // t) * t, v) for o in self.offers_of[g] for _, v in self.instances(s, o, kinds)]

    def tp_sizes(self, s: int, g: str) -> list[int]:
        return sorted({1} | {self.cand(k).group_gpus for k in (*self.x[s], *self.z[s]) if self.cand(k).gpu == g})

    # ---- constraints --------------------------------------------------------------------------------------------------
    def _add_demand(self, s: int) -> None:
        """(1) Every model's replicas hold the slot's demand (spot at its availability in expected mode)."""
        scale = MILLI if self.mode == "expected" else 1
        for m in self.models:
            d = self.slots[s].demand[m.name]
            if d > 0:
                self.lm.add(self.held_units(s, m.name), lo=d * scale)

    def _add_min_replicas(self, s: int) -> None:
        """(2) A model with demand in the slot runs at least its minimum replicas."""
        for m in self.models:
            if self.slots[s].demand[m.name] > 0:
                reps = [(1, v) for c in self.by_model[m.name] for v in (self.x[s].get(c.key), self.z[s].get(c.key))
                        if v is not None]
                self.lm.add(reps, lo=m.min_replicas)

    def _add_firm_packing(self, s: int) -> None:
        """(3) Firm replicas' TP groups fit in the committed and on-demand instances, for every TP size."""
        for g in self.gpu_types:
            for t in self.tp_sizes(s, g):
                have = [(-n, v) for n, v in self.usable_for(s, g, t, "cd")]
                self.lm.add(self.groups_at_least(self.x[s], g, t) + have, hi=0)

    def _add_spot_packing(self, s: int) -> None:
        """(4) Spot replicas' TP groups fit in the spot instances, for every TP size."""
        for g in self.gpu_types:
            if self.avail[g] is None:
                continue
            for t in self.tp_sizes(s, g):
                have = [(-n, v) for n, v in self.usable_for(s, g, t, "e")]
                self.lm.add(self.groups_at_least(self.z[s], g, t) + have, hi=0)

    def _add_spot_cap(self, s: int) -> None:
        """(5) Spot GPUs are at most sigma per mille of the slot's GPUs."""
        if not self.e[s]:
            return
        terms = [((MILLI - self.sigma) * o.gpus_per_instance, self.e[s][o.id]) for o in self.offers if o.id in self.e[s]]
        terms += [(-self.sigma * o.gpus_per_instance, v) for o in self.offers for _, v in self.instances(s, o, "cd")]
        self.lm.add(terms, hi=0)

    def _add_limits(self, s: int) -> None:
        """(6) At most L_g GPUs of a type and L_o instances of an offer in every slot."""
        for key, lim in sorted(self.limits.items()):
            if key in self.offers_of:
                self.lm.add([(o.gpus_per_instance, v) for o in self.offers_of[key] for _, v in self.instances(s, o)], hi=lim)
            else:
                for o in self.offers:
                    if o.id == key:
                        self.lm.add(self.instances(s, o), hi=lim)

    def _add_budget(self, s: int) -> None:
        """(7) Every hour's cost stays within the scenario's budget."""
        if self.budget is not None:
            self.lm.add(self.hourly_cost(s), hi=math.floor(self.budget * PRICE_SCALE))

    def hourly_cost(self, s: int) -> Terms:
        """The cost of one hour of slot s in micro-USD."""
        terms: Terms = []
        for o in self.offers:
            if o.id in self.c:
                terms.append((_scaled(o.committed_usd_per_hour), self.c[o.id]))
            terms.append((_scaled(o.on_demand_usd_per_hour), self.d[s][o.id]))
            if o.id in self.e[s]:
                terms.append((_scaled(o.spot_usd_per_hour), self.e[s][o.id]))
        return terms

    def _set_objective(self) -> None:
        """The period's cost: committed instances for every hour, the rest weighted by their slot's hours."""
        obj: dict[int, int] = {}
        for o in self.offers:
            if o.id in self.c:
                obj[self.c[o.id]] = self.H * _scaled(o.committed_usd_per_hour)
            for s, slot in enumerate(self.slots):
                obj[self.d[s][o.id]] = slot.weight * _scaled(o.on_demand_usd_per_hour)
                if o.id in self.e[s]:
                    obj[self.e[s][o.id]] = slot.weight * _scaled(o.spot_usd_per_hour)
        self.lm.objective = obj

    # ---- warm start and answers ---------------------------------------------------------------------------------------
    def add_hint(self, choice: dict[str, str]) -> None:
        """Firm replicas of one candidate per model (``choice``: model -> candidate key), each slot at its demand, on
        the cheapest per-GPU on-demand offer of the type holding the largest group, with the commitment that minimises
        the cost of those instance counts."""
        counts: dict[str, list[int]] = {}
        for s, slot in enumerate(self.slots):
            gpus: dict[str, tuple[int, int]] = {}  # gpu -> (GPUs, largest group)
            for v in self.x[s].values():
                self.lm.hint[v] = 0
            for name, key in sorted(choice.items()):
                d = slot.demand[name]
                if d <= 0 or key not in self.x[s]:
                    continue
                c = self.cand(key)
                n = max(self.req[name].min_replicas, math.ceil(d / c.capacity_units))
                self.lm.hint[self.x[s][key]] = n
                used, big = gpus.get(c.gpu, (0, 0))
                gpus[c.gpu] = (used + n * c.gpus, max(big, c.group_gpus))
            for o in self.offers:
                counts.setdefault(o.id, []).append(0)
            for g, (used, big) in gpus.items():
                fits = [o for o in self.offers_of[g] if o.gpus_per_instance >= big]
                if fits:
                    o = min(fits, key=lambda o: (o.on_demand_usd_per_hour / o.gpus_per_instance, o.id))
                    counts[o.id][s] = math.ceil(used / o.gpus_per_instance)
        for o in self.offers:
            committed = self._best_commitment(o, counts[o.id]) if o.id in self.c else 0
            if o.id in self.c:
                self.lm.hint[self.c[o.id]] = committed
            for s in range(len(self.slots)):
                self.lm.hint[self.d[s][o.id]] = max(0, counts[o.id][s] - committed)

    def _best_commitment(self, o: TieredOffer, need: list[int]) -> int:
        assert o.committed_usd_per_hour is not None
        pc, pd = o.committed_usd_per_hour, o.on_demand_usd_per_hour

        def cost(c: int) -> float:
            return self.H * pc * c + sum(sl.weight * pd * max(0, n - c) for sl, n in zip(self.slots, need, strict=True))

        return min(sorted({0, *need}), key=lambda c: (cost(c), c))

    def solve(self, time_limit_s: float, threads: int, solver: str, started: float) -> ScheduleSolution:
        if solver not in SOLVERS:
            raise InputError(not_one_of("--solver: ", solver, SOLVERS))
        # measured on scenarios/daily-profile.yaml (627 variables): SCIP proved the optimum in 26 s, CBC in 45 s,
        # CP-SAT (2 workers, before it ran one) stopped at a 3.9 % gap after 45 s; so "auto" is SCIP here
        backend = "scip" if solver == "auto" else choose_backend(solver, self.lm, 0, len(self.lm.vars))
        deadline = started + float(time_limit_s)
        values, status, obj_bound, stats = run_backend(self.lm, backend, deadline, threads, False)
        secs = time.perf_counter() - started
        stats = {"solver": backend, **stats, "wall_seconds": round(secs, 3), "variables": len(self.lm.vars),
                 "constraints": len(self.lm.rows), "slots": len(self.slots)}
        if status == "infeasible":
            raise InfeasibleError("no schedule serves every hour within the scenario's limits, budget and spot cap")
        if status == "unknown":
            raise SolveTimeoutError(f"the solver found no schedule within {time_limit_s:g} s ({len(self.lm.vars)} "
                                    "variables); raise --time-limit")
        return self._solution(values, status, obj_bound, secs, stats)

    def cost_of(self, values: list[int]) -> float:
        """The period's cost in USD at the offers' own prices."""
        total = 0.0
        for o in self.offers:
            if o.id in self.c:
                total += self.H * (o.committed_usd_per_hour or 0.0) * values[self.c[o.id]]
            for s, slot in enumerate(self.slots):
                total += slot.weight * o.on_demand_usd_per_hour * values[self.d[s][o.id]]
                if o.id in self.e[s]:
                    total += slot.weight * (o.spot_usd_per_hour or 0.0) * values[self.e[s][o.id]]
        return total

    def _solution(self, values: list[int], status: str, obj_bound: float | None, secs: float,
                  stats: dict[str, Any]) -> ScheduleSolution:
        def pick(vs: dict[str, int]) -> dict[str, int]:
            return {k: values[v] for k, v in sorted(vs.items()) if values[v]}

        cost = self.cost_of(values)
        # the solver's bound is on prices rounded to micro-USD; never above the plan's own cost
        bound = cost if obj_bound is None else min(cost, max(0.0, obj_bound / PRICE_SCALE))
        return ScheduleSolution(
            status=status, committed=pick(self.c), on_demand=tuple(pick(d) for d in self.d),
            spot=tuple(pick(e) for e in self.e), firm_replicas=tuple(pick(x) for x in self.x),
            spot_replicas=tuple(pick(z) for z in self.z), cost_usd_per_period=cost, bound_usd_per_period=bound,
            solve_seconds=secs, stats=stats)


def _scaled(price: float | None) -> int:
    """A price in micro-USD."""
    assert price is not None
    return round(price * PRICE_SCALE)


def solve_schedule(cs: CandidateSet, offers: list[TieredOffer], slots: list[Slot], period_hours: int, *,
                   spot_mode: str, spot_max_share: float, time_limit_s: float, threads: int = 1, solver: str = "auto",
                   hint: dict[str, str] | None = None, budget_usd_per_hour: float | None = None,
                   limits: dict[str, int] | None = None) -> ScheduleSolution:
    """Build and solve the program of the module doc. Raises InfeasibleError or SolveTimeoutError."""
    started = time.perf_counter()
    sm = ScheduleModel(cs, offers, slots, period_hours, spot_mode=spot_mode, spot_max_share=spot_max_share,
                       limits=dict(cs.scenario.limits if limits is None else limits), budget_usd_per_hour=budget_usd_per_hour)
    if hint:
        sm.add_hint(hint)
    return sm.solve(time_limit_s, threads, solver, started)


def cheapest_choice(peak: ScheduleSolution) -> dict[str, str]:
    """Per model, the candidate holding most of its replicas in the single-period plan at the peak (a warm start)."""
    out: dict[str, str] = {}
    reps = peak.firm_replicas[0] if peak.firm_replicas else {}
    for key, _n in sorted(reps.items(), key=lambda kv: (-kv[1], kv[0])):
        out.setdefault(key.split("|", 1)[0], key)  # candidate keys start with the model name (candidate_key)
    return out

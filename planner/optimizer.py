"""The fleet integer program: the cheapest set of instances and replicas that serves every model.

Notation
    m in M          models of the scenario; D_m demand (sequences, or milli-requests/s); r_m minimum replicas
    k in K_m        candidates of model m: GPU type g_k, TP size t_k, PP size p_k, capacity c_k per replica
    o in O          priced offers: GPU type g_o, n_o GPUs per instance, price pi_o per hour, limit L_o
    g in G          GPU types: limit L_g GPUs; T_g the TP sizes used on g (and 1)
    p in P          sharing patterns: a GPU type g_p and a set S_p of models whose shared engines fit one device

Variables
    x_k   in Z>=0   replicas of candidate k (each on p_k groups of t_k dedicated GPUs)
    y_o   in Z>=0   instances bought of offer o
    s_mg  in {0,1}  model m runs as r_m shared engines on GPU type g (each engine holds its share of D_m)
    u_p   in Z>=0   devices running sharing pattern p

Objective (lexicographic, in one integer objective)
    min  W x sum_o round(1e4 pi_o) y_o  +  sum_o n_o y_o          cost in 1e-4 USD, then fewer GPUs (W > any GPU count)

Constraints
    (1) demand     sum_k c_k x_k + sum_g D_m s_mg >= D_m                                          for all m
    (2) replicas   sum_k x_k + sum_g r_m s_mg >= r_m                                              for all m
    (3) sharing    sum_{p: m in S_p, g_p = g} u_p >= r_m s_mg                                     for all m, g
    (4) packing    sum_{k: g_k = g, t_k >= t} t_k p_k x_k + [t = 1] sum_{p: g_p = g} u_p
                       <= sum_{o: g_o = g} floor(n_o / t) t y_o                                   for all g, t in T_g
    (5) limits     sum_{o: g_o = g} n_o y_o <= L_g,   y_o <= L_o
    (6) budget     sum_o pi_o y_o <= B

Why (4) is exact: TP groups have power-of-two sizes, so groups of size >= t can use floor(n_o / t) t GPUs of an
instance, and when (4) holds for every t, first-fit-decreasing places every group inside one instance (each
instance's free space stays a multiple of the next group's size). ``place`` recovers that placement; PP stages of a
replica are separate groups and may sit in different instances of the same GPU type. Sharing patterns are maximal,
so the ">=" in (3) never costs anything: engines a device does not need are left off it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from .candidates import Candidate, CandidateSet, Pattern
from .errors import InfeasibleError, SolveTimeoutError
from .pricing import PricedOffer

PRICE_SCALE = 10_000  # objective counts cost in 1e-4 USD per hour


@dataclass(frozen=True)
class Solution:
    """What the solver chose, in the problem's words, plus its status and bound."""

    status: str  # optimal | feasible
    replicas: dict[str, int]  # candidate key -> x_k
    instances: dict[str, int]  # offer id -> y_o
    shared: dict[tuple[str, str], int]  # (model, gpu) -> s_mg
    patterns: dict[str, int]  # pattern key -> u_p
    cost_usd_per_hour: float
    bound_usd_per_hour: float
    solve_seconds: float
    stats: dict[str, Any]


class FleetModel:
    """Owns the CP-SAT model and its variables; offers queries in the problem's words."""

    def __init__(self, cs: CandidateSet, *, budget_usd_per_hour: float | None | str = "scenario",
                 limits: dict[str, int] | None = None, gpu_types: set[str] | None = None) -> None:
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        self.cs = cs
        self.m = cp_model.CpModel()
        s = cs.scenario
        self.limits = dict(s.limits if limits is None else limits)
        self.budget = s.max_usd_per_hour if budget_usd_per_hour == "scenario" else budget_usd_per_hour
        keep = gpu_types
        self.cands: list[Candidate] = [c for c in cs.candidates if keep is None or c.gpu in keep]
        self.offers: list[PricedOffer] = [o for o in cs.offers if keep is None or o.gpu in keep]
        self.patterns: list[Pattern] = [p for p in cs.patterns if keep is None or p.gpu in keep]
        self.shared_keys = sorted(k for k in cs.shared if (keep is None or k[1] in keep)
                                  and any(k[0] in p.models and p.gpu == k[1] for p in self.patterns))
        self.models = [m for m in s.models]
        self._variables()
        self._add_demand()
        self._add_min_replicas()
        self._add_sharing()
        self._add_packing()
        self._add_limits()
        self._add_budget()
        self._set_objective()

    # ---- variables ----------------------------------------------------------------------------------------------
    def _variables(self) -> None:
        cs = self.cs
        # replicas of each candidate: never more than demand / capacity + min replicas
        # (upper bounds are kept in Python: reading a variable's proto while adding variables is unsafe in OR-Tools)
        self.x = {}
        self.ub: dict[str, int] = {}
        for c in self.cands:
            m = self._req(c.model)
            ub = math.ceil(cs.demand[c.model] / c.capacity_units) + m.min_replicas
            self.ub[c.key] = ub
            self.x[c.key] = self.m.NewIntVar(0, ub, f"x[{c.key}]")
        # shared-engine mode per (model, GPU type)
        self.s = {k: self.m.NewBoolVar(f"s[{k[0]},{k[1]}]") for k in self.shared_keys}
        # devices per sharing pattern: at most the largest min_replicas among its models
        self.u = {}
        for p in self.patterns:
            self.ub[p.key] = max(self._req(n).min_replicas for n in p.models)
            self.u[p.key] = self.m.NewIntVar(0, self.ub[p.key], f"u[{p.key}]")
        # instances per offer: enough for every GPU the replicas could need
        gpu_need: dict[str, int] = {}
        for c in self.cands:
            gpu_need[c.gpu] = gpu_need.get(c.gpu, 0) + c.gpus * self.ub[c.key]
        for p in self.patterns:
            gpu_need[p.gpu] = gpu_need.get(p.gpu, 0) + self.ub[p.key]
        self.y = {}
        for o in self.offers:
            ub = math.ceil(gpu_need.get(o.gpu, 0) / o.gpus_per_instance)
            if o.max_instances is not None:
                ub = min(ub, o.max_instances)
            self.ub[o.id] = ub
            self.y[o.id] = self.m.NewIntVar(0, ub, f"y[{o.id}]")

    def _req(self, name: str):  # type: ignore[no-untyped-def]
        return next(m for m in self.models if m.name == name)

    # ---- constraints ----------------------------------------------------------------------------------------------
    def _add_demand(self) -> None:
        """(1) Every model's replicas together hold its demand."""
        for m in self.models:
            terms = [c.capacity_units * self.x[c.key] for c in self.cands if c.model == m.name]
            terms += [self.cs.demand[m.name] * self.s[k] for k in self.shared_keys if k[0] == m.name]
            self.m.Add(sum(terms) >= self.cs.demand[m.name])

    def _add_min_replicas(self) -> None:
        """(2) Every model runs at least its minimum number of replicas."""
        for m in self.models:
            terms = [self.x[c.key] for c in self.cands if c.model == m.name]
            terms += [m.min_replicas * self.s[k] for k in self.shared_keys if k[0] == m.name]
            self.m.Add(sum(terms) >= m.min_replicas)

    def _add_sharing(self) -> None:
        """(3) A model in shared mode on a GPU type gets r_m devices whose pattern includes it."""
        for k in self.shared_keys:
            name, gid = k
            devs = [self.u[p.key] for p in self.patterns if p.gpu == gid and name in p.models]
            self.m.Add(sum(devs) >= self._req(name).min_replicas * self.s[k])

    def _add_packing(self) -> None:
        """(4) TP groups of size >= t fit in the instances' GPUs usable by such groups, for every TP size t."""
        for gid in sorted({o.gpu for o in self.offers} | {c.gpu for c in self.cands}):
            cands = [c for c in self.cands if c.gpu == gid]
            offers = [o for o in self.offers if o.gpu == gid]
            for t in sorted({1} | {c.tp for c in cands}):
                need = [c.tp * c.pp * self.x[c.key] for c in cands if c.tp >= t]
                if t == 1:
                    need += [self.u[p.key] for p in self.patterns if p.gpu == gid]
                have = [(o.gpus_per_instance // t) * t * self.y[o.id] for o in offers]
                self.m.Add(sum(need) <= sum(have))

    def _add_limits(self) -> None:
        """(5) At most L_g GPUs of a type and L_o instances of an offer."""
        for key, lim in sorted(self.limits.items()):
            offers = [o for o in self.offers if o.gpu == key]
            if offers:
                self.m.Add(sum(o.gpus_per_instance * self.y[o.id] for o in offers) <= lim)
            elif key in self.y:
                self.m.Add(self.y[key] <= lim)

    def _add_budget(self) -> None:
        """(6) The hourly cost stays within the budget."""
        if self.budget is not None:
            self.m.Add(sum(self._price(o) * self.y[o.id] for o in self.offers) <= int(self.budget * PRICE_SCALE))

    @staticmethod
    def _price(o: PricedOffer) -> int:
        return int(round(o.usd_per_hour * PRICE_SCALE))

    def _set_objective(self) -> None:
        """Minimum cost, then fewer GPUs."""
        self.W = 1 + sum(o.gpus_per_instance * self.ub[o.id] for o in self.offers)
        self.m.Minimize(sum(self.W * self._price(o) * self.y[o.id] + o.gpus_per_instance * self.y[o.id]
                            for o in self.offers))

    # ---- hints and queries ------------------------------------------------------------------------------------------
    def add_hint(self, replicas: dict[str, int], instances: dict[str, int]) -> None:
        for k, v in self.x.items():
            self.m.AddHint(v, replicas.get(k, 0))
        for k, v in self.y.items():
            self.m.AddHint(v, instances.get(k, 0))

    def cost_of(self, instances: dict[str, int]) -> float:
        return sum(o.usd_per_hour * instances.get(o.id, 0) for o in self.offers)

    def solve(self, time_limit_s: float, threads: int = 1, log: bool = False) -> Solution:
        cp = self.cp_model
        solver = cp.CpSolver()
        p = solver.parameters
        p.max_time_in_seconds = float(time_limit_s)
        p.num_workers = int(threads)
        p.random_seed = 0
        if threads == 1:
            p.linearization_level = 2  # an LP bound in the single worker (solver_notes.md: proves 100 models in ~1 s)
        elif threads == 2:
            p.subsolvers.extend(["max_lp", "core"])  # the default 2-worker portfolio has no LP bound (solver_notes.md)
        p.log_search_progress = log
        t0 = time.perf_counter()
        st = solver.Solve(self.m)
        secs = time.perf_counter() - t0
        stats = {"solver": "cp-sat", "status": solver.StatusName(st), "workers": threads,
                 "wall_seconds": round(secs, 3), "variables": len(self.m.Proto().variables),
                 "constraints": len(self.m.Proto().constraints), "branches": solver.NumBranches()}
        if st == cp.INFEASIBLE:
            raise InfeasibleError("no fleet satisfies the scenario (see the explanation)")
        if st == cp.MODEL_INVALID:  # pragma: no cover - a bug in the formulation, not user input
            raise RuntimeError(f"invalid CP-SAT model: {self.m.Validate()}")
        if st not in (cp.OPTIMAL, cp.FEASIBLE):
            raise SolveTimeoutError(
                f"the solver found no plan within {time_limit_s:g} s ({len(self.cands)} candidates, {len(self.offers)} offers, "
                f"{len(self.patterns)} sharing patterns); raise --time-limit"
            )
        y = {k: int(solver.Value(v)) for k, v in self.y.items()}
        cost = self.cost_of(y)
        bound_obj = solver.BestObjectiveBound()
        bound = min(cost, math.floor(bound_obj / self.W) / PRICE_SCALE) if st == cp.FEASIBLE else cost
        return Solution(
            status="optimal" if st == cp.OPTIMAL else "feasible",
            replicas={k: int(solver.Value(v)) for k, v in self.x.items() if solver.Value(v)},
            instances={k: v for k, v in y.items() if v},
            shared={k: int(solver.Value(v)) for k, v in self.s.items() if solver.Value(v)},
            patterns={k: int(solver.Value(v)) for k, v in self.u.items() if solver.Value(v)},
            cost_usd_per_hour=cost, bound_usd_per_hour=max(0.0, bound), solve_seconds=secs, stats=stats,
        )


def solve_fleet(cs: CandidateSet, *, time_limit_s: float, threads: int = 1, hint: tuple[dict, dict] | None = None,
                gpu_types: set[str] | None = None, limits: dict[str, int] | None = None,
                budget_usd_per_hour: float | None | str = "scenario") -> Solution:
    """Build and solve the integer program (module doc). Raises InfeasibleError or SolveTimeoutError."""
    fm = FleetModel(cs, budget_usd_per_hour=budget_usd_per_hour, limits=limits, gpu_types=gpu_types)
    if hint is not None:
        fm.add_hint(*hint)
    return fm.solve(time_limit_s, threads)

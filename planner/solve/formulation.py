"""The fleet integer program: the cheapest set of instances and replicas that serves every model.

Notation
    m in M          models of the scenario; D_m demand (sequences, or milli-requests/s); r_m minimum replicas
    k in K_m        candidates of model m: GPU type g_k, TP size t_k, PP size p_k, capacity c_k per replica; its
                    groups (each inside one instance): one of s_k = t_k p_k GPUs (all stages in one instance), or
                    p_k of s_k = t_k on instances of one fabric offer o_k (stages across instances, K^o)
    o in O          priced offers: GPU type g_o, n_o GPUs per instance, price pi_o per hour, limit L_o
    g in G          GPU types: limit L_g GPUs; T_g the TP sizes used on g (and 1)
    p in P          sharing patterns: a GPU type g_p and engines of c_pm sequences for the models m in S_p, which
                    one device of g_p runs together (``planner.candidates.sharing``: every Pareto-maximal one)

Variables
    x_k   in Z>=0   replicas of candidate k (each on p_k groups of t_k dedicated GPUs)
    y_o   in Z>=0   instances bought of offer o
    u_p   in Z>=0   devices running sharing pattern p (each engine on them is one replica of its model)

Objective (lexicographic, in one integer objective)
    min  W x sum_o pi_o y_o  +  sum_o n_o y_o       cost in micro-dollars (exact), then fewer GPUs (W > any GPU count)

Constraints
    (1) demand     sum_k c_k x_k + sum_{p: m in S_p} c_pm u_p >= D_m                              for all m
    (2) replicas   sum_k x_k + sum_{p: m in S_p} u_p >= r_m       for all m (left out where (1) implies it)
    (4) packing    sum_{k: g_k = g, s_k >= t} t_k p_k x_k + [t = 1] sum_{p: g_p = g} u_p
                       <= sum_{o: g_o = g} floor(n_o / t) t y_o                                   for all g, t in T_g
                   (T_g: the group sizes s_k on g, and 1); on a GPU type with stages across instances, (4b) instead:
    (4b) fabric    v_ot in Z>=0 groups of size t that may sit anywhere (U: the one-instance groups and shared devices)
                   placed on fabric offer o in F_g (the offers some k of K^o uses), G_t the left side of (4) over U:
                       sum_{t' >= t} t' v_ot' + sum_{k in K^o, t_k >= t} t_k p_k x_k <= floor(n_o / t) t y_o   o in F_g
                       G_t - sum_{o in F_g} sum_{t' >= t} t' v_ot' <= sum_{o not in F_g} floor(n_o / t) t y_o
                       sum_{o in F_g} t v_ot <= G_t - G_t+                (t+: the next size of T_g; G above: 0)
    (5) limits     sum_{o: g_o = g} n_o y_o <= L_g,   y_o <= L_o
    (6) budget     sum_o pi_o y_o <= B          prices pi_o and the budget B in integer micro-dollars per hour
    (7) supply     y_o <= A_o                   A_o: the offer's availability (catalog max_instances, or the
                                                scenario's limit for its id); a bound of the variable
    (8) simplicity b_g, a_v in {0, 1}:  sum_{o: g_o = g} y_o <= Y_g b_g,  sum_{o: v_o = v} y_o <= Y_v a_v,
                   sum_g b_g <= max_gpu_types,  sum_v a_v <= max_providers          (Y: the variables' bounds)
    (9) resilience K_m = ceil(keep_m D_m) units model m still serves with one failure domain lost, S_m = the left
                   side of (1):
        replica    w_j in {0, 1}, x_j <= X_j w_j, lambda_m >= c_j w_j for every candidate or pattern j of m,
                   S_m - lambda_m >= K_m
        instance   for every GPU type g and instance size n of g's offers, beta_gn in {0, 1} with y_o <= Y_o beta_gn
                   (o of g with n_o = n); f_j = floor(n / s_j) groups of j fit one such instance (s_j: its group size, a
                   pattern: 1; a replica across instances is lost with any one of its groups);
                   q_j >= min(x_j, f_j) and L_mgn >= min(sum_j c_j q_j, max_{j: w_j = 1} ceil(n c_j / s_j))
                   (binaries pick the branches of each min):
                       S_m - L_mgn >= K_m beta_gn
                   one instance holds at most f_j groups of j, and its n GPUs at most n GPUs at the best rate c_j / s_j
                   of what m runs there, so whatever the placement, losing it removes at most L_mgn of m. A device
                   slot's engine (``planner.solve.slots``: one replica of s_j sequences on one GPU) enters A as the sum
                   of the n largest s_j, n tau + sum_j sigma_j with sigma_j >= s_j - tau, sigma_j >= 0 (exact), and B
                   as n s_j; in (9, replica) as lambda_m >= s_j, in (9, provider) as a unit of s_j
        provider   gamma_gv in {0, 1} with y_o <= Y_o gamma_gv (o of g at provider v), l_mgv >= S_mg - S^_mg
                   (1 - gamma_gv), l >= 0, with S_mg the part of S_m on GPU type g and S^_mg its bound:
                       S_m - sum_g l_mgv >= K_m                                                    for every v
                   a provider's loss takes every replica of a GPU type it sells to the plan

Resilience is counted for the worst placement of the chosen replicas (any placement survives), and a GPU type
bought from two providers counts as lost with either: exact for plans that buy each GPU type from one provider
and whose instances hold groups of one candidate per model, otherwise a restriction the plan's note states.

Why (4) is exact: groups have power-of-two sizes (a one-instance pipeline whose TP x PP is not a power of two is not
a candidate: ``planner.candidates.fabrics``), so groups of size >= t can use floor(n_o / t) t GPUs of an instance,
and when (4) holds for every t, first-fit-decreasing places every group inside one instance (each instance's free
space stays a multiple of the next group's size). (4b) splits the GPU type into the fabric offers and the rest, with
v the groups of U each fabric offer takes: the same argument per part, so (4b) holds exactly when a placement exists.
``place`` recovers that placement (``planner.plans.placement``). Patterns are Pareto-maximal and
the rules are monotone, so an engine larger than needed costs nothing. (There is no constraint (3): a pattern's
engines count directly in (1) and (2).)

GPU types whose patterns ``planner.candidates.sharing`` had to restrict get device slots instead
(``planner.solve.slots.SlotModel``, a subclass adding its variables to the terms below: the whole sharing space). A
bound for a restricted space too large for slots (``relax_sharing``): patterns are replaced by pooled engines per GPU type g, z_mg sequences in e_mg engines over v_g
devices, with z_mg <= csolo_mg e_mg, e_mg <= v_g, sum_m e_mg <= E v_g, sum_m fixed_m e_mg + kv_m z_mg <= usable_g v_g
and sum_m a_mg e_mg + b_mg (z_mg - e_mg) <= 1e6 v_g (a + b (c - 1): a line under an SLO engine's share of the device's time)
(every plan of the whole space satisfies these), so the solver's bound of that program bounds the whole space. With
resilience, (9) is relaxed there to: a model that must survive a failure (K_m > 0) runs >= 2 replicas and serves
>= K_m + 1 units (losing one replica costs at least one unit), which every resilient plan satisfies.

Solvers: the model is built once as rows over integer variables (``planner.solve.backends.LinearModel``) and handed
to CP-SAT or to a MIP solver that OR-Tools bundles (CBC or SCIP via pywraplp; its HiGHS segfaulted on this model).
``solver="auto"`` uses CP-SAT for small fleets and for fleets with many sharing patterns, and CBC for large fleets of
mostly dedicated replicas: on 1,000 models without sharing CBC proved the optimum in 17 s where CP-SAT stopped at a
1.5 % gap after 60 s, and on 100 models with 4,600 sharing patterns CP-SAT proved it in 14 s where CBC stopped at
0.3 % (benchmarks/RESULTS.md). ``planner.solve.backends`` runs them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from planner.candidates.deployments import Candidate, CandidateSet
from planner.candidates.sharing import SHARE_UNITS, Pattern
from planner.errors import InfeasibleError, InputError, SolveTimeoutError, not_one_of
from planner.inputs.pricing import PricedOffer
from planner.solve.backends import SOLVERS, LinearModel, choose_backend, run_backend

__all__ = ["SOLVERS", "FleetModel", "Solution", "solve_fleet"]

from planner.inputs.pricing import MICRO_USD, micro_usd

Terms = list[tuple[int, int]]  # (coefficient, variable index) pairs: a linear expression over the program's variables


@dataclass(frozen=True)
class Solution:
    """What the solver chose, in the problem's words, plus its status and the solver's bound on the cost."""

    status: str  # optimal | feasible
    replicas: dict[str, int]  # candidate key -> x_k
    instances: dict[str, int]  # offer id -> y_o
    patterns: dict[str, int]  # pattern key -> u_p
    cost_usd_per_hour: float
    bound_usd_per_hour: float
    solve_seconds: float
    stats: dict[str, Any]


class FleetModel:
    """Builds the integer program of the module doc: variables, then one ``_add_<constraint>`` per family, each over
    terms named in the problem's words (``served_units``, ``gpus_in_groups``, ...)."""

    def __init__(self, cs: CandidateSet, *, budget_usd_per_hour: float | str | None = "scenario",
                 limits: dict[str, int] | None = None, gpu_types: set[str] | None = None,
                 relax_sharing: bool = False, y_bounds: dict[str, int] | None = None,
                 keep_implied_rows: bool = False) -> None:
        self.cs = cs
        self.keep_implied_rows = keep_implied_rows  # implied rows kept, W from the bounds (column generation's LP)
        self.y_bounds = y_bounds  # instance bounds to use instead of the replicas' needs (planner.solve.colgen)
        self.relax_sharing = relax_sharing
        s = cs.scenario
        self.limits = dict(s.limits if limits is None else limits)
        self.budget = s.max_usd_per_hour if budget_usd_per_hour == "scenario" else budget_usd_per_hour
        keep = gpu_types
        self.cands: list[Candidate] = [c for c in cs.candidates if keep is None or c.gpu in keep]
        self.offers: list[PricedOffer] = [o for o in cs.offers if keep is None or o.gpu in keep]
        self.keep = keep
        self.patterns: list[Pattern] = [p for p in cs.patterns if (keep is None or p.gpu in keep) and not relax_sharing]
        self.patterns_of: dict[str, list[Pattern]] = {}  # model -> the patterns holding an engine of it
        for p in self.patterns:
            for name in p.models:
                self.patterns_of.setdefault(name, []).append(p)
        self.patterns_by_gpu: dict[str, list[Pattern]] = {}
        for p in self.patterns:
            self.patterns_by_gpu.setdefault(p.gpu, []).append(p)
        self.models = list(s.models)
        self.req = {m.name: m for m in self.models}
        self.by_model: dict[str, list[Candidate]] = {m.name: [] for m in self.models}
        self.by_gpu: dict[str, list[Candidate]] = {}
        for c in self.cands:
            self.by_model[c.model].append(c)
            self.by_gpu.setdefault(c.gpu, []).append(c)
        self.lm = LinearModel()
        # rows by (family, model or GPU type): demand and replicas per model, packing at t = 1 per GPU type (the rows
        # a sharing pattern enters: planner.solve.colgen prices patterns against their duals)
        self.row_of: dict[tuple[str, str], int] = {}
        self.pattern_rows: dict[str, list[tuple[int, int]]] = {}  # GPU type -> (row, coefficient) of one shared device
        self.w: dict[int, int] = {}  # variable -> its binary "used" indicator (resilience)
        self._variables()
        self._add_demand()
        self._add_min_replicas()
        self._add_packing()
        self._add_limits()
        self._add_budget()
        self._add_simplicity()
        if relax_sharing:
            self._add_pooled_sharing()
            self._add_relaxed_resilience()  # (9) relaxed: the relaxation stays a bound of the resilient space
        else:
            self._add_replica_resilience()
            self._add_instance_resilience()
            self._add_provider_resilience()
        self._set_objective()

    # ---- variables ----------------------------------------------------------------------------------------------
    def _variables(self) -> None:
        cs, lm = self.cs, self.lm
        # x_k: replicas of candidate k; never more than demand / capacity + min replicas
        self.x = {c.key: lm.var(f"x[{c.key}]", math.ceil(cs.demand[c.model] / c.capacity_units) + self.req[c.model].min_replicas)
                  for c in self.cands}
        # u_p: devices running sharing pattern p; never more than one of its models needs alone
        self.u = {p.key: lm.var(f"u[{p.key}]", max(max(self.req[n].min_replicas, math.ceil(cs.demand[n] / c))
                                                    for n, c in zip(p.models, p.concurrency, strict=True)))
                  for p in self.patterns}
        # relaxation only: z_mg sequences and e_mg engines of model m pooled over v_g shared devices of GPU type g
        self.pool = {k: lad for k, lad in sorted(cs.ladders.items()) if self.relax_sharing
                     and (self.keep is None or k[1] in self.keep)}
        self.z = {k: lm.var(f"z[{k[0]},{k[1]}]", cs.demand[k[0]]) for k in self.pool}
        self.e = {k: lm.var(f"e[{k[0]},{k[1]}]", max(self.req[k[0]].min_replicas, cs.demand[k[0]])) for k in self.pool}
        self.pool_of: dict[str, list[tuple[str, str]]] = {}  # model -> its pooled (model, GPU type) keys
        for k in self.pool:
            self.pool_of.setdefault(k[0], []).append(k)
        pool_gpus = sorted({g for _, g in self.pool})
        self.v = {g: lm.var(f"v[{g}]", sum(lm.vars[self.e[k]].ub for k in self.pool if k[1] == g)) for g in pool_gpus}
        # y_o: instances of offer o; enough for every GPU the replicas could need
        need = self._gpus_needed()
        self.y = {}
        for o in self.offers:
            ub = math.ceil(need.get(o.gpu, 0) / o.gpus_per_instance)
            if o.max_instances is not None:
                ub = min(ub, o.max_instances)
            if self.y_bounds is not None:
                ub = self.y_bounds[o.id]
            self.y[o.id] = lm.var(f"y[{o.id}]", ub)

    def _gpus_needed(self) -> dict[str, int]:
        """Per GPU type, the most GPUs the replicas, patterns and pooled devices could use (bounds of y)."""
        lm = self.lm
        need: dict[str, int] = {}
        for c in self.cands:
            need[c.gpu] = need.get(c.gpu, 0) + c.gpus * lm.vars[self.x[c.key]].ub
        for p in self.patterns:
            need[p.gpu] = need.get(p.gpu, 0) + lm.vars[self.u[p.key]].ub
        for g, v in self.v.items():
            need[g] = need.get(g, 0) + lm.vars[v].ub
        return need

    # ---- the problem's quantities, as terms (coefficient, variable) -------------------------------------------------
    def served_units(self, model: str) -> Terms:
        """Demand units model m's replicas hold: sum_k c_k x_k + sum_{p: m in S_p} c_pm u_p."""
        return ([(c.capacity_units, self.x[c.key]) for c in self.by_model[model]]
                + [(p.sequences_of(model), self.u[p.key]) for p in self.patterns_of.get(model, [])]
                + [(1, self.z[k]) for k in self.pool_of.get(model, ())])

    def replicas_of(self, model: str) -> Terms:
        """Replicas model m runs: sum_k x_k + sum_{p: m in S_p} u_p (one engine per pattern device)."""
        return ([(1, self.x[c.key]) for c in self.by_model[model]]
                + [(1, self.u[p.key]) for p in self.patterns_of.get(model, [])]
                + [(1, self.e[k]) for k in self.pool_of.get(model, ())])

    def gpus_in_groups(self, gpu: str, tp: int) -> Terms:
        """GPUs of type g in groups of size >= t that may sit in any instance of g (one-instance replicas; shared
        devices count as groups of 1)."""
        terms = [(c.gpus, self.x[c.key]) for c in self.by_gpu.get(gpu, []) if c.over is None and c.group_gpus >= tp]
        if tp == 1:
            terms += [(1, self.u[p.key]) for p in self.patterns_by_gpu.get(gpu, [])]
            terms += [(1, self.v[gpu])] if gpu in self.v else []
        return terms

    def gpus_for_groups(self, gpu: str, tp: int) -> Terms:
        """GPUs of type g that groups of size t can use: sum_{o: g_o = g} floor(n_o / t) t y_o."""
        return [((o.gpus_per_instance // tp) * tp, self.y[o.id]) for o in self.offers if o.gpu == gpu]

    def hourly_cost(self) -> Terms:
        """The fleet's price in micro-dollars per hour."""
        return [(self._price(o), self.y[o.id]) for o in self.offers]

    def has_shared_devices(self) -> bool:
        """Whether the program can put two models on one device (patterns, pooled engines; device slots override)."""
        return bool(self.patterns) or self.relax_sharing

    def _lean(self) -> bool:
        """Whether implied replica rows are left out and W is sized from a cap (``_add_min_replicas``,
        ``_set_objective``): programs without shared devices, unless ``keep_implied_rows``."""
        return not self.keep_implied_rows and not self.has_shared_devices()

    # ---- constraints ----------------------------------------------------------------------------------------------
    def _add_demand(self) -> None:
        """(1) Every model's replicas together hold its demand."""
        for m in self.models:
            self._named("demand", m.name, self.lm.add(self.served_units(m.name), lo=self.cs.demand[m.name]))

    def _add_min_replicas(self) -> None:
        """(2) Every model runs at least its minimum number of replicas. A row that (1) implies is left out: a minimum
        of one, a demand of at least one unit, and every variable that serves the model's units counting as one of
        its replicas (then any integer plan serving the demand runs a replica). The left-out rows only slowed the MIP
        solvers: 1,000 models without sharing, CBC's proof 15-27 s -> 4-10 s (benchmarks/RESULTS.md). Programs with
        shared devices keep every row, as does column generation's LP master (``keep_implied_rows``): the LP does not
        have (1)'s integrality, and its bound and duals were weaker without them."""
        for m in self.models:
            terms = self.replicas_of(m.name)
            serving = {v for c, v in self.served_units(m.name) if c > 0}
            if self._lean() and m.min_replicas <= 1 and self.cs.demand[m.name] >= 1 \
                    and serving <= {v for c, v in terms if c >= 1}:
                continue
            self._named("replicas", m.name, self.lm.add(terms, lo=m.min_replicas))

    def _named(self, family: str, key: str, row: int | None) -> None:
        if row is not None:
            self.row_of[(family, key)] = row

    def _add_pooled_sharing(self) -> None:
        """(R) Relaxation only (a bound of the whole sharing space): on GPU type g, engines of model m hold at most
        c_solo sequences each (``EngineLadder.solo_max``: what one engine holds keeping its SLO alone) and at least one, at most one per
        device, at most E per device, their memory pooled over the v_g devices fits: sum_m fixed_m e_mg + kv_m z_mg <=
        usable_g v_g (KiB, rounded in the relaxation's favour), and their SLO time shares too, each engine's under a
        line in its sequences: sum_m a_m e_mg + b_m (z_mg - e_mg) <= 1e6 v_g (``EngineLadder.slo_share_line``)."""
        emax = self.cs.scenario.sharing.max_engines_per_device
        for k, lad in self.pool.items():
            self.lm.add([(1, self.z[k]), (-lad.solo_max(), self.e[k])], hi=0)
            self.lm.add([(1, self.e[k]), (-1, self.z[k])], hi=0)  # an engine holds at least one sequence
            self.lm.add([(1, self.e[k]), (-1, self.v[k[1]])], hi=0)
        for g, v in self.v.items():
            keys = [k for k in self.pool if k[1] == g]
            self.lm.add([(1, self.e[k]) for k in keys] + [(-emax, v)], hi=0)
            usable_kib = -(-self.pool[keys[0]].mem.per_device.usable_bytes // 1024)
            self.lm.add([(self.pool[k].mem.fixed_bytes_per_device // 1024, self.e[k]) for k in keys]
                        + [(self.pool[k].mem.seq_kv_bytes // 1024, self.z[k]) for k in keys] + [(-usable_kib, v)], hi=0)
            lines = {k: self.pool[k].slo_share_line() for k in keys}
            shares = [(a - b, self.e[k]) for k, (a, b) in lines.items()] + [(b, self.z[k]) for k, (_, b) in lines.items()]
            if any(c for c, _ in shares):
                self.lm.add([*shares, (-SHARE_UNITS, v)], hi=0)

    def _add_relaxed_resilience(self) -> None:
        """(9, relaxed) A model that must survive a failure with K_m > 0 runs at least two replicas (one replica is
        lost with its replica, instance or provider), and holds more than K_m units."""
        for m in self.models:
            kept = m.kept_units(self.cs.demand[m.name])
            if m.survive != "none" and kept > 0:
                self.lm.add(self.replicas_of(m.name), lo=2)
                self.lm.add(self.served_units(m.name), lo=kept + 1)

    def _add_packing(self) -> None:
        """(4) Groups of size >= t fit in the instances' GPUs usable by such groups, for every group size t ((4b) on a
        GPU type whose pipelines span instances of its fabric offers)."""
        for gid in sorted({o.gpu for o in self.offers} | set(self.by_gpu) | set(self.v)):
            levels = sorted({1} | {c.group_gpus for c in self.by_gpu.get(gid, [])})
            if any(c.over for c in self.by_gpu.get(gid, [])):
                self._add_fabric_packing(gid, levels)
                continue
            for t in levels:
                have = [(-n, v) for n, v in self.gpus_for_groups(gid, t)]
                row = self.lm.add(self.gpus_in_groups(gid, t) + have, hi=0)
                if t == 1 and row is not None:
                    self.pattern_rows[gid] = [(row, 1)]

    def _add_fabric_packing(self, gid: str, levels: list[int]) -> None:
        """(4b) Stages across instances fit their fabric offer beside the groups v placed there; the other groups fit
        the other offers; v places no more groups of a size than there are."""
        split = sorted({c.over for c in self.by_gpu[gid] if c.over})
        offers = {o.id: o for o in self.offers if o.gpu == gid}
        v = {(o, t): self.lm.var(f"v[{o},{t}]", (offers[o].gpus_per_instance // t) * self.lm.vars[self.y[o]].ub)
             for o in split for t in levels}
        for o in split:
            for t in levels:
                across = [(c.gpus, self.x[c.key]) for c in self.by_gpu[gid] if c.over == o and c.tp >= t]
                here = [(tt, v[(o, tt)]) for tt in levels if tt >= t]
                self.lm.add(here + across + [(-(offers[o].gpus_per_instance // t) * t, self.y[o])], hi=0)
        for i, t in enumerate(levels):
            elsewhere = [(-(o.gpus_per_instance // t) * t, self.y[o.id]) for o in offers.values() if o.id not in split]
            taken = [(-tt, v[(o, tt)]) for o in split for tt in levels if tt >= t]
            rest = self.lm.add(self.gpus_in_groups(gid, t) + taken + elsewhere, hi=0)
            above = self.gpus_in_groups(gid, levels[i + 1]) if i + 1 < len(levels) else []
            placed = self.lm.add([(t, v[(o, t)]) for o in split] + [(-c, x) for c, x in self.gpus_in_groups(gid, t)]
                                 + above, hi=0)
            if t == 1:  # a shared device is a group of one: +1 where groups fit, -1 where v may place it
                self.pattern_rows[gid] = [(r, k) for r, k in ((rest, 1), (placed, -1)) if r is not None]

    def _add_limits(self) -> None:
        """(5) At most L_g GPUs of a type and L_o instances of an offer."""
        for key, lim in sorted(self.limits.items()):
            offers = [o for o in self.offers if o.gpu == key]
            if offers:
                self.lm.add([(o.gpus_per_instance, self.y[o.id]) for o in offers], hi=lim)
            elif key in self.y:
                self.lm.add([(1, self.y[key])], hi=lim)

    def _add_budget(self) -> None:
        """(6) The hourly cost stays within the budget."""
        if self.budget is not None:
            self.lm.add(self.hourly_cost(), hi=micro_usd(float(self.budget)))

    def _indicator(self, name: str, offers: list[PricedOffer]) -> int:
        """A binary that is 1 whenever an instance of ``offers`` is bought: y_o <= Y_o b for each o."""
        b = self.lm.var(name, 1, boolean=True)
        for o in offers:
            self.lm.add([(1, self.y[o.id]), (-self.lm.vars[self.y[o.id]].ub, b)], hi=0)
        return b

    def _add_simplicity(self) -> None:
        """(8) At most max_gpu_types GPU types and max_providers providers are bought from."""
        s = self.cs.scenario
        for cap, key in ((s.max_gpu_types, "gpu"), (s.max_providers, "provider")):
            if cap is None:
                continue
            groups: dict[str, list[PricedOffer]] = {}
            for o in self.offers:
                groups.setdefault(getattr(o, key), []).append(o)
            if len(groups) > cap:
                self.lm.add([(1, self._indicator(f"b[{key}:{k}]", os)) for k, os in sorted(groups.items())], hi=cap)

    def _units(self) -> list[tuple[str, str, int, int, int, bool]]:
        """What holds a model's capacity: (model, GPU type, group size, capacity, variable, sized) per candidate and
        pattern engine (a pattern's engine is a group of one GPU; a replica across instances loses all with any
        stage): the variable counts replicas of that capacity, or, when ``sized`` (a device slot's engine,
        ``planner.solve.slots``), it is the sequences of one such replica."""
        out = [(c.model, c.gpu, c.group_gpus, c.capacity_units, self.x[c.key], False) for c in self.cands]
        out += [(n, p.gpu, 1, p.sequences_of(n), self.u[p.key], False) for p in self.patterns for n in p.models]
        return out

    def _resilient(self, survive: str) -> dict[str, int]:
        """Models that must survive losing one domain of kind ``survive``, with K_m (module doc, (9))."""
        return {m.name: m.kept_units(self.cs.demand[m.name]) for m in self.models if m.survive == survive}

    def _add_replica_resilience(self) -> None:
        """(9, replica) Losing any one replica of a model leaves it at least K_m units."""
        kept = self._resilient("replica")
        worst: dict[str, int] = {}  # lambda_m >= c_j w_j: the largest replica of m
        units = [u for u in self._units() if u[0] in kept]
        for m, _, _, cap, v, sized in units:
            if m not in worst:
                worst[m] = self.lm.var(f"lambda[{m}]", max(u[3] * (self.lm.vars[u[4]].ub if u[5] else 1)
                                                           for u in units if u[0] == m))
                self.lm.add([*self.served_units(m), (-1, worst[m])], lo=kept[m])
            # a sized engine's replica is its variable (lambda >= c_j); else lambda >= c_j w_j
            self.lm.add([(1, worst[m]), (-cap, v if sized else self._used(v))], lo=0)

    def _at_most(self, v: int, f: int) -> Terms:
        """A term q >= min(x_v, f) (q = x_v when f bounds x_v; else a binary picks which side q covers)."""
        ub = self.lm.vars[v].ub
        if f >= ub:
            return [(1, v)]
        q = self.lm.var(f"q[{self.lm.vars[v].name},{f}]", f)
        d = self.lm.var(f"d[{self.lm.vars[v].name},{f}]", 1, boolean=True)
        self.lm.add([(1, v), (-1, q), (-ub, d)], hi=0)  # d = 0: q >= x
        self.lm.add([(1, q), (-f, d)], lo=0)  # d = 1: q >= f
        return [(1, q)]

    def _used(self, v: int) -> int:
        """A binary w with x_v <= X_v w: 1 whenever variable v is positive (one per variable)."""
        if v not in self.w:
            self.w[v] = self.lm.var(f"w[{self.lm.vars[v].name}]", 1, boolean=True)
            self.lm.add([(1, v), (-self.lm.vars[v].ub, self.w[v])], hi=0)
        return self.w[v]

    def _add_instance_resilience(self) -> None:
        """(9, instance) Losing any one instance, whatever the placement, leaves every model at least K_m units."""
        kept = self._resilient("instance")
        if not kept:
            return
        by_type: dict[tuple[str, str], list[tuple[int, int, int, bool]]] = {}  # (model, GPU type) -> (c_j, x_j, t_j, sized)
        for mm, g, tp, cap, v, sized in self._units():
            if mm in kept:
                by_type.setdefault((mm, g), []).append((cap, v, tp, sized))
        for gpu in sorted({o.gpu for o in self.offers}):
            for n in sorted({o.gpus_per_instance for o in self.offers if o.gpu == gpu}):
                beta: int | None = None
                for m in sorted(kept):
                    mine = [u for u in by_type.get((m, gpu), []) if u[2] <= n]
                    if not mine:
                        continue
                    if beta is None:
                        beta = self._indicator(f"beta[{gpu},{n}]", [o for o in self.offers
                                                                   if o.gpu == gpu and o.gpus_per_instance == n])
                    self.lm.add([*self.served_units(m), *self._instance_loss(m, gpu, n, mine), (-kept[m], beta)], lo=0)

    def _instance_loss(self, m: str, gpu: str, n: int, mine: list[tuple[int, int, int, bool]]) -> Terms:
        """-L with L >= min(A, B), the most of model m one instance of n GPUs of ``gpu`` can hold: A = sum_j c_j
        min(x_j, floor(n / t_j)) (sized engines, one GPU each: the n largest, ``_largest``), B = max_{j used}
        ceil(n c_j / t_j) (its n GPUs at j's rate c_j / t_j)."""
        fixed = [u for u in mine if not u[3]]
        a = [(cap * c, q) for cap, v, tp, _ in fixed for c, q in self._at_most(v, n // tp)]
        a += self._largest([v for _, v, _, sized in mine if sized], n, f"{m},{gpu},{n}")
        a_ub = sum(c * self.lm.vars[q].ub for c, q in a)
        rate = [(-(-n * cap // tp), self._used(v)) for cap, v, tp, _ in fixed]
        rate += [(n, v) for _, v, _, sized in mine if sized]  # a sized engine of c_j sequences: rate c_j per GPU
        b_ub = max(r * self.lm.vars[v].ub for r, v in rate)
        if b_ub >= a_ub:
            return [(-c, q) for c, q in a]
        best = self.lm.var(f"B[{m},{gpu},{n}]", b_ub)
        for r, v in rate:
            self.lm.add([(1, best), (-r, v)], lo=0)
        loss = self.lm.var(f"L[{m},{gpu},{n}]", b_ub)
        z = self.lm.var(f"zL[{m},{gpu},{n}]", 1, boolean=True)
        self.lm.add([(1, loss), *[(-c, q) for c, q in a], (a_ub, z)], lo=0)  # z = 0: L >= A
        self.lm.add([(1, loss), (-1, best), (-b_ub, z)], lo=-b_ub)  # z = 1: L >= B
        return [(-1, loss)]

    def _largest(self, sizes: list[int], n: int, name: str) -> Terms:
        """Terms T >= the sum of the n largest of ``sizes`` (variables), exactly: that sum is min over tau of
        n tau + sum_j max(0, s_j - tau), so T = n tau + sum_j sigma_j with sigma_j >= s_j - tau, sigma_j >= 0."""
        if len(sizes) <= n:
            return [(1, v) for v in sizes]
        ub = max(self.lm.vars[v].ub for v in sizes)
        tau = self.lm.var(f"tau[{name}]", ub)
        out = [(n, tau)]
        for i, v in enumerate(sizes):
            sigma = self.lm.var(f"sigma[{name}#{i}]", self.lm.vars[v].ub)
            self.lm.add([(1, sigma), (-1, v), (1, tau)], lo=0)
            out.append((1, sigma))
        return out

    def _add_provider_resilience(self) -> None:
        """(9, provider) Losing any one provider leaves every model at least K_m units."""
        kept = self._resilient("provider")
        if not kept:
            return
        by_type: dict[tuple[str, str], list[tuple[int, int]]] = {}  # (model, GPU type) -> (c_j, x_j)
        for mm, g, _, cap, x, _ in self._units():
            if mm in kept:
                by_type.setdefault((mm, g), []).append((cap, x))
        for v in sorted({o.provider for o in self.offers}):
            lost: dict[str, Terms] = {}
            for gpu in sorted({o.gpu for o in self.offers if o.provider == v}):
                gamma: int | None = None
                for m in sorted(kept):
                    on_g = by_type.get((m, gpu), [])
                    if not on_g:
                        continue
                    if gamma is None:
                        gamma = self._indicator(f"gamma[{gpu},{v}]", [o for o in self.offers
                                                                     if o.gpu == gpu and o.provider == v])
                    big = sum(cap * self.lm.vars[x].ub for cap, x in on_g)
                    loss = self.lm.var(f"l[{m},{gpu},{v}]", big)
                    # l >= S_mg - big (1 - gamma)
                    self.lm.add([(1, loss)] + [(-cap, x) for cap, x in on_g] + [(-big, gamma)], lo=-big)
                    lost.setdefault(m, []).append((-1, loss))
            for m, terms in lost.items():
                self.lm.add(self.served_units(m) + terms, lo=kept[m])

    @staticmethod
    def _price(o: PricedOffer) -> int:
        return o.micro_usd_per_hour

    def _set_objective(self, cap_micro_usd: int | None = None) -> None:
        """Minimum cost, then fewer GPUs: W x cost + GPUs, with W above the GPU count of every plan that can be optimal,
        so cost always comes first. A plan costing C holds at most C / p GPUs (p: the lowest price per GPU of any
        offer), and the optimum costs at most a cap some plan reaches (the budget, or ``cap_micro_usd``: a feasible
        hint's cost), so W = 1 + cap / p; with no cap, or an offer free of charge, W = 1 + every instance bound's GPUs.
        The smaller W keeps the coefficients near the prices' own size, which helps CBC on programs without sharing
        (with the implied replica rows left out, 1,000 models: 15-27 s -> 4-10 s; benchmarks/RESULTS.md); programs
        with shared devices keep the large W, under which CP-SAT's searches were measured (a smaller one changed which of
        equally cheap plans the default scenario gets, to one of 3 % fewer tokens/s)."""
        self.W = 1 + sum(o.gpus_per_instance * self.lm.vars[self.y[o.id]].ub for o in self.offers)
        budget = None if self.budget is None else micro_usd(float(self.budget))
        cap = min((c for c in (cap_micro_usd, budget) if c is not None), default=None)
        if cap is not None and self._lean() and self.offers and all(self._price(o) > 0 for o in self.offers):
            self.W = min(self.W, 1 + max(cap * o.gpus_per_instance // self._price(o) for o in self.offers))
        self.lm.objective = {self.y[o.id]: self.W * self._price(o) + o.gpus_per_instance for o in self.offers}

    def _objective_from_hint(self) -> None:
        """W from the hint's cost, when the hint is a plan (every bound and row kept): see ``_set_objective``."""
        if not self._lean():
            return  # W stays as built; checking the hint's rows would be wasted
        values = self.lm.hint_values()
        if values is not None:
            self._set_objective(sum(self._price(o) * values[self.y[o.id]] for o in self.offers))

    # ---- hints and answers ------------------------------------------------------------------------------------------
    def add_hint(self, replicas: dict[str, int], instances: dict[str, int], patterns: dict[str, int] | None = None) -> None:
        for k, v in self.x.items():
            self.lm.hint[v] = replicas.get(k, 0)
        for k, v in self.y.items():
            self.lm.hint[v] = instances.get(k, 0)
        if patterns is not None:
            for k, v in self.u.items():
                self.lm.hint[v] = patterns.get(k, 0)

    def cost_of(self, instances: dict[str, int]) -> float:
        """The fleet's price in USD per hour, summed exactly in micro-dollars."""
        return sum(o.micro_usd_per_hour * instances.get(o.id, 0) for o in self.offers) / MICRO_USD

    def solution(self, values: list[int], status: str, obj_bound: float | None, secs: float,
                 stats: dict[str, Any]) -> Solution:
        y = {k: values[v] for k, v in self.y.items() if values[v]}
        cost = self.cost_of(y)
        cost_bound = cost if obj_bound is None else min(cost, math.floor(obj_bound / self.W + 1e-9) / MICRO_USD)
        return Solution(
            status=status, replicas={k: values[v] for k, v in self.x.items() if values[v]}, instances=y,
            patterns={k: values[v] for k, v in self.u.items() if values[v]},
            cost_usd_per_hour=cost, bound_usd_per_hour=max(0.0, cost_bound), solve_seconds=secs, stats=stats,
        )

    def solve(self, time_limit_s: float, threads: int = 1, solver: str = "auto", log: bool = False,
              started: float | None = None) -> Solution:
        """Solve within ``time_limit_s`` (from ``started``). Every backend searches deterministically in one thread
        (``planner.solve.backends``), so the same input gives the same plan at any ``threads``."""
        if solver not in SOLVERS:
            raise InputError(not_one_of("--solver: ", solver, SOLVERS))
        solver = choose_backend(solver, self.lm, len(self.patterns), len(self.cands))
        t0 = started if started is not None else time.perf_counter()
        deadline = t0 + float(time_limit_s)  # the limit covers building the model too
        self._objective_from_hint()
        values, status, obj_bound, stats = run_backend(self.lm, solver, deadline, threads, log)
        secs = time.perf_counter() - t0
        stats = {"solver": solver, **stats, "wall_seconds": round(secs, 3), "variables": len(self.lm.vars),
                 "constraints": len(self.lm.rows)}
        if status == "infeasible":
            raise InfeasibleError("no fleet satisfies the scenario (see the explanation)")
        if status == "unknown":
            raise SolveTimeoutError(
                f"the solver found no plan within {time_limit_s:g} s ({len(self.cands)} candidates, {len(self.offers)} "
                f"offers, {len(self.patterns)} sharing patterns); raise --time-limit",
                None if obj_bound is None else math.floor(obj_bound / self.W + 1e-9) / MICRO_USD)
        return self.solution(values, status, obj_bound, secs, stats)


def resilience_notes(s: Any) -> tuple[str, ...]:
    """What the plan's resilience promise covers (module doc, (9)), for plans of a scenario with resilience."""
    kinds = sorted({m.survive for m in s.models} - {"none"})
    if not kinds:
        return ()
    text = (f"resilience ({', '.join(kinds)}): with any one failure domain lost, every model with survive set still "
            "serves keep x its target (the checker removes each domain in turn)")
    if "instance" in kinds or "provider" in kinds:
        text += ("; an instance's loss is counted for the worst placement of the chosen replicas (up to floor(n / TP) "
                 "groups of each deployment on an instance of n GPUs, and no more than n GPUs at its best capacity per "
                 "GPU; shared engines included) and a provider's as every "
                 "replica of each GPU type it sells to the plan, so the plan survives whatever the placement; a plan "
                 "that survives only under one particular placement can be cheaper and is not searched (the status "
                 "is optimal within this rule)")
    return (text,)


def solve_fleet(cs: CandidateSet, *, time_limit_s: float, threads: int = 1, hint: tuple[dict, ...] | None = None,
                gpu_types: set[str] | None = None, limits: dict[str, int] | None = None,
                budget_usd_per_hour: float | str | None = "scenario", solver: str = "auto",
                relax_sharing: bool = False, keep_implied_rows: bool = False) -> Solution:
    """Build and solve the integer program (module doc). Raises InfeasibleError or SolveTimeoutError.
    ``relax_sharing``: solve the relaxation (R) instead of the patterns; its bound is a bound of the whole space.
    ``keep_implied_rows``: keep the replica rows the demand rows imply and W from the instance bounds
    (``FleetModel._lean``)."""
    started = time.perf_counter()
    fm = FleetModel(cs, budget_usd_per_hour=budget_usd_per_hour, limits=limits, gpu_types=gpu_types,
                    relax_sharing=relax_sharing, keep_implied_rows=keep_implied_rows)
    if hint is not None:
        fm.add_hint(*hint)
    return fm.solve(time_limit_s, threads, solver, started=started)

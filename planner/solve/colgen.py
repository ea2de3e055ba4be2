"""Sharing patterns generated as needed (column generation), and the bound of the whole sharing space they give.

When ``planner.candidates.sharing`` cannot list every Pareto-maximal pattern of some GPU types, the fleet program's
LP relaxation over *every* pattern is still solvable: patterns are priced against the LP's duals and only those
that lower its cost are added.

Master LP (the fleet program of ``planner.solve.formulation`` over a pool P' of patterns, integrality dropped,
cost in micro-dollars per hour, y_o bounded as a fleet no dearer than the incumbent C allows)
    z(P') = min sum_o pi_o y_o   over the rows (1), (2), (4)-(8), x_k in [0, X_k], y_o in [0, Y_o], u_p >= 0

Duals: pi_m >= 0 of m's demand row (1), rho_m >= 0 of its replica row (2), and sigma_g what one shared device of g
costs in the duals of the packing rows it enters (``FleetModel.pattern_rows``: (4) at t = 1, or the two rows of (4b)
at t = 1 on a GPU type with pipelines across a fabric). A pattern p of g costs nothing itself and enters (1) with
c_pm, (2) with 1 per engine, so

    rc_p = sigma_g - sum_{m in S_p} (pi_m c_pm + rho_m)

Pricing on g: V_g = max over every vector (c_m) one device of g runs (2 .. E engines under the rules of
``sharing``: memory, utilization fractions, every engine's SLO over the device's steps in turn) of
sum_m pi_m c_m + rho_m [c_m > 0] (``_Pricer``):
    cheap bound    the E most valuable engines alone, and a fractional knapsack over the utilization cap
    greedy         each pair's best vector (every c_i, the largest c_j: the rules are monotone in c, so one binary
                   search per rule) over the engines of most value per utilization step, a third engine added
    exact          every pair, every triple whose utilization relaxation could price out (every c_i, c_j, the
                   largest c_k), and for E >= 4 one device slot of ``planner.solve.slots`` as a CP-SAT model
    knapsack bound dp_k(b) over utilization bins rounded down (bytes and SLOs dropped): V^_g for any E, fast
Up to COLUMNS_PER_TYPE vectors with value > sigma_g join P' per round, grown to Pareto-maximal ones, and the LP is
re-solved (warm, HiGHS' simplex). Exact pricing runs only when the greedy one finds nothing.

Bound of the LP over every pattern, valid after any round (V^_g >= V_g a proven upper bound; ``_dual_bound``):
    B(theta) = z(P') - (1 - 1 / theta) sum_m (D_m pi_m + r_m rho_m) + sum_g K_g min(0, sigma_g - V^_g / theta)
    for any theta >= 1: the demand and replica duals divided by theta, with K_g the most shared devices of g a fleet
    no dearer than C needs (``planner.solve.slots.slot_counts``). theta = 1 is the Lagrangian bound, theta =
    max_g V^_g / sigma_g Farley's; the best theta is one of the breakpoints V^_g / sigma_g.
Column generation stops when no pattern prices out (then the bound is z(P') itself), when the better bound is within
FARLEY_STOP of z(P'), or at its deadline. The integer program is then solved over P' (and the restricted patterns):
its plan is a plan of the whole space and its gap is measured against this bound, not against the generated
patterns only. The LP bound is weaker than an integer bound (devices and instances are whole): on 10-model fleets
it lies 7-10 % under the best plans found (benchmarks/RESULTS.md), so the pipeline keeps the better of it, the
pooled relaxation's and the slot model's bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from planner.candidates.deployments import CandidateSet
from planner.candidates.sharing import UTIL_STEPS, EngineLadder, Pattern, grown_vector, pattern_of
from planner.solve.formulation import FleetModel
from planner.solve.slots import STEP_UNITS_PER_MS, slot_counts  # SLO arithmetic in 1e-9 ms, as the slot model

PRICE_SCALE = 1000  # pricing objective in 1e-3 micro-dollars: integer coefficients for CP-SAT, rounded up
REDUCED_COST_TOL = 1e-7  # relative: a pattern must lower the LP by more than this to join (float duals)
PRICING_SECONDS = 2.0
LP_TOLERANCE = 1e-7  # the bound is lowered by this fraction: HiGHS' optimality tolerance, so float error never raises it
PRICING_MODELS = 14  # the greedy pricing's pairs are over this many engines of most value per utilization step
PAIRS_EXTENDED = 8  # the best pairs a third engine is tried on
DP_UTIL_BIN = 20  # the knapsack bound's utilization bins (1e-4 steps): 0.2 % of a device, rounded down
FARLEY_STOP = 1e-4  # column generation stops once its bound is within this fraction of the LP
COLUMNS_PER_TYPE = 4  # patterns one pricing step may add per GPU type (the best ones): fewer LP rounds  # one pricing model at most this long (then its proven bound is used)


@dataclass(frozen=True)
class Columns:
    """What column generation produced: the generated patterns, the bound of the whole sharing space (USD per
    hour, rounded down to the micro-dollar), whether pricing proved the LP optimal over every pattern, and counts."""

    patterns: tuple[Pattern, ...]
    bound_usd_per_hour: float
    converged: bool
    rounds: int
    lp_usd_per_hour: float
    seconds: float


class _Master:
    """The master LP in HiGHS: built once from ``FleetModel``'s rows, columns added as patterns are generated."""

    def __init__(self, cs: CandidateSet, y_caps: dict[str, int]) -> None:
        import highspy

        from planner.solve.highs import _highs_lp, _stdout_silenced

        self.fm = FleetModel(cs, y_bounds=y_caps, keep_implied_rows=True)
        lm = self.fm.lm
        lp = _highs_lp(lm)
        cost = [0.0] * len(lm.vars)
        for o in self.fm.offers:
            cost[self.fm.y[o.id]] = float(o.micro_usd_per_hour)
        upper = list(lp.col_upper_)
        for v in self.fm.u.values():
            upper[v] = highspy.kHighsInf
        lp.col_cost_ = _np(cost)
        lp.col_upper_ = _np(upper)
        lp.integrality_ = []
        with _stdout_silenced(True):
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("threads", 1)
        self.h.setOptionValue("random_seed", 0)
        self.h.passModel(lp)
        self.keys = {p.key for p in self.fm.patterns}

    def solve(self, deadline: float) -> tuple[float, list[float]] | None:
        """The LP's optimum (micro-dollars per hour) and row duals, or None (infeasible or out of time)."""
        self.h.setOptionValue("time_limit", max(0.01, deadline - time.perf_counter()))
        self.h.run()
        if self.h.modelStatusToString(self.h.getModelStatus()) != "Optimal":
            return None
        return float(self.h.getInfo().objective_function_value), list(self.h.getSolution().row_dual)

    def add(self, p: Pattern) -> None:
        import highspy

        rows = self.fm.row_of
        idx, val = [], []
        for name, c in zip(p.models, p.concurrency, strict=True):
            idx += [rows[("demand", name)], rows[("replicas", name)]]  # every row: keep_implied_rows
            val += [float(c), 1.0]
        for row, coef in self.fm.pattern_rows[p.gpu]:
            idx.append(row)
            val.append(float(coef))
        self.h.addCol(0.0, 0.0, highspy.kHighsInf, len(idx), _np(idx, "int32"), _np(val))
        self.keys.add(p.key)


class _Tables:
    """A ladder's quantities for c = 1 .. cmax as arrays (index c - 1): util steps, bytes, step ms, step cap ms."""

    def __init__(self, lad: EngineLadder) -> None:
        import numpy as np

        sizes = range(1, lad.cmax + 1)
        self.lad = lad
        self.util = np.array([lad.util(c) for c in sizes], dtype=np.int64)
        self.need = np.array([lad.need(c) for c in sizes], dtype=np.int64)
        self.step = np.array([lad.engine(c).step_ms for c in sizes], dtype=np.float64)
        self.cap = np.array([lad.step_cap(c) for c in sizes], dtype=np.float64)
        self.slack = self.step - np.minimum(self.cap, 1e18)  # increasing in c: step grows, the cap shrinks (prefill grows with c)
        # util(c) >= util(1) + slope (c - 1) for every c: the smallest secant from c = 1 (a line under the table)
        self.slope = float(np.min((self.util[1:] - self.util[0]) / np.arange(1, lad.cmax))) if lad.cmax > 1 else 0.0
        self.sorted = bool(np.all(np.diff(self.util) >= 0) and np.all(np.diff(self.need) >= 0)
                           and np.all(np.diff(self.step) >= 0) and np.all(np.diff(self.slack) >= 0))

    def most(self, util_left: Any, need_left: Any, step_left: Any, step_used: Any) -> Any:
        """The most sequences that still fit beside engines leaving ``util_left`` steps, ``need_left`` bytes, a step
        budget ``step_left`` (the smallest cap of the others minus their steps) and using ``step_used`` ms (arrays,
        broadcast): feasibility is monotone in c, so each rule is one binary search."""
        import numpy as np

        n = np.searchsorted(self.util, util_left, side="right")
        n = np.minimum(n, np.searchsorted(self.need, need_left, side="right"))
        n = np.minimum(n, np.searchsorted(self.step, step_left + 1e-9, side="right"))
        return np.minimum(n, np.searchsorted(self.slack, -step_used + 1e-9, side="right"))


class _Pricer:
    """Pricing on one GPU type: the best dual value of one device's engines (pairs exactly by binary searches over
    the ladders, larger sets greedily, and an exact CP-SAT model of one device slot when that is not enough)."""

    def __init__(self, cs: CandidateSet, gpu: str, lads: list[EngineLadder]) -> None:
        self.gpu, self.lads = gpu, lads
        self.util_cap = round(cs.scenario.gpu_memory_utilization * UTIL_STEPS)
        self.usable = lads[0].mem.per_device.usable_bytes
        self.emax = cs.scenario.sharing.max_engines_per_device
        self.no_limit = 10**15
        self._tables: dict[str, _Tables] = {}

    def tables(self, lad: EngineLadder) -> _Tables:
        t = self._tables.get(lad.m.name)
        if t is None:
            t = self._tables[lad.m.name] = _Tables(lad)
        return t

    def best(self, pi: dict[str, float], rho: dict[str, float], sigma: float, deadline: float,
             exact: bool) -> tuple[float, list[list[tuple[EngineLadder, int]]]]:
        """(V^, vectors): an upper bound of the best dual value one device of this type holds, and up to
        COLUMNS_PER_TYPE vectors whose value exceeds ``sigma``, best first (none when there is none or none was
        found). The cheap bound first (``_bound``), then the pairs and greedy triples (``_search``), then, if
        ``exact``, every triple (``_triples``) and, for devices of four or more engines, the CP-SAT model."""
        vals = {lad.m.name: (pi.get(lad.m.name, 0.0), rho.get(lad.m.name, 0.0)) for lad in self.lads}
        useful = self._useful(vals)
        if len(useful) < 2:
            return 0.0, []
        cheap = self._bound(useful, vals)
        limit = sigma * (1 + REDUCED_COST_TOL)
        if cheap <= limit:
            return cheap, []
        vecs, pairs_all, best_pair = self._search(useful, vals, limit, exact)
        if vecs:
            return cheap, vecs
        if self.emax < 3 and pairs_all:
            return min(cheap, max(best_pair, limit)), []  # every pair searched: exact
        if not exact:
            return cheap, []
        if not pairs_all:
            upper, vec = self._solve(useful, vals, sigma, deadline, 2)
            return min(cheap, upper), [vec] if vec else []
        # every pair was searched: only devices of >= 3 engines can still price out
        upper3, vecs = self._triples(useful, vals, limit)
        upper3 = max(upper3, best_pair)
        if vecs or self.emax == 3:
            return min(cheap, upper3), vecs
        upper, vec = self._solve(useful, vals, sigma, deadline, 4)
        return min(cheap, max(upper3, upper)), [vec] if vec else []

    def _triples(self, lads: list[EngineLadder], vals: dict[str, tuple[float, float]],
                 limit: float) -> tuple[float, list[list[tuple[EngineLadder, int]]]]:
        """Exact over devices of three engines: (an upper bound of their best value, the best vectors worth more
        than ``limit``). A triple is searched (every c_i, c_j, the largest c_k) only when its relaxation (utilization only, each
        table under its line from c = 1, a fractional knapsack) could price out; the bound is sigma otherwise."""

        tabs = sorted((self.tables(lad) for lad in lads),
                      key=lambda t: (-(vals[t.lad.m.name][0] * t.lad.cmax + vals[t.lad.m.name][1]), t.lad.m.name))
        top = [vals[t.lad.m.name][0] * t.lad.cmax + vals[t.lad.m.name][1] for t in tabs]
        found: list[tuple[float, list[tuple[EngineLadder, int]]]] = []
        upper = limit
        n = len(tabs)
        for i in range(n):
            for j in range(i + 1, n):
                if top[i] + top[j] + (top[j + 1] if j + 1 < n else 0.0) <= limit:
                    break
                for k in range(j + 1, n):
                    if top[i] + top[j] + top[k] <= limit:
                        break
                    trio = (tabs[i], tabs[j], tabs[k])
                    if self._relaxed(trio, vals) <= limit:
                        continue
                    v, vec = self._trio(trio, vals)
                    upper = max(upper, v)
                    if vec is not None and v > limit and self.fits(vec):
                        found.append((v, vec))
        found.sort(key=lambda t: -t[0])
        return upper, [self.grown(vec) for _, vec in found[:COLUMNS_PER_TYPE]]

    def _relaxed(self, trio: tuple[_Tables, ...], vals: dict[str, tuple[float, float]]) -> float:
        base = sum(vals[t.lad.m.name][0] + vals[t.lad.m.name][1] for t in trio)
        room = float(self.util_cap - sum(int(t.util[0]) for t in trio))
        if room < 0:
            return -math.inf
        extra = 0.0
        for t in sorted(trio, key=lambda t: -(vals[t.lad.m.name][0] / t.slope if t.slope > 0 else math.inf)):
            p = vals[t.lad.m.name][0]
            more = t.lad.cmax - 1
            use = float(more) if t.slope <= 0 else min(float(more), room / t.slope)
            extra += p * use
            room -= use * t.slope
            if room <= 0:
                break
        return base + extra

    def _trio(self, trio: tuple[_Tables, ...], vals: dict[str, tuple[float, float]]) -> tuple[float, list[tuple[EngineLadder, int]] | None]:
        """The best vector of exactly these three engines (every c_a, c_b; the largest c_c that fits)."""
        import numpy as np

        a, b, c = trio
        util = a.util[:, None] + b.util[None, :]
        need = a.need[:, None] + b.need[None, :]
        step = a.step[:, None] + b.step[None, :]
        cap = np.minimum(a.cap[:, None], b.cap[None, :])
        cc = c.most(self.util_cap - util, self.usable - need, cap - step, step)
        ok = (cc >= 1) & (step <= cap + 1e-9)
        if not ok.any():
            return -math.inf, None
        (pa, ra), (pb, rb), (pc, rc) = (vals[t.lad.m.name] for t in trio)
        value = np.where(ok, pa * np.arange(1, a.lad.cmax + 1)[:, None] + pb * np.arange(1, b.lad.cmax + 1)[None, :]
                         + pc * cc + ra + rb + rc, -np.inf)
        ia, ib = np.unravel_index(int(np.argmax(value)), value.shape)
        return float(value[ia, ib]), [(a.lad, int(ia) + 1), (b.lad, int(ib) + 1), (c.lad, int(cc[ia, ib]))]

    def _useful(self, vals: dict[str, tuple[float, float]]) -> list[EngineLadder]:
        """The engines that can matter: every one with value, and the E - 1 of no value that take the fewest
        utilization steps at one sequence (a device may need them to count as shared; their size is free)."""
        valued = [lad for lad in self.lads if vals[lad.m.name][0] > 0 or vals[lad.m.name][1] > 0]
        free = sorted((lad for lad in self.lads if lad not in valued), key=lambda lad: (lad.util(1), lad.m.name))
        return valued + free[: self.emax - 1]

    def dp_bound(self, pi: dict[str, float], rho: dict[str, float]) -> float:
        """An upper bound of V_g over devices of 2 .. E engines, for any E: a knapsack over the utilization cap by
        dynamic programming, dp_k(b) = max(dp_k(b), max_c dp_{k-1}(b - w_c) + v(c)) per model, with utilization in
        bins of DP_UTIL_BIN steps rounded down (sum floor(u / q) <= floor(sum u / q)) and bytes and SLOs dropped: a
        relaxation. For each bin only the largest c counts (values grow with c)."""
        import numpy as np

        q = DP_UTIL_BIN
        nbins = self.util_cap // q
        dp = np.full((self.emax + 1, nbins + 1), -np.inf)
        dp[0, :] = 0.0
        bins = np.arange(nbins + 1)
        vals = {lad.m.name: (pi.get(lad.m.name, 0.0), rho.get(lad.m.name, 0.0)) for lad in self.lads}
        for lad in self._useful(vals):
            p, r = vals[lad.m.name]
            t = self.tables(lad)
            w = t.util // q
            last = np.r_[w[1:] != w[:-1], True]  # the largest c of each bin
            w, v = w[last], (p * np.arange(1, lad.cmax + 1) + r)[last]
            keep = w <= nbins
            w, v = w[keep], v[keep]
            if not len(w):
                continue
            idx = bins[None, :] - w[:, None]
            for k in range(self.emax, 0, -1):
                prev = dp[k - 1]
                cand = np.where(idx >= 0, prev[np.maximum(idx, 0)] + v[:, None], -np.inf).max(axis=0)
                dp[k] = np.maximum(dp[k], cand)
        best = float(dp[2:, nbins].max()) if self.emax >= 2 else 0.0
        return max(0.0, best)

    def _bound(self, lads: list[EngineLadder], vals: dict[str, tuple[float, float]]) -> float:
        """An upper bound of V_g: the E most valuable engines at their largest, and a fractional knapsack over the
        utilization cap at each engine's best value per utilization step (v(c) / util(c) is monotone in c, so its
        best is at c = 1 or c = cmax); the smaller of the two."""
        tops = sorted((vals[lad.m.name][0] * lad.cmax + vals[lad.m.name][1] for lad in lads), reverse=True)
        items = []
        for lad in lads:
            p, r = vals[lad.m.name]
            dens = max((p + r) / lad.util(1), (p * lad.cmax + r) / lad.util(lad.cmax))
            items.append((dens, lad.util(lad.cmax)))
        left, frac = float(self.util_cap), 0.0
        for dens, w in sorted(items, reverse=True):
            take = min(left, float(w))
            frac += dens * take
            left -= take
            if left <= 0:
                break
        return min(sum(tops[: self.emax]), frac)

    def _search(self, lads: list[EngineLadder], vals: dict[str, tuple[float, float]], limit: float,
                exhaustive: bool) -> tuple[list[list[tuple[EngineLadder, int]]], bool, float]:
        """(vectors worth more than ``limit``, best first; whether every pair was searched exactly; the best pair's
        value). Each pair's best vector exactly (every c_i, the largest c_j) over every pair (``exhaustive``, exact
        when every ladder is monotone) or over the PRICING_MODELS engines of most value per utilization step, then a
        third engine added to the PAIRS_EXTENDED best pairs."""
        import numpy as np

        def top(t: _Tables) -> float:
            return vals[t.lad.m.name][0] * t.lad.cmax + vals[t.lad.m.name][1]

        tabs = [self.tables(lad) for lad in lads]
        if not exhaustive:
            tabs = sorted(tabs, key=lambda t: (-top(t) / t.lad.util(t.lad.cmax), t.lad.m.name))[:PRICING_MODELS]
        tabs.sort(key=lambda t: (-top(t), t.lad.m.name))
        tops = [top(t) for t in tabs]
        exact = exhaustive and all(t.sorted for t in tabs)
        pairs: list[tuple[float, int, int, int, int]] = []
        for i, ti in enumerate(tabs):
            pi_, ri = vals[ti.lad.m.name]
            for j in range(i + 1, len(tabs)):
                if tops[i] + tops[j] <= limit:
                    break  # sorted by top value: no later j can do better
                tj = tabs[j]
                pj, rj = vals[tj.lad.m.name]
                if self._relaxed((ti, tj), vals) <= limit:
                    continue
                cj = tj.most(self.util_cap - ti.util, self.usable - ti.need, ti.cap - ti.step, ti.step)
                ok = cj >= 1
                if not ok.any():
                    continue
                value = np.where(ok, pi_ * np.arange(1, ti.lad.cmax + 1) + ri + pj * cj + rj, -1.0)
                k = int(np.argmax(value))
                pairs.append((float(value[k]), i, k + 1, j, int(cj[k])))
        pairs.sort(key=lambda t: (-t[0], t[1], t[3]))
        found: dict[tuple[tuple[str, int], ...], tuple[float, list[tuple[EngineLadder, int]]]] = {}
        for _v, i, ci, j, cj_ in pairs[:PAIRS_EXTENDED]:
            vec = [(tabs[i].lad, ci), (tabs[j].lad, cj_)]
            if not self.fits(vec):
                continue
            for cand in (self.grown(vec), self._third(vec, [t for n, t in enumerate(tabs) if n not in (i, j)], vals)
                         if self.emax >= 3 else None):
                if cand is not None and (cv := _value(cand, vals)) > limit:
                    found[tuple(sorted((lad.m.name, c) for lad, c in cand))] = (cv, cand)
        ranked = sorted(found.values(), key=lambda t: -t[0])
        return [vec for _, vec in ranked[:COLUMNS_PER_TYPE]], exact, pairs[0][0] if pairs else 0.0

    def _third(self, vec: list[tuple[EngineLadder, int]], others: list[_Tables],
               vals: dict[str, tuple[float, float]]) -> list[tuple[EngineLadder, int]] | None:
        """The most valuable engine that joins ``vec`` as it is (largest size that fits), if any."""
        util = sum(lad.util(c) for lad, c in vec)
        need = sum(lad.need(c) for lad, c in vec)
        step = sum(lad.engine(c).step_ms for lad, c in vec)
        cap = min(lad.step_cap(c) for lad, c in vec)
        best, best_v = None, 0.0
        for t in others:
            c = int(t.most(self.util_cap - util, self.usable - need, cap - step, step))
            if c >= 1:
                p, r = vals[t.lad.m.name]
                trial = [*vec, (t.lad, c)]
                if p * c + r > best_v and self.fits(trial):
                    best, best_v = trial, p * c + r
        return best

    def _solve(self, lads: list[EngineLadder], vals: dict[str, tuple[float, float]], sigma: float,
               deadline: float, min_engines: int) -> tuple[float, list[tuple[EngineLadder, int]] | None]:
        """Exact: a vector of >= ``min_engines`` engines worth more than ``sigma`` (the objective is cut there, so
        an infeasible model proves there is none: V^ = sigma (1 + tol)). Values rounded up, steps down and limits
        up: a relaxation, so the found vector is checked by ``fits``."""
        from ortools.sat.python import cp_model as cp

        m = cp.CpModel()
        cs_, steps, present, obj = [], [], [], []
        lims: list[tuple[Any, Any]] = []
        for lad in lads:
            sizes = range(1, lad.cmax + 1)
            c = m.new_int_var(0, lad.cmax, "c")
            a = m.new_bool_var("a")
            m.add(c >= 1).only_enforce_if(a)
            m.add(c == 0).only_enforce_if(~a)
            util = m.new_int_var(0, self.util_cap, "util")
            m.add_element(c, [0, *(lad.util(v) for v in sizes)], util)
            need = m.new_int_var(0, lad.total, "need")
            m.add_element(c, [0, *(lad.need(v) for v in sizes)], need)
            step = m.new_int_var(0, self.no_limit, "step")
            m.add_element(c, [0, *(math.floor(lad.engine(v).step_ms * STEP_UNITS_PER_MS) for v in sizes)], step)
            if lad.m.min_tokens_per_s is not None or lad.m.max_ttft_ms is not None:
                lim = m.new_int_var(0, self.no_limit, "lim")
                m.add_element(c, [self.no_limit, *(self._limit(lad.step_cap(v)) for v in sizes)], lim)
                lims.append((lim, a))
            p, r = vals[lad.m.name]
            obj += [math.ceil(p * PRICE_SCALE) * c, math.ceil(r * PRICE_SCALE) * a]
            cs_.append((c, util, need))
            steps.append(step)
            present.append(a)
        m.add(sum(u for _, u, _ in cs_) <= self.util_cap)
        m.add(sum(n for _, _, n in cs_) <= self.usable)
        m.add(sum(present) >= min_engines)
        m.add(sum(present) <= self.emax)
        for lim, _ in lims:
            m.add(sum(steps) <= lim)
        cut = math.floor(sigma * (1 + REDUCED_COST_TOL) * PRICE_SCALE)
        m.add(sum(obj) >= cut + 1)
        m.maximize(sum(obj))
        sol = cp.CpSolver()
        sol.parameters.num_workers = 1
        sol.parameters.random_seed = 0
        sol.parameters.max_time_in_seconds = max(0.01, min(PRICING_SECONDS, deadline - time.perf_counter()))
        st = sol.solve(m)
        if st == cp.INFEASIBLE:
            return sigma * (1 + REDUCED_COST_TOL), None
        if st not in (cp.OPTIMAL, cp.FEASIBLE):
            return math.inf, None
        upper = sol.best_objective_bound / PRICE_SCALE
        vec = [(lad, int(sol.value(c))) for lad, (c, _, _) in zip(lads, cs_, strict=True) if sol.value(c) > 0]
        value = _value(vec, vals)
        if value <= sigma * (1 + REDUCED_COST_TOL) or not self.fits(vec):
            return upper, None
        return upper, self.grown(vec)

    def _limit(self, ms: float) -> int:
        return self.no_limit if math.isinf(ms) else min(self.no_limit, math.ceil(ms * STEP_UNITS_PER_MS))

    def fits(self, vec: list[tuple[EngineLadder, int]]) -> bool:
        """The rules of ``sharing`` (its enumeration's ``ok``), in its own float arithmetic."""
        if not 2 <= len(vec) <= self.emax:
            return False
        mem = sum(lad.need(c) for lad, c in vec)
        util = sum(lad.util(c) for lad, c in vec)
        step = sum(lad.engine(c).step_ms for lad, c in vec)
        cap = min(lad.step_cap(c) for lad, c in vec)
        return mem <= self.usable and util <= self.util_cap and step <= cap + 1e-9

    def grown(self, vec: list[tuple[EngineLadder, int]]) -> list[tuple[EngineLadder, int]]:
        """Each engine in turn raised to the most sequences that still fit (a Pareto-maximal vector)."""
        return grown_vector(vec, self.fits)


def generate(cs: CandidateSet, *, cost_cap_usd_per_hour: float | None, deadline: float) -> Columns | None:
    """Column generation over the sharing space of ``cs`` (its patterns the first pool), until no pattern prices
    out or ``deadline``; None when the master LP is infeasible or there is no time for one LP."""
    if any(m.survive != "none" for m in cs.scenario.models):
        raise ValueError("column generation prices patterns without the resilience rows (9)")
    t0 = time.perf_counter()
    cap = None if cost_cap_usd_per_hour is None else round(cost_cap_usd_per_hour * 1_000_000)
    slot_n = {sg.gpu: sg.slots for sg in slot_counts(cs, cap, gpus=_sharing_gpus(cs))}
    y_caps = _y_caps(cs, cap)
    master = _Master(cs, y_caps)
    ladders: dict[str, list[EngineLadder]] = {}
    for (_, g), lad in sorted(cs.ladders.items()):
        ladders.setdefault(g, []).append(lad)
    pricers = {g: _Pricer(cs, g, lads) for g, lads in ladders.items() if len(lads) >= 2 and g in slot_n}
    rows = master.fm.row_of
    new: list[Pattern] = []
    rounds, bound, z = 0, 0.0, 0.0
    converged = False
    while True:
        got = master.solve(deadline)
        if got is None:
            break
        z, duals = got
        rounds += 1
        pi = {m.name: max(0.0, duals[rows[("demand", m.name)]]) for m in cs.scenario.models if ("demand", m.name) in rows}
        rho = {m.name: max(0.0, duals[rows[("replicas", m.name)]]) for m in cs.scenario.models
               if ("replicas", m.name) in rows}
        # sigma_g: what one shared device of g costs in the LP's duals (its rows: packing (4), or (4b) on a GPU type
        # with pipelines across a fabric)
        sigma = {g: -sum(k * duals[r] for r, k in master.fm.pattern_rows[g]) for g in pricers
                 if g in master.fm.pattern_rows}
        covering = sum(cs.demand[m] * v for m, v in pi.items()) + sum(master.fm.req[m].min_replicas * v
                                                                      for m, v in rho.items())
        added, uppers = _price_round(pricers, master, sigma, pi, rho, deadline, False, new)
        if added == 0 and time.perf_counter() < deadline:
            # no greedy column: the knapsack bounds first (Farley's bound may already close the LP), then exact pricing
            # on the types whose bound still allows a column
            dp = {g: min(uppers[g], pricers[g].dp_bound(pi, rho)) for g in sigma}
            bound = max(bound, _dual_bound(z, covering, dp, sigma, slot_n))
            if bound >= z * (1 - FARLEY_STOP):
                converged = all(dp[g] <= sigma[g] * (1 + REDUCED_COST_TOL) for g in sigma)
                break
            open_ = {g: v for g, v in sigma.items() if dp[g] > v * (1 + REDUCED_COST_TOL)}
            added, exact = _price_round({g: pricers[g] for g in open_}, master, open_, pi, rho, deadline, True, new)
            uppers = {**dp, **{g: min(dp[g], exact[g]) for g in exact}}
        bound = max(bound, _dual_bound(z, covering, uppers, sigma, slot_n))
        if added == 0:
            converged = all(uppers[g] <= sigma[g] * (1 + REDUCED_COST_TOL) for g in sigma)
            if converged:
                bound = z
            break
    if rounds == 0:
        return None
    floor_usd = math.floor(bound * (1 - LP_TOLERANCE)) / 1_000_000
    return Columns(tuple(new), max(0.0, floor_usd), converged, rounds, z / 1_000_000, time.perf_counter() - t0)


def _dual_bound(z: float, covering: float, upper: dict[str, float], sigma: dict[str, float],
                slot_n: dict[str, int]) -> float:
    """The best of the bounds B(theta) = z - (1 - 1 / theta) covering + sum_g K_g min(0, sigma_g - V^_g / theta),
    covering = sum_m D_m pi_m + r_m rho_m, over theta >= 1: dividing the demand and replica duals by theta keeps every
    other column's reduced cost >= 0 (their covering part only shrinks) and lowers a pattern's value to V_p / theta,
    so B(theta) is the Lagrangian bound of those scaled duals. theta = 1 is the Lagrangian bound; theta = max_g
    V^_g / sigma_g, where every sigma_g > 0, is Farley's (no pattern prices out after scaling). Between the breakpoints
    V^_g / sigma_g, B is monotone in 1 / theta, so the breakpoints, 1 and infinity are the only candidates."""
    if any(math.isinf(v) for v in upper.values()):
        return -math.inf
    thetas = {1.0} | {v / sigma[g] for g, v in upper.items() if sigma[g] > 0 and v > sigma[g]}

    def at(theta: float) -> float:
        return z - (1.0 - 1.0 / theta) * covering + sum(slot_n[g] * min(0.0, sigma[g] - v / theta)
                                                        for g, v in upper.items())

    limit = z - covering + sum(slot_n[g] * min(0.0, sigma[g]) for g in upper)
    return max(limit, *(at(t) for t in sorted(thetas)))


def _value(vec: list[tuple[EngineLadder, int]], vals: dict[str, tuple[float, float]]) -> float:
    return sum(vals[lad.m.name][0] * c + vals[lad.m.name][1] for lad, c in vec)


def _sharing_gpus(cs: CandidateSet) -> tuple[str, ...]:
    return tuple(sorted({g for _, g in cs.ladders}))


def _y_caps(cs: CandidateSet, cap_micro: int | None) -> dict[str, int]:
    """Upper bounds of y_o valid for every fleet of the whole space no dearer than the incumbent."""
    out: dict[str, int] = {}
    for o in cs.offers:
        ub = o.max_instances if o.max_instances is not None else 10**6
        if cap_micro is not None and o.micro_usd_per_hour > 0:
            ub = min(ub, cap_micro // o.micro_usd_per_hour)
        out[o.id] = ub
    return out


def _price_round(pricers: dict[str, _Pricer], master: _Master, sigma: dict[str, float], pi: dict[str, float],
                 rho: dict[str, float], deadline: float, exact: bool, new: list[Pattern]) -> tuple[int, dict[str, float]]:
    """One pricing pass over the GPU types of ``pricers``: (patterns added, V^_g per type: an upper bound of its best
    dual value; infinite for types the deadline left unpriced)."""
    added = 0
    uppers = dict.fromkeys((g for g in pricers if g in sigma), math.inf)
    for g, pr in pricers.items():
        if g not in sigma or time.perf_counter() > deadline:
            continue
        uppers[g], vecs = pr.best(pi, rho, sigma[g], deadline, exact)
        for vec in vecs:
            p = pattern_of(g, [lad.engine(c) for lad, c in vec])
            if p.key not in master.keys:
                master.add(p)
                new.append(p)
                added += 1
    return added, uppers


def with_columns(cs: CandidateSet, cols: Columns) -> CandidateSet:
    """``cs`` with the generated patterns added to its own."""
    return with_patterns(cs, cols.patterns)


def with_patterns(cs: CandidateSet, pats: tuple[Pattern, ...]) -> CandidateSet:
    """``cs`` with ``pats`` added to its patterns (those it does not hold already), in their order."""
    have = {p.key for p in cs.patterns}
    return replace(cs, patterns=tuple(cs.patterns) + tuple(p for p in pats if p.key not in have))


def _np(xs: list[Any], dtype: str = "float64") -> Any:
    import numpy as np

    return np.asarray(xs, dtype=dtype)

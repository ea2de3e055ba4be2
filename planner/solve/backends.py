"""Solver backends for a solver-neutral integer program (``LinearModel``): CP-SAT, CBC or SCIP through OR-Tools'
pywraplp, and HiGHS through highspy (``planner.solve.highs``); choosing a backend; mapping each backend's status to optimal | feasible | infeasible | unknown.

``solver="auto"`` uses CBC for small fleets and dedicated replicas, HiGHS for many sharing patterns and CP-SAT for
very large fleets (measured: benchmarks/RESULTS.md; ``choose_backend``). OR-Tools' bundled HiGHS segfaulted on this model; highspy's does not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from planner.errors import InputError

SOLVERS = ("auto", "cp-sat", "cbc", "scip", "highs")
CPSAT_WORKERS = 1  # CP-SAT searches in one worker, fixed seed: deterministic, so no tie-break solve is needed

Outcome = tuple[list[int], str, float | None, dict[str, Any]]  # values, status, objective bound (if not optimal), stats


@dataclass
class Var:
    name: str
    ub: int
    boolean: bool = False


@dataclass
class Row:
    """lo <= sum coeff x var <= hi (None: unbounded side)."""

    coeffs: dict[int, int]
    lo: int | None
    hi: int | None


@dataclass(frozen=True)
class Element:
    """target = table[index]: a table lookup (CP-SAT's element constraint; ``planner.solve.slots`` uses it)."""

    index: int
    table: tuple[int, ...]
    target: int


@dataclass
class LinearModel:
    """A solver-neutral integer program: variables with bounds, rows, a minimised objective, a hint; table lookups
    (``elements``) only for CP-SAT."""

    vars: list[Var] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    objective: dict[int, int] = field(default_factory=dict)
    hint: dict[int, int] = field(default_factory=dict)
    elements: list[Element] = field(default_factory=list)

    def var(self, name: str, ub: int, boolean: bool = False) -> int:
        self.vars.append(Var(name, int(ub), boolean))
        return len(self.vars) - 1

    def add(self, terms: list[tuple[int, int]], lo: int | None = None, hi: int | None = None) -> int | None:
        """Add the row lo <= terms <= hi; its index, or None when it has no terms and holds (then it is not added)."""
        coeffs: dict[int, int] = {}
        for c, v in terms:
            if c:
                coeffs[v] = coeffs.get(v, 0) + int(c)
        if not coeffs:
            if (lo is not None and lo > 0) or (hi is not None and hi < 0):
                self.rows.append(Row({}, lo, hi))  # an empty row that cannot hold: the model is infeasible
                return len(self.rows) - 1
            return None
        self.rows.append(Row(coeffs, lo, hi))
        return len(self.rows) - 1

    def broken_rows(self, values: list[int]) -> int:
        """How many rows and table lookups ``values`` break, in exact integer arithmetic."""
        broken = 0
        for r in self.rows:
            act = sum(c * values[i] for i, c in r.coeffs.items())
            broken += (r.lo is not None and act < r.lo) or (r.hi is not None and act > r.hi)
        return broken + sum(not 0 <= values[e.index] < len(e.table) or values[e.target] != e.table[values[e.index]]
                            for e in self.elements)

    def hint_values(self) -> list[int] | None:
        """The hint as a full assignment (unhinted variables 0), if it keeps every bound, row and table lookup."""
        if not self.hint:
            return None
        values = [self.hint.get(i, 0) for i in range(len(self.vars))]
        if any(not 0 <= v <= (1 if var.boolean else var.ub) for v, var in zip(values, self.vars, strict=True)):
            return None
        return None if self.broken_rows(values) else values


def choose_backend(solver: str, lm: LinearModel, patterns: int, candidates: int) -> str:
    """The backend ``solver`` names; for "auto": CP-SAT whenever the model has device-sharing patterns (bin packing,
    where CBC and HiGHS stalled or overran their limits), CBC for models of dedicated replicas only.

    Measured (benchmarks/RESULTS.md): without sharing CBC proves 10- and 100-model fleets fastest (0.2-1.4 s) and
    1,000-model fleets where CP-SAT stalls; with the exact sharing patterns (any engine count and size per model) the
    brute-force suite (tests/test_full_space.py) solves in seconds with CP-SAT and runs for minutes with CBC.
    HiGHS stays available as ``--solver highs``."""
    if lm.elements:
        return "cp-sat"  # table lookups (the device-slot model) are CP-SAT constraints
    if solver != "auto":
        return solver
    return "cp-sat" if patterns > 0 else "cbc"


def run_backend(lm: LinearModel, backend: str, deadline: float, threads: int, log: bool) -> Outcome:
    """Solve ``lm`` with ``backend`` until ``deadline``. ``threads`` is recorded; every backend runs one
    deterministic thread (CP-SAT one worker with a fixed seed, CBC and SCIP single-threaded, HiGHS its serial
    branch-and-cut), so a plan never depends on the thread count and needs no second, tie-breaking solve."""
    if backend == "cp-sat":
        return _solve_cpsat(lm, deadline, threads, log)
    if backend == "highs":
        from planner.solve.highs import solve_highs  # its own module: highspy is imported only when used

        return solve_highs(lm, deadline, threads, log)
    return _solve_mip(lm, backend, deadline, threads, log)


def _solve_cpsat(lm: LinearModel, deadline: float, threads: int, log: bool) -> Outcome:
    """CP-SAT in CPSAT_WORKERS worker(s), fixed seed: one search path, so among equally cheap plans it always returns
    the same one. Measured before (benchmarks/RESULTS.md, issue 15): with several workers the optimum found depended
    on the run, and the stable tie-break re-solve that fixed it (objective fixed at the optimum, a stable secondary
    order, one worker) ran into its 10 s cap on a 50-model fleet after a 1.8 s proof, 84 % of the command's time."""
    from ortools.sat.python import cp_model as cp

    m, xs, _ = _cpsat_model(lm)
    sol = cp.CpSolver()
    _cpsat_parameters(sol.parameters, deadline, CPSAT_WORKERS, log)
    st = sol.solve(m)
    stats: dict[str, Any] = {"status": sol.status_name(st), "workers": CPSAT_WORKERS, "threads_asked": threads,
                             "branches": sol.num_branches}
    if st == cp.INFEASIBLE:
        return [], "infeasible", None, stats
    if st == cp.MODEL_INVALID:  # pragma: no cover - a bug in the formulation, not user input
        raise RuntimeError(f"invalid CP-SAT model: {m.validate()}")
    if st not in (cp.OPTIMAL, cp.FEASIBLE):
        return [], "unknown", _finite(sol.best_objective_bound), stats
    values = [int(sol.value(x)) for x in xs]
    if st == cp.OPTIMAL:
        return values, "optimal", None, stats
    return values, "feasible", sol.best_objective_bound, stats


def _cpsat_model(lm: LinearModel) -> tuple[Any, list[Any], Any]:
    """The rows as a CP-SAT model: the model, its variables, the objective expression (minimised, hinted)."""
    from ortools.sat.python import cp_model as cp

    m = cp.CpModel()
    xs = [m.new_bool_var(v.name) if v.boolean else m.new_int_var(0, v.ub, v.name) for v in lm.vars]
    for r in lm.rows:
        expr = sum(c * xs[i] for i, c in r.coeffs.items())
        if not r.coeffs:
            expr = 0
        if r.lo is not None and r.hi is not None:
            m.add_linear_constraint(expr, r.lo, r.hi)
        elif r.lo is not None:
            m.add(expr >= r.lo)
        elif r.hi is not None:
            m.add(expr <= r.hi)
    for e in lm.elements:
        m.add_element(xs[e.index], list(e.table), xs[e.target])
    obj = sum(c * xs[i] for i, c in lm.objective.items())
    m.minimize(obj)
    for i, v in sorted(lm.hint.items()):
        m.add_hint(xs[i], v)
    return m, xs, obj


def _cpsat_parameters(p: Any, deadline: float, threads: int, log: bool) -> None:
    p.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    p.num_workers = int(threads)
    p.random_seed = 0
    if threads == 1:
        p.linearization_level = 2  # an LP bound in the single worker [cpsat-lp-bound]
    elif threads == 2:
        p.subsolvers.extend(["max_lp", "core"])  # the default 2-worker portfolio has no LP bound [cpsat-lp-bound]
    p.log_search_progress = log


def _solve_mip(lm: LinearModel, backend: str, deadline: float, threads: int, log: bool) -> Outcome:
    """CBC or SCIP through OR-Tools' pywraplp (single-threaded: deterministic for a given model)."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver({"scip": "SCIP", "cbc": "CBC"}[backend])
    if s is None:  # pragma: no cover - OR-Tools built without that solver
        raise InputError(f"--solver {backend}: this OR-Tools build has no {backend.upper()}")
    inf = s.infinity()
    xs = [s.IntVar(0, v.ub, v.name) for v in lm.vars]
    for r in lm.rows:
        ct = s.Constraint(-inf if r.lo is None else r.lo, inf if r.hi is None else r.hi)
        for i, c in r.coeffs.items():
            ct.SetCoefficient(xs[i], c)
    o = s.Objective()
    for i, c in lm.objective.items():
        o.SetCoefficient(xs[i], c)
    o.SetMinimization()
    if lm.hint:
        s.SetHint([xs[i] for i in sorted(lm.hint)], [float(lm.hint[i]) for i in sorted(lm.hint)])
    left = deadline - time.perf_counter()
    if left <= 0:
        return [], "unknown", None, {"status": "NOT_STARTED", "nodes": 0}
    s.SetTimeLimit(max(10, int(left * 1000)))
    s.SetNumThreads(1)
    if log:
        s.EnableOutput()
    else:
        s.SuppressOutput()
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)  # pywraplp's default 1e-4 would call a 0.01 % gap "optimal"
    st = s.Solve(params)
    stats: dict[str, Any] = {"status": {s.OPTIMAL: "OPTIMAL", s.FEASIBLE: "FEASIBLE", s.INFEASIBLE: "INFEASIBLE"}.get(st, str(st)),
                             "nodes": s.nodes()}
    if st == s.INFEASIBLE:
        return [], "infeasible", None, stats
    if st not in (s.OPTIMAL, s.FEASIBLE):
        return [], "unknown", _finite(o.BestBound()), stats
    values = [round(x.solution_value()) for x in xs]
    if st == s.OPTIMAL:
        return values, "optimal", None, stats
    return values, "feasible", o.BestBound(), stats


def _finite(bound: float) -> float | None:
    """A solver's objective bound when it stopped without a solution: kept when it is a number >= 0 (every
    objective coefficient is >= 0), else None."""
    return bound if math.isfinite(bound) and bound >= 0 else None

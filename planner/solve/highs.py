"""The HiGHS backend: a ``LinearModel`` solved by HiGHS's branch-and-cut through the ``highspy`` package.

The rows go to HiGHS as they are (one sparse row-wise matrix, every variable integer in [0, ub]). The objective has
integer coefficients over integer variables, so a gap below 1 proves the optimum: ``mip_rel_gap`` is 0 (HiGHS's
default 1e-4 would call a plan 0.01 % above the optimum "optimal") and ``mip_abs_gap`` is 0.5.

Determinism: HiGHS's MIP search is deterministic for a given model and option set; its ``threads`` option only sizes
a global task scheduler whose use (symmetry detection, and in 1.16 the concurrent parts of the search) could in
principle depend on the count. The backend therefore always runs HiGHS with one thread, so the plan does not depend
on ``--threads`` (as for CBC). Measured in benchmarks/RESULTS.md; tests/test_highs_backend.py checks it.

HiGHS gets no MIP start (``lm.hint`` is left out, see ``solve_highs``), and the values it returns are checked in
integers against every row and against the objective it reports before they are used.

Every HiGHS model status maps to optimal | feasible | infeasible | unknown, or raises for a model HiGHS rejects
(a bug in the formulation, never user input); see ``STATUS``.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol

Outcome = tuple[list[int], str, float | None, dict[str, Any]]  # as planner.solve.backends.Outcome


class LinearModel(Protocol):
    """What this module reads of a ``planner.solve.backends.LinearModel`` (not imported: backends imports this
    module, and the layout allows no import circle)."""

    vars: list[Any]  # .name, .ub, .boolean
    rows: list[Any]  # .coeffs {var: coeff}, .lo, .hi (None: unbounded side)
    objective: dict[int, int]
    hint: dict[int, int]

    def broken_rows(self, values: list[int]) -> int: ...

    def hint_values(self) -> list[int] | None: ...

HIGHS_THREADS = 1  # fixed: the plan must not depend on --threads (module doc)

# HiGHS model status name -> what the planner makes of it. "solution" means: feasible if HiGHS holds a primal
# feasible solution, else unknown (a limit struck first). "error": a model HiGHS cannot take, raised as a bug.
STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    # every variable is bounded ([0, ub]), so "unbounded or infeasible" can only be infeasible
    "kUnboundedOrInfeasible": "infeasible",
    "kModelEmpty": "optimal",  # no variables: the empty plan (an empty infeasible row would have said kInfeasible)
    "kTimeLimit": "solution",
    "kIterationLimit": "solution",
    "kSolutionLimit": "solution",
    "kObjectiveBound": "solution",
    "kObjectiveTarget": "solution",
    "kInterrupt": "solution",
    "kHighsInterrupt": "solution",
    "kMemoryLimit": "solution",
    "kUnknown": "solution",
    "kUnbounded": "error",  # impossible with bounded variables
    "kNotset": "error",
    "kLoadError": "error",
    "kModelError": "error",
    "kPresolveError": "error",
    "kSolveError": "error",
    "kPostsolveError": "error",
}


def solve_highs(lm: LinearModel, deadline: float, threads: int, log: bool) -> Outcome:
    """Solve ``lm`` with HiGHS until ``deadline``; ``threads`` is recorded, not used (module doc)."""
    import highspy

    if not lm.vars:  # HiGHS calls any model without columns "empty", even with a row that cannot hold
        return [], "infeasible" if lm.broken_rows([]) else "optimal", None, {"status": "EMPTY", "nodes": 0}
    left = deadline - time.perf_counter()
    if left <= 0:
        return [], "unknown", None, {"status": "NOT_STARTED", "nodes": 0}
    with _stdout_silenced(not log):
        h = highspy.Highs()  # HiGHS 1.16 prints its banner from the constructor, before any option can be set
    _set_options(h, left, log)
    h.passModel(_highs_lp(lm))
    # no MIP start from lm.hint: HiGHS 1.16 maps a start into the presolved space and may return it unimproved under
    # the reduced space's (lower) objective, calling it optimal (tests/test_highs_backend.py, seed 10, caught it)
    h.run()
    name = h.modelStatusToString(h.getModelStatus())
    key = _status_key(h)
    info = h.getInfo()
    stats: dict[str, Any] = {"status": name, "nodes": int(info.mip_node_count), "threads_asked": threads,
                             "threads_used": HIGHS_THREADS}
    kind = STATUS[key]
    if kind == "error":  # pragma: no cover - a bug in the formulation, not user input
        raise RuntimeError(f"HiGHS could not solve the model: {name}")
    if kind == "infeasible":
        return [], "infeasible", None, stats
    if kind == "solution":
        return _stopped_at_a_limit(lm, h, info, stats)
    values = _values(lm, h, info)
    return values, "optimal", None, stats


def _values(lm: LinearModel, h: Any, info: Any) -> list[int]:
    """HiGHS's solution rounded to integers, checked against every row and the objective HiGHS reports."""
    values = [round(v) for v in h.getSolution().col_value]
    _check_rows(lm, values)
    _check_objective(lm, values, float(info.objective_function_value))
    return values


def _stopped_at_a_limit(lm: LinearModel, h: Any, info: Any, stats: dict[str, Any]) -> Outcome:
    """A limit struck: HiGHS's best solution or the caller's hint, whichever is cheaper, with HiGHS's bound (0 when
    it has none: every objective coefficient is >= 0). The hint is not a MIP start (see solve_highs) but is still a
    plan: on 1,000 models HiGHS's own first solution after 30 s cost 15x the greedy one (benchmarks/RESULTS.md)."""
    found = _values(lm, h, info) if int(info.primal_solution_status) == 2 else None  # kSolutionStatusFeasible
    hint = lm.hint_values()
    if hint is not None and (found is None or _objective(lm, hint) < _objective(lm, found)):
        found, stats["solution_from"] = hint, "hint"
    if found is None:
        return [], "unknown", None, stats
    bound = float(info.mip_dual_bound)
    return found, "feasible", bound if math.isfinite(bound) and bound > 0 else 0.0, stats


def _objective(lm: LinearModel, values: list[int]) -> int:
    return sum(c * values[i] for i, c in lm.objective.items())


@contextlib.contextmanager
def _stdout_silenced(silence: bool) -> Iterator[None]:
    """File descriptor 1 pointed at /dev/null (C-level output; Python's redirect_stdout cannot catch printf)."""
    if not silence:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # what C buffered goes to /dev/null, not to the restored stdout
        os.dup2(saved, 1)
        os.close(saved)


def _set_options(h: Any, seconds: float, log: bool) -> None:
    h.setOptionValue("output_flag", bool(log))
    h.setOptionValue("threads", HIGHS_THREADS)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", max(0.01, float(seconds)))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.5)  # integer objective: a gap below 1 is a proof
    # default feasibility tolerances: 1e-9 made the 100-model fleet 16 % dearer at the time limit (measured); the
    # rounded values are checked against every row in integers instead (_check_rows)


def _highs_lp(lm: LinearModel) -> Any:
    """The rows as a HiGHS LP with every column integer: row-wise sparse matrix, bounds, objective."""
    import highspy

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = len(lm.vars)
    lp.num_row_ = len(lm.rows)
    lp.col_cost_ = _array([float(lm.objective.get(i, 0)) for i in range(len(lm.vars))], "float64")
    lp.col_lower_ = _array([0.0] * len(lm.vars), "float64")
    lp.col_upper_ = _array([float(1 if v.boolean else v.ub) for v in lm.vars], "float64")
    lp.row_lower_ = _array([-inf if r.lo is None else float(r.lo) for r in lm.rows], "float64")
    lp.row_upper_ = _array([inf if r.hi is None else float(r.hi) for r in lm.rows], "float64")
    starts, index, value = [0], [], []
    for r in lm.rows:
        for i in sorted(r.coeffs):
            index.append(i)
            value.append(float(r.coeffs[i]))
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = len(lm.vars)
    lp.a_matrix_.num_row_ = len(lm.rows)
    lp.a_matrix_.start_ = _array(starts, "int32")
    lp.a_matrix_.index_ = _array(index, "int32")
    lp.a_matrix_.value_ = _array(value, "float64")
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(lm.vars)
    return lp


def _status_key(h: Any) -> str:
    """The HiGHS model status as its enum member's name (``kOptimal`` ...), stable across highspy versions."""
    import highspy

    st = h.getModelStatus()
    for key in STATUS:
        if getattr(highspy.HighsModelStatus, key, None) == st:
            return key
    return "kUnknown"  # pragma: no cover - a status newer than this table: treated as a limit that struck


def _check_rows(lm: LinearModel, values: list[int]) -> None:
    """HiGHS works in floating point: the rounded values must satisfy every bound and row exactly, in integers."""
    for v, var in zip(values, lm.vars, strict=True):
        if not 0 <= v <= var.ub:  # pragma: no cover - numerics bug
            raise RuntimeError(f"HiGHS returned {var.name} = {v} outside [0, {var.ub}]")
    if lm.broken_rows(values):  # pragma: no cover - numerics bug
        raise RuntimeError(f"HiGHS's rounded solution breaks {lm.broken_rows(values)} row(s)")


def _check_objective(lm: LinearModel, values: list[int], reported: float) -> None:
    """The values' own objective must be the one HiGHS reports (its status and bound refer to that one)."""
    own = _objective(lm, values)
    if abs(own - reported) > 0.5 + 1e-9 * abs(own):  # pragma: no cover - a HiGHS bug (see solve_highs)
        raise RuntimeError(f"HiGHS reports objective {reported:.0f} for a solution worth {own}")


def _array(xs: list[Any], dtype: str) -> Any:
    import numpy as np

    return np.asarray(xs, dtype=dtype)

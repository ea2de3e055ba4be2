"""The planning pipeline, no I/O: scenario -> candidates -> integer program -> placement -> check -> plan."""

from __future__ import annotations

from dataclasses import replace

from planner.candidates.deployments import CandidateSet, build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import Scenario
from planner.plans.check import check_plan
from planner.plans.placement import build_plan
from planner.plans.records import Plan
from planner.solve.baselines import greedy, single_type
from planner.solve.explain import explain_fleet, explain_model
from planner.solve.formulation import solve_fleet


class PlanCheckError(RuntimeError):
    """The plan checker rejected a plan the solver produced: a bug in planner, never printed as a plan."""


def plan(scenario: Scenario, *, time_limit_s: float | None = None, threads: int | None = None,
         baselines: bool = True, candidates: CandidateSet | None = None, solver: str = "auto") -> Plan:
    """The cheapest fleet for ``scenario``, checked. Raises InfeasibleError (with an explanation) or SolveTimeoutError."""
    tl = time_limit_s if time_limit_s is not None else scenario.solver.time_limit_s
    th = threads if threads is not None else scenario.solver.threads
    cs = candidates or build_candidates(scenario)
    covered = {c.model for c in cs.candidates} | {k[0] for k in cs.shared}
    missing = [m for m in scenario.models if m.name not in covered]
    if missing:
        expl = {"models": [explain_model(m, cs) for m in missing]}
        names = ", ".join(m.name for m in missing)
        raise InfeasibleError(f"{len(missing)} model(s) fit no GPU type of this scenario: {names}", expl)
    g = greedy(cs)
    hint = (g[0], g[1]) if g else None
    try:
        sol = solve_fleet(cs, time_limit_s=tl, threads=th, hint=hint, solver=solver)
    except InfeasibleError:
        raise InfeasibleError("every model fits some GPU type, but the limits or budget leave no fleet",
                              explain_fleet(cs, min(tl, 30.0), th)) from None
    notes = []
    if cs.sharing_restricted:
        from planner.candidates.sharing import PATTERN_BUDGET, SHARING_TYPES_PER_MODEL

        notes.append(f"device sharing: more than {PATTERN_BUDGET} sharing patterns, so each model may share GPUs only on its "
                     f"{SHARING_TYPES_PER_MODEL} (or, for very large fleets, fewer) GPU types of lowest memory-proportional "
                     f"cost ({len(cs.patterns)} patterns considered); the plan is optimal within that restriction")
    if cs.patterns_truncated:
        notes.append("sharing patterns were truncated on " + ", ".join(cs.patterns_truncated)
                     + ": the plan is optimal over the enumerated patterns")
    p = build_plan(cs, sol.replicas, sol.instances, sol.shared, sol.patterns, status=sol.status,
                   cost=sol.cost_usd_per_hour, bound=sol.bound_usd_per_hour, solve_seconds=sol.solve_seconds,
                   solver=sol.stats, notes=tuple(notes))
    problems = check_plan(p, scenario)
    if problems:
        raise PlanCheckError("the plan failed the independent checker: " + "; ".join(problems[:5]))
    if baselines:
        p = replace(p, baselines=compute_baselines(cs, p, tl, th))
    return p


def compute_baselines(cs: CandidateSet, p: Plan, time_limit_s: float, threads: int) -> dict:
    out: dict = {}
    g = greedy(cs)
    if g is not None:
        out["greedy"] = {"cost_usd_per_hour": round(g[2], 4),
                         "savings": round(1 - p.cost_usd_per_hour / g[2], 4) if g[2] > 0 else 0.0}
    st = single_type(cs, min(time_limit_s, 60.0), threads)
    feas = {k: v for k, v in st.items() if v.get("feasible")}
    out["single_type"] = st
    if feas:
        best = min(feas, key=lambda k: (feas[k]["cost_usd_per_hour"], k))
        c = feas[best]["cost_usd_per_hour"]
        out["best_single_type"] = {"gpu": best, "cost_usd_per_hour": c,
                                   "savings": round(1 - p.cost_usd_per_hour / c, 4) if c > 0 else 0.0}
    return out

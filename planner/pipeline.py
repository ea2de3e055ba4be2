"""The planning pipeline, no I/O: scenario -> candidates -> integer program -> placement -> check -> plan.

The time limit is the wall clock of the whole call: candidates, the solve, a bound for a restricted space, placement,
the check, explanations and baselines share it; what does not fit in it is skipped with a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from planner.candidates.deployments import CandidateSet, build_candidates
from planner.errors import InfeasibleError, PlannerError, SolveTimeoutError
from planner.inputs.pricing import MICRO_USD, micro_usd
from planner.inputs.scenario import Scenario
from planner.plans.check import PlanCheckError, require_valid
from planner.plans.fabric import fabric_notes
from planner.plans.freshness import price_warnings
from planner.plans.placement import PlacementError, build_plan
from planner.plans.records import Plan
from planner.solve.baselines import greedy, rule_breaks, single_type
from planner.solve.colgen import Columns, generate, with_columns, with_patterns
from planner.solve.explain import explain_fleet, explain_model
from planner.solve.formulation import Solution, resilience_notes, solve_fleet
from planner.solve.pooled import Pooled, pooled, start_plan
from planner.solve.slots import MAX_SLOT_ENGINES, fleet_cap, slot_counts, slot_engines, solve_slots

MIN_STEP_S = 0.05  # an optional step (bound, explanation, baseline) needs at least this much time left to start
POOLED_SHARE = 0.3  # of the time left: the pooled relaxation of a restricted space (its bound, its repaired patterns)
REPAIR_SHARE = 0.05  # of the time left then: placing the pooled engines in more first-fit orders
START_SHARE = 0.1  # of the time left then: instances for the repaired fleet (a start for the integer program)
DEDICATED_SHARE = 0.35  # of the time left: the fleet without shared devices (a start), before the pooled step


class Clock:
    """The command's wall clock: ``deadline`` is a ``time.perf_counter`` instant."""

    def __init__(self, time_limit_s: float, started: float | None = None) -> None:
        self.started = time.perf_counter() if started is None else started
        self.deadline = self.started + float(time_limit_s)

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def plan(scenario: Scenario, *, time_limit_s: float | None = None, threads: int | None = None,
         baselines: bool = True, candidates: CandidateSet | None = None, solver: str = "auto",
         started: float | None = None, explain: bool = True) -> Plan:
    """The cheapest fleet for ``scenario``, checked. Raises InfeasibleError (with an explanation) or SolveTimeoutError.
    ``time_limit_s`` bounds the whole call (from ``started``, a ``time.perf_counter`` instant, if given);
    ``explain``: explain infeasibility (re-planning each suggestion), else raise with the bare message."""
    clock = Clock(time_limit_s if time_limit_s is not None else scenario.solver.time_limit_s, started)
    th = threads if threads is not None else scenario.solver.threads
    cs = candidates or build_candidates(scenario, clock.deadline)
    covered = {c.model for c in cs.candidates} | {n for p in cs.patterns for n in p.models}
    missing = [m for m in scenario.models if m.name not in covered]
    if missing:
        expl = {"models": [explain_model(m, cs, clock.deadline, _verifier(clock, th)) for m in missing]} if explain else {}
        names = ", ".join(m.name for m in missing)
        raise InfeasibleError(f"{len(missing)} model(s) fit no GPU type of this scenario: {names}", expl)
    try:
        sol, plan_cs, status, bound, notes = _solve(cs, clock, th, solver, baselines)
    except InfeasibleError:
        raise InfeasibleError("every model fits some GPU type, but the limits or budget leave no fleet",
                              explain_fleet(cs, clock.deadline, th) if explain else {}) from None
    try:
        p = build_plan(plan_cs, sol.replicas, sol.instances, sol.patterns, status=status, cost=sol.cost_usd_per_hour,
                       bound=bound, solve_seconds=sol.solve_seconds, solver=sol.stats, notes=tuple(notes))
    except PlacementError as exc:
        raise PlanCheckError(f"internal error: placement failed: {exc}") from None
    require_valid(p, scenario)
    p = replace(p, price_warnings=tuple(price_warnings(p, scenario.catalog)),
                notes=p.notes + resilience_notes(scenario) + fabric_notes(p, scenario.catalog))
    if baselines:
        b = compute_baselines(cs, p, clock.deadline, th)
        p = replace(p, baselines=b, notes=p.notes + tuple(b.pop("notes", [])))
    return p


def _verifier(clock: Clock, threads: int) -> Callable[[Scenario], bool]:
    """Re-plans a changed scenario (no baselines, no explanation) within a share of the time left."""

    def verify(changed: Scenario) -> bool:
        left = clock.left()
        if left < MIN_STEP_S:
            return False
        try:
            plan(changed, time_limit_s=max(MIN_STEP_S, left / 4), threads=threads, baselines=False, explain=False)
        except PlannerError:
            return False
        return True

    return verify


Solved = tuple[Solution, CandidateSet, str, float, list[str]]  # solution, the candidates it uses, status, bound, notes


def _solve(cs: CandidateSet, clock: Clock, threads: int, solver: str, baselines: bool) -> Solved:
    """The cheapest fleet within the clock. A restricted sharing space goes to the exact device-slot model (when its
    size at the greedy plan's cost allows: ``planner.solve.slots``), else to the restricted patterns plus those the
    pooled relaxation's engines make (``planner.solve.pooled``), started from the cheaper of the fleet without shared
    devices and the repaired one, with the pooled bound (``_status``). Raises InfeasibleError or SolveTimeoutError."""
    g = greedy(cs)
    if cs.sharing_restricted:  # the slot model states every rule, resilience included (``planner.solve.slots``)
        estimate = micro_usd(g[2]) if g is not None else None
        if slot_engines(slot_counts(cs, estimate)) <= MAX_SLOT_ENGINES:
            valid = None
            if g is not None and not g.breaks and fleet_cap(cs, g[1]) is not None:
                valid = Solution("feasible", g[0], g[1], {}, g[2], 0.0, 0.0, {"solver": "greedy"})
            return _solve_whole_space(cs, clock, threads, solver, baselines, valid)
    # the greedy plan has no shared devices; as a hint beside sharing patterns it slowed CP-SAT 5x (default scenario:
    # 10.2 s against 1.9 s), so it is given only to programs without patterns
    hint: tuple[dict[str, int], ...] | None = (g[0], g[1]) if g and not cs.patterns else None
    reserve = min(1.0, 0.15 * clock.left()) if baselines else 0.0  # time kept back for the baselines
    pool = None
    began = time.perf_counter()
    if cs.sharing_restricted:
        # the search starts from the cheaper of the fleet without shared devices (a plan of the same scenario; on
        # 1,000 models the program with patterns did not reach it in 60 s by itself) and the fleet repaired from the
        # pooled relaxation, which also gives the bound of the whole space and patterns (benchmarks/RESULTS.md, issue 15)
        starts = [_dedicated_start(cs, DEDICATED_SHARE * max(0.0, clock.left() - reserve), threads)]
        pool = pooled(cs, time.perf_counter() + POOLED_SHARE * max(0.0, clock.left() - reserve),
                      REPAIR_SHARE * max(0.0, clock.left() - reserve))
        cs = with_patterns(cs, pool.patterns)
        starts.append(start_plan(cs, pool, time.perf_counter() + START_SHARE * max(0.0, clock.left() - reserve)))
        hint = min((st for st in starts if st is not None), default=hint, key=lambda st: _fleet_usd(cs, st[1]))
    try:
        sol = solve_fleet(cs, time_limit_s=max(0.01, clock.left() - reserve), threads=threads, hint=hint, solver=solver)
    except SolveTimeoutError:
        if pool is None or hint is None:
            raise
        # the solver found nothing better than its start in time: the start is a plan (the checker still decides)
        sol = Solution("feasible", hint[0], hint[1], hint[2] if len(hint) > 2 else {}, _fleet_usd(cs, hint[1]), 0.0,
                       0.0, {"solver": "start"})
    if pool is not None:  # the solve took the starts and the pooled step too
        sol = replace(sol, solve_seconds=time.perf_counter() - began)
    status, bound, notes = _status(cs, sol, clock, threads, pool=pool)
    return sol, cs, status, bound, notes


def _solve_whole_space(cs: CandidateSet, clock: Clock, threads: int, solver: str, baselines: bool,
                       greedy_plan: Solution | None) -> Solved:
    """A restricted sharing space: column generation prices patterns of the whole space against the LP's duals (a
    quarter of the time at most: ``planner.solve.colgen``, its LP bound covers every pattern), the integer program
    over the restricted and generated patterns gives an incumbent (a third of what is left), then the device-slot
    model searches the whole space from it (most of the rest, less the baselines' share), all in one worker (the
    same plan at any thread count). ``greedy_plan``: the greedy plan when it keeps the limits and budget, another
    known plan (a cap on the slots and the columns' instances, a hint)."""
    reserve = min(1.0, 0.15 * clock.left()) if baselines else 0.0
    # column generation prices patterns into the demand, replica and packing rows only: with resilience a pattern
    # also enters the resilience rows (9), so it is not used there (the slot model states them)
    cols = None
    if all(m.survive == "none" for m in cs.scenario.models):
        cols = generate(cs, cost_cap_usd_per_hour=greedy_plan.cost_usd_per_hour if greedy_plan else None,
                        deadline=time.perf_counter() + 0.25 * max(0.0, clock.left() - reserve))
    grown = with_columns(cs, cols) if cols is not None else cs
    cg_bound = cols.bound_usd_per_hour if cols is not None else 0.0
    pool = pooled(cs, time.perf_counter() + 0.2 * max(0.0, clock.left() - reserve))
    grown = with_patterns(grown, pool.patterns)
    pre: Solution | None = None
    failed: PlannerError | None = None
    try:
        pre = solve_fleet(grown, time_limit_s=max(0.01, 0.35 * (clock.left() - reserve)), threads=1, solver=solver)
    except (InfeasibleError, SolveTimeoutError) as exc:
        failed = exc  # the slot model decides: the restricted space may hold no fleet where the whole space does
    known = [k for k in (pre, greedy_plan) if k is not None]
    res = solve_slots(grown, known, deadline=clock.deadline - reserve)
    generated = _columns_note(cols)
    if res is None:  # too large without an incumbent's cost: the plan over the patterns, the best bound
        if pre is None:
            assert failed is not None
            raise failed
        status, bound, notes = _status(grown, pre, clock, threads, cg_bound, pool)
        return pre, grown, status, bound, [generated, *notes] if generated else notes
    sol = replace(res.solution, solve_seconds=res.solution.solve_seconds + (pre.solve_seconds if pre else 0.0))
    slots = ", ".join(f"{n} on {g}" for g, n in res.slots.items()) or "none needed"
    note = (f"device sharing: the pattern enumeration was restricted on {', '.join(cs.restricted_gpus)} (too many "
            f"patterns), so an exact device-slot model searched the whole sharing space there (shared-device slots: "
            f"{slots})")
    if generated:
        note = generated + "; " + note
    if sol.status == "optimal":
        return sol, res.candidates, "optimal", sol.cost_usd_per_hour, [note + "; the plan is optimal over the whole space"]
    bound = min(sol.cost_usd_per_hour, max(sol.bound_usd_per_hour, pool.bound_usd_per_hour, cg_bound))
    note += (f"; it stopped at the time limit (its bound ${sol.bound_usd_per_hour:,.2f}/h; the pooled relaxation's "
             f"${pool.bound_usd_per_hour:,.2f}/h; the LP over every pattern ${cg_bound:,.2f}/h)")
    if micro_usd(sol.cost_usd_per_hour) <= micro_usd(bound):
        return sol, res.candidates, "optimal", bound, [note + "; the plan meets the best bound, so it is optimal over "
                                                       "the whole space"]
    return sol, res.candidates, "feasible", bound, [note + f": the plan is feasible, and its bound ${bound:,.2f}/h covers "
                                                    f"the whole space"]


def _columns_note(cols: Columns | None) -> str:
    """What column generation did, for the plan's notes ('' when it did not run)."""
    if cols is None:
        return ""
    how = ("until no pattern lowered the LP (its optimum is the LP bound over every pattern)" if cols.converged else
           "until its share of the time limit (not to convergence: its bound is the Lagrangian one)")
    return (f"column generation: {len(cols.patterns)} sharing patterns priced against the LP's duals in {cols.rounds} "
            f"rounds, {how}; LP bound ${cols.bound_usd_per_hour:,.2f}/h")


def _status(cs: CandidateSet, sol: Solution, clock: Clock, threads: int,
            lp_bound: float = 0.0, pool: Pooled | None = None) -> tuple[str, float, list[str]]:
    """The plan's status, bound and notes. A plan from the restricted sharing space is at best ``feasible``: its bound
    is the best of the pooled-sharing relaxation's (``pool``, ``planner.solve.pooled``) and ``lp_bound`` (column
    generation's), both bounds of the whole space."""
    if not cs.sharing_restricted:
        return sol.status, sol.bound_usd_per_hour, []
    pooled_usd = pool.bound_usd_per_hour if pool is not None else 0.0
    bound = min(sol.cost_usd_per_hour, max(lp_bound, pooled_usd))
    from planner.candidates.sharing import PATTERN_BUDGET

    note = (f"device sharing: the exact sharing space (any number and size of engines) is too large for this fleet, so "
            f"engine sizes are restricted (demand / k for k in 1, 2, 3, 4, 6, 8 and min_replicas; for very large fleets "
            f"one size, demand / min_replicas in half a device, with cost-based cuts beyond {PATTERN_BUDGET} sharing "
            f"patterns): {len(cs.patterns)} patterns{_repaired(pool)}; the plan is feasible, and its bound "
            f"${bound:,.2f}/h comes from a relaxation of the whole space (the better of pooled devices per GPU type and "
            f"the LP over every pattern)")
    notes = [note]
    if cs.patterns_truncated:
        notes.append("sharing patterns were truncated on " + ", ".join(cs.patterns_truncated))
    if sol.status == "optimal" and micro_usd(sol.cost_usd_per_hour) <= micro_usd(bound):
        notes[0] += "; the plan meets that bound, so it is optimal over the whole space"
        return "optimal", bound, notes
    return "feasible", bound, notes


def _dedicated_start(cs: CandidateSet, seconds: float, threads: int) -> tuple[dict[str, int], ...] | None:
    """The cheapest fleet without shared devices found within ``seconds`` (replicas, instances, no patterns), or None."""
    if seconds <= MIN_STEP_S:
        return None
    try:
        # as the program was before its implied rows were left out: that program proves the optimum later (15 s against
        # 5 s at 1,000 models) but at a tie from which the program with patterns reached $2,043.41/h, where the faster
        # one's tie led to $2,048.86/h in the same 60 s (benchmarks/RESULTS.md)
        sol = solve_fleet(replace(cs, patterns=()), time_limit_s=seconds, threads=threads, keep_implied_rows=True)
    except (InfeasibleError, SolveTimeoutError):
        return None
    return sol.replicas, sol.instances, {}


def _fleet_usd(cs: CandidateSet, instances: dict[str, int]) -> float:
    """The instances' price in USD per hour, summed exactly in micro-dollars."""
    return sum(o.micro_usd_per_hour * instances.get(o.id, 0) for o in cs.offers) / MICRO_USD


def _repaired(pool: Pooled | None) -> str:
    """The part of the note on the patterns repaired from the pooled relaxation's solution ('' when none)."""
    if pool is None or not pool.patterns:
        return ""
    return f", {len(pool.patterns)} of them placed from the pooled relaxation's engines (planner.solve.pooled)"


def compute_baselines(cs: CandidateSet, p: Plan, deadline: float | None = None, threads: int = 1) -> dict[str, Any]:
    """The greedy and single-GPU-type baselines, within ``deadline``; the single-type fleets share the time left,
    and those that do not get to run are listed in ``notes``. Each baseline's ``breaks`` lists the scenario's rules
    its fleet breaks (by the checker: ``baselines.rule_breaks``); one that breaks any is not comparable with the plan,
    so its ``savings`` is None and the reports say which rules it breaks instead."""
    out: dict[str, Any] = {}
    g = greedy(cs)
    if g is not None:
        breaks = rule_breaks(cs, g.replicas, g.instances)
        out["greedy"] = {"cost_usd_per_hour": round(g.cost_usd_per_hour, 4), "breaks": breaks,
                         "savings": _saving(p, g.cost_usd_per_hour, breaks)}
    st, skipped = single_type(cs, deadline, threads)
    feas = {k: v for k, v in st.items() if v.get("feasible")}
    out["single_type"] = st
    if skipped:
        out["notes"] = [f"baselines: no time left within --time-limit for the single-GPU-type fleets of "
                        f"{', '.join(skipped)} (skipped)"]
    if feas:
        best = min(feas, key=lambda k: (bool(feas[k]["breaks"]), feas[k]["cost_usd_per_hour"], k))
        c = feas[best]["cost_usd_per_hour"]
        out["best_single_type"] = {"gpu": best, "cost_usd_per_hour": c, "breaks": feas[best]["breaks"],
                                   "savings": _saving(p, c, feas[best]["breaks"])}
    return out


def _saving(p: Plan, baseline_usd_per_hour: float, breaks: list[str]) -> float | None:
    """The plan's saving against a baseline: None when the baseline breaks a rule of the scenario (not comparable)."""
    if breaks:
        return None
    return round(1 - p.cost_usd_per_hour / baseline_usd_per_hour, 4) if baseline_usd_per_hour > 0 else 0.0

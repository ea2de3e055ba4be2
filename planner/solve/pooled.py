"""The pooled relaxation of the whole sharing space: its bound, and sharing patterns repaired from its solution.

On a restricted sharing space (``planner.candidates.sharing``: too many patterns to list) the pooled program
(``FleetModel(relax_sharing=True)``, relaxation (R) of ``planner.solve.formulation``) pools each GPU type's shared
devices: model m runs e_mg engines holding z_mg sequences on v_g devices of g, with the devices' memory, engine counts
and SLO time shares summed instead of placed. Every plan of the whole space is a solution of it, so the solver's bound
is a bound of the whole space (the plan's gap is measured against it).

Its solution is also a guide: the engines it chose are what the cheapest fleets share, so they are placed on real
devices (``repair``) and the devices that run two or more engines join the integer program as patterns (each grown to
a Pareto-maximal vector). The integer program then picks among the restricted, generated and repaired patterns; the
repair never decides the plan itself.

Repair, per GPU type g of the pooled solution: model m's z_mg sequences are split into e_mg engines as evenly as
possible, each capped at what it holds alone (``EngineLadder.solo_max``), and the engines are placed first-fit in
two orders (largest memory first, longest step first) and then in up to SHUFFLED_ORDERS seeded shuffles, time
permitting, on devices under every rule of ``sharing.pattern_ok`` (memory, utilization fractions, every engine's SLO
over the device's steps, at most E engines of distinct models). The first order's devices, with the pooled
dedicated replicas and the cheapest instances for them (``start_plan``), are a complete fleet: a start for the solver.

Measured (benchmarks/RESULTS.md, issue 15): on the 100-model fleets (seeds 1-3, 30 s) the plans went from $193.35,
$181.35 and $169.65/h (restricted patterns) to $162.80, $155.86 and $128.37/h; the SLO rows raised the pooled bound
of seed 1 from $154.47 to $156.10/h.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from planner.candidates.deployments import CandidateSet, candidate_key
from planner.candidates.sharing import (
    UTIL_STEPS,
    EngineLadder,
    Pattern,
    SharedEngine,
    grown_vector,
    pattern_of,
    pattern_ok,
)
from planner.errors import SolveTimeoutError
from planner.inputs.pricing import MICRO_USD
from planner.solve.backends import run_backend
from planner.solve.formulation import FleetModel

SHUFFLED_ORDERS = 60  # first-fit orders beyond the two sorted ones, time permitting (benchmarks/RESULTS.md, issue 15)
# measured: the pooled program of the 1,000-model fleet (19,575 candidates, 12,472 ladders) built in 0.8-2.1 s
BUILD_SECONDS_PER_ITEM = 1e-4
POOLED_SOLVER = "highs"  # the pooled program, 100-model fleets, 20 s: see benchmarks/RESULTS.md (issue 15)


@dataclass(frozen=True)
class Pooled:
    """The pooled relaxation's outcome: its bound (USD per hour, a bound of the whole sharing space; 0 when the solver
    proved none), its best solution's cost (None without one), the patterns repaired from that solution, seconds; and
    the repaired fleet as a start for the integer program: its dedicated replicas (candidate key -> count: the pooled
    solution's, plus a TP1 replica for each engine left alone on a device) and shared devices (pattern key -> count).
    """

    bound_usd_per_hour: float
    cost_usd_per_hour: float | None
    patterns: tuple[Pattern, ...]
    seconds: float
    status: str
    start_replicas: dict[str, int] = field(default_factory=dict)
    start_patterns: dict[str, int] = field(default_factory=dict)


def pooled(cs: CandidateSet, deadline: float, repair_s: float = 1.0) -> Pooled:
    """Solve the pooled relaxation of ``cs`` until ``deadline`` and repair its solution into patterns (the shuffled
    orders for at most ``repair_s`` seconds after the solve)."""
    t0 = time.perf_counter()
    if deadline - t0 <= max(0.05, 2 * _build_seconds(cs)):
        return Pooled(0.0, None, (), 0.0, "not run")
    fm = FleetModel(cs, relax_sharing=True)
    try:
        values, status, obj_bound, _ = run_backend(fm.lm, POOLED_SOLVER, deadline, 1, False)
    except SolveTimeoutError:
        return Pooled(0.0, None, (), time.perf_counter() - t0, "timeout")
    bound = 0.0 if obj_bound is None else max(0.0, math.floor(obj_bound / fm.W + 1e-9) / MICRO_USD)
    if status == "infeasible":  # no plan of the whole space either (the pipeline's own solve says so)
        return Pooled(0.0, None, (), time.perf_counter() - t0, status)
    if status not in ("optimal", "feasible"):
        return Pooled(bound, None, (), time.perf_counter() - t0, status)
    cost = fm.cost_of({k: values[v] for k, v in fm.y.items() if values[v]})
    if status == "optimal":
        bound = cost
    engines: dict[str, list[SharedEngine]] = {}
    for (name, gid), ev in fm.e.items():
        count, seqs = values[ev], values[fm.z[(name, gid)]]
        if count and seqs:
            engines.setdefault(gid, []).extend(_split(cs.ladders[(name, gid)], count, seqs))
    pats: dict[str, Pattern] = {}
    replicas = {k: values[v] for k, v in fm.x.items() if values[v]}
    devices: dict[str, int] = {}
    keys = {c.key for c in cs.candidates}
    stop = time.perf_counter() + repair_s
    for gid in sorted(engines):
        placed = repair(cs, gid, engines[gid], stop)
        for i, d in enumerate(placed):
            for p in d.patterns:
                pats.setdefault(p.key, p)
                if i == 0:  # the first order's devices are the start
                    devices[p.key] = devices.get(p.key, 0) + 1
            if i == 0:
                for e in d.alone:
                    key = candidate_key(e.model, gid, 1, 1, None)
                    if key in keys:
                        replicas[key] = replicas.get(key, 0) + 1
    have = {p.key for p in cs.patterns}
    return Pooled(min(bound, cost), cost, tuple(p for k, p in sorted(pats.items()) if k not in have),
                  time.perf_counter() - t0, status, replicas, devices)


def _build_seconds(cs: CandidateSet) -> float:
    """A generous estimate of building a fleet program of ``cs``: BUILD_SECONDS_PER_ITEM per candidate, pattern and
    engine ladder (the program is not built when the time left would not cover it twice)."""
    return BUILD_SECONDS_PER_ITEM * (len(cs.candidates) + len(cs.patterns) + len(cs.ladders))


def _split(lad: EngineLadder, count: int, seqs: int) -> list[SharedEngine]:
    """``seqs`` sequences in ``count`` engines as evenly as possible, each at most what it holds alone."""
    solo = lad.solo_max()
    if solo < 1:
        return []
    count = max(count, -(-seqs // solo))
    return [lad.engine(c) for i in range(count) if (c := min(solo, seqs // count + (1 if i < seqs % count else 0)))]


@dataclass(frozen=True)
class Placed:
    """One order's placement of a GPU type's pooled engines: the devices of >= 2 engines as patterns, and the engines
    left alone on a device (dedicated replicas in the start, never patterns)."""

    patterns: tuple[Pattern, ...]
    alone: tuple[SharedEngine, ...]


def repair(cs: CandidateSet, gid: str, engines: list[SharedEngine], deadline: float) -> list[Placed]:
    """Devices of ``gid`` running ``engines``, first fit in the two sorted orders and then in seeded shuffles until
    ``deadline`` (at most SHUFFLED_ORDERS; an order still placing at the deadline is dropped); devices of >= 2 engines
    as Pareto-maximal patterns."""
    s = cs.scenario
    emax = s.sharing.max_engines_per_device
    util_cap = round(s.gpu_memory_utilization * UTIL_STEPS)
    slos = {m.name: (m.min_tokens_per_s, m.max_ttft_ms) for m in s.models}
    usable = next(lad.mem.per_device.usable_bytes for (_, g), lad in sorted(cs.ladders.items()) if g == gid)
    base = sorted(engines, key=lambda e: (e.model, e.concurrency))
    out: list[Placed] = []
    for i in range(2 + SHUFFLED_ORDERS):
        if i == 0:
            order = sorted(base, key=lambda e: -e.memory_bytes)
        elif i == 1:
            order = sorted(base, key=lambda e: -e.step_ms)
        else:  # seeded shuffles: more devices to choose from, the same ones every run
            if time.perf_counter() > deadline:
                break
            order = list(base)
            random.Random(i).shuffle(order)
        devices: list[list[SharedEngine]] = []
        open_: list[list[SharedEngine]] = []  # devices with room for another engine
        for n, e in enumerate(order):
            if n % 256 == 255 and time.perf_counter() > deadline:
                return out  # out of time: this order's placement is left out (a partial one would not serve every model)
            for d in open_:
                if all(x.model != e.model for x in d) and pattern_ok([*d, e], usable, slos, util_cap):
                    d.append(e)
                    if len(d) >= emax:
                        open_.remove(d)
                    break
            else:
                devices.append([e])
                if emax > 1:
                    open_.append(devices[-1])
        out.append(Placed(tuple(_grown(cs, gid, d, usable, slos, util_cap) for d in devices if len(d) >= 2),
                          tuple(d[0] for d in devices if len(d) == 1)))
    return out


def _grown(cs: CandidateSet, gid: str, device: list[SharedEngine], usable: int,
           slos: dict[str, tuple[float | None, float | None]], util_cap: int) -> Pattern:
    """The device's engines grown to a Pareto-maximal vector under ``sharing.pattern_ok``, as a pattern."""
    vec = grown_vector([(cs.ladders[(e.model, gid)], e.concurrency) for e in device],
                       lambda v: pattern_ok([lad.engine(c) for lad, c in v], usable, slos, util_cap))
    return pattern_of(gid, [lad.engine(c) for lad, c in vec])


def start_plan(cs: CandidateSet, pool: Pooled, deadline: float) -> tuple[dict[str, int], dict[str, int],
                                                                        dict[str, int]] | None:
    """The repaired fleet as a complete start (replicas, instances, patterns): the cheapest instances for its replicas
    and shared devices (the fleet program with x and u fixed, CBC), or None when none keep the limits and budget, it
    leaves a model short, or time runs out."""
    if (not pool.start_patterns and not pool.start_replicas) or deadline - time.perf_counter() <= 2 * _build_seconds(cs):
        return None
    fm = FleetModel(cs)
    for k, v in fm.x.items():
        n = pool.start_replicas.get(k, 0)
        if n > fm.lm.vars[v].ub:
            return None
        fm.lm.add([(1, v)], lo=n, hi=n)
    for k, v in fm.u.items():
        n = pool.start_patterns.get(k, 0)
        if n > fm.lm.vars[v].ub:
            return None
        fm.lm.add([(1, v)], lo=n, hi=n)
    if deadline - time.perf_counter() <= 0.05:
        return None
    values, status, _, _ = run_backend(fm.lm, "cbc", deadline, 1, False)
    if status not in ("optimal", "feasible"):
        return None
    sol = fm.solution(values, status, None, 0.0, {})
    return sol.replicas, sol.instances, sol.patterns

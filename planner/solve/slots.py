"""The exact device-slot model: the whole sharing space on GPU types whose pattern enumeration is restricted.

When ``planner.candidates.sharing`` cannot list every Pareto-maximal pattern of a GPU type g (``restricted_gpus``),
the fleet program (``planner.solve.formulation``) drops g's patterns and gets N_g interchangeable shared-device slots
instead, each choosing its engines and their sizes freely under the rules ``sharing`` applies:

Notation (g in R, the restricted GPU types; m a model with an engine ladder on g, ``EngineLadder``)
    cmax_m          most sequences an engine holds (the demand, or what the usable memory holds)
    util_m(c)       its --gpu-memory-utilization in 1e-4 steps; need_m(c) its bytes (that fraction of the device)
    step_m(c)       its step alone; lim_m(c) the longest device step its SLO allows (TPOT, and TTFT minus its prefill)
    U, A_g, E       utilization cap (1e-4 steps), usable bytes of a device, engines per device at most
    N_g             slots: min(limit of g, sum_m max(D_m, r_m), max_o floor(C n_o / pi_o)) with C the cost of the
                    incumbent (or the budget): a fleet no dearer than C buys no more GPUs of g than that, and a
                    cheapest fleet needs no more shared devices than the engines that cover every model's demand
                    and replicas (max(D_m, r_m) of them, each holding >= 1 sequence). When a model sharing g must
                    survive a failure, more engines than that can pay (an engine more lowers what one failure takes),
                    so N_g is the limit, availability or cost cap alone; with none of them the slot model is not
                    built (``SlotGpu.capped``) and the restricted patterns with the relaxation's bound are used

Variables (slot j = 1 .. N_g of g)
    w_j in {0, 1}       the slot is a shared device (one GPU of g)
    a_jm in {0, 1}      it runs an engine of model m
    c_jm in 0..cmax_m   that engine's sequences (0: no engine)
    util_jm, need_jm    util_m(c_jm), need_m(c_jm) (0 when c_jm = 0) as exact integer rows:
                        util x device bytes >= (fixed a + seq_kv c) 1e4 and need x 1e4 >= util x device bytes
    step_jm, lim_jm     step_m(c_jm), lim_m(c_jm): a line in c when the table is one (within 2e-9 ms, rounded the
                        safe way: the measured ladders are), else a table lookup (CP-SAT's element constraint)

Constraints
    (S1) engines    a_jm <= c_jm <= cmax_m a_jm;   2 w_j <= sum_m a_jm <= E w_j;   a_jm <= w_j
    (S2) memory     sum_m util_jm <= U w_j;   sum_m need_jm <= A_g w_j
    (S3) SLO        sum_m step_jm <= lim_jk   for every model k with an SLO (lim_jk: no limit when k is absent)
    (S4) symmetry   w_j >= w_j+1 and key_j >= key_j+1, key_j = sum_m B_m c_jm a mixed-radix number of the slot's
                    vector (any order of interchangeable slots can be sorted so)
    in the fleet program: demand (1) += sum_j c_jm, replicas (2) += sum_j a_jm, packing (4) at t = 1 += sum_j w_j,
    and resilience (9) with each engine a replica of c_jm sequences on one GPU (``_units``, ``sized``): losing it
    (replica) takes c_jm; an instance of n GPUs of g holds n slots, so losing it takes at most the n largest c_jm of
    the model's slot engines on g (exactly, as a linear program: formulation (9)) besides its dedicated groups; a
    provider selling g takes every slot engine on g. Simplicity, availability, limits and the budget are rows of
    the fleet program over y, which the slots' devices enter through packing.

Why it is exact: a slot's feasible vectors are exactly the vectors ``sharing`` accepts (the same ladder functions;
steps in integer units of 1e-9 ms, rounded up, and limits rounded down, so a slot may only lose a device whose step
sum lies within about 1e-8 ms of an SLO limit, and every slot passes the checker); every fleet no dearer than the
incumbent fits in N_g slots; so the program's optimum is the optimum over the whole space, and the solver's bound is
a bound of the whole space. The solved slots become ``Pattern`` objects, so placement, launch lines and the checker
see ordinary sharing patterns.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from planner.candidates.deployments import CandidateSet
from planner.candidates.sharing import UTIL_STEPS, EngineLadder, Pattern, pattern_of
from planner.errors import InfeasibleError, SolveTimeoutError
from planner.inputs.pricing import micro_usd
from planner.solve.backends import Element
from planner.solve.formulation import FleetModel, Solution, Terms

STEP_UNITS_PER_MS = 10**9  # SLO arithmetic in integer 1e-9 ms (the enumeration's own tolerance)
MAX_SLOT_ENGINES = 4_000  # slot x model pairs beyond which the slot model is not built (the old bound is used)
LINE_TOLERANCE = 2  # a step or limit table within 2e-9 ms of a line is that line (rounded the safe way)
KEY_RADIX_LIMIT = 2**48  # the symmetry key uses the models whose mixed radix stays below this


@dataclass(frozen=True)
class SlotGpu:
    """One restricted GPU type's slots: how many, and the ladders of the models that may share it (by name)."""

    gpu: str
    slots: int
    ladders: tuple[tuple[str, EngineLadder], ...]
    capped: bool = True  # False: a resilient model shares g and nothing caps its devices (the count is no bound)


def slot_counts(cs: CandidateSet, cost_cap_micro: int | None, gpus: tuple[str, ...] | None = None) -> list[SlotGpu]:
    """N_g for every restricted GPU type (or every type of ``gpus``) with >= 2 sharable models (module doc), in GPU
    type order."""
    s = cs.scenario
    if s.max_usd_per_hour is not None:
        budget = micro_usd(float(s.max_usd_per_hour))
        cost_cap_micro = budget if cost_cap_micro is None else min(cost_cap_micro, budget)
    reqs = {m.name: m for m in s.models}
    out = []
    for g in sorted(cs.restricted_gpus if gpus is None else gpus):
        lads = tuple((m, lad) for (m, gg), lad in sorted(cs.ladders.items()) if gg == g)
        offers = [o for o in cs.offers if o.gpu == g]
        if len(lads) < 2 or not offers:
            continue
        caps = []  # what a limit, the availability or the cost cap lets a cheapest fleet buy of g
        if s.limits.get(g) is not None:
            caps.append(s.limits[g])
        if all(o.max_instances is not None for o in offers):
            caps.append(sum(o.gpus_per_instance * (o.max_instances or 0) for o in offers))
        if cost_cap_micro is not None and all(o.micro_usd_per_hour > 0 for o in offers):
            caps.append(max(cost_cap_micro * o.gpus_per_instance // o.micro_usd_per_hour for o in offers))
        demand = sum(max(cs.demand[m], reqs[m].min_replicas) for m, _ in lads)
        # the demand count holds for fleets without resilience only (module doc): with it, the caps alone
        resilient = any(reqs[m].survive != "none" for m, _ in lads)
        n = min(caps) if resilient and caps else min([demand, *caps])
        if n > 0:
            out.append(SlotGpu(g, n, lads, capped=bool(caps) or not resilient))
    return out


def slot_engines(slots: list[SlotGpu]) -> int:
    """Slot x model pairs: the size of the slot model."""
    return sum(sg.slots * len(sg.ladders) for sg in slots)


@dataclass
class _Engine:
    """One model's engine variables in one slot, and the table of each derived variable (hints read them)."""

    present: int  # a_jm
    seqs: int  # c_jm
    util: int
    need: int
    step: int
    step_line: tuple[int, int, int] | None  # (D, A, B): D step >= A + B c, when the step is linear in c
    lim: int | None  # the SLO limit on the device step, a table lookup (when it is not linear in c)
    lim_line: tuple[int, int, int] | None  # (D, A, B): the limit is (A + B c) / D, when it is linear in c
    tables: dict[int, tuple[int, ...]]  # derived variable -> its value at c = 0 .. cmax


@dataclass
class _Slot:
    gpu: str
    used: int  # w_j
    engines: dict[str, _Engine]  # by model
    key: Terms
    radix: dict[str, int]  # model -> its weight in the key


class SlotModel(FleetModel):
    """The fleet program with the patterns of the restricted GPU types replaced by device slots (module doc)."""

    def __init__(self, cs: CandidateSet, slots: list[SlotGpu]) -> None:
        self.slot_gpus = slots
        self.slots: list[_Slot] = []
        self.last_values: list[int] = []
        restricted = set(cs.restricted_gpus)
        super().__init__(replace(cs, patterns=tuple(p for p in cs.patterns if p.gpu not in restricted)))
        self._add_slot_engines()
        self._add_slot_memory()
        self._add_slot_slo()
        self._add_slot_symmetry()

    def has_shared_devices(self) -> bool:
        return True  # device slots

    # ---- variables ----------------------------------------------------------------------------------------------
    def _variables(self) -> None:
        for sg in self.slot_gpus:
            no_limit = 1 + sum(_step_units(lad.engine(lad.cmax).step_ms) for _, lad in sg.ladders)
            for j in range(sg.slots):
                slot = _Slot(sg.gpu, self.lm.var(f"w[{sg.gpu}#{j}]", 1, boolean=True), {}, [], {})
                radix = 1
                for name, lad in sg.ladders:
                    slot.engines[name] = self._engine(f"{sg.gpu}#{j},{name}", lad, no_limit)
                    if radix * (lad.cmax + 1) < KEY_RADIX_LIMIT:
                        slot.key.append((radix, slot.engines[name].seqs))
                        slot.radix[name] = radix
                        radix *= lad.cmax + 1
                self.slots.append(slot)
        super()._variables()

    def _engine(self, where: str, lad: EngineLadder, no_limit: int) -> _Engine:
        """An engine's variables: presence, sequences, utilization steps and bytes (defined by linear rows, exact:
        ``_add_slot_memory``), its step and its SLO limit (linear in c when their tables are, else table lookups)."""
        lm, sizes = self.lm, range(1, lad.cmax + 1)
        util_cap = round(self.cs.scenario.gpu_memory_utilization * UTIL_STEPS)
        usable = lad.mem.per_device.usable_bytes
        e = _Engine(lm.var(f"a[{where}]", 1, boolean=True), lm.var(f"c[{where}]", lad.cmax),
                    lm.var(f"util[{where}]", util_cap), lm.var(f"need[{where}]", usable),
                    lm.var(f"step[{where}]", no_limit), None, None, None, {})
        e.tables[e.util] = (0, *(lad.util(v) for v in sizes))
        e.tables[e.need] = (0, *(lad.need(v) for v in sizes))
        steps = (0, *(_step_units(lad.engine(v).step_ms) for v in sizes))
        e.step_line = _line(steps, above=True)
        if e.step_line is None:
            e.tables[e.step] = steps
            lm.elements.append(Element(e.seqs, steps, e.step))
        else:
            d, a, b = e.step_line
            e.tables[e.step] = (0, *(-(-(a + b * v) // d) for v in sizes))
        if lad.m.min_tokens_per_s is not None or lad.m.max_ttft_ms is not None:
            lims = (no_limit, *(_limit_units(lad.step_cap(v), no_limit) for v in sizes))
            e.lim_line = _line(lims, above=False)
            if e.lim_line is None:
                e.lim = lm.var(f"lim[{where}]", no_limit)
                e.tables[e.lim] = tuple(min(no_limit, max(0, t)) for t in lims)
                lm.elements.append(Element(e.seqs, e.tables[e.lim], e.lim))
        return e

    def _gpus_needed(self) -> dict[str, int]:
        need = super()._gpus_needed()
        for sg in self.slot_gpus:
            need[sg.gpu] = need.get(sg.gpu, 0) + sg.slots
        return need

    # ---- the problem's quantities, with the slots -----------------------------------------------------------------
    def served_units(self, model: str) -> Terms:
        return super().served_units(model) + [(1, sl.engines[model].seqs) for sl in self.slots if model in sl.engines]

    def replicas_of(self, model: str) -> Terms:
        return super().replicas_of(model) + [(1, sl.engines[model].present) for sl in self.slots if model in sl.engines]

    def _units(self) -> list[tuple[str, str, int, int, int, bool]]:
        """The fleet program's units plus one sized unit per slot engine: a replica of c_jm sequences on one GPU."""
        return super()._units() + [(name, sl.gpu, 1, 1, e.seqs, True) for sl in self.slots
                                   for name, e in sl.engines.items()]

    def gpus_in_groups(self, gpu: str, tp: int) -> Terms:
        terms = super().gpus_in_groups(gpu, tp)
        return terms + [(1, sl.used) for sl in self.slots if sl.gpu == gpu] if tp == 1 else terms

    # ---- constraints ----------------------------------------------------------------------------------------------
    def _add_slot_engines(self) -> None:
        """(S1) An engine holds 1 .. cmax sequences; a shared device runs 2 .. E engines, an unused slot none."""
        emax = self.cs.scenario.sharing.max_engines_per_device
        for sl in self.slots:
            for e in sl.engines.values():
                self.lm.add([(1, e.seqs), (-1, e.present)], lo=0)
                self.lm.add([(1, e.seqs), (-self.lm.vars[e.seqs].ub, e.present)], hi=0)
                self.lm.add([(1, e.present), (-1, sl.used)], hi=0)  # implied by the next rows; a stronger LP
            present = [(1, e.present) for e in sl.engines.values()]
            self.lm.add([*present, (-2, sl.used)], lo=0)
            self.lm.add([*present, (-emax, sl.used)], hi=0)

    def _add_slot_memory(self) -> None:
        """(S2) The engines' utilization fractions and bytes fit one device. util >= ceil((fixed a + seq_kv c) 1e4 /
        device bytes) and need >= ceil(util x device bytes / 1e4) as integer rows: at their least (the solver may take
        them so) they are the ladder's values, so the rows say exactly what ``EngineLadder.util`` and ``need`` say."""
        util_cap = round(self.cs.scenario.gpu_memory_utilization * UTIL_STEPS)
        ladders = {sg.gpu: dict(sg.ladders) for sg in self.slot_gpus}
        for sl in self.slots:
            for name, e in sl.engines.items():
                lad = ladders[sl.gpu][name]
                total, fixed, kv = lad.total, lad.mem.fixed_bytes_per_device, lad.mem.seq_kv_bytes
                self.lm.add([(total, e.util), (-fixed * UTIL_STEPS, e.present), (-kv * UTIL_STEPS, e.seqs)], lo=0)
                self.lm.add([(UTIL_STEPS, e.need), (-total, e.util)], lo=0)
            usable = ladders[sl.gpu][next(iter(sl.engines))].mem.per_device.usable_bytes
            # the device's capacity times w_j: the same rule (an unused slot holds nothing), a stronger LP
            self.lm.add([(1, e.util) for e in sl.engines.values()] + [(-util_cap, sl.used)], hi=0)
            self.lm.add([(1, e.need) for e in sl.engines.values()] + [(-usable, sl.used)], hi=0)

    def _add_slot_slo(self) -> None:
        """(S3) The device's steps in turn stay within every present engine's SLO limit; a limit linear in c,
        (A + B c) / D, as D sum steps + (D no_limit - A) a_k - B c_k <= D no_limit (no limit when k is absent)."""
        for sl in self.slots:
            steps = [(1, e.step) for e in sl.engines.values()]
            for e in sl.engines.values():
                if e.step_line is not None:
                    d, a, b = e.step_line
                    self.lm.add([(d, e.step), (-a, e.present), (-b, e.seqs)], lo=0)
                no_limit = self.lm.vars[e.step].ub
                if e.lim is not None:
                    self.lm.add([*steps, (-1, e.lim)], hi=0)
                elif e.lim_line is not None:
                    d, a, b = e.lim_line
                    self.lm.add([(d * k, v) for k, v in steps] + [(d * no_limit - a, e.present), (-b, e.seqs)],
                                hi=d * no_limit)

    def _add_slot_symmetry(self) -> None:
        """(S4) Slots of a GPU type are used in order and sorted by their vectors."""
        for a, b in zip(self.slots, self.slots[1:], strict=False):
            if a.gpu == b.gpu:
                self.lm.add([(1, a.used), (-1, b.used)], lo=0)
                self.lm.add(a.key + [(-k, v) for k, v in b.key], lo=0)

    # ---- hints and answers ------------------------------------------------------------------------------------------
    def add_incumbent(self, sol: Solution, patterns: dict[str, Pattern]) -> None:
        """Hint the solver with a plan of the restricted space: its replicas, instances and patterns (those of the
        restricted types filling the slots in their order)."""
        self.add_hint(sol.replicas, sol.instances)
        for k, v in self.u.items():
            self.lm.hint[v] = sol.patterns.get(k, 0)
        devices: dict[str, list[Pattern]] = {}
        for key, n in sorted(sol.patterns.items()):
            if key not in self.u:
                devices.setdefault(patterns[key].gpu, []).extend([patterns[key]] * n)
        by_gpu: dict[str, list[_Slot]] = {}
        for sl in self.slots:
            by_gpu.setdefault(sl.gpu, []).append(sl)
        for g, sls in by_gpu.items():
            vecs = [{name: p.sequences_of(name) for name in sls[0].engines} for p in devices.get(g, [])]
            if len(vecs) > len(sls):
                continue  # the incumbent does not fit the slots (it cannot, as it costs C); no hint for this type
            radix = sls[0].radix
            vecs.sort(key=lambda vec: -sum(k * vec[name] for name, k in radix.items()))
            for sl, vec in zip(sls, vecs + [{}] * (len(sls) - len(vecs)), strict=True):
                self._hint_slot(sl, vec)

    def _hint_slot(self, sl: _Slot, vec: dict[str, int]) -> None:
        hint = self.lm.hint
        hint[sl.used] = int(bool(vec))
        for name, e in sl.engines.items():
            n = vec.get(name, 0)
            hint[e.present], hint[e.seqs] = int(n > 0), n
            for v, table in e.tables.items():
                hint[v] = table[n]

    def solution(self, values: list[int], status: str, obj_bound: float | None, secs: float,
                 stats: dict[str, Any]) -> Solution:
        self.last_values = values
        return super().solution(values, status, obj_bound, secs, stats)

    def slot_patterns(self, values: list[int]) -> dict[str, tuple[Pattern, int]]:
        """The solved slots as patterns: key -> (pattern, devices running it)."""
        lads = {sg.gpu: dict(sg.ladders) for sg in self.slot_gpus}
        out: dict[str, tuple[Pattern, int]] = {}
        for sl in self.slots:
            if not values[sl.used]:
                continue
            engines = [lads[sl.gpu][name].engine(values[e.seqs]) for name, e in sl.engines.items() if values[e.seqs]]
            p = pattern_of(sl.gpu, engines)
            out[p.key] = (p, out.get(p.key, (p, 0))[1] + 1)
        return out


def _line(table: tuple[int, ...], above: bool) -> tuple[int, int, int] | None:
    """(D, A, B) with (A + B c) / D >= table[c] (``above``) or <= table[c] for c = 1 .. cmax, when the table lies
    within LINE_TOLERANCE units (1e-9 ms) of that line; None when it does not (then a table lookup is used)."""
    n = len(table) - 1
    if len(set(table[1:])) == 1:
        return 1, table[1], 0
    d, b = n - 1, table[n] - table[1]
    devs = [d * table[c] - (d * table[1] + b * (c - 1)) for c in range(1, n + 1)]
    if max(devs) - min(devs) > LINE_TOLERANCE * d:
        return None
    return d, d * table[1] - b + (max(devs) if above else min(devs)), b


def _step_units(ms: float) -> int:
    """A step in integer 1e-9 ms, rounded up (a slot never looks faster than the enumeration's float sum)."""
    return math.ceil(ms * STEP_UNITS_PER_MS)


def _limit_units(ms: float, no_limit: int) -> int:
    """An SLO limit on the device step in integer 1e-9 ms, rounded down; no limit (inf) is ``no_limit``."""
    return no_limit if math.isinf(ms) else math.floor(ms * STEP_UNITS_PER_MS)


@dataclass(frozen=True)
class SlotResult:
    """The slot model's answer: the solution (its patterns include the slots'), the candidate set the plan is built
    from (the kept patterns and the slots' patterns), the slots per GPU type, and the incumbent's cost."""

    solution: Solution
    candidates: CandidateSet
    slots: dict[str, int]


def fleet_cap(cs: CandidateSet, instances: dict[str, int]) -> int | None:
    """The cost in micro-dollars of a purchase that keeps the scenario's limits and budget (so the optimum costs no
    more), or None when it breaks one (the greedy plan ignores them)."""
    s = cs.scenario
    offers = {o.id: o for o in cs.offers}
    gpus: dict[str, int] = {}
    for oid, n in instances.items():
        o = offers[oid]
        if (o.max_instances is not None and n > o.max_instances) or n > s.limits.get(oid, n):
            return None
        gpus[o.gpu] = gpus.get(o.gpu, 0) + n * o.gpus_per_instance
    if any(n > s.limits.get(g, n) for g, n in gpus.items()):
        return None
    cost = sum(offers[oid].micro_usd_per_hour * n for oid, n in instances.items())
    if s.max_usd_per_hour is not None and cost > micro_usd(float(s.max_usd_per_hour)):
        return None
    return cost


def solve_slots(cs: CandidateSet, known: list[Solution], *, deadline: float, log: bool = False) -> SlotResult | None:
    """The cheapest fleet over the whole sharing space (module doc), or None when the slot model would be too large
    (MAX_SLOT_ENGINES). ``known``: valid plans already found (the restricted space's, a greedy one); the cheapest caps
    the slots and hints the solver, and is kept when the slot model finds nothing cheaper (the bound is the slot
    model's). Raises InfeasibleError (no fleet at all: the slots are exact) or SolveTimeoutError (no solver found a
    plan: a greedy plan, ``stats["solver"] == "greedy"``, is a cap and a hint, not an answer on its own).

    One CP-SAT worker (fixed seed), whatever --threads says: its search is deterministic, so the same input gives
    the same plan at any thread count (the stable tie-break solve of ``backends`` stalls on interchangeable slots:
    10 s unproven on the default scenario, against 0.6 s for the whole single-worker solve)."""
    started = time.perf_counter()
    best = min(known, key=lambda k: micro_usd(k.cost_usd_per_hour), default=None)
    slots = slot_counts(cs, None if best is None else micro_usd(best.cost_usd_per_hour))
    if slot_engines(slots) > MAX_SLOT_ENGINES or not all(sg.capped for sg in slots):
        return None
    counts = {sg.gpu: sg.slots for sg in slots}
    sm = SlotModel(cs, slots)
    if best is not None:
        sm.add_incumbent(best, {p.key: p for p in cs.patterns})
    try:
        sol = sm.solve(max(0.01, deadline - started), 1, "cp-sat", log=log, started=started)
    except InfeasibleError:
        if best is not None:  # pragma: no cover - a known plan is a slot-model plan
            raise RuntimeError("internal error: the slot model rejects a valid plan") from None
        raise
    except SolveTimeoutError:
        solved = [k for k in known if k.stats.get("solver") != "greedy"]  # a greedy plan alone is no solver's answer
        if not solved:
            raise
        first = min(solved, key=lambda k: micro_usd(k.cost_usd_per_hour))
        return SlotResult(replace(first, status="feasible", bound_usd_per_hour=0.0), cs, counts)
    if best is not None and micro_usd(best.cost_usd_per_hour) < micro_usd(sol.cost_usd_per_hour):
        return SlotResult(replace(best, status="feasible", bound_usd_per_hour=sol.bound_usd_per_hour), cs, counts)
    found = sm.slot_patterns(sm.last_values)
    kept = [p for p in cs.patterns if p.key in sm.u]
    sol = replace(sol, patterns={**sol.patterns, **{k: n for k, (_, n) in found.items()}},
                  solve_seconds=time.perf_counter() - started)
    return SlotResult(sol, replace(cs, patterns=tuple(kept + [p for p, _ in found.values()])), counts)

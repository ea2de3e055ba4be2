"""Device sharing: engines of small models on part of a device, and the patterns of engines one device runs.

A model whose ``tp`` and ``pp`` lists allow 1 may run engines (TP1, PP1) on devices it shares with other models. An
engine holding c sequences needs its fixed memory plus c sequences of KV cache, rounded up to a 1e-4 utilization
fraction of the device (its ``--gpu-memory-utilization``). A device may run engines of at most
``max_engines_per_device`` distinct models when their memory fits and their fractions sum to at most the scenario's
utilization, and every engine's SLO holds while the device runs all their steps in turn.

A pattern is one device's engines with their sizes: a vector (c_m) over the models. The feasible vectors are
downward closed (fewer sequences or fewer engines never break a rule), so only the Pareto-maximal ones are needed,
each engine capped at the model's demand; the integer program chooses how many devices run each pattern, so a model
runs any number of engines (each counts as a replica) of any size. ``patterns`` enumerates them exactly up to
EXACT_VISITS partial vectors per GPU type; beyond that the type's patterns are *restricted* (a few engine sizes per
model, or one, demand / min_replicas, with the old cost-based cuts) and listed in ``restricted_gpus``: the planner
then searches those types' whole sharing space with the device-slot model (``planner.solve.slots``, the same rules
as ``EngineLadder``), the restricted patterns serving as its first plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from planner.errors import SolveTimeoutError
from planner.estimate.memory import MemoryEstimate, estimate_memory, parallel_problem, planned_max_num_seqs
from planner.estimate.speed import PerfConstants, serving_point
from planner.inputs.catalog import GPU
from planner.inputs.pricing import PricedOffer
from planner.inputs.scenario import ModelReq, Scenario
from planner.units import GIB

UTIL_STEPS = 10_000  # an engine's --gpu-memory-utilization is a multiple of 1e-4
SHARE_UNITS = 1_000_000  # a device's time in the pooled relaxation's SLO row (EngineLadder.slo_share_line)
EXACT_VISITS = 6_000  # partial vectors the exact enumeration may visit per GPU type before restricting that type
LEVEL_VISITS = 6_000  # the same for the restricted enumeration over a few engine sizes per model
LEVEL_SPLITS = (1, 2, 3, 4, 6, 8)  # restricted engine sizes: ceil(demand / k)
MAX_PATTERNS_PER_GPU = 4000  # restricted enumeration: patterns per GPU type before the search stops (reported)
MAX_PATTERN_VISITS = 200_000  # restricted enumeration: partial sets per GPU type before the search stops (reported)
SHARING_TYPES_PER_MODEL = 3  # restricted, too many patterns: share only on a model's 3 cheapest-to-share GPU types
PATTERN_BUDGET = 2_000  # restricted: all maximal sets are used up to this many; beyond it the restriction above applies


@dataclass(frozen=True)
class SharedEngine:
    """A model's engine of ``concurrency`` sequences on part of one device."""

    model: str
    gpu: str
    concurrency: int  # sequences the engine holds
    memory_bytes: int  # weights + activation + runtime + KV for ``concurrency`` sequences, rounded to its fraction
    step_ms: float  # its serving step time alone on the device
    prefill_ms: float  # its own prompt's prefill (TTFT minus its step)
    util_steps: int  # its --gpu-memory-utilization in 1e-4 steps
    memory: MemoryEstimate = field(repr=False, compare=False)

    @property
    def utilization(self) -> float:
        """The engine's --gpu-memory-utilization (a multiple of 1e-4)."""
        return self.util_steps / UTIL_STEPS


@dataclass(frozen=True)
class Pattern:
    """One shared device of ``gpu``: engines of ``models`` holding ``concurrency`` sequences each (same order)."""

    key: str
    gpu: str
    models: tuple[str, ...]
    concurrency: tuple[int, ...]
    engines: tuple[SharedEngine, ...] = field(repr=False, compare=False)

    def sequences_of(self, model: str) -> int:
        return self.concurrency[self.models.index(model)] if model in self.models else 0


class EngineLadder:
    """A model's engines on one GPU type for c = 1 .. ``cmax`` sequences (the demand, or what the usable memory holds);
    step times are computed on first use."""

    def __init__(self, m: ModelReq, g: GPU, s: Scenario, c: PerfConstants, mem: MemoryEstimate) -> None:
        self.m, self.g, self.c, self.mem = m, g, c, mem
        self.s = s
        self.total = mem.per_device.total_bytes
        usable = mem.per_device.usable_bytes
        self._mems: dict[int, MemoryEstimate] = {mem.max_num_seqs: mem}
        self._utils: dict[int, int] = {}
        assert m.concurrency is not None
        top, most = 0, min(m.concurrency, m.engine.max_num_seqs or m.concurrency)  # vLLM runs at most max_num_seqs
        while top < most:  # the largest c whose engine fits the usable memory (need grows with c): bisection
            mid = (top + most + 1) // 2
            if self.need(mid) <= usable:
                top = mid
            else:
                most = mid - 1
        self.cmax = top
        self._engines: dict[int, SharedEngine] = {}
        self._caps: dict[int, float] = {}
        self._terms: dict[int, tuple[int, int, float, float]] = {}
        self._solo: int | None = None

    def memory_at(self, conc: int) -> MemoryEstimate:
        """The engine's budget at ``conc`` sequences: vLLM profiles the sampler on its --max-num-seqs rows
        (memory.planned_max_num_seqs), so an engine above the version's default max_num_seqs needs more."""
        n = planned_max_num_seqs(self.m.engine, self.g, conc)
        got = self._mems.get(n)
        if got is None:
            got = self._mems[n] = _engine_memory(self.m, self.g, self.s, n)
        return got

    def util(self, conc: int) -> int:
        """The engine's utilization fraction in 1e-4 steps: ceil((fixed + c x seq_kv) / device bytes x 1e4), the fixed
        bytes at the engine's --max-num-seqs."""
        got = self._utils.get(conc)
        if got is None:
            mem = self.memory_at(conc)
            got = self._utils[conc] = -(-(mem.fixed_bytes_per_device + conc * mem.seq_kv_bytes) * UTIL_STEPS // self.total)
        return got

    def need(self, conc: int) -> int:
        """The engine's bytes: its fraction of the device (rounded up to 1e-4) times the device's bytes."""
        return -(-self.util(conc) * self.total // UTIL_STEPS)

    def engine(self, conc: int) -> SharedEngine:
        e = self._engines.get(conc)
        if e is None:
            m = self.m
            sp = serving_point(m.arch, self.g, self.c, precision=self.mem.precision, kv_cache_dtype=self.mem.kv_cache_dtype,
                               tp=1, pp=1, batch=conc, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
            e = SharedEngine(model=m.name, gpu=self.g.id, concurrency=conc, memory_bytes=self.need(conc),
                             step_ms=sp.serving_step_ms, prefill_ms=sp.ttft_ms - sp.serving_step_ms,
                             util_steps=self.util(conc), memory=self.memory_at(conc))
            self._engines[conc] = e
        return e

    def terms(self, conc: int) -> tuple[int, int, float, float]:
        """(need, util, step_ms, step_cap) at ``conc`` sequences in one lookup: the pattern enumeration reads all four
        for every (engine, size) it visits."""
        got = self._terms.get(conc)
        if got is None:
            got = self._terms[conc] = (self.need(conc), self.util(conc), self.engine(conc).step_ms, self.step_cap(conc))
        return got

    def step_cap(self, conc: int) -> float:
        """The longest device step (all engines' steps together) this engine's SLO allows at ``conc`` sequences."""
        got = self._caps.get(conc)
        if got is None:
            got = self._caps[conc] = self._step_cap(conc)
        return got

    def solo_max(self) -> int:
        """The most sequences one engine holds while it keeps its SLO running alone on the device: ``cmax`` without
        an SLO, else the largest c with step(c) <= step_cap(c) (0: not even one sequence keeps it). No engine of a
        shared device holds more: the device's step is at least the engine's own, and the rules are monotone in c."""
        if self._solo is None:
            if self.m.min_tokens_per_s is None and self.m.max_ttft_ms is None:
                self._solo = self.cmax
            else:
                lo, hi = 0, self.cmax  # bisection: the SLO's rule is monotone in c (``_vectors``)
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    lo, hi = (mid, hi) if self.engine(mid).step_ms <= self.step_cap(mid) + 1e-9 else (lo, mid - 1)
                self._solo = lo
        return self._solo

    def slo_share_line(self) -> tuple[int, int]:
        """(a, b): a line under the share of the device's time one engine of this model takes under its SLO, in
        1e-6 (SHARE_UNITS): share(c) = step(c) / step_cap(c) >= (a + b (c - 1)) / 1e6 for c = 1 .. solo_max, with
        a = step(1) / step_cap(1) and b = min over c of (step(c) - step(1)) / (c - 1) / step_cap(1), both rounded
        down ((0, 0) without an SLO). step_cap(1) is the largest cap (caps fall with c), so the line holds for every
        c. On a device whose engines' steps sum to T <= every SLO engine's cap, the SLO engines' shares sum to at most
        1 (the pooled relaxation's time row: sum_m a_m e_m + b_m (z_m - e_m) <= 1e6 v)."""
        if self.m.min_tokens_per_s is None and self.m.max_ttft_ms is None:
            return 0, 0
        cap = self.step_cap(1)
        if math.isinf(cap):
            return 0, 0
        if cap <= 0:
            return SHARE_UNITS + 1, 0  # not even one sequence keeps the SLO (solo_max is 0)
        first = self.engine(1).step_ms
        slope = min(((self.engine(c).step_ms - first) / (c - 1) for c in range(2, self.solo_max() + 1)), default=0.0)
        return math.floor(first / cap * SHARE_UNITS), max(0, math.floor(slope / cap * SHARE_UNITS))

    def _step_cap(self, conc: int) -> float:
        m = self.m
        cap = math.inf
        if m.min_tokens_per_s is not None:
            cap = 1000.0 / m.min_tokens_per_s
        if m.max_ttft_ms is not None:
            cap = min(cap, m.max_ttft_ms - self.engine(conc).prefill_ms)
        return cap


def engine_ladder(m: ModelReq, g: GPU, s: Scenario, c: PerfConstants) -> EngineLadder | None:
    """The model's engine ladder on ``g``, or None when it may not share (a rate workload, tp/pp lists without 1, a
    parallelism rule, a context over the model's maximum, or not even one sequence fits)."""
    if m.request_rate_per_s is not None or m.concurrency is None:
        return None  # rate workloads are sized by latency under load; they get whole devices
    if (m.tp and 1 not in m.tp) or (m.pp and 1 not in m.pp):
        return None  # a shared engine is TP1 x PP1: the model's lists must allow it
    if m.engine.kv_cache_memory_bytes:
        return None  # a fixed KV pool (--kv-cache-memory-bytes) is not sized by the engine's share of the device
    if parallel_problem(m.arch, g, 1, 1, m.precision, m.kv_cache_dtype) or m.context_tokens > m.arch.max_context:
        return None
    lad = EngineLadder(m, g, s, c, _engine_memory(m, g, s, planned_max_num_seqs(m.engine, g, 1)))
    return lad if lad.cmax >= 1 else None


def _engine_memory(m: ModelReq, g: GPU, s: Scenario, max_num_seqs: int) -> MemoryEstimate:
    """A shared engine's (TP1 x PP1) budget at --max-num-seqs ``max_num_seqs``, under the model's engine profile."""
    return estimate_memory(m.arch, g, tp=1, pp=1, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                           context_tokens=m.context_tokens, concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                           max_batched_tokens=m.max_batched_tokens, max_num_seqs=max_num_seqs, engine=m.engine)


class _Budget:
    """Partial vectors the exact enumeration may still visit (all GPU types together), and the command's deadline."""

    def __init__(self, visits: int, deadline: float | None) -> None:
        self.left = visits
        self.deadline = deadline

    def spend(self) -> bool:
        self.left -= 1
        if self.left % 1024 == 0:
            check_deadline(self.deadline)
        return self.left >= 0


def check_deadline(deadline: float | None) -> None:
    """Raise SolveTimeoutError once the command's wall-clock deadline (time.perf_counter) has passed."""
    if deadline is not None and time.perf_counter() > deadline:
        raise SolveTimeoutError("no plan within the time limit: building the candidates and sharing patterns took all "
                                "of it; raise --time-limit")


def _vectors(lads: list[EngineLadder], sizes: list[list[int]], usable: int, util_cap: int, emax: int,
             budget: _Budget) -> list[tuple[tuple[int, int], ...]] | None:
    """Every Pareto-maximal vector of >= 2 engines (as (ladder index, sequences) pairs, sequences taken from
    ``sizes`` of that ladder) that one device runs, or None when the budget runs out. Depth-first over models in order
    and sizes upward, the sums carried along; a size that breaks a rule ends its loop (feasibility is monotone)."""
    out: list[tuple[tuple[int, int], ...]] = []
    nxt_size = [dict(zip(sz, [*sz[1:], None], strict=True)) for sz in sizes]

    def ok(mem: int, util: int, step: float, cap: float) -> bool:
        return mem <= usable and util <= util_cap and step <= cap + 1e-9

    def grown(vec: list[tuple[int, int]], sums: tuple[int, int, float], k: int, up: int) -> bool:
        """Does ``vec`` still fit with engine k at ``up`` sequences (k == len(vec): a new engine)?"""
        mem, util, step = sums
        if k < len(vec):
            i, c = vec[k]
            n_k, u_k, s_k, _ = lads[i].terms(c)
            mem, util, step = mem - n_k, util - u_k, step - s_k
            i_new = i
        else:
            i_new = up >> 32
            up &= 0xFFFFFFFF
        n_up, u_up, s_up, cap_up = lads[i_new].terms(up)
        cap = min([lads[i].terms(c)[3] for j, (i, c) in enumerate(vec) if j != k] + [cap_up])
        return ok(mem + n_up, util + u_up, step + s_up, cap)

    def maximal(vec: list[tuple[int, int]], sums: tuple[int, int, float]) -> bool:
        for k, (i, c) in enumerate(vec[:-1]):
            up = nxt_size[i][c]
            if up is not None and grown(vec, sums, k, up):
                return False
        if len(vec) < emax:
            present = {i for i, _ in vec}
            if any(j not in present and grown(vec, sums, len(vec), (j << 32) | sizes[j][0]) for j in range(len(lads))):
                return False
        return True

    def extend(vec: list[tuple[int, int]], start: int, mem: int, util: int, step: float, cap: float) -> bool:
        for i in range(start, len(lads)):
            for c in sizes[i]:
                if not budget.spend():
                    return False
                n_c, u_c, s_c, cap_c = lads[i].terms(c)
                m2, u2 = mem + n_c, util + u_c
                s2, cap2 = step + s_c, min(cap, cap_c)
                if not ok(m2, u2, s2, cap2):
                    break
                nxt = [*vec, (i, c)]
                up = nxt_size[i][c]
                sums = (m2, u2, s2)
                if len(nxt) >= 2 and (up is None or not grown(nxt, sums, len(nxt) - 1, up)) and maximal(nxt, sums):
                    out.append(tuple(nxt))
                if len(nxt) < emax and not extend(nxt, i + 1, m2, u2, s2, cap2):
                    return False
        return True

    return out if extend([], 0, 0, 0, 0.0, math.inf) else None


def grown_vector(vec: list[tuple[EngineLadder, int]],
                 fits: Callable[[list[tuple[EngineLadder, int]]], bool]) -> list[tuple[EngineLadder, int]]:
    """Each engine of ``vec`` in turn raised to the most sequences (up to its ladder's cmax) with which ``fits`` still
    holds, by bisection (the rules are monotone in c): a Pareto-maximal vector."""
    out = list(vec)
    for i, (lad, c) in enumerate(out):
        lo, hi = c, lad.cmax
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits([*out[:i], (lad, mid), *out[i + 1:]]) else (lo, mid - 1)
        out[i] = (lad, lo)
    return out


def pattern_of(gid: str, engines: list[SharedEngine]) -> Pattern:
    """The pattern of one device of ``gid`` running ``engines`` (keyed and ordered by model name)."""
    es = sorted(engines, key=lambda e: e.model)
    return Pattern(key=f"{gid}|" + "+".join(f"{e.model}:{e.concurrency}" for e in es), gpu=gid,
                   models=tuple(e.model for e in es), concurrency=tuple(e.concurrency for e in es), engines=tuple(es))


def patterns(s: Scenario, ladders: dict[tuple[str, str], EngineLadder], standalone: dict[str, float],
             offers: list[PricedOffer], deadline: float | None = None) -> tuple[list[Pattern], list[str], tuple[str, ...]]:
    """Sharing patterns per GPU type: (patterns, GPU types whose restricted enumeration stopped at a cap, GPU types
    whose patterns are restricted).

    Per GPU type: exact (every Pareto-maximal vector) while the enumeration stays within EXACT_VISITS; otherwise
    over a few engine sizes per model (``_levels``) within LEVEL_VISITS; otherwise (very large fleets) one size per
    model with the cost-based cuts of ``_restricted``. Any type not exact makes the space restricted (on those types
    ``planner.solve.slots`` searches the whole space)."""
    if not s.sharing.enabled:
        return [], [], ()
    emax = s.sharing.max_engines_per_device
    per_gpu: dict[str, list[EngineLadder]] = {}
    for (_, g), lad in sorted(ladders.items()):
        per_gpu.setdefault(g, []).append(lad)
    util_cap = round(s.gpu_memory_utilization * UTIL_STEPS)
    out: list[Pattern] = []
    restricted: list[str] = []
    one_size: list[str] = []
    # per GPU type, so that a type's patterns never depend on the other types (adding a type only adds patterns)
    for gid, lads in per_gpu.items():
        if len(lads) < 2:
            continue
        usable = lads[0].mem.per_device.usable_bytes
        vecs = None
        exact = [list(range(1, lad.cmax + 1)) for lad in lads]
        if sum(map(len, exact)) + len(lads) * (len(lads) - 1) // 2 <= EXACT_VISITS:
            vecs = _vectors(lads, exact, usable, util_cap, emax, _Budget(EXACT_VISITS, deadline))
        if vecs is None:  # restricted: engine sizes demand / k for a few k (and what one device holds)
            restricted.append(gid)
            if len(lads) * (len(lads) - 1) // 2 <= LEVEL_VISITS:
                vecs = _vectors(lads, [_levels(lad) for lad in lads], usable, util_cap, emax,
                                _Budget(LEVEL_VISITS, deadline))
        if vecs is None:
            one_size.append(gid)
            continue
        out += [pattern_of(gid, [lads[i].engine(c) for i, c in v]) for v in vecs]
    truncated: list[str] = []
    if one_size:  # very large fleets: one engine size per model on these types, with the old cuts
        more, truncated, _ = _restricted(s, {k: v for k, v in ladders.items() if k[1] in one_size}, standalone, offers,
                                         deadline)
        out += more
    return out, truncated, tuple(restricted)


def _levels(lad: EngineLadder) -> list[int]:
    """The restricted space's engine sizes: ceil(demand / k) for k in LEVEL_SPLITS and min_replicas, within cmax."""
    assert lad.m.concurrency is not None
    ks = (*LEVEL_SPLITS, lad.m.min_replicas)
    return sorted({min(lad.cmax, -(-lad.m.concurrency // k)) for k in ks})


def _all_vectors(per_gpu: dict[str, list[EngineLadder]], sizes: dict[str, list[list[int]]], usable: dict[str, int],
                 util_cap: int, emax: int, budget: _Budget) -> list[Pattern] | None:
    out: list[Pattern] = []
    for gid, lads in per_gpu.items():
        if len(lads) < 2:
            continue
        vecs = _vectors(lads, sizes[gid], usable[gid], util_cap, emax, budget)
        if vecs is None:
            return None
        out += [pattern_of(gid, [lads[i].engine(c) for i, c in v]) for v in vecs]
    return out


def _restricted(s: Scenario, ladders: dict[tuple[str, str], EngineLadder], standalone: dict[str, float],
                offers: list[PricedOffer], deadline: float | None) -> tuple[list[Pattern], list[str], bool]:
    """The restricted space, for fleets whose exact enumeration is too large: each model runs engines of one size,
    ceil(demand / min_replicas), that fit half a device; sets of them form maximal patterns, up to PATTERN_BUDGET;
    beyond it each model shares only on its SHARING_TYPES_PER_MODEL GPU types where its engine's share of a device
    is cheapest, and the cost-based cuts of ``_enumerate`` apply."""
    shared: dict[tuple[str, str], SharedEngine] = {}
    for key, lad in ladders.items():
        assert lad.m.concurrency is not None
        conc = math.ceil(lad.m.concurrency / lad.m.min_replicas)
        if conc <= lad.cmax and lad.need(conc) * 2 <= lad.mem.per_device.usable_bytes:
            shared[key] = lad.engine(conc)
    device_cost: dict[str, float] = {}  # the least one GPU of the type can cost: its lowest price per GPU-hour
    for o in offers:
        device_cost[o.gpu] = min(device_cost.get(o.gpu, float("inf")), o.usd_per_gpu_hour)
    out, truncated = _enumerate(s, shared, standalone, device_cost, False, deadline)
    if len(out) <= PATTERN_BUDGET:
        return out, truncated, True
    by_model: dict[str, list[tuple[float, str]]] = {}
    for (name, gid), e in shared.items():
        usable = s.catalog.gpus[gid].memory_gib * GIB * s.gpu_memory_utilization
        by_model.setdefault(name, []).append((device_cost.get(gid, float("inf")) * e.memory_bytes / usable, gid))
    for k in range(SHARING_TYPES_PER_MODEL, 0, -1):  # fewer GPU types per model until the patterns are few enough
        allowed = {(name, gid) for name, opts in by_model.items() for _, gid in sorted(opts)[:k]}
        out, truncated = _enumerate(s, {key: v for key, v in shared.items() if key in allowed}, standalone, device_cost,
                                    True, deadline)
        if len(out) <= PATTERN_BUDGET * 5:
            break
    return out, truncated, True


def pattern_ok(engines: list[SharedEngine], usable: int, slos: dict[str, tuple[float | None, float | None]],
               util_cap: int) -> bool:
    """Memory and utilization fractions fit one device, and every engine's SLO holds when the device runs all their
    steps in turn."""
    if sum(e.memory_bytes for e in engines) > usable:
        return False
    if sum(e.util_steps for e in engines) > util_cap:
        return False
    step = sum(e.step_ms for e in engines)
    for e in engines:
        min_tps, max_ttft = slos[e.model]
        if min_tps is not None and 1000.0 / step < min_tps:
            return False
        if max_ttft is not None and e.prefill_ms + step > max_ttft:
            return False
    return True


def _enumerate(s: Scenario, shared: dict[tuple[str, str], SharedEngine], standalone: dict[str, float],
               device_cost: dict[str, float], prune: bool, deadline: float | None) -> tuple[list[Pattern], list[str]]:
    """Maximal patterns per GPU type. With ``prune`` (large fleets only), an engine joins patterns on a type only when
    a GPU there costs less than ``emax`` times its standalone cost, and a pattern is kept only when a GPU costs less
    than its models' standalone costs together. Both prunings assume the device is bought for the pattern alone, so
    they are not exact (a device bought for a large model carries small ones for free) and are used only beyond the
    pattern budget."""
    slos = {m.name: (m.min_tokens_per_s, m.max_ttft_ms) for m in s.models}
    out: list[Pattern] = []
    truncated: list[str] = []
    emax = s.sharing.max_engines_per_device
    for gid in sorted({g for _, g in shared}):
        engines = sorted((e for (mn, g), e in shared.items() if g == gid), key=lambda e: (-e.memory_bytes, e.model))
        if len(engines) < 2:
            continue
        if prune:
            engines = [e for e in engines if device_cost.get(gid, float("inf")) < emax * standalone.get(e.model, 0.0)]
            if len(engines) < 2:
                continue
        usable = int(s.catalog.gpus[gid].memory_gib * GIB * s.gpu_memory_utilization)
        found, hit_cap = _maximal_sets(engines, usable, slos, emax, round(s.gpu_memory_utilization * UTIL_STEPS),
                                       deadline)
        if hit_cap:
            truncated.append(gid)
        if prune:
            found = [t for t in found if device_cost.get(gid, float("inf")) < sum(standalone.get(engines[i].model, 0.0) for i in t)]
        out += [pattern_of(gid, [engines[i] for i in t]) for t in found]
    return out, truncated


def _maximal_sets(engines: list[SharedEngine], usable: int, slos: dict[str, tuple[float | None, float | None]],
                  emax: int, util_cap: int, deadline: float | None) -> tuple[list[tuple[int, ...]], bool]:
    """Depth-first: every set of at most ``emax`` engines that fits one device (``pattern_ok``) and to which no other
    engine can be added. Returns the sets (as indices) and whether the enumeration stopped at its caps."""
    found: list[tuple[int, ...]] = []
    visits = 0

    def extend(chosen: list[int], start: int) -> None:
        nonlocal visits
        visits += 1
        if visits % 1024 == 0:
            check_deadline(deadline)
        if len(found) >= MAX_PATTERNS_PER_GPU or visits > MAX_PATTERN_VISITS:
            return
        grew = False
        if len(chosen) < emax:
            for j in range(start, len(engines)):
                if pattern_ok([engines[i] for i in chosen] + [engines[j]], usable, slos, util_cap):
                    grew = True
                    extend([*chosen, j], j + 1)
        if not grew and len(chosen) >= 2:
            cur = [engines[i] for i in chosen]
            # maximal: no engine at all (not only later ones) can join
            if len(chosen) >= emax or not any(
                j not in chosen and pattern_ok([*cur, engines[j]], usable, slos, util_cap) for j in range(len(engines))
            ):
                found.append(tuple(chosen))

    extend([], 0)
    return found, len(found) >= MAX_PATTERNS_PER_GPU or visits > MAX_PATTERN_VISITS

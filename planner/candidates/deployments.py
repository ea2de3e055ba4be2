"""Candidate deployments for each model of a scenario, the priced offers, and device-sharing patterns.

For every model, every (GPU type, TP, PP) that passes the parallelism rules is estimated; those that fit become
candidates with a per-replica capacity (the smaller of memory and SLO capacity), the rest are kept as rejections
with their reason. Dominated candidates (another split on the same GPU type with no more GPUs, no larger TP group
and no less capacity) are dropped, and recorded as rejections too.

Capacity units: a model's demand and a replica's capacity are counted in sequences (concurrency workloads) or in
milli-requests per second (request-rate workloads, by Little's law per replica: capacity / (TTFT + output x step)).

Sharing: a small model whose whole demand fits in one engine using part of a device may run beside others.
A pattern is a maximal set of such engines (one per model, at most ``max_engines_per_device``) whose memory fits
one device and whose SLOs still hold when they time-share it (each step waits for the others' steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from planner.estimate.memory import MemoryEstimate, estimate_memory, parallel_problem
from planner.estimate.speed import PerfConstants, constants_for, load_calibration, max_batch_for_slo, serving_point
from planner.inputs.catalog import GPU
from planner.inputs.pricing import PricedOffer, priced_offers
from planner.inputs.scenario import ModelReq, Scenario
from planner.units import GIB, TP_SIZES

TP_CHOICES = TP_SIZES
MAX_PP = 16
MAX_PATTERNS_PER_GPU = 4000  # sharing patterns enumerated per GPU type before the search stops (reported)
MAX_PATTERN_VISITS = 200_000  # partial sets explored per GPU type before the search stops (reported)
SHARING_TYPES_PER_MODEL = 3  # when patterns exceed PATTERN_BUDGET: share only on a model's 3 cheapest-to-share GPU types
PATTERN_BUDGET = 2_000  # all maximal patterns are used up to this many; beyond it the restriction above applies


@dataclass(frozen=True)
class Candidate:
    """One way to run a replica of a model: GPU type, TP x PP, and what a replica delivers."""

    key: str
    model: str
    gpu: str
    tp: int
    pp: int
    max_concurrency: int  # sequences per replica the plan may load it with: min(memory, SLO)
    memory_concurrency: int
    slo_concurrency: int | None
    bound: str  # "memory" or "slo"
    capacity_units: int  # counts toward the model's demand (sequences, or milli-requests/s)
    memory: MemoryEstimate = field(repr=False, compare=False)
    decode_ms_per_token: float = 0.0  # at full load
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0  # replica output tokens/s at full load

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def to_dict(self) -> dict[str, Any]:
        d = self.memory.per_device
        return {
            "model": self.model, "gpu": self.gpu, "tp": self.tp, "pp": self.pp, "gpus": self.gpus,
            "max_concurrency": self.max_concurrency, "memory_concurrency": self.memory_concurrency,
            "slo_concurrency": self.slo_concurrency, "bound": self.bound, "capacity_units": self.capacity_units,
            "memory_bytes_per_device": d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.overhead_bytes,
            "weights_bytes_per_device": d.weights_bytes, "kv_cache_bytes_per_device": d.kv_cache_bytes,
            "decode_ms_per_token": round(self.decode_ms_per_token, 3), "ttft_ms": round(self.ttft_ms, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
        }


@dataclass(frozen=True)
class Rejection:
    model: str
    gpu: str
    tp: int
    pp: int
    reason: str
    shortfall_bytes: int | None = None  # per device, when memory is what failed

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "gpu": self.gpu, "tp": self.tp, "pp": self.pp, "reason": self.reason}


@dataclass(frozen=True)
class SharedEngine:
    """A model's engine on part of a device: it serves the model's whole demand split over ``engines`` devices."""

    model: str
    gpu: str
    concurrency: int  # sequences per engine
    memory_bytes: int  # weights + activation + runtime + KV for ``concurrency`` sequences
    step_ms: float  # its serving step time alone on the device
    prefill_ms: float  # its own prompt's prefill
    memory: MemoryEstimate = field(repr=False, compare=False)


@dataclass(frozen=True)
class Pattern:
    """A set of shared engines (by model name) that one device of ``gpu`` runs together."""

    key: str
    gpu: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class CandidateSet:
    scenario: Scenario
    demand: dict[str, int]  # model -> demand units
    unit: dict[str, str]  # model -> "sequences" or "milli_requests_per_s"
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]
    offers: tuple[PricedOffer, ...]
    shared: dict[tuple[str, str], SharedEngine]  # (model, gpu) -> engine
    patterns: tuple[Pattern, ...]
    patterns_truncated: tuple[str, ...]  # GPU types whose pattern enumeration hit the cap
    sharing_restricted: bool = False  # patterns exceeded PATTERN_BUDGET: sharing limited to 3 GPU types per model
    calibration: dict[str, PerfConstants] = field(repr=False, compare=False, default_factory=dict)

    @cached_property
    def _by_model(self) -> dict[str, list[Candidate]]:
        out: dict[str, list[Candidate]] = {}
        for c in self.candidates:
            out.setdefault(c.model, []).append(c)
        return out

    def for_model(self, model: str) -> list[Candidate]:
        """The candidates of one model (indexed once; callers ask for every model)."""
        return self._by_model.get(model, [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_dict() for c in self.candidates],
            "offers": [
                {"id": o.id, "gpu": o.gpu, "provider": o.provider, "instance": o.instance,
                 "gpus_per_instance": o.gpus_per_instance, "usd_per_hour": o.usd_per_hour,
                 "max_instances": o.max_instances, "source": o.source, "as_of": o.as_of}
                for o in self.offers
            ],
            "rejected": [r.to_dict() for r in self.rejected],
            "shared_engines": [
                {"model": e.model, "gpu": e.gpu, "concurrency": e.concurrency, "memory_bytes": e.memory_bytes}
                for e in self.shared.values()
            ],
            "sharing_patterns": [{"gpu": p.gpu, "models": list(p.models)} for p in self.patterns],
        }


def demand_units(m: ModelReq) -> tuple[int, str]:
    if m.request_rate_per_s is not None:
        return math.ceil(m.request_rate_per_s * 1000 - 1e-9), "milli_requests_per_s"
    assert m.concurrency is not None
    return m.concurrency, "sequences"


def _splits(m: ModelReq, gpu: GPU) -> list[tuple[int, int]]:
    tps = [t for t in (m.tp or TP_CHOICES) if t <= gpu.max_gpus_per_node]
    pps = list(m.pp or range(1, MAX_PP + 1))
    return [(t, p) for t in tps for p in pps]


def build_candidates(scenario: Scenario) -> CandidateSet:
    """All candidates, offers, rejections and sharing patterns of a scenario (pure; no solver)."""
    cal = load_calibration(scenario.calibration_path)
    cat = scenario.catalog
    offers: list[PricedOffer] = []
    priced_gpus: set[str] = set()
    for gid in sorted(scenario.gpu_ids):
        g = cat.gpus[gid]
        os_ = priced_offers(g, scenario.pricing, scenario.owned, scenario.providers, scenario.limits)
        offers += os_
        if os_:
            priced_gpus.add(gid)
    cands: list[Candidate] = []
    rejected: list[Rejection] = []
    demand: dict[str, int] = {}
    unit: dict[str, str] = {}
    shared: dict[tuple[str, str], SharedEngine] = {}
    cache: dict[tuple, tuple[list[Candidate], list[Rejection]]] = {}
    for m in scenario.models:
        demand[m.name], unit[m.name] = demand_units(m)
        for gid in scenario.gpu_ids:
            g = cat.gpus[gid]
            if gid not in priced_gpus:
                rejected.append(Rejection(m.name, gid, 0, 0, _no_price_reason(g, scenario)))
                continue
            c_ = constants_for(g, cal)
            largest = max(o.gpus_per_instance for o in offers if o.gpu == gid)
            shape = (m.arch, m.precision, m.kv_cache_dtype, m.context_tokens, m.input_tokens, m.output_tokens,
                     m.max_batched_tokens, m.min_tokens_per_s, m.max_ttft_ms, m.request_rate_per_s is not None, m.tp, m.pp)
            memo = cache.get((shape, gid))
            if memo is not None:  # an identical deployment of another model: same candidates, other name
                kept_, rej_ = memo
                cands += [replace(c, model=m.name, key=f"{m.name}|{c.key.split('|', 1)[1]}") for c in kept_]
                rejected += [replace(r, model=m.name) for r in rej_]
                if scenario.sharing.enabled:
                    eng = _shared_engine(m, g, scenario, c_)
                    if eng is not None:
                        shared[(m.name, gid)] = eng
                continue
            n_rej = len(rejected)
            found: list[Candidate] = []
            splits = [sp for sp in _splits(m, g) if sp[0] <= largest]
            for tp in sorted({sp[0] for sp in _splits(m, g)} - {sp[0] for sp in splits}):
                rejected.append(Rejection(m.name, gid, tp, 1, f"no priced {gid} offer holds a TP group of {tp} "
                                          f"(largest instance: {largest} GPU{'s' if largest > 1 else ''})"))
            for tp, pp in [sp for sp in splits if sp[1] == 1]:
                why = parallel_problem(m.arch, g, tp, pp, m.precision, m.kv_cache_dtype)
                if why:
                    rejected.append(Rejection(m.name, gid, tp, pp, why))
                    continue
                cand, rej = _candidate(m, g, tp, pp, scenario, c_)
                if cand:
                    found.append(cand)
                elif rej:
                    rejected.append(rej)
            if not found:
                # pipeline stages across machines, only for a model that no single machine holds: each stage is a
                # whole machine (the largest TP group the GPU type's priced instances and the model's heads allow),
                # with the smallest PP that fits and twice that (more stages buy KV room at the price of GPUs)
                tps = [t for t in sorted({sp[0] for sp in splits}, reverse=True)
                       if not parallel_problem(m.arch, g, t, 1, m.precision, m.kv_cache_dtype)]
                rej = None
                if tps:
                    tp = tps[0]
                    first_fit = None
                    for pp in sorted({sp[1] for sp in splits if sp[0] == tp and sp[1] > 1}):
                        if parallel_problem(m.arch, g, tp, pp, m.precision, m.kv_cache_dtype):
                            continue
                        cand, rej = _candidate(m, g, tp, pp, scenario, c_)
                        if cand:
                            found.append(cand)
                            first_fit = first_fit or pp
                            if pp >= 2 * first_fit:
                                break
                    if not found:
                        last = max((sp[1] for sp in splits if sp[0] == tp), default=1)
                        reason = rej.reason if rej else "no pipeline split passes the parallelism rules"
                        rejected.append(Rejection(m.name, gid, tp, last, f"no split up to TP={tp} x PP={last} fits: {reason}",
                                                  rej.shortfall_bytes if rej else None))
            kept, dominated = _prune(found)
            cands += kept
            rejected += [Rejection(d.model, d.gpu, d.tp, d.pp, f"dominated by TP={b.tp} PP={b.pp} on {b.gpu} "
                                   f"({b.gpus} GPUs, {b.max_concurrency} sequences)") for d, b in dominated]
            if m.request_rate_per_s is None:  # rate workloads' capacity depends on nothing else, but keep it simple
                cache[(shape, gid)] = (kept, rejected[n_rej:])
            if scenario.sharing.enabled:
                eng = _shared_engine(m, g, scenario, c_)
                if eng is not None:
                    shared[(m.name, gid)] = eng
    standalone = _standalone_costs(scenario, cands, shared, offers, demand)
    patterns, truncated, restricted = _patterns(scenario, shared, standalone, offers)
    # offers of GPU types that no candidate or pattern uses are still listed (reports show them); order is stable
    return CandidateSet(scenario=scenario, demand=demand, unit=unit, candidates=tuple(cands), rejected=tuple(rejected),
                        offers=tuple(offers), shared=shared, patterns=tuple(patterns), patterns_truncated=tuple(truncated),
                        sharing_restricted=restricted, calibration=cal)


def _no_price_reason(g: GPU, s: Scenario) -> str:
    if s.pricing == "owned":
        return f"no purchase price for {g.id} in the catalog (owned pricing needs one)"
    if s.providers is not None and any(o.provider not in s.providers for o in g.offers):
        return f"no {s.pricing.replace('_', '-')} offer for {g.id} from providers {', '.join(s.providers)}"
    return f"no {s.pricing.replace('_', '-')} price for {g.id} in the catalog (add an offer in your catalog)"


def _candidate(m: ModelReq, g: GPU, tp: int, pp: int, s: Scenario, c: PerfConstants) -> tuple[Candidate | None, Rejection | None]:
    mem = estimate_memory(m.arch, g, tp=tp, pp=pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                          context_tokens=m.context_tokens, concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                          max_batched_tokens=m.max_batched_tokens)
    if mem.max_concurrency < 1:
        short = mem.per_device.weights_bytes + mem.per_device.activation_bytes + mem.per_device.overhead_bytes \
            + mem.seq_kv_bytes - mem.per_device.usable_bytes
        return None, Rejection(m.name, g.id, tp, pp, mem.reason or "does not fit", max(0, short))
    slo = max_batch_for_slo(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp,
                            input_tokens=m.input_tokens, output_tokens=m.output_tokens, upper=mem.max_concurrency,
                            min_tokens_per_s=m.min_tokens_per_s, max_ttft_ms=m.max_ttft_ms)
    has_slo = m.min_tokens_per_s is not None or m.max_ttft_ms is not None
    cap = min(mem.max_concurrency, slo)
    if cap < 1:
        sp = serving_point(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp, batch=1,
                           input_tokens=m.input_tokens, output_tokens=m.output_tokens)
        why = []
        if m.min_tokens_per_s is not None and sp.tokens_per_s_per_stream < m.min_tokens_per_s:
            why.append(f"{sp.tokens_per_s_per_stream:.1f} tokens/s per stream at batch 1 < SLO {m.min_tokens_per_s:g}")
        if m.max_ttft_ms is not None and sp.ttft_ms > m.max_ttft_ms:
            why.append(f"TTFT {sp.ttft_ms:.0f} ms at batch 1 > SLO {m.max_ttft_ms:g} ms")
        return None, Rejection(m.name, g.id, tp, pp, "SLO not met even at batch 1: " + "; ".join(why))
    sp = serving_point(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp, batch=cap,
                       input_tokens=m.input_tokens, output_tokens=m.output_tokens)
    if m.request_rate_per_s is not None:
        e2e_s = (sp.ttft_ms + m.output_tokens * sp.serving_step_ms) / 1000.0
        units = int(math.floor(cap / e2e_s * 1000))  # milli-requests/s one replica sustains (Little's law)
        if units < 1:
            return None, Rejection(m.name, g.id, tp, pp, "a replica sustains less than 0.001 requests/s")
    else:
        units = cap
    return Candidate(
        key=f"{m.name}|{g.id}|tp{tp}|pp{pp}", model=m.name, gpu=g.id, tp=tp, pp=pp, max_concurrency=cap,
        memory_concurrency=mem.max_concurrency, slo_concurrency=slo if has_slo else None,
        bound="slo" if has_slo and slo < mem.max_concurrency else "memory", capacity_units=units, memory=mem,
        decode_ms_per_token=sp.serving_step_ms, ttft_ms=sp.ttft_ms, tokens_per_s=sp.tokens_per_s,
    ), None


def _prune(found: list[Candidate]) -> tuple[list[Candidate], list[tuple[Candidate, Candidate]]]:
    """Drop candidate c when some kept k has no larger TP group and n = gpus_c // gpus_k copies of k hold at least
    c's capacity: n replicas of k use no more GPUs, in groups that pack wherever c's groups would (sizes are powers
    of two), and count as more replicas. (n = 1 is the plain case: no more GPUs, no less capacity.)"""
    kept, dominated = [], []
    order = sorted(found, key=lambda c: (c.gpus, c.tp, -c.capacity_units, c.pp))
    for c in order:
        better = next((k for k in kept if k.tp <= c.tp and k.gpus <= c.gpus and c.gpus % k.gpus == 0
                       and (c.gpus // k.gpus) * k.capacity_units >= c.capacity_units), None)
        if better is None:
            kept.append(c)
        else:
            dominated.append((c, better))
    kept.sort(key=lambda c: (c.gpus, c.tp, c.pp))
    return kept, dominated


def _shared_engine(m: ModelReq, g: GPU, s: Scenario, c: PerfConstants) -> SharedEngine | None:
    """The engine that serves ceil(demand / min_replicas) sequences on part of one device, if it fits in half of it."""
    if m.request_rate_per_s is not None or m.concurrency is None:
        return None  # rate workloads are sized by latency under load; they get whole devices
    if parallel_problem(m.arch, g, 1, 1, m.precision, m.kv_cache_dtype):
        return None
    conc = math.ceil(m.concurrency / m.min_replicas)
    mem = estimate_memory(m.arch, g, tp=1, pp=1, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                          context_tokens=m.context_tokens, concurrency=conc, gpu_memory_utilization=s.gpu_memory_utilization,
                          max_batched_tokens=m.max_batched_tokens)
    need = mem.fixed_bytes_per_device + conc * mem.seq_kv_bytes
    total = mem.per_device.total_bytes
    util = math.ceil(need * 10_000 / total) / 10_000  # the engine's --gpu-memory-utilization, rounded up to 1e-4
    need = math.ceil(util * total)
    if need * 2 > mem.per_device.usable_bytes:
        return None
    sp = serving_point(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=1, pp=1, batch=conc,
                       input_tokens=m.input_tokens, output_tokens=m.output_tokens)
    return SharedEngine(model=m.name, gpu=g.id, concurrency=conc, memory_bytes=need, step_ms=sp.serving_step_ms,
                        prefill_ms=sp.ttft_ms - sp.serving_step_ms, memory=mem)


def pattern_ok(engines: list[SharedEngine], usable: int, slos: dict[str, tuple[float | None, float | None]]) -> bool:
    """Memory fits one device, and every engine's SLO holds when the device runs all their steps in turn."""
    if sum(e.memory_bytes for e in engines) > usable:
        return False
    step = sum(e.step_ms for e in engines)
    for e in engines:
        min_tps, max_ttft = slos[e.model]
        if min_tps is not None and 1000.0 / step < min_tps:
            return False
        if max_ttft is not None and e.prefill_ms + step > max_ttft:
            return False
    return True


def _standalone_costs(s: Scenario, cands: list[Candidate], shared: dict[tuple[str, str], SharedEngine],
                      offers: list[PricedOffer], demand: dict[str, int]) -> dict[str, float]:
    """Per model, the cheapest way to serve it alone: replicas on instances bought just for it (one instance per TP
    group, the cheapest holding the group), or its engine alone on one cheapest device per replica."""
    inst: dict[tuple[str, int], float] = {}
    for o in offers:
        for t in TP_SIZES:
            if o.gpus_per_instance >= t:
                key = (o.gpu, t)
                inst[key] = min(inst.get(key, float("inf")), o.usd_per_hour)
    out: dict[str, float] = {}
    reqs = {m.name: m for m in s.models}
    for c in cands:
        r = reqs[c.model].min_replicas
        n = max(r, math.ceil(demand[c.model] / c.capacity_units))
        cost = n * c.pp * inst.get((c.gpu, c.tp), float("inf"))
        out[c.model] = min(out.get(c.model, float("inf")), cost)
    for (name, gid), _e in shared.items():
        out[name] = min(out.get(name, float("inf")), reqs[name].min_replicas * inst.get((gid, 1), float("inf")))
    return out


def _patterns(s: Scenario, shared: dict[tuple[str, str], SharedEngine], standalone: dict[str, float],
              offers: list[PricedOffer]) -> tuple[list[Pattern], list[str], bool]:
    """Maximal sharing patterns per GPU type (depth-first, engines in a stable order).

    Up to PATTERN_BUDGET maximal patterns, all are used: the plan is optimal. Beyond it, each model is offered sharing
    only on its SHARING_TYPES_PER_MODEL (or fewer) GPU types where device cost x its engine's share of the memory is
    lowest, and the cost-based prunings of ``_enumerate`` apply; the plan's notes say so.
    """
    device_cost: dict[str, float] = {}  # the least one GPU of the type can cost: its lowest price per GPU-hour
    for o in offers:
        device_cost[o.gpu] = min(device_cost.get(o.gpu, float("inf")), o.usd_per_gpu_hour)
    out, truncated = _enumerate(s, shared, standalone, device_cost, prune=False)
    if len(out) <= PATTERN_BUDGET:
        return out, truncated, False
    # too many: each model shares only on the GPU types where its engine's share of a device is cheapest
    by_model: dict[str, list[tuple[float, str]]] = {}
    for (name, gid), e in shared.items():
        usable = s.catalog.gpus[gid].memory_gib * GIB * s.gpu_memory_utilization
        by_model.setdefault(name, []).append((device_cost.get(gid, float("inf")) * e.memory_bytes / usable, gid))
    for k in range(SHARING_TYPES_PER_MODEL, 0, -1):  # fewer GPU types per model until the patterns are few enough
        allowed = {(name, gid) for name, opts in by_model.items() for _, gid in sorted(opts)[:k]}
        out, truncated = _enumerate(s, {key: v for key, v in shared.items() if key in allowed}, standalone, device_cost,
                                    prune=True)
        if len(out) <= PATTERN_BUDGET * 5:
            break
    return out, truncated, True


def _enumerate(s: Scenario, shared: dict[tuple[str, str], SharedEngine], standalone: dict[str, float],
               device_cost: dict[str, float], prune: bool) -> tuple[list[Pattern], list[str]]:
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
        found, hit_cap = _maximal_sets(engines, usable, slos, emax)
        if hit_cap:
            truncated.append(gid)
        if prune:
            found = [t for t in found if device_cost.get(gid, float("inf")) < sum(standalone.get(engines[i].model, 0.0) for i in t)]
        for t in found:
            names = tuple(sorted(engines[i].model for i in t))
            out.append(Pattern(key=f"{gid}|" + "+".join(names), gpu=gid, models=names))
    return out, truncated


def _maximal_sets(engines: list[SharedEngine], usable: int, slos: dict[str, tuple[float | None, float | None]],
                  emax: int) -> tuple[list[tuple[int, ...]], bool]:
    """Depth-first: every set of at most ``emax`` engines that fits one device (``pattern_ok``) and to which no other
    engine can be added. Returns the sets (as indices) and whether the enumeration stopped at its caps."""
    found: list[tuple[int, ...]] = []
    visits = 0

    def extend(chosen: list[int], start: int) -> None:
        nonlocal visits
        visits += 1
        if len(found) >= MAX_PATTERNS_PER_GPU or visits > MAX_PATTERN_VISITS:
            return
        grew = False
        if len(chosen) < emax:
            for j in range(start, len(engines)):
                if pattern_ok([engines[i] for i in chosen] + [engines[j]], usable, slos):
                    grew = True
                    extend(chosen + [j], j + 1)
        if not grew and len(chosen) >= 2:
            cur = [engines[i] for i in chosen]
            # maximal: no engine at all (not only later ones) can join
            if len(chosen) >= emax or not any(
                j not in chosen and pattern_ok(cur + [engines[j]], usable, slos) for j in range(len(engines))
            ):
                found.append(tuple(chosen))

    extend([], 0)
    return found, len(found) >= MAX_PATTERNS_PER_GPU or visits > MAX_PATTERN_VISITS

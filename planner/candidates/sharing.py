"""Device sharing: engines that serve a small model's whole demand on part of a device, and the patterns of them.

A small model whose whole demand fits in one engine using part of a device may run beside others. A pattern is a
maximal set of such engines (one per model, at most ``max_engines_per_device``) whose memory fits one device and whose
SLOs still hold when they time-share it (each step waits for the others' steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.estimate.memory import MemoryEstimate, estimate_memory, parallel_problem
from planner.estimate.speed import PerfConstants, serving_point
from planner.inputs.catalog import GPU
from planner.inputs.pricing import PricedOffer
from planner.inputs.scenario import ModelReq, Scenario
from planner.units import GIB

MAX_PATTERNS_PER_GPU = 4000  # sharing patterns enumerated per GPU type before the search stops (reported)
MAX_PATTERN_VISITS = 200_000  # partial sets explored per GPU type before the search stops (reported)
SHARING_TYPES_PER_MODEL = 3  # when patterns exceed PATTERN_BUDGET: share only on a model's 3 cheapest-to-share GPU types
PATTERN_BUDGET = 2_000  # all maximal patterns are used up to this many; beyond it the restriction above applies


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


def shared_engine(m: ModelReq, g: GPU, s: Scenario, c: PerfConstants) -> SharedEngine | None:
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


def patterns(s: Scenario, shared: dict[tuple[str, str], SharedEngine], standalone: dict[str, float],
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
                    extend([*chosen, j], j + 1)
        if not grew and len(chosen) >= 2:
            cur = [engines[i] for i in chosen]
            # maximal: no engine at all (not only later ones) can join
            if len(chosen) >= emax or not any(
                j not in chosen and pattern_ok([*cur, engines[j]], usable, slos) for j in range(len(engines))
            ):
                found.append(tuple(chosen))

    extend([], 0)
    return found, len(found) >= MAX_PATTERNS_PER_GPU or visits > MAX_PATTERN_VISITS

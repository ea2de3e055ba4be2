"""Candidate deployments for each model of a scenario, the priced offers, and device-sharing patterns.

For every model, every (GPU type, TP, PP) that passes the parallelism rules is estimated; those that fit become
candidates with a per-replica capacity (the smaller of memory and SLO capacity), the rest are kept as rejections
with their reason. Dominated candidates (another split on the same GPU type with no more GPUs, no larger TP group
and no less capacity) are dropped, and recorded as rejections too.

Capacity units: a model's demand and a replica's capacity are counted in sequences (concurrency workloads) or in
milli-requests per second (request-rate workloads, by Little's law per replica: capacity / (TTFT + output x step);
``planner.plans.metrics`` defines both, and the checker uses the same definitions).

Device-sharing engines and patterns are built in ``planner.candidates.sharing``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

from planner.candidates.fabrics import across_splits, fabric_offers, one_instance_splits, packs_into
from planner.candidates.sharing import EngineLadder, Pattern, SharedEngine, engine_ladder, patterns
from planner.errors import SolveTimeoutError
from planner.estimate.memory import MemoryEstimate, parallel_problem, replica_estimate
from planner.estimate.speed import (
    PerfConstants,
    StageLink,
    constants_for,
    fabric_link,
    load_calibration,
    serving_point,
    slo_batch_point,
)
from planner.inputs.catalog import GPU
from planner.inputs.pricing import PricedOffer, priced_offers
from planner.inputs.scenario import ModelReq, Scenario
from planner.plans.metrics import demand_units, request_units
from planner.units import TP_SIZES

MAX_PP = 16


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
    binding: str  # the limit that sets max_concurrency: "memory" or "slo" (JSON key "bound")
    capacity_units: int  # counts toward the model's demand (sequences, or milli-requests/s)
    memory: MemoryEstimate = field(repr=False, compare=False)
    step_ms: float = 0.0  # one serving step (decode plus prefill chunks) at full load; JSON key "decode_ms_per_token"
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0  # replica output tokens/s at full load
    # where its pipeline stages sit: None, all in one instance (one group of TP x PP GPUs); else the id of the offer
    # whose instances hold them, one TP group each, over that offer's fabric (``planner.candidates.fabrics``)
    over: str | None = None

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def group_gpus(self) -> int:
        """GPUs of each group that must sit inside one instance: the whole replica, or one stage across instances."""
        return self.tp if self.over else self.tp * self.pp

    @property
    def groups(self) -> int:
        """Groups of ``group_gpus`` the replica occupies."""
        return self.pp if self.over else 1

    def to_dict(self) -> dict[str, Any]:
        d = self.memory.per_device
        return {
            "model": self.model, "gpu": self.gpu, "tp": self.tp, "pp": self.pp, "gpus": self.gpus,
            "max_concurrency": self.max_concurrency, "memory_concurrency": self.memory_concurrency,
            "slo_concurrency": self.slo_concurrency, "bound": self.binding, "capacity_units": self.capacity_units,
            "memory_bytes_per_device": d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.overhead_bytes,
            "weights_bytes_per_device": d.weights_bytes, "kv_cache_bytes_per_device": d.kv_cache_bytes,
            "decode_ms_per_token": round(self.step_ms, 3), "ttft_ms": round(self.ttft_ms, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
        } | ({"over": self.over} if self.over else {})


class RejectionKind(Enum):
    """What ruled a deployment out; code asks the kind, never the wording of the reason."""

    PRICE = "price"  # no priced offer of the GPU type (tp = pp = 0)
    INSTANCE = "instance"  # no priced instance holds the TP group
    PARALLELISM = "parallelism"  # the split breaks a parallelism rule
    MEMORY = "memory"  # the weights and one sequence do not fit
    SLO = "slo"  # the SLO fails even at batch 1
    THROUGHPUT = "throughput"  # a replica sustains less than 0.001 requests/s
    NO_SPLIT = "no_split"  # no pipeline split fits (summarizes the last attempt's reason)
    FABRIC = "fabric"  # a pipeline larger than one instance, or not exactly packable there, and no fabric to span
    DOMINATED = "dominated"  # another split on the same GPU type does at least as well


def candidate_key(model: str, gpu: str, tp: int, pp: int, over: str | None = None) -> str:
    """The candidate's key, built from its fields (solver variable names and tie-break order use it as text)."""
    return f"{model}|{gpu}|tp{tp}|pp{pp}" + (f"|over:{over}" if over else "")


@dataclass(frozen=True)
class Rejection:
    model: str
    gpu: str
    tp: int
    pp: int
    reason: str
    kind: RejectionKind
    shortfall_bytes: int | None = None  # per device, when memory is what failed

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "gpu": self.gpu, "tp": self.tp, "pp": self.pp, "reason": self.reason}


@dataclass(frozen=True)
class CandidateSet:
    scenario: Scenario
    demand: dict[str, int]  # model -> demand units
    unit: dict[str, str]  # model -> "sequences" or "milli_requests_per_s"
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]
    offers: tuple[PricedOffer, ...]
    shared: dict[tuple[str, str], SharedEngine]  # (model, gpu) -> its largest engine in any sharing pattern
    patterns: tuple[Pattern, ...]
    patterns_truncated: tuple[str, ...]  # GPU types whose restricted pattern enumeration hit the cap
    sharing_restricted: bool = False  # the exact enumeration was too large: one engine size per model, cuts (notes)
    restricted_gpus: tuple[str, ...] = ()  # the GPU types whose patterns are restricted (planner.solve.slots)
    calibration: dict[str, PerfConstants] = field(repr=False, compare=False, default_factory=dict)
    ladders: dict[tuple[str, str], EngineLadder] = field(repr=False, compare=False, default_factory=dict)  # may share

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
            "sharing_patterns": [{"gpu": p.gpu, "models": list(p.models), "concurrency": list(p.concurrency)}
                                 for p in self.patterns],
        }


def _splits(m: ModelReq, gpu: GPU) -> list[tuple[int, int]]:
    tps = [t for t in (m.tp or TP_SIZES) if t <= gpu.max_gpus_per_node]
    pps = list(m.pp or range(1, MAX_PP + 1))
    return [(t, p) for t in tps for p in pps]


Found = tuple[list[Candidate], list[Rejection]]  # one model on one GPU type: kept candidates, rejections in order


def _check_progress(deadline: float | None, started: float, done: int, total: int) -> None:
    """check_deadline, saying how far the candidates got and about how long all of them would take at this pace."""
    if deadline is None or time.perf_counter() <= deadline:
        return
    spent = time.perf_counter() - started
    need = spent * total / max(done, 1)
    raise SolveTimeoutError(f"no plan within the time limit: the candidates of {done:,} of {total:,} models took "
                            f"{spent:.1f} s (about {need:.0f} s for all, then the sharing patterns and the solve); "
                            f"raise --time-limit to {max(2 * need, need + 30):.0f} or more")


def build_candidates(scenario: Scenario, deadline: float | None = None) -> CandidateSet:
    """All candidates, offers, rejections and sharing patterns of a scenario (pure; no solver). ``deadline`` (a
    ``time.perf_counter`` instant): past it, SolveTimeoutError (the command's --time-limit is its wall clock)."""
    cal = load_calibration(scenario.calibration_path)
    offers = _offers(scenario)
    priced_gpus = {o.gpu for o in offers}
    cands: list[Candidate] = []
    rejected: list[Rejection] = []
    demand: dict[str, int] = {}
    unit: dict[str, str] = {}
    ladders: dict[tuple[str, str], EngineLadder] = {}
    cache: dict[tuple[Any, ...], Any] = {}  # per build: kept candidates per (shape, GPU) and _candidate per split shape
    started = time.perf_counter()
    for i, m in enumerate(scenario.models):
        _check_progress(deadline, started, i, len(scenario.models))
        demand[m.name], unit[m.name] = demand_units(m)
        for gid in scenario.gpu_ids:
            g = scenario.catalog.gpus[gid]
            if gid not in priced_gpus:
                rejected.append(Rejection(m.name, gid, 0, 0, _no_price_reason(g, scenario), RejectionKind.PRICE))
                continue
            c_ = constants_for(g, cal)
            kept, rej = _on_gpu_type(m, g, scenario, c_, offers, cache)
            cands += kept
            rejected += rej
            if scenario.sharing.enabled:
                lad = engine_ladder(m, g, scenario, c_)
                if lad is not None:
                    ladders[(m.name, gid)] = lad
    standalone = _standalone_costs(scenario, cands, ladders, offers, demand)
    pats, truncated, restricted = patterns(scenario, ladders, standalone, offers, deadline)
    shared: dict[tuple[str, str], SharedEngine] = {}  # (model, GPU type) -> its largest engine in any pattern
    for p in pats:
        for e in p.engines:
            if (e.model, e.gpu) not in shared or shared[(e.model, e.gpu)].concurrency < e.concurrency:
                shared[(e.model, e.gpu)] = e
    # offers of GPU types that no candidate or pattern uses are still listed (reports show them); order is stable
    return CandidateSet(scenario=scenario, demand=demand, unit=unit, candidates=tuple(cands), rejected=tuple(rejected),
                        offers=tuple(offers), shared=shared, patterns=tuple(pats), patterns_truncated=tuple(truncated),
                        sharing_restricted=bool(restricted), restricted_gpus=restricted, calibration=cal,
                        ladders=ladders if scenario.sharing.enabled else {})


def _offers(scenario: Scenario) -> list[PricedOffer]:
    """The scenario's priced offers, GPU types in sorted order."""
    offers: list[PricedOffer] = []
    for gid in sorted(scenario.gpu_ids):
        offers += priced_offers(scenario.catalog.gpus[gid], scenario.pricing, scenario.owned, scenario.providers,
                                scenario.limits)
    return offers


def _on_gpu_type(m: ModelReq, g: GPU, s: Scenario, c_: PerfConstants, offers: list[PricedOffer],
                 cache: dict[tuple[Any, ...], Any]) -> Found:
    """One model's kept candidates and its rejections on one priced GPU type. An identical deployment of another model
    (same shape) reuses that model's result under this model's name."""
    shape = (_deployment_shape(m), demand_units(m)[0], m.tp, m.pp)
    memo = cache.get((shape, g.id))
    if memo is not None:
        kept_, rej_ = memo
        return [_renamed(c, m.name) for c in kept_], [_renamed(r, m.name) for r in rej_]
    largest = max(o.gpus_per_instance for o in offers if o.gpu == g.id)
    rejected: list[Rejection] = []
    splits = [sp for sp in _splits(m, g) if sp[0] <= largest]
    rejected += [Rejection(m.name, g.id, tp, 1, f"no priced {g.id} offer holds a TP group of {tp} "
                           f"(largest instance: {largest} GPU{'s' if largest > 1 else ''})", RejectionKind.INSTANCE)
                 for tp in sorted({sp[0] for sp in _splits(m, g)} - {sp[0] for sp in splits})]
    one, left_out = one_instance_splits(splits, largest)
    rejected += [Rejection(m.name, g.id, tp, pp, why, RejectionKind.FABRIC) for tp, pp, why in left_out]
    demand = demand_units(m)[0]
    unestimated: list[tuple[int, int]] = []  # (tp, pp) left out unestimated: dominated by a one-GPU replica
    found = _all_splits(m, g, s, c_, one, demand, rejected, cache, unestimated=unestimated)
    holder = _one_gpu_holder(found, demand)
    for o in fabric_offers(g.id, offers):  # the same splits with their stages across instances of a fabric offer
        found += _all_splits(m, g, s, c_, across_splits(splits, o), demand, [], cache, o, holder, unestimated)
    kept, dominated = _prune(found, demand)
    rejected += [_dominated(d.tp, d.pp, b) for d, b in dominated]
    rejected += [_dominated(tp, pp, holder[0]) for tp, pp in unestimated] if holder is not None else []
    if m.request_rate_per_s is None:  # rate workloads' capacity depends on nothing else, but keep it simple
        cache[(shape, g.id)] = (kept, rejected)
    return kept, rejected


def _dominated(tp: int, pp: int, b: Candidate) -> Rejection:
    """TP=tp x PP=pp of b's model on b's GPU type, dominated by b."""
    return Rejection(b.model, b.gpu, tp, pp, f"dominated by TP={b.tp} PP={b.pp} on {b.gpu} ({b.gpus} GPUs, "
                     f"{b.max_concurrency} sequences)", RejectionKind.DOMINATED)


def _one_gpu_holder(found: list[Candidate], demand: int) -> tuple[Candidate, int] | None:
    """A TP=1 x PP=1 replica in one instance among ``found`` (it comes first when found), and the GPU count from
    which it dominates every split unestimated: n = ceil(demand / min(its capacity, demand)). A split c of g >= n GPUs
    needs no estimate, whatever its capacity: g copies of the one-GPU replica use no more GPUs, in one-GPU groups that
    pack wherever c's groups would, hold g x min(capacity, demand) >= demand >= min(c's capacity, demand) and count as
    more replicas (``_prune``'s rule), so c could never be kept."""
    first = found[0] if found else None
    if first is None or first.gpus != 1 or first.over is not None or first.capacity_units < 1:
        return None
    return first, -(-demand // min(first.capacity_units, demand))


def _all_splits(m: ModelReq, g: GPU, s: Scenario, c_: PerfConstants, splits: list[tuple[int, int]],
                demand: int, rejected: list[Rejection], cache: dict[tuple[Any, ...], Any],
                over: PricedOffer | None = None, holder: tuple[Candidate, int] | None = None,
                unestimated: list[tuple[int, int]] | None = None) -> list[Candidate]:
    """Every (TP, PP) the lists, the machines and the parallelism rules allow. Per TP size, PP grows from 1; a split
    is kept only when its capacity (capped at the model's demand: more is never used) exceeds that of every fewer-stage
    split of the same TP size, which needs fewer GPUs in groups of the same size (so the skipped splits are dominated,
    an exact pruning), and the search stops once a replica holds the whole demand. PP = 1 failures are rejections with
    their reasons; a TP size with no fitting split at all gets one NO_SPLIT rejection.

    With ``unestimated`` given, splits that a one-GPU replica dominates unseen (``_one_gpu_holder``: ``holder``, or
    once found here, the TP=1 x PP=1 replica) are not estimated: the first of each TP size goes to ``unestimated`` and the
    larger PP sizes of that TP, dominated too, are not tried (a TP size whose PP = 1 breaks the parallelism rules
    keeps its PARALLELISM rejection instead)."""
    found: list[Candidate] = []
    for tp in sorted({sp[0] for sp in splits}):
        best, last_rej, tried = 0, None, 0
        for pp in sorted(sp[1] for sp in splits if sp[0] == tp):
            why = parallel_problem(m.arch, g, tp, pp, m.precision, m.kv_cache_dtype)
            if why and pp == 1:
                rejected.append(Rejection(m.name, g.id, tp, pp, why, RejectionKind.PARALLELISM))
            if unestimated is not None and holder is not None and tp * pp >= holder[1]:
                if not (why and pp == 1):
                    unestimated.append((tp, pp))
                break
            if why:
                continue
            tried += 1
            cand, rej = _candidate_of_shape(m, g, tp, pp, s, c_, cache, over)
            if cand is None:
                if pp == 1 and rej:
                    rejected.append(rej)
                last_rej = rej or last_rej
                continue
            units = min(cand.capacity_units, demand)
            if units <= best:
                continue
            best = units
            found.append(cand)
            if holder is None and unestimated is not None:
                holder = _one_gpu_holder(found, demand)
            if units >= demand:
                break
        if not best and tried > 1 and last_rej is not None:
            last = max(sp[1] for sp in splits if sp[0] == tp)
            rejected.append(Rejection(m.name, g.id, tp, last, f"no split up to TP={tp} x PP={last} fits: {last_rej.reason}",
                                      RejectionKind.NO_SPLIT, last_rej.shortfall_bytes))
    return found


def _no_price_reason(g: GPU, s: Scenario) -> str:
    if s.pricing == "owned":
        return f"no purchase price for {g.id} in the catalog (owned pricing needs one)"
    if s.providers is not None and any(o.provider not in s.providers for o in g.offers):
        return f"no {s.pricing.replace('_', '-')} offer for {g.id} from providers {', '.join(s.providers)}"
    return f"no {s.pricing.replace('_', '-')} price for {g.id} in the catalog (add an offer in your catalog)"


def _deployment_shape(m: ModelReq) -> tuple[Any, ...]:
    """Everything a deployment's estimate reads from a model besides its name, demand and tp/pp lists: two models of
    one shape get the same candidates (the build's caches key on it)."""
    return (id(m.arch), m.precision, m.kv_cache_dtype, m.context_tokens, m.input_tokens, m.output_tokens,
            m.max_batched_tokens, m.min_tokens_per_s, m.max_ttft_ms, m.request_rate_per_s is not None, m.engine)


_Rec = TypeVar("_Rec", Candidate, Rejection)


def _renamed(rec: _Rec, name: str) -> _Rec:
    """``rec`` for the model ``name`` (and its key, for a Candidate): ``dataclasses.replace`` without re-running the
    frozen ``__init__`` over every field, the copied fields being those of a built record (renaming is the build's
    most frequent step on fleets of repeated shapes)."""
    new = object.__new__(type(rec))
    new.__dict__.update(rec.__dict__)
    new.__dict__["model"] = name
    if isinstance(rec, Candidate):
        new.__dict__["key"] = candidate_key(name, rec.gpu, rec.tp, rec.pp, rec.over)
    return new


def _candidate_of_shape(m: ModelReq, g: GPU, tp: int, pp: int, s: Scenario, c: PerfConstants,
                        cache: dict[tuple[Any, ...], Any],
                        over: PricedOffer | None = None) -> tuple[Candidate | None, Rejection | None]:
    """``_candidate``, computed once per deployment shape (everything it reads but the model's name and demand) and
    renamed for every other model of that shape: fleets repeat a few architectures at many concurrencies."""
    shape = ("split", _deployment_shape(m), g.id, tp, pp, over.id if over else None)
    hit = cache.get(shape)
    if hit is None:
        hit = cache[shape] = _candidate(m, g, tp, pp, s, c, cache, over)
    cand, rej = hit
    if cand is not None and cand.model != m.name:
        cand = _renamed(cand, m.name)
    if rej is not None and rej.model != m.name:
        rej = _renamed(rej, m.name)
    return cand, rej


def _replica_memory(m: ModelReq, g: GPU, tp: int, pp: int, s: Scenario,
                    cache: dict[tuple[Any, ...], Any]) -> MemoryEstimate:
    """The replica's memory budget, at the --max-num-seqs its launch line sets (memory.planned_max_num_seqs): its own
    capacity, or the profile's max_num_seqs with the capacity capped there. Computed once per memory shape (what the
    estimate reads; not the SLO or the prompt and output lengths) and shared by every deployment shape with it."""
    key = ("memory", id(m.arch), g.id, tp, pp, m.precision, m.kv_cache_dtype, m.context_tokens, m.max_batched_tokens,
           m.engine)
    mem = cache.get(key)
    if mem is None:
        mem = cache[key] = replica_estimate(m.arch, g, tp=tp, pp=pp, precision=m.precision,
                                            kv_cache_dtype=m.kv_cache_dtype, context_tokens=m.context_tokens,
                                            concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                                            max_batched_tokens=m.max_batched_tokens, engine=m.engine)
    return mem


def _candidate(m: ModelReq, g: GPU, tp: int, pp: int, s: Scenario, c: PerfConstants,
               cache: dict[tuple[Any, ...], Any],
               over: PricedOffer | None = None) -> tuple[Candidate | None, Rejection | None]:
    link: StageLink | None = None  # stages across instances of ``over``: every boundary over its fabric
    if over is not None and over.fabric_gbit_s is not None:
        link = fabric_link(over.fabric_kind, over.fabric_gbit_s, tp, over.gpus_per_instance, g.interconnect_gb_s)
    mem = _replica_memory(m, g, tp, pp, s, cache)
    taken = mem.per_device.kv_cache_bytes + mem.fixed_bytes_per_device  # weights + activation + runtime + KV
    usable = int(mem.per_device.total_bytes * s.gpu_memory_utilization)
    if m.engine.kv_cache_memory_bytes and mem.max_concurrency >= 1 and taken > usable:
        # vLLM ignores gpu_memory_utilization with a fixed KV pool; the plan still keeps the scenario's headroom
        return None, Rejection(m.name, g.id, tp, pp, f"with --kv-cache-memory-bytes {m.engine.kv_cache_memory_bytes} an "
                               f"engine takes {taken / 2**30:.2f} GiB per device, more than the usable "
                               f"{usable / 2**30:.2f} GiB (gpu_memory_utilization {s.gpu_memory_utilization:g})",
                               RejectionKind.MEMORY, taken - usable)
    if mem.max_concurrency < 1:
        short = mem.per_device.weights_bytes + mem.per_device.activation_bytes + mem.per_device.overhead_bytes \
            + mem.seq_kv_bytes - mem.per_device.usable_bytes
        return None, Rejection(m.name, g.id, tp, pp, mem.reason or "does not fit", RejectionKind.MEMORY, max(0, short))
    slo, at_slo = slo_batch_point(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp,
                                  pp=pp, input_tokens=m.input_tokens, output_tokens=m.output_tokens,
                                  upper=mem.max_concurrency, min_tokens_per_s=m.min_tokens_per_s,
                                  max_ttft_ms=m.max_ttft_ms, fabric=link)
    has_slo = m.min_tokens_per_s is not None or m.max_ttft_ms is not None
    cap = min(mem.max_concurrency, slo)
    if cap < 1:
        sp = serving_point(m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp, batch=1,
                           input_tokens=m.input_tokens, output_tokens=m.output_tokens, fabric=link)
        why = []
        if m.min_tokens_per_s is not None and sp.tokens_per_s_per_stream < m.min_tokens_per_s:
            why.append(f"{sp.tokens_per_s_per_stream:.1f} tokens/s per stream at batch 1 < SLO {m.min_tokens_per_s:g}")
        if m.max_ttft_ms is not None and sp.ttft_ms > m.max_ttft_ms:
            why.append(f"TTFT {sp.ttft_ms:.0f} ms at batch 1 > SLO {m.max_ttft_ms:g} ms")
        return None, Rejection(m.name, g.id, tp, pp, "SLO not met even at batch 1: " + "; ".join(why),
                               RejectionKind.SLO)
    sp = at_slo if at_slo is not None and at_slo.batch == cap else serving_point(
        m.arch, g, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp, batch=cap,
        input_tokens=m.input_tokens, output_tokens=m.output_tokens, fabric=link)
    if m.request_rate_per_s is not None:
        units = request_units(cap, sp.ttft_ms, sp.serving_step_ms, m.output_tokens)
        if units < 1:
            return None, Rejection(m.name, g.id, tp, pp, "a replica sustains less than 0.001 requests/s",
                                   RejectionKind.THROUGHPUT)
    else:
        units = cap
    return Candidate(
        key=candidate_key(m.name, g.id, tp, pp, over.id if over else None), model=m.name, gpu=g.id, tp=tp, pp=pp,
        max_concurrency=cap,
        memory_concurrency=mem.max_concurrency, slo_concurrency=slo if has_slo else None,
        binding="slo" if has_slo and slo < mem.max_concurrency else "memory", capacity_units=units, memory=mem,
        step_ms=sp.serving_step_ms, ttft_ms=sp.ttft_ms, tokens_per_s=sp.tokens_per_s, over=over.id if over else None,
    ), None


def _prune(found: list[Candidate], demand: int) -> tuple[list[Candidate], list[tuple[Candidate, Candidate]]]:
    """Drop candidate c when some kept k has no larger TP group and n = gpus_c // gpus_k copies of k hold at least
    c's capacity (both capped at the demand, beyond which capacity is never used): n replicas of k use no more GPUs,
    in groups that pack wherever c's groups would (sizes are powers of two), and count as more replicas. (n = 1 is the
    plain case: no more GPUs, no less capacity.)"""
    kept: list[Candidate] = []
    dominated: list[tuple[Candidate, Candidate]] = []
    order = sorted(found, key=lambda c: (c.gpus, c.tp, -c.capacity_units, c.pp, c.over or ""))
    for c in order:
        better = next((k for k in kept if packs_into(k, c) and k.gpus <= c.gpus and c.gpus % k.gpus == 0
                       and (c.gpus // k.gpus) * min(k.capacity_units, demand) >= min(c.capacity_units, demand)), None)
        if better is None:
            kept.append(c)
        else:
            dominated.append((c, better))
    kept.sort(key=lambda c: (c.gpus, c.tp, c.pp, c.over or ""))
    return kept, dominated


def _standalone_costs(s: Scenario, cands: list[Candidate], shared: dict[tuple[str, str], EngineLadder],
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
        cost = n * c.groups * (inst.get((c.gpu, c.group_gpus), float("inf")) if c.over is None
                               else next(o.usd_per_hour for o in offers if o.id == c.over))
        out[c.model] = min(out.get(c.model, float("inf")), cost)
    for name, gid in shared:
        out[name] = min(out.get(name, float("inf")), reqs[name].min_replicas * inst.get((gid, 1), float("inf")))
    return out



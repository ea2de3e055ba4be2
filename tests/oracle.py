"""An independent brute-force fleet planner for tiny scenarios: the exact optimum, in integer micro-dollars per hour.

It shares with planner only the scenario parser (``scenario_from_dict``: models, workloads, the catalog) and the pure
estimator functions (``estimate_memory``, ``parallel_problem``, ``serving_point``, ``max_batch_for_slo``, calibration
constants). It never imports the candidates, solver or placement code, and models the *rules* of issue 11, not the
current heuristics:

Offers
    every catalog offer of a scenario GPU type, from the scenario's providers, with an on-demand (or spot) price;
    price in micro-dollars = round(usd_per_hour x 1e6). Limits: GPUs of a type, or instances of an offer id (which
    replaces the catalog's availability, ``max_instances``, for that offer).
Dedicated replica of model m on (GPU type g, TP t, PP p)
    t in m.tp (default 1, 2, 4, 8, ... up to the machine), p in m.pp (default 1..16); vLLM's start-up rules hold
    (``parallel_problem``); t <= the largest priced instance of g. Capacity = min(sequences that fit the KV cache at
    the context, largest batch meeting the SLO), on devices no one else uses, in one of two ways (issue 14):
    one instance: one group of t x p GPUs inside one instance, stages over the GPU's interconnect (the planner's
    space: t x p a power of two, or p = 1); across instances (p > 1): p groups of t GPUs, each inside one instance,
    all on instances of one offer with a fabric (kind not none; its GPU count a power of two), every stage boundary
    charged over that fabric (``fabric_link``).
Shared device (device sharing)
    one GPU carrying >= 2 engines of distinct models, at most ``max_engines_per_device``; only models whose tp and
    pp lists allow 1 (a shared engine is TP1/PP1). An engine holding c sequences needs fixed + c x seq_kv bytes,
    rounded up to a 1e-4 utilization fraction of the device; the engines' bytes fit the usable memory and their
    fractions sum to <= gpu_memory_utilization. The device runs their steps in turn: every engine's stream speed is
    1000 / (sum of steps) >= its min_tokens_per_s, and its own prefill + that sum <= its max_ttft_ms.
    Any number of engines per model, each of any size c >= 1 (not "exactly min_replicas, demand/min_replicas each").
A plan
    instances bought per offer; dedicated replicas and shared devices placed on them (exact bin packing, exhaustive);
    every model's replicas (dedicated + engines) hold >= its concurrency, with >= min_replicas of them; limits hold;
    cost <= max_usd_per_hour (compared in micro-dollars, so a budget equal to the optimum is feasible).

Search: per GPU type and per purchase of that type's offers (at most MAX_GPUS_PER_TYPE GPUs), a depth-first search
over multisets of TP > 1 replicas that each still raise the capped vector (served_m <= D_m, replicas_m <= r_m), with
every packing into the instances tried; the GPUs left are filled by an exact knapsack over single-GPU items (TP1
replicas of any PP, Pareto-maximal shared devices); vectors are kept Pareto-maximal (feasibility is monotone). Then
purchases of all types in increasing cost until the capped vectors add up to the targets. Only concurrency workloads (no request_rate_per_s) are supported.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Any

from planner.estimate.memory import estimate_memory, parallel_problem
from planner.estimate.speed import constants_for, fabric_link, load_calibration, max_batch_for_slo, serving_point
from planner.inputs.scenario import Scenario

MAX_GPUS_PER_TYPE = 16  # the search space: fleets of at most this many GPUs of each type
DEFAULT_TP = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_PP = tuple(range(1, 17))
UTIL_STEP = 10_000  # an engine's --gpu-memory-utilization is rounded up to 1e-4


@dataclass(frozen=True)
class Offer:
    id: str
    gpu: str
    n: int  # GPUs per instance
    micro: int  # price, micro-dollars per hour
    max_instances: int | None = None  # availability: the scenario's limit for the id, else the catalog's
    fabric: tuple[str, float] | None = None  # (kind, Gbit/s) between its instances; None: no fabric


@dataclass(frozen=True)
class Item:
    """Something placed on GPUs of one type: a dedicated replica (groups of tp, pp of them) or a shared device."""

    kind: str  # "dedicated" | "shared"
    tp: int
    pp: int
    add: tuple[int, ...]  # per model: sequences it serves
    reps: tuple[int, ...]  # per model: replicas it counts as
    label: str
    over: str | None = None  # across instances of this offer (None: one instance)

    @property
    def size(self) -> int:  # GPUs of each group
        return self.tp if self.over else self.tp * self.pp

    @property
    def count(self) -> int:  # groups
        return self.pp if self.over else 1


@dataclass(frozen=True)
class Result:
    cost_micro: int | None  # None: infeasible within the search space
    purchase: dict[str, int]
    items: dict[str, list[str]]  # per GPU type, a witness (labels of the items of one optimal plan)

    @property
    def cost_usd(self) -> float | None:
        return None if self.cost_micro is None else self.cost_micro / 1e6


def micro(usd: float) -> int:
    return round(usd * 1_000_000)


def offers_of(s: Scenario) -> list[Offer]:
    out = []
    for gid in s.gpu_ids:
        for o in s.catalog.gpus[gid].offers:
            if s.providers is not None and o.provider not in s.providers:
                continue
            price = o.usd_per_hour if s.pricing == "on_demand" else (o.spot_usd_per_hour if s.pricing == "spot" else None)
            if s.pricing == "owned":
                raise NotImplementedError("the oracle prices on-demand and spot offers only")
            if price is None:
                continue
            f = o.fabric if o.fabric and o.fabric["kind"] != "none" else None
            out.append(Offer(o.id, gid, o.gpus_per_instance, micro(price), s.limits.get(o.id, o.max_instances),
                             (f["kind"], float(f["gbit_s"])) if f else None))
    return out


def _pow2(n: int) -> bool:
    return n & (n - 1) == 0


def _dedicated(s: Scenario, cal: dict, offers: list[Offer]) -> dict[str, list[tuple[int, int, int, int, str | None]]]:
    """Per GPU type: (model index, tp, pp, capacity, fabric offer or None) of every allowed, fitting deployment, in one
    instance and across the instances of each fabric offer (exactly dominated pp dropped)."""
    largest: dict[str, int] = {}
    for o in offers:
        largest[o.gpu] = max(largest.get(o.gpu, 0), o.n)
    out: dict[str, list[tuple[int, int, int, int]]] = {}
    for gid in largest:
        g = s.catalog.gpus[gid]
        c = constants_for(g, cal)
        items = []
        modes = [(None, largest[gid])] + [(o, o.n) for o in offers if o.gpu == gid and o.fabric and _pow2(o.n)]
        for mi, m in enumerate(s.models):
            for (o, n), tp in itertools.product(modes, m.tp or DEFAULT_TP):
                if tp > n:
                    continue
                link = fabric_link(o.fabric[0], o.fabric[1], tp, o.n, g.interconnect_gb_s) if o is not None else None
                best_cap = 0
                for pp in sorted(m.pp or DEFAULT_PP):
                    if tp * pp > MAX_GPUS_PER_TYPE:
                        break
                    if (o is None and pp > 1 and (tp * pp > n or not _pow2(tp * pp))) or (o is not None and pp == 1):
                        continue
                    if parallel_problem(m.arch, g, tp, pp, m.precision, m.kv_cache_dtype):
                        continue
                    mem = estimate_memory(m.arch, g, tp=tp, pp=pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                                          context_tokens=m.context_tokens, concurrency=1,
                                          gpu_memory_utilization=s.gpu_memory_utilization,
                                          max_batched_tokens=m.max_batched_tokens)
                    if mem.max_concurrency < 1 or m.context_tokens > m.arch.max_context:
                        continue
                    cap = max_batch_for_slo(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=tp,
                                            pp=pp, input_tokens=m.input_tokens, output_tokens=m.output_tokens,
                                            upper=mem.max_concurrency, min_tokens_per_s=m.min_tokens_per_s,
                                            max_ttft_ms=m.max_ttft_ms, fabric=link)
                    cap = min(cap, m.concurrency)  # more than the demand is never needed
                    if cap < 1 or cap <= best_cap:
                        continue  # same TP and placement, more stages, no more capacity: never better
                    best_cap = cap
                    items.append((mi, tp, pp, cap, o.id if o is not None else None))
        out[gid] = items
    return out


def _engines(s: Scenario, cal: dict, gid: str) -> dict[int, list[tuple[int, int, float, float]]]:
    """Per model that may share on gid: for c = 1..D, (bytes, utilization in 1e-4, step ms, prefill ms)."""
    g = s.catalog.gpus[gid]
    c_ = constants_for(g, cal)
    total = int(g.memory_gib * 2**30)
    usable = int(total * s.gpu_memory_utilization)
    out = {}
    for mi, m in enumerate(s.models):
        if (m.tp and 1 not in m.tp) or (m.pp and 1 not in m.pp):
            continue
        if parallel_problem(m.arch, g, 1, 1, m.precision, m.kv_cache_dtype) or m.context_tokens > m.arch.max_context:
            continue
        mem = estimate_memory(m.arch, g, tp=1, pp=1, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                              context_tokens=m.context_tokens, concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                              max_batched_tokens=m.max_batched_tokens)
        rows = []
        for conc in range(1, m.concurrency + 1):
            need = mem.fixed_bytes_per_device + conc * mem.seq_kv_bytes
            util = math.ceil(need * UTIL_STEP / total)
            need = math.ceil(util * total / UTIL_STEP)
            if need > usable:
                break
            sp = serving_point(m.arch, g, c_, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=1, pp=1,
                               batch=conc, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
            rows.append((need, util, sp.serving_step_ms, sp.ttft_ms - sp.serving_step_ms))
        if rows:
            out[mi] = rows
    return out


def _shared_devices(s: Scenario, cal: dict, gid: str) -> list[tuple[int, ...]]:
    """Pareto-maximal concurrency vectors (one entry per model, 0 = absent) of one shared device of gid."""
    if not s.sharing.enabled:
        return []
    eng = _engines(s, cal, gid)
    g = s.catalog.gpus[gid]
    usable = int(int(g.memory_gib * 2**30) * s.gpu_memory_utilization)
    umax = s.gpu_memory_utilization * UTIL_STEP + 1e-6
    slos = [(m.min_tokens_per_s, m.max_ttft_ms) for m in s.models]

    def ok(combo: list[tuple[int, int]]) -> bool:
        rows = [eng[mi][c - 1] for mi, c in combo]
        if sum(r[0] for r in rows) > usable or sum(r[1] for r in rows) > umax:
            return False
        step = sum(r[2] for r in rows)
        for (mi, _c), r in zip(combo, rows, strict=False):
            tps, ttft = slos[mi]
            if tps is not None and 1000.0 / step < tps:
                return False
            if ttft is not None and r[3] + step > ttft:
                return False
        return True

    n = len(s.models)
    found: set[tuple[int, ...]] = set()
    models = sorted(eng)
    for k in range(2, min(s.sharing.max_engines_per_device, len(models)) + 1):
        for sub in itertools.combinations(models, k):
            head, last = sub[:-1], sub[-1]
            for cs in itertools.product(*[range(1, len(eng[mi]) + 1) for mi in head]):
                base = list(zip(head, cs, strict=False))
                lo, hi = 0, len(eng[last])  # largest c for the last model (feasibility is monotone in c)
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if ok([*base, (last, mid)]):
                        lo = mid
                    else:
                        hi = mid - 1
                if lo:
                    v = [0] * n
                    for mi, c in [*base, (last, lo)]:
                        v[mi] = c
                    found.add(tuple(v))
    return _pareto(found)


def _pareto(vs: Any) -> list[tuple[int, ...]]:
    vs = sorted(set(vs), key=lambda v: -sum(v))
    out: list[tuple[int, ...]] = []
    for v in vs:
        if not any(all(a >= b for a, b in zip(w, v, strict=False)) for w in out):
            out.append(v)
    return out


Bins = tuple[tuple[str, int], ...]  # (offer id, free GPUs) per instance, sorted


def _place_groups(bins: Bins, size: int, count: int, over: str | None = None) -> set[Bins]:
    """Every way (as sorted free-space tuples) to put ``count`` groups of ``size`` GPUs, each inside one instance
    (of offer ``over`` when given)."""
    states = {bins}
    for _ in range(count):
        nxt = set()
        for b in states:
            for i, (oid, free) in enumerate(b):
                if free >= size and (over is None or oid == over) and (i == 0 or b[i - 1] != (oid, free)):
                    nb = list(b)
                    nb[i] = (oid, free - size)
                    nxt.add(tuple(sorted(nb, reverse=True)))
        states = nxt
        if not states:
            break
    return states


class Oracle:
    def __init__(self, s: Scenario) -> None:
        if any(m.request_rate_per_s is not None for m in s.models):
            raise NotImplementedError("the oracle plans concurrency workloads only")
        self.s = s
        self.cal = load_calibration(s.calibration_path)
        self.offers = offers_of(s)
        self.models = list(s.models)
        n = len(self.models)
        self.target = tuple(m.concurrency for m in self.models) + tuple(m.min_replicas for m in self.models)
        ded = _dedicated(s, self.cal, self.offers)
        self.items: dict[str, list[Item]] = {}
        self._r1: dict[str, list[dict]] = {}
        for gid in sorted({o.gpu for o in self.offers}):
            its = []
            for mi, tp, pp, cap, over in ded.get(gid, []):
                add = tuple(cap if j == mi else 0 for j in range(n))
                reps = tuple(1 if j == mi else 0 for j in range(n))
                where = f" over {over}" if over else ""
                its.append(Item("dedicated", tp, pp, add, reps, f"{self.models[mi].name} TP{tp}xPP{pp}{where} cap {cap}",
                                over))
            for v in _shared_devices(s, self.cal, gid):
                label = "shared " + " + ".join(f"{self.models[j].name}:{c}" for j, c in enumerate(v) if c)
                its.append(Item("shared", 1, 1, v, tuple(1 if c else 0 for c in v), label))
            self.items[gid] = its

    # ---- one GPU type ----------------------------------------------------------------------------------------------
    def _cap(self, vec: tuple[int, ...], it: Item) -> tuple[int, ...]:
        n = len(self.models)
        t = self.target
        return tuple(min(t[j], vec[j] + it.add[j]) for j in range(n)) + tuple(
            min(t[n + j], vec[n + j] + it.reps[j]) for j in range(n))

    def _singles(self, gid: str, k: int) -> dict[tuple[int, ...], tuple[str, ...]]:
        """Pareto-maximal capped vectors that k free GPUs of gid deliver with single-GPU items (TP1 x PP1 replicas and
        shared devices, which fit any free GPU): an unbounded knapsack over the GPU count."""
        table = self._r1.setdefault(gid, [{(0,) * len(self.target): ()}])
        singles = [(1, it) for it in self.items[gid] if it.size == 1 and it.over is None]
        while len(table) <= k:
            j = len(table)
            got = dict(table[j - 1])
            for w, it in singles:
                if w > j:
                    continue
                for v, path in table[j - w].items():
                    nv = self._cap(v, it)
                    if nv != v and nv not in got:
                        got[nv] = (*path, it.label)
            table.append({v: got[v] for v in _pareto(got)})
        return table[k]

    def reachable(self, gid: str, bins: Bins) -> dict[tuple[int, ...], tuple[str, ...]]:
        """Pareto-maximal capped vectors (served..., replicas...) the instances ``bins`` of gid can deliver, each with
        a witness list of items. Groups > 1 GPU and stages bound to a fabric offer are placed in the instances
        exhaustively; what single GPUs are left is filled by the knapsack of ``_singles``."""
        items = [it for it in self.items[gid] if it.size > 1 or it.over is not None]
        zero = (0,) * len(self.target)
        seen: set = set()
        after_groups: dict[tuple[tuple[int, ...], int], tuple[str, ...]] = {}

        def dfs(b: Bins, vec: tuple[int, ...], start: int, path: tuple[str, ...]) -> None:
            key = (b, vec, start)
            if key in seen:
                return
            seen.add(key)
            after_groups.setdefault((vec, sum(f for _, f in b)), path)
            for i in range(start, len(items)):
                it = items[i]
                nv = self._cap(vec, it)
                if nv == vec:
                    continue
                for nb in _place_groups(b, it.size, it.count, it.over):
                    dfs(nb, nv, i, (*path, it.label))

        dfs(tuple(sorted(bins, reverse=True)), zero, 0, ())
        got: dict[tuple[int, ...], tuple[str, ...]] = {}
        for (vec, free), path in after_groups.items():
            for u, upath in self._singles(gid, free).items():
                nv = tuple(min(t, a + b) for t, a, b in zip(self.target, vec, u, strict=False))
                got.setdefault(nv, path + upath)
        return {v: got[v] for v in _pareto(got)}

    def per_type_options(self, gid: str) -> list[tuple[int, dict[str, int], dict[tuple[int, ...], tuple[str, ...]]]]:
        """Purchases of gid's offers within limits, cheapest first, each kept only if it delivers something no cheaper
        kept purchase does."""
        s = self.s
        offs = [o for o in self.offers if o.gpu == gid]
        lim_g = s.limits.get(gid, MAX_GPUS_PER_TYPE)
        ranges = []
        for o in offs:
            ub = min(MAX_GPUS_PER_TYPE, lim_g) // o.n
            if o.max_instances is not None:
                ub = min(ub, o.max_instances)
            ranges.append(range(ub + 1))
        buys = []
        for ys in itertools.product(*ranges):
            gpus = sum(y * o.n for y, o in zip(ys, offs, strict=False))
            if gpus > min(MAX_GPUS_PER_TYPE, lim_g):
                continue
            buys.append((sum(y * o.micro for y, o in zip(ys, offs, strict=False)), gpus, ys))
        buys.sort()
        kept: list[tuple[int, dict[str, int], dict]] = []
        for cost, _gpus, ys in buys:
            bins = tuple(sorted(((o.id, o.n) for y, o in zip(ys, offs, strict=False) for _ in range(y)), reverse=True))
            front = self.reachable(gid, bins) if bins else {(0,) * len(self.target): ()}
            if any(all(any(all(a >= b for a, b in zip(w, v, strict=False)) for w in k[2]) for v in front) for k in kept):
                continue  # a cheaper (or equal) purchase already delivers all of this
            kept.append((cost, {o.id: y for y, o in zip(ys, offs, strict=False) if y}, front))
        return kept

    # ---- the fleet -------------------------------------------------------------------------------------------------
    def solve(self) -> Result:
        s = self.s
        gids = sorted(self.items)
        opts = [self.per_type_options(g) for g in gids]
        budget = micro(s.max_usd_per_hour) if s.max_usd_per_hour is not None else None
        n = len(self.target)
        # best-first over combinations of per-type purchases (each list is sorted by cost)
        start = (0,) * len(gids)
        heap = [(sum(o[0][0] for o in opts), start)]
        seen = {start}
        while heap:
            cost, idx = heapq.heappop(heap)
            if budget is not None and cost > budget:
                break
            fronts = [opts[t][i][2] for t, i in enumerate(idx)]
            wit = self._combine(fronts)
            if wit is not None:
                purchase: dict[str, int] = {}
                for t, i in enumerate(idx):
                    purchase.update(opts[t][i][1])
                return Result(cost, purchase, {gids[t]: list(w) for t, w in enumerate(wit) if w})
            for t in range(len(gids)):
                if idx[t] + 1 < len(opts[t]):
                    nxt = (*idx[:t], idx[t] + 1, *idx[t + 1:])
                    if nxt not in seen:
                        seen.add(nxt)
                        heapq.heappush(heap, (sum(opts[u][j][0] for u, j in enumerate(nxt)), nxt))
        del n
        return Result(None, {}, {})

    def _combine(self, fronts: list[dict[tuple[int, ...], tuple[str, ...]]]) -> list[tuple[str, ...]] | None:
        """Witness item lists (one per type) whose capped vectors add up to the target, or None."""
        t = self.target
        acc: dict[tuple[int, ...], list[tuple[str, ...]]] = {(0,) * len(t): []}
        for f in fronts:
            nxt: dict[tuple[int, ...], list[tuple[str, ...]]] = {}
            for a, wa in acc.items():
                for b, wb in f.items():
                    v = tuple(min(t[j], a[j] + b[j]) for j in range(len(t)))
                    nxt.setdefault(v, [*wa, wb])
            keep = _pareto(nxt)
            acc = {v: nxt[v] for v in keep}
        return acc.get(t)


def optimal(s: Scenario) -> Result:
    """The exact optimum of ``s`` over the oracle's space (module doc)."""
    return Oracle(s).solve()

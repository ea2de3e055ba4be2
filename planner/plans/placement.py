"""From the solver's counts to exact placement: which instance, which device, what memory sits on each."""

from __future__ import annotations

from dataclasses import dataclass

from planner.candidates.deployments import CandidateSet
from planner.estimate.memory import stage_devices
from planner.plans.records import Device, Instance, ModelResult, Plan, Replica, Shard
from planner.units import GIB


@dataclass
class _Bin:
    offer: str
    index: int
    size: int
    used: int = 0


class PlacementError(RuntimeError):
    """First-fit-decreasing could not place the groups: the packing constraint is wrong (a bug, not user input)."""


def build_plan(cs: CandidateSet, replicas: dict[str, int], instances: dict[str, int], shared: dict[tuple[str, str], int],
               patterns: dict[str, int], *, status: str, cost: float, bound: float, solve_seconds: float,
               solver: dict | None = None, notes: tuple[str, ...] = ()) -> Plan:
    """Materialise a plan from counts: replicas per candidate, instances per offer, shared engines, pattern devices."""
    s = cs.scenario
    cands = {c.key: c for c in cs.candidates}
    offers = {o.id: o for o in cs.offers}
    reqs = {m.name: m for m in s.models}
    # 1. replicas and their groups (one group of TP devices per pipeline stage)
    reps: list[dict] = []
    groups: dict[str, list[tuple[int, str, int]]] = {}  # gpu -> [(size, replica id, stage)]
    counter: dict[str, int] = {}
    for key in sorted(replicas, key=lambda k: (list(reqs).index(cands[k].model), cands[k].gpu, cands[k].tp, cands[k].pp)):
        c = cands[key]
        for _ in range(replicas[key]):
            counter[c.model] = counter.get(c.model, 0) + 1
            rid = f"{c.model}/r{counter[c.model]}"
            reps.append({"id": rid, "cand": c, "shared": False, "devices": []})
            for stage in range(c.pp):
                groups.setdefault(c.gpu, []).append((c.tp, rid, stage))
    # 2. shared devices: each runs a pattern; models in shared mode take r_m engines on distinct devices
    shared_need = {k: reqs[k[0]].min_replicas for k, v in shared.items() if v}
    pattern_list = [p for p in cs.patterns if patterns.get(p.key)]
    shared_devices: dict[str, list[list[str]]] = {}  # gpu -> list of devices, each a list of model names
    for p in sorted(pattern_list, key=lambda p: p.key):
        for _ in range(patterns[p.key]):
            on = [n for n in p.models if shared_need.get((n, p.gpu), 0) > 0]
            for n in on:
                shared_need[(n, p.gpu)] -= 1
            shared_devices.setdefault(p.gpu, []).append(on)
    # 3. bins: instances of each offer, largest first; groups first-fit decreasing
    dev_of_group: dict[tuple[str, int], list[str]] = {}
    inst_records: list[Instance] = []
    gpus_sorted = sorted({o.gpu for o in cs.offers if instances.get(o.id)})
    shard_map: dict[str, list[Shard]] = {}
    for gid in gpus_sorted:
        g = s.catalog.gpus[gid]
        total = int(g.memory_gib * GIB)
        usable = int(total * s.gpu_memory_utilization)
        bins: list[_Bin] = []
        for oid in sorted((o for o in instances if offers[o].gpu == gid), key=lambda o: (-offers[o].gpus_per_instance, o)):
            for i in range(instances[oid]):
                bins.append(_Bin(oid, i + 1, offers[oid].gpus_per_instance))
        items = sorted(groups.get(gid, []), key=lambda t: (-t[0], t[1], t[2]))
        items_shared = [(1, f"__shared{j}", 0) for j in range(len(shared_devices.get(gid, [])))]
        assign: dict[tuple[str, int], tuple[int, int, int]] = {}  # group -> (bin, first device, size)
        for size, rid, stage in items + items_shared:
            b = next((i for i, b in enumerate(bins) if b.size - b.used >= size), None)
            if b is None:
                raise PlacementError(f"cannot place a TP group of {size} {gid} GPUs; instances {[(x.offer, x.size, x.used) for x in bins]}")
            assign[(rid, stage)] = (b, bins[b].used, size)
            bins[b].used += size
        # devices
        dev_ids: list[list[str]] = []
        for b in bins:
            iid = f"{b.offer}#{b.index}"
            dev_ids.append([f"{iid}/gpu{j}" for j in range(b.size)])
        for (rid, stage), (bi, start, size) in assign.items():
            dev_of_group[(rid, stage)] = dev_ids[bi][start:start + size]
        # shards of dedicated replicas
        for r in reps:
            if r["shared"] or r["cand"].gpu != gid:
                continue
            c = r["cand"]
            m = reqs[c.model]
            stages = stage_devices(m.arch, g, tp=c.tp, pp=c.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                                   gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens)
            for stage in range(c.pp):
                devs = dev_of_group[(r["id"], stage)]
                r["devices"] += devs
                dm = stages[stage]
                for d in devs:
                    shard_map.setdefault(d, []).append(Shard(c.model, r["id"], stage, dm.weights_bytes, dm.kv_cache_bytes,
                                                             dm.activation_bytes, dm.overhead_bytes,
                                                             s.gpu_memory_utilization))
        # shared engines
        for j, models_on in enumerate(shared_devices.get(gid, [])):
            d = dev_of_group[(f"__shared{j}", 0)][0]
            for n in models_on:
                e = cs.shared[(n, gid)]
                counter[n] = counter.get(n, 0) + 1
                rid = f"{n}/r{counter[n]}"
                util = e.memory_bytes / total
                kv = e.memory_bytes - e.memory.fixed_bytes_per_device
                shard_map.setdefault(d, []).append(Shard(n, rid, 0, e.memory.per_device.weights_bytes, kv,
                                                         e.memory.per_device.activation_bytes,
                                                         e.memory.per_device.overhead_bytes, round(util, 4)))
                reps.append({"id": rid, "shared": True, "engine": e, "devices": [d]})
        for b, ids in zip(bins, dev_ids):
            o = offers[b.offer]
            inst_records.append(Instance(
                id=f"{b.offer}#{b.index}", offer=b.offer, gpu=gid, provider=o.provider, instance_type=o.instance,
                usd_per_hour=o.usd_per_hour,
                devices=tuple(Device(d, gid, total, usable, tuple(shard_map.get(d, ()))) for d in ids),
            ))
    # 4. replica records and per-model results
    rep_records = []
    for r in reps:
        if r["shared"]:
            e = r["engine"]
            m = reqs[e.model]
            rep_records.append(Replica(r["id"], e.model, e.gpu, 1, 1, e.concurrency, e.concurrency, "shared", True,
                                       tuple(r["devices"]), e.step_ms, e.prefill_ms + e.step_ms,
                                       e.concurrency * 1000.0 / e.step_ms))
        else:
            c = r["cand"]
            rep_records.append(Replica(r["id"], c.model, c.gpu, c.tp, c.pp, c.max_concurrency, c.capacity_units, c.binding,
                                       False, tuple(r["devices"]), c.step_ms, c.ttft_ms, c.tokens_per_s))
    rep_records.sort(key=lambda r: (list(reqs).index(r.model), int(r.id.rsplit("/r", 1)[1])))
    results = []
    for m in s.models:
        mine = [r for r in rep_records if r.model == m.name]
        served_units = sum(r.capacity_units for r in mine)
        if cs.unit[m.name] == "sequences":
            served_units = sum(r.concurrency for r in mine)
        results.append(ModelResult(
            name=m.name, model=m.arch.id, unit=cs.unit[m.name], target_units=cs.demand[m.name], served_units=served_units,
            target_concurrency=m.concurrency, served_concurrency=sum(r.concurrency for r in mine),
            min_replicas=m.min_replicas, replicas=len(mine),
        ))
    gap = 0.0 if cost <= 0 else max(0.0, (cost - bound) / cost)
    return Plan(scenario=s.name, pricing=s.pricing, status=status, cost_usd_per_hour=cost, bound_usd_per_hour=bound,
                gap=gap, solve_seconds=solve_seconds, models=tuple(results), replicas=tuple(rep_records),
                instances=tuple(inst_records), solver=dict(solver or {}), notes=notes)

"""From the solver's counts to exact placement: which instance, which device, what memory sits on each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.candidates.deployments import CandidateSet
from planner.estimate.memory import planned_max_num_seqs, stage_devices
from planner.plans.fabric import fabric_words, unsearched_split_notes
from planner.plans.records import Device, Instance, ModelResult, Plan, Replica, Shard
from planner.units import GIB

if TYPE_CHECKING:
    from planner.candidates.sharing import SharedEngine
    from planner.inputs.catalog import GPU


@dataclass
class _Bin:
    offer: str
    index: int
    size: int
    used: int = 0


class PlacementError(RuntimeError):
    """First-fit-decreasing could not place the groups: the packing constraint is wrong (a bug, not user input)."""


Rep = dict[str, Any]  # a replica being placed: id, shared, devices, and its candidate ("cand") or engine ("engine")
Group = tuple[int, str, int, str]  # a group to place: size, replica id, first stage, offer it is bound to ("": any)


def build_plan(cs: CandidateSet, replicas: dict[str, int], instances: dict[str, int],
               patterns: dict[str, int], *, status: str, cost: float, bound: float, solve_seconds: float,
               solver: dict[str, Any] | None = None, notes: tuple[str, ...] = ()) -> Plan:
    """Materialise a plan from counts: replicas per candidate, instances per offer, devices per sharing pattern.
    ``bound`` is the solver's lower bound on the cost."""
    s = cs.scenario
    counter: dict[str, int] = {}  # model -> replicas numbered so far
    reps, groups = _dedicated_replicas(cs, replicas, counter)
    shared_devices = _shared_devices(cs, patterns)
    inst_records: list[Instance] = []
    for gid in sorted({o.gpu for o in cs.offers if instances.get(o.id)}):
        inst_records += _place_gpu_type(cs, gid, instances, groups.get(gid, []), shared_devices.get(gid, []), reps,
                                        counter)
    rep_records = _replica_records(cs, reps)
    gap = 0.0 if cost <= 0 else max(0.0, (cost - bound) / cost)
    return Plan(scenario=s.name, pricing=s.pricing, status=status, cost_usd_per_hour=cost, bound_usd_per_hour=bound,
                gap=gap, solve_seconds=solve_seconds, models=tuple(_model_results(cs, rep_records)),
                replicas=tuple(rep_records), instances=tuple(inst_records), solver=dict(solver or {}),
                notes=notes + unsearched_split_notes(cs))


def _dedicated_replicas(cs: CandidateSet, replicas: dict[str, int],
                        counter: dict[str, int]) -> tuple[list[Rep], dict[str, list[Group]]]:
    """Step 1: the dedicated replicas, numbered per model, and their groups per GPU type: one of TP x PP devices (all
    stages in one instance), or one of TP devices per stage bound to the candidate's fabric offer."""
    cands = {c.key: c for c in cs.candidates}
    order = [m.name for m in cs.scenario.models]
    reps: list[Rep] = []
    groups: dict[str, list[Group]] = {}
    for key in sorted(replicas, key=lambda k: (order.index(cands[k].model), cands[k].gpu, cands[k].tp, cands[k].pp,
                                               cands[k].over or "")):
        c = cands[key]
        for _ in range(replicas[key]):
            counter[c.model] = counter.get(c.model, 0) + 1
            rid = f"{c.model}/r{counter[c.model]}"
            reps.append({"id": rid, "cand": c, "shared": False, "devices": []})
            for g in range(c.groups):
                groups.setdefault(c.gpu, []).append((c.group_gpus, rid, g * (c.pp // c.groups), c.over or ""))
    return reps, groups


def _shared_devices(cs: CandidateSet, patterns: dict[str, int]) -> dict[str, list[tuple[SharedEngine, ...]]]:
    """Step 2: shared devices per GPU type, each running the engines of its pattern."""
    out: dict[str, list[tuple[SharedEngine, ...]]] = {}
    for p in sorted((p for p in cs.patterns if patterns.get(p.key)), key=lambda p: p.key):
        out.setdefault(p.gpu, []).extend([p.engines] * patterns[p.key])
    return out


def _first_fit(gid: str, bins: list[_Bin], items: list[Group]) -> dict[tuple[str, int], tuple[int, int, int]]:
    """Step 3: groups first-fit decreasing into the bins, one size at a time, largest first; group -> (bin, first
    device, size). Stages bound to a fabric offer go into its instances; the other groups first into instances of
    offers no such stage uses, then into the fabric offer with the most GPUs to spare (free GPUs less the smaller
    stages still bound for it). With (4b) of ``planner.solve.formulation`` holding, this places every group (the
    brute-force tests check it)."""
    assign: dict[tuple[str, int], tuple[int, int, int]] = {}
    split = {it[3] for it in items if it[3]}
    pending = {o: sum(it[0] for it in items if it[3] == o) for o in split}

    def put(it: Group, where: list[int]) -> bool:
        bi = next((i for i in where if bins[i].size - bins[i].used >= it[0]), None)
        if bi is None:
            return False
        assign[(it[1], it[2])] = (bi, bins[bi].used, it[0])
        bins[bi].used += it[0]
        return True

    rest = [i for i, b in enumerate(bins) if b.offer not in split]
    on = {o: [i for i, b in enumerate(bins) if b.offer == o] for o in sorted(split)}
    for size in sorted({it[0] for it in items}, reverse=True):
        level = [it for it in items if it[0] == size]
        for it in (x for x in level if x[3]):
            pending[it[3]] -= size
            if not put(it, on[it[3]]):
                raise PlacementError(f"cannot place a stage of {size} {gid} GPUs on {it[3]}; {_bins_text(bins)}")
        for it in (x for x in level if not x[3]):
            spare = sorted(split, key=lambda o: (-(sum(bins[i].size - bins[i].used for i in on[o]) - pending[o]), o))
            if not any(put(it, where) for where in [rest, *(on[o] for o in spare)]):
                raise PlacementError(f"cannot place a group of {size} {gid} GPUs; {_bins_text(bins)}")
    return assign


def _bins_text(bins: list[_Bin]) -> str:
    return f"instances {[(x.offer, x.size, x.used) for x in bins]}"


def _place_gpu_type(cs: CandidateSet, gid: str, instances: dict[str, int], groups: list[Group],
                    shared_devices: list[tuple[SharedEngine, ...]], reps: list[Rep], counter: dict[str, int]) -> list[Instance]:
    """Step 3 for one GPU type: instances of each offer as bins, largest first; groups first-fit decreasing; then the
    shards on every device (dedicated stages, shared engines) and the instance records."""
    s = cs.scenario
    offers = {o.id: o for o in cs.offers}
    g = s.catalog.gpus[gid]
    total = int(g.memory_gib * GIB)
    usable = int(total * s.gpu_memory_utilization)
    bins = [_Bin(oid, i + 1, offers[oid].gpus_per_instance)
            for oid in sorted((o for o in instances if offers[o].gpu == gid), key=lambda o: (-offers[o].gpus_per_instance, o))
            for i in range(instances[oid])]
    items = sorted(groups, key=lambda t: (-t[0], t[1], t[2]))
    items_shared: list[Group] = [(1, f"__shared{j}", 0, "") for j in range(len(shared_devices))]
    assign = _first_fit(gid, bins, items + items_shared)
    dev_ids = [[f"{b.offer}#{b.index}/gpu{j}" for j in range(b.size)] for b in bins]
    dev_of_group = {group: dev_ids[bi][start:start + size] for group, (bi, start, size) in assign.items()}
    shard_map: dict[str, list[Shard]] = {}
    _dedicated_shards(cs, g, reps, dev_of_group, shard_map)
    _shared_shards(cs, gid, total, shared_devices, dev_of_group, reps, counter, shard_map)
    out = []
    for b, ids in zip(bins, dev_ids, strict=True):
        o = offers[b.offer]
        out.append(Instance(
            id=f"{b.offer}#{b.index}", offer=b.offer, gpu=gid, provider=o.provider, instance_type=o.instance,
            usd_per_hour=o.usd_per_hour,
            devices=tuple(Device(d, gid, total, usable, tuple(shard_map.get(d, ()))) for d in ids),
        ))
    return out


def _dedicated_shards(cs: CandidateSet, g: GPU, reps: list[Rep], dev_of_group: dict[tuple[str, int], list[str]],
                      shard_map: dict[str, list[Shard]]) -> None:
    """The dedicated replicas' devices and shards on GPU type ``g``: each stage holds what the estimator says."""
    s = cs.scenario
    reqs = {m.name: m for m in s.models}
    for r in reps:
        if r["shared"] or r["cand"].gpu != g.id:
            continue
        c = r["cand"]
        m = reqs[c.model]
        stages = stage_devices(m.arch, g, tp=c.tp, pp=c.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                               gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens,
                               engine=m.engine, context_tokens=m.context_tokens,
                               max_num_seqs=planned_max_num_seqs(m.engine, g, c.max_concurrency))
        devices = [d for first in range(0, c.pp, c.pp // c.groups) for d in dev_of_group[(r["id"], first)]]
        r["devices"] += devices
        for stage in range(c.pp):
            dm = stages[stage]
            for d in devices[stage * c.tp:(stage + 1) * c.tp]:
                shard_map.setdefault(d, []).append(Shard(c.model, r["id"], stage, dm.weights_bytes, dm.kv_cache_bytes,
                                                         dm.activation_bytes, dm.overhead_bytes,
                                                         s.gpu_memory_utilization))


def _shared_shards(cs: CandidateSet, gid: str, total: int, shared_devices: list[tuple[SharedEngine, ...]],
                   dev_of_group: dict[tuple[str, int], list[str]], reps: list[Rep], counter: dict[str, int],
                   shard_map: dict[str, list[Shard]]) -> None:
    """The shared engines on GPU type ``gid``: one replica per engine, each with its own utilization fraction."""
    for j, engines in enumerate(shared_devices):
        d = dev_of_group[(f"__shared{j}", 0)][0]
        for e in engines:
            n = e.model
            counter[n] = counter.get(n, 0) + 1
            rid = f"{n}/r{counter[n]}"
            kv = e.memory_bytes - e.memory.fixed_bytes_per_device
            shard_map.setdefault(d, []).append(Shard(n, rid, 0, e.memory.per_device.weights_bytes, kv,
                                                     e.memory.per_device.activation_bytes,
                                                     e.memory.per_device.overhead_bytes, e.utilization))
            reps.append({"id": rid, "shared": True, "engine": e, "devices": [d]})


def _replica_records(cs: CandidateSet, reps: list[Rep]) -> list[Replica]:
    """Step 4: replica records, in model order and replica number."""
    offers = {o.id: o for o in cs.offers}
    out = []
    for r in reps:
        if r["shared"]:
            e = r["engine"]
            out.append(Replica(r["id"], e.model, e.gpu, 1, 1, e.concurrency, e.concurrency, "shared", True,
                               tuple(r["devices"]), e.step_ms, e.prefill_ms + e.step_ms,
                               e.concurrency * 1000.0 / e.step_ms))
        else:
            c = r["cand"]
            out.append(Replica(r["id"], c.model, c.gpu, c.tp, c.pp, c.max_concurrency, c.capacity_units, c.binding,
                               False, tuple(r["devices"]), c.step_ms, c.ttft_ms, c.tokens_per_s, c.over or "",
                               fabric_words(offers[c.over]) if c.over else ""))
    order = [m.name for m in cs.scenario.models]
    out.sort(key=lambda r: (order.index(r.model), int(r.id.rsplit("/r", 1)[1])))
    return out


def _model_results(cs: CandidateSet, rep_records: list[Replica]) -> list[ModelResult]:
    """Step 4: per model, what it asked for and what its replicas serve."""
    results = []
    for m in cs.scenario.models:
        mine = [r for r in rep_records if r.model == m.name]
        served_units = sum(r.capacity_units for r in mine)
        if cs.unit[m.name] == "sequences":
            served_units = sum(r.concurrency for r in mine)
        results.append(ModelResult(
            name=m.name, model=m.arch.id, unit=cs.unit[m.name], target_units=cs.demand[m.name], served_units=served_units,
            target_concurrency=m.concurrency, served_concurrency=sum(r.concurrency for r in mine),
            min_replicas=m.min_replicas, replicas=len(mine), survive=m.survive, keep=m.keep,
            kept_units=m.kept_units(cs.demand[m.name]),
        ))
    return results

"""The plan checker: the specification of a valid plan, independent of the solver (no OR-Tools import).

It recomputes everything from the scenario and the estimators, never from the solver's variables:
  1. every instance is a priced offer of the scenario, with its GPU count and price;
  2. the plan's cost is the sum of its instances' prices;
  3. every device's shards fit its usable memory, and the engines' utilization fractions sum to at most the scenario's;
  4. every dedicated shard holds exactly what the memory estimator says its pipeline stage holds;
  5. every replica has TP x PP devices of its GPU type, each stage's TP group inside one instance, no device reused;
  6. every replica's concurrency fits its KV cache and meets the model's SLO (shared engines: under time-sharing);
  7. every model's replicas hold its demand, with at least its minimum number of replicas;
  8. GPU-type and offer limits and the budget hold (money in whole micro-dollars, as the solver counts it);
  9. every replica uses a split its model's ``tp`` / ``pp`` lists allow, on a GPU type of the scenario; a shared
     engine is TP1 x PP1 on a device whose engines belong to distinct models, with sharing enabled; a device holding
     a dedicated stage holds nothing else;
 10. every model's context holds its prompt and output and stays within the model's maximum;
 11. no offer is bought beyond its availability (catalog ``max_instances`` or the scenario's limit for its id), and
     every offer is of a kind the scenario rents (``offer_kinds``);
 12. the fleet uses at most ``max_gpu_types`` GPU types and ``max_providers`` providers;
 13. with any one failure domain of a model's ``survive`` kind removed (a replica; an instance, with every replica
     that has a device in it; a provider, with all its instances), the model still serves ceil(keep x target) units;
 14. a dedicated replica's pipeline stages sit in one instance, or (a replica charged over a fabric, ``over``) in
     instances of that one offer, which states a fabric (ethernet, infiniband, efa); its speed (step, TTFT) and SLO
     capacity are the estimator's for where its stages are: one instance, or every boundary over that fabric
     (``fabric_link``, a bound wherever its stages fall), which rule 6 checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.errors import PlannerError
from planner.estimate.memory import estimate_memory, planned_max_num_seqs, stage_devices
from planner.estimate.speed import (
    PerfConstants,
    StageLink,
    constants_for,
    fabric_link,
    load_calibration,
    max_batch_for_slo,
    serving_point,
)
from planner.inputs.pricing import PricedOffer, micro_usd, priced_offers
from planner.plans.metrics import demand_units, request_units

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU
    from planner.inputs.scenario import ModelReq, Scenario
    from planner.plans.records import Instance, Plan, Replica, Shard



class PlanCheckError(PlannerError, RuntimeError):
    """The checker rejected a plan the solver produced (or placement failed): a bug in planner, never printed as a
    plan. Exit code 70 (EX_SOFTWARE), one line."""

    exit_code = 70


def require_valid(plan: Plan, s: Scenario, what: str = "the plan") -> None:
    """Raise PlanCheckError when ``plan`` breaks a rule of ``s``."""
    problems = check_plan(plan, s)
    if problems:
        raise PlanCheckError(f"internal error: {what} failed the independent checker: " + "; ".join(problems[:3]))


@dataclass
class _Tally:
    """What the plan adds up to, counted while its parts are checked."""

    cost_micro: int = 0  # the instances' prices, in micro-dollars per hour

    @property
    def cost(self) -> float:
        return self.cost_micro / 1_000_000
    device_instance: dict[str, str] = field(default_factory=dict)
    device_gpu: dict[str, str] = field(default_factory=dict)
    instance_offer: dict[str, str] = field(default_factory=dict)
    per_offer: dict[str, int] = field(default_factory=dict)
    per_gpu: dict[str, int] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)  # replica id -> units it counts toward its model's target


def check_plan(plan: Plan, s: Scenario) -> list[str]:
    """Every way ``plan`` breaks the scenario's rules, as sentences; an empty list means valid."""
    problems: list[str] = []
    cal = load_calibration(s.calibration_path)
    reqs = {m.name: m for m in s.models}
    offers = {}
    for gid in s.gpu_ids:
        for o in priced_offers(s.catalog.gpus[gid], s.pricing, s.owned, s.providers, s.limits):
            offers[o.id] = o
    t = _Tally()
    for inst in plan.instances:
        problems += _check_instance(inst, offers, t)
    problems += _check_cost(plan, t)
    for inst in plan.instances:
        problems += _check_devices(inst, s)
    shards_by_replica: dict[str, list[Shard]] = {}
    for inst in plan.instances:
        for d in inst.devices:
            for sh in d.shards:
                shards_by_replica.setdefault(sh.replica, []).append(sh)
    for r in plan.replicas:
        m = reqs.get(r.model)
        if m is None:
            problems.append(f"replica {r.id}: unknown model {r.model}")
            continue
        g = s.catalog.gpus[r.gpu]
        t.count[r.model] = t.count.get(r.model, 0) + 1
        problems += _check_replica_devices(r, t)
        shards = shards_by_replica.get(r.id, [])
        if len(shards) != len(r.devices):
            problems.append(f"replica {r.id}: {len(shards)} shards on devices, {len(r.devices)} devices listed")
        c = constants_for(g, cal)
        if r.shared:
            problems += _check_shared_memory(r, m, g, shards, s)
            problems += _check_time_sharing(r, m, g, c, plan, s, cal)
            served = r.concurrency if m.concurrency is not None else 0
        else:
            fabric_problems, link = _check_fabric(r, m, g, c, offers, t)
            problems += fabric_problems
            problems += _check_stage_memory(r, m, g, shards, s)
            problems += _check_kv_and_slo(r, m, g, c, s, link)
            served = r.concurrency
            if m.request_rate_per_s is not None:
                rate_problems, served = _check_request_rate(r, m, g, c, link)
                problems += rate_problems
        t.served[r.model] = t.served.get(r.model, 0) + served
        t.units[r.id] = served
    problems += _check_splits(plan, s)
    problems += _check_contexts(s)
    problems += _check_targets(s, t)
    problems += _check_limits(s, t)
    problems += _check_budget(s, t)
    problems += _check_availability(plan, offers, s, t)
    problems += _check_simplicity(plan, s)
    problems += _check_resilience(plan, s, t)
    return problems


def _check_availability(plan: Plan, offers: dict[str, PricedOffer], s: Scenario, t: _Tally) -> list[str]:
    """Rule 11: no offer beyond its availability; only offers of the scenario's kinds."""
    problems = []
    for oid, n in sorted(t.per_offer.items()):
        o = offers[oid]
        if o.max_instances is not None and n > o.max_instances:
            problems.append(f"availability: {n} instances of {oid} > the {o.max_instances} available")
        if s.offer_kinds is not None and o.kind not in s.offer_kinds:
            problems.append(f"offer {oid} is of kind {o.kind}, not one of offer_kinds {list(s.offer_kinds)}")
    return problems


def _check_simplicity(plan: Plan, s: Scenario) -> list[str]:
    """Rule 12: at most max_gpu_types GPU types and max_providers providers."""
    problems = []
    for cap, what, used in ((s.max_gpu_types, "GPU types", {i.gpu for i in plan.instances}),
                            (s.max_providers, "providers", {i.provider for i in plan.instances})):
        if cap is not None and len(used) > cap:
            problems.append(f"simplicity: {len(used)} {what} ({', '.join(sorted(used))}) > {cap}")
    return problems


def _check_resilience(plan: Plan, s: Scenario, t: _Tally) -> list[str]:
    """Rule 13: every model survives losing any one failure domain of its kind with ceil(keep x target) units."""
    problems = []
    inst_of = {d.id: inst for inst in plan.instances for d in inst.devices}
    for m in s.models:
        if m.survive == "none":
            continue
        need = math.ceil(round(m.keep * demand_units(m)[0], 9))
        mine = [r for r in plan.replicas if r.model == m.name]
        domains: dict[str, set[str]] = {}
        for r in mine:
            if m.survive == "replica":
                domains[r.id] = {r.id}
                continue
            for dev in r.devices:
                inst = inst_of.get(dev)
                if inst is not None:
                    key = inst.id if m.survive == "instance" else inst.provider
                    domains.setdefault(key, set()).add(r.id)
        total = sum(t.units.get(r.id, 0) for r in mine)
        for key, gone in sorted(domains.items()):
            left = total - sum(t.units.get(rid, 0) for rid in gone)
            if left < need:
                problems.append(f"resilience: model {m.name} keeps {left} of {demand_units(m)[0]} units without "
                                f"{m.survive} {key}, below keep {m.keep:g} ({need})")
    return problems


def _check_instance(inst: Instance, offers: dict[str, PricedOffer], t: _Tally) -> list[str]:
    """Rule 1: the instance is a priced offer with its GPU count and price, and no device appears twice."""
    o = offers.get(inst.offer)
    if o is None:
        return [f"instance {inst.id}: offer {inst.offer} is not a priced offer of this scenario"]
    problems = []
    if len(inst.devices) != o.gpus_per_instance:
        problems.append(f"instance {inst.id}: {len(inst.devices)} devices, offer has {o.gpus_per_instance}")
    if micro_usd(inst.usd_per_hour) != o.micro_usd_per_hour:
        problems.append(f"instance {inst.id}: price {inst.usd_per_hour} differs from the offer's {o.usd_per_hour}")
    if inst.gpu != o.gpu:
        problems.append(f"instance {inst.id}: GPU type {inst.gpu}, its offer is of {o.gpu}")
    t.instance_offer[inst.id] = o.id
    t.cost_micro += o.micro_usd_per_hour
    t.per_offer[o.id] = t.per_offer.get(o.id, 0) + 1
    t.per_gpu[o.gpu] = t.per_gpu.get(o.gpu, 0) + o.gpus_per_instance
    for d in inst.devices:
        if d.id in t.device_instance:
            problems.append(f"device {d.id} appears twice")
        t.device_instance[d.id] = inst.id
        t.device_gpu[d.id] = inst.gpu
    return problems


def _check_cost(plan: Plan, t: _Tally) -> list[str]:
    """Rule 2: the plan's cost is the sum of its instances' prices."""
    if micro_usd(plan.cost_usd_per_hour) != t.cost_micro:
        return [f"cost {plan.cost_usd_per_hour:.4f} $/h differs from the instances' sum {t.cost:.4f} $/h"]
    return []


def _check_devices(inst: Instance, s: Scenario) -> list[str]:
    """Rule 3: every device's shards fit its usable memory; utilization fractions and engine counts within limits."""
    problems = []
    g = s.catalog.gpus[inst.gpu]
    total = int(g.memory_gib * 2**30)
    usable = int(total * s.gpu_memory_utilization)
    for d in inst.devices:
        if d.memory_total_bytes != total or d.memory_usable_bytes != usable:
            problems.append(f"device {d.id}: memory figures differ from the catalog ({total} / {usable} bytes)")
        used = sum(sh.total_bytes for sh in d.shards)
        if used > usable:
            problems.append(f"device {d.id}: {used / 2**30:.2f} GiB placed > usable {usable / 2**30:.2f} GiB")
        if sum(sh.gpu_memory_utilization for sh in d.shards) > s.gpu_memory_utilization + 1e-9:
            problems.append(f"device {d.id}: engines' utilization fractions exceed {s.gpu_memory_utilization}")
        if len(d.shards) > 1 and len(d.shards) > s.sharing.max_engines_per_device:
            problems.append(f"device {d.id}: {len(d.shards)} engines > max_engines_per_device")
        if len(d.shards) > 1 and not s.sharing.enabled:
            problems.append(f"device {d.id}: shared although sharing is disabled")
    return problems


def _check_replica_devices(r: Replica, t: _Tally) -> list[str]:
    """Rule 5: TP x PP devices of the replica's GPU type, each stage's TP group inside one instance."""
    problems = []
    if len(r.devices) != r.tp * r.pp:
        problems.append(f"replica {r.id}: {len(r.devices)} devices for TP={r.tp} x PP={r.pp}")
    problems += [f"replica {r.id}: device {dev} is not a {r.gpu}" for dev in r.devices if t.device_gpu.get(dev) != r.gpu]
    for stage in range(r.pp):
        devs = r.devices[stage * r.tp:(stage + 1) * r.tp]
        if len({t.device_instance.get(d) for d in devs}) > 1:
            problems.append(f"replica {r.id}: stage {stage}'s TP group spans instances")
    return problems


def _check_shared_memory(r: Replica, m: ModelReq, g: GPU, shards: list[Shard], s: Scenario) -> list[str]:
    """Rule 4 for a shared engine: its KV cache holds its sequences and its weights are the estimator's."""
    problems = []
    mem = estimate_memory(m.arch, g, tp=1, pp=1, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                          context_tokens=m.context_tokens, concurrency=r.concurrency,
                          gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens,
                          engine=m.engine, max_num_seqs=planned_max_num_seqs(m.engine, g, r.concurrency))
    for sh in shards:
        if sh.kv_cache_bytes < r.concurrency * mem.seq_kv_bytes:
            problems.append(f"replica {r.id}: KV {sh.kv_cache_bytes} B < {r.concurrency} sequences")
        if sh.weights_bytes != mem.per_device.weights_bytes:
            problems.append(f"replica {r.id}: weights differ from the estimator")
    return problems


def _check_time_sharing(r: Replica, m: ModelReq, g: GPU, c: PerfConstants, plan: Plan, s: Scenario,
                        cal: dict[str, PerfConstants]) -> list[str]:
    """Rule 6 for a shared engine: its SLO holds while the device runs every engine's step in turn."""
    problems = []
    dev = r.devices[0]
    others = [x for x in plan.replicas if x.shared and x.devices and x.devices[0] == dev]
    step = sum(_shared_step(x, s, cal) for x in others)
    sp_alone = serving_point(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=1, pp=1,
                             batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
    if m.min_tokens_per_s is not None and 1000.0 / step < m.min_tokens_per_s - 1e-9:
        problems.append(f"replica {r.id}: {1000.0 / step:.1f} tokens/s per stream when sharing < SLO {m.min_tokens_per_s}")
    if m.max_ttft_ms is not None and sp_alone.ttft_ms - sp_alone.serving_step_ms + step > m.max_ttft_ms + 1e-9:
        problems.append(f"replica {r.id}: TTFT over the SLO when sharing")
    return problems


def _check_stage_memory(r: Replica, m: ModelReq, g: GPU, shards: list[Shard], s: Scenario) -> list[str]:
    """Rule 4: every dedicated shard holds exactly what the memory estimator says its pipeline stage holds."""
    problems = []
    stages = stage_devices(m.arch, g, tp=r.tp, pp=r.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                           gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens,
                           engine=m.engine, context_tokens=m.context_tokens,
                           max_num_seqs=planned_max_num_seqs(m.engine, g, r.concurrency))
    for sh in shards:
        want = stages[sh.stage]
        got = (sh.weights_bytes, sh.kv_cache_bytes, sh.activation_bytes, sh.overhead_bytes)
        if got != (want.weights_bytes, want.kv_cache_bytes, want.activation_bytes, want.overhead_bytes):
            problems.append(f"replica {r.id} stage {sh.stage}: memory breakdown differs from the estimator")
    return problems


def _check_fabric(r: Replica, m: ModelReq, g: GPU, c: PerfConstants, offers: dict[str, PricedOffer],
                  t: _Tally) -> tuple[list[str], StageLink | None]:
    """Rule 14: stages in one instance, or in instances of the one fabric offer the replica is charged over; its
    stated step and TTFT are the estimator's there. Returns the link its boundaries are charged over (None: one
    instance)."""
    insts = list(dict.fromkeys(t.device_instance[d] for d in r.devices if d in t.device_instance))
    link = None
    if not r.over:
        if len(insts) > 1:
            return [f"replica {r.id}: stages span instances {', '.join(insts)} without a fabric it is charged over"], None
    else:
        o = offers.get(r.over)
        if o is None or o.fabric_kind == "none" or o.fabric_gbit_s is None:
            return [f"replica {r.id}: charged over the fabric of {r.over}, which states none"], None
        if any(t.instance_offer.get(i) != o.id for i in insts):
            return [f"replica {r.id}: stages span instances of offers other than {o.id}, whose fabric it relies on"], None
        link = fabric_link(o.fabric_kind, o.fabric_gbit_s, r.tp, o.gpus_per_instance, g.interconnect_gb_s)
    sp = serving_point(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=r.tp, pp=r.pp,
                       batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens, fabric=link)
    if not (math.isclose(sp.serving_step_ms, r.step_ms, rel_tol=1e-9) and math.isclose(sp.ttft_ms, r.ttft_ms, rel_tol=1e-9)):
        where = f"over {r.over}'s fabric" if r.over else "in one instance"
        return [f"replica {r.id}: states step {r.step_ms:.3f} ms / TTFT {r.ttft_ms:.1f} ms, the estimator's {where} is "
                f"{sp.serving_step_ms:.3f} / {sp.ttft_ms:.1f}"], link
    return [], link


def _check_kv_and_slo(r: Replica, m: ModelReq, g: GPU, c: PerfConstants, s: Scenario,
                      link: StageLink | None = None) -> list[str]:
    """Rule 6: the replica's concurrency fits its KV cache and meets the model's SLO."""
    problems = []
    mem = estimate_memory(m.arch, g, tp=r.tp, pp=r.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                          context_tokens=m.context_tokens, concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                          max_batched_tokens=m.max_batched_tokens, engine=m.engine,
                          max_num_seqs=planned_max_num_seqs(m.engine, g, r.concurrency))
    if r.concurrency > min(mem.max_concurrency, mem.max_num_seqs):
        problems.append(f"replica {r.id}: {r.concurrency} sequences > {mem.max_concurrency} that fit its KV cache")
    if m.min_tokens_per_s is not None or m.max_ttft_ms is not None:
        ok = max_batch_for_slo(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=r.tp, pp=r.pp,
                               input_tokens=m.input_tokens, output_tokens=m.output_tokens, upper=r.concurrency,
                               min_tokens_per_s=m.min_tokens_per_s, max_ttft_ms=m.max_ttft_ms, fabric=link)
        if ok < r.concurrency:
            problems.append(f"replica {r.id}: SLO holds only up to {ok} sequences, {r.concurrency} planned")
    return problems


def _check_request_rate(r: Replica, m: ModelReq, g: GPU, c: PerfConstants,
                        link: StageLink | None = None) -> tuple[list[str], int]:
    """Rule 6 for a request-rate model: the replica sustains the rate it claims (Little's law). Returns the problems
    and the units it counts toward the demand."""
    sp = serving_point(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=r.tp, pp=r.pp,
                       batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens, fabric=link)
    units = request_units(r.concurrency, sp.ttft_ms, sp.serving_step_ms, m.output_tokens)
    problems = []
    if r.capacity_units > units:
        problems.append(f"replica {r.id}: claims {r.capacity_units} milli-requests/s, sustains {units}")
    return problems, min(units, r.capacity_units)


def _check_splits(plan: Plan, s: Scenario) -> list[str]:
    """Rule 9: splits within the model's lists and the scenario's GPU types; shared engines TP1 x PP1 of distinct
    models with sharing enabled; a dedicated stage's device holds nothing else."""
    problems = []
    reqs = {m.name: m for m in s.models}
    for r in plan.replicas:
        m = reqs.get(r.model)
        if m is None:
            continue
        if r.gpu not in s.gpu_ids:
            problems.append(f"replica {r.id}: GPU type {r.gpu} is not one of the scenario's gpus")
        if (m.tp and r.tp not in m.tp) or (m.pp and r.pp not in m.pp):
            problems.append(f"replica {r.id}: TP={r.tp} x PP={r.pp} outside the model's tp {list(m.tp or [])} / pp "
                            f"{list(m.pp or [])}")
        if r.shared and (r.tp, r.pp) != (1, 1):
            problems.append(f"replica {r.id}: a shared engine must be TP1 x PP1")
    for inst in plan.instances:
        for d in inst.devices:
            models = [sh.model for sh in d.shards]
            if len(d.shards) > 1:
                if len(set(models)) < len(models):
                    problems.append(f"device {d.id}: two engines of the same model")
                if not s.sharing.enabled:
                    problems.append(f"device {d.id}: engines share it although sharing is disabled")
                shared = {r.id for r in plan.replicas if r.shared}
                if any(sh.replica not in shared for sh in d.shards):
                    problems.append(f"device {d.id}: a dedicated stage shares its device")
    return problems


def _check_contexts(s: Scenario) -> list[str]:
    """Rule 10: every model's context holds its prompt and output and stays within the model's maximum."""
    problems = []
    for m in s.models:
        if m.context_tokens < m.input_tokens + m.output_tokens:
            problems.append(f"model {m.name}: context_tokens {m.context_tokens} < input {m.input_tokens} + output "
                            f"{m.output_tokens} tokens")
        if m.context_tokens > m.arch.max_context:
            problems.append(f"model {m.name}: context_tokens {m.context_tokens} > the model's {m.arch.max_context}")
    return problems


def _check_targets(s: Scenario, t: _Tally) -> list[str]:
    """Rule 7: every model's replicas hold its demand, with at least its minimum number of replicas."""
    problems = []
    for m in s.models:
        target = demand_units(m)[0]
        if t.served.get(m.name, 0) < target:
            problems.append(f"model {m.name}: serves {t.served.get(m.name, 0)}, target {target}")
        if t.count.get(m.name, 0) < m.min_replicas:
            problems.append(f"model {m.name}: {t.count.get(m.name, 0)} replicas < min_replicas {m.min_replicas}")
    return problems


def _check_limits(s: Scenario, t: _Tally) -> list[str]:
    """Rule 8: GPU-type and offer limits hold."""
    problems = []
    for key, lim in s.limits.items():
        if key in s.catalog.gpus and t.per_gpu.get(key, 0) > lim:
            problems.append(f"limit: {t.per_gpu[key]} {key} GPUs > {lim}")
        elif t.per_offer.get(key, 0) > lim:
            problems.append(f"limit: {t.per_offer[key]} instances of {key} > {lim}")
    return problems


def _check_budget(s: Scenario, t: _Tally) -> list[str]:
    """Rule 8: the budget holds."""
    if s.max_usd_per_hour is not None and t.cost_micro > micro_usd(s.max_usd_per_hour):
        return [f"budget: {t.cost:.4f} $/h > {s.max_usd_per_hour} $/h"]
    return []


def _shared_step(r: Replica, s: Scenario, cal: dict[str, PerfConstants]) -> float:
    m = next(x for x in s.models if x.name == r.model)
    g = s.catalog.gpus[r.gpu]
    sp = serving_point(m.arch, g, constants_for(g, cal), precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=1, pp=1,
                       batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
    return sp.serving_step_ms

"""The plan checker: the specification of a valid plan, independent of the solver (no OR-Tools import).

It recomputes everything from the scenario and the estimators, never from the solver's variables:
  1. every instance is a priced offer of the scenario, with its GPU count and price;
  2. the plan's cost is the sum of its instances' prices;
  3. every device's shards fit its usable memory, and the engines' utilization fractions sum to at most the scenario's;
  4. every dedicated shard holds exactly what the memory estimator says its pipeline stage holds;
  5. every replica has TP x PP devices of its GPU type, each stage's TP group inside one instance, no device reused;
  6. every replica's concurrency fits its KV cache and meets the model's SLO (shared engines: under time-sharing);
  7. every model's replicas hold its demand, with at least its minimum number of replicas;
  8. GPU-type and offer limits and the budget hold.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from planner.estimate.memory import estimate_memory, stage_devices
from planner.estimate.speed import constants_for, load_calibration, max_batch_for_slo, serving_point
from planner.inputs.pricing import priced_offers

if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan

EPS_USD = 1e-6


def check_plan(plan: Plan, s: Scenario) -> list[str]:
    """Every way ``plan`` breaks the scenario's rules, as sentences; an empty list means valid."""
    problems: list[str] = []
    cal = load_calibration(s.calibration_path)
    reqs = {m.name: m for m in s.models}
    offers = {}
    for gid in s.gpu_ids:
        for o in priced_offers(s.catalog.gpus[gid], s.pricing, s.owned, s.providers, s.limits):
            offers[o.id] = o
    # 1-2. instances and cost
    cost = 0.0
    device_instance: dict[str, str] = {}
    device_gpu: dict[str, str] = {}
    per_offer: dict[str, int] = {}
    per_gpu: dict[str, int] = {}
    for inst in plan.instances:
        o = offers.get(inst.offer)
        if o is None:
            problems.append(f"instance {inst.id}: offer {inst.offer} is not a priced offer of this scenario")
            continue
        if len(inst.devices) != o.gpus_per_instance:
            problems.append(f"instance {inst.id}: {len(inst.devices)} devices, offer has {o.gpus_per_instance}")
        if abs(inst.usd_per_hour - o.usd_per_hour) > EPS_USD:
            problems.append(f"instance {inst.id}: price {inst.usd_per_hour} differs from the offer's {o.usd_per_hour}")
        cost += o.usd_per_hour
        per_offer[o.id] = per_offer.get(o.id, 0) + 1
        per_gpu[o.gpu] = per_gpu.get(o.gpu, 0) + o.gpus_per_instance
        for d in inst.devices:
            if d.id in device_instance:
                problems.append(f"device {d.id} appears twice")
            device_instance[d.id] = inst.id
            device_gpu[d.id] = inst.gpu
    if abs(cost - plan.cost_usd_per_hour) > 1e-4:
        problems.append(f"cost {plan.cost_usd_per_hour:.4f} $/h differs from the instances' sum {cost:.4f} $/h")
    # 3-4. devices
    for inst in plan.instances:
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
    shards_by_replica: dict[str, list[tuple[str, object]]] = {}
    for inst in plan.instances:
        for d in inst.devices:
            for sh in d.shards:
                shards_by_replica.setdefault(sh.replica, []).append((d.id, sh))
    # 5-6. replicas
    served: dict[str, int] = {}
    count: dict[str, int] = {}
    for r in plan.replicas:
        m = reqs.get(r.model)
        if m is None:
            problems.append(f"replica {r.id}: unknown model {r.model}")
            continue
        g = s.catalog.gpus[r.gpu]
        count[r.model] = count.get(r.model, 0) + 1
        if len(r.devices) != r.tp * r.pp:
            problems.append(f"replica {r.id}: {len(r.devices)} devices for TP={r.tp} x PP={r.pp}")
        for dev in r.devices:
            if device_gpu.get(dev) != r.gpu:
                problems.append(f"replica {r.id}: device {dev} is not a {r.gpu}")
        for stage in range(r.pp):
            devs = r.devices[stage * r.tp:(stage + 1) * r.tp]
            if len({device_instance.get(d) for d in devs}) > 1:
                problems.append(f"replica {r.id}: stage {stage}'s TP group spans instances")
        c = constants_for(g, cal)
        shards = shards_by_replica.get(r.id, [])
        if len(shards) != len(r.devices):
            problems.append(f"replica {r.id}: {len(shards)} shards on devices, {len(r.devices)} devices listed")
        if r.shared:
            mem = estimate_memory(m.arch, g, tp=1, pp=1, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                                  context_tokens=m.context_tokens, concurrency=r.concurrency,
                                  gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens)
            for _dev, sh in shards:
                if sh.kv_cache_bytes < r.concurrency * mem.seq_kv_bytes:  # type: ignore[attr-defined]
                    problems.append(f"replica {r.id}: KV {sh.kv_cache_bytes} B < {r.concurrency} sequences")  # type: ignore[attr-defined]
                if sh.weights_bytes != mem.per_device.weights_bytes:  # type: ignore[attr-defined]
                    problems.append(f"replica {r.id}: weights differ from the estimator")
            # time-sharing: the device runs every engine's step in turn
            dev = r.devices[0]
            others = [x for x in plan.replicas if x.shared and x.devices and x.devices[0] == dev]
            step = sum(_shared_step(x, s, cal) for x in others)
            sp_alone = serving_point(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=1, pp=1,
                                     batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
            if m.min_tokens_per_s is not None and 1000.0 / step < m.min_tokens_per_s - 1e-9:
                problems.append(f"replica {r.id}: {1000.0 / step:.1f} tokens/s per stream when sharing < SLO {m.min_tokens_per_s}")
            if m.max_ttft_ms is not None and sp_alone.ttft_ms - sp_alone.serving_step_ms + step > m.max_ttft_ms + 1e-9:
                problems.append(f"replica {r.id}: TTFT over the SLO when sharing")
            served[r.model] = served.get(r.model, 0) + (r.concurrency if m.concurrency is not None else 0)
            continue
        stages = stage_devices(m.arch, g, tp=r.tp, pp=r.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                               gpu_memory_utilization=s.gpu_memory_utilization, max_batched_tokens=m.max_batched_tokens)
        for _dev, sh in shards:
            want = stages[sh.stage]  # type: ignore[attr-defined]
            got = (sh.weights_bytes, sh.kv_cache_bytes, sh.activation_bytes, sh.overhead_bytes)  # type: ignore[attr-defined]
            if got != (want.weights_bytes, want.kv_cache_bytes, want.activation_bytes, want.overhead_bytes):
                problems.append(f"replica {r.id} stage {sh.stage}: memory breakdown differs from the estimator")  # type: ignore[attr-defined]
        mem = estimate_memory(m.arch, g, tp=r.tp, pp=r.pp, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype,
                              context_tokens=m.context_tokens, concurrency=1, gpu_memory_utilization=s.gpu_memory_utilization,
                              max_batched_tokens=m.max_batched_tokens)
        if r.concurrency > mem.max_concurrency:
            problems.append(f"replica {r.id}: {r.concurrency} sequences > {mem.max_concurrency} that fit its KV cache")
        if m.min_tokens_per_s is not None or m.max_ttft_ms is not None:
            ok = max_batch_for_slo(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=r.tp, pp=r.pp,
                                   input_tokens=m.input_tokens, output_tokens=m.output_tokens, upper=r.concurrency,
                                   min_tokens_per_s=m.min_tokens_per_s, max_ttft_ms=m.max_ttft_ms)
            if ok < r.concurrency:
                problems.append(f"replica {r.id}: SLO holds only up to {ok} sequences, {r.concurrency} planned")
        if m.request_rate_per_s is not None:
            sp = serving_point(m.arch, g, c, precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=r.tp, pp=r.pp,
                               batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
            e2e = (sp.ttft_ms + m.output_tokens * sp.serving_step_ms) / 1000.0
            units = int(math.floor(r.concurrency / e2e * 1000))
            if r.capacity_units > units:
                problems.append(f"replica {r.id}: claims {r.capacity_units} milli-requests/s, sustains {units}")
            served[r.model] = served.get(r.model, 0) + min(units, r.capacity_units)
        else:
            served[r.model] = served.get(r.model, 0) + r.concurrency
    # 7. targets
    for m in s.models:
        target = m.concurrency if m.concurrency is not None else math.ceil(m.request_rate_per_s * 1000 - 1e-9)  # type: ignore[operator]
        if served.get(m.name, 0) < target:
            problems.append(f"model {m.name}: serves {served.get(m.name, 0)}, target {target}")
        if count.get(m.name, 0) < m.min_replicas:
            problems.append(f"model {m.name}: {count.get(m.name, 0)} replicas < min_replicas {m.min_replicas}")
    # 8. limits and budget
    for key, lim in s.limits.items():
        if key in s.catalog.gpus and per_gpu.get(key, 0) > lim:
            problems.append(f"limit: {per_gpu[key]} {key} GPUs > {lim}")
        elif per_offer.get(key, 0) > lim:
            problems.append(f"limit: {per_offer[key]} instances of {key} > {lim}")
    if s.max_usd_per_hour is not None and cost > s.max_usd_per_hour + EPS_USD:
        problems.append(f"budget: {cost:.4f} $/h > {s.max_usd_per_hour} $/h")
    return problems


def _shared_step(r, s, cal) -> float:  # type: ignore[no-untyped-def]
    m = next(x for x in s.models if x.name == r.model)
    g = s.catalog.gpus[r.gpu]
    sp = serving_point(m.arch, g, constants_for(g, cal), precision=m.precision, kv_cache_dtype=m.kv_cache_dtype, tp=1, pp=1,
                       batch=r.concurrency, input_tokens=m.input_tokens, output_tokens=m.output_tokens)
    return sp.serving_step_ms

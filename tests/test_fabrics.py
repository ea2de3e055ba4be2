"""Issue 14, fabrics: TP groups inside one instance; a replica's pipeline stages either all in one instance or across
instances of one offer over its fabric, the transfer charged in the speed model.

Against the brute force (tests/oracle.py: the same rules, its own search), the independent checker on every plan,
the issue's two examples (no pipeline across hosts without a fabric), and a p5 / EFA case where a pipeline across
instances is allowed and slower than the same stages in one instance.
"""

from __future__ import annotations

import random

import pytest
import yaml
from oracle import MAX_GPUS_PER_TYPE
from test_full_space import compare

import planner
from planner.candidates.deployments import RejectionKind, build_candidates
from planner.errors import InfeasibleError
from planner.estimate.speed import (
    FABRIC_LATENCY_US,
    PP_HOP_MS,
    constants_for,
    decode_step_ms,
    fabric_link,
    instance_link,
    load_calibration,
    prefill_ms,
    stage_transfer_ms,
)
from planner.inputs.catalog import load_catalog
from planner.inputs.scenario import scenario_from_dict
from planner.plans.check import check_plan

KINDS = [("efa", 400.0), ("infiniband", 1600.0), ("ethernet", 25.0), ("efa", 3200.0)]
GPUS = {"l4": 0.45, "rtx-4090": 0.4, "t4": 0.35}
MODELS = ["qwen2.5-7b", "llama-3-8b", "qwen2.5-14b", "glm-4-9b", "llama-3.2-3b"]


def _fabric_catalog(rng: random.Random, gpus: list[str], folder) -> list[str]:
    """1-3 offers per GPU type of 1-8 GPUs, each with a fabric (random kind and speed) or none."""
    folder.mkdir(parents=True, exist_ok=True)
    providers = set()
    for g in gpus:
        offers = []
        for k in range(rng.choice([1, 2, 2, 3])):
            n = rng.choice([1, 1, 2, 4, 8])
            o = {"provider": f"test-p{k}", "instance": f"{n}x-{g}-{k}", "gpus_per_instance": n,
                 "usd_per_hour": round(GPUS[g] * n * rng.choice([0.8, 1.0, 1.25]) + 0.01 * rng.randint(0, 9), 2),
                 "source": "test", "as_of": "2026-01-01"}
            if rng.random() < 0.6:
                kind, gbit = rng.choice(KINDS)
                o["fabric"] = {"kind": kind, "gbit_s": gbit, "placement_group": rng.random() < 0.5, "source": "test"}
            offers.append(o)
        (folder / f"{g}.yaml").write_text(yaml.safe_dump({"id": g, "offers": offers}))
        providers |= {o["provider"] for o in offers}
    return sorted(providers)


def fabric_instance(seed: int, folder) -> dict:
    rng = random.Random(5000 + seed)
    gpus = rng.sample(sorted(GPUS), rng.choice([1, 1, 2]))
    providers = _fabric_catalog(rng, gpus, folder)
    models = []
    for i in range(rng.choice([1, 2, 2])):
        m = {"name": f"m{i}", "model": rng.choice(MODELS), "precision": rng.choice(["bf16", "bf16", "int8"]),
             "concurrency": rng.choice([2, 8, 16, 32]), "context_tokens": rng.choice([2048, 4096]),
             "min_replicas": rng.choice([1, 1, 2]), "pp": rng.choice([[2], [1, 2], [2, 3], [2, 4], [1, 2, 4]]),
             "tp": rng.choice([[1], [1], [1, 2], [2]])}
        if rng.random() < 0.4:
            m["slo"] = {"min_tokens_per_s": rng.choice([10, 20, 30])}
        models.append(m)
    return {"name": f"fabric-{seed}", "gpus": gpus, "catalog": str(folder), "providers": providers,
            "limits": dict.fromkeys(gpus, MAX_GPUS_PER_TYPE), "models": models,
            "sharing": {"enabled": rng.random() < 0.5}}


@pytest.mark.parametrize("seed", range(40))
def test_fabric_pipelines_equal_the_brute_force(seed, tmp_path):
    """Cost equal to the oracle's to the cent, status optimal, the checker passes (compare); the instances mix
    fabric offers, offers without one and sizes 1-8, so (4b) and its placement are exercised."""
    compare(fabric_instance(seed, tmp_path / "catalog"))


def test_some_fabric_instances_plan_pipelines_across_instances(tmp_path):
    """The brute-force instances above are not vacuous: some plans put a replica's stages in several instances."""
    across = 0
    for seed in range(40):
        p = compare(fabric_instance(seed, tmp_path / f"c{seed}"))
        if p is not None:
            inst_of = {d.id: i.id for i in p.instances for d in i.devices}
            across += sum(len({inst_of[d] for d in r.devices}) > 1 for r in p.replicas)
    assert across > 0


# ---- the speed model's inter-stage transfer ---------------------------------------------------------------------

def _arch_gpu(model: str, gpu: str):
    s = scenario_from_dict({"name": "x", "gpus": [gpu], "models": [{"name": "m", "model": model, "concurrency": 1}]})
    return s.models[0].arch, load_catalog().gpus[gpu]


def test_stage_transfer_is_latency_plus_activations_over_the_link():
    """bytes = tokens x hidden x 2 tensors (hidden_states, residual) x 2 bytes (bf16); EFA 3200 Gbit/s per 8-GPU p5,
    a TP8 stage gets all of it: 400 GB/s = 4e8 bytes/ms; latency 0.1 ms hop + 30 us."""
    arch, gpu = _arch_gpu("llama-3.1-405b", "h100-sxm")
    link = fabric_link("efa", 3200, 8, 8)
    assert link.bytes_per_ms == pytest.approx(3200e9 / 8 / 1000)
    want = PP_HOP_MS + FABRIC_LATENCY_US["efa"] / 1000 + 64 * arch.hidden_size * 2 * 2 / 4e8
    assert stage_transfer_ms(arch, "bf16", 64, link) == pytest.approx(want)
    # a TP1 stage of the same instance gets one eighth of its NICs; the GPU's NVLink is the cap of a fabric link
    assert fabric_link("efa", 3200, 1, 8).bytes_per_ms == pytest.approx(4e8 / 8)
    assert fabric_link("efa", 3200, 8, 8, interconnect_gb_s=32).bytes_per_ms == pytest.approx(32e9 / 1000)
    assert instance_link(gpu).bytes_per_ms == pytest.approx(gpu.interconnect_gb_s * 1e9 / 1000)


def test_a_slow_fabric_costs_decode_and_prefill_time():
    arch, gpu = _arch_gpu("llama-3.1-70b", "h100-sxm")
    cal = constants_for(gpu, load_calibration())
    kw = {"precision": "bf16", "tp": 4, "pp": 2}
    one = decode_step_ms(arch, gpu, cal, batch=32, **kw)
    efa = decode_step_ms(arch, gpu, cal, batch=32, fabric=fabric_link("efa", 3200, 4, 8, 450), **kw)
    eth = decode_step_ms(arch, gpu, cal, batch=32, fabric=fabric_link("ethernet", 25, 4, 8, 450), **kw)
    assert one < efa < eth
    p_one = prefill_ms(arch, gpu, cal, tokens=4096, **kw)
    p_eth = prefill_ms(arch, gpu, cal, tokens=4096, fabric=fabric_link("ethernet", 25, 4, 8, 450), **kw)
    # 4096 tokens x 8192 x 4 bytes over 25 Gbit/s x 4 / 8: about 43 ms more
    assert p_eth - p_one == pytest.approx(4096 * 8192 * 4 / (25e9 / 8 / 2 / 1000) + 0.035, rel=0.01)


# ---- the two examples, and a p5 / EFA case ---------------------------------------------------------------

def _no_replica_spans_instances(p) -> None:
    inst_of = {d.id: i.id for i in p.instances for d in i.devices}
    assert all(len({inst_of[d] for d in r.devices}) == 1 for r in p.replicas)


def test_405b_int4_tp4_pp7_is_not_planned_across_consumer_marketplace_hosts():
    """Issue 14: Llama-3.1-405B INT4 as TP4 x PP7 over seven consumer hosts. Vast lists each host alone with no
    fabric between listings: 28 GPUs do not fit one host, so the split has no candidate and says why."""
    m = {"name": "big", "model": "llama-3.1-405b", "precision": "int4", "concurrency": 4, "context_tokens": 4096,
         "tp": [4], "pp": [7]}
    d = {"name": "405b-consumer", "gpus": ["rtx-4090", "rtx-3090"], "providers": ["vast"],
         "limits": {"vast:8x RTX_4090": 7}, "models": [m]}
    s = scenario_from_dict(d)
    cs = build_candidates(s)
    assert not cs.candidates
    assert any(r.kind is RejectionKind.FABRIC and r.tp == 4 and "fabric" in r.reason for r in cs.rejected)
    with pytest.raises(InfeasibleError):
        planner.plan(s, baselines=False)
    # without the lists, whatever is planned keeps every replica inside one host
    free = scenario_from_dict({**d, "models": [{k: v for k, v in m.items() if k not in ("tp", "pp")}]})
    try:
        p = planner.plan(free, baselines=False, time_limit_s=20)
    except InfeasibleError:
        return
    assert check_plan(p, free) == []
    _no_replica_spans_instances(p)


def test_mixtral_tp1_pp6_is_not_planned_over_runpod_pods():
    """Issue 14: Mixtral as TP1 x PP6 over six RunPod 1-GPU pods (149 ms per token, no caveat). Pods of a
    marketplace share no fabric: no candidate spans them; a plan without the lists keeps replicas in one pod."""
    m = {"name": "moe", "model": "mixtral-8x7b-v0.1", "precision": "bf16", "concurrency": 8, "context_tokens": 4096}
    d = {"name": "mixtral-pods", "gpus": ["rtx-4090"], "providers": ["runpod"], "models": [{**m, "tp": [1], "pp": [6]}]}
    s = scenario_from_dict(d)
    cs = build_candidates(s)
    assert not cs.candidates and any(r.kind is RejectionKind.FABRIC for r in cs.rejected)
    with pytest.raises(InfeasibleError):
        planner.plan(s, baselines=False)
    free = scenario_from_dict({**d, "gpus": ["rtx-4090", "b200"], "models": [m]})  # runpod 8x B200 holds it
    p = planner.plan(free, baselines=False, time_limit_s=20)
    assert check_plan(p, free) == []
    _no_replica_spans_instances(p)


def test_p5_efa_pipeline_across_instances_is_allowed_and_slower_than_in_one_instance():
    """On AWS p5 (EFA 3,200 Gbit/s, one placement group) a TP4 x PP2 replica of Llama-3.1-70B can sit in one
    instance or across two: both are candidates, the one across is slower (its boundary is charged over EFA); a
    TP8 x PP2 replica of Llama-3.1-405B FP8 needs two instances and the plan names them and the fabric."""
    d = {"name": "p5", "gpus": ["h100-sxm"], "providers": ["aws"],
         "models": [{"name": "l70", "model": "llama-3.1-70b", "precision": "bf16", "concurrency": 32,
                     "context_tokens": 8192, "tp": [4], "pp": [2]}]}
    cs = build_candidates(scenario_from_dict(d))
    one = next(c for c in cs.candidates if c.over is None)
    across = next(c for c in cs.candidates if c.over == "aws:p5.48xlarge")
    assert (one.tp, one.pp) == (across.tp, across.pp) == (4, 2)
    assert across.step_ms > one.step_ms and across.ttft_ms > one.ttft_ms
    big = {"name": "p5-405b", "gpus": ["h100-sxm"], "providers": ["aws"],
           "models": [{"name": "l405", "model": "llama-3.1-405b", "precision": "fp8", "concurrency": 16,
                       "context_tokens": 8192, "tp": [8], "pp": [2]}]}
    s = scenario_from_dict(big)
    p = planner.plan(s, baselines=False, time_limit_s=30)
    assert check_plan(p, s) == []
    r = p.replicas[0]
    j = next(x for x in p.to_dict()["replicas"] if x["id"] == r.id)
    assert len(j["instances"]) == 2 and j["fabric"] == {"offer": "aws:p5.48xlarge",
                                                       "needs": "efa 3200 Gbit/s, one placement group"}
    note = next(n for n in p.notes if n.startswith("pipelines across instances"))
    assert r.id in note and all(i in note for i in j["instances"])


def test_the_checker_rejects_stages_across_instances_without_a_fabric(tmp_path):
    """Rule 14: a one-instance replica whose devices are moved to two instances, or a replica charged over an offer
    without a fabric, fails the checker."""
    from dataclasses import replace

    (tmp_path / "rtx-4090.yaml").write_text(yaml.safe_dump({"id": "rtx-4090", "offers": [
        {"provider": "t", "instance": "2x", "gpus_per_instance": 2, "usd_per_hour": 0.8, "source": "test", "as_of": "2026-01-01"}]}))
    d = {"name": "pods", "gpus": ["rtx-4090"], "providers": ["t"], "catalog": str(tmp_path),
         "models": [{"name": "q", "model": "qwen2.5-14b", "concurrency": 2, "context_tokens": 2048, "tp": [1],
                     "pp": [2], "min_replicas": 2}]}  # two 2-GPU instances
    s = scenario_from_dict(d)
    p = planner.plan(s, baselines=False)
    assert check_plan(p, s) == []
    r = next(x for x in p.replicas if x.pp == 2)
    assert check_plan(replace(p, replicas=tuple(replace(x, over="t:2x") if x.id == r.id else x
                                                for x in p.replicas)), s)
    # swap one stage's device with a device of another instance (same GPU type): the stages now span instances
    inst = next(i for i in p.instances if r.devices[0] not in {dv.id for dv in i.devices})
    other = inst.devices[0].id
    moved = tuple(replace(x, devices=(x.devices[0], other)) if x.id == r.id else x for x in p.replicas)
    assert any("without a fabric" in e for e in check_plan(replace(p, replicas=moved), s))


def test_a_pipeline_across_instances_launches_on_ray(tmp_path):
    """A replica whose stages span instances is started once, on the Ray head, with the Ray executor in its line
    (vLLM's multi-node serving), and the note says how to form the cluster."""
    from planner.plans.launch import launch_lines

    d = {"name": "p5-405b", "pricing": "on_demand", "providers": ["aws"], "gpus": ["h100-sxm"],
         "models": [{"name": "big", "model": "llama-3.1-405b", "precision": "bf16", "concurrency": 8,
                     "context_tokens": 8192}]}
    s = scenario_from_dict(d)
    p = planner.plan(s, baselines=False)
    lines = [ln for ln in launch_lines(p, s) if len(ln.instances) > 1]
    assert lines, "405B BF16 on AWS H100 needs more than one p5 instance"
    for ln in lines:
        argv = list(ln.argv)
        assert argv[argv.index("--distributed-executor-backend") + 1] == "ray"
        assert any("ray start --head" in n for n in ln.notes)

"""The device-slot model with resilience (planner.solve.slots, issue 14) against an independent brute force.

The pattern enumeration is forced to restrict (``sharing.EXACT_VISITS = 0``), so every GPU type with two sharable
models goes to the slot model, now with the resilience rows of its slots.

Brute force: tests/oracle.py (the whole sharing space, no resilience) solves the replica rule too. Call a model's
piece the units one of its replicas (a dedicated replica or a shared engine) holds; a fleet survives losing any one
replica iff S_m - max piece >= K_m = ceil(keep x target). S - max is non-decreasing in every piece, so the resilient
optimum is the least, over P_m = 1 .. D_m for each resilient model, of the oracle's optimum with every item's piece of
m clipped to P_m and the target raised to max(D_m, K_m + P_m): a clipped fleet is a valid one once unclipped, and
every valid fleet is found at P = its largest pieces. On 1-GPU instances an instance holds at most one piece of a
model (engines on a device belong to distinct models), so ``survive: instance`` is ``survive: replica`` there and the
same brute force is exact for it.

With multi-GPU instances the program keeps its robust rule (formulation (9): any placement survives), so there the
plan must pass the checker, cost at least the replica-rule optimum and at most the restricted patterns' plan. The
provider rule is monotone in every piece too, so the unrestricted pattern enumeration (every Pareto-maximal pattern)
solves it over the whole space, and the slot model must match it.
"""

from __future__ import annotations

import copy
import itertools
import random
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from oracle import MAX_GPUS_PER_TYPE, Oracle, micro
from test_full_space import GPUS

import planner
from planner.candidates import sharing
from planner.candidates.deployments import build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import Scenario, scenario_from_dict
from planner.plans.records import Plan
from planner.solve.formulation import solve_fleet

SMALL_MODELS = ["qwen3-0.6b", "llama-3.2-1b", "llama-3.2-3b", "qwen2.5-7b"]
N_INSTANCES = 8


def _catalog(rng: random.Random, gpus: list[str], folder: Path, one_gpu: bool) -> list[str]:
    """1-2 offers per GPU type, each of its own provider (1-GPU instances when ``one_gpu``); returns the providers."""
    folder.mkdir(parents=True, exist_ok=True)
    providers = set()
    for i, g in enumerate(gpus):
        per_gpu, largest = GPUS[g]
        offers = []
        for k in range(rng.choice([1, 2])):
            n = 1 if one_gpu else rng.choice([n for n in (1, 2, 4) if n <= largest])
            price = round(per_gpu * n * rng.choice([0.8, 1.0, 1.25]) + 0.01 * rng.randint(0, 9), 2)
            offers.append({"provider": f"test-p{i}{k}", "instance": f"{n}x-{g}-{k}", "gpus_per_instance": n,
                           "usd_per_hour": price, "source": "test", "as_of": "2026-01-01"})
        (folder / f"{g}.yaml").write_text(yaml.safe_dump({"id": g, "offers": offers}))
        providers |= {o["provider"] for o in offers}
    return sorted(providers)


def resilient_instance(seed: int, folder: Path, survive: str, one_gpu: bool = True) -> dict:
    """2-3 small models with small demands (2-8 sequences) sharing 1-2 GPU types; one or all of them must survive a
    ``survive`` failure with keep 1.0 or 0.5."""
    rng = random.Random(7000 + seed)
    gpus = rng.sample(["rtx-4090", "l40s", "a10g", "rtx-3090", "l4"], rng.choice([1, 2]))
    providers = _catalog(rng, gpus, folder, one_gpu)
    models = []
    for i in range(rng.choice([2, 3])):
        m = {"name": f"m{i}", "model": rng.choice(SMALL_MODELS), "precision": rng.choice(["bf16", "int8"]),
             "concurrency": rng.randint(2, 8), "context_tokens": rng.choice([1024, 2048, 4096]),
             "min_replicas": rng.choice([1, 1, 2]), "tp": [1], "pp": [1]}
        if rng.random() < 0.25:
            m["slo"] = {"min_tokens_per_s": rng.choice([20, 40])}
        if i and rng.random() < 0.5:
            m["resilience"] = {"survive": "none"}
        models.append(m)
    return {"name": f"slots-ha-{seed}", "gpus": gpus, "catalog": str(folder), "providers": providers,
            "limits": dict.fromkeys(gpus, MAX_GPUS_PER_TYPE), "models": models,
            "resilience": {"survive": survive, "keep": rng.choice([1.0, 0.5])},
            "sharing": {"enabled": True, "max_engines_per_device": rng.choice([2, 3])}}


def replica_rule_optimum(s: Scenario) -> int | None:
    """The cheapest fleet (micro-dollars per hour; None: none) in which every resilient model survives losing any one
    replica: the oracle with clipped pieces, least over the clips (module doc)."""
    base = Oracle(s)
    n = len(s.models)
    res = [j for j, m in enumerate(s.models) if m.survive != "none"]
    best: int | None = None
    for clips in itertools.product(*[range(1, s.models[j].concurrency + 1) for j in res]):
        clip = dict(zip(res, clips, strict=True))
        o = copy.copy(base)
        o._r1 = {}
        o.items = {g: [replace(it, add=tuple(min(a, clip.get(j, a)) for j, a in enumerate(it.add))) for it in its]
                   for g, its in base.items.items()}
        o.target = tuple(max(t, s.models[j].kept_units(t) + clip[j]) if j in clip else t
                         for j, t in enumerate(base.target[:n])) + base.target[n:]
        cost = o.solve().cost_micro
        if cost is not None and (best is None or cost < best):
            best = cost
    return best


def _plan(s: Scenario) -> Plan | None:
    try:
        p = planner.plan(s, baselines=False, time_limit_s=20)
    except InfeasibleError:
        return None
    assert planner.check_plan(p, s) == [], planner.check_plan(p, s)
    return p


@pytest.mark.parametrize("survive", ["replica", "instance"])
@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_slot_model_survives_a_replica_or_instance_as_the_brute_force(seed, survive, tmp_path, monkeypatch):
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    s = scenario_from_dict(resilient_instance(seed, tmp_path / "catalog", survive))
    assert build_candidates(s).restricted_gpus, "every instance shares, so the forced restriction applies"
    truth = replica_rule_optimum(s)
    p = _plan(s)
    assert (p is None) == (truth is None), (p and p.cost_usd_per_hour, truth)
    if p is not None:
        assert micro(p.cost_usd_per_hour) == truth, (p.cost_usd_per_hour, truth / 1e6)
        assert p.status == "optimal", p.notes
        assert any("device-slot model" in n and "optimal over the whole space" in n for n in p.notes), p.notes


def test_the_seeded_resilient_instances_reach_what_the_restricted_space_misses(tmp_path, monkeypatch):
    """The instances above test the slot model's resilience rows only if the restricted patterns miss the resilient
    optimum on some of them (the slot model, not the patterns, then finds it)."""
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    for seed in range(N_INSTANCES):
        s = scenario_from_dict(resilient_instance(seed, tmp_path / f"c{seed}", "instance"))
        truth = replica_rule_optimum(s)
        try:
            restricted = micro(solve_fleet(build_candidates(s), time_limit_s=10).cost_usd_per_hour)
        except InfeasibleError:
            restricted = None
        if truth is not None and (restricted is None or restricted > truth):
            return
    pytest.fail("the restricted patterns reach the resilient optimum on every seeded instance")


@pytest.mark.parametrize("seed", range(4))
def test_slot_model_on_multi_gpu_instances_keeps_the_robust_rule(seed, tmp_path, monkeypatch):
    """Instances of 1-4 GPUs: the plan passes the checker (losing any instance leaves every model its share), says
    optimal, and costs between the replica-rule optimum (a relaxation) and the restricted patterns' plan."""
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    s = scenario_from_dict(resilient_instance(seed, tmp_path / "catalog", "instance", one_gpu=False))
    lower = replica_rule_optimum(s)
    p = _plan(s)
    if p is None:
        return
    assert lower is not None and micro(p.cost_usd_per_hour) >= lower
    assert p.status == "optimal", p.notes
    try:
        restricted = solve_fleet(build_candidates(s), time_limit_s=10)
    except InfeasibleError:
        return  # the restricted patterns hold no resilient fleet; the slot model found one (checked above)
    assert micro(p.cost_usd_per_hour) <= micro(restricted.cost_usd_per_hour)


@pytest.mark.parametrize("seed", range(4))
def test_slot_model_survives_a_provider_as_the_unrestricted_patterns(seed, tmp_path, monkeypatch):
    d = resilient_instance(seed, tmp_path / "catalog", "provider", one_gpu=seed % 2 == 0)
    full = _plan(scenario_from_dict(d))  # every Pareto-maximal pattern (the instances are small)
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    s = scenario_from_dict(d)
    assert build_candidates(s).restricted_gpus
    p = _plan(s)
    assert (p is None) == (full is None)
    if p is not None and full is not None:
        assert micro(p.cost_usd_per_hour) == micro(full.cost_usd_per_hour)
        assert p.status == full.status == "optimal", p.notes


def test_resilient_slots_need_a_cap(tmp_path, monkeypatch):
    """With a resilient model sharing g the demand count is no bound on g's devices (module doc of slots): without a
    limit, availability, budget or known plan the slot model is not built; with a known plan its cost caps them."""
    import time

    from planner.solve.slots import slot_counts, solve_slots

    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    d = resilient_instance(0, tmp_path / "catalog", "replica")
    cs = build_candidates(scenario_from_dict({k: v for k, v in d.items() if k != "limits"}))
    assert cs.restricted_gpus and not any(sg.capped for sg in slot_counts(cs, None))
    assert solve_slots(cs, [], deadline=time.perf_counter() + 5) is None
    known = solve_fleet(cs, time_limit_s=10)
    assert all(sg.capped for sg in slot_counts(cs, micro(known.cost_usd_per_hour)))

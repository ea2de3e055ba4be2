"""The exact device-slot model (planner.solve.slots) against the independent brute force (tests/oracle.py).

The pattern enumeration is forced to restrict (EXACT_VISITS = 0: engine sizes demand / k; also LEVEL_VISITS = 0: one
size per model with the cost-based cuts), so every GPU type with two sharable models goes to the slot model. On
seeded sharing instances (small models, uneven demands, SLOs, min_replicas, several offers, budgets at the optimum),
the plan must cost what the oracle finds, pass the checker, say "optimal" and name the slot model in its notes; on
some of them the restricted patterns miss the optimum (checked), so the slot model is what finds it. Plus: a slot
model stopped by the clock keeps the incumbent with an honest status, and the plan does not depend on the thread
count.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from oracle import MAX_GPUS_PER_TYPE, micro, optimal
from test_full_space import _catalog, compare

import planner
from planner.candidates import sharing
from planner.candidates.deployments import build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import scenario_from_dict
from planner.solve.formulation import solve_fleet
from planner.solve.slots import solve_slots

SMALL_MODELS = ["qwen3-0.6b", "llama-3.2-1b", "llama-3.2-3b", "qwen2.5-7b"]
N_INSTANCES = 10  # per restriction level


def sharing_instance(seed: int, folder: Path) -> dict:
    """2-4 small models with uneven demands (3-40 sequences) on 1-2 GPU types of 24-48 GB, sharing on, some SLOs and
    min_replicas, 1-2 offers per type (tests/test_full_space.py's catalog writer); a third with the budget at the
    optimum. The restricted engine sizes often miss the optimum here (demand / k wastes part of a card)."""
    rng = random.Random(5000 + seed)
    gpus = rng.sample(["rtx-4090", "l40s", "a10g", "rtx-3090", "l4"], rng.choice([1, 1, 2]))
    providers = _catalog(rng, gpus, folder)
    models = []
    for i in range(rng.choice([2, 3, 3, 4])):
        m = {"name": f"m{i}", "model": rng.choice(SMALL_MODELS), "precision": rng.choice(["bf16", "int8"]),
             "concurrency": rng.randint(3, 40), "context_tokens": rng.choice([1024, 2048, 4096]),
             "min_replicas": rng.choice([1, 1, 2])}
        if rng.random() < 0.3:
            m["slo"] = {"min_tokens_per_s": rng.choice([20, 40, 60])}
        models.append(m)
    d = {"name": f"slots-{seed}", "gpus": gpus, "catalog": str(folder), "providers": providers,
         "limits": dict.fromkeys(gpus, MAX_GPUS_PER_TYPE), "models": models,
         "sharing": {"enabled": True, "max_engines_per_device": rng.choice([2, 3, 3])}}
    if seed % 3 == 2:
        d["max_usd_per_hour"] = "optimum"
    return d


@pytest.mark.parametrize("level_visits", [sharing.LEVEL_VISITS, 0], ids=["levels", "one-size"])
@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_slot_model_equals_brute_force_when_the_patterns_are_restricted(seed, level_visits, tmp_path, monkeypatch):
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    monkeypatch.setattr(sharing, "LEVEL_VISITS", level_visits)
    d = sharing_instance(seed, tmp_path / "catalog")
    restricted = build_candidates(scenario_from_dict({k: v for k, v in d.items() if k != "max_usd_per_hour"})).restricted_gpus
    assert restricted, "every instance shares, so the forced restriction applies"
    p = compare(d)
    if p is not None:
        assert any("device-slot model" in n and "optimal over the whole space" in n for n in p.notes), p.notes


def test_the_seeded_instances_reach_what_the_restricted_space_misses(tmp_path, monkeypatch):
    """The instances above are a test of the slot model only if the restricted patterns miss the optimum on some of
    them: on the first such instance, with the budget at the optimum, the restricted space has no plan at all (the
    slots come from the budget alone) and the plan is still the oracle's optimum."""
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    monkeypatch.setattr(sharing, "LEVEL_VISITS", 0)
    for seed in range(N_INSTANCES):
        d = {k: v for k, v in sharing_instance(seed, tmp_path / f"c{seed}").items() if k != "max_usd_per_hour"}
        truth = optimal(scenario_from_dict(d))
        cs = build_candidates(scenario_from_dict(d))
        if truth.cost_micro is not None and micro(solve_fleet(cs, time_limit_s=10).cost_usd_per_hour) > truth.cost_micro:
            break
    else:
        pytest.fail("the restricted patterns reach the optimum on every seeded instance: the slot model is untested")
    d["max_usd_per_hour"] = truth.cost_micro / 1e6
    with pytest.raises(InfeasibleError):
        solve_fleet(build_candidates(scenario_from_dict(d)), time_limit_s=10)
    assert compare(d) is not None


def _three_small_models(budget: float | None = None) -> dict:
    """Three small models on one RTX 4090 offer: the restricted engine sizes waste part of each card."""
    d = {"name": "slots", "gpus": ["rtx-4090"], "providers": ["vast"], "limits": {"rtx-4090": 8},
         "sharing": {"max_engines_per_device": 3},
         "models": [{"name": f"q{i}", "model": m, "concurrency": c, "context_tokens": 2048}
                    for i, (m, c) in enumerate([("qwen3-0.6b", 37), ("llama-3.2-1b", 29), ("qwen3-0.6b", 23)])]}
    if budget is not None:
        d["max_usd_per_hour"] = budget
    return d


def test_a_slot_model_out_of_time_keeps_the_incumbent_and_says_feasible(monkeypatch):
    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    s = scenario_from_dict(_three_small_models())
    cs = build_candidates(s)
    pre = solve_fleet(cs, time_limit_s=10)
    res = solve_slots(cs, [pre], deadline=time.perf_counter() - 1.0)  # already past: the solver gets 0.01 s
    assert res is not None
    sol = res.solution
    assert sol.cost_usd_per_hour <= pre.cost_usd_per_hour
    assert sol.bound_usd_per_hour <= sol.cost_usd_per_hour
    if sol.status != "optimal":  # proven in 0.01 s is possible on a fast machine; then it must be the optimum
        assert sol.status == "feasible"
    else:
        assert micro(sol.cost_usd_per_hour) == optimal(s).cost_micro


def test_same_restricted_scenario_same_plan_at_any_thread_count(monkeypatch):
    from planner.report.tables import to_json

    monkeypatch.setattr(sharing, "EXACT_VISITS", 0)
    s = scenario_from_dict(_three_small_models())
    plans = [to_json(planner.plan(s, baselines=False, threads=t).to_dict(reproducible=True)) for t in (1, 2, 1)]
    assert plans[0] == plans[1] == plans[2]

"""Issue 11: the optimizer against an independent brute force (tests/oracle.py) over the full space, on 80 seeded
instances and the issue's three-Qwen3-0.6B sharing case.

Every TP and PP a model allows, device sharing with any number and size of engines, several offers per GPU type
(a user catalog written per instance: 1-2 offers of 1-8 GPUs), limits, budgets (a quarter of them exactly the
optimum), min_replicas and tp/pp lists. Each type is limited to at most ``MAX_GPUS_PER_TYPE`` GPUs, so the oracle's
search space and the planner's are the same. Costs are compared to the cent; every plan must pass ``check_plan``
and serve each model only with splits its tp/pp lists allow.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from oracle import MAX_GPUS_PER_TYPE, micro, optimal

import planner
from planner.errors import InfeasibleError
from planner.inputs.scenario import scenario_from_dict
from planner.plans.records import Plan

N_INSTANCES = 80
MODELS = ["qwen3-0.6b", "llama-3.2-1b", "llama-3.2-3b", "llama-3-8b", "qwen2.5-7b", "glm-4-9b", "qwen2.5-14b"]
# GPU type -> (list price per GPU-hour to draw offers around, largest machine)
GPUS = {"t4": (0.35, 4), "l4": (0.45, 8), "a10g": (0.6, 4), "rtx-3090": (0.25, 8), "rtx-4090": (0.4, 8), "a10": (0.5, 2),
        "l40s": (0.9, 8), "rtx-3060": (0.12, 4)}
TP_LISTS = [None, None, [1], [1, 2], [2], [1, 2, 4], [4], [2, 4]]
PP_LISTS = [None, None, [1], [1, 2], [2], [1, 2, 4], [1, 3]]


def _catalog(rng: random.Random, gpus: list[str], folder: Path) -> list[str]:
    """Writes 1-2 offers per GPU type; returns their providers."""
    folder.mkdir(parents=True, exist_ok=True)
    providers = set()
    for g in gpus:
        per_gpu, largest = GPUS[g]
        sizes = [n for n in (1, 2, 4, 8) if n <= largest]
        offers = []
        for k in range(rng.choice([1, 2, 2])):
            n = rng.choice(sizes)
            price = round(per_gpu * n * rng.choice([0.8, 0.9, 1.0, 1.1, 1.25]) + 0.01 * rng.randint(0, 9), 2)
            offers.append({"provider": f"test-p{k}", "instance": f"{n}x-{g}-{k}", "gpus_per_instance": n,
                           "usd_per_hour": price, "source": "test", "as_of": "2026-01-01"})
        (folder / f"{g}.yaml").write_text(yaml.safe_dump({"id": g, "offers": offers}))
        providers |= {o["provider"] for o in offers}
    return sorted(providers)


def random_instance(seed: int, folder: Path) -> dict:
    rng = random.Random(1000 + seed)
    gpus = rng.sample(sorted(GPUS), rng.choice([1, 2, 2, 3]))
    providers = _catalog(rng, gpus, folder)
    models = []
    for i in range(rng.choice([2, 2, 3])):
        m = {"name": f"m{i}", "model": rng.choice(MODELS), "precision": rng.choice(["bf16", "bf16", "int8", "int4"]),
             "concurrency": rng.choice([1, 2, 4, 8, 12, 20]), "context_tokens": rng.choice([1024, 2048, 4096]),
             "min_replicas": rng.choice([1, 1, 1, 2, 3])}
        tp, pp = rng.choice(TP_LISTS), rng.choice(PP_LISTS)
        if tp is not None:
            m["tp"] = tp
        if pp is not None:
            m["pp"] = pp
        if rng.random() < 0.25:
            m["slo"] = {"min_tokens_per_s": rng.choice([10, 20, 40])}
        models.append(m)
    limits = dict.fromkeys(gpus, MAX_GPUS_PER_TYPE)  # the oracle's space: at most this many GPUs per type
    if rng.random() < 0.3:
        limits[rng.choice(gpus)] = rng.choice([1, 2, 3, 4, 6])
    # providers: only the instance's own offers (a user catalog adds to the built-in offers of a GPU type)
    d = {"name": f"full-space-{seed}", "gpus": gpus, "catalog": str(folder), "providers": providers,
         "limits": limits, "models": models,
         "sharing": {"enabled": rng.random() < 0.75, "max_engines_per_device": rng.choice([2, 3, 3])}}
    r = rng.random()
    if r < 0.2:
        d["max_usd_per_hour"] = rng.choice([1.0, 2.5, 5.0])
    elif r < 0.45:
        d["max_usd_per_hour"] = "optimum"  # replaced by the oracle's optimum (a budget equal to it must be feasible)
    return d


def respects_lists(p, s) -> list[str]:
    reqs = {m.name: m for m in s.models}
    bad = []
    for r in p.replicas:
        m = reqs[r.model]
        if m.tp and r.tp not in m.tp:
            bad.append(f"{r.id}: TP{r.tp} not in tp {list(m.tp)}{' (shared engine)' if r.shared else ''}")
        if m.pp and r.pp not in m.pp:
            bad.append(f"{r.id}: PP{r.pp} not in pp {list(m.pp)}{' (shared engine)' if r.shared else ''}")
    return bad


def compare(d: dict) -> Plan | None:
    """The oracle's optimum equals the plan's cost to the cent, the plan passes the checker, keeps the tp/pp lists and
    says optimal; returns the plan (None: both infeasible). ``max_usd_per_hour: optimum`` is replaced by the
    oracle's unbudgeted optimum first."""
    if d.get("max_usd_per_hour") == "optimum":
        d.pop("max_usd_per_hour")
        free = optimal(scenario_from_dict(d))
        if free.cost_micro is not None:
            d["max_usd_per_hour"] = free.cost_micro / 1e6
    s = scenario_from_dict(d)
    truth = optimal(s)
    try:
        p = planner.plan(s, baselines=False, time_limit_s=20)
    except InfeasibleError:
        assert truth.cost_micro is None, (
            f"planner: infeasible; oracle: ${truth.cost_usd:.4f}/h with {truth.purchase}, items {truth.items}")
        return None
    assert planner.check_plan(p, s) == []
    assert respects_lists(p, s) == []
    assert truth.cost_micro is not None, f"planner found ${p.cost_usd_per_hour:.4f}/h, the oracle says infeasible"
    assert abs(micro(p.cost_usd_per_hour) - truth.cost_micro) < 5_000, (
        f"planner ${p.cost_usd_per_hour:.4f}/h ({p.status}) vs oracle ${truth.cost_usd:.4f}/h with {truth.purchase}, "
        f"items {truth.items}")
    assert p.status == "optimal", p.notes
    return p


@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_optimizer_equals_full_space_brute_force(seed, tmp_path):
    compare(random_instance(seed, tmp_path / "catalog"))


@pytest.mark.parametrize("min_replicas", [1, 2])
def test_sharing_with_any_engine_count_three_qwen3_0_6b(min_replicas):
    """The issue's case: three Qwen3-0.6B at 22 sequences each on RTX 4090s (vast and RunPod offers). Any number of
    engines of any size per model, whatever min_replicas (1 or 2): the planner's cost equals the brute force's."""
    compare({"name": "qwen3-x3", "gpus": ["rtx-4090"], "providers": ["vast", "runpod"],  # the offers
             "limits": {"rtx-4090": MAX_GPUS_PER_TYPE}, "models": [
        {"name": f"q{i}", "model": "qwen3-0.6b", "concurrency": 22, "min_replicas": min_replicas} for i in range(3)]})

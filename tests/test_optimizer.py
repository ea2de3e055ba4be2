"""The fleet optimizer against brute force on small random instances, and the plan checker on every solve.

The brute force shares nothing with the integer program but the candidate list: it enumerates replica counts,
then for each GPU type enumerates instance purchases and packs the TP groups with an exhaustive search.
"""

from __future__ import annotations

import itertools
import math
import random
from functools import cache

import pytest

from planner.candidates.deployments import build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import scenario_from_dict
from planner.pipeline import plan
from planner.plans.check import check_plan

SMALL_MODELS = ["llama-3.2-1b", "qwen3-0.6b", "llama-3.2-3b", "llama-3-8b", "qwen2.5-7b", "glm-4-9b", "qwen2.5-14b"]
GPU_SETS = [["l4", "a10g"], ["a10", "rtx-4090"], ["l40s", "l4"], ["a100-80gb-sxm", "a10g"], ["rtx-3090", "t4"], ["h100-sxm", "l4"]]


def _packs(groups: tuple[int, ...], bins: tuple[int, ...]) -> bool:
    """Exhaustive search: can every group (a TP group of size g) go into one bin without overflow?"""
    free = list(bins)

    def place(i: int) -> bool:
        if i == len(groups):
            return True
        seen = set()
        for b in range(len(free)):
            if free[b] >= groups[i] and free[b] not in seen:
                seen.add(free[b])
                free[b] -= groups[i]
                if place(i + 1):
                    return True
                free[b] += groups[i]
        return False

    return place(0)


def brute_force(cs, limits: dict[str, int], budget: float | None) -> float | None:
    s = cs.scenario
    per_model = []
    for m in s.models:
        cands = cs.for_model(m.name)
        options = []
        ubs = [math.ceil(cs.demand[m.name] / c.capacity_units) + m.min_replicas for c in cands]
        for counts in itertools.product(*[range(u + 1) for u in ubs]):
            if sum(counts) < m.min_replicas:
                continue
            if sum(n * c.capacity_units for n, c in zip(counts, cands, strict=True)) < cs.demand[m.name]:
                continue
            options.append(tuple((c, n) for c, n in zip(cands, counts, strict=True) if n))
        per_model.append(options)
    offers_by_gpu: dict[str, list] = {}
    for o in cs.offers:
        offers_by_gpu.setdefault(o.gpu, []).append(o)

    @cache
    def cheapest(gid: str, groups: tuple[int, ...]) -> float | None:
        offers = offers_by_gpu.get(gid, [])
        total = sum(groups)
        best = None
        # an offer's availability (catalog max_instances or the scenario's limit for its id) bounds its count
        ranges = [range(min(math.ceil(total / o.gpus_per_instance), 10**6 if o.max_instances is None else o.max_instances) + 1)
                  for o in offers]
        for ys in itertools.product(*ranges):
            gpus = sum(y * o.gpus_per_instance for y, o in zip(ys, offers, strict=True))
            if gpus < total or (gid in limits and gpus > limits[gid]):
                continue
            cost = sum(y * o.usd_per_hour for y, o in zip(ys, offers, strict=True))
            if best is not None and cost >= best - 1e-9:
                continue
            bins = tuple(sorted((o.gpus_per_instance for y, o in zip(ys, offers, strict=True) for _ in range(y)), reverse=True))
            if _packs(tuple(sorted(groups, reverse=True)), bins):
                best = cost
        return best

    best = None
    for choice in itertools.product(*per_model):
        groups: dict[str, list[int]] = {}
        for opt in choice:
            for c, n in opt:
                groups.setdefault(c.gpu, []).extend([c.tp] * (c.pp * n))
        cost = 0.0
        for gid, gs in groups.items():
            cc = cheapest(gid, tuple(sorted(gs)))
            if cc is None:
                cost = None
                break
            cost += cc
        if cost is None or (budget is not None and cost > budget + 1e-9):
            continue
        if best is None or cost < best - 1e-9:
            best = cost
    return best


def random_scenario(seed: int) -> dict:
    rng = random.Random(seed)
    gpus = rng.choice(GPU_SETS)
    models = []
    for i in range(rng.randint(1, 2)):
        models.append({
            "name": f"m{i}", "model": rng.choice(SMALL_MODELS), "precision": rng.choice(["bf16", "int8", "int4"]),
            "concurrency": rng.choice([1, 4, 12, 30, 60]), "context_tokens": rng.choice([1024, 4096, 8192]),
            "min_replicas": rng.choice([1, 1, 2]), "tp": [1, 2], "pp": [1],
        })
        if rng.random() < 0.3:
            models[-1]["slo"] = {"min_tokens_per_s": rng.choice([10, 25, 40])}
    d = {"name": f"random-{seed}", "gpus": gpus, "models": models, "sharing": {"enabled": False},
         "providers": ["aws", "gcp", "azure", "lambda", "runpod", "vast"]}
    if rng.random() < 0.3:
        d["limits"] = {gpus[0]: rng.choice([1, 2, 4])}
    return d


@pytest.mark.parametrize("seed", range(24))
def test_optimizer_cost_equals_brute_force(seed):
    s = scenario_from_dict(random_scenario(seed))
    cs = build_candidates(s)
    # the generator keeps the brute force small (TP in {1, 2}, PP 1, two GPU types): at most 4 candidates per model
    assert all(len(cs.for_model(m.name)) <= 4 for m in s.models)
    truth = brute_force(cs, s.limits, s.max_usd_per_hour)
    try:
        p = plan(s, baselines=False, candidates=cs, time_limit_s=30)
    except InfeasibleError:
        assert truth is None, f"optimizer says infeasible, brute force found {truth}"
        return
    assert truth is not None, "optimizer found a plan the brute force says cannot exist"
    assert p.status == "optimal"
    assert p.cost_usd_per_hour == pytest.approx(truth, abs=1e-6)
    assert check_plan(p, s) == []


def test_sharing_is_never_worse_and_checker_accepts_it():
    d = {"name": "small-models", "gpus": ["l4", "a10g", "rtx-4090"], "providers": ["aws", "runpod"],
         "models": [{"name": f"s{i}", "model": m, "concurrency": 4, "context_tokens": 2048}
                    for i, m in enumerate(["qwen3-0.6b", "llama-3.2-1b", "llama-3.2-3b", "qwen3-0.6b"])]}
    shared = plan(scenario_from_dict(d), baselines=False)
    d["sharing"] = {"enabled": False}
    alone = plan(scenario_from_dict(d), baselines=False)
    assert shared.cost_usd_per_hour <= alone.cost_usd_per_hour + 1e-9
    assert any(len(dev.shards) > 1 for i in shared.instances for dev in i.devices)
    assert check_plan(shared, scenario_from_dict({**d, "sharing": {"enabled": True}})) == []


def test_checker_catches_a_broken_plan():
    from dataclasses import replace

    s = scenario_from_dict({"name": "t", "gpus": ["l4"], "providers": ["aws"],
                            "models": [{"name": "chat", "model": "llama-3-8b", "concurrency": 8, "context_tokens": 4096}]})
    p = plan(s, baselines=False)
    assert check_plan(p, s) == []
    cheaper = replace(p, cost_usd_per_hour=p.cost_usd_per_hour / 2)
    assert any("differs from the instances' sum" in x for x in check_plan(cheaper, s))
    fewer = replace(p, replicas=p.replicas[:0])
    assert any("serves 0, target 8" in x for x in check_plan(fewer, s))
    r = p.replicas[0]
    greedy_r = replace(r, concurrency=r.concurrency * 10)
    assert any("fit its KV cache" in x for x in check_plan(replace(p, replicas=(greedy_r, *p.replicas[1:])), s))


def test_llama2_70b_fp16_does_not_go_on_two_80gb_cards():
    """The article's 168 GB / two A100 80GB case: at 16 concurrent 4k sequences the optimizer needs more than 2 GPUs."""
    s = scenario_from_dict({"name": "70b", "gpus": ["a100-80gb-sxm"], "models": [
        {"name": "llama70", "model": "llama-2-70b", "precision": "fp16", "concurrency": 16, "context_tokens": 4096}]})
    p = plan(s, baselines=False)
    assert p.gpus > 2
    assert all(r.gpus if hasattr(r, "gpus") else r.tp * r.pp >= 2 for r in p.replicas)
    assert check_plan(p, s) == []


def test_infeasible_model_is_explained():
    # a user with 16 hosts like the 8x RTX 4090 Vast listing (the catalog's availability is one listing, one host)
    s = scenario_from_dict({"name": "too-big", "gpus": ["rtx-4090", "a10"], "providers": ["runpod", "vast", "lambda"],
                            "limits": {"vast:8x RTX_4090": 16},
                            "models": [{"name": "ds", "model": "deepseek-v3", "precision": "bf16", "concurrency": 4,
                                        "context_tokens": 8192, "tp": [1, 2], "pp": [1]}]})
    with pytest.raises(InfeasibleError) as exc:
        plan(s, baselines=False)
    expl = exc.value.explanation["models"][0]
    assert expl["model"] == "ds"
    assert expl["closest"]["shortfall_gib_per_device"] > 100
    # suggestions are re-planned before they are printed: with tp [1, 2] and pp [1] no GPU type of the catalog holds
    # DeepSeek-V3, and dropping the lists does not help either: a pipeline over 24 GB cards would span hosts, and no
    # offer here states a fabric between its hosts (issue 14), so no suggestion may claim it
    assert not any("tp / pp lists" in f for f in expl["what_would_fit"]), expl


def test_binding_limit_is_explained():
    s = scenario_from_dict({"name": "limited", "gpus": ["l4"], "providers": ["aws"], "limits": {"l4": 1},
                            "models": [{"name": "chat", "model": "llama-3-8b", "concurrency": 64, "context_tokens": 4096}]})
    with pytest.raises(InfeasibleError) as exc:
        plan(s, baselines=False)
    e = exc.value.explanation
    assert any(b.startswith("limit l4") for b in e["binding"])
    assert e["unconstrained_plan"]["gpus_by_type"]["l4"] > 1


def test_same_scenario_same_plan_byte_for_byte():
    from planner.inputs.scenario import default_scenario_path, load_scenario
    from planner.report.tables import to_json

    s = load_scenario(default_scenario_path())
    a = to_json(plan(s, baselines=False).to_dict(reproducible=True))
    b = to_json(plan(s, baselines=False, threads=2).to_dict(reproducible=True))
    assert a == b


def _cost_and_gpus(cs, hint, budget, keep: bool = False) -> tuple[float, int, int, int]:
    """Cost, GPUs, W and replica rows of the fleet program solved with or without a hint and a budget (``keep``: the
    program with every replica row and W from the instance bounds)."""
    from planner.solve.formulation import FleetModel

    fm = FleetModel(cs, budget_usd_per_hour=budget, keep_implied_rows=keep)
    if hint is not None:
        fm.add_hint(*hint)
    sol = fm.solve(30, solver="cbc")
    gpus = sum(o.gpus_per_instance * sol.instances.get(o.id, 0) for o in fm.offers)
    return sol.cost_usd_per_hour, gpus, fm.W, sum(fam == "replicas" for fam, _ in fm.row_of)


@pytest.mark.parametrize("seed", range(24))
def test_the_smaller_objective_weight_keeps_cost_first_then_gpus(seed):
    """W sized from a feasible hint's cost or the budget (FleetModel._set_objective) and the replica rows the demand
    rows imply left out (_add_min_replicas): the same cheapest cost as the brute force and the same GPU count as the
    program with every row and the large W; where the brute force finds no plan, the lean program finds none either."""
    from planner.solve.baselines import greedy

    s = scenario_from_dict(random_scenario(seed))
    cs = build_candidates(s)
    truth = brute_force(cs, s.limits, s.max_usd_per_hour)
    if truth is None:
        with pytest.raises(InfeasibleError):
            _cost_and_gpus(cs, None, None)
        return
    cost, gpus, w_large, rows = _cost_and_gpus(cs, None, None, keep=True)
    assert rows == len(s.models)
    g = greedy(cs)
    cases = [(None, 1.5 * truth), (None, truth)] + ([((g[0], g[1]), None), ((g[0], g[1]), truth)] if g else [])
    for hint, budget in cases:
        c, n, w, kept = _cost_and_gpus(cs, hint, budget)
        assert w < w_large
        assert kept == sum(m.min_replicas > 1 for m in s.models)
        assert c == pytest.approx(truth, abs=1e-6)
        assert (c, n) == (pytest.approx(cost, abs=1e-9), gpus)


def test_the_smaller_weight_is_tried_on_most_seeds():
    """The test above compares plans only where the brute force finds one; most seeds have one (a guard against a
    generator that drifts into infeasible scenarios)."""
    have = 0
    for seed in range(24):
        cs = build_candidates(scenario_from_dict(random_scenario(seed)))
        have += brute_force(cs, cs.scenario.limits, cs.scenario.max_usd_per_hour) is not None
    assert have >= 16


def test_cost_comes_first_even_one_micro_dollar_apart(tmp_path):
    """Two offers of one GPU type a micro-dollar apart: the cheaper one has 4 GPUs, the dearer 1. The lean program's
    W (from the greedy hint or the budget) must still rank cost first: a W of 1 would pick the one-GPU offer."""
    import yaml

    from planner.solve.baselines import greedy

    offers = [{"provider": "test-p", "instance": "1x-l4", "gpus_per_instance": 1, "usd_per_hour": 1.000001},
              {"provider": "test-p", "instance": "4x-l4", "gpus_per_instance": 4, "usd_per_hour": 1.0}]
    (tmp_path / "l4.yaml").write_text(yaml.safe_dump(
        {"id": "l4", "offers": [{**o, "source": "test", "as_of": "2026-01-01"} for o in offers]}))
    s = scenario_from_dict({"name": "micro", "gpus": ["l4"], "catalog": str(tmp_path), "providers": ["test-p"],
                            "models": [{"name": "m", "model": "qwen3-0.6b", "concurrency": 4, "context_tokens": 1024,
                                        "tp": [1], "pp": [1]}]})
    cs = build_candidates(s)
    g = greedy(cs)
    assert g is not None
    for hint, budget in (((g[0], g[1]), None), (None, 2.0)):
        c, n, w, _ = _cost_and_gpus(cs, hint, budget)
        assert (c, n) == (1.0, 4), (c, n, w)

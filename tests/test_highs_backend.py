"""The HiGHS backend against brute force and the other backends, its status mapping, and its determinism."""

from __future__ import annotations

import time

import highspy
import pytest
from test_optimizer import brute_force, random_scenario

from planner.candidates.deployments import build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import default_scenario_path, load_scenario, scenario_from_dict
from planner.pipeline import plan
from planner.plans.check import check_plan
from planner.report.tables import to_json
from planner.solve.backends import LinearModel, run_backend
from planner.solve.highs import STATUS


@pytest.mark.parametrize("seed", range(0, 24, 2))
def test_highs_cost_equals_brute_force(seed):
    s = scenario_from_dict(random_scenario(seed))
    cs = build_candidates(s)
    truth = brute_force(cs, s.limits, s.max_usd_per_hour)
    try:
        p = plan(s, baselines=False, candidates=cs, time_limit_s=30, solver="highs")
    except InfeasibleError:
        assert truth is None, f"HiGHS says infeasible, brute force found {truth}"
        return
    assert truth is not None, "HiGHS found a plan the brute force says cannot exist"
    assert p.status == "optimal"
    assert p.cost_usd_per_hour == pytest.approx(truth, abs=1e-6)
    assert check_plan(p, s) == []


def test_highs_matches_cpsat_and_cbc_with_sharing():
    d = {"name": "small-models", "gpus": ["l4", "a10g", "rtx-4090"], "providers": ["aws", "runpod"],
         "models": [{"name": f"s{i}", "model": m, "concurrency": c, "context_tokens": 2048, "min_replicas": r}
                    for i, (m, c, r) in enumerate([("qwen3-0.6b", 4, 1), ("llama-3.2-1b", 8, 2), ("llama-3.2-3b", 4, 1),
                                                   ("qwen3-0.6b", 16, 1), ("llama-3-8b", 12, 1)])]}
    s = scenario_from_dict(d)
    cs = build_candidates(s)
    assert cs.patterns, "the instance must exercise sharing patterns"
    costs = {solver: plan(s, baselines=False, candidates=cs, time_limit_s=30, solver=solver).cost_usd_per_hour
             for solver in ("highs", "cp-sat", "cbc")}
    assert costs["highs"] == pytest.approx(costs["cp-sat"], abs=1e-9)
    assert costs["highs"] == pytest.approx(costs["cbc"], abs=1e-9)


def test_highs_plan_is_the_same_at_any_thread_count():
    s = load_scenario(default_scenario_path())
    a = to_json(plan(s, baselines=False, threads=1, solver="highs").to_dict(reproducible=True))
    b = to_json(plan(s, baselines=False, threads=2, solver="highs").to_dict(reproducible=True))
    c = to_json(plan(s, baselines=False, threads=1, solver="highs").to_dict(reproducible=True))
    assert a == b == c


def _knapsack() -> LinearModel:
    """min 5a + 4b + 3c  s.t.  2a + 3b + c >= 7,  a + b <= 3,  c boolean: optimum a=3, c=1 at cost 18."""
    lm = LinearModel()
    a, b, c = lm.var("a", 5), lm.var("b", 5), lm.var("c", 1, boolean=True)
    lm.add([(2, a), (3, b), (1, c)], lo=7)
    lm.add([(1, a), (1, b)], hi=3)
    lm.objective = {a: 5, b: 4, c: 3}
    return lm


def test_highs_solves_a_small_model_exactly_like_cpsat():
    far = time.perf_counter() + 30
    h_values, h_status, h_bound, _ = run_backend(_knapsack(), "highs", far, 1, False)
    c_values, c_status, _, _ = run_backend(_knapsack(), "cp-sat", far, 1, False)
    obj = {0: 5, 1: 4, 2: 3}
    assert h_status == c_status == "optimal" and h_bound is None
    assert sum(obj[i] * v for i, v in enumerate(h_values)) == sum(obj[i] * v for i, v in enumerate(c_values))


def test_highs_statuses_infeasible_empty_and_out_of_time():
    far = time.perf_counter() + 30
    lm = _knapsack()
    lm.add([(1, 0)], lo=4)  # a >= 4 against a + b <= 3
    assert run_backend(lm, "highs", far, 1, False)[1] == "infeasible"
    assert run_backend(LinearModel(), "highs", far, 1, False)[:2] == ([], "optimal")
    empty = LinearModel()
    empty.add([], lo=1)  # an empty row that cannot hold
    assert run_backend(empty, "highs", far, 1, False)[1] == "infeasible"
    values, status, _, stats = run_backend(_knapsack(), "highs", time.perf_counter() - 1, 1, False)
    assert (values, status, stats["status"]) == ([], "unknown", "NOT_STARTED")


def test_every_highs_model_status_is_mapped():
    members = {name for name in dir(highspy.HighsModelStatus) if name.startswith("k")}
    assert members <= set(STATUS), f"unmapped HiGHS statuses: {sorted(members - set(STATUS))}"
    assert set(STATUS.values()) == {"optimal", "infeasible", "solution", "error"}


def test_a_hint_is_a_fallback_plan_only_when_it_holds():
    lm = _knapsack()
    lm.hint = {0: 3, 2: 1}  # a = 3, c = 1 (b unhinted: 0): 2*3 + 1 >= 7, a + b <= 3
    assert lm.hint_values() == [3, 0, 1]
    lm.hint = {0: 1}  # 2 < 7: breaks the covering row
    assert lm.hint_values() is None
    lm.hint = {1: 9}  # above b's upper bound
    assert lm.hint_values() is None


def test_auto_follows_the_measured_rule():
    """auto: CP-SAT when the model has sharing patterns, CBC for dedicated replicas only (benchmarks/RESULTS.md);
    a named solver is used as named."""
    from planner.solve.backends import choose_backend

    lm = LinearModel()
    for i in range(10):
        lm.var(f"v{i}", 1)
    assert choose_backend("auto", lm, patterns=2_000, candidates=1_000) == "cp-sat"
    assert choose_backend("auto", lm, patterns=0, candidates=3_001) == "cbc"
    for named in ("scip", "highs", "cbc", "cp-sat"):
        assert choose_backend(named, lm, patterns=0, candidates=20_001) == named

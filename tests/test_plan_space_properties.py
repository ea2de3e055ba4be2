"""Issue 11 properties over random scenarios (hypothesis): every plan is valid, and proven costs move the right way.

    every plan passes check_plan and serves each model only with splits its tp/pp lists allow;
    restricting tp, pp or the GPU types, or raising min_replicas, a target or a context never lowers a proven cost;
    adding a GPU type, raising a limit or the budget never raises it;
    a budget equal to the optimal cost is feasible, at that cost.

Examples: PLANNER_HYPOTHESIS_EXAMPLES (default 15; 40 when CI is set, derandomized so a red build is a change);
PLANNER_HYPOTHESIS_SHRINK=1 shrinks a failure to a minimal scenario (slow: every step re-plans).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import planner
from planner.errors import InfeasibleError, InputError
from planner.inputs.scenario import scenario_from_dict

CI = bool(os.environ.get("CI"))
EXAMPLES = int(os.environ.get("PLANNER_HYPOTHESIS_EXAMPLES", "40" if CI else "15"))
# shrinking a failure re-plans hundreds of scenarios; PLANNER_HYPOTHESIS_SHRINK=1 turns it on for a minimal example
PHASES = [ph for ph in Phase if ph is not Phase.shrink or os.environ.get("PLANNER_HYPOTHESIS_SHRINK")]
SETTINGS = settings(max_examples=EXAMPLES, derandomize=CI, deadline=None, phases=PHASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

GPUS = ["l4", "a10g", "a10", "rtx-4090", "rtx-3090", "t4", "l40s"]
PROVIDERS = ["aws", "azure", "lambda", "runpod", "vast"]
MODELS = ["qwen3-0.6b", "llama-3.2-1b", "llama-3.2-3b", "llama-3-8b", "qwen2.5-7b", "glm-4-9b"]
TP_LISTS = [None, None, [1], [1, 2], [2], [1, 2, 4], [4]]
PP_LISTS = [None, None, [1], [1, 2], [2], [1, 3]]

model_spec = st.fixed_dictionaries({
    "model": st.sampled_from(MODELS), "precision": st.sampled_from(["bf16", "int8", "int4"]),
    "concurrency": st.sampled_from([1, 4, 8, 16, 40]), "context_tokens": st.sampled_from([1024, 2048, 4096]),
    "min_replicas": st.sampled_from([1, 1, 2, 3]), "tp": st.sampled_from(TP_LISTS), "pp": st.sampled_from(PP_LISTS),
    "slo": st.one_of(st.none(), st.none(), st.fixed_dictionaries({"min_tokens_per_s": st.sampled_from([10, 30])})),
})
scenarios = st.fixed_dictionaries({
    "gpus": st.lists(st.sampled_from(GPUS), min_size=1, max_size=3, unique=True),
    "models": st.lists(model_spec, min_size=1, max_size=3),
    "limit": st.one_of(st.none(), st.integers(1, 6)),
    "budget": st.one_of(st.none(), st.sampled_from([1.0, 3.0, 10.0])),
    "sharing": st.booleans(),
})


def build(d: dict) -> dict:
    models = [{"name": f"m{i}", **{k: v for k, v in m.items() if v is not None}} for i, m in enumerate(d["models"])]
    out = {"name": "prop", "gpus": list(d["gpus"]), "providers": PROVIDERS, "models": models,
           "sharing": {"enabled": d["sharing"]}}
    if d["limit"] is not None:
        out["limits"] = {d["gpus"][0]: d["limit"]}
    if d["budget"] is not None:
        out["max_usd_per_hour"] = d["budget"]
    return out


def solve(sd: dict, lists: bool = False):
    """(cost, proven) of the scenario dict, or (None, True) when infeasible. Any other exception fails the test.
    Every plan must pass the checker; ``lists``: and respect the tp/pp lists (checked in one test only, so that the
    monotonicity tests report their own failures)."""
    s = scenario_from_dict(sd)
    try:
        p = planner.plan(s, baselines=False, time_limit_s=20)
    except InfeasibleError as exc:
        assert exc.explanation, "an infeasible scenario must come with an explanation"
        return None, True
    assert planner.check_plan(p, s) == []
    reqs = {m.name: m for m in s.models}
    for r in p.replicas if lists else ():
        m = reqs[r.model]
        assert not m.tp or r.tp in m.tp, f"{r.id}: TP{r.tp} not in tp {m.tp} (shared: {r.shared})"
        assert not m.pp or r.pp in m.pp, f"{r.id}: PP{r.pp} not in pp {m.pp} (shared: {r.shared})"
    return p.cost_usd_per_hour, p.status == "optimal"


def never_lower(base: dict, harder: dict, what: str) -> None:
    b, b_proven = solve(base)
    h, h_proven = solve(harder)
    if b is None:
        assert h is None, f"{what}: the base is infeasible, the harder scenario costs ${h:.4f}/h"
    elif h is not None and b_proven and h_proven:
        assert h >= b - 1e-6, f"{what}: ${h:.4f}/h < base ${b:.4f}/h"


def never_higher(base: dict, easier: dict, what: str) -> None:
    b, b_proven = solve(base)
    e, e_proven = solve(easier)
    if b is not None:
        assert e is not None, f"{what}: the base costs ${b:.4f}/h, the easier scenario is infeasible"
        if b_proven and e_proven:
            assert e <= b + 1e-6, f"{what}: ${e:.4f}/h > base ${b:.4f}/h"


@SETTINGS
@given(scenarios)
def test_every_plan_is_valid_and_respects_the_lists(d):
    solve(build(d), lists=True)


@SETTINGS
@given(scenarios, st.data())
def test_restricting_tp_or_pp_never_lowers_the_cost(d, data):
    base = build(d)
    i = data.draw(st.integers(0, len(base["models"]) - 1))
    m = dict(base["models"][i])
    key = data.draw(st.sampled_from(["tp", "pp"]))
    allowed = m.get(key) or ([1, 2, 4, 8] if key == "tp" else [1, 2, 3, 4])
    m[key] = data.draw(st.lists(st.sampled_from(sorted(allowed)), min_size=1, unique=True))
    harder = {**base, "models": [m if j == i else x for j, x in enumerate(base["models"])]}
    try:
        scenario_from_dict(harder)
    except InputError:  # the drawn list breaks an input rule (say TP=8 with 28 heads): not a restriction to plan
        return
    never_lower(base, harder, f"{key} {base['models'][i].get(key)} -> {m[key]}")


@SETTINGS
@given(scenarios, st.data())
def test_restricting_the_gpu_types_never_lowers_the_cost(d, data):
    base = build(d)
    if len(base["gpus"]) < 2:
        return
    drop = data.draw(st.sampled_from(base["gpus"][1:]))  # keep the limited type
    never_lower(base, {**base, "gpus": [g for g in base["gpus"] if g != drop]}, f"without {drop}")


@SETTINGS
@given(scenarios, st.data())
def test_raising_min_replicas_a_target_or_a_context_never_lowers_the_cost(d, data):
    base = build(d)
    i = data.draw(st.integers(0, len(base["models"]) - 1))
    m = dict(base["models"][i])
    what = data.draw(st.sampled_from(["min_replicas", "concurrency", "context_tokens"]))
    if what == "min_replicas":
        m["min_replicas"] = m["min_replicas"] + data.draw(st.integers(1, 2))
    elif what == "concurrency":
        m["concurrency"] = m["concurrency"] + data.draw(st.sampled_from([1, 4, 16]))
    else:
        m["context_tokens"] = m["context_tokens"] * 2
    harder = {**base, "models": [m if j == i else x for j, x in enumerate(base["models"])]}
    never_lower(base, harder, f"{base['models'][i]['name']}.{what} {base['models'][i][what]} -> {m[what]}")


@SETTINGS
@given(scenarios, st.sampled_from(GPUS))
def test_adding_a_gpu_type_never_raises_the_cost(d, extra):
    base = build(d)
    never_higher(base, {**base, "gpus": list(dict.fromkeys(base["gpus"] + [extra]))}, f"with {extra}")


@SETTINGS
@given(scenarios, st.integers(1, 4), st.sampled_from([1.5, 3.0, None]))
def test_raising_a_limit_or_the_budget_never_raises_the_cost(d, raise_by, budget_factor):
    base = build(d)
    easier = dict(base)
    if "limits" in base:
        easier["limits"] = {k: v + raise_by for k, v in base["limits"].items()}
    if "max_usd_per_hour" in base:
        if budget_factor is None:
            easier.pop("max_usd_per_hour")
        else:
            easier["max_usd_per_hour"] = base["max_usd_per_hour"] * budget_factor
    never_higher(base, easier, f"limits {base.get('limits')} -> {easier.get('limits')}, budget "
                               f"{base.get('max_usd_per_hour')} -> {easier.get('max_usd_per_hour')}")


@SETTINGS
@given(scenarios)
def test_a_budget_equal_to_the_optimal_cost_is_feasible(d):
    base = build(d)
    base.pop("max_usd_per_hour", None)
    cost, proven = solve(base)
    if cost is None or not proven:
        return
    at, _ = solve({**base, "max_usd_per_hour": cost})
    assert at is not None, f"budget ${cost:.6f}/h = the optimum: infeasible"
    assert abs(at - cost) < 1e-6

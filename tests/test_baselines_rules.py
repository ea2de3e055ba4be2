"""The baselines keep the plan's rules (issue 14): the greedy fleet honours resilience, max_gpu_types, max_providers,
availability and limits, and names what it cannot keep (a provider's loss, the budget); every baseline fleet passes
the independent checker or is labelled with the rules it breaks, and the reports print no saving against a fleet
that breaks one. Checked against the brute force of tests/test_supply_resilience.py (a valid greedy fleet costs at
least the optimum) and the checker (planner.plans.check, every fleet placed by the planner's own placement)."""

from __future__ import annotations

import pytest
from test_supply_resilience import brute_force, random_scenario

from planner.candidates.deployments import build_candidates
from planner.errors import InfeasibleError
from planner.inputs.scenario import scenario_from_dict
from planner.pipeline import plan
from planner.plans.check import check_plan
from planner.plans.placement import build_plan
from planner.report.data import report_data
from planner.report.markdown import render_markdown
from planner.solve.baselines import greedy, rule_breaks


def _greedy_plan_problems(cs, g):
    p = build_plan(cs, g.replicas, g.instances, {}, status="feasible", cost=g.cost_usd_per_hour, bound=0.0,
                   solve_seconds=0.0)
    return check_plan(p, cs.scenario)


@pytest.mark.parametrize("survive", ["replica", "instance"])
@pytest.mark.parametrize("seed", range(5))
def test_greedy_survives_a_replica_or_an_instance_and_costs_at_least_the_optimum(seed, survive):
    s = scenario_from_dict(random_scenario(seed, resilience={"survive": survive, "keep": 1.0}))
    cs = build_candidates(s)
    g = greedy(cs)
    truth = brute_force(cs, "robust")
    assert (g is None) or (g.breaks == () and _greedy_plan_problems(cs, g) == [])
    if g is not None:
        assert truth is not None and round(g.cost_usd_per_hour * 1e6) >= truth


@pytest.mark.parametrize("seed", range(4))
def test_greedy_keeps_the_simplicity_limits(seed):
    for extra in ({"max_gpu_types": 1}, {"max_providers": 1}):
        s = scenario_from_dict(random_scenario(seed, **extra))
        cs = build_candidates(s)
        g = greedy(cs)
        if g is None:
            continue
        assert _greedy_plan_problems(cs, g) == [], extra
        offers = {o.id: o for o in cs.offers}
        assert len({offers[k].gpu for k in g.instances}) <= s.max_gpu_types if s.max_gpu_types else True
        assert len({offers[k].provider for k in g.instances}) <= s.max_providers if s.max_providers else True
        truth = brute_force(cs)
        assert truth is not None and round(g.cost_usd_per_hour * 1e6) >= truth


def test_greedy_names_the_rules_it_breaks_and_reports_print_no_saving_against_it():
    """Provider resilience (the greedy fleet runs each model on one GPU type) and a budget below the greedy fleet:
    labelled by the checker, no saving in the plan's baselines, the summary says 'not comparable'."""
    d = random_scenario(1, resilience={"survive": "provider", "keep": 1.0})
    s = scenario_from_dict(d)
    cs = build_candidates(s)
    g = greedy(cs)
    assert g is not None and "resilience (provider)" in g.breaks
    assert rule_breaks(cs, g.replicas, g.instances) == ["resilience (provider)"]
    try:
        p = plan(s, time_limit_s=30, candidates=cs)
    except InfeasibleError:
        return  # no fleet survives a provider here: the greedy fleet's label is what is tested
    b = p.baselines["greedy"]
    assert b["breaks"] == ["resilience (provider)"] and b["savings"] is None
    text = render_markdown(report_data(p, s, cs))
    assert "not comparable: breaks resilience (provider)" in text


@pytest.mark.parametrize("seed", [2, 4])
def test_every_baseline_of_a_resilient_plan_passes_the_checker_or_is_labelled(seed):
    """Seed 4 (sharing on) plans $0.91/h against a $2.01/h greedy fleet: with the budget between the two, the greedy
    fleet breaks it, is not compared, and the summary line says so."""
    d = random_scenario(seed, resilience={"survive": "instance", "keep": 1.0}, sharing={"enabled": seed == 4})
    s = scenario_from_dict(d)
    cs = build_candidates(s)
    p = plan(s, time_limit_s=30, candidates=cs)
    b = p.baselines
    g = greedy(cs)
    assert g is not None and b["greedy"]["breaks"] == [] == _greedy_plan_problems(cs, g)
    assert b["greedy"]["savings"] == pytest.approx(1 - p.cost_usd_per_hour / g.cost_usd_per_hour, abs=1e-4)
    for gid, v in b["single_type"].items():
        assert not v.get("feasible") or v["breaks"] == [], gid
    if seed != 4:
        return
    assert g.cost_usd_per_hour > p.cost_usd_per_hour + 0.01
    s2 = scenario_from_dict(dict(d, max_usd_per_hour=round(p.cost_usd_per_hour + 0.005, 4)))
    cs2 = build_candidates(s2)
    p2 = plan(s2, time_limit_s=30, candidates=cs2)
    assert p2.baselines["greedy"]["breaks"] == ["budget"] and p2.baselines["greedy"]["savings"] is None
    line = next(x for x in render_markdown(report_data(p2, s2, cs2)).splitlines() if "greedy plan" in x)
    assert "not comparable: breaks budget" in line and "saves" not in line

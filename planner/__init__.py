"""planner: a GPU capacity planner for serving large language models.

The Python API mirrors the CLI; heavy modules (the solver, pandas) load only when the function that needs them runs.

    import planner
    scenario = planner.load_scenario("scenarios/chat-fleet.yaml")
    plan = planner.plan(scenario)
    print(plan.cost_usd_per_hour)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_candidates",
    "check_plan",
    "compare",
    "default_scenario_path",
    "estimate_deployment",
    "estimate_memory",
    "get_model",
    "load_catalog",
    "load_hf_model",
    "load_scenario",
    "plan",
    "sweep",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in ("load_scenario", "default_scenario_path"):
        from planner.inputs import scenario

        return getattr(scenario, name)
    if name == "load_catalog":
        from planner.inputs.catalog import load_catalog

        return load_catalog
    if name in ("get_model", "load_hf_model"):
        from planner.inputs import library

        return getattr(library, name)
    if name == "estimate_memory":
        from planner.estimate.memory import estimate_memory

        return estimate_memory
    if name == "estimate_deployment":
        from planner.estimate.deployment import estimate_deployment

        return estimate_deployment
    if name == "plan":
        from planner.pipeline import plan

        return plan
    if name == "check_plan":
        from planner.plans.check import check_plan

        return check_plan
    if name in ("compare", "sweep"):
        from planner import studies

        return getattr(studies, name)
    if name == "write_report":
        from planner.report.writer import write_report

        return write_report
    if name == "build_candidates":
        from planner.candidates.deployments import build_candidates

        return build_candidates
    raise AttributeError(f"module 'planner' has no attribute {name!r}")

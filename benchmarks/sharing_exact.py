"""The exact device-slot model (planner.solve.slots) on the built-in default scenario and every shipped scenario.

    python benchmarks/sharing_exact.py                      # the planner as it is (slot model where needed)
    python benchmarks/sharing_exact.py --restricted-only    # before: restricted patterns + the relaxation's bound

Plans each scenario in this process (`planner.plan`, baselines off, the scenario's time limit unless --time-limit)
and prints one row per scenario: cost, status, gap to the bound, wall seconds and CPU seconds of the plan (candidates,
solves, placement, check; start-up excluded), and the GPU types whose pattern enumeration was restricted. CPU seconds
are shown beside wall seconds because the measuring machine may be shared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import planner.pipeline
from planner.candidates.deployments import build_candidates
from planner.errors import PlannerError
from planner.inputs.scenario import default_scenario_path, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--restricted-only", action="store_true",
                    help="never build the slot model (the planner before it: restricted patterns, relaxation bound)")
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("scenarios", nargs="*", help="default: the built-in scenario and scenarios/*.yaml")
    args = ap.parse_args()
    if args.restricted_only:
        planner.pipeline.MAX_SLOT_ENGINES = -1  # type: ignore[attr-defined]
    paths = [Path(p) for p in args.scenarios] or [default_scenario_path(), *sorted((ROOT / "scenarios").glob("*.yaml"))]
    print(f"{'scenario':28} {'USD/h':>9} {'status':9} {'gap':>6} {'wall s':>7} {'cpu s':>6}  restricted GPU types")
    for path in paths:
        s = load_scenario(path)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            cs = build_candidates(s)
            p = planner.pipeline.plan(s, baselines=False, time_limit_s=args.time_limit, candidates=cs)
        except PlannerError as exc:
            print(f"{s.name:28} {'-':>9} {type(exc).__name__:9}")
            continue
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        gap = 0.0 if p.cost_usd_per_hour == 0 else 1 - p.bound_usd_per_hour / p.cost_usd_per_hour
        restricted = ", ".join(cs.restricted_gpus)
        print(f"{s.name:28} {p.cost_usd_per_hour:9.4f} {p.status:9} {gap:6.1%} {wall:7.2f} {cpu:6.2f}  {restricted}",
              flush=True)


if __name__ == "__main__":
    main()

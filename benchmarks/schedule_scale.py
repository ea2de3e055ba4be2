"""Time the hourly schedule (issue 16) on a 24-hour profile over N generated models.

    python benchmarks/schedule_scale.py --models 100 --seed 1 --time-limit 60 --threads 2

The fleet is benchmarks/fleet_scale.py's (seeded); each model follows business-hours, overnight-batch or flat
(seeded), with a 1-year commitment and spot capped at 20 % of every hour's GPUs (fallback mode). Prints one JSON
line: variables, slots, status, cost, bound, gap, wall seconds (peak-flat and all-committed comparisons included).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_scale import fleet

from planner.candidates.deployments import build_candidates
from planner.inputs.scenario import scenario_from_dict
from planner.scheduling import plan_schedule


def scenario(n: int, seed: int) -> dict:
    d = fleet(n, seed)
    rng = random.Random(seed + 1000)
    for m in d["models"]:
        m["profile"] = rng.choice(["business-hours", "business-hours", "overnight-batch", "flat"])
    d["commitment"] = {"term": "1y", "spot": {"max_share": 0.2, "mode": "fallback"}}
    return d


def run(n: int, seed: int, time_limit: float, threads: int, solver: str) -> dict:
    t0 = time.perf_counter()
    s = scenario_from_dict(scenario(n, seed))
    cs = build_candidates(s)
    t1 = time.perf_counter()
    sp = plan_schedule(s, candidates=cs, time_limit_s=time_limit, threads=threads, solver=solver)
    t2 = time.perf_counter()
    d = sp.to_dict()
    return {"models": n, "seed": seed, "solver": d["solver"].get("solver"), "candidates": len(cs.candidates),
            "variables": d["solver"].get("variables"), "slots": d["solver"].get("slots"), "status": d["status"],
            "cost_usd_per_month": d["cost_usd_per_month"]["total"], "bound_usd_per_month": d["bound_usd_per_month"],
            "gap": d["gap"], "peak_flat_usd_per_month": d["comparisons"]["peak_flat_on_demand"]["cost_usd_per_month"],
            "savings_vs_peak_flat": d["comparisons"]["peak_flat_on_demand"]["savings"],
            "build_seconds": round(t1 - t0, 2), "solve_seconds": round(t2 - t1, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, nargs="+", default=[100])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--solver", default="auto")
    a = ap.parse_args()
    for n in a.models:
        print(json.dumps(run(n, a.seed, a.time_limit, a.threads, a.solver)), flush=True)


if __name__ == "__main__":
    main()

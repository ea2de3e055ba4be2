"""Time building the candidates (estimates, pruning, engine ladders and sharing patterns) of benchmark fleets.

    python benchmarks/candidate_build.py                     # 100 and 1,000 models, with and without sharing
    python benchmarks/candidate_build.py --models 100 --seed 3 --repeat 3

Prints one JSON line per fleet: wall and CPU seconds of ``build_candidates`` (best of ``--repeat`` runs, each on a
fresh scenario: the build's own caches start empty, the memoised pure helpers of planner.estimate stay warm after
the first run; the default, one run, is cold but for the fleets measured before it), candidates and patterns. CPU seconds are the steadier figure
on a shared machine. The fleets are those of ``benchmarks/fleet_scale.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_scale import fleet

from planner.candidates.deployments import build_candidates
from planner.inputs.scenario import scenario_from_dict


def measure(n: int, seed: int, sharing: bool, repeat: int) -> dict:
    best_wall = best_cpu = float("inf")
    cs = None
    for _ in range(repeat):
        s = scenario_from_dict(fleet(n, seed, sharing))
        t, c = time.perf_counter(), time.process_time()
        cs = build_candidates(s)
        best_wall = min(best_wall, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    assert cs is not None
    return {"models": n, "seed": seed, "sharing": sharing, "wall_seconds": round(best_wall, 2),
            "cpu_seconds": round(best_cpu, 2), "candidates": len(cs.candidates), "patterns": len(cs.patterns)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    for n in a.models:
        for sharing in (False, True):
            print(json.dumps(measure(n, a.seed, sharing, a.repeat)), flush=True)


if __name__ == "__main__":
    main()

"""The same fleet integer program solved by each backend: solve time, status, gap and cost, one JSON line per solve.

    python benchmarks/solver_compare.py                                  # 10/100/1,000 models, seeds 1-3, both modes
    python benchmarks/solver_compare.py --models 100 --seeds 1 --solvers highs cp-sat --time-limit 30
    python benchmarks/solver_compare.py --no-sharing --out /tmp/runs.jsonl
    python benchmarks/solver_compare.py --table /tmp/runs.jsonl          # the Markdown table of earlier runs

Fleets come from benchmarks/fleet_scale.py (same generator, same seeds). Candidates are built once per fleet; each
backend then builds and solves the model with the greedy plan as its hint, exactly as ``planner plan`` does
(``solve_fleet``), single-threaded. ``solve_seconds`` covers building the rows and solving (and CP-SAT's tie-break
re-solve when it runs). The gap is (cost - bound) / cost with the backend's own bound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_scale import fleet

from planner.candidates.deployments import build_candidates
from planner.errors import SolveTimeoutError
from planner.inputs.scenario import scenario_from_dict
from planner.solve.baselines import greedy
from planner.solve.formulation import solve_fleet


def solve_one(cs, solver: str, time_limit: float, threads: int) -> dict:
    g = greedy(cs)
    t = time.perf_counter()
    try:
        sol = solve_fleet(cs, time_limit_s=time_limit, threads=threads, hint=(g[0], g[1]) if g else None, solver=solver)
    except SolveTimeoutError:
        return {"solver": solver, "status": "no plan", "solve_seconds": round(time.perf_counter() - t, 2)}
    cost, bound = sol.cost_usd_per_hour, sol.bound_usd_per_hour
    return {"solver": sol.stats["solver"], "status": sol.status, "solve_seconds": round(sol.solve_seconds, 2),
            "cost_usd_per_hour": round(cost, 4), "gap": round((cost - bound) / cost, 6) if cost else 0.0,
            "variables": sol.stats["variables"],
            "canonical": sol.stats.get("canonical"), "backend_status": sol.stats.get("status")}


def table(path: Path) -> str:
    """Markdown: one row per fleet, one column group per solver (time, status, gap)."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    solvers = sorted({r["solver"] for r in runs}, key=["cp-sat", "cbc", "scip", "highs"].index)
    fleets = sorted({(r["models"], r["sharing"], r["seed"]) for r in runs}, key=lambda f: (not f[1], f[0], f[2]))
    head = "| models | sharing | seed | variables | " + " | ".join(f"{s}" for s in solvers) + " |"
    lines = [head, "|" + "---|" * (4 + len(solvers))]
    for f in fleets:
        row = {r["solver"]: r for r in runs if (r["models"], r["sharing"], r["seed"]) == f}
        var = next((r["variables"] for r in row.values() if "variables" in r), "")
        cells = []
        for s in solvers:
            r = row.get(s)
            if r is None:
                cells.append("not run")
            elif r["status"] == "no plan":
                cells.append(f"{r['solve_seconds']:.1f} s, no plan")
            else:
                gap = "" if r["status"] == "optimal" else f", gap {100 * r['gap']:.3f} %"
                cells.append(f"{r['solve_seconds']:.1f} s, {r['status']}{gap}, ${r['cost_usd_per_hour']:,.2f}")
        lines.append(f"| {f[0]:,} | {'yes' if f[1] else 'no'} | {f[2]} | {var:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--solvers", nargs="*", default=["cp-sat", "cbc", "highs"])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-sharing", action="store_true", help="only fleets without device sharing")
    ap.add_argument("--sharing-only", action="store_true", help="only fleets with device sharing")
    ap.add_argument("--out", type=Path, help="append the JSON lines to this file too")
    ap.add_argument("--table", type=Path, help="print the Markdown table of a JSON-lines file and stop")
    a = ap.parse_args()
    if a.table:
        print(table(a.table))
        return
    modes = [m for m in (True, False) if not (m and a.no_sharing) and not (not m and a.sharing_only)]
    for n in a.models:
        for sharing in modes:
            for seed in a.seeds:
                t = time.perf_counter()
                cs = build_candidates(scenario_from_dict(fleet(n, seed, sharing)))
                build = round(time.perf_counter() - t, 2)
                for solver in a.solvers:
                    r = {"models": n, "sharing": sharing, "seed": seed, "candidates": len(cs.candidates),
                         "patterns": len(cs.patterns), "build_seconds": build,
                         "load_avg_1m": round(os.getloadavg()[0], 1),  # other processes on the machine skew timings
                         **solve_one(cs, solver, a.time_limit, a.threads)}
                    line = json.dumps(r)
                    print(line, flush=True)
                    if a.out:
                        with a.out.open("a") as f:
                            f.write(line + "\n")


if __name__ == "__main__":
    main()

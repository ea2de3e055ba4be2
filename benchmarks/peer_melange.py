"""The planner against Mélange (tyler-griggs/melange-release) on the same candidates and per-GPU prices.

    python benchmarks/peer_melange.py --melange-src ~/src/melange-release            # 10 and 100 models, seed 1
    python benchmarks/peer_melange.py --melange-src DIR --models 100 --seed 2 --slice-factors 1 4 16

Mélange is never a dependency and none of its code is in this repository (its repository carries no licence): the
script runs it from ``--melange-src``, a checkout the user provides, inside a separate virtual environment it creates
(``--venv``, default ~/.cache/planner-melange-venv) with ``pip install pulp pandas`` (Mélange's solver uses PuLP's
bundled CBC; its util module imports pandas). Nothing else is downloaded.

The shared problem, one model at a time (Mélange sizes one model per run): each of the planner's candidates of a
fleet from benchmarks/fleet_scale.py (sharing off) becomes one Mélange "GPU" whose ``cost`` is a replica's price,
tp x pp x the per-GPU price of the cheapest offer of that GPU type with at least tp GPUs, and whose ``tputs`` is
[[capacity]] (one request-size bucket; capacity in the planner's demand units, sequences); the workload is
[[1.0]] x the model's demand. Mélange splits the demand into ``slice_factor`` equal slices and puts each slice on one
candidate; the planner solves the same covering program exactly (min sum cost_k x_k, sum capacity_k x_k >= demand,
x integer) with its own backend. Minimum replicas, instance packing and device sharing are left out of both: Mélange
has none of them.

Prints one line per slice factor and one for the planner: total cost of the fleet, time, and how many models each
solved; then the comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_scale import fleet

from planner.candidates.deployments import CandidateSet, build_candidates
from planner.inputs.scenario import scenario_from_dict
from planner.solve.backends import LinearModel, choose_backend, run_backend

MICRO_USD = 1_000_000  # the planner's side counts cost in 1e-6 USD per hour (prices per GPU are fractions of a cent)

# run inside Mélange's venv: read the configs, time MelangeSolver.run per model, print JSON (this is our code; it
# only imports Mélange's from the checkout on sys.path)
DRIVER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from melange.solver import MelangeSolver
configs = json.load(open(sys.argv[2]))
out = []
for c in configs:
    t = time.perf_counter()
    r = MelangeSolver(c["workload_distribution"], c["total_request_rate"], c["gpu_info"], c["slice_factor"]).run()
    out.append({"model": c["model"], "seconds": time.perf_counter() - t, "result": r})
print(json.dumps(out))
"""


def per_gpu_prices(cs: CandidateSet) -> dict[tuple[str, int], float]:
    """(GPU type, TP size) -> USD per GPU-hour of the cheapest offer of that type with at least TP GPUs."""
    out: dict[tuple[str, int], float] = {}
    for c in cs.candidates:
        fits = [o.usd_per_gpu_hour for o in cs.offers if o.gpu == c.gpu and o.gpus_per_instance >= c.tp]
        if fits:
            out[(c.gpu, c.tp)] = min(fits)
    return out


def replica_costs(cs: CandidateSet) -> dict[str, float]:
    """Candidate key -> USD per hour of one replica at per-GPU prices."""
    price = per_gpu_prices(cs)
    return {c.key: c.tp * c.pp * price[(c.gpu, c.tp)] for c in cs.candidates if (c.gpu, c.tp) in price}


def melange_configs(cs: CandidateSet, costs: dict[str, float], slice_factor: int) -> list[dict]:
    """One Mélange input per model (the fields of its SolverRunner.Config, plus the model's name)."""
    out = []
    for m in cs.scenario.models:
        gpu_info = {c.key: {"cost": costs[c.key], "tputs": [[float(c.capacity_units)]]}
                    for c in cs.for_model(m.name) if c.key in costs}
        out.append({"model": m.name, "gpu_info": gpu_info, "workload_distribution": [[1.0]],
                    "total_request_rate": float(cs.demand[m.name]), "slice_factor": slice_factor})
    return out


def ensure_venv(venv: Path) -> Path:
    """Mélange's virtual environment with PuLP and pandas; its python."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(py), "-c", "import pulp, pandas"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "pulp", "pandas"], check=True)
    return py


def run_melange(py: Path, src: Path, configs: list[dict]) -> tuple[float, float, list[dict]]:
    """Wall seconds of the Mélange process, the sum of its per-model solve seconds, and its results."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(configs, f)
    try:
        t = time.perf_counter()
        done = subprocess.run([str(py), "-c", DRIVER, str(src), f.name], capture_output=True, text=True, check=True,
                              cwd=tempfile.gettempdir())
        wall = time.perf_counter() - t
    finally:
        os.unlink(f.name)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, sum(r["seconds"] for r in results), results


def planner_side(cs: CandidateSet, costs: dict[str, float], time_limit: float) -> tuple[float, str, str, dict[str, int]]:
    """The same covering program, exact, every model in one LinearModel: cost, status, backend, replicas."""
    lm = LinearModel()
    x: dict[str, int] = {}
    for m in cs.scenario.models:
        d = cs.demand[m.name]
        cands = [c for c in cs.for_model(m.name) if c.key in costs]
        for c in cands:
            x[c.key] = lm.var(f"x[{c.key}]", math.ceil(d / c.capacity_units))
        lm.add([(c.capacity_units, x[c.key]) for c in cands], lo=d)
    lm.objective = {x[k]: round(costs[k] * MICRO_USD) for k in x}
    backend = choose_backend("auto", lm, 0, len(x))
    values, status, _bound, _stats = run_backend(lm, backend, time.perf_counter() + time_limit, 1, False)
    replicas = {k: values[v] for k, v in x.items() if values and values[v]}
    return sum(costs[k] * n for k, n in replicas.items()), status, backend, replicas


def melange_cost(results: list[dict]) -> tuple[float, int]:
    """Mélange's fleet cost (its own sum of y x cost) and how many models it solved (None: not optimal)."""
    solved = [r for r in results if r["result"] is not None]
    return sum(r["result"]["cost"] for r in solved), len(solved)


def compare(n: int, seed: int, src: Path, py: Path, slice_factors: list[int], time_limit: float) -> list[dict]:
    t = time.perf_counter()
    cs = build_candidates(scenario_from_dict(fleet(n, seed, sharing=False)))
    build = time.perf_counter() - t
    costs = replica_costs(cs)
    t = time.perf_counter()
    cost, status, backend, _replicas = planner_side(cs, costs, time_limit)
    solve = time.perf_counter() - t
    rows = [{"models": n, "seed": seed, "who": f"planner ({backend})", "status": status, "cost_usd_per_hour": round(cost, 4),
             "solved": n, "solve_seconds": round(solve, 3), "end_to_end_seconds": round(build + solve, 3)}]
    for sf in slice_factors:
        t = time.perf_counter()
        configs = melange_configs(cs, costs, sf)
        export = time.perf_counter() - t
        wall, solve_sum, results = run_melange(py, src, configs)
        mcost, solved = melange_cost(results)
        rows.append({"models": n, "seed": seed, "who": f"melange sf={sf}", "status": "optimal per model" if solved == n else
                     f"{n - solved} model(s) not solved", "cost_usd_per_hour": round(mcost, 4), "solved": solved,
                     "solve_seconds": round(solve_sum, 3),
                     "end_to_end_seconds": round(build + export + wall, 3)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--melange-src", type=Path, required=True, help="a checkout of tyler-griggs/melange-release")
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "planner-melange-venv")
    ap.add_argument("--models", type=int, nargs="*", default=[10, 100])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slice-factors", type=int, nargs="*", default=[1, 4, 16])
    ap.add_argument("--time-limit", type=float, default=60.0, help="the planner's solve limit")
    a = ap.parse_args()
    src = a.melange_src.resolve()
    if not (src / "melange" / "solver.py").is_file():
        sys.exit(f"Error: --melange-src {src}: no melange/solver.py there; give a checkout of melange-release")
    py = ensure_venv(a.venv)
    for n in a.models:
        rows = compare(n, a.seed, src, py, a.slice_factors, a.time_limit)
        for r in rows:
            print(json.dumps(r), flush=True)
        best = min((r for r in rows[1:] if r["solved"] == n), key=lambda r: r["cost_usd_per_hour"], default=None)
        if best:
            p = rows[0]
            print(f"{n} models: planner ${p['cost_usd_per_hour']:,.2f}/h in {p['end_to_end_seconds']:.2f} s; Mélange's best "
                  f"({best['who']}) ${best['cost_usd_per_hour']:,.2f}/h in {best['end_to_end_seconds']:.2f} s: planner "
                  f"{100 * (1 - p['cost_usd_per_hour'] / best['cost_usd_per_hour']):.2f} % cheaper, "
                  f"{best['end_to_end_seconds'] / p['end_to_end_seconds']:.1f}x faster end to end", flush=True)


if __name__ == "__main__":
    main()

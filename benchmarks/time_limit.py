"""`--time-limit` is the wall clock of the whole command: measure it.

    python benchmarks/time_limit.py                    # --time-limit 5 on every shipped scenario and a 1,000-model one
    python benchmarks/time_limit.py --limit 2 --models 600

Runs `planner plan`, `compare`, `sweep` and `report` as subprocesses (what a user runs, start-up included) and prints
one line per run: command, scenario, exit code, wall seconds, and whether it returned within the limit + 1 s (the
goal of issue 11). Exit code 0 is a plan, 1 infeasible with an explanation, 3 no plan within the limit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fleet_scale import fleet  # noqa: E402


def commands(scenario: str, out: Path) -> list[tuple[str, list[str]]]:
    return [
        ("plan", ["plan", scenario, "-q"]),
        ("compare", ["compare", scenario, "-q", "--fleets", "a10,rtx-4090,a100-80gb-sxm,mixed"]),
        ("sweep", ["sweep", scenario, "-q", "--vary", "min_replicas=1,2"]),
        ("report", ["report", scenario, "-q", "--out", str(out / Path(scenario).stem)]),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=5.0)
    ap.add_argument("--models", type=int, default=1000, help="size of the generated large scenario")
    ap.add_argument("--only-large", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / f"fleet-{args.models}.yaml"
        big.write_text(yaml.safe_dump(fleet(args.models, 1)))
        scenarios = [] if args.only_large else sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
        worst = 0.0
        for sc in [*scenarios, str(big)]:
            for name, argv in commands(sc, Path(tmp) / "reports"):
                t0 = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "planner", *argv, "--time-limit", f"{args.limit:g}"],
                                   capture_output=True, text=True, cwd=ROOT)
                wall = time.perf_counter() - t0
                worst = max(worst, wall)
                ok = "ok" if wall <= args.limit + 1 else "OVER"
                err = r.stderr.strip().splitlines()[-1][:90] if r.returncode not in (0,) and r.stderr.strip() else ""
                print(f"{name:8} {Path(sc).name:32} exit {r.returncode}  {wall:6.2f} s  {ok}  {err}", flush=True)
        print(f"worst: {worst:.2f} s at --time-limit {args.limit:g}")


if __name__ == "__main__":
    main()

"""Every figure the project measures, for this machine, in one command:

    python benchmarks/run.py            # about 3-5 minutes on 2 cores
    python benchmarks/run.py --quick    # 10 and 100 models only

CLI start-up (--help, estimate), estimate throughput, plan solve time / status / gap / peak memory for fleets of
10, 100 and 1,000 models, the optimizer against the greedy and single-GPU-type baselines, and whether --time-limit
is honoured. Timings are medians of repeated runs; nothing here is asserted (tests never time anything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


def cli_seconds(args: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, check=True, cwd="/")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def estimate_throughput(seconds: float = 3.0) -> tuple[float, int]:
    from planner.estimate.deployment import estimate_deployment
    from planner.inputs.catalog import load_catalog
    from planner.inputs.library import get_model

    cat = load_catalog()
    models = ["llama-3-8b", "qwen2.5-72b", "deepseek-v2-lite", "glm-4-9b", "mixtral-8x7b-v0.1", "qwen3-0.6b"]
    gpus = ["a10", "rtx-4090", "l40s", "a100-80gb-sxm", "h100-sxm", "mi300x"]
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for m in models:
            for g in gpus:
                for tp in (1, 2, 4):
                    estimate_deployment(get_model(m), cat.get(g), tp=tp, precision="bf16", context_tokens=4096,
                                        min_tokens_per_s=20)
                    n += 1
    dt = time.perf_counter() - t0
    return n / dt, n


def fleet(n: int, time_limit: float, baselines: bool, sharing: bool = True) -> dict:
    args = [sys.executable, str(HERE / "fleet_scale.py"), "--models", str(n), "--time-limit", str(time_limit)]
    if baselines:
        args.append("--baselines")
    if not sharing:
        args.append("--no-sharing")
    out = subprocess.run(args, capture_output=True, text=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
    if out.returncode != 0 or line is None:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        return {"status": f"benchmark process failed (exit {out.returncode}): {tail}", "gap": None, "solve_seconds": 0.0}
    return json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser(description="planner benchmarks")
    ap.add_argument("--quick", action="store_true", help="fleets of 10 and 100 models only")
    a = ap.parse_args()
    t_all = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"planner --help: {cli_seconds(['--help']) * 1000:.0f} ms (median of 7, subprocess)")
    print(f"planner estimate llama-3-8b --gpu a10: {cli_seconds(['estimate', 'llama-3-8b', '--gpu', 'a10', '--format', 'json']) * 1000:.0f} ms")
    print(f"planner estimate qwen2.5-72b (all 26 GPU types): {cli_seconds(['estimate', 'qwen2.5-72b', '--format', 'json'], 3) * 1000:.0f} ms")
    rate, n = estimate_throughput()
    print(f"estimate throughput: {rate:,.0f} deployments/s (memory + speed + SLO search; {n} estimates)")
    print(f"planner plan (default scenario, with baselines): {cli_seconds(['plan', '--format', 'json', '-q'], 3):.2f} s")
    sizes = [10, 100] if a.quick else [10, 100, 1000]
    for n_models in sizes:
        r = fleet(n_models, 60.0, baselines=n_models <= 100)
        if r.get("gap") is None:
            print(f"fleet of {n_models:>4} models: {r['status']} after {r['solve_seconds']:.1f} s")
            continue
        line = (f"fleet of {n_models:>4} models: {r['candidates']:>6} candidates, {r['patterns']:>5} sharing patterns; "
                f"candidates {r['build_seconds']:.1f} s, solve {r['solve_seconds']:.1f} s ({r['status']}, gap {r['gap']:.2%}); "
                f"${r['cost_usd_per_hour']:,.2f}/h on {r['gpus']} GPUs; peak RSS {r['peak_rss_mib']:.0f} MiB")
        print(line)
        if r.get("greedy_usd_per_hour"):
            g = r["greedy_usd_per_hour"]
            print(f"    vs greedy ${g:,.2f}/h: saves {1 - r['cost_usd_per_hour'] / g:.1%}")
        if r.get("best_single_type"):
            b = r["best_single_type"]
            print(f"    vs best single GPU type ({b['gpu']}) ${b['cost_usd_per_hour']:,.2f}/h: saves {b['savings']:.1%}")
    for n_models in sizes:
        r = fleet(n_models, 60.0, baselines=False, sharing=False)
        gap = "" if r.get("gap") is None else f", gap {r['gap']:.2%}"
        print(f"fleet of {n_models:>4} models without device sharing: solve {r['solve_seconds']:.1f} s ({r['status']}{gap}); "
              f"${r.get('cost_usd_per_hour', 0):,.2f}/h")
    if not a.quick:
        t = time.perf_counter()
        r = fleet(1000, 2.0, baselines=False)
        gap = "" if r.get("gap") is None else f", gap {r['gap']:.2%}"
        print(f"--time-limit 2 on 1,000 models: solver returned after {r['solve_seconds']:.2f} s "
              f"({r['status']}{gap}; whole run {time.perf_counter() - t:.1f} s)")
    print(f"wall time {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main()

"""Generate fleets of N models over the whole catalog and print build time, solve time, status and gap.

    python benchmarks/fleet_scale.py                 # 10, 100 and 1,000 models
    python benchmarks/fleet_scale.py --models 100 --seed 3 --time-limit 60 --threads 1

Each fleet draws models from the library with a precision, context, concurrency and (sometimes) an SLO; the
generator is seeded, so a run is repeatable. Prints one JSON line per fleet (peak RSS of this process included).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.candidates.deployments import build_candidates
from planner.errors import SolveTimeoutError
from planner.inputs.library import get_model, library
from planner.inputs.scenario import scenario_from_dict
from planner.pipeline import plan

# models small enough that a fleet of many is a realistic serving platform (the giant MoEs are left out)
POOL = ["llama-3.2-1b", "llama-3.2-3b", "llama-3-8b", "llama-3.1-8b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b",
        "qwen3-8b", "qwen3-0.6b", "glm-4-9b-chat", "chatglm3-6b", "mistral-7b-v0.1", "gemma-2-9b", "phi-3-mini-4k-instruct",
        "minicpm-2b-sft-bf16", "deepseek-v2-lite", "deepseek-r1-distill-qwen-7b", "llama-3-70b", "qwen2.5-72b", "yi-34b",
        "mixtral-8x7b-v0.1", "qwen3-30b-a3b"]


def fleet(n: int, seed: int, sharing: bool = True) -> dict:
    rng = random.Random(seed)
    models = []
    for i in range(n):
        mid = rng.choice(POOL)
        ctx = min(rng.choice([2048, 4096, 8192]), get_model(mid).max_context)
        m = {"name": f"m{i:04d}", "model": mid, "precision": rng.choice(["bf16", "bf16", "fp8", "int8", "int4"]),
             "concurrency": rng.choice([4, 8, 16, 32, 64, 128, 256]), "context_tokens": ctx,
             "min_replicas": rng.choice([1, 1, 2])}
        if rng.random() < 0.3:
            m["slo"] = {"min_tokens_per_s": rng.choice([10, 20, 30])}
        models.append(m)
    assert all(m["model"] in library() for m in models)
    return {"name": f"bench-{n}-{seed}", "models": models, "providers": ["aws", "gcp", "azure", "lambda", "runpod"],
            "sharing": {"enabled": sharing}}


def run(n: int, seed: int, time_limit: float, threads: int, baselines: bool, sharing: bool = True) -> dict:
    t0 = time.perf_counter()
    s = scenario_from_dict(fleet(n, seed, sharing))
    cs = build_candidates(s)
    t1 = time.perf_counter()
    try:
        p = plan(s, candidates=cs, time_limit_s=time_limit, threads=threads, baselines=baselines)
    except SolveTimeoutError as exc:
        return {"models": n, "seed": seed, "candidates": len(cs.candidates), "patterns": len(cs.patterns),
                "build_seconds": round(t1 - t0, 2), "solve_seconds": round(time.perf_counter() - t1, 2),
                "status": "no plan within the time limit", "gap": None, "message": exc.message,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    t2 = time.perf_counter()
    out = {"models": n, "seed": seed, "candidates": len(cs.candidates), "patterns": len(cs.patterns),
           "build_seconds": round(t1 - t0, 2), "plan_seconds": round(t2 - t1, 2),
           "solve_seconds": round(p.solve_seconds, 2), "status": p.status, "gap": round(p.gap, 5),
           "cost_usd_per_hour": round(p.cost_usd_per_hour, 2), "gpus": p.gpus,
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if baselines:
        b = p.baselines
        out["greedy_usd_per_hour"] = b.get("greedy", {}).get("cost_usd_per_hour")
        out["best_single_type"] = b.get("best_single_type")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--baselines", action="store_true", help="also solve the greedy and single-type baselines")
    ap.add_argument("--no-sharing", action="store_true", help="one model per GPU (no device-sharing patterns)")
    a = ap.parse_args()
    t = time.perf_counter()
    for n in a.models:
        print(json.dumps(run(n, a.seed, a.time_limit, a.threads, a.baselines, not a.no_sharing)), flush=True)
    print(f"wall time {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()

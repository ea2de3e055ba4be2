"""Per-term error of the vLLM memory estimator on the public start-up logs of tests/data/vllm_logs.yaml, split into
the logs the constants of planner/estimate/memory.py were fitted on (`set: fit`) and the held-out rest.

    python benchmarks/vllm_memory_fit.py

Terms: weights, activation peak, non-torch memory, CUDA-graph pool (the figure a graph-budgeting version subtracts,
against the pool v0.19.0 captured), KV cache (GiB) and KV capacity (tokens). Error = ours / logged - 1, per device.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from vllm_log_eval import cases, kv_error

TERMS = ("weights_gib", "activation_peak_gib", "non_torch_gib", "cuda_graph_gib", "kv_cache_gib", "kv_tokens")


def _p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.9 * len(xs)))]


def main() -> None:
    all_cases = cases()
    print(f"{'term':22s} {'set':9s} {'runs':>5s} {'median |err|':>13s} {'p90 |err|':>10s} {'worst':>8s}")
    for term in (*TERMS, "kv_capacity"):
        for split in ("fit", "held-out"):
            errs = []
            for c in all_cases:
                if c.run["set"] != split:
                    continue
                if term == "kv_capacity":
                    e = kv_error(c)
                else:
                    v = c.logged(term)
                    e = None if v is None or v <= 0 else c.ours(term) / v - 1
                if e is not None:
                    errs.append(e)
            if not errs:
                continue
            a = [abs(e) for e in errs]
            worst = max(errs, key=abs)
            print(f"{term:22s} {split:9s} {len(a):5d} {statistics.median(a):13.1%} {_p90(a):10.1%} {worst:+8.1%}")


if __name__ == "__main__":
    main()

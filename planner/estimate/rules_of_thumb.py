"""The source articles' rules of thumb: params x bytes per param x a factor. Shown next to the detailed estimate.

These are the methods `planner estimate --method` accepts besides the detailed vLLM budget (planner/estimate/memory.py).
"""

from __future__ import annotations

SEED_METHODS = {
    # second article: M = P x 4B / (32 / Q) x 1.2, i.e. params x bytes per param x 1.2 ("70B FP16 -> 168 GB")
    "seed-1.2": 1.2,
    # first article: memory = params x bytes per param x 1.5-2 ("一般乘 2 倍"); the upper factor is the one it recommends
    "seed-2x": 2.0,
}
SEED_BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
SEED_METHOD_NAMES = tuple(SEED_METHODS)  # ("seed-1.2", "seed-2x")
METHODS = ("detailed", *SEED_METHOD_NAMES)  # what `planner estimate --method` accepts


def seed_estimate_bytes(params: int, precision: str, method: str) -> int:
    """The articles' estimate in bytes: params x bytes per param (FP32 4, FP16 2, INT8 1, INT4 0.5) x factor."""
    return int(params * SEED_BYTES_PER_PARAM[precision] * SEED_METHODS[method])


def seed_estimates(params: int, precision: str) -> dict[str, int]:
    """Both rules' estimates in bytes, keyed by method name."""
    return {m: seed_estimate_bytes(params, precision, m) for m in SEED_METHOD_NAMES}

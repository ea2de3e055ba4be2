"""Property tests of the memory estimator: monotonic in context, concurrency, TP and precision."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.estimate.memory import estimate_memory
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model, library

CAT = load_catalog()
MODELS = sorted(library())
ORDER = ["int4", "int8", "fp8", "bf16", "fp32"]  # bits per weight, increasing

models = st.sampled_from(MODELS)
gpus = st.sampled_from(["h100-sxm", "a100-80gb-sxm", "rtx-4090", "l40s", "mi300x"])


def _needed(e) -> int:
    """Bytes a replica needs on its binding device for its sequences: fixed part + KV of every sequence."""
    return e.fixed_bytes_per_device + e.concurrency * e.seq_kv_bytes


@settings(max_examples=80, deadline=None)
@given(models, gpus, st.integers(1, 8000), st.integers(1, 4000), st.integers(1, 64))
def test_more_context_or_concurrency_never_needs_less(model, gpu, ctx, extra, conc):
    a = get_model(model)
    g = CAT.get(gpu)
    ctx = min(ctx, a.max_context - extra) if a.max_context > extra else 1
    e1 = estimate_memory(a, g, context_tokens=ctx, concurrency=conc, precision="fp8")
    e2 = estimate_memory(a, g, context_tokens=ctx + extra, concurrency=conc, precision="fp8")
    e3 = estimate_memory(a, g, context_tokens=ctx, concurrency=conc + 1, precision="fp8")
    assert _needed(e2) >= _needed(e1)
    assert _needed(e3) >= _needed(e1)
    assert e2.max_concurrency <= e1.max_concurrency


@settings(max_examples=80, deadline=None)
@given(models, gpus, st.sampled_from([1, 2, 4]), st.sampled_from(ORDER))
def test_larger_tp_never_puts_more_weight_on_a_device(model, gpu, tp, precision):
    a = get_model(model)
    g = CAT.get(gpu)
    e1 = estimate_memory(a, g, tp=tp, precision=precision)
    e2 = estimate_memory(a, g, tp=tp * 2, precision=precision)
    assert e2.per_device.weights_bytes <= e1.per_device.weights_bytes


@settings(max_examples=80, deadline=None)
@given(models, gpus, st.integers(0, len(ORDER) - 2), st.sampled_from([1, 2, 8]))
def test_lower_precision_never_needs_more(model, gpu, i, tp):
    a = get_model(model)
    g = CAT.get(gpu)
    lo = estimate_memory(a, g, tp=tp, precision=ORDER[i])
    hi = estimate_memory(a, g, tp=tp, precision=ORDER[i + 1])
    assert lo.per_device.weights_bytes <= hi.per_device.weights_bytes
    assert lo.weights_total_bytes <= hi.weights_total_bytes

"""The source articles' examples (docs/sources.md: seed-articles), checked with the detailed estimator. The README quotes these."""

from __future__ import annotations

from planner.estimate.deployment import smallest_fit
from planner.estimate.memory import estimate_memory
from planner.estimate.rules_of_thumb import seed_estimate_bytes
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model
from planner.units import GB, GIB

CAT = load_catalog()


def test_glm4_9b_int8_weights_about_9_gb_and_serving_under_18():
    """Article 1: 'GLM-9B Chat INT8: 9 GB of weights, about 18 GB in use'. Weights: 9.4e9 linear params at 1 byte,
    embeddings and output head in 16 bits -> 10.6 GB; one 8k sequence fits a 24 GB card with room for more."""
    a = get_model("glm-4-9b-chat")
    e = estimate_memory(a, CAT.get("rtx-4090"), precision="int8", context_tokens=8192)
    assert 9.0 < e.per_device.weights_bytes / GB < 11.0
    assert seed_estimate_bytes(a.params, "int8", "seed-2x") / GB > 18  # the article's x2 rule: 18.8 GB
    assert e.fits and e.max_concurrency >= 10


def test_llama2_70b_fp16_168_gb_does_not_fit_two_a100_80gb():
    """Article 2: 70B FP16 needs 168 GB, so two A100 80GB. Two A100s hold 2 x 79.15 x 0.9 = 142 GiB usable, the
    weights alone are 128.5 GiB, and what is left after activations holds only a handful of 4k sequences."""
    a = get_model("llama-2-70b")
    assert round(seed_estimate_bytes(70_000_000_000, "fp16", "seed-1.2") / GB) == 168
    assert seed_estimate_bytes(a.params, "fp16", "seed-1.2") > 2 * 80 * GB  # 168 GB > 160 GB: the article's own numbers
    e = estimate_memory(a, CAT.get("a100-80gb-sxm"), tp=2, precision="fp16", context_tokens=4096)
    assert e.weights_total_bytes / GIB > 128
    assert e.max_concurrency < 16  # modest concurrency (16 x 4k) does not fit on two cards


def test_7b_int4_fits_3060_and_8gb_4060():
    a = get_model("llama-2-7b")
    for gid in ("rtx-3060", "rtx-4060"):
        e = estimate_memory(a, CAT.get(gid), precision="int4", context_tokens=2048)
        assert e.fits, (gid, e.reason)
    assert estimate_memory(a, CAT.get("rtx-4060"), precision="int4", context_tokens=4096).max_concurrency < 4


def test_7b_int8_service_on_a10_and_4090_users_at_4k():
    """Article 1: 7B INT8 serving wants 16 GB (A10/4090). At 4k context a 24 GB card holds ~20 users with Llama-2-7B
    (MHA: 512 KiB per token) and many more with GQA models."""
    for gid in ("a10", "rtx-4090"):
        l2 = estimate_memory(get_model("llama-2-7b"), CAT.get(gid), precision="int8", context_tokens=4096)
        q = estimate_memory(get_model("qwen2.5-7b"), CAT.get(gid), precision="int8", context_tokens=4096)
        assert 3 <= l2.max_concurrency <= 12
        assert q.max_concurrency > 4 * l2.max_concurrency


def test_13b_fp16_does_not_fit_24_gb():
    """Article 1 suggests 24 GB (3090) for 13B FP16: the weights alone are 26 GB."""
    a = get_model("llama-2-13b")
    e = estimate_memory(a, CAT.get("rtx-3090"), precision="fp16")
    assert not e.fits
    assert e.per_device.weights_bytes / GB > 24
    best = smallest_fit(a, CAT.get("rtx-3090"), precision="fp16", context_tokens=4096)
    assert best.memory.fits and best.memory.gpus >= 2
    # the article's other pick, an A100 80GB: Llama-2-13B has no GQA (800 KiB of KV per token), so one card holds only
    # about 14 users at 4k context - "many users" needs several replicas
    a100 = estimate_memory(a, CAT.get("a100-80gb-sxm"), precision="fp16", context_tokens=4096)
    assert 10 <= a100.max_concurrency <= 20

"""The memory estimator against memory figures printed by real vLLM runs.

Cases come from the vLLM logs of docs/sources.md: vllm-memory-logs (first block) and from vLLM logs quoted in the
notes of the model configs (docs/sources.md: model-configs; second block). Tolerances: weights within 2 %, KV cache capacity within 5 %.
The articles' rules of thumb (params x bytes x 1.2, x 2) are printed beside ours for the same cases.
"""

from __future__ import annotations

import dataclasses

import pytest

from planner.estimate.memory import estimate_memory
from planner.estimate.rules_of_thumb import seed_estimate_bytes
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model
from planner.units import GIB

# (case id, model, gpu, total GiB printed, util, TP, max_model_len, max_num_batched_tokens, max_num_seqs,
#  weights GiB per GPU printed, KV cache GiB printed or None, KV tokens printed or None)
CASES = [
    # vLLM PR #10511 (youkaichao, 2024-12-14): Meta-Llama-3-8B, 80 GB H100-class, TP1, util 0.9;
    # V0 without chunked prefill batches max_model_len = 8192 tokens, 256 sequences.
    ("pr10511-llama3-8b-tp1", "llama-3-8b", "h100-sxm", 79.22, 0.9, 1, 8192, 8192, 256, 14.96, 53.29, None),
    # same PR, TP2: weights per GPU only
    ("pr10511-llama3-8b-tp2", "llama-3-8b", "h100-sxm", 79.22, 0.9, 2, 8192, 8192, 256, 7.48, None, None),
    # mellea PR #416 (2025): Qwen3-0.6B (inferred there from 1.12 GiB + 112 KiB/token), 80 GB GPU, util 0.8;
    # 36,184 blocks x 16 = 578,944 tokens
    ("mellea416-qwen3-0.6b", "qwen3-0.6b", "a100-80gb-sxm", 79.19, 0.8, 1, 8192, 8192, 256, 1.12, 61.84, 578_944),
    # model_configs.yaml notes: Qwen2.5-32B-Instruct, vLLM logged 30.71 GiB per rank at TP2
    ("notes-qwen2.5-32b-tp2", "qwen2.5-32b", "a100-80gb-sxm", 79.15, 0.9, 2, 8192, 2048, 256, 30.71, None, None),
    # model_configs.yaml notes: Qwen3-30B-A3B, vLLM logged 14.2474 GiB per rank at TP4 on 4 x A10
    ("notes-qwen3-30b-a3b-tp4-a10", "qwen3-30b-a3b", "a10", 22.09, 0.9, 4, 4096, 2048, 256, 14.2474, None, None),
]


def _estimate(case):
    _cid, model, gpu, total, util, tp, mml, mbt, mns, *_ = case
    g = dataclasses.replace(load_catalog().get(gpu), memory_gib=total)
    return estimate_memory(get_model(model), g, tp=tp, precision="bf16", context_tokens=min(mml, get_model(model).max_context),
                           gpu_memory_utilization=util, max_batched_tokens=mbt, max_num_seqs=mns)


def test_against_vllm_logs_table(capsys):
    rows = []
    for case in CASES:
        e = _estimate(case)
        arch = get_model(case[1])
        w = e.per_device.weights_bytes / GIB
        kv = e.per_device.kv_cache_bytes / GIB
        seed12 = seed_estimate_bytes(arch.params, "bf16", "seed-1.2") / case[5] / GIB
        rows.append((case[0], case[9], w, case[10], kv, case[11], e.kv_cache_tokens, seed12))
    with capsys.disabled():
        print("\ncase                          weights GiB (log / ours)   KV GiB (log / ours)     KV tokens (log / ours)    "
              "seed-1.2 per GPU (vs logged weights)")
        for cid, wl, w, kl, k, tl, t, s in rows:
            kvs = f"{kl:7.2f} / {k:7.2f}" if kl else "      - / " + f"{k:7.2f}"
            tks = f"{tl:>9,} / {t:>9,}" if tl else "        - / " + f"{t:>9,}"
            print(f"{cid:30s} {wl:8.2f} / {w:8.2f} ({(w - wl) / wl:+.1%})   {kvs}   {tks}   {s:6.2f} GiB ({(s - wl) / wl:+.0%})")
        print("The rules of thumb size the weights (+20 %) but say nothing of the KV cache, which is most of the memory above:"
              " the x1.2 rule leaves no room for concurrency, the x2 rule leaves an arbitrary amount.")
    for cid, wl, w, kl, k, tl, t, _ in rows:
        assert abs(w - wl) / wl <= 0.02, f"{cid}: weights {w:.2f} vs {wl}"
        if kl:
            assert abs(k - kl) / kl <= 0.05, f"{cid}: KV {k:.2f} vs {kl}"
        if tl:
            assert abs(t - tl) / tl <= 0.05, f"{cid}: KV tokens {t} vs {tl}"


def test_budget_identity_holds():
    """kv = total x util - weights - non_torch - activation (docs/sources.md: vllm-memory-logs), in whole blocks."""
    for case in CASES:
        e = _estimate(case)
        d = e.per_device
        rest = d.usable_bytes - d.weights_bytes - d.activation_bytes - d.overhead_bytes
        assert 0 <= rest - d.kv_cache_bytes < 16 * e.kv_bytes_per_token


def test_mla_cache_of_deepseek_v2_lite():
    # model_configs.yaml notes: vLLM reported "0.95 GiB KV cache is needed" for 32768 tokens of DeepSeek-V2-Lite:
    # 27 layers x (512 + 64) x 2 bytes per token, not split across TP
    g = load_catalog().get("h100-sxm")
    for tp in (1, 2, 4):
        e = estimate_memory(get_model("deepseek-v2-lite"), g, tp=tp, context_tokens=32768)
        assert e.kv_bytes_per_token == 27 * 576 * 2
        assert e.seq_kv_bytes / GIB == pytest.approx(0.95, abs=0.005)


def test_gqa_heads_split_but_never_below_one():
    g = load_catalog().get("h100-sxm")
    a = get_model("llama-3-70b")  # 8 KV heads
    assert estimate_memory(a, g, tp=8).kv_bytes_per_token == 80 * 2 * 1 * 128 * 2
    c = get_model("chatglm3-6b")  # 2 KV groups: TP4 keeps one group per rank
    e2 = estimate_memory(c, g, tp=2)
    e4 = estimate_memory(c, g, tp=4)
    assert e2.kv_bytes_per_token == e4.kv_bytes_per_token == 28 * 2 * 1 * 128 * 2


def test_sliding_window_layers_hold_at_most_the_window():
    g = load_catalog().get("h100-sxm")
    gem = get_model("gemma-2-9b")  # 21 of 42 layers local with a 4096 window
    short = estimate_memory(gem, g, context_tokens=4096)
    long = estimate_memory(gem, g, context_tokens=8192)
    per_layer_block = 16 * short.kv_bytes_per_token // 42
    assert long.seq_kv_bytes == (21 * 512 + 21 * 257) * per_layer_block


def test_int4_counts_group_scales_and_keeps_embeddings_in_16_bits():
    g = load_catalog().get("rtx-4090")
    a = get_model("llama-3-8b")
    e = estimate_memory(a, g, precision="int4")
    emb = 128256 * 4096 * 2 * 2  # embedding + untied LM head in 16 bits
    linear = a.params - 128256 * 4096 * 2 - (32 * 2 + 1) * 4096
    expected = emb + linear * 4 / 8 + linear / 128 * 20 / 8 + (32 * 2 + 1) * 4096 * 2
    assert e.per_device.weights_bytes == pytest.approx(expected, rel=1e-6)
    assert e.per_device.weights_bytes > 0

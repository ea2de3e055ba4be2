"""The engine profile: vLLM version families and their rules, `planner estimate`'s vLLM flags and start-up lines.

Expected figures come from vLLM's code and logs (tests/data/vllm_logs.yaml names each URL); see planner/estimate/engine.py.
"""

from __future__ import annotations

import json

import pytest

from planner.errors import InputError
from planner.estimate.engine import DEFAULT_VLLM_VERSION, EngineProfile, batched_tokens, num_seqs, parse_version, rules_for
from planner.estimate.memory import estimate_memory
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model
from planner.units import GIB

CAT = load_catalog()


@pytest.mark.parametrize("version,core,family,graphs", [
    ("0.2.4", "auto", "v0-device", False),  # PR #2031: total - free after profiling
    ("0.6.3", "auto", "v0-device", False),
    ("0.6.4", "auto", "v0-profile", False),  # PR #9352 / #10511 memory_profiling
    ("0.10.1", "v0", "v0-profile", False),
    ("0.7.3", "v1", "v1-device", False),  # V1 before PR #19312 counts device-wide non-torch memory
    ("0.9.1", "auto", "v1-device", False),
    ("0.9.2", "auto", "v1-profile", False),  # PR #19312
    ("0.19.0", "auto", "v1-profile", False),  # v0.19.0 logs: KV = requested - non_kv exactly
    ("0.21.0", "auto", "v1-profile", True),  # "CUDA graph memory profiling is enabled (default since v0.21.0)"
])
def test_version_families(version: str, core: str, family: str, graphs: bool) -> None:
    r = rules_for(EngineProfile(version=version, core=core))
    assert (r.family, r.budgets_cuda_graphs) == (family, graphs)


def test_enforce_eager_takes_graphs_out_and_default_version_budgets_them() -> None:
    a, g = get_model("llama-3.1-8b"), CAT.get("h100-sxm")
    default = estimate_memory(a, g)
    eager = estimate_memory(a, g, engine=EngineProfile(enforce_eager=True))
    assert default.engine.version == DEFAULT_VLLM_VERSION and default.per_device.cuda_graph_bytes > 0
    assert eager.per_device.cuda_graph_bytes == 0
    assert eager.kv_cache_tokens > default.kv_cache_tokens


def test_defaults_by_gpu_memory_and_usage() -> None:
    """PR #12369 / #17073 / #17885 / #16158: large non-A100 GPUs 8192 tokens (serve) / 16384 (LLM class), 1024 seqs."""
    h100, a100, r4090 = CAT.get("h100-sxm"), CAT.get("a100-80gb-sxm"), CAT.get("rtx-4090")
    serve, offline = EngineProfile(), EngineProfile(usage="offline")
    assert (batched_tokens(serve, h100, 4096), num_seqs(serve, h100)) == (8192, 1024)
    assert (batched_tokens(offline, h100, 4096), batched_tokens(serve, a100, 4096)) == (16384, 2048)
    assert (batched_tokens(serve, r4090, 4096), num_seqs(serve, r4090)) == (2048, 256)
    v0 = EngineProfile(version="0.6.4")
    assert batched_tokens(v0, r4090, 20000) == 20000  # no chunked prefill below 32K: T = max_model_len
    assert batched_tokens(v0, r4090, 35000) == 512  # the OpenAI server chunks above 32K (before 0.6.5: 512)


def test_mla_cache_by_version() -> None:
    """DeepSeek-V2-Lite on an H100: V0 before MLA 432 KiB/token (PR #10927), V0 MLA pads 576 -> 640, V1 576 x 2 B."""
    a, g = get_model("deepseek-v2-lite"), CAT.get("h100-sxm")
    per_token = {v: estimate_memory(a, g, engine=EngineProfile(version=v, core=c)).kv_bytes_per_token
                 for v, c in (("0.6.4", "v0"), ("0.8.5", "v0"), ("0.19.0", "v1"))}
    assert per_token == {"0.6.4": 27 * 2 * 16 * 256 * 2, "0.8.5": 27 * 640 * 2, "0.19.0": 27 * 576 * 2}


def test_sampler_rows_grow_the_activation_peak() -> None:
    a, g = get_model("qwen2.5-7b"), CAT.get("rtx-4090")
    e256 = estimate_memory(a, g, max_num_seqs=256)
    e578 = estimate_memory(a, g, max_num_seqs=578)
    assert e578.max_num_seqs == 578 and e578.per_device.activation_bytes > e256.per_device.activation_bytes


def test_fixed_kv_cache_memory() -> None:
    a, g = get_model("llama-3.1-8b"), CAT.get("h100-sxm")
    e = estimate_memory(a, g, engine=EngineProfile(kv_cache_memory_bytes=10 * GIB))
    assert e.per_device.kv_cache_bytes <= 10 * GIB and e.kv_cache_tokens == 10 * GIB // (128 * 1024)


def test_bad_profile_values() -> None:
    with pytest.raises(InputError):
        parse_version("latest")
    with pytest.raises(InputError):
        EngineProfile(version="0.12.0", core="v0")
    with pytest.raises(InputError):
        EngineProfile(block_size=24)


def test_glm4_on_3090_vllm_refuses_its_default_context(run_cli) -> None:
    """Regression (issue 13): vLLM defaults max_model_len to GLM-4-9B-Chat's 131,072 tokens and refuses to start on a
    24 GB RTX 3090; the estimate says so in vLLM's words and names the largest context that starts."""
    code, out, _ = run_cli("estimate", "glm-4-9b-chat", "--gpu", "rtx-3090")
    assert code == 1  # does not fit: exit 1 like an infeasible plan, after the figures
    assert "DOES NOT FIT" in out and "max seq len (131072)" in out
    assert "Estimated maximum model length is" in out and "--max-model-len" in out
    code, js, _ = run_cli("estimate", "glm-4-9b-chat", "--gpu", "rtx-3090", "--format", "json")
    d = json.loads(js)
    assert d["context_tokens"] == 131072 and not d["fits"] and 0 < d["largest_context"] < 131072
    code, js, _ = run_cli("estimate", "glm-4-9b-chat", "--gpu", "rtx-3090", "--max-model-len", str(d["largest_context"]),
                          "--format", "json")
    assert json.loads(js)["fits"]


def test_estimate_json_carries_vllms_numbers(run_cli) -> None:
    code, js, _ = run_cli("estimate", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "h100-sxm", "--vllm-version", "0.19.0",
                          "--max-model-len", "8192", "--gpu-memory-utilization", "0.95", "--format", "json")
    assert code == 0
    d = json.loads(js)
    pd = d["per_device"]
    for key in ("weights_bytes", "activation_peak_bytes", "non_torch_bytes", "cuda_graph_bytes", "kv_cache_bytes"):
        assert isinstance(pd[key], int)
    assert pd["cuda_graph_bytes"] == 0  # 0.19.0 does not budget graphs
    assert d["fits"] and d["kv_cache_tokens"] > 0
    assert f"GPU KV cache size: {d['kv_cache_tokens']:,} tokens" in d["vllm_log"]
    # llm-d v0.19.0 log of this setup: 1,096,000 tokens (tests/data/vllm_logs.yaml)
    assert abs(d["kv_cache_tokens"] - 1_096_000) / 1_096_000 < 0.01


def test_vllm_flag_aliases(run_cli) -> None:
    code, js, _ = run_cli("estimate", "qwen2.5-7b", "--gpu", "rtx-4090", "--tensor-parallel-size", "2",
                          "--quantization", "awq", "--kv-cache-dtype", "fp8_e4m3", "--max-num-seqs", "64",
                          "--enforce-eager", "--block-size", "32", "--format", "json")
    assert code == 0
    d = json.loads(js)
    assert (d["tp"], d["precision"], d["kv_cache_dtype"]) == (2, "int4", "fp8")
    assert d["engine"]["max_num_seqs"] == 64 and d["engine"]["block_size"] == 32 and d["engine"]["enforce_eager"]


def test_any_tp_a_machine_holds(run_cli) -> None:
    """Users own 4 x A10 boxes: the catalog's A10 offers stop at 2 GPUs, the estimate still takes TP=4."""
    code, js, _ = run_cli("estimate", "llama-3.1-8b", "--gpu", "a10", "--tp", "4", "--max-model-len", "8192",
                          "--format", "json")
    assert code == 0 and json.loads(js)["tp"] == 4


def test_official_quantized_checkpoints() -> None:
    """Llama-3.1-405B-Instruct-FP8 keeps attention in BF16: vLLM 0.5.3 logged 57.75 GiB per GPU at TP8 (issue #6746).
    Qwen2.5-72B AWQ pads its MLP to 29,696 so TP8 holds whole 128-groups."""
    g = CAT.get("h100-sxm")
    fp8 = estimate_memory(get_model("meta-llama/Llama-3.1-405B-Instruct-FP8"), g, tp=8, precision="fp8")
    assert abs(fp8.per_device.weights_bytes / GIB - 57.752) / 57.752 <= 0.02
    awq = get_model("Qwen/Qwen2.5-72B-Instruct-AWQ")
    assert awq.intermediate_size == 29696
    assert estimate_memory(awq, g, tp=8, precision="int4").reason is None
    assert get_model("deepseek-ai/DeepSeek-R1").quantization["quant_method"] == "fp8"


def test_capacity_above_the_default_max_num_seqs_budgets_its_sampler() -> None:
    """A replica launched with --max-num-seqs N above vLLM's default must hold N sequences with a sampler of N rows."""
    from planner.estimate.memory import estimate_at_own_capacity

    a, g = get_model("llama-3.2-1b"), CAT.get("rtx-4090")
    plain = estimate_memory(a, g, context_tokens=2048)
    own = estimate_at_own_capacity(a, g, context_tokens=2048)
    assert plain.max_concurrency > plain.max_num_seqs  # the default (256) would cap it
    assert own.max_concurrency >= own.max_num_seqs > plain.max_num_seqs
    assert own.per_device.activation_bytes > plain.per_device.activation_bytes

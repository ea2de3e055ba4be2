"""A user's vLLM start-up log, read for `planner calibrate --vllm-log`: the setup and the memory figures vLLM printed.

The lines differ by version family (planner/estimate/engine.py; examples from the public logs of
tests/data/vllm_logs.yaml):

    V0 <= 0.6.3     "Loading model weights took 14.9888 GB", "# GPU blocks: 1952, # CPU blocks: 2048"
    V0 0.6.4        "Memory profiling results: total_gpu_memory=23.58GiB ... peak_torch_memory=17.06GiB ...
                     non_torch_memory=0.35GiB kv_cache_size=3.81GiB gpu_memory_utilization=0.90"
    V0 0.6.5-0.10   "model weights take 5.20GiB; non_torch_memory takes 0.03GiB; PyTorch activation peak memory
                     takes 1.42GiB; the rest of the memory reserved for KV Cache is -1.05GiB."
    V1              "Model loading took 7.6785 GiB", "Available KV cache memory: 18.38 GiB",
                    "GPU KV cache size: 178,880 tokens", (DEBUG, >= 0.9.2) "torch peak memory increase: 1.93GiB;
                     non-torch forward increase memory: 0.26GiB; weights memory: 29.43GiB"
    >= 0.21         "Estimated CUDA graph memory: 6.24 GiB total"

'GB' in old logs is GiB (vLLM divides by 2**30). The setup comes from the engine's config line ("Initializing an
LLM engine (v0.6.4) with config: model='...', ..., max_seq_len=20000, tensor_parallel_size=1, ...") or the command
line (`vllm serve MODEL --tensor-parallel-size 2 ...`); what a log does not say is left None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from planner.errors import InputError
from planner.inputs.files import read_bytes

MAX_LOG_BYTES = 64 * 2**20  # a start-up log with DEBUG lines of a long run; larger is not one log

_NUM = r"(-?\d+(?:\.\d+)?)"


def _pats(*ps: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in ps)


# each field: patterns tried in order; the first match in the log (the last for figures vLLM prints per rank: the
# log's last report is the one the engine started with)
PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "version": _pats(r"vLLM API server version v?(\d+\.\d+(?:\.\d+)?)", r"LLM engine \(v(\d+\.\d+(?:\.\d+)?)",
                     r"vllm[ _-]?version[:= ]+v?(\d+\.\d+(?:\.\d+)?)", r"\bvLLM v(\d+\.\d+\.\d+)"),
    "model": _pats(r"\bmodel='([^']+)'", r"['\"]model['\"]: ['\"]([^'\"]+)['\"]", r"vllm serve (?!-)(\S+)",
                   r"--model[ =](\S+)"),
    "tp": _pats(r"tensor_parallel_size[=:'\" ]+(\d+)", r"--tensor[-_]parallel(?:[-_]size)?[ =](\d+)", r"\s-tp (\d+)"),
    "pp": _pats(r"pipeline_parallel_size[=:'\" ]+(\d+)", r"--pipeline[-_]parallel(?:[-_]size)?[ =](\d+)",
                r"\s-pp (\d+)"),
    "max_model_len": _pats(r"max_seq_len=(\d+)", r"max_model_len[=:'\" ]+(\d+)", r"--max[-_]model[-_]len[ =](\d+)",
                           r"Maximum concurrency for ([\d,]+) tokens per request"),  # vLLM prints max_model_len there
    "gpu_memory_utilization": _pats(r"gpu_memory_utilization[=:'\" (]+(\d?\.\d+)",
                                    r"--gpu[-_]memory[-_]utilization[ =](\d?\.\d+)"),
    "total_gpu_memory_gib": _pats(r"total_gpu_memory[=( ]+\(?" + _NUM + r" ?GiB"),
    "weights_gib": _pats(r"Loading model weights took " + _NUM + r" ?GB", r"Model loading took " + _NUM + r" ?Gi?B",
                         r"model weights take " + _NUM + r" ?GiB", r"weights memory: " + _NUM + r" ?GiB"),
    "activation_peak_gib": _pats(r"PyTorch activation peak memory takes " + _NUM + r" ?GiB",
                                 r"torch peak memory increase: " + _NUM + r" ?GiB"),
    "peak_torch_gib": _pats(r"peak_torch_memory=" + _NUM + r" ?GiB"),
    "non_torch_gib": _pats(r"non_torch_memory takes " + _NUM + r" ?GiB", r"non_torch_memory=" + _NUM + r" ?GiB",
                           r"non-torch forward increase memory: " + _NUM + r" ?GiB"),
    "kv_cache_gib": _pats(r"reserved for KV Cache is " + _NUM + r" ?GiB", r"kv_cache_size=" + _NUM + r" ?GiB",
                          r"Available KV cache memory: " + _NUM + r" ?GiB"),
    "kv_tokens": _pats(r"GPU KV cache size: ([\d,]+) tokens"),
    "gpu_blocks": _pats(r"# (?:GPU|cuda) blocks: (\d+)", r"num_gpu_blocks['\": =]+(\d+)"),
    "block_size": _pats(r"\bblock_size[=:'\" ]+(\d+)", r"--block[-_]size[ =](\d+)"),
    "max_num_seqs": _pats(r"Defaulting max_num_seqs to (\d+)", r"\bmax_num_seqs[=:'\" ]+(\d+)",
                          r"--max[-_]num[-_]seqs[ =](\d+)"),
    "max_num_batched_tokens": _pats(r"Defaulting max_num_batched_tokens to (\d+)",
                                    r"\bmax_num_batched_tokens[=:'\" ]+(\d+)",
                                    r"--max[-_]num[-_]batched[-_]tokens[ =](\d+)"),
    "cuda_graph_gib": _pats(r"Estimated CUDA graph memory: " + _NUM + r" ?GiB"),
    "dtype": _pats(r"\bdtype=torch\.(\w+)", r"--dtype[ =](\w+)"),
    "quantization": _pats(r"\bquantization=(\w+)", r"--quantization[ =](\w+)", r"\s-q (\w+)"),
    "kv_cache_dtype": _pats(r"\bkv_cache_dtype=(\w+)", r"--kv[-_]cache[-_]dtype[ =](\w+)"),
}
LAST = ("weights_gib", "activation_peak_gib", "peak_torch_gib", "non_torch_gib", "kv_cache_gib", "kv_tokens",
        "gpu_blocks", "cuda_graph_gib")
MEMORY_FIGURES = ("weights_gib", "activation_peak_gib", "non_torch_gib", "kv_cache_gib", "kv_tokens", "gpu_blocks")


@dataclass(frozen=True)
class VllmLog:
    """What one start-up log says. Figures per device, GiB = 2**30 bytes; None: not in the log."""

    path: str
    version: str | None
    core: str  # "v0" (block lines / profiling results), "v1" (V1 engine lines) or "auto"
    model: str | None
    tp: int | None
    pp: int | None
    max_model_len: int | None
    gpu_memory_utilization: float | None
    total_gpu_memory_gib: float | None
    weights_gib: float | None
    activation_peak_gib: float | None
    non_torch_gib: float | None
    kv_cache_gib: float | None
    kv_tokens: int | None  # "GPU KV cache size", else GPU blocks x block size
    block_size: int | None
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    enforce_eager: bool
    cuda_graph_gib: float | None
    dtype: str | None
    quantization: str | None
    kv_cache_dtype: str | None


def _find(text: str, field: str) -> str | None:
    for pat in PATTERNS[field]:
        hits = pat.findall(text)
        if hits:
            return str(hits[-1] if field in LAST else hits[0])
    return None


def _int(v: str | None) -> int | None:
    return None if v is None else int(v.replace(",", ""))


def _float(v: str | None) -> float | None:
    return None if v is None else float(v)


def parse_vllm_log(text: str, path: str = "<log>") -> VllmLog:
    """The setup and memory figures of one log's text; InputError when it has no memory line vLLM prints."""
    f = {k: _find(text, k) for k in PATTERNS}
    if not any(f[k] for k in MEMORY_FIGURES):
        raise InputError(f"{path}: no vLLM start-up memory lines (such as 'Available KV cache memory: ... GiB', "
                         "'# GPU blocks: ...' or 'model weights take ...GiB'); give the log of a vLLM start-up")
    weights, act = _float(f["weights_gib"]), _float(f["activation_peak_gib"])
    if act is None and f["peak_torch_gib"] is not None and weights is not None:  # 0.6.4: the peak includes weights
        act = round(float(f["peak_torch_gib"]) - weights, 4)
    block = _int(f["block_size"])
    tokens = _int(f["kv_tokens"])
    if tokens is None and f["gpu_blocks"] is not None:
        tokens = int(f["gpu_blocks"]) * (block or 16)
    v1 = re.search(r"V1 LLM engine|EngineCore|Available KV cache memory|GPU KV cache size", text) is not None
    v0 = re.search(r"# (?:GPU|cuda) blocks:|Memory profiling results:|the rest of the memory reserved", text) is not None
    quant = f["quantization"]
    return VllmLog(
        path=path, version=f["version"], core="v1" if v1 and not v0 else "v0" if v0 and not v1 else "auto",
        model=f["model"], tp=_int(f["tp"]), pp=_int(f["pp"]), max_model_len=_int(f["max_model_len"]),
        gpu_memory_utilization=_float(f["gpu_memory_utilization"]), total_gpu_memory_gib=_float(f["total_gpu_memory_gib"]),
        weights_gib=weights, activation_peak_gib=act, non_torch_gib=_float(f["non_torch_gib"]),
        kv_cache_gib=_float(f["kv_cache_gib"]), kv_tokens=tokens, block_size=block, max_num_seqs=_int(f["max_num_seqs"]),
        max_num_batched_tokens=_int(f["max_num_batched_tokens"]),
        enforce_eager=re.search(r"enforce_eager=True|--enforce[-_]eager\b", text) is not None,
        cuda_graph_gib=_float(f["cuda_graph_gib"]), dtype=f["dtype"],
        quantization=None if quant is None or quant.lower() == "none" else quant.lower(),
        kv_cache_dtype=f["kv_cache_dtype"],
    )


def read_vllm_log(path: str | Path) -> VllmLog:
    """A log file (regular file, at most MAX_LOG_BYTES, text in any encoding; undecodable bytes replaced)."""
    raw = read_bytes(path, "vLLM log", MAX_LOG_BYTES)
    if b"\x00" in raw:
        raise InputError(f"{path}: binary data, expected a vLLM start-up log (text)")
    return parse_vllm_log(raw.decode("utf-8", errors="replace"), str(path))

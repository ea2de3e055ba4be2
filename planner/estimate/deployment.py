"""One deployment, estimated end to end: memory per device, speed at a batch, SLO-limited capacity, and price.

``estimate_deployment`` is what `planner estimate` prints and what the candidate generator builds on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from planner.estimate.engine import EngineProfile
from planner.estimate.memory import MemoryEstimate, estimate_memory
from planner.estimate.rules_of_thumb import seed_estimates
from planner.estimate.speed import PerfConstants, constants_for, load_calibration, max_batch_for_slo, serving_point
from planner.inputs.architectures import ModelArch
from planner.inputs.catalog import GPU
from planner.inputs.pricing import Owned, cheapest_usd_per_gpu_hour
from planner.units import GIB, TP_SIZES

# vLLM's swap space per GPU for the "# CPU blocks" line of V0 logs: CacheConfig swap_space default 4 GiB.
SWAP_SPACE_BYTES = 4 * GIB


@dataclass(frozen=True)
class DeploymentEstimate:
    memory: MemoryEstimate
    batch: int
    input_tokens: int
    output_tokens: int
    decode_ms_per_token: float | None
    ttft_ms: float | None
    tokens_per_s_per_stream: float | None
    tokens_per_s: float | None
    max_concurrency_slo: int | None
    capacity: int  # sequences per replica the planner may load it with: min(memory, SLO)
    bound: str | None  # "memory" or "slo": which one sets the capacity
    usd_per_hour: float | None  # one replica, cheapest offer that holds its TP group
    usd_per_million_tokens: float | None
    perf_constants: PerfConstants | None
    seed: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        m = self.memory.to_dict()
        out: dict[str, Any] = {
            "model": m["model"], "params": m["params"], "precision": m["precision"], "kv_cache_dtype": m["kv_cache_dtype"],
            "gpu": m["gpu"], "tp": m["tp"], "pp": m["pp"], "gpus": m["gpus"], "context_tokens": m["context_tokens"],
            "concurrency": m["concurrency"], "gpu_memory_utilization": m["gpu_memory_utilization"],
            "max_batched_tokens": m["max_batched_tokens"], "per_device": m["per_device"],
            "weights_total_bytes": m["weights_total_bytes"], "kv_bytes_per_token": m["kv_bytes_per_token"],
            "kv_cache_tokens": m["kv_cache_tokens"], "max_concurrency": m["max_concurrency"], "fits": m["fits"],
            "reason": m["reason"], "vllm_error": m["vllm_error"], "largest_context": m["largest_context"],
            "engine": m["engine"], "vllm_log": vllm_startup_lines(self.memory),
            "batch": self.batch, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "decode_ms_per_token": _r(self.decode_ms_per_token, 3), "ttft_ms": _r(self.ttft_ms, 2),
            "tokens_per_s_per_stream": _r(self.tokens_per_s_per_stream, 2), "tokens_per_s": _r(self.tokens_per_s, 1),
            "max_concurrency_slo": self.max_concurrency_slo, "capacity": self.capacity, "bound": self.bound,
            "usd_per_hour": _r(self.usd_per_hour, 4), "usd_per_million_tokens": _r(self.usd_per_million_tokens, 4),
            "seed_estimates_bytes": self.seed,
        }
        if self.perf_constants is not None:
            out["perf_constants"] = asdict(self.perf_constants)
        return out


def _r(x: float | None, n: int) -> float | None:
    return None if x is None else round(x, n)


def estimate_deployment(
    arch: ModelArch, gpu: GPU, *, tp: int = 1, pp: int = 1, precision: str = "bf16", kv_cache_dtype: str = "auto",
    context_tokens: int = 4096, concurrency: int = 1, gpu_memory_utilization: float = 0.9,
    max_batched_tokens: int | None = None, batch: int | None = None, input_tokens: int | None = None,
    output_tokens: int | None = None, min_tokens_per_s: float | None = None, max_ttft_ms: float | None = None,
    pricing: str = "on_demand", owned: Owned | None = None, calibration: dict[str, PerfConstants] | None = None,
    providers: tuple[str, ...] | None = None, engine: EngineProfile | None = None,
) -> DeploymentEstimate:
    """Memory, speed and price of one replica (see memory.py and speed.py for the formulas)."""
    mem = estimate_memory(arch, gpu, tp=tp, pp=pp, precision=precision, kv_cache_dtype=kv_cache_dtype,
                          context_tokens=context_tokens, concurrency=concurrency,
                          gpu_memory_utilization=gpu_memory_utilization, max_batched_tokens=max_batched_tokens,
                          engine=engine)
    seed = seed_estimates(arch.params, mem.precision)
    inp = input_tokens or max(1, context_tokens // 2)
    out = output_tokens or max(1, context_tokens - inp)
    b = batch or 1
    owned = owned or Owned()
    per_gpu = cheapest_usd_per_gpu_hour(gpu, pricing, owned, group=tp, providers=providers)
    usd = per_gpu * tp * pp if per_gpu is not None else None
    if mem.reason and mem.max_concurrency == 0:
        return DeploymentEstimate(mem, b, inp, out, None, None, None, None, None, 0, None, usd, None, None, seed)
    cal = calibration or load_calibration()
    c = constants_for(gpu, cal)
    sp = serving_point(arch, gpu, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp, batch=b,
                       input_tokens=inp, output_tokens=out)
    slo_cap = max_batch_for_slo(arch, gpu, c, precision=mem.precision, kv_cache_dtype=mem.kv_cache_dtype, tp=tp, pp=pp,
                                input_tokens=inp, output_tokens=out, upper=mem.max_concurrency,
                                min_tokens_per_s=min_tokens_per_s, max_ttft_ms=max_ttft_ms)
    has_slo = min_tokens_per_s is not None or max_ttft_ms is not None
    capacity = min(mem.max_concurrency, slo_cap)
    bound = "slo" if has_slo and slo_cap < mem.max_concurrency else "memory"
    umt = usd / (sp.tokens_per_s * 3600) * 1e6 if usd is not None and sp.tokens_per_s > 0 else None
    return DeploymentEstimate(
        memory=mem, batch=b, input_tokens=inp, output_tokens=out, decode_ms_per_token=sp.decode_ms_per_token,
        ttft_ms=sp.ttft_ms, tokens_per_s_per_stream=sp.tokens_per_s_per_stream, tokens_per_s=sp.tokens_per_s,
        max_concurrency_slo=slo_cap if has_slo else None, capacity=capacity, bound=bound, usd_per_hour=usd,
        usd_per_million_tokens=umt, perf_constants=c, seed=seed,
    )


def vllm_startup_lines(m: MemoryEstimate) -> list[str]:
    """The memory lines vLLM prints at start-up for this setup, in the format of the engine's version family
    (V0 worker.py / executor_base.py; V1 gpu_worker.py / kv_cache_utils.py; formats quoted in tests/data/vllm_logs.yaml),
    or its error when it would refuse to start."""
    d = m.per_device
    w, kv = d.weights_bytes / GIB, d.kv_cache_bytes / GIB
    block_bytes = m.kv_bytes_per_token * m.block_size
    blocks = d.kv_cache_bytes // block_bytes if block_bytes else 0
    conc = m.kv_cache_tokens / m.context_tokens if m.context_tokens else 0.0
    conc_line = f"Maximum concurrency for {m.context_tokens:,} tokens per request: {conc:.2f}x"
    if m.family.startswith("v1"):  # V1 checks the KV cache against max_model_len before it logs the size
        avail = f"Available KV cache memory: {kv:.2f} GiB"
        if m.engine.kv_cache_memory_bytes:  # v0.26 wording (vLLM issue #49878)
            avail = (f"Initial free memory {d.total_bytes / GIB:.2f} GiB, reserved {kv:.1f} GiB memory for KV Cache as "
                     "specified by kv_cache_memory_bytes config and skipped memory profiling. This does not respect the "
                     "gpu_memory_utilization config.")
        lines = [f"Model loading took {w:.4f} GiB", avail]
        if not m.vllm_error:
            lines += [f"GPU KV cache size: {m.kv_cache_tokens:,} tokens", conc_line]
    elif m.family == "v0-profile":
        usable = d.usable_bytes / GIB
        lines = [f"Loading model weights took {w:.4f} GB",
                 f"the current vLLM instance can use total_gpu_memory ({d.total_bytes / GIB:.2f}GiB) x "
                 f"gpu_memory_utilization ({m.gpu_memory_utilization:.2f}) = {usable:.2f}GiB",
                 f"model weights take {w:.2f}GiB; non_torch_memory takes {d.non_torch_bytes / GIB:.2f}GiB; PyTorch "
                 f"activation peak memory takes {d.activation_bytes / GIB:.2f}GiB; the rest of the memory reserved for "
                 f"KV Cache is {kv:.2f}GiB.",
                 f"# cuda blocks: {blocks}, # CPU blocks: {SWAP_SPACE_BYTES // block_bytes if block_bytes else 0}", conc_line]
    else:
        lines = [f"Loading model weights took {w:.4f} GB",
                 f"# GPU blocks: {blocks}, # CPU blocks: {SWAP_SPACE_BYTES // block_bytes if block_bytes else 0}"]
    if m.vllm_error:
        lines.append(m.vllm_error)
    return lines


def splits(gpu: GPU, max_pp: int = 16) -> list[tuple[int, int]]:
    """(TP, PP) pairs by GPU count, TP before PP: TP a power of two within one machine, PP up to ``max_pp``."""
    tps = [t for t in TP_SIZES if t <= gpu.max_gpus_per_node]
    return sorted(((t, p) for t in tps for p in range(1, max_pp + 1)), key=lambda s: (s[0] * s[1], -s[0]))


def smallest_fit(arch: ModelArch, gpu: GPU, **kw: Any) -> DeploymentEstimate:
    """The split with the fewest GPUs (TP before PP) whose replica fits; the largest tried when none does."""
    last = None
    for tp, pp in splits(gpu):
        if arch.num_heads % tp or pp > arch.num_layers:
            continue
        e = estimate_deployment(arch, gpu, tp=tp, pp=pp, **kw)
        if e.memory.fits:
            return e
        if last is None or e.memory.reason is None or "exceed" in (e.memory.reason or "") or last.memory.gpus < e.memory.gpus:
            last = e
    assert last is not None
    return last

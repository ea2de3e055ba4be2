"""Memory on each device of a deployment (model x GPU type x TP x PP), the way vLLM budgets it.

vLLM's budget on every device (identity that holds in its logs, docs/sources.md: vllm-memory-logs):

    usable   = total_memory x gpu_memory_utilization
    kv_cache = usable - weights - activation_peak - non_torch - cuda_graphs   (whole 16-token blocks)

From the KV cache follow the tokens a replica can hold and the sequences that fit at a context length.
Everything is in bytes (ints); GiB = 2**30 (what vLLM prints as "GB" in older logs is GiB).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from planner.errors import InputError, not_one_of
from planner.inputs.architectures import VOCAB_PADDING, ModelArch
from planner.units import GIB, KV_CACHE_DTYPES, PRECISIONS, WEIGHT_BITS

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU

# ---- precisions -------------------------------------------------------------------------------------------------
# INT4 (AWQ/GPTQ) stores, per group of 128 input weights, one fp16 scale and one 4-bit zero point:
# 4 + (16 + 4) / 128 = 4.156 bits per weight (docs/sources.md: int4-group-overhead: "about 4.25 bits"
# including tensor padding).
INT4_GROUP_SIZE = 128
INT4_GROUP_OVERHEAD_BITS = 16 + 4
# INT8/FP8 scales are per tensor or per output channel: < 0.1 % of the weight bytes, not counted.

BLOCK_TOKENS = 16  # vLLM's default KV block size (tokens per block)

# ---- runtime constants, each from a measurement ---------------------------------------------------------------
# non_torch memory (CUDA/cuBLAS workspaces, NCCL) as vLLM >= 0.6.5 reports it. At TP=1 the logged values are
# 0.16, 0.16, 0.20 and 1.79 GiB (docs/sources.md vllm-memory-logs: mellea PR #416, vLLM PR #12126, PR #14447, PR #10511 - the
# last flagged there as unusually large for a dev build): the median 0.2 GiB is used.
NON_TORCH_TP1_BYTES = int(0.2 * GIB)
# Tensor/pipeline parallel engines add NCCL and custom all-reduce buffers: 0.34-0.43 GiB per rank in total at TP=4
# over PCIe (vLLM issue #16570), +1.79 GiB at TP=2 on an H100 in the dev build of PR #10511. PCIe: 0.4 GiB total;
# NVLink (custom all-reduce IPC buffers are registered): 0.8 GiB total.
NON_TORCH_PCIE_PARALLEL_BYTES = int(0.4 * GIB)
NON_TORCH_NVLINK_PARALLEL_BYTES = int(0.8 * GIB)
# CUDA graphs: V1 engines keep the captured graphs' memory pool inside the budget. Measured pools: 0.13 GiB for
# Qwen3-0.6B (mellea PR #416, docs/sources.md: vllm-memory-logs) and 0.49 and 1.32 GiB for two larger checkpoints (a public
# deployment note found by code search); 0.5 GiB is used. With it, public V1 logs of Qwen3-8B at utilization 0.92
# (89,040 KV tokens on an RTX 5090) are matched within 4 %, and the V0 logs of vllm-memory-logs stay within 3 %.
CUDA_GRAPH_BYTES = int(0.5 * GIB)
# Activation peak of the profiling run: the MLP phase of one layer holds gate/up output (2 x I/tp), the activated
# product (I/tp) and two hidden-size buffers per batched token. Scaled by 1.6, the factor that matches the two
# text-only logs: Llama-3-8B at 8192 tokens 1.26 GiB (vLLM PR #10511) and Qwen3-0.6B 0.23 GiB (mellea PR #416).
ACTIVATION_SCALE = 1.6
# Sampler phase: fp32 logits for max_num_seqs rows of the vocabulary plus one fp32 copy (softmax/logprobs).
LOGITS_COPIES = 2


def default_max_batched_tokens(gpu: GPU) -> int:
    """vLLM V1 `vllm serve` default max_num_batched_tokens: 8192 on >= 70 GiB GPUs other than A100, else 2048.

    Source: vllm/engine/arg_utils.py ``get_batch_defaults`` (PR #17885 keeps A100 at the lower value).
    """
    return 8192 if gpu.memory_gib >= 70 and "a100" not in gpu.id else 2048


def default_max_num_seqs(gpu: GPU) -> int:
    """vLLM V1 `vllm serve` default max_num_seqs: 1024 on >= 70 GiB GPUs other than A100, else 256 (same source)."""
    return 1024 if gpu.memory_gib >= 70 and "a100" not in gpu.id else 256


def check_precision(precision: str) -> str:
    p = str(precision).lower()
    if p not in PRECISIONS:
        raise InputError(not_one_of("precision ", precision, PRECISIONS))
    return p


def check_kv_dtype(kv: str) -> str:
    k = str(kv).lower()
    if k not in KV_CACHE_DTYPES:
        raise InputError(not_one_of("kv_cache_dtype ", kv, KV_CACHE_DTYPES))
    return k


def checkpoint_precision(arch: ModelArch) -> str | None:
    """The weight format a local checkpoint's quantization_config declares (AWQ/GPTQ bits, FP8, bitsandbytes)."""
    q = arch.quantization or {}
    method = str(q.get("quant_method", "")).lower()
    bits = q.get("bits") or q.get("w_bit")
    if method in ("awq", "gptq", "awq_marlin", "gptq_marlin", "marlin") and bits in (4, 8):
        return "int4" if bits == 4 else "int8"
    if method in ("fp8", "fbgemm_fp8") or "fp8" in str(q.get("fmt", "")).lower():
        return "fp8"
    if method == "bitsandbytes":
        return "int4" if q.get("load_in_4bit") else "int8" if q.get("load_in_8bit") else None
    return None


def int4_group_size(arch: ModelArch) -> int:
    """INT4 group size: the checkpoint's group_size when it declares one (-1 = per channel), else 128."""
    g = (arch.quantization or {}).get("group_size")
    if isinstance(g, int) and not isinstance(g, bool) and (g == -1 or g > 0):
        return g
    return INT4_GROUP_SIZE


def exact_weight_ratio(arch: ModelArch, precision: str) -> float:
    """stored bytes / computed bytes when a local checkpoint states its exact size (model.safetensors.index.json) in
    the format being estimated; 1 otherwise. The computed split over devices is kept; the total becomes exact."""
    q = arch.quantization or {}
    total = q.get("safetensors_total_size")
    if not total or (checkpoint_precision(arch) or _dtype_precision(arch)) != precision:
        return 1.0
    computed = weight_bytes_per_device(arch, precision, 1, arch.num_layers, True, True)
    return total / computed if computed else 1.0


def _dtype_precision(arch: ModelArch) -> str:
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(arch.torch_dtype, "bf16")


def default_precision(arch: ModelArch) -> str:
    """What to assume when the user names no precision: the checkpoint's quantization, else bf16."""
    return checkpoint_precision(arch) or "bf16"


def activation_bits(precision: str) -> int:
    """Activations run in fp32 for an fp32 model, else in 16 bits (weight-only and W8A8 schemes compute in 16 bits)."""
    return 32 if precision == "fp32" else 16


def kv_bits(precision: str, kv_cache_dtype: str) -> int:
    """KV element size: ``auto`` follows the activation dtype (vLLM's default), fp8 halves it."""
    if kv_cache_dtype == "auto":
        return activation_bits(precision)
    return {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8}[kv_cache_dtype]


# ---- parallelism rules -------------------------------------------------------------------------------------------

def parallel_problem(arch: ModelArch, gpu: GPU, tp: int, pp: int, precision: str, kv_cache_dtype: str) -> str | None:
    """Why (model, GPU, TP, PP, precision) cannot run, or None. These are vLLM's own start-up checks."""
    if tp < 1 or pp < 1:
        return "TP and PP must be at least 1"
    if precision not in gpu.formats:
        need = "Ada, Hopper or newer" if precision == "fp8" else "a GPU with that format"
        return f"{gpu.id} does not run {precision} natively ({precision} needs {need}); it runs {', '.join(gpu.formats)}"
    if kv_cache_dtype == "fp8" and "fp8" not in gpu.formats:
        return f"{gpu.id} has no native fp8 for the KV cache (needs Ada, Hopper or newer)"
    if arch.num_heads % tp:
        return f"TP={tp} does not divide the {arch.num_heads} attention heads"
    if tp > gpu.max_gpus_per_node:
        return f"TP={tp} exceeds the largest tensor-parallel group one {gpu.id} machine offers ({gpu.max_gpus_per_node})"
    if not arch.is_mla and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
        return f"TP={tp} and the {arch.num_kv_heads} KV heads do not divide one another"
    if arch.is_moe and arch.moe_intermediate_size % tp:
        return f"TP={tp} does not divide the expert width {arch.moe_intermediate_size}"
    if precision == "int4" and tp > 1 and int4_group_size(arch) > 0:  # row-parallel shards hold whole groups
        group = int4_group_size(arch)
        widths = [arch.intermediate_size] if arch.moe_layers < arch.num_layers else []
        widths += [arch.moe_intermediate_size] if arch.is_moe else []
        for w in widths:
            if w and (w // tp) % group:
                return f"INT4 groups of {group} do not align with width {w}/TP={tp} = {w // tp} per rank"
    if pp > arch.num_layers:
        return f"PP={pp} exceeds the {arch.num_layers} layers"
    return None


def stage_layers(num_layers: int, pp: int) -> list[int]:
    """Layers per pipeline stage as vLLM splits them (``get_pp_indices``: the remainder goes to middle stages)."""
    base = num_layers // pp
    parts = [base] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i % pp] += 1
    return parts


# ---- records ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceMemory:
    """One device's budget, in bytes."""

    total_bytes: int
    usable_bytes: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int

    @property
    def free_bytes(self) -> int:
        return self.usable_bytes - self.weights_bytes - self.kv_cache_bytes - self.activation_bytes - self.overhead_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    """Memory of one replica of a deployment. ``per_device`` is the binding (fullest) pipeline stage."""

    model: str
    params: int
    precision: str
    kv_cache_dtype: str
    gpu: str
    tp: int
    pp: int
    context_tokens: int
    concurrency: int
    gpu_memory_utilization: float
    max_batched_tokens: int
    per_device: DeviceMemory
    weights_total_bytes: int  # the whole model, all devices
    kv_bytes_per_token: int  # per device, all layers of the binding stage
    seq_kv_bytes: int  # KV bytes one sequence at context_tokens holds on the binding device (whole blocks)
    kv_cache_tokens: int  # tokens the replica's KV cache holds
    max_concurrency: int  # sequences of context_tokens that fit at once
    fits: bool
    reason: str | None
    fixed_bytes_per_device: int  # weights + activation + overhead: what an engine needs before any KV cache

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gpus"] = self.gpus
        d["per_device"]["free_bytes"] = self.per_device.free_bytes
        return d


# ---- the estimator -----------------------------------------------------------------------------------------------

def weight_bytes_per_device(arch: ModelArch, precision: str, tp: int, layers: int, first: bool, last: bool) -> int:
    """Weight bytes one TP rank holds for a pipeline stage of ``layers`` layers.

    bytes = sum over weight groups of  params_on_rank x bits / 8  (+ INT4 group scales and zero points), where
    params_on_rank = params / TP for column/row-parallel weights, padded_vocab / TP x hidden for embeddings and the
    LM head (vocab padded to a multiple of 64), params x max(1, kv_heads / TP) / kv_heads for K/V projections
    (every rank keeps at least one KV head), and all of it for replicated weights (norms, router, MLA down-projections).
    Embeddings live on the first stage, the LM head and final norm on the last.
    """
    qbits = WEIGHT_BITS[precision]
    plain_bits = 32 if precision == "fp32" else 16
    group = int4_group_size(arch)
    total_bits = 0
    for g in arch.groups:
        if g.per_layer:
            if g.layers == "all":
                n_layers = layers
            else:  # distribute dense / MoE layers over the stage in proportion (exact when PP = 1)
                n_layers = math.ceil(arch.layers_of(g.layers) * layers / arch.num_layers)
            if n_layers == 0:
                continue
        else:
            is_head = g.name in ("lm_head", "output_layer", "norm", "final_layernorm", "ln_f")
            if (is_head and not last) or (not is_head and not first):
                continue
            n_layers = 1
        if g.tp_mode in ("column", "row"):
            each = math.ceil(g.params_each / tp)
        elif g.tp_mode == "vocab":
            padded = math.ceil(arch.vocab_size / VOCAB_PADDING) * VOCAB_PADDING
            each = math.ceil(padded / tp) * (g.params_each // arch.vocab_size)
        elif g.tp_mode == "kv":
            heads = max(1, arch.num_kv_heads // tp)
            each = g.params_each * heads // arch.num_kv_heads
        else:
            each = g.params_each
        n = each * g.count * n_layers
        if g.quantizable and precision != "fp32":
            total_bits += n * qbits
            if precision == "int4":  # one scale and zero point per group (per output channel when group = -1)
                groups = math.ceil(n / group) if group > 0 else math.ceil(n / arch.hidden_size)
                total_bits += groups * INT4_GROUP_OVERHEAD_BITS
        else:
            total_bits += n * plain_bits
    # tied embeddings: on PP > 1 the last stage holds its own copy of the LM head (vLLM allocates it there)
    if arch.tie_word_embeddings and last and not first:
        padded = math.ceil(arch.vocab_size / VOCAB_PADDING) * VOCAB_PADDING
        total_bits += math.ceil(padded / tp) * arch.hidden_size * plain_bits
    return math.ceil(total_bits / 8)


def kv_bytes_per_token_layer(arch: ModelArch, tp: int, bits: int) -> int:
    """KV bytes per token per layer on one TP rank.

    Standard attention: 2 (K and V) x max(1, kv_heads / TP) x head_dim x bits / 8.
    MLA (DeepSeek-V2/V3): (kv_lora_rank + qk_rope_head_dim) x bits / 8, the same on every rank (vLLM does not
    split the latent cache across TP).
    """
    if arch.is_mla:
        return (arch.kv_lora_rank + arch.qk_rope_head_dim) * bits // 8
    heads = max(1, arch.num_kv_heads // tp)
    return 2 * heads * arch.head_dim * bits // 8


def seq_kv_bytes(arch: ModelArch, layers: int, per_layer_token: int, context: int) -> int:
    """KV bytes one sequence of ``context`` tokens holds on a stage of ``layers`` layers, in whole 16-token blocks.

    Sliding-window layers keep at most ceil(window / 16) + 1 blocks (vLLM's hybrid allocator); others ceil(L / 16).
    """
    blocks_full = math.ceil(context / BLOCK_TOKENS)
    sliding = round(arch.sliding_layers * layers / arch.num_layers) if arch.sliding_window else 0
    blocks_swa = min(blocks_full, math.ceil((arch.sliding_window or 0) / BLOCK_TOKENS) + 1) if sliding else 0
    block_bytes = BLOCK_TOKENS * per_layer_token
    return ((layers - sliding) * blocks_full + sliding * blocks_swa) * block_bytes


def activation_bytes(arch: ModelArch, tp: int, precision: str, max_batched_tokens: int, max_num_seqs: int) -> int:
    """Activation peak of vLLM's profiling run on one rank: the larger of the MLP phase and the sampler phase.

        mlp     = 1.6 x T x (3 x I / TP + 2 x h) x act_bytes     (T = max_num_batched_tokens; I = widest MLP)
        sampler = S x V x 4 bytes x 2                             (S = max_num_seqs fp32 logit rows and a copy)
    """
    width = arch.intermediate_size if arch.moe_layers < arch.num_layers else 0
    if arch.is_moe:  # fused MoE holds top-k expert outputs per token
        width = max(width, arch.moe_intermediate_size * arch.experts_per_token)
    ab = activation_bits(precision) // 8
    mlp = ACTIVATION_SCALE * max_batched_tokens * (3 * width / tp + 2 * arch.hidden_size) * ab
    sampler = max_num_seqs * arch.vocab_size * 4 * LOGITS_COPIES
    return int(max(mlp, sampler))


def non_torch_bytes(gpu: GPU, tp: int, pp: int) -> int:
    """Runtime memory on each device: CUDA graphs (0.5 GiB) + non-torch memory (0.2 GiB), plus NCCL and all-reduce
    buffers with TP/PP > 1 (0.4 GiB over PCIe, 0.8 GiB over NVLink)."""
    if tp * pp == 1:
        return CUDA_GRAPH_BYTES + NON_TORCH_TP1_BYTES
    extra = NON_TORCH_NVLINK_PARALLEL_BYTES if gpu.nvlink and tp > 1 else NON_TORCH_PCIE_PARALLEL_BYTES
    return CUDA_GRAPH_BYTES + NON_TORCH_TP1_BYTES + extra


def estimate_memory(
    arch: ModelArch,
    gpu: GPU,
    *,
    tp: int = 1,
    pp: int = 1,
    precision: str = "bf16",
    kv_cache_dtype: str = "auto",
    context_tokens: int = 4096,
    concurrency: int = 1,
    gpu_memory_utilization: float = 0.9,
    max_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
) -> MemoryEstimate:
    """Memory per device and the KV capacity of one replica. Pure: no I/O, no globals."""
    precision = check_precision(precision)
    kv_cache_dtype = check_kv_dtype(kv_cache_dtype)
    T = max_batched_tokens or default_max_batched_tokens(gpu)
    b = _budget(arch, gpu, tp, pp, precision, kv_cache_dtype, gpu_memory_utilization, max_batched_tokens, max_num_seqs)
    total, usable, act, overhead, per_tok_layer = b.total, b.usable, b.activation, b.overhead, b.kv_per_token_layer
    reason = parallel_problem(arch, gpu, tp, pp, precision, kv_cache_dtype)
    if reason is None and context_tokens > arch.max_context:
        reason = f"context {context_tokens} exceeds {arch.id}'s maximum of {arch.max_context} tokens"

    st = _binding_stage(arch, b, context_tokens)
    w, kv_alloc, seq, layers = st.weights, st.kv_alloc, st.seq, st.layers
    weights_total = math.ceil(weight_bytes_per_device(arch, precision, 1, arch.num_layers, True, True) * b.exact)
    if reason is None:
        reason = _no_fit_reason(gpu, b, st, tp, pp, gpu_memory_utilization, context_tokens, concurrency)
    fits = reason is None
    return MemoryEstimate(
        model=arch.id, params=arch.params, precision=precision, kv_cache_dtype=kv_cache_dtype, gpu=gpu.id, tp=tp, pp=pp,
        context_tokens=context_tokens, concurrency=concurrency, gpu_memory_utilization=gpu_memory_utilization,
        max_batched_tokens=T,
        per_device=DeviceMemory(total_bytes=total, usable_bytes=usable, weights_bytes=w, kv_cache_bytes=max(0, kv_alloc),
                                activation_bytes=act, overhead_bytes=overhead),
        weights_total_bytes=weights_total, kv_bytes_per_token=per_tok_layer * layers, seq_kv_bytes=seq,
        kv_cache_tokens=max(0, st.kv_tokens), max_concurrency=max(0, st.sequences_fit), fits=fits, reason=reason,
        fixed_bytes_per_device=w + act + overhead,
    )


@dataclass(frozen=True)
class _Stage:
    """The binding pipeline stage (fewest sequences, then most weights) and the replica's KV capacity."""

    layers: int
    weights: int  # weight bytes per device of the binding stage
    kv_budget: int  # bytes left for the KV cache (may be negative)
    kv_alloc: int  # KV bytes allocated in whole blocks
    seq: int  # KV bytes of one sequence
    kv_tokens: int  # tokens the replica holds: the least over stages
    sequences_fit: int  # sequences of context_tokens that fit: the least over stages


def _binding_stage(arch: ModelArch, b: _Budget, context_tokens: int) -> _Stage:
    binding = None
    kv_tokens = None
    max_conc = None
    for layers, w in b.stages:
        kv_budget = b.usable - w - b.activation - b.overhead
        seq = seq_kv_bytes(arch, layers, b.kv_per_token_layer, context_tokens)
        block_bytes = BLOCK_TOKENS * b.kv_per_token_layer * layers
        blocks = max(0, kv_budget) // block_bytes if block_bytes else 0
        kv_alloc = blocks * block_bytes
        tokens = blocks * BLOCK_TOKENS
        conc = kv_alloc // seq if seq else 0
        key = (conc, -w)
        if binding is None or key < binding[0]:
            binding = (key, w, kv_budget, kv_alloc, seq, layers)
        kv_tokens = tokens if kv_tokens is None else min(kv_tokens, tokens)
        max_conc = conc if max_conc is None else min(max_conc, conc)
    assert binding is not None and kv_tokens is not None and max_conc is not None
    _, w, kv_budget, kv_alloc, seq, layers = binding
    return _Stage(layers=layers, weights=w, kv_budget=kv_budget, kv_alloc=kv_alloc, seq=seq, kv_tokens=kv_tokens,
                  sequences_fit=max_conc)


def _no_fit_reason(gpu: GPU, b: _Budget, st: _Stage, tp: int, pp: int, gpu_memory_utilization: float,
                   context_tokens: int, concurrency: int) -> str | None:
    """Why the memory budget does not hold the asked sequences, or None when it does."""
    w, act, overhead, usable = st.weights, b.activation, b.overhead, b.usable
    if st.kv_budget <= 0:
        return (
            f"weights {w / GIB:.1f} GiB + activations {act / GIB:.1f} + runtime {overhead / GIB:.1f} GiB per device "
            f"exceed the usable {usable / GIB:.1f} GiB ({gpu.memory_gib:g} GiB x {gpu_memory_utilization:g})"
            + (f" across TP={tp} x PP={pp}" if tp * pp > 1 else "")
        )
    if st.sequences_fit == 0:
        return (
            f"KV cache of {st.kv_alloc / GIB:.2f} GiB per device holds {st.kv_tokens} tokens, less than one "
            f"{context_tokens}-token sequence ({st.seq / GIB:.2f} GiB)"
        )
    if st.sequences_fit < concurrency:
        return (
            f"KV cache holds {st.sequences_fit} sequences of {context_tokens} tokens per replica, fewer than the "
            f"{concurrency} asked (add replicas, shorten the context or use a larger GPU)"
        )
    return None


def stage_devices(arch: ModelArch, gpu: GPU, *, tp: int, pp: int, precision: str, kv_cache_dtype: str,
                  gpu_memory_utilization: float, max_batched_tokens: int | None = None,
                  max_num_seqs: int | None = None) -> list[DeviceMemory]:
    """The budget of one device of each pipeline stage (every TP rank of a stage holds the same)."""
    b = _budget(arch, gpu, tp, pp, precision, kv_cache_dtype, gpu_memory_utilization, max_batched_tokens, max_num_seqs)
    out = []
    for layers, w in b.stages:
        block = BLOCK_TOKENS * b.kv_per_token_layer * layers
        kv = (max(0, b.usable - w - b.activation - b.overhead) // block) * block if block else 0
        out.append(DeviceMemory(b.total, b.usable, w, kv, b.activation, b.overhead))
    return out


@dataclass(frozen=True)
class _Budget:
    total: int
    usable: int
    activation: int
    overhead: int
    kv_per_token_layer: int
    exact: float
    stages: tuple[tuple[int, int], ...]  # (layers, weight bytes per device) for each pipeline stage


def _budget(arch: ModelArch, gpu: GPU, tp: int, pp: int, precision: str, kv_cache_dtype: str,
            gpu_memory_utilization: float, max_batched_tokens: int | None, max_num_seqs: int | None) -> _Budget:
    """What every device of a deployment starts from: total and usable memory, activation peak, runtime, KV bytes
    per token and layer, and each pipeline stage's weights (exact when the checkpoint states its size)."""
    T = max_batched_tokens or default_max_batched_tokens(gpu)
    S = max_num_seqs or default_max_num_seqs(gpu)
    total = int(gpu.memory_gib * GIB)
    exact = exact_weight_ratio(arch, precision)
    stages = tuple(
        (layers, math.ceil(weight_bytes_per_device(arch, precision, tp, layers, first=i == 0, last=i == pp - 1) * exact))
        for i, layers in enumerate(stage_layers(arch.num_layers, pp))
    )
    return _Budget(total=total, usable=int(total * gpu_memory_utilization),
                   activation=activation_bytes(arch, tp, precision, T, S), overhead=non_torch_bytes(gpu, tp, pp),
                   kv_per_token_layer=kv_bytes_per_token_layer(arch, tp, kv_bits(precision, kv_cache_dtype)),
                   exact=exact, stages=stages)

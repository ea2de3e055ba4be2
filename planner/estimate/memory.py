"""Memory on each device of a deployment (model x GPU type x TP x PP), the way vLLM budgets it.

vLLM's budget on every device (identity that holds in its logs, docs/sources.md: vllm-memory-logs):

    usable   = total_memory x gpu_memory_utilization
    kv_cache = usable - weights - activation_peak - non_torch - cuda_graphs   (whole blocks of block_size tokens)

Which terms a version subtracts, how it forms the profiling batch and its defaults are the engine profile's rules
(planner/estimate/engine.py); the constants below are fitted on the start-up logs of tests/data/vllm_logs.yaml
(`python benchmarks/vllm_memory_fit.py` prints each term's error on the fit and held-out logs).

From the KV cache follow the tokens a replica can hold and the sequences that fit at a context length.
Everything is in bytes (ints); GiB = 2**30 (what vLLM prints as "GB" in older logs is GiB).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from planner.errors import InputError, not_one_of
from planner.estimate.engine import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_PROFILE,
    EngineProfile,
    VersionRules,
    batched_tokens,
    num_seqs,
    rules_for,
    sampler_rows,
)
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

BLOCK_TOKENS = DEFAULT_BLOCK_SIZE  # vLLM's default KV block size (tokens per block)

# ---- runtime constants, each fitted on tests/data/vllm_logs.yaml (benchmarks/vllm_memory_fit.py) -------------------
# non-torch memory charged to the KV budget, per device, by version family and parallelism:
#  v1-profile (>= 0.9.2): the "non-torch forward increase" after the post-NCCL snapshot: 0.24-0.27 GiB at TP1,
#    2.06-2.21 GiB per rank at TP2/TP4 on H100 NVLink (lazy custom all-reduce / NCCL buffers), 0.07 GiB with PP
#    only (28 llm-d v0.19.0 logs). Over PCIe (no NVLink) TP ranks add 0.34-0.43 GiB (vLLM issue #16570).
#  v0-profile (0.6.4-0.10): "non_torch_memory" 0.03-0.35 GiB at TP1 (issues #10517, #13882, GIE PR #550,
#    PR #12126), 0.25 GiB at TP2 over PCIe (issue #13061).
#  v0-device / v1-device: the whole device counts, the CUDA context and cuBLAS workspace included (PR #2031;
#    PR #19312's description): about 0.5 GiB more (v0.19.0 logs: 0.51 GiB CUDA context + set-up before the snapshot).
NON_TORCH_BYTES = {  # family -> (TP1, PP-only, TP>1 PCIe, TP>1 NVLink), GiB x 2**30
    "v1-profile": (int(0.25 * GIB), int(0.07 * GIB), int(0.4 * GIB), int(2.12 * GIB)),
    "v0-profile": (int(0.2 * GIB), int(0.2 * GIB), int(0.3 * GIB), int(0.8 * GIB)),
    "v1-device": (int(0.75 * GIB), int(0.75 * GIB), int(1.2 * GIB), int(2.6 * GIB)),
    # v0-device with TP: NCCL and the allocator cache after profiling count; vLLM PR #2031 (Llama-2-70B TP4 on
    # A100-80GB: 31,615 -> 20,865 blocks when they started counting) implies 11.8 GiB per rank.
    "v0-device": (int(0.7 * GIB), int(0.7 * GIB), int(11.8 * GIB), int(11.8 * GIB)),
}
# CUDA-graph pool per device: 0.38 GiB + 0.0165 GiB per layer on the device (fit on the 59 v0.19.0 H100 pools,
# 0.51-1.85 GiB: Llama-3.1-8B 32 layers 0.91, PP2 0.65, PP4 0.51; 80-layer 70B 1.54-1.85). Subtracted only by
# versions that budget graphs (engine.VersionRules.budgets_cuda_graphs); vLLM's own estimate (PR #30515) is of
# the same size (v0.19.0 suggests raising utilization 0.9500 -> 0.9603, 0.82 GiB on an 80 GB H100).
CUDA_GRAPH_BASE_BYTES = int(0.38 * GIB)
CUDA_GRAPH_PER_LAYER_BYTES = int(0.0165 * GIB)
# Activation peak of the profiling forward pass: ACTIVATION_SCALE x T x (3 x I / TP + 2 x h) x activation bytes
# (gate/up output, the activated product and two hidden-size buffers per batched token). Fitted: V1 1.30 (codellama-7b
# 0.77 GiB, Llama-3.1-8B PP stages 1.05-1.10 GiB at T = 8192, v0.19.0), V0 1.08 (Llama-3.1-8B on an RTX 3090 at
# T = 20,000 and 29,000: 2.07 and 2.99 GiB, issue #10517).
ACTIVATION_SCALE = {"v1": 1.30, "v0": 1.08}
# Sampler phase: rows x vocab x 15.2 bytes: fp32 logits plus top-k/top-p sorting (sorted fp32 values and int64
# indices; the profile runs top_k/top_p on every row). Fitted on the v0.19.0 H100 logs at 1,024 rows: Llama-3.1-8B
# 1.89 GiB (V = 128,256), Qwen2.5-7B 2.21 (152,064), Gemma-2 3.62-3.66 (256,000), Phi-4 1.52 (100,352).
SAMPLER_BYTES_PER_LOGIT = 15.2
# V0's profile (256 rows by default) costs less per logit: Qwen3-0.6B's whole V0 peak is 0.23 GiB at T = 8192 with
# 256 x 151,936 logits (mellea PR #416), which leaves room for the fp32 logits alone (4 bytes).
SAMPLER_BYTES_PER_LOGIT_V0 = 4.0
# Fused MoE workspace held through the profile: M x top_k x (2 x N / TP + hidden) x activation bytes, M = batched
# tokens up to VLLM_FUSED_MOE_CHUNK_SIZE (32,768). Qwen3-30B-A3B: 2.24 GiB sampler + 0.44 = 2.68 logged; DeepSeek-V2-Lite
# 1.51 + 0.46 = 1.97 vs 1.93; Kimi-VL-A3B 2.87 vs 2.92 (v0.19.0).
FUSED_MOE_CHUNK_TOKENS = 32768
# Pre-MLA DeepSeek caches (V0 before ~0.7.1) hold per-head K and V with the head dim padded to 256
# (DeepSeek-V2-Lite, PR #10927 "before" log: 432 KiB/token = 27 x 2 x 16 x 256 x 2 B); V0 with MLA pads each
# 576-element latent entry to 640 (cache_engine.py _align_cache).
MLA_PRE_HEAD_DIM = 256
MLA_V0_ALIGN = 640


def default_max_batched_tokens(gpu: GPU) -> int:
    """The default engine's max_num_batched_tokens on this GPU (engine.batched_tokens)."""
    return batched_tokens(DEFAULT_PROFILE, gpu, 4096)


def default_max_num_seqs(gpu: GPU) -> int:
    """The default engine's max_num_seqs on this GPU (engine.num_seqs)."""
    return num_seqs(DEFAULT_PROFILE, gpu)


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
    """One device's budget, in bytes. ``overhead_bytes`` = ``non_torch_bytes`` + ``cuda_graph_bytes`` (the part of
    the CUDA-graph pool the engine's version budgets; 0 when graphs come out of the (1 - utilization) headroom)."""

    total_bytes: int
    usable_bytes: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    non_torch_bytes: int = 0
    cuda_graph_bytes: int = 0

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
    engine: EngineProfile = DEFAULT_PROFILE
    family: str = ""  # the version family whose rules were applied (engine.rules_for)
    max_num_seqs: int = 0  # the engine's max_num_seqs (the profile's, else the version's default)
    block_size: int = 16
    largest_context: int = 0  # the longest max_model_len this setup starts with (vLLM's "estimated maximum model length")
    vllm_error: str | None = None  # the error vLLM would stop with, in its own words

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gpus"] = self.gpus
        d["per_device"]["free_bytes"] = self.per_device.free_bytes
        d["per_device"]["activation_peak_bytes"] = self.per_device.activation_bytes
        d["engine"] = {"engine": self.engine.engine, "version": self.engine.version, "family": self.family,
                       "max_num_seqs": self.max_num_seqs, "max_num_batched_tokens": self.max_batched_tokens,
                       "block_size": self.block_size, "enforce_eager": self.engine.enforce_eager,
                       "usage": self.engine.usage, "kv_cache_memory_bytes": self.engine.kv_cache_memory_bytes}
        d.pop("family")
        return d


# ---- the estimator -----------------------------------------------------------------------------------------------

@lru_cache(maxsize=65_536)  # pure; candidates ask for the same (model, precision, TP, stage) many times
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
        plain_layers = _unconverted_layers(arch, g.name, n_layers) if g.quantizable else n_layers
        n_plain = each * g.count * plain_layers
        n -= n_plain
        total_bits += n_plain * plain_bits
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


_ATTENTION = ("q_proj", "k_proj+v_proj", "o_proj", "query_key_value", "dense", "q_a_proj", "kv_a_proj", "q_b_proj",
              "kv_b_proj")


@lru_cache(maxsize=65_536)
def _unconverted_layers(arch: ModelArch, group: str, n_layers: int) -> int:
    """Layers of a quantizable weight group a checkpoint keeps in 16 bits (``modules_to_not_convert`` /
    ``ignore``): "self_attn" keeps every attention projection, "model.layers.K.<part>" one layer's part, a bare
    module name ("lm_head", "gate") that module. Per-layer patterns are counted once per matching layer."""
    q = arch.quantization or {}
    pats = [str(p) for p in (q.get("modules_to_not_convert") or q.get("ignore") or q.get("ignored_layers") or ())]
    if not pats or n_layers == 0:
        return 0
    part = "self_attn" if group in _ATTENTION else "mlp"
    if any(p in ("self_attn", "attn") and part == "self_attn" for p in pats):
        return n_layers
    if any(p == group or p.endswith("." + group) for p in pats if "layers." not in p):
        return n_layers
    layer_hits = {p.split("layers.")[1].split(".")[0] for p in pats if "layers." in p and part in p}
    return min(n_layers, len(layer_hits))


def kv_bytes_per_token_layer(arch: ModelArch, tp: int, bits: int, mla_cache: str = "latent") -> int:
    """KV bytes per token per layer on one TP rank.

    Standard attention: 2 (K and V) x max(1, kv_heads / TP) x head_dim x bits / 8.
    MLA (DeepSeek-V2/V3): (kv_lora_rank + qk_rope_head_dim) x bits / 8, the same on every rank (vLLM does not
    split the latent cache across TP); V0 with MLA pads the entry to 640 elements; before MLA support vLLM cached
    2 x heads / TP x 256 (padded head dim) elements (engine.VersionRules.mla_cache).
    """
    if arch.is_mla:
        if mla_cache == "decompressed":
            return 2 * max(1, arch.num_heads // tp) * MLA_PRE_HEAD_DIM * bits // 8
        width = arch.kv_lora_rank + arch.qk_rope_head_dim
        if mla_cache == "padded":
            width = max(width, MLA_V0_ALIGN) if width == 576 else width
        return width * bits // 8
    heads = max(1, arch.num_kv_heads // tp)
    return 2 * heads * arch.head_dim * bits // 8


def seq_kv_bytes(arch: ModelArch, layers: int, per_layer_token: int, context: int, block: int = BLOCK_TOKENS) -> int:
    """KV bytes one sequence of ``context`` tokens holds on a stage of ``layers`` layers, in whole blocks.

    Sliding-window layers keep at most ceil(window / block) + 1 blocks (vLLM's hybrid allocator); others ceil(L / block).
    """
    blocks_full = math.ceil(context / block)
    sliding = round(arch.sliding_layers * layers / arch.num_layers) if arch.sliding_window else 0
    blocks_swa = min(blocks_full, math.ceil((arch.sliding_window or 0) / block) + 1) if sliding else 0
    block_bytes = block * per_layer_token
    return ((layers - sliding) * blocks_full + sliding * blocks_swa) * block_bytes


def activation_bytes(arch: ModelArch, tp: int, precision: str, max_batched_tokens: int, max_num_seqs: int,
                     v1: bool = True) -> int:
    """Activation peak of vLLM's profiling run on one rank (constants and their logs above):

        mlp     = scale x T x (3 x I / TP + 2 x h) x act_bytes        (T = batched tokens; I = dense MLP width)
        sampler = rows x V x 15.2 bytes (V1; 4 in V0)                 (fp32 logits + top-k/top-p sort)
        moe     = min(T, 32768) x top_k x (2 x I_e / TP + h) x act_bytes   (fused-MoE workspace, MoE models)
        peak    = max(mlp, sampler) + moe
    ``max_num_seqs`` is the sampler's row count (engine.sampler_rows).
    """
    width = arch.intermediate_size if arch.moe_layers < arch.num_layers else 0
    ab = activation_bits(precision) // 8
    scale = ACTIVATION_SCALE["v1" if v1 else "v0"]
    mlp = scale * max_batched_tokens * (3 * width / tp + 2 * arch.hidden_size) * ab
    sampler = max_num_seqs * arch.vocab_size * (SAMPLER_BYTES_PER_LOGIT if v1 else SAMPLER_BYTES_PER_LOGIT_V0)
    moe = 0.0
    if arch.is_moe:
        m = min(max_batched_tokens, FUSED_MOE_CHUNK_TOKENS)
        moe = m * arch.experts_per_token * (2 * arch.moe_intermediate_size / tp + arch.hidden_size) * ab
    return int(max(mlp, sampler) + moe)


def non_torch_bytes(gpu: GPU, tp: int, pp: int, family: str = "v1-profile") -> int:
    """Non-torch memory the version family charges to each device (NON_TORCH_BYTES above): by TP1 / PP only /
    TP over PCIe / TP over NVLink."""
    tp1, pp_only, pcie, nvlink = NON_TORCH_BYTES[family]
    if tp == 1:
        return tp1 if pp == 1 else pp_only
    return nvlink if gpu.nvlink else pcie


def cuda_graph_bytes(layers: int, rules: VersionRules) -> int:
    """CUDA-graph memory inside the budget: 0.38 GiB + 0.0165 GiB per layer when the version budgets graphs, else 0."""
    return CUDA_GRAPH_BASE_BYTES + CUDA_GRAPH_PER_LAYER_BYTES * layers if rules.budgets_cuda_graphs else 0


@lru_cache(maxsize=4096)  # pure; estimates of a fleet ask for a few profiles many times
def _with_overrides(prof: EngineProfile, max_batched_tokens: int | None, max_num_seqs: int | None) -> EngineProfile:
    return prof.with_overrides(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_num_seqs)


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
    engine: EngineProfile | None = None,
) -> MemoryEstimate:
    """Memory per device and the KV capacity of one replica under ``engine``'s version rules (default: vLLM
    DEFAULT_VLLM_VERSION). ``context_tokens`` is vLLM's max_model_len. Pure: no I/O, no globals."""
    return _finish(_draft(arch, gpu, tp=tp, pp=pp, precision=precision, kv_cache_dtype=kv_cache_dtype,
                          context_tokens=context_tokens, concurrency=concurrency,
                          gpu_memory_utilization=gpu_memory_utilization, max_batched_tokens=max_batched_tokens,
                          max_num_seqs=max_num_seqs, engine=engine))


@dataclass(slots=True)  # private, as _Budget
class _Draft:
    """An estimate up to its capacity (the binding stage), before the record, its reasons and the largest context:
    what estimate_at_own_capacity iterates on."""

    arch: ModelArch
    gpu: GPU
    tp: int
    pp: int
    precision: str
    kv_cache_dtype: str
    context_tokens: int
    concurrency: int
    gpu_memory_utilization: float
    prof: EngineProfile
    budget: _Budget
    stages: list[tuple[int, int, DeviceMemory, int]]
    binding: _Stage

    @property
    def capacity(self) -> int:
        return max(0, self.binding.sequences_fit)


def _draft(arch: ModelArch, gpu: GPU, *, tp: int, pp: int, precision: str, kv_cache_dtype: str, context_tokens: int,
           concurrency: int, gpu_memory_utilization: float, max_batched_tokens: int | None, max_num_seqs: int | None,
           engine: EngineProfile | None) -> _Draft:
    """estimate_memory's budget and binding stage (its keywords, no defaults)."""
    precision = check_precision(precision)
    kv_cache_dtype = check_kv_dtype(kv_cache_dtype)
    prof = _with_overrides(engine or DEFAULT_PROFILE, max_batched_tokens, max_num_seqs)
    if prof.gpu_memory_utilization is not None:
        gpu_memory_utilization = prof.gpu_memory_utilization
    b = _budget(arch, gpu, tp, pp, precision, kv_cache_dtype, gpu_memory_utilization, prof, context_tokens)
    stages = _stage_devices(b)
    return _Draft(arch, gpu, tp, pp, precision, kv_cache_dtype, context_tokens, concurrency, gpu_memory_utilization,
                  prof, b, stages, _binding_stage(arch, b, context_tokens, stages))


def _finish(e: _Draft) -> MemoryEstimate:
    """The estimate's record: the draft with the parallelism rules, the largest context and vLLM's error."""
    arch, gpu, b, st, context_tokens = e.arch, e.gpu, e.budget, e.binding, e.context_tokens
    reason = parallel_problem(arch, gpu, e.tp, e.pp, e.precision, e.kv_cache_dtype)
    if reason is None and context_tokens > arch.max_context:
        reason = f"context {context_tokens} exceeds {arch.id}'s maximum of {arch.max_context} tokens"
    weights_total = math.ceil(weight_bytes_per_device(arch, e.precision, 1, arch.num_layers, True, True) * b.exact)
    largest = _largest_context(arch, b, e.stages)
    error = _vllm_error(b, st, context_tokens, largest) if reason is None else None
    if reason is None:
        reason = _no_fit_reason(gpu, b, st, e.tp, e.pp, e.gpu_memory_utilization, context_tokens, e.concurrency,
                                largest, error)
    d = st.device
    return MemoryEstimate(
        model=arch.id, params=arch.params, precision=e.precision, kv_cache_dtype=e.kv_cache_dtype, gpu=gpu.id, tp=e.tp,
        pp=e.pp, context_tokens=context_tokens, concurrency=e.concurrency,
        gpu_memory_utilization=e.gpu_memory_utilization, max_batched_tokens=b.batched_tokens, per_device=d,
        weights_total_bytes=weights_total, kv_bytes_per_token=b.kv_per_token_layer * st.layers, seq_kv_bytes=st.seq,
        kv_cache_tokens=max(0, st.kv_tokens), max_concurrency=e.capacity, fits=reason is None,
        reason=reason, fixed_bytes_per_device=d.weights_bytes + d.activation_bytes + d.overhead_bytes,
        engine=e.prof, family=b.rules.family, max_num_seqs=b.max_num_seqs, block_size=b.block, largest_context=largest,
        vllm_error=error,
    )


@dataclass(slots=True)  # private, as _Budget
class _Stage:
    """The binding pipeline stage (fewest sequences, then most weights) and the replica's KV capacity."""

    layers: int
    device: DeviceMemory  # one device of the binding stage
    kv_budget: int  # bytes left for the KV cache (may be negative)
    seq: int  # KV bytes of one sequence
    kv_tokens: int  # tokens the replica holds: the least over stages
    sequences_fit: int  # sequences of context_tokens that fit: the least over stages


def _stage_device(b: _Budget, layers: int, w: int, last: bool = True) -> tuple[DeviceMemory, int]:
    """One device of a stage of ``layers`` layers holding ``w`` weight bytes, and its KV budget (may be negative).
    Only the last pipeline stage computes logits and samples (vLLM's profile_run on non-last PP ranks stops at the
    hidden states): the llm-d v0.19.0 PP2/PP4 logs of Llama-3.1-8B show 1.10 / 1.05 GiB against 1.89 at PP1."""
    act = b.activation if last else b.activation_no_sampler
    graphs = cuda_graph_bytes(layers, b.rules)
    overhead = b.non_torch + graphs
    if b.fixed_kv is not None:  # --kv-cache-memory-bytes: no profiling, the pool is what was asked
        kv_budget = b.fixed_kv if b.fixed_kv + w + act + overhead <= b.total else -1
    else:
        kv_budget = b.usable - w - act - overhead
    block_bytes = b.block * b.kv_per_token_layer * layers
    kv = (max(0, kv_budget) // block_bytes) * block_bytes if block_bytes else 0
    usable = b.usable if b.fixed_kv is None else w + act + overhead + kv
    return DeviceMemory(b.total, usable, w, kv, act, overhead, b.non_torch, graphs), kv_budget


def _stage_devices(b: _Budget) -> list[tuple[int, int, DeviceMemory, int]]:
    """(layers, weight bytes, device, KV budget) of each distinct pipeline stage, in stage order (first occurrence):
    the middle stages of a deep pipeline are mostly alike, and the binding stage, the capacity and the largest
    context are the same over identical stages."""
    out: list[tuple[int, int, DeviceMemory, int]] = []
    seen: set[tuple[int, int, bool]] = set()
    last_i = len(b.stages) - 1
    for i, (layers, w) in enumerate(b.stages):
        key = (layers, w, i == last_i)
        if key not in seen:
            seen.add(key)
            dev, kv_budget = _stage_device(b, layers, w, i == last_i)
            out.append((layers, w, dev, kv_budget))
    return out


def _binding_stage(arch: ModelArch, b: _Budget, context_tokens: int,
                   stages: list[tuple[int, int, DeviceMemory, int]]) -> _Stage:
    binding: tuple[tuple[int, int], _Stage] | None = None
    kv_tokens = max_conc = None
    for layers, w, dev, kv_budget in stages:
        seq = seq_kv_bytes(arch, layers, b.kv_per_token_layer, context_tokens, b.block)
        block_bytes = b.block * b.kv_per_token_layer * layers
        tokens = dev.kv_cache_bytes // block_bytes * b.block if block_bytes else 0
        conc = dev.kv_cache_bytes // seq if seq else 0
        key = (conc, -w)
        if binding is None or key < binding[0]:
            binding = (key, _Stage(layers, dev, kv_budget, seq, 0, 0))
        kv_tokens = tokens if kv_tokens is None else min(kv_tokens, tokens)
        max_conc = conc if max_conc is None else min(max_conc, conc)
    assert binding is not None and kv_tokens is not None and max_conc is not None
    st = binding[1]
    return _Stage(st.layers, st.device, st.kv_budget, st.seq, kv_tokens, max_conc)


def _largest_context(arch: ModelArch, b: _Budget, stages: list[tuple[int, int, DeviceMemory, int]]) -> int:
    """The longest max_model_len whose one sequence fits every stage's KV cache (0 when none does), capped at the
    model's maximum: vLLM's "estimated maximum model length" (kv_cache_utils.py check_enough_kv_cache_memory)."""
    caps = []
    for layers, _, dev, _ in stages:
        kv = dev.kv_cache_bytes
        if not arch.sliding_window:  # full attention: whole blocks of the stage's tokens
            per_block = b.block * b.kv_per_token_layer * layers
            caps.append(min(arch.max_context, kv // per_block * b.block if per_block else 0))
            continue
        caps.append(_largest_sliding_context(arch, layers, b.kv_per_token_layer, b.block, kv))
    return min(caps)


@lru_cache(maxsize=65_536)  # pure; the same stage and KV cache recur over GPU types of one memory size
def _largest_sliding_context(arch: ModelArch, layers: int, per_layer_token: int, block: int, kv: int) -> int:
    """The longest context in [0, max_context] whose sequence (seq_kv_bytes, growing with the context) fits ``kv``
    bytes on a stage with sliding-window layers: bisection."""
    lo, hi = 0, arch.max_context
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if seq_kv_bytes(arch, layers, per_layer_token, mid, block) <= kv:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _vllm_error(b: _Budget, st: _Stage, context_tokens: int, largest: int) -> str | None:
    """The error vLLM stops with for this budget, in its words (V0 worker.py / V1 kv_cache_utils.py), or None."""
    if st.kv_budget <= 0:
        return ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` "
                "when initializing the engine.")
    if st.sequences_fit > 0:
        return None
    if b.rules.family.startswith("v0"):
        return (f"ValueError: The model's max seq len ({context_tokens}) is larger than the maximum number of tokens "
                f"that can be stored in KV cache ({st.kv_tokens}). Try increasing `gpu_memory_utilization` or "
                "decreasing `max_model_len` when initializing the engine.")
    # kv_cache_utils.py check_enough_kv_cache_memory: 0.8.x text (issue #15871) has no estimate; the estimate
    # sentence was added after, and later builds say "the model's" / "Estimated maximum model length is N."
    # (release boundaries approximate: 0.9 and 0.11; docs/sources.md: vllm-version-rules)
    v = b.rules_version
    whose, est = ("the model's", f" Estimated maximum model length is {largest}.") if v >= (0, 11, 0) else (
        "the models's", f" Based on the available memory, the estimated maximum model length is {largest}."
        if v >= (0, 9, 0) else "")
    return (f"ValueError: To serve at least one request with {whose} max seq len ({context_tokens}), "
            f"({st.seq / GIB:.2f} GiB KV cache is needed, which is larger than the available KV cache memory "
            f"({st.device.kv_cache_bytes / GIB:.2f} GiB).{est} Try increasing `gpu_memory_utilization` or decreasing "
            "`max_model_len` when initializing the engine.")


def _no_fit_reason(gpu: GPU, b: _Budget, st: _Stage, tp: int, pp: int, gpu_memory_utilization: float,
                   context_tokens: int, concurrency: int, largest: int, error: str | None) -> str | None:
    """Why the memory budget does not hold the asked sequences, or None when it does."""
    d = st.device
    w, act, overhead = d.weights_bytes, d.activation_bytes, d.overhead_bytes
    if st.kv_budget <= 0:
        limit = (f"the device's {b.total / GIB:.1f} GiB with a {b.fixed_kv / GIB:.1f} GiB fixed KV cache"
                 if b.fixed_kv is not None else
                 f"the usable {b.usable / GIB:.1f} GiB ({gpu.memory_gib:g} GiB x {gpu_memory_utilization:g})")
        return (f"weights {w / GIB:.1f} GiB + activations {act / GIB:.1f} + runtime {overhead / GIB:.1f} GiB per device "
                f"exceed {limit}" + (f" across TP={tp} x PP={pp}" if tp * pp > 1 else "") + f"; vLLM: {error}")
    if st.sequences_fit == 0:
        return (f"vLLM refuses max_model_len {context_tokens:,}: the KV cache of {d.kv_cache_bytes / GIB:.2f} GiB per "
                f"device holds {st.kv_tokens:,} tokens, less than one {context_tokens:,}-token sequence "
                f"({st.seq / GIB:.2f} GiB); the largest context that starts is {largest:,} (--max-model-len {largest})")
    if st.sequences_fit < concurrency:
        return (
            f"KV cache holds {st.sequences_fit} sequences of {context_tokens} tokens per replica, fewer than the "
            f"{concurrency} asked (add replicas, shorten the context or use a larger GPU)"
        )
    return None


def stage_devices(arch: ModelArch, gpu: GPU, *, tp: int, pp: int, precision: str, kv_cache_dtype: str,
                  gpu_memory_utilization: float, max_batched_tokens: int | None = None,
                  max_num_seqs: int | None = None, engine: EngineProfile | None = None,
                  context_tokens: int = 4096) -> list[DeviceMemory]:
    """The budget of one device of each pipeline stage (every TP rank of a stage holds the same)."""
    prof = (engine or DEFAULT_PROFILE).with_overrides(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_num_seqs)
    b = _budget(arch, gpu, tp, pp, precision, kv_cache_dtype, gpu_memory_utilization, prof, context_tokens)
    return [_stage_device(b, layers, w, i == len(b.stages) - 1)[0] for i, (layers, w) in enumerate(b.stages)]


@dataclass(slots=True)  # private and built for every estimate: plain slots are cheaper to build than frozen fields
class _Budget:
    total: int
    usable: int
    activation: int  # on the last pipeline stage (forward pass and sampler)
    activation_no_sampler: int  # on the other stages (forward pass only)
    non_torch: int
    kv_per_token_layer: int
    exact: float
    stages: tuple[tuple[int, int], ...]  # (layers, weight bytes per device) for each pipeline stage
    rules: VersionRules
    block: int
    batched_tokens: int
    max_num_seqs: int
    fixed_kv: int | None
    rules_version: tuple[int, int, int]


def _budget(arch: ModelArch, gpu: GPU, tp: int, pp: int, precision: str, kv_cache_dtype: str,
            gpu_memory_utilization: float, prof: EngineProfile, max_model_len: int) -> _Budget:
    """What every device of a deployment starts from under the profile's rules: total and usable memory,
    activation peak, non-torch memory, KV bytes per token and layer, and each pipeline stage's weights (exact when
    the checkpoint states its size)."""
    rules, T, rows, n_seqs, v1 = _profile_terms(prof, gpu, max_model_len)
    total = int(gpu.memory_gib * GIB)
    exact, stages = _stage_weights(arch, precision, tp, pp)
    fit_non_torch, act_factor = prof.fit_for(gpu.id, rules.family, tp)  # a user's `planner calibrate --vllm-log`
    return _Budget(total=total, usable=int(total * gpu_memory_utilization),
                   activation=int(activation_bytes(arch, tp, precision, T, rows, v1) * act_factor),
                   activation_no_sampler=int(activation_bytes(arch, tp, precision, T, 0, v1) * act_factor),
                   non_torch=non_torch_bytes(gpu, tp, pp, rules.family) if fit_non_torch is None else fit_non_torch,
                   kv_per_token_layer=kv_bytes_per_token_layer(arch, tp, kv_bits(precision, kv_cache_dtype),
                                                               rules.mla_cache),
                   exact=exact, stages=stages, rules=rules, block=prof.block_size, batched_tokens=T,
                   max_num_seqs=n_seqs, fixed_kv=prof.kv_cache_memory_bytes,
                   rules_version=prof.version_tuple)


_TERMS: dict[tuple[EngineProfile, int, int], tuple[GPU, tuple[VersionRules, int, int, int, bool]]] = {}


def _profile_terms(prof: EngineProfile, gpu: GPU, max_model_len: int) -> tuple[VersionRules, int, int, int, bool]:
    """The profile's version rules, batched tokens, sampler rows and max_num_seqs on ``gpu``, and whether it is V1.
    Pure, so cached: by the GPU record's identity (hashing a GPU hashes its offers, dearer than the terms), the entry
    holding the record so that its id is not reused."""
    key = (prof, id(gpu), max_model_len)
    hit = _TERMS.get(key)
    if hit is not None and hit[0] is gpu:
        return hit[1]
    if len(_TERMS) >= 4096:
        _TERMS.clear()
    terms = (rules_for(prof), batched_tokens(prof, gpu, max_model_len), sampler_rows(prof, gpu, max_model_len),
             num_seqs(prof, gpu), prof.v1)
    _TERMS[key] = (gpu, terms)
    return terms


@lru_cache(maxsize=65_536)  # pure; the same model, precision and split recur over every GPU type
def _stage_weights(arch: ModelArch, precision: str, tp: int, pp: int) -> tuple[float, tuple[tuple[int, int], ...]]:
    """(exact_weight_ratio, (layers, weight bytes per device) of each pipeline stage, scaled by the ratio)."""
    exact = exact_weight_ratio(arch, precision)
    return exact, tuple(
        (layers, math.ceil(weight_bytes_per_device(arch, precision, tp, layers, first=i == 0, last=i == pp - 1) * exact))
        for i, layers in enumerate(stage_layers(arch.num_layers, pp))
    )


def estimate_at_own_capacity(arch: ModelArch, gpu: GPU, **kw: Any) -> MemoryEstimate:
    """The estimate whose max_num_seqs equals the sequences it holds, for a replica that will be launched with
    ``--max-num-seqs`` = its planned sequences: vLLM profiles its sampler on that many rows, so a replica that holds
    more than the default max_num_seqs needs the larger sampler budget. Iterates N <- sequences that fit at
    max_num_seqs N, from the version's default, until N sequences fit at max_num_seqs N (at most 8 steps; the
    sampler term grows with N, so N only falls after the first step). Keywords are estimate_memory's; the steps
    before the last stop at the capacity (``_draft``), only the last becomes a record."""
    kw = {**(estimate_memory.__kwdefaults__ or {}), **kw}  # estimate_memory's keywords with its defaults
    e = _draft(arch, gpu, **kw)
    n = e.capacity
    if n <= e.budget.max_num_seqs:
        return _finish(e)
    for _ in range(8):
        e = _draft(arch, gpu, **{**kw, "max_num_seqs": n})
        if e.capacity >= n:
            return _finish(e)
        n = e.capacity
    return _finish(_draft(arch, gpu, **{**kw, "max_num_seqs": max(1, n)}))


def planned_max_num_seqs(engine: EngineProfile | None, gpu: GPU, planned: int) -> int:
    """The --max-num-seqs a replica planned for ``planned`` sequences is launched and budgeted with: the profile's
    max_num_seqs when it sets one (the plan caps capacity there), else max(the version's default, planned). vLLM
    profiles its sampler on that many rows (engine.sampler_rows), so the plan, the checker and the launch line all
    budget the same sampler."""
    prof = engine or DEFAULT_PROFILE
    return prof.max_num_seqs or max(num_seqs(prof, gpu), planned)


def replica_estimate(arch: ModelArch, gpu: GPU, **kw: Any) -> MemoryEstimate:
    """The memory budget of a replica the plan may load to its capacity: with the profile's max_num_seqs, capacity
    (``max_concurrency``) capped at it (vLLM schedules no more); without one, at its own capacity
    (estimate_at_own_capacity), so that max_num_seqs = planned_max_num_seqs(engine, gpu, capacity). Keywords are
    estimate_memory's."""
    prof = kw.get("engine") or DEFAULT_PROFILE
    given = prof.max_num_seqs or kw.get("max_num_seqs")
    e = estimate_memory(arch, gpu, **kw) if given else estimate_at_own_capacity(arch, gpu, **kw)
    # the fixed point may hold a few more sequences than the max_num_seqs it was profiled at: vLLM runs no more
    return e if e.max_concurrency <= e.max_num_seqs else replace(e, max_concurrency=e.max_num_seqs)

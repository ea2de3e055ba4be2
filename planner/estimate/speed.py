"""Decode and prefill time of a deployment, and the largest concurrency that meets a latency SLO.

Decode step (one token for each of ``b`` running sequences of average context ``L``), per device:

    t_step = t0                                     fixed cost per step (kernel launches, scheduling)
           + bytes  / (eta_bw x bandwidth)           weights streamed + KV cache read
           + flops  / (eta_f  x peak_tflops)         2 x active params x b / TP + attention 4 x b x L x layers x heads x d / TP
           + n_ar x (tau_link + msg / link_bw)       TP > 1: 2 all-reduces per layer of b x hidden activations

where bytes = weights read per step / TP (the input embedding table is not read; MoE reads only the experts that
the batch's tokens route to, E x (1 - (1 - k/E)^b) per layer; weight-only INT4 streams with a dequantization
penalty) + b x L x KV bytes per token. Pipeline stages run one after another for a token, so PP adds t0 per extra
stage, splits the bytes and FLOPs, and adds one point-to-point transfer per stage boundary (``stage_transfer_ms``):

    t_boundary = tau_hop + tokens x hidden x 2 tensors x activation bytes / link_bw

over the GPU's interconnect when the stages share an instance, or over the offer's fabric (``fabric_link``) when a
replica's stages sit in different instances; a decode step moves b tokens across each boundary, a prefill n.

Prefill (time to first token) of ``n`` prompt tokens:

    t_prefill = t0 + 2 x active params x n / (eta_p x peak x TP) + attention 2 x layers x heads x d x n^2 / (eta_p x peak x TP)
              + weights / (eta_bw x bandwidth) + 2 x layers x (tau_link + n x hidden x 2 bytes / link_bw) when TP > 1

Under continuous batching (vLLM, NIM) prefill chunks of arriving requests ride in the decode steps: the serving step
time adds the prefill compute of b x input/output tokens per step (each sequence's prompt spread over its outputs).

Constants (t0, eta_bw, eta_f, eta_p, tau) live per GPU family in ``data/calibration.yaml``, fitted by
``planner calibrate`` on measured points; each carries its source.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import InputError
from planner.estimate.memory import activation_bits, kv_bits, kv_bytes_per_token_layer, weight_bytes_per_device
from planner.inputs.architectures import ModelArch
from planner.resources import DATA_DIR
from planner.units import WEIGHT_BITS

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU

# Weight-only INT4 (AWQ/GPTQ) decodes 1.5-2x faster than FP16 at batch 1, not the 3.85x its bytes suggest
# (docs/sources.md: int4-decode-speed): its streamed bytes are charged x 2.2 = 3.85 / 1.75.
INT4_DEQUANT_FACTOR = 2.2
# Point-to-point hop between pipeline stages inside one instance (the send/recv and the stage's scheduling; activations
# over PCIe or NVLink): 0.1 ms, an estimate. A hop between instances adds the fabric's latency (FABRIC_LATENCY_US).
PP_HOP_MS = 0.1
# What crosses a stage boundary per token: vLLM's models hand the next stage IntermediateTensors holding two tensors
# of hidden_size elements, "hidden_states" and "residual" (vllm/model_executor/models/llama.py, Qwen2, Mixtral alike).
BOUNDARY_TENSORS = 2
# One small-message hop between instances, by fabric kind (microseconds; the bandwidth term comes on top):
#   efa: 30 us, fi_pingpong over EFA, 26-38 us per transfer for 256 B - 4 KiB (github.com/ComputeCanada/
#        puppet-magic_castle pull 331, 2024); EFA's SRD trades latency for multipath (its NCCL latency is above IB's).
#   infiniband: 5 us, ib_send_lat 0.8-4.6 us for 32 B - 32 KiB over RDMA (git.dennispotter.eu masters-thesis,
#        tables/mtu_performance.tex), rounded up for NCCL's proxy thread.
#   ethernet: 35 us, NCCL sendrecv between two nodes 31-34 us for 256 B - 8 KiB (github.com/NVIDIA/nccl-tests issue
#        214, 2024; RCCL's small all-reduce over the network 31-45 us, github.com/ROCm/rocm-systems pull 10160); TCP
#        sockets through a kernel stack, an estimate for the class.
FABRIC_LATENCY_US = {"efa": 30.0, "infiniband": 5.0, "ethernet": 35.0}
GBIT = 1e9  # a fabric's Gbit/s are 1e9 bits per second (8 bits a byte); interconnect_gb_s are 1e9 bytes per second


@dataclass(frozen=True)
class PerfConstants:
    """Calibrated efficiency constants of one GPU family (see data/calibration.yaml for sources)."""

    family: str
    t0_ms: float
    eta_bw: float
    eta_flops: float
    eta_prefill: float
    allreduce_us_nvlink: float
    allreduce_us_pcie: float
    source: str = ""
    points: int = 0


def default_calibration_path() -> Path:
    return DATA_DIR / "calibration.yaml"


@lru_cache(maxsize=8)
def load_calibration(path: str | None = None) -> dict[str, PerfConstants]:
    """Family -> constants. ``path`` names a user calibration file (written by ``planner calibrate``)."""
    from planner.inputs.yaml_source import load_yaml

    p = Path(path) if path else default_calibration_path()
    from planner.inputs.calibration_file import check_calibration_file  # every constant finite and in range

    check_calibration_file(p)
    data, _ = load_yaml(p, "calibration file")
    fams = (data or {}).get("families") if isinstance(data, dict) else None
    if not isinstance(fams, dict) or "default" not in fams:
        raise InputError(f"{p}: not a calibration file (needs 'families' with a 'default' entry)")
    out = {}
    for fam, v in fams.items():
        try:
            out[fam] = PerfConstants(
                family=fam, t0_ms=float(v["t0_ms"]), eta_bw=float(v["eta_bw"]), eta_flops=float(v["eta_flops"]),
                eta_prefill=float(v["eta_prefill"]), allreduce_us_nvlink=float(v["allreduce_us_nvlink"]),
                allreduce_us_pcie=float(v["allreduce_us_pcie"]), source=str(v.get("source", "")),
                points=int(v.get("points", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{p}: family '{fam}': missing or invalid constant ({exc})") from None
        for name in ("eta_bw", "eta_flops", "eta_prefill"):
            if not 0 < getattr(out[fam], name) <= 1.5:
                raise InputError(f"{p}: family '{fam}': {name} must be in (0, 1.5]")
    return out


def constants_for(gpu: GPU, calibration: dict[str, PerfConstants]) -> PerfConstants:
    """Constants for a GPU: its own id if calibrated, else its family, else the pooled default."""
    return calibration.get(gpu.id) or calibration.get(gpu.family) or calibration["default"]


# ---- byte and FLOP counts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepWork:
    """What one decode step of ``b`` sequences at average context ``L`` moves and computes, per device."""

    weight_bytes: float
    kv_bytes: float
    flops: float
    allreduces: int
    allreduce_msg_bytes: float


def _expert_fraction(arch: ModelArch, tokens: float) -> float:
    """Expected share of a layer's routed experts that ``tokens`` tokens touch: 1 - (1 - k/E)^tokens."""
    if not arch.is_moe:
        return 1.0
    return 1.0 - (1.0 - arch.experts_per_token / arch.num_experts) ** max(1.0, tokens)


def streamed_weight_bytes(arch: ModelArch, precision: str, tp: int, tokens: float) -> float:
    """Weight bytes one rank reads for a forward pass over ``tokens`` tokens (whole model, all stages)."""
    total, expert_bytes = _streamed_parts(arch, precision, tp)
    if arch.is_moe:
        total -= expert_bytes * (1.0 - _expert_fraction(arch, tokens))
    if precision == "int4":
        total *= INT4_DEQUANT_FACTOR
    return max(total, 0.0)


@lru_cache(maxsize=65_536)  # pure; every serving point of a deployment streams the same weights
def _streamed_parts(arch: ModelArch, precision: str, tp: int) -> tuple[float, float]:
    """(weight bytes a rank streams for any batch, bytes of its routed experts), before the MoE routing share and the
    INT4 penalty of ``streamed_weight_bytes``."""
    total: float = weight_bytes_per_device(arch, precision, tp, arch.num_layers, True, True)
    emb = math.ceil(arch.vocab_size / tp) * arch.hidden_size * (32 if precision == "fp32" else 16) / 8
    if not arch.tie_word_embeddings:
        total -= emb  # the input embedding is a lookup of a few rows, not a stream
    expert_bytes = 0.0
    if arch.is_moe:
        bits = WEIGHT_BITS[precision] if precision != "fp32" else 32
        expert_params = sum(g.params_each * g.count * arch.layers_of(g.layers) for g in arch.groups if g.expert)
        expert_bytes = expert_params / tp * bits / 8
    return total, expert_bytes


def decode_work(arch: ModelArch, precision: str, kv_cache_dtype: str, tp: int, batch: int, context: float) -> StepWork:
    kvb = kv_bytes_per_token_layer(arch, tp, kv_bits(precision, kv_cache_dtype)) * arch.num_layers
    if arch.sliding_window:
        eff = (arch.num_layers - arch.sliding_layers) * context + arch.sliding_layers * min(context, arch.sliding_window)
        kv = batch * kvb * eff / arch.num_layers
    else:
        kv = batch * kvb * context
    attn_ctx = context if not arch.sliding_window else (
        ((arch.num_layers - arch.sliding_layers) * context + arch.sliding_layers * min(context, arch.sliding_window)) / arch.num_layers
    )
    head_dim = arch.head_dim if not arch.is_mla else arch.kv_lora_rank + arch.qk_rope_head_dim
    flops = (2.0 * arch.active_params * batch + 4.0 * batch * attn_ctx * arch.num_layers * arch.num_heads * head_dim) / tp
    ar = 2 * arch.num_layers if tp > 1 else 0
    msg = batch * arch.hidden_size * activation_bits(precision) / 8 * 2 * (tp - 1) / tp if tp > 1 else 0.0
    return StepWork(streamed_weight_bytes(arch, precision, tp, batch), kv, flops, ar, msg)


def _link(gpu: GPU, cal: PerfConstants) -> tuple[float, float]:
    """(all-reduce latency in ms, link bandwidth in bytes/ms)."""
    tau_us = cal.allreduce_us_nvlink if gpu.nvlink else cal.allreduce_us_pcie
    return tau_us / 1000.0, gpu.interconnect_gb_s * 1e9 / 1000.0


@dataclass(frozen=True)
class StageLink:
    """What a pipeline stage boundary crosses: a per-hop latency and a bandwidth (bytes per ms)."""

    latency_ms: float
    bytes_per_ms: float
    label: str  # "nvlink4 450 GB/s", "efa 3200 Gbit/s"


def instance_link(gpu: GPU) -> StageLink:
    """Stages inside one instance: PP_HOP_MS per hop over the GPU's interconnect (interconnect_gb_s, 1e9 bytes/s)."""
    return StageLink(PP_HOP_MS, gpu.interconnect_gb_s * 1e9 / 1000.0, f"{gpu.interconnect} {gpu.interconnect_gb_s:g} GB/s")


def fabric_link(kind: str, gbit_s: float, stage_gpus: int, instance_gpus: int,
                interconnect_gb_s: float | None = None) -> StageLink:
    """Stages in different instances over a fabric of ``gbit_s`` Gbit/s per instance (1 Gbit = 1e9 bits):

        latency = PP_HOP_MS + FABRIC_LATENCY_US[kind] / 1000
        bandwidth = min(gbit_s x 1e9 / 8 x min(1, stage_gpus / instance_gpus), interconnect_gb_s x 1e9)   bytes/s

    a stage of t GPUs of an n-GPU instance gets its share t / n of the instance's NICs (EFA and InfiniBand instances
    pair NICs with GPUs: p5 4 x 100 Gbit/s per GPU, ND A100 v4 200 Gbit/s per GPU). With the GPU's interconnect
    given, the link is the slower of the two in each term, so charging every boundary over it bounds the time
    wherever the stages fall (some boundaries may stay inside an instance)."""
    share = min(1.0, stage_gpus / instance_gpus)
    bw = gbit_s * GBIT / 8 / 1000.0 * share
    if interconnect_gb_s is not None:
        bw = min(bw, interconnect_gb_s * 1e9 / 1000.0)
    return StageLink(PP_HOP_MS + FABRIC_LATENCY_US[kind] / 1000.0, bw, f"{kind} {gbit_s:g} Gbit/s")


def stage_transfer_ms(arch: ModelArch, precision: str, tokens: float, link: StageLink, latency: bool = True) -> float:
    """One stage boundary's transfer of ``tokens`` tokens (ms):

        t = latency_ms + tokens x hidden_size x BOUNDARY_TENSORS x activation bytes / link bandwidth

    activation bytes: 2 for bf16/fp16 (and the 16-bit compute of quantized weights), 4 for fp32.
    ``latency=False``: the bandwidth term alone (tokens riding in a hop already counted)."""
    nbytes = tokens * arch.hidden_size * BOUNDARY_TENSORS * activation_bits(precision) / 8
    return (link.latency_ms if latency else 0.0) + nbytes / link.bytes_per_ms


def pipeline_transfer_ms(arch: ModelArch, gpu: GPU, precision: str, tokens: float, pp: int,
                         fabric: StageLink | None = None, latency: bool = True) -> float:
    """All pp - 1 boundaries of a pipeline: over ``fabric`` (stages in different instances; every boundary is counted
    as crossing it, an upper bound wherever the stages sit), else over the instance's interconnect."""
    if pp <= 1:
        return 0.0
    return (pp - 1) * stage_transfer_ms(arch, precision, tokens, fabric or instance_link(gpu), latency)


def decode_step_ms(arch: ModelArch, gpu: GPU, cal: PerfConstants, *, precision: str, kv_cache_dtype: str = "auto",
                   tp: int = 1, pp: int = 1, batch: int = 1, context: float = 1024,
                   fabric: StageLink | None = None) -> float:
    """Time of one decode step (ms) of ``batch`` sequences at average context ``context`` (formula in the module doc);
    ``fabric``: the link between the stages' instances (None: all stages in one instance)."""
    w = decode_work(arch, precision, kv_cache_dtype, tp, batch, context)
    bw = cal.eta_bw * gpu.bandwidth_gb_s * 1e9 / 1000.0  # bytes per ms
    peak = cal.eta_flops * gpu.peak_tflops(precision) * 1e12 / 1000.0  # flops per ms
    t = cal.t0_ms * pp + (w.weight_bytes + w.kv_bytes) / bw + w.flops / peak
    t += pipeline_transfer_ms(arch, gpu, precision, batch, pp, fabric)
    if w.allreduces:
        tau, link = _link(gpu, cal)
        t += w.allreduces * (tau + w.allreduce_msg_bytes / link)
    return t


def prefill_ms(arch: ModelArch, gpu: GPU, cal: PerfConstants, *, precision: str, tp: int = 1, pp: int = 1,
               tokens: int = 512, seq_len: int | None = None, with_fixed: bool = True,
               fabric: StageLink | None = None) -> float:
    """Time (ms) to prefill ``tokens`` prompt tokens made of sequences of ``seq_len`` tokens (module doc formula);
    without the fixed costs (a chunk riding in a decode step) the stage boundaries add their bandwidth term only."""
    seq_len = seq_len or tokens
    peak = cal.eta_prefill * gpu.peak_tflops(precision) * 1e12 / 1000.0
    head_dim = arch.head_dim if not arch.is_mla else arch.qk_rope_head_dim + arch.kv_lora_rank
    flops = 2.0 * arch.active_params * tokens + 2.0 * arch.num_layers * arch.num_heads * head_dim * tokens * seq_len
    t = flops / (peak * tp)
    if with_fixed:
        bw = cal.eta_bw * gpu.bandwidth_gb_s * 1e9 / 1000.0
        t += cal.t0_ms * pp + streamed_weight_bytes(arch, precision, tp, tokens) / bw
        t += pipeline_transfer_ms(arch, gpu, precision, tokens, pp, fabric)
        if tp > 1:
            tau, link = _link(gpu, cal)
            msg = tokens * arch.hidden_size * activation_bits(precision) / 8 * 2 * (tp - 1) / tp
            t += 2 * arch.num_layers * (tau + msg / link)
    else:
        t += pipeline_transfer_ms(arch, gpu, precision, tokens, pp, fabric, latency=False)
    return t


# ---- serving metrics ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServingPoint:
    """Predicted serving figures of one replica at a running batch."""

    batch: int
    decode_ms_per_token: float  # static decode step at this batch
    serving_step_ms: float  # with continuous batching's prefill chunks
    ttft_ms: float
    tokens_per_s_per_stream: float
    tokens_per_s: float  # output tokens per second of the replica


def serving_point(arch: ModelArch, gpu: GPU, cal: PerfConstants, *, precision: str, kv_cache_dtype: str, tp: int, pp: int,
                  batch: int, input_tokens: int, output_tokens: int, fabric: StageLink | None = None) -> ServingPoint:
    """Figures at ``batch`` running sequences of ``input_tokens`` prompt and ``output_tokens`` output tokens;
    ``fabric``: the link between the stages' instances (None: one instance)."""
    ctx = input_tokens + output_tokens / 2
    step = decode_step_ms(arch, gpu, cal, precision=precision, kv_cache_dtype=kv_cache_dtype, tp=tp, pp=pp,
                          batch=batch, context=ctx, fabric=fabric)
    chunk = batch * input_tokens / max(1, output_tokens)  # prompt tokens prefilled per decode step, in steady state
    mixed = step + prefill_ms(arch, gpu, cal, precision=precision, tp=tp, pp=pp, tokens=max(1, int(chunk)),
                              seq_len=input_tokens, with_fixed=False, fabric=fabric) * (chunk / max(1, int(chunk)))
    ttft = prefill_ms(arch, gpu, cal, precision=precision, tp=tp, pp=pp, tokens=input_tokens,
                      fabric=fabric) + (mixed if batch > 1 else 0.0)
    per_stream = 1000.0 / mixed
    return ServingPoint(batch, step, mixed, ttft, per_stream, per_stream * batch)


def max_batch_for_slo(arch: ModelArch, gpu: GPU, cal: PerfConstants, *, precision: str, kv_cache_dtype: str, tp: int,
                      pp: int, input_tokens: int, output_tokens: int, upper: int, min_tokens_per_s: float | None,
                      max_ttft_ms: float | None, fabric: StageLink | None = None) -> int:
    """Largest batch <= ``upper`` whose streams get >= min_tokens_per_s and first tokens within max_ttft_ms (0: none).

    Both figures worsen monotonically with the batch (the serving step grows with it), so the answer is the boundary
    of a monotone test, the same whatever exact search finds it (``slo_batch_point``).
    """
    return slo_batch_point(arch, gpu, cal, precision=precision, kv_cache_dtype=kv_cache_dtype, tp=tp, pp=pp,
                           input_tokens=input_tokens, output_tokens=output_tokens, upper=upper,
                           min_tokens_per_s=min_tokens_per_s, max_ttft_ms=max_ttft_ms, fabric=fabric)[0]


def slo_batch_point(arch: ModelArch, gpu: GPU, cal: PerfConstants, *, precision: str, kv_cache_dtype: str, tp: int,
                    pp: int, input_tokens: int, output_tokens: int, upper: int, min_tokens_per_s: float | None,
                    max_ttft_ms: float | None, fabric: StageLink | None = None) -> tuple[int, ServingPoint | None]:
    """``max_batch_for_slo`` and the serving point at that batch (None without an SLO or when the batch is 0).

    The test is monotone in the batch, so: ``upper`` when it passes, 0 when batch 1 fails; otherwise the serving
    step, nearly affine in the batch (decode bytes, FLOPs and prefill chunks grow linearly; MoE expert reads and the
    TTFT term bend it a little), is interpolated between batch 1 and ``upper`` to guess the boundary, the guess and
    its neighbour are tested, and a bisection settles what is left: about 4 serving points instead of log2(upper).
    """
    if min_tokens_per_s is None and max_ttft_ms is None:
        return upper, None
    if upper < 1:
        return 0, None
    seen: dict[int, ServingPoint] = {}

    def point(b: int) -> ServingPoint:
        sp = seen.get(b)
        if sp is None:
            sp = seen[b] = serving_point(arch, gpu, cal, precision=precision, kv_cache_dtype=kv_cache_dtype, tp=tp,
                                         pp=pp, batch=b, input_tokens=input_tokens, output_tokens=output_tokens,
                                         fabric=fabric)
        return sp

    def ok(b: int) -> bool:
        sp = point(b)
        if min_tokens_per_s is not None and sp.tokens_per_s_per_stream < min_tokens_per_s:
            return False
        return not (max_ttft_ms is not None and sp.ttft_ms > max_ttft_ms)

    if not ok(1):
        return 0, None
    if ok(upper):
        return upper, point(upper)
    lo, hi = _narrowed(ok, 1, upper - 1, _boundary_guess(point(1), point(upper), min_tokens_per_s, max_ttft_ms))
    while lo < hi:  # ok(lo) holds; the boundary is in [lo, hi]
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo, point(lo)


def _boundary_guess(first: ServingPoint, last: ServingPoint, min_tokens_per_s: float | None,
                    max_ttft_ms: float | None) -> int:
    """The batch where the serving step, interpolated linearly between batch 1 (``first``) and ``last.batch``,
    reaches the SLO's limit: 1000 / min_tokens_per_s, or max_ttft_ms less the prefill part of the TTFT."""
    limit = math.inf
    if min_tokens_per_s is not None:
        limit = 1000.0 / min_tokens_per_s
    if max_ttft_ms is not None:
        limit = min(limit, max_ttft_ms - (last.ttft_ms - last.serving_step_ms))
    slope = (last.serving_step_ms - first.serving_step_ms) / (last.batch - 1)
    if not slope > 0 or not math.isfinite(limit):
        return 1
    return 1 + int(max(0.0, min((limit - first.serving_step_ms) / slope, float(last.batch))))


def _narrowed(ok: Callable[[int], bool], lo: int, hi: int, guess: int) -> tuple[int, int]:
    """[lo, hi] (``ok(lo)`` holds, the boundary inside) narrowed by testing ``guess`` and its neighbour: a single
    batch when the guess is the boundary or one off it."""
    g = min(hi, max(lo, guess))
    if ok(g):
        if g == hi or not ok(g + 1):
            return g, g
        return g + 1, hi
    if ok(g - 1):  # g > lo, since ok(lo) holds
        return g - 1, g - 1
    return lo, g - 2

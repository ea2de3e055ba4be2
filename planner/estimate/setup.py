"""The cheapest setup of one model on one GPU type for N concurrent sequences: a split and a number of replicas.

For each split (TP, PP) the GPU type allows, a replica holds ``capacity`` sequences (memory, or the SLO when one is
given), so N sequences need ``replicas = ceil(N / capacity)`` replicas and cost

    usd_per_hour(split) = replicas x usd_per_hour_per_replica(split)

The setup is the split of least cost (ties: fewer GPUs, then TP before PP); without a price under the pricing mode,
the split of fewest GPUs. Speeds are those of a replica serving its share, ``ceil(N / replicas)`` sequences, not batch 1.

Precision: a GPU without BF16 (T4, V100: compute capability below 8.0) runs a BF16 checkpoint in FP16 when the user
named no precision, as vLLM does with ``--dtype auto`` (vllm/config.py ``_get_and_verify_dtype``: "Bfloat16 is only
supported on GPUs with compute capability of at least 8.0 ... Casting to float16"); both are 2 bytes per weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from planner.estimate.deployment import DeploymentEstimate, estimate_deployment, smallest_fit, splits
from planner.estimate.memory import parallel_problem
from planner.inputs.architectures import ModelArch
from planner.inputs.catalog import GPU
from planner.inputs.pricing import Owned, cheapest_usd_per_gpu_hour


@dataclass(frozen=True)
class Setup:
    """``replicas`` replicas of one split of ``estimate`` (one replica at its share of the sequences)."""

    gpu: str
    estimate: DeploymentEstimate
    replicas: int  # 0 when no split fits
    precision: str  # what runs: fp16 where the GPU has no bf16 and the user named no precision
    note: str

    @property
    def fits(self) -> bool:
        return self.replicas > 0

    @property
    def gpus(self) -> int:
        return self.replicas * self.estimate.memory.gpus

    @property
    def usd_per_hour(self) -> float | None:
        per = self.estimate.usd_per_hour
        return None if per is None or not self.fits else self.replicas * per

    @property
    def sequences_per_replica(self) -> int:
        return self.estimate.memory.concurrency if self.fits else 0

    def to_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "gpu": self.gpu, "fits": self.fits, "precision": self.precision, "tp": e.memory.tp, "pp": e.memory.pp,
            "gpus_per_replica": e.memory.gpus, "replicas": self.replicas, "gpus": self.gpus,
            "sequences_per_replica": self.sequences_per_replica,
            "usd_per_hour": None if self.usd_per_hour is None else round(self.usd_per_hour, 6),
            "tokens_per_s_per_stream": None if e.tokens_per_s_per_stream is None or not self.fits
            else round(e.tokens_per_s_per_stream, 3),
            "tokens_per_s": None if e.tokens_per_s is None or not self.fits else round(e.tokens_per_s * self.replicas, 3),
            "ttft_ms": None if e.ttft_ms is None or not self.fits else round(e.ttft_ms, 3),
            "note": self.note, "replica": e.to_dict(),
        }


def precision_on(gpu: GPU, precision: str, named: bool) -> tuple[str, str]:
    """The precision a GPU runs and a note: BF16 becomes FP16 on a GPU without BF16 unless the user named BF16."""
    if precision == "bf16" and not named and "bf16" not in gpu.formats and "fp16" in gpu.formats:
        return "fp16", f"fp16: {gpu.id} has no bf16 (vLLM casts to fp16)"
    return precision, ""


def _cost_key(e: DeploymentEstimate, replicas: int) -> tuple[Any, ...]:
    usd = None if e.usd_per_hour is None else replicas * e.usd_per_hour
    return (usd is None, usd or 0.0, replicas * e.memory.gpus, -e.memory.tp)


def _cannot_beat(key: tuple[Any, ...], gpus_per_replica: int, floor: float | None) -> bool:
    """No split of ``gpus_per_replica`` or more GPUs beats the setup of ``key`` (splits come by GPU count)."""
    unpriced, usd, gpus = key[0], key[1], key[2]
    if unpriced:  # a larger split may still have a price (PP over 1-GPU offers): stop only when nothing is priced
        return floor is None and gpus_per_replica > gpus
    return floor is not None and gpus_per_replica * floor > usd + 1e-9


def cheapest_setup(arch: ModelArch, gpu: GPU, *, concurrency: int, precision: str, precision_named: bool,
                   **kw: Any) -> Setup:
    """The setup of least cost for ``concurrency`` sequences on ``gpu`` (module doc); ``kw`` as estimate_deployment."""
    prec, note = precision_on(gpu, precision, precision_named)
    kw = {k: v for k, v in kw.items() if k not in ("concurrency", "batch", "precision")}
    # the lowest price per GPU of any offer: a split of more GPUs than best_usd / floor cannot be cheaper (exact)
    floor = cheapest_usd_per_gpu_hour(gpu, kw.get("pricing", "on_demand"), kw.get("owned") or Owned(), group=1,
                                      providers=kw.get("providers"))
    best: tuple[tuple[Any, ...], int, int, int] | None = None  # (key, tp, pp, replicas)
    fastest: tuple[float, str] = (0.0, "")  # the best speed at batch 1 of splits that fit but miss the SLO
    for tp, pp in splits(gpu, max_pp=min(16, arch.num_layers)):
        if best is not None and _cannot_beat(best[0], tp * pp, floor):
            break
        if parallel_problem(arch, gpu, tp, pp, prec, kw.get("kv_cache_dtype", "auto")):
            continue
        probe = estimate_deployment(arch, gpu, tp=tp, pp=pp, precision=prec, concurrency=1, batch=1, **kw)
        if probe.memory.fits and probe.capacity < 1 and probe.tokens_per_s_per_stream is not None:  # fits, too slow
            fastest = max(fastest, (probe.tokens_per_s_per_stream, f"TP{tp} x PP{pp}"))
        if not probe.memory.fits or probe.capacity < 1:
            continue
        replicas = math.ceil(concurrency / probe.capacity)
        key = _cost_key(probe, replicas)
        if best is None or key < best[0]:
            best = (key, tp, pp, replicas)
    if best is None:
        e = smallest_fit(arch, gpu, precision=prec, concurrency=concurrency, batch=concurrency, **kw)
        why = e.memory.reason or (f"no split meets the SLO (fastest: {fastest[0]:.1f} tokens/s per stream at batch 1, "
                                  f"{fastest[1]})" if fastest[1] else "no split meets the SLO")
        return Setup(gpu.id, e, 0, prec, why)
    _, tp, pp, replicas = best
    share = math.ceil(concurrency / replicas)
    e = estimate_deployment(arch, gpu, tp=tp, pp=pp, precision=prec, concurrency=share, batch=share, **kw)
    return Setup(gpu.id, e, replicas, prec, note)


def setups_by_price(arch: ModelArch, gpus: list[GPU], **kw: Any) -> list[Setup]:
    """Every GPU type's cheapest setup, cheapest first; setups without a price after those with one, by GPUs; the
    ones that do not fit last (in catalog order)."""
    out = [cheapest_setup(arch, g, **kw) for g in gpus]
    return sorted(out, key=lambda s: (not s.fits, s.usd_per_hour is None, s.usd_per_hour or 0.0, s.gpus, s.gpu))

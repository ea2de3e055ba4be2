"""Fitting the runtime terms of the vLLM memory budget on a user's own start-up logs (`planner calibrate --vllm-log`).

Per log (planner/inputs/vllm_log.py) the estimator runs under the log's own version and settings; what vLLM printed
gives, per device,

    non_torch   = the logged non-torch figure, else  usable - weights - kv_cache - activation_peak - graphs
    activation  = the logged activation peak (0.6.4: peak_torch - weights), else usable - weights - kv_cache
                  - non_torch - graphs   (weights and the KV cache as logged; the built-in non-torch when unlogged)

and per (GPU type, version family, TP size) the fit is the median of those non-torch figures and the median of
activation / the built-in activation formula (planner/estimate/memory.py activation_bytes), a factor that scales
the forward-pass, sampler and fused-MoE terms together. Weights are not refitted: they are computed from the
checkpoint (a log's weights error stays visible in the KV error). The error reported is that of the KV-cache size in
tokens, before (built-in constants) and after (the fit), on the same logs.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InputError
from planner.estimate.engine import EngineProfile, MemoryFit, parse_version, rules_for
from planner.estimate.memory import MemoryEstimate, checkpoint_precision, default_precision, estimate_memory
from planner.units import GIB

if TYPE_CHECKING:
    from planner.inputs.architectures import ModelArch
    from planner.inputs.catalog import GPU
    from planner.inputs.vllm_log import VllmLog

ACTIVATION_FACTOR_RANGE = (0.05, 20.0)  # a fit outside it is a log the formula does not describe: clamped
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32", "auto": None}


@dataclass(frozen=True)
class LogCase:
    """One log with the setup the estimator runs it under."""

    log: VllmLog
    arch: ModelArch
    gpu: GPU  # the catalog GPU, with the log's total memory when the log states it
    kw: dict[str, Any]  # estimate_memory keywords (precision, tp, pp, context, utilization, engine)

    @property
    def engine(self) -> EngineProfile:
        eng: EngineProfile = self.kw["engine"]
        return eng

    @property
    def family(self) -> str:
        return rules_for(self.engine).family


def _precision(log: VllmLog, arch: ModelArch) -> str:
    q = log.quantization or ""
    if q.startswith(("awq", "gptq", "marlin", "compressed")):
        return checkpoint_precision(arch) or "int4"
    if q.startswith("fp8") or q == "fbgemm_fp8":
        return "fp8"
    return _DTYPES.get((log.dtype or "auto").lower()) or default_precision(arch)


def log_case(log: VllmLog, arch: ModelArch, gpu: GPU, version: str | None = None) -> LogCase:
    """The estimator's setup for ``log``: its version (or ``version``), TP/PP, context (vLLM's default: the model's
    maximum), utilization (default 0.9), batch settings, block size and eager mode."""
    ver = version or log.version
    if ver is None:
        raise InputError(f"{log.path}: no vLLM version line (such as 'vLLM API server version 0.9.2' or 'Initializing "
                         "a V1 LLM engine (v0.9.2)'); give --vllm-version")
    parse_version(ver)
    v = parse_version(ver)
    core = log.core if (log.core != "v0" or v < (0, 11, 0)) and (log.core != "v1" or v >= (0, 7, 0)) else "auto"
    eng = EngineProfile(version=ver, core=core, max_num_seqs=log.max_num_seqs,
                        max_num_batched_tokens=log.max_num_batched_tokens, enforce_eager=log.enforce_eager,
                        block_size=log.block_size or 16)
    if log.total_gpu_memory_gib:
        gpu = dataclasses.replace(gpu, memory_gib=log.total_gpu_memory_gib)
    kv = "fp8" if (log.kv_cache_dtype or "").startswith("fp8") else "auto"
    kw = {"tp": log.tp or 1, "pp": log.pp or 1, "precision": _precision(log, arch), "kv_cache_dtype": kv,
          "context_tokens": min(log.max_model_len or arch.max_context, arch.max_context),
          "gpu_memory_utilization": log.gpu_memory_utilization or 0.9, "engine": eng}
    return LogCase(log, arch, gpu, kw)


def predict(case: LogCase, fits: tuple[MemoryFit, ...] = ()) -> MemoryEstimate:
    """The estimate of the log's setup, with ``fits`` (none: the built-in constants)."""
    kw = dict(case.kw)
    kw["engine"] = dataclasses.replace(case.engine, memory_fits=fits)
    return estimate_memory(case.arch, case.gpu, **kw)


def logged_tokens(case: LogCase, e: MemoryEstimate) -> int | None:
    """The KV-cache size in tokens the log states, or its KV GiB in whole blocks of the estimate's bytes per token."""
    if case.log.kv_tokens is not None:
        return case.log.kv_tokens
    if case.log.kv_cache_gib is None or e.kv_bytes_per_token <= 0:
        return None
    block = e.block_size * e.kv_bytes_per_token
    return max(0, int(case.log.kv_cache_gib * GIB) // block * e.block_size)


def _observed(case: LogCase, e: MemoryEstimate) -> tuple[float | None, float | None]:
    """(non-torch bytes, activation bytes) per device that the log shows or implies (module docstring)."""
    log, d = case.log, e.per_device
    nt = None if log.non_torch_gib is None else log.non_torch_gib * GIB
    act = None if log.activation_peak_gib is None else log.activation_peak_gib * GIB
    if nt is not None and act is not None:
        return nt, act
    kv = log.kv_cache_gib * GIB if log.kv_cache_gib is not None else (
        log.kv_tokens * e.kv_bytes_per_token if log.kv_tokens is not None else None)
    if kv is None or e.engine.kv_cache_memory_bytes:
        return nt, act
    weights = log.weights_gib * GIB if log.weights_gib is not None else d.weights_bytes
    rest = d.usable_bytes - weights - kv - d.cuda_graph_bytes  # non-torch + activation
    if nt is None and act is not None:
        return rest - act, act
    return nt, rest - (d.non_torch_bytes if nt is None else nt)


def fit_memory(cases: list[LogCase], source: str) -> tuple[MemoryFit, ...]:
    """One MemoryFit per (GPU type, version family, TP size) of the logs (module docstring)."""
    groups: dict[tuple[str, str, int], list[tuple[float | None, float | None]]] = {}
    for c in cases:
        e = predict(c)
        nt, act = _observed(c, e)
        base = e.per_device.activation_bytes
        factor = act / base if act is not None and act > 0 and base > 0 else None
        key = (c.gpu.id, c.family, c.kw["tp"])
        groups.setdefault(key, []).append((nt, factor))
    pooled: dict[tuple[str, str], list[float]] = {}
    for (g, fam, _), obs in groups.items():
        pooled.setdefault((g, fam), []).extend(f for _, f in obs if f is not None)
    lo, hi = ACTIVATION_FACTOR_RANGE
    out = []
    for (g, fam, tp), obs in sorted(groups.items()):
        nts = [max(0.0, n) for n, _ in obs if n is not None]
        fs = [f for _, f in obs if f is not None] or pooled[(g, fam)]
        factor = min(hi, max(lo, statistics.median(fs))) if fs else 1.0
        out.append(MemoryFit(gpu=g, family=fam, tp=tp, non_torch_bytes=int(statistics.median(nts)) if nts else None,
                             activation_factor=round(factor, 4), logs=len(obs), source=source))
    return tuple(out)


def errors(cases: list[LogCase], fits: tuple[MemoryFit, ...]) -> list[dict[str, Any]]:
    """Per log: the logged KV tokens, and the prediction and its error before (built-in) and after (``fits``), and
    held out: with the terms fitted on the other logs of its GPU type and version family (None when it has none)."""
    rows = []
    for i, c in enumerate(cases):
        before, after = predict(c), predict(c, fits)
        want = logged_tokens(c, before)
        others = [o for j, o in enumerate(cases) if j != i and (o.gpu.id, o.family) == (c.gpu.id, c.family)]
        held = predict(c, fit_memory(others, "")) if others else None
        row: dict[str, Any] = {"log": Path(c.log.path).name, "model": c.arch.id, "gpu": c.gpu.id, "vllm": c.engine.version,
                               "family": c.family, "tp": c.kw["tp"], "pp": c.kw["pp"], "logged_kv_tokens": want,
                               "before_kv_tokens": before.kv_cache_tokens, "after_kv_tokens": after.kv_cache_tokens,
                               "held_out_kv_tokens": None if held is None else held.kv_cache_tokens}
        for k, e in (("before", before), ("after", after), ("held_out", held)):
            row[f"{k}_error"] = None if not want or e is None else e.kv_cache_tokens / want - 1
        rows.append(row)
    return rows

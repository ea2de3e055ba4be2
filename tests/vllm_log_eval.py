"""Shared by tests/test_vllm_logs.py and benchmarks/vllm_memory_fit.py: each run of tests/data/vllm_logs.yaml,
estimated under its own vLLM version and settings, beside what vLLM printed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from planner.estimate.engine import EngineProfile
from planner.estimate.memory import (
    DeviceMemory,
    MemoryEstimate,
    cuda_graph_bytes,
    estimate_memory,
    rules_for,
    stage_devices,
    stage_layers,
)
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model
from planner.units import GIB

LOGS = Path(__file__).parent / "data" / "vllm_logs.yaml"


@dataclass(frozen=True)
class Case:
    run: dict[str, Any]
    est: MemoryEstimate

    @property
    def id(self) -> str:
        return str(self.run["id"])

    def logged(self, key: str) -> float | None:
        v = self.run["logged"].get(key)
        return None if v is None else float(v)

    def ours(self, key: str) -> float:
        d = self.est.per_device
        if key == "cuda_graph_gib":  # the pool a graph-budgeting version would subtract
            layers = stage_layers(get_model(self.run["model"]).num_layers, self.est.pp)[0]
            prof = dataclasses.replace(self.est.engine, version="0.21.0", core="v1")
            return cuda_graph_bytes(layers, rules_for(prof)) / GIB
        if key in ("weights_gib", "activation_peak_gib") and self.est.pp > 1:  # a PP log prints one rank, not
            # always the binding one: compare with the nearest stage
            attr = "weights_bytes" if key == "weights_gib" else "activation_bytes"
            vals = [getattr(x, attr) / GIB for x in self.stages()]
            return min(vals, key=lambda w: abs(w - (self.logged(key) or 0)))
        return {"weights_gib": d.weights_bytes / GIB, "activation_peak_gib": d.activation_bytes / GIB,
                "non_torch_gib": d.non_torch_bytes / GIB, "kv_cache_gib": d.kv_cache_bytes / GIB,
                "kv_tokens": float(self.est.kv_cache_tokens)}[key]


    def stages(self) -> list[DeviceMemory]:
        e = self.est
        return stage_devices(get_model(self.run["model"]), load_catalog().get(self.run["gpu"]), tp=e.tp, pp=e.pp,
                             precision=e.precision, kv_cache_dtype=e.kv_cache_dtype,
                             gpu_memory_utilization=e.gpu_memory_utilization, engine=e.engine,
                             context_tokens=e.context_tokens)


@lru_cache(maxsize=1)
def runs() -> list[dict[str, Any]]:
    return list(yaml.safe_load(LOGS.read_text(encoding="utf-8"))["runs"])


def estimate_run(run: dict[str, Any]) -> MemoryEstimate:
    cat = load_catalog()
    g = cat.get(run["gpu"])
    if run.get("total_gpu_memory_gib"):
        g = dataclasses.replace(g, memory_gib=float(run["total_gpu_memory_gib"]))
    arch = get_model(run["model"])
    prof = EngineProfile(version=run["vllm_version"], core=run["core"], max_num_seqs=run.get("max_num_seqs"),
                         max_num_batched_tokens=run.get("max_num_batched_tokens"))
    return estimate_memory(arch, g, tp=run["tp"], pp=run["pp"], precision=run["precision"],
                           kv_cache_dtype=run["kv_cache_dtype"], context_tokens=run.get("max_model_len") or arch.max_context,
                           gpu_memory_utilization=run.get("gpu_memory_utilization") or 0.9, engine=prof)


def cases() -> list[Case]:
    return [Case(r, estimate_run(r)) for r in runs()]


def rel_err(ours: float, logged: float) -> float:
    return (ours - logged) / logged


def kv_error(c: Case) -> float | None:
    """Relative error of the KV capacity: tokens when vLLM printed them, else the KV GiB (None when neither, or
    when vLLM printed no positive KV cache)."""
    for key in ("kv_tokens", "kv_cache_gib"):
        v = c.logged(key)
        if v is not None and v > 0:
            return rel_err(c.ours(key), v)
    return None

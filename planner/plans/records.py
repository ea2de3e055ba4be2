"""The plan: what to buy, what runs where, and what it costs. Frozen records with units in their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from planner.units import HOURS_PER_MONTH

# solver statistics that do not change between runs or thread counts (kept in --reproducible output)
DETERMINISTIC_SOLVER_KEYS = ("solver", "status", "variables", "constraints")


@dataclass(frozen=True)
class Shard:
    """A replica's piece on one device (one pipeline stage of one TP rank), or a whole shared engine."""

    model: str
    replica: str
    stage: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    gpu_memory_utilization: float  # the engine's fraction of the device (vLLM --gpu-memory-utilization)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes + self.overhead_bytes


@dataclass(frozen=True)
class Device:
    id: str
    gpu: str
    memory_total_bytes: int
    memory_usable_bytes: int
    shards: tuple[Shard, ...]

    @property
    def memory_used_bytes(self) -> int:
        return sum(s.total_bytes for s in self.shards)


@dataclass(frozen=True)
class Instance:
    id: str
    offer: str
    gpu: str
    provider: str
    instance_type: str
    usd_per_hour: float
    devices: tuple[Device, ...]


@dataclass(frozen=True)
class Replica:
    id: str
    model: str
    gpu: str
    tp: int
    pp: int
    concurrency: int  # sequences it may hold at once (min of memory and SLO capacity)
    capacity_units: int
    binding: str  # the limit that sets its concurrency: "memory" or "slo" (JSON key "bound")
    shared: bool
    devices: tuple[str, ...]
    step_ms: float  # one serving step (decode plus prefill chunks); JSON key "decode_ms_per_token"
    ttft_ms: float
    tokens_per_s: float


@dataclass(frozen=True)
class ModelResult:
    name: str
    model: str
    unit: str  # "sequences" or "milli_requests_per_s"
    target_units: int
    served_units: int
    target_concurrency: int | None
    served_concurrency: int
    min_replicas: int
    replicas: int


@dataclass(frozen=True)
class Plan:
    scenario: str
    pricing: str
    status: str  # optimal | feasible | infeasible
    cost_usd_per_hour: float
    bound_usd_per_hour: float
    gap: float
    solve_seconds: float
    models: tuple[ModelResult, ...]
    replicas: tuple[Replica, ...]
    instances: tuple[Instance, ...]
    solver: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def cost_usd_per_month(self) -> float:
        return self.cost_usd_per_hour * HOURS_PER_MONTH

    @property
    def gpus(self) -> int:
        return sum(len(i.devices) for i in self.instances)

    def gpus_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.instances:
            out[i.gpu] = out.get(i.gpu, 0) + len(i.devices)
        return dict(sorted(out.items()))

    def to_dict(self, reproducible: bool = False) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "status": self.status,
            "pricing": self.pricing,
            "cost_usd_per_hour": round(self.cost_usd_per_hour, 4),
            "cost_usd_per_month": round(self.cost_usd_per_month, 2),
            "bound_usd_per_hour": round(self.bound_usd_per_hour, 4),
            "gap": round(self.gap, 6),
            "solve_seconds": 0.0 if reproducible else round(self.solve_seconds, 3),
            "gpus": self.gpus,
            "gpus_by_type": self.gpus_by_type(),
            "models": [
                {"name": m.name, "model": m.model, "unit": m.unit, "target_units": m.target_units,
                 "served_units": m.served_units, "target_concurrency": m.target_concurrency,
                 "served_concurrency": m.served_concurrency, "min_replicas": m.min_replicas, "replicas": m.replicas}
                for m in self.models
            ],
            "replicas": [
                {"id": r.id, "model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "concurrency": r.concurrency,
                 "capacity_units": r.capacity_units, "bound": r.binding, "shared": r.shared, "devices": list(r.devices),
                 "decode_ms_per_token": round(r.step_ms, 3), "ttft_ms": round(r.ttft_ms, 2),
                 "tokens_per_s": round(r.tokens_per_s, 1)}
                for r in self.replicas
            ],
            "instances": [
                {"id": i.id, "offer": i.offer, "gpu": i.gpu, "provider": i.provider, "instance_type": i.instance_type,
                 "usd_per_hour": i.usd_per_hour,
                 "devices": [
                     {"id": d.id, "memory_total_bytes": d.memory_total_bytes, "memory_usable_bytes": d.memory_usable_bytes,
                      "memory_used_bytes": d.memory_used_bytes,
                      "shards": [
                          {"model": s.model, "replica": s.replica, "stage": s.stage, "weights_bytes": s.weights_bytes,
                           "kv_cache_bytes": s.kv_cache_bytes, "activation_bytes": s.activation_bytes,
                           "overhead_bytes": s.overhead_bytes, "gpu_memory_utilization": s.gpu_memory_utilization}
                          for s in d.shards
                      ]}
                     for d in i.devices
                 ]}
                for i in self.instances
            ],
            "solver": {k: v for k, v in self.solver.items() if not reproducible or k in DETERMINISTIC_SOLVER_KEYS},
            "baselines": self.baselines,
            "notes": list(self.notes),
        }

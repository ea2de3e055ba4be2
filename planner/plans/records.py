"""The plan: what to buy, what runs where, and what it costs. Frozen records with units in their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from planner.units import HOURS_PER_MONTH

IDLE = "(idle)"  # who pays for an instance no engine uses

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

    def cost_shares(self) -> dict[str, Fraction]:
        """Who pays for this instance, as exact shares: its price splits equally over the devices engines use (the
        idle devices of an instance are paid by its users), and a device's share over its engines by the memory each
        holds (a dedicated device: its one replica). An instance nobody uses is ``IDLE``."""
        used = [d for d in self.devices if d.memory_used_bytes > 0]
        if not used:
            return {IDLE: Fraction(1)}
        out: dict[str, Fraction] = {}
        for d in used:
            for sh in d.shards:
                out[sh.model] = out.get(sh.model, Fraction(0)) + Fraction(sh.total_bytes, d.memory_used_bytes * len(used))
        return out


def split_exactly(total: int, shares: dict[str, Fraction]) -> dict[str, int]:
    """Split a whole number (micro-dollars, cents) by exact shares summing to 1: each part rounded down, the units
    left by rounding to the largest remainders (ties by name). The parts sum to ``total``."""
    raw = {k: v * total for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[:total - sum(out.values())]:
        out[k] += 1
    return out


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
    over: str = ""  # stages across instances of this offer, charged over its fabric ("": all in one instance)
    fabric: str = ""  # that fabric in words: "efa 3200 Gbit/s, one placement group"


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
    survive: str = "none"  # none | replica | instance | provider (the scenario's resilience for this model)
    keep: float = 1.0
    kept_units: int = 0  # units it must still serve with one failure domain lost: ceil(keep x target)


def replica_units(r: Replica, unit: str) -> int:
    """What a replica counts toward its model's target: sequences, or milli-requests/s."""
    return r.concurrency if unit == "sequences" else r.capacity_units


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
    price_warnings: tuple[dict[str, Any], ...] = ()  # offers bought at a stale or low-confidence price (freshness.py)

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

    def cost_shares(self) -> dict[str, Fraction]:
        """Each model's exact share of the fleet's cost: sum over instances of price x ``Instance.cost_shares``,
        over the fleet's price (``IDLE`` for instances nobody uses)."""
        owed: dict[str, Fraction] = {}
        for inst in self.instances:
            price = round(inst.usd_per_hour * 1_000_000)
            for k, v in inst.cost_shares().items():
                owed[k] = owed.get(k, Fraction(0)) + price * v
        total = sum(owed.values(), Fraction(0))
        return {k: v / total for k, v in owed.items()} if total else {}

    def model_costs(self) -> dict[str, tuple[float, float]]:
        """(USD per hour, USD per month) per model (and ``IDLE`` if any instance is unused): the fleet's micro-dollars
        per hour and cents per month split by ``cost_shares``, so the parts sum to the fleet's figures exactly."""
        shares = self.cost_shares()
        hour = split_exactly(round(self.cost_usd_per_hour * 1_000_000), shares)
        month = split_exactly(round(self.cost_usd_per_month * 100), shares)
        return {k: (hour[k] / 1_000_000, month[k] / 100) for k in shares}

    def failure_domains(self, kind: str) -> list[tuple[str, set[str]]]:
        """Every failure domain of ``kind`` (replica | instance | provider) with the replicas losing it removes (a
        replica with any device in a lost instance is lost)."""
        if kind == "replica":
            return [(r.id, {r.id}) for r in self.replicas]
        where = {d.id: i for i in self.instances for d in i.devices}
        key = (lambda i: i.id) if kind == "instance" else (lambda i: i.provider)
        lost: dict[str, set[str]] = {}
        for i in self.instances:
            lost.setdefault(key(i), set())
        for r in self.replicas:
            for dev in r.devices:
                lost[key(where[dev])].add(r.id)
        return sorted(lost.items())

    def resilience(self) -> dict[str, Any]:
        """Per model, the worst single failure of its domain kind (instance when it asks for none) and what is left.
        Ties go to the first domain in sorted order."""
        domains = {kind: self.failure_domains(kind) for kind in {"instance" if m.survive == "none" else m.survive
                                                                 for m in self.models}}
        of_replica: dict[str, dict[str, list[str]]] = {}  # kind -> replica -> the domains losing it
        for kind, doms in domains.items():
            idx: dict[str, list[str]] = {}
            for dom, gone in doms:
                for rid in gone:
                    idx.setdefault(rid, []).append(dom)
            of_replica[kind] = idx
        out = {}
        for m in self.models:
            kind = "instance" if m.survive == "none" else m.survive
            lost: dict[str, int] = {}
            served = 0
            for r in self.replicas:
                if r.model == m.name:
                    u = replica_units(r, m.unit)
                    served += u
                    for dom in of_replica[kind].get(r.id, []):
                        lost[dom] = lost.get(dom, 0) + u
            worst = min(lost, key=lambda d: (-lost[d], d)) if lost else ""
            left = served - lost.get(worst, 0)
            out[m.name] = {"survive": m.survive, "keep": m.keep, "domain": kind, "required_units": m.kept_units,
                           "worst_failure": worst, "left_units": left,
                           "left_share_of_target": round(left / m.target_units, 4) if m.target_units else 1.0}
        return out

    def _span(self, r: Replica) -> dict[str, Any]:
        """For a replica whose stages may span instances: the instances that form it and the fabric they need."""
        if not r.over:
            return {}
        inst_of = {d.id: i.id for i in self.instances for d in i.devices}
        return {"instances": list(dict.fromkeys(inst_of[d] for d in r.devices if d in inst_of)),
                "fabric": {"offer": r.over, "needs": r.fabric}}

    def to_dict(self, reproducible: bool = False) -> dict[str, Any]:
        costs = self.model_costs()
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
                 "served_concurrency": m.served_concurrency, "min_replicas": m.min_replicas, "replicas": m.replicas,
                 "cost_usd_per_hour": costs.get(m.name, (0.0, 0.0))[0], "cost_usd_per_month": costs.get(m.name, (0.0, 0.0))[1]}
                for m in self.models
            ],
            "idle_cost_usd_per_hour": costs.get(IDLE, (0.0, 0.0))[0],
            "resilience": self.resilience(),
            "replicas": [
                {"id": r.id, "model": r.model, "gpu": r.gpu, "tp": r.tp, "pp": r.pp, "concurrency": r.concurrency,
                 "capacity_units": r.capacity_units, "bound": r.binding, "shared": r.shared, "devices": list(r.devices),
                 "decode_ms_per_token": round(r.step_ms, 3), "ttft_ms": round(r.ttft_ms, 2),
                 "tokens_per_s": round(r.tokens_per_s, 1)} | self._span(r)
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
            "price_warnings": list(self.price_warnings),
            "notes": list(self.notes),
        }

"""How capacity is bought over time: committed (reserved) instances, on-demand by the hour, and spot.

Per offer, three prices per instance-hour:
    committed  the catalog's ``reserved_1y_usd_per_hour`` or ``reserved_3y_usd_per_hour`` (the scenario's ``term``),
               or on-demand x (1 - discount) when the scenario states a discount for the offer or its provider
               (the scenario's figure wins); paid for every hour of the period. No price: no commitment possible.
    on-demand  the catalog's ``usd_per_hour``.
    spot       the catalog's ``spot_usd_per_hour``, interrupted at rate r (``spot_interruption`` in the catalog:
               the AWS Spot Advisor bucket, planned at its upper edge; ``>20%`` and offers without a bucket use
               ``spot.interruption_rate``, an assumption the scenario can change).

``spot.mode`` says how a spot instance counts:
    expected   at its expected availability: a replica on spot holds (1 - r) of its capacity; priced at spot
    fallback   fully, because an interrupted instance is replaced on demand: priced (1 - r) spot + r on-demand
and ``spot.max_share`` caps the spot GPUs of every hour as a share of that hour's GPUs (default 0: no spot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from planner.inputs.catalog import Catalog, Offer

# AWS Spot Advisor interruption buckets (share of instances reclaimed over the trailing month), planned at the
# bucket's upper edge; ">20%" has no upper edge, so it takes the scenario's spot.interruption_rate
SPOT_BUCKETS: dict[str, float | None] = {"<5%": 0.05, "5-10%": 0.10, "10-15%": 0.15, "15-20%": 0.20, ">20%": None}
DEFAULT_INTERRUPTION_RATE = 0.3  # an assumption for ">20%" and for offers with no published rate; set your own


class SpotIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    max_share: float = Field(default=0.0, ge=0, le=1)
    mode: Literal["expected", "fallback"] = "fallback"
    interruption_rate: float = Field(default=DEFAULT_INTERRUPTION_RATE, ge=0, lt=1)


class CommitmentIn(BaseModel):
    """The scenario's ``commitment`` block."""

    model_config = ConfigDict(extra="forbid", strict=True)
    term: Literal["1y", "3y", "none"] = "1y"
    discounts: dict[str, float] | None = None  # offer id or provider -> fraction off on-demand for a commitment
    spot: SpotIn = SpotIn()


@dataclass(frozen=True)
class Commitment:
    term: str  # 1y | 3y | none
    discounts: tuple[tuple[str, float], ...]  # (offer id or provider, fraction off on-demand)
    spot_max_share: float
    spot_mode: str  # expected | fallback
    interruption_rate: float  # for ">20%" and offers without a bucket


DEFAULT_COMMITMENT = Commitment(term="1y", discounts=(), spot_max_share=0.0, spot_mode="fallback",
                                interruption_rate=DEFAULT_INTERRUPTION_RATE)


def resolve_commitment(c: CommitmentIn | None, catalog: Catalog, where: str) -> Commitment:
    """The validated block, its discount keys checked against the catalog's offers and providers."""
    if c is None:
        return DEFAULT_COMMITMENT
    keys = sorted({o.id for g in catalog.gpus.values() for o in g.offers} | {o.provider for g in catalog.gpus.values()
                                                                             for o in g.offers})
    for k, v in sorted((c.discounts or {}).items()):
        if k not in keys:
            raise InputError(f"{where}.discounts.{k}: unknown offer or provider '{k}'{did_you_mean(k, keys)}; keys are "
                             "offer ids (provider:instance) or providers")
        if not 0 <= v < 1:
            raise InputError(f"{where}.discounts.{k}: {v!r} is out of range; allowed: a fraction from 0 to below 1")
    return Commitment(term=c.term, discounts=tuple(sorted((c.discounts or {}).items())),
                      spot_max_share=c.spot.max_share, spot_mode=c.spot.mode, interruption_rate=c.spot.interruption_rate)


@dataclass(frozen=True)
class TieredOffer:
    """An offer with its three prices (USD per instance-hour; None: not available that way)."""

    id: str
    gpu: str
    gpus_per_instance: int
    on_demand_usd_per_hour: float
    committed_usd_per_hour: float | None
    committed_basis: str  # "reserved_1y (source, as_of)", "discount 30 % (scenario)" or ""
    spot_usd_per_hour: float | None  # what a spot instance-hour is planned to cost (fallback mode: the blend)
    spot_list_usd_per_hour: float | None
    interruption_rate: float
    max_instances: int | None


def tiered_offers(catalog: Catalog, gpu_ids: tuple[str, ...], providers: tuple[str, ...] | None,
                  limits: dict[str, int], c: Commitment) -> list[TieredOffer]:
    """Every on-demand-priced offer of the scenario's GPU types with its committed and spot prices (module doc)."""
    out: list[TieredOffer] = []
    disc = dict(c.discounts)
    for gid in sorted(gpu_ids):
        for o in catalog.gpus[gid].offers:
            if o.usd_per_hour is None or (providers is not None and o.provider not in providers):
                continue
            committed, basis = _committed(o, c.term, disc)
            rate = _rate(o.spot_interruption, c.interruption_rate)
            spot = o.spot_usd_per_hour if c.spot_max_share > 0 else None
            planned = None if spot is None else (spot if c.spot_mode == "expected" else (1 - rate) * spot + rate * o.usd_per_hour)
            out.append(TieredOffer(id=o.id, gpu=gid, gpus_per_instance=o.gpus_per_instance,
                                   on_demand_usd_per_hour=o.usd_per_hour, committed_usd_per_hour=committed,
                                   committed_basis=basis, spot_usd_per_hour=planned, spot_list_usd_per_hour=spot,
                                   interruption_rate=rate, max_instances=limits.get(o.id, o.max_instances)))
    out.sort(key=lambda t: (t.gpu, t.id))
    return out


def _committed(o: Offer, term: str, disc: dict[str, float]) -> tuple[float | None, str]:
    assert o.usd_per_hour is not None
    for key in (o.id, o.provider):
        if key in disc:
            return round(o.usd_per_hour * (1 - disc[key]), 6), f"scenario discount {disc[key]:.0%} on {key}"
    price = {"1y": o.reserved_1y_usd_per_hour, "3y": o.reserved_3y_usd_per_hour}.get(term)
    if price is None:
        return None, ""
    return price, f"reserved_{term}_usd_per_hour ({o.reserved_source or o.source})"


def _rate(bucket: str | None, default: float) -> float:
    if bucket is None:
        return default
    edge = SPOT_BUCKETS.get(bucket)
    return default if edge is None else edge

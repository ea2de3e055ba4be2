"""The schema of catalog files (pydantic), used to validate a user's catalog and, in the tests, the shipped one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.units import Precision

OfferKind = Literal["cloud", "marketplace", "owned"]  # a provider's own machines, one marketplace host, your own
OFFER_KINDS: tuple[str, ...] = ("cloud", "marketplace", "owned")
Confidence = Literal["high", "medium", "low"]  # high: provider's own list or data feed; low: undated or secondary
# the price fields an offer may quote in, by currency: (on-demand, spot) per instance-hour
PRICE_FIELDS = {"USD": ("usd_per_hour", "spot_usd_per_hour"), "CNY": ("cny_per_hour", "spot_cny_per_hour"),
                "EUR": ("eur_per_hour", "spot_eur_per_hour")}


class FabricIn(BaseModel):
    """The network between instances of one offer: none (separate hosts), Ethernet, InfiniBand or EFA at Gbit/s
    per instance, and whether instances can share a placement group (scale set)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["none", "ethernet", "infiniband", "efa"]
    gbit_s: float | None = Field(default=None, gt=0, le=100_000)
    placement_group: bool = False
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _speed(self) -> FabricIn:
        if (self.kind == "none") != (self.gbit_s is None):
            raise ValueError("give gbit_s for an ethernet, infiniband or efa fabric, and none for kind none")
        return self


class OfferIn(BaseModel):
    """An offer quotes its price in one currency: the one its source quotes (converted to USD at the catalog's rate)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    provider: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    gpus_per_instance: int = Field(ge=1, le=64)
    kind: OfferKind = "cloud"
    # how many instances of the offer one user can get (a marketplace listing: its host count); null: unlimited
    max_instances: int | None = Field(default=None, ge=0, le=1_000_000)
    max_instances_source: str | None = Field(default=None, min_length=1)
    fabric: FabricIn | None = None  # the network between its instances (None: not stated)
    usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    spot_usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    cny_per_hour: float | None = Field(default=None, ge=0, le=100_000)
    spot_cny_per_hour: float | None = Field(default=None, ge=0, le=100_000)
    eur_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    spot_eur_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    price_cny_per_hour: float | None = Field(default=None, ge=0, le=100_000)  # older name of cny_per_hour
    region: str | None = None
    source: str = Field(min_length=1)
    as_of: str | None = None
    confidence: Confidence | None = None
    note: str | None = None
    fx: str | None = None  # older files named their conversion; the catalog's fx.yaml rate is used now
    # commitments and spot interruption (issue 16): effective hourly rates of reserved instances, with their source
    reserved_1y_usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    reserved_3y_usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    reserved_source: str | None = None
    reserved_as_of: str | None = None
    spot_interruption: Literal["<5%", "5-10%", "10-15%", "15-20%", ">20%"] | None = None  # AWS Spot Advisor bucket
    spot_interruption_source: str | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_str(cls, v: Any) -> Any:
        return None if v is None else str(v)

    @model_validator(mode="after")
    def _one_currency(self) -> OfferIn:
        if self.max_instances is not None and self.max_instances_source is None:
            raise ValueError("max_instances needs max_instances_source (a source key or text saying where the count "
                             "comes from)")
        if self.price_cny_per_hour is not None:
            if self.cny_per_hour is not None:
                raise ValueError("give cny_per_hour or its older name price_cny_per_hour, not both")
            self.cny_per_hour, self.price_cny_per_hour = self.price_cny_per_hour, None
        quoted = [c for c, fs in PRICE_FIELDS.items() if any(getattr(self, f) is not None for f in fs)]
        if len(quoted) > 1:
            raise ValueError(f"prices in {' and '.join(quoted)}: quote an offer in one currency (the source's); "
                             "the planner converts at the rate in fx.yaml")
        return self


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    usd: float | None = Field(default=None, gt=0, le=10_000_000)
    cny: float | None = Field(default=None, gt=0, le=100_000_000)
    eur: float | None = Field(default=None, gt=0, le=10_000_000)
    power_w: float = Field(gt=0, le=10_000)
    source: str = Field(min_length=1)
    as_of: str | None = None
    note: str | None = None
    price_cny: float | None = Field(default=None, gt=0)  # the CNY street price behind a USD figure (informational)
    fx: str | None = None

    @model_validator(mode="after")
    def _one_price(self) -> PurchaseIn:
        given = [k for k in ("usd", "cny", "eur") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a purchase needs exactly one of usd, cny, eur (the currency its source quotes)")
        return self


class GPUIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str | None = None
    vendor: str | None = None
    architecture: str | None = None
    family: str | None = None
    form_factor: str | None = None
    memory_marketed_gb: float | None = Field(default=None, gt=0, le=10_000)
    memory_gib: float | None = Field(default=None, gt=0, le=10_000)
    bandwidth_gb_s: float | None = Field(default=None, gt=0, le=100_000)
    bf16_tflops: float | None = Field(default=None, gt=0, le=100_000)
    fp16_tflops: float | None = Field(default=None, gt=0, le=100_000)
    fp8_tflops: float | None = Field(default=None, gt=0, le=100_000)
    int8_tops: float | None = Field(default=None, gt=0, le=100_000)
    tdp_w: float | None = Field(default=None, gt=0, le=10_000)
    interconnect: str | None = None
    interconnect_gb_s: float | None = Field(default=None, gt=0, le=100_000)
    max_gpus_per_node: int | None = Field(default=None, ge=1, le=1024)
    mig_max_instances: int | None = Field(default=None, ge=0, le=64)
    formats: list[Precision] | None = None
    sources: dict[str, str] | None = None
    as_of: str | None = None
    notes: str | None = None
    offers: list[OfferIn] | None = None
    purchase: PurchaseIn | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_str(cls, v: Any) -> Any:
        return None if v is None else str(v)

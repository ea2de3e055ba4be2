"""The schema of catalog files (pydantic), used to validate a user's catalog and, in the tests, the shipped one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.units import Precision


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    provider: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    gpus_per_instance: int = Field(ge=1, le=64)
    usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    spot_usd_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    region: str | None = None
    source: str = Field(min_length=1)
    as_of: str | None = None
    note: str | None = None
    price_cny_per_hour: float | None = Field(default=None, ge=0)
    fx: str | None = None


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    usd: float = Field(gt=0, le=10_000_000)
    power_w: float = Field(gt=0, le=10_000)
    source: str = Field(min_length=1)
    as_of: str | None = None
    note: str | None = None
    price_cny: float | None = Field(default=None, gt=0)
    fx: str | None = None


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

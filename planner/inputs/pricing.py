"""Prices per instance under a pricing mode: on-demand, spot, or owned hardware amortized with power and hosting.

Owned hardware (``pricing: owned``), per GPU-hour:

    purchase_usd / (amortization_months x 730)             capital, straight-line
  + power_w x utilization_of_tdp / 1000 x pue x usd_per_kwh    electricity, with the data centre's PUE
  + hosting_usd_per_gpu_month / 730                        rack space, network, operations

Owned machines are bought as servers of 1, 2, 4 or 8 GPUs (up to the GPU's ``max_gpus_per_node``).

Money is exact: every price and budget becomes a whole number of micro-dollars per hour (``micro_usd``), and the
integer program, the checker and the explanations add those integers, so they agree to the cent (a budget equal to
the optimum is feasible). Owned prices are rounded to the micro-dollar once, per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from planner.units import HOURS_PER_MONTH

MICRO_USD = 1_000_000  # micro-dollars per dollar


def micro_usd(usd: float) -> int:
    """A dollar amount as whole micro-dollars (round half to even, as ``round``): the one conversion of money."""
    return round(usd * MICRO_USD)


Pricing = Literal["on_demand", "spot", "owned"]  # how an offer is paid for: its list price, spot, or owned hardware
PRICING_MODES: tuple[str, ...] = get_args(Pricing)

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU


@dataclass(frozen=True)
class Owned:
    """Cost assumptions for owned hardware; every default is an assumption to replace with your own figures."""

    amortization_months: int = 36  # three-year straight-line depreciation, the common accounting life of servers
    usd_per_kwh: float = 0.127  # US average commercial electricity price, 2024 (EIA Electric Power Monthly: ~12.7 c/kWh)
    pue: float = 1.58  # average data-centre PUE (Uptime Institute Global Data Center Survey 2023: 1.58)
    hosting_usd_per_gpu_month: float = 50.0  # rack space, network and operations per GPU: an assumption, set your own
    utilization_of_tdp: float = 0.8  # average draw as a share of TDP under serving load: an assumption


@dataclass(frozen=True)
class PricedOffer:
    """An offer with its price under the scenario's pricing mode."""

    id: str
    gpu: str
    provider: str
    instance: str
    gpus_per_instance: int
    usd_per_hour: float
    source: str
    as_of: str
    max_instances: int | None = None  # the catalog's availability, or the scenario's limit for this offer id
    kind: str = "cloud"  # cloud | marketplace | owned
    # the network between its instances (catalog ``fabric``); an offer that states none has no fabric (owned servers,
    # marketplace hosts, and clouds whose fabric the catalog does not record): a pipeline stays inside one instance
    fabric_kind: str = "none"  # none | ethernet | infiniband | efa
    fabric_gbit_s: float | None = None  # per instance, 1 Gbit = 1e9 bits
    placement_group: bool = False  # instances must share a placement group (scale set) to reach that fabric

    @property
    def micro_usd_per_hour(self) -> int:
        """The instance's price in whole micro-dollars per hour: what the solver and the checker add up."""
        return micro_usd(self.usd_per_hour)

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.usd_per_hour / self.gpus_per_instance


def owned_usd_per_gpu_hour(gpu: GPU, owned: Owned) -> float | None:
    """Hourly cost of owning one GPU (formula in the module doc), or None without a purchase price."""
    if gpu.purchase is None:
        return None
    p = gpu.purchase
    capital = p.usd / (owned.amortization_months * HOURS_PER_MONTH)
    power = p.power_w * owned.utilization_of_tdp / 1000.0 * owned.pue * owned.usd_per_kwh
    hosting = owned.hosting_usd_per_gpu_month / HOURS_PER_MONTH
    return capital + power + hosting


def priced_offers(gpu: GPU, pricing: str, owned: Owned, providers: tuple[str, ...] | None = None,
                  limits: dict[str, int] | None = None) -> list[PricedOffer]:
    """The offers for ``gpu`` that have a price under ``pricing`` (stable order: provider, instance). An offer's
    ``max_instances`` is the scenario's limit for its id when given (raising or lowering the catalog's), else the
    catalog's availability."""
    limits = limits or {}
    out: list[PricedOffer] = []
    if pricing == "owned":
        per_gpu = owned_usd_per_gpu_hour(gpu, owned)
        if per_gpu is None:
            return []
        assert gpu.purchase is not None
        n = 1
        while n <= gpu.max_gpus_per_node:
            oid = f"owned:{gpu.id}x{n}"
            out.append(PricedOffer(id=oid, gpu=gpu.id, provider="owned", instance=f"{n}x {gpu.id} server",
                                   gpus_per_instance=n, usd_per_hour=micro_usd(per_gpu * n) / MICRO_USD, source=gpu.purchase.source,
                                   as_of=gpu.purchase.as_of, max_instances=limits.get(oid), kind="owned"))
            n *= 2
        return out
    for o in gpu.offers:
        if providers is not None and o.provider not in providers:
            continue
        price = o.usd_per_hour if pricing == "on_demand" else o.spot_usd_per_hour
        if price is None:
            continue
        out.append(PricedOffer(id=o.id, gpu=gpu.id, provider=o.provider, instance=o.instance,
                               gpus_per_instance=o.gpus_per_instance, usd_per_hour=price, source=o.source, as_of=o.as_of,
                               max_instances=limits.get(o.id, o.max_instances), kind=o.kind,
                               **_fabric_fields(o.fabric)))
    out.sort(key=lambda x: (x.provider, x.instance))
    return out


def _fabric_fields(fabric: dict | None) -> dict:
    """The catalog's ``fabric`` of an offer as PricedOffer fields (not stated: none)."""
    if not fabric or fabric.get("kind", "none") == "none":
        return {}
    return {"fabric_kind": fabric["kind"], "fabric_gbit_s": float(fabric["gbit_s"]),
            "placement_group": bool(fabric.get("placement_group", False))}


def cheapest_usd_per_gpu_hour(gpu: GPU, pricing: str, owned: Owned, group: int = 1,
                              providers: tuple[str, ...] | None = None) -> float | None:
    """Lowest per-GPU hourly price among offers whose instance can hold a TP group of ``group`` GPUs."""
    prices = [o.usd_per_gpu_hour for o in priced_offers(gpu, pricing, owned, providers) if o.gpus_per_instance >= group]
    return min(prices) if prices else None

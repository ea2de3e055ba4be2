"""Currencies and exchange rates: every price keeps the currency its source quotes; the solver works in USD.

A rate is a market quote ``BASE/QUOTE = value`` (QUOTE per 1 BASE): ``USD/CNY 6.7894`` means 1 USD = 6.7894 CNY,
``EUR/USD 1.1252`` means 1 EUR = 1.1252 USD. The shipped rates are in ``planner/data/fx.yaml`` with their source and
date; a user catalog folder may carry its own ``fx.yaml`` of the same shape, which replaces them.

    usd = amount / value          for a USD/XXX quote (CNY)
    usd = amount * value          for an XXX/USD quote (EUR)

Money shown to a reader is rounded half-up to the cent (``cents``) with ``Decimal``, so totals add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from planner.errors import InputError, not_one_of
from planner.resources import DATA_DIR

Currency = Literal["USD", "CNY", "EUR"]
CURRENCIES: tuple[str, ...] = get_args(Currency)
SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€"}


@dataclass(frozen=True)
class Rate:
    """One quote: ``pair`` BASE/QUOTE, ``value`` QUOTE per BASE, observed ``as_of``, from ``source`` (``text``)."""

    pair: str
    value: float
    as_of: str
    source: str
    text: str

    @property
    def currency(self) -> str:
        """The non-USD side of the pair."""
        base, quote = self.pair.split("/")
        return quote if base == "USD" else base

    @property
    def per_usd(self) -> float:
        """Units of ``currency`` per 1 USD."""
        return self.value if self.pair.startswith("USD/") else 1.0 / self.value

    def describe(self) -> str:
        return f"1 {self.pair.split('/')[0]} = {self.value} {self.pair.split('/')[1]} ({self.source}, {self.as_of})"


@dataclass(frozen=True)
class FxRates:
    rates: tuple[Rate, ...]

    def rate(self, currency: str) -> Rate | None:
        """The quote for ``currency`` (None for USD)."""
        if currency == "USD":
            return None
        for r in self.rates:
            if r.currency == currency:
                return r
        raise InputError(f"no exchange rate for {currency}; add a USD/{currency} or {currency}/USD rate to fx.yaml")

    def to_usd(self, amount: float, currency: str) -> float:
        r = self.rate(currency)
        if r is None:
            return amount
        return amount / r.value if r.pair.startswith("USD/") else amount * r.value

    def from_usd(self, usd: float, currency: str) -> float:
        r = self.rate(currency)
        if r is None:
            return usd
        return usd * r.value if r.pair.startswith("USD/") else usd / r.value


def cents(x: float | Decimal) -> Decimal:
    """Money to the cent, half-up (what an invoice shows)."""
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_currency(value: str, where: str = "--currency") -> str:
    v = value.upper()
    if v not in CURRENCIES:
        raise InputError(not_one_of(f"{where}: ", value, CURRENCIES))
    return v


def _parse(data: Any, fname: str) -> FxRates:
    if not isinstance(data, dict) or not isinstance(data.get("rates"), list):
        raise InputError(f"{fname}: expected `rates:` a list of {{pair, value, as_of, source, text}}")
    out = []
    for i, r in enumerate(data["rates"]):
        if not isinstance(r, dict):
            raise InputError(f"{fname}: rates[{i}]: expected a mapping with pair, value, as_of, source, text")
        pair = str(r.get("pair", ""))
        sides = pair.split("/")
        if len(sides) != 2 or "USD" not in sides or not all(s in CURRENCIES for s in sides) or sides[0] == sides[1]:
            raise InputError(f"{fname}: rates[{i}].pair: '{pair}' is not allowed; allowed: USD/CNY, EUR/USD (USD on one side)")
        value = r.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{fname}: rates[{i}].value: expected a number > 0, got {value!r}")
        if not r.get("as_of") or not r.get("source"):
            raise InputError(f"{fname}: rates[{i}]: needs as_of and source (where the rate comes from)")
        out.append(Rate(pair=pair, value=float(value), as_of=str(r["as_of"]), source=str(r["source"]),
                        text=str(r.get("text", ""))))
    return FxRates(tuple(out))


def load_fx(path: str | Path) -> FxRates:
    from planner.inputs.yaml_source import load_yaml

    data, _ = load_yaml(Path(path), "exchange-rate file")
    return _parse(data, str(path))


@lru_cache(maxsize=1)
def shipped_fx() -> FxRates:
    """The rates that ship with the package (planner/data/fx.yaml)."""
    return load_fx(DATA_DIR / "fx.yaml")

"""Command-line values that are not typer options of their own: ``--vary FIELD=v1,v2,...`` values.

Each value follows the number rules of ``planner.inputs.numbers`` and the same bounds as the scenario field it
replaces (``planner.inputs.scenario``), so a sweep can never plan a scenario the file could not state.
"""

from __future__ import annotations

from planner.errors import InputError, not_one_of
from planner.inputs.numbers import parse_number
from planner.units import PRECISIONS

# USD per GPU-hour of a what-if price: the catalog's ceiling for an offer (planner/inputs/catalog_schema.py)
PRICE_UPPER_BOUND = 10_000.0
MAX_VARY_VALUES = 100  # each value is one full plan; more is a batch job, not a sweep

_INT_BOUNDS = {"concurrency": 10_000_000, "context_tokens": 10_000_000, "min_replicas": 10_000}


def check_vary_values(field: str, values: list[str], pricing_modes: tuple[str, ...]) -> None:
    """Raise InputError ``--vary: <field> value ...`` for the first value the field cannot take."""
    if len(values) > MAX_VARY_VALUES:
        raise InputError(f"--vary: {len(values)} values; allowed: at most {MAX_VARY_VALUES} (each is a full plan)")
    for v in values:
        if field in _INT_BOUNDS:
            parse_number(v, f"--vary: {field} value", 1, _INT_BOUNDS[field], integral=True)
        elif field == "precision" and v not in PRECISIONS:
            raise InputError(not_one_of("--vary: precision ", v, PRECISIONS))
        elif field == "pricing" and v not in pricing_modes:
            raise InputError(not_one_of("--vary: pricing ", v, pricing_modes))
        elif field == "price":
            parse_number(v, "--vary: price value (USD per GPU-hour)", 0, PRICE_UPPER_BOUND, lo_open=True)

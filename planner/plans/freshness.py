"""Price freshness: the offers a plan buys whose price is older than a year or rated low-confidence.

Age is measured against a fixed reference, the newest ``as_of`` of any offer in the scenario's catalog (never the wall
clock, so the same input gives the same output). A partial date is read at the end of its period, in the price's
favour: ``2025-06`` is 2025-06-30, ``2020`` is 2020-12-31. An offer is stale when it is more than
``STALE_AFTER_MONTHS`` whole months older than the reference.
"""

from __future__ import annotations

import calendar
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.inputs.catalog import Catalog
    from planner.plans.records import Plan

STALE_AFTER_MONTHS = 12  # issue 14: "as_of older than 12 months"


def _date(as_of: str) -> tuple[int, int, int] | None:
    """(year, month, day) at the end of the period ``as_of`` names, or None if it is not a date."""
    m = re.match(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", as_of or "")
    if not m:
        return None
    y = int(m.group(1))
    mo = int(m.group(2) or 12)
    if not 1 <= mo <= 12:
        return None
    d = int(m.group(3) or calendar.monthrange(y, mo)[1])
    return y, mo, d


def months_between(older: tuple[int, int, int], newer: tuple[int, int, int]) -> int:
    """Whole months from ``older`` to ``newer``."""
    n = (newer[0] - older[0]) * 12 + newer[1] - older[1]
    return n - (1 if newer[2] < older[2] else 0)


def reference_date(catalog: Catalog) -> str:
    """The newest offer ``as_of`` of the catalog: the date price ages are measured from."""
    dated = [(d, o.as_of) for g in catalog.gpus.values() for o in g.offers if (d := _date(o.as_of)) is not None]
    return max(dated)[1] if dated else ""


def price_warnings(plan: Plan, catalog: Catalog) -> list[dict[str, Any]]:
    """Every offer the plan buys whose price is stale or rated low-confidence, with its age in months."""
    ref = reference_date(catalog)
    ref_d = _date(ref)
    offers = {o.id: o for g in catalog.gpus.values() for o in g.offers}
    out = []
    for oid in sorted({i.offer for i in plan.instances}):
        o = offers.get(oid)
        if o is None:  # owned hardware: priced from the purchase, not an offer
            continue
        d = _date(o.as_of)
        age = months_between(d, ref_d) if d is not None and ref_d is not None else None
        why = [w for w, hit in (("stale", age is not None and age > STALE_AFTER_MONTHS),
                                ("low_confidence", o.confidence == "low")) if hit]
        if why:
            out.append({"offer": oid, "source": o.source, "as_of": o.as_of, "age_months": age, "reference": ref,
                        "confidence": o.confidence, "why": why})
    return out

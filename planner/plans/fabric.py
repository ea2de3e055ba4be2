"""Pipeline groups that span instances: which instances form them, and the fabric their offers state.

TP groups stay inside one instance (checker rule 5); a replica's pipeline stages may sit in different instances of
its GPU type, and then they pass activations over the network between them. The plan names every such group and
the fabric (``fabric`` of the catalog offer: none, Ethernet, InfiniBand or EFA, Gbit/s per instance, placement group)
it relies on. The speed model does not charge that transfer yet, so a group over a slow or absent fabric is flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.inputs.catalog import Catalog
    from planner.plans.records import Plan

MAX_LISTED = 8  # groups named one by one in the note; the rest are counted


def _fabric_words(f: dict | None) -> str:
    if not f:
        return "no fabric stated"
    if f["kind"] == "none":
        return "no fabric (separate hosts)"
    return f"{f['kind']} {f['gbit_s']:g} Gbit/s" + (" in one placement group" if f.get("placement_group") else "")


def fabric_notes(plan: Plan, catalog: Catalog) -> tuple[str, ...]:
    """One note naming the replicas whose pipeline stages span instances, with the fabric each needs."""
    offers = {o.id: o for g in catalog.gpus.values() for o in g.offers}
    inst_of = {d.id: i for i in plan.instances for d in i.devices}
    groups = []
    for r in plan.replicas:
        insts = list(dict.fromkeys(inst_of[d].id for d in r.devices if d in inst_of))
        if len(insts) < 2:
            continue
        kinds = sorted({_fabric_words(o.fabric if (o := offers.get(inst_of[d].offer)) else None) for d in r.devices
                        if d in inst_of})
        groups.append(f"{r.id} (TP{r.tp} x PP{r.pp}) over {', '.join(insts)}: {'; '.join(kinds)}")
    if not groups:
        return ()
    shown = "; ".join(groups[:MAX_LISTED]) + (f"; and {len(groups) - MAX_LISTED} more" if len(groups) > MAX_LISTED else "")
    return (f"multi-instance pipeline groups: {len(groups)} replica(s) pass activations between instances, which needs "
            f"a fabric between them; the speed model does not charge that transfer yet: {shown}",)

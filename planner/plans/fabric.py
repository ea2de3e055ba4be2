"""Pipelines that span instances: which instances form them, and the fabric their offer states.

TP groups stay inside one instance (checker rule 5). A replica's pipeline stages sit either all in one instance or
across instances of one offer whose ``fabric`` (ethernet, infiniband or efa, Gbit/s per instance, placement group)
links them (``planner.candidates.fabrics``; checker rule 14). Across instances, every stage boundary is charged in the
speed model at that fabric's latency and bandwidth (``planner.estimate.speed.fabric_link``), so a slow fabric shows in
the replica's speed and SLO capacity. The plan names each such replica with its instances and the fabric it needs,
and says which one-instance pipeline splits were not searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.candidates.deployments import CandidateSet
    from planner.inputs.pricing import PricedOffer
    from planner.plans.records import Plan

MAX_LISTED = 8  # groups named one by one in the note; the rest are counted


def fabric_words(o: PricedOffer) -> str:
    """An offer's fabric in a few words: "efa 3200 Gbit/s, one placement group"."""
    if o.fabric_kind == "none" or o.fabric_gbit_s is None:
        return "no fabric"
    return f"{o.fabric_kind} {o.fabric_gbit_s:g} Gbit/s" + (", one placement group" if o.placement_group else "")


def fabric_notes(plan: Plan, catalog: Any = None) -> tuple[str, ...]:
    """One note naming the replicas whose pipeline stages may span instances, with their instances and fabric."""
    del catalog  # the replica records carry their fabric
    inst_of = {d.id: i.id for i in plan.instances for d in i.devices}
    groups = []
    for r in plan.replicas:
        if not r.over:
            continue
        insts = list(dict.fromkeys(inst_of[d] for d in r.devices if d in inst_of))
        groups.append(f"{r.id} (TP{r.tp} x PP{r.pp}) on {', '.join(insts)} of {r.over}: needs {r.fabric}")
    if not groups:
        return ()
    shown = "; ".join(groups[:MAX_LISTED]) + (f"; and {len(groups) - MAX_LISTED} more" if len(groups) > MAX_LISTED else "")
    return (f"pipelines across instances: {len(groups)} replica(s) pass activations between instances over their "
            "offer's fabric; each stage boundary is charged at that fabric's latency and bandwidth in the replica's "
            f"speed and SLO capacity (launch their instances together, in one placement group where stated): {shown}",)


def unsearched_split_notes(cs: CandidateSet) -> tuple[str, ...]:
    """A note for the models whose one-instance pipeline splits were not searched (a group of GPUs that is not a
    power of two is not packed exactly by the integer program), or that would need a fabric no offer states."""
    from planner.candidates.deployments import RejectionKind

    odd = [r for r in cs.rejected if r.kind is RejectionKind.FABRIC and r.reason.startswith("not searched")]
    if not odd:
        return ()
    models = len({r.model for r in odd})
    return (f"not searched: pipelines inside one instance whose TP x PP is not a power of two (e.g. {odd[0].model} "
            f"TP{odd[0].tp} x PP{odd[0].pp} on {odd[0].gpu}; {len(odd)} model-GPU pair(s) of {models} model(s)): the "
            "packing rows place only power-of-two groups exactly; these splits are searched across instances over a "
            "fabric only (planner candidates lists them)",)

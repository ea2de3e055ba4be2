"""Where a replica's pipeline stages may sit: inside one instance, or across instances of one offer over its fabric.

TP groups always stay inside one instance. A replica with PP > 1 is one of two candidates:

- **one instance**: all its TP x PP GPUs in one instance, stages over the GPU's interconnect. The packing rows of the
  integer program are exact for groups whose size is a power of two (``planner.solve.formulation``), so a one-instance
  pipeline of TP x PP GPUs is a candidate only when TP x PP is a power of two no larger than the largest instance of
  its GPU type; the other one-instance splits (TP1 x PP3, TP2 x PP3, ...) are not searched, each (model, GPU type)
  gets one FABRIC rejection saying so, and a plan whose models had such splits says so in a note.
- **across instances**: its stages, one TP group each, in instances of one offer whose ``fabric`` is ethernet,
  infiniband or efa (and whose GPU count is a power of two: the exactness argument of the packing rows), every stage
  boundary charged over that fabric (``planner.estimate.speed.fabric_link``, an upper bound wherever the stages fall).
  All stages stay on one offer: the fabric an offer states is the one between its own instances, and when it needs a
  placement group, the plan's instances of that offer form one.

Offers that state no fabric have none (``PricedOffer.fabric_kind``): marketplace hosts (Vast lists each host alone),
owned servers, and cloud offers whose fabric the catalog does not record yet; their pipelines stay inside one instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from planner.inputs.pricing import PricedOffer


class Placed(Protocol):
    """What packing needs of a candidate (``planner.candidates.deployments.Candidate``)."""

    @property
    def group_gpus(self) -> int: ...
    @property
    def over(self) -> str | None: ...


def is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def one_instance_splits(splits: list[tuple[int, int]],
                        largest: int) -> tuple[list[tuple[int, int]], list[tuple[int, int, str]]]:
    """The splits that may run inside one instance (PP = 1, or TP x PP a power of two <= ``largest``), and one
    (tp, pp, reason) per reason for the pipeline splits left out (FABRIC rejections)."""
    keep = [(t, p) for t, p in splits if p == 1 or (t * p <= largest and is_pow2(t * p))]
    big = sorted({(t, p) for t, p in splits if p > 1 and t * p > largest})
    odd = sorted({(t, p) for t, p in splits if p > 1 and t * p <= largest and not is_pow2(t * p)})
    out = []
    if odd:
        names = ", ".join(f"TP{t} x PP{p}" for t, p in odd)
        out.append((odd[0][0], odd[0][1], f"not searched in one instance: {names} (a group of GPUs that is not a "
                    "power of two is not packed exactly); across instances only over a fabric"))
    if big:
        t, p = big[0]
        out.append((t, p, f"TP x PP above {largest} GPUs (from TP{t} x PP{p}) does not fit one instance; its stages "
                    "can span instances only over an offer's fabric"))
    return keep, out


def fabric_offers(gpu: str, offers: list[PricedOffer]) -> list[PricedOffer]:
    """The offers of ``gpu`` whose instances a pipeline may span: a fabric, and a power-of-two GPU count."""
    return [o for o in offers if o.gpu == gpu and o.fabric_kind != "none" and o.fabric_gbit_s
            and is_pow2(o.gpus_per_instance)]


def across_splits(splits: list[tuple[int, int]], o: PricedOffer) -> list[tuple[int, int]]:
    """The pipeline splits whose stages can sit in instances of ``o``: PP > 1, one TP group per stage inside one."""
    return [(t, p) for t, p in splits if p > 1 and t <= o.gpus_per_instance]


def packs_into(k: Placed, c: Placed) -> bool:
    """Replicas of k can use the GPUs of c's groups: k's groups are no larger (powers of two, so they divide c's) and
    may sit wherever c's may (k in one instance anywhere, or on the same fabric offer as c)."""
    return k.group_gpus <= c.group_gpus and (k.over is None or k.over == c.over)

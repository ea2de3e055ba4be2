"""Baselines every plan is compared with: a simple greedy plan and the cheapest single-GPU-type fleet.

Both keep the scenario's rules, as the plan does: resilience, max_gpu_types, max_providers, availability and limits
(the single-type fleets ignore only the budget, to show what one type would cost). Each fleet is placed and passed
through the independent checker (``rule_breaks``); what it still breaks (the greedy fleet cannot survive a provider's
loss, or may exceed the budget) is named in its ``breaks``, and a baseline that breaks a rule is not compared with
the plan (``planner.pipeline.compute_baselines``: no saving; the reports say which rules it breaks)."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, NamedTuple

from planner.candidates.deployments import Candidate, CandidateSet
from planner.errors import InfeasibleError, SolveTimeoutError
from planner.inputs.pricing import MICRO_USD, PricedOffer, micro_usd

if TYPE_CHECKING:
    from planner.inputs.scenario import ModelReq


MAX_CHOICES = 64  # GPU-type x provider subsets the greedy plan tries under max_gpu_types / max_providers
MAX_ROUNDS = 64  # rounds of "one more replica" for a model that does not yet survive losing an instance


class Greedy(NamedTuple):
    """The greedy plan: replicas per candidate, instances per offer, its cost, and the scenario's rules its fleet
    breaks (``rule_breaks``; empty: it keeps them all and is comparable with the plan)."""

    replicas: dict[str, int]
    instances: dict[str, int]
    cost_usd_per_hour: float
    breaks: tuple[str, ...] = ()


def _per_gpu_price(offers: list[PricedOffer], gid: str, tp: int) -> float | None:
    ps = [o.usd_per_gpu_hour for o in offers if o.gpu == gid and o.gpus_per_instance >= tp]
    return min(ps) if ps else None


def greedy(cs: CandidateSet) -> Greedy | None:
    """What a careful person does by hand, within the scenario's rules: per model, the candidate with the lowest price
    for the replicas it needs (its demand, min_replicas, and one replica more than ``keep`` needs when it must
    survive losing a replica or an instance: ``_replica_count``); then, per GPU type, each TP group goes into a bought
    instance with room or into a new instance of the cheapest per-GPU offer that holds it and is still available
    (``max_instances``, the scenario's limits). A model that must survive an instance gets replicas until losing the
    instance holding most of it (any placement: ``_instance_loss``) leaves it its share. Under ``max_gpu_types`` /
    ``max_providers`` the plan is made for each allowed subset of GPU types and providers (the most useful first,
    at most MAX_CHOICES) and the cheapest kept. No sharing. ``Greedy.breaks`` names the rules it still breaks (the
    budget, a provider's loss): a greedy fleet that breaks one is no baseline to compare a plan with."""
    best: Greedy | None = None
    for gpus, providers in _choices(cs):
        offers = [o for o in cs.offers if o.gpu in gpus and o.provider in providers]
        g = _greedy_within(cs, offers)
        if g is not None and (best is None or (len(g.breaks), g.cost_usd_per_hour) < (len(best.breaks),
                                                                                      best.cost_usd_per_hour)):
            best = g
    return best


def _choices(cs: CandidateSet) -> list[tuple[set[str], set[str]]]:
    """The subsets of GPU types and providers the greedy plan may use: all of them, or under max_gpu_types /
    max_providers each subset of that size among the cheapest per GPU (at most MAX_CHOICES pairs)."""
    s = cs.scenario
    by_price = sorted(cs.offers, key=lambda o: (o.usd_per_gpu_hour, o.id))
    gpus = list(dict.fromkeys(o.gpu for o in by_price))
    providers = list(dict.fromkeys(o.provider for o in by_price))
    pick = []
    for items, cap in ((gpus, s.max_gpu_types), (providers, s.max_providers)):
        if cap is None or len(items) <= cap:
            pick.append([set(items)])
        else:
            pick.append([set(c) for c in itertools.islice(itertools.combinations(items, cap), MAX_CHOICES)])
    return list(itertools.islice(itertools.product(pick[0], pick[1]), MAX_CHOICES))


def _replica_count(m: ModelReq, c: Candidate, demand: int) -> int:
    """Replicas of c model m needs: its demand, min_replicas, and (survive replica or instance) enough that losing
    one replica leaves ceil(keep x target)."""
    n = max(m.min_replicas, math.ceil(demand / c.capacity_units))
    if m.survive in ("replica", "instance"):
        n = max(n, math.ceil(m.kept_units(demand) / c.capacity_units) + 1)
    return n


def _greedy_within(cs: CandidateSet, offers: list[PricedOffer]) -> Greedy | None:
    """The greedy plan over ``offers`` (``greedy``), or None when some model has no candidate on them or the offers
    that hold a group are sold out."""
    replicas: dict[str, int] = {}
    chosen: dict[str, Candidate] = {}
    price: dict[tuple[str, int], float | None] = {}
    for m in cs.scenario.models:
        best: tuple[float, Candidate] | None = None
        for c in cs.for_model(m.name):
            if c.over:  # stages bound to a fabric offer: not a hand plan's first choice
                continue
            if (c.gpu, c.group_gpus) not in price:
                price[(c.gpu, c.group_gpus)] = _per_gpu_price(offers, c.gpu, c.group_gpus)
            p = price[(c.gpu, c.group_gpus)]
            if p is None:
                continue
            total = p * c.gpus * _replica_count(m, c, cs.demand[m.name])
            if best is None or (total, c.key) < (best[0], best[1].key):
                best = (total, c)
        if best is None:
            return None
        chosen[m.name] = best[1]
        replicas[best[1].key] = _replica_count(m, best[1], cs.demand[m.name])
    # instances of few GPUs hold less of a model: with survive instance, also try the smallest instances first
    small_first = (False, True) if any(m.survive == "instance" for m in cs.scenario.models) else (False,)
    found = [g for small in small_first if (g := _replicate(cs, offers, chosen, dict(replicas), small)) is not None]
    return min(found, key=lambda g: (len(g.breaks), g.cost_usd_per_hour), default=None)


def _replicate(cs: CandidateSet, offers: list[PricedOffer], chosen: dict[str, Candidate], replicas: dict[str, int],
               small_first: bool) -> Greedy | None:
    """Pack the replicas (``_pack``), adding one to each model that does not survive losing an instance, until every
    model does (at most MAX_ROUNDS rounds)."""
    instances: dict[str, int] = {}
    short: list[Candidate] = []
    for rounds in range(MAX_ROUNDS):
        packed = _pack(cs, offers, chosen, replicas, small_first)
        if packed is None:
            return None
        instances = packed
        short = [c for m, c in chosen.items() if not _survives_instances(cs, m, c, replicas[c.key], instances)]
        if not short or rounds == MAX_ROUNDS - 1:
            break
        for c in short:
            replicas[c.key] += 1
    breaks = _rule_breaks(cs, instances) + (["resilience (instance)"] if short else [])
    prices = {o.id: o.micro_usd_per_hour for o in cs.offers}
    return Greedy(replicas, instances, sum(prices[k] * v for k, v in instances.items()) / MICRO_USD, tuple(breaks))


def _pack(cs: CandidateSet, offers: list[PricedOffer], chosen: dict[str, Candidate], replicas: dict[str, int],
          small_first: bool = False) -> dict[str, int] | None:
    """Per GPU type, first-fit-decreasing of the TP groups into bought instances, else a new instance of the cheapest
    per-GPU offer (``small_first``: the smallest, then the cheapest per GPU) that holds the group, is still available
    and keeps the scenario's GPU-type limit."""
    limits = cs.scenario.limits
    groups: dict[str, list[int]] = {}
    for c in chosen.values():
        groups.setdefault(c.gpu, []).extend([c.group_gpus] * (c.groups * replicas[c.key]))  # all stages in one instance
    instances: dict[str, int] = {}
    for gid, sizes in sorted(groups.items()):
        free: list[int] = []  # free GPUs of the instances bought so far
        bought = 0
        for size in sorted(sizes, reverse=True):
            i = next((j for j, f in enumerate(free) if f >= size), None)
            if i is not None:
                free[i] -= size
                continue
            fits = sorted((o for o in offers if o.gpu == gid and o.gpus_per_instance >= size
                           and (o.max_instances is None or instances.get(o.id, 0) < o.max_instances)
                           and instances.get(o.id, 0) < limits.get(o.id, instances.get(o.id, 0) + 1)
                           and bought + o.gpus_per_instance <= limits.get(gid, bought + o.gpus_per_instance)),
                          key=lambda o: (o.gpus_per_instance if small_first else 0, o.usd_per_gpu_hour,
                                         o.gpus_per_instance, o.id))
            if not fits:
                return None  # sold out (max_instances) or at the scenario's limits
            o = fits[0]
            instances[o.id] = instances.get(o.id, 0) + 1
            bought += o.gpus_per_instance
            free.append(o.gpus_per_instance - size)
    return instances


def _instance_loss(c: Candidate, x: int, n: int) -> int:
    """The most of x replicas of c one instance of n GPUs holds, whatever the placement (the fleet program's rule,
    ``planner.solve.formulation`` (9)): min(c min(x, floor(n / s)), ceil(n c / s))."""
    return min(c.capacity_units * min(x, n // c.group_gpus), -(-n * c.capacity_units // c.group_gpus))


def _survives_instances(cs: CandidateSet, model: str, c: Candidate, x: int, instances: dict[str, int]) -> bool:
    m = next(mm for mm in cs.scenario.models if mm.name == model)
    if m.survive != "instance":
        return True
    sizes = {o.gpus_per_instance for o in cs.offers if o.gpu == c.gpu and instances.get(o.id)}
    lost = max((_instance_loss(c, x, n) for n in sizes), default=0)
    return x * c.capacity_units - lost >= m.kept_units(cs.demand[model])


def _rule_breaks(cs: CandidateSet, instances: dict[str, int]) -> list[str]:
    """The rules the greedy fleet breaks that its construction does not keep: the budget, a provider's loss."""
    s = cs.scenario
    offers = {o.id: o for o in cs.offers}
    out = []
    cost = sum(offers[k].micro_usd_per_hour * v for k, v in instances.items())
    if s.max_usd_per_hour is not None and cost > micro_usd(float(s.max_usd_per_hour)):
        out.append("budget")
    if any(m.survive == "provider" and m.kept_units(cs.demand[m.name]) > 0 for m in s.models):
        out.append("resilience (provider)")  # one GPU type per model: losing a provider selling it takes all of it
    return out


RULES = ("resilience", "budget", "simplicity", "availability", "limit", "offer")  # how the checker's sentences open


def rule_breaks(cs: CandidateSet, replicas: dict[str, int], instances: dict[str, int],
                patterns: dict[str, int] | None = None) -> list[str]:
    """The scenario's rules a baseline fleet breaks, by the independent checker (``planner.plans.check``): its
    sentences' subjects (resilience, budget, simplicity, availability, limit), each once; a sentence of any other rule
    (a broken deployment, a bug) raises PlanCheckError."""
    from planner.plans.check import PlanCheckError, check_plan
    from planner.plans.placement import PlacementError, build_plan

    cost = sum(o.micro_usd_per_hour * instances.get(o.id, 0) for o in cs.offers) / MICRO_USD  # exact, as the checker
    try:
        p = build_plan(cs, replicas, instances, patterns or {}, status="feasible", cost=cost, bound=0.0,
                       solve_seconds=0.0)
    except PlacementError as exc:
        raise PlanCheckError(f"internal error: a baseline fleet could not be placed: {exc}") from None
    out: list[str] = []
    for problem in check_plan(p, cs.scenario):
        rule = problem.split(":")[0].split(" ")[0]
        if rule not in RULES:
            raise PlanCheckError(f"internal error: a baseline fleet failed the independent checker: {problem}")
        label = {"offer": "offer kinds", "limit": "limits"}.get(rule, rule)
        if rule == "resilience":
            label += f" ({next(m.survive for m in cs.scenario.models if f'model {m.name} ' in problem)})"
        if label not in out:
            out.append(label)
    return out


def single_type(cs: CandidateSet, deadline: float | None, threads: int) -> tuple[dict[str, Any], list[str]]:
    """The cheapest fleet of each single GPU type (every rule of the scenario kept, resilience included, but the
    budget, which ``breaks`` names when the fleet exceeds it), each planned on its own (candidates and sharing
    patterns rebuilt for that GPU type alone) and passed through the checker. The types share the time left before
    ``deadline`` equally; returns the results and the types skipped for want of time."""
    import time
    from dataclasses import replace

    from planner.candidates.deployments import build_candidates
    from planner.plans.check import PlanCheckError

    out: dict[str, Any] = {}
    skipped: list[str] = []
    gpu_types = sorted({c.gpu for c in cs.candidates} | {p.gpu for p in cs.patterns})
    for i, gid in enumerate(gpu_types):
        models_ok = all(any(c.gpu == gid for c in cs.for_model(m.name)) or (m.name, gid) in cs.shared
                        for m in cs.scenario.models)
        if not models_ok:
            out[gid] = {"feasible": False, "reason": "some model has no deployment on this GPU type"}
            continue
        left = 60.0 if deadline is None else deadline - time.perf_counter()
        per = left / (len(gpu_types) - i)
        if per < 0.05:
            skipped.append(gid)
            continue
        try:
            stop = time.perf_counter() + per
            one = build_candidates(replace(cs.scenario, gpu_ids=(gid,), max_usd_per_hour=None), stop)
            sol, one = _one_type_fleet(one, stop, threads)
            breaks = rule_breaks(one, sol.replicas, sol.instances, sol.patterns)
            if breaks:
                raise PlanCheckError(f"internal error: the single-type baseline on {gid} breaks {', '.join(breaks)}")
            budget = cs.scenario.max_usd_per_hour
            if budget is not None and micro_usd(sol.cost_usd_per_hour) > micro_usd(float(budget)):
                breaks = ["budget"]
            out[gid] = {"feasible": True, "cost_usd_per_hour": round(sol.cost_usd_per_hour, 4), "status": sol.status,
                        "gpus": sum(o.gpus_per_instance * n for o in one.offers for k, n in sol.instances.items() if o.id == k),
                        "breaks": breaks}
        except InfeasibleError:
            out[gid] = {"feasible": False, "reason": "infeasible within the scenario's limits"}
        except SolveTimeoutError:
            out[gid] = {"feasible": False, "reason": f"no plan found within {per:.1f} s"}
    return out, skipped


def _one_type_fleet(one: CandidateSet, stop: float, threads: int) -> tuple[Any, CandidateSet]:
    """The cheapest fleet of a one-GPU-type candidate set, as the plan's own solve finds it: the fleet program, then,
    when the sharing patterns are restricted, the device-slot model from it (``planner.solve.slots``, the whole
    sharing space) while time is left. Returns the solution and the candidates it uses."""
    import time

    from planner.solve.formulation import solve_fleet
    from planner.solve.slots import solve_slots

    sol = solve_fleet(one, time_limit_s=max(0.01, stop - time.perf_counter()), threads=threads)
    if one.sharing_restricted and stop - time.perf_counter() > 0.05:
        res = solve_slots(one, [sol], deadline=stop)
        if res is not None:
            return res.solution, res.candidates
    return sol, one

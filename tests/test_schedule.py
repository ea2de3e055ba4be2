"""The hourly schedule (issue 16): brute force equals the optimizer, the checker catches broken schedules, profiles
and commitments are validated."""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from planner.inputs.commitment import TieredOffer
from planner.solve.schedule import slots_of, solve_schedule

ROOT = Path(__file__).resolve().parents[1]


# ---- brute force ---------------------------------------------------------------------------------------------------

def _fake_cs(models: list[tuple[str, int, list[tuple[int, int]]]]) -> SimpleNamespace:
    """A candidate set with only what the program reads: models (name, min replicas, [(tp, capacity)]) on GPU 'g'."""
    cands = {name: [SimpleNamespace(key=f"{name}|g|tp{tp}|pp1", model=name, gpu="g", tp=tp, pp=1, gpus=tp,
                                    group_gpus=tp, over=None, capacity_units=cap) for tp, cap in splits]
             for name, _, splits in models}
    reqs = [SimpleNamespace(name=n, min_replicas=r) for n, r, _ in models]
    return SimpleNamespace(scenario=SimpleNamespace(models=reqs, limits={}), for_model=lambda n: cands[n], patterns=())


def _offer(oid: str, n: int, od: float, committed: float | None) -> TieredOffer:
    return TieredOffer(id=oid, gpu="g", gpus_per_instance=n, on_demand_usd_per_hour=od, committed_usd_per_hour=committed,
                       committed_basis="test", spot_usd_per_hour=None, spot_list_usd_per_hour=None,
                       interruption_rate=0.0, max_instances=None)


def _packs(groups: list[int], sizes: list[int]) -> bool:
    """Every group fits in one instance: exhaustive assignment (independent of the program's inequalities)."""
    free = list(sizes)

    def place(i: int) -> bool:
        if i == len(groups):
            return True
        for j in range(len(free)):
            if free[j] >= groups[i]:
                free[j] -= groups[i]
                if place(i + 1):
                    return True
                free[j] += groups[i]
        return False

    return place(0)


def _brute_force(models, offers: list[TieredOffer], hourly: dict[str, list[int]]) -> float:
    """min over commitments of |H| committed cost + sum over hours of that hour's cheapest replicas and rentals.

    Each hour's replica choices are enumerated once and reduced to the TP groups they need (a multiset of sizes);
    the rentals that hold those groups are enumerated and checked by exhaustive assignment."""
    hours = len(next(iter(hourly.values())))
    splits = [(name, r, tp, cap) for name, r, sp in models for tp, cap in sp]
    options = [_group_options(models, splits, {n: v[h] for n, v in hourly.items()}) for h in range(hours)]
    peak_gpus = max(sum(g) for opts in options for g in opts)
    committable = [o for o in offers if o.committed_usd_per_hour is not None]
    best = math.inf
    for commit in itertools.product(*[range(peak_gpus // o.gpus_per_instance + 1) for o in committable]):
        fixed = tuple(sorted(zip([o.id for o in committable], commit, strict=True)))
        total = hours * sum(o.committed_usd_per_hour * n for o, n in zip(committable, commit, strict=True))  # type: ignore[operator]
        for opts in options:
            total += min(_rent(groups, fixed, tuple(offers)) for groups in opts)
            if total >= best:
                break
        best = min(best, total)
    return best


def _group_options(models, splits, demand) -> set[tuple[int, ...]]:
    """The TP-group multisets (sorted sizes) of every replica choice that serves the hour."""
    ranges = [range(math.ceil(demand[n] / cap) + r + 1) if demand[n] > 0 else range(1) for n, r, _, cap in splits]
    out = set()
    for reps in itertools.product(*ranges):
        ok = all(demand[n] <= 0 or (sum(cap * k for (m, _, _, cap), k in zip(splits, reps, strict=True) if m == n) >= demand[n]
                                    and sum(k for (m, *_), k in zip(splits, reps, strict=True) if m == n) >= r)
                 for n, r, _ in models)
        if ok:
            out.add(tuple(sorted((tp for (_, _, tp, _), k in zip(splits, reps, strict=True) for _ in range(k)), reverse=True)))
    return out


@functools.cache
def _rent(groups: tuple[int, ...], fixed: tuple[tuple[str, int], ...], offers: tuple[TieredOffer, ...]) -> float:
    committed = dict(fixed)
    need = sum(groups)
    best = math.inf
    for rent in itertools.product(*[range(need // o.gpus_per_instance + 2) for o in offers]):
        cost = sum(o.on_demand_usd_per_hour * k for o, k in zip(offers, rent, strict=True))
        if cost >= best:
            continue
        sizes = [o.gpus_per_instance for o, k in zip(offers, rent, strict=True) for _ in range(k + committed.get(o.id, 0))]
        if sum(sizes) >= need and _packs(list(groups), sizes):
            best = cost
    return best


def _instance(seed: int):
    rnd = random.Random(seed)
    models = [(f"m{i}", rnd.choice([1, 1, 2]), [(1, rnd.randint(3, 6)), (2, rnd.randint(7, 14))])
              for i in range(rnd.choice([2, 3]))]
    hours = rnd.choice([4, 5, 6])
    hourly = {n: [0 if rnd.random() < 0.25 else rnd.randint(1, 10) for _ in range(hours)]
              for n, _, _ in models}
    od1 = round(rnd.uniform(1.0, 2.0), 2)
    offers = [_offer("p:one", 1, od1, round(od1 * rnd.uniform(0.5, 0.8), 2)),
              _offer("p:two", 2, round(od1 * rnd.uniform(1.8, 2.3), 2), round(od1 * rnd.uniform(1.0, 1.6), 2))]
    return models, offers, hourly


@functools.cache
def _brute(seed: int) -> float:
    return _brute_force(*_instance(seed))


@pytest.mark.parametrize("solver", ["cp-sat", "cbc", "scip"])
@pytest.mark.parametrize("seed", [2, 3, 4, 8, 9])  # 2-3 models, 4-6 hours; brute force under ~2 s each
def test_brute_force_equals_optimizer(seed: int, solver: str) -> None:
    models, offers, hourly = _instance(seed)
    cs = _fake_cs(models)
    hours = len(next(iter(hourly.values())))
    sol = solve_schedule(cs, offers, slots_of({n: tuple(v) for n, v in hourly.items()}), hours, spot_mode="fallback",  # type: ignore[arg-type]
                         spot_max_share=0.0, time_limit_s=20, solver=solver)
    assert sol.status == "optimal"
    assert sol.cost_usd_per_period == pytest.approx(_brute(seed), abs=1e-3)


def test_merged_hours_carry_their_weight() -> None:
    slots = slots_of({"a": (1, 2, 1, 1), "b": (0, 3, 0, 0)})
    assert [s.hours for s in slots] == [(0, 2, 3), (1,)]
    assert [s.weight for s in slots] == [3, 1]


# ---- the pipeline and its checker ------------------------------------------------------------------------------

SMALL = """
name: small-day
pricing: on_demand
providers: [aws]
gpus: [a10g]
profile: {period: day, values: [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2]}
commitment: {term: 1y, spot: {max_share: 0.5, mode: expected}}
models:
  - {name: chat, model: llama-3.2-1b, concurrency: 64, context_tokens: 2048}
"""


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory):
    from planner.candidates.deployments import build_candidates
    from planner.inputs.scenario import load_scenario
    from planner.scheduling import plan_schedule

    p = tmp_path_factory.mktemp("sched") / "small.yaml"
    p.write_text(SMALL)
    s = load_scenario(p)
    cs = build_candidates(s)
    return plan_schedule(s, time_limit_s=20, candidates=cs), s, cs


def test_schedule_passes_checker_and_costs_add_up(small_plan) -> None:
    from planner.plans.schedule import check_schedule

    sp, s, cs = small_plan
    assert check_schedule(sp, s, cs) == []
    d = sp.to_dict()
    parts = d["cost_usd_per_month"]
    assert parts["total"] == pytest.approx(parts["committed"] + parts["on_demand"] + parts["spot"], abs=0.02)
    assert len(d["schedule"]) == 24
    # never dearer than renting the peak fleet on demand every hour (that fleet is a feasible schedule)
    assert parts["total"] <= d["comparisons"]["peak_flat_on_demand"]["cost_usd_per_month"] + 1e-6


def _broken(sp, hour: int, **change):
    hours = list(sp.hours)
    hours[hour] = replace(hours[hour], **change)
    return replace(sp, hours=tuple(hours))


def test_checker_catches_missing_capacity(small_plan) -> None:
    from planner.plans.schedule import check_schedule

    sp, s, cs = small_plan
    peak = max(sp.hours, key=lambda h: h.demand["chat"])
    fewer = tuple(replace(r, firm=max(0, r.firm - 1), spot=0) for r in peak.replicas)
    assert any("holds" in p or "capacity" in p for p in check_schedule(_broken(sp, peak.hour, replicas=fewer), s, cs))


def test_checker_catches_commitment_and_cost_changes(small_plan) -> None:
    from planner.plans.schedule import check_schedule

    sp, s, cs = small_plan
    h = sp.hours[0]
    more = {oid: {**k, "committed": k.get("committed", 0) + 1} for oid, k in h.instances.items()}
    assert any("commitment" in p for p in check_schedule(_broken(sp, 0, instances=more), s, cs))
    assert any("cost" in p for p in check_schedule(_broken(sp, 0, cost_usd_per_hour=h.cost_usd_per_hour + 1), s, cs))


def test_checker_catches_spot_over_the_cap(small_plan) -> None:
    from planner.plans.schedule import check_schedule

    sp, s, cs = small_plan
    s2 = replace(s, commitment=replace(s.commitment, spot_max_share=0.0))
    if any(sp.gpus(h, "spot") for h in sp.hours):
        assert any("spot" in p for p in check_schedule(sp, s2, cs))
    h = sp.hours[0]
    oid = next(iter(h.instances))
    all_spot = {oid: {"spot": 50}}
    assert any("spot" in p for p in check_schedule(_broken(sp, 0, instances=all_spot), s2, cs))


def test_cli_plan_prints_commitment_and_writes_autoscaler_csv(run_cli, tmp_path) -> None:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    out = tmp_path / "targets.csv"
    code, stdout, _ = run_cli("plan", p, "--schedule-csv", out, "--time-limit", "20", "-q")
    assert code == 0, stdout
    assert "commit:" in stdout and "Hourly schedule" in stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "hour,model,gpu,tp,pp,replicas"
    assert {int(line.split(",")[0]) for line in lines[1:]} == set(range(24))


# ---- validation --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile, expected", [
    ("busines-hours", "unknown profile 'busines-hours' (did you mean 'business-hours'?)"),
    ("{period: day, values: [1, 2]}", "profile.values: 2 values; a day profile needs exactly 24"),
    ("{period: month, values: [1]}", "profile.period: 'month' is not allowed; allowed: day, week"),
    ("{period: day, values: [" + ", ".join(["1"] * 23) + ", -1]}", "profile.values[23]: -1.0 is out of range"),
    ("{period: day}", "give exactly one of 'values'"),
    ("missing.csv", "no such trace file 'missing.csv'"),
])
def test_bad_profiles_exit_2_with_one_line(run_cli, tmp_path, profile: str, expected: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(SMALL.replace(SMALL.splitlines()[5], f"profile: {profile}"))
    code, _out, err = run_cli("plan", p, "-q")
    assert code == 2
    assert expected in err and f"{p}:6:" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_commitment_discount_names_the_offer(run_cli, tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(SMALL.replace("commitment: {term: 1y,", "commitment: {discounts: {aws:g5.xlarg: 0.3}, term: 1y,"))
    code, _, err = run_cli("plan", p, "-q")
    assert code == 2 and "unknown offer or provider 'aws:g5.xlarg'" in err and "did you mean 'aws:g5.xlarge'" in err


def test_csv_trace_resampled_to_hours(tmp_path) -> None:
    from planner.inputs.profiles import resolve_profiles

    rows = ["timestamp,value"] + [f"2026-03-0{day}T{h:02d}:{minute:02d}:00,{(h + 1) * day}"
                                  for day in (1, 2) for h in range(24) for minute in (0, 30)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    prof = resolve_profiles("t.csv", [("a", None)], {}, "s.yaml", tmp_path)
    assert prof is not None and prof.period_hours == 24
    # hour h averages (h+1) and 2(h+1): 1.5(h+1); divided by the busiest hour, 1.5 x 24
    assert prof.multipliers["a"] == tuple(round((h + 1) / 24, 6) for h in range(24))


def test_csv_trace_missing_hours_is_an_input_error(tmp_path) -> None:
    from planner.errors import InputError
    from planner.inputs.profiles import resolve_profiles

    (tmp_path / "t.csv").write_text("timestamp,value\n2026-03-01T10:00:00,5\n")
    with pytest.raises(InputError, match="no sample in 23 of the 24 hours"):
        resolve_profiles({"file": "t.csv"}, [("a", None)], {}, "s.yaml", tmp_path)


def test_week_profile_repeats_day_profiles() -> None:
    from planner.inputs.profiles import NAMED_PROFILES, resolve_profiles

    week = {"period": "week", "values": [1.0] * 168}
    prof = resolve_profiles(None, [("a", week), ("b", "business-hours")], {}, "s.yaml", Path("."))
    assert prof is not None and prof.period_hours == 168
    assert prof.multipliers["b"] == NAMED_PROFILES["business-hours"] * 7


def test_shipped_catalog_commitment_fields_validate() -> None:
    import yaml

    from planner.inputs.catalog_schema import GPUIn

    seen = 0
    for f in sorted((ROOT / "gpu_catalog").glob("*.yaml")):
        if f.name == "sources.yaml":
            continue
        g = GPUIn.model_validate(yaml.safe_load(f.read_text()))
        sources = yaml.safe_load((ROOT / "gpu_catalog" / "sources.yaml").read_text())
        for o in g.offers or []:
            if o.reserved_1y_usd_per_hour is not None or o.reserved_3y_usd_per_hour is not None:
                seen += 1
                assert o.reserved_source in sources
                assert (o.reserved_1y_usd_per_hour or 0) <= (o.usd_per_hour or math.inf)
            if o.spot_interruption is not None:
                assert o.spot_interruption_source in sources
    assert seen >= 10


# ---- spot: brute force with a spot pool ----------------------------------------------------------------------------

def _spot_offers(rate: float, mode: str) -> list[TieredOffer]:
    spot_list = 0.4
    planned = spot_list if mode == "expected" else (1 - rate) * spot_list + rate * 1.0
    return [TieredOffer(id="p:one", gpu="g", gpus_per_instance=1, on_demand_usd_per_hour=1.0, committed_usd_per_hour=0.62,
                        committed_basis="test", spot_usd_per_hour=planned, spot_list_usd_per_hour=spot_list,
                        interruption_rate=rate, max_instances=None),
            _offer("p:two", 2, 2.1, 1.3)]


def _spot_brute_force(models, offers, hourly, mode: str, cap: float) -> float:
    """TP1 replicas only (every group fits anywhere): enumerate commitments, then per hour firm and spot replicas
    and the instances of each kind."""
    one, two = offers
    a = 1 - one.interruption_rate if mode == "expected" else 1.0
    hours = len(next(iter(hourly.values())))
    peak = max(sum(math.ceil(hourly[n][h] / c) + r for n, r, c in models) for h in range(hours))
    best = math.inf
    for c1, c2 in itertools.product(range(peak + 1), range(peak // 2 + 1)):
        total = hours * (0.62 * c1 + 1.3 * c2)
        for h in range(hours):
            total += _spot_hour(models, {n: v[h] for n, v in hourly.items()}, c1, c2, a, cap, one, two)
            if total >= best:
                break
        best = min(best, total)
    return best


def _spot_hour(models, demand, c1, c2, a, cap, one, two) -> float:
    choices = []
    for n, r, c in models:
        d = demand[n]
        top = math.ceil(d / (c * a)) + r if d > 0 else 0
        choices.append([(f, z) for f in range(top + 1) for z in range(top + 1)
                        if d <= 0 or (c * f + a * c * z >= d - 1e-9 and f + z >= r)])
    best = math.inf
    for pick in itertools.product(*choices):
        firm = sum(f for f, _ in pick)
        spot = sum(z for _, z in pick)
        for d1, d2 in itertools.product(range(firm + 1), range(firm // 2 + 2)):
            if c1 + d1 + 2 * (c2 + d2) < firm:
                continue
            e = spot
            if e > cap * (c1 + d1 + 2 * (c2 + d2) + e) + 1e-9:
                continue
            best = min(best, 1.0 * d1 + 2.1 * d2 + one.spot_usd_per_hour * e)
    return best


@pytest.mark.parametrize("mode", ["expected", "fallback"])
@pytest.mark.parametrize("solver", ["cp-sat", "scip"])
def test_spot_brute_force_equals_optimizer(mode: str, solver: str) -> None:
    models = [("m0", 1, 5), ("m1", 2, 4)]  # (name, min replicas, capacity of a TP1 replica)
    hourly = {"m0": [9, 3, 0, 12], "m1": [4, 8, 2, 6]}
    offers = _spot_offers(0.2, mode)
    cs = _fake_cs([(n, r, [(1, c)]) for n, r, c in models])
    sol = solve_schedule(cs, offers, slots_of({n: tuple(v) for n, v in hourly.items()}), 4, spot_mode=mode,  # type: ignore[arg-type]
                         spot_max_share=0.4, time_limit_s=20, solver=solver)
    assert sol.status == "optimal"
    assert sol.cost_usd_per_period == pytest.approx(_spot_brute_force(models, offers, hourly, mode, 0.4), abs=1e-6)
    assert any(sol.spot)  # spot is cheap enough that the optimum uses it


def test_week_profile_plans_168_hours_and_json_carries_the_schedule(run_cli, tmp_path) -> None:
    import json

    week = [0.3] * 24 * 5 + [0.1] * 48  # weekdays busier than the weekend
    p = tmp_path / "week.yaml"
    p.write_text(SMALL.replace(SMALL.splitlines()[5], f"profile: {{period: week, values: {week}}}"))
    code, out, err = run_cli("plan", p, "--format", "json", "--time-limit", "20", "-q", "--reproducible")
    assert code == 0, err
    d = json.loads(out)
    assert len(d["schedule"]) == 168 and d["period_hours"] == 168
    assert set(d["cost_usd_per_month"]) == {"total", "committed", "on_demand", "spot"}
    assert isinstance(d["committed"], dict)
    weekday, weekend = d["schedule"][10], d["schedule"][24 * 6 + 10]
    assert weekday["demand_units"]["chat"] > weekend["demand_units"]["chat"]


def test_schedule_csv_without_a_profile_is_an_input_error(run_cli, tmp_path) -> None:
    code, _, err = run_cli("plan", ROOT / "scenarios" / "chat-fleet.yaml", "--schedule-csv", tmp_path / "x.csv", "-q")
    assert code == 2 and "--schedule-csv: the scenario has no profile" in err
    assert not (tmp_path / "x.csv").exists()


def test_report_of_a_schedule_writes_chart_commitment_and_autoscaler_targets(run_cli, tmp_path) -> None:
    """`planner report` on a profile scenario (issue 16): the stacked chart against demand, the commitment, the
    alternatives, every hour; totals equal plan.json; the spreadsheet has frozen headers and a totals formula; the
    same scenario writes the same files byte for byte."""
    import csv
    import json

    from openpyxl import load_workbook

    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    outs = []
    for k in (1, 2):
        out = tmp_path / f"rep{k}"
        code, _, err = run_cli("report", str(p), "--out", str(out), "-q")
        assert code == 0, err
        outs.append(out)
    names = sorted(x.name for x in outs[0].iterdir())
    assert names == ["autoscaler.csv", "hourly.csv", "plan.json", "report.html", "report.md", "report.xlsx"]
    for name in names:
        if name != "report.xlsx":  # xlsx carries a creation time
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    d = json.loads((outs[0] / "plan.json").read_text())
    md = (outs[0] / "report.md").read_text()
    assert f"${d['cost_usd_per_month']['total']:,.0f}/month" in md
    for name, c in d["comparisons"].items():
        assert f"{c['cost_usd_per_month']:,.2f}" in md, name
    html = (outs[0] / "report.html").read_text()
    assert 'id="chart-schedule"' in html and html.count("<rect") > 24
    rows = list(csv.DictReader((outs[0] / "autoscaler.csv").open()))
    by_hour: dict[int, int] = {}
    for r in rows:
        by_hour[int(r["hour"])] = by_hour.get(int(r["hour"]), 0) + int(r["replicas"])
    for h in d["schedule"]:
        assert by_hour.get(h["hour"], 0) == sum(r["firm"] + r["spot"] for r in h["replicas"]), h["hour"]
    wb = load_workbook(outs[0] / "report.xlsx")
    assert wb.sheetnames[:2] == ["Summary", "Commit"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
    hourly = wb["Hourly"]
    assert hourly.max_row == 1 + len(d["schedule"])
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["cost per month (USD)"] == pytest.approx(d["cost_usd_per_month"]["total"], abs=0.01)
    if d["committed"]:
        last = wb["Commit"][wb["Commit"].max_row]
        assert last[0].value == "total" and str(last[6].value).startswith("=SUM(")


@pytest.mark.parametrize("flag", [["--currency", "CNY"], ["--lang", "zh"]])
@pytest.mark.parametrize("command", ["plan", "report"])
def test_schedule_refuses_currency_and_language_it_cannot_print(run_cli, tmp_path, command, flag) -> None:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    out = tmp_path / "out"
    code, _, err = run_cli(command, str(p), *flag, "--out", str(out), "-q")
    assert code == 2 and "printed in USD and English only" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

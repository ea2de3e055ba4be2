"""Issue 17 item 5, `estimate` for everyone: every GPU type's cheapest setup (split x replicas) for the requested
concurrency, sorted by price, the cheapest marked, speeds at the sequences each replica serves, exit 1 when nothing
fits, and FP16 instead of BF16 on GPUs without BF16 (vLLM's --dtype auto)."""

from __future__ import annotations

import json
import math
import random

import pytest

from planner.cli.main import main
from planner.estimate.deployment import estimate_deployment, splits
from planner.estimate.memory import parallel_problem
from planner.estimate.setup import cheapest_setup, precision_on
from planner.inputs.catalog import load_catalog
from planner.inputs.library import get_model

CAT = load_catalog()


def _brute(arch, g, n: int, precision: str) -> tuple[bool, float | None, int]:
    """Every split without pruning: (priced?, least cost, GPUs) in the setup's own order."""
    best = None
    for tp, pp in splits(g, max_pp=min(16, arch.num_layers)):
        if parallel_problem(arch, g, tp, pp, precision, "auto"):
            continue
        e = estimate_deployment(arch, g, tp=tp, pp=pp, precision=precision, concurrency=1, batch=1, context_tokens=4096)
        if not e.memory.fits or e.capacity < 1:
            continue
        r = math.ceil(n / e.capacity)
        key = (e.usd_per_hour is None, 0.0 if e.usd_per_hour is None else r * e.usd_per_hour, r * tp * pp)
        best = key if best is None or key < best else best
    return best  # type: ignore[return-value]


@pytest.mark.parametrize("seed", range(12))
def test_cheapest_setup_equals_every_split(seed):
    rng = random.Random(seed)
    model = rng.choice(["qwen2.5-7b", "llama-3-8b", "qwen2.5-14b", "glm-4-9b", "llama-3.2-3b", "qwen2.5-32b"])
    gpu = rng.choice(["rtx-3090", "rtx-4090", "a10", "l4", "t4", "a100-80gb-sxm", "l40s", "rtx-3060"])
    n = rng.choice([1, 4, 16, 64, 200])
    arch, g = get_model(model), CAT.get(gpu)
    prec, _ = precision_on(g, "bf16", named=False)
    s = cheapest_setup(arch, g, concurrency=n, precision="bf16", precision_named=False, context_tokens=4096)
    truth = _brute(arch, g, n, prec)
    if truth is None:
        assert not s.fits
        return
    assert s.fits and s.precision == prec
    assert (s.usd_per_hour is None) == truth[0]
    if s.usd_per_hour is not None:
        assert s.usd_per_hour == pytest.approx(truth[1], abs=1e-9)
    assert s.replicas * s.sequences_per_replica >= n  # the replicas hold every sequence
    assert s.estimate.batch == math.ceil(n / s.replicas)  # speed at each replica's share, not batch 1
    assert s.estimate.memory.fits


def test_t4_runs_a_bf16_checkpoint_in_fp16_unless_bf16_is_named():
    t4 = CAT.get("t4")
    assert "bf16" not in t4.formats
    assert precision_on(t4, "bf16", named=False)[0] == "fp16"
    assert precision_on(t4, "bf16", named=True) == ("bf16", "")
    assert precision_on(CAT.get("a100-80gb-sxm"), "bf16", named=False) == ("bf16", "")
    s = cheapest_setup(get_model("llama-3-8b"), t4, concurrency=8, precision="bf16", precision_named=False,
                       context_tokens=4096)
    assert s.fits and s.precision == "fp16" and s.gpus < 16  # not the 64-GPU "does not run bf16" answer


def test_every_gpu_json_is_sorted_by_price_with_the_cheapest_named(capsys):
    assert main(["estimate", "qwen2.5-7b", "--concurrency", "24", "--context", "4096", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    priced = [r for r in d["per_gpu"] if r["fits"] and r["usd_per_hour"] is not None]
    assert priced and [r["usd_per_hour"] for r in priced] == sorted(r["usd_per_hour"] for r in priced)
    assert d["cheapest"] == priced[0]["gpu"]
    assert d["per_gpu"][: len(priced)] == priced  # priced fits first
    for r in priced:
        assert r["replicas"] * r["sequences_per_replica"] >= 24
        assert r["replica"]["batch"] == r["sequences_per_replica"]


def test_every_gpu_table_marks_the_cheapest(capsys):
    assert main(["estimate", "qwen2.5-7b", "--concurrency", "24", "--context", "4096"]) == 0
    out = capsys.readouterr().out
    assert out.count("<- cheapest") == 1 and "Cheapest: " in out


def test_does_not_fit_exits_1_like_an_infeasible_plan(capsys):
    assert main(["estimate", "llama-3.1-405b", "--gpu", "t4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: llama-3.1-405b does not fit on t4") and len(err.strip().splitlines()) == 1
    assert main(["estimate", "qwen2.5-7b", "--gpu", "a100-80gb-sxm", "--context", "4096"]) == 0

"""The candidate build's exact prunings give the candidates that estimating every split and pruning after would give.

``_one_gpu_holder`` (planner/candidates/deployments.py): once a TP=1 x PP=1 replica in one instance holds a model's
whole demand on a GPU type, the other splits of that type (larger TP sizes, pipelines across fabric offers) are not
estimated at all. The reference here is the same build with that shortcut switched off: every split estimated, then
``_prune``. Both must keep the same candidates, field for field, on random fleets over the whole catalog and on the
fabric instances of tests/test_fabrics.py; and the shortcut must fire (fewer estimates) on most of them.
"""

from __future__ import annotations

import random

import pytest
from test_fabrics import fabric_instance

import planner.candidates.deployments as deployments
from planner.candidates.deployments import RejectionKind, build_candidates
from planner.inputs.library import get_model
from planner.inputs.scenario import scenario_from_dict

POOL = ["llama-3.2-1b", "qwen3-0.6b", "llama-3.1-8b", "qwen2.5-7b", "qwen2.5-14b", "glm-4-9b-chat", "chatglm3-6b",
        "minicpm-2b-sft-bf16", "mistral-7b-v0.1", "deepseek-v2-lite", "qwen2.5-72b", "mixtral-8x7b-v0.1", "gemma-2-9b"]


def random_fleet(seed: int) -> dict:
    """A few library models, any precision, context, concurrency, request-rate or SLO, over the whole catalog."""
    rng = random.Random(7100 + seed)
    models = []
    for i in range(rng.randint(2, 6)):
        mid = rng.choice(POOL)
        m = {"name": f"m{i}", "model": mid, "precision": rng.choice(["bf16", "fp8", "int8", "int4"]),
             "context_tokens": min(rng.choice([2048, 4096, 8192]), get_model(mid).max_context),
             "min_replicas": rng.choice([1, 1, 2])}
        if rng.random() < 0.2:
            m |= {"request_rate_per_s": rng.choice([0.5, 2.0, 10.0]), "input_tokens": rng.choice([256, 1024]),
                  "output_tokens": rng.choice([128, 512])}
        else:
            m["concurrency"] = rng.choice([1, 4, 16, 64, 256, 1024])
        if rng.random() < 0.3:
            m["slo"] = {"min_tokens_per_s": rng.choice([10, 30, 60])}
        models.append(m)
    return {"name": f"pruning-{seed}", "models": models, "sharing": {"enabled": rng.random() < 0.3}}


def _both(data: dict, monkeypatch) -> tuple[list[dict], list[dict], int, int]:
    """(candidates with the shortcut, without it, estimates with it, without it)."""
    calls = {"n": 0}
    real = deployments._candidate

    def counted(*a, **kw):
        calls["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(deployments, "_candidate", counted)
    fast = build_candidates(scenario_from_dict(data))
    n_fast, calls["n"] = calls["n"], 0
    monkeypatch.setattr(deployments, "_one_gpu_holder", lambda found, demand: None)  # every split estimated
    slow = build_candidates(scenario_from_dict(data))
    return [c.to_dict() for c in fast.candidates], [c.to_dict() for c in slow.candidates], n_fast, calls["n"]


def test_the_one_gpu_shortcut_keeps_every_candidate_on_random_fleets(monkeypatch):
    fired = 0
    for seed in range(12):
        fast, slow, n_fast, n_slow = _both(random_fleet(seed), monkeypatch)
        monkeypatch.undo()
        assert fast == slow, f"seed {seed}"
        assert n_fast <= n_slow
        fired += n_fast < n_slow
    assert fired >= 8, f"the shortcut fired on {fired} of 12 fleets"


@pytest.mark.parametrize("seed", range(0, 40, 4))
def test_the_one_gpu_shortcut_keeps_every_candidate_with_fabrics(seed, tmp_path, monkeypatch):
    fast, slow, n_fast, n_slow = _both(fabric_instance(seed, tmp_path / "cat"), monkeypatch)
    assert fast == slow
    assert n_fast <= n_slow


def test_skipped_splits_are_listed_as_dominated_by_the_holder():
    """A 1B model at 4 sequences fits one GPU of every type: on each type whose instances hold two GPUs, TP=2 is a
    DOMINATED rejection naming the TP=1 x PP=1 replica, with no estimate behind it."""
    cs = build_candidates(scenario_from_dict({"name": "tiny", "models": [
        {"name": "tiny", "model": "llama-3.2-1b", "precision": "bf16", "concurrency": 4, "context_tokens": 2048}]}))
    by_gpu = {c.gpu for c in cs.candidates}
    assert by_gpu and all(c.tp == 1 and c.pp == 1 for c in cs.candidates)
    multi = {o.gpu for o in cs.offers if o.gpus_per_instance >= 2} & by_gpu
    assert len(multi) >= 5
    for gpu in by_gpu:
        dom = [r for r in cs.rejected if r.gpu == gpu and r.kind == RejectionKind.DOMINATED]
        assert (2 in {r.tp for r in dom}) == (gpu in multi), gpu
        assert all(r.reason.startswith(f"dominated by TP=1 PP=1 on {gpu} (1 GPUs, ") for r in dom)

"""The engine profile in a scenario (`engine:` at the top and per model) and as flags of plan / candidates / report:
every candidate's memory budget, the placement, the checker and the launch lines follow it."""

from __future__ import annotations

import json

from planner.candidates.deployments import build_candidates
from planner.estimate.engine import DEFAULT_VLLM_VERSION, EngineProfile, num_seqs
from planner.estimate.memory import estimate_memory, planned_max_num_seqs, stage_devices
from planner.inputs.scenario import scenario_from_dict, with_engine_flags
from planner.pipeline import plan
from planner.plans.check import check_plan
from planner.plans.launch import launch_lines


def _scenario(engine: dict | None = None, model_engine: dict | None = None, concurrency: int = 40,
              gpus: tuple[str, ...] = ("rtx-4090",), context: int = 4096):
    chat = {"name": "chat", "model": "llama-3.1-8b", "concurrency": concurrency, "context_tokens": context}
    if model_engine is not None:
        chat["engine"] = model_engine
    helper = {"name": "helper", "model": "llama-3.2-1b", "concurrency": 8, "context_tokens": 2048}
    d: dict = {"name": "eng", "gpus": list(gpus), "models": [chat, helper]}
    if engine is not None:
        d["engine"] = engine
    return scenario_from_dict(d, name="eng")


def _flags(argv: tuple[str, ...]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}


def test_top_level_block_applies_to_every_model_and_a_model_block_overrides_fields() -> None:
    s = _scenario({"vllm_version": "0.6.4", "block_size": 32, "enforce_eager": True},
                  {"vllm_version": "0.19.0", "max_num_seqs": 64})
    chat, helper = s.models
    assert (chat.engine.version, chat.engine.block_size, chat.engine.enforce_eager, chat.engine.max_num_seqs) == \
        ("0.19.0", 32, True, 64)
    assert (helper.engine.version, helper.engine.block_size, helper.engine.max_num_seqs) == ("0.6.4", 32, None)
    assert _scenario().models[0].engine == EngineProfile(version=DEFAULT_VLLM_VERSION)


def test_model_max_batched_tokens_is_the_profiles() -> None:
    s = scenario_from_dict({"name": "t", "engine": {"max_batched_tokens": 4096}, "models": [
        {"name": "a", "model": "llama-3.1-8b", "concurrency": 1},
        {"name": "b", "model": "llama-3.1-8b", "concurrency": 1, "max_batched_tokens": 1024}]})
    assert [(m.max_batched_tokens, m.engine.max_num_batched_tokens) for m in s.models] == [(4096, 4096), (1024, 1024)]


def test_candidates_budget_under_the_scenarios_version() -> None:
    """vLLM 0.6.4 (V0) profiles a batch of max(max_model_len, 2048) tokens and 256 sampled rows, V1 0.26 one of 2048
    tokens: the candidates' activation terms are the estimator's under each profile."""
    for version in ("0.6.4", "0.26.0"):
        s = _scenario({"vllm_version": version})
        cs = build_candidates(s)
        m = s.models[0]
        c = next(c for c in cs.for_model("chat") if c.tp == 1 and c.pp == 1)
        g = s.catalog.get(c.gpu)
        want = estimate_memory(m.arch, g, context_tokens=m.context_tokens, engine=EngineProfile(version=version),
                               max_num_seqs=planned_max_num_seqs(m.engine, g, c.memory_concurrency))
        assert c.memory.family == want.family
        assert c.memory.per_device.activation_bytes == want.per_device.activation_bytes
    assert build_candidates(_scenario({"vllm_version": "0.6.4"})).candidates[0].memory.family == "v0-profile"


def test_profile_max_num_seqs_caps_capacity_and_the_launch_line_says_it() -> None:
    s = _scenario({"max_num_seqs": 16}, concurrency=100)
    p = plan(s, baselines=False)
    assert check_plan(p, s) == []
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    chat = [r for r in p.replicas if r.model == "chat"]
    assert chat and all(r.concurrency <= 16 for r in chat)
    assert sum(r.concurrency for r in chat) >= 100
    assert all(_flags(lines[r.id].argv)["--max-num-seqs"] == "16" for r in p.replicas)


def test_flags_override_the_scenario_block() -> None:
    s = with_engine_flags(_scenario({"vllm_version": "0.6.4", "block_size": 32}), version="0.19.0", enforce_eager=True,
                          max_num_seqs=None)
    assert all(m.engine.version == "0.19.0" and m.engine.enforce_eager and m.engine.block_size == 32 for m in s.models)
    p = plan(s, baselines=False)
    for ln in launch_lines(p, s):
        assert "--enforce-eager" in ln.argv and _flags(ln.argv)["--block-size"] == "32"


def test_replica_budget_is_at_the_launch_lines_max_num_seqs() -> None:
    """Every dedicated replica's shards hold exactly the estimate at its launch line's --max-num-seqs, which is at
    least its planned sequences (issue 13: vLLM profiles the sampler on max_num_seqs rows)."""
    s = _scenario(concurrency=1200, gpus=("rtx-4090",), context=960)
    p = plan(s, baselines=False)
    models = {m.name: m for m in s.models}
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    big = [r for r in p.replicas if not r.shared and r.concurrency > num_seqs(models[r.model].engine,
                                                                              s.catalog.get(r.gpu))]
    assert big, "no replica above vLLM's default max_num_seqs: the regression is not exercised"
    for r in big:
        m = models[r.model]
        n = int(_flags(lines[r.id].argv)["--max-num-seqs"])
        assert n >= r.concurrency
        e = estimate_memory(m.arch, s.catalog.get(r.gpu), tp=r.tp, pp=r.pp, context_tokens=m.context_tokens,
                            engine=m.engine, max_num_seqs=n)
        assert e.max_concurrency >= r.concurrency
        stages = stage_devices(m.arch, s.catalog.get(r.gpu), tp=r.tp, pp=r.pp, precision=m.precision,
                               kv_cache_dtype=m.kv_cache_dtype, gpu_memory_utilization=s.gpu_memory_utilization,
                               max_batched_tokens=m.max_batched_tokens, engine=m.engine,
                               context_tokens=m.context_tokens, max_num_seqs=n)
        for shard in (sh for i in p.instances for d in i.devices for sh in d.shards if sh.replica == r.id):
            assert shard.activation_bytes == stages[shard.stage].activation_bytes


def test_plan_cli_takes_engine_flags(capsys) -> None:
    from planner.cli.main import main

    code = main(["plan", "--vllm-version", "0.9.2", "--max-num-seqs", "128", "--format", "json", "--no-baselines",
                 "-q", "--reproducible"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["replicas"] and all(r["launch"]["max_num_seqs"] == 128 and r["concurrency"] <= 128 for r in d["replicas"])


def test_a_fixed_kv_pool_is_planned_without_sharing_and_within_the_usable_memory() -> None:
    """--kv-cache-memory-bytes: vLLM allocates that pool whatever the engine's share, so no engine shares a device, and
    a deployment whose pool and fixed memory exceed the scenario's usable memory is rejected (vLLM itself would ignore
    gpu_memory_utilization)."""
    s = _scenario({"kv_cache_memory_bytes": 4_000_000_000}, gpus=("rtx-4090", "a10"))
    cs = build_candidates(s)
    assert not cs.patterns
    assert any("--kv-cache-memory-bytes" in r.reason for r in cs.rejected)
    p = plan(s, baselines=False)  # the pipeline runs the checker
    assert p.replicas and not any(r.shared for r in p.replicas)
    assert all(_flags(ln.argv)["--kv-cache-memory-bytes"] == "4000000000" for ln in launch_lines(p, s))


def test_every_version_family_plans_and_passes_the_checker() -> None:
    for version in ("0.2.4", "0.6.4", "0.8.5", "0.10.0"):
        s = _scenario({"vllm_version": version}, concurrency=300)
        p = plan(s, baselines=False)  # raises PlanCheckError if a shard differs from the estimator under the profile
        assert sum(r.concurrency for r in p.replicas if r.model == "chat") >= 300

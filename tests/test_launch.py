"""Launch lines from a plan (planner/plans/launch.py): every flag equals what the plan budgeted."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from planner.inputs.scenario import default_scenario_path, load_scenario
from planner.pipeline import plan
from planner.plans.launch import launch_lines, launch_script

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [ROOT / "scenarios" / "chat-fleet.yaml", default_scenario_path()]


def _flags(argv: tuple[str, ...]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.stem)
def planned(request: pytest.FixtureRequest):
    s = load_scenario(request.param)
    return s, plan(s, baselines=False)


def test_each_launch_line_matches_the_plan(planned) -> None:
    s, p = planned
    models = {m.name: m for m in s.models}
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    assert set(lines) == {r.id for r in p.replicas}
    shards = {(d.id, sh.replica): sh for i in p.instances for d in i.devices for sh in d.shards}
    for r in p.replicas:
        ln = lines[r.id]
        f = _flags(ln.argv)
        assert ln.argv[:2] == ("vllm", "serve")
        assert int(f["--tensor-parallel-size"]) == r.tp
        assert int(f.get("--pipeline-parallel-size", "1")) == r.pp
        assert int(f["--max-model-len"]) == models[r.model].context_tokens
        assert int(f["--max-num-seqs"]) >= r.concurrency  # vLLM's default (256) would cap a larger replica
        u = float(f["--gpu-memory-utilization"])
        assert all(abs(u - shards[(d, r.id)].gpu_memory_utilization) < 1e-4 for d in r.devices)
        assert shlex.split(ln.command)[1:] == list(ln.argv)


def test_shared_utilizations_fit_each_device(planned) -> None:
    s, p = planned
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    for inst in p.instances:
        for d in inst.devices:
            total = sum(float(_flags(lines[sh.replica].argv)["--gpu-memory-utilization"]) for sh in d.shards)
            assert total <= s.gpu_memory_utilization + 1e-4, f"{d.id}: engines ask for {total:.4f} of the device"


def test_engines_on_one_instance_get_distinct_ports(planned) -> None:
    s, p = planned
    seen: dict[tuple[str, str], str] = {}
    for ln in launch_lines(p, s):
        key = (ln.instances[0], _flags(ln.argv)["--port"])
        assert key not in seen, f"{ln.replica} and {seen.get(key)} share a port"
        seen[key] = ln.replica
    assert launch_script(p, s).startswith("#!/bin/sh")


def test_every_replica_of_the_shipped_scenarios_launches_with_its_planned_sequences() -> None:
    """Regression (issue 13): a replica planned for more sequences than vLLM's default max_num_seqs (256 on an RTX
    4090) must be launched with --max-num-seqs at least that; checked on every replica of chat-fleet and the default
    (the 578-sequence case itself is the next test)."""
    for path in SCENARIOS:
        s = load_scenario(path)
        p = plan(s, baselines=False)
        lines = {ln.replica: ln for ln in launch_lines(p, s)}
        assert set(lines) == {r.id for r in p.replicas}
        for r in p.replicas:
            assert lines[r.id].max_num_seqs >= r.concurrency, f"{path.name}: {r.id}"


def test_replica_of_578_plus_sequences_on_an_rtx_4090() -> None:
    """Regression (issue 13): a replica planned for 578 or more sequences on an RTX 4090 (vLLM's default
    max_num_seqs there is 256) is launched with --max-num-seqs of at least its planned sequences."""
    from planner.inputs.scenario import scenario_from_dict

    s = scenario_from_dict({"name": "many-small", "gpus": ["rtx-4090"], "models": [
        {"name": "helper", "model": "llama-3.2-1b", "concurrency": 1200, "context_tokens": 960}]}, name="many-small")
    p = plan(s, baselines=False)
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    assert p.replicas and all(r.concurrency >= 578 for r in p.replicas)
    for r in p.replicas:
        assert int(_flags(lines[r.id].argv)["--max-num-seqs"]) >= max(578, r.concurrency)


def test_plan_json_gets_replicas_launch(planned) -> None:
    from planner.plans.launch import attach_launch

    s, p = planned
    d = attach_launch(p.to_dict(reproducible=True), p, s)
    for r in d["replicas"]:
        assert r["launch"]["command"].split()[1:3] == ["vllm", "serve"]
        assert r["launch"]["max_num_seqs"] >= r["concurrency"]


def test_each_replica_is_budgeted_at_its_launch_lines_max_num_seqs(planned) -> None:
    """vLLM profiles its sampler on --max-num-seqs rows: every shard of every replica (dedicated stages and shared
    engines) holds the estimator's budget at its launch line's --max-num-seqs, and that budget holds the replica's
    planned sequences."""
    from planner.estimate.memory import estimate_memory, stage_devices

    s, p = planned
    models = {m.name: m for m in s.models}
    lines = {ln.replica: ln for ln in launch_lines(p, s)}
    shards = {}
    for i in p.instances:
        for d in i.devices:
            for sh in d.shards:
                shards.setdefault(sh.replica, []).append(sh)
    for r in p.replicas:
        m, g = models[r.model], s.catalog.get(r.gpu)
        n = int(_flags(lines[r.id].argv)["--max-num-seqs"])
        kw = {"tp": r.tp, "pp": r.pp, "precision": m.precision, "kv_cache_dtype": m.kv_cache_dtype,
              "max_batched_tokens": m.max_batched_tokens, "engine": m.engine, "max_num_seqs": n}
        if r.shared:
            e = estimate_memory(m.arch, g, context_tokens=m.context_tokens, gpu_memory_utilization=s.gpu_memory_utilization,
                                **kw)
            (sh,) = shards[r.id]
            assert sh.activation_bytes == e.per_device.activation_bytes
            assert sh.kv_cache_bytes >= r.concurrency * e.seq_kv_bytes
            continue
        want = stage_devices(m.arch, g, gpu_memory_utilization=s.gpu_memory_utilization, context_tokens=m.context_tokens,
                             **kw)
        for sh in shards[r.id]:
            assert (sh.activation_bytes, sh.kv_cache_bytes) == (want[sh.stage].activation_bytes,
                                                                want[sh.stage].kv_cache_bytes)
        e = estimate_memory(m.arch, g, context_tokens=m.context_tokens, gpu_memory_utilization=s.gpu_memory_utilization,
                            **kw)
        assert e.max_concurrency >= r.concurrency


def test_a_checkpoint_named_by_its_config_json_is_served_from_its_folder(tmp_path) -> None:
    """`hf_config: ckpt/config.json`: vLLM is pointed at the checkpoint folder, not at the config file."""
    import json

    from planner.inputs.scenario import scenario_from_dict

    ck = tmp_path / "ckpt"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
        "max_position_embeddings": 32768, "tie_word_embeddings": True, "torch_dtype": "bfloat16"}))
    s = scenario_from_dict({"name": "ck", "gpus": ["l4"], "models": [
        {"name": "mine", "hf_config": str(ck / "config.json"), "concurrency": 4, "context_tokens": 2048}]})
    p = plan(s, baselines=False)
    for ln in launch_lines(p, s):
        assert ln.argv[ln.argv.index("serve") + 1] == str(ck)

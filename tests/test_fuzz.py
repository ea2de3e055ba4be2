"""Fuzzing the boundary: random YAML scenarios and random config.json files never produce a traceback.

Hypothesis, bounded by example counts; every run must end with exit code 0 (planned), 1 (infeasible, explained),
2 (bad input, one line) or 3 (time limit), and anything printed to stderr is one line per error.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cli.main import main
from planner.inputs.architectures import SUPPORTED_MODEL_TYPES

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12))
keys = st.sampled_from(["name", "models", "model", "concurrency", "context_tokens", "precision", "gpus", "limits",
                        "pricing", "slo", "min_tokens_per_s", "tp", "pp", "catalog", "hf_config", "sharing", "x"])
trees = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(keys, c, max_size=5)), max_leaves=25)

VALID = {"name": "f", "gpus": ["l4", "a10g"], "providers": ["aws"],
         "models": [{"name": "m", "model": "llama-3.2-1b", "concurrency": 4, "context_tokens": 2048}]}


def _run(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 1, 2, 3), code
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    return code


@settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trees)
def test_random_yaml_scenarios(tmp_path, capsys, tree):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(tree, allow_unicode=True))
    _run(["plan", str(f), "-q", "--no-baselines", "--time-limit", "5"], capsys)


@settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["models", "gpus", "limits", "pricing", "name", "gpu_memory_utilization", "max_usd_per_hour"]),
       st.sampled_from(["concurrency", "context_tokens", "precision", "model", "min_replicas", "slo", "tp", "name"]), scalars)
def test_mutated_valid_scenario(tmp_path, capsys, top, field, value):
    import copy

    d = copy.deepcopy(VALID)
    if top == "models":
        d["models"][0][field] = value
    else:
        d[top] = value
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(d, allow_unicode=True))
    _run(["plan", str(f), "-q", "--no-baselines", "--time-limit", "5"], capsys)


@settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([*SUPPORTED_MODEL_TYPES, "bert", ""]),
       st.dictionaries(st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                        "vocab_size", "intermediate_size", "head_dim", "n_routed_experts", "kv_lora_rank",
                                        "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "moe_intermediate_size",
                                        "num_experts_per_tok", "num_layers", "padded_vocab_size", "ffn_hidden_size",
                                        "num_local_experts", "sliding_window", "tie_word_embeddings"]),
                       st.one_of(st.integers(-4, 70000), st.floats(-1, 1e5), st.floats(allow_nan=True), st.text(max_size=4), st.none()),
                       max_size=14))
def test_random_config_json(tmp_path, capsys, model_type, fields):
    cfg = dict(fields, model_type=model_type)
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg, allow_nan=True))
    _run(["estimate", "--hf-config", str(f), "--gpu", "h100-sxm", "--context", "512", "--format", "json"], capsys)

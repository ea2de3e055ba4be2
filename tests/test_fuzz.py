"""Fuzzing the boundary: random YAML scenarios and random config.json files never produce a traceback.

Hypothesis, bounded by example counts; every run must end with exit code 0 (planned), 1 (infeasible, explained),
2 (bad input, one line) or 3 (time limit), and anything printed to stderr is one line per error.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, event, given, settings
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


# ---- user catalogs, calibration files and checkpoint folders ---------------------------------------------------------
# Each example writes the file (or folder), plans a one-model scenario that uses it, and requires: no traceback, no
# hang, exit 0/1/2/3; and for exit 0 a plan that passes the checker with no negative or non-finite number in its JSON.

EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", 12))
numbers = st.one_of(st.integers(-10, 10**6), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(0.01, 5000), st.sampled_from(["inf", "nan", "1e9", "4\u00b2", "-0", ""]), st.none(), st.booleans())


def _numbers_in(data, path="plan"):
    """Every number in a JSON document, with where it is."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _numbers_in(v, f"{path}.{k}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _numbers_in(v, f"{path}[{i}]")
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield path, data


def _plan_is_sound(scenario_path):
    """The library's plan for the scenario passes the checker, and its JSON has only finite, non-negative numbers."""
    import math

    from planner.errors import PlannerError
    from planner.inputs.scenario import load_scenario
    from planner.pipeline import plan
    from planner.plans.check import check_plan

    s = load_scenario(scenario_path)
    try:
        p = plan(s, time_limit_s=5, baselines=False)
    except PlannerError:
        return  # exit 1 or 3 in the CLI: nothing printed as a plan
    assert check_plan(p, s) == []
    bad = [(w, v) for w, v in _numbers_in(json.loads(json.dumps(p.to_dict(reproducible=True), allow_nan=True)))
           if not math.isfinite(v) or v < 0]
    assert not bad, bad[:5]


def _plan_case(tmp_path, capsys, scenario):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    code = _run(["plan", str(f), "-q", "--no-baselines", "--time-limit", "5", "--format", "json"], capsys)
    event(f"exit {code}")  # --hypothesis-show-statistics shows how many examples planned
    if code == 0:
        _plan_is_sound(f)


gpu_fields = st.fixed_dictionaries({}, optional={
    "memory_gib": numbers, "bandwidth_gb_s": numbers, "fp16_tflops": numbers, "bf16_tflops": numbers, "fp8_tflops": numbers,
    "tdp_w": numbers, "interconnect_gb_s": numbers, "max_gpus_per_node": numbers, "mig_max_instances": numbers,
    "formats": st.lists(st.sampled_from(["bf16", "fp16", "fp8", "int8", "int4", "fp4"]), max_size=4)})
offers = st.lists(st.fixed_dictionaries(
    {"provider": st.sampled_from(["aws", "fz"]), "instance": st.sampled_from(["i1", "i2", "g6.xlarge"]),
     "gpus_per_instance": numbers, "usd_per_hour": numbers, "source": st.just("fuzz")},
    optional={"spot_usd_per_hour": numbers, "as_of": st.just("2026-01-01")}), max_size=3)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["l4", "a10g", "fz-gpu"]), gpu_fields, st.one_of(st.none(), offers), st.booleans())
def test_random_user_catalogs(tmp_path, capsys, gid, fields, offer_list, two_files):
    doc = dict(fields, id=gid)
    if gid == "fz-gpu":
        doc.update({"name": "Fuzz GPU", "interconnect": "pcie"})
    if offer_list is not None:
        doc["offers"] = offer_list
    folder = tmp_path / "cat"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    (folder / "a.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    if two_files:
        (folder / "b.yaml").write_text(yaml.safe_dump({"id": gid, "memory_gib": 20}))
    _plan_case(tmp_path, capsys, {"name": "f", "catalog": str(folder), "gpus": [gid],
                                  "models": [{"name": "m", "model": "llama-3.2-1b", "concurrency": 4, "context_tokens": 2048}]})


CONSTANTS = ("t0_ms", "eta_bw", "eta_flops", "eta_prefill", "allreduce_us_nvlink", "allreduce_us_pcie")
families = st.dictionaries(st.sampled_from(["default", "ada-dc", "ampere-dc", "l4", "x"]),
                           st.dictionaries(st.sampled_from([*CONSTANTS, "points", "extra"]),
                                           st.one_of(st.floats(0.05, 1.0), st.floats(0, 50), numbers), max_size=8),
                           max_size=3)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(families, st.integers(0, 3))
def test_random_calibration_files(tmp_path, capsys, fams, complete_default):
    """Three examples in four complete every family with valid constants first, so that many plan (exit 0)."""
    valid = {"t0_ms": 2.0, "eta_bw": 0.8, "eta_flops": 0.6, "eta_prefill": 0.6, "allreduce_us_nvlink": 20.0,
             "allreduce_us_pcie": 50.0}
    if complete_default:
        fams = {k: {**valid, **v} for k, v in {**fams, "default": fams.get("default", {})}.items()}
    from planner.estimate.speed import load_calibration

    load_calibration.cache_clear()  # cached by path: every example rewrites the same file
    (tmp_path / "cal.yaml").write_text(yaml.safe_dump({"families": fams}, allow_unicode=True))
    _plan_case(tmp_path, capsys, {"name": "f", "calibration": "cal.yaml", "gpus": ["l4"],
                                  "models": [{"name": "m", "model": "llama-3.2-1b", "concurrency": 4, "context_tokens": 2048}]})


LLAMA = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "vocab_size": 128256, "intermediate_size": 8192, "max_position_embeddings": 8192,
         "tie_word_embeddings": True, "torch_dtype": "bfloat16"}
config_changes = st.dictionaries(st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads",
                                                  "num_key_value_heads", "vocab_size", "intermediate_size", "head_dim",
                                                  "max_position_embeddings", "sliding_window", "num_local_experts",
                                                  "num_experts_per_tok", "model_type"]),
                                 st.one_of(numbers, st.sampled_from(["mixtral", "mistral", "qwen2"])), max_size=3)
quant = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "quant_method": st.sampled_from(["awq", "gptq", "fp8", "bitsandbytes", "hqq"]), "bits": numbers,
    "group_size": numbers, "load_in_4bit": st.one_of(st.booleans(), st.just("yes"))}))
index_total = st.one_of(st.none(), numbers, st.integers(10**8, 10**10))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config_changes, quant, index_total)
def test_random_checkpoint_folders(tmp_path, capsys, changes, q, total):
    ck = tmp_path / "ckpt"
    ck.mkdir(exist_ok=True)
    cfg = dict(LLAMA, **changes)
    if q is not None:
        cfg["quantization_config"] = q
    (ck / "config.json").write_text(json.dumps(cfg, allow_nan=True))
    idx = ck / "model.safetensors.index.json"
    if total is None:
        idx.unlink(missing_ok=True)
    else:
        idx.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": {}}, allow_nan=True))
    _plan_case(tmp_path, capsys, {"name": "f", "gpus": ["l4", "a10g"],
                                  "models": [{"name": "m", "hf_config": str(ck), "concurrency": 4, "context_tokens": 2048}]})

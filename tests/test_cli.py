"""The command line: start-up stays light, every command is documented, the main job runs on the default scenario."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["catalog", "models", "estimate", "calibrate", "candidates", "plan", "compare", "sweep", "report"]


def _modules_after(args: list[str]) -> set[str]:
    code = (f"import sys, runpy; sys.argv = ['planner'] + {args!r}\n"
            "from planner.cli.main import main\n"
            "rc = main(sys.argv[1:])\n"
            "print('MODULES=' + ','.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MODULES="))
    return set(line[len("MODULES="):].split(","))


def test_help_imports_neither_solver_nor_pandas():
    mods = _modules_after(["--help"])
    assert not any(m == "ortools" or m.startswith("ortools.") for m in mods)
    assert "pandas" not in mods


def test_estimate_imports_neither_solver_nor_pandas():
    mods = _modules_after(["estimate", "llama-3-8b", "--gpu", "a10", "--format", "json"])
    assert not any(m == "ortools" or m.startswith("ortools.") for m in mods)
    assert "pandas" not in mods


def test_version_and_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "planner", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert re.fullmatch(r"planner \d+\.\d+\.\d+\n", proc.stdout)


def test_every_command_has_help_with_an_example_and_a_readme_section(run_cli):
    readme = (ROOT / "README.md").read_text()
    for cmd in COMMANDS:
        code, out, _ = run_cli(cmd, "--help")
        assert code == 0, cmd
        assert "Example: planner " + cmd in " ".join(out.split()), cmd
        assert f"planner {cmd}" in readme, f"README does not show `planner {cmd}`"


def test_plan_default_scenario_json(run_cli):
    code, out, _ = run_cli("plan", "--format", "json", "--no-baselines", "-q")
    assert code == 0
    d = json.loads(out)
    for key in ("status", "cost_usd_per_hour", "cost_usd_per_month", "bound_usd_per_hour", "gap", "solve_seconds",
                "models", "replicas", "instances"):
        assert key in d
    assert d["status"] == "optimal"
    for m in d["models"]:
        assert m["served_concurrency"] >= m["target_concurrency"]
    for inst in d["instances"]:
        for dev in inst["devices"]:
            assert dev["memory_used_bytes"] <= dev["memory_usable_bytes"]
            for sh in dev["shards"]:
                assert {"model", "replica", "weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes"} <= set(sh)


def test_estimate_json_fields(run_cli):
    code, out, _ = run_cli("estimate", "llama-3-8b", "--gpu", "a10", "--precision", "int8", "--context", "4096",
                           "--concurrency", "8", "--batch", "8", "--min-tokens-per-s", "20", "--format", "json")
    assert code == 0
    d = json.loads(out)
    for key in ("params", "precision", "kv_cache_dtype", "gpu", "tp", "pp", "gpus", "per_device", "kv_bytes_per_token",
                "kv_cache_tokens", "max_concurrency", "fits", "decode_ms_per_token", "ttft_ms", "tokens_per_s_per_stream",
                "tokens_per_s", "max_concurrency_slo", "bound", "usd_per_million_tokens"):
        assert key in d, key
    for key in ("total_bytes", "usable_bytes", "weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes"):
        assert key in d["per_device"]
    assert d["fits"] is True and d["reason"] is None


def test_estimate_that_does_not_fit_says_why(run_cli):
    code, out, _ = run_cli("estimate", "llama-2-70b", "--gpu", "a100-80gb-sxm", "--precision", "fp16", "--format", "json")
    assert code == 1  # like an infeasible plan (issue 17); the JSON still says why
    d = json.loads(out)
    assert d["fits"] is False and "exceed the usable" in d["reason"]


def test_estimate_without_gpu_covers_the_catalog(run_cli):
    code, out, _ = run_cli("estimate", "qwen2.5-7b", "--precision", "int4", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert len(d["per_gpu"]) >= 26
    assert {"seed-1.2", "seed-2x"} == set(d["seed_estimates_bytes"])


def test_infeasible_scenario_exits_1_with_an_explanation(run_cli, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: too-big\ngpus: [rtx-4090]\nproviders: [runpod]\nmodels:\n"
                 "  - {name: big, model: llama-3.1-405b, precision: bf16, concurrency: 4, context_tokens: 4096}\n")
    code, out, err = run_cli("plan", f, "--format", "json", "-q")
    assert code == 1
    assert err.startswith("Error: 1 model(s) fit no GPU type of this scenario: big")
    assert "would fit:" in err or "closest:" in err
    d = json.loads(out)
    assert d["status"] == "infeasible" and d["explanation"]["models"][0]["model"] == "big"


def test_time_limit_without_a_plan_exits_3(run_cli, monkeypatch):
    import planner.solve.backends as opt

    monkeypatch.setattr(opt, "_solve_cpsat", lambda *a, **k: ([], "unknown", None, {"status": "UNKNOWN"}))
    # 5 s: the limit is the command's wall clock, so a tighter one may run out while candidates are built
    code, _out, err = run_cli("plan", "--time-limit", "5", "-q", "--solver", "cp-sat")
    assert code == 3
    assert err.startswith("Error: the solver found no plan within") and "raise --time-limit" in err

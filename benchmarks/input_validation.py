"""How long reading and validating a big scenario takes, before any planning: 1,000 and 10,000 models.

    python benchmarks/input_validation.py                  # 1,000 and 10,000 models, library ids and hf_config folders
    python benchmarks/input_validation.py --models 10000

Validation must leave nearly all of ``--time-limit`` to planning (issue 12: a 10,000-model scenario plans within the
limit or says, within it, what to do). Prints one JSON line per size: seconds to write, read + validate (file to
``Scenario``), and peak RSS. Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from planner.inputs.scenario import load_scenario

POOL = ["llama-3.2-1b", "llama-3-8b", "qwen2.5-7b", "qwen3-8b", "glm-4-9b-chat", "mistral-7b-v0.1", "gemma-2-9b"]
CONFIG = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
          "num_key_value_heads": 8, "vocab_size": 128256, "intermediate_size": 8192, "max_position_embeddings": 8192}


def scenario(n: int, folder: Path, hf_every: int) -> Path:
    """A scenario of ``n`` models; every ``hf_every``-th one from its own config.json (0: none)."""
    models = []
    for i in range(n):
        m = {"name": f"m{i}", "concurrency": 1 + i % 13, "context_tokens": 2048 + 512 * (i % 5), "input_tokens": 1024,
             "output_tokens": 512, "tp": [1, 2], "slo": {"min_tokens_per_s": 10}}
        if hf_every and i % hf_every == 0:
            d = folder / f"ck{i}"
            d.mkdir()
            (d / "config.json").write_text(json.dumps(CONFIG))
            m["hf_config"] = str(d)
        else:
            m["model"] = POOL[i % len(POOL)]
        models.append(m)
    path = folder / f"s{n}.yaml"
    path.write_text(yaml.safe_dump({"name": f"n{n}", "gpus": ["l4", "a10g", "a100-80gb-sxm"], "models": models}))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--hf-every", type=int, default=10, help="every k-th model from a config.json folder (0: none)")
    a = ap.parse_args()
    for n in a.models:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = scenario(n, Path(tmp), a.hf_every)
            t1 = time.perf_counter()
            s = load_scenario(path)
            t2 = time.perf_counter()
            print(json.dumps({"models": n, "hf_config_models": sum(1 for m in s.models if m.arch.source.startswith(tmp)),
                              "file_mib": round(path.stat().st_size / 2**20, 2), "write_s": round(t1 - t0, 2),
                              "read_and_validate_s": round(t2 - t1, 2),
                              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()

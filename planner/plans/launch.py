"""A `vllm serve` line per replica of a plan, every value equal to what the plan budgeted.

    vllm serve <hf repo or path> --tensor-parallel-size T [--pipeline-parallel-size P] --max-model-len C
        --max-num-seqs N --gpu-memory-utilization U [--kv-cache-dtype fp8] [--quantization fp8]
        [--max-num-batched-tokens B] [--dtype float16] [--enforce-eager] [--block-size K]
        [--kv-cache-memory-bytes M] [--enable-chunked-prefill] --port 8000+k

N is what the plan budgeted vLLM's sampler profile for (planner.estimate.memory.planned_max_num_seqs): the engine
profile's max_num_seqs when it sets one (capacity is capped there), else the larger of the version's default and the
sequences the plan loads the replica with (vLLM's default of 256 would cap a replica planned for more); C is the scenario's context; U is the engine's fraction of each device (a shared device's engines each get
their share, and the shares on one device sum to at most the scenario's utilization). Engines on one instance get
distinct ports and CUDA_VISIBLE_DEVICES; a pipeline group spread over several instances names them (vLLM runs it
on a Ray cluster over those machines).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from planner.estimate.engine import DEFAULT_BLOCK_SIZE
from planner.estimate.memory import planned_max_num_seqs
from planner.inputs.library import library, resolve_model_id

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU
    from planner.inputs.scenario import ModelReq, Scenario
    from planner.plans.records import Plan, Replica

BASE_PORT = 8000  # vLLM's default --port


@dataclass(frozen=True)
class LaunchLine:
    """How to start one replica."""

    replica: str
    instances: tuple[str, ...]  # the instances its devices are on (more than one: a multi-node pipeline group)
    cuda_visible_devices: str  # device indexes on the (first) instance
    argv: tuple[str, ...]  # `vllm serve ...`
    max_num_seqs: int
    max_model_len: int
    gpu_memory_utilization: float
    notes: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return f"CUDA_VISIBLE_DEVICES={self.cuda_visible_devices} " + shlex.join(self.argv)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "argv": list(self.argv), "instances": list(self.instances),
                "cuda_visible_devices": self.cuda_visible_devices, "max_num_seqs": self.max_num_seqs,
                "max_model_len": self.max_model_len, "gpu_memory_utilization": self.gpu_memory_utilization,
                "notes": list(self.notes)}


def model_path(m: ModelReq) -> str:
    """The Hugging Face repo vLLM loads (the library entry's), or the local checkpoint the scenario named."""
    mid = resolve_model_id(m.arch.id)
    if mid is not None:
        return library()[mid].hf_repo
    src = m.arch.source or m.arch.id
    # `hf_config: ckpt/config.json` names the checkpoint's config; vLLM loads the folder that holds it
    return str(PurePath(src).parent) if PurePath(src).name == "config.json" else src


def _weight_flags(m: ModelReq) -> tuple[list[str], list[str]]:
    """--quantization / --dtype for the planned weight format, and notes where vLLM cannot make it on the fly."""
    if m.arch.quantization:  # vLLM reads the checkpoint's quantization_config itself
        return [], []
    if m.precision == "fp8":
        return ["--quantization", "fp8"], []  # online dynamic FP8 of a 16-bit checkpoint
    if m.precision in ("int8", "int4"):
        return [], [f"the plan assumes {m.precision} weights: serve an {m.precision.upper()} checkpoint of this model "
                    "(AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up"]
    return {"fp16": ["--dtype", "float16"], "fp32": ["--dtype", "float32"]}.get(m.precision, []), []


def _device_layout(plan: Plan) -> tuple[dict[str, tuple[str, int]], dict[tuple[str, str], float]]:
    """device id -> (instance id, index on the instance); (device, replica) -> the engine's utilization there."""
    where: dict[str, tuple[str, int]] = {}
    util: dict[tuple[str, str], float] = {}
    for inst in plan.instances:
        for k, d in enumerate(inst.devices):
            where[d.id] = (inst.id, k)
            for s in d.shards:
                util[(d.id, s.replica)] = s.gpu_memory_utilization
    return where, util


def _engine_flags(m: ModelReq) -> list[str]:
    """The engine profile's settings that differ from vLLM's defaults, as vLLM flags (the plan budgeted them)."""
    e = m.engine
    out: list[str] = []
    if e.enforce_eager:
        out.append("--enforce-eager")
    if e.block_size != DEFAULT_BLOCK_SIZE:
        out += ["--block-size", str(e.block_size)]
    if e.kv_cache_memory_bytes:
        out += ["--kv-cache-memory-bytes", str(e.kv_cache_memory_bytes)]
    if e.chunked_prefill is not None and not e.v1:
        out.append("--enable-chunked-prefill" if e.chunked_prefill else "--no-enable-chunked-prefill")
    return out


def launch_line(r: Replica, m: ModelReq, gpu: GPU, where: dict[str, tuple[str, int]],
                util: dict[tuple[str, str], float], port: int) -> LaunchLine:
    """The `vllm serve` line of one replica (module docstring)."""
    instances = tuple(dict.fromkeys(where[d][0] for d in r.devices))
    first = [where[d][1] for d in r.devices if where[d][0] == instances[0]]
    u = min(util[(d, r.id)] for d in r.devices)
    seqs = planned_max_num_seqs(m.engine, gpu, max(1, r.concurrency))  # what the plan budgeted the sampler for
    argv = ["vllm", "serve", model_path(m), "--tensor-parallel-size", str(r.tp)]
    if r.pp > 1:
        argv += ["--pipeline-parallel-size", str(r.pp)]
    argv += ["--max-model-len", str(m.context_tokens), "--max-num-seqs", str(seqs),
             "--gpu-memory-utilization", f"{u:.4f}".rstrip("0").rstrip(".")]
    if m.kv_cache_dtype == "fp8":
        argv += ["--kv-cache-dtype", "fp8"]
    flags, notes = _weight_flags(m)
    argv += flags + _engine_flags(m)
    if m.max_batched_tokens:
        argv += ["--max-num-batched-tokens", str(m.max_batched_tokens)]
    if len(instances) > 1:  # vLLM runs a pipeline over several hosts on a Ray cluster
        argv += ["--distributed-executor-backend", "ray"]
        notes.append(f"pipeline group over instances {', '.join(instances)}: start a Ray cluster on them "
                     f"(`ray start --head` on {instances[0]}, `ray start --address=<head>:6379` on the others) and run "
                     "this line on the head")
    argv += ["--port", str(port)]
    return LaunchLine(r.id, instances, ",".join(str(i) for i in sorted(first)), tuple(argv), seqs, m.context_tokens,
                      u, tuple(notes))


def launch_lines(plan: Plan, scenario: Scenario) -> list[LaunchLine]:
    """One launch line per replica of the plan, in the plan's replica order. Engines that start on the same
    instance get ports 8000, 8001, ..."""
    models = {m.name: m for m in scenario.models}
    where, util = _device_layout(plan)
    next_port: dict[str, int] = {}
    out = []
    for r in plan.replicas:
        head = where[r.devices[0]][0]
        port = next_port.get(head, BASE_PORT)
        next_port[head] = port + 1
        out.append(launch_line(r, models[r.model], scenario.catalog.get(r.gpu), where, util, port))
    return out


def launch_script(plan: Plan, scenario: Scenario) -> str:
    """A launch.sh for the report folder: per instance, the engines to start there (in the background)."""
    lines = ["#!/bin/sh", f"# vLLM launch lines for the plan of scenario '{scenario.name}' (planner plans/launch.py).",
             "# Run each block on the instance it names.",
             "# Budgeted under the memory rules of vLLM " + ", ".join(sorted({m.engine.version for m in scenario.models}))
             + " (planner/estimate/engine.py); another version budgets differently.", "set -e"]
    for ln in launch_lines(plan, scenario):
        lines.append("")
        lines.append(f"# replica {ln.replica} on {', '.join(ln.instances)}")
        lines += [f"# note: {n}" for n in ln.notes]
        lines.append(f"{ln.command} &")
    lines += ["", "wait", ""]
    return "\n".join(lines)


def attach_launch(plan_dict: dict[str, Any], plan: Plan, scenario: Scenario) -> dict[str, Any]:
    """Adds ``replicas[].launch`` (LaunchLine.to_dict) to a plan's JSON dict (Plan.to_dict) and returns it."""
    by_id = {ln.replica: ln.to_dict() for ln in launch_lines(plan, scenario)}
    for r in plan_dict.get("replicas", []):
        r["launch"] = by_id[r["id"]]
    return plan_dict

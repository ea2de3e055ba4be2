"""The command line: a thin layer over the library. Every library error becomes one line and an exit code.

Exit codes: 0 success; 1 infeasible scenario (with an explanation); 2 bad input or usage; 3 solver time limit
reached without any plan. Data goes to stdout, progress and errors to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from planner import __version__
from planner.errors import InputError, not_one_of

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU, Catalog

app = typer.Typer(
    name="planner",
    help="GPU capacity planner for serving LLMs: how big a machine, and the cheapest fleet, for a set of models.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FormatOpt = typer.Option("table", "--format", "-f", help="Output format: table, json, csv or markdown.")


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json", "csv", "markdown")) -> str:

    if fmt not in allowed:
        raise InputError(not_one_of("--format: ", fmt, allowed))
    return fmt


def _version(value: bool) -> None:
    if value:
        print(f"planner {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Plan GPU fleets for LLM serving. Start with `planner plan` on the built-in default scenario."""


# ---- catalog -----------------------------------------------------------------------------------------------------

@app.command()
def catalog(
    fmt: str = FormatOpt,
    catalog_path: Path | None = typer.Option(None, "--catalog", help="A catalog folder or file of your own (overrides)."),
    gpu: str | None = typer.Option(None, "--gpu", help="Show one GPU type."),
) -> None:
    """List the GPU types and their offers, with every figure's source and date.

    Example: planner catalog --format json
    """
    from collections import Counter

    from planner.inputs.catalog import load_catalog

    _check_format(fmt)
    cat = load_catalog(catalog_path)
    gpus = [cat.get(gpu)] if gpu else list(cat.gpus.values())
    data = [_gpu_json(g, cat) for g in gpus]
    from planner.report.tables import emit

    if gpu:  # one GPU type: its offers, each with its kind and how many instances one user can get
        g = gpus[0]
        rows = [{"offer": o.id, "gpus_per_instance": o.gpus_per_instance, "usd_per_hour": o.usd_per_hour,
                 "spot_usd_per_hour": o.spot_usd_per_hour, "kind": o.kind,
                 "max_instances": "unlimited" if o.max_instances is None else o.max_instances,
                 "max_instances_source": o.max_instances_source or "", "fabric": _fabric_text(o.fabric),
                 "as_of": o.as_of, "source": o.source}
                for o in g.offers]
        emit(rows, list(rows[0]) if rows else [], fmt, json_data=data,
             title=f"{g.id} offers (prices USD; max_instances: what one user can rent)")
        return
    rows = []
    for g in gpus:
        cheapest = min((usd / o.gpus_per_instance for o in g.offers if (usd := o.usd_per_hour) is not None), default=None)
        rows.append({"id": g.id, "name": g.name, "memory_gib": g.memory_gib, "bandwidth_gb_s": g.bandwidth_gb_s,
                     "bf16_tflops": g.bf16_tflops or g.fp16_tflops, "fp8_tflops": g.fp8_tflops, "interconnect": g.interconnect,
                     "max_tp": g.max_gpus_per_node, "offers": len(g.offers),
                     "offer_kinds": ", ".join(f"{k} {n}" for k, n in sorted(Counter(o.kind for o in g.offers).items())),
                     "limited_offers": sum(o.max_instances is not None for o in g.offers),
                     "usd_per_gpu_hour_min": None if cheapest is None else round(cheapest, 3),
                     "purchase_usd": g.purchase.usd if g.purchase else None})
    cols = list(rows[0].keys()) if rows else []
    emit(rows, cols, fmt, json_data=data, title="GPU catalog (memory_gib = CUDA-visible GiB; prices USD)")


def _fabric_text(f: dict | None) -> str:
    """An offer's fabric in a few words: "efa 3200 Gbit/s, placement group", "none", or "" when not stated."""
    if not f:
        return ""
    if f["kind"] == "none":
        return "none"
    return f"{f['kind']} {f['gbit_s']:g} Gbit/s" + (", placement group" if f.get("placement_group") else "")


def _gpu_json(g: GPU, cat: Catalog) -> dict:
    d = {
        "id": g.id, "name": g.name, "vendor": g.vendor, "architecture": g.architecture, "family": g.family,
        "form_factor": g.form_factor, "memory_marketed_gb": g.memory_marketed_gb, "memory_gib": g.memory_gib,
        "bandwidth_gb_s": g.bandwidth_gb_s, "bf16_tflops": g.bf16_tflops, "fp16_tflops": g.fp16_tflops,
        "fp8_tflops": g.fp8_tflops, "int8_tops": g.int8_tops, "tdp_w": g.tdp_w, "interconnect": g.interconnect,
        "interconnect_gb_s": g.interconnect_gb_s, "max_tp_per_node": g.max_gpus_per_node,
        "native_formats": list(g.formats), "mig_max_instances": g.mig_max_instances,
        "sources": {k: cat.source_text(v) for k, v in sorted(g.sources.items())},
        "as_of": g.as_of, "notes": g.notes,
        "offers": [
            {"provider": o.provider, "instance": o.instance, "gpus_per_instance": o.gpus_per_instance,
             "usd_per_hour": o.usd_per_hour, "spot_usd_per_hour": o.spot_usd_per_hour, "region": o.region,
             "kind": o.kind, "max_instances": o.max_instances, "fabric": o.fabric,
             "max_instances_source": None if o.max_instances_source is None else cat.source_text(o.max_instances_source),
             "as_of": o.as_of, "source": cat.source_text(o.source)} | ({"note": o.note} if o.note else {})
            for o in g.offers
        ],
    }
    if g.purchase:
        p = g.purchase
        d["purchase"] = {"usd": p.usd, "power_w": p.power_w, "as_of": p.as_of, "source": cat.source_text(p.source)} | (
            {"note": p.note} if p.note else {})
    return d


# ---- models ------------------------------------------------------------------------------------------------------

@app.command()
def models(fmt: str = FormatOpt) -> None:
    """List the built-in model library with exact parameter counts.

    Example: planner models --format csv
    """
    from planner.inputs.library import get_model, library
    from planner.report.tables import emit

    _check_format(fmt)
    rows = []
    for e in library().values():
        a = get_model(e.id)
        rows.append({"id": e.id, "name": e.name, "model_type": a.model_type, "params": a.params,
                     "params_b": round(a.params / 1e9, 2), "active_params": a.active_params if a.is_moe else None,
                     "layers": a.num_layers, "heads": a.num_heads, "kv_heads": a.num_kv_heads, "max_context": a.max_context,
                     "hf_repo": e.hf_repo, "aliases": list(e.aliases)})
    emit(rows, ["id", "model_type", "params_b", "active_params", "layers", "heads", "kv_heads", "max_context", "hf_repo"], fmt,
         json_data=rows, title="Model library")


# ---- estimate ----------------------------------------------------------------------------------------------------

@app.command()
def estimate(
    model: str | None = typer.Argument(None, help="A library id or Hugging Face repo id (Qwen/Qwen2.5-7B-Instruct; see `planner models`)."),
    gpu: str | None = typer.Option(None, "--gpu", help="GPU id; without it, every GPU type in the catalog."),
    tp: int = typer.Option(1, "--tp", "--tensor-parallel-size", min=1, max=64, help="Tensor-parallel size (any the model allows)."),
    pp: int = typer.Option(1, "--pp", "--pipeline-parallel-size", min=1, max=64, help="Pipeline-parallel size."),
    precision: str | None = typer.Option(None, "--precision", help="fp32, fp16, bf16, fp8, int8 or int4 (weights; default: a checkpoint's quantization, else bf16)."),
    quantization: str | None = typer.Option(None, "--quantization", "-q", help="vLLM's --quantization: awq, gptq, fp8, ... (sets --precision)."),
    kv_cache_dtype: str = typer.Option("auto", "--kv-cache-dtype", help="auto, fp16, bf16, fp8, fp8_e4m3 or fp8_e5m2."),
    context: int | None = typer.Option(None, "--context", "--max-model-len", min=1, max=10_000_000, help="vLLM max_model_len (default, as vLLM: the model's max_position_embeddings)."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=10_000_000, help="Simultaneous sequences."),
    util: float = typer.Option(0.9, "--gpu-memory-utilization", min=0.01, max=0.99, help="vLLM's fraction of GPU memory."),
    max_batched_tokens: int | None = typer.Option(None, "--max-batched-tokens", "--max-num-batched-tokens", min=16, help="vLLM max_num_batched_tokens (default: the version's)."),
    engine: str = typer.Option("vllm", "--engine", help="The serving engine: vllm."),
    vllm_version: str | None = typer.Option(None, "--vllm-version", help="vLLM version X.Y[.Z] whose memory rules apply (default: the README's current release)."),
    max_num_seqs: int | None = typer.Option(None, "--max-num-seqs", min=1, help="vLLM max_num_seqs (default: the version's)."),
    enforce_eager: bool = typer.Option(False, "--enforce-eager", help="No CUDA graphs (vLLM --enforce-eager)."),
    block_size: int = typer.Option(16, "--block-size", min=1, max=1024, help="KV block size in tokens (vLLM --block-size)."),
    kv_cache_memory: int | None = typer.Option(None, "--kv-cache-memory", "--kv-cache-memory-bytes", min=1, help="A fixed KV cache per GPU in bytes (vLLM --kv-cache-memory-bytes; skips profiling)."),
    usage: str = typer.Option("serve", "--usage", help="serve (`vllm serve`) or offline (the LLM class): vLLM's defaults differ."),
    chunked_prefill: str | None = typer.Option(None, "--chunked-prefill", help="on or off (V0 only; V1 always chunks)."),
    hf_config: Path | None = typer.Option(None, "--hf-config", help="A config.json or checkpoint folder instead of MODEL."),
    method: str = typer.Option("detailed", "--method", help="detailed, seed-1.2 or seed-2x (the articles' rules of thumb)."),
    batch: int = typer.Option(1, "--batch", min=1, max=100_000, help="Running sequences for the speed figures."),
    input_tokens: int | None = typer.Option(None, "--input-tokens", min=1, help="Prompt tokens (default: half the context, at most 2048 when the context is the model's)."),
    output_tokens: int | None = typer.Option(None, "--output-tokens", min=1, help="Output tokens (default: the rest)."),
    min_tokens_per_s: float | None = typer.Option(None, "--min-tokens-per-s", min=0.001, help="SLO: tokens/s per stream."),
    max_ttft_ms: float | None = typer.Option(None, "--max-ttft-ms", min=0.001, help="SLO: time to first token."),
    pricing: str = typer.Option("on_demand", "--pricing", help="on_demand, spot or owned."),
    calibration: Path | None = typer.Option(None, "--calibration", help="A calibration file from `planner calibrate`."),
    catalog_path: Path | None = typer.Option(None, "--catalog", help="A catalog folder or file of your own."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Memory per device, KV capacity, speed and price of one deployment, or of every GPU type, under a vLLM
    version's memory rules, with the start-up lines vLLM would print.

    Example: planner estimate Qwen/Qwen2.5-7B-Instruct --gpu rtx-4090 --max-model-len 8192 --vllm-version 0.19.0
    """
    from planner.cli import inspect_commands as commands

    _check_format(fmt, ("table", "json"))
    eng = commands.engine_profile(engine=engine, vllm_version=vllm_version, max_num_seqs=max_num_seqs,
                                  max_batched_tokens=max_batched_tokens, enforce_eager=enforce_eager,
                                  block_size=block_size, kv_cache_memory=kv_cache_memory, usage=usage,
                                  chunked_prefill=chunked_prefill)
    commands.estimate_cmd(
        model=model, gpu=gpu, tp=tp, pp=pp, precision=commands.precision_of(precision, quantization),
        kv_cache_dtype=commands.kv_dtype_of(kv_cache_dtype), context=context,
        concurrency=concurrency, util=util, max_batched_tokens=max_batched_tokens, hf_config=hf_config, method=method,
        batch=batch, input_tokens=input_tokens, output_tokens=output_tokens, min_tokens_per_s=min_tokens_per_s,
        max_ttft_ms=max_ttft_ms, pricing=pricing, calibration=calibration, catalog_path=catalog_path, fmt=fmt,
        engine=eng,
    )


# ---- calibrate ---------------------------------------------------------------------------------------------------

@app.command()
def calibrate(
    points: list[Path] | None = typer.Argument(None, help="Measured points: CSV or YAML (model, gpu, tp, precision, batch, input_tokens, output_tokens, tpot_ms, ttft_ms)."),
    out: Path = typer.Option(..., "--out", "-o", help="Calibration file to write (name it in a scenario's `calibration:`)."),
    vllm_log: list[Path] | None = typer.Option(None, "--vllm-log", help="vLLM start-up logs (repeat, or list after it): fit the memory terms instead."),
    gpu: str | None = typer.Option(None, "--gpu", help="With --vllm-log: the GPU type the logs ran on."),
    model: str | None = typer.Option(None, "--model", help="With --vllm-log: the model, when the logs do not name it."),
    vllm_version: str | None = typer.Option(None, "--vllm-version", help="With --vllm-log: the version, when the logs do not say it."),
    catalog_path: Path | None = typer.Option(None, "--catalog", help="A catalog folder or file of your own."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Fit the throughput model's constants to your own measurements, or (--vllm-log) the vLLM memory terms to your
    own start-up logs, and score the fit.

    Example: planner calibrate my_measurements.csv --out my_calibration.yaml
    Example: planner calibrate --vllm-log serve1.log serve2.log --gpu rtx-4090 --out my_calibration.yaml
    """
    from planner.cli import inspect_commands as commands

    _check_format(fmt, ("table", "json"))
    if vllm_log:  # `--vllm-log a.log b.log c.log`: the files after the first arrive as arguments
        commands.calibrate_logs_cmd([*vllm_log, *(points or [])], out, gpu, model, vllm_version, catalog_path, fmt)
        return
    if not points:
        raise InputError("calibrate: give a file of measured points, or --vllm-log FILE... with --gpu")
    if len(points) > 1:
        raise InputError(f"calibrate: one file of measured points, got {len(points)}; for vLLM logs use --vllm-log FILE...")
    commands.calibrate_cmd(points[0], out, fmt)

"""Implementations behind the CLI commands that must stay light (no solver, no pandas): estimate and calibrate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InfeasibleError, InputError, not_one_of
from planner.estimate.rules_of_thumb import METHODS
from planner.inputs.pricing import PRICING_MODES
from planner.units import GB, GIB, TP_SIZES

if TYPE_CHECKING:
    from planner.estimate.deployment import DeploymentEstimate
    from planner.inputs.architectures import ModelArch
    from planner.inputs.catalog import GPU, Catalog


def _arch(model: str | None, hf_config: Path | None) -> ModelArch:
    from planner.inputs.library import get_model, load_hf_model

    if hf_config is not None and model is not None:
        raise InputError("give either MODEL or --hf-config, not both")
    if hf_config is not None:
        from planner.inputs.architectures import check_checkpoint_size

        try:
            arch = load_hf_model(hf_config)
            check_checkpoint_size(arch)
        except InputError as exc:  # config field errors say "config.json: ..."; name the file the user gave
            cfg = hf_config / "config.json" if hf_config.is_dir() else hf_config
            raise InputError(f"{cfg}: {exc.message.removeprefix('config.json: ')}"
                             if exc.message.startswith("config.json: ") else exc.message) from None
        return arch
    if model is None:
        raise InputError("give a MODEL id (see `planner models`) or --hf-config PATH")
    return get_model(model)


# vLLM --quantization methods -> the weight format they store (vllm/model_executor/layers/quantization/__init__.py)
QUANTIZATION_PRECISION = {"awq": "int4", "awq_marlin": "int4", "gptq": "int4", "gptq_marlin": "int4", "marlin": "int4",
                          "fp8": "fp8", "fbgemm_fp8": "fp8", "modelopt": "fp8", "compressed-tensors": "int8",
                          "bitsandbytes": "int4", "experts_int8": "int8", "gguf": "int4"}
MAX_GPUS_PER_MACHINE = 8  # the most GPUs a standard server holds (HGX/PCIe 8-GPU boxes); larger TP spans machines
KV_DTYPE_ALIASES = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "fp8_inc": "fp8", "float16": "fp16", "bfloat16": "bf16"}


def precision_of(precision: str | None, quantization: str | None) -> str | None:
    """--precision, or the weight format vLLM's --quantization method stores (gptq is taken as 4-bit; give
    --precision int8 for GPTQ-Int8)."""
    if quantization is None:
        return precision
    q = quantization.lower()
    if q not in QUANTIZATION_PRECISION:
        raise InputError(not_one_of("--quantization: ", quantization, tuple(QUANTIZATION_PRECISION)))
    return precision or QUANTIZATION_PRECISION[q]


def kv_dtype_of(kv: str) -> str:
    """--kv-cache-dtype with vLLM's spellings (fp8_e4m3 and fp8_e5m2 are both 8 bits)."""
    return KV_DTYPE_ALIASES.get(kv.lower(), kv)


def engine_profile(*, engine: str, vllm_version: str | None, max_num_seqs: int | None, max_batched_tokens: int | None,
                   enforce_eager: bool, block_size: int, kv_cache_memory: int | None, usage: str,
                   chunked_prefill: str | None) -> Any:
    """The EngineProfile the estimate flags describe (errors name the flag)."""
    from planner.estimate.engine import DEFAULT_VLLM_VERSION, EngineProfile

    if chunked_prefill is not None and chunked_prefill not in ("on", "off"):
        raise InputError(not_one_of("--chunked-prefill: ", chunked_prefill, ("on", "off")))
    return EngineProfile(engine=engine, version=vllm_version or DEFAULT_VLLM_VERSION, max_num_seqs=max_num_seqs,
                         max_num_batched_tokens=max_batched_tokens, enforce_eager=enforce_eager, block_size=block_size,
                         kv_cache_memory_bytes=kv_cache_memory, usage=usage,
                         chunked_prefill=None if chunked_prefill is None else chunked_prefill == "on")


def _check_context(context: int, input_tokens: int | None, output_tokens: int | None) -> None:
    """A given --context below input + output tokens is an error: the KV cache is sized for the context."""
    given = (input_tokens or 0) + (output_tokens or 0)
    if given > context:
        flags = " + ".join(f for f, v in (("--input-tokens", input_tokens), ("--output-tokens", output_tokens)) if v)
        raise InputError(f"--context: {context} is below {flags} = {given}; allowed: --context {given} or more "
                         "(the KV cache is sized for the context)")


def estimate_cmd(*, model: str | None, gpu: str | None, tp: int, pp: int, precision: str | None, kv_cache_dtype: str,
                 context: int | None, concurrency: int, util: float, max_batched_tokens: int | None, hf_config: Path | None,
                 method: str, batch: int, input_tokens: int | None, output_tokens: int | None,
                 min_tokens_per_s: float | None, max_ttft_ms: float | None, pricing: str, calibration: Path | None,
                 catalog_path: Path | None, fmt: str, engine: Any = None) -> None:
    """`planner estimate`: the articles' rule (--method seed-*), one deployment (--gpu), or every GPU type.
    Without --context the max_model_len is the model's own, as in vLLM (speed figures then use a 2048 + 2048
    request unless --input-tokens/--output-tokens say otherwise)."""
    from planner.estimate.memory import check_kv_dtype, check_precision, default_precision
    from planner.estimate.rules_of_thumb import seed_estimates
    from planner.estimate.speed import load_calibration
    from planner.inputs.catalog import load_catalog

    if method not in METHODS:
        raise InputError(not_one_of("--method: ", method, METHODS))
    if tp not in TP_SIZES:
        raise InputError(f"--tp: {tp} is not a power of two; allowed: {', '.join(map(str, TP_SIZES))}")
    if gpu is None and method == "detailed" and (tp, pp) != (1, 1):
        raise InputError(f"--tp {tp} --pp {pp}: a split applies to one GPU type; give --gpu (without it, every GPU "
                         "type gets its smallest split that fits)")
    if pricing not in PRICING_MODES:
        raise InputError(not_one_of("--pricing: ", pricing, PRICING_MODES))
    kv_cache_dtype = check_kv_dtype(kv_cache_dtype)
    if precision is not None:
        precision = check_precision(precision)
    precision_named = precision is not None
    arch = _arch(model, hf_config)
    if precision is None:
        precision = default_precision(arch)
    if context is None:
        context = arch.max_context
        input_tokens = input_tokens or min(2048, max(1, context // 2))
        output_tokens = output_tokens or min(2048, max(1, context - input_tokens))
    else:
        _check_context(context, input_tokens, output_tokens)
    if context > arch.max_context:
        raise InputError(f"--context: {context} exceeds {arch.id}'s maximum context of {arch.max_context} tokens "
                         "(vLLM refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1)")
    if input_tokens and output_tokens and input_tokens + output_tokens > context:
        context = input_tokens + output_tokens
    cat = load_catalog(catalog_path)
    cal = load_calibration(str(calibration) if calibration else None)
    if calibration and engine is not None:  # memory terms fitted on the user's vLLM logs (calibrate --vllm-log)
        from dataclasses import replace

        from planner.inputs.calibration_file import load_memory_fits

        engine = replace(engine, memory_fits=load_memory_fits(calibration))
    kw: dict[str, Any] = {"precision": precision, "kv_cache_dtype": kv_cache_dtype, "context_tokens": context,
                          "concurrency": concurrency, "gpu_memory_utilization": util, "max_batched_tokens": max_batched_tokens,
                          "batch": batch, "input_tokens": input_tokens, "output_tokens": output_tokens,
                          "min_tokens_per_s": min_tokens_per_s, "max_ttft_ms": max_ttft_ms, "pricing": pricing, "calibration": cal,
                          "engine": engine}
    seeds = seed_estimates(arch.params, precision)
    if method != "detailed":
        _estimate_by_rule(arch, cat, precision, method, seeds[method], fmt)
    elif gpu is not None:
        from planner.estimate.setup import precision_on

        kw["precision"], note = precision_on(cat.get(gpu), precision, precision_named)
        if note and fmt != "json":
            print(f"Note: {note}")
        _estimate_one_gpu(arch, cat.get(gpu), tp, pp, kw, seeds, fmt)
    else:
        _estimate_every_gpu(arch, cat, kw, seeds, fmt, precision_named)


def _estimate_by_rule(arch: ModelArch, cat: Catalog, precision: str, method: str, seed: int, fmt: str) -> None:
    """--method seed-1.2 / seed-2x: the article's figure and the cards of each GPU type it asks for."""
    from planner.report.tables import to_json

    rows = []
    for g in cat.gpus.values():
        cards = -(-seed // int(g.memory_marketed_gb * GB))
        rows.append({"gpu": g.id, "memory_gb": g.memory_marketed_gb, "cards_by_rule": cards})
    data = {"model": arch.id, "params": arch.params, "precision": precision, "method": method,
            "estimate_bytes": seed, "estimate_gb": round(seed / GB, 2), "cards_by_rule": rows}
    if fmt == "json":
        sys.stdout.write(to_json(data))
    else:
        f = "1.2" if method == "seed-1.2" else "2"
        print(f"{arch.id}: {arch.params / 1e9:.2f}B params x {precision} bytes x {f} = {seed / GB:.1f} GB ({method}, the articles' rule of thumb)")
        print("Run without --method for the detailed figure.")


def _estimate_one_gpu(arch: ModelArch, g: GPU, tp: int, pp: int, kw: dict[str, Any], seeds: dict[str, int], fmt: str) -> None:
    """--gpu: one deployment at the given split; a split vLLM would refuse is an error naming the flag to change."""
    import dataclasses

    from planner.estimate.deployment import estimate_deployment
    from planner.estimate.memory import parallel_problem
    from planner.report.tables import to_json

    precision = kw["precision"]
    # any TP the model allows on a machine of this GPU the user owns (up to MAX_GPUS_PER_MACHINE), even where no
    # offer sells that many in one box; the plan still buys only what offers sell
    g = dataclasses.replace(g, max_gpus_per_node=max(g.max_gpus_per_node, min(tp, MAX_GPUS_PER_MACHINE)))
    why = parallel_problem(arch, g, tp, pp, precision, kw["kv_cache_dtype"])
    if why:
        flag = "--precision" if precision in why and "natively" in why else "--kv-cache-dtype" if "KV cache" in why else \
            "--pp" if why.startswith("PP") else "--tp"
        raise InputError(f"{flag}: {why}")
    e = estimate_deployment(arch, g, tp=tp, pp=pp, **kw)
    if fmt == "json":
        sys.stdout.write(to_json(e.to_dict()))
    else:
        _print_one(e, arch, seeds)
    if not e.memory.fits:  # like an infeasible plan: the figures above, then exit 1
        raise InfeasibleError(f"{arch.id} does not fit on {g.id} at TP={tp} PP={pp}: {e.memory.reason}")


def _estimate_every_gpu(arch: ModelArch, cat: Catalog, kw: dict[str, Any], seeds: dict[str, int], fmt: str,
                        precision_named: bool) -> None:
    """No --gpu: every GPU type's cheapest setup for the requested concurrency (planner.estimate.setup), cheapest
    first, the cheapest marked; exit 1 when no GPU type fits."""
    from planner.estimate.setup import setups_by_price
    from planner.report.tables import to_json

    setups = setups_by_price(arch, list(cat.gpus.values()), precision_named=precision_named, **kw)
    best = next((x for x in setups if x.fits and x.usd_per_hour is not None), None)
    precision, context, concurrency = kw["precision"], kw["context_tokens"], kw["concurrency"]
    if fmt == "json":
        sys.stdout.write(to_json({"model": arch.id, "params": arch.params, "precision": precision, "context_tokens": context,
                                  "concurrency": concurrency, "seed_estimates_bytes": seeds,
                                  "cheapest": None if best is None else best.gpu,
                                  "per_gpu": [x.to_dict() for x in setups]}))
    else:
        from planner.report.tables import print_table

        print(f"{arch.name}: {arch.params:,} parameters, {precision}, context {context}, {concurrency} concurrent sequence(s)")
        print(f"Rules of thumb: seed-1.2 {seeds['seed-1.2'] / GB:.1f} GB, seed-2x {seeds['seed-2x'] / GB:.1f} GB (params x bytes x factor)")
        rows = [_every_gpu_row(x, x is best) for x in setups]
        print_table(rows, list(rows[0].keys()), list(EVERY_GPU_HEADERS),
                    title=f"Cheapest setup per GPU type for {concurrency} sequence(s), cheapest first")
        if best is not None:
            print(f"Cheapest: {best.replicas} x {_split(best)} on {best.gpu} ({best.gpus} GPU{'s' if best.gpus > 1 else ''}),"
                  f" ${best.usd_per_hour:.3f}/h; `--gpu {best.gpu}` shows its memory budget and vLLM's start-up lines")
    if not any(x.fits for x in setups):
        raise InfeasibleError(f"{arch.id} does not fit on any GPU type of the catalog at {concurrency} sequence(s) of "
                              f"{context} tokens ({precision})")


EVERY_GPU_HEADERS = ("GPU", "split", "replicas", "GPUs", "seqs/replica", "tok/s/stream", "tok/s", "$/h", "note")


def _split(x: Any) -> str:
    m = x.estimate.memory
    return f"TP{m.tp} x PP{m.pp}" if m.pp > 1 else f"TP{m.tp}"


def _every_gpu_row(x: Any, cheapest: bool) -> dict[str, Any]:
    d = x.to_dict()
    return {
        "gpu": x.gpu, "split": _split(x), "replicas": x.replicas if x.fits else None, "gpus": x.gpus if x.fits else None,
        "seqs": x.sequences_per_replica if x.fits else None,
        "tok_s_stream": None if d["tokens_per_s_per_stream"] is None else round(d["tokens_per_s_per_stream"], 1),
        "tok_s": None if d["tokens_per_s"] is None else round(d["tokens_per_s"]),
        "usd_per_hour": None if x.usd_per_hour is None else round(x.usd_per_hour, 3),
        "note": "; ".join(n for n in ("<- cheapest" if cheapest else "", _note(x)) if n),
    }


def _note(x: Any) -> str:
    if not x.fits:
        return str(x.note)
    if x.usd_per_hour is None:
        return "; ".join(n for n in ("no price under this pricing", x.note) if n)
    return str(x.note)


def _print_one(e: DeploymentEstimate, arch: ModelArch, seeds: dict[str, int]) -> None:
    from planner.report.tables import print_table

    m = e.memory
    d = m.per_device
    print(f"{arch.name} on {m.gpu}: TP={m.tp} PP={m.pp} ({m.gpus} GPU{'s' if m.gpus > 1 else ''}), {m.precision} weights, "
          f"KV {m.kv_cache_dtype}, {arch.params:,} parameters")
    budget = [
        ("device total (CUDA-visible)", d.total_bytes),
        (f"usable (x {m.gpu_memory_utilization:g} gpu_memory_utilization)", d.usable_bytes),
        ("weights", d.weights_bytes),
        (f"activation peak ({m.max_batched_tokens} batched tokens)", d.activation_bytes),
        ("runtime (non-torch: CUDA, NCCL)", d.overhead_bytes),
        ("KV cache (the rest)", d.kv_cache_bytes),
    ]
    budget[4:5] = [("runtime: non-torch (CUDA, NCCL)", d.non_torch_bytes),
                   ("runtime: CUDA graphs (inside the budget)", d.cuda_graph_bytes)]
    rows = [{"item": item, "gib": round(nbytes / GIB, 2)} for item, nbytes in budget]
    print_table(rows, ["item", "gib"], ["per device", "GiB"])
    print(f"KV cache: {m.kv_bytes_per_token / 1024:.1f} KiB per token per device; {m.kv_cache_tokens:,} tokens per replica; "
          f"{m.max_concurrency} sequences of {m.context_tokens} tokens fit")
    if e.decode_ms_per_token is not None:
        print(f"Speed at batch {e.batch}: {e.decode_ms_per_token:.2f} ms/token decode, TTFT {e.ttft_ms:.0f} ms "
              f"({e.input_tokens} prompt tokens), {e.tokens_per_s_per_stream:.1f} tok/s per stream, {e.tokens_per_s:.0f} tok/s per replica")
        if e.max_concurrency_slo is not None:
            print(f"SLO: up to {e.max_concurrency_slo} sequences meet it; capacity {e.capacity} per replica (bound: {e.bound})")
    if e.usd_per_hour is not None:
        umt = f", ${e.usd_per_million_tokens:.3f} per million output tokens at batch {e.batch}" if e.usd_per_million_tokens else ""
        print(f"Price: ${e.usd_per_hour:.3f}/h per replica (cheapest offer){umt}")
    print(f"Rules of thumb: seed-1.2 {seeds['seed-1.2'] / GB:.1f} GB, seed-2x {seeds['seed-2x'] / GB:.1f} GB "
          f"vs detailed {m.gpus * (m.fixed_bytes_per_device + m.concurrency * m.seq_kv_bytes) / GB:.1f} GB needed "
          f"for {m.concurrency} sequence(s) of {m.context_tokens} tokens")
    from planner.estimate.deployment import vllm_startup_lines

    eng = m.engine
    print(f"vLLM {eng.version} ({m.family}: {'V1' if eng.v1 else 'V0'}), max_num_seqs {m.max_num_seqs}, "
          f"max_num_batched_tokens {m.max_batched_tokens}, block size {m.block_size}, max_model_len {m.context_tokens:,}"
          f"; would log:")
    for line in vllm_startup_lines(m):
        print(f"  {line}")
    print(f"Largest max_model_len that starts: {m.largest_context:,} tokens")
    print(("FITS" if m.fits else "DOES NOT FIT") + (f": {m.reason}" if m.reason else ""))


def calibrate_cmd(points: Path, out: Path, fmt: str) -> None:
    from planner.estimate.calibrate import calibrate, calibration_text, read_points, score
    from planner.report.files import atomic_write_text
    from planner.report.tables import print_table, to_json

    if out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a file")
    pts = read_points(points)
    notes: list[str] = []
    cal = calibrate(pts, str(points), notes=notes)
    s = score(pts, cal)
    header = (f"# Throughput-model constants fitted by `planner calibrate {points}` ({len(pts)} points). "
              "Formula: planner/estimate/speed.py\n")
    atomic_write_text(Path(out), calibration_text(cal, header))
    summary = {k: v for k, v in s.items() if k != "rows"}
    if fmt == "json":
        sys.stdout.write(to_json({"out": str(out), "fit": summary, "points": s["rows"], "notes": notes,
                                  "constants": {k: vars(v) for k, v in cal.items()}}))
        return
    rows = [{"family": k, "t0_ms": v.t0_ms, "eta_bw": v.eta_bw, "eta_flops": v.eta_flops, "eta_prefill": v.eta_prefill,
             "points": v.points} for k, v in cal.items()]
    print_table(rows, list(rows[0].keys()), title=f"Constants written to {out}")
    per_point = [{k: r[k] for k in ("id", "gpu", "tp", "batch", "tpot_ms", "pred_tpot_ms")}
                 | {"tpot_err": f"{r['tpot_err']:+.1%}", "ttft_ms": r["ttft_ms"], "pred_ttft_ms": r["pred_ttft_ms"],
                    "ttft_err": None if r["ttft_err"] is None else f"{r['ttft_err']:+.1%}"} for r in s["rows"]]
    print_table(per_point, list(per_point[0].keys()), title="Error of the fit at each point (predicted vs measured)")
    print(f"decode time: median error {summary['decode_median_rel_err']:.1%}, worst {summary['decode_worst_rel_err']:.1%} over {len(pts)} points")
    if summary["ttft_median_rel_err"] is not None:
        print(f"TTFT: median error {summary['ttft_median_rel_err']:.1%}, worst {summary['ttft_worst_rel_err']:.1%}")
    for n in notes:
        print(f"Note: {n}")


def calibrate_logs_cmd(logs: list[Path], out: Path, gpu: str | None, model: str | None, vllm_version: str | None,
                       catalog_path: Path | None, fmt: str) -> None:
    """`planner calibrate --vllm-log FILE...`: fit the non-torch and activation terms on the logs, write a calibration
    file (the built-in throughput constants plus a `memory:` list) and print the KV-token error before and after."""
    from planner.estimate.memory_fit import errors, fit_memory, log_case
    from planner.inputs.catalog import load_catalog
    from planner.inputs.library import get_model, resolve_model_id, unknown_model_message
    from planner.inputs.vllm_log import read_vllm_log
    from planner.report.files import atomic_write_text
    from planner.report.tables import print_table, to_json

    if out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a file")
    if gpu is None:
        raise InputError("--gpu: required with --vllm-log (start-up logs do not name the GPU type); "
                         "`planner catalog` lists the ids")
    if vllm_version is not None:
        from planner.estimate.engine import parse_version

        parse_version(vllm_version)
    try:
        g = load_catalog(catalog_path).get(gpu)
    except InputError as exc:
        raise InputError(f"--gpu: {exc.message}") from None
    cases = []
    for path in logs:
        log = read_vllm_log(path)
        name = model or log.model
        if name is None:
            raise InputError(f"{path}: no model named in the log (model='...' or `vllm serve MODEL`); give --model")
        if resolve_model_id(name) is None:
            raise InputError(f"{path}: {unknown_model_message(name)} (named in the log); give --model")
        cases.append(log_case(log, get_model(name), g, vllm_version))
    source = "planner calibrate --vllm-log " + " ".join(str(p) for p in logs)
    fits = fit_memory(cases, source)
    rows = errors(cases, fits)
    if not any(r["logged_kv_tokens"] for r in rows):
        raise InputError(f"{logs[0]}: no KV-cache size in the logs ('GPU KV cache size: N tokens', '# GPU blocks: N' or "
                         "'Available KV cache memory: X GiB'); the fit needs at least one")
    atomic_write_text(out, memory_calibration_text(fits, source))
    summary = _error_summary(rows)
    if fmt == "json":
        sys.stdout.write(to_json({"out": str(out), "kv_tokens_error": summary, "logs": rows,
                                  "memory": [vars(f) for f in fits]}))
        return
    print_table([{"gpu": f.gpu, "family": f.family, "tp": f.tp, "non_torch_gib": None if f.non_torch_bytes is None
                  else round(f.non_torch_bytes / 2**30, 3), "activation_factor": f.activation_factor, "logs": f.logs}
                 for f in fits], ["gpu", "family", "tp", "non_torch_gib", "activation_factor", "logs"],
                title=f"vLLM memory terms written to {out}")
    shown = [{k: r[k] for k in ("log", "model", "vllm", "tp", "logged_kv_tokens", "before_kv_tokens", "after_kv_tokens")}
             | {"before_error": _pct(r["before_error"]), "after_error": _pct(r["after_error"]),
                "held_out_error": _pct(r["held_out_error"])} for r in rows]
    print_table(shown, list(shown[0].keys()), title="KV-cache size in tokens: logged, and predicted before / after the fit "
                "(held out: fitted on the other logs of the GPU type and version family)")
    held = "" if summary["held_out_median"] is None else f", {summary['held_out_median']:.1%} held out"
    print(f"KV tokens: median |error| {summary['before_median']:.1%} before, {summary['after_median']:.1%} after{held} "
          f"over {summary['logs']} log(s); name {out} in a scenario's `calibration:`")


def _pct(x: float | None) -> str | None:
    return None if x is None else f"{x:+.1%}"


def _error_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import statistics

    b = [abs(r["before_error"]) for r in rows if r["before_error"] is not None]
    a = [abs(r["after_error"]) for r in rows if r["after_error"] is not None]
    h = [abs(r["held_out_error"]) for r in rows if r["held_out_error"] is not None]
    return {"logs": len(b), "before_median": statistics.median(b), "after_median": statistics.median(a),
            "before_worst": max(b), "after_worst": max(a), "held_out_median": statistics.median(h) if h else None,
            "held_out_logs": len(h)}


def memory_calibration_text(fits: tuple[Any, ...], source: str) -> str:
    """A calibration file: the built-in throughput constants (data/calibration.yaml) and the fitted memory terms."""
    import yaml

    from planner.estimate.speed import default_calibration_path
    from planner.inputs.yaml_source import load_yaml

    data, _ = load_yaml(default_calibration_path(), "calibration file")
    doc = {"families": data["families"],
           "memory": [{"gpu": f.gpu, "family": f.family, "tp": f.tp, "non_torch_bytes": f.non_torch_bytes,
                       "activation_factor": f.activation_factor, "logs": f.logs, "source": f.source} for f in fits]}
    header = (f"# vLLM memory terms fitted by `{source}` (planner/estimate/memory_fit.py); the throughput constants\n"
              "# under `families` are the built-in ones (planner/data/calibration.yaml). Name this file in a scenario's\n"
              "# `calibration:` or pass it to `planner estimate --calibration`.\n")
    return header + yaml.safe_dump(doc, sort_keys=True, width=120)

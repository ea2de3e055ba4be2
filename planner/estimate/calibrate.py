"""Fitting the throughput model's constants to measured points, and scoring the fit.

Input points (CSV or YAML), one measured configuration each:
    model, gpu, tp, [pp], precision, [kv_cache_dtype], batch, input_tokens, output_tokens, tpot_ms, [ttft_ms], [source]
``model`` is a library id, ``gpu`` a catalog id. The measurement file's format (tests/data/throughput_calibration.yaml,
docs/sources.md: throughput-calibration) is read too.

Decode: for each group of points (a GPU id, a GPU family, and all points for the default), the constants
(t0, 1/eta_bw, 1/eta_f, tau) solve a non-negative least-squares fit of *relative* error, tpot = t0 x pp +
bytes/BW x (1/eta_bw) + flops/peak x (1/eta_f) + n_allreduce x tau (+ known message time). Prefill then fits
1/eta_p alone with the decode constants fixed.
"""

from __future__ import annotations

import csv
import itertools
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.errors import InputError, cut, did_you_mean
from planner.estimate.memory import check_kv_dtype, check_precision
from planner.estimate.speed import PerfConstants, decode_step_ms, decode_work, prefill_ms
from planner.inputs.catalog import GPU, Catalog, load_catalog
from planner.inputs.library import get_model, resolve_model_id, unknown_model_message
from planner.inputs.numbers import parse_number
from planner.inputs.yaml_source import line_of, load_yaml, read_text
from planner.units import TP_SIZES

# names used in tests/data/throughput_calibration.yaml -> catalog ids (L40 is not in the catalog: its specs come
# from that file's gpu_specs_used block)
_GPU_NAMES = {
    "A100-SXM4-80GB": "a100-80gb-sxm", "A100-SXM4-40GB": "a100-40gb-sxm", "A100-PCIe-80GB": "a100-80gb-pcie",
    "H100-SXM5-80GB": "h100-sxm", "H100-PCIe-80GB": "h100-pcie", "H100-NVL-94GB": "h100-nvl", "H200-SXM-141GB": "h200",
    "L40S-48GB": "l40s", "A10G-24GB": "a10g", "L4-24GB": "l4", "RTX4090-24GB": "rtx-4090", "RTX3090-24GB": "rtx-3090",
}


@dataclass(frozen=True)
class Point:
    id: str
    model: str
    gpu: GPU
    tp: int
    pp: int
    precision: str
    kv_cache_dtype: str
    batch: int
    input_tokens: int
    output_tokens: int
    tpot_ms: float
    ttft_ms: float | None
    source: str = ""

    @property
    def context(self) -> float:
        return self.input_tokens + self.output_tokens / 2


def _l40(spec: dict[str, Any], base: GPU) -> GPU:
    return replace(base, id="l40", name="NVIDIA L40 48GB", family="ada-dc", bandwidth_gb_s=float(spec["mem_bw_GBps"]),
                   bf16_tflops=float(spec["dense_tflops_fp16"]), fp16_tflops=float(spec["dense_tflops_fp16"]),
                   fp8_tflops=float(spec["dense_tflops_fp8"]), int8_tops=float(spec["dense_tflops_fp8"]),
                   offers=(), purchase=None)


def read_points(path: str | Path, catalog: Catalog | None = None) -> list[Point]:
    """Measured points from a CSV/YAML file of the schema above, or the TensorRT-LLM measurement file."""
    catalog = catalog or load_catalog()
    p = Path(path)
    extra_gpus: dict[str, GPU] = {}
    rows = _point_rows(p, catalog, extra_gpus)
    out = [_point(r, i, line, p, catalog, extra_gpus) for i, (r, line) in enumerate(rows)]
    if not out:
        raise InputError(f"{p}: no usable points; a fit needs at least 3 per GPU family (4 with TP > 1)")
    return out


MAX_POINTS = 100_000  # a measurement file, not a trace


def _point_rows(p: Path, catalog: Catalog, extra_gpus: dict[str, GPU]) -> list[tuple[dict[str, Any], int | None]]:
    """The file's points as raw mappings with their line; GPUs the file defines itself (L40) go to ``extra_gpus``."""
    if p.suffix.lower() == ".csv":
        text = read_text(p, "calibration points file")
        reader = csv.DictReader(text.splitlines())
        rows: list[tuple[dict[str, Any], int | None]] = []
        for r in reader:
            if None in r:
                raise InputError(f"{p}:{reader.line_num}: a row has more cells than the header ({', '.join(reader.fieldnames or [])})")
            rows.append((r, reader.line_num))
            if len(rows) > MAX_POINTS:
                raise InputError(f"{p}: more than {MAX_POINTS} points")
        return rows
    data, lines = load_yaml(p, "calibration points file")
    if isinstance(data, dict) and "entries" in data:  # the TensorRT-LLM measurement file (docs/sources.md: throughput-calibration)
        return [(r, None) for r in _measurement_file_rows(data, catalog, extra_gpus)]
    if isinstance(data, dict) and isinstance(data.get("points"), list):
        return [(r, line_of(lines, ("points", i))) for i, r in enumerate(data["points"])]
    if isinstance(data, list):
        return [(r, line_of(lines, (i,))) for i, r in enumerate(data)]
    raise InputError(f"{p}: expected a list of points (or a mapping with 'points')")


def _measurement_file_rows(data: dict[str, Any], catalog: Catalog, extra_gpus: dict[str, GPU]) -> list[dict[str, Any]]:
    """Static-batch entries of the TensorRT-LLM measurement file, in the points schema."""
    specs = data.get("gpu_specs_used") or {}
    if "L40-48GB" in specs:
        extra_gpus["L40-48GB"] = _l40(specs["L40-48GB"], catalog.get("l40s"))
    rows = []
    for e in data["entries"]:
        if e.get("tensor_parallel") is None or e.get("load", {}).get("mode") != "static batch":
            continue
        fp8 = str(e["precision"]).upper().startswith("FP8")
        rows.append({
            "id": e["id"], "model": e["model"], "gpu": e["gpu"], "tp": e["tensor_parallel"], "pp": 1,
            "precision": "fp8" if fp8 else "fp16", "kv_cache_dtype": "fp8" if fp8 else "auto",
            "batch": e["load"]["batch_size"], "input_tokens": e["input_len"], "output_tokens": e["output_len"],
            "tpot_ms": e["metrics"]["tpot_ms"], "ttft_ms": e["metrics"].get("ttft_ms"),
            "source": f"{e['source'].get('repo', '')}:{e['source'].get('path', '')}",
        })
    return rows


# field -> (low, high, integral) of a measured point; TP is also a power of two
_POINT_RANGES: dict[str, tuple[float, float, bool]] = {
    "tp": (1, 64, True), "pp": (1, 64, True), "batch": (1, 100_000, True),
    "input_tokens": (1, 10_000_000, True), "output_tokens": (1, 10_000_000, True),
    "tpot_ms": (0, 1_000_000, False), "ttft_ms": (0, 100_000_000, False),
}


def _point(r: Any, i: int, line: int | None, p: Path, catalog: Catalog, extra_gpus: dict[str, GPU]) -> Point:
    """One validated point; errors name the file, the line (CSV row or YAML item) and the point's number."""
    where = f"{p}:{line}: point {i + 1}" if line else f"{p}: point {i + 1}"
    if not isinstance(r, dict):
        raise InputError(f"{where}: expected a mapping (model, gpu, tp, precision, batch, ...), got {type(r).__name__}")
    for key in ("model", "gpu", "precision", "batch", "input_tokens", "output_tokens", "tpot_ms"):
        if r.get(key) in (None, ""):
            raise InputError(f"{where}: {key}: required field is missing")
    name = str(r["model"])
    mid = resolve_model_id(name) or resolve_model_id(name.replace("Mistral-7B", "mistral-7b-v0.1"))
    if mid is None:
        raise InputError(f"{where}: model: {unknown_model_message(name)}")
    gname = str(r["gpu"])
    gpu = extra_gpus.get(gname) or (catalog.gpus.get(gname) or catalog.gpus.get(_GPU_NAMES.get(gname, "")))
    if gpu is None:
        raise InputError(f"{where}: gpu: unknown GPU '{cut(gname)}'{did_you_mean(gname, catalog.ids())}")
    num: dict[str, Any] = {}
    for key, (lo, hi, integral) in _POINT_RANGES.items():
        v = r.get(key)
        if v in (None, ""):
            num[key] = None
            continue
        try:
            num[key] = parse_number(v, key, lo, hi, lo_open=not integral, integral=integral)
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}") from None
    tp = num["tp"] or 1
    if tp not in TP_SIZES:
        raise InputError(f"{where}: tp: {tp} is not a power of two; allowed: {', '.join(map(str, TP_SIZES))}")
    try:
        precision = check_precision(str(r["precision"]))
        kv = check_kv_dtype(str(r.get("kv_cache_dtype") or "auto"))
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}") from None
    return Point(
        id=cut(str(r.get("id") or f"point-{i + 1}")), model=mid, gpu=gpu, tp=tp, pp=num["pp"] or 1, precision=precision,
        kv_cache_dtype=kv, batch=num["batch"], input_tokens=num["input_tokens"], output_tokens=num["output_tokens"],
        tpot_ms=float(num["tpot_ms"]), ttft_ms=None if num["ttft_ms"] is None else float(num["ttft_ms"]),
        source=str(r.get("source") or p.name),
    )


def _nnls(rows: list[list[float]], ys: list[float]) -> list[float]:
    """Non-negative least squares by trying every subset of active variables (a handful of unknowns)."""
    import numpy as np

    A = np.array(rows, dtype=float)
    y = np.array(ys, dtype=float)
    n = A.shape[1]
    best: tuple[float, list[float]] | None = None
    for k in range(n, 0, -1):
        for subset in itertools.combinations(range(n), k):
            sol, *_ = np.linalg.lstsq(A[:, subset], y, rcond=None)
            if (sol < 0).any():
                continue
            x = [0.0] * n
            for j, v in zip(subset, sol, strict=True):
                x[j] = float(v)
            err = float(((A @ np.array(x) - y) ** 2).sum())
            if best is None or err < best[0] - 1e-15:
                best = (err, x)
    assert best is not None
    return best[1]


def fit(points: list[Point], name: str, base: PerfConstants, source: str) -> PerfConstants:
    """Constants that minimise the relative error of decode, then prefill, time over ``points``."""
    rows, ys = [], []
    fixed_tau = not any(p.tp > 1 for p in points)
    for p in points:
        arch = get_model(p.model)
        w = decode_work(arch, p.precision, p.kv_cache_dtype, p.tp, p.batch, p.context)
        bw = p.gpu.bandwidth_gb_s * 1e9 / 1000.0
        peak = p.gpu.peak_tflops(p.precision) * 1e12 / 1000.0
        y = p.tpot_ms
        row = [float(p.pp), (w.weight_bytes + w.kv_bytes) / bw, w.flops / peak]
        known = 0.0
        if w.allreduces:
            link = p.gpu.interconnect_gb_s * 1e9 / 1000.0
            known = w.allreduces * w.allreduce_msg_bytes / link
            if fixed_tau:
                known += w.allreduces * (base.allreduce_us_nvlink if p.gpu.nvlink else base.allreduce_us_pcie) / 1000
        if not fixed_tau:
            row.append(float(w.allreduces))
        rows.append([v / y for v in row])
        ys.append((y - known) / y)
    _check_determined(rows, points, name, fixed_tau)
    x = _nnls(rows, ys)
    _check_physical(x, points, name)
    t0, inv_bw, inv_f = x[0], x[1], x[2]
    tau_ms = x[3] if not fixed_tau else None
    nvlink = any(p.gpu.nvlink for p in points)
    c = replace(
        base, family=name, t0_ms=round(t0, 4), eta_bw=round(1 / inv_bw, 4), eta_flops=round(1 / inv_f, 4),
        allreduce_us_nvlink=round(tau_ms * 1000, 2) if tau_ms is not None and nvlink else base.allreduce_us_nvlink,
        allreduce_us_pcie=round(tau_ms * 1000, 2) if tau_ms is not None and not nvlink else base.allreduce_us_pcie,
        source=source, points=len(points),
    )
    # prefill: ttft = fixed part + flops term x (1 / eta_p); fit 1/eta_p on relative error
    num = den = 0.0
    for p in points:
        if p.ttft_ms is None:
            continue
        arch = get_model(p.model)
        unit = replace(c, eta_prefill=1.0)
        tokens = p.batch * p.input_tokens
        compute = prefill_ms(arch, p.gpu, unit, precision=p.precision, tp=p.tp, pp=p.pp, tokens=tokens,
                             seq_len=p.input_tokens, with_fixed=False)
        fixed = prefill_ms(arch, p.gpu, unit, precision=p.precision, tp=p.tp, pp=p.pp, tokens=tokens,
                           seq_len=p.input_tokens) - compute
        a = compute / p.ttft_ms
        b = (p.ttft_ms - fixed) / p.ttft_ms
        num += a * b
        den += a * a
    if den > 0 and num > 0:
        if den / num > 1.0:
            raise InputError(f"calibration: {_group(name, points)}: the TTFT points fit eta_prefill {den / num:.2f} "
                             f"({den / num:.0%} of peak compute, impossible); check ttft_ms (milliseconds, the whole prompt) "
                             "or add TTFT points with long prompts (input_tokens >= 1024)")
        c = replace(c, eta_prefill=round(den / num, 4))
    return c


_CONSTANT_NAMES = ("t0_ms", "eta_bw", "eta_flops", "all-reduce latency")


def _group(name: str, points: list[Point]) -> str:
    """'GPU family 'hopper' (h100-sxm, h200; 12 points)', or the pooled fit over every point."""
    gpus = ", ".join(sorted({p.gpu.id for p in points}))
    count = f"{len(points)} point{'s' if len(points) != 1 else ''}"
    if name == "default":
        return f"the pooled fit over all points ({gpus}; {count})"
    kind = "type" if name in {p.gpu.id for p in points} else "family"
    return f"GPU {kind} '{name}' ({gpus}; {count})"


def _check_determined(rows: list[list[float]], points: list[Point], name: str, fixed_tau: bool) -> None:
    """Refuse a fit with fewer independent points than constants: it would fit anything, and say so nowhere."""
    import numpy as np

    n = len(rows[0])
    rank = int(np.linalg.matrix_rank(np.array(rows, dtype=float), tol=1e-9))
    if rank >= n:
        return
    consts = ", ".join(_CONSTANT_NAMES[:n])
    have = {p.batch for p in points}
    suggest = [b for b in (1, 8, 64, 256) if b not in have][: n - rank] or [2 * max(have)]
    need = [f"at least {n - rank} more point{'s' if n - rank > 1 else ''} at other batch sizes or context lengths "
            f"(e.g. batch {', '.join(map(str, suggest))})"]
    if not fixed_tau:
        need.append("points at TP 1 and TP > 1 on the same GPU")
    raise InputError(f"calibration: {_group(name, points)}: {rank} independent point{'s' if rank != 1 else ''} for "
                     f"{n} constants ({consts}): under-determined; add {' and '.join(need)}")


def _check_physical(x: list[float], points: list[Point], name: str) -> None:
    """Refuse constants no GPU can have: an efficiency above 100 % of peak, or a term the points never exercise."""
    inv_bw, inv_f = x[1], x[2]
    if inv_bw <= 0 or 1 / inv_bw > 1.0:
        eta = "unbounded" if inv_bw <= 0 else f"{1 / inv_bw:.2f} ({1 / inv_bw:.0%} of peak bandwidth, impossible)"
        raise InputError(f"calibration: {_group(name, points)}: the fit gives eta_bw {eta}; check tpot_ms (milliseconds "
                         "per output token) and the GPU id, or add batch-1 points (memory-bound) at several context lengths")
    if inv_f <= 0 or 1 / inv_f > 1.0:
        eta = "unbounded" if inv_f <= 0 else f"{1 / inv_f:.2f} ({1 / inv_f:.0%} of peak compute, impossible)"
        raise InputError(f"calibration: {_group(name, points)}: the fit gives eta_flops {eta}; add large-batch points "
                         "(batch 64 or more, compute-bound) so the compute term is measured")


def predict(p: Point, cal: dict[str, PerfConstants]) -> tuple[float, float | None]:
    """(decode ms, TTFT ms) the model predicts for a measured point."""
    from planner.estimate.speed import constants_for

    arch = get_model(p.model)
    c = constants_for(p.gpu, cal)
    d = decode_step_ms(arch, p.gpu, c, precision=p.precision, kv_cache_dtype=p.kv_cache_dtype, tp=p.tp, pp=p.pp,
                       batch=p.batch, context=p.context)
    t = prefill_ms(arch, p.gpu, c, precision=p.precision, tp=p.tp, pp=p.pp, tokens=p.batch * p.input_tokens,
                   seq_len=p.input_tokens) if p.ttft_ms is not None else None
    return d, t


def score(points: list[Point], cal: dict[str, PerfConstants]) -> dict[str, Any]:
    """Median and worst relative error of decode time and TTFT over ``points``."""
    de, te = [], []
    rows = []
    for p in points:
        d, t = predict(p, cal)
        e1 = (d - p.tpot_ms) / p.tpot_ms
        de.append(abs(e1))
        e2 = None
        if t is not None and p.ttft_ms:
            e2 = (t - p.ttft_ms) / p.ttft_ms
            te.append(abs(e2))
        rows.append({"id": p.id, "gpu": p.gpu.id, "tp": p.tp, "batch": p.batch, "tpot_ms": p.tpot_ms, "pred_tpot_ms": round(d, 3),
                     "tpot_err": round(e1, 4), "ttft_ms": p.ttft_ms, "pred_ttft_ms": None if t is None else round(t, 2),
                     "ttft_err": None if e2 is None else round(e2, 4)})
    return {
        "points": len(points),
        "decode_median_rel_err": statistics.median(de), "decode_worst_rel_err": max(de),
        "ttft_median_rel_err": statistics.median(te) if te else None, "ttft_worst_rel_err": max(te) if te else None,
        "rows": rows,
    }


DEFAULT_BASE = PerfConstants(family="default", t0_ms=2.0, eta_bw=0.8, eta_flops=0.6, eta_prefill=0.6,
                             allreduce_us_nvlink=20.0, allreduce_us_pcie=50.0)


def calibrate(points: list[Point], source: str, catalog: Catalog | None = None,
              notes: list[str] | None = None) -> dict[str, PerfConstants]:
    """Fit constants per GPU id (catalog GPUs with 5+ points), per family and pooled ('default') from ``points``.

    A family (or the pool) whose points cannot determine its constants, or that fits an impossible efficiency, is an
    InputError saying which points to add; a GPU id that cannot be refined keeps its family's constants, with a note."""
    catalog = catalog or load_catalog()

    def in_catalog(gid: str) -> bool:
        return gid in catalog.gpus

    out: dict[str, PerfConstants] = {}
    pooled = fit(points, "default", DEFAULT_BASE, f"pooled fit over {len(points)} points of {source}")
    out["default"] = pooled
    fams: dict[str, list[Point]] = {}
    ids: dict[str, list[Point]] = {}
    for p in points:
        fams.setdefault(p.gpu.family, []).append(p)
        ids.setdefault(p.gpu.id, []).append(p)
    for fam, pts in sorted(fams.items()):
        out[fam] = fit(pts, fam, pooled, f"fit over {len(pts)} points of {source} ({', '.join(sorted({p.gpu.id for p in pts}))})")
    for gid, pts in sorted(ids.items()):
        if len(pts) >= 5 and gid not in out and in_catalog(gid):
            fam_c = out[pts[0].gpu.family]
            try:
                out[gid] = fit(pts, gid, fam_c, f"fit over {len(pts)} points of {source} ({gid})")
            except InputError as exc:
                if notes is not None:
                    notes.append(f"{gid} keeps its family's constants ({exc.message.removeprefix('calibration: ')})")
    return out


def calibration_text(cal: dict[str, PerfConstants], header: str) -> str:
    """The calibration file's text (``header`` then YAML of every family's constants). Pure: the CLI writes it."""
    import yaml

    doc = {"families": {k: {"t0_ms": v.t0_ms, "eta_bw": v.eta_bw, "eta_flops": v.eta_flops, "eta_prefill": v.eta_prefill,
                            "allreduce_us_nvlink": v.allreduce_us_nvlink, "allreduce_us_pcie": v.allreduce_us_pcie,
                            "points": v.points, "source": v.source} for k, v in cal.items()}}
    return header + yaml.safe_dump(doc, sort_keys=True, width=120)

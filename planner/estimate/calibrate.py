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

from planner.errors import InputError
from planner.estimate.memory import check_kv_dtype, check_precision
from planner.estimate.speed import PerfConstants, decode_step_ms, decode_work, prefill_ms
from planner.inputs.catalog import GPU, Catalog, load_catalog
from planner.inputs.library import get_model, resolve_model_id
from planner.inputs.yaml_source import load_yaml, read_text

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
    out = [_point(r, i, p, catalog, extra_gpus) for i, r in enumerate(rows)]
    if not out:
        raise InputError(f"{p}: no usable points")
    return out


def _point_rows(p: Path, catalog: Catalog, extra_gpus: dict[str, GPU]) -> list[dict[str, Any]]:
    """The file's points as raw mappings; GPUs the file defines itself (L40) are added to ``extra_gpus``."""
    if p.suffix.lower() == ".csv":
        text = read_text(p, "calibration points file")
        return list(csv.DictReader(text.splitlines()))
    data, _ = load_yaml(p, "calibration points file")
    if isinstance(data, dict) and "entries" in data:  # the TensorRT-LLM measurement file (docs/sources.md: throughput-calibration)
        return _measurement_file_rows(data, catalog, extra_gpus)
    if isinstance(data, dict) and isinstance(data.get("points"), list):
        return data["points"]
    if isinstance(data, list):
        return data
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


def _point(r: dict[str, Any], i: int, p: Path, catalog: Catalog, extra_gpus: dict[str, GPU]) -> Point:
    """One validated point; errors name the file and the point's number."""
    where = f"{p}: point {i + 1}"
    try:
        name = str(r["model"])
        mid = resolve_model_id(name) or resolve_model_id(name.replace("Mistral-7B", "mistral-7b-v0.1"))
        if mid is None:
            raise InputError(f"{where}: unknown model '{name}'")
        gname = str(r["gpu"])
        gpu = extra_gpus.get(gname) or (catalog.gpus.get(gname) or catalog.gpus.get(_GPU_NAMES.get(gname, "")))
        if gpu is None:
            raise InputError(f"{where}: unknown GPU '{gname}'")
        ttft = r.get("ttft_ms")
        pt = Point(
            id=str(r.get("id") or f"point-{i + 1}"), model=mid, gpu=gpu, tp=int(r.get("tp") or 1),
            pp=int(r.get("pp") or 1), precision=check_precision(str(r["precision"])),
            kv_cache_dtype=check_kv_dtype(str(r.get("kv_cache_dtype") or "auto")), batch=int(r["batch"]),
            input_tokens=int(r["input_tokens"]), output_tokens=int(r["output_tokens"]), tpot_ms=float(r["tpot_ms"]),
            ttft_ms=float(ttft) if ttft not in (None, "") else None, source=str(r.get("source") or p.name),
        )
    except KeyError as exc:
        raise InputError(f"{where}: missing field {exc}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: bad value ({exc})") from None
    if pt.tpot_ms <= 0 or pt.batch < 1:
        raise InputError(f"{where}: tpot_ms and batch must be positive")
    return pt


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
    x = _nnls(rows, ys)
    t0, inv_bw, inv_f = x[0], x[1], x[2]
    tau_ms = x[3] if not fixed_tau else None
    nvlink = any(p.gpu.nvlink for p in points)
    c = replace(
        base, family=name, t0_ms=round(t0, 4), eta_bw=round(min(1.5, 1 / inv_bw), 4) if inv_bw > 0 else base.eta_bw,
        eta_flops=round(min(1.5, 1 / inv_f), 4) if inv_f > 1e-9 else 1.5,
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
        c = replace(c, eta_prefill=round(min(1.5, den / num), 4))
    return c


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


def calibrate(points: list[Point], source: str, catalog: Catalog | None = None) -> dict[str, PerfConstants]:
    """Fit constants per GPU id (catalog GPUs with 5+ points), per family and pooled ('default') from ``points``."""
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
            out[gid] = fit(pts, gid, fam_c, f"fit over {len(pts)} points of {source} ({gid})")
    return out


def calibration_text(cal: dict[str, PerfConstants], header: str) -> str:
    """The calibration file's text (``header`` then YAML of every family's constants). Pure: the CLI writes it."""
    import yaml

    doc = {"families": {k: {"t0_ms": v.t0_ms, "eta_bw": v.eta_bw, "eta_flops": v.eta_flops, "eta_prefill": v.eta_prefill,
                            "allreduce_us_nvlink": v.allreduce_us_nvlink, "allreduce_us_pcie": v.allreduce_us_pcie,
                            "points": v.points, "source": v.source} for k, v in cal.items()}}
    return header + yaml.safe_dump(doc, sort_keys=True, width=120)

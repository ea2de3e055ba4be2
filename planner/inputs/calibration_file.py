"""The calibration file a scenario names (``calibration:``, written by ``planner calibrate``): every constant checked.

Per family: ``t0_ms`` (fixed cost per step, ms), ``eta_bw``, ``eta_flops``, ``eta_prefill`` (shares of peak bandwidth
and compute), ``allreduce_us_nvlink`` and ``allreduce_us_pcie`` (latency per all-reduce, microseconds). An
efficiency is in (0, 1]: above 1 is faster than the hardware; a time is >= 0 and below a stated ceiling.

An optional ``memory`` list (written by ``planner calibrate --vllm-log``) holds the vLLM memory terms fitted on a
user's start-up logs, one entry per GPU type, version family and TP size: ``gpu``, ``family``, ``tp``,
``non_torch_bytes`` (per device, or null), ``activation_factor`` (of the built-in activation peak), ``logs``, ``source``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.errors import InputError, cut, did_you_mean
from planner.inputs.numbers import check_number
from planner.inputs.yaml_source import field_path, line_of, load_yaml

# (lower bound, upper bound, lower bound open): efficiencies in (0, 1]; times non-negative below a ceiling
CONSTANT_RANGES: dict[str, tuple[float, float, bool]] = {
    "t0_ms": (0.0, 1_000.0, False),  # a fixed step cost above 1 s is not a GPU
    "eta_bw": (0.0, 1.0, True),
    "eta_flops": (0.0, 1.0, True),
    "eta_prefill": (0.0, 1.0, True),
    "allreduce_us_nvlink": (0.0, 100_000.0, False),
    "allreduce_us_pcie": (0.0, 100_000.0, False),
}
OPTIONAL = ("points", "source")
FAMILIES = ("v0-device", "v0-profile", "v1-device", "v1-profile")  # planner/estimate/engine.py rules_for
MEMORY_FIELDS = ("gpu", "family", "tp", "non_torch_bytes", "activation_factor", "logs", "source")


def check_calibration_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The file's families, each constant finite and in range; InputError ``file:line: families.x.field: ...``."""
    p = Path(path)
    data, lines = load_yaml(p, "calibration file")

    def where(*fp: Any) -> str:
        ln = line_of(lines, fp)
        return f"{p}:{ln}: {field_path(fp)}" if ln else f"{p}: {field_path(fp)}"

    fams = data.get("families") if isinstance(data, dict) else None
    if not isinstance(fams, dict) or "default" not in fams:
        raise InputError(f"{p}: not a calibration file (needs 'families' with a 'default' entry)")
    allowed = [*CONSTANT_RANGES, *OPTIONAL]
    for fam, v in fams.items():
        if not isinstance(v, dict):
            raise InputError(f"{where('families', fam)}: expected a mapping of constants ({', '.join(CONSTANT_RANGES)})")
        for key in v:
            if key not in allowed:
                raise InputError(f"{where('families', fam, key)}: unknown field '{cut(str(key))}'; allowed: "
                                 f"{', '.join(allowed)}{did_you_mean(str(key), allowed)}")
        for key, (lo, hi, lo_open) in CONSTANT_RANGES.items():
            if key not in v:
                raise InputError(f"{where('families', fam)}: required constant '{key}' is missing")
            try:
                check_number(v[key], "x", lo, hi, lo_open=lo_open)
            except InputError as exc:
                raise InputError(f"{where('families', fam, key)}{exc.message[1:]}") from None
        if "points" in v:
            try:
                check_number(v["points"], "x", 0, 10_000_000, integral=True)
            except InputError as exc:
                raise InputError(f"{where('families', fam, 'points')}{exc.message[1:]}") from None
    if isinstance(data, dict) and data.get("memory") is not None:
        _check_memory(data["memory"], where)
    return fams


def _check_memory(entries: Any, where: Any) -> None:
    """The ``memory`` list: every entry's fields known, typed and in range."""
    if not isinstance(entries, list):
        raise InputError(f"{where('memory')}: expected a list of fitted memory terms (planner calibrate --vllm-log)")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InputError(f"{where('memory', i)}: expected a mapping of {', '.join(MEMORY_FIELDS)}")
        for key in e:
            if key not in MEMORY_FIELDS:
                raise InputError(f"{where('memory', i, key)}: unknown field '{cut(str(key))}'; allowed: "
                                 f"{', '.join(MEMORY_FIELDS)}{did_you_mean(str(key), list(MEMORY_FIELDS))}")
        for key in ("gpu", "family", "tp", "activation_factor"):
            if key not in e:
                raise InputError(f"{where('memory', i)}: required field '{key}' is missing")
        if not isinstance(e["gpu"], str) or not e["gpu"]:
            raise InputError(f"{where('memory', i, 'gpu')}: expected a GPU id")
        if e["family"] not in FAMILIES:
            raise InputError(f"{where('memory', i, 'family')}: '{cut(str(e['family']))}' is not allowed; allowed: "
                             f"{', '.join(FAMILIES)}{did_you_mean(str(e['family']), list(FAMILIES))}")
        for key, lo, hi, integral, lo_open in (("tp", 1, 64, True, False), ("activation_factor", 0, 50, False, True),
                                               ("non_torch_bytes", 0, 2**40, True, False), ("logs", 0, 10**6, True, False)):
            if e.get(key) is None and key in ("non_torch_bytes", "logs"):
                continue
            try:
                check_number(e[key], "x", lo, hi, lo_open=lo_open, integral=integral)
            except InputError as exc:
                raise InputError(f"{where('memory', i, key)}{exc.message[1:]}") from None


def load_memory_fits(path: str | Path) -> tuple[Any, ...]:
    """The file's fitted vLLM memory terms (engine.MemoryFit), checked; () when it has none."""
    from planner.estimate.engine import MemoryFit

    check_calibration_file(path)
    data, _ = load_yaml(Path(path), "calibration file")
    return tuple(MemoryFit(gpu=e["gpu"], family=e["family"], tp=int(e["tp"]),
                           non_torch_bytes=None if e.get("non_torch_bytes") is None else int(e["non_torch_bytes"]),
                           activation_factor=float(e["activation_factor"]), logs=int(e.get("logs") or 0),
                           source=str(e.get("source") or ""))
                 for e in (data.get("memory") or []))

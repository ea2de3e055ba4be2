"""The calibration file a scenario names (``calibration:``, written by ``planner calibrate``): every constant checked.

Per family: ``t0_ms`` (fixed cost per step, ms), ``eta_bw``, ``eta_flops``, ``eta_prefill`` (shares of peak bandwidth
and compute), ``allreduce_us_nvlink`` and ``allreduce_us_pcie`` (latency per all-reduce, microseconds). An
efficiency is in (0, 1]: above 1 is faster than the hardware; a time is >= 0 and below a stated ceiling.
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
    return fams

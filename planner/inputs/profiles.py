"""Demand over time: hourly multipliers of each model's target (concurrency or request rate) over a day or a week.

A profile multiplies the target the model states: at hour h the model must hold ``target x f_h`` (rounded up to a
whole demand unit), so the stated target is the demand at multiplier 1. Three forms, fleet-wide (top-level
``profile``) or per model (``models[i].profile``, which wins):

    profile: business-hours                      a named shape shipped with planner (NAMED_PROFILES)
    profile: {period: day, values: [24 numbers]} hourly multipliers, hour 0 = 00:00-01:00; ``week``: 168, Monday first
    profile: {file: trace.csv, period: day}      a measured trace (``timestamp,value`` rows, ISO 8601 or Unix
                                                 seconds), averaged per hour of the day (or of the week) in the
                                                 timestamps' own clock, then divided by its largest hourly mean
                                                 (so the busiest hour is multiplier 1); a bare ``trace.csv`` means
                                                 period day

When some profile covers a week, day profiles repeat seven times. Models without a profile follow the fleet's, or
stay flat. A model may scale to zero replicas in hours whose demand is 0 (``min_replicas`` applies to every hour of
positive demand).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.errors import InputError, did_you_mean
from planner.inputs.input_errors import validate
from planner.inputs.yaml_source import field_path, line_of, read_text

PERIOD_HOURS = {"day": 24, "week": 168}
MAX_MULTIPLIER = 100.0  # input validation: a profile may exceed the stated target, but not absurdly
MAX_TRACE_ROWS = 1_000_000

# Named shapes (README, "Demand over a day"). Hour 0 is 00:00-01:00 local time. These are shapes, not measurements:
# business-hours: an office chat assistant, flat at its peak from 09:00 to 17:00, ramps around it, 10 % at night.
# overnight-batch: an offline job window from 22:00 to 06:00, nothing in the day.
NAMED_PROFILES: dict[str, tuple[float, ...]] = {
    "flat": (1.0,) * 24,
    "business-hours": (0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.0, 1.0,
                       1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1),
    "overnight-batch": (1.0,) * 6 + (0.0,) * 16 + (1.0,) * 2,
}


class ProfileIn(BaseModel):
    """A profile written as a mapping: ``values`` (hourly multipliers) or ``file`` (a CSV trace), over a period."""

    model_config = ConfigDict(extra="forbid", strict=True)
    period: Literal["day", "week"] = "day"
    values: list[float] | None = None
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> ProfileIn:
        if (self.values is None) == (self.file is None):
            raise ValueError("give exactly one of 'values' (hourly multipliers) or 'file' (a timestamp,value CSV)")
        return self


@dataclass(frozen=True)
class DemandProfile:
    """Resolved profiles: every model's hourly multipliers over the same period (24 or 168 hours)."""

    period_hours: int
    multipliers: dict[str, tuple[float, ...]]  # model -> one multiplier per hour of the period
    origin: dict[str, str]  # model -> where its profile came from (a named shape, "values", a file, "flat")

    def demand_units(self, model: str, target_units: int) -> tuple[int, ...]:
        """Hourly demand in the model's units: ceil(target x f_h), with a 1e-9 guard against float noise."""
        return tuple(math.ceil(target_units * f - 1e-9) for f in self.multipliers[model])


def resolve_profiles(fleet: Any, per_model: list[tuple[str, Any]], lines: dict, name: str,
                     base_dir: Path) -> DemandProfile | None:
    """The scenario's profiles (None when neither the fleet nor any model has one). Errors name file, line, field."""
    if fleet is None and all(p is None for _, p in per_model):
        return None
    base = None if fleet is None else _one(fleet, ("profile",), lines, name, base_dir)
    own: dict[str, tuple[tuple[float, ...], str]] = {}
    for i, (model, raw) in enumerate(per_model):
        if raw is not None:
            own[model] = _one(raw, ("models", i, "profile"), lines, name, base_dir)
    period = 168 if any(len(v) == 168 for v, _ in [*own.values(), *([base] if base else [])]) else 24
    mult: dict[str, tuple[float, ...]] = {}
    origin: dict[str, str] = {}
    for model, _ in per_model:
        vals, where = own.get(model) or base or ((1.0,) * 24, "flat")
        mult[model] = vals * (period // len(vals))
        origin[model] = where
    return DemandProfile(period_hours=period, multipliers=mult, origin=origin)


def _one(raw: Any, path: tuple, lines: dict, name: str, base_dir: Path) -> tuple[tuple[float, ...], str]:
    """One profile entry as (multipliers, origin)."""
    where = _where(lines, name, path)
    if isinstance(raw, str):
        if raw in NAMED_PROFILES:
            return NAMED_PROFILES[raw], raw
        if raw.lower().endswith(".csv"):
            return _trace(raw, "day", base_dir, where), raw
        names = sorted(NAMED_PROFILES)
        raise InputError(f"{where}: unknown profile '{raw}'{did_you_mean(raw, names)}; allowed: {', '.join(names)}, "
                         "a .csv trace, or {period: day|week, values: [...]}")
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a profile name, a .csv file or a mapping (period, values), got "
                         f"{type(raw).__name__}")
    p = validate(ProfileIn, raw, lines, name, path)
    hours = PERIOD_HOURS[p.period]
    if p.file is not None:
        return _trace(p.file, p.period, base_dir, _where(lines, name, (*path, "file"))), p.file
    assert p.values is not None  # ProfileIn._one_form
    vals = tuple(float(v) for v in p.values)
    if len(vals) != hours:
        raise InputError(f"{_where(lines, name, (*path, 'values'))}: {len(vals)} values; a {p.period} profile needs "
                         f"exactly {hours} (one per hour)")
    return _checked(vals, _where(lines, name, (*path, "values"))), "values"


def _checked(vals: tuple[float, ...], where: str) -> tuple[float, ...]:
    for h, v in enumerate(vals):
        if not (0.0 <= v <= MAX_MULTIPLIER) or math.isnan(v):
            raise InputError(f"{where}[{h}]: {v!r} is out of range; allowed: 0 to {MAX_MULTIPLIER:g}")
    if max(vals) <= 0:
        raise InputError(f"{where}: every multiplier is 0, so the model would never be served; give at least one > 0")
    return vals


def _where(lines: dict, name: str, path: tuple) -> str:
    ln = line_of(lines, path)
    return f"{name}:{ln}: {field_path(path)}" if ln else f"{name}: {field_path(path)}"


def _trace(file: str, period: str, base_dir: Path, where: str) -> tuple[float, ...]:
    """A CSV trace averaged per hour of the period and divided by its busiest hour (module doc)."""
    path = Path(file) if Path(file).is_absolute() else base_dir / file
    if not path.is_file():
        raise InputError(f"{where}: no such trace file '{file}'")
    text = read_text(path, "trace file")
    hours = PERIOD_HOURS[period]
    sums = [0.0] * hours
    counts = [0] * hours
    rows = list(csv.reader(text.splitlines()))
    if len(rows) > MAX_TRACE_ROWS:
        raise InputError(f"{path}: {len(rows)} rows; at most {MAX_TRACE_ROWS:,} (resample the trace first)")
    for ln, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or (ln == 1 and row[0].strip().lower() == "timestamp"):
            continue
        if len(row) != 2:
            raise InputError(f"{path}:{ln}: expected two columns 'timestamp,value', got {len(row)}")
        slot = _hour_slot(row[0].strip(), period, f"{path}:{ln}: timestamp")
        value = _value(row[1].strip(), f"{path}:{ln}: value")
        sums[slot] += value
        counts[slot] += 1
    missing = [h for h in range(hours) if counts[h] == 0]
    if missing:
        shown = ", ".join(str(h) for h in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise InputError(f"{path}: the trace has no sample in {len(missing)} of the {hours} hours of the {period} "
                         f"(hours {shown}); give a trace that covers every hour")
    means = [s / c for s, c in zip(sums, counts, strict=True)]
    top = max(means)
    if top <= 0:
        raise InputError(f"{path}: every value is 0; the trace needs some demand")
    return tuple(round(m / top, 6) for m in means)


def _hour_slot(text: str, period: str, where: str) -> int:
    try:
        t = datetime.fromtimestamp(float(text), tz=UTC) if _is_number(text) else datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{where}: '{text}' is not a timestamp; allowed: ISO 8601 (2026-03-02T14:00:00) or Unix "
                         "seconds") from None
    return t.hour if period == "day" else t.weekday() * 24 + t.hour


def _value(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not a number") from None
    if not (v >= 0) or math.isinf(v):
        raise InputError(f"{where}: {text} is out of range; allowed: >= 0")
    return v


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

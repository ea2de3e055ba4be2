"""The one set of number rules for every input kind (scenario, catalog, calibration, config.json, CLI options).

A number from a user is accepted only when it is finite, in its physical range and integral where it must be:

- ``check_number(value, field, ...)`` checks a value already parsed (YAML, JSON, CSV cell, option) and returns it
  as an ``int`` or ``float``; a bool, a string, NaN, an infinity or a 5,000-digit integer is refused.
- ``parse_number(text, field, ...)`` parses a user's string (a CSV cell, a ``--vary`` value) with ASCII digits only
  (``'²'`` or ``'١'`` pass ``str.isdigit`` but are not numbers here), then applies ``check_number``.

Messages have the scenario file's shape: ``<field>: <value> is <what is wrong>; allowed: <range>``; the caller puts
``file:line:`` in front.
"""

from __future__ import annotations

import math
import re

from planner.errors import InputError, shown

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_DIGITS = 30  # no physical quantity the planner reads has more digits; longer input is refused before int()


def _range_text(lo: float | None, hi: float | None, lo_open: bool, integral: bool) -> str:
    kind = "an integer" if integral else "a number"
    low = "" if lo is None else f"{'>' if lo_open else '>='} {_num(lo)}"
    high = "" if hi is None else f"<= {_num(hi)}"
    bounds = " and ".join(b for b in (low, high) if b)
    return f"{kind} {bounds}".strip()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def allowed_text(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, integral: bool = False) -> str:
    """'an integer >= 1 and <= 64', 'a number > 0 and <= 1': the "allowed" part of a message."""
    return _range_text(lo, hi, lo_open, integral)


def check_number(value: object, field: str, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, integral: bool = False) -> int | float:
    """``value`` as a number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), an integer when ``integral``.

    Raises InputError ``field: <value> is ...; allowed: ...`` otherwise."""
    allowed = _range_text(lo, hi, lo_open, integral)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{field}: expected {'an integer' if integral else 'a number'}, got {shown(value)}; allowed: {allowed}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{field}: {value} is not a finite number; allowed: {allowed}")
    if isinstance(value, int) and value.bit_length() > 3.33 * MAX_DIGITS:
        raise InputError(f"{field}: {shown(value)} is out of range; allowed: {allowed}")
    if integral and isinstance(value, float):
        if value != int(value):
            raise InputError(f"{field}: {value!r} is not an integer; allowed: {allowed}")
        value = int(value)
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise InputError(f"{field}: {shown(value)} is out of range; allowed: {allowed}")
    if hi is not None and value > hi:
        raise InputError(f"{field}: {shown(value)} is out of range; allowed: {allowed}")
    return value


def parse_number(text: object, field: str, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, integral: bool = False) -> int | float:
    """A user's string (CSV cell, option value) as a checked number: ASCII digits only, no 'inf', 'nan' or '1_0'."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return check_number(text, field, lo, hi, lo_open=lo_open, integral=integral)
    s = str(text).strip()
    allowed = _range_text(lo, hi, lo_open, integral)
    if _INT_RE.fullmatch(s) or _FLOAT_RE.fullmatch(s):
        if len(s) > MAX_DIGITS:
            raise InputError(f"{field}: {shown(s)} is out of range; allowed: {allowed}")
        value: int | float = int(s) if _INT_RE.fullmatch(s) else float(s)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{field}: {shown(s)} is not a finite number; allowed: {allowed}")
    else:
        raise InputError(f"{field}: {shown(s)} is not a number; allowed: {allowed}")
    return check_number(value, field, lo, hi, lo_open=lo_open, integral=integral)

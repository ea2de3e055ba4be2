"""Turning pydantic validation errors into one line: file:line: field: what is wrong; what is allowed (did you mean)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from planner.errors import InputError, cut, did_you_mean, shown
from planner.inputs.yaml_source import field_path, line_of

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, lines: dict, name: str, prefix: tuple = ()) -> M:
    """Validate ``data`` against ``model``; on failure raise InputError for the first error, with its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        # an unknown key usually explains a "missing" one (a typo): report it first
        err = next((e for e in errs if e.get("type") == "extra_forbidden"), errs[0])
        raise InputError(format_error(model, err, lines, name, prefix)) from None


def format_error(model: type[BaseModel], err: ErrorDetails, lines: dict, name: str, prefix: tuple = ()) -> str:
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
    path = prefix + loc
    line = line_of(lines, path)
    where = f"{name}:{line}" if line else name
    kind = err.get("type", "")
    value = err.get("input")
    fpath = field_path(path)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        key = loc[-1]
        return f"{where}: {fpath}: unknown field '{cut(str(key))}'; allowed: {', '.join(allowed)}{did_you_mean(str(key), allowed)}"
    if kind == "missing":
        return f"{where}: {fpath}: required field is missing"
    msg = err.get("msg", "invalid value")
    ctx = err.get("ctx") or {}
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "> ", "greater_than_equal": ">= ", "less_than": "< ", "less_than_equal": "<= "}[kind]
        limit = next(iter(ctx.values()), "")
        return f"{where}: {fpath}: {shown(value)} is out of range; allowed: {bound}{limit}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip().strip("'") for c in str(expected).replace(" or ", ",").split(",") if c.strip()]
        return f"{where}: {fpath}: {shown(value)} is not allowed; allowed: {', '.join(choices)}{did_you_mean(str(value), choices)}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("int_from_float",) or kind.startswith("int_") or kind.startswith("float_"):
        expected = {"int": "an integer", "float": "a number", "string": "a string", "bool": "true or false",
                    "list": "a list", "dict": "a mapping", "model": "a mapping"}
        want = next((v for k, v in expected.items() if kind.startswith(k)), msg)
        return f"{where}: {fpath}: expected {want}, got {_show(value)}"
    if kind == "finite_number":
        return f"{where}: {fpath}: {shown(value)} is not a finite number"
    if kind == "string_pattern_mismatch":
        return f"{where}: {fpath}: {shown(value)} is not allowed; allowed: letters, digits, '_', '.' and '-'"
    if kind in ("string_too_short", "string_too_long"):
        return f"{where}: {fpath}: {msg.lower()}"
    if kind == "value_error":
        text = str(ctx.get("error", msg))
        return f"{where}: {fpath}: {text}"
    return f"{where}: {fpath}: {msg}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(value)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model at ``loc``."""

    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(cur, "model_fields", {}).get(part)
        if field is None:
            break
        ann = field.annotation
        cur = _inner_model(ann) or cur
    return sorted(getattr(cur, "model_fields", {}).keys())


def _inner_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None

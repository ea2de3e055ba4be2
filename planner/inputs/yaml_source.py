"""Reading user YAML safely: size and alias limits, no arbitrary tags, and a line number for every field.

``load_yaml(path)`` returns ``(data, lines)`` where ``lines`` maps a field path such as
``("models", 0, "concurrency")`` to the 1-based line it was written on, so an error can point at it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError, cut
from planner.inputs.files import read_text

MAX_NODES = 200_000  # nodes after alias expansion, or half the file's characters if more (a node takes 2 or more):
# a real file never exceeds it, an alias bomb ("billion laughs": a few lines, 10**9 nodes) blows far past it

# libyaml's loader is much faster (PyYAML wheels ship it); the pure-Python one is the fallback
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_scalar = yaml.constructor.SafeConstructor()

# YAML 1.1 (PyYAML) reads an unquoted 1e9 or 5E-3 as a string; YAML 1.2 and every user read it as a number
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")

_YAML = "tag:yaml.org,2002:"
# the common scalars built directly (construct_object's bookkeeping is most of the time of a 10,000-model file)
_FAST: dict[str, Any] = {
    _YAML + "str": lambda n: n.value, _YAML + "int": _scalar.construct_yaml_int, _YAML + "float": _scalar.construct_yaml_float,
    _YAML + "bool": _scalar.construct_yaml_bool, _YAML + "null": lambda n: None,
}

FieldPath = tuple[Any, ...]  # keys and indexes from the document root to a node, e.g. ("models", 0, "name")


def load_yaml(path: str | Path, what: str = "YAML file") -> tuple[Any, dict[FieldPath, int]]:
    """Parse a YAML file into plain Python data plus a map from field path to line number."""
    text = read_text(path, what)
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> tuple[Any, dict[FieldPath, int]]:
    """Parse YAML text (see ``load_yaml``); ``name`` is used in messages.

    The cyclic garbage collector is paused while the nodes are built: they hold no cycles, and its passes over a
    growing heap are half the time of a 10,000-model file (benchmarks/input_validation.py)."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_yaml(text, name)
    finally:
        if was_enabled:
            gc.enable()


def _parse_yaml(text: str, name: str) -> tuple[Any, dict[FieldPath, int]]:
    try:
        node = yaml.compose(text, Loader=SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{name}{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: invalid YAML: {exc}") from None
    if node is None:
        return None, {}
    lines: dict[FieldPath, int] = {}
    counter = [0, max(MAX_NODES, len(text) // 2)]
    data = _convert(node, (), lines, counter, name)
    return data, lines


def _convert(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], counter: list[int], name: str) -> Any:
    counter[0] += 1
    if counter[0] > counter[1]:
        raise InputError(f"{name}: more than {counter[1]} YAML nodes after expanding aliases (an alias bomb?)")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise InputError(f"{name}:{key_node.start_mark.line + 1}: YAML merge keys ('<<') are not supported")
            key = _convert(key_node, path, {}, counter, name)
            if isinstance(key, (dict, list)):
                raise InputError(f"{name}:{key_node.start_mark.line + 1}: a mapping key must be a plain value")
            if key in out:
                raise InputError(f"{name}:{key_node.start_mark.line + 1}: {_fmt((*path, key))}: duplicate key")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), lines, counter, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), lines, counter, name) for i, v in enumerate(node.value)]
    if (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" and not node.style
            and _YAML12_FLOAT.fullmatch(node.value)):
        node = yaml.ScalarNode("tag:yaml.org,2002:float", node.value, node.start_mark, node.end_mark)
    try:
        fast = _FAST.get(node.tag)
        value = fast(node) if fast is not None else _scalar.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise InputError(f"{name}:{node.start_mark.line + 1}: {_fmt(path)}: {exc}") from None
    except (ValueError, OverflowError):  # an integer of more than 4,300 digits
        raise InputError(f"{name}:{node.start_mark.line + 1}: {_fmt(path)}: {len(str(node.value))}-digit number "
                         "is out of range") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name}:{node.start_mark.line + 1}: {_fmt(path)}: {value} is not a finite number")
    if not isinstance(value, (str, int, float, bool, type(None))):
        # dates and binary scalars become strings: every field we read is a number, a string or a flag
        value = str(value)
    return value


def _fmt(path: FieldPath) -> str:
    out = ""
    for part in path:
        text = cut(str(part))  # a 1 MB key stays a readable field name
        out += f"[{part}]" if isinstance(part, int) else (f".{text}" if out else text)
    return out or "(top level)"


def field_path(path: FieldPath) -> str:
    """``("models", 0, "concurrency")`` -> ``models[0].concurrency``."""
    return _fmt(path)


def line_of(lines: dict[FieldPath, int], path: FieldPath) -> int | None:
    """The line of ``path`` or of its closest parent that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())

"""The built-in model library (``planner/data/models.yaml``) and model lookup by id, alias or config path."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from planner.errors import InputError, cut, did_you_mean
from planner.inputs.architectures import ModelArch, arch_from_config, read_hf_config
from planner.resources import DATA_DIR


@dataclass(frozen=True)
class LibraryEntry:
    id: str
    name: str
    hf_repo: str
    aliases: tuple[str, ...]
    params_expected: int
    params_source: str
    config_source: str
    config: dict[str, Any]
    active_params_expected: int | None = None
    quantization: dict[str, Any] | None = None  # the checkpoint's quantization_config (official quantized releases)
    checkpoint_source: str = ""  # where the quantized layout was read


@lru_cache(maxsize=1)
def library() -> dict[str, LibraryEntry]:
    """All built-in models by id."""
    import yaml

    from planner.inputs.yaml_source import SafeLoader as Loader
    raw = yaml.load((DATA_DIR / "models.yaml").read_text(encoding="utf-8"), Loader=Loader)
    out: dict[str, LibraryEntry] = {}
    for m in raw["models"]:
        base = out[m["base"]] if "base" in m else None  # a quantized release of a base entry: its config + overrides
        config = {**(base.config if base else {}), **(m.get("config") or {})}
        out[m["id"]] = LibraryEntry(
            id=m["id"], name=m["name"], hf_repo=m["hf_repo"], aliases=tuple(m.get("aliases") or ()),
            params_expected=int(m.get("params_expected") or (base.params_expected if base else 0)),
            params_source=m.get("params_source") or (base.params_source if base else ""),
            config_source=m.get("config_source") or (f"{base.config_source}; layout: {m.get('checkpoint_source', '')}" if base else ""),
            config=config,
            active_params_expected=m.get("active_params_expected") or (base.active_params_expected if base else None),
            quantization=m.get("quantization"), checkpoint_source=m.get("checkpoint_source", ""),
        )
    return out


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for e in library().values():
        idx[e.id] = e.id
        idx[e.hf_repo.lower()] = e.id
        idx[e.hf_repo.split("/")[-1].lower()] = e.id
        for a in e.aliases:
            idx[a.lower()] = e.id
    return idx


def resolve_model_id(name: str) -> str | None:
    """Library id for an id, alias or Hugging Face repo id (``Qwen/Qwen2.5-7B-Instruct``; case-insensitive), or
    None. A repo id whose organisation differs from the entry's still resolves by its name part."""
    key = str(name).strip().lower()
    idx = _alias_index()
    return idx.get(key) or (idx.get(key.rsplit("/", 1)[1]) if "/" in key else None)


def unknown_model_message(name: str) -> str:
    hint = did_you_mean(name, list(_alias_index()))
    if hint:
        target = resolve_model_id(hint.split("'")[1]) or ""
        if target and target != hint.split("'")[1]:
            hint = f" (did you mean '{target}'?)"
    return f"unknown model '{cut(name)}'{hint}; `planner models` lists the {len(library())} built-in ids, or give hf_config: path/to/config.json"


@lru_cache(maxsize=256)
def get_model(name: str) -> ModelArch:
    """The architecture of a built-in model (by id or alias). Raises InputError with a did-you-mean."""
    mid = resolve_model_id(name)
    if mid is None:
        raise InputError(unknown_model_message(name))
    e = library()[mid]
    arch = arch_from_config(e.config, model_id=e.id, name=e.name, source=e.config_source)
    if e.quantization:
        from dataclasses import replace

        arch = replace(arch, quantization=dict(e.quantization))
    return arch


def load_hf_model(path: str | Path, model_id: str | None = None) -> ModelArch:
    """An architecture from a ``config.json`` file or a local checkpoint folder (reads its quantization_config)."""
    cfg, index = read_hf_config(path)
    p = Path(path)
    mid = model_id or (p.name if p.is_dir() else p.parent.name or p.stem)
    arch = arch_from_config(cfg, model_id=mid, name=cfg.get("_name_or_path") or mid, source=str(path))
    quant = cfg.get("quantization_config")
    if quant is not None and not isinstance(quant, dict):
        raise InputError(f"{path}: quantization_config must be an object")
    if quant or index:
        from dataclasses import replace

        info = dict(quant or {})
        if index:
            info["safetensors_total_size"] = index["total_size"]
        arch = replace(arch, quantization=info)
    return arch

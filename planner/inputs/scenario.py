"""Scenario files: a fleet of models with their workloads, a priced catalog, limits. Validated once, here."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.errors import InputError, cut, did_you_mean
from planner.estimate.engine import DEFAULT_PROFILE, DEFAULT_VLLM_VERSION, EngineProfile, parse_version
from planner.i18n import Lang
from planner.inputs.architectures import ModelArch, check_checkpoint_size
from planner.inputs.catalog import Catalog, load_catalog
from planner.inputs.catalog_schema import OFFER_KINDS, OfferKind
from planner.inputs.commitment import Commitment, CommitmentIn, resolve_commitment
from planner.inputs.currency import Currency
from planner.inputs.input_errors import validate
from planner.inputs.library import get_model, load_hf_model, resolve_model_id, unknown_model_message
from planner.inputs.pricing import Owned, Pricing
from planner.inputs.profiles import DemandProfile, resolve_profiles
from planner.inputs.yaml_source import field_path, line_of, load_yaml
from planner.resources import DATA_DIR
from planner.units import TP_SIZES, KVDtype, Precision

# upper bounds of the workload fields (input validation; not the sequences that fit, MemoryEstimate.max_concurrency)
CONCURRENCY_UPPER_BOUND = 10_000_000
CONTEXT_UPPER_BOUND = 10_000_000


class SLO(BaseModel):
    """Latency objectives per stream: decode speed and time to first token."""

    model_config = ConfigDict(extra="forbid", strict=True)
    min_tokens_per_s: float | None = Field(default=None, gt=0, le=100_000)
    max_ttft_ms: float | None = Field(default=None, gt=0, le=10_000_000)


class ResilienceIn(BaseModel):
    """What the fleet survives: with any one failure domain of kind ``survive`` lost, every model still serves at
    least ``keep`` x its target (``planner.solve.formulation``, constraint (9))."""

    model_config = ConfigDict(extra="forbid", strict=True)
    survive: Literal["none", "replica", "instance", "provider"] = "none"
    keep: float = Field(default=1.0, gt=0, le=1)


class EngineIn(BaseModel):
    """How the engines are started (planner/estimate/engine.py): at the top of a scenario for every model, and in a
    model where it differs. Unset fields are vLLM's defaults for the version, GPU and usage."""

    model_config = ConfigDict(extra="forbid", strict=True)
    engine: Literal["vllm"] | None = None
    vllm_version: str | None = None  # X.Y or X.Y.Z; default engine.DEFAULT_VLLM_VERSION
    max_num_seqs: int | None = Field(default=None, ge=1, le=65_536)
    max_batched_tokens: int | None = Field(default=None, ge=16, le=1_048_576)
    enforce_eager: bool | None = None
    block_size: Literal[1, 8, 16, 32, 64, 128] | None = None  # vLLM's CacheConfig choices on CUDA
    kv_cache_memory_bytes: int | None = Field(default=None, ge=1, le=2**50)  # vLLM --kv-cache-memory-bytes, per GPU
    usage: Literal["serve", "offline"] | None = None
    chunked_prefill: bool | None = None  # V0 only (V1 always chunks); YAML on/off are booleans

    @field_validator("vllm_version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError(f"{v!r} is a number; quote it: vllm_version: \"{v}\" (X.Y or X.Y.Z)")
        if isinstance(v, str):
            try:
                parse_version(v)
            except InputError:
                raise ValueError(f"'{cut(v)}' is not a vLLM version; allowed: X.Y or X.Y.Z, e.g. "
                                 f"{DEFAULT_VLLM_VERSION}") from None
        return v

    def over(self, base: EngineProfile) -> EngineProfile:
        """``base`` with this block's set fields replaced."""
        return base.with_overrides(engine=self.engine, version=self.vllm_version, max_num_seqs=self.max_num_seqs,
                                   max_num_batched_tokens=self.max_batched_tokens, enforce_eager=self.enforce_eager,
                                   block_size=self.block_size, kv_cache_memory_bytes=self.kv_cache_memory_bytes,
                                   usage=self.usage, chunked_prefill=self.chunked_prefill)


class ModelSpec(BaseModel):
    """One model to serve and its workload."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.\-]+$")  # \w: letters and digits of any script
    model: str | None = Field(default=None, min_length=1)
    hf_config: str | None = Field(default=None, min_length=1)
    precision: Precision | None = None  # default: a checkpoint's quantization_config, else bf16
    kv_cache_dtype: KVDtype = "auto"
    concurrency: int | None = Field(default=None, ge=1, le=CONCURRENCY_UPPER_BOUND)
    context_tokens: int | None = Field(default=None, ge=1, le=CONTEXT_UPPER_BOUND)
    request_rate_per_s: float | None = Field(default=None, gt=0, le=1_000_000)
    input_tokens: int | None = Field(default=None, ge=1, le=CONTEXT_UPPER_BOUND)
    output_tokens: int | None = Field(default=None, ge=1, le=CONTEXT_UPPER_BOUND)
    min_replicas: int = Field(default=1, ge=1, le=10_000)
    max_batched_tokens: int | None = Field(default=None, ge=16, le=1_048_576)
    tp: list[int] | None = None
    pp: list[int] | None = None
    slo: SLO | None = None
    profile: Any = None  # demand over time: checked by planner.inputs.profiles
    resilience: ResilienceIn | None = None  # overrides the fleet's resilience for this model
    engine: EngineIn | None = None  # where this model's engines differ from the scenario's `engine:`

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.model is None) == (self.hf_config is None):
            raise ValueError("give exactly one of 'model' (a library id) or 'hf_config' (a config.json path)")
        rate_form = self.request_rate_per_s is not None
        if rate_form:
            if self.concurrency is not None:
                raise ValueError("give either concurrency or request_rate_per_s, not both")
            if self.input_tokens is None or self.output_tokens is None:
                raise ValueError("request_rate_per_s needs input_tokens and output_tokens")
            if self.context_tokens is None:
                self.context_tokens = self.input_tokens + self.output_tokens
        else:
            if self.concurrency is None:
                raise ValueError("give concurrency (simultaneous sequences) or request_rate_per_s with input/output tokens")
            if self.context_tokens is None:
                self.context_tokens = 4096
        for name, vals in (("tp", self.tp), ("pp", self.pp)):
            if vals is not None and (not vals or any(v < 1 or v > 64 for v in vals)):
                raise ValueError(f"{name} must be a non-empty list of integers from 1 to 64")
        return self


_OWNED = Owned()


class OwnedIn(BaseModel):
    """How owned hardware is priced: purchase amortized over months, power with PUE, hosting per GPU."""

    model_config = ConfigDict(extra="forbid", strict=True)
    amortization_months: int = Field(default=_OWNED.amortization_months, ge=1, le=240)
    usd_per_kwh: float = Field(default=_OWNED.usd_per_kwh, ge=0, le=10)
    pue: float = Field(default=_OWNED.pue, ge=1, le=5)
    hosting_usd_per_gpu_month: float = Field(default=_OWNED.hosting_usd_per_gpu_month, ge=0, le=100_000)
    utilization_of_tdp: float = Field(default=_OWNED.utilization_of_tdp, gt=0, le=1.5)


class Sharing(BaseModel):
    """Several small replicas (each its own engine) may share one GPU."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = True
    max_engines_per_device: int = Field(default=3, ge=2, le=8)


class Solver(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    time_limit_s: float = Field(default=60.0, gt=0, le=86_400)
    threads: int = Field(default=1, ge=1, le=64)


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    pricing: Pricing = "on_demand"
    gpus: list[str] | None = None
    providers: list[str] | None = None
    limits: dict[str, int] | None = None
    max_usd_per_hour: float | None = Field(default=None, gt=0, le=10_000_000)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=0.99)
    catalog: str | None = None
    calibration: str | None = None
    owned: OwnedIn = OwnedIn()
    sharing: Sharing = Sharing()
    solver: Solver = Solver()
    profile: Any = None  # the fleet's demand over time: checked by planner.inputs.profiles
    commitment: CommitmentIn | None = None  # committed, on-demand and spot capacity (planner.inputs.commitment)
    currency: Currency = "USD"  # the currency reports show money in (prices convert at the catalog's rates)
    lang: Lang = "en"  # the language of tables and reports
    # offers rated `confidence: low` (undated or second-hand prices) are left out unless the scenario opts in
    use_low_confidence_prices: bool = False
    offer_kinds: list[OfferKind] | None = None  # rent only offers of these kinds (default: every kind)
    max_gpu_types: int | None = Field(default=None, ge=1, le=1000)  # fleet-wide: at most this many GPU types
    max_providers: int | None = Field(default=None, ge=1, le=1000)  # fleet-wide: at most this many providers
    resilience: ResilienceIn | None = None  # for every model without its own
    engine: EngineIn | None = None  # how every model's engines start (a model's own `engine:` overrides fields)
    models: list[ModelSpec]


@dataclass(frozen=True)
class ModelReq:
    """A validated model of the fleet: its architecture and workload."""

    name: str
    arch: ModelArch
    precision: str
    kv_cache_dtype: str
    concurrency: int | None
    context_tokens: int
    request_rate_per_s: float | None
    input_tokens: int
    output_tokens: int
    min_replicas: int
    max_batched_tokens: int | None
    tp: tuple[int, ...] | None
    pp: tuple[int, ...] | None
    min_tokens_per_s: float | None
    max_ttft_ms: float | None
    survive: str = "none"  # none | replica | instance | provider: the failure domain it must survive losing one of
    keep: float = 1.0  # the share of its target it still serves then
    engine: EngineProfile = DEFAULT_PROFILE  # how its engines start; max_batched_tokens above is the same figure

    def kept_units(self, target_units: int) -> int:
        """Units the model must still serve with one failure domain lost: ceil(keep x target) (0 with survive none)."""
        if self.survive == "none":
            return 0
        return math.ceil(round(self.keep * target_units, 9))


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    pricing: str
    catalog: Catalog
    gpu_ids: tuple[str, ...]
    providers: tuple[str, ...] | None
    limits: dict[str, int]
    max_usd_per_hour: float | None
    gpu_memory_utilization: float
    owned: Owned
    sharing: Sharing
    solver: Solver
    models: tuple[ModelReq, ...]
    calibration_path: str | None = None
    source: str = ""
    profile: DemandProfile | None = None  # hourly demand multipliers: plan an hourly schedule (planner.solve.schedule)
    commitment: Commitment | None = None
    currency: str = "USD"
    lang: str = "en"
    offer_kinds: tuple[str, ...] | None = None  # None: every kind
    max_gpu_types: int | None = None
    max_providers: int | None = None

    @property
    def resilient(self) -> bool:
        return any(m.survive != "none" for m in self.models)


def default_scenario_path() -> Path:
    return DATA_DIR / "default_scenario.yaml"


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario file. Raises InputError with file, line, field and a fix."""
    p = Path(path)
    data, lines = load_yaml(p, "scenario file")
    return scenario_from_dict(data, lines, str(p), base_dir=p.parent)


class Where:
    """``where(*field_path)`` -> ``"file:line: field.path"`` for error messages; ``where.line(*field_path)`` -> ``"line N"``."""

    def __init__(self, lines: dict, name: str) -> None:
        self.lines, self.name = lines, name

    def __call__(self, *path: Any) -> str:
        ln = line_of(self.lines, path)
        return f"{self.name}:{ln}: {field_path(path)}" if ln else f"{self.name}: {field_path(path)}"

    def line(self, *path: Any) -> str:
        ln = self.lines.get(tuple(path))
        return f"line {ln}" if ln else "given"


def scenario_from_dict(data: Any, lines: dict | None = None, name: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a parsed scenario and resolve its catalog, GPUs, limits, providers, models and calibration file."""
    lines = lines or {}
    base_dir = base_dir or Path(".")
    _check_top_level(data, lines, name)
    s = validate(ScenarioIn, data, lines, name)
    where = _where(lines, name)
    if not s.models:
        raise InputError(f"{where('models')}: the fleet is empty; list at least one model")
    catalog = load_catalog(_catalog_path(s, base_dir, where))
    gpu_ids = _gpu_ids(s, catalog, where)
    limits = _limits(s, catalog, where)
    providers = _providers(s, catalog, where)
    if not s.use_low_confidence_prices:
        catalog = catalog.without_low_confidence_offers()
    kinds = _offer_kinds(s, catalog, where)
    if kinds is not None:
        catalog = catalog.only_kinds(kinds)
    cal = _calibration_path(s, base_dir, where)
    reqs = _model_reqs(s, base_dir, where, _base_engine(s, cal))
    profile = resolve_profiles(s.profile, [(m.name, m.profile) for m in s.models], lines, name, base_dir)
    commitment = resolve_commitment(s.commitment, catalog, where("commitment")) if profile or s.commitment else None
    if profile or commitment:
        _check_hourly_supports(s, where)
    return Scenario(
        name=s.name, description=s.description or "", pricing=s.pricing, catalog=catalog, gpu_ids=gpu_ids,
        providers=providers, limits=limits, max_usd_per_hour=s.max_usd_per_hour,
        gpu_memory_utilization=s.gpu_memory_utilization, owned=Owned(**s.owned.model_dump()), sharing=s.sharing, solver=s.solver,
        models=reqs, calibration_path=cal, source=name, currency=s.currency, lang=s.lang, profile=profile,
        commitment=commitment, offer_kinds=kinds, max_gpu_types=s.max_gpu_types, max_providers=s.max_providers,
    )


def _base_engine(s: ScenarioIn, calibration: str | None) -> EngineProfile:
    """The scenario's `engine:` block over vLLM's defaults, with the memory terms its calibration file fitted on the
    user's vLLM logs (`planner calibrate --vllm-log`)."""
    from planner.inputs.calibration_file import load_memory_fits

    eng = s.engine.over(DEFAULT_PROFILE) if s.engine else DEFAULT_PROFILE
    fits = load_memory_fits(calibration) if calibration else ()
    return replace(eng, memory_fits=fits) if fits else eng


def _check_top_level(data: Any, lines: dict, name: str) -> None:
    if data is None:
        raise InputError(f"{name}: empty scenario file; it needs at least name and models")
    if not isinstance(data, dict):
        raise InputError(f"{name}:{line_of(lines, ()) or 1}: expected a mapping with name, models, ..., got {type(data).__name__}")


def _where(lines: dict, name: str) -> Where:
    return Where(lines, name)


def _relative_to(base_dir: Path, path: str) -> Path:
    """A path from the scenario file: absolute as given, else relative to the file's folder."""
    return Path(path) if Path(path).is_absolute() else base_dir / path


def _catalog_path(s: ScenarioIn, base_dir: Path, where: Where) -> Path | None:
    if not s.catalog:
        return None
    cat_path = _relative_to(base_dir, s.catalog)
    if not cat_path.exists():
        raise InputError(f"{where('catalog')}: no such catalog file or folder '{cut(s.catalog)}'")
    return cat_path


def _gpu_ids(s: ScenarioIn, catalog: Catalog, where: Where) -> tuple[str, ...]:
    ids = catalog.ids()
    if s.gpus is None:
        return tuple(ids)
    if not s.gpus:
        raise InputError(f"{where('gpus')}: empty list; omit 'gpus' to use the whole catalog")
    for i, g in enumerate(s.gpus):
        if g not in catalog.gpus:
            raise InputError(f"{where('gpus', i)}: unknown GPU '{cut(g)}'{did_you_mean(g, ids)}; `planner catalog` lists the ids")
    return tuple(dict.fromkeys(s.gpus))


def _limits(s: ScenarioIn, catalog: Catalog, where: Where) -> dict[str, int]:
    ids = catalog.ids()
    offer_ids = {o.id for g in catalog.gpus.values() for o in g.offers}
    limits = dict(s.limits or {})
    for k, v in limits.items():
        if k not in catalog.gpus and k not in offer_ids:
            raise InputError(
                f"{where('limits', k)}: unknown GPU or offer '{cut(k)}'{did_you_mean(k, ids + sorted(offer_ids))}; "
                "keys are GPU ids or offer ids (provider:instance)"
            )
        if v < 0:
            raise InputError(f"{where('limits', k)}: {v} is out of range; allowed: >= 0")
    return limits


def _providers(s: ScenarioIn, catalog: Catalog, where: Where) -> tuple[str, ...] | None:
    """Providers to rent from. ``providers: []`` (nothing to rent) and ``providers`` with ``pricing: owned`` (owned
    hardware is bought, not rented, so the list would be ignored) are errors, not silent choices."""
    if s.providers is None:
        return None
    if not s.providers:
        raise InputError(f"{where('providers')}: empty list; omit 'providers' to rent from every provider in the catalog")
    if s.pricing == "owned":
        raise InputError(
            f"{where('providers')}: providers apply to rented GPUs, but pricing is owned (bought hardware, no provider); "
            "allowed: remove providers, or use pricing on_demand or spot"
        )
    known = sorted({o.provider for g in catalog.gpus.values() for o in g.offers})
    for i, pv in enumerate(s.providers):
        if pv not in known:
            raise InputError(f"{where('providers', i)}: unknown provider '{cut(pv)}'{did_you_mean(pv, known)}; known: {', '.join(known)}")
    return tuple(s.providers)


def _check_hourly_supports(s: ScenarioIn, where: Where) -> None:
    """The hourly program (profile / commitment, ``planner.solve.schedule``) has no simplicity or resilience
    constraints yet: asking for them there is an error, not a silently weaker plan."""
    asked = [k for k in ("max_gpu_types", "max_providers", "resilience") if getattr(s, k) is not None]
    asked += [f"models[{i}].resilience" for i, m in enumerate(s.models) if m.resilience is not None][:1]
    if asked:
        key = asked[0].split(".")[0] if asked[0].startswith("models") else asked[0]
        at = where(key) if not key.startswith("models") else where("models", int(key[7:-1]), "resilience")
        raise InputError(f"{at}: not supported with a demand profile or commitment (the hourly plan has no "
                         f"{'resilience' if 'resilience' in asked[0] else 'simplicity'} constraints yet); allowed: "
                         "remove it, or remove profile and commitment")


def _offer_kinds(s: ScenarioIn, catalog: Catalog, where: Where) -> tuple[str, ...] | None:
    """Offer kinds to rent. Owned pricing needs ``owned`` among them; rented pricing needs an offer of a listed kind."""
    if s.offer_kinds is None:
        return None
    if not s.offer_kinds:
        raise InputError(f"{where('offer_kinds')}: empty list; allowed: one or more of {', '.join(OFFER_KINDS)}, or omit "
                         "offer_kinds to use every kind")
    kinds = tuple(dict.fromkeys(s.offer_kinds))
    if s.pricing == "owned" and "owned" not in kinds:
        raise InputError(f"{where('offer_kinds')}: pricing is owned, but 'owned' is not listed; allowed: add owned, or "
                         "use pricing on_demand or spot")
    if s.pricing != "owned" and not any(o.kind in kinds for g in catalog.gpus.values() for o in g.offers):
        raise InputError(f"{where('offer_kinds')}: no offer of the catalog is of kind {', '.join(kinds)}; allowed: "
                         f"{', '.join(sorted({o.kind for g in catalog.gpus.values() for o in g.offers}))}")
    return kinds


def _model_reqs(s: ScenarioIn, base_dir: Path, where: Where, engine: EngineProfile) -> tuple[ModelReq, ...]:
    seen: dict[str, int] = {}
    reqs = []
    for i, m in enumerate(s.models):
        if m.name in seen:
            raise InputError(f"{where('models', i, 'name')}: duplicate model name '{m.name}' (also models[{seen[m.name]}])")
        seen[m.name] = i
        req = _model_req(m, i, base_dir, where, engine)
        res = m.resilience or s.resilience
        reqs.append(req if res is None else replace(req, survive=res.survive, keep=res.keep))
    return tuple(reqs)


def _model_arch(m: ModelSpec, i: int, base_dir: Path, where: Where) -> ModelArch:
    """The architecture a model entry names: a library id, or a config.json path."""
    if m.model is not None:
        if resolve_model_id(m.model) is None:
            raise InputError(f"{where('models', i, 'model')}: {unknown_model_message(m.model)}")
        return get_model(m.model)
    assert m.hf_config is not None  # ModelSpec._one_source: exactly one of model and hf_config
    try:
        arch = load_hf_model(_relative_to(base_dir, m.hf_config), model_id=m.name)
        check_checkpoint_size(arch)
        return arch
    except InputError as exc:
        raise InputError(f"{where('models', i, 'hf_config')}: {exc.message}") from None


def _model_req(m: ModelSpec, i: int, base_dir: Path, where: Where, engine: EngineProfile) -> ModelReq:
    from planner.estimate.memory import default_precision

    arch = _model_arch(m, i, base_dir, where)
    ctx = int(m.context_tokens or 4096)
    if ctx > arch.max_context:
        raise InputError(
            f"{where('models', i, 'context_tokens')}: {ctx} exceeds {arch.id}'s maximum context of {arch.max_context} tokens"
        )
    _check_tp(m, i, arch, where)
    inp, out = _token_split(m, i, ctx, where)
    eng = _model_engine(m, i, engine, ctx, where)
    return ModelReq(
        name=m.name, arch=arch, precision=m.precision or default_precision(arch), kv_cache_dtype=m.kv_cache_dtype, concurrency=m.concurrency,
        context_tokens=ctx, request_rate_per_s=m.request_rate_per_s, input_tokens=inp, output_tokens=out,
        min_replicas=m.min_replicas, max_batched_tokens=eng.max_num_batched_tokens,
        tp=tuple(m.tp) if m.tp else None, pp=tuple(m.pp) if m.pp else None,
        min_tokens_per_s=m.slo.min_tokens_per_s if m.slo else None,
        max_ttft_ms=m.slo.max_ttft_ms if m.slo else None, engine=eng,
    )


def _model_engine(m: ModelSpec, i: int, engine: EngineProfile, ctx: int, where: Where) -> EngineProfile:
    """The model's engine profile: the scenario's, its own `engine:` fields over it, and its `max_batched_tokens`
    (the older spelling) over both. vLLM refuses max_num_batched_tokens below max_model_len when prefill is not
    chunked (V0 without chunked prefill; SchedulerConfig._verify_args)."""
    from planner.estimate.engine import chunked_prefill_on

    eng = m.engine.over(engine) if m.engine else engine
    eng = eng.with_overrides(max_num_batched_tokens=m.max_batched_tokens)
    t = eng.max_num_batched_tokens
    if t is not None and t < ctx and not chunked_prefill_on(eng, ctx):
        field = ("models", i, "max_batched_tokens") if m.max_batched_tokens else (
            ("models", i, "engine", "max_batched_tokens") if m.engine and m.engine.max_batched_tokens
            else ("engine", "max_batched_tokens"))
        raise InputError(f"{where(*field)}: {t} is below models[{i}].context_tokens {ctx}, which vLLM {eng.version} "
                         "refuses without chunked prefill; allowed: >= the context, or chunked_prefill: on")
    return eng


def _check_tp(m: ModelSpec, i: int, arch: ModelArch, where: Where) -> None:
    """TP sizes are powers of two (the packing constraint is exact only for them) that divide the attention heads."""
    for j, v in enumerate(m.tp or ()):
        if v not in TP_SIZES:
            raise InputError(
                f"{where('models', i, 'tp', j)}: TP={v} is not a power of two; allowed: {', '.join(map(str, TP_SIZES))}"
            )
        if arch.num_heads % v:
            raise InputError(
                f"{where('models', i, 'tp', j)}: TP={v} does not divide {arch.id}'s {arch.num_heads} attention heads"
            )


def _token_split(m: ModelSpec, i: int, ctx: int, where: Where) -> tuple[int, int]:
    """(input, output) tokens per sequence; they must fit in ``context_tokens`` (the KV cache is sized for it)."""
    inp = m.input_tokens or max(1, ctx // 2)
    out = m.output_tokens or max(1, ctx - inp)
    if inp + out > ctx and (m.input_tokens is not None or m.output_tokens is not None):
        parts = [f"input_tokens {inp} ({where.line('models', i, 'input_tokens')})" if m.input_tokens is not None
                 else f"{inp} input tokens",
                 f"output_tokens {out} ({where.line('models', i, 'output_tokens')})" if m.output_tokens is not None
                 else f"{out} output token{'s' if out > 1 else ''}"]
        raise InputError(
            f"{where('models', i, 'context_tokens')}: {ctx} is below {' + '.join(parts)} = {inp + out}; "
            f"allowed: context_tokens >= {inp + out}, or fewer input or output tokens"
        )
    return inp, out


def _calibration_path(s: ScenarioIn, base_dir: Path, where: Where) -> str | None:
    if not s.calibration:
        return None
    cp = _relative_to(base_dir, s.calibration)
    if not cp.is_file():
        raise InputError(f"{where('calibration')}: no such calibration file '{cut(s.calibration)}'")
    return str(cp)


def with_engine_flags(s: Scenario, **flags: Any) -> Scenario:
    """The scenario with command-line engine flags (EngineProfile field names; None = not given) over every model's
    engine profile, the scenario's `engine:` blocks included. A flag value that breaks a rule is an InputError
    naming the flag (EngineProfile checks)."""
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return s
    from planner.estimate.engine import chunked_prefill_on

    models = []
    for m in s.models:
        eng = m.engine.with_overrides(**given)
        t = eng.max_num_batched_tokens
        if t is not None and t < m.context_tokens and not chunked_prefill_on(eng, m.context_tokens):
            raise InputError(f"--max-batched-tokens: {t} is below {m.name}'s context_tokens {m.context_tokens}, which "
                             f"vLLM {eng.version} refuses without chunked prefill; allowed: >= the context, or "
                             "--chunked-prefill on")
        models.append(replace(m, engine=eng, max_batched_tokens=eng.max_num_batched_tokens))
    return replace(s, models=tuple(models))

"""The priced GPU catalog: one YAML file per GPU type, shipped inside the package (``planner/gpu_catalog``).

Each figure names a source key; ``sources.yaml`` says what the source is and when it was observed (``as_of``).
A scenario may name its own catalog folder or file: its GPUs are added, and a GPU id that already exists is
overridden field by field. Its ``offers`` are added to the built-in ones; an offer with the id (``provider:instance``)
of a built-in offer replaces that one offer. ``purchase`` replaces the built-in purchase when given.

Prices keep the currency their source quotes (``usd_per_hour``, ``cny_per_hour``, ``eur_per_hour`` and their
``spot_`` forms); ``usd_per_hour`` of an ``Offer`` is the USD figure at the catalog's exchange rate
(``planner.inputs.currency``), which a user catalog folder may replace with its own ``fx.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from planner.errors import InputError, cut, did_you_mean
from planner.inputs.currency import FxRates, load_fx, shipped_fx
from planner.inputs.yaml_source import load_yaml
from planner.resources import PACKAGE_DIR
from planner.units import PRECISIONS

FORMATS = PRECISIONS  # the formats a GPU can list are the weight precisions


def builtin_catalog_dir() -> Path:
    """The catalog shipped in the wheel, or the repository's top-level ``gpu_catalog/`` in a source checkout."""
    here = PACKAGE_DIR
    for cand in (here / "gpu_catalog", here.parent / "gpu_catalog"):
        if (cand / "sources.yaml").is_file():
            return cand
    raise InputError("the built-in GPU catalog is missing from this installation (reinstall planner)")


# ---- records -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Offer:
    """A way to rent GPUs: an instance of ``gpus_per_instance`` GPUs at a price per hour.

    ``price_per_hour`` / ``spot_price_per_hour`` are the source's figures in ``currency``; ``usd_per_hour`` /
    ``spot_usd_per_hour`` the same at the catalog's exchange rate (what the solver adds up).
    """

    provider: str
    instance: str
    gpus_per_instance: int
    usd_per_hour: float | None
    spot_usd_per_hour: float | None
    region: str | None
    source: str
    as_of: str
    note: str | None = None
    reserved_1y_usd_per_hour: float | None = None  # effective hourly rate of a 1-year commitment (reserved_source)
    reserved_3y_usd_per_hour: float | None = None
    reserved_source: str | None = None
    reserved_as_of: str | None = None
    spot_interruption: str | None = None  # AWS Spot Advisor bucket, e.g. "5-10%" (spot_interruption_source)
    spot_interruption_source: str | None = None
    currency: str = "USD"
    price_per_hour: float | None = None
    spot_price_per_hour: float | None = None
    confidence: str | None = None  # high | medium | low (None: not rated)
    kind: str = "cloud"  # cloud | marketplace | owned (catalog_schema.OFFER_KINDS)
    max_instances: int | None = None  # instances one user can get (max_instances_source); None: unlimited
    max_instances_source: str | None = None
    fabric: dict[str, Any] | None = field(default=None, hash=False, compare=False)  # kind, gbit_s, placement_group, source

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.instance}"


@dataclass(frozen=True)
class Purchase:
    """Buying the card: price (in USD at the catalog's rate; ``price`` in ``currency`` as quoted) and power draw."""

    usd: float
    power_w: float
    source: str
    as_of: str
    note: str | None = None
    currency: str = "USD"
    price: float | None = None


@dataclass(frozen=True)
class GPU:
    """One GPU type. Memory in GiB as CUDA reports it (what vLLM multiplies by gpu_memory_utilization)."""

    id: str
    name: str
    vendor: str
    architecture: str
    family: str
    form_factor: str
    memory_marketed_gb: float
    memory_gib: float
    bandwidth_gb_s: float
    bf16_tflops: float | None
    fp16_tflops: float
    fp8_tflops: float | None
    int8_tops: float | None
    tdp_w: float
    interconnect: str
    interconnect_gb_s: float
    max_gpus_per_node: int
    mig_max_instances: int
    formats: tuple[str, ...]
    sources: dict[str, str] = field(hash=False, compare=False)
    as_of: str = ""
    notes: str = ""
    offers: tuple[Offer, ...] = ()
    purchase: Purchase | None = None

    @property
    def nvlink(self) -> bool:
        return self.interconnect.startswith("nvlink") or self.interconnect == "infinity-fabric"

    def peak_tflops(self, precision: str) -> float:
        """Dense tensor TFLOPS used for compute time: FP8 where native and asked, else 16-bit."""
        if precision == "fp8" and self.fp8_tflops:
            return self.fp8_tflops
        if precision == "int8" and self.int8_tops:
            return self.int8_tops
        return self.bf16_tflops or self.fp16_tflops


@dataclass(frozen=True)
class Catalog:
    gpus: dict[str, GPU]
    sources: dict[str, dict[str, str]]
    fx: FxRates = field(default_factory=shipped_fx)

    def get(self, gpu_id: str) -> GPU:
        if gpu_id not in self.gpus:
            raise InputError(f"unknown GPU '{cut(gpu_id)}'{did_you_mean(gpu_id, list(self.gpus))}; `planner catalog` lists the ids")
        return self.gpus[gpu_id]

    def without_low_confidence_offers(self) -> Catalog:
        """The catalog without offers whose price is rated ``confidence: low`` (undated or secondary sources)."""
        from dataclasses import replace

        gpus = {k: replace(g, offers=tuple(o for o in g.offers if o.confidence != "low")) for k, g in self.gpus.items()}
        return replace(self, gpus=gpus)

    def only_kinds(self, kinds: tuple[str, ...]) -> Catalog:
        """The catalog with only offers of the given kinds (cloud, marketplace, owned)."""
        from dataclasses import replace

        gpus = {k: replace(g, offers=tuple(o for o in g.offers if o.kind in kinds)) for k, g in self.gpus.items()}
        return replace(self, gpus=gpus)

    def source_text(self, key: str) -> str:
        s = self.sources.get(key)
        return f"{key}: {s['text']}" if s else key

    def ids(self) -> list[str]:
        return list(self.gpus)


COMMITMENT_FIELDS = ("reserved_1y_usd_per_hour", "reserved_3y_usd_per_hour", "reserved_source", "reserved_as_of",
                     "spot_interruption", "spot_interruption_source")

REQUIRED_FOR_NEW = ("name", "memory_gib", "bandwidth_gb_s", "fp16_tflops", "tdp_w", "interconnect", "interconnect_gb_s",
                    "max_gpus_per_node", "formats")


@dataclass(frozen=True)
class _UserGPU:
    """One GPU mapping of a user's catalog file: its validated fields and where each was written."""

    fields: dict[str, Any]
    file: str
    lines: dict[Any, int]
    prefix: tuple[Any, ...]

    def where(self, *path: Any) -> str:
        """``file:line: field`` of a field of this GPU mapping."""
        from planner.inputs.yaml_source import field_path, line_of

        ln = line_of(self.lines, (*self.prefix, *path))
        return f"{self.file}:{ln}: {field_path(path)}" if ln else f"{self.file}: {field_path(path)}"


def _read_gpu_files(path: Path) -> list[_UserGPU]:
    """User catalog files, validated against the schema (pydantic is imported only here)."""
    from planner.inputs.catalog_schema import GPUIn
    from planner.inputs.input_errors import validate

    files = sorted(p for p in path.glob("*.yaml") if p.name not in ("sources.yaml", "fx.yaml")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise InputError(f"{path}: catalog folder has no .yaml files")
    out = []
    for f in files:
        data, lines = load_yaml(f, "catalog file")
        docs = data if isinstance(data, list) else [data]
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise InputError(f"{f}: expected a GPU mapping (id, memory_gib, offers, ...), got {type(doc).__name__}")
            prefix = (i,) if isinstance(data, list) else ()
            g = validate(GPUIn, doc, lines, str(f), prefix)
            out.append(_UserGPU(g.model_dump(exclude_none=False), str(f), lines, prefix))
    _check_unique(out)
    return out


def _check_unique(user: list[_UserGPU]) -> None:
    """A GPU id defined twice, or one offer id twice, is an error naming both places (never "the later wins")."""
    seen: dict[str, _UserGPU] = {}
    for u in user:
        gid = u.fields["id"]
        if gid in seen:
            raise InputError(f"{u.where('id')}: GPU '{gid}' is defined twice (also {seen[gid].where('id')}); "
                             "allowed: one definition per GPU id")
        seen[gid] = u
    offers: dict[str, str] = {}
    for u in user:
        for j, o in enumerate(u.fields.get("offers") or ()):
            oid = f"{o['provider']}:{o['instance']}"
            here = u.where("offers", j)
            if oid in offers:
                raise InputError(f"{here}: duplicate offer '{cut(oid)}' (also {offers[oid]}); "
                                 "allowed: one offer per provider:instance")
            offers[oid] = here


def _read_builtin_files(path: Path) -> list[tuple[dict[str, Any], str]]:
    """The shipped catalog, read without validation (tests validate every shipped file against the schema)."""
    import yaml

    from planner.inputs.yaml_source import SafeLoader as Loader
    out = []
    for f in sorted(p for p in path.glob("*.yaml") if p.name != "sources.yaml"):
        doc = yaml.load(f.read_text(encoding="utf-8"), Loader=Loader)
        doc["as_of"] = str(doc.get("as_of") or "")
        out.append((doc, str(f)))
    return out


def _to_offer(o: dict[str, Any], fx: FxRates, as_of: str) -> Offer:
    """An offer in the currency its source quotes, with its USD figures at the catalog's rate."""
    from planner.inputs.catalog_schema import PRICE_FIELDS

    if o.get("price_cny_per_hour") is not None and o.get("cny_per_hour") is None:
        o = dict(o, cny_per_hour=o["price_cny_per_hour"])
    cur = next((c for c, fs in PRICE_FIELDS.items() if any(o.get(f) is not None for f in fs)), "USD")
    od, spot = (o.get(f) for f in PRICE_FIELDS[cur])
    return Offer(provider=o["provider"], instance=o["instance"], gpus_per_instance=int(o["gpus_per_instance"]),
                 usd_per_hour=None if od is None else fx.to_usd(float(od), cur),
                 spot_usd_per_hour=None if spot is None else fx.to_usd(float(spot), cur), region=o.get("region"),
                 source=o["source"], as_of=as_of, note=o.get("note"), currency=cur,
                 price_per_hour=None if od is None else float(od), spot_price_per_hour=None if spot is None else float(spot),
                 confidence=o.get("confidence"), kind=o.get("kind") or "cloud", max_instances=o.get("max_instances"),
                 max_instances_source=o.get("max_instances_source"), fabric=o.get("fabric"),
                 **{k: o.get(k) for k in COMMITMENT_FIELDS})


def _layer_offers(base: tuple[Offer, ...], new: list[Offer]) -> tuple[Offer, ...]:
    """The built-in offers plus the user's: a user offer with a built-in offer's id replaces that one offer."""
    by_id = {o.id: o for o in base}
    for o in new:
        by_id[o.id] = o
    return tuple(by_id.values())


def _to_gpu(g: dict[str, Any], base: GPU | None, sources: dict[str, dict[str, str]], fname: str,
            fx: FxRates) -> GPU:
    gid = g["id"]

    def pick(name: str) -> Any:
        v = g.get(name)
        if v is None and base is not None:
            return getattr(base, name)
        return v

    if base is None:
        missing = [f for f in REQUIRED_FOR_NEW if g.get(f) is None]
        if missing:
            raise InputError(f"{fname}: GPU '{gid}' is not in the built-in catalog, so it needs: {', '.join(missing)}")

    def as_of(src: str, given: Any) -> str:
        if given:
            return str(given)
        if src in sources:
            return sources[src]["as_of"]
        raise InputError(f"{fname}: {gid}: source '{src}' has no as_of date and is not a known source key; add as_of")

    offers = _layer_offers(base.offers if base else (),
                           [_to_offer(o, fx, as_of(o["source"], o.get("as_of"))) for o in g.get("offers") or ()])
    purchase = base.purchase if base else None
    if g.get("purchase") is not None:
        p = g["purchase"]
        cur = next((c for c in ("usd", "cny", "eur") if p.get(c) is not None), "usd")
        purchase = Purchase(usd=fx.to_usd(float(p[cur]), cur.upper()), power_w=float(p["power_w"]), source=p["source"],
                            as_of=as_of(p["source"], p.get("as_of")), note=p.get("note"), currency=cur.upper(),
                            price=float(p[cur]))
    mgn = pick("max_gpus_per_node")
    return GPU(
        id=gid, name=pick("name"), vendor=pick("vendor") or "unknown", architecture=pick("architecture") or "unknown",
        family=pick("family") or "generic", form_factor=pick("form_factor") or "unknown",
        memory_marketed_gb=pick("memory_marketed_gb") or pick("memory_gib"), memory_gib=float(pick("memory_gib")),
        bandwidth_gb_s=float(pick("bandwidth_gb_s")), bf16_tflops=pick("bf16_tflops"), fp16_tflops=float(pick("fp16_tflops")),
        fp8_tflops=pick("fp8_tflops"), int8_tops=pick("int8_tops"), tdp_w=float(pick("tdp_w")),
        interconnect=pick("interconnect"), interconnect_gb_s=float(pick("interconnect_gb_s")), max_gpus_per_node=int(mgn),
        mig_max_instances=int(pick("mig_max_instances") or 0), formats=tuple(pick("formats")),
        sources=dict(base.sources if base else {}, **(g.get("sources") or {})), as_of=str(pick("as_of") or ""),
        notes=pick("notes") or "", offers=offers, purchase=purchase,
    )


@lru_cache(maxsize=1)
def _builtin() -> Catalog:
    d = builtin_catalog_dir()
    data, _ = load_yaml(d / "sources.yaml", "catalog sources")
    sources = {k: {"text": str(v["text"]), "as_of": str(v["as_of"])} for k, v in data.items()}
    gpus = {}
    fx = shipped_fx()
    for g, fname in _read_builtin_files(d):
        gpus[g["id"]] = _to_gpu(g, None, sources, fname, fx)
    return Catalog(gpus=gpus, sources=sources, fx=fx)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The built-in catalog, extended or overridden by a user catalog folder or file when ``path`` is given."""
    base = _builtin()
    if path is None:
        return base
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such catalog file or folder")
    sources = dict(base.sources)
    if p.is_dir() and (p / "sources.yaml").is_file():
        data, _ = load_yaml(p / "sources.yaml", "catalog sources")
        if not isinstance(data, dict):
            raise InputError(f"{p / 'sources.yaml'}: expected a mapping of source key to {{text, as_of}}")
        for k, v in data.items():
            if not isinstance(v, dict) or "as_of" not in v:
                raise InputError(f"{p / 'sources.yaml'}: source '{k}' needs text and as_of")
            sources[str(k)] = {"text": str(v.get("text", "")), "as_of": str(v["as_of"])}
    fx = base.fx
    if p.is_dir() and (p / "fx.yaml").is_file():
        fx = load_fx(p / "fx.yaml")
    builtin = base.gpus if fx == base.fx else {k: _reprice(g, fx) for k, g in base.gpus.items()}
    gpus = dict(builtin)
    user = _read_gpu_files(p)
    for u in user:
        gid = u.fields["id"]
        gpus[gid] = _to_gpu(u.fields, builtin.get(gid), sources, u.file, fx)
    _check_offers_unique(gpus, {u.fields["id"]: u for u in user})
    return Catalog(gpus=gpus, sources=sources, fx=fx)


def _reprice(g: GPU, fx: FxRates) -> GPU:
    """A built-in GPU with its non-USD prices converted at the user's rates."""
    from dataclasses import replace

    def conv(x: float | None, cur: str) -> float | None:
        return None if x is None else fx.to_usd(x, cur)

    offers = tuple(replace(o, usd_per_hour=conv(o.price_per_hour, o.currency),
                           spot_usd_per_hour=conv(o.spot_price_per_hour, o.currency))
                   if o.currency != "USD" else o for o in g.offers)
    purchase = g.purchase
    if purchase is not None and purchase.currency != "USD" and purchase.price is not None:
        purchase = replace(purchase, usd=fx.to_usd(purchase.price, purchase.currency))
    return replace(g, offers=offers, purchase=purchase)


def _check_offers_unique(gpus: dict[str, GPU], user: dict[str, _UserGPU]) -> None:
    """An offer id (provider:instance) names one machine: a user's offer must not repeat one of another GPU type."""
    owner: dict[str, str] = {}
    for gid, g in gpus.items():
        for o in g.offers:
            prev = owner.setdefault(o.id, gid)
            if prev == gid:
                continue
            mine, other = (gid, prev) if gid in user else (prev, gid)
            if mine not in user:
                continue  # two built-in GPUs: tests/test_catalog.py keeps the shipped catalog free of this
            u = user[mine]
            j = next(k for k, x in enumerate(u.fields.get("offers") or ()) if f"{x['provider']}:{x['instance']}" == o.id)
            raise InputError(f"{u.where('offers', j)}: offer '{cut(o.id)}' is also an offer of GPU '{other}'; "
                             "allowed: one GPU type per provider:instance (rename the instance)")

"""The priced GPU catalog: required ids, sources and dates on every figure, schema validity, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from planner.errors import InputError
from planner.inputs.catalog import builtin_catalog_dir, load_catalog
from planner.inputs.catalog_schema import GPUIn
from planner.inputs.input_errors import validate
from planner.inputs.yaml_source import load_yaml

REQUIRED = ["t4", "a10", "a10g", "l4", "l40s", "rtx-3060", "rtx-4060", "rtx-4060-ti", "rtx-3090", "rtx-4090", "rtx-5090",
            "a100-40gb-sxm", "a100-40gb-pcie", "a100-80gb-sxm", "a100-80gb-pcie", "h100-sxm", "h100-pcie", "h100-nvl",
            "h200", "b200", "mi300x"]
CHINA = ["a800-80gb", "h800", "h20", "l20", "rtx-4090d"]
SPEC_FIELDS = ["memory_gib", "memory_marketed_gb", "bandwidth_gb_s", "fp16_tflops", "tdp_w", "interconnect_gb_s",
               "max_gpus_per_node", "mig_max_instances"]


def test_every_required_gpu_is_priced_with_source_and_date():
    cat = load_catalog()
    for gid in REQUIRED:
        g = cat.get(gid)
        prices = [o for o in g.offers if o.usd_per_hour is not None] + ([g.purchase] if g.purchase else [])
        assert prices, f"{gid} has no price"
        for p in prices:
            assert p.source and p.as_of, f"{gid}: price without source/as_of"
    for gid in CHINA:
        assert gid in cat.gpus


def test_every_spec_figure_names_a_known_source():
    cat = load_catalog()
    for g in cat.gpus.values():
        for f in SPEC_FIELDS:
            assert f in g.sources, f"{g.id}.{f} has no source"
            assert g.sources[f] in cat.sources, f"{g.id}.{f}: unknown source key {g.sources[f]}"
        for f in ("bf16_tflops", "fp8_tflops", "int8_tops"):
            if getattr(g, f) is not None:
                assert f in g.sources, f"{g.id}.{f} has no source"
        for o in g.offers:
            assert o.source in cat.sources
        assert cat.sources[g.sources["memory_gib"]]["as_of"]


def test_shipped_files_validate_against_the_user_schema():
    d = builtin_catalog_dir()
    files = sorted(p for p in d.glob("*.yaml") if p.name != "sources.yaml")
    assert len(files) >= 26
    for f in files:
        data, lines = load_yaml(f)
        validate(GPUIn, data, lines, str(f))


def test_memory_is_cuda_visible_and_below_marketed():
    # CUDA-visible GiB is what vLLM multiplies by gpu_memory_utilization: never above the marketed size
    # (H100: 80 GB marketed, 79.22 GiB in vLLM PR #10511's log)
    cat = load_catalog()
    for g in cat.gpus.values():
        assert 0.85 * g.memory_marketed_gb * 1e9 / 2**30 < g.memory_gib <= g.memory_marketed_gb * 1.0000001 + 0.01 or \
            g.memory_gib <= g.memory_marketed_gb, g.id
    assert cat.get("h100-sxm").memory_gib == pytest.approx(79.22)


def test_fp8_needs_ada_or_newer():
    cat = load_catalog()
    for g in cat.gpus.values():
        if g.architecture in ("ampere", "turing"):
            assert "fp8" not in g.formats, g.id
        if g.architecture in ("ada", "hopper", "blackwell"):
            assert "fp8" in g.formats, g.id


def test_catalog_json_from_another_directory_after_install(tmp_path):
    """`planner catalog --format json` works from any directory (the catalog ships inside the package)."""
    proc = subprocess.run([sys.executable, "-m", "planner", "catalog", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    ids = {g["id"] for g in data}
    assert set(REQUIRED) <= ids
    for g in data:
        for key in ("id", "name", "memory_gib", "bandwidth_gb_s", "bf16_tflops", "offers"):
            assert key in g
        for o in g["offers"]:
            for key in ("provider", "instance", "gpus_per_instance", "usd_per_hour", "as_of", "source"):
                assert key in o
        if "purchase" in g:
            for key in ("usd", "power_w", "as_of", "source"):
                assert key in g["purchase"]
        if g["id"] in REQUIRED:
            assert g["offers"] or "purchase" in g


def test_user_catalog_overrides_a_price_and_adds_a_gpu(tmp_path):
    (tmp_path / "a10.yaml").write_text(
        "id: a10\noffers:\n  - {provider: mycloud, instance: a10-box, gpus_per_instance: 1, usd_per_hour: 0.33, source: quote-2026, as_of: '2026-11-01'}\n")
    (tmp_path / "h20.yaml").write_text(
        "id: h20\noffers:\n  - {provider: cn-cloud, instance: h20x8, gpus_per_instance: 8, usd_per_hour: 12.5, source: my-quote, as_of: '2026-10-01'}\n")
    cat = load_catalog(tmp_path)
    builtin = load_catalog()
    # a user's offers are added to the built-in ones
    assert [o.id for o in cat.get("a10").offers] == [o.id for o in builtin.get("a10").offers] + ["mycloud:a10-box"]
    assert cat.get("a10").offers[-1].usd_per_hour == 0.33
    assert cat.get("h20").offers[-1].gpus_per_instance == 8
    assert cat.get("a10").memory_gib == builtin.get("a10").memory_gib


def test_user_offer_with_a_builtin_id_replaces_that_one_offer(tmp_path):
    builtin = load_catalog().get("a10").offers
    first = builtin[0]
    (tmp_path / "a10.yaml").write_text(
        f"id: a10\noffers:\n  - {{provider: {first.provider}, instance: '{first.instance}', gpus_per_instance: 1, "
        "usd_per_hour: 0.01, source: my-quote, as_of: '2026-11-01'}\n")
    offers = load_catalog(tmp_path).get("a10").offers
    assert [o.id for o in offers] == [o.id for o in builtin]
    assert offers[0].usd_per_hour == 0.01 and offers[1:] == builtin[1:]


def test_price_in_cny_is_kept_and_converted_at_the_shipped_rate(tmp_path):
    from planner.inputs.currency import shipped_fx

    (tmp_path / "h20.yaml").write_text(
        "id: h20\noffers:\n  - {provider: cn-cloud, instance: h20x8, gpus_per_instance: 8, price_cny_per_hour: 84.0, "
        "spot_cny_per_hour: 50.0, source: my-quote, as_of: '2026-10-01', confidence: low}\n")
    o = load_catalog(tmp_path).get("h20").offers[-1]
    rate = shipped_fx().rate("CNY")
    assert rate is not None and rate.pair == "USD/CNY"
    assert (o.currency, o.price_per_hour, o.spot_price_per_hour, o.confidence) == ("CNY", 84.0, 50.0, "low")
    assert o.usd_per_hour == pytest.approx(84.0 / rate.value) and o.spot_usd_per_hour == pytest.approx(50.0 / rate.value)


def test_an_offer_priced_in_two_currencies_is_refused(tmp_path):
    (tmp_path / "h20.yaml").write_text(
        "id: h20\noffers:\n  - {provider: c, instance: x, gpus_per_instance: 1, usd_per_hour: 1.0, cny_per_hour: 7.0, "
        "source: q, as_of: '2026-10-01'}\n")
    with pytest.raises(InputError, match="one currency"):
        load_catalog(tmp_path)


def test_a_user_fx_file_replaces_the_shipped_rate(tmp_path):
    (tmp_path / "fx.yaml").write_text("rates:\n  - {pair: USD/CNY, value: 8.0, as_of: '2026-11-30', source: my-bank}\n")
    (tmp_path / "h20.yaml").write_text(
        "id: h20\noffers:\n  - {provider: c, instance: x, gpus_per_instance: 1, cny_per_hour: 8.0, source: q, as_of: '2026-10-01'}\n")
    cat = load_catalog(tmp_path)
    assert cat.get("h20").offers[-1].usd_per_hour == 1.0
    autodl = next(o for o in cat.get("l20").offers if o.provider == "autodl")  # built-in CNY offers follow the rate
    assert autodl.usd_per_hour == pytest.approx(autodl.price_per_hour / 8.0)

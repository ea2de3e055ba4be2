"""Money for the people who sign: currency conversion to the cent, CNY catalogs plan like USD ones, every total in
the report (shopping list, per GPU type, per model, rent vs own, the XLSX totals row) equals plan.json's, and labels in
any script survive."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.candidates.deployments import build_candidates
from planner.inputs.currency import cents, shipped_fx
from planner.inputs.scenario import load_scenario, scenario_from_dict
from planner.pipeline import plan
from planner.report.writer import write_report

ROOT = Path(__file__).resolve().parents[1]


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("10000000"), places=2), st.sampled_from(["CNY", "EUR"]))
def test_conversion_round_trips_to_the_cent(amount, currency):
    fx = shipped_fx()
    assert cents(fx.from_usd(fx.to_usd(float(amount), currency), currency)) == amount
    assert cents(fx.to_usd(fx.from_usd(float(amount), currency), currency)) == amount


def test_shipped_rates_state_source_and_date():
    fx = shipped_fx()
    cny, eur = fx.rate("CNY"), fx.rate("EUR")
    assert cny is not None and eur is not None
    assert (cny.pair, cny.value, cny.as_of) == ("USD/CNY", 6.7894, "2026-07-31")  # PBOC central parity
    assert (eur.pair, eur.value, eur.as_of) == ("EUR/USD", 1.1252, "2025-05-09")  # ECB reference rate
    assert fx.to_usd(6.7894, "CNY") == pytest.approx(1.0) and fx.to_usd(1.0, "EUR") == pytest.approx(1.1252)


def _catalog(folder: Path, field: str, prices: dict[str, float]) -> Path:
    folder.mkdir()
    offers = "\n".join(f"  - {{provider: mycloud, instance: '{n}x', gpus_per_instance: {n}, {field}: {p}, "
                       f"source: my-quote, as_of: '2026-11-01'}}" for n, p in prices.items())
    (folder / "rtx-4090.yaml").write_text(f"id: rtx-4090\noffers:\n{offers}\n")
    return folder


def _scenario(catalog: Path) -> dict:
    return {"name": "cny-vs-usd", "catalog": str(catalog), "providers": ["mycloud"], "gpus": ["rtx-4090"],
            "models": [{"name": "聊天模型", "model": "qwen2.5-7b", "precision": "bf16", "concurrency": 40,
                        "context_tokens": 4096}]}


def test_a_cny_catalog_plans_the_same_fleet_as_the_same_prices_in_usd(tmp_path):
    rate = shipped_fx().rate("CNY")
    assert rate is not None
    cny = {"1": 2.08, "2": 3.9, "4": 7.5}
    usd = {n: p / rate.value for n, p in cny.items()}
    s_cny = scenario_from_dict(_scenario(_catalog(tmp_path / "cny", "cny_per_hour", cny)))
    s_usd = scenario_from_dict(_scenario(_catalog(tmp_path / "usd", "usd_per_hour", usd)))
    p_cny, p_usd = plan(s_cny, baselines=False), plan(s_usd, baselines=False)
    assert [(i.offer, len(i.devices)) for i in p_cny.instances] == [(i.offer, len(i.devices)) for i in p_usd.instances]
    assert p_cny.cost_usd_per_hour == pytest.approx(p_usd.cost_usd_per_hour, abs=1e-9)
    for p, s, out in ((p_cny, s_cny, tmp_path / "r1"), (p_usd, s_usd, tmp_path / "r2")):
        write_report(p, s, build_candidates(s), out, currency="CNY")
    a, b = (json.loads((tmp_path / r / "plan.json").read_text())["costs"] for r in ("r1", "r2"))
    assert a["total_per_month"] == b["total_per_month"]
    hourly = sum(cny[str(len(i.devices))] for i in p_cny.instances)
    assert Decimal(str(a["total_per_hour"])) == Decimal(str(hourly)).quantize(Decimal("0.0001"))


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory):
    s = load_scenario(ROOT / "scenarios" / "chinese-model-fleet.yaml")
    cs = build_candidates(s)
    p = plan(s, candidates=cs)
    out = tmp_path_factory.mktemp("zh") / "r"
    write_report(p, s, cs, out, currency="CNY", lang="zh")
    return out, s, p


def _money(x) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.01"))


def test_every_total_in_the_report_equals_plan_json(zh_report):
    from planner.report.data import report_data

    out, s, p = zh_report
    costs = json.loads((out / "plan.json").read_text())["costs"]
    total = _money(costs["total_per_month"])
    assert sum(_money(x["subtotal_per_month"]) for x in costs["lines"]) == total
    d = report_data(p, s, build_candidates(s), "CNY", "zh")
    assert _money(d["summary"]["cost_per_month"]) == total
    assert sum(r["per_month"] for r in d["cost_by_gpu"]) == total
    assert sum(r["per_month"] for r in d["cost_by_model"]) == total
    assert sum(r[s.pricing] for r in d["rent_vs_own"]) == total  # the plan's own pricing: the plan's cost
    md = (out / "report.md").read_text()
    assert f"¥{total:,.2f}" in md and "6.7894" in md  # the total and the rate used are stated
    # USD at the stated rate, to within a cent per instance
    assert abs(float(total) - p.cost_usd_per_month * 6.7894) <= 0.01


def test_usd_report_total_is_plan_json_cost(tmp_path):
    from planner.inputs.scenario import default_scenario_path

    s = load_scenario(default_scenario_path())
    cs = build_candidates(s)
    write_report(plan(s, candidates=cs, baselines=False), s, cs, tmp_path / "r")
    pj = json.loads((tmp_path / "r" / "plan.json").read_text())
    assert pj["costs"]["currency"] == "USD" and pj["costs"]["fx"] is None
    assert pj["costs"]["total_per_month"] == pj["cost_usd_per_month"]


def test_rent_vs_own_prices_the_plans_own_instances():
    """Regression: rent vs own priced H200 spot as 11 x the cheapest per-GPU price (fractions of an 8-GPU
    instance, $24,381/month) while the plan paid $25,594 for the whole instances it rents."""
    from planner.report.data import report_data

    s = scenario_from_dict({"name": "h200-spot", "pricing": "spot", "gpus": ["h200"], "providers": ["aws", "runpod"],
                            "models": [{"name": "big", "model": "qwen2.5-72b", "precision": "bf16", "concurrency": 300,
                                        "context_tokens": 8192}]})
    cs = build_candidates(s)
    p = plan(s, candidates=cs, baselines=False)
    d = report_data(p, s, cs)
    row = d["rent_vs_own"][0]
    assert row["spot"] == d["cost_by_gpu"][0]["per_month"] == d["summary"]["cost_per_month"]
    assert _money(p.cost_usd_per_month) == row["spot"]


def test_xlsx_reads_back_with_formats_frozen_headers_and_totals(zh_report):
    import openpyxl

    out, _, _ = zh_report
    costs = json.loads((out / "plan.json").read_text())["costs"]
    wb = openpyxl.load_workbook(out / "report.xlsx")
    assert wb.sheetnames[:3] == ["采购清单", "各模型成本", "摘要"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert all(ws.column_dimensions[c].width >= 8 for c in "AB"), ws.title
    ws = wb["采购清单"]
    heads = [c.value for c in ws[1]]
    col = heads.index("小计/月（CNY）") + 1
    letter = openpyxl.utils.get_column_letter(col)
    n = len(costs["lines"])
    total_cell = ws.cell(row=n + 2, column=col)
    assert total_cell.value == f"=SUM({letter}2:{letter}{n + 1})"
    assert total_cell.number_format == '"¥"#,##0.00'
    cells = [ws.cell(row=r, column=col).value for r in range(2, n + 2)]
    assert _money(sum(Decimal(str(v)) for v in cells)) == _money(costs["total_per_month"])
    assert ws.cell(row=2, column=heads.index("单价/小时（CNY）") + 1).number_format == '"¥"#,##0.00##'
    share = wb["各模型成本"]
    assert share.cell(row=2, column=[c.value for c in share[1]].index("占比") + 1).number_format == "0.0%"
    dev = wb["显存"]
    assert dev.cell(row=2, column=[c.value for c in dev[1]].index("已用 GiB") + 1).number_format == "#,##0.00"


def test_chinese_labels_are_kept_everywhere(zh_report, tmp_path, run_cli):
    out, _, _ = zh_report
    assert "摘要" in (out / "report.md").read_text() and "采购清单" in (out / "report.html").read_text()
    path = tmp_path / "s.yaml"
    path.write_text("name: 中文机群\nmodels:\n  - {name: 聊天模型, model: qwen2.5-7b, precision: int4, concurrency: 8, "
                    "context_tokens: 4096}\n", encoding="utf-8")
    code, stdout, _ = run_cli("plan", path, "--format", "json", "--no-baselines", "-q")
    assert code == 0
    data = json.loads(stdout)
    assert data["scenario"] == "中文机群" and data["models"][0]["name"] == "聊天模型"


def test_safe_file_names_keep_letters_of_any_script():
    from planner.report.names import safe_file_name

    assert safe_file_name("聊天模型") == "聊天模型"
    assert safe_file_name("../../etc/passwd") == "etc-passwd"
    assert safe_file_name("my chat model!") == "my-chat-model"
    assert safe_file_name("...") == "scenario"


def test_request_rates_are_shown_in_requests_per_second(tmp_path):
    s = load_scenario(ROOT / "scenarios" / "chat-fleet.yaml")
    cs = build_candidates(s)
    write_report(plan(s, candidates=cs, baselines=False), s, cs, tmp_path / "r")
    for f in ("report.md", "report.html", "deployments.csv"):
        text = (tmp_path / "r" / f).read_text()
        assert "milli_requests" not in text and "milli-requests" not in text, f
    assert "requests/s" in (tmp_path / "r" / "report.md").read_text()


def test_infeasibility_is_explained_in_the_asked_language(tmp_path, run_cli):
    from planner.report.explain_text import explanation_lines
    from planner.solve import explain

    path = tmp_path / "s.yaml"
    path.write_text("name: t\nmax_usd_per_hour: 0.01\nmodels:\n  - {name: 聊天模型, model: llama-3.1-8b, concurrency: 64, "
                    "context_tokens: 4096}\n", encoding="utf-8")
    code, _, err_zh = run_cli("plan", path, "--no-baselines", "-q", "--lang", "zh")
    assert code == 1 and err_zh.startswith("Error: 没有满足该场景的 GPU 方案") and "\n  约束：budget" in err_zh
    code, _, err_en = run_cli("plan", path, "--no-baselines", "-q")
    assert code == 1 and "\n  binding: budget" in err_en and "约束" not in err_en
    # the English labels are the solver's own lines, word for word
    e = {"models": [{"model": "m", "problem": "p", "closest": {"gpu": "a10", "tp": 2, "pp": 1, "shortfall_gib_per_device": 1.5},
                     "reasons": ["r1", "r2", "r3"], "slo": ["s"], "unpriced_gpus": ["h20"], "what_would_fit": ["f"]}],
         "binding": ["b"], "unconstrained_plan": {"cost_usd_per_hour": 1.2, "gpus_by_type": {"a10": 2}},
         "what_would_fit": ["g"], "detail": "d"}
    assert explanation_lines(e, "en") == explain.explanation_lines(e)

"""Reports: the HTML renders in headless Chromium, Markdown and CSV match goldens, the xlsx holds the JSON's numbers,
writes are atomic, and every example scenario plans and passes the checker."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from planner.candidates.deployments import build_candidates
from planner.errors import InputError
from planner.inputs.scenario import load_scenario
from planner.pipeline import plan
from planner.plans.check import check_plan
from planner.report.writer import write_report

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden"
GOLDEN_SCENARIOS = ["service-7b-int8", "chinese-model-fleet"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _report(tmp_path: Path, name: str) -> Path:
    s = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    cs = build_candidates(s)
    p = plan(s, candidates=cs)
    out = tmp_path / name
    write_report(p, s, cs, out)
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_example_scenario_plans_and_passes_the_checker(path):
    s = load_scenario(path)
    p = plan(s, baselines=False)
    # optimal, or (issue 11) feasible from a restricted sharing space, saying so, with a bound of the whole space
    assert p.status == "optimal" or (p.status == "feasible" and p.bound_usd_per_hour <= p.cost_usd_per_hour
                                     and any("restricted" in n for n in p.notes)), (p.status, p.notes)
    assert check_plan(p, s) == []


@pytest.mark.parametrize("name", GOLDEN_SCENARIOS)
def test_markdown_and_csv_match_goldens(tmp_path, name):
    out = _report(tmp_path, name)
    for f in ("report.md", "deployments.csv", "devices.csv"):
        got = (out / f).read_text()
        golden = GOLDEN / name / f
        if os.environ.get("PLANNER_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got)
        assert got == golden.read_text(), f"{name}/{f} differs from its golden (PLANNER_UPDATE_GOLDEN=1 rewrites it)"


def test_report_is_byte_identical_across_runs(tmp_path):
    a = _report(tmp_path / "a", "service-7b-int8")
    b = _report(tmp_path / "b", "service-7b-int8")
    for f in ("report.md", "report.html", "deployments.csv", "devices.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_xlsx_holds_the_same_numbers_as_the_json(tmp_path):
    import json

    import pandas as pd

    from planner.i18n import column

    out = _report(tmp_path, "chinese-model-fleet")
    plan_json = json.loads((out / "plan.json").read_text())
    sheets = pd.read_excel(out / "report.xlsx", sheet_name=None)
    assert list(sheets)[:3] == ["shopping_list", "cost_by_model", "summary"]
    assert {"deployments", "devices", "cost_by_gpu", "instances", "rejected", "sources"} <= set(sheets)

    def h(name: str) -> str:
        return column("en", name, cur="USD")

    inst = sheets["instances"]
    assert list(inst[h("id")]) == [i["id"] for i in plan_json["instances"]]
    assert inst[h("usd_per_hour")].sum() == pytest.approx(plan_json["cost_usd_per_hour"], abs=1e-6)
    summary = dict(zip(sheets["summary"][h("field")], sheets["summary"][h("value")], strict=True))
    assert float(summary["cost_usd_per_hour"]) == pytest.approx(plan_json["cost_usd_per_hour"])
    assert float(summary["cost_per_month"]) == pytest.approx(plan_json["costs"]["total_per_month"], abs=0.001)
    assert int(summary["gpus"]) == plan_json["gpus"]
    dep = sheets["deployments"]
    assert dep[h("replicas")].sum() == len(plan_json["replicas"])
    devices = sheets["devices"]
    assert len(devices) == sum(len(i["devices"]) for i in plan_json["instances"])
    used = {d["id"]: round(d["memory_used_bytes"] / 2**30, 2) for i in plan_json["instances"] for d in i["devices"]}
    for _, row in devices.iterrows():
        assert row[h("used_gib")] == pytest.approx(used[row[h("device")]], abs=0.01)


def test_failed_write_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = _report(tmp_path, "service-7b-int8")
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    import planner.report.writer as rep

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(rep, "write_xlsx", boom)
    s = load_scenario(ROOT / "scenarios" / "service-7b-int8.yaml")
    cs = build_candidates(s)
    with pytest.raises(InputError, match="disk full"):  # one line and exit 2 from the CLI, never a traceback
        write_report(plan(s, candidates=cs), s, cs, out)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _png_is_not_blank(path: Path) -> bool:
    """Decode a PNG's pixel rows (zlib) and require more than a handful of distinct byte values."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    return len(set(raw[: 4_000_000])) > 20


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="Chromium is installed by .ci/run; on a developer machine without it this test cannot run")
def test_report_html_renders_in_headless_chromium(tmp_path):
    assert CHROMIUM is not None, ".ci/run installs Debian's chromium"
    out = _report(tmp_path, "chinese-model-fleet")
    html = out / "report.html"
    text = html.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for chart in ("chart-memory", "chart-cost", "chart-baselines"):
        assert f'id="{chart}"' in dom.stdout, chart
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], console
    shot = tmp_path / "report.png"
    proc = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,2400", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert _png_is_not_blank(shot)


def test_report_markdown_and_csv_identical_across_thread_counts(tmp_path):
    s = load_scenario(ROOT / "scenarios" / "chinese-model-fleet.yaml")
    outs = []
    for threads in (1, 2):
        cs = build_candidates(s)
        p = plan(s, candidates=cs, threads=threads)
        out = tmp_path / f"t{threads}"
        write_report(p, s, cs, out)
        outs.append(out)
    for f in ("report.md", "deployments.csv", "devices.csv"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_committed_example_report_is_current(tmp_path):
    """reports/default-chat-fleet/ is the example a reader opens without running anything: it must match the tool."""
    from planner.inputs.scenario import default_scenario_path

    s = load_scenario(default_scenario_path())
    cs = build_candidates(s)
    write_report(plan(s, candidates=cs), s, cs, tmp_path / "r")
    for f in ("report.md", "deployments.csv", "devices.csv"):
        assert (tmp_path / "r" / f).read_text() == (ROOT / "reports" / "default-chat-fleet" / f).read_text(), \
            "regenerate with: planner report --out reports/default-chat-fleet"


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="Chromium is installed by .ci/run; on a developer machine without it this test cannot run")
def test_chinese_report_renders_in_headless_chromium_with_a_cjk_font(tmp_path):
    """The zh/CNY report: charts present, no console errors, and a font with Chinese glyphs installed (else the
    headings render as boxes; .ci/run installs fonts-noto-cjk)."""
    assert CHROMIUM is not None, ".ci/run installs Debian's chromium"
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
    assert fonts.stdout.strip(), "no font with Chinese glyphs: apt-get install fonts-noto-cjk"
    s = load_scenario(ROOT / "scenarios" / "chinese-model-fleet.yaml")
    cs = build_candidates(s)
    out = tmp_path / "zh"
    write_report(plan(s, candidates=cs), s, cs, out, currency="CNY", lang="zh")
    html = out / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'lang="zh-CN"' in dom.stdout and "采购清单" in dom.stdout and "¥" in dom.stdout
    for chart in ("chart-memory", "chart-cost", "chart-chargeback", "chart-baselines"):
        assert f'id="{chart}"' in dom.stdout, chart
    assert [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln] == []
    shot = tmp_path / "zh.png"
    proc = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,1600", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert _png_is_not_blank(shot)


def test_committed_chinese_report_is_current(tmp_path):
    """reports/chinese-model-fleet-zh/ (zh, CNY) is the example a Chinese reader opens: it must match the tool."""
    s = load_scenario(ROOT / "scenarios" / "chinese-model-fleet.yaml")
    cs = build_candidates(s)
    write_report(plan(s, candidates=cs), s, cs, tmp_path / "r", currency="CNY", lang="zh")
    for f in ("report.md", "deployments.csv", "devices.csv"):
        assert (tmp_path / "r" / f).read_text() == (ROOT / "reports" / "chinese-model-fleet-zh" / f).read_text(), \
            "regenerate with: planner report scenarios/chinese-model-fleet.yaml --lang zh --currency CNY " \
            "--out reports/chinese-model-fleet-zh/"


@pytest.mark.parametrize("name", ["ha-fleet", "daily-profile"])
def test_committed_scenario_reports_are_current(name, run_cli, tmp_path):
    """reports/ha-fleet/ (issue 14) and reports/daily-profile/ (issue 16), quoted by the README, match the tool."""
    out = tmp_path / name
    code, _, err = run_cli("report", str(ROOT / "scenarios" / f"{name}.yaml"), "--out", str(out), "-q")
    assert code == 0, err
    files = ["report.md", "autoscaler.csv", "hourly.csv"] if name == "daily-profile" else \
        ["report.md", "deployments.csv", "devices.csv", "cost_by_model.csv"]
    for f in files:
        assert (out / f).read_text() == (ROOT / "reports" / name / f).read_text(), \
            f"regenerate with: planner report scenarios/{name}.yaml --out reports/{name}"

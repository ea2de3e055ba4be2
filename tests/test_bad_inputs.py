"""The corpus of bad inputs: every file or invocation in tests/bad_inputs/cases.yaml gets its exact one-line error
and exit code 2, never a traceback, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from planner.cli.main import main

HERE = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((HERE / "cases.yaml").read_text())["cases"]


def _kind(case: dict) -> str:
    """Which input kind a case exercises (the corpus must cover each)."""
    args = case["args"]
    text = " ".join(args)
    if "--vary" in args:
        return "vary"
    if args[0] == "calibrate" and args[1].startswith(("points", "../bad_points", "/dev", "../no_points")):
        return "points"
    if "hf/" in text or "--hf-config" in args:
        return "hf_config"
    if "cal/" in text or "cal_" in text:
        return "calibration_file"
    if "catalogs/" in text or "catalog_" in text or args[0] == "catalog":
        return "catalog"
    if args[0] == "plan" and len(args) > 1 and args[1].endswith(".yaml") and not args[1].startswith("../"):
        return "scenario"
    return "options"


def test_corpus_is_large_enough_and_covers_every_input_kind():
    assert len(CASES) >= 150
    kinds = {}
    for c in CASES:
        kinds[_kind(c)] = kinds.get(_kind(c), 0) + 1
    assert set(kinds) == {"scenario", "catalog", "calibration_file", "points", "hf_config", "options", "vary"}, kinds
    assert min(kinds.values()) >= 10, kinds


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["args"][:3]) for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(case, capsys, monkeypatch):
    monkeypatch.chdir(HERE)
    before = {p: p.stat().st_mtime_ns for p in HERE.rglob("*") if p.is_file()}
    args = list(case["args"])
    out = Path(args[args.index("--out") + 1]) if "--out" in args else None
    out_before = out.stat().st_mtime_ns if out is not None and out.exists() else None
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == case["code"] == 2
    assert err == case["message"]
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    after = {p: p.stat().st_mtime_ns for p in HERE.rglob("*") if p.is_file()}
    assert after == before, "a bad input must not create or change files"
    if out is not None:
        assert (out.stat().st_mtime_ns if out.exists() else None) == out_before, "--out must be left as it was"


def test_fifty_megabyte_file_is_refused(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.write(b"name: t\n# " + b"x" * (50 * 2**20) + b"\n")
    code = main(["plan", str(big), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"Error: {big}: file is 50.0 MiB, larger than the 5 MiB limit for a scenario file"


def test_existing_out_file_survives_a_failed_run(tmp_path, capsys):
    out = tmp_path / "plan.json"
    out.write_text("earlier plan\n")
    bad = HERE / "unknown_model_id.yaml"
    code = main(["plan", str(bad), "--format", "json", "--out", str(out), "-q"])
    assert code == 2
    assert out.read_text() == "earlier plan\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; the parent-is-a-file case covers unwritable --out")
def test_unwritable_out_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code = main(["plan", "--out", str(ro / "plan.json"), "-q"])
    assert code == 2
    assert "is not writable" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["scenario", "catalog", "config", "points"])
def test_a_fifo_is_refused_without_blocking(tmp_path, capsys, what):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    args = {"scenario": ["plan", str(fifo), "-q"], "catalog": ["catalog", "--catalog", str(fifo)],
            "config": ["estimate", "--hf-config", str(fifo), "--gpu", "l4"],
            "points": ["calibrate", str(fifo), "--out", str(tmp_path / "cal.yaml")]}[what]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"Error: {fifo}: is a named pipe (FIFO), expected a regular ")
    assert not (tmp_path / "cal.yaml").exists()


def test_a_file_growing_past_the_limit_while_read_is_refused(tmp_path):
    """stat says 10 bytes; the read finds 100 (a file appended to between stat and read): the bounded read stops."""
    import unittest.mock as um

    from planner.errors import InputError
    from planner.inputs import files

    f = tmp_path / "s.yaml"
    f.write_bytes(b"x" * 100)
    real_stat = os.stat

    class Small:
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 10

    with um.patch.object(files.os, "stat", lambda p: Small(real_stat(p))), pytest.raises(InputError, match="grew past"):
        files.read_bytes(f, "scenario file", limit=52)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_out_files_and_folders_follow_the_umask(tmp_path, umask):
    from planner.report.files import atomic_write_text, write_folder

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "plan.json", "{}\n")
        write_folder(tmp_path / "report", {"a.md": "x\n"})
    finally:
        os.umask(old)
    assert (tmp_path / "plan.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "report").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "report" / "a.md").stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "report"]  # no temporary left behind


def test_a_failed_folder_write_leaves_the_earlier_output_and_no_partial_folder(tmp_path):
    from planner.report.files import write_folder

    out = tmp_path / "report"
    write_folder(out, {"a.md": "earlier\n"})

    def boom(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(Exception, match="No space left on device"):
        write_folder(out, {"a.md": "new\n"}, also=boom)
    assert (out / "a.md").read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_calibrate_prints_the_error_of_every_point(tmp_path, capsys):
    out = tmp_path / "cal.yaml"
    code = main(["calibrate", str(Path(__file__).parent / "data" / "throughput_calibration.yaml"), "--out", str(out),
                 "--format", "json"])
    import json

    data = json.loads(capsys.readouterr().out)
    assert code == 0 and out.exists()
    assert len(data["points"]) == data["fit"]["points"] == 131
    assert all(abs(r["tpot_err"]) < 0.5 for r in data["points"])  # worst decode error of the shipped fit: 42.6 %
    assert all(0 < c["eta_bw"] <= 1 and 0 < c["eta_flops"] <= 1 for c in data["constants"].values())


def test_validating_ten_thousand_models_is_fast_enough_to_report_within_the_limit(tmp_path):
    """Input validation of 10,000 models (measured in benchmarks/input_validation.py) is linear; here only that it
    accepts the scenario and keeps every model."""
    from planner.inputs.scenario import scenario_from_dict

    models = [{"name": f"m{i}", "model": "llama-3.2-1b", "concurrency": 1 + i % 7} for i in range(2000)]
    s = scenario_from_dict({"name": "big", "gpus": ["l4"], "models": models})
    assert len(s.models) == 2000

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


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c["args"][0] == "plan" and c["args"][1].endswith(".yaml")) >= 15


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["args"][:3]) for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(case, capsys, monkeypatch):
    monkeypatch.chdir(HERE)
    before = {p: p.stat().st_mtime_ns for p in HERE.rglob("*") if p.is_file()}
    code = main(list(case["args"]))
    err = capsys.readouterr().err.strip()
    assert code == case["code"] == 2
    assert err == case["message"]
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    after = {p: p.stat().st_mtime_ns for p in HERE.rglob("*") if p.is_file()}
    assert after == before, "a bad input must not create or change files"


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

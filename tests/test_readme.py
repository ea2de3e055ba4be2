"""The README's Python examples run as written, and its scenario example is a valid scenario."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from planner.inputs.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_scenario_example_is_valid():
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if "models:" in b)
    data = yaml.safe_load(block)
    data.pop("catalog", None)  # the README names a folder of the reader's own
    s = scenario_from_dict(data, name="README.md")
    assert [m.name for m in s.models] == ["chat", "batch-api"]


def test_api_names_are_functions_even_after_every_module_is_imported():
    import importlib
    import pkgutil

    import planner

    for mod in pkgutil.iter_modules(planner.__path__):
        if mod.name != "__main__":  # the entry point runs the CLI
            importlib.import_module(f"planner.{mod.name}")
    for name in planner.__all__:
        if name != "__version__":
            assert callable(getattr(planner, name)) and not isinstance(getattr(planner, name), type(planner)), name

"""Where the files that ship inside the package live: one home for every packaged path."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"  # model library, calibration constants, default scenario
TEMPLATES_DIR = PACKAGE_DIR / "report" / "templates"

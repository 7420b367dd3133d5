"""The slow tier (`make test-slow`): the headline results re-measured with real thresholds.

Every test here is marked ``slow`` (pyproject's addopts deselects it from `make test`). The demo run is made
once per session: `qsnn-deploy pipeline` with the model's defaults, exactly what `make demo` runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import run_cli


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, dict, float]:
    """`qsnn-deploy pipeline --out OUT` (digits_speck on digits-dvs, its YAML defaults, seed 0): the output
    folder, the JSON summary on stdout and the wall time in seconds."""
    out = tmp_path_factory.mktemp("slow") / "demo"
    t0 = time.time()
    proc = run_cli("pipeline", "--out", out, "--format", "json", "-q", timeout=1800)
    return out, json.loads(proc.stdout), time.time() - t0

"""A tiny trained run and bundle, made once per session through the real CLI."""

from pathlib import Path

import pytest
from helpers import run_cli


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    run_cli("train", "--epochs", "1", "--limit", "64", "--time-bins", "4", "--out", out, "-q")
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "bundle"
    run_cli("convert", tiny_run / "checkpoint.pt", "--target", "speck2f", "--out", out)
    return out

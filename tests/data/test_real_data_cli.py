"""A recipe end to end on tiny files in DVS Gesture's real layout: train (pooling 128x128 to 32x32), convert,
deploy to the emulator with the same window and pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from test_tonic_sets import write_dvsgesture

from qsnn_deploy.data import DataOptions, load_dataset


def test_dvsgesture_recipe_trains_converts_and_deploys(tmp_path):
    write_dvsgesture(tmp_path / "data")
    run = tmp_path / "run"
    proc = run_cli(
        "train",
        "--model",
        "dvsgesture_speck",
        "--data-root",
        tmp_path / "data",
        "--epochs",
        "1",
        "--time-bins",
        "4",
        "--batch-size",
        "2",
        "--out",
        run,
    )
    assert "from dvsgesture_speck's YAML: --dataset dvsgesture" in proc.stderr and "--shift-px 2" in proc.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"] == "dvsgesture" and metrics["duration_us"] == 1_500_000
    run_cli("convert", run / "checkpoint.pt", "--target", "speck2f", "--out", tmp_path / "bundle")
    dep = run_cli(
        "deploy", tmp_path / "bundle", "--target", "emulator", "--data-root", tmp_path / "data", "--format", "json"
    )
    out = json.loads(dep.stdout)
    assert len(out["prediction"]) == 6
    # the accuracy is the predictions against the labels of the 6 test recordings, in the loader's order
    labels = load_dataset("dvsgesture", "test", progress=False, options=DataOptions(data_root=tmp_path / "data")).labels
    assert out["accuracy"] == pytest.approx(float((np.array(out["prediction"]) == np.asarray(labels)).mean()))

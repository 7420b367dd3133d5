"""Each recipe in models/ trains one epoch with one command on tiny data: the built-in digits-dvs (20 samples
per split), or tiny files in the real on-disk layout of its tonic dataset (N-MNIST .bin, DVS Gesture .npy,
MNIST-DVS AEDAT 2.0, written as tests/data does; tonic datasets cannot be downloaded here). Every recipe runs
with 8 time bins (DECOLLE's 300 and the 4-bit QSNN's 100 would cost minutes on random events and teach
nothing more about whether the recipe runs); everything else is the recipe's own."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli

from qsnn_deploy.nets.zoo import load_spec, zoo_names

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))  # the fake-dataset writers of tests/data
from test_tonic_sets import _events, write_aedat2, write_dvsgesture, write_nmnist  # noqa: E402

pytestmark = pytest.mark.slow


def write_mnist_dvs(root: Path) -> None:
    """MNIST-DVS's layout (grabbed_dataD/scaleS/*.aedat, jAER AEDAT 2.0): digits 0 and 1, 5 recordings each
    at scales 4 and 16 (the loader takes scale 16 and holds 20 % of each digit out for testing)."""
    rng = np.random.default_rng(0)
    for d in (0, 1):
        for scale in (4, 16):
            folder = root / "MNIST-DVS" / f"grabbed_data{d}" / f"scale{scale}"
            folder.mkdir(parents=True)
            for k in range(1, 6):
                write_aedat2(
                    folder / f"mnist_{d}_scale{scale:02d}_{k:04d}.aedat", _events(rng, 50, 128, 128, 2_000_000)
                )


# recipe options that a local-rule run's config.yaml does not record, read from what the run did (metrics.json)
RECORDED_IN_METRICS = {
    "window_ms": lambda m: m["duration_us"] / 1000,
    "learning_rule": lambda m: m["rule"],
    "readouts": lambda m: "frozen" if m["freeze_readouts"] else "trained",
}
WRITERS = {"nmnist": write_nmnist, "dvsgesture": write_dvsgesture, "mnist-dvs": write_mnist_dvs}


def test_every_dataset_a_recipe_names_has_a_writer():
    assert {load_spec(name).dataset for name in zoo_names()} <= {"digits-dvs", *WRITERS}


@pytest.mark.parametrize("name", zoo_names())
def test_recipe_trains_one_epoch_on_tiny_data(tmp_path, name):
    spec = load_spec(name)
    args = ["--model", name, "--epochs", "1", "--time-bins", "8", "--out", tmp_path / "run", "--format", "json"]
    if spec.dataset == "digits-dvs":
        args += ["--limit", "20"]
    else:
        WRITERS[spec.dataset](tmp_path / "data")
        args += ["--data-root", tmp_path / "data"]
    proc = run_cli("train", *args, "--progress", "off", timeout=1800)
    if spec.recipe:  # the recipe's options are used, and said so
        assert f"from {name}'s YAML: --dataset {spec.dataset}" in proc.stderr, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert json.loads(proc.stdout) == {k: v for k, v in metrics.items() if k != "history"} | {
        "out": str(tmp_path / "run")
    }
    assert metrics["dataset"] == spec.dataset and metrics["model"] == name and metrics["epochs"] == 1
    assert math.isfinite(metrics["synops_per_sample"]) and metrics["synops_per_sample"] > 0
    assert len(metrics["history"]) == 1 and math.isfinite(metrics["history"][0]["loss"])

    train = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]
    for key, value in spec.recipe.items():  # every recipe option reached the run
        got = RECORDED_IN_METRICS[key](metrics) if key in RECORDED_IN_METRICS else train[key]
        assert got == value, (key, got, value)
    assert train["epochs"] == 1 and train["time_bins"] == 8

    payload = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    layers = payload["model_spec"]["layers"]
    assert [layer["name"] for layer in layers] == [layer.name for layer in spec.layers]
    assert payload["model_spec"]["neuron"].get("type", "iaf") == spec.neuron_type

"""A folder dataset of synthetic recordings, end to end from the CLI: train (default network) → convert →
deploy to the emulator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli

from qsnn_deploy.data import EVENT_DTYPE

CLASSES = ("left", "right", "still")


def _recording(label: str, rng: np.random.Generator, n: int = 600, size: int = 34) -> np.ndarray:
    """A bright blob that drifts left, right or stays put over 200 ms, plus 5 % noise events."""
    t = np.sort(rng.integers(0, 200_000, n))
    drift = {"left": -1, "right": 1, "still": 0}[label] * (t / 200_000) * 20
    x = np.clip(np.round(size / 2 + drift + rng.normal(0, 2, n)), 0, size - 1)
    y = np.clip(np.round(size / 2 + rng.normal(0, 2, n)), 0, size - 1)
    noise = rng.random(n) < 0.05
    x[noise], y[noise] = rng.integers(0, size, noise.sum()), rng.integers(0, size, noise.sum())
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, rng.integers(0, 2, n)
    return ev


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(0)
    for label in CLASSES:
        (root / label).mkdir()
        for i in range(70):
            np.save(root / label / f"rec{i:03d}.npy", _recording(label, rng))
    return root


def test_folder_dataset_trains_with_the_default_network_and_deploys(folder, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(
        "train", "--dataset", f"folder:{folder}", "--epochs", "3", "--time-bins", "5", "--out", run, "--format", "json"
    )
    metrics = json.loads(proc.stdout)
    assert metrics["model"].startswith("auto_34x34_3")
    assert "no --model given" in proc.stderr
    assert metrics["test_accuracy"] > 0.6  # three easy classes, chance 0.33
    run_cli("convert", run / "checkpoint.pt", "--target", "speck2f", "--out", tmp_path / "bundle")
    dep = run_cli(
        "deploy", tmp_path / "bundle", "--target", "emulator", "--dataset", f"folder:{folder}", "--format", "json"
    )
    assert json.loads(dep.stdout)["accuracy"] > 0.6


def test_a_corrupt_recording_is_exit_3_naming_the_file(folder, tmp_path):
    bad = tmp_path / "bad"
    for label in CLASSES:
        (bad / label).mkdir(parents=True)
        for i in range(4):
            np.save(bad / label / f"r{i}.npy", _recording(label, np.random.default_rng(i)))
    (bad / "left" / "r0.npy").write_bytes(b"\x93NUMPY garbage")
    proc = run_cli("train", "--dataset", f"folder:{bad}", "--epochs", "1", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 3, proc.stderr
    assert "r0.npy" in proc.stderr


def test_a_local_rule_trains_on_a_folder_dataset(folder, tmp_path):
    proc = run_cli(
        "train",
        "--learning-rule",
        "ell",
        "--dataset",
        f"folder:{folder}",
        "--epochs",
        "1",
        "--time-bins",
        "4",
        "--out",
        tmp_path / "ell",
        "--format",
        "json",
    )
    assert json.loads(proc.stdout)["rule"] == "ell"


def test_sensor_size_option(folder, tmp_path):
    bad = run_cli(
        "train", "--dataset", f"folder:{folder}", "--sensor-size", "34x34", "--out", tmp_path / "a", check=False
    )
    assert bad.returncode == 2 and "WxHxP" in bad.stderr
    small = run_cli(
        "train", "--dataset", f"folder:{folder}", "--sensor-size", "20x20x2", "--out", tmp_path / "b", check=False
    )
    assert small.returncode == 3 and "outside the sensor" in small.stderr

"""Weight-scaling baselines and the SynOp sweep (summary logic, plot, CLI end to end on a few samples)."""

import json

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import spec_from_dict
from qsnn_deploy.train.sweep import SweepPoint, matched_baseline, parse_values, summarise
from qsnn_deploy.train.weight_scaling import _drive, percentile_normalise, scale_first_layer

TINY = {
    "name": "tiny",
    "input_shape": [2, 8, 8],
    "n_classes": 3,
    "layers": [
        {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "c2", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "linear", "name": "fc", "out_features": 3},
    ],
}


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = SpikingCNN(spec_from_dict(TINY), quantize=True).eval()
    for block in model.blocks:
        block.conv.weight.data.abs_()  # excitatory: every layer is active
    x = (torch.rand(24, 5, 2, 8, 8) < 0.3).float()
    return model, x


def _synops(model, x):
    with torch.no_grad():
        _, syn, _ = model(x, record=True)
    return float(torch.stack(syn).sum())


def test_first_layer_factor_lowers_synops_and_leaves_the_original():
    model, x = _model_and_data()
    before = model.blocks[0].conv.weight.clone()
    full = _synops(model, x)
    values = [_synops(scale_first_layer(model, f), x) for f in (0.9, 0.5, 0.2)]
    assert values == sorted(values, reverse=True) and values[-1] < full
    assert torch.equal(model.blocks[0].conv.weight, before)
    with pytest.raises(UsageError):
        scale_first_layer(model, 0.0)


def test_percentile_normalisation_maps_each_layers_drive_to_the_threshold():
    model, x = _model_and_data()
    normed, lambdas = percentile_normalise(model, x, 99.0)
    assert len(lambdas) == 3 and all(lam > 0 for lam in lambdas)
    for i in range(3):
        drive = _drive(normed, i, x, 64)
        # QAT rounds the weights to integers, so the percentile lands on the threshold up to rounding
        assert np.percentile(drive, 99.0) == pytest.approx(1.0, rel=0.15)
    lower, _ = percentile_normalise(model, x, 90.0)
    assert _synops(lower, x) > _synops(normed, x)  # a lower percentile gives larger weights, more spikes
    with pytest.raises(UsageError):
        percentile_normalise(model, x, 0.0)


def _point(method, setting, accuracy, synops):
    """A point measured alike on the validation and the test split (choices on validation: test_selection_uses_
    validation.py makes the two disagree)."""
    return SweepPoint(method, setting, accuracy, synops, None, accuracy, synops)


def test_summary_picks_the_sparsest_model_within_one_point():
    base = _point("baseline", None, 0.98, 1e6)
    trained = [
        _point("synop-target", 5e5, 0.978, 5e5),
        _point("synop-target", 2e5, 0.975, 2e5),
        _point("synop-target", 1e5, 0.95, 1e5),
    ]
    scaling = [
        _point("first-layer", 0.5, 0.97, 3e5),
        _point("first-layer", 0.9, 0.979, 8e5),
        _point("percentile", 99.0, 0.99, 2e6),
    ]
    s = summarise(base, trained, scaling)
    assert s["best"]["setting"] == 2e5 and s["reduction"] == pytest.approx(5.0)
    assert s["matched_baseline"]["setting"] == 0.9  # cheapest scaling point at ≥ 97.5 %
    assert s["fewer_synops_than_matched_baseline"] == pytest.approx(4.0)
    assert matched_baseline(_point("x", 1, 0.995, 1), scaling) is None
    assert summarise(base, [trained[-1]], scaling)["best"] is None
    assert parse_values("1e5, 2e5", "--t") == [1e5, 2e5]
    for bad in ("", "a", "-1", "0"):
        with pytest.raises(UsageError):
            parse_values(bad, "--t")


def test_sweep_cli_end_to_end(tmp_path):
    base = tmp_path / "base"
    run_cli("train", "--limit", 48, "--epochs", 1, "--time-bins", 3, "--batch-size", 16, "--out", base, "--quiet")
    out = tmp_path / "sweep"
    proc = run_cli(
        "sweep",
        "--synop-targets",
        "2e5,1e5",
        "--baseline",
        base,
        "--start",
        "chain",
        "--epochs",
        1,
        "--limit",
        48,
        "--first-layer-factors",
        "0.5",
        "--percentiles",
        "99,100",
        "--out",
        out,
        "--format",
        "json",
        "--quiet",
    )
    result = json.loads(proc.stdout)
    methods = [p["method"] for p in result["points"]]
    assert methods == [
        "baseline",
        "synop-target-chain",
        "synop-target-chain",
        "first-layer",
        "percentile",
        "percentile",
    ]
    assert [p["setting"] for p in result["points"][1:3]] == [2e5, 1e5]  # chain: decreasing targets
    assert result["time_bins"] == 3
    for name in ("sweep.png", "sweep.json", "sweep.md", "target_200000/checkpoint.pt", "target_100000/metrics.json"):
        assert (out / name).is_file()
    # every point is scored on the validation split its runs held out: a trained run's own validation accuracy
    # (metrics.json) is the sweep's, and the split sizes agree
    assert result["selected_on"] == "validation" and result["val_fraction"] == 0.1
    for point in result["points"]:
        assert 0 <= point["validation_accuracy"] <= 1 and point["validation_synops_per_sample"] > 0
    for point in result["points"][1:3]:
        metrics = json.loads((out / point["run"] / "metrics.json").read_text())
        assert metrics["split_sizes"]["validation"] == result["validation_samples"]
        assert metrics["validation_accuracy"] == pytest.approx(point["validation_accuracy"], abs=1e-12)
    assert "validation accuracy" in (out / "sweep.md").read_text()
    bad = run_cli("sweep", "--synop-targets", "x", "--out", tmp_path / "bad", check=False)
    assert bad.returncode == 2 and "comma-separated" in bad.stderr
    bad = run_cli("sweep", "--synop-targets", "1e5", "--val-fraction", 0, "--out", tmp_path / "bad", check=False)
    assert bad.returncode == 2 and "--val-fraction" in bad.stderr


def test_sweep_with_distillation_and_layer_weights(tmp_path):
    base = tmp_path / "base"
    run_cli("train", "--limit", 48, "--epochs", 1, "--time-bins", 3, "--batch-size", 16, "--out", base, "--quiet")
    out = tmp_path / "sweep"
    proc = run_cli(
        "sweep",
        "--synop-targets",
        "2e5",
        "--baseline",
        base,
        "--start",
        "chain",
        "--epochs",
        1,
        "--limit",
        48,
        "--distill",
        "--synop-weights",
        "conv2=3",
        "--shift-px",
        1,
        "--first-layer-factors",
        "0.5",
        "--percentiles",
        "100",
        "--out",
        out,
        "--format",
        "json",
        "--quiet",
    )
    result = json.loads(proc.stdout)
    assert [p["method"] for p in result["points"]][:2] == ["baseline", "synop-target-chain-distill"]
    assert result["distill"] is True and result["synop_weights"] == "conv2=3" and result["shift_px"] == 1
    cfg = yaml.safe_load((out / "target_200000" / "config.yaml").read_text())["train"]
    assert cfg["distill"] == str(base / "checkpoint.pt") and cfg["synop_weights"] == "conv2=3" and cfg["shift_px"] == 1

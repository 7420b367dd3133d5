"""The one-command SynOp result (issue 18): `qsnn-deploy train --init RUN --synop-target 5x` fine-tunes the
demo run RUN (seed 0, the model's defaults) to at least 5x fewer SynOps per sample, choosing what it keeps on
validation (the mean weights of the second half's goal-meeting epochs, or the last epoch when it is more
accurate on validation than that mean).

benchmarks/results/synop_5x.md holds the 1-point goal per seed (6 seeds; seed 0, this run, loses 0.84 points
there). The threshold here (1.5 points) leaves room for another CPU's rounding to take a different path through
80 epochs."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

pytestmark = pytest.mark.slow


def test_one_command_gives_5x_fewer_synops(demo, tmp_path):
    run = demo[0] / "run"
    base = json.loads((run / "metrics.json").read_text())
    out = tmp_path / "sparse"
    proc = run_cli("train", "--init", run, "--synop-target", "5x", "--out", out, "--format", "json", "-q", timeout=1800)
    metrics = json.loads(proc.stdout)
    assert metrics.pop("out") == str(out)
    assert metrics == {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k != "history"}
    assert metrics["synops_per_sample"] <= base["synops_per_sample"] / 5
    assert metrics["test_accuracy"] >= base["test_accuracy"] - 0.015
    assert metrics["synop_goal_met"] is True and metrics["synop_control"] == 1.0
    # the kept model was chosen on validation, and the split is recorded
    assert isinstance(metrics["validation_accuracy"], float) and metrics["selected_epoch"] >= 1
    assert metrics["kept"] in ("mean", "last epoch"), metrics["kept"]
    if metrics["kept"] == "mean":  # the mean of the second half's goal-meeting epochs
        assert metrics["averaged_epochs"][0] > 40 and metrics["selected_epoch"] == metrics["averaged_epochs"][-1]
    else:  # the last epoch, more accurate on validation than that mean
        assert metrics["averaged_epochs"] is None and metrics["selected_epoch"] == metrics["epochs_run"] == 80
    assert metrics["split_sizes"]["validation"] > 0 and metrics["split_sizes"]["test"] == 359

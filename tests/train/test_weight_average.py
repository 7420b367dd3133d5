"""--average-weights: the kept model is the mean of the weights of the epochs after the share that meet the SynOp
goal on validation, when that mean meets it too; else the best epoch. A relative target turns it on."""

import json

import pytest
import torch
from helpers import hold_validation_split

import qsnn_deploy.train.bptt as bptt
from qsnn_deploy.errors import UsageError
from qsnn_deploy.train import TrainConfig, train
from qsnn_deploy.train.weight_average import WeightAverage, first_averaged_epoch

TINY = dict(limit=48, time_bins=4, batch_size=16, lr=5e-3)


def test_first_epoch_and_the_running_mean():
    assert first_averaged_epoch(0.5, 80) == 41 and first_averaged_epoch(0.5, 3) == 2
    assert first_averaged_epoch(0.1, 10) == 2 and first_averaged_epoch(0.0, 5) == 1
    layer = torch.nn.Linear(2, 1)
    average = WeightAverage(first_epoch=2)
    seen = []
    for epoch, value in enumerate([9.0, 1.0, 2.0, 4.5], start=1):
        torch.nn.init.constant_(layer.weight, value)
        average.add(epoch, layer)
        seen.append(value)
    assert average.epochs == [2, 3, 4]
    mean = average.mean(layer.state_dict())
    assert mean is not None and mean["weight"].dtype == torch.float32
    assert torch.equal(mean["weight"], torch.full((1, 2), 2.5))  # epoch 1's 9.0 left out
    again = WeightAverage(first_epoch=2)
    again.restore(average.state())
    assert again.epochs == [2, 3, 4] and torch.equal(again.mean(layer.state_dict())["weight"], mean["weight"])
    assert WeightAverage(first_epoch=1).mean(layer.state_dict()) is None


def test_its_checks():
    with pytest.raises(UsageError, match="--average-weights must be >= 0 and < 1"):
        TrainConfig(average_weights=1.0)
    with pytest.raises(UsageError, match="--val-fraction 0 holds none out"):
        TrainConfig(average_weights=0.5, val_fraction=0.0)


def _scripted(monkeypatch, val_synops: list[float], val_accuracy: list[float] | None = None):
    """Record the weights at every validation evaluation; the n-th one reports ``val_synops[n]`` SynOps (and
    accuracy ``val_accuracy[n]`` when given)."""
    real = bptt.evaluate
    held: dict = {"snapshots": []}

    def scripted(model, data, batch_size, device, quantize=None):
        ev = real(model, data, batch_size, device, quantize)
        if data is held["val"]:
            held["snapshots"].append({k: v.clone() for k, v in model.state_dict().items()})
            n = len(held["snapshots"]) - 1
            scripted_accuracy = {} if val_accuracy is None else {"accuracy": val_accuracy[n]}
            return ev | {"synops_per_sample": val_synops[n]} | scripted_accuracy
        return ev

    hold_validation_split(monkeypatch, held)
    monkeypatch.setattr(bptt, "evaluate", scripted)
    return held


def _mean(states: list[dict]) -> dict:
    return {k: (sum(s[k].double() for s in states) / len(states)).float() for k in states[0]}


def test_the_mean_of_the_goal_meeting_epochs_is_kept(tmp_path, monkeypatch):
    """Goal 100 (kept at ≤ 98): epochs 1..5 spend 50, 500, 60, 70, 500 SynOps; from epoch 3 on (share 0.4), the
    goal-meeting epochs are 3 and 4; their mean (60 on validation) is kept, and metrics say so."""
    # epoch 5 is the most accurate on validation, but over the goal: not averaged, so not a candidate either
    held = _scripted(monkeypatch, [50, 500, 60, 70, 500, 60], [0.5, 0.5, 0.5, 0.5, 0.99, 0.5])
    goal = dict(synop_target=1e12, synop_goal=100, synop_control=0)
    logs: list[str] = []
    cfg = TrainConfig(epochs=5, average_weights=0.4, **goal, **TINY)
    m = train(cfg, tmp_path / "r", progress=False, log=logs.append)
    snapshots = held["snapshots"]
    assert len(snapshots) == 6  # 5 epochs, then the mean
    expected = _mean([snapshots[2], snapshots[3]])
    kept = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(kept[k], expected[k], atol=1e-7) for k in kept)
    assert all(torch.equal(kept[k], snapshots[5][k]) for k in kept)  # the model checked on validation is kept
    assert m["averaged_epochs"] == [3, 4] and m["selected_epoch"] == 4 and m["kept"] == "mean"
    assert m["validation_synops_per_sample"] == 60 and m["synop_goal_met"] is True
    assert any("keeping the mean weights of 2 epochs (3–4)" in line for line in logs)
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["averaged_epochs"] == [3, 4]


@pytest.mark.parametrize(("last_accuracy", "kept_last"), [(0.95, True), (0.9, False)])
def test_the_last_epoch_is_kept_when_more_accurate_than_the_mean(tmp_path, monkeypatch, last_accuracy, kept_last):
    """Epochs 2..4 meet the goal and are averaged; the mean scores 0.9 on validation. A last epoch more accurate
    than that is kept instead (a tie keeps the mean)."""
    held = _scripted(monkeypatch, [50, 60, 70, 80, 60], [0.8, 0.99, 0.99, last_accuracy, 0.9])
    goal = dict(synop_target=1e12, synop_goal=100, synop_control=0)
    logs: list[str] = []
    m = train(
        TrainConfig(epochs=4, average_weights=0.25, **goal, **TINY), tmp_path / "r", progress=False, log=logs.append
    )
    snapshots = held["snapshots"]
    kept = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert m["selected_epoch"] == 4 and m["synop_goal_met"] is True
    if kept_last:
        assert all(torch.equal(kept[k], snapshots[3][k]) for k in kept)
        assert m["averaged_epochs"] is None and m["kept"] == "last epoch"
        assert (m["validation_accuracy"], m["validation_synops_per_sample"]) == (0.95, 80)
        assert any("the last epoch (4) is more accurate on validation than the mean" in line for line in logs)
    else:
        assert all(torch.equal(kept[k], snapshots[4][k]) for k in kept)  # the mean, as checked on validation
        assert m["averaged_epochs"] == [2, 3, 4] and m["validation_accuracy"] == 0.9 and m["kept"] == "mean"


def test_a_mean_over_the_goal_gives_way_to_the_best_epoch(tmp_path, monkeypatch):
    held = _scripted(monkeypatch, [50, 60, 70, 500])  # the mean (4th evaluation) spends 500 > 98
    goal = dict(synop_target=1e12, synop_goal=100, synop_control=0)
    logs: list[str] = []
    m = train(
        TrainConfig(epochs=3, average_weights=0.5, **goal, **TINY), tmp_path / "r", progress=False, log=logs.append
    )
    assert m["averaged_epochs"] is None and m["selected_epoch"] in (2, 3) and m["kept"] == "best epoch"
    best = held["snapshots"][m["selected_epoch"] - 1]
    kept = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(kept[k], best[k]) for k in kept)
    assert m["validation_synops_per_sample"] == [60, 70][m["selected_epoch"] - 2]
    assert any("over the goal: keeping the best epoch" in line for line in logs)


def test_without_a_goal_every_epoch_after_the_share_joins(tmp_path, monkeypatch):
    held = _scripted(monkeypatch, [1.0] * 4, [0.5] * 4)  # the last epoch no more accurate than the mean
    m = train(TrainConfig(epochs=3, average_weights=0.5, **TINY), tmp_path / "r", progress=False, log=print)
    assert m["averaged_epochs"] == [2, 3]
    expected = _mean(held["snapshots"][1:3])
    kept = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(kept[k], expected[k], atol=1e-7) for k in kept)

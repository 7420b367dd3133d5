"""Issue 18's validation contract: a seeded, stratified validation split held out of the train split; the kept
model is the epoch with the best validation accuracy (never the best test one); test accuracy is only reported;
metrics.json carries validation_accuracy, selected_epoch and split_sizes; --val-fraction 0 keeps the last epoch."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from helpers import hold_validation_split

import qsnn_deploy.train.bptt as bptt
from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.framed import FramedSplit
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train import TrainConfig, train
from qsnn_deploy.train.splits import split_validation

TINY = dict(limit=48, time_bins=4, batch_size=16)


def _split(counts):
    labels = torch.tensor(np.repeat(np.arange(len(counts)), counts))
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(labels)))  # classes interleaved
    labels = labels[order]
    return FramedSplit(torch.arange(float(len(labels))).view(-1, 1, 1, 1, 1), labels, 1.0)


def test_split_is_stratified_seeded_and_disjoint():
    data = _split([50, 30, 20])
    tr, val = split_validation(data, 0.1, seed=0)
    assert Counter(val.labels.tolist()) == {0: 5, 1: 3, 2: 2}  # each class in proportion
    assert Counter(tr.labels.tolist()) == {0: 45, 1: 27, 2: 18}
    ids_tr, ids_val = tr.frames.flatten().tolist(), val.frames.flatten().tolist()
    assert set(ids_tr).isdisjoint(ids_val) and sorted(ids_tr + ids_val) == list(range(100))
    assert ids_val == sorted(ids_val) and ids_tr == sorted(ids_tr)  # both keep the split's order
    again = split_validation(data, 0.1, seed=0)[1].frames.flatten().tolist()
    other = split_validation(data, 0.1, seed=1)[1].frames.flatten().tolist()
    assert again == ids_val and other != ids_val
    assert Counter(split_validation(data, 0.1, seed=1)[1].labels.tolist()) == {0: 5, 1: 3, 2: 2}


def test_split_holds_one_per_class_when_it_can():
    tr, val = split_validation(_split([95, 3, 2]), 0.05, seed=0)  # shares 4.75, 0.15, 0.1 of 5
    assert Counter(val.labels.tolist()) == {0: 3, 1: 1, 2: 1}
    assert Counter(tr.labels.tolist()) == {0: 92, 1: 2, 2: 1}  # every class keeps a training sample
    # fewer validation samples than classes: the classes with the largest remainders, drawn by the seed on ties
    val = split_validation(_split([10] * 10), 0.2, seed=0)[1]
    assert len(val.labels) == 20 and Counter(val.labels.tolist()) == dict.fromkeys(range(10), 2)
    picked = {tuple(sorted(split_validation(_split([4] * 10), 0.1, seed=s)[1].labels.tolist())) for s in range(6)}
    assert all(len(p) == 4 and len(set(p)) == 4 for p in picked) and len(picked) > 1
    with pytest.raises(UsageError, match="leaves no training samples"):
        split_validation(_split([1, 1]), 0.9, seed=0)


def test_default_share_and_its_checks():
    spec = load_spec("digits_speck")
    assert TrainConfig().resolve(spec).val_fraction == 0.1
    with pytest.raises(UsageError, match="--val-fraction must be >= 0 and < 1"):
        TrainConfig(val_fraction=1.0)
    with pytest.raises(UsageError, match="--val-fraction 0 holds out no validation split"):
        TrainConfig(val_fraction=0.0, patience=3)


@pytest.mark.parametrize("patience", [5, None])
def test_the_kept_epoch_is_the_best_validation_one_not_the_best_test_one(tmp_path, monkeypatch, patience):
    """Scripted accuracies: validation peaks at epoch 2, test at epoch 3; with --patience (a choice) the run keeps
    epoch 2's weights; without, it chooses nothing and keeps its last epoch (never the best test one)."""
    val_acc, test_acc = [0.2, 0.8, 0.4], [0.9, 0.1, 0.95]
    real = bptt.evaluate
    held: dict = {}
    snapshots: list = []

    def scripted(model, data, batch_size, device, quantize=None):
        ev = real(model, data, batch_size, device, quantize)
        if data is held["val"]:
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
            return ev | {"accuracy": val_acc[len(snapshots) - 1]}
        if len(snapshots) < len(test_acc):  # the per-epoch test evaluations (before that epoch's validation)
            return ev | {"accuracy": test_acc[len(snapshots)]}
        if quantize is None:  # the final test evaluation (of the kept model): real
            held["final"] = (ev["accuracy"], {k: v.clone() for k, v in model.state_dict().items()})
        return ev

    hold_validation_split(monkeypatch, held)
    monkeypatch.setattr(bptt, "evaluate", scripted)
    cfg = TrainConfig(epochs=3, lr=5e-3, patience=patience, **TINY)
    m = train(cfg, tmp_path / "r", progress=False, log=lambda msg: None)
    assert [h["val_accuracy"] for h in m["history"]] == val_acc
    assert [h["test_accuracy"] for h in m["history"]] == test_acc
    kept = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["state_dict"]
    if patience is None:
        assert m["selected_epoch"] == 3 and m["validation_accuracy"] == 0.4 and m["epochs_run"] == 3
        assert all(torch.equal(kept[k], snapshots[2][k]) for k in snapshots[2])
    else:
        assert m["selected_epoch"] == 2 and m["validation_accuracy"] == 0.8 and m["epochs_run"] == 3
        assert all(torch.equal(kept[k], snapshots[1][k]) for k in snapshots[1])
        assert any(not torch.equal(kept[k], snapshots[2][k]) for k in snapshots[2])  # training moved the weights
    # the test accuracy reported is the kept model's, measured once after training
    accuracy, evaluated = held["final"]
    assert m["test_accuracy"] == accuracy and all(torch.equal(kept[k], evaluated[k]) for k in kept)


def test_metrics_fields_and_history(tmp_path):
    m = train(TrainConfig(epochs=2, patience=5, **TINY), tmp_path / "r", progress=False, log=lambda msg: None)
    on_disk = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for metrics in (m, on_disk):
        assert isinstance(metrics["validation_accuracy"], float) and 0 <= metrics["validation_accuracy"] <= 1
        assert metrics["selected_epoch"] in (1, 2)
        sizes = metrics["split_sizes"]
        assert set(sizes) == {"train", "validation", "test"}
        assert sizes["validation"] == 5 and sizes["train"] + sizes["validation"] == 48 and sizes["test"] == 48
        assert all({"val_accuracy", "val_synops_per_sample", "test_accuracy"} <= set(h) for h in metrics["history"])
        best = max(h["val_accuracy"] for h in metrics["history"])
        assert metrics["validation_accuracy"] == best
        kept = metrics["history"][metrics["selected_epoch"] - 1]
        later = metrics["history"][metrics["selected_epoch"] :]
        assert kept["val_accuracy"] == best and all(h["val_accuracy"] < best for h in later)  # ties: the later


def test_val_fraction_0_keeps_the_last_epoch(tmp_path):
    m = train(TrainConfig(epochs=2, val_fraction=0.0, **TINY), tmp_path / "r", progress=False, log=lambda msg: None)
    assert m["validation_accuracy"] is None and m["selected_epoch"] == 2
    assert m["split_sizes"] == {"train": 48, "validation": 0, "test": 48}
    assert all("val_accuracy" not in h for h in m["history"])
    assert m["test_accuracy"] == m["history"][-1]["test_accuracy"]  # the last epoch's weights, unchanged

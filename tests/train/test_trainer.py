"""The trainer: SynOps are differentiable, the penalty lowers them, runs are reproducible, folders atomic."""

import json

import pytest
import torch

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train.trainer import TrainConfig, train


def test_synops_are_differentiable():
    model = SpikingCNN(load_spec("digits_speck"), quantize=True)
    x = (torch.rand(2, 3, 2, 34, 34) < 0.3).float()
    _, synops, _ = model(x, record=True)
    torch.stack(synops).sum().backward()
    assert model.blocks[0].conv.weight.grad is not None
    assert float(model.blocks[0].conv.weight.grad.abs().sum()) > 0


def _quick(tmp_path, name, **kw):
    cfg = TrainConfig(epochs=2, limit=96, time_bins=4, batch_size=16, **kw)
    return train(cfg, tmp_path / name, progress=False, log=lambda m: None)


def test_synop_penalty_lowers_synops_and_same_seed_repeats(tmp_path):
    plain = _quick(tmp_path, "plain")
    again = _quick(tmp_path, "again")
    sparse = _quick(tmp_path, "sparse", synop_penalty=1e-4)
    assert plain["synops_per_sample"] == again["synops_per_sample"]
    assert plain["test_accuracy"] == again["test_accuracy"]
    assert sparse["synops_per_sample"] < 0.8 * plain["synops_per_sample"]
    metrics = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and len(metrics["history"]) == 2


def test_synop_target_pulls_synops_towards_the_target(tmp_path):
    plain = _quick(tmp_path, "plain")
    low = _quick(tmp_path, "low", synop_target=0.3 * plain["synops_per_sample"])
    assert low["synops_per_sample"] < 0.8 * plain["synops_per_sample"]


def test_synop_loss_forms_by_hand():
    from qsnn_deploy.train.losses import synop_penalty, synop_target

    s = torch.tensor([100.0, 300.0], requires_grad=True)
    assert float(synop_penalty(s, 0.01).detach()) == pytest.approx(2.0)
    loss = synop_target(s, 100.0)
    assert float(loss.detach()) == pytest.approx(1.0)  # mean 200 → ((200 − 100)/100)²
    loss.backward()
    assert s.grad.tolist() == pytest.approx([0.01, 0.01])  # 2·(200−100)/100² / 2 samples
    with pytest.raises(UsageError, match="cannot be combined"):
        TrainConfig(synop_penalty=1e-6, synop_target=1e5).resolve(load_spec("digits_speck"))


def test_failed_run_leaves_nothing(tmp_path):
    with pytest.raises(UsageError, match="unknown device"):
        train(TrainConfig(device="tpu9", limit=8), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    assert list(tmp_path.iterdir()) == []


def test_cuda_request_without_cuda_is_a_usage_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(UsageError, match="no CUDA device"):
        train(TrainConfig(device="cuda", limit=8), tmp_path / "r", progress=False)

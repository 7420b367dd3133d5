"""Knowledge distillation (--distill) and per-layer SynOp weights (--synop-weights) in BPTT training."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers import run_cli

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.checkpoint import save_checkpoint
from qsnn_deploy.nets.framed import framed_split
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import load_spec, spec_from_dict
from qsnn_deploy.train import TrainConfig, bptt, train
from qsnn_deploy.train.bptt import _train_epoch
from qsnn_deploy.train.losses import (
    distillation,
    parse_synop_weights,
    synop_target,
    task_loss,
    tilted_synops,
    weighted_synops,
)
from qsnn_deploy.train.pretrained import load_teacher
from qsnn_deploy.train.splits import epoch_order

NAMES = ["conv1", "conv2", "conv3", "fc"]
REFERENCE = Path(__file__).parents[2] / "models" / "digits_speck.pt"  # a trained digits_speck, kept in the repo


def test_distillation_by_hand():
    t = torch.tensor([[[3.0, 0.0, 1.0]], [[0.0, 2.0, 2.0]]])  # (N=2, T=1, classes=3)
    assert float(distillation(t, t, 4.0)) == pytest.approx(0.0, abs=1e-7)
    s = torch.zeros(2, 1, 3, requires_grad=True)
    tau = 2.0
    p = torch.softmax(t.sum(1) / tau, 1)
    expected = float((p * (p.log() - torch.log(torch.full_like(p, 1 / 3)))).sum(1).mean()) * tau**2
    loss = distillation(s, t, tau)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # the gradient pulls the student's counts towards the teacher's preferred classes
    assert s.grad[0, 0, 0] < 0 and s.grad[1, 0, 0] > 0


def test_weighted_synops_and_their_parser():
    layers = [torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0])]
    assert weighted_synops(layers).tolist() == [11.0, 22.0]
    assert weighted_synops(layers, [0.0, 3.0]).tolist() == [30.0, 60.0]
    assert parse_synop_weights(NAMES, "conv2=3") == [1.0, 3.0, 1.0, 1.0]
    assert parse_synop_weights(NAMES, "1,3,0.5,0") == [1.0, 3.0, 0.5, 0.0]
    assert parse_synop_weights(NAMES, "2") == [2.0] * 4
    for bad, words in (
        ("conv9=2", "does not have"),
        ("conv2=x", "not a number"),
        ("conv2=-1", ">= 0"),
        ("0", "every weight is 0"),
        ("1,2", "cannot read"),
    ):
        with pytest.raises(UsageError, match=words):
            parse_synop_weights(NAMES, bad)


def test_train_epoch_adds_the_distillation_term_and_weights_the_synop_term(monkeypatch):
    torch.manual_seed(0)
    spec = load_spec("digits_speck")
    student = SpikingCNN(spec)
    teacher = load_teacher(REFERENCE, spec, torch.device("cpu"))
    data = framed_split("digits-dvs", "test", 4, progress=False, limit=32)
    cfg = TrainConfig(
        batch_size=32, epochs=1, synop_target=1e5, distill="teacher", distill_weight=0.5, distill_temperature=3.0
    )
    opt = torch.optim.SGD(student.parameters(), lr=0.0)  # no update: the epoch's loss is the first batch's
    weights = [1.0, 3.0, 1.0, 1.0]
    seen = []
    monkeypatch.setattr(bptt, "tilted_synops", lambda layers, w: seen.append(w) or tilted_synops(layers, w))
    loss, _ = _train_epoch(
        student, opt, None, data, cfg, 1, torch.device("cpu"), False, teacher=teacher, synop_weights=weights, target=1e5
    )
    assert seen == [weights]  # the layer weights reach the target term
    with torch.no_grad():
        order = epoch_order(32, cfg.seed, 1)
        x, y = data.frames[order], data.labels[order]
        out, synops, _ = student(x, record=True)
        kd = distillation(out, teacher(x), 3.0)
        syn = sum(synops).mean()  # the term's value counts the SynOps as reported; the weights tilt its gradient
        expected = task_loss("ce", out, y) + 0.5 * kd + ((syn - 1e5) / 1e5) ** 2
    assert float(kd) > 0
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_weighting_conv1_spikes_makes_training_spend_fewer_of_them(tmp_path):
    common = dict(epochs=2, limit=96, time_bins=4, batch_size=16, lr=1e-2, synop_penalty=5e-5, init=str(REFERENCE))
    dear = train(
        TrainConfig(synop_weights="conv2=1,conv1=0,conv3=0,fc=0", **common),
        tmp_path / "dear",
        progress=False,
        log=lambda m: None,
    )
    free = train(TrainConfig(synop_weights="conv2=0", **common), tmp_path / "free", progress=False, log=lambda m: None)
    # layer_spikes[0] are conv1's output spikes; layer_synops[1] the SynOps they cause in conv2
    assert dear["layer_spikes"][0] < 0.7 * free["layer_spikes"][0]
    assert dear["layer_synops"][1] < 0.7 * free["layer_synops"][1]
    cfg = yaml.safe_load((tmp_path / "dear" / "config.yaml").read_text())
    assert cfg["train"]["synop_weights"] == "conv2=1,conv1=0,conv3=0,fc=0"


def test_teacher_must_take_the_same_input_and_classes(tmp_path):
    tiny = spec_from_dict(
        {
            "name": "tiny",
            "input_shape": [2, 8, 8],
            "n_classes": 3,
            "layers": [
                {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1, "pool": 2},
                {"type": "linear", "name": "fc", "out_features": 3},
            ],
        }
    )
    save_checkpoint(tmp_path / "tiny.pt", SpikingCNN(tiny), {"dt_us": 1000.0, "time_bins": 4})
    with pytest.raises(UsageError, match="teacher takes"):
        load_teacher(tmp_path / "tiny.pt", load_spec("digits_speck"), torch.device("cpu"))
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "checkpoint.pt", SpikingCNN(tiny), {"dt_us": 1000.0, "time_bins": 4})
    teacher = load_teacher(run, tiny, torch.device("cpu"))  # a run folder works too
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_distilled_run_from_the_cli(tmp_path):
    out = tmp_path / "kd"
    proc = run_cli(
        "train",
        "--init",
        REFERENCE,
        "--distill",
        REFERENCE,
        "--distill-temperature",
        "2",
        "--synop-target",
        "3e5",
        "--synop-weights",
        "conv2=3",
        "--epochs",
        "1",
        "--limit",
        "48",
        "--time-bins",
        "4",
        "--out",
        out,
        "--format",
        "json",
        "-q",
    )
    assert json.loads(proc.stdout)["epochs_run"] == 1
    assert f"distilling from {REFERENCE}" in proc.stderr
    cfg = yaml.safe_load((out / "config.yaml").read_text())["train"]
    assert cfg["distill"] == str(REFERENCE) and cfg["distill_temperature"] == 2.0 and cfg["synop_weights"] == "conv2=3"


@pytest.mark.parametrize(
    "args, words",
    [
        (("--synop-weights", "conv2=3"), "--synop-target N or --synop-penalty"),
        (("--distill-weight", "2"), "go with --distill"),
        (("--synop-target", "1e5", "--synop-weights", "conv9=3"), "did you mean 'conv3'"),
        (("--distill", "nowhere/run"), "does not exist"),
        (("--learning-rule", "ell", "--distill", "x"), "does not take --distill"),
        (("--ann", "--synop-target", "1e5", "--synop-weights", "conv2=2"), "does not take --synop-weights"),
    ],
)
def test_bad_distill_and_weight_options(tmp_path, args, words):
    out = tmp_path / "run"
    proc = run_cli(
        "train", *args, "--epochs", "1", "--limit", "16", "--time-bins", "2", "-q", "--out", out, check=False
    )
    assert proc.returncode in (2, 3), proc.stderr
    assert words in proc.stderr
    assert not out.exists()


def test_synop_target_counts_reported_synops_and_tilts_only_the_gradient():
    """The target term's value is that of the SynOps as reported (every layer once), whatever the layer weights;
    the weights only make the gradient cut the heavier layers' SynOps harder."""

    def term(weights):
        layers = [torch.tensor([100.0, 300.0], requires_grad=True), torch.tensor([50.0, 150.0], requires_grad=True)]
        loss = synop_target(tilted_synops(layers, weights), 150.0)
        loss.backward()
        return float(loss), [float(t.grad.sum()) for t in layers]

    plain, plain_grads = term(None)
    tilted, tilted_grads = term([1.0, 3.0])
    assert plain == pytest.approx(((300.0 - 150.0) / 150.0) ** 2) and tilted == pytest.approx(plain)
    assert plain_grads[0] == pytest.approx(plain_grads[1]) and plain_grads[0] > 0
    assert tilted_grads[1] == pytest.approx(3 * tilted_grads[0]) and tilted_grads[0] < plain_grads[0]
    equal, equal_grads = term([2.0, 2.0])  # equal weights tilt nothing
    assert equal == pytest.approx(plain) and equal_grads == pytest.approx(plain_grads)


def test_a_zero_weight_keeps_the_target_term_finite():
    """A 0 weight on the input layer (its SynOps are fixed by the data) and a silent next layer: the value stays
    the reported SynOps and the rescale is capped at 1 / the smallest positive weight."""
    layers = [torch.full((4,), 1.29e5, requires_grad=True), torch.zeros(4, requires_grad=True)]
    value = tilted_synops(layers, [0.0, 2.0])
    value.backward()
    assert float(value) == pytest.approx(1.29e5)
    assert layers[0].grad.abs().sum() == 0 and layers[1].grad.tolist() == pytest.approx([0.25] * 4)  # 2 × ½ / 4

"""Local learning rules (DECOLLE, ELL, BELL, FELL): locality of gradients, memory in time, run folders."""

import json

import pytest
import torch
from helpers import run_cli

from qsnn_deploy.convert.bundle import convert_model
from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.zoo import spec_from_dict
from qsnn_deploy.train.local_net import LocalRuleNet, StateMeter, _LinearFA, bptt_state_bytes, run_batch
from qsnn_deploy.train.local_rules import train_local_rule

TINY = {
    "name": "tiny",
    "input_shape": [2, 8, 8],
    "n_classes": 3,
    "neuron": {"threshold": 0.5},
    "layers": [
        {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "c2", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "linear", "name": "fc", "out_features": 3},
    ],
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest on shared cores


def _batch(n=4, t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, t, 2, 8, 8, generator=g) < 0.4).float() * 2, torch.arange(n) % 3


def test_decolle_has_no_gradient_across_layers():
    torch.manual_seed(0)
    net = LocalRuleNet(spec_from_dict(TINY), "decolle", quantize=False)
    x, y = _batch()
    losses, *_ = net.forward_step(x[:, 0], y, None, None)
    w0, w1 = net.cnn.blocks[0].conv.weight, net.cnn.blocks[1].conv.weight
    own = torch.autograd.grad(losses[0], w0, retain_graph=True)[0]
    total = torch.autograd.grad(sum(losses), w0, retain_graph=True)[0]
    assert torch.equal(own, total)  # later layers' losses do not reach conv1
    assert torch.autograd.grad(losses[0], w1, retain_graph=True, allow_unused=True)[0] is None
    assert all(not p.requires_grad for r in net.readouts for p in r.parameters())  # fixed random readouts


def test_decolle_and_ell_detach_time_but_bell_does_not():
    x, y = _batch()
    for rule, crosses in (("decolle", False), ("ell", False), ("bell", True), ("fell", True)):
        torch.manual_seed(0)
        net = LocalRuleNet(spec_from_dict(TINY), rule, quantize=False)
        _, _, states, dstates = net.forward_step(x[:, 0], y, None, None)
        losses, *_ = net.forward_step(x[:, 1], y, states, dstates)
        # the membrane state of step 0 carries a graph into step 1 only when gradients cross time
        assert states[0][0].requires_grad
        graph = torch.autograd.grad(losses[0], states[0][0], retain_graph=True, allow_unused=True)[0]
        assert (graph is not None) == crosses, rule


def test_readout_options():
    spec = spec_from_dict(TINY)
    assert all(p.requires_grad for r in LocalRuleNet(spec, "ell").readouts for p in r.parameters())
    assert not any(
        p.requires_grad for r in LocalRuleNet(spec, "ell", freeze_readouts=True).readouts for p in r.parameters()
    )
    x, w, b = torch.randn(2, 5, requires_grad=True), torch.randn(3, 5), torch.zeros(3)
    fb = torch.randn(3, 5)
    g = torch.randn(2, 3)
    _LinearFA.apply(x, w, b, fb).backward(g)
    assert torch.allclose(x.grad, g @ fb)  # errors travel through the fixed feedback matrix, not w
    with pytest.raises(UsageError, match="decolle, ell, bell, fell"):
        LocalRuleNet(spec, "hebb")


def _peak(rule, t):
    torch.manual_seed(0)
    net = LocalRuleNet(spec_from_dict(TINY), rule, quantize=False)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    meter = StateMeter(net)
    x, y = _batch(t=t)
    run_batch(net, x, y, opt, 0, meter)
    return meter.peak, bptt_state_bytes(net.cnn, x)


def test_state_memory_constant_in_time_for_ell_but_not_bptt():
    (ell3, bptt3), (ell6, bptt6) = _peak("ell", 3), _peak("ell", 6)
    assert ell3 == ell6 > 0
    assert bptt6 > 1.8 * bptt3
    assert _peak("decolle", 3)[0] == _peak("decolle", 6)[0]
    assert _peak("bell", 6)[0] > 1.8 * _peak("bell", 3)[0]


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="learning rule"):
        train_local_rule("digits_speck", "digits-dvs", tmp_path / "r", rule="sgd", progress=False)
    with pytest.raises(UsageError, match="burn_in"):
        train_local_rule(
            "digits_speck", "digits-dvs", tmp_path / "r", rule="decolle", time_bins=4, burn_in=4, progress=False
        )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rule", ["decolle", "ell", "bell", "fell"])
def test_rule_writes_a_convertible_run(tmp_path, rule):
    out = tmp_path / rule
    m = train_local_rule(
        "digits_speck",
        "digits-dvs",
        out,
        rule=rule,
        epochs=1,
        batch_size=8,
        time_bins=3,
        limit=16,
        progress=False,
        device="cpu",
        feedback_alignment=rule == "ell",
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.yaml",
        "metrics.json",
        "training_curve.png",
    ]
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "test_accuracy",
        "synops_per_sample",
        "epochs",
        "seed",
        "rule",
        "local_accuracies",
        "peak_state_bytes",
        "epoch_time_s",
    ):
        assert key in saved
    assert saved["rule"] == rule and set(saved["local_accuracies"]) == {"conv1", "conv2", "conv3", "fc"}
    assert m["peak_state_bytes"] > 0
    model, payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["auxiliary_readouts"] == 3 and len(model.blocks) == 4
    res = convert_model(out / "checkpoint.pt", "speck2f", tmp_path / "bundle")
    assert any("dropped 3 auxiliary readout" in n for n in res.notes)


def test_convert_cli_logs_dropped_readouts(tmp_path):
    out = tmp_path / "r"
    train_local_rule(
        "digits_speck",
        "digits-dvs",
        out,
        rule="ell",
        epochs=1,
        batch_size=8,
        time_bins=2,
        limit=8,
        progress=False,
        device="cpu",
    )
    proc = run_cli("convert", out / "checkpoint.pt", "--out", tmp_path / "b")
    assert "note: dropped 3 auxiliary readout(s)" in proc.stderr

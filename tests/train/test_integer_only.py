"""Integer-only local learning: bit grids of errors, gradients and weights, memory accounting, a run folder."""

import json

import pytest
import torch
from helpers import TINY

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.zoo import load_spec, spec_from_dict
from qsnn_deploy.train.integer_bits import IntegerBits
from qsnn_deploy.train.integer_memory import memory_footprint, memory_report
from qsnn_deploy.train.integer_net import LocalNet, error_point, local_loss
from qsnn_deploy.train.integer_only import apply_update, train_integer_only, update_steps


def _on_grid(x: torch.Tensor, step: float) -> bool:
    k = x / step
    return bool(torch.equal(k, torch.round(k)))


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest on shared cores


def _tiny_batch(seed=0, n=6, t=4):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, t, 2, 8, 8, generator=g) < 0.3).float() * 2  # integer counts
    return x, torch.arange(n) % 3


@pytest.mark.parametrize(
    "bad", [{"wb": 9}, {"wb": 1}, {"ub": 17}, {"ub": 8}, {"eb": 1}, {"gb": 0}, {"rb": 25}, {"sb": 2.5}, {"ab": True}]
)
def test_bad_bit_widths_are_usage_errors(bad):
    with pytest.raises(UsageError, match="IntegerBits"):
        IntegerBits(**bad)


def test_bad_training_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="power of two"):
        train_integer_only("digits_speck", "digits-dvs", tmp_path / "r", lr_int=3, progress=False)
    with pytest.raises(UsageError, match="epochs"):
        train_integer_only("digits_speck", "digits-dvs", tmp_path / "r", epochs=0, progress=False)
    assert not (tmp_path / "r").exists()


def test_errors_are_on_the_eb_grid():
    x = torch.randn(50, requires_grad=True)
    error_point(x, 6).backward(torch.randn(50) * 123.0)
    assert _on_grid(x.grad, 2.0**-5) and float(x.grad.abs().max()) <= 1 - 2.0**-5


def test_weight_gradients_come_from_eb_errors_and_integer_inputs():
    """Inputs are integer counts and errors k/2^(eb−1), so each weight gradient is a multiple of 2^−(eb−1)."""
    bits = IntegerBits(eb=4)
    net = LocalNet(spec_from_dict(TINY), bits, seed=1)
    x, y = _tiny_batch()
    net.calibrate(x)
    loss, _ = local_loss(net(x)[1], y)
    loss.backward()
    for block in net.cnn.blocks:
        g = block.conv.weight.grad
        assert g is not None and float(g.abs().sum()) > 0
        assert _on_grid(g, 2.0 ** -(bits.eb - 1))


def test_gradients_on_gb_grid_and_weights_stay_on_wb_grid():
    bits = IntegerBits(wb=6, gb=8)
    net = LocalNet(spec_from_dict(TINY), bits, seed=2)
    x, y = _tiny_batch(seed=3)
    net.calibrate(x)
    gen = torch.Generator().manual_seed(0)
    q, delta = update_steps(torch.randn(40, 7), bits, lr_int=4, generator=gen)
    assert _on_grid(q, 2.0 ** -(bits.gb - 1)) and float(q.abs().max()) > 0
    assert _on_grid(delta, 2.0 ** -(bits.wb - 1))
    opt = torch.optim.SGD(net.cnn.parameters(), lr=1.0)
    before = [b.conv.weight.detach().clone() for b in net.cnn.blocks]
    for _ in range(5):
        loss, _ = local_loss(net(x)[1], y)
        opt.zero_grad()
        loss.backward()
        apply_update(net, opt, 64.0, gen)
    limit = 1 - 2.0 ** -(bits.wb - 1)
    for block, old in zip(net.cnn.blocks, before):
        w = block.conv.weight.detach()
        assert _on_grid(w, 2.0 ** -(bits.wb - 1)) and float(w.abs().max()) <= limit
        assert not torch.equal(w, old)
        assert _on_grid(block.threshold, 2.0 ** -(bits.wb - 1))


def test_stochastic_update_is_unbiased():
    bits = IntegerBits()
    g = torch.full((20000,), 0.3)
    g[0] = 1.0  # max → shift 1; 0.3 → n = 0.3 → 0.3/512 per step, far below the int8 step 1/128
    _, delta = update_steps(g, bits, lr_int=1, generator=torch.Generator().manual_seed(0))
    assert float(delta[1:].mean()) == pytest.approx(0.3 / 512, rel=0.1)


def test_memory_footprint_by_hand():
    spec = spec_from_dict(TINY)
    mem = memory_footprint(spec, IntegerBits())
    c1, fc = mem["layers"]
    # c1: 72 weights, 256 membranes (8x8x4 before pooling), readout on 4x4x4 = 64 pooled rates x 3 classes
    assert c1["weights_bits"] == 72 * 8 + 64 * 3 * 6
    assert c1["states_bits"] == 256 * 16 + 64 * 6 + 3 * 6
    assert c1["errors_bits"] == 256 * 6 + 64 * 6 + 3 * 6
    assert c1["gradients_bits"] == 72 * 10
    # fc: 3 x 64 weights, 3 membranes + 3 spike counters, errors at its current and its counts
    assert fc["weights_bits"] == 192 * 8
    assert fc["states_bits"] == 3 * 16 + 3 * 16
    assert fc["errors_bits"] == 3 * 6 + 3 * 6
    assert fc["gradients_bits"] == 192 * 10
    total = 1728 + 4498 + 1938 + 720 + 1536 + 96 + 36 + 1920
    assert mem["totals"]["total_bits"] == total
    fp_elements = (72 + 192 + 192) + (256 + 64 + 3 + 6) + (256 + 64 + 3 + 6) + (72 + 192)
    report = memory_report(spec, IntegerBits())
    assert report["fp32"]["totals"]["total_bits"] == 32 * fp_elements
    assert report["saved"]["total_bits"] == pytest.approx(1 - total / (32 * fp_elements))


def test_short_run_learns_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    m = train_integer_only(
        "digits_speck",
        "digits-dvs",
        out,
        epochs=3,
        batch_size=16,
        time_bins=4,
        seed=0,
        limit=64,
        progress=False,
        device="cpu",
    )
    assert m["history"][-1]["loss"] < m["history"][0]["loss"]
    assert m["integer_only"] and m["bits"] == IntegerBits().as_dict()
    assert {
        "test_accuracy",
        "chip_test_accuracy",
        "local_accuracies",
        "synops_per_sample",
        "train_time_s",
        "memory_saved",
    } <= set(m)
    assert {p.name for p in out.iterdir()} >= {
        "checkpoint.pt",
        "metrics.json",
        "memory.json",
        "memory.md",
        "config.yaml",
        "training_curve.png",
    }
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3
    assert 0.6 < json.loads((out / "memory.json").read_text())["saved"]["total_bits"] < 0.8
    model, payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["time_bins"] == 4
    # the deployable float forward of the saved network gives the integer training forward's spike counts
    net = LocalNet(load_spec("digits_speck"), IntegerBits())
    net.cnn.load_state_dict(model.state_dict())
    x = (torch.rand(3, 4, 2, 34, 34, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    with torch.no_grad():
        counts = net(x)[0]
        model.quantize = False
        assert torch.equal(model(x).sum(1), counts)
    for block in model.blocks:
        assert _on_grid(block.conv.weight.detach(), 2.0**-7)


def test_full_precision_twin_runs(tmp_path):
    m = train_integer_only(
        "digits_speck",
        "digits-dvs",
        tmp_path / "fp",
        epochs=1,
        batch_size=16,
        time_bins=3,
        limit=32,
        bits=None,
        progress=False,
        device="cpu",
    )
    assert not m["integer_only"] and m["bits"] is None and m["memory_saved"] == 0.0

"""SynOpLoss in ANN mode: FloorReLU, the ANN's SynOp count, ANN = converted SNN on the emulator, training, CLI."""

import json

import numpy as np
import pytest
import torch
from helpers import run_cli

from qsnn_deploy.convert.ann import load_ann, unscaled_lower_bound
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.nets.zoo import load_spec, spec_from_dict
from qsnn_deploy.quant.chip import discretize_network
from qsnn_deploy.train.ann_net import FloorReLU, quantized_ann_from_spec
from qsnn_deploy.train.ann_synop import train_ann_synop

HAND = spec_from_dict(
    {
        "name": "hand",
        "input_shape": [1, 4, 4],
        "n_classes": 3,
        "layers": [
            {"type": "conv", "name": "c1", "out_channels": 2, "kernel_size": 3, "padding": 1, "pool": 2},
            {"type": "linear", "name": "fc", "out_features": 3},
        ],
    }
)

TINY = spec_from_dict(
    {
        "name": "tiny",
        "input_shape": [2, 10, 10],
        "n_classes": 4,
        "layers": [
            {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            {"type": "conv", "name": "c2", "out_channels": 6, "kernel_size": 3, "padding": 1, "pool": 2, "bias": True},
            {"type": "linear", "name": "fc", "out_features": 4},
        ],
    }
)


def test_floor_relu_values_and_straight_through_gradient():
    x = torch.tensor([-1.5, -0.2, 0.0, 0.4, 1.0, 2.7], requires_grad=True)
    y = FloorReLU()(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0, 1.0]  # (sign(x) + 1) / 2
    assert FloorReLU(floor=False)(x).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.4, 1.0, 2.7])


@pytest.mark.parametrize("quantize_weights", [False, True])
def test_synops_equal_a_hand_count(quantize_weights):
    ann = quantized_ann_from_spec(HAND, quantize_weights=quantize_weights)
    with torch.no_grad():
        ann.c1.weight.zero_()
        ann.c1.weight[0, 0, 1, 1], ann.c1.weight[1, 0, 1, 1] = 1.0, 0.5  # centre taps: a = ⌊3⌋ = 3 and ⌊1.5⌋ = 1
        ann.fc.weight.fill_(0.01)
    with torch.no_grad():
        out = ann.run(torch.full((1, 1, 4, 4), 3.0))
    # input: 3 events per pixel × fan-out (corners 4, edges 6, inside 9 positions: 100 in all) × 2 channels
    # c1 → fc: sum-pooled counts (3·4 + 1·4) per 2×2 block × 4 blocks = 64 spikes, × 3 outputs each
    assert [float(s) for s in out.layer_synops] == [3 * 100 * 2, 64 * 3]
    assert float(out.synops) == 792.0 and float(out.layer_spikes[0]) == 64.0


def test_state_dict_loads_as_the_plain_ann(tmp_path):
    ann = quantized_ann_from_spec(load_spec("digits_speck"))
    torch.save(ann.state_dict(), tmp_path / "ann.pt")
    plain = load_ann(load_spec("digits_speck"), tmp_path / "ann.pt")
    assert (
        set(plain.state_dict())
        == set(ann.state_dict())
        == {"conv1.weight", "conv2.weight", "conv3.weight", "fc.weight"}
    )


def _tiny_ann(bins: int, nonnegative: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    ann = quantized_ann_from_spec(TINY, time_bins=bins)
    with torch.no_grad():
        for p in ann.parameters():
            p.copy_(torch.randn_like(p) * 0.6 + (0.25 if nonnegative else 0.0))
            if nonnegative:
                p.abs_()
    return ann.eval()


def _ann_run(ann, counts: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = ann.run(counts)
    return {
        "synops": np.stack([s.numpy() for s in out.layer_synops], 1),
        "spikes": np.stack([s.numpy() for s in out.layer_spikes], 1),
        "counts": out.counts.numpy(),
    }


def _snn(ann, raster: np.ndarray):
    net = discretize_network(ann.to_network())
    return net, run_binned(net, raster)


def _counts(seed: int, n: int = 24, t: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (n, t, 2, 10, 10), generator=g).float()


def test_ann_is_the_snn_when_the_window_is_one_bin():
    ann, raster = _tiny_ann(1), _counts(1)
    out = _ann_run(ann, raster[:, 0])
    net, res = _snn(ann, raster.numpy())
    assert np.array_equal(out["synops"], res.layer_synops) and np.array_equal(out["spikes"], res.layer_spikes)
    assert np.array_equal(out["counts"], res.output_counts)
    assert np.array_equal(out["counts"].argmax(1), res.predictions)
    assert res.layer_spikes.sum() > 0 and len(set(res.predictions)) > 1
    # converted with the headroom lower bound (−2**14 chip units at the weights' scale), not −threshold
    assert [layer.lower_bound for layer in net.layers] == [-(2**14)] * 3
    assert unscaled_lower_bound(np.array([[0.5, -0.25]])) == pytest.approx(-(2**14) / 254)
    assert unscaled_lower_bound(np.array([[1e-6]])) == -1.0  # never above −threshold


def test_spread_over_bins_equal_with_nonnegative_drive_and_never_fewer_spikes_in_general():
    raster = _counts(2, t=5)
    ann = _tiny_ann(5, nonnegative=True)  # running drive only grows: N = ⌊total⌋ exactly
    out = _ann_run(ann, raster.sum(1))
    _, res = _snn(ann, raster.numpy())
    assert np.array_equal(out["synops"], res.layer_synops) and np.array_equal(out["counts"], res.output_counts)
    assert res.output_counts.sum() > 0
    mixed = _tiny_ann(5, seed=3)  # N = ⌊max running drive⌋ ≥ ⌊total⌋ in the first layer
    out = _ann_run(mixed, raster.sum(1))
    _, res = _snn(mixed, raster.numpy())
    assert (res.layer_spikes[:, 0] >= out["spikes"][:, 0]).all() and res.layer_spikes[:, 0].sum() > 0
    assert np.array_equal(res.layer_synops[:, 0], out["synops"][:, 0])  # the same events in


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ann_synop")
    kw = {"epochs": 3, "batch_size": 16, "time_bins": 4, "limit": 64, "progress": False, "log": lambda m: None}
    plain = train_ann_synop("digits_speck", None, base / "plain", **kw)
    low = train_ann_synop(
        "digits_speck", None, base / "low", synop_target=0.3 * plain["ann_synops_per_sample"], init=base / "plain", **kw
    )
    return base, plain, low


def test_training_writes_the_run_and_a_target_lowers_synops(runs):
    base, plain, low = runs
    assert sorted(p.name for p in (base / "plain").iterdir()) == [
        "ann.pt",
        "config.yaml",
        "metrics.json",
        "training_curve.png",
    ]
    metrics = json.loads((base / "plain" / "metrics.json").read_text())
    for key in (
        "test_accuracy",
        "synops_per_sample",
        "epochs",
        "seed",
        "ann_test_accuracy",
        "ann_synops_per_sample",
        "snn_layer_synops",
        "snn_one_bin",
        "history",
    ):
        assert key in metrics
    assert metrics["epochs"] == 3 and len(metrics["history"]) == 3 and metrics["method"] == "ann-synop"
    # the one-bin SNN is the ANN: same SynOps
    assert metrics["snn_one_bin"]["synops_per_sample"] == pytest.approx(metrics["ann_synops_per_sample"])
    assert low["init"] == str(base / "plain") and "init: " in (base / "low" / "config.yaml").read_text()
    assert low["ann_synops_per_sample"] < 0.7 * plain["ann_synops_per_sample"]
    assert low["snn_synops_per_sample"] < 0.7 * plain["snn_synops_per_sample"]


def test_convert_no_weight_scaling_gives_the_trained_network(runs, tmp_path):
    from qsnn_deploy.convert.loader import load_network

    base, _, _ = runs
    proc = run_cli(
        "convert",
        base / "plain" / "ann.pt",
        "--from-ann",
        "digits_speck",
        "--no-weight-scaling",
        "--time-bins",
        "4",
        "--out",
        tmp_path / "b",
        "--format",
        "json",
        "-q",
    )
    assert "no scaling" in " ".join(json.loads(proc.stdout)["notes"])
    ann = quantized_ann_from_spec(load_spec("digits_speck"), time_bins=4)
    ann.load_state_dict(torch.load(base / "plain" / "ann.pt", weights_only=True))
    want = discretize_network(ann.to_network())
    got = load_network(tmp_path / "b" / "model.nir")
    for a, b in zip(want.layers, got.layers):
        assert np.array_equal(a.weight, b.weight) and a.threshold == b.threshold
        assert a.lower_bound == b.lower_bound


def test_no_weight_scaling_with_percentile_is_a_usage_error(tmp_path):
    proc = run_cli(
        "convert",
        tmp_path / "ann.pt",
        "--from-ann",
        "digits_speck",
        "--no-weight-scaling",
        "--percentile",
        "99",
        "--out",
        tmp_path / "b",
        check=False,
    )
    assert proc.returncode == 2
    assert (
        "Error: --percentile cannot be combined with --no-weight-scaling, which keeps the trained weights and "
        "calibrates nothing."
    ) in proc.stderr
    proc = run_cli("convert", tmp_path / "ann.pt", "--no-weight-scaling", "--out", tmp_path / "b", check=False)
    assert proc.returncode == 2 and "--no-weight-scaling only apply to ANN conversion" in proc.stderr
    assert not (tmp_path / "b").exists()

"""ANN → SNN with weight scaling, and the ONNX export (checker, onnxruntime = torch = emulator)."""

import graph_nets
import numpy as np
import pytest
import torch
from helpers import random_network, random_raster

from qsnn_deploy.convert.ann import activation_percentiles, ann_from_spec, ann_to_network, scale_weights
from qsnn_deploy.convert.onnx_export import export_onnx, state_names
from qsnn_deploy.convert.torch_model import FramedNetwork
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.nets.zoo import spec_from_dict

SPEC = spec_from_dict(
    {
        "name": "tiny",
        "input_shape": [2, 12, 12],
        "n_classes": 4,
        "layers": [
            {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1, "pool": 2},
            {"type": "conv", "name": "c2", "out_channels": 6, "kernel_size": 3, "padding": 1, "bias": True},
            {"type": "linear", "name": "fc", "out_features": 4},
        ],
    }
)


def _ann():
    torch.manual_seed(0)
    return ann_from_spec(SPEC).eval()


def test_percentile_scaling_puts_each_layer_at_one():
    ann, x = _ann(), torch.rand(64, 2, 12, 12) * 3
    lambdas = activation_percentiles(ann, x, 99.0)
    scaled = scale_weights(ann, lambdas)
    assert activation_percentiles(scaled, x, 99.0) == pytest.approx([1.0, 1.0, 1.0], rel=1e-4)
    doubled = scale_weights(ann, lambdas, first_layer_scale=2.0)
    assert torch.allclose(doubled.c1.weight, 2 * scaled.c1.weight) and torch.equal(doubled.c2.weight, scaled.c2.weight)


def test_ann_becomes_an_iaf_network():
    ann, x = _ann(), torch.rand(32, 2, 12, 12) * 3
    net, report = ann_to_network(ann, (2, 12, 12), x, percentile=99.99, first_layer_scale=1.5)
    assert [layer.name for layer in net.layers] == ["c1", "c2", "fc"]
    assert [layer.pool for layer in net.layers] == [2, 1, 1] and net.layers[2].kind == "linear"
    assert all(layer.threshold == 1.0 and layer.lower_bound == -1.0 for layer in net.layers)
    lam = report.lambdas
    assert np.allclose(net.layers[0].weight, ann.c1.weight.detach().double().numpy() * 1.5 / lam[0])
    # AvgPool2d(2) → SumPool: the next weights also get 1/4
    assert np.allclose(net.layers[1].weight, ann.c2.weight.detach().double().numpy() * lam[0] / lam[1] / 4)
    assert np.allclose(net.layers[1].bias, ann.c2.bias.detach().double().numpy() / lam[1])
    notes = " ".join(net.metadata["import_notes"])
    assert "IAF output neurons added after 'fc'" in notes and "percentile 99.99" in notes


def test_rates_follow_the_ann():
    """With enough time bins, spikes per bin ≈ the scaled ANN's activations (rate coding)."""
    ann, x = _ann(), torch.rand(8, 2, 12, 12)
    net, _ = ann_to_network(ann, (2, 12, 12), x, percentile=100.0)
    lambdas = activation_percentiles(ann, x, 100.0)
    ann_out = torch.relu(scale_weights(ann, lambdas)(x)).detach().numpy()
    t = 100
    raster = (torch.rand(8, t, 2, 12, 12) < x.unsqueeze(1)).float()  # Bernoulli events with mean x per bin
    snn_rate = FramedNetwork(net, torch.float64)(raster).sum(1).numpy() / t
    assert np.corrcoef(ann_out.ravel(), snn_rate.ravel())[0, 1] > 0.9


@pytest.mark.parametrize(
    "build",
    [
        lambda: random_network(3, quantized=True, bias=True),
        lambda: graph_nets.residual(3, quantized=True),  # a merge, a layer with two destinations
        lambda: graph_nets.mixed_pooling(3, quantized=True),  # one pooled and one unpooled destination
    ],
    ids=["chain", "residual", "mixed_pooling"],
)
def test_onnx_step_matches_torch_and_emulator(tmp_path, build):
    import onnx
    import onnxruntime as ort

    net = build()
    x = random_raster(4, 6, net.input_shape, seed=1)
    path = export_onnx(net, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path))
    states = [np.zeros((4, *layer.conv_shape), np.float32) for layer in net.layers]
    outs = []
    for t in range(x.shape[1]):
        spikes, *states = sess.run(None, {"events": x[:, t], **dict(zip(state_names(net), states))})
        outs.append(spikes)
    onnx_out = np.stack(outs, 1)
    torch_out = FramedNetwork(net)(torch.from_numpy(x)).numpy()
    assert np.array_equal(onnx_out, torch_out) and np.array_equal(torch_out, run_binned(net, x).output_trace)
    assert onnx_out.sum() > 0

"""The binned emulator: hand-computed cases, the QAT torch model, and sinabs' own layers."""

import numpy as np
import pytest
import torch
from helpers import random_network, random_raster

from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import ChipLayer, Network


def one_neuron(reset="subtract", low=-5.0, pool=1, bias=None, threshold=4.0):
    layer = ChipLayer(
        "n",
        np.full((1, 1, 1, 1), 3.0),
        (1, 2, 2),
        threshold=threshold,
        min_v_mem=low,
        reset=reset,
        pool=pool,
        bias=bias,
        scale=1.0,
    )
    return Network((layer,), (1, 2, 2))


def test_multi_spike_subtract_reset_by_hand():
    # input counts 1, 3, 0 at one pixel, weight 3, threshold 4: v = 3 → 0 spikes; 3+9 = 12 → 3 spikes, v 0
    x = np.zeros((1, 3, 1, 2, 2), np.float32)
    x[0, :, 0, 0, 0] = [1, 3, 0]
    res = run_binned(one_neuron(), x)
    assert res.output_trace[0, :, 0].tolist() == [0, 3, 0]


def test_zero_reset_drops_the_remainder():
    x = np.zeros((1, 3, 1, 2, 2), np.float32)
    x[0, :, 0, 0, 0] = [2, 1, 1]  # v = 6 → 1 spike, reset to 0; 3 → 0; 6 → 1
    res = run_binned(one_neuron(reset="zero"), x)
    assert res.output_trace[0, :, 0].tolist() == [1, 0, 1]


def test_lower_bound_clips_negative_input():
    layer = ChipLayer("n", np.full((1, 1, 1, 1), -3.0), (1, 1, 1), threshold=4.0, min_v_mem=-5.0, scale=1.0)
    pos = ChipLayer("m", np.full((1, 1, 1, 1), 1.0), (1, 1, 1), threshold=1.0, min_v_mem=-1.0, scale=1.0)
    # drive n down with 3 events (v would be -9, clipped to -5), then bias: show the clip via a bias of +2 per bin
    layer = layer.replace(bias=np.array([2.0]))
    x = np.zeros((1, 4, 1, 1, 1), np.float32)
    x[0, 0] = 3  # -9 + 2 = -7 → clipped to -5; then +2 per bin: -3, -1, 1 → no spike
    net = Network((layer, pos), (1, 1, 1))
    assert run_binned(net, x).output_counts[0, 0] == 0
    x[0, 0] = 0  # bias alone: 2, 4 → spike, ... 2 spikes over 4 bins
    assert run_binned(net, x).layer_spikes[0, 0] == 2


def test_sum_pooling_adds_counts():
    layer = ChipLayer("n", np.ones((1, 1, 1, 1)), (1, 2, 2), threshold=1.0, min_v_mem=-1.0, pool=2, scale=1.0)
    x = np.ones((1, 1, 1, 2, 2), np.float32)
    x[0, 0, 0, 1, 1] = 3
    res = run_binned(Network((layer,), (1, 2, 2)), x)
    assert res.output_counts.tolist() == [[6]]


def test_synops_count_fanout_with_borders():
    # 3x3 kernel, padding 1 on 4x4: a corner event reaches 4 outputs, a centre event 9; 2 output channels
    layer = ChipLayer("n", np.ones((2, 1, 3, 3)), (1, 4, 4), padding=1, threshold=100.0, min_v_mem=-100.0, scale=1.0)
    x = np.zeros((1, 1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0, 0] = 1
    x[0, 0, 0, 1, 1] = 2
    res = run_binned(Network((layer,), (1, 4, 4)), x)
    assert res.layer_synops[0, 0] == 2 * (4 + 2 * 9)


@pytest.mark.parametrize("engine", ["compiled", "torch"])
@pytest.mark.parametrize("bias", [False, True])
def test_matches_quantised_torch_model_exactly(bias, engine):
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "t",
            "input_shape": [2, 12, 12],
            "n_classes": 5,
            "layers": [
                {"type": "conv", "name": "c1", "out_channels": 4, "stride": 2, "padding": 1, "bias": bias},
                {"type": "conv", "name": "c2", "out_channels": 6, "padding": 1, "pool": 2, "bias": bias},
                {"type": "linear", "name": "fc", "out_features": 5},
            ],
        }
    )
    torch.manual_seed(3)
    model = SpikingCNN(spec, quantize=True)
    for block in model.blocks:
        block.conv.weight.data *= 4
    x = random_raster(16, 12, (2, 12, 12), rate=0.2)
    with torch.no_grad():
        out, _, spikes = model(torch.from_numpy(x), record=True)
    res = run_binned(model.to_network(1000.0), x, batch_size=5, engine=engine)
    assert np.array_equal(out.sum(1).numpy(), res.output_counts)
    assert np.array_equal(torch.stack(spikes, 1).numpy(), res.layer_spikes)
    assert res.output_counts.sum() > 0


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_matches_sinabs_layers_on_integer_parameters(engine):
    """sinabs' own IAFSqueeze / SumPool2d forward on the same integers gives the same spikes."""
    from qsnn_deploy.convert.to_sinabs import sinabs_sequential

    net = random_network(1, quantized=True)
    n, t = 4, 10
    x = random_raster(n, t, net.input_shape, rate=0.3, seed=2)
    snn = sinabs_sequential(net, batch_size=n)
    with torch.no_grad():
        y = snn(torch.from_numpy(x).flatten(0, 1)).unflatten(0, (n, t))
    res = run_binned(net, x, engine=engine)
    assert np.array_equal(y.flatten(2).sum(1).numpy().astype(np.int64), res.output_counts)


def test_float_network_is_discretised_like_convert():
    net = random_network(4)
    x = random_raster(3, 6, net.input_shape)
    a = run_binned(net, x)
    b = run_binned(random_network(4, quantized=True), x)
    assert np.array_equal(a.output_counts, b.output_counts)


def test_wrong_input_shape_is_an_input_error():
    with pytest.raises(InputError, match="does not match the model input"):
        run_binned(random_network(0, quantized=True), np.zeros((1, 4, 2, 10, 10), np.float32))
    with pytest.raises(InputError, match="negative"):
        run_binned(random_network(0, quantized=True), -np.ones((1, 4, 2, 12, 12), np.float32))


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_progress_takes_a_mode_or_a_wrapper(engine, capsys):
    """A progress mode gives a "binned" bar over the batches; a wrapper (progress_wrapper's) is used as given."""
    net = random_network(1, quantized=True)
    x = random_raster(5, 4, net.input_shape, rate=0.3, seed=3)
    quiet = run_binned(
        net, x, batch_size=2, engine=engine, workers=1
    )  # one worker: batches of 2 (--workers test_workers)
    capsys.readouterr()
    shown = run_binned(net, x, batch_size=2, engine=engine, progress="auto", workers=1)  # plain lines: not a TTY
    assert "binned: 3/3 batch" in capsys.readouterr().err
    seen: list = []  # the batch starts (torch) or the batches' results as they finish (compiled)
    wrapped = run_binned(net, x, batch_size=2, engine=engine, progress=lambda it: seen.extend(it) or seen, workers=1)
    assert len(seen) == 3 and (engine == "compiled" or seen == [0, 2, 4])
    for res in (shown, wrapped):
        assert np.array_equal(res.output_trace, quiet.output_trace)

"""torch/sinabs modules → chip network: the same integers as sinabs' DynapcnnNetwork(discretize=True),
the same float outputs as the sinabs model, batch-norm folding, and every refusal."""

import numpy as np
import pytest
import sinabs
import sinabs.layers as sl
import torch
from helpers import random_raster
from torch import nn

from qsnn_deploy.convert.bundle import discretize_with_warnings
from qsnn_deploy.convert.from_torch import network_from_module
from qsnn_deploy.convert.nir_io import from_nir, write_nir
from qsnn_deploy.convert.torch_model import FramedNetwork
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.errors import ConstraintError
from qsnn_deploy.quant.chip import discretize_network


def _iaf(thr=1.0, low=None):
    return sl.IAFSqueeze(batch_size=1, spike_threshold=thr, min_v_mem=-thr if low is None else low)


def _active(model: nn.Sequential) -> nn.Sequential:
    """Weights large enough that every layer spikes on sparse inputs."""
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.1, 0.6)
    return model


def _nets():
    """Several Speck networks: with/without bias, SumPool and AvgPool, linear heads, strides."""
    torch.manual_seed(0)
    for name, shape, model in _plain_nets():
        yield name, shape, _active(model)


def _plain_nets():
    yield (
        "sumpool_linear_head",
        (2, 12, 12),
        nn.Sequential(
            nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False),
            _iaf(),
            sl.SumPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1, bias=False),
            _iaf(0.5),
            nn.Flatten(),
            nn.Linear(54, 5, bias=False),
            _iaf(),
        ),
    )
    yield (
        "bias_avgpool",
        (2, 16, 16),
        nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1, bias=True),
            _iaf(2.0, -3.0),
            nn.AvgPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1, bias=True),
            _iaf(1.5),
            nn.AvgPool2d(2),
            nn.Conv2d(8, 10, 4, bias=True),
            _iaf(),
        ),
    )
    yield (
        "two_linear",
        (1, 8, 8),
        nn.Sequential(
            nn.Conv2d(1, 4, 5, stride=1, bias=False),
            _iaf(0.3),
            nn.Flatten(),
            nn.Linear(64, 16, bias=True),
            _iaf(),
            nn.Linear(16, 3, bias=False),
            _iaf(0.7),
        ),
    )


@pytest.mark.parametrize("name, shape, model", list(_nets()), ids=lambda v: v if isinstance(v, str) else "")
def test_same_integers_as_sinabs_dynapcnn(sinabs_dynapcnn, name, shape, model):
    ours = discretize_with_warnings(network_from_module(model, shape))[0]
    theirs = sinabs_dynapcnn.DynapcnnNetwork(model, input_shape=shape, discretize=True)
    layers = list(theirs.dynapcnn_layers.values())
    assert len(layers) == len(ours.layers)
    for dl, layer in zip(layers, ours.layers):
        w = dl.conv_layer.weight.detach().double().numpy()
        assert np.array_equal(w.reshape(layer.weight.shape), layer.weight), layer.name
        b = dl.conv_layer.bias
        if layer.bias is None:
            assert b is None or not torch.any(b)
        else:
            assert np.array_equal(b.detach().double().numpy(), layer.bias), layer.name
        assert float(dl.spk_layer.spike_threshold) == layer.threshold
        assert float(dl.spk_layer.min_v_mem) == layer.min_v_mem
        assert [int(p) for p in np.ravel(dl.pool)][:1] == [layer.pool]


def _sinabs_counts(model, x):
    """Output spikes of a sinabs model over a raster (N, T, C, H, W), per time step."""
    n, t = x.shape[:2]
    for m in model.modules():
        if isinstance(m, sl.IAFSqueeze):
            m.reset_states()
            m.batch_size, m.num_timesteps = n, t
    with torch.no_grad():
        out = model(torch.from_numpy(x).flatten(0, 1))
    out = out[0] if isinstance(out, tuple) else out  # nirtorch's executor returns (output, state)
    return out.reshape(n, t, -1).numpy()


@pytest.mark.parametrize("name, shape, model", list(_nets()), ids=lambda v: v if isinstance(v, str) else "")
def test_float_outputs_equal_the_sinabs_model(name, shape, model):
    x = random_raster(3, 5, shape, rate=0.3, seed=2)
    net = network_from_module(model, shape)
    ours = FramedNetwork(net, torch.float64)(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(ours, _sinabs_counts(model, x))
    assert ours.sum() > 0


def test_sinabs_to_nir_graph_and_file(tmp_path):
    """sinabs.to_nir's graph (no conv input shapes, tensors, unordered edges) imports like the module."""
    _, shape, model = list(_nets())[0]
    graph = sinabs.to_nir(model, torch.zeros(1, *shape))
    via_nir = discretize_network(from_nir(graph))
    direct = discretize_network(network_from_module(model, shape))
    for a, b in zip(via_nir.layers, direct.layers, strict=True):
        assert np.array_equal(a.weight, b.weight) and a.threshold == b.threshold and a.pool == b.pool
    import nir

    with pytest.raises(TypeError):  # what users meet: sinabs' graph cannot be written as it is
        nir.write(tmp_path / "s.nir", graph)


def test_our_nir_runs_in_sinabs_with_the_same_outputs(tmp_path):
    """model.nir → sinabs.from_nir → the same outputs as our emulator (integers) and float model."""
    import nir

    _, shape, model = list(_nets())[1]
    for m in model:  # weights on a 1/64 grid: float32 and float64 arithmetic are then both exact
        if isinstance(m, nn.Conv2d):
            m.weight.data, m.bias.data = (torch.round(p.data * 64) / 64 for p in (m.weight, m.bias))
    model[1].min_v_mem.data.fill_(-2.0)  # NIR has no lower bound: other tools assume -threshold
    x = random_raster(2, 6, shape, rate=0.4, seed=3)
    for quantized in (False, True):
        net = network_from_module(model, shape)
        net = discretize_network(net) if quantized else net
        path = write_nir(net, tmp_path / f"m{quantized}.nir")
        loaded = sinabs.from_nir(nir.read(path), batch_size=2)
        theirs = _sinabs_counts(loaded, x)
        ours = (
            run_binned(net, x).output_trace
            if quantized
            else FramedNetwork(net, torch.float64)(torch.from_numpy(x)).detach().numpy()
        )
        assert np.allclose(theirs, ours) and ours.sum() > 0, quantized


def test_batchnorm_is_folded():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        _iaf(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
        nn.BatchNorm1d(3),
        _iaf(),
    )
    for bn in (model[1], model[5]):
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.1, 0.1)
    model.eval()
    x = random_raster(2, 4, (2, 8, 8), rate=0.3, seed=4)
    net = network_from_module(model, (2, 8, 8))
    assert net.layers[0].bias is not None
    assert np.allclose(
        FramedNetwork(net, torch.float64)(torch.from_numpy(x)).detach().numpy(), _sinabs_counts(model, x)
    )
    assert "batch norm '1' folded" in " ".join(net.metadata["import_notes"])


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.spk, self.fc, self.out = nn.Conv2d(1, 2, 3), _iaf(), nn.Linear(2 * 4 * 4, 3), _iaf()

    def forward(self, x):
        return self.out(self.fc(torch.flatten(self.spk(self.conv(x)), 1)))


class Residual(Chain):
    def forward(self, x):
        y = self.spk(self.conv(x))
        return self.out(self.fc(torch.flatten(y + y, 1)))


def test_module_with_its_own_forward():
    net = network_from_module(Chain(), (1, 6, 6))
    assert [layer.kind for layer in net.layers] == ["conv", "linear"]
    with pytest.raises(ConstraintError, match="calls 'add'"):
        network_from_module(Residual(), (1, 6, 6))


@pytest.mark.parametrize(
    "layer, pattern",
    [
        (nn.ReLU(), r"'1' is a ReLU: this is an ANN.*--from-ann"),
        (nn.MaxPool2d(2), r"'1' is MaxPool2d; Speck has only non-overlapping sum pooling"),
        (sl.LIFSqueeze(tau_mem=10.0, batch_size=1), r"'1' is a LIFSqueeze neuron with time constant 10 steps"),
        (nn.Sigmoid(), r"'1' is a Sigmoid, which cannot run on Speck"),
        (nn.BatchNorm2d(4), r"batch norm '2' does not follow a convolution"),
    ],
)
def test_refusals_name_the_module(layer, pattern):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), layer, _iaf())
    if isinstance(layer, nn.BatchNorm2d):
        model = nn.Sequential(nn.Conv2d(2, 4, 3), _iaf(), layer)
    with pytest.raises(ConstraintError, match=pattern):
        network_from_module(model, (2, 8, 8))


def test_leak_approximation_and_lower_bounds():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), sl.LIFSqueeze(tau_mem=10.0, batch_size=1, norm_input=False))
    net = network_from_module(model, (2, 8, 8), approximate_leak=True)
    assert "runs as IAF: leak dropped" in net.metadata["import_notes"][0]
    # sinabs' default lower bound (None → -32768 there) becomes -threshold here, and says so
    net = network_from_module(nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1)), (2, 8, 8))
    assert net.layers[0].min_v_mem is None and "sinabs would use -32768" in net.metadata["import_notes"][0]
    # an explicit -32768 collapses the scale: the discretiser warns, naming the layer
    collapsed = nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1, min_v_mem=-32768.0))
    _, warns = discretize_with_warnings(network_from_module(collapsed, (2, 8, 8)))
    assert any(w.startswith("layer 0: the threshold/lower bound") for w in warns)

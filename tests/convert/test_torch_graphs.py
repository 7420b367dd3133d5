"""torch/sinabs graph models → chip network: the residual, mixed-pooling and 3-way-merge networks of
tests/graph_nets written as torch modules (sinabs ``Merge``, nested for three inputs, and plain ``+``) import
as those very networks; channel concatenation and recurrence are refused with exit 4; and the whole
``convert`` command takes such a model the way the README says (module → NIR file → convert)."""

import json

import numpy as np
import pytest
import sinabs.layers as sl
import torch
from graph_nets import mixed_pooling, residual, three_way_merge
from helpers import random_raster, run_cli
from torch import nn

from qsnn_deploy.convert.from_torch import CONCAT_REASON, module_graph, network_from_module
from qsnn_deploy.convert.nir_io import read_nir, write_nir
from qsnn_deploy.convert.torch_model import FramedNetwork
from qsnn_deploy.errors import ConstraintError
from qsnn_deploy.ir import ChipLayer, Network

DT = torch.float64  # the graph_nets weights are float64: the imported weights must equal them exactly


def _synapse(layer: ChipLayer, scale: float = 1.0) -> nn.Module:
    """The torch layer holding ``layer``'s weights (times ``scale``): a Conv2d or a Linear."""
    weight = torch.from_numpy(layer.weight * scale)
    if layer.kind == "linear":
        fc = nn.Linear(weight[0].numel(), layer.c_out, bias=False, dtype=DT)
        fc.weight.data = weight.reshape(layer.c_out, -1)
        return fc
    conv = nn.Conv2d(layer.c_in, layer.c_out, layer.kernel_size[0], layer.stride, layer.padding, bias=False, dtype=DT)
    conv.weight.data = weight
    return conv


def _iaf(layer: ChipLayer) -> nn.Module:
    return sl.IAFSqueeze(batch_size=1, spike_threshold=layer.threshold)  # no min_v_mem: graph_nets gives None


class _Graph(nn.Module):
    """A torch model of a graph_nets network: layer ``n`` is the module ``n`` (its weights) and ``n_iaf``;
    ``add`` sums spikes with sinabs Merge (nested for three inputs) or with ``+``."""

    def __init__(self, net: Network, style: str):
        super().__init__()
        self.style = style
        for layer in net.layers:
            if layer.kind == "linear":  # a module, not torch.flatten: sinabs' tracer sees modules only
                self.add_module(f"{layer.name}_flat", nn.Flatten())
            self.add_module(layer.name, _synapse(layer))
            self.add_module(f"{layer.name}_iaf", _iaf(layer))
        self.merge1, self.merge2 = sl.Merge(), sl.Merge()

    def layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, f"{name}_flat"):
            x = getattr(self, f"{name}_flat")(x)
        return getattr(self, f"{name}_iaf")(getattr(self, name)(x))

    def add(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.style == "plus":
            total = xs[0]
            for x in xs[1:]:
                total = total + x
            return total
        total = self.merge1(xs[0], xs[1])
        return self.merge2(total, xs[2]) if len(xs) == 3 else total  # Merge(Merge(a, b), c): a 3-input sum


class Residual(_Graph):
    def __init__(self, style: str, stem_pool: nn.Module | None = None):
        super().__init__(residual(), style)
        self.stem_pool, self.join_pool = stem_pool or sl.SumPool2d(2), sl.SumPool2d(2)

    def forward(self, x):
        stem = self.stem_pool(self.layer("stem", x))
        return self.layer("fc", self.join_pool(self.layer("join", self.add(stem, self.layer("body", stem)))))


class MixedPooling(_Graph):
    """a sends unpooled to b and pooled to c (``a_pool``: sum pooling, or average pooling with c's weights
    ×4, which import turns back); b pooled (``b_pool``) and c add into d."""

    def __init__(self, style: str, average: bool = False, b_pool: nn.Module | None = None):
        net = mixed_pooling()
        super().__init__(net, style)
        self.a_pool = nn.AvgPool2d(2) if average else sl.SumPool2d(2)
        if average:
            self.c = _synapse(net.layer("c"), scale=4.0)
        self.b_pool, self.d_pool = b_pool or sl.SumPool2d(2), sl.SumPool2d(2)

    def forward(self, x):
        a = self.layer("a", x)
        b, c = self.layer("b", a), self.layer("c", self.a_pool(a))
        return self.layer("fc", self.d_pool(self.layer("d", self.add(self.b_pool(b), c))))


class ThreeWayMerge(_Graph):
    def __init__(self, style: str):
        super().__init__(three_way_merge(), style)
        self.e_pool = sl.SumPool2d(2)

    def forward(self, x):
        a = self.layer("a", x)
        b, c = self.layer("b", a), self.layer("c", a)
        e = self.layer("e", self.add(b, c, self.layer("d", b)))
        return self.layer("fc", self.e_pool(e))


MODELS = {"residual": (Residual, residual), "mixed_pooling": (MixedPooling, mixed_pooling)}
MODELS["three_way_merge"] = (ThreeWayMerge, three_way_merge)


def assert_same_network(ours: Network, theirs: Network) -> None:
    """Same layers (names, weights, shapes, neurons), same edges with their pooling, same output pooling."""
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.edges == theirs.edges
    assert ours.output_pool == theirs.output_pool and ours.input_shape == theirs.input_shape
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert np.array_equal(a.weight, b.weight), a.name
        assert a.bias is None and b.bias is None, a.name
        for key in ("input_shape", "stride", "padding", "threshold", "min_v_mem", "reset", "kind"):
            assert getattr(a, key) == getattr(b, key), (a.name, key)


@pytest.mark.parametrize("style", ["merge", "plus"])
@pytest.mark.parametrize("name", list(MODELS))
def test_torch_graph_imports_as_the_graph_network(name, style):
    model_cls, build = MODELS[name]
    theirs = build()
    ours = network_from_module(model_cls(style), theirs.input_shape)
    assert_same_network(ours, theirs)
    assert not ours.is_chain and ours.metadata["model_class"] == model_cls.__name__
    if name == "three_way_merge":  # nested Merges (sinabs' own forward fails on them) are one 3-input sum
        assert ours.sources(4) == (1, 2, 3)


@pytest.mark.parametrize("name", ["residual", "three_way_merge"])
def test_sinabs_maps_the_sinabs_model_to_the_same_edges(sinabs_dynapcnn, name):
    """sinabs 3.1.3's DynapcnnNetwork on the Merge model: the same destinations, each with the same pooling
    (``layer_destination_map``, ``DynapcnnLayer.pool`` one entry per destination: dynapcnn_layer.py:81-88)."""
    model_cls, build = MODELS[name]
    model = model_cls("merge")
    ours = network_from_module(model, build().input_shape)
    theirs = sinabs_dynapcnn.DynapcnnNetwork(model.float(), input_shape=ours.input_shape, discretize=False)
    edges = set()
    for i, dests in theirs.layer_destination_map.items():
        pools = theirs.dynapcnn_layers[i].pool
        edges |= {(i, j, int(p[0])) for j, p in zip(dests, pools, strict=True) if j >= 0}
    assert edges == set(ours.edges)


def test_average_pooling_on_one_branch_is_that_destinations_sum_pooling():
    """nn.AvgPool2d on a→c is a pool-2 edge with c's weights scaled by 1/4, as the chain importer does."""
    ours = network_from_module(MixedPooling("plus", average=True), (2, 16, 16))
    assert_same_network(ours, mixed_pooling())
    notes = " ".join(ours.metadata["import_notes"])
    assert "average pooling 'a_pool' (2x2) became sum pooling" in notes
    assert "weights of 'c' scaled by 0.25 because average pooling 'a_pool' became sum pooling" in notes


def test_a_merge_of_differently_averaged_branches_is_refused():
    """b pooled by an average, c by a sum (×1/4 vs ×1): d's one weight tensor cannot scale them apart."""
    model = MixedPooling("merge", b_pool=nn.AvgPool2d(2))
    with pytest.raises(ConstraintError, match="average pooling") as err:
        network_from_module(model, (2, 16, 16))
    assert err.value.exit_code == 4


def test_pooling_after_a_merge_pools_each_input():
    """pool(a + b) = pool(a) + pool(b): sum pooling after a merge is the pooling of each edge into it."""

    class PoolAfterMerge(Residual):
        def forward(self, x):
            stem = self.layer("stem", x)  # unpooled: 16×16; body sees the pooled stem
            body = self.layer("body", self.stem_pool(stem))
            joined = self.add(self.stem_pool(stem), body)
            return self.layer("fc", self.join_pool(self.layer("join", joined)))

    net = network_from_module(PoolAfterMerge("plus"), (2, 16, 16))
    assert net.edges == residual().edges


def test_batchnorm_on_a_branch_is_folded():
    model = Residual("plus")
    model.body = nn.Sequential(model.body, nn.BatchNorm2d(4, dtype=DT))
    bn = model.body[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 1.5)
    model.eval()
    ours = network_from_module(model, (2, 16, 16))
    assert ours.edges == residual().edges
    body, ref = ours.layer("body.0"), residual().layer("body")
    factor = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    assert np.allclose(body.weight, ref.weight * factor[:, None, None, None])
    assert np.allclose(body.bias, (bn.bias - bn.running_mean).detach().numpy() * factor)
    assert "batch norm 'body.1' folded into the weights and bias of 'body.0'" in ours.metadata["import_notes"]


def test_the_imported_graph_computes_what_the_torch_model_computes():
    """FramedNetwork of the import (float) = the torch model's own forward (float32, as sinabs' neurons keep
    their state), time step by time step."""
    model = Residual("plus")
    x = random_raster(2, 5, (2, 16, 16), rate=0.3, seed=1)
    n, t = x.shape[:2]
    for layer in residual().layers:  # sinabs' default has no lower bound; the chip's is -threshold
        iaf = sl.IAFSqueeze(num_timesteps=t, spike_threshold=layer.threshold, min_v_mem=-layer.threshold)
        setattr(model, f"{layer.name}_iaf", iaf)
    net = network_from_module(model, (2, 16, 16))
    model.float()
    with torch.no_grad():
        theirs = model(torch.from_numpy(x).flatten(0, 1)).reshape(n, t, -1).numpy()
    ours = FramedNetwork(net, DT)(torch.from_numpy(x).to(DT)).detach().numpy()
    assert np.allclose(ours, theirs) and theirs.sum() > 0


class _Concat(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.a, self.b, self.c = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 2, 1)
        self.a_iaf, self.b_iaf, self.c_iaf = (
            sl.IAFSqueeze(batch_size=1),
            sl.IAFSqueeze(batch_size=1),
            sl.IAFSqueeze(batch_size=1),
        )
        self.d, self.d_iaf, self.shift = nn.Conv2d(6, 3, 3), sl.IAFSqueeze(batch_size=1), sl.ChannelShift(4)

    def forward(self, x):
        a = self.a_iaf(self.a(x))
        b, c = self.b_iaf(self.b(a)), self.c_iaf(self.c(a))
        if self.how == "ChannelShift":
            joined = self.shift(c)
        else:
            joined = getattr(torch, self.how)([b, c], 1)
        return self.d_iaf(self.d(joined))


@pytest.mark.parametrize("how", ["cat", "concat", "stack", "ChannelShift"])
def test_channel_concatenation_is_refused_with_the_reason(how):
    with pytest.raises(ConstraintError) as err:
        network_from_module(_Concat(how), (2, 8, 8))
    assert err.value.exit_code == 4
    message = str(err.value)
    assert "to concatenate channels, which qsnn-deploy does not convert" in message and CONCAT_REASON in message
    assert "feature_shift" in message and "sinabs 3.1.3 never sets it" in message
    assert "Fix: add the branches instead (a sum merge" in message and "ChannelShift" in message


class _Feedback(nn.Module):
    """a's spikes go through b and back into a: a recurrence."""

    def __init__(self, feedback: bool = True):
        super().__init__()
        self.feedback = feedback
        self.a, self.a_iaf = nn.Conv2d(2, 2, 3, padding=1), sl.IAFSqueeze(batch_size=1)
        self.b, self.b_iaf = nn.Conv2d(2, 2, 3, padding=1), sl.IAFSqueeze(batch_size=1)

    def forward(self, x):
        a = self.a_iaf(self.a(x))
        b = self.b_iaf(self.b(a))
        return self.b_iaf(self.b(a + b)) if self.feedback else self.a_iaf(self.a(x))


def test_recurrence_is_refused():
    with pytest.raises(ConstraintError, match=r"recurrence \(feedback loop\), which Speck does not run") as err:
        network_from_module(_Feedback(), (2, 8, 8))
    assert err.value.exit_code == 4 and err.value.where == "module b"
    with pytest.raises(ConstraintError, match="'a' is called twice") as err:  # reused, but no loop
        network_from_module(_Feedback(feedback=False), (2, 8, 8))
    assert err.value.exit_code == 4


@pytest.mark.parametrize(
    "forward, pattern",
    [
        (lambda m, x: m.b_iaf(m.b(m.a_iaf(m.a(x)) + m.a_iaf(m.a(x)))), "'a' is called twice"),
        (lambda m, x: m.b_iaf(m.b(m.a(x) + m.a(x))), "'a' is called twice"),
        (lambda m, x: m.b_iaf(m.b(torch.add(m.a_iaf(m.a(x)), 1))), "with a constant or a factor"),
        (lambda m, x: m.b_iaf(m.b(m.a_iaf(m.a(x)) + x)), "adds the network input"),
        (lambda m, x: (a := m.a_iaf(m.a(x)), m.b_iaf(m.b(a))), "returns 2 tensors"),
    ],
)
def test_graph_refusals(forward, pattern):
    class Model(_Feedback):
        def forward(self, x):
            return forward(self, x)

    with pytest.raises(ConstraintError, match=pattern):
        network_from_module(Model(), (2, 8, 8))


def test_module_graph_lists_sums_as_calls_with_several_inputs():
    calls, output = module_graph(ThreeWayMerge("merge"))
    merges = [c for c in calls if c.what == "add"]
    assert [(c.fn, len(c.inputs)) for c in merges] == [("Merge", 2), ("Merge", 2)]
    assert calls[output].name == "fc_iaf"
    plus = [c for c in module_graph(ThreeWayMerge("plus"))[0] if c.what == "add"]
    assert [(c.fn, len(c.inputs)) for c in plus] == [("add", 2), ("add", 2)]


def test_convert_cli_on_a_torch_graph(tmp_path):
    """The README's way for a torch model: network_from_module → a float NIR file → `qsnn-deploy convert`
    (full-module pickles are never loaded: that would run code from the file)."""
    net = network_from_module(MixedPooling("merge"), (2, 16, 16))
    write_nir(net, tmp_path / "model.nir")
    proc = run_cli("convert", tmp_path / "model.nir", "--out", tmp_path / "bundle", "--format", "json")
    result = json.loads(proc.stdout)
    assert set(result["mapping"]) == {"a", "b", "c", "d", "fc"}
    bundle = read_nir(tmp_path / "bundle" / "model.nir")
    assert bundle.quantized and bundle.edges == mixed_pooling().edges


def test_convert_cli_refuses_three_destinations(tmp_path):
    """A torch graph with a layer sending to three layers: exit 4 at convert, naming the two-destination limit."""

    class Three(_Graph):
        def forward(self, x):
            a = self.layer("a", x)
            return self.layer("e", self.add3(self.layer("b", a), self.layer("c", a), self.layer("d", a)))

        def add3(self, b, c, d):
            return b + c + d

    from graph_nets import three_destinations

    net = network_from_module(Three(three_destinations(), "plus"), (2, 8, 8))
    assert net.targets(0) == (1, 2, 3)
    write_nir(net, tmp_path / "three.nir")
    proc = run_cli("convert", tmp_path / "three.nir", "--out", tmp_path / "bundle", check=False)
    assert proc.returncode == 4, proc.stderr
    assert "destination" in proc.stderr and "relay" in proc.stderr
    assert not (tmp_path / "bundle").exists()

"""Graph models (residual blocks, branches, merges) declared in model YAML, run by SpikingCNN and trained.

A layer names its ``inputs:`` (default: the previous layer); each edge is sum-pooled by its source's ``pool:``
or by the ``pool`` of an input written ``{from: NAME, pool: P}``; a layer adds what its inputs send.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from byte_mutations import damaged, loads_or_names_file
from graph_nets import mixed_pooling
from graph_nets import residual as residual_net
from helpers import TINY, checkpoint_predictions, random_raster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.errors import InputError, UsageError
from qsnn_deploy.ir import Destination, fanout_map
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import LayerInput, load_spec, spec_from_dict

# tests/graph_nets.residual as a model YAML: stem (pool 2 towards both) → body; body + stem → join → fc
RESIDUAL = {
    "name": "residual",
    "input_shape": [2, 16, 16],
    "n_classes": 5,
    "layers": [
        {"type": "conv", "name": "stem", "out_channels": 4, "padding": 1, "pool": 2},
        {"type": "conv", "name": "body", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "join", "out_channels": 6, "padding": 1, "pool": 2, "inputs": ["body", "stem"]},
        {"type": "linear", "name": "fc", "out_features": 5},
    ],
}
# tests/graph_nets.mixed_pooling: a sends unpooled to b and pooled by 2 to c; b (pooled 2) + c → d → fc
MIXED = {
    "name": "mixed",
    "input_shape": [2, 16, 16],
    "n_classes": 5,
    "layers": [
        {"type": "conv", "name": "a", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "b", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "c", "out_channels": 4, "padding": 1, "inputs": [{"from": "a", "pool": 2}]},
        {
            "type": "conv",
            "name": "d",
            "out_channels": 6,
            "padding": 1,
            "pool": 2,
            "inputs": [{"from": "b", "pool": 2}, "c"],
        },
        {"type": "linear", "name": "fc", "out_features": 5},
    ],
}
# three sources into one layer (sinabs' Merge takes two)
THREE_WAY = {
    "name": "three_way",
    "input_shape": [2, 8, 8],
    "n_classes": 5,
    "layers": [
        {"type": "conv", "name": "a", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "b", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "c", "out_channels": 4, "padding": 1, "inputs": ["a"]},
        {"type": "conv", "name": "d", "out_channels": 4, "padding": 1, "inputs": ["b"]},
        {"type": "conv", "name": "e", "out_channels": 6, "padding": 1, "pool": 2, "inputs": ["b", "c", "d"]},
        {"type": "linear", "name": "fc", "out_features": 5},
    ],
}
GRAPH_SPECS = {"residual": RESIDUAL, "mixed": MIXED, "three_way": THREE_WAY}


def _spec(data: dict):
    return spec_from_dict(copy.deepcopy(data))


def _model(data: dict, seed: int = 3, quantize: bool = True, gain: float = 4.0) -> SpikingCNN:
    torch.manual_seed(seed)
    model = SpikingCNN(_spec(data), quantize=quantize)
    with torch.no_grad():
        for block in model.chip_blocks:  # weights large enough that spikes reach every layer
            block.conv.weight.mul_(gain).add_(0.05)
    return model


# --- model YAML ---------------------------------------------------------------------------------------------


def test_inputs_give_sources_and_destinations_with_edge_pooling():
    spec = _spec(MIXED)
    assert spec.layers[2].inputs == (LayerInput("a", 2),)
    assert [spec.sources(j) for j in range(5)] == [[], [(0, 1)], [(0, 2)], [(1, 2), (2, 1)], [(3, 2)]]
    assert [spec.destinations(i) for i in range(5)] == [[(1, None), (2, 2)], [(3, 2)], [(3, None)], [(4, None)], []]
    assert spec.layer_input_shapes() == [(2, 16, 16), (4, 16, 16), (4, 8, 8), (4, 8, 8), (6, 4, 4)]
    assert not spec.is_chain


def test_graph_spec_round_trips_through_its_dict():
    for data in GRAPH_SPECS.values():
        spec = _spec(data)
        again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
        assert again == spec


def test_a_chain_keeps_its_meaning_with_or_without_inputs():
    """Naming the previous layer as the only input is the chain; a chain's dict has no 'inputs' key."""
    explicit = copy.deepcopy(TINY)
    explicit["layers"][1]["inputs"] = ["c1"]
    plain, named = _spec(TINY), _spec(explicit)
    assert plain.is_chain and named.is_chain
    assert "inputs" not in plain.to_dict()["layers"][1]
    assert named.layer_input_shapes() == plain.layer_input_shapes()
    torch.manual_seed(0)
    a = SpikingCNN(plain)
    b = SpikingCNN(named)
    b.load_state_dict(a.state_dict())
    net_a, net_b = a.to_network(1000.0), b.to_network(1000.0)
    assert all(layer.destinations is None for layer in net_a.layers + net_b.layers) and net_b.is_chain
    x = torch.from_numpy(random_raster(3, 5, (2, 8, 8), rate=0.4))
    assert torch.equal(a(x), b(x))


def test_zoo_graph_models():
    res = load_spec("digits_residual")
    assert (res.input_shape, res.n_classes, res.dataset) == ((2, 34, 34), 10, "digits-dvs")
    assert res.defaults == load_spec("digits_speck").defaults
    net = SpikingCNN(res).to_network(1000.0)
    names = [layer.name for layer in net.layers]
    assert [(names[i], names[j], p) for i, j, p in net.edges] == [
        ("stem", "res_a", 1),
        ("stem", "conv2", 1),
        ("res_a", "res_b", 1),
        ("res_b", "conv2", 1),
        ("conv2", "conv3", 2),
        ("conv3", "fc", 2),
    ]
    assert len(net.layers) <= 9 and max(len(net.targets(i)) for i in range(len(names))) == 2
    branching = SpikingCNN(load_spec("digits_branching")).to_network(1000.0)
    assert branching.layers[0].destinations == (Destination("wide"), Destination("narrow", 2))
    assert branching.sources(3) == (1, 2) and branching.edge_shape(1, 3) == branching.edge_shape(2, 3) == (16, 8, 8)


def _with(data: dict, index: int, **changes) -> dict:
    out = copy.deepcopy(data)
    out["layers"][index].update(changes)
    return out


def _without(data: dict, index: int, key: str) -> dict:
    out = copy.deepcopy(data)
    del out["layers"][index][key]
    return out


@pytest.mark.parametrize(
    "data, message",
    [
        (_with(RESIDUAL, 2, inputs=["body", "stm"]), r"input 'stm' is not a layer of the model.*did you mean 'stem'"),
        (_with(RESIDUAL, 1, inputs=["join"]), r"input 'join' is a later layer \(layers\[2\]\).*cycle"),
        (_with(RESIDUAL, 2, inputs=["join"]), "input 'join' is this layer itself"),
        (
            _with(RESIDUAL, 2, inputs=["body", {"from": "stem", "pool": 1}]),
            r"layer 'join' adds its inputs, so their shapes must agree: 'body' \(pool 1\) sends \[4, 8, 8\], "
            r"'stem' \(pool 1\) sends \[4, 16, 16\]",
        ),
        (_with(RESIDUAL, 2, inputs=["stem"]), "layer 'body' feeds no later layer: only the last layer is the output"),
        (_with(RESIDUAL, 0, inputs=["body"]), "the first layer 'stem' takes the network input and cannot have inputs"),
        (_with(RESIDUAL, 1, name="stem"), "layers 0 and 1 are both named 'stem'"),
        (_with(RESIDUAL, 1, name="output"), "'output' names the readout"),
        (_with(RESIDUAL, 2, inputs=[]), "'inputs' must be a non-empty list"),
        (_with(RESIDUAL, 2, inputs="body"), "'inputs' must be a non-empty list"),
        (_with(RESIDUAL, 2, inputs=[{"pool": 2}]), "an input written as a mapping needs 'from: NAME'"),
        (_with(RESIDUAL, 2, inputs=[{"form": "body"}]), "unknown key 'form'.*did you mean 'from'"),
        (_with(RESIDUAL, 2, inputs=["body", ["stem"]]), r"an input must name a layer, got \['stem'\]"),
        (_with(RESIDUAL, 2, inputs=[{"from": "body", "pool": 0}]), "'pool' must be an integer in 1..32768"),
        (_with(RESIDUAL, 2, inputs=["body", "body", "stem"]), "input body is listed twice"),
        (
            _with(_without(RESIDUAL, 0, "pool"), 2, inputs=[{"from": "body", "pool": 32}, "stem"]),
            "pooling by 32 on the edge from 'body' to 'join' shrinks its 16x16 output to nothing",
        ),
    ],
)
def test_bad_graphs_are_refused_with_what_and_where(data, message):
    with pytest.raises(InputError, match=message) as err:
        spec_from_dict(data, where="m.yaml")
    assert "m.yaml" in err.value.message
    assert err.value.fix or "must be an integer" in message  # a range states its own fix


@pytest.mark.parametrize(
    "data, sends, fix, not_in_fix",
    [
        (  # only C differs: pooling, stride or padding cannot fix it
            _with(RESIDUAL, 1, out_channels=6),
            r"'body' \(pool 1\) sends \[6, 8, 8\], 'stem' \(pool 2\) sends \[4, 8, 8\]",
            "give 'body', 'stem' the same out_channels",
            "pooling ({from",
        ),
        (  # only H, W differ: the pooling fix, no word of channels
            _with(RESIDUAL, 2, inputs=["body", {"from": "stem", "pool": 1}]),
            r"'body' \(pool 1\) sends \[4, 8, 8\], 'stem' \(pool 1\) sends \[4, 16, 16\]",
            "change one edge's pooling ({from: NAME, pool: P}) or a layer's stride or padding",
            "out_channels",
        ),
        (  # both: the pooling fix and the channels
            _with(_with(RESIDUAL, 1, out_channels=6), 2, inputs=["body", {"from": "stem", "pool": 1}]),
            r"'body' \(pool 1\) sends \[6, 8, 8\], 'stem' \(pool 1\) sends \[4, 16, 16\]",
            "so that every input sends the same [C, H, W], and give 'body', 'stem' the same out_channels",
            None,
        ),
    ],
)
def test_an_unequal_merge_names_the_fix_for_what_differs(data, sends, fix, not_in_fix):
    with pytest.raises(InputError, match="layer 'join' adds its inputs, so their shapes must agree: " + sends) as err:
        spec_from_dict(data, where="m.yaml")
    assert fix in str(err.value.fix)
    assert not_in_fix is None or not_in_fix not in str(err.value.fix)


GRAPH_YAML = yaml.safe_dump(RESIDUAL).encode()
CHEAP = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _read(path):
    got = load_spec(path)
    assert got.name


@CHEAP
@given(data=st.data())
def test_graph_yaml_on_damaged_bytes(tmp_path, data):
    loads_or_names_file(_read, tmp_path / "graph.yaml", data.draw(damaged(GRAPH_YAML)))


INPUT_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.sampled_from(["stem", "body"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["from", "pool"]), inner)),
    max_leaves=6,
)


@CHEAP
@given(value=INPUT_VALUES)
def test_any_inputs_value_loads_or_names_the_file(tmp_path, value):
    doc = copy.deepcopy(RESIDUAL)
    doc["layers"][2]["inputs"] = value
    loads_or_names_file(_read, tmp_path / "graph.yaml", yaml.safe_dump(doc).encode())


# --- SpikingCNN on graphs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GRAPH_SPECS))
def test_forward_shapes_and_network_edges(name):
    model = _model(GRAPH_SPECS[name])
    x = torch.from_numpy(random_raster(2, 4, model.spec.input_shape, rate=0.3))
    out, synops, spikes = model(x, record=True)
    assert out.shape == (2, 4, 5) and len(synops) == len(spikes) == len(model.spec.layers)
    net = model.to_network(1000.0)
    want = {i: sorted(model.spec.sources(i)) for i in range(len(net.layers))}  # the IR lists sources in order
    assert {j: [(i, net.edge_pool(i, j)) for i in net.sources(j)] for j in range(len(net.layers))} == want
    assert [layer.input_shape for layer in net.layers] == model.spec.layer_input_shapes()


def test_network_matches_the_shared_test_graphs():
    """The YAML forms give the same edges, pooling and shapes as tests/graph_nets' hand-built networks."""
    for data, built in ((RESIDUAL, residual_net(0)), (MIXED, mixed_pooling(0))):
        net = SpikingCNN(_spec(data)).to_network(1000.0)
        assert net.edges == built.edges and net.output_shape == built.output_shape
        assert [layer.input_shape for layer in net.layers] == [layer.input_shape for layer in built.layers]


@pytest.mark.parametrize("engine", ["compiled", "torch"])
@pytest.mark.parametrize("name", sorted(GRAPH_SPECS))
def test_qat_spikes_equal_the_emulator_on_the_discretised_graph(name, engine):
    """Quantisation-aware training runs the chip's integers: the emulator on the discretised network gives the
    same output spikes, per-layer spikes and SynOps (each destination counts its summed input × fan-out)."""
    model = _model(GRAPH_SPECS[name])
    x = random_raster(6, 8, model.spec.input_shape, rate=0.25)
    with torch.no_grad():
        out, synops, spikes = model(torch.from_numpy(x), record=True)
    res = run_binned(model.to_network(1000.0), x, batch_size=4, engine=engine)
    assert np.array_equal(out.sum(1).numpy(), res.output_counts) and res.output_counts.sum() > 0
    assert np.array_equal(torch.stack(spikes, 1).numpy(), res.layer_spikes) and (res.layer_spikes.sum(0) > 0).all()
    assert np.allclose(torch.stack(synops, 1).numpy(), res.layer_synops)


def test_a_spike_sent_to_two_destinations_costs_both_fanouts():
    """The SynOp term counts per edge: Σ layers = Σ edges (source spikes pooled by the edge) × destination fan-out."""
    model = _model(RESIDUAL, quantize=False)
    x = torch.from_numpy(random_raster(3, 5, (2, 16, 16), rate=0.3))
    with torch.no_grad():
        _, synops, _ = model(x, record=True)
        raw = []  # every block's spikes before pooling, block by block
        for j, block in enumerate(model.chip_blocks):
            inp = model.block_input(x, j)
            raw.append(block.spikes(inp, quantize=False))
    net = model.to_network(1000.0)
    first = (x.sum(dim=(1, 2)) * model.chip_blocks[0].fanout).sum(dim=(-1, -2)) * 4
    per_edge = [first]
    for i, j, p in net.edges:
        layer = net.layers[j]
        fan = torch.from_numpy(fanout_map(layer.input_shape[1:], layer.kernel_size[0], layer.stride, layer.padding))
        sent = model.chip_blocks[i].pool_spikes(raw[i], p)
        per_edge.append((sent.sum(dim=(1, 2)).double() * fan).sum(dim=(-1, -2)) * layer.c_out)
    assert torch.allclose(torch.stack(synops).sum(0).double(), torch.stack(per_edge).sum(0))
    stem_edges = [(j, p) for i, j, p in net.edges if i == 0]
    assert len(stem_edges) == 2  # the stem's spikes reach body and join: both fan-outs are in the total


def test_chain_forward_is_the_layer_by_layer_one():
    """A chain runs exactly as block after block (the code before graphs): outputs, SynOps and spikes identical."""
    for quantize in (True, False):
        model = _model(TINY, quantize=quantize)
        x = torch.from_numpy(random_raster(3, 6, (2, 8, 8), rate=0.4))
        out, synops, spikes = model(x, record=True)
        h, ref_syn, ref_spk = x, [], []
        for block in model.chip_blocks:
            ref_syn.append(block.synops(h))
            h = block(h, quantize)
            ref_spk.append(h.sum(dim=(1, 2, 3, 4)))
        assert torch.equal(out, h.flatten(2))
        assert all(torch.equal(a, b) for a, b in zip(synops, ref_syn))
        assert all(torch.equal(a, b) for a, b in zip(spikes, ref_spk))


def test_gradients_reach_every_block_of_a_graph():
    model = _model(RESIDUAL, quantize=True, gain=2.0)
    x = torch.from_numpy(random_raster(2, 5, (2, 16, 16), rate=0.3))
    out, synops, _ = model(x, record=True)
    (out.sum() + 1e-6 * torch.stack(synops).sum()).backward()
    assert all(block.conv.weight.grad is not None and block.conv.weight.grad.abs().sum() > 0 for block in model.blocks)


def test_percentile_normalisation_reads_each_block_s_merged_input():
    from qsnn_deploy.train.weight_scaling import percentile_normalise

    model = _model(RESIDUAL, quantize=False)
    frames = torch.from_numpy(random_raster(4, 5, (2, 16, 16), rate=0.3))
    merged = model.block_input(frames, 2)
    net_in = model.chip_blocks[1](model.block_input(frames, 1), False) + model.chip_blocks[0](frames, False)
    assert torch.equal(merged, net_in)
    out, lambdas = percentile_normalise(model, frames)
    assert len(lambdas) == 4 and all(lam > 0 for lam in lambdas)


# --- training, checkpoint, convert --------------------------------------------------------------------------

# a digits-dvs-sized residual graph, small enough to train for an epoch in a test
TINY_RESIDUAL = {
    "name": "tiny_residual",
    "input_shape": [2, 34, 34],
    "n_classes": 10,
    "layers": [
        {"type": "conv", "name": "stem", "out_channels": 4, "stride": 2, "padding": 1, "pool": 2},
        {"type": "conv", "name": "body", "out_channels": 4, "padding": 1},
        {"type": "conv", "name": "join", "out_channels": 6, "padding": 1, "pool": 2, "inputs": ["body", "stem"]},
        {"type": "linear", "name": "fc", "out_features": 10},
    ],
    "defaults": {"epochs": 1, "batch_size": 16, "lr": 0.002, "time_bins": 4},
}


@pytest.fixture(scope="module")
def trained_graph(tmp_path_factory):
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.trainer import train

    root = tmp_path_factory.mktemp("graph_run")
    path = root / "tiny_residual.yaml"
    path.write_text(yaml.safe_dump(TINY_RESIDUAL))
    metrics = train(TrainConfig(model=str(path), limit=64), root / "run", progress=False, log=lambda m: None)
    return path, root / "run", metrics


def test_one_epoch_of_bptt_on_a_graph(trained_graph):
    _, run, metrics = trained_graph
    assert metrics["epochs"] == 1 and metrics["synops_per_sample"] > 0
    # the reported accuracy is the saved graph checkpoint's on the same 64 test samples
    want, labels = checkpoint_predictions(run, limit=64)
    assert metrics["test_accuracy"] == pytest.approx(float((want == labels).mean()))


def test_a_graph_checkpoint_loads_and_converts(trained_graph):
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.nets.checkpoint import load_checkpoint

    path, run, _ = trained_graph
    model, _ = load_checkpoint(run / "checkpoint.pt")
    assert model.spec.layers == load_spec(path).layers and not model.spec.is_chain
    net = load_network(run / "checkpoint.pt")
    assert not net.is_chain and net.sources(2) == (0, 1) and net.edges == model.to_network(1000.0).edges


@pytest.mark.parametrize("option", [{"ann": True}, {"integer_only": True}, {"learning_rule": "ell"}])
def test_methods_that_train_chains_only_refuse_a_graph(trained_graph, tmp_path, option):
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.trainer import train

    path, _, _ = trained_graph
    cfg = TrainConfig(model=str(path), limit=8, **option)
    with pytest.raises(UsageError, match=f"model 'tiny_residual' is a graph .*{cfg.method_flag} trains chains only"):
        train(cfg, tmp_path / "r", progress=False, log=lambda m: None)
    assert not (tmp_path / "r").exists()


def test_the_ann_path_refuses_a_graph_instead_of_dropping_its_skips():
    from qsnn_deploy.convert.ann import ann_from_spec

    with pytest.raises(UsageError, match="model 'residual' is a graph .* the ANN path builds chains only") as err:
        ann_from_spec(_spec(RESIDUAL))
    assert "train --model residual" in str(err.value.fix)


# a digits-dvs-sized graph whose stem sends to three layers: it trains, but a Speck core has two destinations
TINY_THREE_DESTINATIONS = {
    "name": "tiny_three_destinations",
    "input_shape": [2, 34, 34],
    "n_classes": 10,
    "layers": [
        {"type": "conv", "name": "stem", "out_channels": 4, "stride": 2, "padding": 1, "pool": 2},
        {"type": "conv", "name": "a", "out_channels": 4, "padding": 1, "inputs": ["stem"]},
        {"type": "conv", "name": "b", "out_channels": 4, "padding": 1, "inputs": ["stem"]},
        {"type": "conv", "name": "c", "out_channels": 4, "padding": 1, "inputs": ["stem"]},
        {"type": "conv", "name": "m", "out_channels": 6, "padding": 1, "pool": 2, "inputs": ["a", "b", "c"]},
        {"type": "linear", "name": "fc", "out_features": 10},
    ],
    "defaults": {"epochs": 1, "batch_size": 16, "lr": 0.002, "time_bins": 4},
}


def test_destination_warnings_name_the_layer_the_limit_and_the_relay_fix(monkeypatch):
    import dataclasses

    import qsnn_deploy.hw.profile as hw_profile
    from qsnn_deploy.train.checks import destination_warnings

    (warning,) = destination_warnings(_spec(TINY_THREE_DESTINATIONS))
    assert "layer 'stem' sends to 3 layers (a, b, c) but a Speck core has 2 destinations" in warning
    assert "`qsnn-deploy convert`" in warning and "will refuse it (exit 4, rule SPK015)" in warning
    assert "insert a 1×1 relay layer (identity weights, threshold 1) fed by stem that sends on to b, c" in warning
    assert "kernel_size: 1 and inputs: [stem]" in warning
    assert all(destination_warnings(_spec(data)) == [] for data in (*GRAPH_SPECS.values(), TINY_RESIDUAL))
    # the limit is speck2f's profile's, not a number of its own
    speck = hw_profile.load_profile("speck2f")
    wider = dataclasses.replace(speck, constraints=dataclasses.replace(speck.constraints, destinations=3))
    monkeypatch.setattr(hw_profile, "load_profile", lambda name: wider if name == "speck2f" else None)
    assert destination_warnings(_spec(TINY_THREE_DESTINATIONS)) == []


def test_training_a_layer_with_three_destinations_warns_that_convert_will_refuse_it(tmp_path):
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.hw import check, load_profile
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.trainer import train

    path = tmp_path / "tiny_three_destinations.yaml"
    path.write_text(yaml.safe_dump(TINY_THREE_DESTINATIONS))
    lines: list[str] = []
    metrics = train(TrainConfig(model=str(path), limit=32), tmp_path / "run", progress=False, log=lines.append)
    assert metrics["epochs"] == 1
    warned = [i for i, line in enumerate(lines) if line.startswith("warning: layer 'stem' sends to 3 layers")]
    started = [i for i, line in enumerate(lines) if line.startswith("training tiny_three_destinations")]
    assert len(warned) == 1 and started and warned[0] < started[0], lines
    # what the warning foretells: the hw rules refuse the trained model
    net = load_network(tmp_path / "run" / "checkpoint.pt")
    assert [v.code for v in check(net, load_profile("speck2f")) if v.layer == "stem"] == ["SPK015"]

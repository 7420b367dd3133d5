"""Graph networks written as plain NIR with nir's own API, through ``convert``, cross-checked against sinabs 3.1.3.

Four graphs (tests/graph_nets.py) are written with ``nir.NIRGraph`` / ``nir.write`` (``_plain_from`` of
test_nir_graphs.py: ``nir.Conv2d``, ``nir.IF``, ``nir.SumPool2d`` per pooled edge, ``nir.Flatten`` +
``nir.Affine`` head, several edges into a node for a sum; not our writer, not our node names), then converted
for speck2f by ``convert_model`` (what ``qsnn-deploy convert`` runs) into a bundle that is read back:

- ``residual``: a skip summed into a later layer (its pooling node shared by both destinations);
- ``pooled_branches``: one layer sending pooled by 2 and by 4 to two branches that merge later;
- ``mixed_pooling``: one layer with an unpooled and a pooled destination, which sinabs cannot build;
- ``three_way_merge``: a merge of three sources (sinabs' ``Merge`` takes two).

The weights and thresholds written are chip integers whose largest weight is 127 (or smallest -128), so our
discretiser keeps them as they are (scale 1; checked below), and so does sinabs'
(``determine_discretization_scale``, ``D/discretize.py:308-338``; ``D`` = ``sinabs/backend/dynapcnn/``). The
file's zero biases become no bias, and NIR's ``IF`` has no lower bound, so the importer gives each layer
``-threshold`` (``qsnn_deploy/ir.py``, ``ChipLayer.min_v_mem``) and the subtract reset (a note).

For the graphs sinabs builds (``residual``, ``pooled_branches``): per-layer memory = ``memory_summary``
(``D/dynapcnn_layer.py:213-245``), destinations and their pooling = ``layer_destination_map``
(``D/dynapcnn_network.py:150``) with ``DynapcnnLayer.pool`` (one ``[p, p]`` per destination,
``D/dynapcnn_layer_utils.py:155-163``), fit and cores = its max-flow mapping (``D/mapping.py:44-73``), binned
spike counts per layer = ``DynapcnnNetwork(model, input_shape, discretize=True)``'s forward with
``return_complete=True`` (``D/dynapcnnnetwork_module.py:216-246``). For the other two: sinabs' failure is
pinned (so a sinabs that fixes it is noticed), memory against the chip formula by hand, and the binned forward
against ``sinabs.layers`` (``Conv2d``, ``IAFSqueeze``, ``SumPool2d``, branches added with ``+``) wired by hand
with the file's integers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graph_nets
import numpy as np
import pytest
import torch
from helpers import random_raster
from nir_plain import plain_from, write_plain

from qsnn_deploy.convert.bundle import convert_model
from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.hw import estimate, layer_memory, load_profile, report
from qsnn_deploy.ir import Network

pytest.importorskip("nir")

SEED = 1
BUILDERS = {
    "residual": graph_nets.residual,
    "pooled_branches": graph_nets.pooled_branches,
    "mixed_pooling": graph_nets.mixed_pooling,
    "three_way_merge": graph_nets.three_way_merge,
}
SINABS_BUILDS = ["residual", "pooled_branches"]


@dataclass
class Case:
    ints: Network  # the integers written into the file
    path: Path  # the plain NIR file
    net: Network  # the bundle's network, as deploy and estimate read it
    mapping: dict[str, Any]  # the bundle's mapping.json
    notes: list[str]


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    folder = tmp_path_factory.mktemp("plain_graphs")
    out = {}
    for name, build in BUILDERS.items():
        ints = build(SEED, quantized=True)
        nodes, edges = plain_from(ints, shared=name == "residual")
        path = write_plain(folder / f"{name}.nir", nodes, edges)
        result = convert_model(path, "speck2f", folder / name)
        mapping = json.loads((folder / name / "mapping.json").read_text())
        out[name] = Case(ints, path, load_network(folder / name), mapping, result.notes + result.warnings)
    return out


def _estimate(net: Network) -> dict[str, Any]:
    return json.loads(report.format_json(estimate(net, load_profile("speck2f"), None, 0.1)))


def _routes(est: dict[str, Any]) -> dict[str, list[tuple[str, int | None, int]]]:
    return {r["name"]: [(d["layer"], d["core"], d["pool"]) for d in r["destinations"]] for r in est["layers"]}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_convert_keeps_the_files_integers_and_edges(cases, name):
    import nir

    case = cases[name]
    graph = nir.read(case.path)  # the file as nir reads it, not as we do
    assert case.net.edges == case.ints.edges and not case.net.is_chain
    for layer in case.net.layers:
        weight, spikes = graph.nodes[layer.name].weight, graph.nodes[f"{layer.name}_spk"]
        assert np.array_equal(layer.weight.reshape(weight.shape), weight), layer.name
        assert np.unique(spikes.v_threshold).tolist() == [layer.threshold], layer.name
        assert layer.scale == 1.0 and layer.bias is None and layer.lower_bound == -layer.threshold, layer.name
        assert layer.reset == "subtract"
    assert case.mapping["target"] == "speck2f"
    assert case.notes == [
        "NIR does not say whether neurons subtract the threshold or reset to zero when they spike: assumed "
        "subtract (sinabs' and Speck's default; --reset zero for the other)"
    ]


def _dynapcnn(sinabs_dynapcnn, net: Network):
    """sinabs' own network of the bundle's integers, and which of our layers each of its layers is.

    sinabs indexes its layers in a topological order of its own (``D/dynapcnn_network.py:86-105``), which need
    not be our feed-forward order (pooled_branches: it puts our c before b), so its layers are matched to ours
    by their weights (all different), checking on the way that sinabs' discretisation kept our integers."""
    dn = sinabs_dynapcnn.DynapcnnNetwork(graph_nets.sinabs_graph_model(net), net.input_shape, discretize=True)
    names: dict[int, str] = {}
    for i, theirs in dn.dynapcnn_layers.items():
        same = [
            layer
            for layer in net.layers
            if torch.equal(theirs.conv_layer.weight, torch.as_tensor(layer.weight, dtype=torch.float32))
        ]
        assert len(same) == 1, f"sinabs layer {i} is {[layer.name for layer in same]}"
        names[i] = same[0].name
        assert float(theirs.spk_layer.spike_threshold) == same[0].threshold, same[0].name
        assert float(theirs.spk_layer.min_v_mem) == same[0].lower_bound, same[0].name
    assert sorted(names.values()) == sorted(layer.name for layer in net.layers)
    return dn, names


@pytest.mark.parametrize("name", SINABS_BUILDS)
def test_memory_destinations_and_fit_equal_sinabs(cases, sinabs_dynapcnn, name):
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder
    from sinabs.backend.dynapcnn.mapping import get_valid_mapping

    net = cases[name].net
    dn, names = _dynapcnn(sinabs_dynapcnn, net)

    summary = dn.memory_summary()
    theirs = {
        n: (int(summary["kernel"][i]), int(summary["neuron"][i]), int(summary["bias"][i])) for i, n in names.items()
    }
    assert {lay.name: tuple(layer_memory(lay).to_dict().values()) for lay in net.layers} == theirs

    # destinations with their pooling: sinabs' map (exits < 0) and DynapcnnLayer.pool, ours from estimate
    their_dests = {
        names[i]: sorted(
            (names[d] if d >= 0 else "output", int(dn.dynapcnn_layers[i].pool[k][0])) for k, d in enumerate(ds)
        )
        for i, ds in dn.layer_destination_map.items()
    }
    est = _estimate(net)
    ours = {n: sorted((dest, pool) for dest, _, pool in routes) for n, routes in _routes(est).items()}
    assert ours == their_dests
    expected = {
        "residual": {"stem": [("body", 2), ("join", 2)], "body": [("join", 1)], "join": [("fc", 2)]},
        "pooled_branches": {"a": [("b", 2), ("c", 4)], "b": [("d", 2)], "c": [("d", 1)], "d": [("fc", 2)]},
    }[name]
    assert ours == {**expected, "fc": [("output", 1)]}

    # fit: sinabs' max-flow matching on memory succeeds in its own layer order, and in ours (its DynapcnnLayers
    # keyed by our indices; the matching depends on the order, D/mapping.py:44-73) finds the very cores the
    # bundle's mapping.json names; every destination of ours names its layer's core
    constraints = Speck2FConfigBuilder.get_constraints()
    assert sorted(get_valid_mapping(dict(dn.dynapcnn_layers.items()), constraints)) == sorted(names)
    index = {n: i for i, n in names.items()}
    ours_order = {j: dn.dynapcnn_layers[index[layer.name]] for j, layer in enumerate(net.layers)}
    their_cores = {net.layers[j].name: c for j, c in get_valid_mapping(ours_order, constraints).items()}
    assert cases[name].mapping["assignment"] == their_cores
    assert est["fits"] is True and est["violations"] == []
    assert {r["name"]: r["core"] for r in est["layers"]} == their_cores
    for routes in _routes(est).values():
        assert all(core == (None if dest == "output" else their_cores[dest]) for dest, core, _ in routes)


@pytest.mark.parametrize("name", SINABS_BUILDS)
def test_binned_spike_counts_equal_dynapcnn_network(cases, sinabs_dynapcnn, name):
    """Several random integer inputs, sample by sample (sinabs' forward takes one sample of T bins), every neuron
    state reset in between (layer by layer: ``DynapcnnNetwork.reset_states`` fails on a graph network,
    ``AttributeError: ... no attribute 'sequence'`` at ``D/dynapcnn_network.py:593``). Every feature map here
    divides by its pooling, so each destination of a layer carries all its spikes and our per-layer count
    (under the layer's own pooling) equals each destination's."""
    net = cases[name].net
    dn, names = _dynapcnn(sinabs_dynapcnn, net)
    index = {layer.name: i for i, layer in enumerate(net.layers)}
    exit_layer = [i for i, ds in dn.layer_destination_map.items() if -1 in ds]
    assert [names[i] for i in exit_layer] == [net.layers[-1].name]
    x = random_raster(3, 10, net.input_shape, rate=0.2, seed=SEED)
    res = run_binned(net, x)
    for n in range(len(x)):
        for layer in dn.dynapcnn_layers.values():
            layer.spk_layer.reset_states()
        with torch.no_grad():
            theirs = dn(torch.from_numpy(x[n]), return_complete=True)
        for i, dests in dn.layer_destination_map.items():
            for d in dests:
                assert res.layer_spikes[n, index[names[i]]] == int(theirs[i][d].sum()), (n, names[i], d)
        out = theirs[exit_layer[0]][-1].flatten(1).numpy().astype(np.int64)
        assert np.array_equal(res.output_trace[n], out)  # per time bin
    assert (res.layer_spikes > 0).all()  # every layer of every branch spiked


def test_sinabs_cannot_build_mixed_pooling(sinabs_dynapcnn):
    """A layer with a pooled and an unpooled destination: sinabs 3.1.3 fails at ``destination["pooling_ids"][-1]``
    (``D/sinabs_edges_handler.py:902``; docs/design/graph_networks.md §1). If this starts passing, compare
    mixed_pooling with DynapcnnNetwork as the two graphs above."""
    with pytest.raises(IndexError) as failed:
        sinabs_dynapcnn.DynapcnnNetwork(
            graph_nets.sinabs_mixed_pooling_model(), input_shape=(2, 16, 16), discretize=True
        )
    assert failed.traceback[-1].path.name == "sinabs_edges_handler.py"


BY_HAND = {
    # a: 2→4 on 16×16 (its neurons are the 16×16 convolution, whatever each destination pools); b: 4→4 on a's
    # unpooled 16×16; c: 4→4 on a's 2×2-pooled 8×8; d: 4→6 on 8×8; fc: 6×4×4 → 5 (a 4×4 kernel, one pixel)
    "mixed_pooling": {
        "a": graph_nets.chip_words(2, 3, 4, 16, 16),
        "b": graph_nets.chip_words(4, 3, 4, 16, 16),
        "c": graph_nets.chip_words(4, 3, 4, 8, 8),
        "d": graph_nets.chip_words(4, 3, 6, 8, 8),
        "fc": graph_nets.chip_words(6, 4, 5, 1, 1),
    },
    # a → b, c; b → d, e; c → e; d → e (three sources, 8×8 each); e: 4→6, pooled by 2 towards fc
    "three_way_merge": {
        "a": graph_nets.chip_words(2, 3, 4, 8, 8),
        "b": graph_nets.chip_words(4, 3, 4, 8, 8),
        "c": graph_nets.chip_words(4, 3, 4, 8, 8),
        "d": graph_nets.chip_words(4, 3, 4, 8, 8),
        "e": graph_nets.chip_words(4, 3, 6, 8, 8),
        "fc": graph_nets.chip_words(6, 4, 5, 1, 1),
    },
}
ROUTES_BY_HAND = {
    "mixed_pooling": {"a": [("b", 1), ("c", 2)], "b": [("d", 2)], "c": [("d", 1)], "d": [("fc", 2)]},
    "three_way_merge": {
        "a": [("b", 1), ("c", 1)],
        "b": [("d", 1), ("e", 1)],
        "c": [("e", 1)],
        "d": [("e", 1)],
        "e": [("fc", 2)],
    },
}


@pytest.mark.parametrize("name", list(BY_HAND))
def test_memory_destinations_and_fit_by_the_chip_formula(cases, name):
    net = cases[name].net
    assert (
        BY_HAND[name]
        == {  # the formula's numbers, to read
            "mixed_pooling": {"a": (128, 1024), "b": (256, 1024), "c": (256, 256), "d": (512, 384), "fc": (768, 5)},
            "three_way_merge": {
                **{n: (128 if n == "a" else 256, 256) for n in "abcd"},
                "e": (512, 384),
                "fc": (768, 5),
            },
        }[name]
    )
    assert {lay.name: (layer_memory(lay).kernel, layer_memory(lay).neuron) for lay in net.layers} == BY_HAND[name]
    assert all(layer_memory(lay).bias == 0 for lay in net.layers)  # no bias in the file
    est = _estimate(net)
    assert {r["name"]: (r["kernel_memory"], r["neuron_memory"]) for r in est["layers"]} == BY_HAND[name]
    cores = {r["name"]: r["core"] for r in est["layers"]}
    assert _routes(est) == {
        **{n: [(d, cores[d], p) for d, p in routes] for n, routes in ROUTES_BY_HAND[name].items()},
        "fc": [("output", None, 1)],
    }
    # fit: one core per layer, each large enough for the layer's words by hand (speck2f's cores)
    assignment = cases[name].mapping["assignment"]
    assert est["fits"] is True and est["violations"] == [] and assignment == cores
    assert sorted(assignment) == sorted(BY_HAND[name]) and len(set(assignment.values())) == len(assignment)
    chip = {c.index: c for c in load_profile("speck2f").cores}
    for layer, (kernel, neuron) in BY_HAND[name].items():
        assert kernel <= chip[assignment[layer]].kernel_memory and neuron <= chip[assignment[layer]].neuron_memory


def _by_hand(path: Path, name: str, x: np.ndarray) -> dict[str, torch.Tensor]:
    """The file's integers (read with ``nir.read``) through ``sinabs.layers`` wired by hand: each layer a
    ``Conv2d`` (a 4×4 one over the flattened 6×4×4 for the Affine head, as on the chip) and an ``IAFSqueeze``
    (``MultiSpike``, subtract reset, lower bound -threshold as the importer sets it), pooling a ``SumPool2d``,
    merges added with ``+``. Returns each layer's spikes (N, T, C, H, W), unpooled."""
    import nir
    import sinabs.layers as sl
    from torch import nn

    graph = nir.read(path)
    n, t = x.shape[:2]

    def core(layer: str):
        node, spk = graph.nodes[layer], graph.nodes[f"{layer}_spk"]
        weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
        if isinstance(node, nir.Affine):
            conv = nn.Conv2d(6, weight.shape[0], 4, bias=False)
            weight = weight.reshape(weight.shape[0], 6, 4, 4)
        else:
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], padding=1, bias=False)
            assert node.padding.tolist() == [1, 1] and node.stride.tolist() == [1, 1]
        with torch.no_grad():
            conv.weight.copy_(weight)
        thr = float(np.unique(spk.v_threshold).item())
        iaf = sl.IAFSqueeze(batch_size=n, spike_threshold=thr, min_v_mem=-thr)
        return lambda v: iaf(conv(v))

    pool2 = sl.SumPool2d(2)
    s: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        s["a"] = core("a")(torch.from_numpy(x).flatten(0, 1))
        if name == "mixed_pooling":
            s["b"] = core("b")(s["a"])
            s["c"] = core("c")(pool2(s["a"]))
            s["d"] = core("d")(pool2(s["b"]) + s["c"])
            s["fc"] = core("fc")(pool2(s["d"]))
        else:
            s["b"] = core("b")(s["a"])
            s["c"] = core("c")(s["a"])
            s["d"] = core("d")(s["b"])
            s["e"] = core("e")(s["b"] + s["c"] + s["d"])
            s["fc"] = core("fc")(pool2(s["e"]))
    return {k: v.unflatten(0, (n, t)) for k, v in s.items()}


@pytest.mark.parametrize("name", list(BY_HAND))
def test_binned_spike_counts_equal_sinabs_layers_by_hand(cases, name):
    case = cases[name]
    x = random_raster(3, 10, case.net.input_shape, rate=0.2, seed=SEED)
    res = run_binned(case.net, x)
    spikes = _by_hand(case.path, name, x)
    assert res.layer_names == list(spikes)
    # per layer and sample (every map here divides by its pooling: pooled or not, the same count)
    by_hand = np.stack([spikes[k].sum(dim=(1, 2, 3, 4)).numpy() for k in res.layer_names], 1).astype(np.int64)
    assert np.array_equal(res.layer_spikes, by_hand)
    assert np.array_equal(res.output_trace, spikes["fc"].flatten(2).numpy().astype(np.int64))  # per time bin
    assert (res.layer_spikes > 0).all()

"""``estimate`` on graph networks (tests/graph_nets.py): memory, destinations and fit against sinabs 3.1.3, the
chip's memory formula where sinabs cannot build the graph, the destination limit through the CLI, SynOps per edge
against the emulator, latency along the longest path. Chains are covered, unchanged, by the other hw tests.

sinabs facts used (docs/design/graph_networks.md §1, §3; ``D`` = ``sinabs/backend/dynapcnn/``):
``DynapcnnNetwork.layer_destination_map`` (``D/dynapcnn_network.py:150``) lists each layer's destinations, exits
as negative ids; ``DynapcnnLayer.pool`` holds one ``[p, p]`` per destination in the same order
(``D/dynapcnn_layer_utils.py:155-163``); ``memory_summary`` (``D/dynapcnn_layer.py:213-245``) counts the neuron
memory of the convolution output, before any pooling; a layer with a pooled and an unpooled destination fails
with an ``IndexError`` (``D/sinabs_edges_handler.py:902``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from graph_nets import (
    GRAPHS,
    chip_words,
    mixed_pooling,
    residual,
    sinabs_mixed_pooling_model,
    three_destinations,
    three_way_merge,
)

from qsnn_deploy.hw import check, estimate, layer_memory, load_profile, map_layers, report
from qsnn_deploy.hw.counts import fan_in, longest_path
from qsnn_deploy.ir import ChipLayer, Destination, Network


def _torch_residual(net: Network):
    """tests/graph_nets.residual as sinabs 3.1 takes a graph: modules, and ``sl.Merge`` where two inputs add.

    stem's pooled spikes go to body and (through the Merge) to join; each edge has its own SumPool2d so that
    sinabs sees two pooled destinations (D/sinabs_edges_handler.py:536-548).
    """
    import sinabs.layers as sl
    from torch import nn

    stem, body, join, fc = net.layers

    def conv(layer: ChipLayer) -> nn.Module:
        kh, kw = layer.kernel_size
        if layer.kind == "linear":
            return nn.Sequential(nn.Flatten(), nn.Linear(layer.c_in * kh * kw, layer.c_out, bias=False))
        return nn.Conv2d(layer.c_in, layer.c_out, (kh, kw), stride=layer.stride, padding=layer.padding, bias=False)

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.stem_iaf = conv(stem), sl.IAFSqueeze(batch_size=1)
            self.to_body, self.to_join = sl.SumPool2d(stem.pool), sl.SumPool2d(stem.pool)
            self.body, self.body_iaf = conv(body), sl.IAFSqueeze(batch_size=1)
            self.merge = sl.Merge()
            self.join, self.join_iaf, self.join_pool = conv(join), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(join.pool)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(fc.c_in * fc.kernel_size[0] * fc.kernel_size[1], fc.c_out, bias=False)
            self.fc_iaf = sl.IAFSqueeze(batch_size=1)

        def forward(self, x):
            s = self.stem_iaf(self.stem(x))
            b = self.body_iaf(self.body(self.to_body(s)))
            j = self.join_pool(self.join_iaf(self.join(self.merge(self.to_join(s), b))))
            return self.fc_iaf(self.fc(self.flatten(j)))

    return Residual()


def _routes(est) -> dict[str, list[tuple[str, int | None, int]]]:
    return {r["name"]: [(d["layer"], d["core"], d["pool"]) for d in r["destinations"]] for r in est["layers"]}


def test_residual_memory_destinations_and_fit_equal_sinabs(sinabs_dynapcnn):
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder
    from sinabs.backend.dynapcnn.mapping import get_valid_mapping

    net = residual(0)
    dn = sinabs_dynapcnn.DynapcnnNetwork(_torch_residual(net), input_shape=net.input_shape, discretize=False)
    names = [layer.name for layer in net.layers]
    # sinabs indexes layers topologically (D/dynapcnn_network.py:86-105): ours are listed in the same order
    assert sorted(dn.dynapcnn_layers) == list(range(len(names)))
    assert [dn.dynapcnn_layers[i].conv_layer.weight.shape[0] for i in range(4)] == [lay.c_out for lay in net.layers]

    summary = dn.memory_summary()
    theirs = {
        names[i]: (int(summary["kernel"][i]), int(summary["neuron"][i]), int(summary["bias"][i])) for i in range(4)
    }
    assert {lay.name: tuple(layer_memory(lay).to_dict().values()) for lay in net.layers} == theirs
    assert theirs == {"stem": (128, 1024, 0), "body": (256, 256, 0), "join": (512, 384, 0), "fc": (768, 5, 0)}

    # destinations: sinabs {layer: [dest, ...]} with exits < 0, pooling per destination in DynapcnnLayer.pool
    their_dests = {
        names[i]: [(names[d] if d >= 0 else "output", int(dn.dynapcnn_layers[i].pool[k][0])) for k, d in enumerate(ds)]
        for i, ds in dn.layer_destination_map.items()
    }
    est = json.loads(report.format_json(estimate(net, load_profile("speck2f"), None, 0.1)))
    ours = {name: sorted((dest, pool) for dest, _, pool in routes) for name, routes in _routes(est).items()}
    assert ours == {name: sorted(d) for name, d in their_dests.items()}
    assert ours["stem"] == [("body", 2), ("join", 2)]

    # fit: sinabs' max-flow matching on memory (D/mapping.py:44-73), layers in its (= our) order
    layers = {i: dn.dynapcnn_layers[i] for i in range(4)}
    their_cores = {names[i]: c for i, c in get_valid_mapping(layers, Speck2FConfigBuilder.get_constraints()).items()}
    assert map_layers(net, load_profile("speck2f")).assignment == their_cores
    assert est["fits"] is True and check(net, load_profile("speck2f")) == []
    # each destination names the core its layer landed on
    assert _routes(est)["stem"] == [("body", their_cores["body"], 2), ("join", their_cores["join"], 2)]
    assert _routes(est)["fc"] == [("output", None, 1)]
    assert {r["name"]: r["sources"] for r in est["layers"]} == {
        "stem": [],
        "body": ["stem"],
        "join": ["stem", "body"],
        "fc": ["join"],
    }


def test_mixed_pooling_memory_is_the_chip_formula_where_sinabs_cannot_build_it(sinabs_dynapcnn):
    net = mixed_pooling(0)
    with pytest.raises(IndexError) as failed:  # a pooled and an unpooled destination of one layer
        sinabs_dynapcnn.DynapcnnNetwork(sinabs_mixed_pooling_model(), input_shape=net.input_shape, discretize=False)
    assert failed.traceback[-1].path.name == "sinabs_edges_handler.py"  # set_pooling_layer_destination, :902

    # a: 2→4 on 16×16 (its neurons are the 16×16 convolution output, whatever each destination's pooling);
    # b: 4→4 on a's unpooled 16×16; c: 4→4 on a's 2×2-pooled 8×8; d: 4→6 on 8×8; fc: 6×4×4 → 5
    by_hand = {
        "a": chip_words(2, 3, 4, 16, 16),
        "b": chip_words(4, 3, 4, 16, 16),
        "c": chip_words(4, 3, 4, 8, 8),
        "d": chip_words(4, 3, 6, 8, 8),
        "fc": chip_words(6, 4, 5, 1, 1),
    }
    assert by_hand == {"a": (128, 1024), "b": (256, 1024), "c": (256, 256), "d": (512, 384), "fc": (768, 5)}
    assert {lay.name: (layer_memory(lay).kernel, layer_memory(lay).neuron) for lay in net.layers} == by_hand
    est = json.loads(report.format_json(estimate(net, load_profile("speck2f"), None, 0.1)))
    assert est["fits"] is True and est["violations"] == []
    cores = {r["name"]: r["core"] for r in est["layers"]}
    assert _routes(est)["a"] == [("b", cores["b"], 1), ("c", cores["c"], 2)]
    assert _routes(est)["b"] == [("d", cores["d"], 2)] and _routes(est)["c"] == [("d", cores["d"], 1)]
    text = report.format_table(estimate(net, load_profile("speck2f"), None, 0.1))
    assert f"input → a (core {cores['a']}) → b (core {cores['b']}, pool 1), c (core {cores['c']}, pool 2)" in text
    assert f"b + c → d (core {cores['d']})" in text


def test_three_destinations_exit_4_through_the_cli_naming_the_limit_and_a_relay(tmp_path):
    pytest.importorskip("nir")
    from helpers import run_cli

    from qsnn_deploy.convert.nir_io import write_nir

    path = write_nir(three_destinations(0), tmp_path / "graph.nir")  # a NIR graph: a feeds b, c and d
    proc = run_cli("estimate", path, "--samples", "0", check=False)
    assert proc.returncode == 4, proc.stderr
    assert (
        "SPK015 destinations [a]: sends its output to 3 layers (b, c, d) but a core has 2 destinations" in proc.stdout
    )
    assert "fix: insert a 1×1 relay layer (identity weights, threshold 1) fed by a that sends on to c, d" in proc.stdout
    assert "Error: the model does not fit speck2f." in proc.stderr and "Traceback" not in proc.stderr
    doc = json.loads(run_cli("estimate", path, "--samples", "0", "--format", "json", check=False).stdout)
    assert [(v["code"], v["layer"]) for v in doc["violations"]] == [("SPK015", "a")]
    assert [d["layer"] for d in doc["layers"][0]["destinations"]] == ["b", "c", "d"]


@pytest.mark.parametrize("build", list(GRAPHS.values()), ids=list(GRAPHS))
def test_graphs_the_chip_runs_fit_speck2f(build):
    net = build(0, quantized=True)
    assert check(net, load_profile("speck2f")) == []
    assert estimate(net, load_profile("speck2f"), None, 0.1).fits


def test_pooling_rule_checks_every_destination(layers):
    # a destination pooled by 3 (Speck pools by 1, 2 or 4): the rule names that edge, not the layer's own pool
    a = layers.conv("a", 2, 4, 3, (24, 24), padding=1, destinations=(Destination("b"), Destination("c", pool=3)))
    b = layers.conv("b", 4, 4, 3, (24, 24), padding=1, destinations=(Destination("d", pool=3),))
    c = layers.conv("c", 4, 4, 3, (8, 8), padding=1)
    d = layers.conv("d", 4, 2, 1, (8, 8))
    net = Network((a, b, c, d), a.input_shape)
    found = [(v.layer, v.message, v.fix) for v in check(net, load_profile("speck2f"), ["SPK005"])]
    assert found == [
        (
            "a",
            "sum-pool 3×3 towards c is not supported (allowed: 1, 2, 4)",
            "use a 2×2 sum-pool on the way from a to c",
        ),
        ("b", "sum-pool 3×3 is not supported (allowed: 1, 2, 4)", "use a 2×2 sum-pool after b"),
    ]


def test_latency_runs_along_the_longest_path_not_over_every_layer():
    net = three_way_merge(0)  # a → b → d → e → fc is the longest of a → {b, c}, b → {d, e}, c → e, d → e
    assert [net.layers[i].name for i in longest_path(net)] == ["a", "b", "d", "e", "fc"]
    est = estimate(net, load_profile("speck2f"), None, 0.1)
    per_layer = float(load_profile("speck2f").quantity("latency.per_layer").number)
    assert len(net.layers) == 6 and est.latency.steps == 5
    assert est.latency_s == pytest.approx(5 * per_layer) and est.latency.path == ("a", "b", "d", "e", "fc")
    assert json.loads(report.format_json(est))["latency_path"] == ["a", "b", "d", "e", "fc"]
    assert "5 layers × 373 ns, along the longest path a → b → d → e → fc" in report.format_table(est)
    three = three_destinations(0)  # a → {b, c, d} → e: three layers deep, whatever the width
    assert estimate(three, load_profile("speck2f"), None, 0.1).latency.steps == 3
    # a time-stepped chip steps once per layer on the path as well
    assert estimate(net, load_profile("loihi"), None, 0.1).latency.steps == 5


def test_fan_in_on_neuron_cores_folds_each_sources_edge_pooling():
    net = mixed_pooling(0)  # d receives b pooled 2×2 and c unpooled: 4 channels × 3×3 × (2² + 1²)
    assert fan_in(net, 3) == 4 * 9 * (4 + 1)
    assert fan_in(net, 1) == 4 * 9 and fan_in(net, 2) == 4 * 9 * 4 and fan_in(net, 0) == 2 * 9
    placement = estimate(net, load_profile("loihi"), None, 0.1).placement
    assert placement.layer("d").fan_in == 180


def _source_map(net: Network, path: list[int], pool: int, raster: np.ndarray) -> np.ndarray:
    """Spikes per (sample, pixel) the last layer of ``path`` (a chain inside ``net``) sends on an edge pooled by
    ``pool``: the chain emulated on its own (each earlier layer pooled by its edge along the path)."""
    from qsnn_deploy.emulate.binned import run_binned

    chain = [
        net.layers[k].replace(destinations=None, pool=net.edge_pool(k, nxt) if nxt is not None else pool)
        for k, nxt in zip(path, [*path[1:], None])
    ]
    res = run_binned(Network(tuple(chain), net.input_shape, net.dt_us), raster)
    c, h, w = net.layers[path[-1]].pooled_shape(pool)
    return res.output_trace.sum(1).reshape(-1, c, h, w).sum(1)


@pytest.mark.parametrize(
    "build, edges",
    [
        # each edge into a layer: (source path from layer 0, destination); every source is reached by a chain
        (residual, {"body": [([0], 1)], "join": [([0], 2), ([0, 1], 2)]}),
        (mixed_pooling, {"b": [([0], 1)], "c": [([0], 2)], "d": [([0, 1], 3), ([0, 2], 3)]}),
    ],
    ids=["residual", "mixed_pooling"],
)
def test_synops_per_edge_equal_the_emulators_per_layer_synops(build, edges):
    pytest.importorskip("torch")
    from helpers import random_raster

    from qsnn_deploy.emulate.binned import run_binned

    net = build(0, quantized=True)
    raster = random_raster(3, 6, net.input_shape, rate=0.2, seed=2)
    res = run_binned(net, raster)
    synops = dict(zip(res.layer_names, res.layer_synops.sum(0).tolist()))
    spikes = dict(zip(res.layer_names, res.layer_spikes.sum(0).astype(float).tolist()))
    names = [layer.name for layer in net.layers]
    for dest, into in edges.items():
        j = names.index(dest)
        # a layer's SynOps = Σ over its edges of the events on that edge × the fan-out of each event
        per_edge = [
            float((_source_map(net, path, net.edge_pool(path[-1], j), raster) * net.layers[j].fanout_map()).sum())
            for path, _ in into
        ]
        assert min(per_edge) > 0, f"{dest}: an edge carries no events; raise the input rate"
        assert synops[dest] == pytest.approx(sum(per_edge), rel=1e-12), dest
    est = estimate(net, load_profile("speck2f"), synops, 0.6, spikes_per_layer=spikes)
    rows = {r.name: r for r in est.layers}
    assert {n: rows[n].synops for n in names} == synops and est.synops == pytest.approx(sum(synops.values()))
    # a source's events reach every destination: the estimate's input events add up the sources' output events
    # (sum pooling keeps every event; these shapes are even, so none is cropped)
    for j, name in enumerate(names[1:], start=1):
        assert rows[name].input_events == sum(spikes[names[i]] for i in net.sources(j))


def test_a_merge_core_stalls_on_the_sum_of_its_sources():
    net = residual(0)
    ceiling = load_profile("speck2f").cores[2].synops_ceiling  # join lands on core 2
    # join's SynOps/s, counted over both its edges, exceed its core's ceiling though either edge alone would not
    synops = {"stem": 1e3, "body": 1e3, "join": 1.2 * ceiling, "fc": 1e3}
    est = estimate(net, load_profile("speck2f"), synops, 1.0)
    assert [r.name for r in est.stalled_cores] == ["join"]
    assert any(w.startswith("core 2 (join, fed by stem and body) receives") for w in est.warnings)


def test_a_chain_reports_no_routes_and_its_latency_over_every_layer(nmnist_net):
    est = estimate(nmnist_net, load_profile("speck2f"), None, 0.1)
    assert est.chain and est.latency.steps == 4 and est.latency.path == ("conv1", "conv2", "conv3", "fc")
    for text in (report.format_table(est), report.format_markdown(est)):
        assert "Routes" not in text and "longest path" not in text
    doc = json.loads(report.format_json(est))
    assert [[d["layer"] for d in r["destinations"]] for r in doc["layers"]] == [
        ["conv2"],
        ["conv3"],
        ["fc"],
        ["output"],
    ]
    graph = estimate(residual(0), load_profile("speck2f"), None, 0.1)
    md = report.format_markdown(graph)
    assert "### Routes" in md and "- stem + body → join (core 2) → fc (core 3, pool 2)" in md


def test_fixes_name_every_source_of_a_merge_not_the_layer_listed_before_it(layers):
    a = layers.conv("a", 2, 2, 1, (200, 200), destinations=("b", "c"))
    b = layers.conv("b", 2, 2, 1, (200, 200))
    c = layers.conv("c", 2, 2, 1, (200, 200))
    net = Network((a, b, c), a.input_shape)  # c sums a and b; speck2f takes inputs up to 128×128
    fixes = {v.layer: v.fix for v in check(net, load_profile("speck2f"), ["SPK007"])}
    assert fixes == {
        "a": "sum-pool the input by 2 (200×200 → 100×100)",
        "b": "downsample by 2 before b (e.g. a 2×2 sum-pool in a: 200×200 → 100×100)",
        "c": "downsample by 2 before c (e.g. a 2×2 sum-pool on the edges from a and b: 200×200 → 100×100)",
    }


def test_graph_files_estimate_with_their_routes_through_the_cli(tmp_path):
    pytest.importorskip("nir")
    from helpers import run_cli

    from qsnn_deploy.convert.nir_io import write_nir

    for build in (residual, mixed_pooling):
        net = build(0)
        path = write_nir(net, tmp_path / f"{build.__name__}.nir")
        doc = json.loads(run_cli("estimate", path, "--samples", "0", "--format", "json", "-q").stdout)
        want = json.loads(report.format_json(estimate(net, load_profile("speck2f"), None, 1.0)))
        assert doc["fits"] is True and _routes(doc) == _routes(want), build.__name__
        assert doc["latency_path"] == want["latency_path"]

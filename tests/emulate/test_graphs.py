"""Both emulators on graph networks (tests/graph_nets.GRAPHS): branches, merges, per-destination pooling.

Cross-checks, each on every graph the chip can run:

- binned mode = a forward assembled by hand from ``sinabs.layers`` with the same integers (``Conv2d``,
  ``IAFSqueeze`` with ``MultiSpike`` and the layer's reset, threshold and lower bound, one ``SumPool2d``
  per edge, a merge added with ``+``), per layer and per time bin; SynOps = per edge, the events each edge
  carries × the destination's fan-out;
- binned mode = sinabs 3.1.3's own ``DynapcnnNetwork(model, input_shape, discretize=True)`` forward, spike
  for spike and per destination, for the graphs sinabs can build (under the samna stand-in);
- event mode = binned mode where both are exact (non-negative weights below threshold, no bias: no neuron can
  fire twice in one update), as the chain tests in test_event.py;
- ``--compare``'s per-layer comparison (emulate/compare.py) has one row per layer of a graph.
"""

from __future__ import annotations

import graph_nets
import numpy as np
import pytest
import torch
from helpers import random_raster
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.emulate.compare import compare_modes
from qsnn_deploy.emulate.event import EventEmulator, raster_to_events
from qsnn_deploy.emulate.samples import Samples
from qsnn_deploy.ir import Network

GRAPHS = sorted(graph_nets.GRAPHS)


def _counted_pool(net: Network, i: int) -> int:
    """The pooling ``layer_spikes`` counts layer ``i`` under: its own pool, the output pooling for the last."""
    return net.output_pool if i == len(net.layers) - 1 else net.layers[i].pool


def _sum_pool(x: torch.Tensor, pool: int) -> torch.Tensor:
    import sinabs.layers as sl

    return sl.SumPool2d(pool)(x) if pool > 1 else x


def sinabs_by_hand(net: Network, x: np.ndarray):
    """``net``'s integers through ``sinabs.layers``, wired by hand along the network's edges.

    Each core is ``Conv2d → IAFSqueeze`` (``to_sinabs.sinabs_sequential`` of the layer without its pooling;
    sinabs' IAF defaults to ``MultiSpike``, ``S/layers/iaf.py:168``), each edge its own ``SumPool2d``
    (``S/layers/pool2d.py:94``) and a merge the sum ``+`` of its inputs. Returns the spikes of each layer
    (N, T, C, H, W) before pooling, what each edge ``(i, j)`` carries, and the output (N, T, n_outputs).
    """
    from qsnn_deploy.convert.to_sinabs import sinabs_sequential

    n, t = x.shape[:2]
    spikes: list[torch.Tensor] = []
    edges: dict[tuple[int, int], torch.Tensor] = {}
    with torch.no_grad():
        for j, layer in enumerate(net.layers):
            if j == 0:
                inp = torch.from_numpy(x).flatten(0, 1)
            else:
                src = net.sources(j)
                inp = edges[src[0], j]
                for i in src[1:]:
                    inp = inp + edges[i, j]
            out = sinabs_sequential(
                Network((layer.replace(pool=1, destinations=None),), layer.input_shape), batch_size=n
            )(inp)
            spikes.append(out)
            for k, p in zip(net.targets(j), net.target_pools(j)):
                edges[j, k] = _sum_pool(out, p)
        output = _sum_pool(spikes[-1], net.output_pool)
    unflat = lambda v: v.unflatten(0, (n, t))  # noqa: E731
    return [unflat(s) for s in spikes], {e: unflat(v) for e, v in edges.items()}, unflat(output).flatten(2)


@pytest.mark.parametrize("engine", ["compiled", "torch"])
@pytest.mark.parametrize("name", GRAPHS)
def test_binned_equals_sinabs_layers_by_hand(name, engine):
    net = graph_nets.GRAPHS[name](1, quantized=True)
    x = random_raster(3, 8, net.input_shape, rate=0.2, seed=4)
    spikes, edges, output = sinabs_by_hand(net, x)
    res = run_binned(net, x, engine=engine)
    assert np.array_equal(res.output_trace, output.numpy().astype(np.int64))
    counted = [_sum_pool(s.flatten(0, 1), _counted_pool(net, i)).sum(dim=(1, 2, 3)) for i, s in enumerate(spikes)]
    by_hand = torch.stack([c.unflatten(0, x.shape[:2]).sum(1) for c in counted], 1)
    assert np.array_equal(res.layer_spikes, by_hand.numpy().astype(np.int64))
    assert (res.layer_spikes > 0).all()  # every layer, every branch carried spikes
    # SynOps per edge: the events an edge carries, each costing its destination's fan-out; a layer's SynOps
    # sum over its incoming edges, so a spike sent to two destinations is paid for in both
    fanout = [torch.as_tensor(layer.fanout_map(), dtype=torch.float64) for layer in net.layers]
    per_edge = {(i, j): (e.sum(dim=(1, 2)).double() * fanout[j]).sum(dim=(1, 2)) for (i, j), e in edges.items()}
    first = (torch.from_numpy(x).sum(dim=(1, 2)).double() * fanout[0]).sum(dim=(1, 2))
    expected = [first] + [sum((per_edge[i, j] for i in net.sources(j)), torch.zeros(3)) for j in range(1, len(fanout))]
    assert np.array_equal(res.layer_synops, torch.stack(expected, 1).numpy())
    for i in range(len(net.layers)):
        if len(net.targets(i)) == 2:  # what its spikes cost: both destinations' fan-outs
            caused = sum(per_edge[i, j] for j in net.targets(i))
            assert (caused > per_edge[i, net.targets(i)[0]]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binned_equals_dynapcnn_network_on_a_residual_block(sinabs_dynapcnn, seed):
    """sinabs' own discretisation and forward of the same float graph, spike for spike on every edge.

    ``return_complete=True`` gives ``{layer: {destination: spikes}}``, each destination's spikes pooled by its
    own pooling, exits as negative destinations (``D/dynapcnnnetwork_module.py:216-246``); a merge is
    ``merge_layer(*inputs)`` (``:258-262``). Its layers are indexed topologically, which for this block is our
    order; the destination map says so.
    """
    net = graph_nets.residual(seed)
    dyn = sinabs_dynapcnn.DynapcnnNetwork(
        graph_nets.sinabs_graph_model(net), input_shape=net.input_shape, discretize=True
    )
    ours_map = {i: sorted(net.targets(i)) or [-1] for i in range(len(net.layers))}
    assert {k: sorted(v) for k, v in dyn.layer_destination_map.items()} == ours_map
    x = random_raster(1, 12, net.input_shape, rate=0.25, seed=seed)
    with torch.no_grad():
        theirs = dyn(torch.from_numpy(x[0]), return_complete=True)
    qnet = graph_nets.residual(seed, quantized=True)
    _, edges, output = sinabs_by_hand(qnet, x)
    for (i, j), carried in edges.items():
        assert torch.equal(theirs[i][j], carried[0]), f"edge {net.layers[i].name} → {net.layers[j].name}"
    assert torch.equal(theirs[len(net.layers) - 1][-1].flatten(1), output[0])
    res = run_binned(net, x)  # the float network, discretised by ours
    assert np.array_equal(res.output_trace[0], theirs[len(net.layers) - 1][-1].flatten(1).numpy().astype(np.int64))
    for i, j, p in net.edges:
        if p == _counted_pool(net, i):
            assert res.layer_spikes[0, i] == int(theirs[i][j].sum())
    assert res.output_counts.sum() > 0


def test_sinabs_cannot_build_a_pooled_and_an_unpooled_destination(sinabs_dynapcnn):
    """Why mixed_pooling is checked against sinabs layers only: sinabs 3.1.3 fails at
    ``destination["pooling_ids"][-1]`` (``D/sinabs_edges_handler.py:902``) when one destination of a layer
    is pooled and another is not. If this starts passing, add mixed_pooling to the DynapcnnNetwork check."""
    net = graph_nets.mixed_pooling(0)
    with pytest.raises(IndexError):
        sinabs_dynapcnn.DynapcnnNetwork(
            graph_nets.sinabs_graph_model(net), input_shape=net.input_shape, discretize=True
        )


def _monotone(net: Network) -> Network:
    """Non-negative weights below threshold and no bias: no neuron can fire twice in one update."""
    layers = [
        layer.replace(weight=np.abs(layer.weight) % max(1, int(layer.threshold) - 1), bias=None) for layer in net.layers
    ]
    return Network(tuple(layers), net.input_shape, net.dt_us)


@settings(max_examples=4, deadline=None)
@given(st.sampled_from(GRAPHS), st.integers(0, 10_000), st.floats(0.02, 0.2))
def test_event_equals_binned_on_graphs_when_no_neuron_can_fire_twice(name, seed, rate):
    net = _monotone(graph_nets.GRAPHS[name](seed % 5, quantized=True))
    t = 5
    x = random_raster(2, t, net.input_shape, rate=rate, seed=seed)
    binned = run_binned(net, x)
    emu = EventEmulator(net)
    assert emu.dests.shape == (len(net.layers), 2, 4)  # (target, pooling, rows, columns) for up to two destinations
    for i in range(2):
        res = emu.run(raster_to_events(x[i], net.dt_us), duration_us=t * net.dt_us)
        assert np.array_equal(res.output_counts, binned.output_counts[i])
        assert np.array_equal(res.layer_spikes, binned.layer_spikes[i])
        assert np.array_equal(res.layer_synops, binned.layer_synops[i])


def test_event_mode_routes_each_destination_with_its_pooling():
    """mixed_pooling's first layer sends unpooled to b and pooled by 2 to c: the dests table says so, and
    the SynOps b and c perform are their own fan-outs of the events each edge carries (equal to binned)."""
    net = _monotone(graph_nets.mixed_pooling(3, quantized=True))
    emu = EventEmulator(net)
    names = [layer.name for layer in net.layers]
    a = names.index("a")
    assert emu.dests[a, :, :2].tolist() == [[names.index("b"), 1], [names.index("c"), 2]]
    _, ho, wo = net.layers[a].conv_shape
    assert emu.dests[a, :, 2:].tolist() == [[ho, wo], [ho // 2, wo // 2]]
    x = random_raster(1, 4, net.input_shape, rate=0.1, seed=7)
    res = emu.run(raster_to_events(x[0], net.dt_us), duration_us=4 * net.dt_us)
    _, edges, _ = sinabs_by_hand(net, x)
    for j in (names.index("b"), names.index("c")):
        carried = edges[a, j][0].sum(dim=(0, 1)).double().numpy()
        assert res.layer_synops[j] == (carried * net.layers[j].fanout_map()).sum() > 0


@pytest.mark.parametrize("name", GRAPHS)
def test_compare_has_one_row_per_layer_of_a_graph(name):
    net = _monotone(graph_nets.GRAPHS[name](2, quantized=True))
    x = random_raster(2, 4, net.input_shape, rate=0.1, seed=2)
    cmp = compare_modes(net, Samples(x, np.array([0, 1]), "test raster"))
    doc = cmp.to_dict(np.array([0, 1]))
    names = [layer.name for layer in net.layers]
    assert cmp.layer_names == doc["layers"] == names
    for mode in ("float", "binned", "event"):
        assert cmp.layer_spikes[mode].shape == (2, len(names))
        assert len(doc["mean_layer_spikes"][mode]) == len(names)
    assert np.array_equal(cmp.layer_spikes["binned"], run_binned(net, x).layer_spikes)
    assert doc["first_divergent_layer"]["binned/event"] is None  # exact where both are (see above)


def test_compare_from_the_cli_prints_one_row_per_layer(tmp_path):
    """``deploy MODEL.nir --input RASTER --compare`` on a graph written by us: a row for each layer, in order."""
    from helpers import run_cli

    from qsnn_deploy.convert.nir_io import write_nir

    net = graph_nets.mixed_pooling(2, quantized=True)
    write_nir(net, tmp_path / "m.nir")
    np.save(tmp_path / "x.npy", random_raster(1, 4, net.input_shape, rate=0.1, seed=2)[0])
    out = run_cli("deploy", tmp_path / "m.nir", "--input", tmp_path / "x.npy", "--compare", "-q").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["layer", "float", "binned", "event"]
    assert [line.split()[0] for line in lines[1 : 1 + len(net.layers)]] == [layer.name for layer in net.layers]
    assert lines[1 + len(net.layers)] == "(mean spikes per sample)"

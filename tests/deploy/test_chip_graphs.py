"""Graph networks on the chip path: the plan's destinations come from the IR, the samna configuration is
sinabs' own where sinabs can build the network (value by value, under the samna stand-in) and written from
the plan where it cannot, and a core with three destinations never reaches the chip (exit 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from graph_nets import GRAPHS, mixed_pooling, residual, three_destinations, three_way_merge
from helpers import random_network, random_raster

from qsnn_deploy.deploy.chip import ChipOptions, export_config, run_on_chip
from qsnn_deploy.deploy.chip_plan import ChipPlan, chip_description, plan_chip
from qsnn_deploy.emulate.event import raster_to_events
from qsnn_deploy.emulate.samples import Samples
from qsnn_deploy.errors import ConstraintError


def _edges(plan: ChipPlan) -> dict[str, list[tuple[int, bool, int]]]:
    """Each layer's destinations as (core, enable, pooling)."""
    return {
        layer.name: [(d["layer"], d["enable"], d["pooling"]) for d in plan.destinations(i)]
        for i, layer in enumerate(plan.layers)
    }


# --- the plan, no driver --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_destinations_are_the_ir_edges(name):
    net = GRAPHS[name](0, quantized=True)
    plan = plan_chip(net, "speck2f")
    core = plan.core_map
    for i, layer in enumerate(net.layers):
        want = [(core[net.layers[j].name], True, p) for j, p in zip(net.targets(i), net.target_pools(i))]
        assert _edges(plan)[layer.name] == want
    assert plan.monitor == (len(net.layers) - 1,) and len(set(plan.cores)) == len(net.layers)


def test_mixed_pooling_destinations_by_hand():
    """a sends unpooled to b and pooled by 2 to c; b pooled by 2 to d; c unpooled to d; d → fc pooled by 2."""
    plan = plan_chip(mixed_pooling(0, quantized=True), "speck2f")
    c = plan.core_map
    assert _edges(plan) == {
        "a": [(c["b"], True, 1), (c["c"], True, 2)],
        "b": [(c["d"], True, 2)],
        "c": [(c["d"], True, 1)],
        "d": [(c["fc"], True, 2)],
        "fc": [],
    }
    doc = chip_description(plan)
    layers = {d["name"]: d for d in doc["layers"]}
    assert layers["a"]["destinations"] == [
        {"layer": c["b"], "enable": True, "pooling": 1},
        {"layer": c["c"], "enable": True, "pooling": 2},
    ]
    # each core's input shape is what its sources send it (b: a unpooled, 16×16; c and d: 8×8)
    shapes = {n: d["dimensions"]["input_shape"] for n, d in layers.items()}
    assert shapes["b"] == {"feature_count": 4, "size": {"x": 16, "y": 16}}
    assert shapes["c"] == shapes["d"] == {"feature_count": 4, "size": {"x": 8, "y": 8}}


def test_readout_goes_after_the_last_layer_of_a_graph():
    plan = plan_chip(residual(0, quantized=True), "speck2f", readout=True)
    assert _edges(plan)["fc"] == [(12, True, 1)] and plan.layers[-1].c_out == 17
    assert _edges(plan)["stem"] == _edges(plan_chip(residual(0, quantized=True), "speck2f"))["stem"]


def test_three_destinations_are_refused_with_exit_4():
    with pytest.raises(ConstraintError, match=r"SPK015.*a core has 2 destinations") as err:
        plan_chip(three_destinations(0, quantized=True), "speck2f")
    assert err.value.exit_code == 4 and "1×1 relay layer" in err.value.message


def _direct_plan(net) -> ChipPlan:
    """A plan made without plan_chip (so without its rule check)."""
    return ChipPlan("speck2f", net, net, tuple(range(len(net.layers))), (len(net.layers) - 1,))


def test_a_plan_with_three_destinations_made_otherwise_is_refused_too(tmp_path):
    plan = _direct_plan(three_destinations(0, quantized=True))
    with pytest.raises(ConstraintError, match="SPK015") as err:
        chip_description(plan)
    assert err.value.exit_code == 4
    with pytest.raises(ConstraintError, match="SPK015"):
        export_config(plan, tmp_path / "chip.json", "placeholder")
    assert list(tmp_path.iterdir()) == []


def test_export_without_the_driver_writes_the_graph(tmp_path):
    plan = plan_chip(residual(0, quantized=True), "speck2f")
    got = export_config(plan, tmp_path / "chip.json", "placeholder")
    doc = json.loads((tmp_path / "chip.json").read_text())
    assert got["kind"].startswith("chip description") and doc["samna_configuration"] is None
    c = plan.core_map
    layers = {d["name"]: d for d in doc["layers"]}
    assert [d["layer"] for d in layers["stem"]["destinations"]] == [c["body"], c["join"]]
    assert [d["pooling"] for d in layers["stem"]["destinations"]] == [2, 2]
    assert layers["body"]["destinations"] == [{"layer": c["join"], "enable": True, "pooling": 1}]
    assert layers["join"]["dimensions"]["input_shape"]["size"] == {"x": 8, "y": 8}


# --- sinabs' model of a network --------------------------------------------------------------------


def test_sinabs_cannot_represent_a_3_source_merge_or_mixed_pooling():
    from qsnn_deploy.convert.to_sinabs import sinabs_limitation, sinabs_model

    assert sinabs_limitation(residual(0)) is None and sinabs_limitation(random_network(0)) is None
    with pytest.raises(ConstraintError, match=r"layer e adds 3 sources.*merge.py:13.*nir_graph_extractor.py:845"):
        sinabs_model(three_way_merge(0))
    with pytest.raises(ConstraintError, match=r"layer a sends .* unpooled .* pooled.*sinabs_edges_handler.py:902"):
        sinabs_model(mixed_pooling(0))


def test_the_chain_model_runs_like_the_sequential_one():
    """A chain through the graph builder gives sinabs_sequential's spikes (the same cores, wired in order)."""
    import torch

    from qsnn_deploy.convert.to_sinabs import sinabs_model, sinabs_sequential

    net = random_network(1, quantized=True)
    x = torch.from_numpy(random_raster(3, 6, net.input_shape, rate=0.3, seed=2)).flatten(0, 1)
    with torch.no_grad():
        a = sinabs_model(net, batch_size=3)(x)
        b = sinabs_sequential(net, batch_size=3)(x)
    assert torch.equal(a, b) and a.sum() > 0
    with pytest.raises(ConstraintError, match="this network is a graph.*sinabs_model"):
        sinabs_sequential(residual(0))


def test_the_residual_model_adds_its_pooled_sources():
    """join's input is stem's spikes pooled by 2 plus body's spikes (sinabs Merge adds equal shapes)."""
    import torch

    from qsnn_deploy.convert.to_sinabs import sinabs_model

    net = residual(0, quantized=True)
    model = sinabs_model(net, batch_size=2)
    x = torch.from_numpy(random_raster(2, 4, net.input_shape, rate=0.3, seed=1)).flatten(0, 1)
    seen = {}

    def keep(name, which):
        def hook(module, inputs, output):
            seen[name] = (inputs[0] if which == "in" else output).clone()  # returns None: output unchanged

        return hook

    model.conv[2].register_forward_hook(keep("join_in", "in"))
    model.spk[0].register_forward_hook(keep("stem", "out"))
    model.spk[1].register_forward_hook(keep("body", "out"))
    with torch.no_grad():
        model(x)
    pooled = torch.nn.functional.avg_pool2d(seen["stem"], 2) * 4
    assert torch.equal(seen["join_in"], pooled + seen["body"]) and seen["body"].sum() > 0


# --- the samna configuration (stand-in) --------------------------------------------------------------


def _differences(a, b, path="config") -> list[str]:
    """Where two stand-in records (or lists, or values) differ."""
    if hasattr(a, "_to_dict"):
        a, b = a._to_dict(), b._to_dict()
    if isinstance(a, dict):
        return [d for k in a for d in _differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and any(isinstance(v, (dict, list)) for v in a):
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{k}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


CASES = {
    "residual": lambda: plan_chip(residual(0, quantized=True), "speck2f"),
    "residual, all monitored": lambda: plan_chip(residual(1, quantized=True), "speck2f", monitor_all=True),
    "residual, readout": lambda: plan_chip(residual(2, quantized=True), "speck2f", readout=True),
    "chain": lambda: plan_chip(random_network(0, quantized=True), "speck2f"),
    "chain with bias, readout": lambda: plan_chip(
        random_network(2, quantized=True, bias=True), "speck2f", readout=True
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plan_writes_sinabs_own_configuration(standin_samna, case):
    """Where sinabs builds the network, the configuration written from our plan equals the one sinabs'
    ``DynapcnnNetwork.make_config`` makes, in every field of every core (weights, biases, thresholds,
    dimensions with the input shapes, destinations with their pooling, monitors, readout)."""
    from qsnn_deploy.deploy.samna_backend import plan_config, vendor_config, vendor_network

    plan = CASES[case]()
    theirs = vendor_config(vendor_network(plan), plan, "speck2fdevkit")
    ours = plan_config(plan, "speck2fdevkit")
    assert _differences(ours, theirs) == []
    assert ours == theirs  # the stand-in's records compare every field
    assert sum(bool(layer.weights) for layer in ours.cnn_layers) == len(plan.layers)


def test_sinabs_configuration_of_the_residual_by_hand(standin_samna):
    from qsnn_deploy.deploy.samna_backend import build_config, vendor_layers

    plan = plan_chip(residual(0, quantized=True), "speck2f")
    net, cfg = build_config(plan)
    assert net is not None and vendor_layers(net, plan) == {0: 0, 1: 1, 2: 2, 3: 3}
    c = plan.core_map
    stem = cfg.cnn_layers[c["stem"]]
    assert [(d.layer, d.enable, d.pooling) for d in stem.destinations] == [(c["body"], True, 2), (c["join"], True, 2)]
    join = cfg.cnn_layers[c["join"]]
    assert (join.dimensions.input_shape.feature_count, join.dimensions.input_shape.size.x) == (4, 8)
    assert [(d.layer, d.enable, d.pooling) for d in join.destinations] == [(c["fc"], True, 2), (0, False, 1)]
    for layer in plan.layers:
        assert np.array_equal(np.asarray(cfg.cnn_layers[c[layer.name]].weights).transpose(0, 1, 3, 2), layer.weight)


def test_the_chain_configuration_is_the_one_sinabs_sequential_gave(standin_samna):
    """Chains now go through the graph builder; the configuration is what the nn.Sequential gave before."""
    import sinabs.backend.dynapcnn as dynapcnn

    from qsnn_deploy.convert.to_sinabs import sinabs_sequential
    from qsnn_deploy.deploy.samna_backend import _readout_modifier, build_config

    for readout in (False, True):
        plan = plan_chip(random_network(1, quantized=True), "speck2f", readout=readout, monitor_all=True)
        seq = dynapcnn.DynapcnnNetwork(
            sinabs_sequential(plan.network), input_shape=plan.network.input_shape, discretize=False, dvs_input=False
        )
        before = seq.make_config(  # what samna_backend called before graphs
            layer2core_map=dict(enumerate(plan.cores)),
            device="speck2fdevkit",
            monitor_layers=list(plan.monitor),
            config_modifier=_readout_modifier(plan) if plan.readout else None,
        )
        net, now = build_config(plan)
        assert net is not None and _differences(now, before) == [] and now == before


def test_mixed_pooling_is_written_from_the_plan(standin_samna):
    """sinabs cannot build it; the configuration comes from the plan and holds the IR's edges."""
    from qsnn_deploy.deploy.samna_backend import build_config, verify_config

    net = mixed_pooling(0, quantized=True)
    plan = plan_chip(net, "speck2f")
    vendor, cfg = build_config(plan)
    assert vendor is None and verify_config(cfg, plan) == []
    c = plan.core_map

    def dests(name):
        return [(d.layer, d.enable, d.pooling) for d in cfg.cnn_layers[c[name]].destinations if d.enable]

    assert dests("a") == [(c["b"], True, 1), (c["c"], True, 2)]
    assert dests("b") == [(c["d"], True, 2)] and dests("c") == [(c["d"], True, 1)]
    assert dests("d") == [(c["fc"], True, 2)] and dests("fc") == []
    b = cfg.cnn_layers[c["b"]].dimensions
    assert (b.input_shape.feature_count, b.input_shape.size.y, b.input_shape.size.x) == (4, 16, 16)
    assert (b.output_shape.feature_count, b.output_shape.size.y, b.output_shape.size.x) == (4, 16, 16)
    assert cfg.cnn_layers[c["fc"]].monitor_enable and not cfg.cnn_layers[c["a"]].monitor_enable
    # verify_config sees a wrong pooling on one of a's destinations
    cfg.cnn_layers[c["a"]].destinations[1].pooling = 1
    assert any(f"core {c['c']} with pooling 1" in b for b in verify_config(cfg, plan))


def test_three_way_merge_is_written_from_the_plan(standin_samna):
    from qsnn_deploy.deploy.samna_backend import build_config

    plan = plan_chip(three_way_merge(0, quantized=True), "speck2f")
    vendor, cfg = build_config(plan)
    c = plan.core_map
    into_e = sorted(
        name
        for name in c
        for d in cfg.cnn_layers[c[name]].destinations
        if d.enable and d.layer == c["e"] and d.pooling == 1
    )
    assert vendor is None and into_e == ["b", "c", "d"]


def test_three_destinations_never_reach_samna(standin_samna):
    from qsnn_deploy.deploy.samna_backend import build_config, plan_config

    plan = _direct_plan(three_destinations(0, quantized=True))
    for make in (build_config, lambda p: plan_config(p, "speck2fdevkit")):
        with pytest.raises(ConstraintError, match="SPK015") as err:
            make(plan)
        assert err.value.exit_code == 4


def test_a_graph_runs_on_the_stand_in_board(chip):
    net = residual(0, quantized=True)
    plan = plan_chip(net, "speck2f", monitor_all=True)
    r = random_raster(2, 4, net.input_shape, rate=0.2, seed=3)
    samples = Samples(raster=r, labels=None, source="test", events=[raster_to_events(x, net.dt_us) for x in r])
    res = run_on_chip(plan, samples, ChipOptions(timeout_s=1.0, quiet_s=0.02))
    assert res["integers_verified"] and set(res["layer_spike_counts"]) == {"stem", "body", "join", "fc"}
    if chip.standin:
        cfg = chip.state.device.model.configuration
        stem = cfg.cnn_layers[plan.core_map["stem"]]
        assert sorted(d.layer for d in stem.destinations if d.enable) == sorted(
            plan.core_map[n] for n in ("body", "join")
        )

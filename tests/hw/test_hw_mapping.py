"""Layer → core mapping: sinabs' outcome, and failures explained."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.hw import Core, Profile, map_layers
from qsnn_deploy.hw.mapping import hall_violator, match


def test_nmnist_tutorial_maps_to_cores_0_1_2_3(nmnist_net, speck2f):
    m = map_layers(nmnist_net, speck2f)
    assert m.ok and m.explanation == ""
    assert m.assignment == {"conv1": 0, "conv2": 1, "conv3": 2, "fc": 3}
    assert m.candidates["conv1"] == (0, 1, 2, 3, 4)


def test_four_layers_that_need_64ki_neurons_compete_for_three_cores(layers, speck2f):
    net = layers.chain(
        layers.conv("conv1", 2, 16, 3, (64, 64), padding=1),
        *[layers.conv(f"conv{i}", 16, 16, 3, (64, 64), padding=1) for i in (2, 3, 4)],
    )
    m = map_layers(net, speck2f)
    assert m.assignment is None and not m.ok
    assert m.unplaceable == ()
    assert m.conflict_layers == ("conv1", "conv2", "conv3", "conv4")
    assert m.conflict_cores == (0, 1, 2)
    assert m.explanation == (
        "No valid layer-to-core mapping. Layers conv1, conv2, conv3, conv4 can only use cores 0, 1, 2: "
        "4 layers compete for 3 cores (conv1: 512 kernel / 65536 neuron words; conv2: 4096 kernel / 65536 "
        "neuron words; conv3: 4096 kernel / 65536 neuron words; conv4: 4096 kernel / 65536 neuron words)."
    )


def test_a_layer_that_fits_no_core_is_named(layers, speck2f):
    net = layers.chain(
        layers.conv("conv1", 2, 32, 3, (64, 64), padding=1),
        layers.conv("conv2", 32, 4, 3, (64, 64), padding=1, stride=2),
    )
    m = map_layers(net, speck2f)
    assert m.unplaceable == ("conv1",) and m.conflict_layers == ()
    assert m.explanation == (
        "No valid layer-to-core mapping. Layer conv1 fits no core: it needs 131072 neuron words (largest core: 65536)."
    )


def test_too_many_layers_is_explained(layers, speck2f):
    net = layers.chain(*[layers.conv(f"c{i}", 2, 2, 3, (16, 16), padding=1) for i in range(10)])
    m = map_layers(net, speck2f)
    assert m.explanation == (
        "No valid layer-to-core mapping. The network has 10 layers but speck2f has 9 cores (one layer per core)."
    )


def test_matching_moves_an_earlier_layer_to_make_room():
    # item 0 could take core 0 or 1; item 1 only core 0 → augmenting path reassigns item 0
    assert match([[0, 1], [0]], 2) == [1, 0]


def test_hall_violator_is_minimal_witness():
    cands = [[0], [0], [1, 2]]
    matched = match(cands, 3)
    assert matched.count(None) == 1
    items, cores = hall_violator(cands, matched)
    assert items == [0, 1] and cores == [0]


def test_profile_with_one_core(layers):
    one = Profile("one", cores=(Core(0, 10**6, 10**6, 10**6),))
    net = layers.chain(layers.conv("a", 2, 2, 1, (4, 4)))
    assert map_layers(net, one).assignment == {"a": 0}


# --- cross-check against sinabs' own get_valid_mapping algorithm ------------------------------------------


def _sinabs_mapping_functions():
    """Load sinabs' flow-graph functions from its installed source without importing sinabs.backend.dynapcnn
    (which imports samna; the PyPI placeholder runs pip)."""
    spec = importlib.util.find_spec("sinabs")
    if spec is None or spec.origin is None:
        pytest.skip("sinabs is not installed")
    path = Path(spec.origin).parent / "backend" / "dynapcnn" / "mapping.py"
    if not path.is_file():
        pytest.skip("sinabs has no backend/dynapcnn/mapping.py")
    tree = ast.parse(path.read_text())
    wanted = {"FlowGraphEdge", "edmonds", "make_flow_graph", "recover_mapping"}
    body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in wanted]
    header = ast.parse(
        "from collections import deque\nfrom copy import deepcopy\n"
        "from dataclasses import dataclass\nfrom typing import List, Optional, Dict, Tuple\n"
    ).body
    ns: dict = {}
    exec(compile(ast.Module(body=header + body, type_ignores=[]), str(path), "exec"), ns)
    assert wanted <= set(ns)
    return ns


def test_same_assignment_as_sinabs_on_random_candidate_sets():
    ns = _sinabs_mapping_functions()
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(400):
        n_cores = int(rng.integers(1, 10))
        n_layers = int(rng.integers(1, n_cores + 1))
        cands = [
            sorted(rng.choice(n_cores, size=int(rng.integers(0, n_cores + 1)), replace=False).tolist())
            for _ in range(n_layers)
        ]
        ours = match(cands, n_cores)
        graph = ns["make_flow_graph"](cands, n_cores)
        flowed = ns["edmonds"](graph, 0, len(graph) - 1)
        if None in ours:
            with pytest.raises(ValueError):
                ns["recover_mapping"](flowed, n_layers)
        else:
            assert ours == ns["recover_mapping"](flowed, n_layers), cands
            compared += 1
    assert compared > 100


def test_estimate_only_architectures_have_no_layer_mapping(nmnist_net):
    from qsnn_deploy.errors import InputError
    from qsnn_deploy.hw import load_profile

    with pytest.raises(InputError, match="loihi is a neuron-cores chip: it has no per-layer cores to map onto"):
        map_layers(nmnist_net, load_profile("loihi"))

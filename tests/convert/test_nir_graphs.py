"""Graph networks (residual, branching, merging) in NIR files, out and in.

Out: every graph of ``tests/graph_nets.GRAPHS`` (float and chip integers) is written as its real edges, reads
back as the same network, and is a valid graph for nir 1.0.4 (sinabs' pin), for the newest nir (side
environment of :mod:`nir_newest_env`) and, as far as it goes, for ``sinabs.nir.from_nir`` (below).

In: graphs written with nir's own API by hand, other names and layouts than ours (a pooled skip, a shared
pooling node, a 3-input merge), read into the right network; an unequal merge and a cycle are refused
(exit 4).

``sinabs.from_nir`` (sinabs 3.1.3, ``sinabs/nir.py:130-136``) hands the graph to ``nirtorch.load`` (nirtorch
2.0.2), whose ``GraphExecutor`` builds one module per node (our convolutions, ``IAFSqueeze`` and one
``SumPool2d`` per pooled edge, ``sinabs/nir.py:110-113``) but runs them in the order of
``trace_execution`` (``nirtorch/graph_utils.py:71-88``): a depth-first *pre*-order from the input, not a
topological order. A merge node is therefore run as soon as the first of its sources has run; the sources
not yet run are left out of the sum without an error (``nirtorch/graph_executor.py:112-128``; on a later
call they come from the previous call's cache, i.e. one call late), and ``forward`` returns the value of the
last node in that order, which for a graph is a branch, not the Output node
(``nirtorch/graph_executor.py:165-169``). So sinabs loads our graphs but cannot run them as graphs; the
tests check that it loads every node as we mean it by running its modules in the file's feed-forward
order, which gives our emulator's spikes exactly.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from graph_nets import GRAPHS, mixed_pooling, three_way_merge
from helpers import random_raster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nir_newest_env import IndexUnreachable, newest_nir_python
from nir_plain import plain_conv, plain_from, plain_spikes, plain_sum_pool, write_plain

from qsnn_deploy.convert.nir_file import read_nir_file
from qsnn_deploy.convert.nir_import import NEWEST_KNOWN_NIR, graph_order
from qsnn_deploy.convert.nir_io import read_nir, write_nir
from qsnn_deploy.errors import ConstraintError
from qsnn_deploy.ir import Network

PROBE = Path(__file__).with_name("nir_probe.py")
CASES = [(name, quantized) for name in GRAPHS for quantized in (False, True)]


def _id(case: tuple[str, bool]) -> str:
    return f"{case[0]}-{'int' if case[1] else 'float'}"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[tuple[str, bool], Path]:
    folder = tmp_path_factory.mktemp("nir_graphs")
    return {(name, q): write_nir(GRAPHS[name](0, quantized=q), folder / f"{_id((name, q))}.nir") for name, q in CASES}


def _assert_same_network(a: Network, b: Network) -> None:
    assert a.input_shape == b.input_shape and a.dt_us == b.dt_us
    assert a.edges == b.edges and a.output_pool == b.output_pool
    for la, lb in zip(a.layers, b.layers, strict=True):
        fields = ("name", "kind", "input_shape", "stride", "padding", "pool", "destinations", "threshold")
        assert [getattr(la, f) for f in fields] == [getattr(lb, f) for f in fields], la.name
        assert (la.scale, la.min_v_mem, la.reset, la.weight_bits) == (lb.scale, lb.min_v_mem, lb.reset, lb.weight_bits)
        assert np.array_equal(la.weight, lb.weight), la.name
        assert (la.bias is None) == (lb.bias is None) and (la.bias is None or np.array_equal(la.bias, lb.bias))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_round_trip_keeps_layers_edges_pools_and_weights(files, case):
    net = GRAPHS[case[0]](0, quantized=case[1])
    back = read_nir(files[case])
    _assert_same_network(net, back)
    assert back.metadata == net.metadata and not back.is_chain


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_the_file_is_the_graph(files, case):
    """The edges of the file are the network's: one SumPool2d node per pooled edge, merges as several edges."""
    net = GRAPHS[case[0]](0, quantized=case[1])
    raw = read_nir_file(files[case])
    into: dict[str, list[str]] = {}
    for a, b in raw.edges:
        into.setdefault(b, []).append(a)
    for j, layer in enumerate(net.layers):
        entry = f"{layer.name}.flatten" if f"{layer.name}.flatten" in raw.nodes else f"{layer.name}.conv"
        expected = []
        for i in net.sources(j) or [None]:
            if i is None:
                expected.append("input")
                continue
            src, pool = net.layers[i].name, net.edge_pool(i, j)
            if pool == 1:
                expected.append(f"{src}.if")
                continue
            node = f"{src}.pool" if len(net.targets(i)) == 1 else f"{src}.pool_to_{layer.name}"
            assert raw.nodes[node].type == "SumPool2d"
            assert raw.nodes[node].fields["kernel_size"].tolist() == [pool, pool]
            assert into[node] == [f"{src}.if"]
            expected.append(node)
        assert sorted(into[entry]) == sorted(expected), layer.name


def _check_types_104(graph) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        graph.infer_types()
    assert "overwriting" not in printed.getvalue(), printed.getvalue()
    assert graph._check_types()


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_nir_1_0_4_reads_and_type_checks_it(files, case):
    import nir

    graph = nir.read(files[case])
    _check_types_104(graph)
    net = GRAPHS[case[0]](0, quantized=case[1])
    merges = [layer.name for j, layer in enumerate(net.layers) if len(net.sources(j)) > 1]
    assert merges and all(sum(b == f"{m}.conv" for _, b in graph.edges) > 1 for m in merges)


@pytest.fixture(scope="module")
def newest_python() -> Path:
    try:
        return newest_nir_python()
    except IndexUnreachable as exc:
        pytest.skip(f"cannot build the nir {NEWEST_KNOWN_NIR} environment: {exc}")


def test_newest_nir_reads_and_type_checks_them(newest_python, files):
    paths = [files[c] for c in CASES]
    proc = subprocess.run(
        [str(newest_python), str(PROBE), *map(str, paths)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    failed = {p: r["error"] for p, r in report.items() if not r["ok"]}
    assert not failed, failed
    assert {r["nir"] for r in report.values()} == {NEWEST_KNOWN_NIR}
    residual = report[str(files[("residual", True)])]["types"]
    assert residual["join.conv"] == [[4, 8, 8], [6, 8, 8]]  # the merge: stem pooled by 2 + body
    assert residual["stem.pool_to_body"] == residual["stem.pool_to_join"] == [[4, 16, 16], [4, 8, 8]]
    mixed = report[str(files[("mixed_pooling", True)])]["types"]
    assert mixed["b.conv"] == [[4, 16, 16], [4, 16, 16]] and mixed["c.conv"][0] == [4, 8, 8]
    assert mixed["output"] == [[5], [5]]


def _sinabs_model(path: Path, batch: int, steps: int):
    import nir
    import sinabs
    import sinabs.layers as sl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load is deprecated in nirtorch 2
        model = sinabs.from_nir(nir.read(path), batch_size=batch)
    for m in model.modules():
        if isinstance(m, sl.IAFSqueeze):
            m.batch_size, m.num_timesteps = batch, steps
    return model


@pytest.mark.parametrize("name", list(GRAPHS))
def test_sinabs_loads_every_node_and_runs_them_like_our_emulator(files, name):
    """Each node as sinabs builds it, run in the file's feed-forward order with sums at merges (nirtorch's
    own order is not one, see the module docstring): our emulator's spikes exactly."""
    import sinabs.layers as sl
    import torch
    from nirtorch.utils import sanitize_name

    from qsnn_deploy.emulate.binned import run_binned

    path = files[(name, True)]
    net, raw = read_nir(path), read_nir_file(path)
    model = _sinabs_model(path, 2, 5)
    pools = {n: node for n, node in raw.nodes.items() if node.type == "SumPool2d"}
    for n, node in pools.items():
        module = getattr(model, sanitize_name(n))
        assert isinstance(module, sl.SumPool2d) and tuple(module.kernel_size) == tuple(node.fields["kernel_size"]), n
    x = random_raster(2, 5, net.input_shape, rate=0.4, seed=1)
    values: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for n in graph_order(raw, str(path)):
            sources = [a for a, b in raw.edges if b == n]
            given = torch.from_numpy(x).flatten(0, 1) if n == "input" else sum(values[s] for s in sources)
            values[n] = getattr(model, sanitize_name(n))(given)
    out = values["output"].reshape(2, 5, -1).numpy()
    ours = run_binned(net, x).output_trace
    assert np.array_equal(out, ours.reshape(out.shape)) and ours.sum() > 0


@pytest.mark.parametrize("name", list(GRAPHS))
def test_sinabs_own_forward_is_not_a_graph_forward(files, name):
    """What stops sinabs.from_nir from running graphs (nirtorch 2.0.2): a merge runs before all its sources,
    and the result is the last node of a depth-first order, not the output. When this fails, nirtorch has
    changed: run its forward against our emulator instead."""
    import torch

    path = files[(name, True)]
    net, raw = read_nir(path), read_nir_file(path)
    model = _sinabs_model(path, 1, 3)
    order = [n.name for n in model.execution_order]
    runs_early = [
        (b, a) for a, b in raw.edges if order.index(a.replace(".", "_")) > order.index(b.replace(".", "_"))
    ]  # (node, a source that runs after it)
    assert runs_early and all(
        any(j for j, layer in enumerate(net.layers) if f"{layer.name}.conv" == node and len(net.sources(j)) > 1)
        for node, _ in runs_early
    ), runs_early
    assert order[-1] != "output"
    with torch.no_grad():
        out, _ = model(torch.zeros((3, *net.input_shape)))
    assert tuple(out.shape[1:]) != (net.n_classes,)  # a branch's value, not the output's


# ------------------------------------------------------------------------------------------ plain NIR in


def _pooled_skip(rng, skip_pool: int = 2):
    """conv1 (2→4, 16x16) → conv2 (stride 2: 8x8) → conv3; conv1 → SumPool2d(skip_pool) → conv3 (sum); head."""
    import nir

    w = [rng.normal(0.1, 0.5, s) for s in ((4, 2, 3, 3), (4, 4, 3, 3), (6, 4, 3, 3), (5, 96))]
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 16, 16])}),
        "conv1": plain_conv(w[0], (16, 16)),
        "spk1": plain_spikes((4, 16, 16)),
        "skip": plain_sum_pool(skip_pool),
        "conv2": plain_conv(w[1], (16, 16), stride=2),
        "spk2": plain_spikes((4, 8, 8)),
        "conv3": plain_conv(w[2], (8, 8)),
        "spk3": plain_spikes((6, 8, 8), 0.5),
        "pool3": plain_sum_pool(2),
        "flat": nir.Flatten(input_type={"input": np.array([6, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=w[3], bias=np.zeros(5)),
        "spk4": plain_spikes((5,)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    edges = [
        ("input", "conv1"),
        ("conv1", "spk1"),
        ("spk1", "skip"),  # the skip first: the reader orders by the graph, not by the edge list
        ("skip", "conv3"),
        ("spk1", "conv2"),
        ("conv2", "spk2"),
        ("spk2", "conv3"),
        ("conv3", "spk3"),
        ("spk3", "pool3"),
        ("pool3", "flat"),
        ("flat", "fc"),
        ("fc", "spk4"),
        ("spk4", "output"),
    ]
    return nodes, edges, w


def test_plain_residual_with_a_pooled_skip(tmp_path):
    nodes, edges, w = _pooled_skip(np.random.default_rng(4))
    net = read_nir(write_plain(tmp_path / "residual.nir", nodes, edges))
    assert [layer.name for layer in net.layers] == ["conv1", "conv2", "conv3", "fc"]
    assert net.edges == ((0, 1, 1), (0, 2, 2), (1, 2, 1), (2, 3, 2)) and net.output_pool == 1
    conv1, conv2, conv3, fc = net.layers
    assert conv1.pool_to(conv1.destinations[1]) == 2 and conv2.stride == 2
    assert conv3.input_shape == (4, 8, 8) and conv3.threshold == 0.5 and fc.input_shape == (6, 4, 4)
    for layer, weight in zip(net.layers, w, strict=True):
        assert np.array_equal(layer.weight.reshape(weight.shape), weight), layer.name
    assert net.metadata["source_format"] == "nir"


@pytest.mark.parametrize("build", [mixed_pooling, three_way_merge], ids=["mixed_pooling", "three_way_merge"])
@pytest.mark.parametrize("shared", [False, True], ids=["pool_per_edge", "pool_shared"])
def test_plain_graphs_read_into_the_right_network(tmp_path, build, shared):
    """One neuron sending pooled and unpooled (mixed_pooling), a merge of three sources (three_way_merge)."""
    net = build(0)
    nodes, edges = plain_from(net, shared)
    back = read_nir(write_plain(tmp_path / "g.nir", nodes, edges))
    assert [layer.name for layer in back.layers] == [layer.name for layer in net.layers]
    assert back.edges == net.edges and back.output_pool == net.output_pool
    for a, b in zip(net.layers, back.layers, strict=True):
        assert a.input_shape == b.input_shape and a.threshold == b.threshold and np.array_equal(a.weight, b.weight)
    if build is three_way_merge:
        assert back.sources(4) == (1, 2, 3)


def test_plain_merge_of_unequal_shapes_is_exit_4(tmp_path):
    nodes, edges, _ = _pooled_skip(np.random.default_rng(4), skip_pool=1)  # the skip stays 16x16
    path = write_plain(tmp_path / "unequal.nir", nodes, edges)
    with pytest.raises(ConstraintError) as err:
        read_nir(path)
    assert err.value.exit_code == 4 and str(path) in err.value.message
    assert (
        "'conv3' sums its inputs, which must have equal shapes: 'conv1' sends 4x16x16 and 'conv2' sends 4x8x8"
        in err.value.message
    )


def test_plain_cycle_is_exit_4(tmp_path):
    nodes, edges, _ = _pooled_skip(np.random.default_rng(4))
    path = write_plain(tmp_path / "cycle.nir", nodes, [*edges, ("spk3", "conv2")])
    with pytest.raises(ConstraintError, match=r"the graph is recurrent \(edge .* closes a loop\)") as err:
        read_nir(path)
    assert err.value.exit_code == 4


def test_metadata_that_disagrees_with_the_edges_is_refused(tmp_path):
    """Our metadata only adds to the edges: a record that names other destinations or pooling is refused."""
    import nir

    from qsnn_deploy.convert.nir_io import to_nir
    from qsnn_deploy.errors import InputError

    graph = to_nir(three_way_merge(0, quantized=True))
    graph.metadata["qsnn_deploy"]["layers"]["b"]["destinations"] = json.dumps([{"name": "d", "pool": None}])
    nir.write(tmp_path / "m.nir", graph)
    with pytest.raises(
        InputError,
        match=r"layer b: the graph sends its spikes to d \(pool 1\), e \(pool 1\) but its metadata says d \(pool 1\)",
    ):
        read_nir(tmp_path / "m.nir")
    graph = to_nir(mixed_pooling(0, quantized=True))
    graph.metadata["qsnn_deploy"]["layers"]["a"]["destinations"] = json.dumps(
        [{"name": "b", "pool": None}, {"name": "c", "pool": 4}]
    )
    nir.write(tmp_path / "p.nir", graph)
    with pytest.raises(
        InputError, match=r"the metadata's layer order, pooling or destinations do not make a network: layer expects"
    ):
        read_nir(tmp_path / "p.nir")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rewired_graphs_load_or_are_refused_by_name(files, data):
    """Edges dropped, added or reversed (with or without our metadata): a network, or an error of the model
    (exit 3 or 4) — never another exception."""
    from qsnn_deploy.convert.nir_file import RawGraph
    from qsnn_deploy.convert.nir_import import network_from_raw
    from qsnn_deploy.errors import InputError

    raw = read_nir_file(files[(data.draw(st.sampled_from(list(GRAPHS))), True)])
    names = list(raw.nodes)
    edges = list(raw.edges)
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["drop", "add", "reverse"]))
        if how == "add" or not edges:
            edges.append((data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))))
            continue
        k = data.draw(st.integers(0, len(edges) - 1))
        a, b = edges.pop(k)
        if how == "reverse":
            edges.insert(k, (b, a))
    meta = raw.metadata if data.draw(st.booleans()) else {}
    try:
        net = network_from_raw(RawGraph(raw.nodes, edges, meta, raw.version)).network
    except (InputError, ConstraintError) as exc:
        assert exc.exit_code in (3, 4) and exc.what
    else:
        assert isinstance(net, Network) and net.layers


def test_the_input_feeding_two_layers_is_exit_4_with_a_relay_fix(tmp_path):
    """The network input enters one layer; a graph whose input feeds two is refused, not half-read."""
    import nir

    rng = np.random.default_rng(5)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
        "a": plain_conv(rng.normal(0, 1, (4, 2, 3, 3)), (8, 8)),
        "a_if": plain_spikes((4, 8, 8)),
        "b": plain_conv(rng.normal(0, 1, (4, 2, 3, 3)), (8, 8)),
        "b_if": plain_spikes((4, 8, 8)),
        "c": plain_conv(rng.normal(0, 1, (3, 4, 3, 3)), (8, 8)),
        "c_if": plain_spikes((3, 8, 8)),
        "output": nir.Output(output_type={"output": np.array([3, 8, 8])}),
    }
    chain = [("a", "a_if"), ("b", "b_if"), ("a_if", "c"), ("b_if", "c"), ("c", "c_if"), ("c_if", "output")]
    path = write_plain(tmp_path / "two_inputs.nir", nodes, [("input", "a"), ("input", "b"), *chain])
    with pytest.raises(ConstraintError, match=r"the network input feeds a, b; .*takes the input into one layer") as err:
        read_nir(path)
    assert err.value.exit_code == 4 and "1×1 relay layer" in err.value.fix


def test_a_linear_head_fed_by_a_conv_and_a_linear_layer_round_trips(tmp_path):
    """A merge into the linear head from a conv layer and a linear layer: both are written to send the same type
    (the linear source as a whole-input conv), whatever the order the layers are listed in."""
    from qsnn_deploy.ir import ChipLayer

    rng = np.random.default_rng(6)
    a = ChipLayer("a", rng.normal(0, 1, (4, 2, 3, 3)), (2, 8, 8), padding=1, pool=2, destinations=("b", "l1"))
    b = ChipLayer("b", rng.normal(0, 1, (10, 4, 4, 4)), (4, 4, 4), destinations=("fc",))
    l1 = ChipLayer("l1", rng.normal(0, 1, (10, 4, 4, 4)), (4, 4, 4), kind="linear", destinations=("fc",))
    fc = ChipLayer("fc", rng.normal(0, 1, (5, 10, 1, 1)), (10, 1, 1), kind="linear")
    for order in ((a, b, l1, fc), (a, l1, b, fc)):
        net = Network(order, (2, 8, 8))
        back = read_nir(write_nir(net, tmp_path / f"{order[1].name}.nir"))
        _assert_same_network(net, back)

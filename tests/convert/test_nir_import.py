"""NIR import: real files from other tools and nir versions, every layout from 1.0.0 to 1.0.8 and newer,
the normalisations (Linear/Affine, AvgPool, thresholds, shapes, leak) and every refusal."""

from pathlib import Path

import numpy as np
import pytest
from nir_layouts import tree, write_layout

from qsnn_deploy.convert.nir_file import RawGraph, read_nir_file
from qsnn_deploy.convert.nir_import import ImportOptions, network_from_raw
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.errors import ConstraintError, InputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nir"
NIR100 = FIXTURES / "nir_1.0.0_if_chain.nir"
SNNTORCH = FIXTURES / "snntorch_1.0.0_nir_1.0.8.nir"


def _nodes(raw: RawGraph) -> dict:
    return {n.name: {"type": n.type, **n.fields, "metadata": n.metadata} for n in raw.nodes.values()}


def test_real_nir_1_0_0_file():
    ref = np.load(FIXTURES / "nir_1.0.0_if_chain.npz")
    net = read_nir(NIR100)
    conv, fc = net.layers
    assert net.input_shape == (2, 8, 8) and net.metadata["nir_version"] == "1.0.0"
    assert np.array_equal(conv.weight, ref["w1"]) and np.array_equal(conv.bias, ref["b1"].astype(np.float64))
    assert (conv.padding, conv.stride, conv.pool, conv.threshold) == (1, 1, 2, float(ref["threshold"]))
    assert fc.kind == "linear" and fc.input_shape == (4, 4, 4) and fc.bias is None  # zero bias → none
    assert np.array_equal(fc.weight.reshape(5, -1), ref["w2"])  # Affine → conv over the whole 4x4x4 input
    assert conv.reset == "subtract" and any("assumed subtract" in n for n in net.metadata["import_notes"])


def test_real_snntorch_file_needs_the_leak_approximation():
    with pytest.raises(
        ConstraintError,
        match=r"'1' is a LIF neuron with time constant 0.001 s; Speck's neurons do "
        r"not leak.*--approximate-leak",
    ):
        read_nir(SNNTORCH)
    net = read_nir(SNNTORCH, ImportOptions(approximate_leak=True))
    raw = read_nir_file(SNNTORCH)
    assert raw.version == "1.0.8"
    conv, fc = net.layers
    assert conv.pool == 2 and conv.threshold == pytest.approx(0.5) and fc.threshold == pytest.approx(0.5)
    assert np.array_equal(conv.weight, raw.nodes["0"].fields["weight"].astype(np.float64))
    # snnTorch's bias-free Linear after AvgPool2d(2): a 4x4 conv with weights / 4
    assert np.array_equal(fc.weight, raw.nodes["4"].fields["weight"].astype(np.float64).reshape(5, 4, 4, 4) / 4)
    assert net.dt_us == 100.0  # snnTorch writes r = τ/dt with dt = 100 µs: input gain 1
    notes = " ".join(net.metadata["import_notes"])
    assert "LIF '1' runs as IF: leak dropped" in notes and "β = 1 − dt/τ = 0.9 → 1" in notes
    assert "weights of '4' scaled by 0.25" in notes


def test_nir_1_0_4_cannot_read_newer_files_but_we_can():
    import nir

    if nir.version != "1.0.4":
        pytest.skip("documents nir 1.0.4's behaviour")
    with pytest.raises(TypeError, match="v_reset"):
        nir.read(SNNTORCH)


@pytest.mark.parametrize("real, version", [(NIR100, "1.0.0"), (SNNTORCH, "1.0.8")])
def test_layout_writer_reproduces_real_files(tmp_path, real, version):
    raw = read_nir_file(real)
    write_layout(tmp_path / "copy.nir", _nodes(raw), raw.edges, version, raw.metadata)
    ours, theirs = tree(tmp_path / "copy.nir"), tree(real)
    # same datasets, kinds and shapes; nir 1.0.8 gzips the numpy arrays it is given (not tensors/tuples)
    assert {k: v[:2] for k, v in ours.items()} == {k: v[:2] for k, v in theirs.items()}
    assert any(v[2] == "gzip" for v in theirs.values()) == any(v[2] == "gzip" for v in ours.values())


def _chain_nodes(rng, threshold_shape=True) -> tuple[dict, list]:
    """A sinabs/snnTorch-style chain: Conv2d → IF → SumPool2d → Flatten → Linear → IF."""
    thr = 0.8
    nodes = {
        "input": {"type": "Input", "shape": np.array([2, 8, 8])},
        "conv": {
            "type": "Conv2d",
            "input_shape": np.array([8, 8]),
            "weight": rng.normal(0, 0.5, (3, 2, 3, 3)),
            "stride": np.array([1, 1]),
            "padding": np.array([1, 1]),
            "dilation": np.array([1, 1]),
            "groups": np.int64(1),
            "bias": np.zeros(3),
        },
        "if1": {"type": "IF", "r": np.ones((3, 8, 8)), "v_threshold": np.full((3, 8, 8), thr)},
        "pool": {
            "type": "SumPool2d",
            "kernel_size": np.array([2, 2]),
            "stride": np.array([2, 2]),
            "padding": np.array([0, 0]),
        },
        "flat": {
            "type": "Flatten",
            "start_dim": np.int64(0),
            "end_dim": np.int64(-1),
            "input_type": np.array([3, 4, 4]),
        },
        "fc": {"type": "Linear", "weight": rng.normal(0, 0.3, (4, 48))},
        "if2": {"type": "IF", "r": np.ones(4), "v_threshold": np.full(4, thr)},
        "output": {"type": "Output", "shape": np.array([4])},
    }
    names = list(nodes)
    return nodes, list(zip(names[:-1], names[1:]))


@pytest.mark.parametrize("version", ["1.0.0", "1.0.4", "1.0.8", "1.1.0"])
def test_every_layout_loads_the_same_network(tmp_path, version):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    write_layout(tmp_path / "g.nir", nodes, edges, version, {"writer": "test"})
    net = read_nir(tmp_path / "g.nir")
    assert [layer.name for layer in net.layers] == ["conv", "fc"]
    assert np.array_equal(net.layers[0].weight, nodes["conv"]["weight"])
    assert np.array_equal(net.layers[1].weight, nodes["fc"]["weight"].reshape(4, 3, 4, 4))
    assert net.layers[0].pool == 2 and net.layers[1].threshold == 0.8 and net.output_shape == (4, 1, 1)


def test_a_newer_nir_field_is_named(tmp_path):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    nodes["if1"]["refractory"] = np.ones((3, 8, 8))
    write_layout(tmp_path / "g.nir", nodes, edges, "1.2.0")
    with pytest.raises(
        InputError,
        match=r"node 'if1' \(IF\) has field 'refractory', which this reader does not know "
        r"\(the graph was written by nir 1.2.0\)",
    ):
        read_nir(tmp_path / "g.nir")


def test_unknown_node_type_is_named(tmp_path):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    nodes["pool"] = {"type": "MaxPool2d", "kernel_size": np.array([2, 2])}
    write_layout(tmp_path / "g.nir", nodes, edges, "1.3.0")
    with pytest.raises(
        InputError,
        match=r"node 'pool' has type 'MaxPool2d', which this reader does not know \(the "
        r"graph was written by nir 1.3.0",
    ):
        read_nir(tmp_path / "g.nir")


@pytest.mark.parametrize(
    "change, error, pattern",
    [
        (
            lambda n: n["if1"].update(v_reset=np.full((3, 8, 8), 0.2)),
            ConstraintError,
            r"'if1' resets its neurons to "
            r"v_reset = 0.2",
        ),
        (
            lambda n: n["if2"].update(v_threshold=np.arange(4.0) + 1),
            ConstraintError,
            r"the threshold \('v_threshold'\) "
            r"differs between the neurons of 'if2' \(1 to 4\); Speck has one value per layer",
        ),
        (
            lambda n: n["conv"].update(input_shape=np.array([10, 10])),
            InputError,
            r"shape mismatch: node 'conv' declares "
            r"input size 10x10 but receives 8x8",
        ),
        (
            lambda n: n["fc"].update(weight=np.ones((4, 50))),
            InputError,
            r"shape mismatch: node 'fc' has 50 inputs but "
            r"receives 48 values \(3x4x4\)",
        ),
        (
            lambda n: n["pool"].update(stride=np.array([1, 1])),
            ConstraintError,
            r"pooling 'pool' has kernel 2, stride 1",
        ),
        (
            lambda n: n.update(if1={"type": "LI", "tau": np.ones(3), "r": np.ones(3), "v_leak": np.zeros(3)}),
            ConstraintError,
            r"node 'if1' \(LI\) cannot run on Speck",
        ),
        (
            lambda n: n["conv"].update(stride=np.array([1, 2])),
            ConstraintError,
            r"'stride' of 'conv' differs between "
            r"height and width",
        ),
    ],
)
def test_refusals_name_the_node(tmp_path, change, error, pattern):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    change(nodes)
    write_layout(tmp_path / "g.nir", nodes, edges, "1.0.8")
    with pytest.raises(error, match=pattern):
        read_nir(tmp_path / "g.nir")


def test_recurrent_graphs_are_refused(tmp_path):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    nodes["rec"] = {"type": "Linear", "weight": np.eye(4)}
    write_layout(tmp_path / "g.nir", nodes, edges + [("if2", "rec"), ("rec", "fc")], "1.0.8")
    with pytest.raises(ConstraintError, match=r"the graph is recurrent \(edge rec → fc closes a loop\)"):
        read_nir(tmp_path / "g.nir")
    # snnTorch's RLeaky: a nested subgraph with a loop inside
    inner = {
        "input": {"type": "Input", "shape": np.array([4])},
        "lif": {"type": "LIF", "tau": np.ones(4), "r": np.ones(4), "v_leak": np.zeros(4), "v_threshold": np.ones(4)},
        "w_rec": {"type": "Linear", "weight": np.eye(4)},
        "output": {"type": "Output", "shape": np.array([4])},
    }
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    nodes["if2"] = {
        "type": "NIRGraph",
        "nodes": inner,
        "edges": np.array(
            [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], dtype=object
        ).astype(bytes),
    }
    write_layout(tmp_path / "r.nir", nodes, edges, "1.0.8")
    with pytest.raises(ConstraintError, match=r"node 'if2' is a recurrent subgraph"):
        read_nir(tmp_path / "r.nir")


def test_a_branch_to_a_second_output_is_refused(tmp_path):
    """A node feeding two nodes is a branch (tests/convert/test_nir_graphs.py); the output takes one layer."""
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    write_layout(tmp_path / "g.nir", nodes, edges + [("if1", "output")], "1.0.8")
    with pytest.raises(
        ConstraintError, match=r"the output receives the spikes of 'fc', 'conv'; a network has a single output"
    ):
        read_nir(tmp_path / "g.nir")


def test_missing_input_shape_inferred_or_asked_for(tmp_path):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    del nodes["input"]["shape"]
    write_layout(tmp_path / "a.nir", nodes, edges, "1.0.4")
    net = read_nir(tmp_path / "a.nir")  # from the conv's input_shape and weight
    assert net.input_shape == (2, 8, 8)
    assert any("inferred from the first layer" in n for n in net.metadata["import_notes"])
    del nodes["conv"]["input_shape"]
    write_layout(tmp_path / "b.nir", nodes, edges, "1.0.4")
    with pytest.raises(InputError, match=r"does not say its input shape.*--input-shape 2,34,34"):
        read_nir(tmp_path / "b.nir")
    assert read_nir(tmp_path / "b.nir", ImportOptions(input_shape=(2, 8, 8))).layers[1].input_shape == (3, 4, 4)


def test_snntorch_style_normalisation(tmp_path):
    """Affine/Linear, AvgPool2d, equal per-neuron thresholds, LIF and CubaLIF as snnTorch writes them."""
    rng = np.random.default_rng(1)
    dt, beta, alpha = 1e-4, 0.9, 0.8
    tau_mem, tau_syn = dt / (1 - beta), dt / (1 - alpha)
    nodes, edges = _chain_nodes(rng)
    nodes["if1"] = {
        "type": "LIF",
        "tau": np.full((3, 8, 8), tau_mem),
        "r": np.full((3, 8, 8), tau_mem / dt),
        "v_leak": np.zeros((3, 8, 8)),
        "v_threshold": np.full((3, 8, 8), 0.8),
    }
    nodes["pool"]["type"] = "AvgPool2d"
    nodes["fc"] = {"type": "Affine", "weight": rng.normal(0, 0.3, (4, 48)), "bias": np.full(4, 0.1)}
    nodes["if2"] = {
        "type": "CubaLIF",
        "tau_syn": np.full(4, tau_syn),
        "tau_mem": np.full(4, tau_mem),
        "r": np.full(4, tau_mem / dt),
        "v_leak": np.zeros(4),
        "v_threshold": np.full(4, 0.8),
        "w_in": np.full(4, tau_syn / dt),
    }
    write_layout(tmp_path / "s.nir", nodes, edges, "1.0.8")
    with pytest.raises(ConstraintError, match="'if1' is a LIF neuron"):
        read_nir(tmp_path / "s.nir")
    net = read_nir(tmp_path / "s.nir", ImportOptions(approximate_leak=True))
    fc = net.layers[1]
    assert np.allclose(fc.weight, nodes["fc"]["weight"].reshape(4, 3, 4, 4) / 4)  # AvgPool → SumPool, / k²
    assert np.allclose(fc.bias, 0.1) and fc.threshold == 0.8  # gain r·dt/τ = w_in·dt/τ_syn = 1
    assert "synaptic filter dropped" in " ".join(net.metadata["import_notes"])
    # an explicit time step changes the input gain r·dt/τ (here 2x)
    net2 = read_nir(tmp_path / "s.nir", ImportOptions(approximate_leak=True, dt_us=200))
    assert np.allclose(net2.layers[0].weight, 2 * net.layers[0].weight) and net2.dt_us == 200


def test_lif_with_leak_potential_is_refused_even_approximated(tmp_path):
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    nodes["if2"] = {
        "type": "LIF",
        "tau": np.full(4, 1e-3),
        "r": np.full(4, 10.0),
        "v_leak": np.full(4, 0.3),
        "v_threshold": np.ones(4),
    }
    write_layout(tmp_path / "g.nir", nodes, edges, "1.0.8")
    with pytest.raises(ConstraintError, match=r"'if2' leaks towards v_leak = 0.3"):
        read_nir(tmp_path / "g.nir", ImportOptions(approximate_leak=True))


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"not hdf5 at all", r"is not a readable NIR file"),
        (None, r"is not a readable NIR file"),  # truncated real file
    ],
)
def test_damaged_files(tmp_path, content, pattern):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(content if content is not None else NIR100.read_bytes()[:3000])
    with pytest.raises(InputError, match=pattern):
        read_nir(bad)


def test_hdf5_without_graph(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.nir", "w") as f:
        f.create_dataset("weights", data=np.ones(3))
    with pytest.raises(InputError, match="without a 'node' group"):
        read_nir(tmp_path / "x.nir")


def test_network_from_raw_keeps_notes():
    raw = read_nir_file(NIR100)
    result = network_from_raw(raw, ImportOptions(reset="zero"))
    assert all(layer.reset == "zero" for layer in result.network.layers)
    assert not any("assumed subtract" in n for n in result.notes)

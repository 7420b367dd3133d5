"""model.nir: standard NIR that round-trips, with the chip metadata; clear errors on bad files."""

import numpy as np
import pytest
from helpers import random_network

from qsnn_deploy.convert.nir_io import read_nir, write_nir
from qsnn_deploy.errors import ConstraintError, InputError


@pytest.mark.parametrize("bias", [False, True])
def test_round_trip_field_by_field(tmp_path, bias):
    net = random_network(2, quantized=True, bias=bias)
    path = write_nir(net, tmp_path / "model.nir")
    back = read_nir(path)
    assert back.input_shape == net.input_shape and back.dt_us == net.dt_us
    assert back.metadata == net.metadata
    for a, b in zip(net.layers, back.layers, strict=True):
        for field in (
            "name",
            "stride",
            "padding",
            "pool",
            "threshold",
            "min_v_mem",
            "reset",
            "kind",
            "scale",
            "input_shape",
        ):
            assert getattr(a, field) == getattr(b, field), field
        assert np.array_equal(a.weight, b.weight)
        assert (a.bias is None) == (b.bias is None)
        if a.bias is not None:
            assert np.array_equal(a.bias, b.bias)


def test_standard_nir_reader_opens_it(tmp_path):
    import nir

    net = random_network(0, quantized=True)
    graph = nir.read(write_nir(net, tmp_path / "m.nir"))
    kinds = [type(graph.nodes[n]).__name__ for n in graph.nodes]
    assert {"Input", "Conv2d", "IF", "SumPool2d", "Flatten", "Affine", "Output"} <= set(kinds)
    assert graph.metadata["qsnn_deploy"]["schema_version"] == 1
    meta = graph.metadata["qsnn_deploy"]["layers"]["c2"]
    assert meta["reset"] == "subtract" and meta["pool"] == 2 and meta["scale"] == net.layers[1].scale


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_nir(tmp_path / "nope.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match=r"'.*bad.nir' is not a readable NIR file"):
        read_nir(bad)


def test_newer_schema_refused(tmp_path):
    import nir

    from qsnn_deploy.convert.nir_io import to_nir

    graph = to_nir(random_network(0, quantized=True))
    graph.metadata["qsnn_deploy"]["schema_version"] = 99
    nir.write(tmp_path / "new.nir", graph)
    with pytest.raises(InputError, match="schema version 99 is not supported"):
        read_nir(tmp_path / "new.nir")


def test_per_neuron_thresholds_that_differ_are_refused(tmp_path):
    import nir

    from qsnn_deploy.convert.nir_io import to_nir

    graph = to_nir(random_network(0, quantized=True))
    node = graph.nodes["c1.if"]
    node.v_threshold = node.v_threshold.copy()
    node.v_threshold.flat[0] += 1
    nir.write(tmp_path / "t.nir", graph)
    with pytest.raises(ConstraintError, match=r"threshold \('v_threshold'\) differs between the neurons of 'c1.if'"):
        read_nir(tmp_path / "t.nir")


def test_a_graph_is_written_as_a_graph(tmp_path):
    """A branch, a merge and per-destination pooling are the file's edges (metadata only records them)."""
    from qsnn_deploy.convert.nir_file import read_nir_file
    from qsnn_deploy.ir import ChipLayer, Destination, Network

    a = ChipLayer("a", np.ones((4, 2, 3, 3)), (2, 8, 8), padding=1, destinations=("b", Destination("c", pool=2)))
    b = ChipLayer("b", np.ones((4, 4, 3, 3)), (4, 8, 8), padding=1, pool=2, destinations=("c",))
    c = ChipLayer("c", np.ones((3, 4, 3, 3)), (4, 4, 4), padding=1)
    net = Network((a, b, c), (2, 8, 8))
    raw = read_nir_file(write_nir(net, tmp_path / "graph.nir"))
    assert raw.edges == [
        ("input", "a.conv"),
        ("a.conv", "a.if"),
        ("a.if", "b.conv"),  # unpooled: straight to the destination
        ("a.if", "a.pool_to_c"),  # pooled: a SumPool2d node of that edge alone
        ("a.pool_to_c", "c.conv"),
        ("b.conv", "b.if"),
        ("b.if", "b.pool"),  # the layer's one edge: named like a chain's
        ("b.pool", "c.conv"),  # two edges into c.conv: their sum
        ("c.conv", "c.if"),
        ("c.if", "output"),
    ]
    pool = raw.nodes["a.pool_to_c"]
    assert pool.type == "SumPool2d" and pool.fields["kernel_size"].tolist() == [2, 2]
    assert raw.nodes["b.pool"].fields["stride"].tolist() == [2, 2]
    back = read_nir(tmp_path / "graph.nir")
    assert back.edges == net.edges == ((0, 1, 1), (0, 2, 2), (1, 2, 2))
    assert [layer.destinations for layer in back.layers] == [layer.destinations for layer in net.layers]


def test_zero_weight_share_warning_names_the_layer():
    from qsnn_deploy.convert.bundle import discretize_with_warnings
    from qsnn_deploy.ir import ChipLayer, Network

    w = np.full((2, 1, 3, 3), 0.001)
    w[0, 0, 0, 0] = 1.0  # one large weight: the rest round to zero
    net = Network((ChipLayer("tiny", w, (1, 5, 5), threshold=1.0),), (1, 5, 5))
    _, warns = discretize_with_warnings(net, zero_weight_warn=0.9)
    assert any(m.startswith("layer tiny: 94% of its non-zero weights round to zero") for m in warns)
    assert not discretize_with_warnings(net, zero_weight_warn=0.95)[1]

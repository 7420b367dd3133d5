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


@pytest.mark.xfail(strict=True, reason="issue 17: ir refuses output from a non-last layer; nir_io writes graphs next")
def test_a_branch_whose_shapes_break_the_chain_is_refused(tmp_path):
    """A NIR file lists the layers as a chain; a layer that does not take the one before's output cannot be typed."""
    from qsnn_deploy.ir import ChipLayer, Network

    a = ChipLayer("a", np.ones((4, 2, 3, 3)), (2, 8, 8), padding=1, destinations=("b", "c"))
    b = ChipLayer("b", np.ones((6, 4, 3, 3)), (4, 8, 8), padding=1, pool=2, destinations=("output",))
    c = ChipLayer("c", np.ones((3, 4, 3, 3)), (4, 8, 8), padding=1)
    with pytest.raises(
        ConstraintError,
        match=r"^layer c takes input 4x8x8 but the layer before it in the file outputs "
        r"6x4x4: a NIR file lists the layers as a chain",
    ):
        write_nir(Network((a, b, c), (2, 8, 8)), tmp_path / "branch.nir")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_zero_weight_share_warning_names_the_layer():
    from qsnn_deploy.convert.bundle import discretize_with_warnings
    from qsnn_deploy.ir import ChipLayer, Network

    w = np.full((2, 1, 3, 3), 0.001)
    w[0, 0, 0, 0] = 1.0  # one large weight: the rest round to zero
    net = Network((ChipLayer("tiny", w, (1, 5, 5), threshold=1.0),), (1, 5, 5))
    _, warns = discretize_with_warnings(net, zero_weight_warn=0.9)
    assert any(m.startswith("layer tiny: 94% of its non-zero weights round to zero") for m in warns)
    assert not discretize_with_warnings(net, zero_weight_warn=0.95)[1]

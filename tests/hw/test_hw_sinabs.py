"""Cross-check against sinabs' own DynapcnnNetwork: memory summary, core table and mapping.

sinabs.backend.dynapcnn is imported over the samna stand-in of tests/standin (the ``sinabs_dynapcnn``
fixture); torch must be imported before the stand-in is on the path.
"""

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qsnn_deploy.hw import check, layer_memory, load_profile, map_layers  # noqa: E402
from qsnn_deploy.ir import ChipLayer, Network  # noqa: E402


def to_sinabs(net):
    """The sinabs model of a chain network: Conv2d/Linear → IAFSqueeze → SumPool2d."""
    import sinabs.layers as sl
    from torch import nn

    mods = []
    for layer in net.layers:
        kh, kw = layer.kernel_size
        if layer.kind == "linear":
            mods += [nn.Flatten(), nn.Linear(layer.c_in * kh * kw, layer.c_out, bias=layer.bias is not None)]
        else:
            mods.append(
                nn.Conv2d(
                    layer.c_in,
                    layer.c_out,
                    (kh, kw),
                    stride=layer.stride,
                    padding=layer.padding,
                    bias=layer.bias is not None,
                )
            )
        mods.append(sl.IAFSqueeze(batch_size=1))
        if layer.pool > 1:
            mods.append(sl.SumPool2d(layer.pool))
    return nn.Sequential(*mods)


def sinabs_view(dynapcnn, net, builder="Speck2FConfigBuilder"):
    """(memory per layer as ours, mapping {name: core} or None when sinabs finds no valid mapping)."""
    from sinabs.backend.dynapcnn import chips
    from sinabs.backend.dynapcnn.mapping import get_valid_mapping

    dn = dynapcnn.DynapcnnNetwork(to_sinabs(net), input_shape=net.input_shape, discretize=False)
    summary = dn.memory_summary()
    names = [layer.name for layer in net.layers]
    assert sorted(dn.dynapcnn_layers) == list(range(len(names)))
    memory = {
        names[i]: (int(summary["kernel"][i]), int(summary["neuron"][i]), int(summary["bias"][i]))
        for i in range(len(names))
    }
    try:
        mapping = get_valid_mapping(dn.dynapcnn_layers, getattr(chips, builder).get_constraints())
    except ValueError as e:
        assert str(e).startswith("No valid mapping found")
        mapping = None
    return memory, None if mapping is None else {names[i]: core for i, core in mapping.items()}


def ours(net, profile="speck2f"):
    memory = {layer.name: tuple(layer_memory(layer).to_dict().values()) for layer in net.layers}
    return memory, map_layers(net, load_profile(profile)).assignment


def test_core_tables_equal_sinabs_constraints(sinabs_dynapcnn):
    from sinabs.backend.dynapcnn.chips.dynapcnn import DynapcnnConfigBuilder
    from sinabs.backend.dynapcnn.chips.speck2e import Speck2EConfigBuilder
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder

    # the legacy DYNAP-CNN devkit used DynapcnnConfigBuilder's table, which the Speck builders inherit
    for builder, profile in (
        (Speck2FConfigBuilder, "speck2f"),
        (Speck2EConfigBuilder, "speck2e"),
        (DynapcnnConfigBuilder, "dynapcnn"),
    ):
        theirs = [(c.kernel_memory, c.neuron_memory, c.bias_memory) for c in builder.get_constraints()]
        assert [(c.kernel_memory, c.neuron_memory, c.bias_memory) for c in load_profile(profile).cores] == theirs


def test_network_that_fits(sinabs_dynapcnn, nmnist_net):
    theirs = sinabs_view(sinabs_dynapcnn, nmnist_net)
    assert ours(nmnist_net) == theirs
    assert theirs[1] == {"conv1": 0, "conv2": 1, "conv3": 2, "fc": 3}


def test_nine_layers_that_fit_only_after_the_matching_moves_layers(sinabs_dynapcnn, nine_layers):
    theirs = sinabs_view(sinabs_dynapcnn, nine_layers)
    assert ours(nine_layers) == theirs and theirs[1] is not None
    assert sorted(theirs[1].values()) == list(range(9))
    assert check(nine_layers, load_profile("speck2f")) == []


def test_layer_too_big_for_any_core(sinabs_dynapcnn, layers):
    net = layers.chain(
        layers.conv("conv1", 2, 32, 3, (64, 64), padding=1),
        layers.conv("conv2", 32, 4, 3, (64, 64), padding=1, stride=2),
    )
    theirs = sinabs_view(sinabs_dynapcnn, net)
    assert ours(net) == theirs and theirs[1] is None
    assert theirs[0]["conv1"] == (1024, 131072, 0)
    m = map_layers(net, load_profile("speck2f"))
    assert m.unplaceable == ("conv1",)
    assert [v.code for v in check(net, load_profile("speck2f"))] == ["SPK010"]


def test_core_contention(sinabs_dynapcnn, layers):
    net = layers.chain(
        layers.conv("conv1", 2, 16, 3, (64, 64), padding=1),
        *[layers.conv(f"conv{i}", 16, 16, 3, (64, 64), padding=1) for i in (2, 3, 4)],
    )
    theirs = sinabs_view(sinabs_dynapcnn, net)
    assert ours(net) == theirs and theirs[1] is None
    m = map_layers(net, load_profile("speck2f"))
    assert m.unplaceable == () and m.conflict_cores == (0, 1, 2)
    assert [v.code for v in check(net, load_profile("speck2f"))] == ["SPK014"]


def test_ten_layers(sinabs_dynapcnn, layers):
    net = layers.chain(*[layers.conv(f"c{i}", 2, 2, 3, (16, 16), padding=1) for i in range(10)])
    theirs = sinabs_view(sinabs_dynapcnn, net)
    assert ours(net) == theirs and theirs[1] is None
    assert [v.code for v in check(net, load_profile("speck2f"))] == ["SPK013"]


def _conv(name, c_in, c_out, k, hw, **kw):
    return ChipLayer(name, np.zeros((c_out, c_in, k, k)), (c_in, *hw), **kw)


@st.composite
def small_nets(draw):
    """One or two layers (conv, then conv or linear) of random shape, cheap for sinabs to build."""
    c_in, h = draw(st.integers(1, 8)), draw(st.integers(3, 40))
    k = draw(st.integers(1, min(h, 7)))
    c1 = draw(st.integers(1, 70))
    stride, padding, pool = draw(st.sampled_from([1, 2, 4])), draw(st.integers(0, 3)), draw(st.sampled_from([1, 2]))
    first = _conv(
        "a",
        c_in,
        c1,
        k,
        (h, h),
        stride=stride,
        padding=padding,
        pool=pool,
        bias=np.zeros(c1) if draw(st.booleans()) else None,
    )
    _, ho, wo = first.output_shape
    if ho < 1 or draw(st.booleans()):
        first = first.replace(pool=1)
        _, ho, wo = first.output_shape
    if draw(st.booleans()):
        n = draw(st.integers(1, 40))
        second = ChipLayer(
            "b",
            np.zeros((n, c1, ho, wo)),
            (c1, ho, wo),
            kind="linear",
            bias=np.zeros(n) if draw(st.booleans()) else None,
        )
    else:
        second = _conv("b", c1, draw(st.integers(1, 300)), 1, (ho, wo))
    return Network((first, second), first.input_shape)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(small_nets())
def test_random_shapes_match_sinabs(sinabs_dynapcnn, net):
    assert ours(net) == sinabs_view(sinabs_dynapcnn, net)

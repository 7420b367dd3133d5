"""ir.Network as a graph: destinations with their own pooling, merges, and the checks with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import OUTPUT, ChipLayer, Destination, Network


def conv(name: str, c_in: int, c_out: int, hw: int, **kw) -> ChipLayer:
    return ChipLayer(name, np.ones((c_out, c_in, 3, 3)), (c_in, hw, hw), padding=1, **kw)


def residual() -> Network:
    """a → b → c, a → c (skip): c sums a and b."""
    a = conv("a", 2, 4, 8, destinations=("b", "c"))
    b = conv("b", 4, 4, 8)
    c = conv("c", 4, 3, 8, pool=2)
    return Network((a, b, c), (2, 8, 8))


def test_a_residual_block_has_edges_sources_and_one_output():
    net = residual()
    assert net.targets(0) == (1, 2) and net.sources(2) == (0, 1) and not net.is_chain
    assert net.edges == ((0, 1, 1), (0, 2, 1), (1, 2, 1))
    assert net.output_shape == (3, 4, 4) and net.output_pool == 2
    assert [net.counted_pool(i) for i in range(3)] == [1, 1, 2]  # spikes are counted under the layer's own pool


def test_each_destination_has_its_own_pooling():
    a = conv("a", 2, 4, 16, destinations=(Destination("b"), Destination("c", pool=2)))
    b = conv("b", 4, 4, 16, destinations=(Destination("c", pool=2),))
    c = conv("c", 4, 5, 8)
    net = Network((a, b, c), (2, 16, 16))
    assert net.target_pools(0) == (1, 2) and net.edge_pool(1, 2) == 2
    assert net.edge_shape(0, 2) == (4, 8, 8) == net.edge_shape(1, 2)
    assert a.output_shape == (4, 16, 16)  # the layer's own pool (1) is what a destination without one gets


def test_a_merge_of_unequal_shapes_names_both_and_the_sum():
    a = conv("a", 2, 4, 16, destinations=(Destination("b"), Destination("c")))
    b = conv("b", 4, 4, 16, destinations=(Destination("c", pool=2),))
    c = conv("c", 4, 5, 16)
    with pytest.raises(InputError, match=r"receives \(4, 8, 8\) from b \(a merge adds its 2 inputs"):
        Network((a, b, c), (2, 16, 16))


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ((conv("a", 2, 4, 8, destinations=("a",)),), "recurrence"),
        ((conv("a", 2, 4, 8, destinations=("zz",)),), "destination zz is not a layer"),
        ((conv("a", 2, 4, 8, destinations=(OUTPUT, "b")), conv("b", 4, 4, 8)), "a network has a single output"),
        ((conv("a", 2, 4, 8), conv("b", 4, 4, 8, destinations=()), conv("c", 4, 4, 8)), "no layer feeds"),
        ((conv("a", 2, 4, 8, destinations=("c",)), conv("b", 4, 4, 8), conv("c", 4, 4, 8)), "no layer feeds"),
        (
            (conv("a", 2, 4, 8, destinations=("b", "c")), conv("b", 4, 4, 8, destinations=()), conv("c", 4, 4, 8)),
            "spikes go nowhere",
        ),
        ((conv("a", 2, 4, 8), conv("a", 4, 4, 8)), "used twice"),
    ],
)
def test_bad_graphs_get_a_clear_error(layers, message):
    with pytest.raises(InputError, match=message):
        Network(layers, (2, 8, 8))


def test_destinations_and_pooling_are_checked_where_written():
    with pytest.raises(InputError, match="destination pooling must be a positive integer"):
        Destination("b", pool=0)
    with pytest.raises(InputError, match="sends to b twice"):
        conv("a", 2, 4, 8, destinations=("b", Destination("b", pool=2)))
    with pytest.raises(InputError, match="destinations must be a list"):
        conv("a", 2, 4, 8, destinations="b")
    with pytest.raises(InputError, match="pooling must be a positive integer"):
        conv("a", 2, 4, 8, pool=0)


@given(st.lists(st.sampled_from([1, 2]), min_size=1, max_size=4), st.booleans())
def test_a_chain_written_as_a_graph_is_the_same_chain(pools, named):
    """Destinations spelled out (by name or with the pool on the edge) give the edges of the plain chain."""
    hw = 16
    plain, spelled = [], []
    c_in = 2
    for k, p in enumerate(pools):
        plain.append(conv(f"l{k}", c_in, 3, hw, pool=p))
        nxt = f"l{k + 1}" if k + 1 < len(pools) else OUTPUT
        dest = nxt if named else Destination(nxt, pool=p)
        spelled.append(conv(f"l{k}", c_in, 3, hw, pool=p if named else 1, destinations=(dest,)))
        c_in, hw = 3, hw // p
    a, b = Network(tuple(plain), (2, 16, 16)), Network(tuple(spelled), (2, 16, 16))
    assert a.is_chain and b.is_chain == (named or set(pools) == {1})  # is_chain: edges pool by the layer's pool
    assert a.edges == b.edges and a.output_shape == b.output_shape
    assert [a.sources(i) for i in range(len(pools))] == [b.sources(i) for i in range(len(pools))]

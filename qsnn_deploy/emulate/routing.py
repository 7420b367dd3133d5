"""Which pooled copies of a layer's spikes the emulators keep (torch-free, shared by both engines).

A layer's spikes go to each destination sum-pooled by that edge's pooling
(:meth:`~qsnn_deploy.ir.Network.edge_pool`); they are *counted* (``layer_spikes``) under the layer's own
pooling, :func:`own_pool`, so that a chain's counts are the spikes its next layer receives.
"""

from __future__ import annotations

from ..ir import Network


def own_pool(net: Network, i: int) -> int:
    """The pooling under which layer ``i``'s spikes are counted: the layer's ``pool``, and for the last layer
    the output pooling (:attr:`~qsnn_deploy.ir.Network.output_pool`; the same in a chain)."""
    return net.output_pool if i == len(net.layers) - 1 else net.layers[i].pool


def layer_pools(net: Network, i: int) -> tuple[int, ...]:
    """Every pooling layer ``i``'s spikes are needed under: each edge's, then :func:`own_pool` (no repeats)."""
    return tuple(dict.fromkeys((*net.target_pools(i), own_pool(net, i))))

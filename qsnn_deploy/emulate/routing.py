"""Which pooled copies of a layer's spikes the emulators keep (torch-free, shared by both engines).

A layer's spikes go to each destination sum-pooled by that edge's pooling
(:meth:`~qsnn_deploy.ir.Network.edge_pool`); they are *counted* (``layer_spikes``) under the layer's own
pooling, :meth:`~qsnn_deploy.ir.Network.counted_pool`, so that a chain's counts are the spikes its next layer receives.
"""

from __future__ import annotations

from ..ir import Network


def layer_pools(net: Network, i: int) -> tuple[int, ...]:
    """Every pooling layer ``i``'s spikes are needed under: each edge's, then the counted one (no repeats)."""
    return tuple(dict.fromkeys((*net.target_pools(i), net.counted_pool(i))))

"""Which pooled copies of a layer's spikes the emulators keep (torch-free, shared by both engines).

A layer's spikes go to each destination sum-pooled by that edge's pooling
(:meth:`~qsnn_deploy.ir.Network.edge_pool`); they are *counted* (``layer_spikes``) under the layer's own
pooling, :meth:`~qsnn_deploy.ir.Network.counted_pool`, so that a chain's counts are the spikes its next layer receives.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network


def layer_pools(net: Network, i: int) -> tuple[int, ...]:
    """Every pooling layer ``i``'s spikes are needed under: each edge's, then the counted one (no repeats)."""
    return tuple(dict.fromkeys((*net.target_pools(i), net.counted_pool(i))))


def counted_index(net: Network, i: int, feature: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The flat (C, H, W) index, after layer ``i``'s counted pooling, of each spike at neuron (``feature``, ``y``,
    ``x``) before pooling (how the chip and the event emulator report them); -1 for a spike in the rows and
    columns a floor-division pool drops, or outside the layer."""
    c, ho, wo = net.layers[i].conv_shape
    p = net.counted_pool(i)
    hp, wp = ho // p, wo // p
    feature, y, x = (np.asarray(v, dtype=np.int64) for v in (feature, y, x))
    keep = (x >= 0) & (x < wp * p) & (y >= 0) & (y < hp * p) & (feature >= 0) & (feature < c)
    return np.where(keep, (feature * hp + y // p) * wp + x // p, -1)

"""Profile-independent counts of a network: neurons, fan-in, MACs as an ANN, weight bits."""

from __future__ import annotations

import math

from ..ir import ChipLayer, Network


def neurons(layer: ChipLayer) -> int:
    """Spiking neurons of the layer: the convolution output, before pooling."""
    c, h, w = layer.conv_shape
    return c * h * w


def macs(layer: ChipLayer) -> int:
    """Multiply-accumulates of one dense pass of the layer run as an ANN (padding included)."""
    kh, kw = layer.kernel_size
    return neurons(layer) * layer.c_in * kh * kw


def input_pools(net: Network, index: int) -> tuple[int, ...]:
    """The sum pooling on each edge into layer ``index``, aligned with ``net.sources(index)``; ``(1,)`` for
    layer 0, which takes the network input unpooled."""
    sources = net.sources(index)
    return tuple(net.edge_pool(i, index) for i in sources) if sources else (1,)


def fan_in(net: Network, index: int) -> int:
    """Inputs of one neuron of layer ``index`` on a chip without pooling stages.

    Each source's p×p sum-pool (the pooling on its edge into this layer) is folded into the synapses, so
    each pooled input stands for p² presynaptic neurons; a merge adds the inputs of every source (their
    events sum into the same input positions). A chain: the previous layer's pooling alone.
    """
    layer = net.layers[index]
    kh, kw = layer.kernel_size
    return layer.c_in * kh * kw * sum(p * p for p in input_pools(net, index))


def input_events(
    net: Network, index: int, spikes: dict[str, float | None], network_input: float | None = None
) -> float | None:
    """Events arriving at layer ``index`` per sample: the sum over its sources of each source's output events.

    Sum pooling keeps every event (it divides the coordinates), so the events a source sends on an edge are its
    output events whatever that edge's pooling, up to the rows and columns a pooling drops at an uneven border.
    A source with two destinations sends each event to both: both layers count it. Layer 0 receives
    ``network_input``. None when a source's events are unknown.
    """
    sources = net.sources(index)
    if not sources:
        return network_input
    counts = [spikes.get(net.layers[i].name) for i in sources]
    return None if any(c is None for c in counts) else float(sum(c for c in counts if c is not None))


def longest_path(net: Network) -> tuple[int, ...]:
    """Indices of the layers on the longest path from layer 0 to the output (the critical path of a spike).

    Layers are in feed-forward order, so one pass over them finds it; ties keep the earlier source. A chain:
    every layer.
    """
    depth = [1] * len(net.layers)
    via: list[int | None] = [None] * len(net.layers)
    for j in range(1, len(net.layers)):
        for i in net.sources(j):
            if depth[i] + 1 > depth[j]:
                depth[j], via[j] = depth[i] + 1, i
    path = [len(net.layers) - 1]
    while (prev := via[path[-1]]) is not None:
        path.append(prev)
    return tuple(reversed(path))


def layer_weight_bits(layer: ChipLayer) -> int | None:
    """Two's-complement bits the layer's integer weights need (None for a float layer): 127 and −128 need 8."""
    if not layer.quantized:
        return None
    hi = max(float(layer.weight.max(initial=0.0)), 0.0)
    lo = min(float(layer.weight.min(initial=0.0)), 0.0)
    return 1 + max(math.ceil(math.log2(hi + 1)), math.ceil(math.log2(-lo)) if lo < 0 else 0)


def weight_bits(net: Network) -> int | None:
    """Signed bits the network's largest integer weight needs (None for a float network)."""
    bits = [layer_weight_bits(layer) for layer in net.layers]
    known = [b for b in bits if b is not None]
    return None if len(known) < len(bits) else max(known)

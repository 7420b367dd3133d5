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


def fan_in(net: Network, index: int) -> int:
    """Inputs of one neuron of layer ``index`` on a chip without pooling stages.

    The previous layer's p×p sum-pool is folded into the synapses, so each pooled input stands for
    p² presynaptic neurons.
    """
    layer = net.layers[index]
    kh, kw = layer.kernel_size
    pool = net.layers[index - 1].pool if index > 0 else 1
    return layer.c_in * kh * kw * pool * pool


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

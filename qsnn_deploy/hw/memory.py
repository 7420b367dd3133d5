"""Per-layer memory in words, exactly as Speck/DynapCNN counts it (DESIGN.md §4).

kernel = c_in · 2^(⌈log2(kh·kw)⌉ + ⌈log2 c_out⌉)
neuron = c_out · 2^(⌈log2 H_out⌉ + ⌈log2 W_out⌉)   (convolution output, before pooling)
bias   = c_out if the layer has a bias else 0
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import ChipLayer


def ceil_log2(n: int) -> int:
    """⌈log2 n⌉ for a positive integer, exactly (ceil_log2(1) == 0)."""
    if n < 1:
        raise ValueError(f"ceil_log2 needs a positive integer, got {n}")
    return (int(n) - 1).bit_length()


@dataclass(frozen=True)
class LayerMemory:
    """Kernel, neuron and bias memory of one layer, in words."""

    kernel: int
    neuron: int
    bias: int

    def to_dict(self) -> dict[str, int]:
        return {"kernel_memory": self.kernel, "neuron_memory": self.neuron, "bias_memory": self.bias}


def kernel_words(c_in: int, kh: int, kw: int, c_out: int) -> int:
    return c_in << (ceil_log2(kh * kw) + ceil_log2(c_out))


def neuron_words(c_out: int, h_out: int, w_out: int) -> int:
    return c_out << (ceil_log2(h_out) + ceil_log2(w_out))


def layer_memory(layer: ChipLayer) -> LayerMemory:
    """Memory words the layer needs in one core."""
    kh, kw = layer.kernel_size
    c_out, h_out, w_out = layer.conv_shape
    return LayerMemory(
        kernel=kernel_words(layer.c_in, kh, kw, c_out),
        neuron=neuron_words(c_out, h_out, w_out),
        bias=c_out if layer.bias is not None else 0,
    )

"""Memory words per layer, hand-computed (DESIGN.md §4), and a property over random shapes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.hw.memory import LayerMemory, ceil_log2, layer_memory
from qsnn_deploy.ir import ChipLayer


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, 0),
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 3),
        (9, 4),
        (16, 4),
        (17, 5),
        (25, 5),
        (1024, 10),
        (1025, 11),
        (2**40 + 1, 41),
    ],
)
def test_ceil_log2_is_exact(n, expected):
    assert ceil_log2(n) == expected


def test_ceil_log2_rejects_zero():
    with pytest.raises(ValueError):
        ceil_log2(0)


def test_conv_2_to_16_k3_p1_on_34x34(layers):
    # kernel 2·2^(4+4) = 512; output 34×34 → 64×64 per channel: 16·4096 = 65536
    assert layer_memory(layers.conv("c", 2, 16, 3, (34, 34), padding=1)) == LayerMemory(512, 65536, 0)


def test_conv_16_to_32_k3_p1_on_17x17(layers):
    # kernel 16·2^(4+5) = 8192; output 17×17 → 32×32: 32·1024 = 32768
    assert layer_memory(layers.conv("c", 16, 32, 3, (17, 17), padding=1)) == LayerMemory(8192, 32768, 0)


def test_linear_512_to_10_as_conv_32x4x4(layers):
    # kernel = whole 4×4 input: 32·2^(4+4) = 8192; neuron 10·2^(0+0) = 10; bias 10
    assert layer_memory(layers.linear("fc", (32, 4, 4), 10)) == LayerMemory(8192, 10, 0)
    assert layer_memory(layers.linear("fc", (32, 4, 4), 10, bias=True)) == LayerMemory(8192, 10, 10)


def test_conv_3_to_12_k5_with_bias_on_28x28(layers):
    # kernel 3·2^(⌈log2 25⌉=5 + ⌈log2 12⌉=4) = 1536; output 24×24 → 32×32: 12·1024 = 12288; bias 12
    assert layer_memory(layers.conv("c", 3, 12, 5, (28, 28), bias=True)) == LayerMemory(1536, 12288, 12)


def test_one_by_one_everything_is_log2_of_one(layers):
    assert layer_memory(layers.conv("c", 1, 1, 1, (1, 1))) == LayerMemory(1, 1, 0)


def test_non_square_output_rounds_each_side(layers):
    # 20×34 input, k3 s2 → 9×16 output → 16×16: 5·256 = 1280; kernel 2·2^(4+3) = 256
    assert layer_memory(layers.conv("c", 2, 5, 3, (20, 34), stride=2)) == LayerMemory(256, 1280, 0)


def test_nmnist_tutorial_memories(nmnist_net):
    got = [(m.neuron, m.kernel) for m in map(layer_memory, nmnist_net.layers)]
    assert got == [(32768, 256), (16384, 2048), (256, 4096), (10, 4096)]


# --- property: the memory is DESIGN.md §4's formula, for random layer shapes ------------------------------


def _design_formula(c_in, c_out, kh, kw, h_out, w_out, bias):
    """DESIGN.md §4, written out with floating-point log2 (independent of memory.ceil_log2)."""
    kernel = c_in * 2 ** (math.ceil(math.log2(kh * kw)) + math.ceil(math.log2(c_out)))
    neuron = c_out * 2 ** (math.ceil(math.log2(h_out)) + math.ceil(math.log2(w_out)))
    return LayerMemory(kernel, neuron, c_out if bias else 0)


def _zeros(*shape):
    """A weight array of any size without allocating it (read-only zero-stride view)."""
    return np.broadcast_to(np.float64(0), shape)


@st.composite
def conv_shapes(draw):
    k = draw(st.integers(1, 16))
    kw = draw(st.sampled_from([k, draw(st.integers(1, 16))]))  # square or not
    stride, padding = draw(st.integers(1, 8)), draw(st.integers(0, 7))
    h = draw(st.integers(max(1, k - 2 * padding), 140))
    w = draw(st.integers(max(1, kw - 2 * padding), 140))
    return draw(st.integers(1, 1100)), draw(st.integers(1, 1100)), k, kw, h, w, stride, padding, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(conv_shapes())
def test_memory_is_the_design_formula_for_random_shapes(shape):
    c_in, c_out, kh, kw, h, w, stride, padding, bias = shape
    layer = ChipLayer(
        "c",
        _zeros(c_out, c_in, kh, kw),
        (c_in, h, w),
        stride=stride,
        padding=padding,
        bias=np.zeros(c_out) if bias else None,
    )
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    assert layer_memory(layer) == _design_formula(c_in, c_out, kh, kw, h_out, w_out, bias)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 600), st.integers(1, 24), st.integers(1, 24), st.integers(1, 1100))
def test_linear_memory_is_a_conv_over_the_whole_input(c, h, w, n_out):
    layer = ChipLayer("fc", _zeros(n_out, c, h, w), (c, h, w), kind="linear")
    assert layer_memory(layer) == _design_formula(c, n_out, h, w, 1, 1, False)

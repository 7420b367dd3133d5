"""Memory words per layer, hand-computed (DESIGN.md §4)."""

import pytest

from qsnn_deploy.hw.memory import LayerMemory, ceil_log2, layer_memory


@pytest.mark.parametrize("n, expected", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (9, 4), (16, 4), (17, 5),
                                         (25, 5), (1024, 10), (1025, 11), (2**40 + 1, 41)])
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

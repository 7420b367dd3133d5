"""Placement on neuron-cores chips (Loihi), by hand."""

import numpy as np
import pytest

from qsnn_deploy.hw import load_profile
from qsnn_deploy.hw.counts import fan_in, layer_weight_bits, macs, neurons, weight_bits
from qsnn_deploy.hw.neurocore import place_neurons
from qsnn_deploy.ir import ChipLayer, Network


def test_nmnist_net_on_loihi_by_hand(nmnist_net):
    p = place_neurons(nmnist_net, load_profile("loihi"))
    # float network → 9-bit synapses (the chip's); a core: 1024 neurons, 128 KiB = 1048576 bits
    # conv1: 8·34·34 = 9248 neurons, fan-in 2·9 = 18 → 1024 per core (memory allows 6472) → 10 cores
    # conv2: 16·17·17 = 4624, fan-in 8·9·(2×2 pool of conv1) = 288 → 1048576 // 2592 = 404 per core → 12 cores
    # conv3: 16·4·4 = 256, fan-in 16·9·4 = 576 → 202 per core → 2 cores
    # fc: 10 neurons, fan-in 16·4·4 (conv3 has no pool) = 256 → 1 core
    got = [(x.neurons, x.fan_in, x.neurons_per_core, x.cores, x.limited_by) for x in p.layers]
    assert got == [
        (9248, 18, 1024, 10, "neurons"),
        (4624, 288, 404, 12, "synaptic memory"),
        (256, 576, 202, 2, "synaptic memory"),
        (10, 256, 455, 1, "synaptic memory"),
    ]
    assert (p.cores_used, p.cores_available, p.ok) == (25, 128, True)
    assert p.layer("conv2").synaptic_memory_bytes == -(-4624 * 288 * 9 // 8)


def test_integer_weights_set_the_synapse_bits():
    w = np.full((4, 2, 3, 3), 3.0)  # 3 needs 3 signed bits
    net = Network((ChipLayer("c", w, (2, 8, 8), scale=1.0),), (2, 8, 8))
    assert weight_bits(net) == 3 and layer_weight_bits(net.layers[0]) == 3
    assert place_neurons(net, load_profile("loihi")).layers[0].synapse_bits == 3
    assert weight_bits(Network((ChipLayer("c", w, (2, 8, 8)),), (2, 8, 8))) is None  # float


@pytest.mark.parametrize(
    "weights, bits", [([127, -128], 8), ([128], 9), ([-129], 9), ([0], 1), ([-1], 1), ([1], 2), ([3, -4], 3)]
)
def test_twos_complement_bits(weights, bits):
    layer = ChipLayer("c", np.array(weights, float).reshape(-1, 1, 1, 1), (1, 1, 1), scale=1.0)
    assert layer_weight_bits(layer) == bits


def test_counts(layers):
    conv = layers.conv("c", 3, 5, 3, (10, 12), padding=1, stride=2)  # output 5×6
    assert neurons(conv) == 5 * 5 * 6 and macs(conv) == 5 * 5 * 6 * 3 * 9
    net = layers.chain(layers.conv("a", 2, 4, 3, (8, 8), padding=1, pool=4), layers.linear("fc", (4, 2, 2), 3))
    assert fan_in(net, 0) == 18 and fan_in(net, 1) == 4 * 2 * 2 * 16


def test_not_a_neuron_cores_profile(nmnist_net, speck2f):
    with pytest.raises(ValueError, match="no neuron-core limits"):
        place_neurons(nmnist_net, speck2f)

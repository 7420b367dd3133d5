"""convert's bundle, the emulator's ensure_quantized, estimate and the chip plan discretise with one function:
the same integers, scales and metadata whichever way a float model goes."""

import dataclasses
import warnings

import numpy as np
import pytest
from helpers import random_network

from qsnn_deploy.convert.bundle import chip_widths, convert_network
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.emulate.binned import ensure_quantized
from qsnn_deploy.hw import load_profile
from qsnn_deploy.quant.chip import SPECK_STATE_BITS, SPECK_WEIGHT_BITS, discretize_network


def _with_bits(net, bits):
    layers = tuple(layer.replace(weight_bits=b) for layer, b in zip(net.layers, bits))
    return dataclasses.replace(net, layers=layers)


def _same_layers(a, b):
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for x, y in zip(a.layers, b.layers):
        assert np.array_equal(x.weight, y.weight), x.name
        assert (x.bias is None) == (y.bias is None) and (x.bias is None or np.array_equal(x.bias, y.bias)), x.name
        assert (x.threshold, x.min_v_mem, x.scale, x.weight_bits) == (y.threshold, y.min_v_mem, y.scale, y.weight_bits)


@pytest.mark.parametrize("bits", [(8, 8, 8), (4, 6, 4), (3, 3, 3)])
def test_bundle_and_ensure_quantized_give_identical_networks(tmp_path, bits):
    net = _with_bits(random_network(1, bias=True), bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emulated = ensure_quantized(net)
    bundled = convert_network(net, "speck2f", tmp_path / "b").network
    _same_layers(bundled, emulated)
    assert {k: v for k, v in bundled.metadata.items() if k != "target"} == emulated.metadata
    # the widths the layers really use: the widest layer's weight bits, the chip's state bits
    assert emulated.metadata["weight_bits"] == max(bits) and emulated.metadata["state_bits"] == 16
    assert [layer.weight_bits for layer in emulated.layers] == list(bits)
    back = read_nir(tmp_path / "b" / "model.nir")
    _same_layers(back, emulated)
    assert back.metadata["weight_bits"] == max(bits) and back.metadata["state_bits"] == 16
    assert ensure_quantized(emulated) is emulated  # a discretised network stays as it is


def test_profile_widths_reach_the_discretiser():
    speck, loihi, generic = (load_profile(n) for n in ("speck2f", "loihi", "generic-45nm"))
    assert chip_widths(speck) == {"weight_bits": SPECK_WEIGHT_BITS, "state_bits": SPECK_STATE_BITS}
    assert chip_widths(loihi) == {"weight_bits": 9, "state_bits": 24}  # numerics of hw_profiles/loihi.yaml
    assert chip_widths(generic) == chip_widths()  # no numerics: Speck's
    assert chip_widths(loihi, speck) == chip_widths(speck)  # the narrowest: one set of integers fits both
    # a lower bound far below -threshold lets the threshold fix the scale at 16 state bits, not at 24
    net = random_network(2)
    net = dataclasses.replace(net, layers=tuple(layer.replace(min_v_mem=-1e4) for layer in net.layers))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at16 = discretize_network(net, **chip_widths(speck))
        at24 = discretize_network(net, **chip_widths(loihi))
    assert at24.metadata["state_bits"] == 24 and at16.metadata["state_bits"] == 16
    assert all(b.scale > a.scale for a, b in zip(at16.layers, at24.layers))
    assert all(-128 <= layer.weight.min() and layer.weight.max() <= 127 for layer in at24.layers)  # int8: layer bits
    narrow = discretize_network(net, weight_bits=4, state_bits=24)  # a chip narrower than the layers
    assert [layer.weight_bits for layer in narrow.layers] == [4, 4, 4] and narrow.metadata["weight_bits"] == 4
    assert all(-8 <= layer.weight.min() and layer.weight.max() <= 7 for layer in narrow.layers)

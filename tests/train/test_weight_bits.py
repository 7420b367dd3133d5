"""Per-layer weight bits: model YAML and --bits, QAT in the narrower range, the same integers after
convert, NIR round trip, and what they save on a profile with configurable synapse width (Loihi)."""

import numpy as np
import pytest
import torch
from helpers import TINY
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import InputError, UsageError
from qsnn_deploy.ir import ChipLayer
from qsnn_deploy.nets.network import SpikingCNN
from qsnn_deploy.nets.zoo import load_spec, spec_from_dict, with_weight_bits
from qsnn_deploy.quant.chip import discretize_network
from qsnn_deploy.train.pretrained import initial_weights
from qsnn_deploy.train.weight_bits import weight_memory


def test_bits_from_cli_text():
    spec = load_spec("digits_speck")
    assert [layer.weight_bits for layer in spec.layers] == [8, 8, 8, 8]
    assert [layer.weight_bits for layer in with_weight_bits(spec, "4").layers] == [4, 4, 4, 4]
    assert [layer.weight_bits for layer in with_weight_bits(spec, "8,4,4,8").layers] == [8, 4, 4, 8]
    assert [layer.weight_bits for layer in with_weight_bits(spec, "conv2=3, fc=6").layers] == [8, 3, 8, 6]
    for bad, match in [
        ("9", "not a width in 2..8"),
        ("8,4", "cannot read"),
        ("conv7=4", "did you mean 'conv3'"),
        ("x", "not a width"),
        ("conv1=4,8", "cannot read"),
    ]:
        with pytest.raises(UsageError, match=match):
            with_weight_bits(spec, bad)


def test_bits_in_the_model_yaml():
    data = {**TINY, "layers": [{**TINY["layers"][0], "weight_bits": 4}, TINY["layers"][1]]}
    spec = spec_from_dict(data)
    assert [layer.weight_bits for layer in spec.layers] == [4, 8]
    assert spec_from_dict(spec.to_dict()) == spec
    for bad in (1, 9, "4"):
        with pytest.raises(InputError, match="weight_bits"):
            spec_from_dict({**TINY, "layers": [{**TINY["layers"][0], "weight_bits": bad}, TINY["layers"][1]]})
    with pytest.raises(InputError, match="weight bits must be an integer in 2..8"):
        ChipLayer("c", np.ones((1, 1, 1, 1)), (1, 2, 2), weight_bits=12)


@settings(max_examples=25, deadline=None)
@given(bits=st.integers(2, 8), seed=st.integers(0, 10_000))
def test_qat_integers_fit_the_width_and_equal_the_converted_ones(bits, seed):
    torch.manual_seed(seed)
    spec = with_weight_bits(spec_from_dict(TINY), str(bits))
    model = SpikingCNN(spec, quantize=True)
    qnet = discretize_network(model.to_network(dt_us=1000.0))
    for block, layer in zip(model.blocks, qnet.layers):
        wq = block.params(quantize=True)[0].detach().double().numpy()
        assert np.abs(wq).max() <= 2 ** (bits - 1)
        assert np.array_equal(wq, layer.weight)
        assert layer.weight_bits == bits
    assert qnet.metadata["weight_bits"] == bits


def test_float_mode_uses_symmetric_n_bit_weights():
    spec = with_weight_bits(spec_from_dict(TINY), "3")
    model = SpikingCNN(spec, quantize=False)
    w = model.blocks[0].params(quantize=False)[0].detach()
    levels = torch.unique(torch.round(w / (w.abs().max() / 3), decimals=4))
    assert len(levels) <= 7  # ±3 levels and zero


def test_nir_round_trip_keeps_bits_and_loihi_memory_shrinks(tmp_path):
    from qsnn_deploy.convert.nir_io import read_nir, write_nir
    from qsnn_deploy.hw.neurocore import place_neurons
    from qsnn_deploy.hw.profile import load_profile

    torch.manual_seed(0)
    nets = {}
    for bits in ("8,8", "4,8"):
        model = SpikingCNN(with_weight_bits(spec_from_dict(TINY), bits))
        net = discretize_network(model.to_network(dt_us=1000.0))
        back = read_nir(write_nir(net, tmp_path / f"{bits}.nir"))
        assert [layer.weight_bits for layer in back.layers] == [int(b) for b in bits.split(",")]
        nets[bits] = back
    loihi = load_profile("loihi")
    full = place_neurons(nets["8,8"], loihi).layer("c1")
    mixed = place_neurons(nets["4,8"], loihi).layer("c1")
    assert mixed.synapse_bits <= 4 < full.synapse_bits
    assert mixed.synaptic_memory_bytes < full.synaptic_memory_bytes


def test_weight_memory_and_init_checks(tmp_path):
    from qsnn_deploy.nets.checkpoint import save_checkpoint

    model = SpikingCNN(with_weight_bits(spec_from_dict(TINY), "4,8"))
    n1, n2 = (sum(p.numel() for p in b.conv.parameters()) for b in model.blocks)
    assert weight_memory(model) == 4 * n1 + 8 * n2
    save_checkpoint(tmp_path / "c.pt", model, {})
    state = initial_weights(tmp_path / "c.pt", spec_from_dict(TINY))
    assert torch.equal(state["blocks.0.conv.weight"], model.blocks[0].conv.weight)
    with pytest.raises(UsageError, match="do not have the shapes"):
        initial_weights(tmp_path / "c.pt", load_spec("digits_speck"))

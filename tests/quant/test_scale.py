"""Safe scales (quant/scale.py) and every place that divides by a peak, percentile, variance or time step:
zeros, subnormals and huge values give a finite result; NaN/inf in user data an InputError naming the layer,
in a training step NaN without a device sync (issue 15)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import ChipLayer, Network
from qsnn_deploy.quant.scale import ratio_to, usable_divisor
from qsnn_deploy.train.integer_only import update_steps

edge = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, 1e-310, 1.4e-45, 1e-40, 1e38, 1.7976931348623157e308]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        arrays(np.float64, st.integers(0, 8), elements=edge),
        arrays(np.float32, st.integers(0, 8), elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
    )
)
def test_ratio_on_edge_values(v):
    peak = float(np.abs(v).max()) if v.size else 0.0
    r = ratio_to(127, peak)
    assert r > 0 and (r == math.inf) == (peak == 0 or 127 / peak == math.inf)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_usable_divisor_refuses_non_finite(bad):
    """A caller's bug (callers refuse NaN user data first with an InputError), so a ValueError."""
    with pytest.raises(ValueError, match="λ is"):
        usable_divisor(bad, "λ")
    assert usable_divisor(0.0, "λ") == 1.0 and usable_divisor(5e-324, "λ") == 5e-324


@pytest.mark.parametrize("peak", [1e-45, 3.4e38, 0.0])
def test_full_precision_update_steps_on_edge_gradients(peak):
    g = torch.tensor([peak, -peak / 2, 0.0])
    q, delta = update_steps(g, None, lr_int=8.0)
    assert torch.isfinite(q).all() and torch.equal(q, delta)
    assert (float(q.abs().max()) > 0) == (peak > 0)  # 2^128 (shift of 3.4e38) overflowed float32 to inf → 0
    # a diverged step: NaN goes on to the weights (the loss shows it), without a device sync or an error
    q, delta = update_steps(torch.tensor([1.0, float("nan")]), None, lr_int=8.0)
    assert torch.isnan(q).all() and torch.isnan(delta).all()
    q, _ = update_steps(torch.empty(3, device="meta"), None, lr_int=8.0)  # meta: any host read would raise
    assert q.device.type == "meta"


def test_network_time_step_must_be_positive_and_finite():
    layer = ChipLayer("c", np.ones((1, 1, 1, 1)), (1, 2, 2))
    for dt in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(InputError, match="time step must be positive and finite"):
            Network((layer,), (1, 2, 2), dt_us=dt)


def _float_model():
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    torch.manual_seed(0)
    spec = spec_from_dict(
        {
            "name": "t",
            "input_shape": [1, 6, 6],
            "n_classes": 2,
            "layers": [
                {"type": "conv", "name": "c1", "out_channels": 2, "kernel_size": 3, "padding": 1},
                {"type": "linear", "name": "fc", "out_features": 2},
            ],
        }
    )
    return SpikingCNN(spec, quantize=False).eval()


@pytest.mark.parametrize("factor", [1e-40, 1e30])
def test_percentile_normalise_with_subnormal_or_huge_weights(factor):
    """Each block's λ scales with its weights: a subnormal λ (weights × 1e-40) must not give inf weights."""
    from qsnn_deploy.train.weight_scaling import percentile_normalise

    model = _float_model()
    with torch.no_grad():
        for block in model.blocks:
            block.conv.weight.abs_().mul_(factor)
    out, lambdas = percentile_normalise(model, (torch.rand(4, 3, 1, 6, 6) < 0.5).float(), 99.0)
    assert all(0 < lam < math.inf for lam in lambdas)
    assert all(torch.isfinite(p).all() for p in out.parameters())
    assert 0.1 < float(out.blocks[0].conv.weight.detach().abs().max()) < 10  # the drive now maps to the threshold


def test_percentile_normalise_overflowing_drive_is_an_input_error_naming_the_layer():
    """Weights near float32's maximum: the drive of 9 inputs overflows to inf. A bad model, not our bug: exit 3."""
    from qsnn_deploy.train.weight_scaling import percentile_normalise

    model = _float_model()
    with torch.no_grad():
        model.blocks[0].conv.weight.fill_(3e38)
    with pytest.raises(InputError, match="input drive of layer 'c1' overflows") as caught:
        percentile_normalise(model, torch.ones(2, 3, 1, 6, 6), 99.0)
    assert caught.value.exit_code == 3 and caught.value.where == "layer c1"
    assert caught.value.located("run/checkpoint.pt").where == "run/checkpoint.pt, layer c1"

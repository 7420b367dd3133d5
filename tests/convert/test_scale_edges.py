"""Scale computations of the converters on edge values: ANN weight scaling by a subnormal percentile, the
unscaled lower bound of huge weights, batch norm with zero variance, a LIF time constant of zero (issue 15)."""

import numpy as np
import pytest
import sinabs.layers as sl
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from nir_layouts import write_layout
from qsnn_deploy.convert.ann import scale_weights, unscaled_lower_bound
from qsnn_deploy.convert.from_torch import network_from_module
from qsnn_deploy.convert.nir_import import ImportOptions
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.errors import InputError


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e38), st.sampled_from([0.0, 1.4e-45, 1e-40, 1e-300])), min_size=2,
                max_size=2))
def test_scale_weights_never_leaves_infinite_weights(lambdas):
    """ANN weight scaling by λ_{l−1}/λ_l: a subnormal λ multiplies by up to 7e44, beyond float32."""
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3))
    try:
        scaled = scale_weights(ann, lambdas)
    except InputError as e:
        assert "overflows" in str(e) and "--no-weight-scaling" in str(e)
        return
    for p in scaled.parameters():
        assert torch.isfinite(p).all()


def test_unscaled_lower_bound_stays_finite_for_huge_weights():
    assert unscaled_lower_bound(np.array([[1e307]])) == -np.finfo(np.float64).max
    assert unscaled_lower_bound(np.array([[1e38]])) == pytest.approx(-(2 ** 14) * 1e38 / 127)
    assert unscaled_lower_bound(np.array([[5e-324]])) == -1.0


def test_batchnorm_with_zero_variance_and_eps_is_an_input_error():
    iaf = sl.IAFSqueeze(batch_size=1, spike_threshold=1.0, min_v_mem=-1.0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2, eps=0.0), iaf).eval()
    model[1].running_var.zero_()
    with pytest.raises(InputError, match="batch norm '1' cannot be folded"):
        network_from_module(model, (1, 5, 5))


@pytest.mark.parametrize("field", ["tau", "r"])
def test_lif_time_constant_zero_is_an_input_error(tmp_path, field):
    """τ and r divide in the leak gain r·dt/τ and the default dt = τ/r."""
    nodes = {
        "input": {"type": "Input", "shape": np.array([1, 4, 4])},
        "conv": {"type": "Conv2d", "input_shape": np.array([4, 4]), "weight": np.ones((2, 1, 3, 3)),
                 "stride": np.array([1, 1]), "padding": np.array([1, 1]), "dilation": np.array([1, 1]),
                 "groups": np.int64(1), "bias": np.zeros(2)},
        "lif": {"type": "LIF", "tau": np.full((2, 4, 4), 1e-3), "r": np.full((2, 4, 4), 10.0),
                "v_leak": np.zeros((2, 4, 4)), "v_threshold": np.ones((2, 4, 4))},
        "output": {"type": "Output", "shape": np.array([2, 4, 4])},
    }
    nodes["lif"][field] = np.zeros((2, 4, 4))
    write_layout(tmp_path / "g.nir", nodes, [("input", "conv"), ("conv", "lif"), ("lif", "output")], "1.0.8")
    with pytest.raises(InputError, match=f"'{field}' of 'lif' is 0; it must be positive and finite"):
        read_nir(tmp_path / "g.nir", ImportOptions(approximate_leak=True))

"""The chip discretiser: ranges, the shared-scale rule, torch/numpy agreement and sinabs' rule."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import ChipLayer
from qsnn_deploy.quant.chip import discretize_layer, layer_scale, range_scale
from qsnn_deploy.quant.fake import chip_scale_t, range_scale_t

finite = st.floats(-4, 4, allow_nan=False, width=32)
weights = arrays(np.float32, (3, 2, 3, 3), elements=finite)


def test_range_scale_hand_values():
    assert range_scale(np.array([0.5, -0.25]), 8) == 127 / 0.5
    assert range_scale(np.array([0.5, -1.0]), 8) == 128.0  # the negative side binds
    assert range_scale(np.zeros(3), 8) == float("inf")
    assert range_scale(np.array([-1.0, 1.0]), 16) == 32767.0


@settings(max_examples=200, deadline=None)
@given(weights, st.floats(0.05, 3), st.floats(0.1, 2))
def test_discretised_values_in_range_and_torch_agrees(w, thr, low_frac):
    if not np.any(w):
        w = w.copy()
        w[0, 0, 0, 0] = 1.0
    layer = ChipLayer("l", w, (2, 5, 5), threshold=thr, min_v_mem=-thr * low_frac)
    q = discretize_layer_quiet(layer)
    assert np.abs(q.weight).max() <= 128 and q.weight.min() >= -128 and q.weight.max() <= 127
    assert -32768 <= q.min_v_mem <= 0 < q.threshold <= 32767
    assert np.array_equal(q.weight, np.round(q.weight))
    s_t = chip_scale_t(
        torch.from_numpy(w),
        None,
        torch.tensor(thr, dtype=torch.float32),
        torch.tensor(-thr * low_frac, dtype=torch.float32),
    )
    s_np = layer_scale(w.astype(np.float64), None, float(np.float32(thr)), float(np.float32(-thr * low_frac))).scale
    assert float(s_t) == s_np
    assert float(range_scale_t(torch.from_numpy(w), 8)) == range_scale(w, 8)


def discretize_layer_quiet(layer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return discretize_layer(layer)


def _load_sinabs_discretize():
    """sinabs' discretize.py loaded from its file: importing sinabs.backend.dynapcnn would import samna."""
    spec = importlib.util.find_spec("sinabs")
    path = Path(spec.submodule_search_locations[0]) / "backend" / "dynapcnn" / "discretize.py"
    if not path.is_file():
        pytest.skip("sinabs' discretize.py not found")
    mod_spec = importlib.util.spec_from_file_location("_sinabs_discretize", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", range(25))
def test_same_integers_as_sinabs(seed):
    import sinabs.layers as sl

    disc = _load_sinabs_discretize()
    rng = np.random.default_rng(seed)
    c_out, c_in, k = rng.integers(1, 9), rng.integers(1, 5), int(rng.choice([1, 3, 5]))
    w = rng.normal(0, rng.uniform(0.01, 2), (c_out, c_in, k, k)).astype(np.float32)
    b = rng.normal(0, 0.1, c_out).astype(np.float32) if seed % 2 else None
    thr = float(np.float32(rng.uniform(0.2, 3)))
    low = float(np.float32(-thr * rng.uniform(0.5, 2)))
    conv = torch.nn.Conv2d(c_in, c_out, k, bias=b is not None)
    conv.weight.data = torch.from_numpy(w)
    if b is not None:
        conv.bias.data = torch.from_numpy(b)
    iaf = sl.IAFSqueeze(batch_size=1, spike_threshold=thr, min_v_mem=low)
    qconv, qiaf = disc.discretize_conv_spike(conv, iaf, to_int=False)
    ours = discretize_layer_quiet(ChipLayer("l", w, (c_in, 8, 8), bias=b, threshold=thr, min_v_mem=low))
    assert np.array_equal(ours.weight, qconv.weight.detach().double().numpy())
    if b is not None:
        assert np.array_equal(ours.bias, qconv.bias.detach().double().numpy())
    assert ours.threshold == float(qiaf.spike_threshold)
    assert ours.min_v_mem == float(qiaf.min_v_mem)


def test_collapsed_scale_warns():
    w = np.full((1, 1, 1, 1), 0.01)
    layer = ChipLayer("conv7", w, (1, 2, 2), threshold=1.0, min_v_mem=-32768.0)
    with pytest.warns(UserWarning, match="conv7"):
        discretize_layer(layer)


def test_weights_rounding_to_zero_warn():
    w = np.array([1.0] + [0.001] * 8).reshape(1, 1, 3, 3)
    with pytest.warns(UserWarning, match=r"layer c: 100% of its non-zero weights round to zero|round to zero"):
        discretize_layer(ChipLayer("c", w, (1, 4, 4), threshold=1.0))


# --- edge values: zeros, subnormals, values near the float maximum, NaN/inf (issue 15) ---------------------

edge64 = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-310, 1e-45, 1e38, -1.7976931348623157e308]),
)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 12), elements=edge64), st.integers(2, 16))
@example(np.array([-2 / np.finfo(np.float64).max, 0.0]), 2)  # found by make fuzz: 2/v overflows exactly here
def test_range_scale_on_any_finite_values_and_torch_agrees(v, bits):
    s = range_scale(v, bits)
    assert float(range_scale_t(torch.from_numpy(v), bits)) == s
    assert s > 0  # never 0: the largest finite |v| still leaves a positive factor
    if np.isfinite(s):
        q = np.round(v * s)
        assert np.isfinite(q).all() and q.min() >= -(2 ** (bits - 1)) and q.max() <= 2 ** (bits - 1) - 1
    else:  # all zero, or so small that the factor overflows float64: such values bound no scale
        assert np.abs(v).max() <= 2 ** (bits - 1) / np.finfo(np.float64).max * (1 + 1e-12) or not v.any()


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, (2, 1, 2, 2), elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
    st.floats(1e-30, 1e30),
    st.floats(0.1, 2),
)
def test_discretise_any_finite_float32_weights(w, thr, low_frac):
    """Subnormal, zero and near-maximum float32 weights give chip integers in range, never NaN or inf."""
    q = discretize_layer_quiet(ChipLayer("l", w, (1, 3, 3), threshold=thr, min_v_mem=-thr * low_frac))
    assert np.isfinite(q.weight).all() and -128 <= q.weight.min() and q.weight.max() <= 127
    assert 1 <= q.threshold <= 32767 and -32768 <= q.min_v_mem <= 0 and 0 < q.scale < np.inf
    s_t = chip_scale_t(
        torch.from_numpy(w),
        None,
        torch.tensor(thr, dtype=torch.float64),
        torch.tensor(-thr * low_frac, dtype=torch.float64),
    )
    assert float(s_t) == q.scale


@pytest.mark.parametrize(
    "field, bad",
    [("weight", np.nan), ("weight", np.inf), ("bias", -np.inf), ("min_v_mem", np.nan), ("min_v_mem", -np.inf)],
)
def test_non_finite_parameters_are_an_input_error(field, bad):
    w = np.full((1, 1, 1, 1), 0.5)
    kw = {"bias": np.zeros(1), "min_v_mem": -1.0}
    if field == "weight":
        w = w.copy()
        w[0, 0, 0, 0] = bad
    else:
        kw[field] = np.full(1, bad) if field == "bias" else bad
    with pytest.raises(InputError, match="layer c9: its .* NaN or infinite"):
        discretize_layer(ChipLayer("c9", w, (1, 2, 2), threshold=1.0, **kw))


def test_bad_threshold_or_scale_is_refused_where_the_layer_is_built():
    w = np.full((1, 1, 1, 1), 0.5)
    for thr in (np.inf, np.nan, 0.0):
        with pytest.raises(InputError, match="threshold must be positive and finite"):
            ChipLayer("c", w, (1, 2, 2), threshold=thr)
    for scale in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(InputError, match="scale must be positive and finite"):
            ChipLayer("c", w, (1, 2, 2), scale=scale)


def test_parameters_too_small_for_a_finite_scale():
    tiny = ChipLayer("c3", np.full((1, 1, 1, 1), 1e-320), (1, 2, 2), threshold=1e-310, min_v_mem=-1e-310)
    with pytest.raises(InputError, match="c3: .*too small for a finite chip scale"):
        discretize_layer(tiny)
    # a normal threshold with subnormal weights is fine: the weights round to zero (with a warning)
    q = discretize_layer_quiet(tiny.replace(threshold=1.0, min_v_mem=-1.0))
    assert not q.weight.any() and q.threshold == 32767

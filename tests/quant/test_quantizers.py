"""Property tests of the seed quantisers: range, idempotence, unbiased stochastic rounding, STE gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qsnn_deploy.errors import UsageError
from qsnn_deploy.quant.fake import chip_scale_t, range_scale_t
from qsnn_deploy.quant.quantizers import (
    fixed_point,
    memory_bits,
    pow2_normalise,
    pow2_shift,
    quant01,
    quant11,
    quant_error,
    quant_gradient,
    stochastic_round,
    symmetric,
    wage_clip,
    wage_quant,
)

values = arrays(np.float32, st.integers(1, 40), elements=st.floats(-8, 8, allow_nan=False, width=32))
# the whole finite float range: zeros, subnormals (down to 1.4e-45 / 5e-324) and values near the maximum
edge32 = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-45, -1e-45, 1e-40, 1.1754942e-38, 1e38, -3.4028235e38]),
)
edge64 = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, -1.7976931348623157e308]),
)
edge_values = st.one_of(
    arrays(np.float32, st.integers(1, 20), elements=edge32), arrays(np.float64, st.integers(1, 20), elements=edge64)
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(values, edge_values), st.integers(2, 8))
def test_symmetric_range_levels_idempotence(x, bits):
    """Any finite input: |q| ≤ peak, error ≤ half a step, idempotent bit for bit, never inf/NaN
    (issue 15: x=[1e-45], bits=3 gave infinite steps)."""
    t = torch.from_numpy(x)
    q = symmetric(t, bits)
    assert q.dtype == t.dtype and torch.isfinite(q).all()
    levels = 2 ** (bits - 1) - 1
    peak = float(t.abs().max())
    if peak == 0:
        assert torch.equal(q, t)
        return
    assert float(q.abs().max()) == peak
    tiny = float(torch.finfo(t.dtype).smallest_normal)
    ulp0 = tiny * float(torch.finfo(t.dtype).eps)  # the subnormal spacing: the dtype's absolute resolution
    err = (q.double() - t.double()).abs()
    assert bool((err <= peak / levels / 2 * (1 + 1e-6) + t.double().abs() * 1e-6 + ulp0).all())
    if peak / levels >= tiny:  # the grid is representable: q sits on it
        steps = q.double() / peak * levels
        assert torch.allclose(steps, steps.round(), atol=1e-3) and float(steps.abs().max()) <= levels
    assert torch.equal(symmetric(q, bits), q)


def test_symmetric_subnormal_peak_by_hand():
    x = torch.tensor([1e-45])  # the smallest float32 subnormal
    assert torch.equal(symmetric(x, 3), x)
    x = torch.tensor([5 * 1.4e-45, 1.4e-45, 0.0])  # 5 and 1 subnormal steps at 3 levels: 1 → 5/3 → 2 steps
    assert symmetric(x, 3).tolist() == [x[0].item(), 2 * x[1].item(), 0.0]
    big = torch.tensor([3e38, -1e38])
    assert symmetric(big, 8).tolist() == pytest.approx([3e38, -round(127 / 3) * 3e38 / 127])


@settings(max_examples=100, deadline=None)
@given(edge_values, st.integers(1, 8), st.integers(1, 12), st.sampled_from([0.5, 1.0, 8.0]))
def test_error_and_gradient_quantisers_on_edge_values(x, bits, rng_bits, lr_int):
    """Shift by the power of two of max|x| stays finite for subnormal and huge peaks (2^128 overflows float32)."""
    t = torch.from_numpy(x)
    err = quant_error(t, bits)
    grad = quant_gradient(t, bits, rng_bits, lr_int=lr_int, generator=torch.Generator().manual_seed(0))
    assert err.dtype == t.dtype and grad.dtype == t.dtype
    assert torch.isfinite(err).all() and torch.isfinite(grad).all()
    if not t.any():
        assert not err.any() and not grad.any()
        return
    assert float(err.abs().max()) <= 1 and float(err.abs().max()) >= (0.5 if bits > 1 else 1)
    top = 2.0 if float(t.abs().max()) > 2.0**1023 else 2**0.5  # the shift stops at 2^1023, float64's largest
    steps = grad.double() * 2 ** (bits - 1)
    assert torch.equal(steps, steps.round()) and float(steps.abs().max()) <= np.ceil(lr_int * top + 1e-9)
    n = pow2_normalise(t)
    assert n.dtype == torch.float64 and 2**-0.5 - 1e-9 <= float(n.abs().max()) <= top + 1e-9


@settings(max_examples=100, deadline=None)
@given(edge_values, st.integers(2, 16))
def test_fixed_grids_on_edge_values(x, bits):
    """wage_quant/quant01/quant11: on the grid within half a step of x, finite for finite x (x·2^31 overflows
    float32 from 1.6e29 on); fixed_point clamps into its range."""
    t = torch.from_numpy(x)
    for fn, per_unit in ((wage_quant, 2.0 ** (bits - 1)), (quant01, 2.0**bits), (quant11, 2.0 ** (bits - 1) - 1)):
        q = fn(t, bits)
        assert q.dtype == t.dtype and torch.isfinite(q).all()
        err = (q.double() - t.double()).abs()
        assert bool((err <= 0.5 / per_unit + t.double().abs() * 1e-6).all())
    q = fixed_point(t, bits, bits // 2)
    step = 2.0 ** -(bits // 2)
    assert torch.isfinite(q).all() and float(q.max()) <= 2.0 ** (bits - bits // 2 - 1) - step
    assert float(q.min()) >= -(2.0 ** (bits - bits // 2 - 1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_pass_through_as_nan_like_the_chip_scale(bad):
    """Training steps neither raise nor sync on a diverged tensor: symmetric gives NaN everywhere, as
    range_scale_t gives a NaN scale for NaN; the convert-time discretiser is where NaN is refused."""
    t = torch.tensor([0.5, bad, 0.0])
    assert torch.isnan(symmetric(t, 4)).all()
    err, grad = quant_error(t, 4), quant_gradient(t, 4, 8)
    if bad != bad:  # NaN: nothing is finite any more
        assert torch.isnan(err).all() and torch.isnan(grad).all()
        assert torch.isnan(range_scale_t(t, 8))
    else:  # an infinity shifts by 2^1023 and clips to ±(1 − 2^-3); the finite values shrink to 0
        assert err.tolist() == [0.0, 0.875 if bad > 0 else -0.875, 0.0]


def test_training_quantisers_never_read_back_to_the_host():
    """On the meta device any .item()/float()/bool() of a tensor raises: these run on every forward or
    backward of training, where a host read is a CUDA sync each time."""
    for dtype in (torch.float32, torch.float64):
        x = torch.empty(3, 5, device="meta", dtype=dtype)
        outputs = [
            symmetric(x, 4),
            quant_error(x, 4),
            quant_gradient(x, 4, 8),
            pow2_normalise(x),
            range_scale_t(x, 8),
            chip_scale_t(x, x[0], x[0, 0], x[0, 1]),
        ]
        assert all(o.device.type == "meta" for o in outputs)


@settings(max_examples=100, deadline=None)
@given(values, st.integers(3, 16), st.data())
def test_fixed_point_range_grid_idempotence(x, word, data):
    frac = data.draw(st.integers(0, word - 1))
    q = fixed_point(torch.from_numpy(x).double(), word, frac)
    step = 2.0**-frac
    lo, hi = -(2.0 ** (word - frac - 1)), 2.0 ** (word - frac - 1) - step
    assert float(q.min()) >= lo and float(q.max()) <= hi
    assert torch.equal(q / step, torch.round(q / step))
    assert torch.equal(fixed_point(q, word, frac), q)


def test_stochastic_rounding_is_unbiased():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([0.1, 0.5, 2.75, -1.3, 4.0])
    draws = torch.stack([stochastic_round(x, generator=g) for _ in range(20000)])
    assert torch.allclose(draws.mean(0), x, atol=0.02)
    assert set(draws[:, 0].unique().tolist()) == {0.0, 1.0} and draws[:, 4].unique().tolist() == [4.0]
    limited = torch.stack([stochastic_round(x, rng_bits=8, generator=g) for _ in range(20000)])
    assert torch.allclose(limited.mean(0), x, atol=0.02)
    coarse = torch.stack([stochastic_round(torch.tensor([0.1]), rng_bits=1, generator=g) for _ in range(4000)])
    assert float(coarse.mean()) == 0.0  # 0.1 cut to 1 bit is 0: a 1-bit RNG never rounds it up


def test_stochastic_fixed_point_unbiased_inside_the_range():
    g = torch.Generator().manual_seed(1)
    x = torch.full((20000,), 0.3)
    q = fixed_point(x, 4, 2, rounding="stochastic", generator=g)  # step 0.25
    assert set(q.unique().tolist()) == {0.25, 0.5} and abs(float(q.mean()) - 0.3) < 0.005


def test_straight_through_gradients():
    x = torch.tensor([-9.0, -0.3, 0.2, 0.7, 9.0], requires_grad=True)
    symmetric(x, 4).sum().backward()
    assert x.grad.tolist() == [1.0] * 5
    x.grad = None
    fixed_point(x, 4, 1).sum().backward()  # range [-4, 3.5]: the ends are clamped, no gradient there
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    x.grad = None
    fixed_point(x, 4, 1, clamp_grad_zero=False).sum().backward()
    assert x.grad.tolist() == [1.0] * 5


def test_wage_family_by_hand():
    x = torch.tensor([-1.0, -0.3, 0.26, 0.99])
    assert wage_clip(x, 3).tolist() == pytest.approx([-0.75, -0.3, 0.26, 0.75])
    assert wage_quant(torch.tensor([0.26, -0.3]), 3).tolist() == [0.25, -0.25]
    assert wage_quant(torch.tensor([0.2, -0.1]), 1).tolist() == [1.0, -1.0]
    assert quant01(torch.tensor([0.3]), 2).tolist() == [0.25]
    assert quant11(torch.tensor([0.4]), 3).tolist() == [pytest.approx(1 / 3)]
    assert pow2_shift(5.0).item() == 4.0 and pow2_shift(0.2).item() == 0.25
    err = quant_error(torch.tensor([0.3, -0.1, 0.05]), 4)  # scaled by 2^round(log2 0.3) = 0.25
    assert err.tolist() == pytest.approx([0.875, -0.375, 0.25])
    g = torch.Generator().manual_seed(0)
    grad = quant_gradient(torch.tensor([0.5, -0.25, 0.0]), bits=3, rng_bits=8, lr_int=2.0, generator=g)
    assert grad.tolist() == [0.5, -0.25, 0.0]  # n = 2, -1, 0 exactly → steps of 1/4


def test_memory_footprint_and_bad_widths():
    assert memory_bits({"w": 100, "v": 10}, {"w": 4}) == 100 * 4 + 10 * 32
    with pytest.raises(UsageError, match="bit width"):
        symmetric(torch.ones(3), 1)
    with pytest.raises(UsageError, match="fractional bits"):
        fixed_point(torch.ones(3), 4, 4)
    with pytest.raises(UsageError, match="RNG bits"):
        stochastic_round(torch.ones(3), rng_bits=0)

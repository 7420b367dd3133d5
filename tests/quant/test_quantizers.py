"""Property tests of the seed quantisers: range, idempotence, unbiased stochastic rounding, STE gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from qsnn_deploy.errors import UsageError
from qsnn_deploy.quant.quantizers import (
    fixed_point,
    memory_bits,
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


@settings(max_examples=100, deadline=None)
@given(values, st.integers(2, 8))
def test_symmetric_range_levels_idempotence(x, bits):
    t = torch.from_numpy(x)
    q = symmetric(t, bits)
    levels = 2 ** (bits - 1) - 1
    peak = float(t.abs().max())
    if peak == 0:
        assert torch.equal(q, t)
        return
    steps = q / (peak / levels)
    assert torch.allclose(steps, steps.round(), atol=1e-3) and float(steps.abs().max()) <= levels + 1e-3
    assert float((q - t).abs().max()) <= peak / levels / 2 + 1e-5
    assert torch.allclose(symmetric(q, bits), q, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(values, st.integers(3, 16), st.data())
def test_fixed_point_range_grid_idempotence(x, word, data):
    frac = data.draw(st.integers(0, word - 1))
    q = fixed_point(torch.from_numpy(x).double(), word, frac)
    step = 2.0 ** -frac
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

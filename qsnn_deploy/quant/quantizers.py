"""Fake quantisers of the research seeds (torch, straight-through gradients).

- :func:`symmetric` — per-tensor symmetric n-bit weights with a float scale (4-bit QSNN, Brevitas'
  narrow-range default): ``q = clamp(round(x / s), ±(2^(b−1) − 1)) · s``, ``s = max|x| / (2^(b−1) − 1)``.
- :func:`fixed_point` — signed fixed point with ``word`` bits of which ``frac`` are fractional
  (DECOLLE, qtorch's ``FixedPoint(wl, fl)``), nearest or stochastic rounding, optional zero gradient
  where the value was clamped.
- :func:`stochastic_round` — unbiased rounding, optionally driven by an RNG of only ``rng_bits`` bits
  (the integer-only QSNN's "gradient RNG bits").
- The WAGE family of the integer-only QSNN: :func:`wage_clip`, :func:`wage_quant`, :func:`quant01`, :func:`quant11`,
  :func:`pow2_shift`, :func:`quant_error`, :func:`quant_gradient`.

The chip-exact int8/int16 quantiser with one shared scale per layer is :mod:`qsnn_deploy.quant.fake`.

Edge values: scales and grids are computed in float64 and the result is cast back to the input's dtype, so
a subnormal peak neither underflows to a zero scale nor gives infinite steps, and huge values (up to the
dtype's maximum) do not overflow on the way; an all-zero tensor passes through unchanged.

Non-finite values: these run in every training step, so they never read a value back to the host (no
``.item()``, ``float()`` or ``if`` on a tensor: no device sync) and never raise. NaN in a tensor whose peak
sets the scale (:func:`symmetric`, :func:`quant_error`, :func:`quant_gradient`) gives NaN, like
:func:`qsnn_deploy.quant.fake.range_scale_t`: a diverged run shows in its loss, and the chip discretiser
(:mod:`qsnn_deploy.quant.chip`) refuses NaN and infinities with an error naming the layer at convert time.
The fixed grids (:func:`fixed_point`, :func:`wage_quant`, :func:`quant01`, :func:`quant11`) pass NaN through
and clamp or keep infinities.
"""

from __future__ import annotations

import torch

from ..errors import UsageError


def _check_bits(bits: int, lo: int = 1, hi: int = 32, what: str = "bit width") -> None:
    if not isinstance(bits, int) or not lo <= bits <= hi:
        raise UsageError(f"{what} must be an integer in {lo}..{hi}, got {bits!r}")


def straight_through(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` forward, identity gradient to ``x`` backward."""
    return x + (q - x).detach()


def symmetric(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-tensor symmetric n-bit fake quantisation (narrow range, round to nearest, STE).

    Computed as ``round(x / peak · L) / L · peak`` in float64 (``L = 2^(b−1) − 1``): no intermediate can
    overflow or underflow, whatever the peak (subnormal included); the result is idempotent. An all-zero
    tensor comes back unchanged; one holding NaN or an infinity comes back all NaN (no device sync, no error).
    """
    _check_bits(bits, 2, 16)
    if x.numel() == 0:
        return x
    levels = 2 ** (bits - 1) - 1
    v = x.detach().double()
    peak = v.abs().amax()
    peak = torch.where(peak == 0, torch.ones_like(peak), peak)  # all zeros: 0 / 1 keeps them; NaN stays NaN
    steps = torch.clamp(torch.round(v / peak * levels), -levels, levels)
    return straight_through(x, (steps / levels * peak).to(x.dtype))


def stochastic_round(
    x: torch.Tensor, rng_bits: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Round down or up with probability given by the fraction (unbiased), no gradient.

    With ``rng_bits`` the fraction and the uniform draw are both cut to that many bits and the value
    rounds up when ``frac ≥ u`` (the integer-only QSNN's rule; unbiased up to the ``2^-rng_bits`` resolution).
    """
    x = x.detach()
    low = torch.floor(x)
    frac = x - low
    u = torch.rand(
        x.shape, generator=generator, device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32
    )
    if rng_bits is None:
        return low + (u < frac).to(x.dtype)
    _check_bits(rng_bits, 1, 24, "RNG bits")
    step = 2.0**rng_bits
    frac_q = torch.floor(frac * step)
    u_q = torch.floor(u * step)
    return low + ((frac_q > u_q) | ((frac_q == u_q) & (frac_q > 0))).to(x.dtype)


def fixed_point(
    x: torch.Tensor,
    word: int,
    frac: int,
    rounding: str = "nearest",
    clamp_grad_zero: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Signed fixed point Q(word − frac).frac.

    Step ``2^-frac``, range ``[−2^(word−frac−1), 2^(word−frac−1) − step]``.
    """
    _check_bits(word, 2, 32)
    if not 0 <= frac < word:
        raise UsageError(f"fractional bits must be in 0..{word - 1}, got {frac}")
    if rounding not in ("nearest", "stochastic"):
        raise UsageError(f"rounding must be 'nearest' or 'stochastic', got {rounding!r}")
    step = 2.0**-frac
    lo, hi = -(2.0 ** (word - frac - 1)), 2.0 ** (word - frac - 1) - step
    scaled = x.detach() / step
    q = torch.round(scaled) if rounding == "nearest" else stochastic_round(scaled, generator=generator)
    q = torch.clamp(q * step, lo, hi)
    out = straight_through(x, q)
    if clamp_grad_zero:
        inside = ((x >= lo) & (x <= hi)).to(x.dtype)
        out = q + (x - x.detach()) * inside
    return out


# --- integer-only QSNN: WAGE-style integer quantisation ---------------------------------------------------


def wage_clip(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Clamp to ``±(1 − 2^−(b−1))`` (no margin for 1 bit)."""
    _check_bits(bits, 1, 32)
    m = 1.0 if bits == 1 else 1.0 - 2.0 ** -(bits - 1)
    return torch.clamp(x, -m, m)


def wage_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``round(x·2^(b−1)) / 2^(b−1)``; 1 bit: ``sign(x)``. No gradient handling (use :func:`straight_through`)."""
    _check_bits(bits, 1, 32)
    if bits == 1:
        return torch.sign(x)
    return _round_to_grid(x, 2.0 ** (bits - 1))


def quant01(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ``round(x·2^b) / 2^b`` for traces normalised to [0, 1]."""
    _check_bits(bits, 1, 32)
    return _round_to_grid(x, 2.0**bits)


def quant11(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Signed ``round(x·(2^(b−1) − 1)) / (2^(b−1) − 1)`` for values in [−1, 1]."""
    _check_bits(bits, 2, 32)
    return _round_to_grid(x, 2.0 ** (bits - 1) - 1)


def _round_to_grid(x: torch.Tensor, per_unit: float) -> torch.Tensor:
    """``round(x·per_unit) / per_unit`` in float64, back in ``x``'s dtype (zero gradient, like ``round``).

    A float32 ``x·2^31`` overflows from 1.6e29 on; in float64 it cannot, and a float64 value so large that
    its product overflows is already on the grid (it is kept).
    """
    v = x.double()
    q = torch.round(v * per_unit) / per_unit
    q = torch.where(torch.isinf(q) & torch.isfinite(v), v.detach(), q)
    return q.to(x.dtype)


def pow2_shift(x: torch.Tensor | float) -> torch.Tensor:
    """The power of two nearest to ``x`` in log scale: ``2^round(log2 x)`` (float64, exponent kept finite)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return 2.0 ** torch.round(torch.log2(x)).clamp(-1074, 1023)


def pow2_normalise(x: torch.Tensor) -> torch.Tensor:
    """``x / shift(max|x|)`` in float64: peak within [1/√2, √2] (up to 2 above 2^1023.5); all zeros stay zeros.

    float64 keeps the shift of a huge float32 peak (2^128 overflows float32) and of a subnormal one exact.
    NaN in ``x`` gives NaN everywhere; an infinity stays infinite (the shift stops at 2^1023). No device sync.
    """
    v = x.detach().double()
    if v.numel() == 0:
        return v
    return v / pow2_shift(v.abs().amax())  # a zero peak shifts by 2^-1074: 0 / 2^-1074 = 0


def quant_error(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Backward errors: scale by the power of two of ``max|x|``, clip and quantise to ``bits``."""
    return wage_quant(wage_clip(pow2_normalise(x), bits), bits).to(x.dtype)


def quant_gradient(
    x: torch.Tensor, bits: int, rng_bits: int, lr_int: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Weight gradients: ``n = lr_int·x / shift(max|x|)``, stochastically rounded with an ``rng_bits`` RNG,
    then expressed in steps of ``2^−(b−1)``."""
    _check_bits(bits, 1, 32)
    n = (lr_int * pow2_normalise(x)).to(x.dtype)
    rounded = stochastic_round(n.abs(), rng_bits=rng_bits, generator=generator)
    return torch.sign(n) * rounded / 2.0 ** (bits - 1)


def memory_bits(sizes: dict[str, int], bits: dict[str, int], default_bits: int = 32) -> int:
    """Σ elements × bits over named tensors (weights, states, errors, gradients): a memory footprint."""
    return int(sum(n * bits.get(name, default_bits) for name, n in sizes.items()))

"""Fake quantisers of the research seeds (torch, straight-through gradients).

- :func:`symmetric` — per-tensor symmetric n-bit weights with a float scale (seed 3, Brevitas'
  narrow-range default): ``q = clamp(round(x / s), ±(2^(b−1) − 1)) · s``, ``s = max|x| / (2^(b−1) − 1)``.
- :func:`fixed_point` — signed fixed point with ``word`` bits of which ``frac`` are fractional
  (seed 0, qtorch's ``FixedPoint(wl, fl)``), nearest or stochastic rounding, optional zero gradient
  where the value was clamped.
- :func:`stochastic_round` — unbiased rounding, optionally driven by an RNG of only ``rng_bits`` bits
  (seed 1's "gradient RNG bits").
- The WAGE family of seed 1: :func:`wage_clip`, :func:`wage_quant`, :func:`quant01`, :func:`quant11`,
  :func:`pow2_shift`, :func:`quant_error`, :func:`quant_gradient`.

The chip-exact int8/int16 quantiser with one shared scale per layer is :mod:`qsnn_deploy.quant.fake`.
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
    """Per-tensor symmetric n-bit fake quantisation (narrow range, round to nearest, STE)."""
    _check_bits(bits, 2, 16)
    levels = 2 ** (bits - 1) - 1
    scale = x.detach().abs().max() / levels
    if float(scale) == 0:
        return x
    q = torch.clamp(torch.round(x.detach() / scale), -levels, levels) * scale
    return straight_through(x, q)


def stochastic_round(x: torch.Tensor, rng_bits: int | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Round down or up with probability given by the fraction (unbiased), no gradient.

    With ``rng_bits`` the fraction and the uniform draw are both cut to that many bits and the value
    rounds up when ``frac ≥ u`` (seed 1's rule; unbiased up to the ``2^-rng_bits`` resolution).
    """
    x = x.detach()
    low = torch.floor(x)
    frac = x - low
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype if x.is_floating_point()
                   else torch.float32)
    if rng_bits is None:
        return low + (u < frac).to(x.dtype)
    _check_bits(rng_bits, 1, 24, "RNG bits")
    step = 2.0 ** rng_bits
    frac_q = torch.floor(frac * step)
    u_q = torch.floor(u * step)
    return low + ((frac_q > u_q) | ((frac_q == u_q) & (frac_q > 0))).to(x.dtype)


def fixed_point(x: torch.Tensor, word: int, frac: int, rounding: str = "nearest", clamp_grad_zero: bool = True,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Signed fixed point Q(word − frac).frac: step ``2^-frac``, range ``[−2^(word−frac−1), 2^(word−frac−1) − step]``."""
    _check_bits(word, 2, 32)
    if not 0 <= frac < word:
        raise UsageError(f"fractional bits must be in 0..{word - 1}, got {frac}")
    if rounding not in ("nearest", "stochastic"):
        raise UsageError(f"rounding must be 'nearest' or 'stochastic', got {rounding!r}")
    step = 2.0 ** -frac
    lo, hi = -(2.0 ** (word - frac - 1)), 2.0 ** (word - frac - 1) - step
    scaled = x.detach() / step
    q = torch.round(scaled) if rounding == "nearest" else stochastic_round(scaled, generator=generator)
    q = torch.clamp(q * step, lo, hi)
    out = straight_through(x, q)
    if clamp_grad_zero:
        inside = ((x >= lo) & (x <= hi)).to(x.dtype)
        out = q + (x - x.detach()) * inside
    return out


# --- seed 1: WAGE-style integer quantisation ---------------------------------------------------


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
    step = 2.0 ** (bits - 1)
    return torch.round(x * step) / step


def quant01(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ``round(x·2^b) / 2^b`` for traces normalised to [0, 1]."""
    _check_bits(bits, 1, 32)
    return torch.round(x * 2.0 ** bits) / 2.0 ** bits


def quant11(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Signed ``round(x·(2^(b−1) − 1)) / (2^(b−1) − 1)`` for values in [−1, 1]."""
    _check_bits(bits, 2, 32)
    levels = 2.0 ** (bits - 1) - 1
    return torch.round(x * levels) / levels


def pow2_shift(x: torch.Tensor | float) -> torch.Tensor:
    """The power of two nearest to ``x`` in log scale: ``2^round(log2 x)``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return 2.0 ** torch.round(torch.log2(x))


def quant_error(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Backward errors: scale by the power of two of ``max|x|``, clip and quantise to ``bits``."""
    peak = x.detach().abs().max()
    if float(peak) == 0:
        return x.detach()
    alpha = pow2_shift(peak).to(x.dtype)
    return wage_quant(wage_clip(x.detach() / alpha, bits), bits)


def quant_gradient(x: torch.Tensor, bits: int, rng_bits: int, lr_int: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Weight gradients: ``n = lr_int·x / shift(max|x|)``, stochastically rounded with an ``rng_bits`` RNG,
    then expressed in steps of ``2^−(b−1)``."""
    _check_bits(bits, 1, 32)
    peak = x.detach().abs().max()
    if float(peak) == 0:
        return torch.zeros_like(x)
    n = lr_int * x.detach() / pow2_shift(peak).to(x.dtype)
    rounded = stochastic_round(n.abs(), rng_bits=rng_bits, generator=generator)
    return torch.sign(n) * rounded / 2.0 ** (bits - 1)


def memory_bits(sizes: dict[str, int], bits: dict[str, int], default_bits: int = 32) -> int:
    """Σ elements × bits over named tensors (weights, states, errors, gradients): a memory footprint."""
    return int(sum(n * bits.get(name, default_bits) for name, n in sizes.items()))

"""Fake quantisation in torch with straight-through gradients, matching :mod:`.chip` exactly."""

from __future__ import annotations

import torch

from .chip import SPECK_STATE_BITS, SPECK_WEIGHT_BITS, int_range


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest (ties to even) forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def range_scale_t(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Torch twin of :func:`qsnn_deploy.quant.chip.range_scale` (no gradient flows through it).

    Computed in float64 so that the scale equals the numpy one bit for bit, ``inf`` for all-zero, empty
    or subnormal-small values alike. NaN propagates into the scale instead of raising, as in
    :func:`qsnn_deploy.quant.quantizers.symmetric`: this runs in every training forward, so it reads nothing
    back to the host (no device sync); the loss shows a diverged run, and the numpy discretiser refuses
    NaN at convert time.
    """
    v = values.detach().double()
    if v.numel() == 0:
        return torch.full((), float("inf"), dtype=torch.float64, device=v.device)
    vmin, vmax = v.min(), v.max()
    lo, hi = (torch.full_like(vmax, float(b)) for b in int_range(bits))  # filled on the device: no copy
    # true division (a python scalar over a tensor would multiply by the reciprocal and differ in the last bit)
    pos = torch.where(vmax == 0, torch.full_like(vmax, float("inf")), (hi / vmax).abs())
    return torch.where(vmin.abs() <= vmax.abs() * (lo / hi).abs(), pos, (lo / vmin).abs())


def chip_scale_t(
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    threshold: torch.Tensor,
    lower: torch.Tensor,
    weight_bits: int = SPECK_WEIGHT_BITS,
) -> torch.Tensor:
    """Shared per-layer scale (float64 scalar tensor), as the chip discretiser picks it.

    ``weight_bits`` < 8 keeps weights and bias in that narrower signed range (still valid int8).
    """
    scales = [
        range_scale_t(weight, weight_bits),
        range_scale_t(torch.stack([lower.double(), threshold.double()]), SPECK_STATE_BITS),
    ]
    if bias is not None:
        scales.append(range_scale_t(bias, weight_bits))
    return torch.stack(scales).min()

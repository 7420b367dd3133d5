"""Speck/DynapCNN discretisation: one shared scale per layer (numpy, no torch).

The rule (the same as sinabs' ``backend/dynapcnn/discretize.py``): find the largest scale that keeps
the weights and the bias in int8 and the pair (lower bound, threshold) in int16, take the smallest of
those, multiply every parameter by it and round to nearest (ties to even, like ``torch.round``).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..ir import ChipLayer, Network
from .scale import ratio_to

WEIGHT_BITS = 8
STATE_BITS = 16


def int_range(bits: int) -> tuple[int, int]:
    """Signed integer range [lo, hi] of a two's-complement word."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def range_scale(values: np.ndarray, bits: int) -> float:
    """Largest factor that maps ``values`` into the signed ``bits`` range.

    The negative side may use one more step than the positive one. All-zero (or empty) values give
    ``inf`` (they do not limit the scale), and so do values so small that the factor overflows
    float64. ``ValueError`` if a value is NaN or infinite: callers refuse those first with an
    :class:`InputError` naming the layer (:func:`discretize_layer`), so here it is a bug.
    """
    lo, hi = int_range(bits)
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("inf")
    vmin, vmax = float(v.min()), float(v.max())
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        raise ValueError(f"values to discretise hold NaN or infinite values ({vmin} to {vmax})")
    if abs(vmin) <= abs(vmax) * abs(lo / hi):
        return ratio_to(hi, vmax)
    return ratio_to(lo, vmin)


@dataclass(frozen=True)
class LayerScale:
    """The scale of one layer and which quantity fixed it."""

    scale: float
    limited_by: str  # "weight", "bias" or "threshold"


def layer_scale(
    weight: np.ndarray,
    bias: np.ndarray | None,
    threshold: float,
    min_v_mem: float,
    weight_bits: int = WEIGHT_BITS,
    state_bits: int = STATE_BITS,
) -> LayerScale:
    """Shared scale of a conv + IAF pair."""
    candidates = {
        "weight": range_scale(weight, weight_bits),
        "bias": range_scale(np.zeros(1) if bias is None else bias, weight_bits),
        "threshold": range_scale(np.array([min_v_mem, threshold]), state_bits),
    }
    name = min(candidates, key=candidates.get)
    return LayerScale(candidates[name], name)


def discretize_layer(layer: ChipLayer, zero_share_warn: float = 0.5) -> ChipLayer:
    """Return the layer with integer parameters and its scale set.

    Warns when the lower bound collapses the scale (so that the weights use only a few levels) or
    when more than ``zero_share_warn`` of the non-zero weights round to zero.
    """
    if layer.quantized:
        return layer
    lower = layer.lower_bound
    for what, values in (
        ("weights", layer.weight),
        ("bias", layer.bias),
        ("threshold", layer.threshold),
        ("lower membrane bound", lower),
    ):
        if values is not None and not np.all(np.isfinite(values)):
            raise InputError(
                f"layer {layer.name}: its {what} hold NaN or infinite values, which have no integer on the chip",
                where=f"layer {layer.name}",
                fix="check the checkpoint or NIR file (a diverged training run writes NaN)",
            )
    ls = layer_scale(layer.weight, layer.bias, layer.threshold, lower, weight_bits=layer.weight_bits)
    s = ls.scale
    if not np.isfinite(s):
        raise InputError(
            f"layer {layer.name}: threshold {layer.threshold:g}, lower bound {lower:g} and weights "
            "are all too small for a finite chip scale (it overflows float64)",
            where=f"layer {layer.name}",
            fix="express the layer's parameters in larger units",
        )
    w = np.round(layer.weight * s)
    b = None if layer.bias is None else np.round(layer.bias * s)
    thr = float(np.round(layer.threshold * s))
    low = float(np.round(lower * s))
    nonzero = layer.weight != 0
    if nonzero.any() and layer.weight_bits >= 6:  # at fewer bits many zeros are the point
        zero_share = float(((w == 0) & nonzero).sum() / nonzero.sum())
        if zero_share > zero_share_warn:
            warnings.warn(
                f"layer {layer.name}: {zero_share:.0%} of its non-zero weights round to zero on the "
                f"chip (scale {s:.4g}, limited by the {ls.limited_by}); raise weight magnitudes "
                f"relative to the threshold or train with quantisation-aware training",
                stacklevel=2,
            )
    if ls.limited_by == "threshold" and np.abs(w).max(initial=0) < 2 ** (WEIGHT_BITS - 3):
        warnings.warn(
            f"layer {layer.name}: the threshold/lower bound ({layer.threshold:g}/{lower:g}) fix the "
            f"scale, so weights use at most {int(np.abs(w).max(initial=0))} of 127 levels; use a "
            f"lower bound closer to -threshold",
            stacklevel=2,
        )
    if thr < 1:
        thr = 1.0
    return layer.replace(weight=w, bias=b, threshold=thr, min_v_mem=low, scale=s)


def discretize_network(net: Network) -> Network:
    """Discretise every layer with its own shared scale; metadata records the scales."""
    layers = tuple(discretize_layer(layer) for layer in net.layers)
    meta = dict(net.metadata)
    meta["weight_bits"], meta["state_bits"] = max(layer.weight_bits for layer in layers), STATE_BITS
    return dataclasses.replace(net, layers=layers, metadata=meta)

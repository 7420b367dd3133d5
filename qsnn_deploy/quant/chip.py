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

from ..ir import ChipLayer, Network

WEIGHT_BITS = 8
STATE_BITS = 16


def int_range(bits: int) -> tuple[int, int]:
    """Signed integer range [lo, hi] of a two's-complement word."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def range_scale(values: np.ndarray, bits: int) -> float:
    """Largest factor that maps ``values`` into the signed ``bits`` range.

    The negative side may use one more step than the positive one. All-zero values give ``inf``
    (they do not limit the scale).
    """
    lo, hi = int_range(bits)
    v = np.asarray(values, dtype=np.float64)
    vmin, vmax = float(v.min()), float(v.max())
    if abs(vmin) <= abs(vmax) * abs(lo / hi):
        return float("inf") if vmax == 0 else abs(hi / vmax)
    return abs(lo / vmin)


@dataclass(frozen=True)
class LayerScale:
    """The scale of one layer and which quantity fixed it."""

    scale: float
    limited_by: str  # "weight", "bias" or "threshold"


def layer_scale(weight: np.ndarray, bias: np.ndarray | None, threshold: float, min_v_mem: float,
                weight_bits: int = WEIGHT_BITS, state_bits: int = STATE_BITS) -> LayerScale:
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
    ls = layer_scale(layer.weight, layer.bias, layer.threshold, lower, weight_bits=layer.weight_bits)
    s = ls.scale
    w = np.round(layer.weight * s)
    b = None if layer.bias is None else np.round(layer.bias * s)
    thr = float(np.round(layer.threshold * s))
    low = float(np.round(lower * s))
    nonzero = layer.weight != 0
    if nonzero.any() and layer.weight_bits >= 6:  # at fewer bits many zeros are the point
        zero_share = float(((w == 0) & nonzero).sum() / nonzero.sum())
        if zero_share > zero_share_warn:
            warnings.warn(f"layer {layer.name}: {zero_share:.0%} of its non-zero weights round to zero on the "
                          f"chip (scale {s:.4g}, limited by the {ls.limited_by}); raise weight magnitudes "
                          f"relative to the threshold or train with quantisation-aware training", stacklevel=2)
    if ls.limited_by == "threshold" and np.abs(w).max(initial=0) < 2 ** (WEIGHT_BITS - 3):
        warnings.warn(f"layer {layer.name}: the threshold/lower bound ({layer.threshold:g}/{lower:g}) fix the "
                      f"scale, so weights use at most {int(np.abs(w).max(initial=0))} of 127 levels; use a "
                      f"lower bound closer to -threshold", stacklevel=2)
    if thr < 1:
        thr = 1.0
    return layer.replace(weight=w, bias=b, threshold=thr, min_v_mem=low, scale=s)


def discretize_network(net: Network) -> Network:
    """Discretise every layer with its own shared scale; metadata records the scales."""
    layers = tuple(discretize_layer(layer) for layer in net.layers)
    meta = dict(net.metadata)
    meta["weight_bits"], meta["state_bits"] = max(layer.weight_bits for layer in layers), STATE_BITS
    return dataclasses.replace(net, layers=layers, metadata=meta)

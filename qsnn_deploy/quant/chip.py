"""Speck/DynapCNN discretisation: one shared scale per layer (numpy, no torch). The one discretiser:
``convert``, ``estimate``, the emulator and the chip backend all call :func:`discretize_network`.

The rule (the same as sinabs' ``backend/dynapcnn/discretize.py``): find the largest scale that keeps
the weights and the bias in int8 and the pair (lower bound, threshold) in int16, take the smallest of
those, multiply every parameter by it and round to nearest (ties to even, like ``torch.round``).

The widths are the chip's: a target's profile gives them (``numerics.weight_bits`` / ``numerics.state_bits``
in ``hw_profiles/*.yaml``). This package sits below ``hw`` and does not read profiles, so the widths are
parameters; callers that know the target pass its profile's (``convert.bundle.chip_widths``). A layer's own
``weight_bits`` (2..8, from quantisation-aware training) narrows the weight width further.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..ir import ChipLayer, Network
from .scale import ratio_to

# Speck's and DYNAP-CNN's widths, the defaults where no profile is at hand (the emulator emulates Speck):
# hw_profiles/speck2f.yaml numerics, from sinabs' DYNAPCNN_WEIGHT_PRECISION_BITS / DYNAPCNN_STATE_PRECISION_BITS.
SPECK_WEIGHT_BITS = 8  # int8 weights and bias
SPECK_STATE_BITS = 16  # int16 membrane state, threshold and lower bound


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
    weight_bits: int = SPECK_WEIGHT_BITS,
    state_bits: int = SPECK_STATE_BITS,
) -> LayerScale:
    """Shared scale of a conv + IAF pair."""
    candidates = {
        "weight": range_scale(weight, weight_bits),
        "bias": range_scale(np.zeros(1) if bias is None else bias, weight_bits),
        "threshold": range_scale(np.array([min_v_mem, threshold]), state_bits),
    }
    name = min(candidates, key=lambda k: candidates[k])
    return LayerScale(candidates[name], name)


def discretize_layer(
    layer: ChipLayer,
    zero_share_warn: float = 0.5,
    weight_bits: int = SPECK_WEIGHT_BITS,
    state_bits: int = SPECK_STATE_BITS,
) -> ChipLayer:
    """Return the layer with integer parameters and its scale set.

    ``weight_bits``/``state_bits``: the chip's widths (its profile's ``numerics``); the weights and bias use
    the narrower of the chip's width and the layer's own ``weight_bits``, which the result records.
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
    bits = min(layer.weight_bits, weight_bits)
    ls = layer_scale(layer.weight, layer.bias, layer.threshold, lower, weight_bits=bits, state_bits=state_bits)
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
    if nonzero.any() and bits >= 6:  # at fewer bits many zeros are the point
        zero_share = float(((w == 0) & nonzero).sum() / nonzero.sum())
        if zero_share > zero_share_warn:
            warnings.warn(
                f"layer {layer.name}: {zero_share:.0%} of its non-zero weights round to zero on the "
                f"chip (scale {s:.4g}, limited by the {ls.limited_by}); raise weight magnitudes "
                f"relative to the threshold or train with quantisation-aware training",
                stacklevel=2,
            )
    if ls.limited_by == "threshold" and np.abs(w).max(initial=0) < 2 ** (weight_bits - 3):
        warnings.warn(
            f"layer {layer.name}: the threshold/lower bound ({layer.threshold:g}/{lower:g}) fix the "
            f"scale, so weights use at most {int(np.abs(w).max(initial=0))} of {int_range(weight_bits)[1]} "
            f"levels; use a lower bound closer to -threshold",
            stacklevel=2,
        )
    if thr < 1:
        thr = 1.0
    return layer.replace(weight=w, bias=b, threshold=thr, min_v_mem=low, scale=s, weight_bits=bits)


def discretize_network(
    net: Network,
    zero_share_warn: float = 0.5,
    weight_bits: int = SPECK_WEIGHT_BITS,
    state_bits: int = SPECK_STATE_BITS,
) -> Network:
    """Discretise every layer with its own shared scale (:func:`discretize_layer`); a network that is
    already discretised comes back unchanged.

    The metadata records the widths used: ``weight_bits`` the widest any layer's weights use (the layers
    carry their own), ``state_bits`` the chip's. Warnings as :func:`discretize_layer` issues them.
    """
    if net.quantized:
        return net
    layers = tuple(discretize_layer(layer, zero_share_warn, weight_bits, state_bits) for layer in net.layers)
    meta = net.metadata.copy()
    meta["weight_bits"], meta["state_bits"] = max(layer.weight_bits for layer in layers), state_bits
    return dataclasses.replace(net, layers=layers, metadata=meta)


def discretize_with_warnings(
    net: Network,
    zero_weight_warn: float = 0.5,
    weight_bits: int = SPECK_WEIGHT_BITS,
    state_bits: int = SPECK_STATE_BITS,
) -> tuple[Network, list[str]]:
    """:func:`discretize_network`, with its warnings collected (each names its layer) instead of issued.

    ``zero_weight_warn``: warn when more than this share of a layer's non-zero weights round to zero.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qnet = discretize_network(net, zero_weight_warn, weight_bits, state_bits)
    return qnet, [str(w.message) for w in caught]

"""Weight-scaling baselines for SynOp reduction (SynOpLoss), applied to a trained SNN.

- :func:`scale_first_layer`: multiply the first layer's weights by a factor < 1 (fewer input-driven
  spikes, hence fewer SynOps downstream; SynOpLoss' "naive" baseline).
- :func:`percentile_normalise`: Rueckauer et al.'s robust normalisation, layer by layer: divide each
  layer's weights (and bias) by the ``percentile`` of its positive input drive per time bin over
  calibration data, measured after the layers before it have been normalised, so that drive maps
  to the threshold. Lower percentiles mean larger weights and more spikes.

Both return a modified copy; the original model is untouched.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, UsageError
from ..nets.network import SpikingCNN
from ..quant.scale import usable_divisor


def scale_first_layer(model: SpikingCNN, factor: float) -> SpikingCNN:
    """A copy with the first layer's weights and bias × ``factor``."""
    if not factor > 0:
        raise UsageError(f"the first-layer factor must be positive, got {factor}")
    out = copy.deepcopy(model)
    with torch.no_grad():
        conv = out.chip_blocks[0].conv
        conv.weight.mul_(factor)
        if conv.bias is not None:
            conv.bias.mul_(factor)
    return out


@torch.no_grad()
def _drive(model: SpikingCNN, index: int, frames: torch.Tensor, batch_size: int) -> np.ndarray:
    """Positive input currents per time bin (in threshold units) of block ``index`` over ``frames``."""
    values = []
    for start in range(0, len(frames), batch_size):
        x = model.block_input(frames[start : start + batch_size], index)
        block = model.chip_blocks[index]
        w, b, thr, _ = block.params(model.quantize)
        current = (F.conv2d(x.flatten(0, 1), w, b, stride=block.stride, padding=block.padding) / thr).flatten().numpy()
        values.append(current[current > 0])
    return np.concatenate(values) if values else np.zeros(0)


@torch.no_grad()
def percentile_normalise(
    model: SpikingCNN, frames: torch.Tensor, percentile: float = 99.99, batch_size: int = 64
) -> tuple[SpikingCNN, list[float]]:
    """A copy whose layers are normalised one after the other; returns it and the λ of each layer.

    Raises :class:`InputError` naming the layer when the model's drive on ``frames`` overflows (NaN or
    infinite) or when dividing by a tiny λ would leave infinite weights.
    """
    if not 0 < percentile <= 100:
        raise UsageError(f"the percentile must be in (0, 100], got {percentile}")
    out = copy.deepcopy(model).eval()
    lambdas = []
    for i, block in enumerate(out.chip_blocks):
        drive = _drive(out, i, frames, batch_size)
        name = block.name
        if not np.all(np.isfinite(drive)):
            raise InputError(
                f"the input drive of layer '{name}' overflows (NaN or infinite) on the calibration frames",
                where=f"layer {name}",
                fix="check the model's weights (a diverged training run?) and the calibration data",
            )
        lam = usable_divisor(float(np.percentile(drive, percentile)) if drive.size else 1.0, f"λ of layer '{name}'")
        for p in (block.conv.weight, block.conv.bias):
            if p is not None:  # in float64, then checked: a subnormal λ must not leave infinite float32 weights
                p.copy_(p.double() / lam)
                if not torch.isfinite(p).all():
                    raise InputError(
                        f"dividing the weights of layer '{name}' by its activation percentile "
                        f"λ = {lam:.4g} overflows {p.dtype}",
                        where=f"layer {name}",
                        fix="calibrate on frames that drive this layer, or use a higher percentile",
                    )
        lambdas.append(lam)
    return out, lambdas

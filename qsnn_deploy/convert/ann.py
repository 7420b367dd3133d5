"""ANN → SNN conversion with weight scaling (Rueckauer et al. 2017, as in SynOpLoss).

A ReLU CNN becomes an IAF network with the same weights: each ReLU becomes integrate-and-fire
neurons (threshold 1, subtract reset, lower bound −1), average pooling becomes sum pooling (next
weights / k²). Before that the weights are normalised so that each layer's activations fit the
threshold: with λ_l the ``percentile`` (99.99 by default) of the positive outputs of layer l over
calibration data, W_l ← W_l·λ_{l−1}/λ_l and b_l ← b_l/λ_l (λ_0 = 1); then the first layer's weights
are multiplied by ``first_layer_scale`` (more input drive, more spikes; sinabs' docs suggest 2–10).

What the ANN sees: one frame of *mean event counts per time bin* (the raster averaged over T), so
that a neuron's spikes per bin in the SNN approximate its normalised ANN activation.

``percentile=None`` (``convert --no-weight-scaling``) skips the scaling: the weights and biases go to
the chip as trained, with threshold 1. This is for ANNs trained with integer (floor) activations on
whole-window event counts (:mod:`qsnn_deploy.train.ann_synop`), whose activations already are the
spike counts of IAF neurons with threshold 1 and subtract reset. Such an ANN counts ⌊total drive⌋,
which the SNN reproduces only if the membrane is not clipped (SynOpLoss converts with no lower
bound), so these layers get a lower bound of −2**14 chip units at the scale their weights set (far
below what the drive reaches, and it does not lower that scale; :func:`unscaled_lower_bound`)
instead of −threshold.

The ANN file format for ``convert --from-ann``: a state dict (``torch.save(model.state_dict())``,
read with ``weights_only=True``) of the module :func:`ann_from_spec` builds from a model YAML.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError, UsageError
from ..ir import Network, NetworkMetadata
from ..nets.zoo import ModelSpec
from ..progress import ProgressMode
from ..quant.chip import SPECK_WEIGHT_BITS, range_scale
from ..quant.scale import usable_divisor
from .from_torch import chain_modules, module_ops
from .ops import Neurons, Synapse, assemble


def ann_from_spec(spec: ModelSpec) -> nn.Sequential:
    """The ReLU CNN of a zoo model: conv → ReLU → [AvgPool] per layer, Flatten → Linear for linear
    layers; the last layer has no ReLU. Module names are the layer names (``conv1``, ``conv1_relu``...).
    A graph model (a layer with ``inputs:``) is refused: this ANN is a chain."""
    if not spec.is_chain:
        raise UsageError(
            f"model '{spec.name}' is a graph (its layers name their inputs), and the ANN path builds chains only",
            fix=f"train it with BPTT (qsnn-deploy train --model {spec.name}) and convert its checkpoint",
        )
    mods: dict[str, nn.Module] = {}
    for i, (layer, (c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
        last = i == len(spec.layers) - 1
        if layer.type == "linear":
            mods[f"{layer.name}_flatten"] = nn.Flatten()
            mods[layer.name] = nn.Linear(c * h * w, layer.out_channels, bias=layer.bias)
        else:
            mods[layer.name] = nn.Conv2d(
                c, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, bias=layer.bias
            )
        if not last:
            mods[f"{layer.name}_relu"] = nn.ReLU()
        if layer.type == "conv" and layer.pool > 1:
            mods[f"{layer.name}_pool"] = nn.AvgPool2d(layer.pool)
    return nn.Sequential(OrderedDict(mods))


def load_ann(spec: ModelSpec, path: str | Path) -> nn.Sequential:
    """The ANN of ``spec`` with the weights of a state-dict file (never executes code from it)."""
    from ..nets.checkpoint import read_torch_file

    path = Path(path)
    state = read_torch_file(
        path,
        "state dict",
        "save them with torch.save(model.state_dict(), path)",
        "the file may be truncated or corrupt; save it again",
    )
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"'{path}' is not a state dict of tensors", fix="save model.state_dict()")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise InputError(
                f"the ANN's tensor '{key}' holds NaN or infinite values, which have no integer on the chip",
                where=f"{path}, layer {str(key).split('.')[0]}",
                fix="the file is damaged or the ANN diverged in training; save it again from a run "
                "whose loss stayed finite",
            )
    model = ann_from_spec(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise InputError(
            f"'{path}' does not fit the ANN of model '{spec.name}': {first[0].strip()}",
            fix=f"expected keys: {', '.join(model.state_dict())}",
        ) from None
    return model


@dataclass
class ScalingReport:
    """What weight scaling measured and applied, per parameter layer."""

    percentile: float | None  # None: no scaling (weights as trained)
    first_layer_scale: float
    layers: list[str] = field(default_factory=list)
    lambdas: list[float] = field(default_factory=list)  # activation percentile per layer
    factors: list[float] = field(default_factory=list)  # weight factor λ_{l−1}/λ_l (× first-layer scale)

    def lines(self) -> list[str]:
        if self.percentile is None:
            return [f"'{n}': weights × {f:.4g}" for n, f in zip(self.layers, self.factors) if f != 1.0]
        return [
            f"'{n}': activation p{self.percentile:g} = {lam:.4g}, weights × {f:.4g}"
            for n, lam, f in zip(self.layers, self.lambdas, self.factors)
        ]


def _param_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear, nn.Module]]:
    """(name, conv/linear, the module whose output is its activation: its ReLU, or itself if last)."""
    chain = [(n, m) for n, m in chain_modules(model) if isinstance(m, nn.Module)]
    out: list[tuple[str, nn.Conv2d | nn.Linear, nn.Module]] = []
    for i, (name, m) in enumerate(chain):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            act: nn.Module = m
            for _, later in chain[i + 1 :]:
                if isinstance(later, (nn.Conv2d, nn.Linear)):
                    break
                if isinstance(later, nn.ReLU):
                    act = later
                    break
            out.append((name, m, act))
    if not out:
        raise InputError("the ANN has no Conv2d or Linear layer")
    return out


@torch.no_grad()
def activation_percentiles(
    model: nn.Module, calibration: torch.Tensor, percentile: float = 99.99, batch_size: int = 64
) -> list[float]:
    """λ per parameter layer: the ``percentile`` of its positive activations over ``calibration`` (N, C, H, W)."""
    layers = _param_layers(model)
    acts: list[list[np.ndarray]] = [[] for _ in layers]

    def keep(i: int):
        def hook(_module, _inputs, out):
            values = out.detach().flatten().numpy()
            acts[i].append(values[values > 0])

        return hook

    hooks = [act.register_forward_hook(keep(i)) for i, (_, _, act) in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(calibration), batch_size):
            model(calibration[start : start + batch_size].float())
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    lambdas = []
    for (name, _, _), values in zip(layers, acts):
        v = np.concatenate(values) if values else np.zeros(0)
        if v.size and not np.all(np.isfinite(v)):
            raise InputError(
                f"the activations of '{name}' overflow on the calibration data (NaN or infinite)",
                where=f"layer {name}",
                fix="check the ANN's weights (a diverged training run?)",
            )
        lambdas.append(float(np.percentile(v, percentile)) if v.size else 1.0)
    return lambdas


def scale_weights(model: nn.Module, lambdas: list[float], first_layer_scale: float = 1.0) -> nn.Module:
    """A copy of ``model`` with W_l·λ_{l−1}/λ_l, b_l/λ_l and the first layer's weights × ``first_layer_scale``."""
    scaled = copy.deepcopy(model)
    for (name, m, _), factor, lam in zip(_param_layers(scaled), _factors(lambdas, first_layer_scale), lambdas):
        with torch.no_grad():  # in float64, then checked: a tiny λ must not leave infinite float32 weights
            m.weight.copy_(m.weight.double() * factor)
            if m.bias is not None:
                m.bias.copy_(m.bias.double() / usable_divisor(lam, f"λ of '{name}'"))
            if not (torch.isfinite(m.weight).all() and (m.bias is None or torch.isfinite(m.bias).all())):
                raise InputError(
                    f"scaling the weights of '{name}' by {factor:.4g} (activation percentile "
                    f"{lam:.4g}) overflows {m.weight.dtype}",
                    where=f"layer {name}",
                    fix="calibrate on data that drives this layer, or convert with --no-weight-scaling",
                )
    return scaled


def _factors(lambdas: list[float], first_layer_scale: float) -> list[float]:
    """Weight factor per layer, λ_{l−1}/λ_l (× ``first_layer_scale`` for the first); a zero λ counts as 1."""
    factors, prev = [], 1.0
    for i, lam in enumerate(lambdas):
        lam = usable_divisor(lam, f"the activation percentile of layer {i}")
        factors.append(prev / lam * (first_layer_scale if i == 0 else 1.0))
        prev = lam
    return factors


UNSCALED_LOWER_WORD = -(2**14)  # chip units; the other half of the int16 range is headroom for currents


def unscaled_lower_bound(weight, bias=None, threshold: float = 1.0) -> float:
    """Lower membrane bound of a layer converted without scaling: −2**14 chip units at the scale its
    weights and bias set (so that the bound never lowers that scale), and at most −threshold.

    ``weight``/``bias``: arrays or tensors as the chip layer gets them. Far below anything the layer
    reaches in practice, it keeps the subtract-reset neuron's spike count at ⌊max running drive⌋.
    NaN or infinite parameters (a diverging training run) bound nothing: −threshold; the chip discretiser
    refuses them at convert time with an error naming the layer, and :func:`load_ann` refuses such files.
    """
    w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    b = (
        None
        if bias is None
        else np.asarray(bias.detach().cpu() if isinstance(bias, torch.Tensor) else bias, dtype=np.float64)
    )
    if not (np.isfinite(w).all() and (b is None or np.isfinite(b).all())):
        return -threshold
    scale = range_scale(w, SPECK_WEIGHT_BITS)
    if b is not None:
        scale = min(scale, range_scale(b, SPECK_WEIGHT_BITS))
    if not np.isfinite(scale):
        return -threshold
    # weights beyond ~1e304 would put the bound below float64's range: keep it finite
    return min(-threshold, max(UNSCALED_LOWER_WORD / scale, -float(np.finfo(np.float64).max)))


def ann_to_network(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    calibration: torch.Tensor | None,
    percentile: float | None = 99.99,
    first_layer_scale: float = 1.0,
    threshold: float = 1.0,
    dt_us: float = 1000.0,
    metadata: NetworkMetadata | None = None,
) -> tuple[Network, ScalingReport]:
    """Scale a ReLU CNN's weights on ``calibration`` ANN inputs (N, C, H, W) and turn it into IAF layers.

    A last layer without ReLU gets IAF neurons too (its spike counts are the class scores).
    ``percentile=None``: no scaling, the weights as trained (``calibration`` is not used and may be None);
    ``first_layer_scale`` still applies.
    """
    if percentile is not None and not 0 < percentile <= 100:
        raise UsageError(f"--percentile must be in (0, 100], got {percentile}")
    if not first_layer_scale > 0:
        raise UsageError(f"--first-layer-scale must be positive, got {first_layer_scale}")
    if percentile is None:
        lambdas = [1.0] * len(_param_layers(model))
    elif calibration is None:
        raise UsageError(
            "weight scaling needs calibration data",
            fix="pass ANN inputs (N, C, H, W), or percentile=None to convert the weights as trained",
        )
    elif tuple(calibration.shape[1:]) != tuple(input_shape):
        raise InputError(
            f"calibration data of shape {tuple(calibration.shape[1:])} does not match the ANN input "
            f"{tuple(input_shape)}",
            fix="calibrate on the dataset the ANN was trained on",
        )
    else:
        lambdas = activation_percentiles(model, calibration, percentile)
    scaled = scale_weights(model, lambdas, first_layer_scale)
    ops, notes = module_ops(scaled, relu_threshold=threshold)
    layers = _param_layers(scaled)
    last_name = layers[-1][0]
    if ops and isinstance(ops[-1], Synapse):
        ops.append(Neurons(f"{last_name}_iaf", threshold, -threshold, "subtract"))
        notes.append(f"IAF output neurons added after '{last_name}' (their spike counts are the class scores)")
    names = [n for n, _, _ in layers]
    report = ScalingReport(percentile, first_layer_scale, names, lambdas, _factors(lambdas, first_layer_scale))
    if percentile is None:
        how = (
            f"lower bound {UNSCALED_LOWER_WORD} in chip units); weights as trained (no scaling), first layer × "
            f"{first_layer_scale:g}"
        )
    else:
        how = (
            f"lower bound {-threshold:g}); weights scaled by activation percentile {percentile:g}, first layer × "
            f"{first_layer_scale:g}"
        )
    notes = [f"ANN → SNN: ReLU → IAF (threshold {threshold:g}, subtract reset, {how}", *report.lines(), *notes]
    meta: NetworkMetadata = {
        "source_format": "ann",
        "percentile": percentile,
        "first_layer_scale": first_layer_scale,
        **(metadata or {}),
        "import_notes": notes,
    }
    net = assemble(ops, tuple(input_shape), dt_us, meta).network
    if percentile is None:
        net = dataclasses.replace(
            net,
            layers=tuple(
                layer.replace(min_v_mem=unscaled_lower_bound(layer.weight, layer.bias, layer.threshold))
                for layer in net.layers
            ),
        )
    return net, report


def calibration_frames(
    dataset: str, time_bins: int, samples: int, seed: int = 0, progress: ProgressMode = False
) -> tuple[torch.Tensor, float]:
    """ANN inputs (mean counts per bin, (N, C, H, W)) from the training split, and the bin width in µs."""
    from ..nets.framed import framed_split

    if samples < 1:
        raise UsageError("--calibration-samples must be >= 1")
    data = framed_split(dataset, "train", time_bins, seed=seed, progress=progress, limit=samples)
    return data.frames.mean(dim=1), data.duration_us / time_bins

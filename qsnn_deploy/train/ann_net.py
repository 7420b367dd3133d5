"""The floor-ReLU ANN of SynOpLoss' ANN mode and how it is scored: :class:`FloorReLUANN`, the readout
loss, the ANN's accuracy and SynOps, and the converted SNN on the chip emulator. :mod:`.ann_synop` trains it and
explains why the converted SNN matches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..emulate.pooling import sum_pool_t
from ..ir import Network, fanout_map
from ..nets.zoo import ModelSpec
from ..progress import ProgressMode

_THRESHOLD = 1.0  # of the converted IAF neurons
SILENT_SCORE = 1.0  # the readout's "no spike" score, in threshold units


class _FloorReLUFn(torch.autograd.Function):
    """⌊relu(x)⌋ (or relu(x)) forward, grad·(sign(x)+1)/2 backward (1 above 0, ½ at 0, 0 below)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, floor: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        y = torch.relu(x)
        return torch.floor(y) if floor else y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * (torch.sign(x) + 1) / 2, None


class FloorReLU(nn.Module):
    """SynOpLoss' NeuromorphicReLU: ``⌊relu(x)⌋`` with a straight-through gradient.

    ``floor=False`` gives relu(x) with the same gradient (the float ANN of SynOpLoss' ablation).
    """

    def __init__(self, floor: bool = True):
        super().__init__()
        self.floor = floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FloorReLUFn.apply(x, self.floor)

    def extra_repr(self) -> str:
        return f"floor={self.floor}"


@dataclass(frozen=True)
class _Core:
    """One chip core of the ANN: its weights' module name and geometry."""

    name: str
    kind: str  # "conv" or "linear"
    stride: int
    padding: int
    pool: int  # sum pooling after the activation
    in_pool: int  # pooling of the layer before: this layer's weights act on its sums, divided by in_pool²
    out_channels: int
    last: bool


@dataclass
class ANNOutput:
    """One forward pass: class scores and, per layer, SynOps and output activity (each (N,))."""

    logits: torch.Tensor  # (N, classes), in threshold units: the last layer's total membrane drive
    layer_synops: list[torch.Tensor]
    layer_spikes: list[torch.Tensor]  # integer activations summed per sample (after sum pooling)

    @property
    def synops(self) -> torch.Tensor:
        """SynOps per sample (N,)."""
        return torch.stack(self.layer_synops).sum(0)

    @property
    def counts(self) -> torch.Tensor:
        """Output spike counts the chip would emit over the window (N, classes)."""
        return torch.floor(torch.relu(self.logits.detach()))


class FloorReLUANN(nn.Module):
    """A zoo model's ANN twin with integer activations and a differentiable SynOp count.

    Input: event counts of the whole window (N, C, H, W). Parameters are registered under the layer
    names of the model YAML (``conv1.weight``...), exactly as :func:`~qsnn_deploy.convert.ann.ann_from_spec`.
    """

    def __init__(self, spec: ModelSpec, time_bins: int = 1, quantize_weights: bool = True, floor: bool = True):
        super().__init__()
        if time_bins < 1:
            raise ValueError(f"time_bins must be >= 1, got {time_bins}")
        self.spec, self.time_bins, self.quantize_weights = spec, int(time_bins), quantize_weights
        self.act = FloorReLU(floor)
        cores, prev_pool = [], 1
        for i, (layer, (c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
            last = i == len(spec.layers) - 1
            if layer.type == "linear":
                mod: nn.Module = nn.Linear(c * h * w, layer.out_channels, bias=layer.bias)
                fan = torch.full((h, w), float(layer.out_channels))
                core = _Core(layer.name, "linear", 1, 0, 1, prev_pool, layer.out_channels, last)
            else:
                mod = nn.Conv2d(c, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, bias=layer.bias)
                fan = torch.from_numpy(fanout_map((h, w), layer.kernel_size, layer.stride, layer.padding)).float()
                fan = fan * layer.out_channels
                core = _Core(
                    layer.name, "conv", layer.stride, layer.padding, layer.pool, prev_pool, layer.out_channels, last
                )
            if hasattr(self, layer.name):
                raise ValueError(f"layer name '{layer.name}' clashes with an attribute of the ANN; rename the layer")
            self.add_module(layer.name, mod)
            self.register_buffer(f"_fanout_{i}", fan, persistent=False)
            cores.append(core)
            prev_pool = layer.pool if layer.type == "conv" else 1
        self.cores = tuple(cores)

    def layer_params(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Layer ``i``'s weights for sum-pooled input, its bias per bin and threshold, all in one unit.

        With ``quantize_weights`` these are the chip's integers (the discretiser's scale for the
        converted layer, straight-through rounding); else the float weights and threshold 1.
        """
        core = self.cores[i]
        mod = getattr(self, core.name)
        w = mod.weight / (core.in_pool * core.in_pool)
        b = mod.bias
        if not self.quantize_weights:
            return w, b, torch.ones((), dtype=w.dtype, device=w.device)
        from ..convert.ann import unscaled_lower_bound
        from ..quant.fake import chip_scale_t, ste_round

        thr = torch.tensor(_THRESHOLD, dtype=torch.float64, device=w.device)
        low = torch.tensor(unscaled_lower_bound(w, b, _THRESHOLD), dtype=torch.float64, device=w.device)
        s = chip_scale_t(w, b, thr, low)
        wq = ste_round(w.double() * s).to(w.dtype)
        bq = None if b is None else ste_round(b.double() * s).to(b.dtype)
        return wq, bq, torch.round(thr * s).clamp_min(1).to(w.dtype)

    def run(self, x: torch.Tensor) -> ANNOutput:
        """Forward with the per-layer SynOps and activity. x: whole-window event counts (N, C, H, W)."""
        synops, spikes = [], []
        for i, core in enumerate(self.cores):
            fan = getattr(self, f"_fanout_{i}")
            synops.append((x.sum(1) * fan).sum((-1, -2)) if core.kind == "conv" else x.flatten(1).sum(1) * fan[0, 0])
            w, b, thr = self.layer_params(i)
            if core.kind == "linear":
                z = F.linear(x.flatten(1), w)
            else:
                z = F.conv2d(x, w, None, core.stride, core.padding)
            if b is not None:
                z = z + self.time_bins * (b.view(-1, 1, 1) if z.ndim == 4 else b)
            z = z / thr
            if core.last:
                spikes.append(torch.floor(torch.relu(z.detach())).flatten(1).sum(1))
                return ANNOutput(z.flatten(1), synops, spikes)
            x = self.act(z)
            x = sum_pool_t(x, core.pool, rounded=False)
            spikes.append(x.detach().flatten(1).sum(1))
        raise AssertionError("unreachable: the last core returns")  # pragma: no cover

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, classes) for whole-window event counts (N, C, H, W)."""
        return self.run(x).logits

    def to_network(self, dt_us: float = 1000.0, metadata: dict | None = None) -> Network:
        """The float chip network of these weights: ReLU → IAF (threshold 1, subtract reset), no scaling."""
        from ..convert.ann import ann_from_spec, ann_to_network

        plain = ann_from_spec(self.spec)
        plain.load_state_dict({k: v.detach().cpu() for k, v in self.state_dict().items()})
        net, _ = ann_to_network(
            plain,
            self.spec.input_shape,
            None,
            percentile=None,
            threshold=_THRESHOLD,
            dt_us=dt_us,
            metadata={"model": self.spec.name, "time_bins": self.time_bins, **(metadata or {})},
        )
        return net


def quantized_ann_from_spec(
    spec: ModelSpec, time_bins: int = 1, quantize_weights: bool = True, floor: bool = True
) -> FloorReLUANN:
    """The floor-ReLU ANN of a zoo model (see :class:`FloorReLUANN`); ``time_bins``: bins the bias is added over."""
    return FloorReLUANN(spec, time_bins, quantize_weights, floor)


def readout_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the class scores (N, classes) and a constant silent score :data:`SILENT_SCORE`."""
    silent = torch.full_like(logits[:, :1], SILENT_SCORE)
    return F.cross_entropy(torch.cat([logits, silent], 1), labels)


@torch.no_grad()
def evaluate_ann(
    model: FloorReLUANN,
    counts: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """ANN accuracy of its output counts (argmax of ⌊relu(score)⌋, first class on ties: the chip's
    readout), accuracy of the scores' argmax, mean SynOps and activity per sample, per layer."""
    was = model.training
    model.eval()
    count_correct = score_correct = 0
    syn = spk = None
    preds = []
    try:
        for i in range(0, len(labels), batch_size):
            out = model.run(counts[i : i + batch_size].to(device))
            y = labels[i : i + batch_size]
            score_correct += int((out.logits.argmax(1).cpu() == y).sum())
            p = out.counts.argmax(1).cpu()
            preds.append(p)
            count_correct += int((p == y).sum())
            s = torch.stack([v.sum() for v in out.layer_synops]).cpu().double()
            k = torch.stack([v.sum() for v in out.layer_spikes]).cpu().double()
            syn = s if syn is None else syn + s
            spk = k if spk is None else spk + k
    finally:
        model.train(was)
    n = max(len(labels), 1)
    return {
        "accuracy": count_correct / n,
        "score_accuracy": score_correct / n,
        "synops_per_sample": float(syn.sum()) / n if syn is not None else 0.0,
        "layer_synops": [float(v) / n for v in syn] if syn is not None else [],
        "layer_spikes": [float(v) / n for v in spk] if spk is not None else [],
        "predictions": torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64),
    }


def emulate_snn(
    net: Network, raster: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, progress: ProgressMode = False
) -> dict[str, Any]:
    """Discretise ``net`` (convert's rule) and run it on the chip emulator over rasters (N, T, C, H, W)."""
    from ..emulate.binned import run_binned
    from ..quant.chip import discretize_with_warnings

    qnet, warns = discretize_with_warnings(net)
    res = run_binned(qnet, raster.numpy() if isinstance(raster, torch.Tensor) else raster, progress=progress)
    y = np.asarray(labels)
    n = max(len(y), 1)
    return {
        "accuracy": float((res.predictions == y).mean()) if len(y) else 0.0,
        "synops_per_sample": float(res.layer_synops.sum()) / n,
        "layer_synops": [float(v) for v in res.layer_synops.mean(0)],
        "layer_spikes": [float(v) for v in res.layer_spikes.mean(0)],
        "predictions": res.predictions,
        "warnings": warns,
    }

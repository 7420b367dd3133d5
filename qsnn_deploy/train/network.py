"""The trainable spiking CNN built from a :class:`~qsnn_deploy.zoo.ModelSpec`.

Each block is one chip core: conv → integrate-and-fire (multi-spike, subtract or zero reset, lower
membrane bound) → sum pooling. With ``quantize=True`` (quantisation-aware training) a block runs in
the chip's integer units: weights ``round(w·s)``, threshold ``round(θ·s)`` and lower bound
``round(v_min·s)`` with the shared per-layer scale ``s`` of :mod:`qsnn_deploy.quant.chip`, and
straight-through gradients. Its spikes are then exactly those of the chip emulator. A layer's
``weight_bits`` (2..8) narrows the integer weight range (mixed precision); in float mode it gives
per-tensor symmetric n-bit weights instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ir import ChipLayer, Network, fanout_map
from ..quant.fake import chip_scale_t, ste_round
from ..quant.quantizers import symmetric
from ..zoo import ModelSpec


class MultiSpikeFn(torch.autograd.Function):
    """n = ⌊v/θ⌋ spikes for v ≥ θ (exact for integer-valued floats); periodic-exponential surrogate.

    The surrogate is the one of Weidel & Sheik (2021) with the width taken relative to the
    threshold, so that the float and integer-unit models get the same gradients.
    """

    @staticmethod
    def forward(ctx, v: torch.Tensor, thr: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(v, thr)
        ctx.width = width
        n = torch.floor(v / thr).clamp_min(0)
        n = n - (n * thr > v).to(v.dtype) + ((n + 1) * thr <= v).to(v.dtype)  # repair float division
        return n.clamp_min(0)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        v, thr = ctx.saved_tensors
        u = v / thr
        periodic = 2 * ((u - 0.5) - torch.floor(u - 0.5)) - 1
        dist = torch.where(u < 1, u - 1, periodic)
        grad = torch.exp(-dist.abs() / ctx.width) / thr
        return grad_out * grad, None, None


class ChipBlock(nn.Module):
    """conv → IAF → sum-pool, the work of one core."""

    def __init__(self, name: str, c_in: int, c_out: int, kernel: int, stride: int, padding: int, pool: int,
                 bias: bool, in_hw: tuple[int, int], kind: str, threshold: float, min_v_mem: float | None,
                 reset: str, surrogate_width: float = 0.5, weight_bits: int = 8):
        super().__init__()
        self.weight_bits = weight_bits  # 2..8: the signed range QAT (and the chip discretiser) use for weights
        self.name, self.kind, self.reset = name, kind, reset
        self.stride, self.padding, self.pool, self.in_hw = stride, padding, pool, in_hw
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.register_buffer("min_v_mem", torch.tensor(float(-threshold if min_v_mem is None else min_v_mem)))
        self.register_buffer("fanout", torch.from_numpy(fanout_map(in_hw, kernel, stride, padding)).float())
        self.min_v_mem_given = min_v_mem is not None
        self.surrogate_width = surrogate_width

    def params(self, quantize: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Weights, bias, threshold, lower bound as the forward uses them (integer units if quantised)."""
        w, b = self.conv.weight, self.conv.bias
        if not quantize:
            if self.weight_bits < 8:  # float model with n-bit weights: per-tensor symmetric (seed 3's setting)
                w = symmetric(w, self.weight_bits)
            return w, b, self.threshold, self.min_v_mem
        s = chip_scale_t(w, b, self.threshold, self.min_v_mem, self.weight_bits)
        wq = ste_round(w.double() * s).to(w.dtype)
        bq = None if b is None else ste_round(b.double() * s).to(b.dtype)
        thr = torch.round(self.threshold.double() * s).clamp_min(1).to(w.dtype)
        low = torch.round(self.min_v_mem.double() * s).to(w.dtype)
        return wq, bq, thr, low

    def synops(self, x: torch.Tensor) -> torch.Tensor:
        """Synaptic operations caused by input counts ``x`` (N, T, C, H, W), per sample (N,)."""
        return (x.sum(dim=(1, 2)) * self.fanout).sum(dim=(-1, -2)) * self.conv.out_channels

    def forward(self, x: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        """x: (N, T, C, H, W) input counts → (N, T, C_out, H', W') output spike counts after pooling."""
        n, t = x.shape[:2]
        w, b, thr, low = self.params(quantize)
        current = F.conv2d(x.flatten(0, 1), w, b, stride=self.stride, padding=self.padding)
        current = current.unflatten(0, (n, t))
        v = torch.zeros_like(current[:, 0])
        out = []
        for step in range(t):
            v = v + current[:, step]
            spikes = MultiSpikeFn.apply(v, thr, self.surrogate_width)
            v = v - spikes * thr if self.reset == "subtract" else v * (spikes == 0).to(v.dtype)
            v = torch.maximum(v, low)
            out.append(spikes)
        s = torch.stack(out, 1)
        if self.pool > 1:
            s = F.avg_pool2d(s.flatten(0, 1), self.pool) * (self.pool * self.pool)
            s = s.unflatten(0, (n, t))
        return s


class SpikingCNN(nn.Module):
    """A chain of :class:`ChipBlock` s; the last block's spike counts are the class scores."""

    def __init__(self, spec: ModelSpec, quantize: bool = True):
        super().__init__()
        self.spec, self.quantize = spec, quantize
        blocks = []
        for layer, (c, h, w) in zip(spec.layers, spec.layer_input_shapes()):
            if layer.type == "linear":
                if h != w:
                    raise ValueError(f"linear layer {layer.name} needs a square input, got {h}x{w}")
                blocks.append(ChipBlock(layer.name, c, layer.out_channels, h, 1, 0, 1, layer.bias, (h, w), "linear",
                                        spec.threshold, spec.min_v_mem, spec.reset, weight_bits=layer.weight_bits))
            else:
                blocks.append(ChipBlock(layer.name, c, layer.out_channels, layer.kernel_size, layer.stride,
                                        layer.padding, layer.pool, layer.bias, (h, w), "conv",
                                        spec.threshold, spec.min_v_mem, spec.reset, weight_bits=layer.weight_bits))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, record: bool = False):
        """x: (N, T, C, H, W) → output spike counts (N, T, n_classes).

        With ``record=True`` also returns per-layer lists of SynOps (N,) and output spike totals (N,).
        """
        synops, spikes = [], []
        for block in self.blocks:
            if record:
                synops.append(block.synops(x))
            x = block(x, self.quantize)
            if record:
                spikes.append(x.sum(dim=(1, 2, 3, 4)))
        out = x.flatten(2)
        return (out, synops, spikes) if record else out

    def to_network(self, dt_us: float, metadata: dict | None = None) -> Network:
        """Float chip description of the trained parameters (discretise it with quant.chip)."""
        layers, shape = [], self.spec.input_shape
        for block in self.blocks:
            conv = block.conv
            layer = ChipLayer(name=block.name, weight=conv.weight.detach().cpu().double().numpy(),
                              input_shape=shape,
                              bias=None if conv.bias is None else conv.bias.detach().cpu().double().numpy(),
                              stride=block.stride, padding=block.padding, pool=block.pool,
                              threshold=float(block.threshold), min_v_mem=float(block.min_v_mem),
                              reset=block.reset, kind=block.kind, weight_bits=block.weight_bits)
            layers.append(layer)
            shape = layer.output_shape
        meta = {"model": self.spec.name, "quantization_aware": bool(self.quantize)}
        meta.update(metadata or {})
        return Network(tuple(layers), self.spec.input_shape, dt_us, meta)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))



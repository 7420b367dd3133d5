"""The network of integer-only local learning (:mod:`.integer_only`): a :class:`SpikingCNN` whose blocks compute
on integer grids, with a fixed random readout per hidden block, and the points where errors are cut to ``eb``
bits."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..emulate.pooling import sum_pool_t
from ..errors import UsageError
from ..nets.framed import FramedSplit
from ..nets.network import ChipBlock, MultiSpikeFn, SpikingCNN
from ..nets.zoo import ModelSpec
from ..quant.quantizers import pow2_shift, quant01, quant_error, straight_through, wage_clip, wage_quant
from .integer_bits import IntegerBits

INIT_RANGE = 0.25  # initial weights ≈ U(±INIT_RANGE) in WAGE units (a quarter of the wb range)
TARGET_RATE = 0.05  # activity calibration: spikes per neuron and time bin a block reaches at init
READOUT_GRID = 4  # local readouts see the spike-rate map average-pooled by a power of two to about 4×4
READOUT_GAIN = 4.0  # logits of a local readout = READOUT_GAIN · a, a ∈ [−1, 1]


class _QuantErrorFn(torch.autograd.Function):
    """Identity forward; backward error cut to ``bits`` by :func:`quant_error`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bits: int) -> torch.Tensor:
        ctx.bits = bits
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return quant_error(grad, ctx.bits), None


def error_point(x: torch.Tensor, eb: int | None) -> torch.Tensor:
    """Mark where back-propagated errors are quantised to ``eb`` bits (no-op for ``None``)."""
    return x if eb is None else _QuantErrorFn.apply(x, eb)


def _quant_act(x: torch.Tensor, ab: int | None) -> torch.Tensor:
    """Clip to the ``ab`` range (zero gradient outside), quantise to ``ab`` bits (straight-through)."""
    if ab is None:
        return torch.clamp(x, -1.0, 1.0)
    clipped = wage_clip(x, ab)
    return straight_through(clipped, wage_quant(clipped.detach(), ab))


def quantize_weight(w: torch.Tensor, wb: int | None) -> torch.Tensor:
    """WAGE forward weight: clip + quantise to ``wb`` bits, straight-through (identity for ``None``)."""
    return w if wb is None else straight_through(w, wage_quant(wage_clip(w.detach(), wb), wb))


class LocalNet(nn.Module):
    """A :class:`SpikingCNN` plus the training-only fixed random readouts of its hidden blocks."""

    def __init__(self, spec: ModelSpec, bits: IntegerBits | None, seed: int = 0):
        super().__init__()
        self.spec, self.bits = spec, bits
        self.cnn = SpikingCNN(spec, quantize=False)
        gen = torch.Generator().manual_seed(seed)
        n_classes = spec.n_classes
        self.readout_shift: list[float] = []
        self.readout_pool: list[int] = []
        for i, block in enumerate(self.cnn.chip_blocks):
            self._init_block(block, gen)
            if i < len(self.cnn.blocks) - 1:
                hc, wc = _conv_hw(block)
                pool = readout_pool(hc, wc)
                features = block.conv.out_channels * (hc // pool) * (wc // pool)
                b = torch.rand(n_classes, features, generator=gen) * 2 - 1
                if bits is not None:
                    b = wage_quant(wage_clip(b, bits.sb), bits.sb)
                self.register_buffer(f"readout{i}", b)
                self.readout_pool.append(pool)
                self.readout_shift.append(float(pow2_shift(math.sqrt(features) / 4)))  # a ≈ O(1) at init

    def _init_block(self, block: ChipBlock, gen: torch.Generator) -> None:
        """WAGE-like init: U(±1/√fan_in) expressed in units where a power-of-two α moves it to ±INIT_RANGE;
        the threshold and lower bound are divided by the same α (the IAF output does not change)."""
        w = block.conv.weight
        bound = 1.0 / math.sqrt(w[0].numel())
        alpha = float(pow2_shift(bound / INIT_RANGE))
        new = (torch.rand(w.shape, generator=gen) * 2 - 1) * bound / alpha
        thr, low = float(block.threshold) / alpha, float(block.min_v_mem) / alpha
        if self.bits is not None:
            wb, ub = self.bits.wb, self.bits.ub
            new = wage_quant(wage_clip(new, wb), wb)
            step = 2.0 ** -(wb - 1)
            thr = max(round(thr / step), 1) * step
            low = round(low / step) * step
            if thr / step > 2 ** (ub - 1) - 1 or -low / step > 2 ** (ub - 1):
                raise UsageError(
                    f"block '{block.name}': threshold {thr:g} and lower bound {low:g} need more than "
                    f"ub={ub} membrane bits at wb={wb}",
                    where="IntegerBits.ub",
                    fix="raise ub (Speck: 16) or lower wb",
                )
        with torch.no_grad():
            w.copy_(new)
            if block.conv.bias is not None:
                block.conv.bias.zero_()
            block.threshold.fill_(thr)
            block.min_v_mem.fill_(low)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, target_rate: float = TARGET_RATE, max_halvings: int = 12) -> list[int]:
        """Halve each block's threshold and lower bound (a power of two, in order from the input) until it fires at
        least ``target_rate`` spikes per neuron and bin on the sample ``x``; returns the halvings per block.

        Zero-mean initial weights leave deep IAF blocks silent, and a silent block teaches the next nothing.
        """
        halvings = []
        step = 0.0 if self.bits is None else 2.0 ** -(self.bits.wb - 1)
        for i, block in enumerate(self.cnn.chip_blocks):
            k = 0
            while k < max_halvings and float(block.threshold) / 2 >= max(step, 1e-6):
                out, _ = self.block_forward(i, x)
                if float(out.mean()) * block.pool**-2 >= target_rate:
                    break
                block.threshold.div_(2)
                block.min_v_mem.div_(2)
                if step:
                    block.min_v_mem.copy_(torch.round(block.min_v_mem / step) * step)
                k += 1
            halvings.append(k)
            x, _ = self.block_forward(i, x)
        return halvings

    def block_forward(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Block ``i`` on input counts x (N, T, C, H, W) → (detached spikes after pooling, training signal).

        The signal carries the surrogate gradient: for a hidden block its spike rate per bin, pooled to about
        READOUT_GRID² and cut to ``sig`` bits (N, F); for the last block its spike counts (N, classes).
        """
        block, bits = self.cnn.chip_blocks[i], self.bits
        wb = None if bits is None else bits.wb
        w = quantize_weight(block.conv.weight, wb)
        b = None if block.conv.bias is None else quantize_weight(block.conv.bias, wb)
        n, t = x.shape[:2]
        current = F.conv2d(x.flatten(0, 1), w, b, stride=block.stride, padding=block.padding).unflatten(0, (n, t))
        current = error_point(current, None if bits is None else bits.eb)
        thr, low = block.threshold, block.min_v_mem
        vmin, vmax = -math.inf, math.inf
        if bits is not None:
            step = 2.0 ** -(bits.wb - 1)
            vmin, vmax = -(2 ** (bits.ub - 1)) * step, (2 ** (bits.ub - 1) - 1) * step
        v = torch.zeros_like(current[:, 0])
        spikes = []
        for step_t in range(t):
            v = v + current[:, step_t]
            if bits is not None:
                v = torch.clamp(v, vmin, vmax)
            s = MultiSpikeFn.apply(v, thr, block.surrogate_width)
            spikes.append(s)
            s = s.detach()
            v = v - s * thr if block.reset == "subtract" else v * (s == 0).to(v.dtype)
            v = torch.maximum(v, low)
        graded = torch.stack(spikes, 1)  # (N, T, C, H', W') before pooling, with gradient
        out = graded.detach()
        out = sum_pool_t(out, block.pool, rounded=False)
        if i == len(self.cnn.blocks) - 1:
            return out, graded.sum(1).flatten(1)
        rate = graded.mean(1)
        pool = self.readout_pool[i]
        if pool > 1:
            rate = F.avg_pool2d(rate, pool)
        if bits is not None:
            clipped = torch.clamp(rate, 0.0, 1.0)
            rate = straight_through(clipped, quant01(clipped.detach(), bits.sig))
        return out, rate.flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """x (N, T, C, H, W) → (class spike counts (N, K), per-block logits (N, K), SynOps per block (N,)).

        Logits are ``READOUT_GAIN · a`` of the clipped readout ``a`` for hidden blocks and the spike counts
        (integers) for the classifier.
        """
        bits = self.bits
        eb = None if bits is None else bits.eb
        ab = None if bits is None else bits.ab
        logits, synops = [], []
        counts = torch.empty(0)
        for i, block in enumerate(self.cnn.chip_blocks):
            synops.append(block.synops(x))
            x, signal = self.block_forward(i, x)
            if i < len(self.cnn.blocks) - 1:
                r = error_point(signal, eb)
                a = r @ getattr(self, f"readout{i}").t() / self.readout_shift[i]
                logits.append(error_point(_quant_act(a, ab), eb) * READOUT_GAIN)
            else:
                counts = signal.detach()
                logits.append(error_point(signal, eb))
        return counts, logits, synops


def readout_pool(h: int, w: int) -> int:
    """Power-of-two pooling that brings an ``h × w`` map to about READOUT_GRID² before its local readout."""
    return 1 << (max(min(h, w) // READOUT_GRID, 1).bit_length() - 1)


def _conv_hw(block: ChipBlock) -> tuple[int, int]:
    k = block.conv.kernel_size[0]
    h, w = block.in_hw
    return ((h + 2 * block.padding - k) // block.stride + 1, (w + 2 * block.padding - k) // block.stride + 1)


def local_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Σ over blocks of the cross-entropy of each block's logits; also each block's value."""
    per = [F.cross_entropy(z, labels) for z in logits]
    return torch.stack(per).sum(), [float(p.detach()) for p in per]


@torch.no_grad()
def evaluate_local(net: LocalNet, data: FramedSplit, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Accuracy of the classifier spike counts, of every local readout, the loss and SynOps per sample."""
    net.eval()
    n_blocks = len(net.cnn.blocks)
    correct, local, loss_sum, synops = 0, [0] * n_blocks, 0.0, torch.zeros(n_blocks)
    for i in range(0, len(data.labels), batch_size):
        x, y = data.frames[i : i + batch_size].to(device), data.labels[i : i + batch_size].to(device)
        counts, outputs, syn = net(x)
        correct += int((counts.argmax(1) == y).sum())
        for j, out in enumerate(outputs):
            local[j] += int((out.argmax(1) == y).sum())
        loss_sum += float(local_loss(outputs, y)[0]) * len(y)
        synops += torch.stack([s.sum() for s in syn]).cpu()
    n = len(data.labels)
    names = [b.name for b in net.cnn.chip_blocks]
    return {
        "accuracy": correct / n,
        "loss": loss_sum / n,
        "local_accuracies": {name: c / n for name, c in zip(names, local)},
        "synops_per_sample": float(synops.sum()) / n,
        "layer_synops": [float(s) / n for s in synops],
    }

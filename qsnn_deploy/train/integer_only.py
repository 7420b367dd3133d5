"""Integer-only local learning of a chip network (seed 1: "Quantizing SNNs with Integers", ICONS'20).

Every number of training lives on a small integer grid, WAGE style (:mod:`qsnn_deploy.quant.quantizers`):

- **Forward weights** on the ``wb``-bit grid ``k / 2^(wb−1)``, ``|k| ≤ 2^(wb−1) − 1`` (WAGE clip + quant,
  straight-through). They are *stored* on that grid too: there is no hidden float copy.
- **Membranes** are integers in units of the weight step, clamped (saturated) to ``ub`` signed bits: with
  the defaults int8 weights and an int16 state, the chip's own formats; thresholds are integers too.
- **Errors** (back-propagated signals) are scaled by a power of two and cut to ``eb`` bits
  (:func:`quant_error`) where they enter a readout's output, its input and the conv output.
- **Weight gradients** are scaled by a power of two, multiplied by the integer learning rate ``lr_int`` and
  stochastically rounded with an ``rb``-bit RNG to ``gb`` bits (:func:`quant_gradient`); the update
  ``SGD(lr=1)`` applies it to the int8 weights with a second ``rb``-bit stochastic rounding to the weight
  step (unbiased), then clips to the ``wb`` range. ``lr_int`` is a power of two, halved on a schedule.

**Local learning (DECOLLE-like).** Each hidden block has a fixed random readout ``B`` (training only,
U(−1, 1) on the ``sb`` grid) fed with the block's spike rate over the window, average-pooled by a power of
two to about 4×4 and cut to ``sig`` bits; its output ``a`` is clipped and quantised to ``ab`` bits and scored by a
cross-entropy on ``4·a``. The spikes a block passes on are detached: no gradient crosses blocks, and none goes through
the reset. The last (classifier) block is trained by the cross-entropy of its own spike counts (surrogate
gradient of :class:`~qsnn_deploy.nets.network.MultiSpikeFn`). Prediction = the arg-max of the classifier's
spike counts, so the trained network *is* the deployed one: the run folder's ``checkpoint.pt`` converts
like any other (``qsnn-deploy convert RUN/checkpoint.pt``).

**Where we differ from the seed.**

- Neuron: Speck's integrate-and-fire (no leak, multi-spike, subtract reset, lower bound −θ) instead of the
  seed's LIF with P/Q/R traces (``qb``/``pb``/``rfb`` bits); the IAF state is the membrane alone. The seed's
  ``ub`` (6 bits over a ±64 range) becomes the chip's int16 state.
- Readout input: the block's pooled spike rate (what the next block sees) instead of ``σ(U)``; the seed's
  sigmoid bits ``sig`` quantise it. With ``σ(U)`` the IAF classifier on top stalled near chance.
- Loss: cross-entropy instead of the seed's sum of squared errors (which stalled on multi-spike counts);
  its error ``softmax − onehot`` is bounded and is cut to ``eb`` bits like every error.
- Per-layer scale: the seed divides a layer's output by a power of two ``≥ 1`` from its WAGE init; we fold a
  power of two into the threshold instead (``θ' = θ / α``, IAF is scale-free), allow ``α < 1`` so the initial
  weights use about a quarter of the int8 range, then halve thresholds until each block fires (activity
  calibration on one batch: zero-mean weights leave deep IAF blocks silent).
- One update per batch over the whole window (``T`` bins; the membrane recursion is differentiated inside
  each block) instead of one update per time step after a burn-in; no dropout, no sign-concordant feedback
  (the readout's own fixed weights carry the error back), no activity regulariser.
- Weights are kept on the ``wb`` grid (int8 memory), not on the finer ``gb`` grid as in the seed.

The full-precision twin (``bits=None``) runs the same rule with nothing rounded or clipped: float weights,
membranes, readouts, errors and the same power-of-two-normalised update ``lr_int · g / shift(max|g|) / 2^(gb−1)``
(the integer update's expectation, with the default ``gb``), so only quantisation differs.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..errors import UsageError
from ..nets.checkpoint import save_checkpoint
from ..nets.framed import FramedSplit
from ..nets.network import ChipBlock, MultiSpikeFn, SpikingCNN
from ..nets.zoo import ModelSpec, load_spec
from ..outputs import staged_folder
from ..progress import Log, Progress, ProgressMode
from ..progress import log as default_log
from ..quant.quantizers import (
    memory_bits,
    pow2_normalise,
    pow2_shift,
    quant01,
    quant_error,
    quant_gradient,
    stochastic_round,
    straight_through,
    wage_clip,
    wage_quant,
)
from .trainer import evaluate, pick_device, plot_training_curves, train_test_splits

INIT_RANGE = 0.25  # initial weights ≈ U(±INIT_RANGE) in WAGE units (a quarter of the wb range)
TARGET_RATE = 0.05  # activity calibration: spikes per neuron and time bin a block reaches at init
READOUT_GRID = 4  # local readouts see the spike-rate map average-pooled by a power of two to about 4×4
READOUT_GAIN = 4.0  # logits of a local readout = READOUT_GAIN · a, a ∈ [−1, 1]
FP_BITS = 32


@dataclass(frozen=True)
class IntegerBits:
    """Bit widths of integer-only training (seed 1's ``qsnn_decolle.py`` defaults, adapted to Speck's IAF)."""

    wb: int = 8  # forward weights, stored and used as wb-bit integers (Speck: int8)
    ub: int = 16  # membrane state, saturating signed integer in weight steps (Speck: int16)
    sb: int = 6  # fixed random readout weights of the local classifiers (training only)
    ab: int = 6  # local readout outputs (the seed's quant_act of its readout activations)
    sig: int = 6  # local readout input, unsigned (the seed's sigmoid; here the pooled spike rate)
    eb: int = 6  # back-propagated errors
    gb: int = 10  # weight gradients (integer steps of 2^−(gb−1))
    rb: int = 16  # bits of the uniform random numbers used by stochastic rounding

    def __post_init__(self) -> None:
        limits = {
            "wb": (2, 8, "Speck stores int8 weights"),
            "ub": (2, 16, "Speck's neuron state is int16"),
            "sb": (1, 16, ""),
            "ab": (2, 16, ""),
            "sig": (1, 16, ""),
            "eb": (2, 16, ""),
            "gb": (2, 24, ""),
            "rb": (1, 24, ""),
        }
        for f in fields(self):
            value, (lo, hi, why) = getattr(self, f.name), limits[f.name]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise UsageError(
                    f"integer-only bit width {f.name}={value!r} is out of range",
                    where=f"IntegerBits.{f.name}",
                    fix=f"use an integer in {lo}..{hi}" + (f" ({why})" if why else ""),
                )
        if self.ub <= self.wb:
            raise UsageError(
                f"membrane bits ub={self.ub} must exceed weight bits wb={self.wb}",
                where="IntegerBits.ub",
                fix="the membrane sums many weights; use ub > wb (Speck: 16)",
            )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_integer_bits(text: str) -> IntegerBits:
    """``'wb=8,eb=6'`` → :class:`IntegerBits` with those widths and the defaults elsewhere ('' → all defaults)."""
    names = [f.name for f in fields(IntegerBits)]
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise UsageError(
                f"--integer-bits: cannot read '{item}'",
                where="--integer-bits",
                fix=f"write name=bits with names from {', '.join(names)}, e.g. wb=8,eb=6",
            )
        try:
            values[key] = int(value)
        except ValueError:
            raise UsageError(
                f"--integer-bits: '{value}' for {key} is not an integer", where="--integer-bits", fix=f"e.g. {key}=8"
            ) from None
    return IntegerBits(**values)


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
        for i, block in enumerate(self.cnn.blocks):
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
        for i, block in enumerate(self.cnn.blocks):
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
        block, bits = self.cnn.blocks[i], self.bits
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
        if block.pool > 1:
            out = (F.avg_pool2d(out.flatten(0, 1), block.pool) * block.pool**2).unflatten(0, (n, t))
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
        for i, block in enumerate(self.cnn.blocks):
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
def update_steps(
    grad: torch.Tensor, bits: IntegerBits | None, lr_int: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient of the rule, weight change) for a float weight gradient.

    Integer: the ``gb``-bit gradient of :func:`quant_gradient` and its ``rb``-bit stochastic rounding to the
    ``wb`` weight step. Full precision: both are ``lr_int · g / shift(max|g|) / 2^(gb−1)`` (default ``gb``).
    """
    if bits is None:
        q = (lr_int * pow2_normalise(grad) / 2.0 ** (IntegerBits().gb - 1)).to(grad.dtype)
        return q, q
    q = quant_gradient(grad, bits.gb, bits.rb, lr_int=lr_int, generator=generator)
    step = 2.0 ** (bits.wb - 1)
    return q, stochastic_round(q * step, rng_bits=bits.rb, generator=generator) / step


@torch.no_grad()
def apply_update(net: LocalNet, opt: torch.optim.Optimizer, lr_int: float, generator: torch.Generator | None) -> None:
    """Replace every gradient by the rule's weight change, take ``SGD(lr=1)``, clip back to the ``wb`` range."""
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    for p in params:
        p.grad = update_steps(p.grad, net.bits, lr_int, generator)[1]
    opt.step()
    if net.bits is not None:
        for p in params:
            p.copy_(wage_clip(p, net.bits.wb))


def memory_footprint(spec: ModelSpec, bits: IntegerBits | None) -> dict[str, Any]:
    """Elements × bits of training memory per block, for one sample and one time step, against FP32.

    Categories: ``weights`` (forward weights + bias at wb, fixed readout at sb), ``states`` (membrane at ub,
    pooled readout input at sig, readout output at ab; the classifier's spike counters at ub), ``errors`` (at
    the conv output, readout input and readout output, eb), ``gradients`` (weight gradients, gb).
    ``bits=None`` counts everything at 32 bits.
    """
    b = bits or IntegerBits()

    def width(n: int) -> int:
        return FP_BITS if bits is None else n

    groups = {
        "weights": ("weights", "readout"),
        "states": ("membrane", "readout_in", "readout_out", "counts"),
        "errors": ("err_current", "err_readout_in", "err_readout_out"),
        "gradients": ("gradients",),
    }
    widths = {
        "weights": b.wb,
        "readout": b.sb,
        "membrane": b.ub,
        "readout_in": b.sig,
        "readout_out": b.ab,
        "counts": b.ub,
        "err_current": b.eb,
        "err_readout_in": b.eb,
        "err_readout_out": b.eb,
        "gradients": b.gb,
    }
    widths = {k: width(v) for k, v in widths.items()}
    rows = []
    for i, (layer, (c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
        last = i == len(spec.layers) - 1
        k = h if layer.type == "linear" else layer.kernel_size
        ho, wo = (
            (1, 1)
            if layer.type == "linear"
            else ((h + 2 * layer.padding - k) // layer.stride + 1, (w + 2 * layer.padding - k) // layer.stride + 1)
        )
        n_w = layer.out_channels * c * k * k + (layer.out_channels if layer.bias else 0)
        n_v = layer.out_channels * ho * wo
        p = readout_pool(ho, wo)
        n_f = 0 if last else layer.out_channels * (ho // p) * (wo // p)
        n_k = 0 if last else spec.n_classes
        sizes = {
            "weights": n_w,
            "readout": n_f * spec.n_classes,
            "membrane": n_v,
            "readout_in": n_f,
            "readout_out": n_k,
            "counts": spec.n_classes if last else 0,
            "err_current": n_v,
            "err_readout_in": n_f,
            "err_readout_out": n_k if not last else spec.n_classes,
            "gradients": n_w,
        }
        row: dict[str, Any] = {"layer": layer.name}
        for cat, names in groups.items():
            row[f"{cat}_elements"] = int(sum(sizes[n] for n in names))
            row[f"{cat}_bits"] = memory_bits({n: sizes[n] for n in names}, {n: widths[n] for n in names})
        row["total_bits"] = sum(row[f"{cat}_bits"] for cat in groups)
        rows.append(row)
    totals = {f"{cat}_bits": sum(r[f"{cat}_bits"] for r in rows) for cat in groups}
    totals["total_bits"] = sum(totals.values())
    return {"bits": None if bits is None else bits.as_dict(), "layers": rows, "totals": totals}


def memory_report(spec: ModelSpec, bits: IntegerBits | None) -> dict[str, Any]:
    """:func:`memory_footprint` at ``bits`` and at FP32, with the fraction saved per category."""
    q, fp = memory_footprint(spec, bits), memory_footprint(spec, None)
    saved = {k: 1 - q["totals"][k] / fp["totals"][k] if fp["totals"][k] else 0.0 for k in fp["totals"]}
    return {
        "integer": q,
        "fp32": fp,
        "saved": saved,
        "note": "elements x bits per sample and time step; optimizer has no state (SGD, lr=1)",
    }


def memory_table(report: dict[str, Any]) -> str:
    """Markdown table of :func:`memory_report` (kbit)."""
    cats = ("weights", "states", "errors", "gradients", "total")
    lines = ["| layer | " + " | ".join(f"{c} (kbit)" for c in cats) + " |", "|---" * (len(cats) + 1) + "|"]
    for rq, rf in zip(report["integer"]["layers"], report["fp32"]["layers"]):
        lines.append(
            f"| {rq['layer']} | "
            + " | ".join(f"{rq[f'{c}_bits'] / 1e3:.1f} / {rf[f'{c}_bits'] / 1e3:.1f}" for c in cats)
            + " |"
        )
    tq, tf = report["integer"]["totals"], report["fp32"]["totals"]
    lines.append(
        "| **total** | "
        + " | ".join(f"**{tq[f'{c}_bits'] / 1e3:.1f} / {tf[f'{c}_bits'] / 1e3:.1f}**" for c in cats)
        + " |"
    )
    lines.append("| saved | " + " | ".join(f"{100 * report['saved'][f'{c}_bits']:.1f} %" for c in cats) + " |")
    return "\n".join(lines) + "\n\nCells: integer / FP32. " + report["note"] + ".\n"


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
    names = [b.name for b in net.cnn.blocks]
    return {
        "accuracy": correct / n,
        "loss": loss_sum / n,
        "local_accuracies": {name: c / n for name, c in zip(names, local)},
        "synops_per_sample": float(synops.sum()) / n,
        "layer_synops": [float(s) / n for s in synops],
    }


def _check_args(
    epochs: int, batch_size: int, time_bins: int, limit: int | None, lr_int: float, lr_halve_every: int | None
) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("time_bins", time_bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be an integer >= 1, got {value!r}", where="train_integer_only")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise UsageError(f"limit must be an integer >= 1, got {limit!r}", where="train_integer_only")
    if not lr_int > 0 or float(pow2_shift(lr_int)) != float(lr_int):
        raise UsageError(
            f"lr_int must be a power of two (a shift), got {lr_int!r}",
            where="train_integer_only",
            fix="use e.g. 1, 2, 4, 8 or 0.5",
        )
    if lr_halve_every is not None and (not isinstance(lr_halve_every, int) or lr_halve_every < 1):
        raise UsageError(f"lr_halve_every must be an integer >= 1, got {lr_halve_every!r}", where="train_integer_only")


def train_integer_only(
    model: str,
    dataset: str,
    out: str | Path,
    epochs: int = 10,
    batch_size: int = 32,
    time_bins: int = 10,
    seed: int = 0,
    bits: IntegerBits | None = IntegerBits(),
    limit: int | None = None,
    overwrite: bool = False,
    progress: ProgressMode = True,
    device: str = "auto",
    lr_int: float = 8.0,
    lr_halve_every: int | None = None,
    log: Log = default_log,
) -> dict[str, Any]:
    """Train ``model`` (zoo name or YAML) on ``dataset`` by integer-only local learning; ``bits=None`` is the
    full-precision twin. Writes ``out`` (checkpoint.pt, metrics.json, memory.json, memory.md, config.yaml,
    training_curve.png) atomically and returns the metrics.

    ``lr_int`` (a power of two) is halved every ``lr_halve_every`` epochs (default: a third of the epochs).
    ``progress``: a mode of :mod:`qsnn_deploy.progress`; ``log`` takes the per-epoch lines.
    """
    _check_args(epochs, batch_size, time_bins, limit, lr_int, lr_halve_every)
    if bits is not None and not isinstance(bits, IntegerBits):
        raise UsageError(f"bits must be an IntegerBits or None, got {type(bits).__name__}", where="train_integer_only")
    halve = lr_halve_every or max(1, math.ceil(epochs / 3))
    spec = load_spec(model)
    dev = pick_device(device)
    with staged_folder(out, overwrite) as tmp:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        train_set, test_set = train_test_splits(dataset, spec, time_bins, progress=progress, limit=limit)
        dt_us = train_set.duration_us / time_bins
        net = LocalNet(spec, bits, seed=seed).to(dev)
        calib = net.calibrate(train_set.frames[torch.from_numpy(rng.permutation(len(train_set.labels))[:64])].to(dev))
        opt = torch.optim.SGD(net.cnn.parameters(), lr=1.0)
        gen = torch.Generator(device=dev).manual_seed(seed + 1)
        kind = "integer-only" if bits is not None else "full-precision"
        log(
            f"{kind} local learning of {spec.name} on {dataset}: {len(train_set.labels)} train / "
            f"{len(test_set.labels)} test samples, {time_bins} bins, lr_int {lr_int:g} halved every {halve} epochs"
        )
        history, t0, n, lr = [], time.time(), len(train_set.labels), float(lr_int)
        for epoch in range(1, epochs + 1):
            net.train()
            order = torch.from_numpy(rng.permutation(n))
            loss_sum, correct, seen = 0.0, 0, 0
            bar = Progress(range(0, n, batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch", progress=progress)
            for i in bar:
                idx = order[i : i + batch_size]
                x, y = train_set.frames[idx].to(dev), train_set.labels[idx].to(dev)
                counts, outputs, _ = net(x)
                loss, _ = local_loss(outputs, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                apply_update(net, opt, lr, gen)
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((counts.argmax(1) == y).sum())
                seen += len(idx)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            ev = evaluate_local(net, test_set, batch_size, dev)
            history.append(
                {
                    "epoch": epoch,
                    "loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "test_accuracy": ev["accuracy"],
                    "test_loss": ev["loss"],
                    "local_accuracies": ev["local_accuracies"],
                    "lr_int": lr,
                    "elapsed_s": round(time.time() - t0, 2),
                }
            )
            log(
                f"epoch {epoch}/{epochs}: loss {loss_sum / seen:.4f}  train {100 * correct / seen:.1f}%  "
                f"test {100 * ev['accuracy']:.1f}%  local "
                + " ".join(f"{k} {100 * v:.1f}%" for k, v in ev["local_accuracies"].items())
            )
            if epoch % halve == 0:
                lr /= 2
        train_time = time.time() - t0
        final = evaluate_local(net, test_set, batch_size, dev)
        chip = evaluate(net.cnn, test_set, batch_size, dev, quantize=True)
        memory = memory_report(spec, bits)
        metrics = {
            "test_accuracy": final["accuracy"],
            "chip_test_accuracy": chip["accuracy"],
            "local_accuracies": final["local_accuracies"],
            "test_loss": final["loss"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "epochs": epochs,
            "seed": seed,
            "model": spec.name,
            "dataset": dataset,
            "integer_only": bits is not None,
            "bits": None if bits is None else bits.as_dict(),
            "lr_int": lr_int,
            "lr_halve_every": halve,
            "threshold_halvings": calib,
            "thresholds": [float(b.threshold) for b in net.cnn.blocks],
            "batch_size": batch_size,
            "time_bins": time_bins,
            "dt_us": dt_us,
            "duration_us": train_set.duration_us,
            "limit": limit,
            "device": str(dev),
            "memory_bits": memory["integer"]["totals"]["total_bits"],
            "memory_saved": memory["saved"]["total_bits"],
            "train_time_s": round(train_time, 2),
            "history": history,
        }
        net.cnn.cpu()
        net.cnn.quantize = True  # the chip discretisation is exact on these weights up to convert's re-scaling
        save_checkpoint(
            tmp / "checkpoint.pt",
            net.cnn,
            {
                "dt_us": dt_us,
                "time_bins": time_bins,
                "duration_us": train_set.duration_us,
                "dataset": dataset,
                "training": kind + " local learning",
                "metrics": {k: v for k, v in metrics.items() if k != "history"},
            },
        )
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (tmp / "memory.json").write_text(json.dumps(memory, indent=2))
        (tmp / "memory.md").write_text(f"# Training memory of {spec.name} ({kind})\n\n" + memory_table(memory))
        config = {
            "train": {
                "mode": kind,
                "model": model,
                "dataset": dataset,
                "epochs": epochs,
                "batch_size": batch_size,
                "time_bins": time_bins,
                "seed": seed,
                "limit": limit,
                "device": device,
                "lr_int": lr_int,
                "lr_halve_every": halve,
            },
            "bits": None if bits is None else bits.as_dict(),
            "model": spec.to_dict(),
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        plot_training_curves(
            history, tmp / "training_curve.png", loss_label="Σ local losses", accuracy_title=f"{kind} local learning"
        )
    return metrics

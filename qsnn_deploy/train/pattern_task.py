"""The spatio-temporal pattern task of the integer-only QSNN's ISCAS'20 script (``qsnn_precise.py``, after
Zenke's spytorch).

A two-layer current-based LIF network (700 → 400 → 250) learns to answer one fixed Poisson input
(700 channels × 250 steps) with one fixed target raster (250 neurons × 250 steps: a smiling face drawn as
sparse spikes on its strokes). Both are generated here, deterministically, with no download:

- input: every channel spikes with probability ``rate_hz · 1 ms`` per step (numpy ``default_rng(seed)``);
- target: a face (head circle, two eyes, a smile arc) drawn on a 250 × 250 raster, neuron = row,
  time = column, one spike every :data:`STROKE_SPACING` pixels of stroke length.

Neuron (per step, dt = 1 ms): ``syn ← 0.75·syn + W·x``; ``mem ← 0.875·mem + syn − θ·s`` with the previous
spike ``s`` detached (subtract reset); ``s = 1[mem ≥ θ]``, θ = 0.9, SuperSpike surrogate
``1/(100·|mem − θ| + 1)²``. Loss: van Rossum distance with an exponential kernel (``x̃ ← 0.75·x̃ + x`` on
output and target), ``D = sqrt(Σ (x̃ − ỹ)² / τ)`` with ``τ = 1/(1 − 0.75)`` steps. Training is full BPTT.

Quantised run (:class:`PatternBits`, the ``qsnn_precise.py`` defaults): weights WAGE-clipped and quantised
to ``wb`` bits (straight-through) with the WAGE power-of-two layer scale; ``syn`` and ``mem`` clipped and
quantised to ``ab`` bits; errors :func:`quant_error` to ``eb`` bits at every layer's input current and
output spikes; weight gradients :func:`quant_gradient` (``gb`` bits, ``rb``-bit RNG, integer learning
rate ``global_lr``), then Adamax(lr = 1) as in the original, weights re-clipped to the ``gb`` range. The
full-precision run (``bits=None``) has nothing rounded or clipped and hands the raw gradient to Adamax with
the usual float learning rate (0.01): Adamax(lr = 1) on float gradients moves every weight by about 1 per
step, while on the sparse quantised gradients (mostly 0 or one step ``2^−(gb−1)``) it moves them by about
``global_lr · g / shift(max|g|)``. Same network, initialisation, input, target and epochs in both runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from ..inputs import is_whole_number
from ..nets.neurons import FastSigmoidSpike
from ..quant.quantizers import (
    memory_bits,
    pow2_shift,
    quant_gradient,
    straight_through,
    wage_clip,
    wage_quant,
)
from .integer_net import error_point, quantize_weight

ALPHA, BETA, THRESHOLD, SUPERSPIKE_SCALE, VR_ALPHA = 0.75, 0.875, 0.9, 100.0, 0.75
STROKE_SPACING = 3.0  # pixels of stroke between two target spikes
FP_BITS = 32


@dataclass(frozen=True)
class PatternBits:
    """Bit widths of the quantised pattern task (``qsnn_precise.py`` defaults)."""

    wb: int = 2  # weights (WAGE: {−0.5, 0, 0.5} times the layer scale)
    ab: int = 8  # neuron states syn and mem (clipped to ±(1 − 2^−7), quantised)
    eb: int = 8  # back-propagated errors
    gb: int = 8  # weight gradients
    rb: int = 16  # RNG bits of the gradients' stochastic rounding

    def __post_init__(self) -> None:
        limits = {"wb": (1, 16), "ab": (2, 16), "eb": (2, 16), "gb": (2, 24), "rb": (1, 24)}
        for f in fields(self):
            value, (lo, hi) = getattr(self, f.name), limits[f.name]
            if not is_whole_number(value, lo, hi):
                raise UsageError(
                    f"pattern-task bit width {f.name}={value!r} is out of range",
                    where=f"PatternBits.{f.name}",
                    fix=f"use an integer in {lo}..{hi}",
                )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def poisson_input(n_in: int = 700, steps: int = 250, rate_hz: float = 25.0, seed: int = 0) -> torch.Tensor:
    """(steps, n_in) 0/1 raster: each channel spikes with probability ``rate_hz · 1 ms`` per step."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.random((steps, n_in)) < rate_hz * 1e-3).astype(np.float32))


def smile_target(n_out: int = 250, steps: int = 250) -> torch.Tensor:
    """(steps, n_out) 0/1 raster of a smiling face: neuron = row, time = column, sparse spikes on the strokes."""
    img = np.zeros((n_out, steps), dtype=np.float32)
    cy, cx, r = (n_out - 1) / 2, (steps - 1) / 2, 0.42 * min(n_out, steps)

    def arc(y0: float, x0: float, radius: float, a0: float, a1: float) -> None:
        n = max(2, int(abs(a1 - a0) * radius / STROKE_SPACING))
        for a in np.linspace(a0, a1, n, endpoint=a1 - a0 < 2 * math.pi):
            y, x = round(y0 + radius * math.sin(a)), round(x0 + radius * math.cos(a))
            if 0 <= y < n_out and 0 <= x < steps:
                img[y, x] = 1.0

    arc(cy, cx, r, 0.0, 2 * math.pi)  # head
    for ex in (cx - 0.38 * r, cx + 0.38 * r):  # eyes
        arc(cy - 0.3 * r, ex, 0.12 * r, 0.0, 2 * math.pi)
    arc(cy + 0.05 * r, cx, 0.6 * r, math.radians(25), math.radians(155))  # smile (rows grow downwards)
    return torch.from_numpy(np.ascontiguousarray(img.T))


def _err(x: torch.Tensor, bits: PatternBits | None) -> torch.Tensor:
    return error_point(x, None if bits is None else bits.eb)


def _state(x: torch.Tensor, bits: PatternBits | None) -> torch.Tensor:
    """The original's quant_act: clip to the ``ab`` range (zero gradient outside), quantise, straight-through."""
    if bits is None:
        return x
    clipped = wage_clip(x, bits.ab)
    return straight_through(clipped, wage_quant(clipped.detach(), bits.ab))


def wage_scale(fan_in: int, wb: int) -> tuple[float, float]:
    """WAGE init of the integer-only QSNN: (bound L of U(±L), power-of-two output divisor ≥ 1) for ``fan_in`` inputs."""
    stdv, l_min = 1.0 / math.sqrt(fan_in), 1.5 / 2 ** (wb - 1)
    return max(stdv, l_min), max(1.0, float(pow2_shift(l_min / stdv)))


def lif_layer(current: torch.Tensor, bits: PatternBits | None) -> torch.Tensor:
    """(steps, n) input current → (steps, n) spikes of the current-based LIF."""
    syn = torch.zeros_like(current[0])
    mem = torch.zeros_like(current[0])
    spike = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        syn = _state(ALPHA * syn + current[t], bits)
        mem = _state(BETA * mem + syn - THRESHOLD * spike.detach(), bits)
        spike = FastSigmoidSpike.apply(mem - THRESHOLD, SUPERSPIKE_SCALE)  # SuperSpike = fast sigmoid
        out.append(spike)
    return torch.stack(out)


def van_rossum(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sqrt(Σ (x̃ − ỹ)² / τ)`` with ``x̃ ← VR_ALPHA·x̃ + x`` and ``τ = 1/(1 − VR_ALPHA)`` steps; (steps, n) inputs."""
    steps = output.shape[0]
    lag = torch.arange(steps).unsqueeze(1) - torch.arange(steps).unsqueeze(0)
    kernel = torch.where(lag >= 0, VR_ALPHA ** lag.clamp_min(0).to(output.dtype), torch.zeros((), dtype=output.dtype))
    filtered = kernel @ (output - target)
    return torch.sqrt((filtered**2).sum() * (1 - VR_ALPHA))


def memory_footprint(n_in: int, n_hidden: int, n_out: int, bits: PatternBits | None) -> dict[str, int]:
    """Elements × bits (one time step): weights (wb), states syn + mem (ab), weight gradients (gb), errors at
    each layer's current and spikes (eb). ``bits=None`` counts everything at 32 bits; Adamax's two moments
    (float in both runs) are left out."""
    n_w, n_neurons = n_in * n_hidden + n_hidden * n_out, n_hidden + n_out
    sizes = {"weights": n_w, "states": 2 * n_neurons, "gradients": n_w, "errors": 2 * n_neurons}
    widths = (
        {k: FP_BITS for k in sizes}
        if bits is None
        else {"weights": bits.wb, "states": bits.ab, "gradients": bits.gb, "errors": bits.eb}
    )
    out = {f"{k}_bits": memory_bits({k: v}, widths) for k, v in sizes.items()}
    out.update({f"{k}_elements": v for k, v in sizes.items()})
    out["total_bits"] = memory_bits(sizes, widths)
    return out


def run_pattern_task(
    epochs: int = 500,
    bits: PatternBits | None = PatternBits(),
    seed: int = 0,
    *,
    n_in: int = 700,
    n_hidden: int = 400,
    n_out: int = 250,
    steps: int = 250,
    lr: float | None = None,
    global_lr: float = 0.1,
    rasters: bool = False,
) -> dict[str, Any]:
    """Train the pattern task; ``bits=None`` is full precision. Returns the final van Rossum distance (and that
    of a silent output, the trivial baseline), the per-epoch history, the memory footprint (and its saving
    against FP32) and, with ``rasters``, the numpy input, target and final output rasters.

    ``lr`` is Adamax's: default 1 when quantised (the original's), 0.01 in full precision.
    """
    for name, value in (("epochs", epochs), ("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out), ("steps", steps)):
        if not is_whole_number(value, 1):
            raise UsageError(f"{name} must be an integer >= 1, got {value!r}", where="run_pattern_task")
    if lr is None:
        lr = 1.0 if bits is not None else 0.01
    if not lr > 0 or not global_lr > 0:
        raise UsageError(f"lr and global_lr must be > 0, got {lr!r} and {global_lr!r}", where="run_pattern_task")
    if bits is not None and not isinstance(bits, PatternBits):
        raise UsageError(f"bits must be a PatternBits or None, got {type(bits).__name__}", where="run_pattern_task")
    ref = bits or PatternBits()
    x = poisson_input(n_in, steps, seed=seed)
    target = smile_target(n_out, steps)
    gen = torch.Generator().manual_seed(seed)
    weights, scales = [], []
    for fan_in, fan_out in ((n_in, n_hidden), (n_hidden, n_out)):
        bound, scale = wage_scale(fan_in, ref.wb)
        weights.append(((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound).requires_grad_())
        scales.append(scale)
    opt = torch.optim.Adamax(weights, lr=lr)
    rng = torch.Generator().manual_seed(seed + 1)

    def forward() -> torch.Tensor:
        h = x
        for w, scale in zip(weights, scales):
            wq = quantize_weight(w, None if bits is None else bits.wb)
            current = _err(h @ wq / scale, bits)
            h = _err(lif_layer(current, bits), bits)
        return h

    history, t0 = [], time.time()
    for _ in range(epochs):
        out = forward()
        loss = van_rossum(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if bits is not None:
            with torch.no_grad():
                for w in weights:
                    assert w.grad is not None  # both weights are in the loss's graph
                    w.grad = quant_gradient(w.grad, bits.gb, bits.rb, lr_int=global_lr, generator=rng)
        opt.step()
        if bits is not None:
            with torch.no_grad():
                for w in weights:
                    w.copy_(wage_clip(w, bits.gb))
        history.append(float(loss.detach()))
    with torch.no_grad():
        out = forward()
        final = float(van_rossum(out, target))
    memory, fp = memory_footprint(n_in, n_hidden, n_out, bits), memory_footprint(n_in, n_hidden, n_out, None)
    result: dict[str, Any] = {
        "final_distance": final,
        "initial_distance": history[0] if history else final,
        "silent_distance": float(van_rossum(torch.zeros_like(target), target)),
        "history": history,
        "epochs": epochs,
        "seed": seed,
        "bits": None if bits is None else bits.as_dict(),
        "sizes": {"n_in": n_in, "n_hidden": n_hidden, "n_out": n_out, "steps": steps},
        "lr": lr,
        "global_lr": global_lr,
        "target_spikes": int(target.sum()),
        "output_spikes": int(out.sum()),
        "memory": memory,
        "memory_fp32": fp,
        "memory_saved": 1 - memory["total_bits"] / fp["total_bits"],
        "train_time_s": round(time.time() - t0, 2),
    }
    if rasters:
        result.update(input=x.numpy(), target=target.numpy(), output=out.numpy())
    return result

"""Per-layer Hessian traces of a :class:`~qsnn_deploy.nets.network.SpikingCNN` (HAWQ-v2, as in the DECOLLE code base).

Hutchinson's estimator: for Rademacher probes ``v`` (±1 entries), ``E[vᵀHv] = Tr(H)``. ``Hv`` is a
Hessian-vector product by double backward through BPTT: the loss is the count cross-entropy of the
spike counts summed over the whole time window, so the trace covers every time step.

Facts worth knowing when reading the numbers:

- **Surrogate Hessian.** The spike count n(v) is piecewise constant; its gradient is the surrogate
  σ of :class:`~qsnn_deploy.nets.network.MultiSpikeFn`, whose backward is written in differentiable
  torch ops, so double backward works (and gives σ' — checked in the tests against the closed form).
  What comes out is the formal second-order chain rule with n' := σ and n'' := σ', at the actual
  forward values: a Gauss-Newton part (the loss curvature carried back through surrogate Jacobians,
  positive semi-definite) plus terms from σ' and the reset paths, which can be negative. It is
  symmetric, but not positive semi-definite, so a layer's trace can come out negative. (It is *not*
  the finite-difference derivative of the surrogate gradient: counts do not move under small weight
  changes, so that would drop the Gauss-Newton part.)
- **Units.** Traces are taken with respect to the float (shadow) weights ``conv.weight`` of each
  block — loss per (float weight unit)² — also for quantisation-aware models; biases are left out.
  By default the model runs as it was trained (``model.quantize``): for a QAT model that is the
  integer-unit network the chip runs, at the quantised weights, which is the point that gets
  deployed. Its straight-through rounding ``round(s·w)`` has slope ``s`` and no curvature, so the
  QAT Hessian is ``s²`` × the Hessian w.r.t. the integer weights (tested); as the surrogate is
  relative to the (integer) threshold, that equals the float network's Hessian at ``Q(w)/s`` up to
  threshold rounding and integer ties. So QAT and float traces are in the same units as the weight
  perturbations ``‖Q_b(W) − W‖²`` of :mod:`qsnn_deploy.train.allocate`, as the HAWQ-v2 objective needs.
- **Cost.** For each batch the forward pass and the first (graph-building) backward are done once
  and reused for ``probes_per_pass`` probes, which is ~3× cheaper than one full pass per probe; the
  early stop (relative change of every layer's running mean < ``tol``) is checked probe by probe and
  acts at the end of a pass. ``probes_per_pass=1`` is PyHessian's loop.
- **Standard errors.** ``stderr``: the spread of the per-probe estimates over ``sqrt(K)``, i.e. the
  probe noise for the samples used. ``stderr_batches``: from the spread between (randomly composed)
  batches, which also covers the sampling noise of the data — on a well-trained model it is the larger
  one, as a few misclassified samples carry most of the curvature of the cross-entropy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from ..nets.network import SpikingCNN
from ..progress import Progress, ProgressMode
from .losses import count_cross_entropy

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Data = Any  # a FramedSplit (frames, labels) or a (frames, labels) pair of tensors


@dataclass(frozen=True)
class HessianResult:
    """Per-layer Hessian traces (w.r.t. float weights) and how they were obtained."""

    names: tuple[str, ...]
    traces: tuple[float, ...]
    n_params: tuple[int, ...]
    stderr: tuple[float | None, ...]  # standard error of each trace over probes (None with one probe)
    stderr_batches: tuple[float | None, ...] = ()  # from the spread between batches: data + probe noise, rough
    estimates: tuple[tuple[float, ...], ...] = ()  # per probe, per layer
    iterations: int = 0
    converged: bool = False
    samples: int = 0
    quantize: bool = True
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_per_param(self) -> tuple[float, ...]:
        return tuple(t / n for t, n in zip(self.traces, self.n_params))

    @property
    def stderr_per_param(self) -> tuple[float | None, ...]:
        return tuple(None if s is None else s / n for s, n in zip(self.stderr, self.n_params))

    @property
    def ranking(self) -> tuple[str, ...]:
        """Layer names, most sensitive (largest trace per parameter, HAWQ-v2) first."""
        order = sorted(range(len(self.names)), key=lambda i: (-self.trace_per_param[i], i))
        return tuple(self.names[i] for i in order)

    @property
    def ranking_by_trace(self) -> tuple[str, ...]:
        """Layer names by raw trace, largest first (the DECOLLE code base's convention)."""
        order = sorted(range(len(self.names)), key=lambda i: (-self.traces[i], i))
        return tuple(self.names[i] for i in order)

    def to_dict(self) -> dict[str, Any]:
        rank = {name: i + 1 for i, name in enumerate(self.ranking)}
        between = self.stderr_batches or (None,) * len(self.names)
        layers = [
            {
                "name": n,
                "params": p,
                "trace": t,
                "trace_per_param": tp,
                "stderr": s,
                "stderr_per_param": sp,
                "stderr_batches": sb,
                "rank": rank[n],
            }
            for n, p, t, tp, s, sp, sb in zip(
                self.names,
                self.n_params,
                self.traces,
                self.trace_per_param,
                self.stderr,
                self.stderr_per_param,
                between,
            )
        ]
        return {
            "layers": layers,
            "ranking": list(self.ranking),
            "ranking_by_trace": list(self.ranking_by_trace),
            "total_trace": float(sum(self.traces)),
            "iterations": self.iterations,
            "converged": self.converged,
            "samples": self.samples,
            "quantize": self.quantize,
            "seconds": round(self.seconds, 3),
            "units": "loss / (float weight unit)^2, w.r.t. conv.weight; loss = count cross-entropy (batch mean) "
            "over the whole time window",
            "estimates": [list(e) for e in self.estimates],
            **self.settings,
        }


def layer_weights(model: SpikingCNN) -> list[torch.Tensor]:
    """The weight tensor of each block, in order (the parameters whose traces are taken)."""
    return [block.conv.weight for block in model.chip_blocks]


def rademacher(shapes: Sequence[torch.Size], generator: torch.Generator) -> list[torch.Tensor]:
    """One ±1 float32 tensor per shape, drawn on the CPU from ``generator`` (device independent)."""
    return [torch.randint(0, 2, tuple(s), generator=generator).float() * 2 - 1 for s in shapes]


def _tensors(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(data, "frames") and hasattr(data, "labels"):
        return data.frames, data.labels
    try:
        frames, labels = data
    except (TypeError, ValueError):
        raise TypeError("data must be a FramedSplit or a (frames, labels) pair") from None
    return torch.as_tensor(frames), torch.as_tensor(labels)


def _subset(frames: torch.Tensor, labels: torch.Tensor, samples: int | None, seed: int):
    """A seeded random subset in random order (so that batches are exchangeable)."""
    if samples is not None and samples < 1:
        raise UsageError(f"the number of samples must be >= 1, got {samples}")
    n = len(labels) if samples is None else min(samples, len(labels))
    idx = torch.from_numpy(np.random.default_rng(seed).permutation(len(labels))[:n])
    return frames[idx], labels[idx]


@contextmanager
def _evaluation_mode(model: SpikingCNN, quantize: bool | None, device: torch.device | None) -> Iterator[torch.device]:
    """Eval mode, the asked quantisation and device; restores all three afterwards."""
    keep_q, keep_train = model.quantize, model.training
    first = next(model.parameters())
    keep_device = first.device
    if quantize is not None:
        model.quantize = bool(quantize)
    model.eval()
    if device is not None:
        model.to(device)
    try:
        with torch.enable_grad():
            yield first.device if device is None else torch.device(device)
    finally:
        model.quantize = keep_q
        model.train(keep_train)
        model.to(keep_device)


def _batches(frames: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device):
    for i in range(0, len(labels), batch_size):
        yield frames[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)


def _hvp_dots(
    grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor], probe: Sequence[torch.Tensor], retain: bool
) -> torch.Tensor:
    """``v_lᵀ (Hv)_l`` per layer (float64) from gradients built with ``create_graph=True``."""
    live = [i for i, g in enumerate(grads) if g.requires_grad]
    out = torch.zeros(len(params), dtype=torch.float64)
    if not live:
        return out
    hv = torch.autograd.grad(
        [grads[i] for i in live], params, grad_outputs=[probe[i] for i in live], retain_graph=retain, allow_unused=True
    )
    for i, (h, v) in enumerate(zip(hv, probe)):
        if h is not None:
            out[i] = float((h.double() * v.double()).sum())
    return out


def _check(n_iter: int, batch_size: int, tol: float, probes_per_pass: int) -> None:
    if n_iter < 1:
        raise UsageError(f"the number of Hutchinson iterations must be >= 1, got {n_iter}")
    if batch_size < 1:
        raise UsageError(f"the batch size must be >= 1, got {batch_size}")
    if not tol >= 0:
        raise UsageError(f"the tolerance must be >= 0, got {tol}")
    if probes_per_pass < 1:
        raise UsageError(f"probes per pass must be >= 1, got {probes_per_pass}")


def _converged_at(estimates: list[np.ndarray], start: int, tol: float) -> int | None:
    """First probe count k ≥ max(2, start+1) at which every layer's running mean moved by < tol (relative)."""
    sums = np.cumsum(np.asarray(estimates), axis=0)
    for k in range(max(2, start + 1), len(estimates) + 1):
        prev, now = sums[k - 2] / (k - 1), sums[k - 1] / k
        if np.all(np.abs(now - prev) / (np.abs(prev) + 1e-6) < tol):
            return k
    return None


def hutchinson_traces(
    model: SpikingCNN,
    data: Data,
    loss_fn: LossFn = count_cross_entropy,
    n_iter: int = 10,
    batch_size: int = 32,
    tol: float = 1e-3,
    samples: int | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quantize: bool | None = None,
    probes_per_pass: int = 5,
    progress: ProgressMode = False,
) -> HessianResult:
    """Per-layer Hessian traces of the mean loss over ``data`` by Hutchinson's estimator.

    ``samples``: a seeded random subset of that many samples (all when None). Probes come from
    ``generator`` (default: seeded with ``seed``). ``quantize`` overrides ``model.quantize`` for the
    run; the model's mode, device and quantisation are restored afterwards.
    """
    _check(n_iter, batch_size, tol, probes_per_pass)
    frames, labels = _subset(*_tensors(data), samples, seed)
    if len(labels) == 0:
        raise UsageError("no samples to estimate the Hessian on", fix="pass a non-empty dataset split")
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    t0, n = time.time(), len(labels)
    n_batches = math.ceil(n / batch_size)
    estimates: list[np.ndarray] = []
    sizes = np.array([min(batch_size, n - i) for i in range(0, n, batch_size)], dtype=float)
    per_batch = np.zeros((n_batches, len(model.blocks)))  # Σ over probes of v_lᵀ(H_b v)_l, per batch
    converged = False
    with _evaluation_mode(model, quantize, None if device is None else torch.device(device)) as dev:
        params = layer_weights(model)
        shapes = [p.shape for p in params]
        bar = Progress(
            total=math.ceil(n_iter / probes_per_pass) * n_batches, desc="Hessian trace", unit="batch", progress=progress
        )
        try:
            while len(estimates) < n_iter and not converged:
                probes = [
                    [v.to(dev) for v in rademacher(shapes, gen)]
                    for _ in range(min(probes_per_pass, n_iter - len(estimates)))
                ]
                sums = torch.zeros(len(probes), len(params), dtype=torch.float64)
                for b, (x, y) in enumerate(_batches(frames, labels, batch_size, dev)):
                    loss = loss_fn(model(x), y)
                    grads = torch.autograd.grad(loss, params, create_graph=True)
                    for k, probe in enumerate(probes):
                        dots = _hvp_dots(grads, params, probe, retain=k < len(probes) - 1)
                        sums[k] += len(y) * dots
                        per_batch[b] += dots.numpy()
                    del loss, grads
                    bar.update(1)
                start = len(estimates)
                estimates.extend((sums / n).numpy())
                converged = tol > 0 and _converged_at(estimates, start, tol) is not None
                bar.set_postfix(probes=len(estimates))
        finally:
            bar.close()
        quantized = bool(model.quantize)
    arr = np.asarray(estimates)
    k = len(arr)
    stderr = [None] * len(params) if k < 2 else [float(s) for s in arr.std(axis=0, ddof=1) / math.sqrt(k)]
    between: list[float | None] = [None] * len(params)
    if n_batches > 1:  # batch means t_b of n_b samples: σ² ≈ Σ n_b (t_b − T)² / (B − 1), Var(T) ≈ σ²/N
        t_b, mean = per_batch / k, arr.mean(axis=0)
        var = (sizes[:, None] * (t_b - mean) ** 2).sum(axis=0) / (n_batches - 1)
        between = [float(v) for v in np.sqrt(var / n)]
    return HessianResult(
        names=tuple(b.name for b in model.chip_blocks),
        traces=tuple(float(t) for t in arr.mean(axis=0)),
        n_params=tuple(int(p.numel()) for p in params),
        stderr=tuple(stderr),
        stderr_batches=tuple(between),
        estimates=tuple(tuple(float(v) for v in row) for row in arr),
        iterations=k,
        converged=converged,
        samples=n,
        quantize=quantized,
        seconds=time.time() - t0,
        settings={
            "batch_size": batch_size,
            "tol": tol,
            "max_iterations": n_iter,
            "seed": seed,
            "probes_per_pass": probes_per_pass,
        },
    )


def exact_hessian(
    model_or_fn: SpikingCNN | Callable[[], torch.Tensor],
    data: Data | None = None,
    *,
    params: Sequence[torch.Tensor] | None = None,
    loss_fn: LossFn = count_cross_entropy,
    batch_size: int = 64,
    quantize: bool | None = None,
) -> torch.Tensor:
    """The full (P×P, float64) Hessian ``H[i, j] = ∂g_i/∂w_j`` of the loss by one double backward per
    parameter — only for tiny models (tests). ``g`` is the (surrogate) gradient.

    Either a model and ``data`` (the mean loss over ``data``, weights of every block, in order), or a
    closure returning a scalar loss with the ``params`` it depends on.
    """
    if isinstance(model_or_fn, SpikingCNN):
        if data is None:
            raise TypeError("exact_hessian(model, data): data is required with a model")
        model = model_or_fn
        frames, labels = _tensors(data)
        with _evaluation_mode(model, quantize, None) as dev:
            params = layer_weights(model)
            terms = [
                (len(y) / len(labels), (lambda x=x, y=y: loss_fn(model(x), y)))
                for x, y in _batches(frames, labels, batch_size, dev)
            ]
            return _hessian_rows(terms, params)
    if params is None:
        raise TypeError("exact_hessian(fn, params=...): the parameters of the closure are required")
    with torch.enable_grad():
        return _hessian_rows([(1.0, model_or_fn)], list(params))


def _hessian_rows(terms, params: Sequence[torch.Tensor]) -> torch.Tensor:
    total = sum(p.numel() for p in params)
    h = torch.zeros(total, total, dtype=torch.float64)
    for weight, fn in terms:
        grads = torch.autograd.grad(fn(), params, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        for i in range(total):
            if not flat[i].requires_grad:
                continue
            row = torch.autograd.grad(flat[i], params, retain_graph=True, allow_unused=True)
            h[i] += weight * torch.cat(
                [torch.zeros(p.numel()) if r is None else r.reshape(-1).double().cpu() for r, p in zip(row, params)]
            )
    return h


def exact_layer_traces(
    model_or_fn: SpikingCNN | Callable[[], torch.Tensor],
    data: Data | None = None,
    *,
    params: Sequence[torch.Tensor] | None = None,
    loss_fn: LossFn = count_cross_entropy,
    batch_size: int = 64,
    quantize: bool | None = None,
) -> list[float]:
    """Exact per-layer (per parameter tensor) traces ``Σ_i e_iᵀ H e_i`` of :func:`exact_hessian`."""
    if isinstance(model_or_fn, SpikingCNN):
        sizes = [p.numel() for p in layer_weights(model_or_fn)]
    elif params is not None:
        sizes = [p.numel() for p in params]
    else:
        raise TypeError("exact_layer_traces(fn, params=...): the parameters of the closure are required")
    diag = exact_hessian(
        model_or_fn, data, params=params, loss_fn=loss_fn, batch_size=batch_size, quantize=quantize
    ).diagonal()
    return [float(d.sum()) for d in torch.split(diag, sizes)]

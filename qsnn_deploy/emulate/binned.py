"""Time-binned integer emulation of the chip's layers.

Per time bin and layer: the input spike counts are convolved with the int8 weights (plus the bias
once per bin), added to the int16-range membrane state, each neuron emits ⌊v/θ⌋ spikes (multi-spike,
as sinabs' ``DynapcnnNetwork`` forward does), the state is reduced by the spikes times θ (or set to
zero), clipped at the lower bound, and the spikes are sum-pooled on their way to each destination by
that edge's pooling (:meth:`~qsnn_deploy.ir.Network.edge_pool`). A layer's input is the sum over its
sources of what each sends it (a merge); the output is the last layer pooled by
:attr:`~qsnn_deploy.ir.Network.output_pool`. A chain is the graph whose every layer feeds the next.

SynOps are counted where they happen, in the destination core: each layer counts its input events times
their fan-out, so a spike sent to two destinations costs both destinations' fan-outs.

Integer values are exact: the convolution runs in float32 when its largest possible sum stays below
2**24 and in float64 otherwise; the membrane state is kept in int64.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numba
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..ir import ChipLayer, Network
from ..progress import ProgressMode, progress_wrapper
from ..quant.chip import discretize_network
from .pooling import sum_pool_t
from .routing import layer_pools
from .workers import ordered_map, resolve_workers

_EXACT_F32 = 2**24

#: wraps the loop over batches (their starts, or their results as they finish) to show progress
#: (:func:`~qsnn_deploy.progress.progress_wrapper` makes one)
BatchProgress = Callable[[Iterable[Any]], Iterable[Any]]
#: spike counts of the torch engine (tensors) or of the compiled one (arrays)
Counts = TypeVar("Counts", np.ndarray, torch.Tensor)


@numba.njit(cache=True, nogil=True)
def sparse_layer(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray,
    stride: int,
    pad: int,
    ho: int,
    wo: int,
    thr: int,
    low: int,
    zero_reset: bool,
    pool: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One core over time bins, event-driven and exact in int64 (the CPU path).

    x: (N, T, C, H, W) input counts; w: (C, k, k, C_out). Each non-zero input count adds
    ``count × w`` to the currents of the outputs it reaches (its SynOps), the bias is added once per
    bin, then the multi-spike IAF step runs (integrate, ⌊v/θ⌋ spikes, reset, clip at the lower
    bound — sinabs' order). Returns the pooled spikes (N, T, C_out, ho // pool, wo // pool) and the
    SynOps per sample.
    """
    n_s, t_len, c_in, h, wd = x.shape
    k, c_out = w.shape[1], w.shape[3]
    hp, wp = ho // pool, wo // pool
    out = np.zeros((n_s, t_len, c_out, hp, wp), dtype=np.int32)
    synops = np.zeros(n_s, dtype=np.int64)
    v = np.empty((ho, wo, c_out), dtype=np.int64)
    cur = np.empty((ho, wo, c_out), dtype=np.int64)
    for n in range(n_s):
        v[:] = 0
        for t in range(t_len):
            cur[:] = 0
            for c in range(c_in):
                for y in range(h):
                    yy = y + pad
                    oy0, oy1 = max(0, (yy - k + stride) // stride), min(ho - 1, yy // stride)
                    for xi in range(wd):
                        cnt = x[n, t, c, y, xi]
                        if cnt == 0:
                            continue
                        xx = xi + pad
                        ox0, ox1 = max(0, (xx - k + stride) // stride), min(wo - 1, xx // stride)
                        for oy in range(oy0, oy1 + 1):
                            ky = yy - oy * stride
                            for ox in range(ox0, ox1 + 1):
                                wk = w[c, ky, xx - ox * stride]
                                synops[n] += cnt * c_out
                                for co in range(c_out):
                                    cur[oy, ox, co] += cnt * wk[co]
            for oy in range(ho):
                for ox in range(wo):
                    for co in range(c_out):
                        val = v[oy, ox, co] + cur[oy, ox, co] + bias[co]
                        if val >= thr:
                            spikes = val // thr
                            val = 0 if zero_reset else val - spikes * thr
                            py, px = oy // pool, ox // pool
                            if py < hp and px < wp:
                                out[n, t, co, py, px] += spikes
                        v[oy, ox, co] = max(val, low)
    return out, synops


@dataclass
class BinnedResult:
    """Spike counts of one emulator run over N samples."""

    output_counts: np.ndarray  # (N, n_outputs): spikes of the last layer summed over time
    output_trace: np.ndarray  # (N, T, n_outputs)
    layer_spikes: (
        np.ndarray
    )  # (N, L): output spikes per layer, pooled by Network.counted_pool (its pool; the output pooling last)
    layer_synops: np.ndarray  # (N, L): synaptic operations per layer (its input events × their fan-out)
    layer_names: list[str]

    @property
    def predictions(self) -> np.ndarray:
        return self.output_counts.argmax(axis=1)


def ensure_quantized(net: Network) -> Network:
    """A float network discretised exactly as ``convert`` would for a Speck target (the chip the emulator
    emulates): :func:`~qsnn_deploy.quant.chip.discretize_network` with Speck's widths; a discretised one as it is."""
    return discretize_network(net)


class _Layer:
    """A layer's parameters as tensors, ready to run: exact integers, or float64 for a float model."""

    def __init__(self, layer: ChipLayer, device: torch.device, integer: bool = True):
        self.layer, self.device, self.integer = layer, device, integer
        self.weight_sum = float(np.abs(layer.weight).sum(axis=(1, 2, 3)).max())
        self.bias_max = 0.0 if layer.bias is None else float(np.abs(layer.bias).max())
        self._params: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.threshold = int(layer.threshold) if integer else float(layer.threshold)
        self.lower = int(layer.lower_bound) if integer else float(layer.lower_bound)
        self.fanout = torch.as_tensor(layer.fanout_map(), dtype=torch.float64, device=device)

    def params(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weights and bias in ``dtype`` (exact: they are small integers)."""
        if dtype not in self._params:
            b = self.layer.bias
            self._params[dtype] = (
                torch.as_tensor(self.layer.weight, dtype=dtype, device=self.device),
                None if b is None else torch.as_tensor(b, dtype=dtype, device=self.device),
            )
        return self._params[dtype]

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (T, N, C, H, W) counts, time-major → (spikes (T, N, *conv_shape) before pooling, SynOps (N,)).

        Integer values stay exact in float32 while every membrane value stays below 2**24 (then even
        ``floor(v / θ)`` is exact); otherwise the layer runs in float64.
        """
        t, n = x.shape[:2]
        synops = (x.sum(dim=(0, 2)).double() * self.fanout).sum(dim=(-1, -2))
        bound = self.weight_sum * float(x.max()) + self.bias_max if x.numel() else 0.0
        exact32 = bound + abs(self.threshold) + abs(self.lower) < _EXACT_F32
        dtype = torch.float32 if self.integer and exact32 else torch.float64
        weight, bias = self.params(dtype)
        cur = F.conv2d(x.flatten(0, 1).to(dtype), weight, bias, stride=self.layer.stride, padding=self.layer.padding)
        if self.integer:
            cur = cur.round_()
        cur = cur.unflatten(0, (t, n))
        thr, low, subtract = self.threshold, self.lower, self.layer.reset == "subtract"
        v = torch.zeros_like(cur[0])
        out = torch.empty_like(cur)
        for step in range(t):
            v.add_(cur[step])
            spikes = torch.div(v, thr, rounding_mode="floor", out=out[step]).clamp_min_(0)
            if subtract:
                v.sub_(spikes, alpha=thr)
            else:
                v.masked_fill_(spikes > 0, 0)
            v.clamp_min_(low)
        return out.to(torch.float32), synops


def _pool_numpy(x: np.ndarray, p: int) -> np.ndarray:
    """Sum pooling of (N, T, C, H, W) int32 counts by ``p`` (rows and columns past a whole window dropped)."""
    if p == 1:
        return x
    n, t, c, h, w = x.shape
    hp, wp = h // p, w // p
    return x[..., : hp * p, : wp * p].reshape(n, t, c, hp, p, wp, p).sum(axis=(4, 6), dtype=np.int32)


def run_binned(
    net: Network,
    raster: np.ndarray | torch.Tensor,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: ProgressMode = None,
    integer: bool = True,
    engine: str = "auto",
    workers: int | None = None,
) -> BinnedResult:
    """Emulate ``net`` on spike-count rasters (N, T, C, H, W) or (T, C, H, W).

    ``integer=False`` runs the same time-stepped model in float64 without discretising (the float
    reference of ``deploy --compare``). ``engine``: "compiled" (event-driven numba kernel, CPU, integer
    networks), "torch" (dense convolutions; any device) or "auto" (compiled where it applies).
    ``progress``: a mode of :mod:`qsnn_deploy.progress` for a bar over the batches (a wrapper made by
    :func:`~qsnn_deploy.progress.progress_wrapper` is taken as it is). ``workers``: threads of the compiled
    engine (None: every core); the results do not depend on it.
    """
    if engine not in ("auto", "compiled", "torch"):
        raise ValueError(f"unknown engine {engine!r}")
    if integer:
        net = ensure_quantized(net)
    x_all = torch.as_tensor(np.asarray(raster) if not isinstance(raster, torch.Tensor) else raster)
    if x_all.ndim == 4:
        x_all = x_all.unsqueeze(0)
    if x_all.ndim != 5 or tuple(x_all.shape[2:]) != net.input_shape:
        raise InputError(
            f"input raster of shape {tuple(x_all.shape)} does not match the model input "
            f"(N, T, {', '.join(map(str, net.input_shape))})",
            fix="frame the events at the model's sensor size and polarity count",
        )
    if torch.is_floating_point(x_all) and bool((x_all != x_all.round()).any()):
        warnings.warn("input raster has non-integer values; the chip counts whole events, rounding them", stacklevel=2)
        x_all = x_all.round()
    if bool((x_all < 0).any()):
        raise InputError("input raster has negative spike counts", fix="pass event counts (>= 0)")
    device = torch.device(device)
    bar = _batch_bar(progress)
    if engine == "compiled" or (engine == "auto" and integer and device.type == "cpu"):
        if not integer or device.type != "cpu":
            raise ValueError("the compiled engine runs integer networks on the CPU")
        return _run_sparse(net, x_all.numpy(), batch_size, bar, resolve_workers(workers))
    layers = [_Layer(layer, device, integer) for layer in net.layers]
    outs, traces, spikes, synops = [], [], [], []
    batches = range(0, x_all.shape[0], batch_size)
    for i in bar(batches) if bar else batches:
        x = x_all[i : i + batch_size].to(device=device, dtype=torch.float32).transpose(0, 1).contiguous()
        lsp, lsy = [], []
        outputs: list[dict[int, torch.Tensor]] = []
        with torch.no_grad():
            for j, lay in enumerate(layers):
                spikes_j, syn = lay.run(_merged(net, j, x, outputs))
                outputs.append({p: sum_pool_t(spikes_j, p) for p in layer_pools(net, j)})
                lsp.append(outputs[j][net.counted_pool(j)].sum(dim=(0, 2, 3, 4)))
                lsy.append(syn)
        trace = outputs[-1][net.output_pool].transpose(0, 1).flatten(2)
        traces.append(trace.cpu().numpy())
        outs.append(trace.sum(1).cpu().numpy())
        spikes.append(torch.stack(lsp, 1).cpu().numpy())
        synops.append(torch.stack(lsy, 1).cpu().numpy())
    return BinnedResult(
        np.concatenate(outs).astype(np.int64),
        np.concatenate(traces).astype(np.int64),
        np.concatenate(spikes).astype(np.int64),
        np.concatenate(synops),
        [layer.name for layer in net.layers],
    )


def _merged(net: Network, j: int, network_input: Counts, outputs: list[dict[int, Counts]]) -> Counts:
    """Input of layer ``j``: the network input for layer 0, else the sum over its sources of each source's
    spikes pooled by that edge's pooling (``outputs[i]`` maps a pooling to layer ``i``'s pooled spikes)."""
    if j == 0:
        return network_input
    src = net.sources(j)
    total = outputs[src[0]][net.edge_pool(src[0], j)]
    for i in src[1:]:
        total = total + outputs[i][net.edge_pool(i, j)]
    return total


def _batch_bar(given: ProgressMode | BatchProgress) -> BatchProgress | None:
    """The wrapper of the batch loop: a "binned" bar for a progress mode (None when off), or the wrapper a
    caller made."""
    if callable(given):
        return given
    return progress_wrapper(given, "binned", "batch")


def _run_sparse(
    net: Network, x_all: np.ndarray, batch_size: int, bar: BatchProgress | None, workers: int
) -> BinnedResult:
    """The compiled, event-driven CPU path of :func:`run_binned` (integer networks), its batches on ``workers``
    threads."""
    params = []
    pools = [layer_pools(net, i) for i in range(len(net.layers))]
    for layer, needed in zip(net.layers, pools):
        bias = np.zeros(layer.c_out) if layer.bias is None else layer.bias
        params.append(
            (
                np.ascontiguousarray(layer.weight.transpose(1, 2, 3, 0), dtype=np.int64),
                bias.astype(np.int64),
                layer.stride,
                layer.padding,
                *layer.conv_shape[1:],
                int(layer.threshold),
                int(layer.lower_bound),
                layer.reset == "zero",
                needed[0] if len(needed) == 1 else 1,  # one pooling: the kernel pools; several: pooled below
            )
        )
    n = x_all.shape[0]
    size = max(1, min(batch_size, -(-n // workers)))  # every worker gets samples; batches do not change results

    def one_batch(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x_all[i : i + size], dtype=np.int32)
        lsp, lsy = [], []
        outputs: list[dict[int, np.ndarray]] = []
        for j, p in enumerate(params):
            spikes_j, syn = sparse_layer(np.ascontiguousarray(_merged(net, j, x, outputs)), *p)
            outputs.append({q: spikes_j if len(pools[j]) == 1 else _pool_numpy(spikes_j, q) for q in pools[j]})
            lsp.append(outputs[j][net.counted_pool(j)].sum(axis=(1, 2, 3, 4), dtype=np.int64))
            lsy.append(syn)
        out = outputs[-1][net.output_pool]
        return (
            out.reshape(out.shape[0], out.shape[1], -1).astype(np.int64),
            np.stack(lsp, 1),
            np.stack(lsy, 1).astype(np.float64),
        )

    parts = ordered_map(one_batch, range(0, n, size), workers, bar)
    traces, spikes, synops = (list(k) for k in zip(*parts)) if parts else ([], [], [])
    trace = np.concatenate(traces)
    return BinnedResult(
        trace.sum(1), trace, np.concatenate(spikes), np.concatenate(synops), [layer.name for layer in net.layers]
    )

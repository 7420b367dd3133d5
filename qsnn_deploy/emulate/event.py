"""Event-exact emulation of the chip's asynchronous cores (compiled with numba).

Semantics (DESIGN.md §4), per sample:

- Input events are processed in time order. An event at input address (c, y, x) of a layer updates
  every neuron whose receptive field holds it: ``v += w[c_out, c, ky, kx]`` (one synaptic update,
  one SynOp each).
- After each update a neuron fires **at most once** if ``v >= threshold``; it is then reset by
  subtracting the threshold (or set to zero) and clipped at the lower bound.
- A spike at (c, y, x) travels to each of the layer's destinations (at most two on the chip), sum-pooled
  by that destination's pooling ``q`` to (c, y // q, x // q) (dropped past the last whole window), with
  the same time stamp, before the next input event is taken (the pipeline's latency, a few µs, is far
  below typical inter-event intervals). A layer fed by several layers takes each one's events as they
  come (a merge is a sum). The neurons an event reaches are updated in order of output row, column and
  channel, and the events their spikes send wait on one stack, last in first out, across layers.
- Bias (the chip's "leak") is added to every neuron of a layer on each tick of a slow clock (layers in order,
  neurons by row, column, channel); a tick can make neurons fire like an input event does, and each such
  spike is carried through the network (its stack emptied) before the next neuron's bias.

Spikes of the last layer, pooled by the output pooling, are the outputs; a layer's spike count is taken
under its own ``pool`` (the output pooling for the last layer), as binned mode counts it. SynOps are
counted in the core that performs them. Any layer can be monitored (its neuron addresses before pooling
are recorded as ``x, y, t, p=channel, layer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from ..errors import InputError
from ..ir import Network
from ..quant.chip import discretize_network

MONITOR_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i2"), ("layer", "<i1")])
MONITOR_FIELDS: tuple[str, ...] = tuple(MONITOR_DTYPE.names or ())  # x, y, t, p, layer
# per-layer integer parameters, one row each (_POOL, _HP, _WP: the pooling the layer's spikes are counted under)
_C_IN, _H_IN, _W_IN, _C_OUT, _H_OUT, _W_OUT, _K, _STRIDE, _PAD, _POOL, _THR, _LOW, _ZERO_RESET, _HP, _WP = range(15)
# per destination (the columns of EventEmulator.dests): target layer (-1: none), pooling on the way
_TARGET, _DPOOL = range(2)


@dataclass
class EventResult:
    """What one event-mode run produced for one sample."""

    output_counts: np.ndarray  # (n_outputs,) spikes of the last layer after pooling
    layer_spikes: np.ndarray  # (L,) output spikes per layer (pooled by the layer's own pool, inside its window)
    layer_synops: np.ndarray  # (L,) synaptic updates per layer
    monitored: np.ndarray = field(default_factory=lambda: np.zeros(0, MONITOR_DTYPE))
    states: list[np.ndarray] = field(default_factory=list)  # per layer (C_out, H_out, W_out): membranes at the end


@numba.njit(cache=True, nogil=True)
def process(
    layer: int,
    c: int,
    y: int,
    x: int,
    t: int,
    weights: Sequence[np.ndarray],
    states: Sequence[np.ndarray],
    params: np.ndarray,
    dests: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
) -> int:
    """Push one event into ``layer`` and propagate every spike depth-first. Returns n_mon."""
    stack[0, 0], stack[0, 1], stack[0, 2] = c, y, x
    stack_layer[0] = layer
    return drain(
        1, t, weights, states, params, dests, counts, synops, out_counts, stack, stack_layer, mon_mask, mon, n_mon
    )


@numba.njit(cache=True, nogil=True)
def drain(
    top: int,
    t: int,
    weights: Sequence[np.ndarray],
    states: Sequence[np.ndarray],
    params: np.ndarray,
    dests: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
) -> int:
    """Deliver the ``top`` events on the stack and every spike they cause, last in first out. Returns n_mon."""
    n_layers = params.shape[0]
    while top > 0:
        top -= 1
        lay = stack_layer[top]
        ci, yi, xi = stack[top, 0], stack[top, 1], stack[top, 2]
        p = params[lay]
        w = weights[lay]
        v = states[lay]
        k, s, pad = p[_K], p[_STRIDE], p[_PAD]
        thr, low, zero_reset, pool = p[_THR], p[_LOW], p[_ZERO_RESET], p[_POOL]
        hp, wp = p[_HP], p[_WP]
        c_out = p[_C_OUT]
        yy, xx = yi + pad, xi + pad
        oy0 = max(0, (yy - k + s) // s)
        oy1 = min(p[_H_OUT] - 1, yy // s)
        ox0 = max(0, (xx - k + s) // s)
        ox1 = min(p[_W_OUT] - 1, xx // s)
        for oy in range(oy0, oy1 + 1):
            ky = yy - oy * s
            for ox in range(ox0, ox1 + 1):
                kx = xx - ox * s
                synops[lay] += c_out
                wk = w[ci, ky, kx]
                row = v[oy, ox]
                # pass 1, branch-free (vectorised): integrate and clip; a clipped value (< low) cannot fire
                fired = False
                for co in range(c_out):
                    val = max(row[co] + wk[co], low)
                    row[co] = val
                    fired |= val >= thr
                if not fired:
                    continue
                # pass 2, rare: fire at most once, reset, clip again
                for co in range(c_out):
                    val = row[co]
                    if val >= thr:
                        row[co] = max(0 if zero_reset else val - thr, low)
                        if mon_mask[lay] and n_mon < mon.shape[0]:
                            mon[n_mon, 0], mon[n_mon, 1], mon[n_mon, 2] = ox, oy, t
                            mon[n_mon, 3], mon[n_mon, 4] = co, lay
                            n_mon += 1
                        py, px = oy // pool, ox // pool
                        if py < hp and px < wp:
                            counts[lay] += 1
                            if lay == n_layers - 1:
                                out_counts[(co * hp + py) * wp + px] += 1
                        for d in range(dests.shape[1]):
                            q = dests[lay, d, _DPOOL]
                            qy, qx = oy // q, ox // q
                            if dests[lay, d, _TARGET] >= 0 and qy < p[_H_OUT] // q and qx < p[_W_OUT] // q:
                                stack[top, 0], stack[top, 1], stack[top, 2] = co, qy, qx
                                stack_layer[top] = dests[lay, d, _TARGET]
                                top += 1
    return n_mon


@numba.njit(cache=True, nogil=True)
def tick(
    layer: int,
    t: int,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    states: Sequence[np.ndarray],
    params: np.ndarray,
    dests: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
) -> int:
    """Add the bias to every neuron of ``layer`` (a slow-clock tick) and propagate its spikes."""
    n_layers = params.shape[0]
    p = params[layer]
    b = biases[layer]
    v = states[layer]
    thr, low, zero_reset, pool, hp, wp = p[_THR], p[_LOW], p[_ZERO_RESET], p[_POOL], p[_HP], p[_WP]
    for oy in range(p[_H_OUT]):
        for ox in range(p[_W_OUT]):
            for co in range(p[_C_OUT]):
                if b[co] == 0:
                    continue
                val = v[oy, ox, co] + b[co]
                fired = val >= thr
                if fired:
                    val = 0 if zero_reset else val - thr
                if val < low:
                    val = low
                v[oy, ox, co] = val
                if fired:
                    if mon_mask[layer] and n_mon < mon.shape[0]:
                        mon[n_mon, 0], mon[n_mon, 1], mon[n_mon, 2] = ox, oy, t
                        mon[n_mon, 3], mon[n_mon, 4] = co, layer
                        n_mon += 1
                    py, px = oy // pool, ox // pool
                    if py < hp and px < wp:
                        counts[layer] += 1
                        if layer == n_layers - 1:
                            out_counts[(co * hp + py) * wp + px] += 1
                    # the spike's events wait on the stack like those of an input event's spikes
                    top = 0
                    for d in range(dests.shape[1]):
                        q = dests[layer, d, _DPOOL]
                        qy, qx = oy // q, ox // q
                        if dests[layer, d, _TARGET] >= 0 and qy < p[_H_OUT] // q and qx < p[_W_OUT] // q:
                            stack[top, 0], stack[top, 1], stack[top, 2] = co, qy, qx
                            stack_layer[top] = dests[layer, d, _TARGET]
                            top += 1
                    n_mon = drain(
                        top,
                        t,
                        weights,
                        states,
                        params,
                        dests,
                        counts,
                        synops,
                        out_counts,
                        stack,
                        stack_layer,
                        mon_mask,
                        mon,
                        n_mon,
                    )
    return n_mon


@numba.njit(cache=True, nogil=True)
def run(
    ev_c: np.ndarray,
    ev_y: np.ndarray,
    ev_x: np.ndarray,
    ev_t: np.ndarray,
    tick_times: np.ndarray,
    bias_layers: np.ndarray,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    states: Sequence[np.ndarray],
    params: np.ndarray,
    dests: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
) -> int:
    n_mon = 0
    j = 0
    for i in range(ev_t.shape[0]):
        while j < tick_times.shape[0] and tick_times[j] <= ev_t[i]:
            for lay in bias_layers:
                n_mon = tick(
                    lay,
                    tick_times[j],
                    weights,
                    biases,
                    states,
                    params,
                    dests,
                    counts,
                    synops,
                    out_counts,
                    stack,
                    stack_layer,
                    mon_mask,
                    mon,
                    n_mon,
                )
            j += 1
        n_mon = process(
            0,
            ev_c[i],
            ev_y[i],
            ev_x[i],
            ev_t[i],
            weights,
            states,
            params,
            dests,
            counts,
            synops,
            out_counts,
            stack,
            stack_layer,
            mon_mask,
            mon,
            n_mon,
        )
    while j < tick_times.shape[0]:
        for lay in bias_layers:
            n_mon = tick(
                lay,
                tick_times[j],
                weights,
                biases,
                states,
                params,
                dests,
                counts,
                synops,
                out_counts,
                stack,
                stack_layer,
                mon_mask,
                mon,
                n_mon,
            )
        j += 1
    return n_mon


class EventEmulator:
    """A discretised network, ready to run event by event; states reset for every sample."""

    def __init__(
        self,
        net: Network,
        slow_clock_us: float | None = None,
        monitor: tuple[str, ...] = (),
        max_monitored: int = 1 << 22,
    ):
        from numba.typed import List

        self.net = discretize_network(net)
        names = [layer.name for layer in self.net.layers]
        unknown = [m for m in monitor if m not in names and m != "all"]
        if unknown:
            raise InputError(
                f"cannot monitor unknown layer(s) {', '.join(unknown)}", fix=f"layers: {', '.join(names)} (or 'all')"
            )
        self.monitor_mask = np.array([("all" in monitor) or (n in monitor) for n in names], dtype=np.bool_)
        self.slow_clock_us = float(slow_clock_us or self.net.dt_us)
        if not self.slow_clock_us > 0:
            raise InputError("the slow-clock period must be positive")
        rows, self.weights, self.biases = [], List(), List()
        for i, layer in enumerate(self.net.layers):
            c, h, w = layer.input_shape
            c_out, ho, wo = layer.conv_shape
            pool = self.net.counted_pool(i)
            _, hp, wp = layer.pooled_shape(pool)
            if layer.kernel_size[0] != layer.kernel_size[1]:
                raise InputError("event mode needs square kernels", where=f"layer {layer.name}")
            rows.append(
                [
                    c,
                    h,
                    w,
                    c_out,
                    ho,
                    wo,
                    layer.kernel_size[0],
                    layer.stride,
                    layer.padding,
                    pool,
                    int(layer.threshold),
                    int(layer.lower_bound),
                    int(layer.reset == "zero"),
                    hp,
                    wp,
                ]
            )
            # (c_in, k, k, c_out): one input event reads a contiguous run of weights per kernel tap
            self.weights.append(np.ascontiguousarray(layer.weight.transpose(1, 2, 3, 0), dtype=np.int32))
            b = np.zeros(c_out) if layer.bias is None else layer.bias
            self.biases.append(np.ascontiguousarray(b, dtype=np.int32))
        self.params = np.array(rows, dtype=np.int64)
        self.bias_layers = np.array(
            [i for i, layer in enumerate(self.net.layers) if layer.bias is not None and np.any(layer.bias != 0)],
            dtype=np.int64,
        )
        # where each layer's spikes go and the pooling on the way, (L, width, [_TARGET, _DPOOL]); target -1 (pool
        # 1): nowhere. Up to two destinations per core on the chip (the hw rule SPK015 checks that, not this)
        width = max(1, max(len(self.net.targets(i)) for i in range(len(rows))))
        self.dests = np.zeros((len(rows), width, 2), dtype=np.int64)
        self.dests[:, :, _TARGET], self.dests[:, :, _DPOOL] = -1, 1
        for i in range(len(rows)):
            n_dest = len(self.net.targets(i))
            self.dests[i, :n_dest, _TARGET] = self.net.targets(i)
            self.dests[i, :n_dest, _DPOOL] = self.net.target_pools(i)
        # depth-first: at most one unfinished burst per level of the longest path, each of at most
        # (neurons one event reaches) × (destinations) entries
        burst = max(int(p[_C_OUT]) * (-(-int(p[_K]) // int(p[_STRIDE]))) ** 2 + 1 for p in rows)
        depth = width * len(rows) * burst
        self._stack = np.zeros((max(depth, 16), 3), dtype=np.int64)
        self._stack_layer = np.zeros(max(depth, 16), dtype=np.int64)
        self.max_monitored = max_monitored
        self.n_outputs = int(np.prod(self.net.output_shape))

    def run(self, events: np.ndarray, duration_us: float | None = None) -> EventResult:
        """Run one sample of structured events (``x, y, t, p``; channel = ``p``), sorted by time."""
        c_in, h_in, w_in = self.net.input_shape
        ev = events
        if len(ev) and (
            ev["x"].min() < 0
            or ev["x"].max() >= w_in
            or ev["y"].min() < 0
            or ev["y"].max() >= h_in
            or ev["p"].min() < 0
            or ev["p"].max() >= c_in
        ):
            raise InputError(
                f"events fall outside the model input (C, H, W) = {self.net.input_shape}",
                fix="crop, pool or merge polarities with the sensor stage first",
            )
        if len(ev) > 1 and np.any(np.diff(ev["t"]) < 0):
            raise InputError("event times are not sorted", fix="sort the events by t first")
        t = np.ascontiguousarray(ev["t"], dtype=np.int64)
        end = float(duration_us) if duration_us is not None else (float(t[-1]) + 1 if len(t) else 0.0)
        ticks = (
            np.arange(1, int(end // self.slow_clock_us) + 1, dtype=np.int64) * np.int64(self.slow_clock_us)
            if len(self.bias_layers)
            else np.zeros(0, dtype=np.int64)
        )
        cap = self.max_monitored if self.monitor_mask.any() else 0
        while True:
            from numba.typed import List

            states = List(
                [np.zeros((int(p[_H_OUT]), int(p[_W_OUT]), int(p[_C_OUT])), dtype=np.int32) for p in self.params]
            )
            counts = np.zeros(len(self.params), dtype=np.int64)
            synops = np.zeros(len(self.params), dtype=np.int64)
            out = np.zeros(self.n_outputs, dtype=np.int64)
            mon = np.zeros((cap, 5), dtype=np.int64)
            n_mon = run(
                np.ascontiguousarray(ev["p"], dtype=np.int64),
                np.ascontiguousarray(ev["y"], dtype=np.int64),
                np.ascontiguousarray(ev["x"], dtype=np.int64),
                t,
                ticks,
                self.bias_layers,
                self.weights,
                self.biases,
                states,
                self.params,
                self.dests,
                counts,
                synops,
                out,
                self._stack,
                self._stack_layer,
                self.monitor_mask,
                mon,
            )
            if n_mon < cap or cap == 0:
                break
            cap *= 4  # the monitor buffer overflowed: run again with room to spare
        rec = np.zeros(n_mon, MONITOR_DTYPE)
        for i, name in enumerate(MONITOR_FIELDS):
            rec[name] = mon[:n_mon, i]
        return EventResult(out, counts, synops, rec, [np.asarray(v).transpose(2, 0, 1) for v in states])


def raster_to_events(raster: np.ndarray, dt_us: float) -> np.ndarray:
    """(T, C, H, W) spike counts → time-sorted events, one per count, stamped at the start of their bin."""
    from ..data.events import EVENT_DTYPE

    counts = np.rint(np.asarray(raster)).astype(np.int64)
    t_idx, c, y, x = np.nonzero(counts)
    reps = counts[t_idx, c, y, x]
    ev = np.zeros(int(reps.sum()), EVENT_DTYPE)
    for name, vals in (("t", np.rint(t_idx * dt_us).astype(np.int64)), ("p", c), ("y", y), ("x", x)):
        ev[name] = np.repeat(vals, reps)
    return ev  # np.nonzero walks T first, so the times are already sorted

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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numba
import numpy as np

from ..errors import InputError
from ..ir import Network
from ..quant.chip import discretize_network

_F = TypeVar("_F", bound=Callable[..., Any])
MONITOR_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i2"), ("layer", "<i1")])
MONITOR_FIELDS: tuple[str, ...] = tuple(MONITOR_DTYPE.names or ())  # x, y, t, p, layer
# per-layer integer parameters, one row each (_POOL, _HP, _WP: the pooling the layer's spikes are counted under;
# _SINK: the layer whose events drain() takes at once after this layer's, -1 for none; see EventEmulator)
_C_IN, _H_IN, _W_IN, _C_OUT, _H_OUT, _W_OUT, _K, _STRIDE, _PAD, _POOL, _THR, _LOW, _ZERO_RESET, _HP, _WP, _SINK = range(
    16
)
# per destination (the columns of EventEmulator.dests): target layer (-1: none), pooling on the way, and the
# pooled size a spike must fall inside (the source's output rows and columns // pooling)
_TARGET, _DPOOL, _DH, _DW = range(4)


@dataclass
class EventResult:
    """What one event-mode run produced for one sample."""

    output_counts: np.ndarray  # (n_outputs,) spikes of the last layer after pooling
    layer_spikes: np.ndarray  # (L,) output spikes per layer (pooled by the layer's own pool, inside its window)
    layer_synops: np.ndarray  # (L,) synaptic updates per layer
    monitored: np.ndarray = field(default_factory=lambda: np.zeros(0, MONITOR_DTYPE))
    states: list[np.ndarray] = field(default_factory=list)  # per layer (C_out, H_out, W_out), with keep_states


# The compiled kernel takes every array as an argument of its own (tuples of arrays cost a copy per call):
#   weights: every layer's weights flat, as (c_in, k, k, c_out) with the kernel columns reversed, from
#   w_off[layer]; biases flat from b_off[layer]
#   states: every layer's membranes flat, as (h_out, w_out, c_out), from v_off[layer]
#   params, dests: as above; counts, synops, out_counts: per layer and output; stack, stack_layer: the spike
#   stack; mon_mask, mon: the monitor; hot, run_cells: drain()'s scratch (the neurons of one event that may fire)
# At stride 1 the neurons of one output row that an input event reaches, c_out channels at each column, lie side
# by side, and so do their taps with the kernel columns reversed: one contiguous run of weights and membranes
# per row. At other strides, one run of c_out per kernel tap.


def _kernel(inline: bool = False) -> Callable[[_F], _F]:
    """``numba.njit`` for the kernels below: cached on disk, and without numba's reference counting
    (``_nrt=False``; they allocate nothing). In these branchy loops numba left an atomic increment and decrement
    per array argument and view, which took three quarters of the time on benchmarks/emulator_speed.py's busy
    network."""
    options = {"cache": True, "_nrt": False, "nogil": True, "error_model": "numpy"}
    return numba.njit(**options, inline="always" if inline else "never")  # type: ignore[call-overload]


try:  # LLVM's cttz, the lowest set bit, from numba's unsafe helpers (there since numba 0.47)
    from numba.cpython.unsafe.numbers import trailing_zeros as _cttz

    trailing_zeros: Any = _cttz
except ImportError:  # pragma: no cover - a numba that moved it: the same by a loop

    @_kernel(inline=True)
    def trailing_zeros(bits: np.uint64) -> int:
        n = 0
        while not (bits >> np.uint64(n)) & np.uint64(1):
            n += 1
        return n


@_kernel(inline=True)
def _floor_div(a: int, b: int) -> int:
    """``a // b`` for b ≥ 1; the chip's strides and poolings (1, 2, 4, 8) as shifts, far cheaper than a division
    (an arithmetic shift floors negative values too)."""
    if b == 1:
        return a
    if b == 2:
        return a >> 1
    if b == 4:
        return a >> 2
    if b == 8:
        return a >> 3
    return a // b


@_kernel(inline=True)
def _integrate(v: np.ndarray, w: np.ndarray, low: np.int32, thr: np.int32) -> bool:
    """``v += w`` in int32 like the membranes (twice the lanes of int64), clipped at ``low``, vectorised; whether
    one of them reached ``thr``."""
    fire = False
    for co in range(v.shape[0]):
        val = np.int32(v[co] + w[co])
        val = val if val > low else low
        v[co] = val
        fire |= bool(val >= thr)
    return fire


@_kernel(inline=True)
def _reset(val: int | np.int32, thr: int | np.int32, low: int | np.int32, zero_reset: int) -> int | np.int32:
    """A fired neuron's new state: zero, or less the threshold; clipped at the lower bound."""
    new = 0 if zero_reset else val - thr
    return new if new > low else low


@_kernel(inline=True)
def _send(
    lay: int,
    co: int,
    oy: int,
    ox: int,
    t: int,
    params: np.ndarray,
    dests: np.ndarray,
    counts: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    top: int,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
) -> tuple[int, int]:
    """A spike of neuron (co, oy, ox) of ``lay``: monitor it, count it, push its events; (top, n_mon)."""
    if mon_mask[lay] and n_mon < mon.shape[0]:
        mon[n_mon, 0], mon[n_mon, 1], mon[n_mon, 2] = ox, oy, t
        mon[n_mon, 3], mon[n_mon, 4] = co, lay
        n_mon += 1
    pool, hp, wp = params[lay, _POOL], params[lay, _HP], params[lay, _WP]
    py, px = _floor_div(oy, pool), _floor_div(ox, pool)
    if py < hp and px < wp:
        counts[lay] += 1
        if lay == params.shape[0] - 1:
            out_counts[(co * hp + py) * wp + px] += 1
    for d in range(dests.shape[1]):
        target, q = dests[lay, d, _TARGET], dests[lay, d, _DPOOL]
        qy, qx = _floor_div(oy, q), _floor_div(ox, q)
        if target >= 0 and qy < dests[lay, d, _DH] and qx < dests[lay, d, _DW]:
            stack[top, 0], stack[top, 1], stack[top, 2] = co, qy, qx
            stack_layer[top] = target
            top += 1
    return top, n_mon


@_kernel(inline=True)
def drain(
    top: int,
    t: int,
    weights: np.ndarray,
    w_off: np.ndarray,
    params: np.ndarray,
    dests: np.ndarray,
    states: np.ndarray,
    v_off: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
    hot: np.ndarray,
    run_cells: np.ndarray,
) -> int:
    """Deliver the ``top`` events on the stack and every spike they cause, last in first out. Returns n_mon."""
    while top > 0:
        top -= 1
        lay = stack_layer[top]
        ci, yi, xi = stack[top, 0], stack[top, 1], stack[top, 2]
        top0 = top  # this event's spikes push from here
        k, s, pad = params[lay, _K], params[lay, _STRIDE], params[lay, _PAD]
        c_out, wo = params[lay, _C_OUT], params[lay, _W_OUT]
        # bounds as int32, like the membranes: int64 ones kept the compiler from vectorising the update
        thr, low = np.int32(params[lay, _THR]), np.int32(params[lay, _LOW])
        zero_reset = params[lay, _ZERO_RESET]
        yy, xx = yi + pad, xi + pad
        oy0, oy1 = max(0, _floor_div(yy - k + s, s)), min(params[lay, _H_OUT] - 1, _floor_div(yy, s))
        ox0, ox1 = max(0, _floor_div(xx - k + s, s)), min(wo - 1, _floor_div(xx, s))
        if oy1 < oy0 or ox1 < ox0:
            continue
        synops[lay] += (oy1 - oy0 + 1) * (ox1 - ox0 + 1) * c_out
        w_in = w_off[lay] + ci * k * k * c_out
        # pass 1, branch-free: integrate and clip every neuron the event reaches (the lower bound is below the
        # threshold, so clipping never decides a spike); note where one may fire. The spikes wait on the stack
        # until the event is done, so firing after all its updates is the same as firing after each
        n_hot = 0
        run_len = (ox1 - ox0 + 1) * c_out
        if s == 1 and run_len <= 64:
            # stride 1: a row's neurons and their taps (kernel columns stored reversed) are one contiguous run each:
            # one vectorised loop per row, and a bit for each neuron that may fire
            for oy in range(oy0, oy1 + 1):
                vi = v_off[lay] + (oy * wo + ox0) * c_out
                wi = w_in + ((yy - oy) * k + k - 1 - xx + ox0) * c_out
                v, w = states[vi : vi + run_len], weights[wi : wi + run_len]  # views: the loop below vectorises
                bits = np.uint64(0)
                for j in range(run_len):
                    val = np.int32(v[j] + w[j])  # int32 like the membranes: twice the lanes of int64
                    val = val if val > low else low
                    v[j] = val
                    bits |= np.uint64(val >= thr) << np.uint64(j)
                hot[n_hot, 0], hot[n_hot, 1], hot[n_hot, 2], hot[n_hot, 3] = vi, oy, ox0, np.int64(bits)
                n_hot += bits != 0
        else:
            # one vectorised loop per position; whether one of its neurons may fire
            for oy in range(oy0, oy1 + 1):
                w_row = w_in + (yy - oy * s) * k * c_out
                v_row = v_off[lay] + oy * wo * c_out
                for ox in range(ox0, ox1 + 1):
                    wi = w_row + (k - 1 - xx + ox * s) * c_out
                    vi = v_row + ox * c_out
                    fire = _integrate(states[vi : vi + c_out], weights[wi : wi + c_out], low, thr)
                    hot[n_hot, 0], hot[n_hot, 1], hot[n_hot, 2], hot[n_hot, 3] = vi, oy, ox, 0
                    n_hot += int(fire)
        # pass 2, where noted: fire at most once, reset, clip again; spikes sent in order of row, column and channel,
        # visiting only the neurons that fired (the set bits)
        for h in range(n_hot):
            vi, oy, ox = hot[h, 0], hot[h, 1], hot[h, 2]
            bits = np.uint64(hot[h, 3])
            in_run = bits != 0  # a row's run: its bits are the neurons that fire; else one position's channels
            for c0 in range(0, 1 if in_run else c_out, 64):
                if not in_run:  # reset vectorised, 64 channels at a time; the bits are the channels that fired
                    v = states[vi + c0 : vi + min(c_out, c0 + 64)]
                    for j in range(v.shape[0]):
                        val = v[j]
                        v[j] = _reset(val, thr, low, zero_reset) if val >= thr else val
                        bits |= np.uint64(val >= thr) << np.uint64(j)
                while bits:
                    j = trailing_zeros(bits)
                    bits &= bits - np.uint64(1)
                    co, col = c0 + j, ox
                    if in_run:
                        states[vi + j] = _reset(states[vi + j], thr, low, zero_reset)
                        co, col = run_cells[lay, j, 1], ox + run_cells[lay, j, 0]
                    top, n_mon = _send(
                        lay,
                        co,
                        oy,
                        col,
                        t,
                        params,
                        dests,
                        counts,
                        out_counts,
                        stack,
                        stack_layer,
                        top,
                        mon_mask,
                        mon,
                        n_mon,
                    )
        sink = params[lay, _SINK]
        if sink >= 0 and top > top0:
            # the events just pushed all go to a sink with one position: take them now, last first, as the loop
            # would (a sink sends nothing on), with its numbers read once under names of their own (reusing the
            # layer's cost 15 % in speed). The same update, firing and reset as pass 1 and 2 above and tick()
            # below: a change to one is a change to all three
            k_s, c_s, pad_s = params[sink, _K], params[sink, _C_OUT], params[sink, _PAD]
            thr_s, low_s = np.int32(params[sink, _THR]), np.int32(params[sink, _LOW])
            zero_s = params[sink, _ZERO_RESET]
            v_s = states[v_off[sink] : v_off[sink] + c_s]
            for i in range(top - 1, top0 - 1, -1):
                y_s, x_s = stack[i, 1] + pad_s, stack[i, 2] + pad_s
                if y_s < 0 or y_s >= k_s or x_s < 0 or x_s >= k_s:
                    continue
                synops[sink] += c_s
                wi = w_off[sink] + ((stack[i, 0] * k_s + y_s) * k_s + k_s - 1 - x_s) * c_s
                if _integrate(v_s, weights[wi : wi + c_s], low_s, thr_s):
                    for co in range(c_s):
                        if v_s[co] >= thr_s:
                            v_s[co] = _reset(v_s[co], thr_s, low_s, zero_s)
                            _, n_mon = _send(
                                sink,
                                co,
                                0,
                                0,
                                t,
                                params,
                                dests,
                                counts,
                                out_counts,
                                stack,
                                stack_layer,
                                top0,
                                mon_mask,
                                mon,
                                n_mon,
                            )
            top = top0
    return n_mon


@_kernel()
def tick(
    layer: int,
    t: int,
    weights: np.ndarray,
    w_off: np.ndarray,
    biases: np.ndarray,
    b_off: np.ndarray,
    params: np.ndarray,
    dests: np.ndarray,
    states: np.ndarray,
    v_off: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    n_mon: int,
    hot: np.ndarray,
    run_cells: np.ndarray,
) -> int:
    """Add the bias to every neuron of ``layer`` (a slow-clock tick) and carry its spikes through."""
    thr, low, zero_reset = params[layer, _THR], params[layer, _LOW], params[layer, _ZERO_RESET]
    c_out, ho, wo = params[layer, _C_OUT], params[layer, _H_OUT], params[layer, _W_OUT]
    for oy in range(ho):
        for ox in range(wo):
            vi = v_off[layer] + (oy * wo + ox) * c_out
            for co in range(c_out):
                b = biases[b_off[layer] + co]
                if b == 0:
                    continue
                val = np.int32(states[vi + co] + b)  # int32 first, then clip, as drain() does
                fired = val >= thr
                states[vi + co] = _reset(val, thr, low, zero_reset) if fired else max(val, low)
                if fired:
                    # the spike's events wait on the stack like those of an input event's spikes
                    top, n_mon = _send(
                        layer,
                        co,
                        oy,
                        ox,
                        t,
                        params,
                        dests,
                        counts,
                        out_counts,
                        stack,
                        stack_layer,
                        0,
                        mon_mask,
                        mon,
                        n_mon,
                    )
                    n_mon = drain(
                        top,
                        t,
                        weights,
                        w_off,
                        params,
                        dests,
                        states,
                        v_off,
                        counts,
                        synops,
                        out_counts,
                        stack,
                        stack_layer,
                        mon_mask,
                        mon,
                        n_mon,
                        hot,
                        run_cells,
                    )
    return n_mon


@_kernel()
def run(
    ev_c: np.ndarray,
    ev_y: np.ndarray,
    ev_x: np.ndarray,
    ev_t: np.ndarray,
    tick_times: np.ndarray,
    bias_layers: np.ndarray,
    weights: np.ndarray,
    w_off: np.ndarray,
    biases: np.ndarray,
    b_off: np.ndarray,
    params: np.ndarray,
    dests: np.ndarray,
    states: np.ndarray,
    v_off: np.ndarray,
    counts: np.ndarray,
    synops: np.ndarray,
    out_counts: np.ndarray,
    stack: np.ndarray,
    stack_layer: np.ndarray,
    mon_mask: np.ndarray,
    mon: np.ndarray,
    hot: np.ndarray,
    run_cells: np.ndarray,
) -> int:
    """Every input event in order, the slow clock's ticks before the events at or after their time; n_mon."""
    n_mon = 0
    j = 0
    for i in range(ev_t.shape[0] + 1):
        last = i == ev_t.shape[0]  # after the last event: the remaining ticks
        while j < tick_times.shape[0] and (last or tick_times[j] <= ev_t[i]):
            for lay in bias_layers:
                n_mon = tick(
                    lay,
                    tick_times[j],
                    weights,
                    w_off,
                    biases,
                    b_off,
                    params,
                    dests,
                    states,
                    v_off,
                    counts,
                    synops,
                    out_counts,
                    stack,
                    stack_layer,
                    mon_mask,
                    mon,
                    n_mon,
                    hot,
                    run_cells,
                )
            j += 1
        if last:
            break
        stack[0, 0], stack[0, 1], stack[0, 2] = ev_c[i], ev_y[i], ev_x[i]
        stack_layer[0] = 0
        n_mon = drain(
            1,
            ev_t[i],
            weights,
            w_off,
            params,
            dests,
            states,
            v_off,
            counts,
            synops,
            out_counts,
            stack,
            stack_layer,
            mon_mask,
            mon,
            n_mon,
            hot,
            run_cells,
        )
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
        rows: list[list[int]] = []
        weights: list[np.ndarray] = []
        biases: list[np.ndarray] = []
        for i, layer in enumerate(self.net.layers):
            c, h, w = layer.input_shape
            c_out, ho, wo = layer.conv_shape
            pool = self.net.counted_pool(i)
            _, hp, wp = layer.pooled_shape(pool)
            if layer.kernel_size[0] != layer.kernel_size[1]:
                raise InputError("event mode needs square kernels", where=f"layer {layer.name}")
            if layer.lower_bound >= layer.threshold:
                raise InputError(
                    f"the lower bound ({layer.lower_bound:g}) is not below the threshold ({layer.threshold:g}): "
                    "every neuron would be clipped into firing",
                    where=f"layer {layer.name}",
                    fix="give min_v_mem below spike_threshold (by default it is -threshold)",
                )
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
            # (c_in, k, k, c_out), kernel columns reversed: a row of taps is one contiguous run, like the neurons
            weights.append(layer.weight.transpose(1, 2, 3, 0)[:, :, ::-1].astype(np.int32).ravel())
            biases.append((np.zeros(c_out) if layer.bias is None else layer.bias).astype(np.int32))
        self.params = np.array([row + [-1] for row in rows], dtype=np.int64)  # _SINK: set below
        sizes = [int(p[_H_OUT] * p[_W_OUT] * p[_C_OUT]) for p in self.params]
        self._shapes = [(int(p[_H_OUT]), int(p[_W_OUT]), int(p[_C_OUT])) for p in self.params]
        self._states = np.zeros(sum(sizes), dtype=np.int32)  # allocated once, zeroed for every sample
        self._v_off = _offsets(sizes)
        self.bias_layers = np.array(
            [i for i, layer in enumerate(self.net.layers) if layer.bias is not None and np.any(layer.bias != 0)],
            dtype=np.int64,
        )
        # where each layer's spikes go and the pooling on the way, (L, width, [_TARGET, _DPOOL]); target -1 (pool
        # 1): nowhere. Up to two destinations per core on the chip (the hw rule SPK015 checks that, not this)
        width = max(1, max(len(self.net.targets(i)) for i in range(len(rows))))
        self.dests = np.zeros((len(rows), width, 4), dtype=np.int64)
        self.dests[:, :, _TARGET], self.dests[:, :, _DPOOL] = -1, 1
        for i in range(len(rows)):
            n_dest = len(self.net.targets(i))
            pools = np.array(self.net.target_pools(i), dtype=np.int64)
            self.dests[i, :n_dest, _TARGET] = self.net.targets(i)
            self.dests[i, :n_dest, _DPOOL] = pools
            self.dests[i, :n_dest, _DH] = rows[i][_H_OUT] // pools
            self.dests[i, :n_dest, _DW] = rows[i][_W_OUT] // pools
        # a sink: a layer with one output position (a linear readout) that sends nothing on, fed by one layer whose
        # only destination it is. The stack would take the events that layer's event sends right after that event,
        # last first; drain() takes them there at once (_SINK), without pushing and popping them one by one
        for i in range(1, len(rows)):
            sources = [j for j in range(len(rows)) if i in self.net.targets(j)]
            one_position = rows[i][_H_OUT] == rows[i][_W_OUT] == 1
            sends_nothing = bool(np.all(self.dests[i, :, _TARGET] < 0))
            if one_position and sends_nothing and len(sources) == 1 and len(self.net.targets(sources[0])) == 1:
                self.params[sources[0], _SINK] = i
        # the kernel's view of the network, in run()'s order (see the comment above _send)
        self._net = (
            np.concatenate(weights),
            _offsets([len(w) for w in weights]),
            np.concatenate(biases),
            _offsets([len(b) for b in biases]),
            self.params,
            self.dests,
        )
        # the output rows and columns one input event reaches, per layer
        span = [(min(-(-p[_K] // p[_STRIDE]), p[_H_OUT]), min(-(-p[_K] // p[_STRIDE]), p[_W_OUT])) for p in rows]
        # drain()'s scratch: the positions (or stride-1 rows) that may fire, and for a row's run of at most 64
        # neurons, bit j's neuron: column offset j // c_out, channel j % c_out
        self._hot = np.zeros((max(h * w for h, w in span), 4), dtype=np.int64)
        j = np.arange(64)
        self._run_cells = np.stack([np.stack([j // int(p[_C_OUT]), j % int(p[_C_OUT])], axis=1) for p in rows])
        # depth-first: at most one unfinished burst per level of the longest path, each of at most
        # (neurons one event reaches) × (destinations) entries
        burst = max(int(p[_C_OUT]) * h * w + 1 for p, (h, w) in zip(rows, span))
        depth = width * len(rows) * burst
        self._stack = np.zeros((max(depth, 16), 3), dtype=np.int64)
        self._stack_layer = np.zeros(max(depth, 16), dtype=np.int64)
        self.max_monitored = max_monitored
        self.n_outputs = int(np.prod(self.net.output_shape))

    def run(self, events: np.ndarray, duration_us: float | None = None, keep_states: bool = False) -> EventResult:
        """Run one sample of structured events (``x, y, t, p``; channel = ``p``), sorted by time; ``keep_states``:
        return every membrane at the end too (a copy of the whole state: tests, not whole datasets)."""
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
        channels = np.ascontiguousarray(ev["p"], dtype=np.int64)
        rows = np.ascontiguousarray(ev["y"], dtype=np.int64)
        columns = np.ascontiguousarray(ev["x"], dtype=np.int64)
        while True:
            self._states[:] = 0
            counts = np.zeros(len(self.params), dtype=np.int64)
            synops = np.zeros(len(self.params), dtype=np.int64)
            out = np.zeros(self.n_outputs, dtype=np.int64)
            mon = np.zeros((cap, 5), dtype=np.int64)
            buf = (
                self._states,
                self._v_off,
                counts,
                synops,
                out,
                self._stack,
                self._stack_layer,
                self.monitor_mask,
                mon,
            )
            scratch = (self._hot, self._run_cells)
            n_mon = run(channels, rows, columns, t, ticks, self.bias_layers, *self._net, *buf, *scratch)
            if n_mon < cap or cap == 0:
                break
            cap *= 4  # the monitor buffer overflowed: run again with room to spare
        rec = np.zeros(n_mon, MONITOR_DTYPE)
        for i, name in enumerate(MONITOR_FIELDS):
            rec[name] = mon[:n_mon, i]
        states = [
            self._states[o : o + h * w * c].reshape(h, w, c).transpose(2, 0, 1).copy()
            for o, (h, w, c) in zip(self._v_off, self._shapes)
            if keep_states
        ]
        return EventResult(out, counts, synops, rec, states)


def _offsets(sizes: list[int]) -> np.ndarray:
    """Where each of the concatenated pieces of ``sizes`` starts."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _raster_events(raster: np.ndarray, stamps: np.ndarray, out: np.ndarray) -> int:
    """Write the events of ``raster`` (T, C, H, W) into ``out`` (columns t, p, y, x) in (t, c, y, x) order, each
    count rounded half to even and repeated (counts ≤ 0: none); returns how many there are (``out`` None-sized:
    only counts)."""
    n = 0
    n_t, n_c, n_h, n_w = raster.shape
    for t in range(n_t):
        for c in range(n_c):
            for y in range(n_h):
                for x in range(n_w):
                    k = int(np.rint(raster[t, c, y, x]))
                    for _ in range(k):
                        if n < out.shape[0]:
                            out[n, 0], out[n, 1], out[n, 2], out[n, 3] = stamps[t], c, y, x
                        n += 1
    return n


def raster_to_events(raster: np.ndarray, dt_us: float) -> np.ndarray:
    """(T, C, H, W) spike counts → time-sorted events, one per count, stamped at the start of their bin."""
    from ..data.events import EVENT_DTYPE

    raster = np.ascontiguousarray(raster)
    if not np.issubdtype(raster.dtype, np.floating):
        raster = raster.astype(np.float64)  # counts given as integers (or booleans)
    stamps = np.rint(np.arange(raster.shape[0]) * dt_us).astype(np.int64)
    n = _raster_events(raster, stamps, np.zeros((0, 4), dtype=np.int64))  # count, then fill
    table = np.empty((n, 4), dtype=np.int64)
    _raster_events(raster, stamps, table)
    ev = np.empty(n, EVENT_DTYPE)
    for i, name in enumerate(("t", "p", "y", "x")):
        ev[name] = table[:, i]
    return ev  # bins in order, so the times are already sorted

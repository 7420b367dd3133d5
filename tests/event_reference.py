"""A plain, slow emulator of the chip's event semantics, for tests only: the compiled event mode
(``qsnn_deploy.emulate.event``) must agree with it spike for spike, state for state and SynOp for SynOp.

Written from the semantics (DESIGN.md §4 and the event mode's own statement of them), with none of the fast
kernel's data layout, index arithmetic or passes; every neuron is an ``int`` in a dict:

- an input event at (c, y, x) enters layer 0; an event entering a layer updates, in order of output row,
  column and channel, every neuron whose receptive field holds it: ``v += w[co, c, ky, kx]``, one SynOp each.
  After its update a neuron fires at most once, if ``v >= threshold``: ``v -= threshold`` (or ``v = 0``), then
  ``v = max(v, lower bound)``;
- a spike at (co, oy, ox) goes to each destination, in order, as an event at (co, oy // q, ox // q) for that
  edge's pooling q (dropped past the last whole window), before the next input event. The spikes an event
  causes wait on one stack, last in first out, across layers;
- the slow clock ticks at every multiple of its period up to the duration; a tick acts before the input events
  at or after its time and adds each layer's bias (layers in order, neurons by row, column, channel; a zero
  bias leaves its neurons alone), with the same firing rule; each spike of a tick is carried to the end
  (its stack empty) before the next neuron's bias;
- a layer's spikes are counted under its counted pooling, inside whole windows; the last layer's pooled
  spikes are the outputs; every spike is recorded as (x, y, t, channel, layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir import Network


@dataclass
class ReferenceResult:
    output_counts: list[int]
    layer_spikes: list[int]
    layer_synops: list[int]
    spikes: list[tuple[int, int, int, int, int]]  # (x, y, t, channel, layer), in firing order
    states: list[np.ndarray]  # per layer (C_out, H_out, W_out): the membranes at the end


class _Chip:
    def __init__(self, net: Network):
        self.net = net
        self.layers = net.layers
        self.v = [dict.fromkeys(self._neurons(j), 0) for j in range(len(self.layers))]
        self.synops = [0] * len(self.layers)
        self.counts = [0] * len(self.layers)
        self.outputs = [0] * int(np.prod(net.output_shape))
        self.spikes: list[tuple[int, int, int, int, int]] = []

    def _neurons(self, j: int) -> list[tuple[int, int, int]]:
        c_out, ho, wo = self.layers[j].conv_shape
        return [(oy, ox, co) for oy in range(ho) for ox in range(wo) for co in range(c_out)]

    def _fire(self, j: int, neuron: tuple[int, int, int], t: int) -> list[tuple[int, int, int, int]]:
        """Apply the firing rule to one neuron after its update; the events its spike sends (if it fired)."""
        layer = self.layers[j]
        thr, low = int(layer.threshold), int(layer.lower_bound)
        v = self.v[j][neuron]
        fired = v >= thr
        if fired:
            v = 0 if layer.reset == "zero" else v - thr
        self.v[j][neuron] = max(v, low)
        if not fired:
            return []
        oy, ox, co = neuron
        self.spikes.append((ox, oy, t, co, j))
        pool = self.net.counted_pool(j)
        _, hp, wp = layer.pooled_shape(pool)
        if oy // pool < hp and ox // pool < wp:
            self.counts[j] += 1
            if j == len(self.layers) - 1:
                self.outputs[(co * hp + oy // pool) * wp + ox // pool] += 1
        sent = []
        _, ho, wo = layer.conv_shape
        for target, q in zip(self.net.targets(j), self.net.target_pools(j)):
            if oy // q < ho // q and ox // q < wo // q:
                sent.append((target, co, oy // q, ox // q))
        return sent

    def _receive(self, j: int, c: int, y: int, x: int, t: int) -> list[tuple[int, int, int, int]]:
        """One event into layer ``j``: update the neurons it reaches; the events their spikes send."""
        layer = self.layers[j]
        k, s, pad = layer.kernel_size[0], layer.stride, layer.padding
        c_out, ho, wo = layer.conv_shape
        sent = []
        for oy in range(ho):
            for ox in range(wo):
                ky, kx = y + pad - oy * s, x + pad - ox * s
                if not (0 <= ky < k and 0 <= kx < k):
                    continue
                for co in range(c_out):
                    self.synops[j] += 1
                    self.v[j][(oy, ox, co)] += int(layer.weight[co, c, ky, kx])
                    sent += self._fire(j, (oy, ox, co), t)
        return sent

    def carry(self, pending: list[tuple[int, int, int, int]], t: int) -> None:
        """Deliver ``pending`` events and every spike they cause, last in first out."""
        while pending:
            pending += self._receive(*pending.pop(), t)

    def tick(self, t: int) -> None:
        for j, layer in enumerate(self.layers):
            if layer.bias is None:
                continue
            for neuron in self._neurons(j):
                b = int(layer.bias[neuron[2]])
                if b == 0:
                    continue
                self.v[j][neuron] += b
                self.carry(self._fire(j, neuron, t), t)

    def states(self) -> list[np.ndarray]:
        out = []
        for j, layer in enumerate(self.layers):
            a = np.zeros(layer.conv_shape, dtype=np.int64)
            for (oy, ox, co), v in self.v[j].items():
                a[co, oy, ox] = v
            out.append(a)
        return out


def reference_run(net: Network, events: np.ndarray, slow_clock_us: float, duration_us: float) -> ReferenceResult:
    """Run one sample of ``events`` (``x, y, t, p``, sorted by time) through ``net``, whose weights, biases,
    thresholds and lower bounds must be integers already (the chip's numbers)."""
    for layer in net.layers:
        numbers = [layer.weight, layer.threshold, layer.lower_bound] + ([] if layer.bias is None else [layer.bias])
        assert all(np.array_equal(np.rint(v), v) for v in numbers), f"layer {layer.name} is not integer"
    chip = _Chip(net)
    period = int(slow_clock_us)
    ticks = [period * n for n in range(1, int(duration_us // slow_clock_us) + 1)]
    has_bias = any(layer.bias is not None and np.any(layer.bias != 0) for layer in net.layers)
    ticks = ticks if has_bias else []
    for e in events:
        t = int(e["t"])
        while ticks and ticks[0] <= t:
            chip.tick(ticks.pop(0))
        chip.carry([(0, int(e["p"]), int(e["y"]), int(e["x"]))], t)
    for t in ticks:
        chip.tick(t)
    return ReferenceResult(chip.outputs, chip.counts, chip.synops, chip.spikes, chip.states())

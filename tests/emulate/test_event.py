"""Event mode: hand-computed chip semantics, agreement with binned mode where both are exact, properties."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import random_network, random_raster
from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.emulate.event import EventEmulator, raster_to_events
from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import ChipLayer, Network


def events(*rows):
    ev = np.zeros(len(rows), EVENT_DTYPE)
    for i, (x, y, t, p) in enumerate(rows):
        ev[i] = (x, y, t, p)
    return ev


def single(weight=3.0, threshold=4.0, low=-5.0, reset="subtract", bias=None, pool=1, shape=(1, 2, 2)):
    layer = ChipLayer("n", np.full((1, 1, 1, 1), weight), shape, threshold=threshold, min_v_mem=low, reset=reset,
                      bias=None if bias is None else np.array([bias]), pool=pool, scale=1.0)
    return Network((layer,), shape, dt_us=1000.0)


def test_at_most_one_spike_per_update():
    # weight 9 >= 2 thresholds of 4: binned mode gives 2 spikes, the chip only 1 (v 9 → 5, then 5 → 1 + 9 ...)
    net = single(weight=9.0)
    res = EventEmulator(net).run(events((0, 0, 10, 0)))
    assert res.output_counts.tolist() == [1, 0, 0, 0]
    res = EventEmulator(net).run(events((0, 0, 10, 0), (0, 0, 20, 0)))  # 9 → fire → 5; 14 → fire → 10
    assert res.output_counts[0] == 2
    assert run_binned(net, np.array([[[[[1, 0], [0, 0]]]]], np.float32)).output_counts[0, 0] == 2


def test_zero_reset_and_lower_bound():
    res = EventEmulator(single(weight=5.0, reset="zero")).run(events((1, 1, 0, 0), (1, 1, 5, 0), (1, 1, 9, 0)))
    assert res.output_counts[3] == 3  # 5 → fire → 0, three times
    neg = single(weight=-3.0, low=-5.0)
    emu = EventEmulator(neg, monitor=("n",))
    emu.run(events((0, 0, 0, 0), (0, 0, 1, 0), (0, 0, 2, 0)))  # clipped at -5, no spikes
    res = emu.run(events((0, 0, 0, 0)))  # states reset between samples
    assert res.layer_spikes.tolist() == [0] and len(res.monitored) == 0


def test_bias_on_the_slow_clock():
    net = single(weight=1.0, bias=2.0, threshold=4.0)
    res = EventEmulator(net, slow_clock_us=100.0).run(events(), duration_us=1000.0)
    # 10 ticks of +2 on each of the 4 neurons: a spike every second tick → 5 each
    assert res.output_counts.tolist() == [5, 5, 5, 5]


def test_monitored_events_carry_address_time_layer():
    net = single(weight=5.0, pool=2)
    res = EventEmulator(net, monitor=("all",)).run(events((1, 0, 7, 0), (0, 1, 9, 0)))
    assert res.output_counts.tolist() == [2]  # both pooled into the one output
    assert res.monitored[["x", "y", "t", "p", "layer"]].tolist() == [(1, 0, 7, 0, 0), (0, 1, 9, 0, 0)]


def test_bad_events_are_input_errors():
    emu = EventEmulator(single())
    with pytest.raises(InputError, match="outside the model input"):
        emu.run(events((5, 0, 0, 0)))
    with pytest.raises(InputError, match="not sorted"):
        emu.run(events((0, 0, 9, 0), (0, 0, 3, 0)))
    with pytest.raises(InputError, match="unknown layer"):
        EventEmulator(single(), monitor=("conv9",))


def _monotone(seed: int) -> Network:
    """Non-negative weights below threshold and no bias: no neuron can fire twice in one update."""
    net = random_network(seed, quantized=True)
    layers = [layer.replace(weight=np.abs(layer.weight) % max(1, int(layer.threshold) - 1)) for layer in net.layers]
    return Network(tuple(layers), net.input_shape, 1000.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 0.5))
def test_event_equals_binned_when_no_neuron_can_fire_twice(seed, rate):
    net = _monotone(seed % 7)
    x = random_raster(2, 6, net.input_shape, rate=rate, seed=seed)
    binned = run_binned(net, x)
    emu = EventEmulator(net)
    for i in range(2):
        res = emu.run(raster_to_events(x[i], net.dt_us), duration_us=6000)
        assert np.array_equal(res.output_counts, binned.output_counts[i])
        assert np.array_equal(res.layer_spikes, binned.layer_spikes[i])
        assert np.array_equal(res.layer_synops, binned.layer_synops[i])


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_pooling_conserves_events_and_runs_are_deterministic(seed):
    rng = np.random.default_rng(seed)
    layer = ChipLayer("p", np.ones((2, 1, 1, 1)), (1, 4, 4), threshold=1.0, min_v_mem=-1.0, pool=2, scale=1.0)
    net = Network((layer,), (1, 4, 4))
    n = int(rng.integers(1, 40))
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"] = rng.integers(0, 4, n), rng.integers(0, 4, n), np.sort(rng.integers(0, 1000, n))
    emu = EventEmulator(net)
    a, b = emu.run(ev), emu.run(ev)
    assert a.output_counts.sum() == 2 * n  # every event makes each of the 2 channels fire once
    assert np.array_equal(a.output_counts, b.output_counts)


def test_raster_to_events_round_trip():
    x = random_raster(1, 5, (2, 6, 6), rate=0.3)[0]
    ev = raster_to_events(x, 1000.0)
    assert len(ev) == int(x.sum()) and np.all(np.diff(ev["t"]) >= 0)
    back = np.zeros_like(x)
    np.add.at(back, (ev["t"] // 1000, ev["p"], ev["y"], ev["x"]), 1)
    assert np.array_equal(back, x)

"""Event mode: hand-computed chip semantics, agreement with binned mode where both are exact, properties."""

import numpy as np
import pytest
from helpers import random_network, random_raster
from hypothesis import given, settings
from hypothesis import strategies as st

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
    layer = ChipLayer(
        "n",
        np.full((1, 1, 1, 1), weight),
        shape,
        threshold=threshold,
        min_v_mem=low,
        reset=reset,
        bias=None if bias is None else np.array([bias]),
        pool=pool,
        scale=1.0,
    )
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


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(1.0, 3000.0))
def test_raster_to_events_orders_rounds_and_stamps_like_numpy(seed, dt_us):
    """The compiled conversion against the plain numpy one: events in (t, c, y, x) order, each count rounded
    half to even and repeated, nothing for counts ≤ 0, bins stamped at round(t · dt)."""
    rng = np.random.default_rng(seed)
    x = rng.choice([0.0, 0.0, 0.0, 1.0, 2.0, 0.5, 1.5, 2.5, -1.0, 0.49], size=(4, 2, 3, 5)).astype(np.float32)
    counts = np.maximum(np.rint(x), 0).astype(np.int64)
    t, c, y, w = np.nonzero(counts)
    reps = counts[t, c, y, w]
    ev = raster_to_events(x, dt_us)
    assert ev["t"].tolist() == np.repeat(np.rint(t * dt_us).astype(np.int64), reps).tolist()
    assert [ev[k].tolist() for k in ("p", "y", "x")] == [np.repeat(v, reps).tolist() for v in (c, y, w)]
    wide = x.astype(np.float64) + 1e-9  # float64 kept as it is: 0.5 + 1e-9 rounds up, 1.5 + 1e-9 too
    assert len(raster_to_events(wide, dt_us)) == int(np.maximum(np.rint(wide), 0).sum())
    assert len(raster_to_events(x.astype(np.int64).clip(0), dt_us)) == int(x.astype(np.int64).clip(0).sum())


def _branching(seed: int, two_destinations: bool = True) -> Network:
    """c1 feeds c2 and c3 (two destinations); both feed fc (a merge)."""
    rng = np.random.default_rng(seed)
    c1 = ChipLayer(
        "c1",
        np.abs(rng.normal(0, 0.4, (4, 2, 3, 3))),
        (2, 8, 8),
        padding=1,
        destinations=("c2", "c3") if two_destinations else None,
    )
    c2 = ChipLayer("c2", np.abs(rng.normal(0, 0.4, (3, 4, 3, 3))), c1.output_shape, padding=1, destinations=("fc",))
    c3 = ChipLayer("c3", np.abs(rng.normal(0, 0.4, (3, 4, 3, 3))), c1.output_shape, padding=1, destinations=("fc",))
    fc = ChipLayer("fc", np.abs(rng.normal(0, 0.3, (5, 3, 8, 8))), c2.output_shape, kind="linear")
    from qsnn_deploy.quant.chip import discretize_network

    return discretize_network(Network((c1, c2, c3, fc), (2, 8, 8)))


def test_two_destinations_and_a_merge():
    net = _branching(0)
    assert net.targets(0) == (1, 2) and net.sources(3) == (1, 2) and not net.is_chain
    # make every weight non-negative and below threshold, so binned and event modes must agree exactly
    layers = [layer.replace(weight=np.abs(layer.weight) % max(1, int(layer.threshold) - 1)) for layer in net.layers]
    net = Network(tuple(layers), net.input_shape)
    x = random_raster(3, 6, net.input_shape, rate=0.4, seed=3)
    binned = run_binned(net, x)
    torch_engine = run_binned(net, x, engine="torch")
    assert np.array_equal(binned.output_counts, torch_engine.output_counts)
    emu = EventEmulator(net)
    for i in range(3):
        res = emu.run(raster_to_events(x[i], net.dt_us), duration_us=6000)
        assert np.array_equal(res.layer_spikes, binned.layer_spikes[i])
        assert np.array_equal(res.output_counts, binned.output_counts[i])
    assert binned.layer_spikes[:, 1:3].sum() > 0  # both branches carried spikes


def test_merge_sums_the_sources():
    """fc fed by c2 and c3 receives exactly the sum of what a chain through each alone gives it."""
    net = _branching(1)
    x = random_raster(2, 5, net.input_shape, rate=0.4, seed=5)
    res = run_binned(net, x)
    synops_fc = res.layer_synops[:, 3]
    fan = net.layers[3].fanout_map().sum()  # a linear layer: every input event reaches every output
    assert np.array_equal(synops_fc, (res.layer_spikes[:, 1] + res.layer_spikes[:, 2]) * net.layers[3].c_out)
    assert fan == net.layers[3].c_out * 8 * 8


def test_bad_graphs_are_refused():
    c1 = ChipLayer("c1", np.ones((2, 1, 1, 1)), (1, 2, 2), destinations=("c1",))
    with pytest.raises(InputError, match="recurrence"):
        Network((c1,), (1, 2, 2))
    a = ChipLayer("a", np.ones((2, 1, 1, 1)), (1, 2, 2), destinations=())
    b = ChipLayer("b", np.ones((2, 2, 1, 1)), (2, 2, 2))
    with pytest.raises(InputError, match="no layer feeds this layer"):
        Network((a, b), (1, 2, 2))

"""The compiled event mode against the plain reference (tests/event_reference.py): Hypothesis draws small
integer networks (kernels, strides, padding, pooling, biases on the slow clock, subtract and zero reset, lower
bounds, chains, two destinations with their own poolings, merges, a linear readout) and event streams (bursts
at one time stamp included); both must agree exactly: outputs, spikes per layer, SynOps per layer, every spike
with its address and time, in order, and every membrane at the end."""

from __future__ import annotations

import numpy as np
import pytest
from event_reference import reference_run
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.emulate.event import _SINK, EventEmulator
from qsnn_deploy.errors import InputError
from qsnn_deploy.ir import ChipLayer, Destination, Network, conv_out_size

SLOW_CLOCK_US = 700.0


@st.composite
def _core(draw, name: str, c_in: int, side: int, c_out: int | None = None, pool: bool = True) -> dict:
    """One conv core's integer parameters on a ``c_in`` × ``side`` × ``side`` input."""
    k = draw(st.integers(1, min(5, side)))
    stride = draw(st.integers(1, 4))  # 3: a stride no shift serves
    padding = draw(st.integers(0, k - 1))
    out = conv_out_size(side, k, stride, padding)
    # wide cores too: the compiled kernel takes a row of up to 64 neurons as one run, else position by position
    c_out = c_out or draw(st.integers(1, 3) | st.sampled_from([23, 32, 64, 70]))
    threshold = draw(st.integers(1, 8))
    return {
        "name": name,
        "weight": _weights(draw, (c_out, c_in, k, k)),
        "input_shape": (c_in, side, side),
        "stride": stride,
        "padding": padding,
        "pool": draw(st.sampled_from([q for q in (1, 2, 4) if q <= out])) if pool else 1,
        "threshold": float(threshold),
        "min_v_mem": float(draw(st.integers(-2 * threshold, 0))),
        "reset": draw(st.sampled_from(["subtract", "zero"])),
        "bias": draw(st.none() | st.lists(st.integers(-2, 3), min_size=c_out, max_size=c_out).map(np.array)),
        "scale": 1.0,
    }


def _after(core: dict) -> tuple[int, int]:
    """(channels, side) a core sends under its own pooling."""
    c = ChipLayer(**core)
    return c.output_shape[0], c.output_shape[1]


def _weights(draw, shape: tuple[int, ...], low: int = -4, high: int = 9) -> np.ndarray:
    n = int(np.prod(shape))
    if n > 256:  # a wide core: from a drawn seed (lists this long are past what Hypothesis draws)
        return np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(low, high + 1, shape).astype(float)
    return np.array(draw(st.lists(st.integers(low, high), min_size=n, max_size=n)), dtype=float).reshape(shape)


@st.composite
def networks(draw) -> Network:
    c_in, side = draw(st.integers(1, 2)), draw(st.integers(3, 9))
    shape = (c_in, side, side)
    if draw(st.booleans()):  # a chain of 1 to 3 cores, maybe ending in a linear readout
        cores = [draw(_core("c0", c_in, side))]
        for i in range(1, draw(st.integers(1, 3))):
            c, s = _after(cores[-1])
            if s < 1:
                break
            cores.append(draw(_core(f"c{i}", c, s)))
        c, s = _after(cores[-1])
        if s >= 1 and draw(st.booleans()):
            fc = draw(_core("fc", c, s, c_out=2, pool=False))
            fc.update(weight=_weights(draw, (2, c, s, s), -3, 6), stride=1, padding=0, kind="linear")
            cores.append(fc)
        return Network(tuple(ChipLayer(**core) for core in cores), shape)
    # a diamond: stem → two branches → a merge (the sum of both). Either both branches see the stem alike, or
    # a sees it pooled by 2 on the way (1×1 kernel) and b unpooled through a 2×2 kernel of stride 2: each
    # destination with its own pooling, and equal shapes where they merge
    stem = draw(_core("stem", c_in, side, pool=False))
    c_stem, ho, _ = ChipLayer(**stem).conv_shape
    c_mid = draw(st.integers(1, 3))
    if ho >= 2 and ho % 2 == 0 and draw(st.booleans()):
        pools = (2, 1)
        a = draw(_core("a", c_stem, ho // 2, c_out=c_mid, pool=False))
        a.update(weight=_weights(draw, (c_mid, c_stem, 1, 1)), stride=1, padding=0)
        b = draw(_core("b", c_stem, ho, c_out=c_mid, pool=False))
        b.update(weight=_weights(draw, (c_mid, c_stem, 2, 2)), stride=2, padding=0)
    else:
        pools = (1, 1)
        a = draw(_core("a", c_stem, ho, c_out=c_mid, pool=False))
        b = dict(draw(_core("b", c_stem, ho, c_out=c_mid, pool=False)), stride=a["stride"], padding=a["padding"])
        b["weight"] = _weights(draw, a["weight"].shape)
    stem["destinations"] = (Destination("a", pools[0]), Destination("b", pools[1]))
    a["destinations"] = b["destinations"] = ("merge",)
    _, mid, _ = ChipLayer(**a).conv_shape
    merge = draw(_core("merge", c_mid, mid))
    return Network(tuple(ChipLayer(**core) for core in (stem, a, b, merge)), shape)


@st.composite
def event_streams(draw, shape: tuple[int, int, int]) -> np.ndarray:
    c, h, w = shape
    n = draw(st.integers(0, 30))
    ev = np.zeros(n, EVENT_DTYPE)
    if n:
        ev["x"] = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
        ev["y"] = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
        ev["p"] = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
        ev["t"] = np.sort(draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n)))  # bursts: equal times
    return ev


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_compiled_event_mode_equals_the_plain_reference(data):
    net = data.draw(networks())
    ev = data.draw(event_streams(net.input_shape))
    duration = data.draw(st.integers(0, 4000))
    fast = EventEmulator(net, slow_clock_us=SLOW_CLOCK_US, monitor=("all",)).run(
        ev, duration_us=duration, keep_states=True
    )
    ref = reference_run(net, ev, SLOW_CLOCK_US, duration)
    assert fast.layer_synops.tolist() == ref.layer_synops
    assert fast.layer_spikes.tolist() == ref.layer_spikes
    assert fast.output_counts.tolist() == ref.output_counts
    assert fast.monitored[["x", "y", "t", "p", "layer"]].tolist() == ref.spikes
    assert len(fast.states) == len(ref.states)
    for mine, theirs in zip(fast.states, ref.states):
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_out", [23, 32, 64, 70])
def test_wide_cores_equal_the_reference_on_every_path(c_out, stride):
    """Wide cores: rows of 64 neurons or fewer as one run (32 channels at an edge column), longer rows position by
    position, and more than 64 channels (fired 64 at a time), each firing a lot."""
    rng = np.random.default_rng(c_out * 10 + stride)
    side = 7
    conv = ChipLayer(
        name="wide",
        weight=rng.integers(-2, 10, (c_out, 2, 3, 3)).astype(float),
        input_shape=(2, side, side),
        stride=stride,
        padding=1,
        threshold=4.0,
        min_v_mem=-8.0,
        reset="subtract" if c_out % 2 else "zero",
        scale=1.0,
    )
    _, ho, wo = conv.conv_shape
    fc = ChipLayer(
        name="fc",
        weight=rng.integers(-3, 6, (2, c_out, ho, wo)).astype(float),
        input_shape=(c_out, ho, wo),
        threshold=40.0,
        min_v_mem=-40.0,
        kind="linear",
        scale=1.0,
    )
    net = Network((conv, fc), (2, side, side))
    ev = np.zeros(60, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, side, 60), rng.integers(0, side, 60), rng.integers(0, 2, 60)
    ev["x"][:20] = rng.choice([0, side - 1], 20)  # edges: runs of one or two positions (64 neurons at 32 channels)
    ev["t"] = np.sort(rng.integers(0, 2000, 60))
    emu = EventEmulator(net, monitor=("all",))
    assert emu.params[0, _SINK] == 1  # the readout is a sink, taken at once after each event of the wide core
    fast = emu.run(ev, duration_us=2000, keep_states=True)
    ref = reference_run(net, ev, net.dt_us, 2000)
    assert fast.layer_spikes[0] > 3 * len(ev)  # it fires a lot
    assert fast.layer_spikes[1] > 0  # and so does the readout
    assert fast.layer_synops.tolist() == ref.layer_synops
    assert fast.monitored[["x", "y", "t", "p", "layer"]].tolist() == ref.spikes
    assert fast.output_counts.tolist() == ref.output_counts
    for mine, theirs in zip(fast.states, ref.states):
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_the_top_bit_of_a_64_neuron_run_fires(reset):
    """Events at the left edge reach two columns of 32 channels: one run of 64 neurons, every one firing, the last
    (column 1, channel 31) on the run's top bit."""
    conv = ChipLayer(
        name="edge",
        weight=np.full((32, 1, 3, 3), 5.0),
        input_shape=(1, 5, 5),
        padding=1,
        threshold=4.0,
        min_v_mem=-4.0,
        reset=reset,
        scale=1.0,
    )
    net = Network((conv,), (1, 5, 5))
    ev = np.zeros(4, EVENT_DTYPE)
    ev["y"], ev["t"] = [0, 2, 2, 4], [0, 10, 10, 20]
    fast = EventEmulator(net, monitor=("all",)).run(ev, duration_us=30, keep_states=True)
    ref = reference_run(net, ev, net.dt_us, 30)
    spikes = fast.monitored
    assert np.sum((spikes["x"] == 1) & (spikes["p"] == 31)) == 10  # top bit: each row an event reaches, 2+3+3+2
    assert fast.monitored[["x", "y", "t", "p", "layer"]].tolist() == ref.spikes
    for mine, theirs in zip(fast.states, ref.states):
        assert np.array_equal(mine, theirs)


def test_a_lower_bound_at_the_threshold_is_refused():
    layer = ChipLayer(name="c", weight=np.ones((1, 1, 1, 1)), input_shape=(1, 2, 2), threshold=4.0, min_v_mem=4.0)
    with pytest.raises(InputError, match="not below the threshold"):
        EventEmulator(Network((layer,), (1, 2, 2)))


def test_a_padded_strided_sink_behind_a_pooled_edge_equals_the_reference():
    """The sink path where the draws rarely go: a conv pooled by 2 with an odd output (its last row and column
    dropped on the way) into a one-position sink with a 2x2 kernel, padding 1 and stride 3, both with biases on
    the slow clock and zero reset."""
    rng = np.random.default_rng(7)
    conv = ChipLayer(
        name="conv",
        weight=rng.integers(-2, 8, (6, 2, 3, 3)).astype(float),
        input_shape=(2, 7, 7),
        bias=rng.integers(0, 3, 6).astype(float),
        pool=2,
        threshold=5.0,
        min_v_mem=-5.0,
        reset="zero",
        scale=1.0,
    )
    _, side, _ = conv.output_shape  # 5 // 2 = 2: the last row and column of the 5x5 output never arrive
    sink = ChipLayer(
        name="sink",
        weight=rng.integers(-1, 6, (3, 6, 2, 2)).astype(float),
        input_shape=(6, side, side),
        bias=np.array([1.0, 0.0, 2.0]),
        stride=3,
        padding=1,
        threshold=6.0,
        min_v_mem=-6.0,
        reset="zero",
        scale=1.0,
    )
    net = Network((conv, sink), (2, 7, 7))
    emu = EventEmulator(net, slow_clock_us=SLOW_CLOCK_US, monitor=("all",))
    assert emu.params[0, _SINK] == 1
    ev = np.zeros(80, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 7, 80), rng.integers(0, 7, 80), rng.integers(0, 2, 80)
    ev["t"] = np.sort(rng.integers(0, 3000, 80))
    fast = emu.run(ev, duration_us=3000, keep_states=True)
    ref = reference_run(net, ev, SLOW_CLOCK_US, 3000)
    assert fast.layer_spikes[1] > 0
    assert fast.layer_synops.tolist() == ref.layer_synops
    assert fast.monitored[["x", "y", "t", "p", "layer"]].tolist() == ref.spikes
    assert fast.output_counts.tolist() == ref.output_counts
    for mine, theirs in zip(fast.states, ref.states):
        assert np.array_equal(mine, theirs)

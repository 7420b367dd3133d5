"""Framing events into spike-count rasters with tonic's ToFrame."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.data.framing import events_to_raster, to_frames

SENSOR = (5, 4, 2)  # W, H, P


def random_events(n, t_max, rng, sensor=SENSOR):
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, sensor[0], n)
    ev["y"] = rng.integers(0, sensor[1], n)
    ev["p"] = rng.integers(0, sensor[2], n)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    return ev


@pytest.mark.parametrize("n_bins", [1, 3, 7, 10, 64])
def test_sums_equal_events_in_window(n_bins):
    rng = np.random.default_rng(n_bins)
    ev = random_events(500, 150_000, rng)  # a third fall after the window
    frames = events_to_raster(ev, SENSOR, n_bins, 100_000)
    assert frames.shape == (n_bins, 2, 4, 5) and frames.dtype == np.float32
    assert frames.sum() == np.count_nonzero(ev["t"] < 100_000)


def test_bins_are_fixed_in_time_and_layout_is_t_p_h_w():
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = [4, 0, 1], [1, 3, 2], [1, 0, 1], [0, 24_999, 25_000]
    frames = events_to_raster(ev, SENSOR, 4, 100_000)
    assert frames[0, 1, 1, 4] == 1 and frames[0, 0, 3, 0] == 1 and frames[1, 1, 2, 1] == 1
    assert frames.sum() == 3


def test_short_sample_gets_all_bins():
    ev = random_events(50, 10_000, np.random.default_rng(0))  # only the first tenth
    frames = events_to_raster(ev, SENSOR, 10, 100_000)
    assert frames.shape[0] == 10
    assert frames[0].sum() == 50 and frames[1:].sum() == 0


def test_empty_sample_and_single_polarity():
    assert events_to_raster(np.zeros(0, EVENT_DTYPE), SENSOR, 6, 1000).shape == (6, 2, 4, 5)
    ev = random_events(40, 1000, np.random.default_rng(1))
    before = ev.copy()
    frames = events_to_raster(ev, (5, 4, 1), 2, 1000)
    assert frames.shape == (2, 1, 4, 5) and frames.sum() == 40
    assert np.array_equal(ev, before)  # input not modified


def test_to_frames_batches_and_default_duration():
    rng = np.random.default_rng(2)
    evs = [random_events(n, t, rng) for n, t in [(30, 5_000), (0, 1), (80, 20_000)]]
    frames = to_frames(evs, SENSOR, 5)
    assert frames.shape == (3, 5, 2, 4, 5)
    assert frames.reshape(3, -1).sum(1).tolist() == [30, 0, 80]
    fixed = to_frames(evs, SENSOR, 5, duration_us=10_000)
    assert fixed.reshape(3, -1).sum(1).tolist() == [30, 0, np.count_nonzero(evs[2]["t"] < 10_000)]


def test_bad_arguments():
    ev = np.zeros(1, EVENT_DTYPE)
    with pytest.raises(ValueError, match="n_time_bins"):
        events_to_raster(ev, SENSOR, 0, 100)
    with pytest.raises(ValueError, match="duration_us"):
        events_to_raster(ev, SENSOR, 2, 0)
    with pytest.raises(ValueError, match="sensor_size"):
        to_frames([ev], (5, 4), 2)


def test_frames_whole_dataset(digits_test):
    n_bins = 15
    frames = to_frames(digits_test.events, digits_test.sensor_size, n_bins, digits_test.duration_us)
    assert frames.shape == (len(digits_test), n_bins, 2, 34, 34)
    counts = [np.count_nonzero(e["t"] < digits_test.duration_us) for e in digits_test.events]
    assert frames.reshape(len(frames), -1).sum(1).tolist() == counts

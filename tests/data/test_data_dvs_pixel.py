"""Unit tests of the DVS pixel model."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.data.dvs_pixel import PixelArray, PixelParams, draw_thresholds, simulate
from qsnn_deploy.data.events import EVENT_DTYPE

IDEAL = PixelParams(threshold_mismatch=0.0, refractory_us=0, noise_rate_hz=0.0, log_eps=0.1)


def video(values, shape=(1, 4, 5), pixel=(0, 2, 3), step_us=1000, base=0.5):
    """Constant ``base`` frames except ``pixel`` (n, y, x), which follows ``values``."""
    for k, v in enumerate(values):
        f = np.full(shape, base, np.float32)
        f[pixel] = v
        yield k * step_us, f


def test_step_increase_gives_on_events_at_that_pixel():
    (ev,) = simulate(video([0.2, 0.2, 0.9, 0.9]), IDEAL, np.random.default_rng(0))
    assert ev.dtype == EVENT_DTYPE
    expected = int(np.floor(np.log(1.0 / 0.3) / IDEAL.contrast_threshold))
    assert len(ev) == expected >= 2  # several thresholds crossed in one step
    assert set(ev["p"]) == {1}
    assert set(zip(ev["x"], ev["y"])) == {(3, 2)}
    assert np.all((ev["t"] >= 1000) & (ev["t"] <= 2000))


def test_step_decrease_gives_off_events():
    (ev,) = simulate(video([0.9, 0.9, 0.2]), IDEAL, np.random.default_rng(0))
    assert len(ev) == int(np.floor(np.log(1.0 / 0.3) / IDEAL.contrast_threshold))
    assert set(ev["p"]) == {0}
    assert set(zip(ev["x"], ev["y"])) == {(3, 2)}


def test_reference_moves_by_whole_thresholds():
    """Sub-threshold remainders accumulate: a slow ramp gives the same total as a jump."""
    ramp = np.exp(np.linspace(np.log(0.3), np.log(1.1), 41)) - 0.1
    (slow,) = simulate(video(ramp), IDEAL, np.random.default_rng(0))
    (fast,) = simulate(video([ramp[0], ramp[-1]]), IDEAL, np.random.default_rng(0))
    assert len(slow) == len(fast) == int(np.floor(np.log(1.1 / 0.3) / 0.25))


def test_constant_image_without_noise_gives_no_events():
    params = PixelParams(noise_rate_hz=0.0)
    frames = ((k * 1000, np.full((3, 8, 8), 0.7, np.float32)) for k in range(50))
    assert all(len(e) == 0 for e in simulate(frames, params, np.random.default_rng(1)))


def test_refractory_period_limits_the_rate():
    params = PixelParams(threshold_mismatch=0.0, refractory_us=5000, noise_rate_hz=0.0)
    jump = [0.0] + [1e4] * 21  # wants ~37 events at once; 21 ms leave room for at most 5
    (ev,) = simulate(video(jump), params, np.random.default_rng(0))
    assert 4 <= len(ev) <= 1 + 21_000 // 5000
    assert np.all(np.diff(ev["t"]) >= 5000)
    (free,) = simulate(video(jump), IDEAL, np.random.default_rng(0))
    assert len(free) == int(np.floor(np.log(1e4 / 0.1) / 0.25))


def test_noise_rate_matches_poisson_expectation():
    params = PixelParams(noise_rate_hz=50.0, noise_on_fraction=1.0)
    n, h, w, steps = 4, 20, 20, 100  # 0.1 s
    frames = ((k * 1000, np.full((n, h, w), 0.5, np.float32)) for k in range(steps + 1))
    events = simulate(frames, params, np.random.default_rng(3))
    total = sum(len(e) for e in events)
    expect = 50.0 * n * h * w * 0.1
    assert abs(total - expect) < 5 * np.sqrt(expect)
    assert all(set(e["p"]) <= {1} for e in events)


def test_events_sorted_and_inside_steps():
    rng = np.random.default_rng(0)
    frames = [(k * 1000, rng.random((2, 6, 7)).astype(np.float32)) for k in range(20)]
    for ev in simulate(frames, PixelParams(noise_rate_hz=5.0), np.random.default_rng(0)):
        assert np.all(np.diff(ev["t"]) >= 0)
        assert ev["t"].min() >= 0 and ev["t"].max() <= 19_000
        assert ev["x"].max() < 7 and ev["y"].max() < 6


def test_deterministic_for_generator_and_seed_dependent():
    rng = np.random.default_rng(0)
    frames = [(k * 1000, rng.random((2, 6, 6)).astype(np.float32)) for k in range(20)]
    a = simulate(frames, PixelParams(), np.random.default_rng(7))
    b = simulate(frames, PixelParams(), np.random.default_rng(7))
    c = simulate(frames, PixelParams(), np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_threshold_mismatch():
    th = draw_thresholds((50, 50), PixelParams(threshold_mismatch=0.03), np.random.default_rng(0))
    assert th.shape == (2, 50, 50)
    assert abs(th.std() - 0.03) < 0.005 and abs(th.mean() - 0.25) < 0.005
    assert draw_thresholds((4, 4), PixelParams(threshold_mismatch=0.0), np.random.default_rng(0)).std() == 0


def test_pixel_array_rejects_bad_input():
    arr = PixelArray(np.zeros((1, 2, 2)), 0, IDEAL, np.random.default_rng(0))
    with pytest.raises(ValueError, match="time must increase"):
        arr.step(np.zeros((1, 2, 2)), 0)
    with pytest.raises(ValueError, match="frame shape"):
        arr.step(np.zeros((1, 3, 2)), 10)
    with pytest.raises(ValueError, match="needs at least one frame"):
        simulate([], IDEAL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"contrast_threshold": 0},
        {"threshold_mismatch": -1},
        {"refractory_us": -1},
        {"noise_rate_hz": -0.1},
        {"noise_on_fraction": 2},
        {"log_eps": 0},
    ],
)
def test_pixel_params_validated(kwargs):
    with pytest.raises(ValueError, match="PixelParams"):
        PixelParams(**kwargs)


def test_array_input_with_times_equals_pairs():
    rng = np.random.default_rng(5)
    video_arr = rng.random((12, 2, 5, 6)).astype(np.float32)
    times = np.arange(12) * 2000
    a = simulate(video_arr, PixelParams(), np.random.default_rng(1), times_us=times)
    b = simulate(zip(times, video_arr), PixelParams(), np.random.default_rng(1))
    assert len(a) == 2 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert sum(len(e) for e in a) > 0
    with pytest.raises(ValueError):
        simulate(video_arr, PixelParams(), times_us=times[:5])

"""The event transform chain: window, denoise, downsample, seeded augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.data.options import DataOptions
from qsnn_deploy.data.transforms import JITTER_PX, apply_transforms, downsample_factor, plan
from qsnn_deploy.errors import InputError


def _ev(rows):
    ev = np.zeros(len(rows), EVENT_DTYPE)
    for i, (x, y, t, p) in enumerate(rows):
        ev[i] = (x, y, t, p)
    return ev


def _random(n=500, w=128, h=128, seed=0):
    rng = np.random.default_rng(seed)
    return _ev(
        list(
            zip(
                rng.integers(0, w, n),
                rng.integers(0, h, n),
                np.sort(rng.integers(0, 100_000, n)),
                rng.integers(0, 2, n),
            )
        )
    )


@pytest.mark.parametrize(
    "sensor, want, factor",
    [
        ((128, 128, 2), (32, 32), (4, 4)),
        ((34, 34, 2), (17, 17), (2, 2)),
        ((35, 35, 2), (18, 18), (2, 2)),
        ((128, 128, 2), (128, 64), (1, 2)),
        ((34, 34, 2), None, (1, 1)),
    ],
)
def test_downsample_factor(sensor, want, factor):
    assert downsample_factor(sensor, want) == factor


def test_downsample_factor_refuses_non_integer():
    with pytest.raises(InputError) as exc:
        downsample_factor((128, 128, 2), (50, 50))
    assert exc.value.message.startswith("Input width 50 cannot be reached from the sensor width 128")
    assert "128, 64, 32, 16, 8" in exc.value.message


def test_downsample_maps_pixels_by_floor_and_keeps_events():
    ev = _random()
    out = apply_transforms(ev, (128, 128, 2), DataOptions(input_size=(32, 32)), train=False)
    assert out.dtype == EVENT_DTYPE and len(out) == len(ev)
    np.testing.assert_array_equal(out["x"], ev["x"] // 4)
    np.testing.assert_array_equal(out["y"], ev["y"] // 4)
    assert plan((128, 128, 2), DataOptions(input_size=(32, 32))).out_size == (32, 32, 2)


def test_window_shifts_to_zero_and_crops():
    ev = _ev([(1, 1, 1_000, 0), (2, 2, 5_000, 1), (3, 3, 20_000, 1)])
    out = apply_transforms(ev, (34, 34, 2), DataOptions(window_us=10_000), train=False)
    assert out["t"].tolist() == [0, 4_000]


def test_denoise_drops_isolated_events():
    # a cluster of neighbours close in time, and one isolated event far away in space and time
    rows = [(10, 10, 50_000, 1), (11, 10, 50_100, 1), (10, 11, 50_200, 1), (30, 30, 90_000, 1)]
    ev = _ev([(0, 0, 0, 0)] + rows)  # t0 event; tonic passes everything before filter_time
    out = apply_transforms(ev, (34, 34, 2), DataOptions(denoise_us=1_000), train=False)
    kept = {(int(e["x"]), int(e["y"])) for e in out}
    assert (30, 30) not in kept
    assert {(11, 10), (10, 11)} <= kept


def test_denoise_of_empty_recording():
    out = apply_transforms(np.zeros(0, EVENT_DTYPE), (34, 34, 2), DataOptions(denoise_us=1_000), train=False)
    assert len(out) == 0


def test_augment_is_seeded_train_only_and_stays_on_sensor():
    ev = _random(w=34, h=34)
    opts = DataOptions(augment=True)
    a, b = (apply_transforms(ev, (34, 34, 2), opts, True, np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    outs = [apply_transforms(ev, (34, 34, 2), opts, True, np.random.default_rng(s)) for s in range(8)]
    assert any(not np.array_equal(o, outs[0]) for o in outs[1:])
    for o in outs:
        assert o["x"].min() >= 0 and o["x"].max() < 34 and o["y"].max() < 34
        assert len(o) >= len(ev) * 0.7  # a shift of at most JITTER_PX drops only edge events
    same = apply_transforms(ev, (34, 34, 2), opts, False, np.random.default_rng(0))
    np.testing.assert_array_equal(same, apply_transforms(ev, (34, 34, 2), DataOptions(), False))
    assert JITTER_PX == 2


def test_augment_needs_rng():
    with pytest.raises(ValueError, match="needs an rng"):
        apply_transforms(_random(w=34, h=34), (34, 34, 2), DataOptions(augment=True), True)


def test_works_on_tonic_dtypes():
    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    ev = np.zeros(3, tonic_dtype)
    ev["t"] = [5, 6, 7]
    out = apply_transforms(ev, (34, 34, 2), DataOptions(), train=False)
    assert out.dtype == EVENT_DTYPE and out["t"].tolist() == [0, 1, 2]

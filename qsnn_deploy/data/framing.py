"""Events to spike-count rasters (frames) with tonic's ``ToFrame``.

Every sample is binned over the same fixed window ``[0, duration_us)`` into exactly
``n_time_bins`` equal bins, however early its last event comes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(sensor_size, n_time_bins: int, duration_us) -> tuple[tuple[int, int, int], int]:
    size = tuple(int(s) for s in sensor_size)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"sensor_size must be (W, H, P) positive integers, got {sensor_size}")
    if int(n_time_bins) < 1:
        raise ValueError(f"n_time_bins must be >= 1, got {n_time_bins}")
    if duration_us is not None and duration_us <= 0:
        raise ValueError(f"duration_us must be > 0, got {duration_us}")
    return (size[0], size[1], size[2]), int(n_time_bins)


def events_to_raster(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    n_time_bins: int,
    duration_us: float,
) -> np.ndarray:
    """Spike counts of one sample, float32 ``(T, P, H, W)``, over ``[0, duration_us)``.

    ``events`` is a time-sorted structured array (``x, y, t, p``) inside ``sensor_size``
    ``(W, H, P)``; events at or after ``duration_us`` are left out. With ``P == 1`` both
    polarities are counted together.
    """
    from tonic.transforms import ToFrame

    (w, h, p), n_bins = _check(sensor_size, n_time_bins, duration_us)
    t = events["t"]
    lo, hi = np.searchsorted(t, 0, side="left"), np.searchsorted(t, duration_us, side="left")
    ev = events[lo:hi]
    if len(ev) == 0:
        return np.zeros((n_bins, p, h, w), np.float32)
    if p == 1:
        ev = ev.copy()  # tonic zeroes p in place for one-polarity sensors
        ev["p"] = 0
    window = duration_us / n_bins
    # tonic makes floor((end - start - window) / window) + 1 windows starting at start_time;
    # end = (n + 0.5) * window gives exactly n despite rounding
    frame = ToFrame(
        sensor_size=(w, h, p),
        time_window=window,
        start_time=0,
        end_time=(n_bins + 0.5) * window,
        include_incomplete=False,
    )(ev)
    if frame.shape != (n_bins, p, h, w):  # guard against a change in tonic's slicing
        raise RuntimeError(f"tonic ToFrame gave frames {frame.shape}, expected {(n_bins, p, h, w)}")
    return np.asarray(frame, dtype=np.float32)


def to_frames(
    events_list: Sequence[np.ndarray],
    sensor_size: tuple[int, int, int],
    n_time_bins: int,
    duration_us: float | None = None,
) -> np.ndarray:
    """Spike-count rasters of many samples, float32 ``(N, T, P, H, W)``.

    All samples share the window ``[0, duration_us)``; by default it ends just after the
    latest event of any sample.
    """
    size, n_bins = _check(sensor_size, n_time_bins, duration_us)
    if duration_us is None:
        last = [int(e["t"][-1]) for e in events_list if len(e)]
        duration_us = max(last, default=0) + 1
    out = np.empty((len(events_list), n_bins, size[2], size[1], size[0]), np.float32)
    for i, ev in enumerate(events_list):
        out[i] = events_to_raster(ev, size, n_bins, duration_us)
    return out

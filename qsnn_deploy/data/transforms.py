"""The event transform chain of the real-data loaders (tonic datasets and ``folder:PATH``).

Order, per recording: shift ``t`` to start at 0 → crop to the time window → denoise
(tonic's ``Denoise``) → downsample to ``input_size`` (integer factor: ``x // f``, what tonic's
``Downsample(spatial_factor=1/f)`` computes)
→ on the training split only, with ``augment``: a random left-right flip (tonic's
``RandomFlipLR`` with the coin drawn from *our* generator) and a random whole-recording shift
of up to ``JITTER_PX`` pixels (events pushed off the sensor are dropped).

tonic's random transforms draw from numpy's global random state; here every random choice
comes from the ``numpy.random.Generator`` passed in, so a seed reproduces the augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .events import EVENT_DTYPE
from .options import DataOptions

JITTER_PX = 2
"""Largest random shift (pixels, each axis) of the spatial-jitter augmentation."""
FLIP_P = 0.5
"""Probability of the left-right flip augmentation."""


@dataclass(frozen=True)
class TransformPlan:
    """The deterministic part of the chain, resolved against a sensor size.

    ``factor`` ``(fx, fy)``: integer downsampling factors; ``out_size`` ``(W, H, P)``: the sensor
    size after downsampling.
    """

    sensor_size: tuple[int, int, int]
    out_size: tuple[int, int, int]
    factor: tuple[int, int]
    window_us: int | None
    denoise_us: int | None

    def key(self) -> str:
        """A short string naming the deterministic transforms (part of cache paths)."""
        w = "all" if self.window_us is None else str(self.window_us)
        d = "0" if not self.denoise_us else str(self.denoise_us)
        return f"s{self.sensor_size[0]}x{self.sensor_size[1]}_f{self.factor[0]}x{self.factor[1]}_w{w}_d{d}"


def downsample_factor(sensor_size, input_size) -> tuple[int, int]:
    """Integer factors ``(fx, fy)`` that take ``sensor_size`` ``(W, H, P)`` to ``input_size`` ``(W, H)``.

    A factor ``f`` fits an axis of ``n`` pixels when ``ceil(n / f)`` equals the wanted size
    (e.g. 128 → 32: 4; 34 → 17: 2; 35 → 18: 2).

    Raises:
        InputError: no integer factor gives ``input_size``; the message lists sizes that work.
    """
    if input_size is None:
        return 1, 1
    out = []
    for n, want, axis in ((sensor_size[0], input_size[0], "width"), (sensor_size[1], input_size[1], "height")):
        want = int(want)
        fits = [f for f in range(1, n + 1) if math.ceil(n / f) == want]
        if not fits:
            ok = sorted({math.ceil(n / f) for f in (1, 2, 4, 8, 16) if f <= n}, reverse=True)
            raise InputError(
                f"Input {axis} {want} cannot be reached from the sensor {axis} {n} by an integer downsampling factor",
                f"input size {tuple(input_size)}, sensor size {tuple(sensor_size)}",
                f"use an input size the sensor divides into, e.g. {axis} {', '.join(map(str, ok))}",
            )
        out.append(fits[0])
    return out[0], out[1]


def plan(sensor_size: Sequence[int], options: DataOptions, window_us: int | None = None) -> TransformPlan:
    """Resolve ``options`` against ``sensor_size``; ``window_us`` overrides ``options.window_us``."""
    w, h, p = (int(s) for s in sensor_size)
    size = (w, h, p)
    fx, fy = downsample_factor(size, options.input_size)
    out = (math.ceil(size[0] / fx), math.ceil(size[1] / fy), size[2])
    window = options.window_us if window_us is None else window_us
    if window is not None and int(window) < 1:
        raise InputError(
            f"Time window {window} µs is not positive", "window_us", "give a window of at least 1 µs, e.g. 300000"
        )
    if options.denoise_us is not None and int(options.denoise_us) < 0:
        raise InputError(
            f"Denoise time {options.denoise_us} µs is negative",
            "denoise_us",
            "give a non-negative filter time, e.g. 10000",
        )
    return TransformPlan(
        size,
        out,
        (fx, fy),
        None if window is None else int(window),
        None if not options.denoise_us else int(options.denoise_us),
    )


def _as_events(events: np.ndarray) -> np.ndarray:
    out = np.empty(len(events), dtype=EVENT_DTYPE)
    for f in ("x", "y", "t", "p"):
        out[f] = events[f]
    return out


def apply_deterministic(events: np.ndarray, p: TransformPlan) -> np.ndarray:
    """Shift, crop, denoise and downsample one ``EVENT_DTYPE`` recording (returns a new array)."""
    import tonic.transforms as tt

    ev = _as_events(events)
    if len(ev):
        ev = ev[np.argsort(ev["t"], kind="stable")]
        ev["t"] -= ev["t"][0]
    if p.window_us is not None:
        ev = ev[ev["t"] < p.window_us]
    if p.denoise_us and len(ev):
        ev = tt.Denoise(filter_time=p.denoise_us)(ev)
    if p.factor != (1, 1) and len(ev):
        # what tonic's Downsample(spatial_factor=1/f) does (multiply, truncate), in exact integers
        ev["x"] //= p.factor[0]
        ev["y"] //= p.factor[1]
    return _as_events(ev)


def augment(events: np.ndarray, sensor_size, rng: np.random.Generator) -> np.ndarray:
    """Random left-right flip (p = ``FLIP_P``) and a random shift of up to ``JITTER_PX`` pixels."""
    import tonic.transforms as tt

    size = tuple(int(s) for s in sensor_size)
    flip = rng.random() < FLIP_P
    dx, dy = (int(v) for v in rng.integers(-JITTER_PX, JITTER_PX + 1, size=2))
    ev = _as_events(events)
    if not len(ev):
        return ev
    if flip:
        ev = _as_events(tt.RandomFlipLR(sensor_size=size, p=1.0)(ev))
    x = ev["x"].astype(np.int64) + dx
    y = ev["y"].astype(np.int64) + dy
    keep = (x >= 0) & (x < size[0]) & (y >= 0) & (y < size[1])
    ev = ev[keep]
    ev["x"], ev["y"] = x[keep], y[keep]
    return ev


def apply_transforms(
    events: np.ndarray,
    sensor_size,
    options: DataOptions,
    train: bool,
    rng: np.random.Generator | None = None,
    window_us: int | None = None,
) -> np.ndarray:
    """The whole chain on one recording (any structured array with fields x, y, t, p).

    Returns an ``EVENT_DTYPE`` array on the output sensor ``plan(sensor_size, options).out_size``.
    Augmentation runs only when ``train`` and ``options.augment``; it needs ``rng``.
    """
    p = plan(sensor_size, options, window_us)
    ev = apply_deterministic(events, p)
    if train and options.augment:
        if rng is None:
            raise ValueError("apply_transforms: augment=True needs an rng (np.random.default_rng(seed))")
        ev = augment(ev, p.out_size, rng)
    return ev

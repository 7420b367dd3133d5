"""A vectorised DVS pixel model: intensity videos in, ON/OFF events out.

Each pixel keeps a reference log intensity. When ``log(I + eps)`` moves away from it by at
least the pixel's contrast threshold, the pixel emits ON (``p=1``) or OFF (``p=0``) events,
one per threshold crossed, and the reference moves by ``n * threshold``. After an event the
pixel is blind for the refractory period; a change that could not be signalled stays pending
and is emitted later. Thresholds vary from pixel to pixel (mismatch). Background activity is
Poisson noise per pixel. Event times are spread (with jitter) inside each simulation step.
Everything is drawn from the ``numpy.random.Generator`` passed in, so results are
deterministic for a given generator state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from .events import EVENT_DTYPE


@dataclass(frozen=True)
class PixelParams:
    """Parameters of the DVS pixel model."""

    contrast_threshold: float = 0.25
    """Mean change of log intensity (natural log) that triggers one event, ON and OFF alike."""
    threshold_mismatch: float = 0.03
    """Standard deviation of the per-pixel threshold around its mean (fixed-pattern mismatch)."""
    min_threshold: float = 0.01
    """Lower clip for a pixel's threshold, so mismatch never gives zero or negative ones."""
    refractory_us: int = 1000
    """Dead time after each event during which the pixel cannot fire (microseconds)."""
    noise_rate_hz: float = 0.2
    """Background-activity rate per pixel (Hz); noise events are independent of the signal."""
    noise_on_fraction: float = 0.5
    """Fraction of noise events that are ON events."""
    log_eps: float = 0.1
    """Offset added before the log, ``log(I + eps)``; sets the response in dark regions."""
    jitter: bool = True
    """Place events at random times inside a step; if False, deterministic positions."""

    def __post_init__(self) -> None:
        checks = [
            (self.contrast_threshold > 0, "contrast_threshold must be > 0"),
            (self.threshold_mismatch >= 0, "threshold_mismatch must be >= 0"),
            (self.min_threshold > 0, "min_threshold must be > 0"),
            (self.refractory_us >= 0, "refractory_us must be >= 0"),
            (self.noise_rate_hz >= 0, "noise_rate_hz must be >= 0"),
            (0 <= self.noise_on_fraction <= 1, "noise_on_fraction must be in [0, 1]"),
            (self.log_eps > 0, "log_eps must be > 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"PixelParams: {msg}")


def draw_thresholds(shape: tuple[int, int], params: PixelParams, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel (ON, OFF) thresholds, shape ``(2, H, W)``, drawn with mismatch."""
    th = rng.normal(params.contrast_threshold, params.threshold_mismatch, size=(2, *shape))
    return np.maximum(th, params.min_threshold).astype(np.float32)


class PixelArray:
    """State of ``N`` sensors of ``H x W`` pixels, advanced one step at a time.

    ``thresholds`` (``(2, H, W)`` or ``(2, N, H, W)``) fixes the mismatch pattern; by
    default one pattern (one sensor) is drawn from ``rng`` and shared by all ``N`` videos.
    """

    def __init__(
        self,
        first_frame: np.ndarray,
        t0_us: int,
        params: PixelParams,
        rng: np.random.Generator,
        thresholds: np.ndarray | None = None,
    ) -> None:
        frame = np.asarray(first_frame, dtype=np.float32)
        if frame.ndim != 3:
            raise ValueError(f"frames must have shape (N, H, W), got {frame.shape}")
        self.params, self.rng = params, rng
        self.shape = frame.shape
        if thresholds is None:
            thresholds = draw_thresholds(frame.shape[1:], params, rng)
        th = np.asarray(thresholds, dtype=np.float32)
        if th.ndim == 3:
            th = th[:, None]
        th = np.broadcast_to(th, (2, *frame.shape)).reshape(2, -1)  # flat copies per pixel
        self.th_on, self.th_off = th[0], th[1]
        self.ref = np.log(self._lin(frame)).reshape(-1)
        # linear-domain bounds exp(ref + th_on) and exp(ref - th_off): a pixel fires when
        # I + eps leaves [lo, hi], which avoids a log over the whole array every step
        self.hi, self.lo = np.exp(self.ref + self.th_on), np.exp(self.ref - self.th_off)
        self.last_t = np.full(self.ref.size, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.t = int(t0_us)

    def _lin(self, frame: np.ndarray) -> np.ndarray:
        out = np.maximum(frame, 0, dtype=np.float32)
        out += np.float32(self.params.log_eps)
        return out

    def step(self, frame: np.ndarray, t_us: int) -> tuple[np.ndarray, ...]:
        """Advance to ``t_us`` with intensity ``frame`` (N, H, W).

        Returns flat int64 arrays ``(sample, x, y, t, p)`` of the events in
        ``[t_prev, t_us]``, sorted by ``t``.
        """
        t_us = int(t_us)
        if t_us <= self.t:
            raise ValueError(f"time must increase: {t_us} <= {self.t}")
        frame = np.asarray(frame)
        if frame.shape != self.shape:
            raise ValueError(f"frame shape {frame.shape} != {self.shape}")
        t_prev, self.t = self.t, t_us
        signal = self._signal_events(self._lin(frame).reshape(-1), t_prev, t_us)
        noise = self._noise_events(t_prev, t_us)
        out = [np.concatenate([a, b]) for a, b in zip(signal, noise)]
        order = np.argsort(out[3], kind="stable")
        return tuple(a[order] for a in out)

    def _signal_events(self, lin: np.ndarray, t_prev: int, t_now: int):
        refr = self.params.refractory_us
        cand = np.flatnonzero((lin >= self.hi) | (lin <= self.lo))
        if cand.size:
            start = np.maximum(self.last_t[cand] + refr, t_prev)
            keep = start <= t_now
            cand, start = cand[keep], start[keep]
        if cand.size:
            diff = np.log(lin[cand]) - self.ref[cand]
            on = diff > 0
            th = np.where(on, self.th_on[cand], self.th_off[cand])
            n = np.floor(np.abs(diff) / th).astype(np.int64)
            keep = n >= 1  # float rounding at the bounds
            cand, start, on, th, n = cand[keep], start[keep], on[keep], th[keep], n[keep]
        if cand.size == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, empty, empty
        avail = (t_now - start).astype(np.float64)
        if refr > 0:
            n = np.minimum(n, (avail // refr).astype(np.int64) + 1)
        # move the reference by n thresholds towards the new intensity
        ref = self.ref[cand] + n * np.where(on, th, -th)
        self.ref[cand] = ref
        self.hi[cand] = np.exp(ref + self.th_on[cand])
        self.lo[cand] = np.exp(ref - self.th_off[cand])
        # times: first at start + u*slack, then every gap (gap >= refractory period)
        gap = np.maximum(float(refr), avail / n)
        slack = np.maximum(avail - (n - 1) * gap, 0.0)
        u = self.rng.random(cand.size) if self.params.jitter else np.full(cand.size, 0.5)
        first = start + u * slack
        rep = np.repeat(np.arange(cand.size), n)
        k = np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n)
        t = np.minimum(np.floor(first[rep] + k * gap[rep]).astype(np.int64), t_now)
        self.last_t[cand] = t[np.cumsum(n) - 1]
        sample, y, x = self._coords(cand[rep])
        return sample, x, y, t, on[rep].astype(np.int64)

    def _coords(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sample, rem = np.divmod(flat, self.shape[1] * self.shape[2])
        y, x = np.divmod(rem, self.shape[2])
        return sample, y, x

    def _noise_events(self, t_prev: int, t_now: int):
        p = self.params
        lam = p.noise_rate_hz * (t_now - t_prev) * 1e-6 * np.prod(self.shape)
        k = int(self.rng.poisson(lam)) if lam > 0 else 0
        pix = self.rng.integers(0, np.prod(self.shape), size=k)
        t = t_prev + 1 + np.floor(self.rng.random(k) * (t_now - t_prev)).astype(np.int64)
        pol = (self.rng.random(k) < p.noise_on_fraction).astype(np.int64)
        sample, y, x = self._coords(pix)
        return sample, x, y, np.minimum(t, t_now), pol


def simulate(
    frames: Iterable[tuple[int, np.ndarray]] | Iterable[np.ndarray],
    params: PixelParams | None = None,
    rng: np.random.Generator | None = None,
    thresholds: np.ndarray | None = None,
    times_us: Sequence[int] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Turn a batch of intensity videos into events, one time-sorted array per video.

    ``frames`` yields ``(t_us, frame)`` pairs with ``frame`` of shape ``(N, H, W)``
    (linear intensity, typically in [0, 1]) and strictly increasing ``t_us``; or, when
    ``times_us`` is given, ``frames`` is a ``(T, N, H, W)`` array (or iterable of frames)
    taken at those times. The first frame sets the reference and emits nothing.
    ``rng`` defaults to ``default_rng(0)``. Returns ``N`` ``EVENT_DTYPE`` arrays.
    """
    params = params or PixelParams()
    rng = rng if rng is not None else np.random.default_rng(0)
    pairs = zip(times_us, frames, strict=True) if times_us is not None else frames
    it = cast(Iterator[tuple[int, np.ndarray]], iter(pairs))
    try:
        t0, first = next(it)
    except StopIteration:
        raise ValueError("simulate() needs at least one frame") from None
    array = PixelArray(first, t0, params, rng, thresholds)
    parts = [array.step(frame, t) for t, frame in it]
    n = array.shape[0]
    if not parts:
        return [np.zeros(0, EVENT_DTYPE) for _ in range(n)]
    sample, x, y, t, p = (np.concatenate(c) for c in zip(*parts))
    # parts are time-sorted and consecutive; a stable sort by sample keeps t sorted
    order = np.argsort(sample.astype(np.int32 if n > 32767 else np.int16), kind="stable")
    ev = np.empty(order.size, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x[order], y[order], t[order], p[order]
    bounds = np.searchsorted(sample[order], np.arange(n + 1))
    return [ev[bounds[i] : bounds[i + 1]] for i in range(n)]

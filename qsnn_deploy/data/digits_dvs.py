"""Built-in dataset ``digits-dvs``: scikit-learn's 8x8 digits seen by a simulated DVS.

Each of the 1,797 bundled digits (no download) is upsampled to 26x26 px, centred on a
34x34 canvas and moved along three N-MNIST-like saccades (a triangle, 100 ms each, 1 ms
steps, sub-pixel bilinear shifts); the DVS pixel model turns the video into ON/OFF events.
The result is cached as a compressed ``.npz`` (no pickle) in the user's cache directory.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import atomic_path
from ..progress import Progress, ProgressMode
from .dataset import EventDataset
from .dvs_pixel import PixelParams, draw_thresholds, simulate
from .events import EVENT_DTYPE, EVENT_FIELDS
from .origin import origin_record

NAME = "digits-dvs"
GENERATOR_VERSION = 1  # bump whenever generated events change
SENSOR_SIZE = (34, 34, 2)  # (W, H, P), tonic's order
N_CLASSES = 10
CLASSES = tuple(str(i) for i in range(N_CLASSES))
DIGIT_PX = 26
STEP_US = 1_000
SACCADE_US = 100_000
DURATION_US = 3 * SACCADE_US
# saccade triangle vertices (dx, dy) in pixels relative to the centred digit
TRIANGLE = ((0.0, -2.0), (2.0, 2.0), (-2.0, 2.0))
PIXEL_PARAMS = PixelParams(
    contrast_threshold=0.25,
    threshold_mismatch=0.03,
    refractory_us=1_000,
    noise_rate_hz=0.2,
    log_eps=0.25,
)
SPLIT_SEED = 20_240_611  # fixed: the train/test split never changes
TEST_FRACTION = 0.2
CHUNK = 128  # samples simulated together (fixed: part of the generator)
SPLITS = ("train", "test")
_MARGIN = 4  # canvas padding for shifts; > max |displacement| + 1


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Cache directory: ``cache_dir``, else ``$QSNN_DEPLOY_CACHE``, else the user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("QSNN_DEPLOY_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("qsnn-deploy"))


def cache_path(seed: int, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the events for ``seed`` are (or will be) cached."""
    return cache_root(cache_dir) / f"{NAME}_v{GENERATOR_VERSION}_seed{seed}.npz"


def _images() -> tuple[np.ndarray, np.ndarray]:
    """Upsampled digits on padded canvases (N, H+2m, W+2m) in [0, 1], and labels."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    imgs = digits.images.astype(np.float32) / 16.0
    up = np.clip(zoom(imgs, (1, DIGIT_PX / 8, DIGIT_PX / 8), order=3), 0.0, 1.0)
    w, h = SENSOR_SIZE[0], SENSOR_SIZE[1]
    canvas = np.zeros((len(up), h + 2 * _MARGIN, w + 2 * _MARGIN), np.float32)
    oy, ox = _MARGIN + (h - DIGIT_PX) // 2, _MARGIN + (w - DIGIT_PX) // 2
    canvas[:, oy : oy + DIGIT_PX, ox : ox + DIGIT_PX] = up
    return canvas, digits.target.astype(np.int64)


def displacement(t_us: float) -> tuple[float, float]:
    """Saccade offset (dx, dy) in pixels at time ``t_us``; smooth (cosine) within a saccade."""
    k = min(int(t_us // SACCADE_US), len(TRIANGLE) - 1)
    s = (t_us - k * SACCADE_US) / SACCADE_US
    s = 0.5 - 0.5 * np.cos(np.pi * s)
    (ax, ay), (bx, by) = TRIANGLE[k], TRIANGLE[(k + 1) % len(TRIANGLE)]
    return ax + (bx - ax) * s, ay + (by - ay) * s


def _shifted(canvas: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Bilinear sub-pixel shift of padded canvases by (dx, dy), cropped to the sensor."""
    w, h, m = SENSOR_SIZE[0], SENSOR_SIZE[1], _MARGIN
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = np.float32(dx - ix), np.float32(dy - iy)
    # content moves by +d: output pixel (y, x) reads input (y - d, x - d)
    y0, x0 = m - iy - 1, m - ix - 1
    rows = canvas[:, y0 : y0 + h + 1, x0 : x0 + w + 1]
    cols = rows[:, :, 1:] * (1 - fx)
    cols += rows[:, :, :-1] * fx
    out = cols[:, 1:] * (1 - fy)
    out += cols[:, :-1] * fy
    return out


def generate(
    seed: int = 0, progress: ProgressMode = True, n_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate the samples: (events concatenated, offsets (N+1,), labels (N,)).

    ``n_samples`` keeps only the first samples (for previews and tests); whole chunks of
    ``CHUNK`` samples come out identical to the full generation.
    """
    canvas, labels = _images()
    canvas, labels = canvas[:n_samples], labels[:n_samples]
    n = len(labels)
    seeds = np.random.SeedSequence([GENERATOR_VERSION, seed]).spawn(1 + (n + CHUNK - 1) // CHUNK)
    thresholds = draw_thresholds(SENSOR_SIZE[1::-1], PIXEL_PARAMS, np.random.default_rng(seeds[0]))
    times = np.arange(0, DURATION_US + 1, STEP_US)
    shifts = [displacement(float(t)) for t in times]

    def run(i: int) -> list[np.ndarray]:
        part = canvas[i * CHUNK : (i + 1) * CHUNK]
        frames = ((int(t), _shifted(part, dx, dy)) for t, (dx, dy) in zip(times, shifts))
        rng = np.random.default_rng(seeds[1 + i])
        return simulate(frames, PIXEL_PARAMS, rng, thresholds)

    events: list[np.ndarray] = []
    bar = Progress(total=n, desc=f"generating {NAME} (seed {seed})", unit="sample", progress=progress, leave=True)
    with bar, ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for chunk in pool.map(run, range(len(seeds) - 1)):
            events.extend(chunk)
            bar.update(len(chunk))
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum([len(e) for e in events], out=offsets[1:])
    return np.concatenate([np.zeros(0, EVENT_DTYPE), *events]), offsets, labels


def _save(path: Path, seed: int, events, offsets, labels) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            x=events["x"].astype(np.uint8),
            y=events["y"].astype(np.uint8),
            t=events["t"].astype(np.int32),
            p=events["p"].astype(np.uint8),
            offsets=offsets,
            labels=labels,
            version=np.int64(GENERATOR_VERSION),
            seed=np.int64(seed),
        )


def _load(path: Path, seed: int):
    """Cached arrays, or None (with a warning) when the file is unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            fields = {f: z[f] for f in EVENT_FIELDS}
            offsets, labels = z["offsets"], z["labels"].astype(np.int64)
            version, stored_seed = int(z["version"]), int(z["seed"])
        events = np.empty(len(fields["t"]), EVENT_DTYPE)
        for f, col in fields.items():
            events[f] = col
        ok = (
            version == GENERATOR_VERSION
            and stored_seed == seed
            and all(c.ndim == 1 and len(c) == len(events) for c in fields.values())
            and offsets.ndim == 1
            and labels.ndim == 1
            and len(offsets) == len(labels) + 1
            and offsets[0] == 0
            and offsets[-1] == len(events)
            and np.all(np.diff(offsets) >= 0)
            and (len(labels) == 0 or 0 <= labels.min() <= labels.max() < N_CLASSES)
            and (len(events) == 0 or _in_sensor(events))
        )
        if ok:
            return events, offsets, labels
        reason = "unexpected contents"
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    warnings.warn(f"{NAME}: cache file {path} is unusable ({reason}); regenerating it", stacklevel=3)
    return None


def _in_sensor(ev: np.ndarray) -> bool:
    w, h, p = SENSOR_SIZE
    return bool(
        ev["x"].min() >= 0
        and ev["x"].max() < w
        and ev["y"].min() >= 0
        and ev["y"].max() < h
        and ev["p"].min() >= 0
        and ev["p"].max() < p
        and ev["t"].min() >= 0
    )


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Sorted sample indices of ``split``: a fixed stratified ~80/20 train/test split."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = []
    for c in range(N_CLASSES):
        idx = np.flatnonzero(labels == c)
        test.append(rng.permutation(idx)[: int(round(TEST_FRACTION * len(idx)))])
    is_test = np.zeros(len(labels), bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)


def load_digits_dvs(
    split: str = "train",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressMode = True,
) -> EventDataset:
    """Load (generating and caching on first use) the ``digits-dvs`` ``split``.

    Events are deterministic for ``seed``; the train/test split does not depend on it.
    """
    if split not in SPLITS:
        raise InputError(f"Unknown split '{split}' for dataset {NAME}", NAME, f"use one of: {', '.join(SPLITS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"Seed {seed!r} is not a non-negative integer", NAME, "pass an integer seed such as 0")
    seed = int(seed)
    path = cache_path(seed, cache_dir)
    cached = _load(path, seed) if path.is_file() else None
    if cached is None:
        cached = generate(seed, progress)
        try:
            _save(path, seed, *cached)
        except OSError as exc:
            warnings.warn(
                f"{NAME}: could not write the cache {path} ({exc}); the data will be generated again next time",
                stacklevel=2,
            )
    events, offsets, labels = cached
    idx = split_indices(labels, split)
    return EventDataset(
        name=NAME,
        split=split,
        events=[events[offsets[i] : offsets[i + 1]] for i in idx],
        labels=labels[idx].astype(np.int64),
        sensor_size=SENSOR_SIZE,
        n_classes=N_CLASSES,
        duration_us=DURATION_US,
        classes=CLASSES,
        origin=origin_record(SENSOR_SIZE, synthetic=True),
    )

"""Event arrays and event input files.

Events follow tonic's convention: a 1-D structured array with fields ``x, y, t, p``,
``t`` in microseconds, sensor size given as ``(W, H, P)``.
"""

from __future__ import annotations

import math
import struct
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
"""Structured dtype of one event: pixel column ``x``, row ``y``, time ``t`` (µs), polarity ``p``."""

EVENT_FIELDS = ("x", "y", "t", "p")
SUPPORTED_SUFFIXES = (".npy",)

_FIELD_LIMITS = {
    "x": np.iinfo(np.int16).max,
    "y": np.iinfo(np.int16).max,
    "t": np.iinfo(np.int64).max,
    "p": np.iinfo(np.int8).max,
}


def _check_sensor_size(sensor_size, where: str) -> tuple[int, int, int] | None:
    if sensor_size is None:
        return None
    try:
        size = tuple(int(s) for s in sensor_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise InputError(
            f"Sensor size {sensor_size!r} is not three positive integers (W, H, P)",
            where,
            "give the sensor size as (width, height, polarities), e.g. (34, 34, 2)",
        )
    return (size[0], size[1], size[2])


def validate_events(ev: np.ndarray, sensor_size: tuple[int, int, int] | None, where: str) -> np.ndarray:
    """Check an event array and return it as a time-sorted ``EVENT_DTYPE`` copy.

    ``ev`` must be a 1-D structured array with integer (or bool) fields ``x, y, t, p``;
    extra fields are dropped. Coordinates must lie inside ``sensor_size`` ``(W, H, P)``
    (when given; ``None`` only checks that they are non-negative) and ``t`` must be
    non-negative. Unsorted timestamps are sorted (stable) with a warning.

    Raises:
        InputError: naming ``where``, what is wrong and how to fix it.
    """
    size = _check_sensor_size(sensor_size, where)
    names = getattr(getattr(ev, "dtype", None), "names", None)
    if not isinstance(ev, np.ndarray) or names is None:
        raise InputError(
            "Events are not a structured array with fields x, y, t, p",
            where,
            "save a numpy structured array, e.g. np.zeros(n, dtype=[('x','<i2'),('y','<i2'),('t','<i8'),('p','<i1')])",
        )
    missing = [f for f in EVENT_FIELDS if f not in names]
    if missing:
        raise InputError(
            f"Events lack the field(s) {', '.join(missing)} (found: {', '.join(names)})",
            where,
            "store events with fields x, y, t (microseconds) and p",
        )
    if ev.ndim != 1:
        raise InputError(
            f"Events must be a 1-D array, got shape {ev.shape}",
            where,
            "flatten the array with ev.reshape(-1) before saving",
        )
    for f in EVENT_FIELDS:
        kind = ev.dtype[f].kind
        if kind not in "iub":
            raise InputError(
                f"Event field '{f}' has dtype {ev.dtype[f]}, not an integer type",
                where,
                "cast x, y, p to integers and t to integer microseconds before saving",
            )
    limits = {"x": None, "y": None, "p": None} if size is None else dict(zip("xyp", size))
    for f in EVENT_FIELDS:
        col = ev[f]
        if col.size == 0:
            continue
        lo, hi = int(col.min()), int(col.max())
        if lo < 0:
            fix = (
                "map OFF events to p=0 and ON events to p=1"
                if f == "p"
                else f"events must have non-negative {f}; shift or drop the offending events"
            )
            raise InputError(f"Event field '{f}' has negative values (min {lo})", where, fix)
        bound = limits.get(f)
        if bound is not None and hi >= bound:
            axis = {"x": "width", "y": "height", "p": "number of polarities"}[f]
            raise InputError(
                f"Event field '{f}' reaches {hi}, outside the sensor ({axis} {bound}, sensor size {size})",
                where,
                f"use the sensor size of the recording, or drop events with {f} >= {bound}",
            )
        if hi > _FIELD_LIMITS[f]:
            raise InputError(
                f"Event field '{f}' reaches {hi}, too large for {EVENT_DTYPE[f]}",
                where,
                "check the units and the sensor of the recording",
            )
    out = np.empty(ev.shape[0], dtype=EVENT_DTYPE)
    for f in EVENT_FIELDS:
        out[f] = ev[f]
    if out.size > 1 and np.any(np.diff(out["t"]) < 0):
        warnings.warn(
            f"{where}: event timestamps were not sorted; sorted them by t (stable)",
            stacklevel=2,
        )
        out = out[np.argsort(out["t"], kind="stable")]
    return out


@dataclass(frozen=True)
class EventInput:
    """What an event input file holds: time-sorted ``events`` or a float32 ``raster``.

    ``kind`` is ``"events"`` (``events`` is an ``EVENT_DTYPE`` array, ``raster`` is None) or
    ``"raster"`` (``raster`` has shape ``(N, T, C, H, W)``, ``events`` is None).
    """

    kind: str
    events: np.ndarray | None = None
    raster: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind == "events":
            ok = self.events is not None and self.raster is None
        elif self.kind == "raster":
            ok = self.raster is not None and self.events is None and self.raster.ndim == 5
        else:
            ok = False
        if not ok:
            raise ValueError(f"inconsistent EventInput(kind={self.kind!r})")


def _check_npy_header(path: Path) -> None:
    """Refuse a ``.npy`` whose header is unreadable or claims more data than the file holds, before any
    array is allocated (a damaged header can claim a billion events)."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read_header(f)
            offset = f.tell()
    except (
        ValueError,
        SyntaxError,
        TypeError,
        KeyError,
        OverflowError,
        EOFError,
        OSError,
        struct.error,
        tokenize.TokenError,
        RecursionError,
        MemoryError,
    ) as exc:  # numpy parses the header as Python literals
        raise InputError(
            f"The file could not be read as a .npy array; it may be truncated or corrupt (its header: "
            f"{type(exc).__name__}: {exc})",
            str(path),
            "re-save it with np.save(path, array)",
        ) from None
    claimed = math.prod(shape) * dtype.itemsize
    available = path.stat().st_size - offset
    if not dtype.hasobject and claimed > available:
        raise InputError(
            f"The file could not be read as a .npy array; it may be truncated or corrupt (its header "
            f"claims shape {shape}, {claimed} bytes, and {available} follow it)",
            str(path),
            "re-save it with np.save(path, array)",
        )


def _load_npy(path: Path) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise InputError(
            f"The file could not be opened ({exc.strerror or exc})", str(path), "check that the file is readable"
        ) from None
    if magic[:4] == b"PK\x03\x04":
        raise InputError(
            "The file is an .npz archive, not a single .npy array",
            str(path),
            "save one array with np.save (events or a raster) and pass that file",
        )
    if magic != b"\x93NUMPY":
        raise InputError(
            "The file is not a .npy array (it lacks the NumPy header); it may be corrupt or in another format",
            str(path),
            "re-save it with np.save(path, array)",
        )
    _check_npy_header(path)
    error: Exception
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(
                "The file holds Python objects, which are never loaded (loading them could run code)",
                str(path),
                "save a plain numeric or structured array (no object dtype) with np.save",
            ) from None
        error = exc
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many types
        error = exc
    raise InputError(
        f"The file could not be read as a .npy array; it may be truncated or corrupt ({type(error).__name__}: {error})",
        str(path),
        "re-save it with np.save(path, array)",
    )


def _raster(arr: np.ndarray, sensor_size, where: str) -> np.ndarray:
    if arr.dtype.kind not in "iubf":
        raise InputError(
            f"The raster has dtype {arr.dtype}, not a number type",
            where,
            "save spike counts as an integer or float array",
        )
    if arr.ndim not in (4, 5):
        raise InputError(
            f"The array has {arr.ndim} dimension(s) {arr.shape}; a raster needs shape (T, C, H, W) or (N, T, C, H, W)",
            where,
            "save spike counts with shape (T, C, H, W) or (N, T, C, H, W), or save events "
            "as a structured array with fields x, y, t, p",
        )
    if 0 in arr.shape:
        raise InputError(
            f"The raster is empty (shape {arr.shape})",
            where,
            "save at least one time step, channel and pixel",
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(
            "The raster contains NaN or infinite values",
            where,
            "replace them with finite non-negative spike counts",
        )
    if arr.dtype.kind != "b" and np.any(arr < 0):
        raise InputError(
            f"The raster has negative values (min {arr.min()}); spike counts cannot be negative",
            where,
            "clip the raster at 0 or split signed values into two polarity channels",
        )
    raster = np.asarray(arr, dtype=np.float32)
    if raster.ndim == 4:
        raster = raster[None]
    size = _check_sensor_size(sensor_size, where)
    if size is not None:
        want = (size[2], size[1], size[0])
        if tuple(raster.shape[2:]) != want:
            raise InputError(
                f"The raster's (C, H, W) = {tuple(raster.shape[2:])} does not match the sensor size (W, H, P) = {size}",
                where,
                f"save the raster with (C, H, W) = {want} or give the matching sensor size",
            )
    return raster


def read_event_file(path: str | Path, sensor_size: tuple[int, int, int] | None = None) -> EventInput:
    """Read an event input file (``.npy``): structured events or a spike-count raster.

    Events are validated (and time-sorted) against ``sensor_size`` ``(W, H, P)`` when given;
    a ``(T, C, H, W)`` raster is promoted to ``(1, T, C, H, W)``. Nothing in the file is ever
    executed (``allow_pickle=False``).

    Raises:
        InputError: missing file, unsupported extension, unreadable/corrupt file, wrong
            dtype or shape, values out of range. The message names the path.
    """
    p = Path(path)
    where = str(p)
    if not p.exists():
        raise InputError("Event file not found", where, "check the path (it is relative to the current directory)")
    if not p.is_file():
        raise InputError("Event input is not a file", where, "pass a .npy file, not a directory")
    if p.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"Unsupported event file type '{p.suffix or '(none)'}'",
            where,
            f"use one of: {', '.join(SUPPORTED_SUFFIXES)} (structured events x, y, t, p or a "
            "raster (T, C, H, W) / (N, T, C, H, W))",
        )
    arr = _load_npy(p)
    if arr.dtype.names is not None:
        return EventInput("events", events=validate_events(arr, sensor_size, where))
    return EventInput("raster", raster=_raster(arr, sensor_size, where))

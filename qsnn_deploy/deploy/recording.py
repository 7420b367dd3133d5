"""``qsnn-deploy record``: takes from a chip's own sensor into a folder dataset that ``--dataset folder:DIR`` reads.

Each take: a countdown, then ``duration_s`` of the sensor's events with a live event rate, written as
``DIR/CLASS/NNN.npy`` (a structured ``x, y, t, p`` array, t in µs from the take's start; NNN the next free
number) through a temporary name, so a take interrupted midway (Ctrl-C) leaves no file; the takes before
it stay. The sensor stage (pooling, region, flips, polarity merge) is applied on the host to the raw pixel
events, and ``DIR/recording.json`` says which (:mod:`qsnn_deploy.data.origin`): every take of a folder is made
with the same sensor and stage. The board side is :class:`.samna_backend.SensorSession`; no samna here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..data.events import EVENT_DTYPE
from ..data.folder import SPLITS
from ..data.origin import RECORDING_FILE, read_recording_info, write_recording_info
from ..emulate.sensor import SensorStage
from ..errors import UsageError
from ..outputs import atomic_path

READ_S = 0.05
"""Longest wait for sensor events per read (s)."""
RATE_EVERY_S = 0.25
"""How often the live event rate is reported during a take (s of take time)."""
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SensorSource(Protocol):
    """What :func:`record_takes` reads: a sensor whose clock can restart (``SensorSession``)."""

    def restart(self) -> None: ...
    def read(self, timeout_s: float) -> np.ndarray: ...


@dataclass(frozen=True)
class Status:
    """A progress report of :func:`record_takes`: ``kind`` is "countdown" (``value``: seconds left), "rate"
    (``value``: events/s over the last report interval; ``events``: so far), "written", "empty" or
    "interrupted"."""

    kind: str
    take: int  # 1-based
    value: float = 0.0
    events: int = 0
    path: str | None = None


def check_label(label: str) -> str:
    """A class name that is one safe folder name (letters, digits, ``_ . -``, not starting with ``.``, not
    ``train``/``test`` which the folder loader reads as splits): exit 2 otherwise."""
    if not _LABEL.match(label) or label in SPLITS:
        raise UsageError(
            f"--label '{label}' is not usable as a class folder name",
            fix="use letters, digits, '_', '.', '-' (not starting with '.'), and not 'train' or 'test'",
        )
    return label


def check_folder(out: Path, sensor_size: tuple[int, int, int], stage: SensorStage | None) -> None:
    """Refuse a folder whose earlier takes were made with another sensor or stage (exit 2), before recording."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out '{out}' is a file", fix="give a folder (created when missing)")
    known = read_recording_info(out)
    if known is None:
        return
    stage = own_stage(stage)
    want = (list(sensor_size), None if stage is None else stage.to_dict())
    if (known["sensor_size"], known["stage"]) != want:
        raise UsageError(
            f"{out} holds takes made with sensor {known['sensor_size']} and stage {known['stage']}; these options "
            f"give {want[0]} and {want[1]}",
            where=str(out / RECORDING_FILE),
            fix="record into another --out folder, or repeat the sensor options of the earlier takes",
        )


def own_stage(stage: SensorStage | None) -> SensorStage | None:
    """``stage``, or None when it changes nothing (the takes are then the sensor's own events)."""
    return None if stage == SensorStage() else stage


def next_take(folder: Path) -> Path:
    """``folder/NNN.npy`` with NNN one past the largest numbered take there (000 for the first)."""
    taken = [int(p.stem) for p in folder.glob("*.npy") if p.stem.isdigit()] if folder.is_dir() else []
    return folder / f"{max(taken, default=-1) + 1:03d}.npy"


def _take(
    source: SensorSource,
    k: int,
    duration_s: float,
    on_status: Callable[[Status], None],
    clock: Callable[[], float],
) -> np.ndarray:
    source.restart()
    start = last = clock()
    got: list[np.ndarray] = []
    n = since = 0
    while (now := clock()) - start < duration_s:
        ev = source.read(min(READ_S, max(0.0, duration_s - (now - start))))
        got.append(ev)
        n += len(ev)
        since += len(ev)
        now = clock()
        if now - last >= RATE_EVERY_S:
            on_status(Status("rate", k, since / (now - last), n))
            last, since = now, 0
    ev = np.concatenate(got) if got else np.zeros(0, EVENT_DTYPE)
    ev = ev[(ev["t"] >= 0) & (ev["t"] < duration_s * 1e6)]  # the take is its duration, from the clock's reset
    return ev[np.argsort(ev["t"], kind="stable")]


def record_takes(
    source: SensorSource,
    out: str | Path,
    label: str,
    count: int,
    duration_s: float,
    countdown_s: float,
    sensor_size: tuple[int, int, int],
    stage: SensorStage | None,
    device: str,
    on_status: Callable[[Status], None],
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """``count`` takes of ``duration_s`` into ``out/label/`` after a ``countdown_s`` countdown each; what was
    written. Ctrl-C during a take drops that take, keeps the earlier ones, and raises
    :class:`RecordingInterrupted` (a KeyboardInterrupt carrying the summary). ``clock`` and ``sleep``:
    ``time.monotonic`` and ``time.sleep`` unless a test gives its own."""
    out, stage = Path(out), own_stage(stage)
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    check_label(label)
    check_folder(out, sensor_size, stage)
    written: list[str] = []
    events: list[int] = []
    summary: dict[str, Any] = {"out": str(out), "label": label, "takes": written, "events": events}
    size = sensor_size if stage is None else stage.output_size(sensor_size)
    for k in range(1, count + 1):
        try:
            left = countdown_s
            while left > 0:
                on_status(Status("countdown", k, left))
                sleep(min(1.0, left))
                left -= min(1.0, left)
            ev = _take(source, k, duration_s, on_status, clock)
        except KeyboardInterrupt:
            on_status(Status("interrupted", k))
            summary["interrupted"] = k
            raise RecordingInterrupted(summary) from None
        if stage is not None:
            ev = stage.apply(ev, sensor_size)
        if not len(ev):
            on_status(Status("empty", k))
            continue
        if read_recording_info(out) is None:  # first, so that no take is ever without it
            write_recording_info(out, sensor_size, None if stage is None else stage.to_dict(), size, device)
        path = next_take(out / label)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save adds no ".npy"
            np.save(f, ev)
        written.append(str(path))
        events.append(int(len(ev)))
        on_status(Status("written", k, events=len(ev), path=str(path)))
    return summary


class RecordingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a take; ``summary`` says what was kept (the interrupted take was not written)."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__("recording interrupted")
        self.summary = summary

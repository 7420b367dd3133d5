"""Live predictions over a sliding window, from the chip's own sensor or from a recording replayed at its pace.

A live source yields :class:`LiveStep` s: what arrived since the last step (output spikes with their time and
class, readout words, input events). :func:`live_windows` turns them into one :class:`LiveWindow` every
``hop_s`` of the source's time: the prediction over the last ``window_s`` seconds, from the readout block when
the chip uses it (its most frequent valid class) and otherwise from the output spike counts (their argmax;
-1, idle, when there were none). :class:`LiveTally` adds up the summary.

The emulator's source (:class:`RecordingReplay`) runs event mode over the recording once (causal, so the
same spikes as feeding it piece by piece), then releases them step by step when the wall clock reaches their
time: the display keeps the recording's pace. The chip's source is in :mod:`.chip_live`. No samna here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..ir import Network
from .chip_events import decode_readout

if TYPE_CHECKING:
    from ..emulate.sensor import SensorStage

IDLE = -1


@dataclass(frozen=True)
class LiveStep:
    """What arrived up to ``t_s`` (seconds since the start) since the step before."""

    t_s: float
    spike_t_s: np.ndarray  # output spikes' times (s)
    spike_class: np.ndarray  # their classes (-1: a spike no class counts)
    readout: tuple[int, ...] = ()  # ReadoutValue words (chip with the readout block)
    events_in: int | None = None  # input events (None: not seen by the host)


@dataclass(frozen=True)
class LiveWindow:
    """The prediction at ``t_s`` over the last ``window_s`` seconds."""

    index: int
    t_s: float
    window_s: float
    prediction: int  # the class, or -1 (idle: no output spikes, no valid readout word)
    label: str  # the class's name ("idle" for -1)
    counts: list[int]  # output spikes per class in the window
    source: str  # "readout" or "output_spike_counts"
    events_in_per_s: float | None

    @property
    def span_s(self) -> float:
        """The time the window covers: ``window_s``, or less before a whole window has passed."""
        return min(self.window_s, self.t_s) or self.window_s

    @property
    def spikes_per_s(self) -> float:
        return sum(self.counts) / self.span_s

    def to_dict(self) -> dict[str, Any]:
        """One JSON line of ``deploy --live --format json``."""
        return {
            "type": "window",
            "index": self.index,
            "t_s": round(self.t_s, 6),
            "window_s": self.window_s,
            "prediction": self.prediction,
            "label": self.label,
            "prediction_from": self.source,
            "output_spike_counts": self.counts,
            "output_spikes_per_s": round(self.spikes_per_s, 3),
            "input_events_per_s": None if self.events_in_per_s is None else round(self.events_in_per_s, 3),
        }


def check_windows(window_s: float, hop_s: float, duration_s: float | None) -> None:
    """Refuse a window, hop or duration that is not positive (exit 2)."""
    for name, value in (("--window", window_s), ("--duration", duration_s), ("the hop", hop_s)):
        if value is not None and not value > 0:
            raise UsageError(f"{name} must be a positive number of seconds, got {value}")


def class_names(net: Network) -> list[str]:
    """The model's class names (its training data's, in label order), else the class numbers."""
    names = net.metadata.get("classes")
    n = net.n_classes
    if isinstance(names, list) and len(names) == n and all(isinstance(c, str) for c in names):
        return list(names)
    return [str(k) for k in range(n)]


def live_windows(
    steps: Iterable[LiveStep], window_s: float, hop_s: float, names: list[str], readout: bool = False
) -> Iterator[LiveWindow]:
    """One window every ``hop_s`` of the steps' time (the first at ``hop_s``), each over the last ``window_s``,
    and one at the last step's time when the steps end between two."""
    n = len(names)
    times, classes = np.zeros(0), np.zeros(0, np.int64)
    words: list[tuple[float, int]] = []
    ins: list[tuple[float, int | None]] = []
    index, shown = 0, 0.0

    def window(at: float) -> LiveWindow:
        nonlocal times, classes, words, ins
        since = at - window_s + 1e-9  # the window is (at - window_s, at]
        keep = times > since
        times, classes = times[keep], classes[keep]
        words = [(t, w) for t, w in words if t > since]
        ins = [(t, k) for t, k in ins if t > since]
        cls = classes[times <= at + 1e-9]
        counts = np.bincount(cls[(cls >= 0) & (cls < n)], minlength=n)
        if readout:  # a readout channel beyond the model's classes names none of them: not counted
            pred, source = decode_readout([w for t, w in words if t <= at + 1e-9], n)["prediction"], "readout"
        else:
            pred, source = (int(counts.argmax()) if counts.sum() else IDLE), "output_spike_counts"
        seen = [k for t, k in ins if t <= at + 1e-9]
        span = min(window_s, at) or window_s
        rate = None if any(k is None for k in seen) else sum(k or 0 for k in seen) / span
        label = "idle" if pred == IDLE else names[pred]
        return LiveWindow(index, at, window_s, pred, label, counts.tolist(), source, rate)

    last = 0.0
    for step in steps:
        times = np.concatenate([times, np.asarray(step.spike_t_s, dtype=np.float64)])
        classes = np.concatenate([classes, np.asarray(step.spike_class, dtype=np.int64)])
        words.extend((step.t_s, w) for w in step.readout)
        ins.append((step.t_s, step.events_in))
        last = step.t_s
        while last >= hop_s * (index + 1) - 1e-9:
            yield window(hop_s * (index + 1))
            shown = hop_s * (index + 1)
            index += 1
    if last > shown + 1e-9:
        yield window(last)


@dataclass
class LiveTally:
    """The summary of a live run: windows, predictions, spikes and events, how it ended."""

    names: list[str]
    windows: int = 0
    elapsed_s: float = 0.0
    predictions: Counter[int] = field(default_factory=Counter)
    output_spikes: int = 0
    events_in: int | None = 0
    layer_spikes: dict[str, int] = field(default_factory=dict)
    stopped: str = "duration"  # "duration", "end of recording" or "interrupted"
    extra: dict[str, Any] = field(default_factory=dict)

    def step(self, step: LiveStep) -> LiveStep:
        """Count a step on its way to :func:`live_windows`."""
        self.elapsed_s = max(self.elapsed_s, step.t_s)
        self.output_spikes += int(np.count_nonzero(np.asarray(step.spike_class) >= 0))
        if step.events_in is None or self.events_in is None:
            self.events_in = None
        else:
            self.events_in += int(step.events_in)
        return step

    def window(self, w: LiveWindow) -> LiveWindow:
        self.windows += 1
        self.predictions[w.prediction] += 1
        return w

    def to_dict(self) -> dict[str, Any]:
        """The closing JSON line (``"type": "summary"``)."""
        top = [
            {"prediction": k, "label": "idle" if k == IDLE else self.names[k], "windows": v}
            for k, v in self.predictions.most_common()
        ]
        return {
            "type": "summary",
            "stopped": self.stopped,
            "windows": self.windows,
            "elapsed_s": round(self.elapsed_s, 6),
            "predictions": top,
            "output_spikes": self.output_spikes,
            "input_events": self.events_in,
            "layer_spike_counts": self.layer_spikes,
            **self.extra,
        }


def replay_events(net: Network, path: str | Path, sensor: SensorStage | None = None) -> tuple[np.ndarray, list[str]]:
    """The events of a recording file as the model takes them, and notes: through ``sensor`` (the user's
    options), else as they are when they fit the model input, else through the stage the model's training data
    went through (a raw take of ``qsnn-deploy record`` replayed into a model trained on such takes). No raster
    is made, so a long recording costs its events only."""
    from ..data.events import read_event_file
    from .emulator import sensor_events
    from .sensor_input import replay_stage

    got = read_event_file(path)
    if got.events is None:
        raise UsageError(
            "--live replays events, and this file is a raster", fix="give a .npy of structured events (x, y, t, p)"
        )
    ev = got.events
    notes: list[str] = []
    if sensor is not None:
        return sensor_events(ev, net, sensor), notes
    found = replay_stage(net, ev)
    if found is not None:
        stage, size = found
        notes.append(f"the recording goes through the stage of the model's training data: {stage.to_dict()}")
        ev = sensor_events(ev, net, stage, size)
    return ev, notes


class RecordingReplay:
    """A recording through the event-mode emulator, released at the recording's pace (``speed`` × real time).

    ``clock`` and ``sleep`` are ``time.monotonic`` and ``time.sleep`` unless a test gives its own."""

    def __init__(
        self,
        net: Network,
        events: np.ndarray,
        duration_s: float | None,
        hop_s: float,
        slow_clock_us: float | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from ..emulate.event import EventEmulator
        from ..emulate.routing import counted_index

        if not speed > 0:
            raise UsageError(f"--speed must be positive, got {speed}")
        t = events["t"].astype(np.int64)
        end_us = float(t.max() + 1) if len(t) else 0.0
        #: whether the recording runs out before ``duration_s`` (else the duration ends the replay)
        self.runs_out = duration_s is None or end_us <= duration_s * 1e6
        if duration_s is not None:
            end_us = min(end_us, duration_s * 1e6)
        self.end_s, self.hop_s, self.speed = end_us / 1e6, hop_s, speed
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        shown = events[t < end_us]
        emu = EventEmulator(net, slow_clock_us=slow_clock_us, monitor=(net.layers[-1].name,))
        last = len(emu.net.layers) - 1
        res = emu.run(shown, duration_us=end_us)
        mon = res.monitored[res.monitored["layer"] == last]
        self.spike_t_s = mon["t"] / 1e6
        self.spike_class = counted_index(emu.net, last, mon["p"], mon["y"], mon["x"])
        self.input_t_s = shown["t"] / 1e6
        self.layer_spikes = {layer.name: int(k) for layer, k in zip(emu.net.layers, res.layer_spikes)}

    def steps(self) -> Iterator[LiveStep]:
        """One step per hop until the end (the last may be shorter), each when the clock reaches it."""
        start, k, prev = self.clock(), 1, -1.0
        while prev < self.end_s:
            t = min(k * self.hop_s, self.end_s)
            wait = start + t / self.speed - self.clock()
            if wait > 0:
                self.sleep(wait)
            out = (self.spike_t_s > prev) & (self.spike_t_s <= t)
            inp = int(np.count_nonzero((self.input_t_s > prev) & (self.input_t_s <= t)))
            yield LiveStep(t, self.spike_t_s[out], self.spike_class[out], (), inp)
            prev, k = t, k + 1

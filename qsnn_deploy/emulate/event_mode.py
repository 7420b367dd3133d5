"""Event mode over many samples: one :class:`~.event.EventEmulator` run per sample (on several cores with
``workers``), results stacked in sample order."""

from __future__ import annotations

import threading
from typing import TypedDict

import numpy as np

from ..ir import Network
from ..progress import ProgressMode, progress_wrapper
from .event import MONITOR_DTYPE, MONITOR_FIELDS, EventEmulator, EventResult
from .samples import Samples


class EventModeResult(TypedDict):
    """What :func:`run_event_mode` returns (a plain dict)."""

    output_counts: np.ndarray  # (N, n_outputs)
    layer_spikes: np.ndarray  # (N, L)
    layer_synops: np.ndarray  # (N, L)
    monitored: np.ndarray | None  # MONITOR_DTYPE fields plus "sample"; None when nothing was monitored


def run_event_mode(
    net: Network,
    samples: Samples,
    progress: ProgressMode = False,
    slow_clock_us: float | None = None,
    monitor: tuple[str, ...] = (),
    workers: int | None = None,
) -> EventModeResult:
    """Event mode over every sample: output counts, per-layer spikes and SynOps, monitored events. ``workers``
    threads run samples side by side (None: every core), each with its own emulator; results in sample order."""
    from .workers import ordered_map, resolve_workers

    first = EventEmulator(net, slow_clock_us=slow_clock_us, monitor=monitor)  # checks the options once, here
    own = threading.local()
    duration = samples.duration_us or samples.raster.shape[1] * net.dt_us

    def one(i: int) -> EventResult:
        if threading.current_thread() is threading.main_thread():
            emu = first
        else:
            emu = getattr(own, "emulator", None) or EventEmulator(net, slow_clock_us=slow_clock_us, monitor=monitor)
            own.emulator = emu
        return emu.run(samples.sample_events(i, net.dt_us), duration_us=duration)

    results = ordered_map(
        one,
        range(len(samples)),
        resolve_workers(workers),
        progress_wrapper(progress, "event", "sample"),
    )
    mon = []
    for i, res in enumerate(results):
        if len(res.monitored):
            rec = np.zeros(len(res.monitored), MONITOR_DTYPE.descr + [("sample", "<i4")])
            for name in MONITOR_FIELDS:
                rec[name] = res.monitored[name]
            rec["sample"] = i
            mon.append(rec)
    return {
        "output_counts": np.array([r.output_counts for r in results]),
        "layer_spikes": np.array([r.layer_spikes for r in results]),
        "layer_synops": np.array([r.layer_synops for r in results]),
        "monitored": np.concatenate(mon) if mon else None,
    }

"""Event mode over many samples: one :class:`~.event.EventEmulator` run per sample, results stacked."""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from ..ir import Network
from ..progress import ProgressMode, progress_wrapper
from .event import MONITOR_DTYPE, MONITOR_FIELDS, EventEmulator
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
) -> EventModeResult:
    """Event mode over every sample: output counts, per-layer spikes and SynOps, monitored events."""
    emu = EventEmulator(net, slow_clock_us=slow_clock_us, monitor=monitor)
    n = len(samples)
    duration = samples.duration_us or samples.raster.shape[1] * net.dt_us
    outs, spikes, synops, mon = [], [], [], []
    bar = progress_wrapper(progress, "event", "sample")
    for i in bar(range(n)) if bar else range(n):
        res = emu.run(samples.sample_events(i, net.dt_us), duration_us=duration)
        outs.append(res.output_counts)
        spikes.append(res.layer_spikes)
        synops.append(res.layer_synops)
        if len(res.monitored):
            rec = np.zeros(len(res.monitored), MONITOR_DTYPE.descr + [("sample", "<i4")])
            for name in MONITOR_FIELDS:
                rec[name] = res.monitored[name]
            rec["sample"] = i
            mon.append(rec)
    return {
        "output_counts": np.array(outs),
        "layer_spikes": np.array(spikes),
        "layer_synops": np.array(synops),
        "monitored": np.concatenate(mon) if mon else None,
    }

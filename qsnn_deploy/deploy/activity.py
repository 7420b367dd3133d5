"""Measure activity by emulation (feeds the estimator): SynOps and spikes per layer, per sample.

SynOps of a layer = input events reaching it × their fan-out (borders included); spikes = the
layer's output events after sum-pooling (what travels to the next core).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..emulate.samples import Samples
from ..ir import Network
from ..progress import ProgressMode


@dataclass(frozen=True)
class Activity:
    """Mean activity per sample over ``samples`` emulated samples of ``duration_s`` each."""

    synops: dict[str, float]
    spikes: dict[str, float]
    duration_s: float
    samples: int
    input_events: float
    source: str

    @property
    def description(self) -> str:
        n = f"{self.samples} sample{'s' if self.samples != 1 else ''}"
        return f"measured by emulating {n} of {self.source}"


def measure_activity(net: Network, inputs: Samples, progress: ProgressMode = False) -> Activity:
    """Emulate ``inputs`` (:class:`~qsnn_deploy.emulate.samples.Samples`) and average per sample."""
    from .emulator import run_emulator

    res = run_emulator(net, inputs, progress=progress)
    duration_us = int(inputs.raster.shape[1]) * float(net.dt_us)  # time bins × bin width
    events = float(inputs.raster.reshape(inputs.raster.shape[0], -1).sum(1).mean())
    return Activity(
        res["layer_synops"], res["layer_spike_counts"], duration_us / 1e6, int(res["samples"]), events, inputs.source
    )


def activity_from_file(net: Network, path: str | Path, progress: ProgressMode = False) -> Activity:
    """Activity on an event file (structured ``x, y, t, p`` .npy) or a spike-count raster."""
    from .emulator import inputs_from_file

    return measure_activity(net, inputs_from_file(net, path), progress)


def activity_from_dataset(net: Network, dataset: str, samples: int, progress: ProgressMode = False) -> Activity:
    """Activity on the first ``samples`` test samples of ``dataset``."""
    from .emulator import inputs_from_dataset

    inputs = inputs_from_dataset(net, dataset, "test", samples, progress)
    return measure_activity(net, inputs, progress)

"""The emulator backend: run a converted model on event files, rasters or dataset splits."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..ir import Network


@dataclass
class Inputs:
    """Spike-count rasters to run, with labels when known."""

    raster: np.ndarray  # (N, T, C, H, W)
    labels: np.ndarray | None
    source: str


def sensor_size(net: Network) -> tuple[int, int, int]:
    """(W, H, P) in tonic's order for the network input (C, H, W)."""
    c, h, w = net.input_shape
    return w, h, c


def inputs_from_file(net: Network, path: str | Path) -> Inputs:
    """An event file (structured x, y, t, p) binned at the model's time step, or a raster file."""
    from ..data.events import read_event_file
    from ..data.framing import to_frames

    got = read_event_file(path, sensor_size=sensor_size(net))
    if got.kind == "raster":
        if tuple(got.raster.shape[2:]) != net.input_shape:
            raise InputError(f"raster shape {got.raster.shape[1:]} does not match the model input "
                             f"(T, {', '.join(map(str, net.input_shape))})", where=str(path))
        return Inputs(got.raster, None, str(path))
    ev = got.events
    duration = float(net.metadata.get("duration_us", 0)) or float(ev["t"].max(initial=0) + 1)
    span = max(duration, float(ev["t"].max(initial=0) + 1))
    bins = max(1, math.ceil(span / net.dt_us))
    frames = to_frames([ev], sensor_size(net), bins, duration_us=bins * net.dt_us)
    return Inputs(frames, None, str(path))


def inputs_from_dataset(net: Network, name: str, split: str, limit: int | None, progress: bool) -> Inputs:
    """A dataset split framed like the model was trained."""
    from ..data import load_dataset
    from ..data.framing import to_frames

    ds = load_dataset(name, split, progress=progress)
    if (ds.sensor_size[2], ds.sensor_size[1], ds.sensor_size[0]) != net.input_shape:
        raise InputError(f"dataset '{name}' has sensor size {ds.sensor_size} (W, H, P) but the model expects "
                         f"input {net.input_shape} (C, H, W)", fix="pick the dataset the model was trained on")
    n = len(ds) if limit is None else min(limit, len(ds))
    bins = int(net.metadata.get("time_bins") or max(1, round(ds.duration_us / net.dt_us)))
    frames = to_frames(ds.events[:n], ds.sensor_size, bins, duration_us=ds.duration_us)
    return Inputs(frames, np.asarray(ds.labels[:n]), f"{name}:{split}")


def run_emulator(net: Network, inputs: Inputs, batch_size: int = 64, device: str = "cpu",
                 progress: bool = True) -> dict[str, Any]:
    """Binned integer emulation; returns the JSON fields of DESIGN.md §3 for deploy."""
    from tqdm import tqdm

    from ..emulate.binned import ensure_quantized, run_binned

    qnet = ensure_quantized(net)
    n = inputs.raster.shape[0]
    bar = (lambda it: tqdm(it, desc="emulating", unit="batch", file=sys.stderr, leave=False)) if progress else None
    res = run_binned(qnet, inputs.raster, batch_size=batch_size, device=device, progress=bar)
    out: dict[str, Any] = {
        "target": "emulator", "mode": "binned", "input": inputs.source, "samples": int(n),
        "time_bins": int(inputs.raster.shape[1]), "dt_us": float(qnet.dt_us),
        "layer_spike_counts": {name: float(v) for name, v in zip(res.layer_names, res.layer_spikes.mean(0))},
        "layer_synops": {name: float(v) for name, v in zip(res.layer_names, res.layer_synops.mean(0))},
        "synops_per_sample": float(res.layer_synops.sum(1).mean()),
    }
    if n == 1:
        out["output_spike_counts"] = res.output_counts[0].tolist()
        out["prediction"] = int(res.predictions[0])
    else:
        out["output_spike_counts"] = res.output_counts.tolist()
        out["prediction"] = res.predictions.tolist()
    if inputs.labels is not None:
        out["accuracy"] = float((res.predictions == inputs.labels).mean())
        out["silent_samples"] = int((res.output_counts.sum(1) == 0).sum())
    return out

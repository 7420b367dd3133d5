"""The emulator backend: run a converted model on event files, rasters or dataset splits.

Two modes: ``binned`` (time-stepped integer emulation, equal to sinabs' discretised forward) and
``event`` (the chip's asynchronous, one-spike-per-update semantics). ``compare`` runs float, binned
and event mode on the same input and says where they part ways.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..emulate.samples import Samples
from ..errors import InputError, UsageError
from ..ir import Network
from ..progress import ProgressMode

if TYPE_CHECKING:
    from ..emulate.sensor import SensorStage

MODES = ("binned", "event")


def sensor_size(net: Network) -> tuple[int, int, int]:
    """(W, H, P) in tonic's order for the network input (C, H, W)."""
    c, h, w = net.input_shape
    return w, h, c


def _through_sensor(
    events: list[np.ndarray], size: tuple[int, int, int], net: Network, sensor: SensorStage | None
) -> list[np.ndarray]:
    if sensor is None:
        return events
    try:
        out_size = sensor.output_size(size)
    except InputError as exc:  # the options' region lies outside the (pooled) recording
        raise UsageError(exc.what, fix="choose a region inside the pooled sensor") from None
    if out_size != sensor_size(net):
        raise UsageError(
            f"the sensor stage turns the {size} (W, H, P) sensor into {out_size}, but the model takes "
            f"{sensor_size(net)}",
            fix="adjust --sensor-pool / --roi / --merge-polarity",
        )
    return [sensor.apply(ev, size) for ev in events]


def inputs_from_file(
    net: Network,
    path: str | Path,
    sensor: SensorStage | None = None,
    sensor_size_in: tuple[int, int, int] | None = None,
) -> Samples:
    """An event file (structured x, y, t, p) binned at the model's time step, or a raster file."""
    from ..data.events import read_event_file
    from ..data.framing import to_frames

    got = read_event_file(path, sensor_size=sensor_size_in or (None if sensor is not None else sensor_size(net)))
    if got.raster is not None:  # kind "raster"
        if sensor is not None:
            raise UsageError("the sensor-stage options apply to event files, not to rasters")
        if tuple(got.raster.shape[2:]) != net.input_shape:
            raise InputError(
                f"raster shape {got.raster.shape[1:]} does not match the model input "
                f"(T, {', '.join(map(str, net.input_shape))})",
                where=str(path),
            )
        return Samples(got.raster, None, str(path))
    ev = got.events
    assert ev is not None  # EventInput holds events when it holds no raster
    if sensor is not None:
        ev = sensor_events(ev, net, sensor, sensor_size_in)
    t_end = float(ev["t"].max(initial=0) + 1)
    span = max(float(net.metadata.get("duration_us", 0) or 0), t_end)
    bins = max(1, math.ceil(span / net.dt_us))
    frames = to_frames([ev], sensor_size(net), bins, duration_us=bins * net.dt_us)
    return Samples(frames, None, str(path), [ev], bins * net.dt_us)


def sensor_events(
    events: np.ndarray, net: Network, sensor: SensorStage, size: tuple[int, int, int] | None = None
) -> np.ndarray:
    """One recording through ``sensor``, which must give the model's input; ``size`` (W, H, P): the recording's
    sensor (default: what the model input implies, grown to hold every event)."""
    return _through_sensor([events], size or _recording_size(events, net, sensor), net, sensor)[0]


def _recording_size(events: np.ndarray, net: Network, sensor: SensorStage) -> tuple[int, int, int]:
    """(W, H, P) of a recording fed through ``sensor``: what the model input implies, grown to hold every
    event (rounded up to whole pooling windows)."""
    w, h, p = sensor_size(net)
    if sensor.roi is None:
        w, h = w * sensor.pool, h * sensor.pool
    if len(events):
        w = max(w, -(-(int(events["x"].max()) + 1) // sensor.pool) * sensor.pool)
        h = max(h, -(-(int(events["y"].max()) + 1) // sensor.pool) * sensor.pool)
        p = max(p, int(events["p"].max()) + 1)
    return w, h, p


def inputs_from_dataset(
    net: Network,
    name: str,
    split: str,
    limit: int | None,
    progress: ProgressMode,
    sensor: SensorStage | None = None,
    data_root: str | Path | None = None,
) -> Samples:
    """A dataset split framed like the model was trained: for real data (tonic, ``folder:PATH``) cut to the
    training window and pooled to the model's input, unless the sensor-stage options do the pooling.
    ``data_root``: where tonic datasets are (default: ``$QSNN_DEPLOY_DATA`` or the user cache)."""
    from ..data import DataOptions, load_dataset
    from ..data.framing import to_frames

    window = net.metadata.get("duration_us")
    options = DataOptions(
        data_root=None if data_root is None else Path(data_root),
        input_size=None if sensor is not None else (net.input_shape[2], net.input_shape[1]),
        window_us=None if window is None else int(round(float(window))),
    )
    ds = load_dataset(name, split, progress=progress, options=options).head(limit)
    events = _through_sensor(list(ds.events), ds.sensor_size, net, sensor)
    size = sensor.output_size(ds.sensor_size) if sensor is not None else ds.sensor_size
    if (size[2], size[1], size[0]) != net.input_shape:
        raise InputError(
            f"dataset '{name}' has sensor size {size} (W, H, P) but the model expects input "
            f"{net.input_shape} (C, H, W)",
            fix="pick the dataset the model was trained on, or use the sensor-stage options to pool or crop it",
        )
    bins = int(net.metadata.get("time_bins") or max(1, round(ds.duration_us / net.dt_us)))
    frames = to_frames(events, size, bins, duration_us=ds.duration_us)
    return Samples(frames, np.asarray(ds.labels), f"{name}:{split}", events, float(ds.duration_us))


def run_emulator(
    net: Network,
    inputs: Samples,
    batch_size: int = 64,
    device: str = "cpu",
    progress: ProgressMode = True,
    mode: str = "binned",
    slow_clock_us: float | None = None,
    monitor: tuple[str, ...] = (),
    workers: int | None = None,
) -> dict[str, Any]:
    """Run ``mode`` and return the JSON fields of DESIGN.md §3 for deploy (``_monitored`` holds events);
    ``workers``: threads of the compiled modes (None: every core; the results do not depend on it)."""
    from ..emulate.binned import ensure_quantized, run_binned
    from ..emulate.event_mode import run_event_mode

    if mode not in MODES:
        raise UsageError(f"unknown emulator mode '{mode}'", fix=f"use one of {', '.join(MODES)}")
    qnet = ensure_quantized(net)
    n = inputs.raster.shape[0]
    if mode == "binned":
        res = run_binned(
            qnet,
            inputs.raster,
            batch_size=batch_size,
            device=device,
            progress=progress,
            workers=workers,
        )
        counts, spikes, synops, monitored = res.output_counts, res.layer_spikes, res.layer_synops, None
    else:
        ev = run_event_mode(qnet, inputs, progress, slow_clock_us, monitor, workers)
        counts, spikes, synops, monitored = ev["output_counts"], ev["layer_spikes"], ev["layer_synops"], ev["monitored"]
    names = [layer.name for layer in qnet.layers]
    predictions = counts.argmax(axis=1)
    out: dict[str, Any] = {
        "target": "emulator",
        "mode": mode,
        "input": inputs.source,
        "samples": int(n),
        "time_bins": int(inputs.raster.shape[1]),
        "dt_us": float(qnet.dt_us),
        "layer_spike_counts": {k: float(v) for k, v in zip(names, spikes.mean(0))},
        "layer_synops": {k: float(v) for k, v in zip(names, synops.mean(0))},
        "synops_per_sample": float(synops.sum(1).mean()),
    }
    if n == 1:
        out["output_spike_counts"] = counts[0].tolist()
        out["prediction"] = int(predictions[0])
    else:
        out["output_spike_counts"] = counts.tolist()
        out["prediction"] = predictions.tolist()
    if inputs.labels is not None:
        out["accuracy"] = float((predictions == inputs.labels).mean())
        out["silent_samples"] = int((counts.sum(1) == 0).sum())
    if monitored is not None:
        out["_monitored"] = monitored
    return out


def readout_report(
    net: Network, inputs: Samples, monitored: np.ndarray | None, slow_clock_us: float | None = None
) -> dict[str, Any]:
    """The readout block's class per sample (-1 = idle) from the monitored spikes of the last layer (event
    mode's ``_monitored``), on the slow clock (default one tick per time bin); with labels, its accuracy."""
    from ..emulate.readout import IDLE, readout

    last = len(net.layers) - 1
    tick = slow_clock_us or net.dt_us
    duration = inputs.duration_us or inputs.raster.shape[1] * net.dt_us
    classes = []
    for i in range(inputs.raster.shape[0]):
        ev = monitored[(monitored["sample"] == i) & (monitored["layer"] == last)] if monitored is not None else None
        times = ev["t"] if ev is not None else np.zeros(0)
        chans = ev["p"] if ev is not None else np.zeros(0)
        classes.append(readout(times, chans, duration, tick, n_classes=net.n_classes)[0])
    out: dict[str, Any] = {"class": classes if len(classes) > 1 else classes[0], "idle": IDLE}
    if inputs.labels is not None:
        out["accuracy"] = float(np.mean(np.array(classes) == inputs.labels))
    return out

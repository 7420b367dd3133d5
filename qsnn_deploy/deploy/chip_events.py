"""Events to and from the chip, as numpy arrays (no samna here).

Input: one event array per sample (tonic's ``x, y, t, p``; t in µs from the start of the sample),
from an event file, a raster file or a dataset split, together with the very raster the emulator
would run on the same sample. Output: the chip's spikes as ``(core, x, y, feature, t)`` rows,
counted per layer the way the emulator counts them, and the readout block's values decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..emulate.routing import counted_index
from ..emulate.samples import Samples
from ..errors import InputError
from ..ir import Network
from ..progress import ProgressMode
from .chip_plan import READOUT_CLASSES, READOUT_STRIDE, ChipPlan

OUT_DTYPE = np.dtype([("core", "<i2"), ("x", "<i4"), ("y", "<i4"), ("feature", "<i4"), ("t", "<i8")])
"""A spike the chip sent: the core that fired, neuron column ``x`` and row ``y`` (before pooling),
output channel ``feature`` and timestamp ``t`` (µs since the stop watch was reset)."""

# Spike.timestamp is in µs (sinabs 3.1.3 chip_factory.py:86). Unverified: no public source gives its width;
# assumption: an unsigned 32-bit field, so later events are refused here rather than wrapped by the driver.
MAX_TIMESTAMP_US = 2**32 - 1


def samples_from_file(net: Network, path: str | Path) -> Samples:
    """An event file (one sample, streamed with its own timestamps) or a raster file (N samples)."""
    from .emulator import inputs_from_file

    return inputs_from_file(net, path).with_events(net.dt_us)


def samples_from_dataset(
    net: Network,
    name: str,
    split: str,
    limit: int | None,
    progress: ProgressMode,
    data_root: str | Path | None = None,
) -> Samples:
    """A dataset split: the recorded events of each sample, and the emulator's framing of them."""
    from .emulator import inputs_from_dataset

    return inputs_from_dataset(net, name, split, limit, progress, data_root=data_root).with_events(net.dt_us)


def check_events(events: np.ndarray, net: Network, where: str) -> None:
    """Refuse events the chip's first core cannot take (coordinates, polarity, timestamps)."""
    c, h, w = net.input_shape
    if not len(events):
        return
    bad = (events["x"] < 0) | (events["x"] >= w) | (events["y"] < 0) | (events["y"] >= h)
    bad |= (events["p"] < 0) | (events["p"] >= c)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"event {i} (x={events['x'][i]}, y={events['y'][i]}, p={events['p'][i]}) lies outside the "
            f"model input (C, H, W) = ({c}, {h}, {w})",
            where=where,
            fix="crop or downsample the events to the model's sensor size",
        )
    if events["t"].min() < 0 or events["t"].max() > MAX_TIMESTAMP_US:
        raise InputError(
            "event timestamps must lie in [0, 2^32) µs for the chip",
            where=where,
            fix="shift the timestamps of each sample to start near 0",
        )


# --- output decoding ------------------------------------------------------------------------------


def pooled_counts(out: np.ndarray, plan: ChipPlan, i: int) -> np.ndarray:
    """Spikes of layer ``i`` as the emulator counts them: (C, H, W) after the pooling they are counted
    under (:meth:`~qsnn_deploy.ir.Network.counted_pool`).

    Monitored spikes carry the neuron before pooling (sinabs: "pooling will not be reflected in the
    monitored events"); pooling sums them, and the border rows/columns a floor-division pool drops
    are dropped here too.
    """
    c, ho, wo = plan.layers[i].conv_shape
    p = plan.network.counted_pool(i)
    ev = out[out["core"] == plan.cores[i]]
    flat = counted_index(plan.network, i, ev["feature"], ev["y"], ev["x"])
    return np.bincount(flat[flat >= 0], minlength=c * (ho // p) * (wo // p)).reshape(c, ho // p, wo // p)


def output_classes(out: np.ndarray, plan: ChipPlan) -> np.ndarray:
    """The class of each spike of the last layer in ``out`` (the emulator's order, readout erratum undone);
    -1 for other spikes."""
    last = len(plan.layers) - 1
    flat = counted_index(plan.network, last, out["feature"], out["y"], out["x"])
    flat[out["core"] != plan.cores[last]] = -1
    if plan.readout:
        flat = np.where(flat % READOUT_STRIDE == 0, flat // READOUT_STRIDE, -1)
    return flat


def class_counts(out: np.ndarray, plan: ChipPlan) -> np.ndarray:
    """Output spike counts per class, in the emulator's order (C, H, W flattened), readout erratum undone."""
    counts = pooled_counts(out, plan, len(plan.layers) - 1)
    if plan.readout:
        counts = counts[::READOUT_STRIDE]
    return counts.reshape(-1)


def decode_readout(values: list[int], n_classes: int | None = None) -> dict[str, int]:
    """ReadoutValue words: bit 20 'data valid', bits 19:16 the channel (1..15) with the largest average.

    Source: sinabs' using_readout_layer notebook (docs/speck/notebooks/using_readout_layer.ipynb,
    section 2: "value" is 21 bits, bit[20] data valid, bit[19:16] neuron index of max average, bit[15:0]
    set by output_mode_sel; its section 4.3 decodes ``(value & 0x0F0000) >> 16``); readout channels run
    from 1 to 15 (same notebook), and CNN channel 4(x − 1) drives channel x (sinabs' chip_errata.md).
    One word comes per slow-clock tick. Unverified: which words a valid bit of 0 marks (no source says);
    assumption: those words carry no class and are skipped.

    Returns the class (channel − 1) seen most often among valid words (-1 when none), and counts; with
    ``n_classes``, words naming a channel beyond the model's classes count as invalid.
    """
    top = READOUT_CLASSES if n_classes is None else n_classes
    classes = [((v >> 16) & 0xF) - 1 for v in values if (v >> 20) & 1 and 0 < (v >> 16) & 0xF <= top]
    if not classes:
        return {"prediction": -1, "valid_values": 0, "values": len(values)}
    k = np.bincount(classes)
    return {"prediction": int(np.argmax(k)), "valid_values": len(classes), "values": len(values)}

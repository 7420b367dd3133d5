"""The chip's own sensor as the network's input: its DVS layer set up the way the training data was made.

With ``deploy --live`` the chip's DVS feeds the first core directly. Its input stage (sinabs'
``dvs_layer.py`` order: merge polarities → sum pooling 1, 2 or 4 → region of interest, after pooling →
mirrors) is chosen so that the network sees what it was trained on:

1. the sensor options, when given (``--sensor-pool``, ``--roi``, ``--flip-x``, ``--flip-y``,
   ``--merge-polarity``);
2. else the model's ``input_stage`` (:mod:`qsnn_deploy.data.origin`, written by training): data recorded on a
   sensor of the chip's resolution is reproduced exactly, as the recording's stage followed by the loader's
   pooling;
3. else (data from another sensor, generated data, no record): the widest centred view, the largest pooling
   that still covers the input, cropped to it in the middle, with a note that predictions may suffer.

No samna here: :func:`dvs_layer_fields` gives samna's field values, which the samna backend writes and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.origin import DVS_POOLINGS, check_origin
from ..emulate.sensor import SensorStage
from ..errors import ConstraintError, InputError, UsageError
from ..ir import Network


@dataclass(frozen=True)
class LiveInput:
    """The DVS stage for a model, the sensor it applies to (W, H, P), how it was chosen, and notes for the user."""

    stage: SensorStage
    sensor_size: tuple[int, int, int]
    how: str  # "options", "training data" or "centred view"
    notes: tuple[str, ...] = ()


def _model_size(net: Network) -> tuple[int, int, int]:
    c, h, w = net.input_shape
    if c not in (1, 2):
        raise ConstraintError(
            f"the model takes {c} input channels; the chip's sensor gives 2 polarities (or 1, merged)",
            fix="deploy a model with a 1- or 2-channel input, or stream recorded events without --live",
        )
    return w, h, c


def _checked(stage: SensorStage, sensor: tuple[int, int, int], want: tuple[int, int, int], how: str) -> SensorStage:
    """``stage`` when it turns ``sensor`` into the model input ``want``; otherwise exit 2 for the user's options
    (``how`` "from the options"), exit 4 for a stage made from the model."""
    error = UsageError if how == "from the options" else ConstraintError
    try:
        got = stage.output_size(sensor)
    except InputError as exc:  # a region outside the (pooled) sensor
        raise error(exc.what, fix="choose a region inside the pooled sensor") from None
    if got != want:
        raise error(
            f"the sensor stage ({how}) turns the {sensor[0]}x{sensor[1]} sensor into {got[0]}x{got[1]}x{got[2]} "
            f"(W, H, P), but the model takes {want[0]}x{want[1]}x{want[2]}",
            fix="choose --sensor-pool and --roi x0,y0,width,height that give the model's input "
            f"({want[0]}x{want[1]}), and --merge-polarity for a 1-channel model",
        )
    return stage


def _from_training(rec: dict[str, Any], sensor: tuple[int, int, int], merge: bool) -> SensorStage:
    stage = rec["stage"] or {"pool": 1, "roi": None, "flip_x": False, "flip_y": False, "merge_polarity": False}
    fx, fy = rec["downsample"]
    fix = (
        "pass --sensor-pool and --roi to choose the view yourself, or retrain at an input size the sensor "
        "reaches by pooling 1, 2 or 4"
    )
    if fx != fy:
        raise ConstraintError(
            f"the model saw its training sensor pooled by {fx} across and {fy} down; the DVS layer pools both alike",
            fix=fix,
        )
    if stage["roi"] is not None and fx != 1:
        raise ConstraintError(
            f"the training data was cropped while recording and then pooled by {fx}; the DVS layer crops after "
            "pooling once",
            fix=fix,
        )
    pool = int(stage["pool"]) * fx
    if pool not in DVS_POOLINGS:
        raise ConstraintError(
            f"the model saw the {sensor[0]}x{sensor[1]} sensor pooled by {pool}; the chip's DVS layer pools by "
            f"{', '.join(map(str, DVS_POOLINGS))}",
            fix=fix,
        )
    roi = stage["roi"]
    return SensorStage(
        pool=pool,
        roi=None if roi is None else (int(roi[0]), int(roi[1]), int(roi[2]), int(roi[3])),
        flip_x=bool(stage["flip_x"]),
        flip_y=bool(stage["flip_y"]),
        merge_polarity=merge or bool(stage["merge_polarity"]),
    )


def _centred(sensor: tuple[int, int, int], want: tuple[int, int, int], merge: bool) -> SensorStage:
    w, h = want[0], want[1]
    fits = [p for p in DVS_POOLINGS if sensor[0] // p >= w and sensor[1] // p >= h]
    if not fits:
        raise ConstraintError(
            f"the model input {w}x{h} is larger than the chip's {sensor[0]}x{sensor[1]} sensor",
            fix="deploy a model with an input of at most the sensor's size",
        )
    p = max(fits)
    pw, ph = sensor[0] // p, sensor[1] // p
    roi = None if (pw, ph) == (w, h) else ((pw - w) // 2, (ph - h) // 2, w, h)
    return SensorStage(pool=p, roi=roi, merge_polarity=merge)


def _record(net: Network) -> dict[str, Any] | None:
    """The model's ``input_stage`` record, checked (exit 3 when damaged), or None."""
    rec = net.metadata.get("input_stage")
    where = f"model metadata 'input_stage' ({net.metadata.get('source', 'the model')})"
    return None if rec is None else check_origin(rec, where)


def replay_stage(net: Network, events: np.ndarray) -> tuple[SensorStage, tuple[int, int, int]] | None:
    """For a recording whose pixels do not fit the model input as they are: the stage that turns it into what the
    model was trained on, and the sensor size it applies to; None when the model records no real sensor that
    holds these pixels. Decided on x and y (a polarity mismatch stays the emulator's exit 3):

    - pixels inside the recording stage's output (a take of ``qsnn-deploy record``, written after its stage):
      the loader's pooling only (and a polarity merge for a 1-channel model);
    - pixels inside the sensor (a raw recording): the whole stage of the training data.
    """
    c, h, w = net.input_shape
    if not len(events) or (events["x"].max() < w and events["y"].max() < h):
        return None
    rec = _record(net)
    if rec is None or rec["synthetic"]:
        return None
    sw, sh, sp = (int(v) for v in rec["sensor_size"])
    sensor = (sw, sh, sp)
    recorded = sensor if rec["stage"] is None else SensorStage.from_dict(rec["stage"]).output_size(sensor)
    xmax, ymax = int(events["x"].max()), int(events["y"].max())
    if xmax < recorded[0] and ymax < recorded[1]:
        fx, fy = rec["downsample"]
        if fx != fy or fx not in DVS_POOLINGS:
            raise ConstraintError(
                f"the model saw its recordings pooled by {fx}x{fy}; the sensor stage pools both axes by 1, 2 or 4",
                fix="pass --sensor-pool and --roi to choose the view yourself",
            )
        return SensorStage(pool=fx, merge_polarity=c == 1), recorded
    if xmax < sw and ymax < sh:
        return _from_training(rec, sensor, c == 1), sensor
    return None


def live_input(net: Network, sensor_size: tuple[int, int, int] | None, options: SensorStage | None = None) -> LiveInput:
    """The DVS stage that feeds ``net`` from a sensor of ``sensor_size`` (W, H, P), chosen as the module says."""
    if sensor_size is None:
        raise UsageError(
            "this chip's profile names no on-chip sensor (sensor.resolution)",
            fix="use a Speck target (speck2f, speck2e), or stream recorded events with --input",
        )
    want = _model_size(net)
    merge = want[2] == 1
    if options is not None:
        return LiveInput(_checked(options, sensor_size, want, "from the options"), sensor_size, "options")
    rec = _record(net)
    dataset = net.metadata.get("dataset") or "unknown data"
    if rec is not None and not rec["synthetic"] and tuple(rec["sensor_size"][:2]) == sensor_size[:2]:
        stage = _checked(_from_training(rec, sensor_size, merge), sensor_size, want, "from the training data")
        return LiveInput(stage, sensor_size, "training data")
    stage = _checked(_centred(sensor_size, want, merge), sensor_size, want, "centred view")
    if rec is None:
        origin = f"{dataset} (its sensor is not recorded in the model)"
    elif rec["synthetic"]:
        origin = f"{dataset}, generated {rec['sensor_size'][0]}x{rec['sensor_size'][1]} events"
    else:
        origin = f"{dataset}, a {rec['sensor_size'][0]}x{rec['sensor_size'][1]} sensor"
    crop = "" if stage.roi is None else f", cropped to the centre {want[0]}x{want[1]}"
    note = (
        f"the model was trained on {origin}, not on this chip's {sensor_size[0]}x{sensor_size[1]} sensor: the view "
        f"is the sensor pooled by {stage.pool}{crop}; expect lower accuracy than on the training data "
        "(record your own data with `qsnn-deploy record` and train on it)"
    )
    return LiveInput(stage, sensor_size, "centred view", (note,))


def dvs_layer_fields(
    stage: SensorStage, sensor_size: tuple[int, int, int], input_core: int | None, monitor: bool = False
) -> dict[str, Any]:
    """samna's ``DvsLayerConfig`` values for ``stage`` (names and meaning as sinabs' ``DVSLayer.get_config_dict``
    writes them: ``origin`` the region's first column/row and ``cut`` its last, both after pooling), sending to
    ``input_core`` (None: to no core, e.g. recording) and, with ``monitor``, to the host too."""
    w, h, _ = sensor_size
    p = stage.pool
    x0, y0, rw, rh = stage.roi if stage.roi is not None else (0, 0, w // p, h // p)
    return {
        "pooling": {"x": p, "y": p},
        "origin": {"x": x0, "y": y0},
        "cut": {"x": x0 + rw - 1, "y": y0 + rh - 1},
        "mirror": {"x": stage.flip_x, "y": stage.flip_y},
        "mirror_diagonal": False,
        "merge": stage.merge_polarity,
        "pass_sensor_events": True,
        "monitor_enable": monitor,
        "destinations": [] if input_core is None else [{"layer": input_core, "enable": True}],
    }

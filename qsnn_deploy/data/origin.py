"""Where a dataset's events come from: the sensor that recorded them and the stages between it and the
network input.

A trained model carries this record (``input_stage`` in its metadata), so that a chip's own sensor can be
set up the way the training data was made (``deploy --live``). Its fields:

- ``sensor_size`` ``[W, H, P]``: the sensor that recorded the events, before any stage;
- ``stage``: what was applied while recording (``qsnn-deploy record``'s sensor options: ``pool``, ``roi``
  ``[x0, y0, w, h]`` after pooling, ``flip_x``, ``flip_y``, ``merge_polarity``), or None;
- ``downsample`` ``[fx, fy]``: the loader's integer pooling to the network input (``x // f``);
- ``synthetic``: True for generated data (no real sensor).

``qsnn-deploy record`` writes :data:`RECORDING_FILE` at the top of the folder dataset it fills; the folder
loader reads it (:func:`read_recording_info`) for the sensor size instead of inferring it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..inputs import decode_text, is_whole_number, read_bytes, short_repr
from ..outputs import write_atomic

RECORDING_FILE = "recording.json"
RECORDING_FORMAT = "qsnn-deploy-recording"
RECORDING_SCHEMA_VERSION = 1
STAGE_KEYS = ("pool", "roi", "flip_x", "flip_y", "merge_polarity")
DVS_POOLINGS = (1, 2, 4)
"""The sum poolings of a Speck's DVS input stage (sinabs' DVSLayer; reference/chips.md)."""
MAX_SENSOR_SIDE = 1 << 15
"""Largest sensor side a description may give (px): far above any event camera, small enough to allocate."""


def origin_record(
    sensor_size: tuple[int, int, int] | list[int],
    downsample: tuple[int, int] | list[int] = (1, 1),
    stage: dict[str, Any] | None = None,
    synthetic: bool = False,
) -> dict[str, Any]:
    """The ``input_stage`` record (plain JSON values) of a dataset."""
    return {
        "sensor_size": [int(v) for v in sensor_size],
        "stage": None if stage is None else dict(stage),
        "downsample": [int(v) for v in downsample],
        "synthetic": bool(synthetic),
    }


def _size(value: Any, n: int, lo: int = 1) -> bool:
    if not isinstance(value, list) or len(value) != n:
        return False
    return all(is_whole_number(v, lo=lo, hi=MAX_SENSOR_SIDE) for v in value)


def check_stage(stage: Any, where: str) -> dict[str, Any] | None:
    """A sensor-stage dict with exactly :data:`STAGE_KEYS` and sane values (None passes); InputError otherwise."""
    if stage is None:
        return None
    if not isinstance(stage, dict) or set(stage) != set(STAGE_KEYS):
        raise InputError(
            f"the sensor stage must be an object with keys {', '.join(STAGE_KEYS)}, got {short_repr(stage)}",
            where=where,
        )
    ok = stage["pool"] in DVS_POOLINGS and not isinstance(stage["pool"], bool)
    ok &= stage["roi"] is None or (_size(stage["roi"], 4, lo=0) and min(stage["roi"][2:]) >= 1)
    ok &= all(isinstance(stage[k], bool) for k in ("flip_x", "flip_y", "merge_polarity"))
    if not ok:
        raise InputError(f"the sensor stage {short_repr(stage)} has a value out of range", where=where)
    return dict(stage)


def check_origin(record: Any, where: str) -> dict[str, Any]:
    """An ``input_stage`` record as :func:`origin_record` makes it; InputError (what, where) otherwise."""
    keys = {"sensor_size", "stage", "downsample", "synthetic"}
    if not isinstance(record, dict) or set(record) != keys:
        raise InputError(f"'input_stage' must be an object with keys {', '.join(sorted(keys))}", where=where)
    if not _size(record["sensor_size"], 3) or not _size(record["downsample"], 2):
        raise InputError(
            f"'input_stage' has sensor_size {short_repr(record['sensor_size'])} and downsample "
            f"{short_repr(record['downsample'])}; both must be lists of positive integers (3 and 2 of them)",
            where=where,
        )
    if not isinstance(record["synthetic"], bool):
        raise InputError("'input_stage.synthetic' must be true or false", where=where)
    check_stage(record["stage"], where)
    return record


def write_recording_info(
    folder: str | Path,
    sensor_size: tuple[int, int, int],
    stage: dict[str, Any] | None,
    output_size: tuple[int, int, int],
    device: str,
) -> Path:
    """Write :data:`RECORDING_FILE` in ``folder`` (atomically): the sensor, the stage applied, the files' size."""
    doc = {
        "format": RECORDING_FORMAT,
        "schema_version": RECORDING_SCHEMA_VERSION,
        "sensor_size": [int(v) for v in sensor_size],
        "stage": check_stage(stage, "recording stage"),
        "output_size": [int(v) for v in output_size],
        "device": device,
    }
    return write_atomic(Path(folder) / RECORDING_FILE, json.dumps(doc, indent=1))


def read_recording_info(folder: str | Path) -> dict[str, Any] | None:
    """The :data:`RECORDING_FILE` of a folder dataset, checked (None when there is none); any bytes that are
    not one give an InputError naming the file."""
    path = Path(folder) / RECORDING_FILE
    if not path.is_file():
        return None
    where = str(path)
    fix = f"re-record the folder, or delete {RECORDING_FILE} to have the sensor size inferred from the events"
    text = decode_text(read_bytes(path, "recording description"), where, "the recording description")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an int of too many digits
        raise InputError(f"the recording description is not valid JSON ({exc})", where=where, fix=fix) from None
    if not isinstance(doc, dict) or doc.get("format") != RECORDING_FORMAT:
        raise InputError(f"not a {RECORDING_FORMAT} description", where=where, fix=fix)
    version = doc.get("schema_version")
    if not isinstance(version, int) or not is_whole_number(version, lo=1) or version > RECORDING_SCHEMA_VERSION:
        raise InputError(
            f"recording description schema_version {short_repr(version)} is not supported "
            f"(this qsnn-deploy reads up to {RECORDING_SCHEMA_VERSION})",
            where=where,
            fix="upgrade qsnn-deploy, or " + fix,
        )
    if not _size(doc.get("sensor_size"), 3) or not _size(doc.get("output_size"), 3):
        raise InputError("sensor_size and output_size must be [W, H, P] positive integers", where=where, fix=fix)
    if not isinstance(doc.get("device"), str):
        raise InputError("'device' must be a string", where=where, fix=fix)
    try:
        check_stage(doc.get("stage"), where)
    except InputError as exc:
        raise InputError(exc.what, where=where, fix=fix) from None
    return doc

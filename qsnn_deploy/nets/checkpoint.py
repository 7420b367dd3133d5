"""Checkpoints: plain tensors and primitive values, loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import SCHEMA_VERSION, __version__
from ..errors import InputError
from ..inputs import is_number, is_whole_number, short_repr
from ..outputs import atomic_path
from .network import SpikingCNN
from .zoo import spec_from_dict, spec_weight_count

FORMAT = "qsnn-deploy-checkpoint"


def save_checkpoint(path: Path, model: SpikingCNN, extra: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "model_spec": model.spec.to_dict(),
        "quantize": bool(model.quantize),
        "state_dict": state,
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


# What torch.load raises on damaged bytes: its zip reader, its weights-only unpickler (which lets KeyError,
# IndexError and UnicodeDecodeError of pickle's own opcodes through) and its tensor rebuilding.
_TORCH_LOAD_ERRORS = (
    RuntimeError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    struct.error,
    OverflowError,
    MemoryError,
    AssertionError,
)
# What the standard zipfile module raises on a damaged central directory.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    OSError,
    EOFError,
    struct.error,
    NotImplementedError,
    KeyError,
    IndexError,
    OverflowError,
)


def _check_torch_zip(path: Path, what: str, corrupt_fix: str) -> None:
    """Refuse before ``torch.load`` what is not torch's zip format or claims more data than the file holds.

    ``torch.save`` writes a zip archive of stored (uncompressed) records; torch checks each record's size
    against the tensors' claims, so records bounded by the file bound what loading allocates. Compressed
    records could expand without bound, and the pre-1.6 pickle format allocates what its pickle claims.
    """
    size = path.stat().st_size
    try:
        if not zipfile.is_zipfile(path):
            with path.open("rb") as f:
                legacy = f.read(2) == b"\x80\x02"
            raise InputError(
                f"'{path}' is not a readable PyTorch {what} ("
                + (
                    "PyTorch's pre-1.6 format, which is not read)"
                    if legacy
                    else "not the zip archive torch.save writes)"
                ),
                fix="re-save it with torch.save of PyTorch 1.6 or newer" if legacy else corrupt_fix,
            )
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except InputError:
        raise
    except _ZIP_ERRORS as exc:
        raise InputError(
            f"'{path}' is not a readable PyTorch {what} ({type(exc).__name__} in its zip directory)", fix=corrupt_fix
        ) from None
    for info in records:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
            raise InputError(
                f"'{path}' is not a readable PyTorch {what}: record '{info.filename}' is compressed or "
                f"claims {info.file_size} bytes in a file of {size}",
                fix=corrupt_fix,
            )


def read_torch_file(path: Path, what: str, missing_fix: str, corrupt_fix: str) -> Any:
    """``torch.load(weights_only=True)`` (never runs code from the file) with clear errors for a missing
    or unreadable ``what`` ("checkpoint", "state dict", ...); any bytes give an InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{what} '{path}' does not exist", fix=missing_fix)
    _check_torch_zip(path, what, corrupt_fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _TORCH_LOAD_ERRORS as exc:
        raise InputError(f"'{path}' is not a readable PyTorch {what} ({type(exc).__name__})", fix=corrupt_fix) from None


def _bad(path: Path, what: str) -> InputError:
    return InputError(
        f"checkpoint '{path}' is damaged: {what}", fix="the file may be corrupt; re-run training or copy it again"
    )


# Every entry a checkpoint's readers use, and what it must be (the file may hold anything torch can load).
_PAYLOAD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "model_spec": lambda v: isinstance(v, dict),
    "state_dict": lambda v: isinstance(v, dict),
    "quantize": lambda v: isinstance(v, (bool, int)),
    "dt_us": lambda v: is_number(v) and v > 0,
    "duration_us": lambda v: is_number(v) and v >= 0,
    "time_bins": lambda v: is_whole_number(v, lo=1),
    "dataset": lambda v: isinstance(v, str),
    "training": lambda v: isinstance(v, str),
    "auxiliary_readouts": lambda v: is_whole_number(v, lo=0),
    "classes": lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
    "input_stage": lambda v: _is_origin(v),
}


def _is_origin(value: Any) -> bool:
    from ..data.origin import check_origin

    try:
        check_origin(value, "checkpoint")
    except InputError:
        return False
    return True


def _check_payload(payload: dict[str, Any], path: Path) -> None:
    for key, ok in _PAYLOAD_CHECKS.items():
        if key not in payload:
            if key in ("model_spec", "state_dict"):
                raise _bad(path, f"it has no '{key}'")
        elif not ok(payload[key]):
            raise _bad(path, f"'{key}' is {short_repr(payload[key])}")
    for name, value in payload["state_dict"].items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise _bad(path, f"state_dict entry {short_repr(name)} is not a named tensor")
        if value.is_complex() or value.is_quantized:
            raise _bad(path, f"tensor '{name}' has dtype {value.dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise _bad(path, f"tensor '{name}' holds NaN or infinite values")


def load_checkpoint(path: str | Path) -> tuple[SpikingCNN, dict[str, Any]]:
    """Rebuild the model of a checkpoint; never executes code from the file, and any bytes, keys or
    types give an InputError naming it."""
    path = Path(path)
    payload = read_torch_file(
        path,
        "checkpoint",
        "pass the checkpoint.pt of a training run",
        "the file may be truncated or corrupt; re-run training or copy it again",
    )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(
            f"'{path}' is not a qsnn-deploy checkpoint",
            fix="use the checkpoint.pt written by `qsnn-deploy train`, or convert a NIR file",
        )
    version = payload.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(
            f"checkpoint '{path}' has schema version {short_repr(version)}; this qsnn-deploy reads "
            f"up to {SCHEMA_VERSION}",
            fix="upgrade qsnn-deploy",
        )
    _check_payload(payload, path)
    spec = spec_from_dict(payload["model_spec"], where=str(path))
    weights = spec_weight_count(spec)
    if 2 * weights > path.stat().st_size:  # weights are stored at 2 bytes or more each
        raise _bad(
            path,
            f"its model description declares {weights} weights, more than its {path.stat().st_size} bytes can hold",
        )
    model = SpikingCNN(spec, quantize=bool(payload.get("quantize", True)))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"checkpoint '{path}' does not match its model description: {exc}") from None
    return model, payload

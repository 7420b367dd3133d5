"""Checkpoints: plain tensors and primitive values, loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .. import SCHEMA_VERSION, __version__
from ..errors import InputError
from ..zoo import spec_from_dict
from .network import SpikingCNN

FORMAT = "qsnn-deploy-checkpoint"


def save_checkpoint(path: Path, model: SpikingCNN, extra: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "tool_version": __version__,
               "model_spec": model.spec.to_dict(), "quantize": bool(model.quantize), "state_dict": state, **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_torch_file(path: Path, what: str, missing_fix: str, corrupt_fix: str) -> Any:
    """``torch.load(weights_only=True)`` (never runs code from the file) with clear errors for a missing
    or unreadable ``what`` ("checkpoint", "state dict", ...)."""
    if not path.is_file():
        raise InputError(f"{what} '{path}' does not exist", fix=missing_fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise InputError(f"'{path}' is not a readable PyTorch {what} ({type(exc).__name__})",
                         fix=corrupt_fix) from None


def load_checkpoint(path: str | Path) -> tuple[SpikingCNN, dict[str, Any]]:
    """Rebuild the model of a checkpoint; never executes code from the file."""
    path = Path(path)
    payload = read_torch_file(path, "checkpoint", "pass the checkpoint.pt of a training run",
                              "the file may be truncated or corrupt; re-run training or copy it again")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"'{path}' is not a qsnn-deploy checkpoint",
                         fix="use the checkpoint.pt written by `qsnn-deploy train`, or convert a NIR file")
    version = payload.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(f"checkpoint '{path}' has schema version {version!r}; this qsnn-deploy reads up to "
                         f"{SCHEMA_VERSION}", fix="upgrade qsnn-deploy")
    spec = spec_from_dict(payload["model_spec"], where=str(path))
    model = SpikingCNN(spec, quantize=bool(payload.get("quantize", True)))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"checkpoint '{path}' does not match its model description: {exc}") from None
    return model, payload

"""Trained networks a BPTT run starts from (``--init``) or learns from (``--distill``): a run folder or a
checkpoint whose network fits the one being trained."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UsageError
from ..nets.checkpoint import load_checkpoint
from ..nets.network import SpikingCNN
from ..nets.zoo import ModelSpec


def _checkpoint(path: Path) -> Path:
    return path / "checkpoint.pt" if path.is_dir() else path


def initial_weights(path: str | Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint (or run folder) whose layers have the shapes of ``spec``."""
    path = Path(path)
    model, _ = load_checkpoint(_checkpoint(path))
    mine = SpikingCNN(spec).state_dict()
    theirs = model.state_dict()
    if set(mine) != set(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
        raise UsageError(
            f"--init {path}: its layers ({model.spec.name}) do not have the shapes of model '{spec.name}'",
            fix="start from a run of the same model",
        )
    return theirs


def load_teacher(path: str | Path, spec: ModelSpec, device: torch.device) -> SpikingCNN:
    """The ``--distill`` teacher: a trained network (run folder or checkpoint) with ``spec``'s input and classes,
    in eval mode on ``device``, without gradients."""
    path = Path(path)
    teacher, _ = load_checkpoint(_checkpoint(path))
    if teacher.spec.input_shape != spec.input_shape or teacher.spec.n_classes != spec.n_classes:
        raise UsageError(
            f"--distill {path}: the teacher takes {teacher.spec.input_shape} and has "
            f"{teacher.spec.n_classes} classes; model '{spec.name}' takes {spec.input_shape} with "
            f"{spec.n_classes}",
            fix="distil from a network trained on the same dataset",
        )
    teacher.requires_grad_(False)
    return teacher.eval().to(device)

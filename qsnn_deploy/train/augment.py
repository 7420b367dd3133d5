"""Augmentation of framed training batches, redrawn every epoch: random spatial shifts (``train --shift-px``).

Each training sample is moved as a whole by ``(dy, dx)`` input pixels, each drawn uniformly from
``[-max_px, max_px]``; counts pushed off the input are dropped and the uncovered border is empty,
as if the sensor had seen the scene a little off-centre. The shifts of an epoch depend only on
``(seed, epoch)`` and the sample's index, so a resumed or data-parallel run draws the same ones.
Unlike ``--augment`` (flips and jitter applied once to recordings on disk when they are loaded),
this works on every dataset, including the built-in digits-dvs.
"""

from __future__ import annotations

import numpy as np
import torch


def epoch_shifts(n: int, max_px: int, seed: int, epoch: int) -> torch.Tensor:
    """The ``(dy, dx)`` shift of each of ``n`` samples in ``epoch``: int64 ``(n, 2)`` in ``[-max_px, max_px]``."""
    rng = np.random.default_rng([seed, epoch, 0x5F1F7])
    return torch.from_numpy(rng.integers(-max_px, max_px + 1, size=(n, 2)))


def batch_frames(frames: torch.Tensor, idx: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
    """The training batch ``frames[idx]``, each sample shifted by its row of the epoch's ``shifts`` (when given)."""
    return frames[idx] if shifts is None else shift_frames(frames[idx], shifts[idx])


def shift_frames(frames: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Frames ``(N, T, C, H, W)`` each moved by its row of ``shifts`` ``(N, 2)`` = ``(dy, dx)``, zero-filled."""
    out = torch.zeros_like(frames)
    h, w = frames.shape[-2:]
    for i, (dy, dx) in enumerate(shifts.tolist()):
        if abs(dy) >= h or abs(dx) >= w:
            continue
        out[i, ..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = frames[
            i, ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return out

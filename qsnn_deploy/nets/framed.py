"""Dataset splits framed into dense spike-count tensors, as training and ANN calibration consume them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import DataOptions, load_dataset, to_frames
from ..progress import ProgressMode


@dataclass
class FramedSplit:
    """A dataset split as dense spike-count rasters (N, T, C, H, W)."""

    frames: torch.Tensor
    labels: torch.Tensor
    duration_us: float


def framed_split(
    dataset: str,
    split: str,
    time_bins: int,
    seed: int = 0,
    progress: ProgressMode = True,
    limit: int | None = None,
    options: DataOptions | None = None,
) -> FramedSplit:
    """Load a split of a named dataset and frame it into ``time_bins`` bins."""
    ds = load_dataset(dataset, split, seed=seed, progress=progress, options=options).head(limit)
    frames = to_frames(ds.events, ds.sensor_size, time_bins, duration_us=ds.duration_us)
    return FramedSplit(
        torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)),
        torch.as_tensor(ds.labels, dtype=torch.long),
        float(ds.duration_us),
    )

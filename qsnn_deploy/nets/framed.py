"""Dataset splits framed into dense spike-count tensors, as training and ANN calibration consume them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data import DataOptions, load_dataset, to_frames
from ..progress import ProgressMode


@dataclass
class FramedSplit:
    """A dataset split as dense spike-count rasters (N, T, C, H, W); ``classes`` and ``origin`` as the
    dataset gives them (:class:`qsnn_deploy.data.EventDataset`), for the checkpoint."""

    frames: torch.Tensor
    labels: torch.Tensor
    duration_us: float
    classes: tuple[str, ...] = ()
    origin: dict[str, Any] | None = None

    def provenance(self) -> dict[str, Any]:
        """What a checkpoint keeps of the data: ``classes`` and, when known, ``input_stage``
        (:mod:`qsnn_deploy.data.origin`), so that a chip's own sensor can be set up like the data was made."""
        out: dict[str, Any] = {"classes": list(self.classes)} if self.classes else {}
        if self.origin is not None:
            out["input_stage"] = self.origin
        return out


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
        tuple(ds.classes),
        ds.origin,
    )

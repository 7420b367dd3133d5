"""How a dataset on disk is found, cut and transformed: the options every loader takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataOptions:
    """Options of the real-data loaders (tonic datasets and ``folder:PATH``); the built-in data ignores them.

    ``sensor_size`` ``(W, H, P)``: of the recordings (inferred from the events when None). ``input_size``
    ``(W, H)``: what the network sees; recordings are downsampled to it (integer factor, as the chip's
    sensor stage would) when it differs. ``window_us``: the time window framed per recording (the
    longest recording's when None). ``test_fraction``: share held out per class when a folder has no
    ``train/`` and ``test/`` sub-folders (seeded, stratified). ``denoise_us``: drop events with no
    neighbour within this time (tonic's Denoise); ``augment``: random flips and spatial jitter on the
    training split. ``cache``: keep decoded recordings on disk (tonic's DiskCachedDataset) so that a
    second run does not read the raw files again.
    """

    data_root: Path | None = None
    download: bool = False
    sensor_size: tuple[int, int, int] | None = None
    input_size: tuple[int, int] | None = None
    window_us: int | None = None
    test_fraction: float = 0.2
    denoise_us: int | None = None
    augment: bool = False
    cache: bool = True

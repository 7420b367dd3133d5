"""Registry of the datasets known by name."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..progress import ProgressMode
from .dataset import EventDataset
from .digits_dvs import load_digits_dvs
from .options import DataOptions


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: ``loader(split, seed, cache_dir, progress) -> EventDataset``."""

    name: str
    loader: Callable[..., EventDataset]
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "digits-dvs": DatasetSpec(
        "digits-dvs",
        load_digits_dvs,
        "built-in: scikit-learn's 8x8 digits in N-MNIST-like saccades through a DVS pixel "
        "model; 34x34x2, 10 classes, 300 ms, no download",
    ),
}


FOLDER_PREFIX = "folder:"


def load_dataset(
    name: str,
    split: str,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressMode = True,
    options: DataOptions | None = None,
) -> EventDataset:
    """Load dataset ``name``, ``split`` "train" or "test": a built-in one (``DATASETS``), one that tonic
    knows (``qsnn_deploy.data.tonic_sets.KNOWN``, from ``options.data_root``) or ``folder:PATH``
    (one sub-folder per class, see :func:`qsnn_deploy.data.folder.load_folder`)."""
    options = options or DataOptions()
    spec = DATASETS.get(name)
    if spec is not None:
        return spec.loader(split=split, seed=seed, cache_dir=cache_dir, progress=progress)
    if str(name).startswith(FOLDER_PREFIX):
        from .folder import load_folder

        return load_folder(Path(str(name)[len(FOLDER_PREFIX) :]), split, seed=seed, options=options, progress=progress)
    from .tonic_sets import KNOWN, load_tonic

    if name in KNOWN:
        return load_tonic(name, split, options, seed=seed, progress=progress)
    known = sorted(DATASETS) + sorted(KNOWN)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InputError(
        f"Unknown dataset '{name}'",
        "dataset name",
        f"{hint}known datasets: {', '.join(known)}, or folder:PATH for your own recordings "
        "(`qsnn-deploy datasets` lists them)",
    )

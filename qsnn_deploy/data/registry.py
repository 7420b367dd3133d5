"""Registry of the datasets known by name."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass

from qsnn_deploy.data.dataset import EventDataset
from qsnn_deploy.data.digits_dvs import load_digits_dvs
from qsnn_deploy.errors import InputError


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


def load_dataset(
    name: str,
    split: str,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> EventDataset:
    """Load dataset ``name`` (see ``DATASETS``), ``split`` "train" or "test"."""
    spec = DATASETS.get(name)
    if spec is None:
        known = sorted(DATASETS)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError(
            f"Unknown dataset '{name}'",
            "dataset name",
            f"{hint}known datasets: {', '.join(known)}",
        )
    return spec.loader(split=split, seed=seed, cache_dir=cache_dir, progress=progress)

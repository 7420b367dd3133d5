"""The data a run trains on: the network for the dataset, its framed train and test splits, the validation
share held out of the train split, and the sample order of each epoch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import DataOptions, load_dataset
from ..errors import UsageError
from ..nets.framed import FramedSplit, framed_split
from ..nets.zoo import ModelSpec, default_spec, load_spec
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .checks import parse_sensor_size
from .config import TrainConfig


def data_options(cfg: TrainConfig, spec: ModelSpec | None) -> DataOptions:
    """The loader options of a run; recordings are pooled to the input of ``spec`` (native size when None)."""
    return DataOptions(
        data_root=None if cfg.data_root is None else Path(cfg.data_root),
        download=cfg.download,
        sensor_size=None if cfg.sensor_size is None else parse_sensor_size(cfg.sensor_size),
        input_size=None if spec is None else (spec.input_shape[2], spec.input_shape[1]),
        window_us=None if cfg.window_ms is None else int(round(cfg.window_ms * 1000)),
        test_fraction=cfg.test_fraction,
        denoise_us=cfg.denoise_us,
        augment=cfg.augment,
    )


def model_spec(config: TrainConfig, progress: ProgressMode = True, log: Log = default_log) -> ModelSpec:
    """The network of a run: the zoo model or YAML ``config.model``, or for ``"auto"`` the default Speck-ready
    network sized to the dataset's sensor and classes (:func:`qsnn_deploy.nets.zoo.default_spec`)."""
    if config.model != "auto":
        return load_spec(config.model)
    ds = load_dataset(config.dataset, "train", progress=progress, options=data_options(config, None))
    spec = default_spec(ds.sensor_size, ds.n_classes, config.dataset)
    log(f"no --model given: using {spec.name}, {spec.description}")
    return spec


def train_test_splits(
    dataset: str,
    spec: ModelSpec,
    time_bins: int,
    progress: ProgressMode = True,
    limit: int | None = None,
    options: DataOptions | None = None,
    seed: int = 0,
) -> tuple[FramedSplit, FramedSplit]:
    """The framed train and test splits of ``dataset``, checked against the model's input shape."""
    train_set = framed_split(dataset, "train", time_bins, seed=seed, progress=progress, limit=limit, options=options)
    test_set = framed_split(dataset, "test", time_bins, seed=seed, progress=progress, limit=limit, options=options)
    if tuple(train_set.frames.shape[2:]) != spec.input_shape:
        raise UsageError(
            f"model '{spec.name}' expects input {spec.input_shape} but dataset '{dataset}' "
            f"gives {tuple(train_set.frames.shape[2:])}",
            fix="pick a model made for this dataset",
        )
    return train_set, test_set


def split_validation(data: FramedSplit, fraction: float | None, seed: int) -> tuple[FramedSplit, FramedSplit | None]:
    """Carve a seeded, stratified validation set out of a training split: ``round(fraction · n)`` samples (at
    least one), shared among the classes in proportion to their counts (largest remainders first), with at least
    one per class when there are as many as classes and the class keeps a training sample. The samples of each
    class are drawn in a (seed)-determined order; both sets keep the split's order. ``fraction`` None or 0: no
    validation set."""
    if not fraction:
        return data, None
    n = len(data.labels)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise UsageError(
            f"--val-fraction {fraction} leaves no training samples out of {n}",
            fix="lower --val-fraction, use more samples, or --val-fraction 0 (no validation: the last epoch is kept)",
        )
    rng = np.random.default_rng([seed, 0x7A1])
    labels = data.labels.numpy()
    classes, counts = np.unique(labels, return_counts=True)
    take = _stratified_counts(counts, n_val, rng)
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)])
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    keep, held = torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))
    return (
        replace(data, frames=data.frames[keep], labels=data.labels[keep]),
        replace(data, frames=data.frames[held], labels=data.labels[held]),
    )


def _stratified_counts(counts: np.ndarray, n_val: int, rng: np.random.Generator) -> np.ndarray:
    """How many of each class's ``counts`` samples go to a validation set of ``n_val`` (< sum of counts); equal
    remainders are served in an order drawn from ``rng``."""
    room = counts - (counts > 1)  # a class with two or more samples keeps one for training
    if room.sum() < n_val:
        room = counts.copy()
    share = n_val * counts / counts.sum()
    take = np.minimum(np.floor(share).astype(int), room)
    if n_val >= int((room > 0).sum()):
        take = np.maximum(take, (room > 0).astype(int))
    while take.sum() > n_val:  # the minimum of one per class overshot: take back from the largest shares
        i = int(np.argmax(np.where(take > 1, take - share, -np.inf)))
        take[i] -= 1
    remainder = share - take
    for i in np.lexsort((rng.permutation(len(counts)), -remainder)):
        if take.sum() == n_val:
            break
        if take[i] < room[i]:
            take[i] += 1
    while take.sum() < n_val:  # a few classes full: fill wherever there is room
        take[int(np.argmax(room - take))] += 1
    return take


def split_sizes(train: FramedSplit, validation: FramedSplit | None, test: FramedSplit) -> dict[str, int]:
    """``metrics.json``'s ``split_sizes``: the samples a run trained on, validated on (0: none) and tested on."""
    return {
        "train": len(train.labels),
        "validation": 0 if validation is None else len(validation.labels),
        "test": len(test.labels),
    }


def without_validation(train: FramedSplit, test: FramedSplit, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The validation fields of ``metrics.json`` for a method that holds out no validation split (``--ann``,
    ``--integer-only``, the local rules): no validation accuracy, the last epoch kept, the split sizes."""
    return {
        "validation_accuracy": None,
        "selected_epoch": history[-1]["epoch"] if history else 0,
        "kept": "last epoch",
        "split_sizes": split_sizes(train, None, test),
    }


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch; depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(n))

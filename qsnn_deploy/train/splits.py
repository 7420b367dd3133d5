"""The data a run trains on: the network for the dataset, its framed train and test splits, the validation
share held out of the train split, and the sample order of each epoch."""

from __future__ import annotations

from pathlib import Path

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
    """Carve a seeded validation set (``fraction`` of the samples, at least one) out of a training split."""
    if fraction is None:
        return data, None
    n = len(data.labels)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise UsageError(
            f"--val-fraction {fraction} leaves no training samples out of {n}",
            fix="lower --val-fraction or use more samples",
        )
    order = torch.from_numpy(np.random.default_rng([seed, 0x7A1]).permutation(n))
    val, keep = order[:n_val].sort().values, order[n_val:].sort().values
    return (
        FramedSplit(data.frames[keep], data.labels[keep], data.duration_us),
        FramedSplit(data.frames[val], data.labels[val], data.duration_us),
    )


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch; depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(n))

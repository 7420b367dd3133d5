"""The epoch skeleton every training method shares.

:func:`fit` runs the epochs of an :class:`Epochs` (one per method): per epoch it trains one pass
(:meth:`Epochs.train_epoch`, usually :func:`train_pass` over a sample order), asks the method for the epoch's
evaluation (:meth:`Epochs.after_pass`), appends the history entry ``{epoch, loss, train_accuracy, ...,
elapsed_s}``, logs one line ``epoch e/E: loss ...  train ...%  <the method's part>`` and lets the method end the
epoch (:meth:`Epochs.end_epoch`: save a resume state, halve a learning rate...).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from ..progress import Log, Progress, ProgressMode
from .distributed import SINGLE, Group

#: one batch of a pass: its sample indices → (mean loss, correct predictions, extra progress values)
Step = Callable[[torch.Tensor], tuple[float, int, dict[str, str]]]


def train_pass(
    order: torch.Tensor,
    batch_size: int,
    step: Step,
    *,
    desc: str,
    progress: ProgressMode,
    group: Group = SINGLE,
) -> tuple[float, float]:
    """One pass over the samples in ``order``, ``batch_size`` at a time; returns (mean loss, accuracy) over all
    processes of ``group``, each of which takes its share of every global batch (a last batch too small to
    share is skipped by every process)."""
    n = len(order)
    total_loss, correct, seen = 0.0, 0, 0
    bar = Progress(range(0, n, batch_size), desc=desc, unit="batch", progress=progress)
    for i in bar:
        if min(batch_size, n - i) < group.world:
            break
        idx = group.shard(order[i : i + batch_size])
        loss, right, extra = step(idx)
        total_loss += loss * len(idx)
        correct += right
        seen += len(idx)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", **extra)
    loss_sum, right_sum, count = group.sum([total_loss, correct, seen])
    return loss_sum / count, right_sum / count


class Epochs(ABC):
    """What a training method tells :func:`fit`. ``history``, ``first_epoch`` and ``elapsed_s`` are where a
    resumed run starts (an empty history, epoch 1 and 0 s for a fresh one)."""

    epochs: int
    history: list[dict[str, Any]]
    first_epoch: int = 1
    elapsed_s: float = 0.0

    @property
    def stopped(self) -> bool:
        """Whether training ends before ``epochs`` (early stopping)."""
        return False

    def start_epoch(self, epoch: int) -> None:
        """Before the pass of ``epoch`` (nothing by default)."""
        return None

    @abstractmethod
    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """One training pass: (mean loss, training accuracy)."""

    @abstractmethod
    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        """After the pass (``pass_s`` seconds): step per-epoch schedules, evaluate; the history entry's values."""

    @abstractmethod
    def describe(self, entry: dict[str, Any]) -> str:
        """The method's part of the epoch's log line."""

    def end_epoch(self, entry: dict[str, Any], elapsed_s: float) -> None:
        """After the epoch is logged (``elapsed_s``: since the run started; nothing by default)."""
        return None


def fit(method: Epochs, log: Log) -> list[dict[str, Any]]:
    """Run ``method``'s epochs from ``first_epoch``; returns the history (``method.history``, appended to)."""
    t0 = time.time() - method.elapsed_s
    for epoch in range(method.first_epoch, method.epochs + 1):
        if method.stopped:
            break
        method.start_epoch(epoch)
        started = time.time()
        loss, accuracy = method.train_epoch(epoch)
        entry = {"epoch": epoch, "loss": loss, "train_accuracy": accuracy}
        entry |= method.after_pass(epoch, time.time() - started)
        entry["elapsed_s"] = round(time.time() - t0, 2)
        method.history.append(entry)
        log(f"epoch {epoch}/{method.epochs}: loss {loss:.4f}  train {100 * accuracy:.1f}%  " + method.describe(entry))
        method.end_epoch(entry, time.time() - t0)
    return method.history

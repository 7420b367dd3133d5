"""Learning-rate schedules for ``qsnn-deploy train --lr-schedule``, built only from ``torch.optim.lr_scheduler``.

- ``constant``: ``ConstantLR(factor=1)`` — the learning rate never changes.
- ``multistep``: ``MultiStepLR`` dividing by 10 after 50 % and 75 % of the epochs.
- ``cosine`` (default): ``CosineAnnealingLR(T_max=epochs)`` — one half cosine down to 0.
- ``periodic-cosine``: the 4-bit QSNN's "LR boosting": ``CosineAnnealingLR(T_max=P)`` stepped past ``T_max``, so the
  learning rate falls to 0 over P epochs and climbs back over the next P (a full cosine of period 2P).
- ``warm-restarts``: ``CosineAnnealingWarmRestarts(T_0=P)`` — falls over P epochs, then jumps back up.
- ``one-cycle``: ``OneCycleLR(max_lr=lr)`` stepped after every batch (warm-up, then annealing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:  # torch only where a scheduler is made: the option checks stay torch-free
    import torch
    from torch.optim import lr_scheduler

SCHEDULES = ("constant", "multistep", "cosine", "periodic-cosine", "warm-restarts", "one-cycle")
PERIODIC = ("periodic-cosine", "warm-restarts")


def default_period(epochs: int) -> int:
    """The period of the periodic schedules when ``--lr-period`` is not given: a third of the run (at least 1)."""
    return max(1, epochs // 3)


def check_schedule(name: str, epochs: int | None, period: int | None) -> None:
    """Raise :class:`UsageError` for an unknown schedule or a period that does not fit it."""
    if name not in SCHEDULES:
        raise UsageError(
            f"unknown learning-rate schedule '{name}'", where="--lr-schedule", fix=f"use one of {', '.join(SCHEDULES)}"
        )
    if period is not None:
        if name not in PERIODIC:
            raise UsageError(
                f"--lr-period is for the periodic schedules, not '{name}'",
                fix="add --lr-schedule periodic-cosine or warm-restarts, or drop --lr-period",
            )
        if period < 1:
            raise UsageError(f"--lr-period must be >= 1 epoch, got {period}", fix="e.g. --lr-period 5")


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, period: int | None = None
) -> tuple[lr_scheduler.LRScheduler, bool]:
    """The scheduler for ``name`` and whether it is stepped after every batch (True) or every epoch (False)."""
    from torch.optim import lr_scheduler

    check_schedule(name, epochs, period)
    if steps_per_epoch < 1:
        raise UsageError("the training split has no batches", fix="use more samples (raise --limit)")
    period = default_period(epochs) if period is None else period
    if name == "constant":
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0), False
    if name == "multistep":
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1), False
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), False
    if name == "periodic-cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=period), False
    if name == "warm-restarts":
        return lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=period), False
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch), True

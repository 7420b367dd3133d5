"""The kept epoch of a run with a validation split: the weights of the best validation accuracy (ties: the later
epoch), and early stopping (``--patience``) after ``patience`` epochs without a better one. Its fields travel in
the resume state, so a resumed run keeps and stops where the uninterrupted one would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .device import cpu_state

#: with a SynOp goal, an epoch meets it when its validation SynOps per sample are at most (1 − this) × the goal:
#: headroom for the difference between the validation and the test split, on which SynOps are reported
GOAL_HEADROOM = 0.02


@dataclass
class EarlyStopping:
    """The best validation accuracy so far, its epoch and weights, and the epochs since a better one.
    ``patience`` None: never stop early. ``goal``: SynOps per sample an epoch must meet on the validation split
    to be kept (:data:`GOAL_HEADROOM`); while none has, the one with the fewest SynOps is kept."""

    patience: int | None
    goal: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int | None = None
    best_val: float | None = None
    best_key: tuple[float, float] | None = None
    bad_epochs: int = 0
    stopped_early: bool = False

    def meets_goal(self, synops: float | None) -> bool:
        """Whether validation SynOps per sample ``synops`` meet the goal (always, without one)."""
        return self.goal is None or (synops is not None and synops <= (1 - GOAL_HEADROOM) * self.goal)

    def update(self, epoch: int, val_accuracy: float, model: torch.nn.Module, synops: float | None = None) -> None:
        """After an epoch (``synops``: its validation SynOps per sample): an epoch at least as good keeps
        ``model``'s weights (a tie: the later epoch); ``patience`` epochs in a row without a better one stop.
        Better: meeting the goal, then a higher accuracy (or, short of the goal, fewer SynOps)."""
        key = (1.0, val_accuracy) if self.meets_goal(synops) else (0.0, -float(synops or 0.0))
        best = None if self.best_key is None else tuple(self.best_key)
        better = best is None or key > best
        if better or key == best:
            self.best_val, self.best_epoch, self.best_state, self.best_key = val_accuracy, epoch, cpu_state(model), key
        if better:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            self.stopped_early = self.patience is not None and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        """The fields the resume state keeps (all but ``patience``, which is the config's)."""
        return {
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "best_key": self.best_key,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the fields :meth:`state` saved (from a resume state)."""
        for key in self.state():
            setattr(self, key, state.get(key))
        if self.best_key is None and self.best_val is not None:  # a state written before SynOp goals
            self.best_key = (1.0, self.best_val)
        self.bad_epochs, self.stopped_early = self.bad_epochs or 0, bool(self.stopped_early)

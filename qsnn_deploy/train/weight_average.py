"""Weight averaging (``--average-weights SHARE``): the mean of the weights of the epochs after ``SHARE`` of the
run that meet the SynOp goal on the validation split (every epoch, without a goal), as in stochastic weight
averaging (Izmailov et al. 2018). One epoch's weights on a 144-sample validation split are a noisy pick; their
mean over the settled part of the run is one model that the run keeps when it, too, meets the goal on
validation, unless the last epoch is one of those it averages and more accurate there: a mean over a stretch
where the network still changes can be worse than the epochs at its end (issue 18, seed 1: 96.5 % on
validation, each of the last 20 epochs 97.2–98.6 %). Its sums travel in the resume state, so a resumed run
averages what the uninterrupted one would."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


def first_averaged_epoch(share: float, epochs: int) -> int:
    """The first epoch that joins the mean: the first after ``share`` × ``epochs``."""
    return math.floor(round(share * epochs, 9)) + 1


@dataclass
class WeightAverage:
    """The running sum of the state dicts of the averaged epochs (float64 on the CPU) and their numbers."""

    first_epoch: int
    total: dict[str, torch.Tensor] | None = None
    epochs: list[int] = field(default_factory=list)

    def add(self, epoch: int, model: torch.nn.Module) -> None:
        """Add ``model``'s weights after ``epoch`` (an epoch before :attr:`first_epoch` is left out)."""
        if epoch < self.first_epoch:
            return
        state = {k: v.detach().to("cpu", torch.float64, copy=True) for k, v in model.state_dict().items()}
        self.total = state if self.total is None else {k: self.total[k] + v for k, v in state.items()}
        self.epochs.append(epoch)

    def mean(self, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """The mean state dict, in the dtypes of ``like`` (a state dict of the model); None before any epoch."""
        if self.total is None:
            return None
        n = len(self.epochs)
        return {k: (v / n).to(like[k].dtype) for k, v in self.total.items()}

    def state(self) -> dict[str, Any]:
        """The fields the resume state keeps."""
        return {"average_total": self.total, "average_epochs": list(self.epochs)}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state` saved."""
        self.total, self.epochs = state.get("average_total"), list(state.get("average_epochs") or [])

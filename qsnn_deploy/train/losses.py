"""Losses: cross-entropy or spike-count MSE (seed 3) on output spike counts, plus the SynOp terms of SynOpLoss
(seed 2).

SynOps per sample are differentiable (input spike counts × fan-out per layer, see
:meth:`qsnn_deploy.train.network.ChipBlock.synops`); both forms act on their batch mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def count_cross_entropy(out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the output spike counts summed over time as logits. out: (N, T, classes)."""
    return F.cross_entropy(out_spikes.sum(1), labels)


LOSSES = ("ce", "mse-count")
TARGET_RATE_CORRECT = 0.8  # seed 3: the correct class fires in 80 % of the time bins ...
TARGET_RATE_WRONG = 0.2  # ... every other class in 20 %


def mse_count(out_spikes: torch.Tensor, labels: torch.Tensor, correct_rate: float = TARGET_RATE_CORRECT,
              wrong_rate: float = TARGET_RATE_WRONG) -> torch.Tensor:
    """Spike-count MSE (seed 3): mean over samples and classes of ``(count / T − target rate)²``, the target
    rate being ``correct_rate`` for the label and ``wrong_rate`` for every other class. out: (N, T, classes)."""
    steps = out_spikes.shape[1]
    rates = out_spikes.sum(1) / steps
    target = torch.full_like(rates, wrong_rate)
    target.scatter_(1, labels.view(-1, 1), correct_rate)
    return F.mse_loss(rates, target)


def task_loss(name: str, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The classification loss ``name`` ('ce' or 'mse-count') of a batch."""
    if name == "ce":
        return count_cross_entropy(out_spikes, labels)
    if name == "mse-count":
        return mse_count(out_spikes, labels)
    raise ValueError(f"unknown loss {name!r}; use one of {LOSSES}")


def synop_penalty(synops_per_sample: torch.Tensor, alpha: float) -> torch.Tensor:
    """Penalty form: ``α · mean SynOps``."""
    return alpha * synops_per_sample.mean()


def synop_target(synops_per_sample: torch.Tensor, target: float) -> torch.Tensor:
    """Target form (the paper's): ``((mean SynOps − target) / target)²``."""
    return ((synops_per_sample.mean() - target) / target) ** 2

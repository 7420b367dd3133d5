"""Losses: cross-entropy on output spike counts, plus the SynOp terms of SynOpLoss (seed 2).

SynOps per sample are differentiable (input spike counts × fan-out per layer, see
:meth:`qsnn_deploy.train.network.ChipBlock.synops`); both forms act on their batch mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def count_cross_entropy(out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the output spike counts summed over time as logits. out: (N, T, classes)."""
    return F.cross_entropy(out_spikes.sum(1), labels)


def synop_penalty(synops_per_sample: torch.Tensor, alpha: float) -> torch.Tensor:
    """Penalty form: ``α · mean SynOps``."""
    return alpha * synops_per_sample.mean()


def synop_target(synops_per_sample: torch.Tensor, target: float) -> torch.Tensor:
    """Target form (the paper's): ``((mean SynOps − target) / target)²``."""
    return ((synops_per_sample.mean() - target) / target) ** 2

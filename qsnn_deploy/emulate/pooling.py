"""Sum pooling of spike counts in torch: the one implementation the emulator, the trainable network
(:class:`~qsnn_deploy.nets.network.ChipBlock`) and the frame-based torch model (:mod:`qsnn_deploy.convert.torch_model`)
share. Torch only (no numba), so that importing it stays light."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sum_pool_t(x: torch.Tensor, pool: int, rounded: bool = True) -> torch.Tensor:
    """Square sum pooling by ``pool`` of counts shaped (..., C, H, W), any leading axes (rows and columns past
    a whole window dropped); ``pool`` 1 returns ``x`` itself.

    Computed as ``avg_pool2d(x, pool) · pool²``, then rounded to the integer the sum of counts is
    (``rounded=True``). ``rounded=False`` keeps the product as it is, so that gradients flow through
    (quantisation-aware training: ``round`` has a zero gradient)."""
    if pool <= 1:
        return x
    if x.dim() <= 4:
        y = F.avg_pool2d(x, pool) * (pool * pool)
    else:
        y = (F.avg_pool2d(x.flatten(0, -4), pool) * (pool * pool)).unflatten(0, x.shape[:-3])
    return torch.round(y) if rounded else y

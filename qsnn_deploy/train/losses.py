"""Losses: cross-entropy or spike-count MSE (4-bit QSNN) on output spike counts, plus the SynOp terms of SynOpLoss
and knowledge distillation from a teacher network.

SynOps per sample are differentiable (input spike counts × fan-out per layer, see
:meth:`qsnn_deploy.nets.network.ChipBlock.synops`); both forms act on their batch mean. With a weight per layer
the penalty form counts weighted SynOps (:func:`weighted_synops`), the target form counts them as reported and
lets the weights tilt only its gradient (:func:`tilted_synops`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .config import LOSSES  # the names --loss offers (torch-free there)


def count_cross_entropy(out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the output spike counts summed over time as logits. out: (N, T, classes)."""
    return F.cross_entropy(out_spikes.sum(1), labels)


TARGET_RATE_CORRECT = 0.8  # 4-bit QSNN: the correct class fires in 80 % of the time bins ...
TARGET_RATE_WRONG = 0.2  # ... every other class in 20 %


def mse_count(
    out_spikes: torch.Tensor,
    labels: torch.Tensor,
    correct_rate: float = TARGET_RATE_CORRECT,
    wrong_rate: float = TARGET_RATE_WRONG,
) -> torch.Tensor:
    """Spike-count MSE (4-bit QSNN): mean over samples and classes of ``(count / T − target rate)²``, the target
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


def tilted_synops(layer_synops: list[torch.Tensor], weights: list[float] | None = None) -> torch.Tensor:
    """The batch's mean SynOps per sample as reported (every layer once) in value, with the gradient of the SynOps
    weighted by ``weights`` (:func:`weighted_synops`) rescaled to that mean: what the target form acts on, so a
    target is in the units a goal is checked in and the weights only choose which layers' SynOps it cuts first.
    The rescale is at most 1 / the smallest positive weight, so a 0 weight on a busy layer cannot blow it up."""
    total = weighted_synops(layer_synops).mean()
    if weights is None:
        return total
    weighted = weighted_synops(layer_synops, weights).mean()
    floor = min((w for w in weights if w > 0), default=1.0) * total.detach()
    scale = (total / weighted.clamp_min(floor).clamp_min(1e-12)).detach()
    # above the floor: the weighted SynOps rescaled (bit for bit the form the committed 5x results were measured
    # with); below it the rescale is capped and the value is kept exact
    return torch.where(
        weighted.detach() >= floor, weighted * scale, total.detach() + scale * (weighted - weighted.detach())
    )


def weighted_synops(layer_synops: list[torch.Tensor], weights: list[float] | None = None) -> torch.Tensor:
    """SynOps per sample (N,) summed over layers, each layer's weighted by ``weights`` (all 1 when None).

    ``layer_synops[i]`` are the SynOps layer ``i`` performs, i.e. caused by the spikes it receives (sinabs'
    convention): weighting ``conv2`` weights the cost of ``conv1``'s spikes."""
    if weights is None:
        return torch.stack(layer_synops).sum(0)
    return sum((w * s for w, s in zip(weights, layer_synops)), torch.zeros(()))


def parse_synop_weights(names: list[str], text: str, model: str = "the model") -> list[float]:
    """``--synop-weights``: '1,3,1,1' (one per layer), '2' (all) or 'conv2=3' (by name, others 1) → floats."""
    from ..nets.zoo import per_layer_values

    table = per_layer_values(names, text, "--synop-weights", model)
    weights = []
    for name in names:
        try:
            value = float(table.get(name, 1.0))
        except ValueError:
            raise UsageError(
                f"--synop-weights: '{table[name]}' for layer {name} is not a number", fix="e.g. --synop-weights conv2=3"
            ) from None
        if not value >= 0:
            raise UsageError(f"--synop-weights: the weight of layer {name} must be >= 0, got {table[name]}")
        weights.append(value)
    if not any(weights):
        raise UsageError(
            "--synop-weights: every weight is 0, so the SynOp loss would do nothing",
            fix="give at least one layer a positive weight",
        )
    return weights


def distillation(student_spikes: torch.Tensor, teacher_spikes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015) on output spike counts: ``τ² · KL(p_teacher ‖ p_student)``
    with ``p = softmax(counts / τ)``, the counts summed over time. Spikes: (N, T, classes)."""
    log_p_student = F.log_softmax(student_spikes.sum(1) / temperature, dim=1)
    p_teacher = F.softmax(teacher_spikes.sum(1).detach() / temperature, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature**2

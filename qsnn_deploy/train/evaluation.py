"""How a trained spiking network is scored: accuracy of its output spike counts, SynOps per sample and output
spikes per layer, on a framed split."""

from __future__ import annotations

from typing import Any

import torch

from ..nets.framed import FramedSplit
from ..nets.network import SpikingCNN


@torch.no_grad()
def evaluate(
    model: SpikingCNN, data: FramedSplit, batch_size: int, device: torch.device, quantize: bool | None = None
) -> dict[str, Any]:
    """Accuracy, mean SynOps per sample and mean output spikes per layer (``quantize``: for this evaluation
    only, chip quantisation on or off; None: as the model trains)."""
    keep = model.quantize
    if quantize is not None:
        model.quantize = quantize
    model.eval()
    correct = 0
    synops = torch.zeros(len(model.chip_blocks))  # per layer, summed over the batches
    spikes = torch.zeros(len(model.chip_blocks))
    try:
        for i in range(0, len(data.labels), batch_size):
            x = data.frames[i : i + batch_size].to(device)
            out, syn, spk = model(x, record=True)
            correct += int((out.sum(1).argmax(1).cpu() == data.labels[i : i + batch_size]).sum())
            s = torch.stack([v.sum() for v in syn]).cpu()
            k = torch.stack([v.sum() for v in spk]).cpu()
            synops = synops + s
            spikes = spikes + k
    finally:
        model.quantize = keep
    n = len(data.labels)
    return {
        "accuracy": correct / n,
        "synops_per_sample": float(synops.sum()) / n,
        "layer_synops": [float(v) / n for v in synops],
        "layer_spikes": [float(v) / n for v in spikes],
    }

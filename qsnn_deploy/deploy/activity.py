"""Measure SynOps per layer by emulating a few samples (feeds the estimator)."""

from __future__ import annotations

from ..ir import Network


def measure_synops(net: Network, dataset: str, samples: int, progress: bool = False) -> tuple[dict[str, float], float]:
    """Mean SynOps per sample of each layer over the first ``samples`` test samples, and the sample
    duration in seconds."""
    from .emulator import inputs_from_dataset, run_emulator

    inputs = inputs_from_dataset(net, dataset, "test", samples, progress)
    res = run_emulator(net, inputs, progress=progress)
    duration_us = float(net.metadata.get("duration_us") or inputs.raster.shape[1] * net.dt_us)
    return res["layer_synops"], duration_us / 1e6

"""Figures over seeds: mean, sample standard deviation (ddof 1), n and the per-seed values, in one shape for
``train --seeds`` and every benchmark that reports over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "per_seed"}`` of ``values`` (one per seed, in seed order); std is 0 for one value."""
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "n": len(a),
        "per_seed": [float(v) for v in a],
    }


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, std)`` of :func:`seed_stats`: the pair the benchmarks that write ``[mean, std]`` keep."""
    s = seed_stats(values)
    return s["mean"], s["std"]


def mean_pm_std(s: dict[str, Any], scale: float = 100, digits: int = 2) -> str:
    """'98.61 ± 0.28' from a :func:`seed_stats` record (``scale`` 100: fractions as percent)."""
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def per_seed_text(s: dict[str, Any], scale: float = 100, digits: int = 2) -> str:
    """'98.89, 98.61, 98.33': the per-seed values of a :func:`seed_stats` record."""
    return ", ".join(f"{scale * v:.{digits}f}" for v in s["per_seed"])

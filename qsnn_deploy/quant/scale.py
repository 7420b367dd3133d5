"""Scales from a peak value that neither underflow nor divide by zero (no numpy or torch needed).

Every "divide by the largest value" in the package goes through these: a zero peak means there is
nothing to scale, a subnormal one must not turn into an infinite or zero factor, and NaN or an
infinity is an error that says where it came from instead of a silently wrong result.
"""

from __future__ import annotations

import math
from typing import Any


def finite_peak(values: Any, what: str) -> float:
    """``max |values|`` of a numpy array or torch tensor as a float (0.0 when empty).

    Raises ``ValueError`` naming ``what`` when a value is NaN or infinite.
    """
    flat = values.reshape(-1)
    if len(flat) == 0:
        return 0.0
    peak = float(abs(flat).max())
    if not math.isfinite(peak):
        raise ValueError(f"{what} holds NaN or infinite values (max |x| = {peak})")
    return peak


def ratio_to(limit: float, peak: float) -> float:
    """``|limit / peak|``, the factor that maps ``peak`` onto ``limit``.

    ``inf`` when ``peak`` is 0 or so small that the factor overflows: such values bound no scale.
    """
    if peak == 0:
        return math.inf
    try:
        return abs(limit / peak)
    except OverflowError:  # pragma: no cover - CPython returns inf here; other runtimes may raise
        return math.inf


def usable_divisor(value: float, what: str, fallback: float = 1.0) -> float:
    """``value`` when it is a finite positive divisor, ``fallback`` when it is 0 (nothing to normalise by).

    Raises ``ValueError`` naming ``what`` when it is NaN, infinite or negative.
    """
    value = float(value)
    if value == 0:
        return fallback
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} is {value!r}; it must be finite and positive")
    return value

"""Scales from a peak value that neither underflow nor divide by zero (no numpy or torch needed).

Every host-side "divide by the largest value" in the package goes through these: a zero peak means there
is nothing to scale, and a subnormal one must not turn into an infinite or zero factor. The torch
quantisers of training (:mod:`.quantizers`, :mod:`.fake`) compute their scales on the device instead.

Contract: callers check user data (weights, activations, calibration drive) for NaN and infinities first
and raise :class:`qsnn_deploy.errors.InputError` naming the file or layer; a ``ValueError`` from here means
a caller passed a value it should have refused (a bug), not a bad input.
"""

from __future__ import annotations

import math


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

    Raises ``ValueError`` naming ``what`` when it is NaN, infinite or negative (the caller's bug: see above).
    """
    value = float(value)
    if value == 0:
        return fallback
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} is {value!r}; it must be finite and positive")
    return value

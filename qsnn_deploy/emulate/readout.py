"""The chip's readout block: a moving average of the last layer's spikes per class on the slow clock.

Speck's readout has 15 classes plus an idle class. Each slow-clock tick it counts the spikes of each
class, averages the counts over the last ``window`` ticks (1, 16 or 32) and reports the class with the
largest average when that average exceeds ``threshold``, else idle.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

N_CLASSES = 15
WINDOWS = (1, 16, 32)
IDLE = -1


def readout(
    times_us: np.ndarray,
    classes: np.ndarray,
    duration_us: float,
    tick_us: float,
    window: int = 16,
    threshold: float = 0.0,
    n_classes: int = N_CLASSES,
) -> tuple[int, np.ndarray]:
    """The class reported at the end of the sample (``IDLE`` = -1) and the moving averages per tick.

    ``times_us``/``classes``: the output spikes of the last layer (class = output channel).
    """
    if window not in WINDOWS:
        raise InputError(f"readout window must be one of {WINDOWS} slow-clock ticks, got {window}")
    if n_classes > N_CLASSES:
        raise InputError(
            f"the readout block has {N_CLASSES} classes; the model has {n_classes} outputs",
            fix="read the outputs from the monitored last layer instead of the readout",
        )
    n_ticks = max(1, int(np.ceil(duration_us / tick_us)))
    counts = np.zeros((n_ticks, n_classes))
    keep = classes < n_classes
    tick = np.minimum((np.asarray(times_us)[keep] // tick_us).astype(np.int64), n_ticks - 1)
    np.add.at(counts, (tick, np.asarray(classes)[keep].astype(np.int64)), 1)
    csum = np.cumsum(np.vstack([np.zeros((1, n_classes)), counts]), axis=0)
    lo = np.maximum(np.arange(1, n_ticks + 1) - window, 0)
    avg = (csum[1:] - csum[lo]) / window
    last = avg[-1]
    return (int(last.argmax()) if last.max() > threshold else IDLE), avg

"""The in-memory event dataset type shared by all loaders."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class EventDataset:
    """A labelled list of event recordings.

    ``events[i]`` is an ``EVENT_DTYPE`` array (time-sorted, ``t`` in µs from the start of
    the recording), ``labels[i]`` its class index, ``sensor_size`` is ``(W, H, P)`` and
    ``duration_us`` the length of every recording's time window. ``origin``: the sensor the events were
    recorded with and the stages since (:func:`qsnn_deploy.data.origin.origin_record`), when known.
    """

    name: str
    split: str
    events: list[np.ndarray]
    labels: np.ndarray
    sensor_size: tuple[int, int, int]
    n_classes: int
    duration_us: int
    classes: tuple[str, ...]
    origin: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.events) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.events)} recordings but {len(self.labels)} labels")
        if len(self.sensor_size) != 3:
            raise ValueError(f"{self.name}: sensor_size must be (W, H, P), got {self.sensor_size}")
        if len(self.classes) != self.n_classes:
            raise ValueError(f"{self.name}: {len(self.classes)} class names for {self.n_classes}")

    def __len__(self) -> int:
        return len(self.events)

    def head(self, n: int | None) -> EventDataset:
        """The first ``n`` recordings taken in turn from each class (``--limit``), in their stored order, so
        that a dataset stored class by class (folders, tonic) still gives every class; all when ``n`` is None."""
        if n is None or n >= len(self):
            return self
        idx = balanced_prefix(self.labels, n)
        return replace(self, events=[self.events[i] for i in idx], labels=np.asarray(self.labels)[idx])


def balanced_prefix(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices (ascending) of ``n`` samples taken round-robin over the classes: every class's first sample,
    then every class's second, ... (classes that run out are skipped)."""
    rank = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, c in enumerate(np.asarray(labels).tolist()):
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i] + 1
    return np.sort(np.lexsort((np.arange(len(labels)), rank))[:n])

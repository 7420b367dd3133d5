"""The samples a run takes, on the emulator or on a chip: one type for both."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Samples:
    """N samples: the raster binned mode runs and, when the source had them, each sample's events.

    ``raster`` is ``(N, T, C, H, W)`` spike counts; ``events`` one structured ``x, y, t, p`` array per
    sample (after the sensor stage; t in µs from the sample's start); ``duration_us`` the recording's
    length when it is known (else ``T`` bins of the network's ``dt_us``).
    """

    raster: np.ndarray
    labels: np.ndarray | None
    source: str
    events: list[np.ndarray] | None = None
    duration_us: float | None = None

    def __len__(self) -> int:
        return int(self.raster.shape[0])

    def sample_events(self, i: int, dt_us: float) -> np.ndarray:
        """Events of sample ``i`` (rebuilt from the raster when the source was a raster)."""
        if self.events is not None:
            return self.events[i]
        from .event import raster_to_events

        return raster_to_events(self.raster[i], dt_us)

    def with_events(self, dt_us: float) -> Samples:
        """These samples with every sample's events present (what a chip is streamed)."""
        if self.events is not None:
            return self
        return replace(self, events=[self.sample_events(i, dt_us) for i in range(len(self))])

    def event_list(self) -> list[np.ndarray]:
        """Every sample's events; the samples must come from :meth:`with_events` or an event source."""
        if self.events is None:
            raise ValueError("these samples hold rasters only; call with_events(dt_us) first")
        return self.events

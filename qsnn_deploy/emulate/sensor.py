"""The sensor's input stage, applied to DVS events before the first core.

Order as on the chip's DVS layer: sum pooling (1, 2 or 4), then the region of interest, then flips,
then polarity merging. Pooling maps a pixel to ``x // pool``: every event still arrives, several
pixels now share an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.origin import DVS_POOLINGS
from ..errors import InputError


@dataclass(frozen=True)
class SensorStage:
    """Settings of the DVS input stage; the defaults pass events through unchanged."""

    pool: int = 1
    roi: tuple[int, int, int, int] | None = None  # (x0, y0, width, height) after pooling
    flip_x: bool = False
    flip_y: bool = False
    merge_polarity: bool = False

    def __post_init__(self) -> None:
        if self.pool not in DVS_POOLINGS:
            raise InputError(f"sensor pooling must be 1, 2 or 4, got {self.pool}")
        if self.roi is not None and (len(self.roi) != 4 or min(self.roi) < 0 or min(self.roi[2:]) < 1):
            raise InputError(
                f"region of interest must be (x0, y0, width, height) with width, height >= 1, got {self.roi}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The stage as plain JSON values (the keys of :data:`qsnn_deploy.data.origin.STAGE_KEYS`)."""
        return {
            "pool": self.pool,
            "roi": None if self.roi is None else list(self.roi),
            "flip_x": self.flip_x,
            "flip_y": self.flip_y,
            "merge_polarity": self.merge_polarity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SensorStage:
        """The stage of a dict checked by :func:`qsnn_deploy.data.origin.check_stage`."""
        roi = data["roi"]
        return cls(
            pool=int(data["pool"]),
            roi=None if roi is None else (int(roi[0]), int(roi[1]), int(roi[2]), int(roi[3])),
            flip_x=bool(data["flip_x"]),
            flip_y=bool(data["flip_y"]),
            merge_polarity=bool(data["merge_polarity"]),
        )

    def output_size(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        """(W, H, P) after the stage, for a sensor of ``sensor_size`` (W, H, P)."""
        w, h, p = sensor_size[0] // self.pool, sensor_size[1] // self.pool, sensor_size[2]
        if self.roi is not None:
            x0, y0, rw, rh = self.roi
            if x0 + rw > w or y0 + rh > h:
                raise InputError(f"region of interest {self.roi} exceeds the {w}x{h} pooled sensor")
            w, h = rw, rh
        return w, h, 1 if self.merge_polarity else p

    def apply(self, events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
        """Transform structured events (x, y, t, p); events outside the region are dropped."""
        w, h, _ = self.output_size(sensor_size)
        ev = events.copy()
        ev["x"] //= self.pool
        ev["y"] //= self.pool
        if self.roi is not None:
            x0, y0, _, _ = self.roi
            ev["x"] -= x0
            ev["y"] -= y0
            ev = ev[(ev["x"] >= 0) & (ev["x"] < w) & (ev["y"] >= 0) & (ev["y"] < h)]
        if self.flip_x:
            ev["x"] = w - 1 - ev["x"]
        if self.flip_y:
            ev["y"] = h - 1 - ev["y"]
        if self.merge_polarity:
            ev["p"] = 0
        return ev

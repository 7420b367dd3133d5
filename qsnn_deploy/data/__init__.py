"""Event datasets (built-in digits-dvs), event file I/O, a DVS pixel model and framing."""

from .dataset import EventDataset
from .digits_dvs import load_digits_dvs
from .dvs_pixel import PixelArray, PixelParams, simulate
from .events import EVENT_DTYPE, EventInput, read_event_file, validate_events
from .framing import events_to_raster, to_frames
from .options import DataOptions
from .registry import DATASETS, DatasetSpec, load_dataset

__all__ = [
    "DATASETS",
    "DataOptions",
    "EVENT_DTYPE",
    "DatasetSpec",
    "EventDataset",
    "EventInput",
    "PixelArray",
    "PixelParams",
    "events_to_raster",
    "load_dataset",
    "load_digits_dvs",
    "read_event_file",
    "simulate",
    "to_frames",
    "validate_events",
]

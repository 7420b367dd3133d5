"""Event datasets (built-in digits-dvs), event file I/O, a DVS pixel model and framing."""

from qsnn_deploy.data.dataset import EventDataset
from qsnn_deploy.data.digits_dvs import load_digits_dvs
from qsnn_deploy.data.dvs_pixel import PixelArray, PixelParams, simulate
from qsnn_deploy.data.events import EVENT_DTYPE, EventInput, read_event_file, validate_events
from qsnn_deploy.data.framing import events_to_raster, to_frames
from qsnn_deploy.data.options import DataOptions
from qsnn_deploy.data.registry import DATASETS, DatasetSpec, load_dataset

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

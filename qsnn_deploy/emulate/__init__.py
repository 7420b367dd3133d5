"""The chip emulator: integer Networks run bit-exactly, time-binned or event by event.

Public API (loaded on first use)::

    Samples                                     what a run takes: rasters, events, labels
    run_binned(net, raster) -> BinnedResult     time-stepped, equal to sinabs' discretised forward
    EventEmulator(net).run(events)              the chip's one-spike-per-update semantics
    run_event_mode(net, samples) -> dict        EventEmulator over every sample
    compare_modes(net, samples) -> Comparison   float vs binned vs event, and where they part ways
    SensorStage                                 the DVS sensor's pooling, region of interest, flips
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .binned import BinnedResult, run_binned
    from .compare import Comparison, compare_modes
    from .event import EventEmulator
    from .event_mode import run_event_mode
    from .samples import Samples
    from .sensor import SensorStage

__all__ = [
    "BinnedResult",
    "Comparison",
    "EventEmulator",
    "Samples",
    "SensorStage",
    "compare_modes",
    "run_binned",
    "run_event_mode",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BinnedResult": ".binned",
        "run_binned": ".binned",
        "Comparison": ".compare",
        "compare_modes": ".compare",
        "EventEmulator": ".event",
        "run_event_mode": ".event_mode",
        "Samples": ".samples",
        "SensorStage": ".sensor",
    },
)

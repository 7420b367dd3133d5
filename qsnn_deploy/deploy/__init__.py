"""Running a Network: on the emulator, or on a Speck board through samna (imported only when it is real).

Public API (loaded on first use)::

    inputs_from_file(net, path) / inputs_from_dataset(net, name, split, limit, progress) -> Samples
    run_emulator(net, samples, mode="binned" | "event") -> dict   the deploy JSON fields (DESIGN.md §3)
    measure_activity(net, samples) -> Activity                    SynOps and spikes per layer and sample
    plan_chip(net, target) -> ChipPlan                            layer -> core and each core's configuration
    run_on_chip(plan, samples, options) -> dict                   needs the real samna driver
    samna_status() -> str                                         what driver, if any, is installed
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .activity import Activity, measure_activity
    from .chip import ChipOptions, run_on_chip
    from .chip_plan import ChipPlan, plan_chip
    from .emulator import inputs_from_dataset, inputs_from_file, run_emulator
    from .targets import samna_status

__all__ = [
    "Activity",
    "ChipOptions",
    "ChipPlan",
    "inputs_from_dataset",
    "inputs_from_file",
    "measure_activity",
    "plan_chip",
    "run_emulator",
    "run_on_chip",
    "samna_status",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Activity": ".activity",
        "measure_activity": ".activity",
        "ChipOptions": ".chip",
        "run_on_chip": ".chip",
        "ChipPlan": ".chip_plan",
        "plan_chip": ".chip_plan",
        "inputs_from_dataset": ".emulator",
        "inputs_from_file": ".emulator",
        "run_emulator": ".emulator",
        "samna_status": ".targets",
    },
)

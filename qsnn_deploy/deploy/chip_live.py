"""``deploy --target speck2f --live``: the chip's own sensor feeds the network; predictions over a sliding window.

The plan carries the DVS stage (:mod:`.sensor_input`); the board is configured and checked as for recorded
input (:func:`.samna_backend.build_config`), then read until ``duration_s`` or Ctrl-C. Output spikes and
readout words are timed by the host when they arrive (the chip's own timestamps are not needed to window
them). Ctrl-C ends the run like the duration does: the board is closed and the summary made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..progress import Log
from ..progress import log as default_log
from .chip import ChipOptions, published_idle_rails
from .chip_events import output_classes
from .chip_plan import ChipPlan
from .live import LiveStep, LiveTally, LiveWindow, class_names, live_windows

READ_S = 0.02
"""Longest wait for output events per read (s): a step of the live loop."""


def chip_steps(
    listen: Iterator[tuple[np.ndarray, list[int]]],
    plan: ChipPlan,
    duration_s: float | None,
    layer_spikes: dict[str, int],
    clock: Callable[[], float] | None = None,
) -> Iterator[LiveStep]:
    """The live steps of a board's reads (``ChipSession.listen``), timed by ``clock`` from the first; spikes of
    monitored layers are added to ``layer_spikes`` by layer name."""
    names = {core: layer.name for layer, core in zip(plan.layers, plan.cores)}
    clock = clock or time.monotonic
    t0 = clock()
    for rows, readout in listen:
        now = clock() - t0
        for core, k in zip(*np.unique(rows["core"], return_counts=True)):
            name = names.get(int(core))
            if name is not None:
                layer_spikes[name] = layer_spikes.get(name, 0) + int(k)
        cls = output_classes(rows, plan)
        yield LiveStep(now, np.full(len(cls), now), cls, tuple(readout), None)
        if duration_s is not None and now >= duration_s:
            return


def run_live_chip(
    plan: ChipPlan,
    options: ChipOptions,
    duration_s: float | None,
    window_s: float,
    hop_s: float,
    on_window: Callable[[LiveWindow], None],
    log: Log | None = None,
    clock: Callable[[], float] | None = None,
) -> LiveTally:
    """Configure the board for ``plan`` (its sensor stage included), show windows through ``on_window`` until
    ``duration_s`` (None: until Ctrl-C), close the board; the summary."""
    from .samna_backend import ChipSession, build_config, choose_device, list_devices

    log = log or default_log
    device = choose_device(list_devices(), plan.target, options.device)
    _, config = build_config(plan, device.id.split(":")[0])
    log(
        f"configuration built and checked on {device.id}: the sensor feeds core {plan.input_core} "
        f"(DVS stage {plan.sensor.to_dict() if plan.sensor else None}); "
        + ("Ctrl-C stops" if duration_s is None else f"running {duration_s:g} s (Ctrl-C stops earlier)")
    )
    tally = LiveTally(class_names(plan.model))
    tally.extra["device"] = device.id
    rate = options.power_rate_hz if options.measure_power else None
    with ChipSession(plan, device, config, options.timeout_s, options.quiet_s, options.probe_timeout_s, rate) as s:
        idle: dict[int, list[float]] | None = None  # None: the idle run did not finish
        t0 = time.monotonic()
        try:
            idle = s.measure_idle(options.idle_s) if options.measure_power else {}
            s.start_power()
            t0 = time.monotonic()
            steps = chip_steps(s.listen(READ_S), plan, duration_s, tally.layer_spikes, clock)
            for w in live_windows((tally.step(x) for x in steps), window_s, hop_s, tally.names, plan.readout):
                on_window(tally.window(w))
        except KeyboardInterrupt:
            tally.stopped = "interrupted"
        run_s = time.monotonic() - t0
        active = s.stop_power()
        if options.measure_power:
            tally.extra["power"] = _live_power(s.power_monitor is not None, plan, idle, active, run_s, tally.windows)
    tally.extra["warnings"] = list(s.warnings)  # after closing: what closing noted too
    tally.extra["notes"] = list(plan.notes)
    return tally


def _live_power(
    monitored: bool,
    plan: ChipPlan,
    idle: dict[int, list[float]] | None,
    active: dict[int, list[float]],
    run_s: float,
    windows: int,
) -> dict[str, Any]:
    """The summary's ``power``: per rail as ``deploy`` reports it, the dynamic energy per window."""
    from .samna_backend import power_report

    if idle is None:
        return {"available": False, "why": "stopped during the idle measurement"}
    if not monitored:
        return {"available": False}
    power = power_report(idle, active, run_s, max(1, windows), published_idle_rails(plan.target))
    power["note"] += "; live: the idle run already has the sensor feeding the network"
    power["dynamic_energy_per_window_j"] = power.pop("dynamic_energy_per_sample_j")
    return power

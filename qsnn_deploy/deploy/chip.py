"""Deploy to a Speck: run samples on the board, dry runs, configuration export, chip-vs-emulator.

The JSON fields follow DESIGN.md §3 for deploy (``target, mode, output_spike_counts, prediction,
layer_spike_counts``, ``accuracy`` with labels) plus what only a chip has (device, timeouts, readout,
power rails, the check of the integers on the chip).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..emulate.samples import Samples
from ..errors import UsageError
from ..progress import Log, Progress, ProgressMode
from ..progress import log as default_log
from .chip_events import (
    check_events,
    class_counts,
    decode_readout,
    pooled_counts,
)
from .chip_plan import (
    ChipPlan,
    chip_description,
    default_device_type,
    device_type_for,
    write_description,
)

if TYPE_CHECKING:
    from .samna_backend import DeviceEntry, SampleRun


@dataclass
class ChipOptions:
    """How to run on the board (CLI flags of ``deploy`` for chip targets)."""

    device: str | None = None
    measure_power: bool = False
    power_rate_hz: float = 100.0
    idle_s: float = 1.0
    timeout_s: float = 5.0
    quiet_s: float = 0.1
    probe_timeout_s: float = 2.0


def check_export_path(path: str | Path, driver: str) -> Path:
    """``.json`` anywhere; ``.bin`` (samna's flash image) only with the real driver."""
    path = Path(path)
    if path.suffix not in (".json", ".bin"):
        raise UsageError(
            f"--export-config takes a .json or .bin file, got '{path.name}'",
            fix="use chip.json (description) or chip.bin (samna flash image, needs the real driver)",
        )
    if path.suffix == ".bin" and driver != "real":
        raise UsageError(
            "a samna flash image (.bin) needs the real samna driver",
            fix="write the chip-ready description with --export-config chip.json, and make the "
            ".bin on a machine with the driver",
        )
    return path


def export_config(plan: ChipPlan, path: str | Path, driver: str, device_type: str | None = None) -> dict[str, Any]:
    """Write the chip configuration for later: samna's (``.bin`` flash image, or JSON with samna's own
    configuration) with the real driver, our complete chip-ready description (``.json``) without it."""
    path = check_export_path(path, driver)
    if driver != "real":
        write_description(
            plan,
            path,
            {
                "samna_configuration": None,
                "made_without_driver": "samna's own configuration object needs the real "
                "driver; re-export there for a flash image",
            },
            device_type,
        )
        return {"file": str(path), "kind": "chip description (JSON, no samna driver here)"}
    from .samna_backend import build_config, export_samna_config

    board = device_type_for(plan.target, device_type)
    _, config = build_config(plan, board)
    kind = export_samna_config(config, plan, path, board, chip_description(plan, board))
    return {"file": str(path), "kind": kind, "integers_verified": True}


def dry_run(plan: ChipPlan, samples: Samples | None, driver: str, options: ChipOptions) -> dict[str, Any]:
    """Every step short of opening the board; what was done and what could not be without the driver."""
    steps: list[dict[str, str]] = [
        {
            "step": "discretise, check the design rules, map layers to cores",
            "status": "done",
            "detail": ", ".join(f"{k}→{v}" for k, v in plan.core_map.items()),
        }
    ]
    out: dict[str, Any] = {
        "target": plan.target,
        "mode": "dry-run",
        "driver": driver,
        "core_map": plan.core_map,
        "readout": plan.readout,
        "slow_clk_hz": plan.slow_clk_hz,
        "notes": list(plan.notes),
    }
    n_events = 0
    if samples is not None:
        for i, ev in enumerate(samples.event_list()):
            check_events(ev, plan.network, f"sample {i} of {samples.source}")
            n_events += len(ev)
        span = [float(ev["t"].max()) / 1e6 if len(ev) else 0.0 for ev in samples.event_list()]
        out.update(
            {"input": samples.source, "samples": len(samples), "input_events": n_events, "stream_s": float(sum(span))}
        )
        steps.append(
            {
                "step": "read the input and check every event fits the first core",
                "status": "done",
                "detail": f"{len(samples)} sample(s), {n_events} events, {sum(span):.2f} s of input",
            }
        )
    if driver != "real":
        steps.append(
            {
                "step": "build sinabs' DynapcnnNetwork and the samna configuration, check its integers",
                "status": "skipped",
                "detail": "needs the real samna driver (see `qsnn-deploy doctor`)",
            }
        )
        steps.append({"step": "find the board", "status": "skipped", "detail": "needs the real samna driver"})
        out["integers_verified"] = None
    else:
        from .samna_backend import (
            build_config,
            choose_device,
            list_devices,
            samna_chip_module,
            spike_events,
        )

        device: DeviceEntry | None = None
        device_type = default_device_type(plan.target)
        try:
            device = choose_device(list_devices(), plan.target, options.device)
            device_type = device.id.split(":")[0]
            steps.append({"step": "find the board", "status": "done", "detail": device.id})
        except Exception as exc:  # a dry run reports a missing board instead of failing
            steps.append({"step": "find the board", "status": "failed", "detail": str(exc)})
        board = device_type_for(plan.target, device_type)
        vendor, _ = build_config(plan, board)
        how = ""
        if vendor is None:
            from ..convert.to_sinabs import sinabs_limitation

            how = f"; written from the plan, since {sinabs_limitation(plan.network)}"
        steps.append(
            {
                "step": "build sinabs' DynapcnnNetwork and the samna configuration, check its integers",
                "status": "done",
                "detail": f"for {board}; every weight, threshold, bound, reset, "
                f"destination and monitor matches the model{how}",
            }
        )
        if samples is not None:
            module, _ = samna_chip_module(board)
            made = sum(len(spike_events(module, ev, plan.input_core)) for ev in samples.event_list())
            steps.append(
                {
                    "step": "encode the input as samna Spike events",
                    "status": "done",
                    "detail": f"{made} events for core {plan.input_core}",
                }
            )
        out["device"] = device.id if device else None
        out["integers_verified"] = True
    steps.append(
        {"step": "open the board, apply the configuration, stream, collect", "status": "not run", "detail": "dry run"}
    )
    out["steps"] = steps
    return out


def _mean_counts(values: list[np.ndarray]) -> list[float]:
    return np.mean(np.stack(values), axis=0).tolist() if values else []


def published_idle_rails(target: str) -> dict[str, float]:
    """The profile's published idle power per devkit rail (W), to show next to the measured one."""
    from ..hw import load_profile

    prof = load_profile(target)
    return {
        name: q.number
        for name in ("io", "ram", "logic", "pixel_digital", "pixel_analog")
        if (q := prof.quantity(f"power.idle_rails.{name}")) is not None
    }


def run_on_chip(
    plan: ChipPlan, samples: Samples, options: ChipOptions, progress: ProgressMode = False, log: Log | None = None
) -> dict[str, Any]:
    """Configure the board, stream every sample with its timestamps, decode what comes back (``progress``: a
    mode of :mod:`qsnn_deploy.progress`)."""
    from .samna_backend import (
        ChipSession,
        build_config,
        choose_device,
        list_devices,
        power_report,
    )

    log = log or default_log
    for i, ev in enumerate(samples.event_list()):
        check_events(ev, plan.network, f"sample {i} of {samples.source}")
    device = choose_device(list_devices(), plan.target, options.device)
    _, config = build_config(plan, device.id.split(":")[0])
    log(
        f"configuration built and checked: the integers on {device.id} are the model's "
        f"({', '.join(f'{k}→core {v}' for k, v in plan.core_map.items())})"
    )
    counts: list[np.ndarray] = []
    readout: list[dict[str, int]] = []  # decoded readout words per sample, with the readout block on
    per_layer: dict[int, list[np.ndarray]] = {i: [] for i in plan.monitor}
    timed_out: list[bool] = []
    runs: list[SampleRun] = []
    power = None
    with ChipSession(
        plan,
        device,
        config,
        options.timeout_s,
        options.quiet_s,
        options.probe_timeout_s,
        options.power_rate_hz if options.measure_power else None,
    ) as session:
        idle = session.measure_idle(options.idle_s) if options.measure_power else {}
        session.start_power()
        t0 = time.monotonic()
        items = range(len(samples))
        for k in Progress(items, desc="on chip", unit="sample", progress=progress):
            r = session.run_sample(samples.event_list()[k])
            counts.append(class_counts(r.spikes, plan))
            for i in plan.monitor:
                per_layer[i].append(pooled_counts(r.spikes, plan, i))
            if plan.readout:
                readout.append(decode_readout(r.readout))
            timed_out.append(r.timed_out)
            runs.append(r)
        run_s = time.monotonic() - t0
        active = session.stop_power()
        if options.measure_power and session.power_monitor is not None:
            power = power_report(idle, active, run_s, len(samples), published_idle_rails(plan.target))
    warnings_ = list(session.warnings)  # after closing: what closing noted too
    out_counts = np.stack(counts).astype(np.int64)
    preds = out_counts.argmax(axis=1)
    n = len(samples)
    result: dict[str, Any] = {
        "target": plan.target,
        "mode": "chip",
        "device": device.id,
        "input": samples.source,
        "samples": n,
        "core_map": plan.core_map,
        "integers_verified": True,
        "layer_spike_counts": {
            plan.layers[i].name: float(np.mean([c.sum() for c in per_layer[i]])) for i in plan.monitor
        },
        "events_in": int(sum(r.events_in for r in runs)),
        "events_out": int(sum(len(r.spikes) for r in runs)),
        "timed_out_samples": int(sum(timed_out)),
        "wall_s": float(run_s),
        "timeout_s": options.timeout_s,
        "quiet_s": options.quiet_s,
    }
    if n == 1:
        result["output_spike_counts"] = out_counts[0].tolist()
        result["prediction"] = int(preds[0])
    else:
        result["output_spike_counts"] = out_counts.tolist()
        result["prediction"] = preds.tolist()
    if samples.labels is not None:
        result["accuracy"] = float((preds == samples.labels).mean())
        result["silent_samples"] = int((out_counts.sum(1) == 0).sum())
    if plan.readout:
        ro_preds = [r["prediction"] for r in readout]
        result["readout"] = {
            "prediction": ro_preds if n > 1 else ro_preds[0],
            "valid_values": [r["valid_values"] for r in readout],
            "slow_clk_hz": plan.slow_clk_hz,
        }
        # With readout.monitor_enable the chip stops sending Spike events to the host (sinabs'
        # using_readout_layer notebook), so the readout's answer is the chip's prediction.
        result["prediction_from"] = "readout"
        result["prediction"] = ro_preds if n > 1 else ro_preds[0]
        if samples.labels is not None:
            result["readout"]["accuracy"] = float((np.array(ro_preds) == samples.labels).mean())
            result["accuracy"] = result["readout"]["accuracy"]
            result["spike_count_accuracy"] = float((preds == samples.labels).mean())
    else:
        result["prediction_from"] = "output_spike_counts"
    if options.measure_power:
        result["power"] = power or {"available": False}
    if any(timed_out):
        warnings_.append(
            f"{sum(timed_out)} sample(s) were still sending spikes {options.timeout_s:g} s after their "
            "input ended (a core over its SynOps/s ceiling stalls the chip; check `qsnn-deploy estimate`)"
        )
    result["warnings"] = warnings_
    result["notes"] = list(plan.notes)
    result["_per_layer"] = {plan.layers[i].name: np.stack(per_layer[i]) for i in plan.monitor}
    result["_counts"] = out_counts
    return result


def compare_with_emulator(plan: ChipPlan, samples: Samples, chip: dict[str, Any]) -> dict[str, Any]:
    """Run the emulator on the same samples and report, per layer, how the chip's spikes differ.

    The emulator is time-binned with multi-spike neurons; the chip is event-driven and fires at most
    once per input event (DESIGN.md §4), so differences are expected and are what this measures.
    """
    from ..emulate.binned import run_binned

    emu = run_binned(plan.model, samples.raster, progress=None)
    layers = []
    for li, name in enumerate(emu.layer_names):
        e = emu.layer_spikes[:, li].astype(np.float64)
        row: dict[str, Any] = {"name": name, "core": plan.core_map.get(name), "emulator_spikes": float(e.mean())}
        per = chip["_per_layer"].get(name)
        if per is None:
            row.update({"chip_spikes": None, "difference": None, "relative": None, "monitored": False})
        else:
            c = per.reshape(len(per), -1).sum(1).astype(np.float64)
            diff = c - e
            row.update(
                {
                    "chip_spikes": float(c.mean()),
                    "difference": float(diff.mean()),
                    "relative": float(diff.mean() / e.mean()) if e.mean() else None,
                    "mean_abs_difference": float(np.abs(diff).mean()),
                    "monitored": True,
                }
            )
        layers.append(row)
    chip_counts = chip["_counts"]
    emu_preds = emu.output_counts.argmax(1)
    chip_preds = chip_counts.argmax(1)
    out = {
        "reference": "emulator (binned, multi-spike)",
        "layers": layers,
        "prediction_agreement": float((emu_preds == chip_preds).mean()),
        "output_counts_mean_abs_difference": float(np.abs(chip_counts - emu.output_counts).sum(1).mean()),
        "identical_outputs": float((chip_counts == emu.output_counts).all(1).mean()),
        "emulator_prediction": emu_preds.tolist(),
    }
    if samples.labels is not None:
        out["emulator_accuracy"] = float((emu_preds == samples.labels).mean())
    return out


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its private arrays (for JSON)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}

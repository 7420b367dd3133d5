"""train → convert → estimate → deploy in one go, with a short summary at the end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import check_writable, write_atomic
from .progress import Log, ProgressMode
from .progress import log as default_log

if TYPE_CHECKING:
    from .hw.estimator import Estimate


def run_pipeline(
    out: str | Path,
    target: str = "speck2f",
    progress: ProgressMode = True,
    overwrite: bool = True,
    log: Log = default_log,
    **train_options: Any,
) -> dict[str, Any]:
    """Run every stage into ``out/`` (run/, bundle/, estimate.json, deploy.json, summary.md)."""
    from .convert.bundle import convert_model
    from .convert.loader import load_network
    from .deploy.emulator import inputs_from_dataset, run_emulator
    from .hw import estimate, format_table, load_profile
    from .train.trainer import TrainConfig, train

    out = Path(out)
    check_writable(out, overwrite)
    load_profile(target)  # fail before training on a bad target
    t0, times = time.time(), {}
    log("== 1/4 train ==")
    metrics = train(TrainConfig(**train_options), out / "run", overwrite=True, progress=progress, log=log)
    times["train_s"] = time.time() - t0

    log("== 2/4 convert ==")
    t = time.time()
    conv = convert_model(out / "run" / "checkpoint.pt", target, out / "bundle", overwrite=True)
    for note in conv.warnings:
        log(f"warning: {note}")
    times["convert_s"] = time.time() - t

    log("== 3/4 deploy to the emulator (test split, binned and event mode) ==")
    t = time.time()
    net = load_network(out / "bundle" / "model.nir")
    inputs = inputs_from_dataset(net, metrics["dataset"], "test", None, progress)
    dep = run_emulator(net, inputs, progress=progress)
    dep_event = run_emulator(net, inputs, progress=progress, mode="event")
    write_atomic(
        out / "deploy.json",
        json.dumps(
            {
                mode: {k: v for k, v in d.items() if k not in ("output_spike_counts", "prediction")}
                for mode, d in (("binned", dep), ("event", dep_event))
            },
            indent=2,
        ),
    )
    times["deploy_s"] = time.time() - t

    log("== 4/4 estimate ==")
    t = time.time()
    est = estimate(net, load_profile(target), dep["layer_synops"], metrics["duration_us"] / 1e6)
    write_atomic(out / "estimate.json", json.dumps(est.to_dict(), indent=2))
    write_atomic(out / "estimate.txt", format_table(est) + "\n")
    times["estimate_s"] = time.time() - t
    times["total_s"] = time.time() - t0

    summary = {
        "float_test_accuracy": metrics["float_test_accuracy"],
        "qat_test_accuracy": metrics["test_accuracy"],
        "emulator_test_accuracy": dep["accuracy"],
        "event_mode_test_accuracy": dep_event["accuracy"],
        "test_samples": dep["samples"],
        "event_mode_synops_per_sample": dep_event["synops_per_sample"],
        "synops_per_sample": dep["synops_per_sample"],
        **estimate_summary(est),
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "out": str(out),
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_atomic(out / "summary.md", format_summary(summary) + "\n")
    return summary


def estimate_summary(est: Estimate) -> dict[str, Any]:
    """The summary's part of an :class:`~qsnn_deploy.hw.estimator.Estimate`: fit, cores, power, energy
    (with what the totals include, or why there is none) and latency."""
    return {
        "fits": est.fits,
        "target": est.target,
        "mapping": None if est.mapping is None else est.mapping.assignment,
        "power_w": est.power_w,
        "power_w_range": est.power_w_range,
        "energy_per_inference_j": est.energy_per_inference_j,
        "latency_s": est.latency_s,
        "dynamic_energy_per_inference_j": est.dynamic_energy_per_inference_j,
        "includes": list(est.includes),
        "total_unknown_reason": est.total_unknown,
        "energy_breakdown": {p.name: p.to_dict() for p in est.energy_parts},
    }


def _energy_lines(s: dict[str, Any]) -> tuple[str, str]:
    """The summary's power and energy: the total and the parts it adds up (static, dynamic, sensor), or,
    without a total, why not and the part that is known."""
    from .hw.energy import INCLUDED, NOT_REQUESTED
    from .hw.report import _PART_LABEL, si

    parts = s.get("energy_breakdown") or {}
    sensor = parts.get("sensor", {}).get("status")
    no_sensor = "; not the sensor" if sensor == NOT_REQUESTED else ""
    if s.get("power_w") is not None:
        rng = s.get("power_w_range")
        spread = f" (range {si(rng[0], 'W')} – {si(rng[1], 'W')})" if rng else ""
        power = (
            f"{si(s['power_w'], 'W')}{spread} = "
            + " + ".join(f"{_PART_LABEL[n]} {si(parts[n]['power_w'], 'W')}" for n in s["includes"])
            + no_sensor
        )
        energy = f"{si(s['energy_per_inference_j'], 'J')} per inference = " + " + ".join(
            f"{n} {si(parts[n]['energy_per_inference_j'], 'J')}" for n in s["includes"]
        )
        return power, energy
    why = f"total n/a ({s.get('total_unknown_reason') or 'unknown'})"
    known = [n for n, p in parts.items() if p.get("status") == INCLUDED and p.get("power_w") is not None]
    power = why + "".join(f"; {_PART_LABEL[n]} alone {si(parts[n]['power_w'], 'W')}" for n in known) + no_sensor
    energy = why + "".join(f"; {n} alone {si(parts[n]['energy_per_inference_j'], 'J')} per inference" for n in known)
    return power, energy


def format_summary(s: dict[str, Any]) -> str:
    """The demo's closing lines."""
    from .hw.report import si

    gap = 100 * (s["float_test_accuracy"] - s["emulator_test_accuracy"])
    power, energy = _energy_lines(s)
    cores = ", ".join(f"{k}→{v}" for k, v in (s["mapping"] or {}).items())
    return "\n".join(
        [
            "Summary",
            f"  test accuracy   float {100 * s['float_test_accuracy']:.2f}%   int8 QAT (torch) "
            f"{100 * s['qat_test_accuracy']:.2f}%   emulated int8 {100 * s['emulator_test_accuracy']:.2f}%   "
            f"(float − emulated: {gap:+.2f} pp, {s['test_samples']} samples)",
            f"  event mode      {100 * s['event_mode_test_accuracy']:.2f}% (the chip's one-spike-per-update semantics, "
            f"{s['event_mode_synops_per_sample']:.4g} SynOps/sample)",
            f"  SynOps/sample   {s['synops_per_sample']:.4g}",
            f"  {s['target']}        {'fits' if s['fits'] else 'does NOT fit'}; cores {cores}",
            f"  power           {power}",
            f"  energy          {energy}",
            f"  latency         {si(s['latency_s'], 's')}",
            f"  time            {s['times_s']['total_s']:.0f} s (train {s['times_s']['train_s']:.0f} s)",
            f"  files           {s['out']}/run (checkpoint, metrics, curve), {s['out']}/bundle (model.nir, mapping, "
            f"report), {s['out']}/estimate.txt, {s['out']}/summary.md",
        ]
    )

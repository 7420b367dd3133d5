"""Accuracy against SynOps: a series of SynOp-loss targets next to weight-scaling baselines (SynOpLoss).

:func:`run_sweep` trains (or reuses) an unpenalised baseline, trains one model per SynOp target,
evaluates the weight-scaling baselines on the baseline model (first-layer factor sweep and
percentile normalisation), and writes ``sweep.json``, ``sweep.md`` and ``sweep.png``. Every point is
measured on the test split in the chip's integer units (the quantisation-aware model equals the
emulator spike for spike).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ..nets.zoo import load_spec
from ..outputs import atomic_path, staged_folder, write_atomic
from ..progress import Log, ProgressMode
from ..progress import log as default_log


@dataclass
class SweepPoint:
    """One model on the accuracy/SynOps plane."""

    method: str  # "baseline", "synop-target", "first-layer", "percentile", "ann-synop", ...
    setting: float | None  # target SynOps, factor or percentile
    accuracy: float
    synops_per_sample: float
    run: str | None = None


def parse_values(text: str, what: str) -> list[float]:
    """'1e5,2e5,4e5' → floats (positive), or a clear usage error naming ``what``."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, got '{text}'", fix="e.g. 1e5,2e5,4e5") from None
    if not values or any(not v > 0 for v in values):
        raise UsageError(f"{what} must be positive numbers, got '{text}'")
    return values


def matched_baseline(point: SweepPoint, baselines: list[SweepPoint]) -> SweepPoint | None:
    """The baseline with the fewest SynOps among those at least as accurate as ``point``."""
    good = [b for b in baselines if b.accuracy >= point.accuracy]
    return min(good, key=lambda b: b.synops_per_sample) if good else None


def summarise(
    baseline: SweepPoint, trained: list[SweepPoint], baselines: list[SweepPoint], max_drop: float = 0.01
) -> dict[str, Any]:
    """The sparsest SynOp-loss model within ``max_drop`` of the baseline's accuracy, its reduction
    factor, and the best weight-scaling baseline at its accuracy."""
    ok = [p for p in trained if p.accuracy >= baseline.accuracy - max_drop - 1e-12]
    if not ok:
        return {"best": None, "reduction": None, "max_accuracy_drop": max_drop, "matched_baseline": None}
    best = min(ok, key=lambda p: p.synops_per_sample)
    match = matched_baseline(best, baselines)
    return {
        "best": asdict(best),
        "reduction": baseline.synops_per_sample / best.synops_per_sample,
        "accuracy_drop": baseline.accuracy - best.accuracy,
        "max_accuracy_drop": max_drop,
        "matched_baseline": None if match is None else asdict(match),
        "fewer_synops_than_matched_baseline": None
        if match is None
        else match.synops_per_sample / best.synops_per_sample,
    }


def plot_sweep(points: list[SweepPoint], path: Path, title: str) -> None:
    """Accuracy (%) against SynOps per sample (log x), one series per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {
        "synop-target": ("o-", "SynOp loss (target form, QAT SNN)"),
        "synop-target-chain-distill": ("o-", "SynOp loss + distillation from the baseline, successive fine-tuning"),
        "synop-target-chain-distill-polished": ("P", "the same, the last target trained longer"),
        "synop-target-ft": ("o-", "SynOp loss, fine-tuned from baseline"),
        "synop-target-chain": ("o-", "SynOp loss, successive fine-tuning (QAT SNN)"),
        "ann-synop": ("D-", "SynOp loss, floor-ReLU ANN → SNN"),
        "first-layer": ("s--", "weight scaling: first-layer factor"),
        "percentile": ("^--", "weight scaling: percentile normalisation"),
        "baseline": ("*", "no SynOp loss (baseline)"),
    }
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    base = next((p for p in points if p.method == "baseline"), None)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax in axes:
        for method in dict.fromkeys(p.method for p in points):
            pts = sorted((p for p in points if p.method == method), key=lambda p: p.synops_per_sample)
            marker, label = style.get(method, ("x-", method))
            ax.plot(
                [p.synops_per_sample for p in pts],
                [100 * p.accuracy for p in pts],
                marker,
                label=label,
                markersize=12 if method == "baseline" else 5,
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    lo = min(100 * p.accuracy for p in points)
    axes[0].set(
        xlabel="SynOps per sample (log)",
        ylabel="test accuracy (%)",
        title=title,
        ylim=(max(0.0, min(lo, 80.0) - 2), 100),
    )
    axes[0].legend(fontsize=8, loc="lower right")
    top = 100 * max(p.accuracy for p in points)
    axes[1].set(
        xlabel="SynOps per sample (log)",
        ylabel="test accuracy (%)",
        ylim=(top - 6, top + 0.8),
        title="zoom: within 6 points of the best",
    )
    near = [p.synops_per_sample for p in points if 100 * p.accuracy >= top - 6]
    if base is not None:  # the acceptance box of issue 7: ≥ 5× fewer SynOps at ≤ 1 point lower accuracy
        guides = [
            axes[1].axhline(100 * base.accuracy - 1, color="gray", ls=":", lw=1, label="baseline − 1 point"),
            axes[1].axvline(base.synops_per_sample / 5, color="gray", ls="--", lw=1, label="baseline SynOps / 5"),
        ]
        axes[1].legend(handles=guides, fontsize=8, loc="lower left")
        near.append(base.synops_per_sample / 5)
    axes[1].set_xlim(0.8 * min(near), 1.25 * max(near))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_markdown(points: list[SweepPoint], summary: dict[str, Any], header: list[str]) -> str:
    lines = [*header, "", "| method | setting | test accuracy | SynOps/sample | run |", "|---|---|---|---|---|"]
    for p in points:
        setting = "" if p.setting is None else f"{p.setting:g}"
        lines.append(
            f"| {p.method} | {setting} | {100 * p.accuracy:.2f}% | {p.synops_per_sample:.3g} | {p.run or ''} |"
        )
    best = summary.get("best")
    lines.append("")
    if best is None:
        lines.append(f"No SynOp-loss model is within {100 * summary['max_accuracy_drop']:g} point(s) of the baseline.")
    else:
        lines.append(
            f"Sparsest SynOp-loss model within {100 * summary['max_accuracy_drop']:g} point(s) of the "
            f"baseline: {best['method']} {best['setting']:g} — {summary['reduction']:.2f}× fewer SynOps, "
            f"{100 * summary['accuracy_drop']:+.2f} points below the baseline."
        )
        m = summary.get("matched_baseline")
        lines.append(
            "No weight-scaling baseline reaches its accuracy."
            if m is None
            else f"Cheapest weight-scaling baseline at least as accurate: {m['method']} {m['setting']:g} with "
            f"{m['synops_per_sample']:.3g} SynOps/sample ({summary['fewer_synops_than_matched_baseline']:.2f}× "
            "more)."
        )
    return "\n".join(lines) + "\n"


START = ("scratch", "baseline", "chain")


def run_sweep(
    targets: list[float],
    out: str | Path,
    model: str = "digits_speck",
    baseline: str | None = None,
    start: str = "scratch",
    epochs: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "auto",
    distill: bool = False,
    synop_weights: str | None = None,
    shift_px: int = 0,
    first_layer_factors: list[float] | None = None,
    percentiles: list[float] | None = None,
    calibration_samples: int = 256,
    limit: int | None = None,
    overwrite: bool = False,
    progress: ProgressMode = True,
    log: Log = default_log,
) -> dict[str, Any]:
    """Train a SynOp-target series and evaluate the weight-scaling baselines; returns ``sweep.json``'s content.

    ``baseline``: a run folder or checkpoint of the unpenalised model to reuse (trained here when
    None). ``start``: where each target's training starts — ``scratch`` (random weights),
    ``baseline`` (the baseline's weights) or ``chain`` (targets in decreasing order, each from the
    previous one's weights: SynOpLoss' successive retraining). ``distill``: each model also learns the
    baseline's output distribution (``train --distill``); ``synop_weights``: per-layer weights of the SynOp
    term (``train --synop-weights``); ``shift_px``: random shifts of the training samples (``train --shift-px``).
    """
    from ..nets.checkpoint import load_checkpoint
    from ..nets.framed import framed_split
    from .config import TrainConfig
    from .device import pick_device
    from .evaluation import evaluate
    from .trainer import train
    from .weight_scaling import percentile_normalise, scale_first_layer

    if not targets:
        raise UsageError("--synop-targets needs at least one value")
    if start not in START:
        raise UsageError(f"unknown start '{start}'", fix=f"use one of {', '.join(START)}")
    if start == "chain":
        targets = sorted(targets, reverse=True)
    factors = (
        first_layer_factors if first_layer_factors is not None else [round(v, 2) for v in np.arange(0.1, 1.0, 0.1)]
    )
    percentiles = percentiles if percentiles is not None else [99.0, 99.9, 99.99, 100.0]
    base_cfg = TrainConfig(model=model, epochs=epochs, seed=seed, device=device, limit=limit)
    method = {"scratch": "synop-target", "baseline": "synop-target-ft", "chain": "synop-target-chain"}[start]
    method += "-distill" if distill else ""
    dev = pick_device(device)
    with staged_folder(out, overwrite) as tmp:
        if baseline is None:
            log("training the baseline (no SynOp loss)")
            train(base_cfg, tmp / "baseline", progress=progress, log=log)
            base_path = tmp / "baseline" / "checkpoint.pt"
            base_ref = "baseline"
        else:
            base_path = Path(baseline) / "checkpoint.pt" if Path(baseline).is_dir() else Path(baseline)
            base_ref = str(baseline)
        base_model, payload = load_checkpoint(base_path)
        if base_model.spec.name != load_spec(model).name:
            raise UsageError(
                f"the baseline {base_ref} is model '{base_model.spec.name}', not '{model}'",
                fix=f"pass --model {base_model.spec.name} or another baseline",
            )
        time_bins = int(payload.get("time_bins", 10))
        dataset = str(payload.get("dataset", "digits-dvs"))
        test = framed_split(dataset, "test", time_bins, progress=progress, limit=limit)
        calib = framed_split(
            dataset, "train", time_bins, progress=progress, limit=min(calibration_samples, limit or calibration_samples)
        ).frames
        base_model.to(dev)
        ev = evaluate(base_model, test, 64, dev)
        points = [SweepPoint("baseline", None, ev["accuracy"], ev["synops_per_sample"], base_ref)]
        log(f"baseline: {100 * ev['accuracy']:.2f}%, {ev['synops_per_sample']:.3g} SynOps/sample")
        previous = base_path
        for t in targets:
            name = f"target_{t:g}"
            init = {"scratch": None, "baseline": str(base_path), "chain": str(previous)}[start]
            cfg = replace(
                base_cfg,
                synop_target=t,
                init=init,
                time_bins=time_bins,
                lr=lr,
                bits=",".join(str(layer.weight_bits) for layer in base_model.spec.layers),
                synop_weights=synop_weights,
                distill=str(base_path) if distill else None,
                shift_px=shift_px,
            )
            log(f"training with SynOp target {t:g}" + (f", starting from {init}" if init else ""))
            m = train(cfg, tmp / name, progress=progress, log=log)
            points.append(SweepPoint(method, t, m["test_accuracy"], m["synops_per_sample"], name))
            previous = tmp / name / "checkpoint.pt"
        base_model.cpu()
        scaled_points = []
        for f in factors:
            ev = evaluate(scale_first_layer(base_model, f).to(dev), test, 64, dev)
            scaled_points.append(SweepPoint("first-layer", f, ev["accuracy"], ev["synops_per_sample"]))
        for p in percentiles:
            try:
                normed, _ = percentile_normalise(base_model, calib, p)
            except InputError as exc:
                raise exc.located(str(base_path) if baseline is not None else "the baseline trained here") from None
            ev = evaluate(normed.to(dev), test, 64, dev)
            scaled_points.append(SweepPoint("percentile", p, ev["accuracy"], ev["synops_per_sample"]))
        for point in scaled_points:
            log(
                f"{point.method} {point.setting:g}: {100 * point.accuracy:.2f}%, "
                f"{point.synops_per_sample:.3g} SynOps/sample"
            )
        points += scaled_points
        trained = [p for p in points if p.method.startswith("synop-target")]
        summary = summarise(points[0], trained, scaled_points)
        result = {
            "model": base_model.spec.name,
            "dataset": dataset,
            "time_bins": time_bins,
            "test_samples": len(test.labels),
            "start": start,
            "epochs": epochs,
            "lr": lr,
            "targets": targets,
            "distill": distill,
            "synop_weights": synop_weights,
            "shift_px": shift_px,
            "points": [asdict(p) for p in points],
            "summary": summary,
        }
        write_atomic(tmp / "sweep.json", json.dumps(result, indent=2))
        write_atomic(
            tmp / "sweep.md",
            sweep_markdown(
                points,
                summary,
                [
                    f"# SynOp sweep: {base_model.spec.name} on {dataset}",
                    "",
                    f"Test split ({len(test.labels)} samples), {time_bins} time bins, chip integer units.",
                ],
            ),
        )
        with atomic_path(tmp / "sweep.png") as png:
            plot_sweep(points, png, f"{base_model.spec.name} on {dataset}: accuracy vs SynOps")
    return result

"""Accuracy against SynOps: a series of SynOp-loss targets next to weight-scaling baselines (SynOpLoss).

:func:`run_sweep` trains (or reuses) an unpenalised baseline, trains one model per SynOp target,
evaluates the weight-scaling baselines on the baseline model (first-layer factor sweep and
percentile normalisation), and writes ``sweep.json``, ``sweep.md`` and ``sweep.png``. Every point is
measured in the chip's integer units (the quantisation-aware model equals the emulator spike for spike)
on two splits: the validation split every trained run holds out of the training data (the train
package's own seeded, stratified split: same seed and ``val_fraction``), on which every choice is made
(the sparsest model within N points, the cheapest baseline at least as accurate), and the test split,
which is only reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, UsageError
from ..nets.zoo import load_spec
from ..outputs import atomic_path, staged_folder, write_atomic
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .config import DEFAULT_VAL_FRACTION

if TYPE_CHECKING:  # torch-free at import time
    import torch

    from ..nets.framed import FramedSplit
    from ..nets.network import SpikingCNN
    from ..nets.zoo import ModelSpec
    from .config import TrainConfig


@dataclass
class SweepPoint:
    """One model on the accuracy/SynOps plane: ``accuracy`` and ``synops_per_sample`` on the test split (only
    reported), ``validation_accuracy`` and ``validation_synops_per_sample`` on the validation split (what the
    sweep chooses by; None for a point measured elsewhere, which is never chosen)."""

    method: str  # "baseline", "synop-target", "first-layer", "percentile", "ann-synop", ...
    setting: float | None  # target SynOps, factor or percentile
    accuracy: float  # test split
    synops_per_sample: float  # test split
    run: str | None = None
    validation_accuracy: float | None = None
    validation_synops_per_sample: float | None = None


def _on_validation(point: SweepPoint) -> tuple[float, float]:
    """``point``'s validation accuracy and SynOps per sample: the numbers a choice is made on."""
    if point.validation_accuracy is None or point.validation_synops_per_sample is None:
        setting = "" if point.setting is None else f" {point.setting:g}"
        raise ValueError(
            f"sweep point {point.method}{setting} has no validation measurement: choices are made on the "
            "validation split only"
        )
    return point.validation_accuracy, point.validation_synops_per_sample


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
    """The baseline with the fewest SynOps among those at least as accurate as ``point``, both on the validation
    split."""
    accuracy = _on_validation(point)[0]
    good = [b for b in baselines if _on_validation(b)[0] >= accuracy]
    return min(good, key=lambda b: _on_validation(b)[1]) if good else None


def summarise(
    baseline: SweepPoint, trained: list[SweepPoint], baselines: list[SweepPoint], max_drop: float = 0.01
) -> dict[str, Any]:
    """The sparsest SynOp-loss model within ``max_drop`` of the baseline's accuracy and the cheapest weight-scaling
    baseline at least as accurate, both chosen on the validation split; the reduction factors and accuracy drops
    of the chosen ones on the test split (reported) and on the validation split (``validation_*``)."""
    base_accuracy, base_synops = _on_validation(baseline)
    ok = [p for p in trained if _on_validation(p)[0] >= base_accuracy - max_drop - 1e-12]
    if not ok:
        return {
            "selected_on": "validation",
            "best": None,
            "reduction": None,
            "max_accuracy_drop": max_drop,
            "matched_baseline": None,
        }
    best = min(ok, key=lambda p: _on_validation(p)[1])
    match = matched_baseline(best, baselines)
    return {
        "selected_on": "validation",
        "best": asdict(best),
        "reduction": baseline.synops_per_sample / best.synops_per_sample,
        "accuracy_drop": baseline.accuracy - best.accuracy,
        "validation_reduction": base_synops / _on_validation(best)[1],
        "validation_accuracy_drop": base_accuracy - _on_validation(best)[0],
        "max_accuracy_drop": max_drop,
        "matched_baseline": None if match is None else asdict(match),
        "fewer_synops_than_matched_baseline": None
        if match is None
        else match.synops_per_sample / best.synops_per_sample,
    }


def plot_sweep(points: list[SweepPoint], path: Path, title: str) -> None:
    """Accuracy (%) against SynOps per sample (log x), one series per method: filled markers on the test split,
    hollow markers on a dotted line (same colour) on the validation split."""
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
    # (method, SynOps, accuracy %) on the validation split, for the points measured there
    validated = [
        (p.method, _on_validation(p)[1], 100 * _on_validation(p)[0])
        for p in points
        if p.validation_accuracy is not None and p.validation_synops_per_sample is not None
    ]
    for ax in axes:
        for method in dict.fromkeys(p.method for p in points):
            pts = sorted((p for p in points if p.method == method), key=lambda p: p.synops_per_sample)
            marker, label = style.get(method, ("x-", method))
            size = 12 if method == "baseline" else 5
            (line,) = ax.plot(
                [p.synops_per_sample for p in pts],
                [100 * p.accuracy for p in pts],
                marker,
                label=label,
                markersize=size,
            )
            val = sorted((synops, acc) for m, synops, acc in validated if m == method)
            ax.plot(
                [synops for synops, _ in val],
                [acc for _, acc in val],
                marker=marker[0],
                ls=":" if len(val) > 1 else "none",
                lw=1,
                mfc="none",
                color=line.get_color(),
                markersize=size,
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    both = [(p.synops_per_sample, 100 * p.accuracy) for p in points] + [(syn, acc) for _, syn, acc in validated]
    lo = min(acc for _, acc in both)
    ylabel = "accuracy (%): test filled, validation hollow"
    axes[0].set(
        xlabel="SynOps per sample (log)",
        ylabel=ylabel,
        title=title,
        ylim=(max(0.0, min(lo, 80.0) - 2), 100),
    )
    axes[0].legend(fontsize=8, loc="lower right")
    top = max(acc for _, acc in both)
    axes[1].set(
        xlabel="SynOps per sample (log)",
        ylabel=ylabel,
        ylim=(top - 6, top + 0.8),
        title="zoom: within 6 points of the best",
    )
    near = [synops for synops, acc in both if acc >= top - 6]
    if base is not None:  # the acceptance box of issue 7: ≥ 5× fewer SynOps at ≤ 1 point lower accuracy
        guides = [
            axes[1].axhline(100 * base.accuracy - 1, color="gray", ls=":", lw=1, label="baseline − 1 point (test)"),
            axes[1].axvline(base.synops_per_sample / 5, color="gray", ls="--", lw=1, label="baseline SynOps / 5"),
        ]
        axes[1].legend(handles=guides, fontsize=8, loc="lower left")
        near.append(base.synops_per_sample / 5)
    axes[1].set_xlim(0.8 * min(near), 1.25 * max(near))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_markdown(points: list[SweepPoint], summary: dict[str, Any], header: list[str]) -> str:
    """The table of every point (validation and test accuracy, SynOps on both) and the choices, made on the
    validation split, with the test figures of the chosen models."""
    lines = [
        *header,
        "",
        "| method | setting | validation accuracy | test accuracy | SynOps/sample (validation) | SynOps/sample (test) "
        "| run |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        setting = "" if p.setting is None else f"{p.setting:g}"
        val_acc = "—" if p.validation_accuracy is None else f"{100 * p.validation_accuracy:.2f}%"
        val_syn = "—" if p.validation_synops_per_sample is None else f"{p.validation_synops_per_sample:.3g}"
        lines.append(
            f"| {p.method} | {setting} | {val_acc} | {100 * p.accuracy:.2f}% | {val_syn} | "
            f"{p.synops_per_sample:.3g} | {p.run or ''} |"
        )
    best = summary.get("best")
    lines.append("")
    within = f"{100 * summary['max_accuracy_drop']:g} point(s)"
    if best is None:
        lines.append(f"No SynOp-loss model is within {within} of the baseline on the validation split.")
    else:
        lines.append(
            f"Chosen on the validation split: the sparsest SynOp-loss model within {within} of the baseline, "
            f"{best['method']} {best['setting']:g}. On the test split (reported only): "
            f"{summary['reduction']:.2f}× fewer SynOps, {100 * summary['accuracy_drop']:+.2f} points below the "
            f"baseline (validation: {summary['validation_reduction']:.2f}×, "
            f"{100 * summary['validation_accuracy_drop']:+.2f} points)."
        )
        m = summary.get("matched_baseline")
        lines.append(
            "No weight-scaling baseline reaches its validation accuracy."
            if m is None
            else f"Cheapest weight-scaling baseline at least as accurate on the validation split: {m['method']} "
            f"{m['setting']:g}, with {m['synops_per_sample']:.3g} SynOps/sample on the test split "
            f"({summary['fewer_synops_than_matched_baseline']:.2f}× more) and "
            f"{100 * m['accuracy']:.2f}% test accuracy."
        )
    return "\n".join(lines) + "\n"


START = ("scratch", "baseline", "chain")


def sweep_splits(cfg: TrainConfig, spec: ModelSpec, progress: ProgressMode = True) -> tuple[FramedSplit, FramedSplit]:
    """The validation and test splits of the runs ``cfg`` describes, made by the train package's own split
    functions (same dataset options, ``limit``, ``seed`` and ``val_fraction``): the models evaluated here are
    scored on exactly the samples every trained run holds out. Refuses a ``val_fraction`` of 0 (nothing to
    choose on)."""
    from .splits import data_options, split_validation, train_test_splits

    if cfg.time_bins is None:
        raise ValueError("sweep_splits needs a config with time_bins set")
    if not cfg.val_fraction:
        raise UsageError(
            f"a sweep chooses its models on a validation split, but --val-fraction is {cfg.val_fraction}",
            fix=f"use a share of the train split above 0, e.g. --val-fraction {DEFAULT_VAL_FRACTION:g}",
        )
    train_all, test = train_test_splits(
        cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit, options=data_options(cfg, spec)
    )
    _, val = split_validation(train_all, cfg.val_fraction, cfg.seed)
    assert val is not None  # val_fraction > 0 was checked above
    return val, test


def measure(
    model: SpikingCNN,
    method: str,
    setting: float | None,
    val: FramedSplit,
    test: FramedSplit,
    device: torch.device,
    run: str | None = None,
) -> SweepPoint:
    """``model`` evaluated on the validation and the test split (chip integer units)."""
    from .evaluation import evaluate

    model.to(device)
    on_val, on_test = evaluate(model, val, 64, device), evaluate(model, test, 64, device)
    return SweepPoint(
        method,
        setting,
        on_test["accuracy"],
        on_test["synops_per_sample"],
        run,
        on_val["accuracy"],
        on_val["synops_per_sample"],
    )


def measure_run(
    folder: Path, method: str, setting: float | None, metrics: dict[str, Any], val: FramedSplit, device: torch.device
) -> SweepPoint:
    """A trained run's point: its test accuracy and SynOps from ``metrics`` (its ``metrics.json``), its validation
    figures measured here on ``val`` (the split the run held out)."""
    from ..nets.checkpoint import load_checkpoint
    from .evaluation import evaluate

    model, _ = load_checkpoint(folder / "checkpoint.pt")
    on_val = evaluate(model.to(device), val, 64, device)
    return SweepPoint(
        method,
        setting,
        metrics["test_accuracy"],
        metrics["synops_per_sample"],
        folder.name,
        on_val["accuracy"],
        on_val["synops_per_sample"],
    )


def _held_out_warning(ref: str, payload: dict[str, Any], seed: int, n_val: int) -> str | None:
    """A warning when the reused baseline ``ref`` did not hold out the sweep's validation split (its recorded
    seed or validation size differ, or it records none): its validation accuracy then counts samples it trained
    on, which makes "within N points of the baseline" stricter than it should be."""
    metrics = payload.get("metrics") or {}
    sizes = metrics.get("split_sizes") or {}
    if metrics.get("seed") == seed and sizes.get("validation") == n_val:
        return None
    return (
        f"the baseline {ref} records no validation split like this sweep's ({n_val} samples, seed {seed}): its "
        "validation accuracy may count samples it was trained on (train the baseline with the same --seed and "
        "--val-fraction to avoid it)"
    )


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
    val_fraction: float = DEFAULT_VAL_FRACTION,
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
    ``val_fraction``: the share of the train split every run holds out (``train --val-fraction``, with ``seed``);
    each run keeps its best epoch on it, and the sweep scores every point on it and chooses on it alone.
    """
    from ..nets.checkpoint import load_checkpoint
    from ..nets.framed import framed_split
    from .config import TrainConfig
    from .device import pick_device
    from .trainer import train
    from .weight_scaling import percentile_normalise, scale_first_layer

    if not targets:
        raise UsageError("--synop-targets needs at least one value")
    if start not in START:
        raise UsageError(f"unknown start '{start}'", fix=f"use one of {', '.join(START)}")
    if not val_fraction > 0:
        raise UsageError(
            f"a sweep chooses its models on a validation split, but --val-fraction is {val_fraction:g}",
            fix=f"use a share of the train split above 0, e.g. --val-fraction {DEFAULT_VAL_FRACTION:g}",
        )
    if start == "chain":
        targets = sorted(targets, reverse=True)
    factors = (
        first_layer_factors if first_layer_factors is not None else [round(v, 2) for v in np.arange(0.1, 1.0, 0.1)]
    )
    percentiles = percentiles if percentiles is not None else [99.0, 99.9, 99.99, 100.0]
    base_cfg = TrainConfig(model=model, epochs=epochs, seed=seed, device=device, limit=limit, val_fraction=val_fraction)
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
        base_cfg = replace(base_cfg, dataset=dataset, time_bins=time_bins)
        val, test = sweep_splits(base_cfg, base_model.spec, progress)
        if baseline is not None:
            warning = _held_out_warning(base_ref, payload, seed, len(val.labels))
            if warning:
                log(f"warning: {warning}")
        calib = framed_split(
            dataset, "train", time_bins, progress=progress, limit=min(calibration_samples, limit or calibration_samples)
        ).frames
        base_point = measure(base_model, "baseline", None, val, test, dev, base_ref)
        points = [base_point]
        log(
            f"baseline: validation {100 * _on_validation(base_point)[0]:.2f}%, "
            f"test {100 * base_point.accuracy:.2f}%, {base_point.synops_per_sample:.3g} SynOps/sample"
        )
        previous = base_path
        for t in targets:
            name = f"target_{t:g}"
            init = {"scratch": None, "baseline": str(base_path), "chain": str(previous)}[start]
            cfg = replace(
                base_cfg,
                synop_target=t,
                init=init,
                lr=lr,
                bits=",".join(str(layer.weight_bits) for layer in base_model.spec.layers),
                synop_weights=synop_weights,
                distill=str(base_path) if distill else None,
                shift_px=shift_px,
            )
            log(f"training with SynOp target {t:g}" + (f", starting from {init}" if init else ""))
            m = train(cfg, tmp / name, progress=progress, log=log)
            points.append(measure_run(tmp / name, method, t, m, val, dev))
            previous = tmp / name / "checkpoint.pt"
        base_model.cpu()
        scaled_points = []
        for f in factors:
            scaled_points.append(measure(scale_first_layer(base_model, f), "first-layer", f, val, test, dev))
        for p in percentiles:
            try:
                normed, _ = percentile_normalise(base_model, calib, p)
            except InputError as exc:
                raise exc.located(str(base_path) if baseline is not None else "the baseline trained here") from None
            scaled_points.append(measure(normed, "percentile", p, val, test, dev))
        for point in scaled_points:
            log(
                f"{point.method} {point.setting:g}: validation {100 * _on_validation(point)[0]:.2f}%, "
                f"test {100 * point.accuracy:.2f}%, {point.synops_per_sample:.3g} SynOps/sample"
            )
        points += scaled_points
        trained = [p for p in points if p.method.startswith("synop-target")]
        summary = summarise(points[0], trained, scaled_points)
        result = {
            "model": base_model.spec.name,
            "dataset": dataset,
            "time_bins": time_bins,
            "seed": seed,
            "val_fraction": val_fraction,
            "validation_samples": len(val.labels),
            "test_samples": len(test.labels),
            "selected_on": "validation",
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
                    f"Choices on the validation split ({len(val.labels)} samples held out of the train split, seed "
                    f"{seed}); the test split ({len(test.labels)} samples) is only reported. {time_bins} time bins, "
                    "chip integer units.",
                ],
            ),
        )
        with atomic_path(tmp / "sweep.png") as png:
            plot_sweep(points, png, f"{base_model.spec.name} on {dataset}: accuracy vs SynOps")
    return result

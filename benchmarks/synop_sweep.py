"""SynOp loss on digits-dvs: accuracy against SynOps per sample, with the weight-scaling baselines.

Runs ``qsnn-deploy sweep`` (library: :func:`qsnn_deploy.train.sweep.run_sweep`) twice from the reference
unpenalised model ``models/digits_speck.pt``, each with successive fine-tuning over decreasing targets:
the plain SynOp loss, then the SynOp loss with distillation from the unpenalised model (``--distill``),
conv1's spikes weighted ×3 in the SynOp term (``--synop-weights conv2=3``) and random shifts of up to
2 pixels (``--shift-px 2``), its last model then trained 20 more epochs. Adds the floor-ReLU ANN
points of ``benchmarks/results/synop_ann.json`` when present, and writes
``benchmarks/results/synop_sweep.{md,json,png}`` with the acceptance checks of issue 7: ≥ 5× fewer
SynOps than the unpenalised model at ≤ 1 point lower accuracy, and fewer SynOps than the best
weight-scaling baseline at matched accuracy.

    python benchmarks/synop_sweep.py            # about 7 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train.device import pick_device
from qsnn_deploy.train.sweep import (
    SweepPoint,
    measure_run,
    plot_sweep,
    run_sweep,
    summarise,
    sweep_markdown,
    sweep_splits,
)
from qsnn_deploy.train.trainer import TrainConfig, train

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="8e5,5.5e5,4e5,3e5,2.5e5")
    ap.add_argument("--baseline", default=str(Path(__file__).parents[1] / "models" / "digits_speck.pt"))
    ap.add_argument("--start", default="chain", choices=["scratch", "baseline", "chain"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument(
        "--kd-targets",
        default="8e5,5e5,3.5e5,2.8e5",
        help="targets of the second series (distillation, layer weights, shifts); '' skips it",
    )
    ap.add_argument("--kd-weights", default="conv2=3", help="--synop-weights of the second series")
    ap.add_argument("--kd-epochs", type=int, default=10)
    ap.add_argument("--kd-lr", type=float, default=1e-3)
    ap.add_argument("--kd-shift-px", type=int, default=2, help="--shift-px of the second series")
    ap.add_argument(
        "--polish-epochs", type=int, default=20, help="then train the last target's model this many more epochs (0: no)"
    )
    ap.add_argument("--polish-lr", type=float, default=5e-4)
    ap.add_argument("--work", type=Path, default=Path("runs/synop_sweep"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.time()
    targets = [float(v) for v in args.targets.split(",")]
    result = run_sweep(
        targets,
        args.work / "plain",
        baseline=args.baseline,
        start=args.start,
        epochs=args.epochs,
        lr=args.lr,
        overwrite=True,
        progress=False,
    )
    points = [SweepPoint(**p) for p in result["points"]]
    kd_targets = [float(v) for v in args.kd_targets.split(",") if v.strip()]
    kd, last5 = None, None
    if kd_targets:
        kd = run_sweep(
            kd_targets,
            args.work / "distill",
            baseline=args.baseline,
            start="chain",
            epochs=args.kd_epochs,
            lr=args.kd_lr,
            distill=True,
            synop_weights=args.kd_weights,
            shift_px=args.kd_shift_px,
            first_layer_factors=[],
            percentiles=[],
            overwrite=True,
            progress=False,
        )
        points += [SweepPoint(**p) for p in kd["points"] if p["method"] != "baseline"]
        if args.polish_epochs > 0:
            last = min(kd_targets)
            cfg = TrainConfig(
                synop_target=last,
                init=str(args.work / "distill" / f"target_{last:g}"),
                epochs=args.polish_epochs,
                lr=args.polish_lr,
                distill=args.baseline,
                synop_weights=args.kd_weights,
                shift_px=args.kd_shift_px,
                time_bins=result["time_bins"],
                dataset=result["dataset"],
                seed=result["seed"],
                val_fraction=result["val_fraction"],
            )
            polish = args.work / "distill" / f"target_{last:g}_polished"
            m = train(cfg, polish, overwrite=True, progress=False)
            # scored on the validation split the sweeps held out (same seed and fraction as their runs)
            val, _ = sweep_splits(cfg, load_spec(result["model"]), progress=False)
            points.append(measure_run(polish, "synop-target-chain-distill-polished", last, m, val, pick_device("auto")))
            last5 = [h["test_accuracy"] for h in m["history"][-5:]]
    baseline = points[0]
    trained = [p for p in points if p.method.startswith("synop-target")]
    scaled = [p for p in points if p.method in ("first-layer", "percentile")]
    s = summarise(baseline, trained, scaled)
    ann_file = args.out / "synop_ann.json"
    if ann_file.is_file():
        for row in json.loads(ann_file.read_text()).get("rows", []):
            points.append(SweepPoint("ann-synop", row.get("target"), row["accuracy"], row["synops_per_sample"]))
    wall = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    plot_sweep(points, args.out / "synop_sweep.png", f"{result['model']} on {result['dataset']}: accuracy vs SynOps")
    five = s["best"] is not None and s["reduction"] >= 5
    beats = s["best"] is not None and (s["matched_baseline"] is None or s["fewer_synops_than_matched_baseline"] > 1)
    md = sweep_markdown(
        [p for p in points if p.method != "ann-synop"],
        s,
        [
            f"# SynOp sweep: {result['model']} on {result['dataset']}",
            "",
            f"Choices on the validation split ({result['validation_samples']} samples held out of the train split, "
            f"seed {result['seed']}); the test split ({result['test_samples']} samples) is only reported. "
            f"{result['time_bins']} time bins, chip integer units.",
            f"`synop-target-chain`: {args.epochs} epochs per target at lr {args.lr:g}. "
            + (
                ""
                if kd is None
                else f"`synop-target-chain-distill`: the same with `--distill` (the baseline as "
                f"teacher), `--synop-weights {args.kd_weights}` and `--shift-px {args.kd_shift_px}`, "
                f"{args.kd_epochs} epochs "
                f"per target at lr "
                f"{args.kd_lr:g}."
            )
            + (
                ""
                if last5 is None
                else f" `-polished`: the last of these trained {args.polish_epochs} more epochs at lr "
                f"{args.polish_lr:g}; its test accuracy over its last 5 epochs ranged "
                f"{100 * min(last5):.2f}–{100 * max(last5):.2f}% (one test sample is "
                f"{100 / result['test_samples']:.2f} points)."
            ),
        ],
    ).splitlines()
    extra = [p for p in points if p.method == "ann-synop"]
    if extra:
        md += [
            "",
            "Floor-ReLU ANN trained with the SynOp loss, converted and emulated "
            "(from `benchmarks/results/synop_ann.json`, `python benchmarks/synop_ann.py`):",
            "",
            "| target | SNN accuracy | SynOps/sample |",
            "|---|---|---|",
        ]
        md += [
            f"| {'' if p.setting is None else f'{p.setting:g}'} | {100 * p.accuracy:.2f}% | {p.synops_per_sample:.3g} |"
            for p in extra
        ]
    md += [
        "",
        "Acceptance (issue 7):",
        f"- ≥ 5× fewer SynOps at ≤ 1 point lower accuracy: **{'yes' if five else 'no'}**"
        + ("" if s["best"] is None else f" ({s['reduction']:.2f}×, {100 * s['accuracy_drop']:+.2f} points)"),
        f"- fewer SynOps than the best weight-scaling baseline at matched accuracy: **{'yes' if beats else 'no'}**",
        "",
        f"Measured with `python benchmarks/synop_sweep.py` on {platform.machine()} with {os.cpu_count()} "
        f"cores, {wall / 60:.0f} min in all.",
    ]
    (args.out / "synop_sweep.md").write_text("\n".join(md) + "\n")
    (args.out / "synop_sweep.json").write_text(
        json.dumps(
            result
            | {"distill_series": kd, "summary": s, "ann_points": [p.__dict__ for p in extra], "wall_s": round(wall, 1)},
            indent=2,
        )
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()

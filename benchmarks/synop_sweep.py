"""SynOp loss on digits-dvs: accuracy against SynOps per sample, with the weight-scaling baselines.

Runs ``qsnn-deploy sweep`` (library: :func:`qsnn_deploy.train.sweep.run_sweep`) from the reference
unpenalised model ``models/digits_speck.pt`` with successive fine-tuning over decreasing targets,
adds the floor-ReLU ANN points of ``benchmarks/results/synop_ann.json`` when present, and writes
``benchmarks/results/synop_sweep.{md,json,png}`` with the acceptance checks of issue 7:
≥ 5× fewer SynOps than the unpenalised model at ≤ 1 point lower accuracy, and fewer SynOps than the
best weight-scaling baseline at matched accuracy.

    python benchmarks/synop_sweep.py            # about 10 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from qsnn_deploy.train.sweep import SweepPoint, plot_sweep, run_sweep

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="8e5,5.5e5,4e5,3e5,2.5e5")
    ap.add_argument("--baseline", default=str(Path(__file__).parents[1] / "models" / "digits_speck.pt"))
    ap.add_argument("--start", default="chain", choices=["scratch", "baseline", "chain"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--work", type=Path, default=Path("runs/synop_sweep"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.time()
    targets = [float(v) for v in args.targets.split(",")]
    result = run_sweep(targets, args.work, baseline=args.baseline, start=args.start, epochs=args.epochs, lr=args.lr,
                       overwrite=True, progress=False)
    points = [SweepPoint(**p) for p in result["points"]]
    ann_file = args.out / "synop_ann.json"
    if ann_file.is_file():
        for row in json.loads(ann_file.read_text()).get("rows", []):
            points.append(SweepPoint("ann-synop", row.get("target"), row["accuracy"], row["synops_per_sample"]))
    wall = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    plot_sweep(points, args.out / "synop_sweep.png", f"{result['model']} on {result['dataset']}: accuracy vs SynOps")
    s = result["summary"]
    five = s["best"] is not None and s["reduction"] >= 5
    beats = s["best"] is not None and (s["matched_baseline"] is None or s["fewer_synops_than_matched_baseline"] > 1)
    md = (args.work / "sweep.md").read_text().splitlines()
    extra = [p for p in points if p.method == "ann-synop"]
    if extra:
        md += ["", "Floor-ReLU ANN trained with the SynOp loss, converted and emulated "
               "(from `benchmarks/results/synop_ann.json`, `python benchmarks/synop_ann.py`):", "",
               "| target | SNN accuracy | SynOps/sample |", "|---|---|---|"]
        md += [f"| {'' if p.setting is None else f'{p.setting:g}'} | {100 * p.accuracy:.2f}% | "
               f"{p.synops_per_sample:.3g} |" for p in extra]
    md += ["", "Acceptance (issue 7):",
           f"- ≥ 5× fewer SynOps at ≤ 1 point lower accuracy: **{'yes' if five else 'no'}**"
           + ("" if s["best"] is None else f" ({s['reduction']:.2f}×, {100 * s['accuracy_drop']:+.2f} points)"),
           f"- fewer SynOps than the best weight-scaling baseline at matched accuracy: **{'yes' if beats else 'no'}**",
           "", f"Measured with `python benchmarks/synop_sweep.py` ({args.start} start, {args.epochs} epochs per "
           f"target, lr {args.lr:g}) on {platform.machine()} with {os.cpu_count()} cores, "
           f"{wall / 60:.0f} min in all."]
    (args.out / "synop_sweep.md").write_text("\n".join(md) + "\n")
    (args.out / "synop_sweep.json").write_text(json.dumps(result | {"ann_points": [p.__dict__ for p in extra],
                                                                    "wall_s": round(wall, 1)}, indent=2))
    print("\n".join(md))


if __name__ == "__main__":
    main()

"""What each addition to the SynOp loss does on digits-dvs: layer weights, distillation, random shifts.

From one start model (the reference ``models/digits_speck.pt`` fine-tuned 10 epochs with the plain SynOp
loss at a 400 k target), each variant trains ``--epochs`` more epochs at a 300 k SynOp target with
``qsnn-deploy train`` options added one at a time:

- ``plain``: the SynOp loss alone;
- ``weights``: ``--synop-weights conv2=3`` (conv1's spikes cost three times as much in the loss);
- ``weights+distill``: and ``--distill models/digits_speck.pt``;
- ``weights+distill+shift``: and ``--shift-px 2``;
- ``distill+shift``: without the layer weights.

Reports the final test accuracy, its range over the last 5 epochs, SynOps per sample and output spikes per
layer, and writes ``benchmarks/results/synop_ablation.{md,json}``.

    python benchmarks/synop_ablation.py            # about 15 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

from qsnn_deploy.train.trainer import TrainConfig, train

RESULTS = Path(__file__).parent / "results"
REFERENCE = Path(__file__).parents[1] / "models" / "digits_speck.pt"
VARIANTS = {
    "plain": {},
    "weights": {"synop_weights": "conv2=3"},
    "weights+distill": {"synop_weights": "conv2=3", "distill": str(REFERENCE)},
    "weights+distill+shift": {"synop_weights": "conv2=3", "distill": str(REFERENCE), "shift_px": 2},
    "distill+shift": {"distill": str(REFERENCE), "shift_px": 2},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", type=float, default=3e5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--work", type=Path, default=Path("runs/synop_ablation"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.time()
    start = args.work / "start"
    train(TrainConfig(init=str(REFERENCE), synop_target=4e5, epochs=10, lr=1e-3), start, overwrite=True, progress=False)
    base = TrainConfig(init=str(start), synop_target=args.target, epochs=args.epochs, lr=args.lr)
    rows = []
    for name, options in VARIANTS.items():
        m = train(replace(base, **options), args.work / name.replace("+", "_"), overwrite=True, progress=False)
        last5 = [h["test_accuracy"] for h in m["history"][-5:]]
        rows.append(
            {
                "variant": name,
                "options": options,
                "accuracy": m["test_accuracy"],
                "last5_min": min(last5),
                "last5_max": max(last5),
                "train_accuracy": m["history"][-1]["train_accuracy"],
                "synops_per_sample": m["synops_per_sample"],
                "layer_spikes": m["layer_spikes"],
                "layer_synops": m["layer_synops"],
            }
        )
        print(f"{name}: {100 * m['test_accuracy']:.2f}%  {m['synops_per_sample']:.3g} SynOps/sample", flush=True)
    wall = time.time() - t0
    md = [
        "# SynOp loss ablation: digits_speck on digits-dvs",
        "",
        f"Start: `models/digits_speck.pt` fine-tuned 10 epochs at a 400 k SynOp target (lr 0.001). Each variant: "
        f"{args.epochs} more epochs at a {args.target:g} target, lr {args.lr:g}, seed 0. Test split of 359 samples "
        "(one sample is 0.28 points); spikes are output spikes per sample of conv1 / conv2 / conv3 / fc.",
        "",
        "| variant | test accuracy | last 5 epochs | train accuracy | SynOps/sample | spikes per layer |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['variant']} | {100 * r['accuracy']:.2f}% | {100 * r['last5_min']:.2f}–"
            f"{100 * r['last5_max']:.2f}% | {100 * r['train_accuracy']:.1f}% | {r['synops_per_sample']:.3g} | "
            + " / ".join(f"{v:.0f}" for v in r["layer_spikes"])
            + " |"
        )
    md += [
        "",
        f"Measured with `python benchmarks/synop_ablation.py` on {platform.machine()} with {os.cpu_count()} "
        f"cores, {wall / 60:.0f} min in all.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synop_ablation.md").write_text("\n".join(md) + "\n")
    (args.out / "synop_ablation.json").write_text(
        json.dumps(
            {"target": args.target, "epochs": args.epochs, "lr": args.lr, "rows": rows, "wall_s": round(wall, 1)},
            indent=2,
        )
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()

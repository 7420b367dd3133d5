"""Residual and branching networks against the chain, end to end on digits-dvs, over seeds.

Each run is ``qsnn-deploy pipeline --model M --seed S --epochs E`` (library:
:func:`qsnn_deploy.pipeline.run_pipeline`): quantisation-aware BPTT, convert for speck2f, the binned and the
event-mode emulator on the test split, estimate. Nothing is chosen on the test split: every run trains a fixed
number of epochs and reports its last epoch. Writes ``benchmarks/results/graph_networks.{md,json}``: emulated
test accuracy (binned and event mode) mean ± std over seeds per model, SynOps, cores, latency along the longest
path, and the fit report of the first seed's residual network.

    python benchmarks/graph_networks.py      # 3 models × 3 seeds × 12 epochs, about 9 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qsnn_deploy.pipeline import run_pipeline
from qsnn_deploy.progress import log

RESULTS = Path(__file__).parent / "results"
MODELS = ("digits_speck", "digits_residual", "digits_branching")
KEYS = ("qat_test_accuracy", "emulator_test_accuracy", "event_mode_test_accuracy", "synops_per_sample")


def mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--work", type=Path, default=Path("runs/graph_networks"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    models, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    t0 = time.time()
    runs: dict[str, list[dict]] = {m: [] for m in models}
    for model in models:
        for seed in seeds:
            log(f"== {model}, seed {seed} ==")
            out = args.work / f"{model}_seed{seed}"
            s = run_pipeline(out, model=model, seed=seed, epochs=args.epochs, limit=args.limit, progress=False, log=log)
            runs[model].append(
                {
                    "seed": seed,
                    **{k: s[k] for k in KEYS},
                    "fits": s["fits"],
                    "cores": len(s["mapping"] or {}),
                    "latency_s": s["latency_s"],
                    "energy_per_inference_j": s["energy_per_inference_j"],
                    "test_samples": s["test_samples"],
                    "train_s": s["times_s"]["train_s"],
                }
            )
    wall = time.time() - t0
    summary = {m: {k: mean_std([r[k] for r in runs[m]]) for k in KEYS} for m in models}
    cmd = " ".join(["python benchmarks/graph_networks.py", *sys.argv[1:]])
    n_test = runs[models[0]][0]["test_samples"]
    md = [
        "# Residual and branching networks against the chain, digits-dvs, speck2f",
        "",
        f"{len(seeds)} seeds ({args.seeds}), {args.epochs} epochs of quantisation-aware BPTT (each model's YAML "
        f"defaults otherwise), the last epoch reported; test split {n_test} samples "
        f"(1 sample = {100 / n_test:.2f} points); nothing chosen on it. Emulated = the bit-accurate binned emulator "
        "on the converted int8 bundle; event = the chip's one-spike-per-update event mode.",
        "",
        "| model | QAT (torch) | emulated | event mode | SynOps / sample | cores | latency | fits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        row = summary[m]
        r0 = runs[m][0]
        md.append(
            f"| {m} | {100 * row['qat_test_accuracy'][0]:.2f} ± {100 * row['qat_test_accuracy'][1]:.2f}% "
            f"| {100 * row['emulator_test_accuracy'][0]:.2f} ± {100 * row['emulator_test_accuracy'][1]:.2f}% "
            f"| {100 * row['event_mode_test_accuracy'][0]:.2f} ± {100 * row['event_mode_test_accuracy'][1]:.2f}% "
            f"| {row['synops_per_sample'][0]:.3g} | {r0['cores']} | {1e6 * r0['latency_s']:.2f} µs "
            f"| {'yes' if all(r['fits'] for r in runs[m]) else 'no'} |"
        )
    md += ["", "Per seed (emulated, binned):", ""]
    for m in models:
        md.append(f"- {m}: " + ", ".join(f"seed {r['seed']} {100 * r['emulator_test_accuracy']:.2f}%" for r in runs[m]))
    fit = args.work / f"{models[min(1, len(models) - 1)]}_seed{seeds[0]}" / "estimate.txt"
    if fit.is_file():
        md += [
            "",
            f"Fit report of `{fit.parent.name}` (`qsnn-deploy estimate`):",
            "",
            "```",
            fit.read_text().rstrip(),
            "```",
        ]
    md += [
        "",
        f"Measured with `{cmd}` on {platform.machine()} with {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{wall / 60:.1f} min in all.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "graph_networks.md").write_text("\n".join(md) + "\n")
    (args.out / "graph_networks.json").write_text(
        json.dumps(
            {
                "settings": vars(args) | {"work": str(args.work), "out": str(args.out)},
                "summary": summary,
                "runs": runs,
                "wall_s": round(wall, 1),
                "command": cmd,
            },
            indent=2,
        )
        + "\n"
    )
    log(f"wrote {args.out / 'graph_networks.md'}")


if __name__ == "__main__":
    main()

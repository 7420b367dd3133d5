"""4-bit weights: periodic cosine ("LR boosting", seed 3) against a constant learning rate, over seeds.

Each run is ``qsnn-deploy train --bits 4 --lr-schedule constant|periodic-cosine --lr-period P --seed S``
on digits-dvs (library: :func:`qsnn_deploy.train.trainer.train`). Writes
``benchmarks/results/lr_boosting.{md,json,png}``: test accuracy per epoch (mean ± std over seeds) for
both schedules, the learning rates, and the validation and test accuracy of each run's kept epoch. Every run
holds out its seeded, stratified validation split (``--val-fraction``, default 0.1 of the train split); a plain
run of a fixed number of epochs chooses nothing and keeps its last epoch, so the kept epoch is the last one and
its validation accuracy is recorded next to the test accuracy, which is only reported.

    python benchmarks/lr_boosting.py            # 3 seeds × 2 schedules × 12 epochs, about 8 min on 2 CPU cores
    python benchmarks/lr_boosting.py --seeds 0 --epochs 1 --limit 100 --out /tmp/lrb   # quick check
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

from qsnn_deploy.progress import log
from qsnn_deploy.train.seed_stats import mean_and_std
from qsnn_deploy.train.trainer import TrainConfig, train

RESULTS = Path(__file__).parent / "results"
SCHEDULES = ("constant", "periodic-cosine")


def plot(runs: dict[str, list[dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    for name, histories in runs.items():
        acc = 100 * np.array([[h["test_accuracy"] for h in hist] for hist in histories])
        ep = np.arange(1, acc.shape[1] + 1)
        m, s = acc.mean(0), acc.std(0, ddof=1) if len(acc) > 1 else np.zeros(acc.shape[1])
        (line,) = ax.plot(ep, m, marker="o", label=f"{name} (mean of {len(acc)} seeds)")
        ax.fill_between(ep, m - s, m + s, color=line.get_color(), alpha=0.2)
        if all("val_accuracy" in h for hist in histories for h in hist):
            val = 100 * np.array([[h["val_accuracy"] for h in hist] for hist in histories])
            ax.plot(ep, val.mean(0), ls="--", color=line.get_color(), label=f"{name}, validation (mean)")
        ax_lr.plot(ep, [h["lr"] for h in histories[0]], marker=".", color=line.get_color(), label=name)
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="schedule")
    ax_lr.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--period", type=int, default=4, help="epochs per cosine period")
    ap.add_argument("--bits", default="4")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--val-fraction", type=float, default=0.1, help="share of the train split held out (seeded)")
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the cores are shared)")
    ap.add_argument("--work", type=Path, default=Path("runs/lr_boosting"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.time()
    runs: dict[str, list[dict]] = {name: [] for name in SCHEDULES}
    finals: dict[str, list[dict]] = {name: [] for name in SCHEDULES}
    for seed in seeds:
        for name in SCHEDULES:
            log(f"seed {seed}, {name}")
            cfg = TrainConfig(
                bits=args.bits,
                lr_schedule=name,
                lr_period=args.period if name != "constant" else None,
                epochs=args.epochs,
                lr=args.lr,
                seed=seed,
                limit=args.limit,
                val_fraction=args.val_fraction,
            )
            m = train(cfg, args.work / f"{name}_seed{seed}", overwrite=True, progress=False, log=log)
            runs[name].append(m["history"])
            finals[name].append(
                {
                    "seed": seed,
                    "test_accuracy": m["test_accuracy"],
                    "validation_accuracy": m["validation_accuracy"],  # of the kept epoch
                    "selected_epoch": m["selected_epoch"],
                    "epochs_run": m["epochs_run"],
                    "split_sizes": m["split_sizes"],
                    "synops_per_sample": m["synops_per_sample"],
                    "train_time_s": m["train_time_s"],
                }
            )
    wall = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"digits_speck, int{args.bits} weights (QAT), digits-dvs"
    plot(runs, args.out / "lr_boosting.png", title)
    summary = {
        name: {
            "final": mean_and_std([f["test_accuracy"] for f in finals[name]]),
            "validation": None
            if any(f["validation_accuracy"] is None for f in finals[name])
            else mean_and_std([f["validation_accuracy"] for f in finals[name]]),
            "synops": mean_and_std([f["synops_per_sample"] for f in finals[name]]),
            "n": len(finals[name]),
        }
        for name in SCHEDULES
    }
    niceness, omp = os.nice(0), os.environ.get("OMP_NUM_THREADS")
    cmd = " ".join(
        [
            *([f"OMP_NUM_THREADS={omp}"] if omp else []),
            *([f"nice -n {niceness}"] if niceness else []),
            "python benchmarks/lr_boosting.py",
            *sys.argv[1:],
        ]
    )
    sizes = finals[SCHEDULES[0]][0]["split_sizes"]
    kept = sorted({f["selected_epoch"] for name in SCHEDULES for f in finals[name]})
    n_test = sizes["test"]
    md = [
        f"# LR boosting: periodic cosine vs constant learning rate, {title}",
        "",
        f"{len(seeds)} seeds ({args.seeds}), {args.epochs} epochs, Adam lr {args.lr:g}; periodic cosine: "
        f"`CosineAnnealingLR(T_max={args.period})` stepped past T_max, so the rate falls from {args.lr:g} to 0 over "
        f'{args.period} epochs and climbs back over the next {args.period} (the seed\'s "LR boosting"); the last '
        f"epoch trained at {runs['periodic-cosine'][0][-1]['lr']:.2g}.",
        "",
        f"Splits: {sizes['train']} training samples, {sizes['validation']} validation samples held out of the train "
        f"split (seeded by the run's seed, stratified by class, `--val-fraction {args.val_fraction:g}`), "
        f"{n_test} test samples (1 sample = {100 / n_test:.2f} points)"
        f"{' (first ' + str(args.limit) + ' samples of each split)' if args.limit else ''}. A plain run of a fixed "
        f"number of epochs chooses nothing: each run kept its last epoch (kept epoch: "
        f"{', '.join(str(e) for e in kept)}), and its validation accuracy is that epoch's. Nothing is chosen on the "
        "test split; test accuracy is only reported. Mean ± sample standard deviation (ddof = 1) over the seeds.",
        "",
        "| schedule | n | validation accuracy (mean ± std) | test accuracy (mean ± std) | test per seed "
        "| validation per seed | SynOps / sample |",
        "|---|---|---|---|---|---|---|",
    ]

    def pm(ms: tuple[float, float] | None) -> str:
        return "—" if ms is None else f"{100 * ms[0]:.2f} ± {100 * ms[1]:.2f}%"

    for name in SCHEDULES:
        row = summary[name]
        per = ", ".join(f"{100 * f['test_accuracy']:.2f}%" for f in finals[name])
        per_val = ", ".join(
            "—" if f["validation_accuracy"] is None else f"{100 * f['validation_accuracy']:.2f}%" for f in finals[name]
        )
        md.append(
            f"| {name} | {row['n']} | {pm(row['validation'])} | {pm(row['final'])} | {per} | {per_val} "
            f"| {row['synops'][0]:.3g} ± {row['synops'][1]:.2g} |"
        )
    diff = summary["periodic-cosine"]["final"][0] - summary["constant"]["final"][0]
    spread = max(summary[name]["final"][1] for name in SCHEDULES)
    md += [
        "",
        f"Periodic cosine minus constant: **{100 * diff:+.2f} points** on the mean test accuracy of the kept epochs "
        f"({'within' if abs(diff) <= spread else 'beyond'} the seed-to-seed standard deviation of up to "
        f"{100 * spread:.2f} points).",
        "",
        "![curves](lr_boosting.png)",
        "",
        f"Measured with `{cmd}` ({args.threads} torch thread(s) per process) on {platform.machine()} with "
        f"{os.cpu_count()} cores shared with other jobs (shared machine: times are not comparable), torch "
        f"{torch.__version__}, {wall / 60:.1f} min in all.",
    ]
    (args.out / "lr_boosting.md").write_text("\n".join(md) + "\n")
    (args.out / "lr_boosting.json").write_text(
        json.dumps(
            {
                "settings": vars(args) | {"work": str(args.work), "out": str(args.out)},
                "summary": summary,
                "finals": finals,
                "histories": runs,
                "wall_s": round(wall, 1),
                "command": cmd,
            },
            indent=2,
            default=str,
        )
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()

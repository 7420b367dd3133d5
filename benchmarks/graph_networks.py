"""Residual and branching networks against the chain, end to end on digits-dvs, over seeds.

Each run is ``qsnn-deploy pipeline --model M --seed S --epochs E`` (library:
:func:`qsnn_deploy.pipeline.run_pipeline`): quantisation-aware BPTT, convert for speck2f, the binned and the
event-mode emulator on the test split, estimate. Every run holds out its seeded, stratified validation split
(``--val-fraction``, default 0.1 of the train split); a run of a fixed number of epochs chooses nothing and keeps
its last epoch, whose validation accuracy (QAT model in torch, from the run's ``metrics.json``) is reported next to
the test accuracies. Nothing is chosen on the test split. Writes ``benchmarks/results/graph_networks.{md,json}``:
validation and emulated test accuracy (binned and event mode) mean ± std over seeds per model, per-seed values,
SynOps, cores, latency along the longest path, and the fit report of the first seed's residual network.

    python benchmarks/graph_networks.py      # 3 models × 3 seeds × 12 epochs, about 9 min on 2 CPU cores
    python benchmarks/graph_networks.py --seeds 0 --epochs 1 --limit 60 --out /tmp/gn   # quick check
    python benchmarks/graph_networks.py --resume   # after a stop: reuses the finished runs in --work
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import yaml

from qsnn_deploy.pipeline import run_pipeline
from qsnn_deploy.progress import log
from qsnn_deploy.train.seed_stats import mean_and_std

RESULTS = Path(__file__).parent / "results"
MODELS = ("digits_speck", "digits_residual", "digits_branching")
KEYS = (
    "validation_accuracy",
    "qat_test_accuracy",
    "emulator_test_accuracy",
    "event_mode_test_accuracy",
    "synops_per_sample",
)


def finished_run(out: Path, options: dict) -> tuple[dict, dict] | None:
    """The summary and metrics of a finished pipeline run in ``out`` made with ``options`` (its ``config.yaml``;
    ``limit`` must match even when None), or None: a run without a validation split, an unfinished one (its
    summary older than its metrics or of another training), or one with other options is not reused."""
    files = [out / "summary.json", out / "estimate.txt", out / "run" / "metrics.json", out / "run" / "config.yaml"]
    if not all(f.is_file() for f in files):
        return None
    done = (yaml.safe_load(files[3].read_text()) or {}).get("train", {})
    if any(done.get(k) != v for k, v in options.items()):
        return None
    summary, metrics = json.loads(files[0].read_text()), json.loads(files[2].read_text())
    if (
        metrics.get("validation_accuracy") is None
        or files[0].stat().st_mtime < files[2].stat().st_mtime
        or summary.get("qat_test_accuracy") != metrics.get("test_accuracy")
    ):
        return None
    return summary, metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--val-fraction", type=float, default=0.1, help="share of the train split held out (seeded)")
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the cores are shared)")
    ap.add_argument("--work", type=Path, default=Path("runs/graph_networks"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--resume", action="store_true", help="reuse finished runs in --work with the same options (after a stop)"
    )
    args = ap.parse_args()
    if args.val_fraction <= 0:
        ap.error("--val-fraction must be > 0: the benchmark reports the validation accuracy")
    torch.set_num_threads(args.threads)
    models, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    t0 = time.time()
    runs: dict[str, list[dict]] = {m: [] for m in models}
    for model in models:
        for seed in seeds:
            log(f"== {model}, seed {seed} ==")
            out = args.work / f"{model}_seed{seed}"
            options = {
                "model": model,
                "seed": seed,
                "epochs": args.epochs,
                "limit": args.limit,
                "val_fraction": args.val_fraction,
            }
            done = finished_run(out, options) if args.resume else None
            if done is not None:
                log(f"reusing the finished run {out}")
                s, metrics = done
            else:
                s = run_pipeline(out, progress=False, log=log, **options)
                metrics = json.loads((out / "run" / "metrics.json").read_text())
            runs[model].append(
                {
                    "seed": seed,
                    "reused": done is not None,
                    "validation_accuracy": metrics["validation_accuracy"],  # the kept epoch's, QAT in torch
                    **{k: s[k] for k in KEYS if k != "validation_accuracy"},
                    "selected_epoch": metrics["selected_epoch"],
                    "epochs_run": metrics["epochs_run"],
                    "split_sizes": metrics["split_sizes"],
                    "fits": s["fits"],
                    "cores": len(s["mapping"] or {}),
                    "latency_s": s["latency_s"],
                    "energy_per_inference_j": s["energy_per_inference_j"],
                    "test_samples": s["test_samples"],
                    "train_s": s["times_s"]["train_s"],
                }
            )
    wall = time.time() - t0
    summary = {m: {k: mean_and_std([r[k] for r in runs[m]]) for k in KEYS} | {"n": len(runs[m])} for m in models}
    niceness, omp = os.nice(0), os.environ.get("OMP_NUM_THREADS")
    cmd = " ".join(
        [
            *([f"OMP_NUM_THREADS={omp}"] if omp else []),
            *([f"nice -n {niceness}"] if niceness else []),
            "python benchmarks/graph_networks.py",
            *sys.argv[1:],
        ]
    )
    n_test = runs[models[0]][0]["test_samples"]
    sizes = runs[models[0]][0]["split_sizes"]
    kept = sorted({r["selected_epoch"] for m in models for r in runs[m]})
    limit_note = "; --limit cuts the train split and the torch test split, the emulators run all" if args.limit else ""

    def pm(key: str, row: dict) -> str:
        return f"{100 * row[key][0]:.2f} ± {100 * row[key][1]:.2f}%"

    md = [
        "# Residual and branching networks against the chain, digits-dvs, speck2f",
        "",
        f"{len(seeds)} seeds ({args.seeds}), {args.epochs} epochs of quantisation-aware BPTT (each model's YAML "
        "defaults otherwise). Splits: "
        f"{sizes['train']} training samples, {sizes['validation']} validation samples held out of the train split "
        f"(seeded by the run's seed, stratified by class, `--val-fraction {args.val_fraction:g}`), {n_test} test "
        f"samples (1 sample = {100 / n_test:.2f} points){limit_note}. "
        "A run of a fixed number of epochs chooses nothing: each kept its last epoch (kept epoch: "
        f"{', '.join(str(e) for e in kept)}); validation = that epoch's QAT model in torch on the validation split. "
        "Nothing is chosen on the test split; test accuracies are only reported. Emulated = the bit-accurate binned "
        "emulator on the converted int8 bundle; event = the chip's one-spike-per-update event mode. Mean ± sample "
        "standard deviation (ddof = 1) over n seeds.",
        "",
        "| model | n | validation (QAT) | test, QAT (torch) | test, emulated | test, event mode | SynOps / sample "
        "| cores | latency | fits |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        row = summary[m]
        r0 = runs[m][0]
        md.append(
            f"| {m} | {row['n']} | {pm('validation_accuracy', row)} | {pm('qat_test_accuracy', row)} "
            f"| {pm('emulator_test_accuracy', row)} | {pm('event_mode_test_accuracy', row)} "
            f"| {row['synops_per_sample'][0]:.3g} ± {row['synops_per_sample'][1]:.2g} | {r0['cores']} "
            f"| {1e6 * r0['latency_s']:.2f} µs | {'yes' if all(r['fits'] for r in runs[m]) else 'no'} |"
        )
    md += [
        "",
        "Per seed:",
        "",
        "| model | seed | kept epoch | validation (QAT) | test, QAT | test, emulated | test, event mode "
        "| SynOps / sample |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        for r in runs[m]:
            md.append(
                f"| {m} | {r['seed']} | {r['selected_epoch']} | {100 * r['validation_accuracy']:.2f}% "
                f"| {100 * r['qat_test_accuracy']:.2f}% | {100 * r['emulator_test_accuracy']:.2f}% "
                f"| {100 * r['event_mode_test_accuracy']:.2f}% | {r['synops_per_sample']:.3g} |"
            )
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
    reused = [f"{m} seed {r['seed']}" for m in models for r in runs[m] if r["reused"]]
    md += [
        "",
        *(
            [
                f"Reused from an earlier, stopped invocation (`--resume`): {', '.join(reused)}; the wall time below "
                "counts this invocation only.",
                "",
            ]
            if reused
            else []
        ),
        f"Measured with `{cmd}` ({args.threads} torch thread(s)) on {platform.machine()} with {os.cpu_count()} "
        f"cores shared with other jobs (shared machine: times are not comparable), torch {torch.__version__}, "
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

"""ANN → SNN conversion on digits-dvs: accuracy and SynOps vs activation percentile and first-layer scale, over seeds.

Per seed: holds a seeded, stratified validation split out of the train split (the one ``qsnn-deploy train``
holds out: :func:`qsnn_deploy.train.splits.split_validation`, ``--val-fraction``), trains the ReLU twin of a zoo
model (``ann_from_spec``) on the rest, on frames of mean event counts per bin, then converts it with every
(percentile, first-layer scale) pair (calibrated on training samples) and runs the discretised SNN on the chip
emulator over the validation and the test split. The setting a seed would deploy is the one with the best
validation accuracy (ties: fewer validation SynOps); the test split is only reported. Writes
``convert_ann.{md,json}`` to ``--out`` (mean ± sample std over seeds, n and per-seed values) and, with
``--save-ann``, the first seed's ANN state dict for ``qsnn-deploy convert ANN.pt --from-ann MODEL``.

    python benchmarks/convert_ann.py --save-ann runs/ann.pt     # 3 seeds; writes benchmarks/results/convert_ann.*
    python benchmarks/convert_ann.py --seeds 0,1 --epochs 1 --limit 100 --out /tmp/ca   # quick check
    python benchmarks/convert_ann.py --resume   # after a stop: reuses the seeds finished in --work
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
import torch.nn.functional as F

from qsnn_deploy.convert.ann import ann_from_spec, ann_to_network
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.nets.framed import FramedSplit, framed_split
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.progress import log
from qsnn_deploy.quant.chip import discretize_with_warnings
from qsnn_deploy.train.seed_stats import mean_and_std
from qsnn_deploy.train.splits import split_sizes, split_validation

RESULTS = Path(__file__).parent / "results"


def ann_accuracy(ann: torch.nn.Module, data: FramedSplit) -> float:
    with torch.no_grad():
        return float((ann(data.frames.mean(1)).argmax(1) == data.labels).float().mean())


def train_ann(spec, train: FramedSplit, epochs: int, seed: int, lr: float = 2e-3) -> torch.nn.Module:
    """The ReLU ANN of ``spec`` trained on ``train``'s mean counts per bin (Adam, batch 64)."""
    torch.manual_seed(seed)
    ann = ann_from_spec(spec)
    opt = torch.optim.Adam(ann.parameters(), lr=lr)
    x, y = train.frames.mean(1), train.labels
    for _ in range(epochs):
        ann.train()
        for idx in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(ann(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    ann.eval()
    return ann


def snn_scores(qnet, data: FramedSplit) -> tuple[float, float]:
    """Emulated accuracy and SynOps per sample of the discretised SNN on ``data``."""
    res = run_binned(qnet, data.frames.numpy())
    return float((res.predictions == data.labels.numpy()).mean()), float(res.layer_synops.sum(1).mean())


def run_seed(args, spec, train_all: FramedSplit, test: FramedSplit, seed: int) -> dict:
    train, val = split_validation(train_all, args.val_fraction, seed)
    assert val is not None
    t0 = time.time()
    ann = train_ann(spec, train, args.epochs, seed)
    train_s = time.time() - t0
    ann_val, ann_test = ann_accuracy(ann, val), ann_accuracy(ann, test)
    log(f"seed {seed}: ANN validation {100 * ann_val:.2f}%  test {100 * ann_test:.2f}%  ({train_s:.0f} s)")
    dt_us = test.duration_us / args.time_bins
    calib = train.frames[: args.calibration_samples].mean(1)
    settings = []
    for p in (float(v) for v in args.percentiles.split(",")):
        for s in (float(v) for v in args.first_layer_scales.split(",")):
            net, _ = ann_to_network(ann, spec.input_shape, calib, p, s, dt_us=dt_us)
            qnet, _ = discretize_with_warnings(net)
            val_acc, val_syn = snn_scores(qnet, val)
            test_acc, test_syn = snn_scores(qnet, test)
            settings.append(
                {
                    "percentile": p,
                    "first_layer_scale": s,
                    "validation_accuracy": val_acc,
                    "validation_synops_per_sample": val_syn,
                    "test_accuracy": test_acc,
                    "synops_per_sample": test_syn,
                }
            )
            log(
                f"seed {seed}, percentile {p:g}, first layer x{s:g}: SNN validation {100 * val_acc:.2f}%  "
                f"test {100 * test_acc:.2f}%  SynOps/sample {test_syn:.3g}"
            )
    chosen = max(settings, key=lambda r: (r["validation_accuracy"], -r["validation_synops_per_sample"]))
    return {
        "seed": seed,
        "split_sizes": split_sizes(train, val, test),
        "calibration_samples": len(calib),
        "ann_validation_accuracy": ann_val,
        "ann_test_accuracy": ann_test,
        "ann_train_s": round(train_s, 1),
        "settings": settings,
        "chosen": {k: chosen[k] for k in ("percentile", "first_layer_scale")},
        "ann": ann,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="digits_speck")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--time-bins", type=int, default=10)
    ap.add_argument("--calibration-samples", type=int, default=256)
    ap.add_argument("--percentiles", default="99,99.9,99.99,100")
    ap.add_argument("--first-layer-scales", default="1,2,4")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="share of the train split held out (seeded)")
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the cores are shared)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for convert_ann.md and convert_ann.json")
    ap.add_argument("--save-ann", type=Path, default=None, help="the first seed's ANN state dict")
    ap.add_argument("--work", type=Path, default=Path("runs/convert_ann"), help="each seed's results and ANN")
    ap.add_argument(
        "--resume", action="store_true", help="reuse seeds finished in --work with the same options (after a stop)"
    )
    args = ap.parse_args()
    if args.val_fraction <= 0:
        ap.error("--val-fraction must be > 0: the setting is chosen on the validation split")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.time()
    spec = load_spec(args.model)
    train_all = framed_split(spec.dataset, "train", args.time_bins, progress=False, limit=args.limit)
    test = framed_split(spec.dataset, "test", args.time_bins, progress=False, limit=args.limit)
    options = {
        k: getattr(args, k)
        for k in (
            "model",
            "epochs",
            "time_bins",
            "calibration_samples",
            "percentiles",
            "first_layer_scales",
            "val_fraction",
            "limit",
        )
    }
    runs = []
    args.work.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        done, ann_file = args.work / f"seed{seed}.json", args.work / f"seed{seed}_ann.pt"
        if args.resume and done.is_file() and ann_file.is_file():
            saved = json.loads(done.read_text())
            if saved.get("options") == options:
                log(f"seed {seed}: reusing the finished seed in {done}")
                runs.append(saved["run"] | {"reused": True})
                continue
        r = run_seed(args, spec, train_all, test, seed)
        torch.save(r.pop("ann").state_dict(), ann_file)
        done.write_text(json.dumps({"options": options, "run": r}, indent=2) + "\n")
        runs.append(r | {"reused": False})
    if args.save_ann:
        args.save_ann.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torch.load(args.work / f"seed{seeds[0]}_ann.pt", weights_only=True), args.save_ann)
    wall = time.time() - t0

    def per_seed(values: list[float], scale: float = 100, fmt: str = ".2f", unit: str = "%") -> str:
        return ", ".join(f"{scale * v:{fmt}}{unit}" for v in values)

    def pm(ms: tuple[float, float], unit: str = "%") -> str:
        return f"{100 * ms[0]:.2f} ± {100 * ms[1]:.2f}{unit}"

    ann_val = mean_and_std([r["ann_validation_accuracy"] for r in runs])
    ann_test = mean_and_std([r["ann_test_accuracy"] for r in runs])
    table = []
    for i, row0 in enumerate(runs[0]["settings"]):
        rows = [r["settings"][i] for r in runs]
        table.append(
            {
                "percentile": row0["percentile"],
                "first_layer_scale": row0["first_layer_scale"],
                "n": len(rows),
                **{
                    k: mean_and_std([row[k] for row in rows])
                    for k in ("validation_accuracy", "test_accuracy", "synops_per_sample")
                },
                "test_minus_ann": mean_and_std(
                    [row["test_accuracy"] - r["ann_test_accuracy"] for row, r in zip(rows, runs)]
                ),
                "per_seed": {
                    k: [row[k] for row in rows] for k in ("validation_accuracy", "test_accuracy", "synops_per_sample")
                },
            }
        )
    chosen_rows = [
        next(s for s in r["settings"] if (s["percentile"], s["first_layer_scale"]) == tuple(r["chosen"].values()))
        for r in runs
    ]
    best_mean = max(table, key=lambda t: (t["validation_accuracy"][0], -t["synops_per_sample"][0]))
    chosen = {
        "per_seed": [r["chosen"] | {k: s[k] for k in s if k not in r["chosen"]} for r, s in zip(runs, chosen_rows)],
        "validation_accuracy": mean_and_std([s["validation_accuracy"] for s in chosen_rows]),
        "test_accuracy": mean_and_std([s["test_accuracy"] for s in chosen_rows]),
        "synops_per_sample": mean_and_std([s["synops_per_sample"] for s in chosen_rows]),
        "test_minus_ann": mean_and_std(
            [s["test_accuracy"] - r["ann_test_accuracy"] for s, r in zip(chosen_rows, runs)]
        ),
        "best_mean_validation": {
            "percentile": best_mean["percentile"],
            "first_layer_scale": best_mean["first_layer_scale"],
        },
    }
    niceness, omp = os.nice(0), os.environ.get("OMP_NUM_THREADS")
    cmd = " ".join(
        [
            *([f"OMP_NUM_THREADS={omp}"] if omp else []),
            *([f"nice -n {niceness}"] if niceness else []),
            "python benchmarks/convert_ann.py",
            *sys.argv[1:],
        ]
    )
    sizes, n = runs[0]["split_sizes"], len(runs)
    dt_ms = test.duration_us / args.time_bins / 1000
    lines = [
        f"# ANN → SNN conversion on {spec.dataset} ({spec.name}), {n} seeds",
        "",
        f"Seeds {args.seeds} (n = {n}); each seed holds out its own validation split and trains its own ANN. Splits: "
        f"{sizes['train']} training samples, {sizes['validation']} validation samples held out of the train split "
        f"(seeded by the seed, stratified by class, `--val-fraction {args.val_fraction:g}`, as `qsnn-deploy train` "
        f"does), {sizes['test']} test samples (1 sample = {100 / sizes['test']:.2f} points)"
        f"{' (first ' + str(args.limit) + ' samples of each split)' if args.limit else ''}. Mean ± sample standard "
        "deviation (ddof = 1) over the seeds; per-seed values in the JSON and below.",
        "",
        f"ReLU ANN trained {args.epochs} epochs on mean counts per bin: test accuracy **{100 * ann_test[0]:.2f}%** "
        f"± {100 * ann_test[1]:.2f} (per seed {per_seed([r['ann_test_accuracy'] for r in runs])}), validation "
        f"{pm(ann_val)}. SNN: discretised to chip integers, emulated over {args.time_bins} bins of {dt_ms:g} ms; "
        f"calibration on {runs[0]['calibration_samples']} training samples.",
        "",
        "| percentile | first-layer scale | SNN accuracy | SNN − ANN (pp) | SynOps/sample | validation accuracy "
        "| test per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(
            f"| {t['percentile']:g} | {t['first_layer_scale']:g} | {pm(t['test_accuracy'])} "
            f"| {100 * t['test_minus_ann'][0]:+.2f} ± {100 * t['test_minus_ann'][1]:.2f} "
            f"| {t['synops_per_sample'][0]:.3g} ± {t['synops_per_sample'][1]:.2g} | {pm(t['validation_accuracy'])} "
            f"| {per_seed(t['per_seed']['test_accuracy'])} |"
        )
    lines += [
        "",
        "SNN accuracy and SNN − ANN are on the test split; SynOps/sample on the test split.",
        "",
        f"**Setting chosen on validation** (per seed, the highest validation accuracy of the {len(table)} settings, "
        "ties to fewer validation SynOps; the test split is only reported):",
        "",
        "| seed | percentile | first-layer scale | validation accuracy | test accuracy | test − ANN (pp) "
        "| test SynOps/sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, s in zip(runs, chosen_rows):
        lines.append(
            f"| {r['seed']} | {s['percentile']:g} | {s['first_layer_scale']:g} | {100 * s['validation_accuracy']:.2f}% "
            f"| {100 * s['test_accuracy']:.2f}% | {100 * (s['test_accuracy'] - r['ann_test_accuracy']):+.2f} "
            f"| {s['synops_per_sample']:.3g} |"
        )
    lines += [
        f"| mean ± std (n = {n}) | | | {pm(chosen['validation_accuracy'])} | **{pm(chosen['test_accuracy'])}** "
        f"| {100 * chosen['test_minus_ann'][0]:+.2f} ± {100 * chosen['test_minus_ann'][1]:.2f} "
        f"| {chosen['synops_per_sample'][0]:.3g} ± {chosen['synops_per_sample'][1]:.2g} |",
        "",
        f"Best mean validation accuracy over the seeds: percentile {best_mean['percentile']:g}, first-layer scale "
        f"{best_mean['first_layer_scale']:g} (validation {pm(best_mean['validation_accuracy'])}, test "
        f"{pm(best_mean['test_accuracy'])}).",
        "",
        *(
            [
                "Reused from an earlier, stopped invocation (`--resume`): seed "
                f"{', '.join(str(r['seed']) for r in runs if r['reused'])}; the wall time below counts this "
                "invocation only.",
                "",
            ]
            if any(r["reused"] for r in runs)
            else []
        ),
        f"Measured with `{cmd}` ({args.threads} torch thread(s)) on {platform.machine()} with {os.cpu_count()} "
        f"cores shared with other jobs (shared machine: times are not comparable), torch {torch.__version__}, "
        f"{wall / 60:.1f} min in all (ANN training {sum(r['ann_train_s'] for r in runs):.0f} s).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "convert_ann.md").write_text(text)
    (args.out / "convert_ann.json").write_text(
        json.dumps(
            {
                "settings": vars(args) | {"out": str(args.out), "save_ann": str(args.save_ann), "work": str(args.work)},
                "ann": {"validation_accuracy": ann_val, "test_accuracy": ann_test, "n": n},
                "table": table,
                "chosen_on_validation": chosen,
                "runs": runs,
                "wall_s": round(wall, 1),
                "command": cmd,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

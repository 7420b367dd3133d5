"""The one-command SynOp result of issue 18 on digits-dvs, over seeds.

For each seed S: a baseline ``qsnn-deploy train --seed S`` with the model's defaults, then
``qsnn-deploy train --init BASE --synop-target 5x --seed S`` (a fifth of BASE's SynOps per sample, with the
defaults of a relative target: distillation from BASE, conv1's spikes weighted ×3, shifts of 2 pixels, 80
epochs at lr 1e-3, the target annealed from BASE's SynOps; the kept model is the mean weights of the second
half's epochs that meet the goal on validation, or the last epoch when it is more accurate than that mean on
validation, or the best of those epochs on validation when the mean misses the goal). Seeds 0–2 are the issue's;
3–5 try the last-epoch rule, made after seed 1's miss, on seeds it was not made on. Reports
per seed and mean ± std (sample std) the SynOps ratio and the accuracy difference, on the
validation and the test split, and the goal of issue 18: ≥ 5× fewer SynOps per sample (test split) at ≤ 1
point below BASE's test accuracy, for every seed. Writes ``benchmarks/results/synop_5x.{md,json}``.

    python benchmarks/synop_5x.py                  # 6 seeds, 3 at a time, full data (about 35 min, 2 quiet cores)
    python benchmarks/synop_5x.py --limit 200 --epochs 3 --out /tmp/s5   # a quick development run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qsnn_deploy.train.seed_stats import seed_stats as stats

RESULTS = Path(__file__).resolve().parent / "results"


def _train(*args: str | Path) -> dict:
    """One ``qsnn-deploy train`` run (its own process, as a user runs it); its metrics.json."""
    cmd = [str(Path(sys.executable).parent / "qsnn-deploy"), "train", *map(str, args), "--overwrite", "-q"]
    print("$ qsnn-deploy", " ".join(cmd[1:]), flush=True)
    env = os.environ | {"OMP_NUM_THREADS": "1"}  # one thread per run: the seeds run side by side
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "metrics.json").read_text())


def _row(seed: int, base: dict, sparse: dict, base_s: float, sparse_s: float, factor: float) -> dict:
    """One seed's line of the results: both runs' figures, the ratios and differences, whether the goal held."""
    base_val_synops = base["validation_synops_per_sample"]
    sparse_val_synops = sparse["validation_synops_per_sample"]
    row = {
        "seed": seed,
        "base": {
            k: base[k]
            for k in ("test_accuracy", "validation_accuracy", "synops_per_sample", "layer_synops", "selected_epoch")
        }
        | {"val_synops_per_sample": base_val_synops, "wall_s": round(base_s, 1)},
        "sparse": {
            k: sparse.get(k)
            for k in (
                "test_accuracy",
                "validation_accuracy",
                "synops_per_sample",
                "layer_synops",
                "selected_epoch",
                "averaged_epochs",
                "kept",
                "synop_goal",
                "synop_goal_met",
                "synop_target",
                "synop_correction",
            )
        }
        | {"val_synops_per_sample": sparse_val_synops, "epochs": sparse["epochs"], "wall_s": round(sparse_s, 1)},
        "test_ratio": base["synops_per_sample"] / sparse["synops_per_sample"],
        "val_ratio": base_val_synops / sparse_val_synops,
        "test_points": 100 * (sparse["test_accuracy"] - base["test_accuracy"]),
        "val_points": 100 * (sparse["validation_accuracy"] - base["validation_accuracy"]),
        "split_sizes": sparse["split_sizes"],
    }
    row["goal_met"] = row["test_ratio"] >= factor and row["test_points"] >= -1
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4,5")
    ap.add_argument("--factor", default="5x")
    ap.add_argument("--limit", type=int, help="samples per split (development runs)")
    ap.add_argument("--epochs", type=int, help="epochs of both runs (development runs) [the defaults]")
    ap.add_argument("--work", type=Path, default=Path("runs/synop_5x"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--jobs", type=int, default=3, help="seeds trained side by side, one thread each")
    args = ap.parse_args()
    extra: list[str] = []
    if args.limit:
        extra += ["--limit", str(args.limit)]
    if args.epochs:
        extra += ["--epochs", str(args.epochs)]
    t0 = time.time()

    def one_seed(seed: int) -> dict:
        base_dir, sparse_dir = args.work / f"seed_{seed}" / "base", args.work / f"seed_{seed}" / "sparse"
        t = time.time()
        base = _train("--seed", seed, "--out", base_dir, *extra)
        base_s = time.time() - t
        t = time.time()
        sparse = _train("--init", base_dir, "--synop-target", args.factor, "--seed", seed, "--out", sparse_dir, *extra)
        return _row(seed, base, sparse, base_s, time.time() - t, float(args.factor.rstrip("xX")))

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(one_seed, [int(s) for s in args.seeds.split(",")]))
    for row in rows:
        print(
            f"seed {row['seed']}: {row['test_ratio']:.2f}x fewer SynOps (test), {row['test_points']:+.2f} points "
            f"(test); validation {row['val_ratio']:.2f}x, {row['val_points']:+.2f} points",
            flush=True,
        )
    summary = {k: stats([r[k] for r in rows]) for k in ("test_ratio", "val_ratio", "test_points", "val_points")}
    result = {
        "command": f"qsnn-deploy train --seed S; qsnn-deploy train --init BASE --synop-target {args.factor} --seed S",
        "extra_options": extra,
        "rows": rows,
        "summary": summary,
        "goal": f"≥ {args.factor} fewer SynOps per sample (test) at ≤ 1 point below the baseline's test accuracy, "
        "every seed",
        "goal_met": all(r["goal_met"] for r in rows),
        "seeds_meeting_goal": sum(r["goal_met"] for r in rows),
        "wall_s": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {platform.system()}, python {platform.python_version()}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synop_5x.json").write_text(json.dumps(result, indent=2))
    (args.out / "synop_5x.md").write_text(_markdown(result))
    print(_markdown(result))


def _kept(p: dict) -> str:
    """What a 5x run kept: 'mean of 41–80 (37)', 'last epoch 80/80' or 'best epoch 58/80'."""
    averaged = p.get("averaged_epochs")
    if averaged:
        return f"mean of {averaged[0]}–{averaged[-1]} ({len(averaged)})"
    return f"{p.get('kept') or 'epoch'} {p['selected_epoch']}/{p['epochs']}"


def _markdown(r: dict) -> str:
    s = r["summary"]
    sizes = r["rows"][0]["split_sizes"]
    lines = [
        "# One-command SynOp reduction: `train --init BASE --synop-target 5x` (digits-dvs)",
        "",
        f"Per seed S: `qsnn-deploy train --seed S` (the model's defaults), then `{r['command'].split('; ')[1]}`"
        + (f", both with `{' '.join(r['extra_options'])}`" if r["extra_options"] else "")
        + ". Kept models chosen on the validation split (kept: the mean weights of the epochs named, or one epoch); "
        "test accuracy only reported. "
        f"Splits: {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test samples "
        "(one test sample is " + f"{100 / sizes['test']:.2f} points).",
        "",
        "| seed | baseline test | 5x test | Δ test (points) | Δ validation (points) | SynOps baseline → 5x (test) "
        "| ratio test | ratio validation | kept | goal met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        b, p = row["base"], row["sparse"]
        lines.append(
            f"| {row['seed']} | {100 * b['test_accuracy']:.2f} % | {100 * p['test_accuracy']:.2f} % | "
            f"{row['test_points']:+.2f} | {row['val_points']:+.2f} | {b['synops_per_sample'] / 1e3:.0f} k → "
            f"{p['synops_per_sample'] / 1e3:.0f} k | {row['test_ratio']:.2f}× | {row['val_ratio']:.2f}× | "
            f"{_kept(p)} | {'yes' if row['goal_met'] else 'no'} |"
        )
    n = s["test_ratio"]["n"]
    lines += [
        "",
        f"Mean ± std over {n} seeds: **{s['test_ratio']['mean']:.2f} ± {s['test_ratio']['std']:.2f}× fewer SynOps** "
        f"(validation {s['val_ratio']['mean']:.2f} ± {s['val_ratio']['std']:.2f}×) at "
        f"**{s['test_points']['mean']:+.2f} ± {s['test_points']['std']:.2f} points** test accuracy "
        f"(validation {s['val_points']['mean']:+.2f} ± {s['val_points']['std']:.2f}).",
        "",
        f"Goal ({r['goal']}): **{r['seeds_meeting_goal']} of {n} seeds**. Wall time {r['wall_s'] / 60:.0f} min "
        f"({r['machine']}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

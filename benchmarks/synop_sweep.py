"""SynOp loss on digits-dvs over seeds: accuracy against SynOps per sample, with the weight-scaling baselines.

Per seed S (``--seeds``, default 0,1,2): a baseline ``qsnn-deploy train --seed S`` with the model's defaults
(library: :func:`qsnn_deploy.train.train`), then ``qsnn-deploy sweep`` (library:
:func:`qsnn_deploy.train.sweep.run_sweep`) twice from it, each with successive fine-tuning over decreasing
targets: the plain SynOp loss (with the weight-scaling baselines: first-layer factors and percentile
normalisation of the seed's baseline), then the SynOp loss with distillation from the seed's baseline
(``--distill``), conv1's spikes weighted ×3 in the SynOp term (``--synop-weights conv2=3``) and random shifts of
up to 2 pixels (``--shift-px 2``). Every run holds out the seed's validation split; every choice (the sparsest
SynOp-loss model within 1 point of the baseline, the cheapest weight-scaling baseline at least as accurate) is
made per seed on it by :func:`qsnn_deploy.train.sweep.summarise`, and test accuracy is only reported. Each
target, factor and percentile is reported as mean ± std (sample std, ddof 1) over the seeds with the per-seed
values, and written to ``benchmarks/results/synop_sweep.{md,json,png}``; the floor-ReLU ANN points of
``benchmarks/results/synop_ann.json`` (one seed, another script) are listed when present.

    python benchmarks/synop_sweep.py      # 3 seeds, the full data (about 25 min on 2 idle CPU cores)
    python benchmarks/synop_sweep.py --seeds 0,1 --limit 200 --base-epochs 2 --epochs 1 --kd-epochs 1 \\
        --targets 8e5,4e5 --kd-targets 5e5 --out /tmp/sweep   # a quick development run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from qsnn_deploy.train.seed_stats import seed_stats as stats
from qsnn_deploy.train.sweep import SweepPoint, run_sweep, summarise
from qsnn_deploy.train.trainer import TrainConfig, train

RESULTS = Path(__file__).parent / "results"
SCALING = ("first-layer", "percentile")
PLAIN, DISTILL = "synop-target-chain", "synop-target-chain-distill"


def pm(s: dict[str, Any], scale: float = 1.0, fmt: str = ".2f") -> str:
    return f"{scale * s['mean']:{fmt}} ± {scale * s['std']:{fmt.lstrip('+')}}"


def per_seed(s: dict[str, Any], scale: float = 1.0, fmt: str = ".2f") -> str:
    return " / ".join(f"{scale * v:{fmt}}" for v in s["per_seed"])


def aggregate(seeds: list[int], points: dict[int, list[SweepPoint]]) -> list[dict[str, Any]]:
    """One row per (method, setting) found in every seed: mean ± std over the seeds of test and validation accuracy
    and SynOps per sample, and of the ratio to the same seed's baseline (SynOps) and the difference (points)."""
    keys = list(dict.fromkeys((p.method, p.setting) for p in points[seeds[0]]))
    rows = []
    for method, setting in keys:
        found = {s: next((p for p in points[s] if (p.method, p.setting) == (method, setting)), None) for s in seeds}
        if any(p is None for p in found.values()):
            continue
        base = {s: points[s][0] for s in seeds}
        pts = {s: p for s, p in found.items() if p is not None}
        rows.append(
            {
                "method": method,
                "setting": setting,
                "seeds": seeds,
                "runs": [pts[s].run for s in seeds],
                "test_accuracy": stats([pts[s].accuracy for s in seeds]),
                "validation_accuracy": stats([pts[s].validation_accuracy or 0.0 for s in seeds]),
                "synops_per_sample": stats([pts[s].synops_per_sample for s in seeds]),
                "validation_synops_per_sample": stats([pts[s].validation_synops_per_sample or 0.0 for s in seeds]),
                "fewer_synops": stats([base[s].synops_per_sample / pts[s].synops_per_sample for s in seeds]),
                "test_points": stats([100 * (pts[s].accuracy - base[s].accuracy) for s in seeds]),
                "validation_points": stats(
                    [100 * ((pts[s].validation_accuracy or 0.0) - (base[s].validation_accuracy or 0.0)) for s in seeds]
                ),
            }
        )
    return rows


def chosen(seeds: list[int], summaries: dict[int, dict[str, Any]], points: dict[int, list[SweepPoint]]) -> dict:
    """The per-seed choices of :func:`summarise` (made on validation) and mean ± std of their test figures."""
    rows = []
    for s in seeds:
        sm = summaries[s]
        best, match = sm["best"], sm["matched_baseline"]
        rows.append(
            {
                "seed": s,
                "best": best,
                "reduction": sm["reduction"],
                "accuracy_drop": sm.get("accuracy_drop"),
                "validation_reduction": sm.get("validation_reduction"),
                "validation_accuracy_drop": sm.get("validation_accuracy_drop"),
                "matched_baseline": match,
                "fewer_synops_than_matched_baseline": sm.get("fewer_synops_than_matched_baseline"),
                "five_x": best is not None and sm["reduction"] >= 5 and sm["accuracy_drop"] <= 0.01 + 1e-12,
                "beats_scaling": best is not None and (match is None or sm["fewer_synops_than_matched_baseline"] > 1),
            }
        )
    got = [r for r in rows if r["best"] is not None]
    matched = [r for r in got if r["matched_baseline"] is not None]
    out: dict[str, Any] = {"selected_on": "validation", "per_seed": rows, "seeds_with_a_choice": len(got)}
    if got:
        out |= {
            "test_accuracy": stats([r["best"]["accuracy"] for r in got]),
            "validation_accuracy": stats([r["best"]["validation_accuracy"] for r in got]),
            "synops_per_sample": stats([r["best"]["synops_per_sample"] for r in got]),
            "reduction": stats([r["reduction"] for r in got]),
            "test_points": stats([-100 * r["accuracy_drop"] for r in got]),
            "validation_reduction": stats([r["validation_reduction"] for r in got]),
            "validation_points": stats([-100 * r["validation_accuracy_drop"] for r in got]),
        }
    if matched:
        out["matched_baseline"] = {
            "seeds": [r["seed"] for r in matched],
            "settings": [f"{r['matched_baseline']['method']} {r['matched_baseline']['setting']:g}" for r in matched],
            "test_accuracy": stats([r["matched_baseline"]["accuracy"] for r in matched]),
            "validation_accuracy": stats([r["matched_baseline"]["validation_accuracy"] for r in matched]),
            "synops_per_sample": stats([r["matched_baseline"]["synops_per_sample"] for r in matched]),
            "more_synops": stats([r["fewer_synops_than_matched_baseline"] for r in matched]),
        }
    out["five_x_seeds"] = sum(r["five_x"] for r in rows)
    out["beats_scaling_seeds"] = sum(r["beats_scaling"] for r in rows)
    return out


STYLE = {
    "baseline": ("*", "no SynOp loss (baseline)"),
    PLAIN: ("o-", "SynOp loss, successive fine-tuning"),
    DISTILL: ("o-", "SynOp loss + distillation, conv1 spikes ×3, shifts"),
    "first-layer": ("s--", "weight scaling: first-layer factor"),
    "percentile": ("^--", "weight scaling: percentile normalisation"),
    "ann-synop": ("D-", "floor-ReLU ANN → SNN (1 seed, synop_ann.py)"),
}


def plot(rows: list[dict[str, Any]], ann: list[dict[str, Any]], path: Path, title: str, n: int) -> None:
    """Mean test accuracy (%) against mean test SynOps per sample (log x), error bars ± 1 std over the seeds on
    both axes; hollow markers on a dotted line: the validation means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8))
    base = next(r for r in rows if r["method"] == "baseline")
    for ax in axes:
        for method in dict.fromkeys(r["method"] for r in rows):
            rs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["synops_per_sample"]["mean"])
            marker, label = STYLE.get(method, ("x-", method))
            size = 12 if method == "baseline" else 5
            bars = ax.errorbar(
                [r["synops_per_sample"]["mean"] for r in rs],
                [100 * r["test_accuracy"]["mean"] for r in rs],
                xerr=[r["synops_per_sample"]["std"] for r in rs],
                yerr=[100 * r["test_accuracy"]["std"] for r in rs],
                fmt=marker,
                label=label,
                markersize=size,
                capsize=2,
                elinewidth=0.8,
            )
            colour = bars.lines[0].get_color()
            ax.plot(
                [r["validation_synops_per_sample"]["mean"] for r in rs],
                [100 * r["validation_accuracy"]["mean"] for r in rs],
                marker=marker[0],
                ls=":" if len(rs) > 1 else "none",
                lw=1,
                mfc="none",
                color=colour,
                markersize=size,
            )
        if ann:
            pts = sorted(ann, key=lambda r: r["synops_per_sample"])
            marker, label = STYLE["ann-synop"]
            ax.plot(
                [r["synops_per_sample"] for r in pts], [100 * r["accuracy"] for r in pts], marker, label=label, ms=4
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    ylabel = f"accuracy (%), mean ± std over {n} seeds"
    accs = [100 * r[k]["mean"] for r in rows for k in ("test_accuracy", "validation_accuracy")]
    axes[0].set(xlabel="SynOps per sample (log)", ylabel=ylabel, title=title, ylim=(max(0.0, min(accs) - 2), 100))
    axes[0].legend(fontsize=7.5, loc="lower right")
    top = max(accs)
    axes[1].set(xlabel="SynOps per sample (log)", ylabel=ylabel, ylim=(top - 6, top + 0.8))
    axes[1].set_title("zoom: within 6 points of the best (test filled, validation hollow)")
    b_acc, b_syn = 100 * base["test_accuracy"]["mean"], base["synops_per_sample"]["mean"]
    guides = [
        axes[1].axhline(b_acc - 1, color="gray", ls=":", lw=1, label="baseline − 1 point (test mean)"),
        axes[1].axvline(b_syn / 5, color="gray", ls="--", lw=1, label="baseline SynOps / 5 (test mean)"),
    ]
    axes[1].legend(handles=guides, fontsize=8, loc="lower left")
    near = [r["synops_per_sample"]["mean"] for r in rows if 100 * r["test_accuracy"]["mean"] >= top - 6]
    near.append(b_syn / 5)
    axes[1].set_xlim(0.8 * min(near), 1.25 * max(near))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(r: dict[str, Any], ann: list[dict[str, Any]]) -> str:
    st, ch = r["settings"], r["chosen"]
    n = len(r["seeds"])
    seeds = "/".join(str(s) for s in r["seeds"])
    lines = [
        f"# SynOp sweep over {n} seeds: {r['model']} on {r['dataset']}",
        "",
        *(
            []
            if r["complete"]
            else [f"**Partial: {n} of the {len(r['seeds_planned'])} planned seeds; the run was cut short.**", ""]
        ),
        f"Per seed S ({', '.join(map(str, r['seeds']))}): a baseline `qsnn-deploy train --seed S` (the model's "
        "defaults"
        + (f", {' '.join(st['base_options'])}" if st["base_options"] else "")
        + f"), then two chains of SynOp targets fine-tuned from it, each target from the previous one's weights: "
        f"`{PLAIN}`, the plain SynOp loss, {st['epochs'] or 'default'} epochs per target at lr {st['lr']:g}; "
        f"`{DISTILL}`, the same with `--distill` (the seed's baseline as teacher), "
        f"`--synop-weights {st['kd_weights']}` and `--shift-px {st['kd_shift_px']}`, {st['kd_epochs']} epochs per "
        f"target at lr {st['kd_lr']:g}. The weight-scaling baselines scale each seed's baseline. "
        f"{r['time_bins']} time bins, chip integer units.",
        "",
        f"**Every choice is made on the validation split** ({r['validation_samples']} samples held out of the "
        "train split, seeded and stratified by the run's seed): the sparsest SynOp-loss model within 1 point of the "
        "baseline and the cheapest weight-scaling baseline at least as accurate, per seed. The test split "
        f"({r['test_samples']} samples, one sample is {100 / r['test_samples']:.2f} points) is only reported. "
        f"Figures are mean ± std (sample std, ddof 1) over n = {n} seeds; per-seed values in seed order "
        f"{seeds}. \"vs baseline\": per seed, the baseline's SynOps over the model's and the accuracy difference "
        "in points, then mean ± std.",
        "",
        "| method | setting | n | validation accuracy (%) | test accuracy (%) | test accuracy per seed | "
        "SynOps/sample (test) | SynOps per seed (k) | vs baseline (test) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        setting = "" if row["setting"] is None else f"{row['setting']:g}"
        vs = (
            ""
            if row["method"] == "baseline"
            else f"{pm(row['fewer_synops'])}× fewer, {pm(row['test_points'], fmt='+.2f')} points"
        )
        lines.append(
            f"| {row['method']} | {setting} | {row['test_accuracy']['n']} | {pm(row['validation_accuracy'], 100)} | "
            f"{pm(row['test_accuracy'], 100)} | {per_seed(row['test_accuracy'], 100)} | "
            f"{pm(row['synops_per_sample'], 1e-3, '.0f')} k | {per_seed(row['synops_per_sample'], 1e-3, '.0f')} | "
            f"{vs} |"
        )
    lines += [
        "",
        "Chosen per seed on the validation split (test figures reported only):",
        "",
        "| seed | sparsest SynOp-loss model within 1 point | validation Δ (points) | test accuracy | test Δ (points) "
        "| SynOps/sample (test) | fewer SynOps (test) | cheapest weight scaling as accurate | its SynOps (test) "
        "| its test accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in ch["per_seed"]:
        b, m = p["best"], p["matched_baseline"]
        if b is None:
            lines.append(f"| {p['seed']} | none within 1 point | | | | | | | | |")
            continue
        lines.append(
            f"| {p['seed']} | {b['method']} {b['setting']:g} | {0.0 - 100 * p['validation_accuracy_drop']:+.2f} | "
            f"{100 * b['accuracy']:.2f} % | {0.0 - 100 * p['accuracy_drop']:+.2f} | "
            f"{b['synops_per_sample'] / 1e3:.0f} k | "
            f"{p['reduction']:.2f}× | "
            + ("none" if m is None else f"{m['method']} {m['setting']:g}")
            + (
                " | | |"
                if m is None
                else f" | {m['synops_per_sample'] / 1e3:.0f} k ({p['fewer_synops_than_matched_baseline']:.2f}× more) "
                f"| {100 * m['accuracy']:.2f} % |"
            )
        )
    if ch["seeds_with_a_choice"]:
        lines += [
            "",
            f"Mean ± std over the {ch['seeds_with_a_choice']} seeds with a choice: **{pm(ch['reduction'])}× fewer "
            f"SynOps at {pm(ch['test_points'], fmt='+.2f')} points** (test; validation "
            f"{pm(ch['validation_reduction'])}×, {pm(ch['validation_points'], fmt='+.2f')} points), "
            f"{pm(ch['test_accuracy'], 100)} % test accuracy, {pm(ch['synops_per_sample'], 1e-3, '.0f')} k "
            "SynOps/sample.",
        ]
    if "matched_baseline" in ch:
        mb = ch["matched_baseline"]
        lines.append(
            f"Its weight-scaling match ({', '.join(mb['settings'])}): {pm(mb['test_accuracy'], 100)} % test "
            f"accuracy, {pm(mb['synops_per_sample'], 1e-6)} M SynOps/sample, {pm(mb['more_synops'])}× more."
        )
    if ann:
        lines += [
            "",
            "Floor-ReLU ANN trained with the SynOp loss, converted and emulated (one seed, from "
            "`benchmarks/results/synop_ann.json`, `python benchmarks/synop_ann.py`; not part of this run):",
            "",
            "| target | SNN accuracy | SynOps/sample |",
            "|---|---|---|",
        ]
        lines += [
            f"| {'' if a.get('target') is None else format(a['target'], 'g')} | {100 * a['accuracy']:.2f}% | "
            f"{a['synops_per_sample']:.3g} |"
            for a in ann
        ]
    lines += [
        "",
        "Acceptance (issue 7), per seed, the model chosen on validation, measured on test:",
        f"- ≥ 5× fewer SynOps at ≤ 1 point lower accuracy: **{ch['five_x_seeds']} of {n} seeds**",
        f"- fewer SynOps than the cheapest weight-scaling baseline as accurate (on validation): "
        f"**{ch['beats_scaling_seeds']} of {n} seeds**",
        "",
        "The one-command result (`train --init RUN --synop-target 5x`, 80 epochs) is measured by "
        "`benchmarks/synop_5x.py` ([synop_5x.md](synop_5x.md)).",
        "",
        f"Measured with `{r['command']}` on {r['machine']}, a shared machine (other jobs on the same cores), "
        f"{r['wall_s'] / 60:.0f} min of training and evaluation summed over the seeds"
        + (
            f" (seeds {', '.join(str(x['seed']) for x in r['runs'] if x.get('reused'))} trained by an earlier run "
            "of this command, this file then written from their runs with `--reuse`; a reused seed counts the time "
            "the earlier results file recorded for it, else the training time its runs recorded)."
            if any(x.get("reused") for x in r["runs"])
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


def run_seed(
    work: Path, seed: int, args: argparse.Namespace, targets: list[float], kd_targets: list[float]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Seed ``seed``'s baseline (``train --seed S``) and its two sweeps, in ``work``: (metrics, plain sweep,
    distillation sweep or None)."""
    base = train(
        TrainConfig(seed=seed, epochs=args.base_epochs, limit=args.limit), work / "base", overwrite=True, progress=False
    )
    common = {"baseline": str(work / "base"), "seed": seed, "limit": args.limit, "overwrite": True}
    plain = run_sweep(targets, work / "plain", start="chain", epochs=args.epochs, lr=args.lr, progress=False, **common)
    return base, plain, run_distill(work, seed, args, kd_targets)


def run_distill(work: Path, seed: int, args: argparse.Namespace, kd_targets: list[float]) -> dict[str, Any] | None:
    """Seed ``seed``'s second series (distillation from its baseline, layer weights, shifts), or None without
    targets."""
    if not kd_targets:
        return None
    return run_sweep(
        kd_targets,
        work / "distill",
        baseline=str(work / "base"),
        seed=seed,
        limit=args.limit,
        overwrite=True,
        start="chain",
        epochs=args.kd_epochs,
        lr=args.kd_lr,
        distill=True,
        synop_weights=args.kd_weights,
        shift_px=args.kd_shift_px,
        first_layer_factors=[],
        percentiles=[],
        progress=False,
    )


def _limit(run: Path) -> Any:
    import yaml

    return (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("train", {}).get("limit")


def reused(
    work: Path, seed: int, args: argparse.Namespace, targets: list[float], kd_targets: list[float]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None] | None:
    """``--reuse``: seed ``seed``'s finished runs in ``work`` when they were made with these settings (seed, limit,
    baseline epochs, targets, epochs, lr and the second series' options), else None (they are trained anew). A seed
    whose baseline and plain series finished but not its second series gets that series trained here."""
    files = [work / "base" / "metrics.json", work / "plain" / "sweep.json"]
    if not all(f.is_file() for f in files):
        return None
    base = json.loads(files[0].read_text())
    plain = json.loads(files[1].read_text())
    kd_file = work / "distill" / "sweep.json"
    kd = json.loads(kd_file.read_text()) if kd_targets and kd_file.is_file() else None
    same = (
        base.get("seed") == seed
        and _limit(work / "base") == args.limit
        and (args.base_epochs is None or base.get("epochs") == args.base_epochs)
        and (plain["seed"], plain["targets"], plain["epochs"], plain["lr"], plain["distill"])
        == (seed, sorted(targets, reverse=True), args.epochs, args.lr, False)
        and _limit(work / "plain" / f"target_{targets[0]:g}") == args.limit
    )
    if not same:
        return None
    if kd_targets and kd is None:  # the baseline and the plain series finished, the second series did not
        return base, plain, run_distill(work, seed, args, kd_targets)
    if kd is not None:
        same = same and (
            (kd["seed"], kd["targets"], kd["epochs"], kd["lr"], kd["distill"], kd["synop_weights"], kd["shift_px"])
            == (
                seed,
                sorted(kd_targets, reverse=True),
                args.kd_epochs,
                args.kd_lr,
                True,
                args.kd_weights,
                args.kd_shift_px,
            )
        )
    return (base, plain, kd) if same else None


def training_s(work: Path) -> float:
    """The training time recorded by the runs in ``work`` (baseline and every target), for a reused seed."""
    return round(sum(json.loads(m.read_text()).get("train_time_s", 0.0) for m in work.rglob("metrics.json")), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--targets", default="8e5,5.5e5,4e5,3e5,2.5e5")
    ap.add_argument("--epochs", type=int, default=10, help="epochs per target of the plain series")
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
    ap.add_argument("--base-epochs", type=int, help="epochs of the baselines [the model's default]")
    ap.add_argument("--limit", type=int, help="samples per split (development runs)")
    ap.add_argument("--work", type=Path, default=Path("runs/synop_sweep"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="take a seed's finished runs from --work when they were made with these settings (else train them)",
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = [float(v) for v in args.targets.split(",")]
    kd_targets = [float(v) for v in args.kd_targets.split(",") if v.strip()]
    base_options = [f"--epochs {args.base_epochs}"] if args.base_epochs else []
    base_options += [f"--limit {args.limit}"] if args.limit else []
    points: dict[int, list[SweepPoint]] = {}
    summaries: dict[int, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    plain: dict[str, Any] = {}

    def write(done: list[int]) -> None:
        """The results of the seeds ``done`` so far (written after each seed: a run cut short keeps them)."""
        rows = aggregate(done, points)
        ann: list[dict[str, Any]] = []
        ann_file = args.out / "synop_ann.json"
        if ann_file.is_file():
            ann = json.loads(ann_file.read_text()).get("rows", [])
        wall = sum(r["wall_s"] for r in runs)  # per seed: training and evaluation (reused: training)
        command = " ".join(
            ["nice -n 10 python benchmarks/synop_sweep.py", *(a for a in sys.argv[1:] if a != "--reuse")]
        )
        result = {
            "command": command,
            "seeds": done,
            "seeds_planned": seeds,
            "complete": done == seeds,
            "model": plain["model"],
            "dataset": plain["dataset"],
            "time_bins": plain["time_bins"],
            "val_fraction": plain["val_fraction"],
            "validation_samples": plain["validation_samples"],
            "test_samples": plain["test_samples"],
            "selected_on": "validation",
            "settings": settings,
            "rows": rows,
            "chosen": chosen(done, summaries, points),
            "runs": list(runs),
            "ann_points": ann,
            "wall_s": round(wall, 1),
            "machine": f"{platform.machine()} with {os.cpu_count()} cores, python {platform.python_version()}",
        }
        args.out.mkdir(parents=True, exist_ok=True)
        plot(
            rows,
            ann,
            args.out / "synop_sweep.png",
            f"{result['model']} on {result['dataset']}: accuracy vs SynOps ({len(done)} seeds)",
            len(done),
        )
        md = markdown(result, ann)
        (args.out / "synop_sweep.md").write_text(md)
        (args.out / "synop_sweep.json").write_text(json.dumps(result, indent=2))
        print(md)

    settings = {
        "targets": targets,
        "epochs": args.epochs,
        "lr": args.lr,
        "kd_targets": kd_targets,
        "kd_weights": args.kd_weights,
        "kd_epochs": args.kd_epochs,
        "kd_lr": args.kd_lr,
        "kd_shift_px": args.kd_shift_px,
        "base_epochs": args.base_epochs,
        "base_options": base_options,
        "limit": args.limit,
    }
    # --reuse: a reused seed's time as the results file written by the run that made it recorded it (same settings)
    earlier_wall_s: dict[int, float] = {}
    if args.reuse and (args.out / "synop_sweep.json").is_file():
        earlier = json.loads((args.out / "synop_sweep.json").read_text())
        if earlier.get("settings") == settings:
            earlier_wall_s = {r["seed"]: r["wall_s"] for r in earlier.get("runs", []) if not r.get("reused")}
    for seed in seeds:
        work = args.work / f"seed_{seed}"
        ts = time.time()
        found = reused(work, seed, args, targets, kd_targets) if args.reuse else None
        if found is not None:
            base, plain, kd = found
            print(f"seed {seed}: reusing the finished runs in {work}", flush=True)
        else:
            base, plain, kd = run_seed(work, seed, args, targets, kd_targets)
        print(
            f"seed {seed} baseline: validation {100 * base['validation_accuracy']:.2f}%, "
            f"test {100 * base['test_accuracy']:.2f}%, {base['synops_per_sample']:.3g} SynOps/sample",
            flush=True,
        )
        pts = [SweepPoint(**p) for p in plain["points"]]
        if kd is not None:
            pts += [SweepPoint(**p) for p in kd["points"] if p["method"] != "baseline"]
        # plain series, then the distillation series, then the weight-scaling baselines
        order = {"baseline": 0, PLAIN: 1, DISTILL: 2}
        pts.sort(key=lambda p: order.get(p.method, 3))
        points[seed] = pts
        summaries[seed] = summarise(
            pts[0], [p for p in pts if p.method.startswith("synop-target")], [p for p in pts if p.method in SCALING]
        )
        best = summaries[seed]["best"]
        print(
            f"seed {seed}: chosen on validation "
            + ("none" if best is None else f"{best['method']} {best['setting']:g}: {summaries[seed]['reduction']:.2f}x")
            + f" ({time.time() - ts:.0f} s)",
            flush=True,
        )
        runs.append(
            {
                "seed": seed,
                "baseline": {
                    k: base[k]
                    for k in ("test_accuracy", "validation_accuracy", "synops_per_sample", "selected_epoch", "epochs")
                },
                "plain_series": plain,
                "distill_series": kd,
                "summary": summaries[seed],
                "wall_s": earlier_wall_s.get(seed, training_s(work))
                if found is not None
                else round(time.time() - ts, 1),
                "reused": found is not None,
            }
        )
        write(seeds[: len(runs)])


if __name__ == "__main__":
    main()

"""Hessian-aware mixed precision on digits-dvs over seeds (issue 7 acceptance; issue 18: mixed against uniform at
equal average bits, every budget, mean ± std over seeds).

Per seed S:

1. Full precision: ``qsnn-deploy train --no-qat --seed S`` (the model's default epochs).
2. Sensitivity check without retraining: the FP32 weights with one layer at 2 bits (others 8), QAT
   evaluation on the test split (reported only); the accuracy each layer loses is compared with the Hessian ranking.
3. ``train --bits auto --bit-budget B --init FP32 --seed S`` for each budget B: Hessian traces (Hutchinson) on
   training samples, bits per layer by the allocator, QAT fine-tuning at those widths; against
   ``train --bits b --init FP32 --seed S`` (uniform widths, same epochs). Budget B is compared with uniform B
   bits only (equal average bits as the allocator counts them: Σ n_l·b_l / Σ n_l over the layers' weights; the
   allocator may stay below B); a budget with no uniform run of the same bits (2.5) is shown but compared with
   nothing.
4. Loihi: synaptic memory and cores of the first seed's models (``hw.neurocore``).

Every fine-tuning run keeps its last epoch (no choice). The one choice the script makes, the mixed-precision run
named for the issue-7 acceptance, is made on the validation split (mean over seeds); test accuracy is only reported.

Writes ``benchmarks/results/hessian_bits.{md,json,png}`` and ``hessian_bits_traces.png``.

    python benchmarks/hessian_bits.py          # 3 seeds × 8 runs; about 1 h on 2 shared CPU cores
    python benchmarks/hessian_bits.py --seeds 0 --limit 64 --epochs 1 --fp32-epochs 1 --out /tmp/hb   # smoke run
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
import yaml

from qsnn_deploy.hw.neurocore import place_neurons
from qsnn_deploy.hw.profile import load_profile
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.framed import framed_split
from qsnn_deploy.progress import log
from qsnn_deploy.quant.chip import discretize_network
from qsnn_deploy.train import TrainConfig, train
from qsnn_deploy.train.allocate import FP32_BITS, apply_bits, weight_memory_bits
from qsnn_deploy.train.evaluation import evaluate
from qsnn_deploy.train.hessian import HessianResult
from qsnn_deploy.train.plots import plot_traces
from qsnn_deploy.train.seed_stats import seed_stats as stats

RESULTS = Path(__file__).parent / "results"
MIXED, UNIFORM = "mixed (Hessian)", "uniform"


def hessian_from_record(h: dict) -> HessianResult:
    layers = h["layers"]
    return HessianResult(
        names=tuple(la["name"] for la in layers),
        traces=tuple(la["trace"] for la in layers),
        n_params=tuple(la["params"] for la in layers),
        stderr=tuple(la["stderr"] for la in layers),
        stderr_batches=tuple(la["stderr_batches"] for la in layers),
        iterations=h["iterations"],
        samples=h["samples"],
    )


def two_bit_sensitivity(checkpoint: Path, time_bins: int, limit: int | None) -> dict[str, float]:
    """Test accuracy of the checkpoint's weights under QAT with one layer at 2 bits, per layer (reported only)."""
    test = framed_split("digits-dvs", "test", time_bins, progress=False, limit=limit)
    out = {}
    for name in [layer.name for layer in load_checkpoint(checkpoint)[0].spec.layers]:
        model, _ = load_checkpoint(checkpoint)
        apply_bits(model, {b.name: (2 if b.name == name else 8) for b in model.blocks})
        out[name] = evaluate(model, test, 64, torch.device("cpu"), quantize=True)["accuracy"]
    return out


def loihi_memory(checkpoint: Path) -> dict:
    model, payload = load_checkpoint(checkpoint)
    net = discretize_network(model.to_network(float(payload.get("dt_us", 1000.0))))
    placement = place_neurons(net, load_profile("loihi"))
    return {
        "synaptic_memory_bytes": sum(p.synaptic_memory_bytes for p in placement.layers),
        "cores": placement.cores_used,
        "synapse_bits": {p.name: p.synapse_bits for p in placement.layers},
    }


def choose_mixed(mixed: list[dict]) -> tuple[dict | None, bool]:
    """The mixed-precision run the acceptance names, chosen on the validation split: the first (largest budget)
    ≥ 50 % below FP32 weight memory and ≤ 1 point below FP32's validation accuracy; accepted when its test
    accuracy (only reported) is within 1 point of FP32's too. Over seeds the rows carry the seeds' means."""
    ok = [r for r in mixed if r["reduction_vs_fp32_pct"] >= 50 and r["validation_drop_vs_fp32_points"] <= 1]
    if not ok:
        return None, False
    return ok[0], ok[0]["drop_vs_fp32_points"] <= 1


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def rounded(v: float, digits: int = 2) -> float:
    """``v`` rounded to ``digits``, so a float error of -4e-15 prints as +0.00, not -0.00."""
    return round(v, digits) + 0.0


def pm(s: dict, scale: float = 100.0, digits: int = 2, unit: str = " %", signed: bool = False) -> str:
    """'98.61 ± 0.28 % (n=3: 98.89, 98.61, 98.33)'."""
    sign = "+" if signed else ""
    per = ", ".join(f"{rounded(scale * v, digits):{sign}.{digits}f}" for v in s["per_seed"])
    mean = rounded(scale * s["mean"], digits)
    return f"{mean:{sign}.{digits}f} ± {scale * s['std']:.{digits}f}{unit} (n={s['n']}: {per})"


def bits_text(bits: dict[str, int]) -> str:
    return "/".join(str(b) for b in bits.values())


def train_or_reuse(options: dict, out: Path, resume: bool) -> dict:
    """``train(TrainConfig(**options), out)``; with ``resume``, a finished run in ``out`` (its ``metrics.json``
    written) whose ``config.yaml`` has these options (None ones: only ``limit``, the others are model defaults) is
    reused instead, so an interrupted benchmark goes on where it stopped."""
    if resume and (out / "metrics.json").is_file() and (out / "checkpoint.pt").is_file():
        done = (yaml.safe_load((out / "config.yaml").read_text()) or {}).get("train", {})
        if all(done.get(k) == v for k, v in options.items() if v is not None or k == "limit"):
            log(f"reusing the finished run {out}")
            return json.loads((out / "metrics.json").read_text())
    return train(TrainConfig(**options), out, overwrite=True, progress=False, log=log)


def run_seed(seed: int, args: argparse.Namespace, runs: list[tuple[str, float]], loihi: bool) -> dict:
    work = args.work / f"seed_{seed}"
    log(f"== seed {seed}: 1. full-precision training (--no-qat)")
    fp = train_or_reuse(
        {"quantize": False, "epochs": args.fp32_epochs, "limit": args.limit, "seed": seed}, work / "fp32", args.resume
    )
    fp_ckpt = work / "fp32" / "checkpoint.pt"
    fp_model, _ = load_checkpoint(fp_ckpt)
    # the allocator's count: the layers' weights; storage below: every parameter of the layers (weights and biases)
    weights = [int(b.conv.weight.numel()) for b in fp_model.chip_blocks]
    stored = sum(int(p.numel()) for b in fp_model.chip_blocks for p in b.conv.parameters())
    fp32 = {
        "accuracy": fp["test_accuracy"],
        "validation_accuracy": fp["validation_accuracy"],
        "weight_memory_bits": FP32_BITS * stored,
        "synops_per_sample": fp["synops_per_sample"],
        "epochs": fp["epochs"],
        "selected_epoch": fp["selected_epoch"],
        "split_sizes": fp["split_sizes"],
    }
    log(f"== seed {seed}: 2. one layer at 2 bits, no retraining")
    sensitivity = two_bit_sensitivity(fp_ckpt, fp["time_bins"], args.limit)

    rows, hessians = [], {}
    for kind, budget in runs:
        name = f"{'mixed' if kind == MIXED else 'uniform'}_{budget:g}"
        options = {
            "init": str(fp_ckpt),
            "epochs": args.epochs,
            "lr": args.lr,
            "limit": args.limit,
            "seed": seed,
            "bits": "auto" if kind == MIXED else f"{budget:g}",
            "bit_budget": f"{budget:g}" if kind == MIXED else None,
        }
        log(f"== seed {seed}: 3. {kind}, {budget:g} bits on average")
        m = train_or_reuse(options, work / name, args.resume)
        bits = m["weight_bits"]
        if kind == MIXED:
            record = json.loads((work / name / "hessian.json").read_text())
            hessians[name] = record["hessian"]
            assert record["allocation"]["bits"] == bits, (record["allocation"]["bits"], bits)
        rows.append(
            {
                "kind": kind,
                "budget": budget,
                "run": name,
                "seed": seed,
                "bits": bits,
                # parameter-weighted average over the layers' weights, as the allocator counts it
                "avg_bits": weight_memory_bits(weights, list(bits.values())) / sum(weights),
                "accuracy": m["test_accuracy"],
                "validation_accuracy": m["validation_accuracy"],
                "selected_epoch": m["selected_epoch"],
                "weight_memory_bits": m["weight_memory_bits"],
                "reduction_vs_fp32_pct": 100 * (1 - m["weight_memory_bits"] / fp32["weight_memory_bits"]),
                "drop_vs_fp32_points": 100 * (fp32["accuracy"] - m["test_accuracy"]),
                "validation_drop_vs_fp32_points": 100 * (fp32["validation_accuracy"] - m["validation_accuracy"]),
                "synops_per_sample": m["synops_per_sample"],
                "loihi": loihi_memory(work / name / "checkpoint.pt") if loihi else None,
            }
        )
    # every mixed run of a seed measures the traces of the same FP32 weights on the same samples with the same seed
    first = next(iter(hessians.values()))
    same_traces = all(
        [la["trace"] for la in h["layers"]] == [la["trace"] for la in first["layers"]] for h in hessians.values()
    )
    names = [la["name"] for la in first["layers"]]
    rho = spearman([la["trace_per_param"] for la in first["layers"]], [-sensitivity[n] for n in names])
    return {
        "seed": seed,
        "fp32": fp32,
        "two_bit_accuracy": sensitivity,
        "hessian": first,
        "traces_identical_across_budgets": same_traces,
        "spearman_trace_vs_2bit_drop": rho,
        "rows": rows,
    }


def aggregate(seeds: list[dict], runs: list[tuple[str, float]]) -> list[dict]:
    """One row per (kind, budget): the seeds' figures as mean ± std, the allocation of each seed."""
    out = []
    for kind, budget in runs:
        per = [next(r for r in s["rows"] if r["kind"] == kind and r["budget"] == budget) for s in seeds]
        allocs = [bits_text(r["bits"]) for r in per]
        out.append(
            {
                "kind": kind,
                "budget": budget,
                "run": per[0]["run"],
                "bits_per_seed": {str(r["seed"]): r["bits"] for r in per},
                "allocation_same_across_seeds": len(set(allocs)) == 1,
                **{
                    k: stats([r[k] for r in per])
                    for k in (
                        "avg_bits",
                        "accuracy",
                        "validation_accuracy",
                        "reduction_vs_fp32_pct",
                        "drop_vs_fp32_points",
                        "validation_drop_vs_fp32_points",
                        "synops_per_sample",
                    )
                },
            }
        )
    return out


def compare(seeds: list[dict], budgets: list[float], uniform: list[int]) -> list[dict]:
    """Mixed budget B against uniform B bits, paired by seed (mixed − uniform)."""
    out = []
    for b in [b for b in budgets if b in uniform]:
        pairs = []
        for s in seeds:
            mx = next(r for r in s["rows"] if r["kind"] == MIXED and r["budget"] == b)
            un = next(r for r in s["rows"] if r["kind"] == UNIFORM and r["budget"] == b)
            pairs.append((mx, un))
        out.append(
            {
                "budget": b,
                "mixed_bits_per_seed": {str(mx["seed"]): mx["bits"] for mx, _ in pairs},
                "mixed_avg_bits_per_seed": {str(mx["seed"]): mx["avg_bits"] for mx, _ in pairs},
                "allocation_uniform_on_seeds": [mx["seed"] for mx, _ in pairs if len(set(mx["bits"].values())) == 1],
                "test_points_mixed_minus_uniform": stats([100 * (mx["accuracy"] - un["accuracy"]) for mx, un in pairs]),
                "validation_points_mixed_minus_uniform": stats(
                    [100 * (mx["validation_accuracy"] - un["validation_accuracy"]) for mx, un in pairs]
                ),
            }
        )
    return out


def plot(agg: list[dict], fp32_acc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    for kind, marker, dx in ((MIXED, "o", -0.03), (UNIFORM, "s", 0.03)):
        pts = sorted(
            (r["avg_bits"]["mean"] + dx, 100 * r["accuracy"]["mean"], 100 * r["accuracy"]["std"])
            for r in agg
            if r["kind"] == kind
        )
        if pts:
            x, y, e = zip(*pts)
            ax.errorbar(x, y, yerr=e, marker=marker, capsize=3, label=f"{kind} (mean ± std)")
    n = fp32_acc["n"]
    ax.axhline(100 * fp32_acc["mean"], color="gray", ls="--", label=f"FP32 {100 * fp32_acc['mean']:.2f}% (mean)")
    ax.axhline(100 * fp32_acc["mean"] - 1, color="gray", ls=":", label="FP32 − 1 point")
    ax.set(
        xlabel="average weight bits (allocator's count)",
        ylabel="test accuracy (%)",
        title=f"digits_speck on digits-dvs: QAT fine-tuning from FP32, {n} seeds",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(res: dict, args: argparse.Namespace) -> str:
    seeds, agg, cmp_rows = res["seeds"], res["rows"], res["equal_budget"]
    s0 = seeds[0]
    n = len(seeds)
    fp_acc, fp_val = res["fp32_accuracy"], res["fp32_validation_accuracy"]
    sizes = s0["fp32"]["split_sizes"]
    n_test = sizes["test"]
    stored_kb = s0["fp32"]["weight_memory_bits"] / 8e3
    md = [
        "# Hessian-aware mixed precision: digits_speck on digits-dvs",
        "",
        *(
            [
                f"**Partial: {len(seeds)} of {len(res['seeds_asked'])} seeds done** "
                f"({', '.join(map(str, res['seeds_done']))}); the run goes on.",
                "",
            ]
            if res["partial"]
            else []
        ),
        f"Seeds {', '.join(str(s['seed']) for s in seeds)} (n = {n}); each figure is mean ± sample std (ddof=1) over "
        "the seeds, the per-seed values in brackets. Per seed: its own full-precision model, its own Hessian traces, "
        "its own allocation, its own fine-tuned models. "
        f"Splits: {sizes['train']} train / {sizes['validation']} validation / {n_test} test samples "
        f"(1 test sample = {100 / n_test:.2f} points). Every run keeps its last epoch; the only choice below (the "
        "acceptance run) is made on the validation split, test accuracy is only reported.",
        "",
        f"Full precision (`train --no-qat --seed S`, {s0['fp32']['epochs']} epochs): test **{pm(fp_acc)}**, "
        f"validation {pm(fp_val)}; {stored_kb:.1f} kB of FP32 weights and biases.",
        "",
        '**"Below FP32"** counts stored parameter bits: Σ over layers of (weights + biases) × the layer\'s bit '
        f"width, against 32 bits each ({s0['fp32']['weight_memory_bits']:,} bits; digits_speck's layers have "
        f"{'no biases' if res['biases'] == 0 else str(res['biases']) + ' biases'}). It is not measured memory "
        "(no activations, no membrane state, no chip words). **Avg bits** is the allocator's count: "
        "Σ n_l·b_l / Σ n_l over the layers' weights.",
        "",
        f"## Layer sensitivity (seed {s0['seed']}; Hutchinson, {s0['hessian']['iterations']} probes, "
        f"{s0['hessian']['samples']} training samples)",
        "",
        "| layer | params | trace | trace / param | rank | test accuracy with this layer at 2 bits (no retraining) |",
        "|---|---|---|---|---|---|",
    ]
    for la in s0["hessian"]["layers"]:
        md.append(
            f"| {la['name']} | {la['params']:,} | {la['trace']:.4g} | {la['trace_per_param']:.3g} | "
            f"{la['rank']} | {100 * s0['two_bit_accuracy'][la['name']]:.2f}% |"
        )
    md += [
        "",
        f"Seed {s0['seed']}: ranking (most sensitive first) {' > '.join(s0['hessian']['ranking'])}; Spearman "
        "correlation between trace per parameter and the accuracy lost at 2 bits "
        f"{s0['spearman_trace_vs_2bit_drop']:+.2f}.",
        "",
        "Every seed (trace per parameter per layer; the traces of one seed are "
        + (
            "identical for every budget, as they should be: same weights, samples and seed)"
            if all(s["traces_identical_across_budgets"] for s in seeds)
            else "NOT identical across budgets on every seed — see the json)"
        )
        + ":",
        "",
        "| seed | FP32 test | FP32 validation | "
        + " | ".join(f"{la['name']} trace/param" for la in s0["hessian"]["layers"])
        + " | ranking | 2-bit test accuracy per layer | Spearman |",
        "|---|---|---|" + "---|" * len(s0["hessian"]["layers"]) + "---|---|---|",
    ]
    for s in seeds:
        md.append(
            f"| {s['seed']} | {100 * s['fp32']['accuracy']:.2f}% | {100 * s['fp32']['validation_accuracy']:.2f}% | "
            + " | ".join(f"{la['trace_per_param']:.3g}" for la in s["hessian"]["layers"])
            + f" | {' > '.join(s['hessian']['ranking'])} | "
            + ", ".join(f"{k} {100 * v:.1f}%" for k, v in s["two_bit_accuracy"].items())
            + f" | {s['spearman_trace_vs_2bit_drop']:+.2f} |"
        )
    names = list(s0["hessian"]["layers"][i]["name"] for i in range(len(s0["hessian"]["layers"])))
    md += [
        "",
        f"## The allocator's choice per budget and seed (bits {'/'.join(names)})",
        "",
        "| budget | " + " | ".join(f"seed {s['seed']}" for s in seeds) + " | same on every seed |",
        "|---|" + "---|" * n + "---|",
    ]
    for r in agg:
        if r["kind"] != MIXED:
            continue
        per = r["bits_per_seed"]
        md.append(
            f"| {r['budget']:g} | "
            + " | ".join(
                f"{bits_text(per[str(s['seed'])])} ({r['avg_bits']['per_seed'][i]:.2f})" for i, s in enumerate(seeds)
            )
            + f" | {'yes' if r['allocation_same_across_seeds'] else 'no'} |"
        )
    md += [
        "",
        "(in brackets: the average bits the allocation spends; the allocator may stay below the budget.)",
        "",
        f"## Mixed precision against uniform widths (QAT fine-tuning from each seed's FP32 weights, {args.epochs} "
        f"epochs, lr {args.lr:g})",
        "",
        f"| model | bits {'/'.join(names)} | avg bits | below FP32 | test accuracy | validation accuracy | "
        "test vs FP32 (points, paired) |",
        "|---|---|---|---|---|---|---|",
        f"| FP32 | 32 | 32 | — | {pm(fp_acc)} | {pm(fp_val)} | — |",
    ]
    for r in agg:
        per = r["bits_per_seed"]
        bits = (
            bits_text(next(iter(per.values())))
            if r["allocation_same_across_seeds"]
            else "; ".join(f"s{k}: {bits_text(v)}" for k, v in per.items())
        )
        label = f"`--bits auto --bit-budget {r['budget']:g}`" if r["kind"] == MIXED else f"`--bits {r['budget']:g}`"
        avg = r["avg_bits"]
        avg_text = f"{avg['mean']:.2f}" if avg["std"] == 0 else f"{avg['mean']:.2f} ± {avg['std']:.2f}"
        red = r["reduction_vs_fp32_pct"]
        red_text = f"{red['mean']:.1f} %" if red["std"] == 0 else f"{red['mean']:.1f} ± {red['std']:.1f} %"
        gain = stats([0.0 - v for v in r["drop_vs_fp32_points"]["per_seed"]])
        md.append(
            f"| {label} | {bits} | {avg_text} | {red_text} | {pm(r['accuracy'])} | {pm(r['validation_accuracy'])} | "
            f"{pm(gain, 1.0, 2, '', True)} |"
        )
    md += [
        "",
        "## At equal average bits: mixed budget B against uniform B bits (paired by seed, mixed − uniform)",
        "",
        "| budget | allocator's bits per seed | test accuracy, mixed − uniform (points) | "
        "validation, mixed − uniform (points) | allocation uniform on seeds |",
        "|---|---|---|---|---|",
    ]
    for c in cmp_rows:
        md.append(
            f"| {c['budget']:g} | "
            + "; ".join(f"s{k}: {bits_text(v)}" for k, v in c["mixed_bits_per_seed"].items())
            + f" | {pm(c['test_points_mixed_minus_uniform'], 1.0, 2, '', True)} | "
            f"{pm(c['validation_points_mixed_minus_uniform'], 1.0, 2, '', True)} | "
            f"{', '.join(map(str, c['allocation_uniform_on_seeds'])) or 'none'} |"
        )
    extra = [b for b in res["budgets"] if b not in res["uniform"]]
    if extra:
        md += [
            "",
            f"Budget{'s' if len(extra) > 1 else ''} {', '.join(f'{b:g}' for b in extra)}: no uniform run of the "
            "same average bits exists (uniform widths are whole bits), so it is shown above and compared with "
            "nothing.",
        ]
    md += [
        "",
        f"## Loihi synaptic memory (seed {s0['seed']}'s models only)",
        "",
        "| model | bits | Loihi synapses | Loihi cores |",
        "|---|---|---|---|",
        f"| int8 reference (`models/digits_speck.pt`, the committed model) | 8 | "
        f"{res['int8_loihi']['synaptic_memory_bytes'] / 1e3:.1f} kB | {res['int8_loihi']['cores']} |",
    ]
    for r in s0["rows"]:
        md.append(
            f"| {r['kind']}, budget {r['budget']:g} | {bits_text(r['bits'])} | "
            f"{r['loihi']['synaptic_memory_bytes'] / 1e3:.1f} kB | {r['loihi']['cores']} |"
        )
    chosen = res["chosen_on_validation"]
    md += [
        "",
        "Loihi columns: synaptic memory and cores on the `loihi` profile (`hw.neurocore`: per-neuron synapses "
        "at each layer's integer width, a lower bound); Speck's kernel memory has fixed 8-bit words, so narrower "
        "weights do not free Speck memory.",
        "",
        "Acceptance (issue 7): a mixed-precision model ≥ 50 % below FP32 weight memory at ≤ 1 point below FP32, "
        "chosen on the validation split (the largest budget whose mean validation drop over the seeds is ≤ 1 point), "
        f"its test accuracy reported: **{'yes' if res['accepted'] else 'no'}**"
        + (
            f" ({chosen['run']}: {chosen['reduction_vs_fp32_pct']:.1f}% smaller, "
            f"{rounded(-chosen['validation_drop_vs_fp32_points']):+.2f} points on validation, "
            f"{rounded(-chosen['drop_vs_fp32_points']):+.2f} on test, means over {n} seeds)"
            if chosen
            else " (no mixed-precision model within 1 point on the validation split)"
        ),
        "",
        "Measured with `" + res["command"] + f"` on {platform.machine()} with {os.cpu_count()} cores, "
        f"{args.threads} torch thread, **shared machine** (other jobs on the same cores), "
        f"{res['wall_s'] / 60:.0f} min in all.",
    ]
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (each: FP32 model, traces, fine-tuning)")
    ap.add_argument("--budgets", default="4,3,2.5,2", help="mixed precision: average bits per weight, comma-separated")
    ap.add_argument("--uniform", default="4,3,2", help="uniform widths to compare with, comma-separated")
    ap.add_argument("--epochs", type=int, default=6, help="QAT fine-tuning epochs per model")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--work", type=Path, default=Path("runs/hessian_bits"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--fp32-epochs", type=int, help="epochs of the full-precision model [model default]")
    ap.add_argument("--threads", type=int, default=1, help="torch threads [1: the machine is shared]")
    ap.add_argument(
        "--resume", action="store_true", help="reuse finished runs in --work with the same options (after a stop)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    budgets = [float(b) for b in args.budgets.split(",")]
    uniform = [int(b) for b in args.uniform.split(",")]
    runs = sorted([(MIXED, b) for b in budgets] + [(UNIFORM, float(b)) for b in uniform], key=lambda r: (-r[1], r[0]))
    seed_list = [int(s) for s in args.seeds.split(",")]
    seeds: list[dict] = []
    for i, seed in enumerate(seed_list):
        seeds.append(run_seed(seed, args, runs, loihi=i == 0))
        # written after every seed, so an interrupted run leaves the seeds it finished (marked partial)
        write_results(seeds, seed_list, runs, budgets, uniform, args, t0)


def write_results(
    seeds: list[dict],
    seed_list: list[int],
    runs: list[tuple[str, float]],
    budgets: list[float],
    uniform: list[int],
    args: argparse.Namespace,
    t0: float,
) -> None:
    agg = aggregate(seeds, runs)
    mixed = [r for r in agg if r["kind"] == MIXED]
    # the acceptance choice, on the seeds' mean validation figures (test figures only reported)
    chosen, accepted = choose_mixed(
        [
            {
                "run": r["run"],
                "reduction_vs_fp32_pct": r["reduction_vs_fp32_pct"]["mean"],
                "validation_drop_vs_fp32_points": r["validation_drop_vs_fp32_points"]["mean"],
                "drop_vs_fp32_points": r["drop_vs_fp32_points"]["mean"],
            }
            for r in mixed
        ]
    )
    s0 = seeds[0]
    fp_model, _ = load_checkpoint(args.work / f"seed_{s0['seed']}" / "fp32" / "checkpoint.pt")
    result = {
        "command": " ".join(["python benchmarks/hessian_bits.py", *sys.argv[1:]]),
        "seeds_done": [s["seed"] for s in seeds],
        "seeds_asked": seed_list,
        "partial": len(seeds) < len(seed_list),
        "budgets": budgets,
        "uniform": uniform,
        "epochs": args.epochs,
        "lr": args.lr,
        "below_fp32_counts": "stored parameter bits: (weights + biases) x layer bit width, against 32 bits each; "
        "not measured memory",
        "avg_bits_counts": "the allocator's: sum n_l*b_l / sum n_l over the layers' weights",
        "biases": sum(int(b.conv.bias.numel()) for b in fp_model.chip_blocks if b.conv.bias is not None),
        "fp32_accuracy": stats([s["fp32"]["accuracy"] for s in seeds]),
        "fp32_validation_accuracy": stats([s["fp32"]["validation_accuracy"] for s in seeds]),
        "rows": agg,
        "equal_budget": compare(seeds, budgets, uniform),
        "allocation_differs_between_seeds": {f"{r['budget']:g}": not r["allocation_same_across_seeds"] for r in mixed},
        "chosen_on_validation": chosen,
        "accepted": accepted,
        "int8_loihi": loihi_memory(Path(__file__).parents[1] / "models" / "digits_speck.pt"),
        "seeds": seeds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch thread(s), shared",
        "wall_s": round(time.time() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    plot(agg, result["fp32_accuracy"], args.out / "hessian_bits.png")
    first_mixed = next(r for r in s0["rows"] if r["kind"] == MIXED)
    plot_traces(
        hessian_from_record(s0["hessian"]),
        args.out / "hessian_bits_traces.png",
        bits=first_mixed["bits"],
        title=f"Hessian trace per parameter, seed {s0['seed']}'s FP32 model; bits at budget {first_mixed['budget']:g}",
    )
    md = markdown(result, args)
    (args.out / "hessian_bits.md").write_text(md)
    (args.out / "hessian_bits.json").write_text(json.dumps(result, indent=2))
    print(md)


if __name__ == "__main__":
    main()

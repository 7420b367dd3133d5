"""Hessian-aware mixed precision on digits-dvs (issue 7 acceptance, seed 0's experiment).

1. Full precision: ``qsnn-deploy train --no-qat`` (the model's default epochs).
2. Sensitivity check without retraining: the FP32 weights with one layer at 2 bits (others 8), QAT
   evaluation; the accuracy each layer loses is compared with the Hessian ranking.
3. ``train --bits auto --bit-budget B --init FP32`` for each budget: Hessian traces (Hutchinson) on
   training samples, bits per layer by the allocator, QAT fine-tuning at those widths; against
   ``train --bits b --init FP32`` (uniform widths, same epochs) at the same average bits.
4. Loihi: synaptic memory and cores of the int8 and the mixed-precision networks (``hw.neurocore``).

Writes ``benchmarks/results/hessian_bits.{md,json,png}`` and ``hessian_bits_traces.png``.

    python benchmarks/hessian_bits.py          # about 15 min on 2 CPU cores
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

from qsnn_deploy.hw.neurocore import place_neurons
from qsnn_deploy.hw.profile import load_profile
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.framed import framed_split
from qsnn_deploy.progress import log
from qsnn_deploy.quant.chip import discretize_network
from qsnn_deploy.train import TrainConfig, train
from qsnn_deploy.train.allocate import FP32_BITS, apply_bits
from qsnn_deploy.train.evaluation import evaluate
from qsnn_deploy.train.hessian import HessianResult
from qsnn_deploy.train.plots import plot_traces

RESULTS = Path(__file__).parent / "results"


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
    """Test accuracy of the checkpoint's weights under QAT with one layer at 2 bits, per layer."""
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
    accuracy (only reported) is within 1 point of FP32's too."""
    ok = [r for r in mixed if r["reduction_vs_fp32_pct"] >= 50 and r["validation_drop_vs_fp32_points"] <= 1]
    if not ok:
        return None, False
    return ok[0], ok[0]["drop_vs_fp32_points"] <= 1


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def plot(rows: list[dict], fp32: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    for kind, marker in (("mixed (Hessian)", "o"), ("uniform", "s")):
        pts = sorted((r["avg_bits"], 100 * r["accuracy"]) for r in rows if r["kind"] == kind)
        if pts:
            ax.plot(*zip(*pts), marker=marker, label=kind)
    ax.axhline(100 * fp32["accuracy"], color="gray", ls="--", label=f"FP32 {100 * fp32['accuracy']:.2f}%")
    ax.axhline(100 * fp32["accuracy"] - 1, color="gray", ls=":", label="FP32 − 1 point")
    ax.set(
        xlabel="average weight bits",
        ylabel="test accuracy (%)",
        title="digits_speck on digits-dvs: QAT fine-tuning from FP32",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="4,3,2.5", help="mixed precision: average bits per weight, comma-separated")
    ap.add_argument("--uniform", default="4,3,2", help="uniform widths to compare with, comma-separated")
    ap.add_argument("--epochs", type=int, default=6, help="QAT fine-tuning epochs per model")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--work", type=Path, default=Path("runs/hessian_bits"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--limit", type=int, help="first N samples of each split (smoke runs only)")
    ap.add_argument("--fp32-epochs", type=int, help="epochs of the full-precision model [model default]")
    args = ap.parse_args()
    t0 = time.time()
    work = args.work
    budgets = [float(b) for b in args.budgets.split(",")]

    log("1. full-precision training (--no-qat)")
    fp_metrics = train(
        TrainConfig(quantize=False, epochs=args.fp32_epochs, limit=args.limit),
        work / "fp32",
        overwrite=True,
        progress=False,
        log=log,
    )
    fp_ckpt = work / "fp32" / "checkpoint.pt"
    time_bins = fp_metrics["time_bins"]
    fp32 = {
        "accuracy": fp_metrics["test_accuracy"],
        "validation_accuracy": fp_metrics["validation_accuracy"],
        "weight_memory_bits": FP32_BITS * fp_metrics["n_parameters"],
        "synops_per_sample": fp_metrics["synops_per_sample"],
    }

    log("2. one layer at 2 bits, no retraining")
    sensitivity = two_bit_sensitivity(fp_ckpt, time_bins, args.limit)
    n_test = len(framed_split("digits-dvs", "test", time_bins, progress=False, limit=args.limit).labels)

    rows = []
    runs = [("mixed (Hessian)", b) for b in budgets] + [("uniform", int(b)) for b in args.uniform.split(",")]
    for kind, budget in sorted(runs, key=lambda r: (-r[1], r[0])):
        name = f"{'mixed' if kind.startswith('mixed') else 'uniform'}_{budget:g}"
        cfg = TrainConfig(
            init=str(fp_ckpt),
            epochs=args.epochs,
            lr=args.lr,
            limit=args.limit,
            bits="auto" if kind.startswith("mixed") else f"{budget:g}",
            bit_budget=f"{budget:g}" if kind.startswith("mixed") else None,
        )
        log(f"3. {kind}, {budget:g} bits on average")
        m = train(cfg, work / name, overwrite=True, progress=False, log=log)
        rows.append(
            {
                "kind": kind,
                "budget": budget,
                "run": name,
                "bits": m["weight_bits"],
                "accuracy": m["test_accuracy"],
                "validation_accuracy": m["validation_accuracy"],
                "weight_memory_bits": m["weight_memory_bits"],
                "avg_bits": m["weight_memory_bits"] / m["n_parameters"],
                "reduction_vs_fp32_pct": 100 * (1 - m["weight_memory_bits"] / fp32["weight_memory_bits"]),
                "drop_vs_fp32_points": 100 * (fp32["accuracy"] - m["test_accuracy"]),
                "validation_drop_vs_fp32_points": 100 * (fp32["validation_accuracy"] - m["validation_accuracy"]),
                "synops_per_sample": m["synops_per_sample"],
                "loihi": loihi_memory(work / name / "checkpoint.pt"),
            }
        )

    mixed = [r for r in rows if r["kind"].startswith("mixed")]
    # the traces tabled and plotted: those of the first mixed-precision run (all runs start from the FP32 weights)
    hessian = json.loads((work / mixed[0]["run"] / "hessian.json").read_text())["hessian"]
    result_h = hessian_from_record(hessian)
    names = list(result_h.names)
    drops = [fp32["accuracy"] - sensitivity[n] for n in names]
    rho = spearman(list(result_h.trace_per_param), drops)
    int8_loihi = loihi_memory(Path(__file__).parents[1] / "models" / "digits_speck.pt")
    wall = time.time() - t0

    chosen, accepted = choose_mixed(mixed)
    ok = [] if chosen is None else [chosen]
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, fp32, args.out / "hessian_bits.png")
    plot_traces(
        result_h,
        args.out / "hessian_bits_traces.png",
        bits=mixed[0]["bits"],
        title=f"Hessian trace per parameter of the FP32 model, bits at {mixed[0]['budget']:g} on average",
    )
    md = [
        "# Hessian-aware mixed precision: digits_speck on digits-dvs",
        "",
        f"Full precision (`train --no-qat`, {fp_metrics['epochs']} epochs): **{100 * fp32['accuracy']:.2f}%** "
        f"({fp32['weight_memory_bits'] / 8e3:.1f} kB of FP32 weights and biases). Test split: {n_test} samples "
        f"(1 sample = {100 / n_test:.2f} points).",
        "",
        f"## Layer sensitivity (Hutchinson, {result_h.iterations} probes, {result_h.samples} training samples)",
        "",
        "| layer | params | trace | trace / param | rank | accuracy with this layer at 2 bits (no retraining) |",
        "|---|---|---|---|---|---|",
    ]
    for la in hessian["layers"]:
        md.append(
            f"| {la['name']} | {la['params']:,} | {la['trace']:.4g} | {la['trace_per_param']:.3g} | "
            f"{la['rank']} | {100 * sensitivity[la['name']]:.2f}% |"
        )
    md += [
        "",
        f"Ranking (most sensitive first): {' > '.join(result_h.ranking)}. Spearman correlation between trace "
        f"per parameter and the accuracy lost at 2 bits: {rho:+.2f}.",
        "",
        f"## Mixed precision against uniform widths (QAT fine-tuning from the FP32 weights, {args.epochs} epochs, "
        f"lr {args.lr:g})",
        "",
        "| model | bits per layer | avg bits | weight memory | below FP32 | accuracy | vs FP32 | Loihi synapses | "
        "Loihi cores |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| FP32 | 32 | 32 | {fp32['weight_memory_bits'] / 8e3:.1f} kB | — | "
        f"{100 * fp32['accuracy']:.2f}% | — | — | — |",
        f"| int8 reference (`models/digits_speck.pt`) | 8 | 8 | {fp32['weight_memory_bits'] / 32 / 1e3:.1f} kB | "
        f"75.0% | 98.61% | | {int8_loihi['synaptic_memory_bytes'] / 1e3:.1f} kB | {int8_loihi['cores']} |",
    ]
    for r in rows:
        md.append(
            f"| {r['kind']}, budget {r['budget']:g} | {'/'.join(str(b) for b in r['bits'].values())} | "
            f"{r['avg_bits']:.2f} | {r['weight_memory_bits'] / 8e3:.1f} kB | {r['reduction_vs_fp32_pct']:.1f}% | "
            f"{100 * r['accuracy']:.2f}% | {0.0 - r['drop_vs_fp32_points']:+.2f} pt | "
            f"{r['loihi']['synaptic_memory_bytes'] / 1e3:.1f} kB | {r['loihi']['cores']} |"
        )
    md += [
        "",
        "Loihi columns: synaptic memory and cores on the `loihi` profile (`hw.neurocore`: per-neuron synapses "
        "at each layer's integer width, a lower bound); Speck's kernel memory has fixed 8-bit words, so narrower "
        "weights do not free Speck memory.",
        "",
        "Acceptance (issue 7): a mixed-precision model ≥ 50 % below FP32 weight memory at ≤ 1 point below FP32 "
        "(chosen on the validation split, its test accuracy reported): "
        f"**{'yes' if accepted else 'no'}**"
        + (
            f" ({ok[0]['run']}: {ok[0]['reduction_vs_fp32_pct']:.1f}% smaller, "
            f"{0.0 - ok[0]['validation_drop_vs_fp32_points']:+.2f} points on validation, "
            f"{0.0 - ok[0]['drop_vs_fp32_points']:+.2f} on test)"
            if ok
            else " (no mixed-precision model within 1 point on the validation split)"
        ),
        "",
        "Measured with `" + " ".join(["python benchmarks/hessian_bits.py", *sys.argv[1:]]) + "` on "
        f"{platform.machine()} with {os.cpu_count()} cores, {wall / 60:.0f} min in all.",
    ]
    (args.out / "hessian_bits.md").write_text("\n".join(md) + "\n")
    (args.out / "hessian_bits.json").write_text(
        json.dumps(
            {
                "fp32": fp32,
                "two_bit_accuracy": sensitivity,
                "spearman_trace_vs_2bit_drop": rho,
                "hessian": hessian,
                "rows": rows,
                "int8_loihi": int8_loihi,
                "accepted": accepted,
                "chosen_on_validation": ok[0]["run"] if ok else None,
                "wall_s": round(wall, 1),
            },
            indent=2,
        )
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()

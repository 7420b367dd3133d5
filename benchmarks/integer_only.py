"""Integer-only training (seed 1, "Quantizing SNNs with Integers") against its full-precision twin.

Two experiments, each run twice with identical settings, once with every number of training on an integer
grid and once in float32:

1. local (DECOLLE-like) learning of the ``digits_speck`` chip network on the built-in ``digits-dvs`` data
   (:func:`qsnn_deploy.train.integer_only.train_integer_only`, default bit widths wb 8, ub 16, sb 6, ab 6,
   sig 6, eb 6, gb 10, rb 16): test accuracy, accuracy after the chip's discretisation, training memory;
   compared with the seed's "2.4 points lost for 74 % less memory on DVS Gesture" (94.10 → 91.67 %);
2. the ISCAS'20 spatio-temporal pattern task (700 → 400 → 250 LIF, van Rossum loss,
   :func:`qsnn_deploy.train.pattern_task.run_pattern_task`, wb 2, ab 8, eb 8, gb 8, rb 16): final van Rossum
   distance and memory.

The four runs go to ``--jobs`` worker processes with one torch thread each (OpenMP threads that compete
with other processes for few cores slow CPU training down a hundredfold).

Run: .venv/bin/python benchmarks/integer_only.py   (6 min on 2 lightly loaded cores, expect up to ~12 when
they are busy; writes benchmarks/results/integer_only.{json,md,png})
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).parent / "results"
SEED_RESULT = {
    "fp_accuracy": 0.9410,
    "int_accuracy": 0.9167,
    "memory_saved": 0.7378,
    "source": "ICONS'20 abstract (73.78 %) and the repo's figure_scripts/eval_icons.py (94.10 vs 91.67 %), DVS Gesture",
}


def _digits(integer: bool, epochs: int, seed: int, limit: int | None, workdir: str) -> dict:
    import torch

    torch.set_num_threads(1)
    from qsnn_deploy.train.integer_bits import IntegerBits
    from qsnn_deploy.train.integer_only import train_integer_only

    name = "int" if integer else "fp"
    return train_integer_only(
        "digits_speck",
        "digits-dvs",
        Path(workdir) / name,
        epochs=epochs,
        seed=seed,
        bits=IntegerBits() if integer else None,
        limit=limit,
        progress=False,
        device="cpu",
    )


def _pattern(integer: bool, epochs: int, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from qsnn_deploy.train.pattern_task import PatternBits, run_pattern_task

    result = run_pattern_task(epochs, PatternBits() if integer else None, seed, rasters=True)
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.items()}


def _plot(digits: dict, pattern: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(1, 5, figsize=(19, 3.6), gridspec_kw={"width_ratios": [1.3, 1.3, 1, 1, 1]})
    for key, label in (("int", "integer-only"), ("fp", "full precision")):
        hist = digits[key]["history"]
        ax[0].plot([h["epoch"] for h in hist], [100 * h["test_accuracy"] for h in hist], marker="o", label=label)
        ax[1].plot(pattern[key]["history"], label=label)
    ax[0].set(xlabel="epoch", ylabel="test accuracy (%)", title="digits-dvs, local learning")
    ax[1].axhline(pattern["int"]["silent_distance"], color="gray", ls=":", label="silent output")
    ax[1].set(xlabel="epoch", ylabel="van Rossum distance", title="pattern task", yscale="log")
    for a in ax[:2]:
        a.legend()
    for a, (raster, title) in zip(
        ax[2:],
        (
            (pattern["int"]["target"], "target"),
            (pattern["int"]["output"], "integer output"),
            (pattern["fp"]["output"], "full-precision output"),
        ),
    ):
        a.imshow(np.asarray(raster).T, aspect="auto", cmap="gray_r", interpolation="nearest")
        a.set(xlabel="time step", ylabel="neuron", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _markdown(res: dict, command: str) -> str:
    d, p, m = res["digits"], res["pattern"], res["machine"]
    di, df = d["int"], d["fp"]
    s = SEED_RESULT
    gap = 100 * (df["test_accuracy"] - di["test_accuracy"])
    samples = "all" if di["limit"] is None else di["limit"]
    lines = [
        "# Integer-only training (benchmarks/integer_only.py)",
        "",
        (
            f"Command: `{command}` — wall time {res['wall_time_s'] / 60:.1f} min on {m['cpus']} CPUs "
            f"({m['processor']}, torch {m['torch']}, {res['jobs']} worker processes × 1 thread, other jobs "
            "running on the same cores)."
        ),
        "",
        (
            f"## 1. Local learning on digits-dvs ({di['epochs']} epochs, batch {di['batch_size']}, "
            f"{di['time_bins']} bins, lr_int {di['lr_int']:g} halved every {di['lr_halve_every']} epochs, "
            f"seed {di['seed']}, {samples} samples)"
        ),
        "",
        (
            "| run | test accuracy | after chip discretisation | local readouts (conv1 / conv2 / conv3) | "
            "SynOps/sample | training memory | train time |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("integer-only", di), ("full precision", df)):
        loc = " / ".join(f"{100 * v:.1f}" for k, v in r["local_accuracies"].items() if k != "fc")
        lines.append(
            f"| {name} | {100 * r['test_accuracy']:.2f} % | {100 * r['chip_test_accuracy']:.2f} % | "
            f"{loc} % | {r['synops_per_sample'] / 1e6:.2f} M | {r['memory_bits'] / 8e3:.1f} kB | "
            f"{r['train_time_s'] / 60:.1f} min |"
        )
    lines += [
        "",
        (
            f"Full precision minus integer-only: **{gap:+.2f} points**, for **{100 * di['memory_saved']:.1f} % "
            f"less training memory**. The seed: **{100 * (s['fp_accuracy'] - s['int_accuracy']):+.2f} points** "
            f"({100 * s['fp_accuracy']:.2f} → {100 * s['int_accuracy']:.2f} %) for **{100 * s['memory_saved']:.2f} "
            f"% less** ({s['source']}). Different network (Speck's IAF, 3 conv + 1 linear core, 19 k weights), "
            'data and training length: compare the direction and size, not the digits. "After chip '
            "discretisation\" is the checkpoint as `qsnn-deploy convert` rescales it to Speck's int8/int16 "
            "(the spikes of the emulator)."
        ),
        "",
        "Training memory, elements × bits per sample and time step:",
        "",
        res["memory_table"].strip(),
        "",
        f"## 2. ISCAS'20 pattern task ({p['int']['epochs']} epochs, 700 → 400 → 250, 250 steps)",
        "",
        (
            "| run | bits | final van Rossum distance | first epoch | output spikes (target "
            f"{p['int']['target_spikes']}) | memory | train time |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("quantised", p["int"]), ("full precision", p["fp"])):
        bits = "FP32" if r["bits"] is None else ", ".join(f"{k} {v}" for k, v in r["bits"].items())
        lines.append(
            f"| {name} | {bits} | {r['final_distance']:.2f} | {r['initial_distance']:.2f} | "
            f"{r['output_spikes']} | {r['memory']['total_bits'] / 8e3:.1f} kB | "
            f"{r['train_time_s'] / 60:.1f} min |"
        )
    silent = p["int"]["silent_distance"]
    below = ", ".join(
        f"{name} {100 * (1 - p[k]['final_distance'] / silent):+.1f} %"
        for k, name in (("int", "quantised"), ("fp", "full precision"))
    )
    lines += [
        "",
        (
            f"A silent output scores {silent:.2f}; distance below that: {below}. Quantised training memory "
            f"is {100 * p['int']['memory_saved']:.1f} % below FP32 (weights, syn + mem states, gradients, "
            "errors; Adamax's moments left out of both). The seed trains 10,000 epochs; here both runs first "
            "silence the over-active output, then place spikes on the target slowly (the SuperSpike "
            "surrogate, scale 100, only passes gradient close to threshold)."
        ),
        "",
        "![curves](integer_only.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12, help="digits-dvs epochs per run [12]")
    ap.add_argument("--pattern-epochs", type=int, default=800, help="pattern-task epochs per run [800]")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N samples of each split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes [2]")
    ap.add_argument("--out", type=Path, default=OUT, help="results folder [benchmarks/results]")
    args = ap.parse_args()
    command = " ".join(["python benchmarks/integer_only.py", *(shlex.quote(a) for a in sys.argv[1:])])
    t0 = time.time()
    os.environ["OMP_NUM_THREADS"] = "1"  # workers: one OpenMP thread each
    import torch

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as work, ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        jobs = {
            ("digits", "int"): pool.submit(_digits, True, args.epochs, args.seed, args.limit, work),
            ("digits", "fp"): pool.submit(_digits, False, args.epochs, args.seed, args.limit, work),
            ("pattern", "int"): pool.submit(_pattern, True, args.pattern_epochs, args.seed),
            ("pattern", "fp"): pool.submit(_pattern, False, args.pattern_epochs, args.seed),
        }
        done = {key: job.result() for key, job in jobs.items()}
        memory_md = (Path(work) / "int" / "memory.md").read_text().split("\n", 2)[2]
        memory = json.loads((Path(work) / "int" / "memory.json").read_text())
    digits = {"int": done[("digits", "int")] | {"memory": memory}, "fp": done[("digits", "fp")]}
    pattern = {"int": done[("pattern", "int")], "fp": done[("pattern", "fp")]}
    res = {
        "command": command,
        "wall_time_s": round(time.time() - t0, 1),
        "jobs": args.jobs,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "seed_result": SEED_RESULT,
        "digits": digits,
        "pattern": pattern,
        "memory_table": memory_md,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(digits, pattern, args.out / "integer_only.png")
    slim = {
        **res,
        "pattern": {
            k: {f: v for f, v in r.items() if f not in ("input", "target", "output")} for k, r in pattern.items()
        },
    }
    (args.out / "integer_only.json").write_text(json.dumps(slim, indent=1))
    (args.out / "integer_only.md").write_text(_markdown(res, command))
    print(_markdown(res, command))


if __name__ == "__main__":
    main()

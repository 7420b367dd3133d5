"""Local learning rules (DECOLLE, ELL, BELL, FELL) next to BPTT on digits-dvs / digits_speck (issues 8, 18).

Every rule trains the same model on the same data with the same epochs, time bins, batch size, learning rate
and seed, once per seed (``--seeds``, default 0,1,2): BPTT through :func:`qsnn_deploy.train.trainer.train`, the
local rules through :func:`qsnn_deploy.train.local_rules.train_local_rule`. For each run we report the test
accuracy of the quantisation-aware model, the accuracy after chip conversion (the checkpoint loaded with
``load_network``, discretised to Speck's integers as ``convert`` does and run in the binned integer emulator),
the state memory autograd keeps for backprop per sample (the library's ``StateMeter``), the time per epoch and
the SynOps per sample; accuracies and SynOps as mean ± sample std (ddof 1) over the seeds with n and the
per-seed values. A second measurement runs one training batch of every rule at several window lengths T to
show how the state memory grows with T (BPTT, BELL, FELL) or stays constant (DECOLLE, ELL); it depends on
tensor shapes only, not on the seed, and is made once.

No run chooses anything: every rule trains a fixed number of epochs and keeps its last one, and test accuracy
is only reported. The local rules hold out no validation split (the library's local learning trains on the
whole train split), so BPTT runs here with ``--val-fraction 0`` by default (``--bptt-val-fraction``): all five
rules see the same training samples.

Writes benchmarks/results/learning_rules.{md,json,png}.

    python benchmarks/learning_rules.py                                      # the committed results
    python benchmarks/learning_rules.py --seeds 0,1 --epochs 1 --limit 64 --out /tmp/lr   # smoke test
    python benchmarks/learning_rules.py --reuse      # continue a killed run (finished runs are in --work)
    python benchmarks/learning_rules.py --render-only                        # md + png again from the json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qsnn_deploy.train.seed_stats import mean_pm_std, per_seed_text
from qsnn_deploy.train.seed_stats import seed_stats as stats

torch.set_num_threads(int(os.environ.get("LEARNING_RULES_THREADS", "1")))  # see --threads

OUT = Path(__file__).parent / "results"
RULES = ("bptt", "decolle", "ell", "bell", "fell")


def _epoch_times(history: list[dict]) -> list[float]:
    """Seconds per epoch including the per-epoch test evaluation (differences of ``elapsed_s``)."""
    t = [h["elapsed_s"] for h in history]
    return [round(b - a, 2) for a, b in zip([0.0, *t[:-1]], t)]


def _chip_accuracy(run: Path, dataset: str, time_bins: int, limit: int | None) -> dict:
    """Accuracy and SynOps of the checkpoint after chip conversion (integer binned emulation)."""
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.emulate.binned import ensure_quantized, run_binned
    from qsnn_deploy.nets.framed import framed_split

    test = framed_split(dataset, "test", time_bins, progress=False, limit=limit)
    qnet = ensure_quantized(load_network(run / "checkpoint.pt"))
    res = run_binned(qnet, test.frames.numpy())
    return {
        "chip_test_accuracy": float((res.predictions == test.labels.numpy()).mean()),
        "chip_synops_per_sample": float(res.layer_synops.sum(1).mean()),
    }


RUN_SETTINGS = ("model", "dataset", "epochs", "time_bins", "limit", "batch_size", "lr", "bptt_val_fraction")


def run_or_reuse(rule: str, seed: int, args) -> dict:
    """One rule and seed: read from ``--work`` when ``--reuse`` is given and the run there was made with the same
    settings, else train it; every finished run is saved to ``--work`` (a killed benchmark continues with
    ``--reuse``)."""
    saved = args.work / f"{rule}_seed{seed}.json"
    key = {k: getattr(args, k) for k in RUN_SETTINGS} | {"rule": rule, "seed": seed}
    if args.reuse and saved.exists():
        old = json.loads(saved.read_text())
        if old.get("settings") == key:
            print(f"{rule} seed {seed}: reused from {saved}", flush=True)
            return old["metrics"]
    with tempfile.TemporaryDirectory() as work:
        m = train_rule(rule, seed, args, Path(work))
    args.work.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"settings": key, "metrics": m}, indent=1))
    return m


def train_rule(rule: str, seed: int, args, work: Path) -> dict:
    from qsnn_deploy.train.local_rules import train_local_rule
    from qsnn_deploy.train.trainer import TrainConfig, train

    out = work / f"{rule}_seed{seed}"
    t0 = time.time()
    if rule == "bptt":
        m = train(
            TrainConfig(
                model=args.model,
                dataset=args.dataset,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                time_bins=args.time_bins,
                seed=seed,
                limit=args.limit,
                val_fraction=args.bptt_val_fraction,
                device="cpu",
            ),
            out,
            overwrite=True,
            progress=False,
        )
    else:
        m = train_local_rule(
            args.model,
            args.dataset,
            out,
            rule=rule,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            time_bins=args.time_bins,
            seed=seed,
            limit=args.limit,
            overwrite=True,
            progress=False,
            device="cpu",
        )
    wall = time.time() - t0
    m = dict(m)
    m["rule"] = rule
    m["seed"] = seed
    m["run_wall_s"] = round(wall, 1)
    m["epoch_wall_s"] = _epoch_times(m["history"])
    m.update(_chip_accuracy(out, args.dataset, args.time_bins, args.limit))
    print(
        f"{rule} seed {seed}: test {100 * m['test_accuracy']:.2f}%  chip {100 * m['chip_test_accuracy']:.2f}%  "
        f"{wall:.0f} s",
        flush=True,
    )
    return m


def memory_vs_bins(args, seed: int) -> dict:
    """State bytes per sample kept for backprop, one training batch of ``--mem-limit`` samples per T."""
    from qsnn_deploy.nets.framed import framed_split
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import load_spec
    from qsnn_deploy.train.local_net import LocalRuleNet, StateMeter, bptt_state_bytes, run_batch

    spec = load_spec(args.model)
    res: dict[str, list[float]] = {r: [] for r in RULES}
    bins = sorted({int(v) for v in args.mem_bins.split(",")} | {args.time_bins})
    for t_len in bins:
        data = framed_split(args.dataset, "train", t_len, progress=False, limit=args.mem_limit)
        x, y = data.frames, data.labels
        n = len(y)
        torch.manual_seed(seed)
        res["bptt"].append(bptt_state_bytes(SpikingCNN(spec, quantize=True), x) / n)
        for rule in RULES[1:]:
            torch.manual_seed(seed)
            net = LocalRuleNet(spec, rule, seed=seed)
            opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr)
            meter = StateMeter(net)
            run_batch(net, x, y, opt, t_len // 4 if rule == "decolle" else 0, meter)
            res[rule].append(meter.peak / n)
    return {"time_bins": bins, "samples": args.mem_limit, "seed": seed, "bytes_per_sample": res}


def summarise(runs: dict[str, dict[str, dict]], mem: dict, time_bins: int) -> dict:
    """Per rule: accuracies and SynOps over seeds, the spread of the test accuracy over the last half of the
    epochs per seed, the state memory (seed-independent, taken once) and seed 0's time per epoch."""
    out = {}
    for rule, by_seed in runs.items():
        ms = list(by_seed.values())
        first = ms[0]
        epochs = len(first["history"])
        tail = max(1, epochs // 2)
        spreads, swings = [], []
        for m in ms:
            acc = [h["test_accuracy"] for h in m["history"]]
            spreads.append(max(acc[-tail:]) - min(acc[-tail:]))
            window = acc[-tail:]
            swings.append(max((abs(b - a) for a, b in zip(window, window[1:])), default=0.0))
        state = mem["bytes_per_sample"][rule][mem["time_bins"].index(time_bins)]
        per_run = [m.get("peak_state_bytes_per_sample") for m in ms] if rule != "bptt" else []
        deviation = max((abs(v / state - 1) for v in per_run if v), default=0.0)
        loc_keys = [k for k in (first.get("local_accuracies") or {}) if k != "fc"]
        out[rule] = {
            "test_accuracy": stats([m["test_accuracy"] for m in ms]),
            "chip_test_accuracy": stats([m["chip_test_accuracy"] for m in ms]),
            "synops_per_sample": stats([m["synops_per_sample"] for m in ms]),
            "local_accuracies": {k: stats([m["local_accuracies"][k] for m in ms]) for k in loc_keys},
            "chip_changes_predictions": [m["chip_test_accuracy"] != m["test_accuracy"] for m in ms],
            "last_half_epochs": tail,
            "test_range_last_half": stats(spreads),
            "largest_epoch_change_last_half": stats(swings),
            "state_bytes_per_sample": state,
            "state_source": f"memory_vs_time_bins at T = {time_bins} (seed {mem['seed']}, {mem['samples']} samples)",
            "training_run_peak_state_bytes_per_sample": per_run,
            "training_run_peak_max_deviation": deviation,
            "time_per_epoch_s_first_seed": float(np.mean(first["epoch_wall_s"])),
            "time_per_epoch_s_seed": first["seed"],
            "time_per_epoch_s_every_seed": [float(np.mean(m["epoch_wall_s"])) for m in ms],
        }
    return out


def _plot(runs: dict, mem: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"bptt": ("o", "-"), "decolle": ("s", "--"), "ell": ("^", "-."), "bell": ("v", ":"), "fell": ("D", "-")}
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    for rule, by_seed in runs.items():
        acc = 100 * np.array([[h["test_accuracy"] for h in m["history"]] for m in by_seed.values()])
        ep = np.arange(1, acc.shape[1] + 1)
        mk, ls = style.get(rule, ("o", "-"))
        (line,) = ax[0].plot(ep, acc.mean(0), marker=mk, ls=ls, label=f"{rule} (mean, n = {len(acc)})")
        ax[0].fill_between(ep, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.15)
    ax[0].set(
        xlabel="epoch",
        ylabel="test accuracy (%)",
        title="digits-dvs test accuracy per epoch (band: min–max over seeds)",
        ylim=(0, 100),
    )
    ax[0].axhline(10, color="gray", ls=":", lw=1, label="chance")
    ax[0].legend(fontsize=8)
    for rule, ys in mem["bytes_per_sample"].items():
        mk, ls = style.get(rule, ("o", "-"))
        ax[1].plot(
            mem["time_bins"],
            [y / 1024 for y in ys],
            marker=mk,
            ls=ls,
            ms=8 if rule in ("bptt", "decolle") else 5,
            mfc="none" if rule in ("bptt", "decolle") else None,
            label=rule,
        )
    ax[1].set(
        xlabel="time bins T",
        ylabel="state kept for backprop (KiB / sample)",
        title="state memory vs window length T",
        yscale="log",
    )
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _markdown(res: dict) -> str:
    s, summ, mem, mach = res["settings"], res["summary"], res["memory_vs_time_bins"], res["machine"]
    seeds = res["seeds"]
    n = len(seeds)
    samples = (
        "full splits: 1438 train / 359 test samples for digits-dvs"
        if s["limit"] is None
        else f"first {s['limit']} samples of each split"
    )
    t0 = seeds[0]
    bptt_val = s["bptt_val_fraction"]
    lines = [
        "# Local learning rules vs BPTT (benchmarks/learning_rules.py)",
        "",
        f"Command: `{res['command']}` — wall time {res['wall_time_s'] / 60:.1f} min "
        f"(the {n * len(summ)} training runs' own wall times add up to {res['runs_wall_s'] / 60:.1f} min) "
        f"for {n} seeds × "
        f"{len(summ)} rules on {mach['cpus']} CPUs ({mach['processor']}, python {mach['python']}, torch "
        f"{mach['torch']}, {s['threads']} torch thread, runs one after another; shared machine: other people's "
        "jobs ran on the same 2 cores, so times are slower than on an idle machine).",
        "",
        f"Settings (same for every rule): model `{s['model']}`, dataset `{s['dataset']}` ({samples}), "
        f"{s['epochs']} epochs, {s['time_bins']} time bins, batch {s['batch_size']}, lr {s['lr']:g}, seeds "
        f"{', '.join(map(str, seeds))} (n = {n}), quantisation-aware (int8) training, CPU. BPTT uses the trainer's "
        "cosine schedule; the local rules a constant lr (their library defaults).",
        "",
        "Selection: none. Every run trains the fixed number of epochs and keeps its **last** epoch; the test "
        "split is only reported (no best epoch, rule or seed is picked on it). The local rules hold out no "
        "validation split, so BPTT runs with "
        + (
            "`--val-fraction 0` here and all rules train on the same samples."
            if not bptt_val
            else f"`--val-fraction {bptt_val:g}` (it trains on fewer samples than the local rules)."
        ),
        "",
        f"Accuracies and SynOps: mean ± sample std (ddof 1) over n = {n} seeds, per-seed values in seed order "
        f"({', '.join(map(str, seeds))}). State memory is computed from tensor shapes and the same for every seed "
        f"(given once); time / epoch is seed {t0}'s run.",
        "",
        f"| rule | test accuracy (n = {n}) | per seed | after chip conversion | local readouts conv1 / conv2 / conv3 "
        f"(mean) | state kept for backprop / sample | time / epoch (seed {t0}) | SynOps / sample |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule, r in summ.items():
        loc = r["local_accuracies"]
        loc = " / ".join(f"{100 * v['mean']:.1f}" for v in loc.values()) + " %" if loc else "—"
        lines.append(
            f"| {rule} | {mean_pm_std(r['test_accuracy'])} % | {per_seed_text(r['test_accuracy'])} | "
            f"{mean_pm_std(r['chip_test_accuracy'])} % | {loc} | {r['state_bytes_per_sample'] / 1024:.0f} KiB | "
            f"{r['time_per_epoch_s_first_seed']:.1f} s | {mean_pm_std(r['synops_per_sample'], 1e-6)} M |"
        )
    tail = next(iter(summ.values()))["last_half_epochs"]
    first_tail = s["epochs"] - tail + 1
    lines += [
        "",
        f"## Stability: test accuracy over the last {tail} epochs (epochs {first_tail}–{s['epochs']}), per seed",
        "",
        "Reported only (nothing is chosen from it): how far each run's test accuracy moves near the end of "
        "training, i.e. how much the last-epoch figure above depends on where training happens to stop.",
        "",
        "| rule | range (max − min), mean ± std | per seed | largest change between consecutive epochs, "
        "mean ± std | per seed |",
        "|---|---|---|---|---|",
    ]
    for rule, r in summ.items():
        rng, sw = r["test_range_last_half"], r["largest_epoch_change_last_half"]
        lines.append(
            f"| {rule} | {mean_pm_std(rng)} points | {per_seed_text(rng)} | "
            f"{mean_pm_std(sw)} points | {per_seed_text(sw)} |"
        )
    lines += [
        "",
        "- *test accuracy*: the quantisation-aware model of the last epoch on the test split (the local rules "
        "score the last block's spike counts; the auxiliary readouts are dropped). *after chip conversion*: "
        "the checkpoint loaded by `load_network`, discretised to Speck integers as `convert` does and run in "
        "the binned integer emulator.",
        "- *state kept for backprop*: bytes of the tensors autograd saves for backward between two weight "
        "updates (float32, parameters excluded), per sample, maximum over batches — the library's "
        f"`StateMeter`; for BPTT one full forward over the window (`bptt_state_bytes`). Taken from the T = "
        f"{s['time_bins']} column of the table below (one batch, seed {mem['seed']}), one value per rule: it is "
        "set by tensor shapes, not by the seed. The peaks the meter saw in the local rules' training runs "
        f"(every seed, in the json) differ from it by at most "
        f"{100 * max(r['training_run_peak_max_deviation'] for r in summ.values()):.1f} %.",
        f"- *time / epoch*: wall seconds per epoch of seed {t0}'s run, including the per-epoch test evaluation "
        "(local rules evaluate twice: local readouts and the plain network), mean over epochs; shared machine, so "
        "compare orders of magnitude, not decimals (every seed's figure is in the json).",
        "",
        f"## State memory vs window length ({mem['samples']} training samples, one training batch per T)",
        "",
        "| rule | " + " | ".join(f"T = {t}" for t in mem["time_bins"]) + " |",
        "|---|" + "---|" * len(mem["time_bins"]),
    ]
    for rule, ys in mem["bytes_per_sample"].items():
        lines.append(f"| {rule} | " + " | ".join(f"{y / 1024:.0f} KiB" for y in ys) + " |")
    lines += [
        "",
        "![accuracy per epoch and state memory vs T](learning_rules.png)",
        "",
    ]
    if res.get("interpretation", "").strip():
        lines += ["## Reading the numbers", "", res["interpretation"].strip(), ""]
    return "\n".join(lines)


def _write(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _plot(res["runs"], res["memory_vs_time_bins"], out / "learning_rules.png")
    (out / "learning_rules.json").write_text(json.dumps(res, indent=1))
    (out / "learning_rules.md").write_text(_markdown(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12, help="epochs for every rule [12, the model default]")
    ap.add_argument("--time-bins", type=int, default=10, help="time bins for every rule [10]")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N samples of each split [all]")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one run of every rule each [0,1,2]")
    ap.add_argument("--rules", default=",".join(RULES), help="comma-separated subset of " + ",".join(RULES))
    ap.add_argument(
        "--bptt-val-fraction",
        type=float,
        default=0.0,
        help="BPTT's --val-fraction [0: it trains on the whole train split like the local rules; nothing is "
        "chosen, the last epoch is kept either way]",
    )
    ap.add_argument("--mem-bins", default="5,10,20", help="window lengths of the memory measurement [5,10,20]")
    ap.add_argument("--mem-limit", type=int, default=32, help="samples of the memory measurement batch [32]")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads [1]: on 2 shared cores, 2 threads ran ~100x slower (OpenMP oversubscription)",
    )
    ap.add_argument("--model", default="digits_speck")
    ap.add_argument("--dataset", default="digits-dvs")
    ap.add_argument("--out", type=Path, default=OUT, help="results folder [benchmarks/results]")
    ap.add_argument(
        "--work", type=Path, default=Path("runs/learning_rules"), help="where each finished run is saved [%(default)s]"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="take finished runs from --work when they were made with these settings (continue a killed benchmark)",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="write the md and png again from OUT/learning_rules.json (with this script's interpretation)",
    )
    args = ap.parse_args()
    if args.render_only:
        res = json.loads((args.out / "learning_rules.json").read_text())
        res["interpretation"] = INTERPRETATION
        _write(res, args.out)
        print(_markdown(res))
        return
    torch.set_num_threads(args.threads)
    seeds = [int(v) for v in args.seeds.split(",")]
    rules = args.rules.split(",")
    command = " ".join(["python benchmarks/learning_rules.py", *(shlex.quote(a) for a in sys.argv[1:])])
    t0 = time.time()
    runs: dict[str, dict[str, dict]] = {rule: {} for rule in rules}
    for seed in seeds:
        for rule in rules:
            runs[rule][str(seed)] = run_or_reuse(rule, seed, args)
    mem = memory_vs_bins(args, seeds[0])
    res = {
        "command": command,
        "wall_time_s": round(time.time() - t0, 1),
        "runs_wall_s": round(sum(m["run_wall_s"] for by_seed in runs.values() for m in by_seed.values()), 1),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "shared": "other people's jobs ran on the same cores",
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seeds": seeds,
        "selection": "none: every run keeps its last epoch; test accuracy only reported",
        "summary": summarise(runs, mem, args.time_bins),
        "runs": runs,
        "memory_vs_time_bins": mem,
        "interpretation": "",
    }
    _write(res, args.out)
    print(_markdown(res))


INTERPRETATION = ""

if __name__ == "__main__":
    main()

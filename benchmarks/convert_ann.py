"""ANN → SNN conversion on digits-dvs: accuracy and SynOps vs activation percentile and first-layer scale.

Trains the ReLU twin of a zoo model (``ann_from_spec``) on frames of mean event counts per bin, then
converts it with every (percentile, first-layer scale) pair and runs the discretised SNN on the chip
emulator over the test split. Writes a Markdown table (``--out``) and, with ``--save-ann``, the ANN's
state dict for ``qsnn-deploy convert ANN.pt --from-ann MODEL``.

    python benchmarks/convert_ann.py --out benchmarks/results/convert_ann.md --save-ann runs/ann.pt
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from qsnn_deploy.convert.ann import ann_from_spec, ann_to_network
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.nets.framed import framed_split
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.quant.chip import discretize_with_warnings


def train_ann(model: str, time_bins: int, epochs: int, seed: int):
    spec = load_spec(model)
    torch.manual_seed(seed)
    train = framed_split(spec.dataset, "train", time_bins, progress=False)
    test = framed_split(spec.dataset, "test", time_bins, progress=False)
    ann = ann_from_spec(spec)
    opt = torch.optim.Adam(ann.parameters(), lr=2e-3)
    x, y = train.frames.mean(1), train.labels
    for _ in range(epochs):
        ann.train()
        for idx in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(ann(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    ann.eval()
    with torch.no_grad():
        acc = float((ann(test.frames.mean(1)).argmax(1) == test.labels).float().mean())
    return spec, ann, train, test, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="digits_speck")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--time-bins", type=int, default=10)
    ap.add_argument("--calibration-samples", type=int, default=256)
    ap.add_argument("--percentiles", default="99,99.9,99.99,100")
    ap.add_argument("--first-layer-scales", default="1,2,4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--save-ann", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    spec, ann, train, test, ann_acc = train_ann(args.model, args.time_bins, args.epochs, args.seed)
    train_s = time.time() - t0
    if args.save_ann:
        args.save_ann.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ann.state_dict(), args.save_ann)
    dt_us = test.duration_us / args.time_bins
    calib = train.frames[: args.calibration_samples].mean(1)
    rows = []
    for p in (float(v) for v in args.percentiles.split(",")):
        for s in (float(v) for v in args.first_layer_scales.split(",")):
            net, _ = ann_to_network(ann, spec.input_shape, calib, p, s, dt_us=dt_us)
            qnet, _ = discretize_with_warnings(net)
            res = run_binned(qnet, test.frames.numpy())
            acc = float((res.predictions == test.labels.numpy()).mean())
            rows.append((p, s, acc, float(res.layer_synops.sum(1).mean())))
            print(f"percentile {p:g}  first layer x{s:g}: SNN {100 * acc:.2f}%  SynOps/sample {rows[-1][3]:.3g}")
    lines = [
        f"# ANN → SNN conversion on {spec.dataset} ({spec.name})",
        "",
        f"ReLU ANN trained {args.epochs} epochs on mean counts per bin: test accuracy **{100 * ann_acc:.2f}%** "
        f"({len(test.labels)} samples). SNN: discretised to chip integers, emulated over {args.time_bins} bins "
        f"of {dt_us / 1000:g} ms; calibration on {len(calib)} training samples.",
        "",
        "| percentile | first-layer scale | SNN accuracy | SNN − ANN (pp) | SynOps/sample |",
        "|---|---|---|---|---|",
    ]
    for p, s, acc, syn in rows:
        lines.append(f"| {p:g} | {s:g} | {100 * acc:.2f}% | {100 * (acc - ann_acc):+.2f} | {syn:.3g} |")
    lines += [
        "",
        f"Measured with `python benchmarks/convert_ann.py` on {platform.machine()} "
        f"({torch.get_num_threads()} threads), {time.time() - t0:.0f} s in all (ANN training {train_s:.0f} s).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()

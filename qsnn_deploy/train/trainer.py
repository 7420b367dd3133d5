"""BPTT training with surrogate gradients, quantisation-aware by default, with a SynOp penalty."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from ..data import load_dataset, to_frames
from ..errors import UsageError
from ..outputs import staged_folder
from ..zoo import ModelSpec, load_spec, with_weight_bits
from .checkpoint import save_checkpoint
from .losses import count_cross_entropy, synop_penalty, synop_target
from .network import SpikingCNN, count_parameters


@dataclass
class TrainConfig:
    """Everything a run depends on; written to ``config.yaml``."""

    model: str = "digits_speck"
    dataset: str = "digits-dvs"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    time_bins: int | None = None
    seed: int = 0
    device: str = "auto"
    quantize: bool = True
    synop_penalty: float = 0.0  # loss += α · SynOps per sample
    synop_target: float | None = None  # loss += ((SynOps − target) / target)²
    limit: int | None = None  # use only the first N samples of each split (smoke tests)
    bits: str | None = None  # weight bits per layer: "4", "8,4,4,8", "conv2=4" or "auto" (Hessian-aware)
    bit_budget: str | None = None  # with bits="auto": average bits per weight ("4") or a size ("12kB")
    init: str | None = None  # start from the weights of this checkpoint or run folder (fine-tuning)

    def resolve(self, spec: ModelSpec) -> "TrainConfig":
        """Fill unset values from the model's defaults."""
        d = {"epochs": 15, "batch_size": 32, "lr": 2e-3, "time_bins": 10} | spec.defaults
        out = TrainConfig(**asdict(self))
        for key in ("epochs", "batch_size", "lr", "time_bins"):
            if getattr(out, key) is None:
                setattr(out, key, type(d[key])(d[key]) if key != "lr" else float(d[key]))
        if out.epochs < 1 or out.batch_size < 1 or out.time_bins < 1 or not out.lr > 0:
            raise UsageError("epochs, batch size and time bins must be >= 1 and the learning rate > 0")
        if out.limit is not None and out.limit < 1:
            raise UsageError("--limit must be >= 1")
        if out.synop_target is not None and (not out.synop_target > 0 or out.synop_penalty > 0):
            raise UsageError("--synop-target must be > 0 and cannot be combined with --synop-penalty",
                             fix="pick one form of the SynOp loss")
        if out.synop_penalty < 0:
            raise UsageError("--synop-penalty must be >= 0")
        if (out.bits == "auto") != (out.bit_budget is not None):
            raise UsageError("--bits auto and --bit-budget go together",
                             fix="e.g. --bits auto --bit-budget 4 (average bits per weight), or --bits 8,4,4,8")
        if out.bits == "auto" and not out.quantize:
            raise UsageError("--bits auto allocates the bits of quantisation-aware training; --no-qat trains in float",
                             fix="drop --no-qat")
        if out.bits == "auto" and out.init is None and out.epochs < 2:
            raise UsageError("--bits auto without --init needs at least 2 epochs (warm-up at the model's widths, "
                             "then the Hessian, then training at the allocated widths)",
                             fix="raise --epochs, or start from a trained run with --init")
        return out


HESSIAN_SAMPLES = 256  # training samples the Hessian traces of --bits auto are estimated on
HESSIAN_PROBES = 20  # Rademacher probes per layer


def warmup_epochs(cfg: TrainConfig) -> int:
    """Epochs trained at the model's widths before ``--bits auto`` allocates (0 when starting from ``--init``)."""
    if cfg.bits != "auto" or cfg.init is not None:
        return 0
    return max(1, cfg.epochs // 3)


def allocate_auto_bits(model: SpikingCNN, data: FramedSplit, cfg: TrainConfig, out: Path, progress: bool,
                       log) -> dict[str, Any]:
    """``--bits auto``: Hessian traces on a training subset, bits per layer under ``cfg.bit_budget``, applied
    to ``model`` (and its spec); writes ``out/hessian.json`` and ``out/hessian.png``; returns the record."""
    from ..quant.allocate import apply_bits, auto_bits
    from ..quant.hessian import plot_traces

    log(f"--bits auto: Hessian traces on {min(HESSIAN_SAMPLES, len(data.labels))} training samples, "
        f"{HESSIAN_PROBES} probes, budget {cfg.bit_budget}")
    allocation, hessian = auto_bits(model, data, cfg.bit_budget, samples=HESSIAN_SAMPLES,
                                    n_iter=HESSIAN_PROBES, batch_size=cfg.batch_size, seed=cfg.seed,
                                    progress=progress)
    apply_bits(model, allocation)
    record = {"hessian": hessian.to_dict(), "allocation": allocation.to_dict()}
    (out / "hessian.json").write_text(json.dumps(record, indent=2))
    plot_traces(hessian, out / "hessian.png", bits=allocation.by_layer)
    log("bits per layer: " + ", ".join(f"{n} {b}" for n, b in allocation.by_layer.items()) +
        f" (ranking by trace per parameter: {' > '.join(hessian.ranking)}; {allocation.avg_bits:.2f} bits on "
        f"average, {allocation.reduction_pct:.1f}% below FP32)")
    return record


def initial_weights(path: str | Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint (or run folder) whose layers have the shapes of ``spec``."""
    from .checkpoint import load_checkpoint

    path = Path(path)
    model, _ = load_checkpoint(path / "checkpoint.pt" if path.is_dir() else path)
    mine = SpikingCNN(spec).state_dict()
    theirs = model.state_dict()
    if set(mine) != set(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
        raise UsageError(f"--init {path}: its layers ({model.spec.name}) do not have the shapes of model '{spec.name}'",
                         fix="start from a run of the same model")
    return theirs


def bits_label(spec: ModelSpec) -> str:
    """'int8', or the per-layer widths of a mixed-precision model ('int8/4/4/8')."""
    bits = [layer.weight_bits for layer in spec.layers]
    return f"int{bits[0]}" if len(set(bits)) == 1 else "int" + "/".join(map(str, bits))


def weight_memory(model: SpikingCNN) -> int:
    """Bits the model's weights take at their per-layer widths (biases at the same width)."""
    from ..quant.allocate import weight_memory_bits

    sizes = [sum(p.numel() for p in block.conv.parameters()) for block in model.blocks]
    return weight_memory_bits(sizes, [block.weight_bits for block in model.blocks])


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU; an unavailable CUDA is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name} asked for CUDA but torch sees no CUDA device",
                         fix="use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}'", fix="use auto, cpu, cuda or cuda:N") from None


@dataclass
class FramedSplit:
    """A dataset split as dense spike-count rasters (N, T, C, H, W)."""

    frames: torch.Tensor
    labels: torch.Tensor
    duration_us: float


def framed_split(dataset: str, split: str, time_bins: int, seed: int = 0, progress: bool = True,
                 limit: int | None = None) -> FramedSplit:
    """Load a split of a named dataset and frame it into ``time_bins`` bins."""
    ds = load_dataset(dataset, split, seed=seed, progress=progress)
    events = ds.events if limit is None else ds.events[:limit]
    labels = ds.labels if limit is None else ds.labels[:limit]
    frames = to_frames(events, ds.sensor_size, time_bins, duration_us=ds.duration_us)
    return FramedSplit(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)),
                       torch.as_tensor(labels, dtype=torch.long), float(ds.duration_us))


@torch.no_grad()
def evaluate(model: SpikingCNN, data: FramedSplit, batch_size: int, device: torch.device,
             quantize: bool | None = None) -> dict[str, Any]:
    """Accuracy, mean SynOps per sample and mean output spikes per layer."""
    keep = model.quantize
    if quantize is not None:
        model.quantize = quantize
    model.eval()
    correct, synops, spikes = 0, None, None
    try:
        for i in range(0, len(data.labels), batch_size):
            x = data.frames[i:i + batch_size].to(device)
            out, syn, spk = model(x, record=True)
            correct += int((out.sum(1).argmax(1).cpu() == data.labels[i:i + batch_size]).sum())
            s = torch.stack([v.sum() for v in syn]).cpu()
            k = torch.stack([v.sum() for v in spk]).cpu()
            synops = s if synops is None else synops + s
            spikes = k if spikes is None else spikes + k
    finally:
        model.quantize = keep
    n = len(data.labels)
    return {"accuracy": correct / n, "synops_per_sample": float(synops.sum()) / n,
            "layer_synops": [float(v) / n for v in synops], "layer_spikes": [float(v) / n for v in spikes]}


def _plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].plot(ep, [h["loss"] for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel="training loss", title="loss")
    ax[1].plot(ep, [100 * h["train_accuracy"] for h in history], marker="o", label="train")
    ax[1].plot(ep, [100 * h["test_accuracy"] for h in history], marker="o", label="test")
    ax[1].set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(config: TrainConfig, out: str | Path, overwrite: bool = False, progress: bool = True,
          log=lambda msg: print(msg, file=sys.stderr)) -> dict[str, Any]:
    """Train and write the run directory; returns the metrics written to ``metrics.json``."""
    spec = load_spec(config.model)
    cfg = config.resolve(spec)
    if cfg.bits is not None and cfg.bits != "auto":
        spec = with_weight_bits(spec, cfg.bits)
    device = pick_device(cfg.device)
    with staged_folder(out, overwrite) as tmp:
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        train_set = framed_split(cfg.dataset, "train", cfg.time_bins, progress=progress, limit=cfg.limit)
        test_set = framed_split(cfg.dataset, "test", cfg.time_bins, progress=progress, limit=cfg.limit)
        if tuple(train_set.frames.shape[2:]) != spec.input_shape:
            raise UsageError(f"model '{spec.name}' expects input {spec.input_shape} but dataset '{cfg.dataset}' "
                             f"gives {tuple(train_set.frames.shape[2:])}", fix="pick a model made for this dataset")
        dt_us = train_set.duration_us / cfg.time_bins
        model = SpikingCNN(spec, quantize=cfg.quantize)
        if cfg.bits == "auto":  # an impossible budget fails now, not after the warm-up
            from ..quant.allocate import check_budget
            from ..quant.hessian import layer_weights

            check_budget([w.numel() for w in layer_weights(model)], cfg.bit_budget)
        if cfg.init is not None:
            model.load_state_dict(initial_weights(cfg.init, spec))
            log(f"starting from the weights of {cfg.init}")
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        n = len(train_set.labels)
        warmup = warmup_epochs(cfg)
        auto = None
        if cfg.bits == "auto" and warmup == 0:
            auto = allocate_auto_bits(model, train_set, cfg, tmp, progress, log)
            spec = model.spec
        log(f"training {spec.name} ({count_parameters(model)} parameters, "
            f"{'quantisation-aware ' + bits_label(spec) if cfg.quantize else 'float'}) on {cfg.dataset}: {n} train / "
            f"{len(test_set.labels)} test samples, {cfg.time_bins} time bins of {dt_us / 1000:g} ms, device {device}")
        history, t0 = [], time.time()
        for epoch in range(1, cfg.epochs + 1):
            if cfg.bits == "auto" and auto is None and epoch == warmup + 1:
                auto = allocate_auto_bits(model, train_set, cfg, tmp, progress, log)
                spec = model.spec
            model.train()
            order = torch.from_numpy(rng.permutation(n))
            total_loss, correct, seen = 0.0, 0, 0
            bar = tqdm(range(0, n, cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                       disable=not progress, file=sys.stderr, leave=False)
            for i in bar:
                idx = order[i:i + cfg.batch_size]
                x, y = train_set.frames[idx].to(device), train_set.labels[idx].to(device)
                out_spikes, synops, _ = model(x, record=True)
                counts = out_spikes.sum(1)
                loss = count_cross_entropy(out_spikes, y)
                if cfg.synop_penalty > 0:
                    loss = loss + synop_penalty(torch.stack(synops).sum(0), cfg.synop_penalty)
                elif cfg.synop_target is not None:
                    loss = loss + synop_target(torch.stack(synops).sum(0), cfg.synop_target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((counts.argmax(1) == y).sum())
                seen += len(idx)
                bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
            sched.step()
            ev = evaluate(model, test_set, cfg.batch_size, device)
            history.append({"epoch": epoch, "loss": total_loss / seen, "train_accuracy": correct / seen,
                            "test_accuracy": ev["accuracy"], "synops_per_sample": ev["synops_per_sample"],
                            "lr": opt.param_groups[0]["lr"], "elapsed_s": round(time.time() - t0, 2)})
            log(f"epoch {epoch}/{cfg.epochs}: loss {total_loss / seen:.4f}  train {100 * correct / seen:.1f}%  "
                f"test {100 * ev['accuracy']:.1f}%  SynOps/sample {ev['synops_per_sample']:.3g}")
        final = evaluate(model, test_set, cfg.batch_size, device)
        float_ev = evaluate(model, test_set, cfg.batch_size, device, quantize=False)
        metrics = {"test_accuracy": final["accuracy"], "float_test_accuracy": float_ev["accuracy"],
                   "synops_per_sample": final["synops_per_sample"], "layer_synops": final["layer_synops"],
                   "layer_spikes": final["layer_spikes"], "epochs": cfg.epochs, "seed": cfg.seed,
                   "model": spec.name, "dataset": cfg.dataset, "quantize": cfg.quantize,
                   "time_bins": cfg.time_bins, "dt_us": dt_us, "duration_us": train_set.duration_us,
                   "n_parameters": count_parameters(model), "device": str(device),
                   "weight_bits": {layer.name: layer.weight_bits for layer in spec.layers},
                   "bits_label": bits_label(spec),
                   "weight_memory_bits": weight_memory(model),
                   "bit_allocation": None if auto is None else auto["allocation"] | {"warmup_epochs": warmup},
                   "train_time_s": round(time.time() - t0, 2), "history": history}
        model.cpu()
        save_checkpoint(tmp / "checkpoint.pt", model, {"dt_us": dt_us, "time_bins": cfg.time_bins,
                                                       "duration_us": train_set.duration_us,
                                                       "dataset": cfg.dataset, "metrics": {
                                                           k: v for k, v in metrics.items() if k != "history"}})
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (tmp / "config.yaml").write_text(yaml.safe_dump({"train": asdict(cfg), "model": spec.to_dict()},
                                                        sort_keys=False))
        _plot_curves(history, tmp / "training_curve.png")
    return metrics

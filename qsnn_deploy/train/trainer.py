"""BPTT training with surrogate gradients, quantisation-aware by default, with a SynOp penalty."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..data import DataOptions, load_dataset
from ..errors import UsageError
from ..nets.checkpoint import read_torch_file, save_checkpoint
from ..nets.framed import FramedSplit, framed_split
from ..nets.network import SpikingCNN, count_parameters
from ..nets.zoo import ModelSpec, default_spec, load_spec, spec_from_dict, with_neuron_option, with_weight_bits
from ..outputs import atomic_path, check_writable, replace_folder, write_atomic
from ..progress import Log, Progress, ProgressMode, silent
from ..progress import log as default_log
from .augment import batch_frames, epoch_shifts
from .distributed import SINGLE, Group, backend_for, check_nproc, from_environment, process_device, spawn, wrap
from .losses import LOSSES, distillation, parse_synop_weights, synop_penalty, synop_target, task_loss, weighted_synops
from .schedules import check_schedule, make_scheduler


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
    synop_weights: str | None = None  # per-layer weights of the SynOp term: "1,3,1,1" or "conv2=3" [all 1]
    distill: str | None = None  # teacher run folder or checkpoint: loss += w · τ² · KL(teacher ‖ student)
    distill_weight: float = 1.0
    distill_temperature: float = 4.0
    limit: int | None = None  # use only N samples of each split, the first of each class in turn (smoke tests)
    bits: str | None = None  # weight bits per layer: "4", "8,4,4,8", "conv2=4" or "auto" (Hessian-aware)
    bit_budget: str | None = None  # with bits="auto": average bits per weight ("4") or a size ("12kB")
    init: str | None = None  # start from the weights of this checkpoint or run folder (fine-tuning)
    lr_schedule: str = "cosine"  # see qsnn_deploy.train.schedules
    lr_period: int | None = None  # epochs per period of periodic-cosine / warm-restarts [epochs // 3]
    loss: str = "ce"  # "ce" (count cross-entropy) or "mse-count" (spike-count MSE, seed 3)
    patience: int | None = None  # early stopping: epochs without a better validation accuracy
    val_fraction: float | None = None  # share of the train split held out for validation [0.1 with patience]
    neuron: str | None = None  # "lif" or "lif:beta=0.8": the neuron instead of the model YAML's
    data_root: str | None = None  # where tonic datasets are (or are downloaded to)
    download: bool = False  # fetch a tonic dataset that is not under data_root
    window_ms: float | None = None  # time window framed per recording [the longest recording]
    test_fraction: float = 0.2  # folder:PATH without train/ and test/: share held out per class
    denoise_us: int | None = None  # drop events without a neighbour within this time
    augment: bool = False  # random flips and jitter on the training split, drawn once at load (data on disk)
    shift_px: int = 0  # random shift of each training sample by up to this many input pixels, every epoch
    sensor_size: str | None = None  # folder:PATH recordings' sensor "WxHxP" [inferred from the events]
    nproc: int = 1  # data-parallel processes (DistributedDataParallel; gloo on CPU, NCCL on GPUs)

    def resolve(self, spec: ModelSpec) -> TrainConfig:
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
            raise UsageError(
                "--synop-target must be > 0 and cannot be combined with --synop-penalty",
                fix="pick one form of the SynOp loss",
            )
        if out.synop_penalty < 0:
            raise UsageError("--synop-penalty must be >= 0")
        if out.synop_weights is not None:
            if out.synop_target is None and out.synop_penalty == 0:
                raise UsageError(
                    "--synop-weights weights the layers in the SynOp loss",
                    fix="add --synop-target N or --synop-penalty α, or drop --synop-weights",
                )
            parse_synop_weights([layer.name for layer in spec.layers], out.synop_weights, f"model '{spec.name}'")
        if out.distill is None and (
            out.distill_weight != TrainConfig.distill_weight
            or out.distill_temperature != TrainConfig.distill_temperature
        ):
            raise UsageError(
                "--distill-weight and --distill-temperature go with --distill",
                fix="add --distill TEACHER_RUN, or drop them",
            )
        if not out.distill_weight > 0 or not out.distill_temperature > 0:
            raise UsageError(
                "--distill-weight and --distill-temperature must be > 0",
                fix="e.g. --distill-weight 1 --distill-temperature 4",
            )
        if (out.bits == "auto") != (out.bit_budget is not None):
            raise UsageError(
                "--bits auto and --bit-budget go together",
                fix="e.g. --bits auto --bit-budget 4 (average bits per weight), or --bits 8,4,4,8",
            )
        if out.bits == "auto" and not out.quantize:
            raise UsageError(
                "--bits auto allocates the bits of quantisation-aware training; --no-qat trains in float",
                fix="drop --no-qat",
            )
        check_schedule(out.lr_schedule, out.epochs, out.lr_period)
        if out.nproc < 1:
            raise UsageError(f"--nproc must be >= 1, got {out.nproc}", fix="e.g. --nproc 2")
        if not 0 < out.test_fraction < 1:
            raise UsageError(f"--test-fraction must be between 0 and 1, got {out.test_fraction}", fix="e.g. 0.2")
        if out.window_ms is not None and not out.window_ms > 0:
            raise UsageError(f"--window-ms must be positive, got {out.window_ms}", fix="e.g. --window-ms 300")
        if out.sensor_size is not None:
            parse_sensor_size(out.sensor_size)
        if out.shift_px < 0:
            raise UsageError(f"--shift-px must be >= 0, got {out.shift_px}", fix="e.g. --shift-px 1")
        if out.denoise_us is not None and out.denoise_us < 1:
            raise UsageError(f"--denoise-us must be >= 1, got {out.denoise_us}", fix="e.g. --denoise-us 10000")
        if out.loss not in LOSSES:
            raise UsageError(f"unknown loss '{out.loss}'", where="--loss", fix=f"use one of {', '.join(LOSSES)}")
        if out.patience is not None and out.patience < 1:
            raise UsageError(f"--patience must be >= 1 epoch, got {out.patience}", fix="e.g. --patience 3")
        if out.val_fraction is not None:
            if out.patience is None:
                raise UsageError(
                    "--val-fraction holds out a validation set for early stopping",
                    fix="add --patience N, or drop --val-fraction",
                )
            if not 0 < out.val_fraction < 1:
                raise UsageError(
                    f"--val-fraction must be between 0 and 1, got {out.val_fraction}", fix="e.g. --val-fraction 0.1"
                )
        elif out.patience is not None:
            out.val_fraction = DEFAULT_VAL_FRACTION
        if out.bits == "auto" and out.init is None and out.epochs < 2:
            raise UsageError(
                "--bits auto without --init needs at least 2 epochs (warm-up at the model's widths, "
                "then the Hessian, then training at the allocated widths)",
                fix="raise --epochs, or start from a trained run with --init",
            )
        return out


def parse_sensor_size(text: str) -> tuple[int, int, int]:
    """'346x260x2' → (346, 260, 2) (width, height, polarities)."""
    try:
        size = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise UsageError(
            f"--sensor-size '{text}' is not WxHxP", where="--sensor-size", fix="e.g. --sensor-size 128x128x2"
        )
    return size  # type: ignore[return-value]


def data_options(cfg: TrainConfig, spec: ModelSpec | None) -> DataOptions:
    """The loader options of a run; recordings are pooled to the input of ``spec`` (native size when None)."""
    return DataOptions(
        data_root=None if cfg.data_root is None else Path(cfg.data_root),
        download=cfg.download,
        sensor_size=None if cfg.sensor_size is None else parse_sensor_size(cfg.sensor_size),
        input_size=None if spec is None else (spec.input_shape[2], spec.input_shape[1]),
        window_us=None if cfg.window_ms is None else int(round(cfg.window_ms * 1000)),
        test_fraction=cfg.test_fraction,
        denoise_us=cfg.denoise_us,
        augment=cfg.augment,
    )


def model_spec(config: TrainConfig, progress: ProgressMode = True, log: Log = default_log) -> ModelSpec:
    """The network of a run: the zoo model or YAML ``config.model``, or for ``"auto"`` the default Speck-ready
    network sized to the dataset's sensor and classes (:func:`qsnn_deploy.nets.zoo.default_spec`)."""
    if config.model != "auto":
        return load_spec(config.model)
    ds = load_dataset(config.dataset, "train", progress=progress, options=data_options(config, None))
    spec = default_spec(ds.sensor_size, ds.n_classes, config.dataset)
    log(f"no --model given: using {spec.name}, {spec.description}")
    return spec


DEFAULT_VAL_FRACTION = 0.1  # with --patience and no --val-fraction
HESSIAN_SAMPLES = 256  # training samples the Hessian traces of --bits auto are estimated on
HESSIAN_PROBES = 20  # Rademacher probes per layer


def warmup_epochs(cfg: TrainConfig) -> int:
    """Epochs trained at the model's widths before ``--bits auto`` allocates (0 when starting from ``--init``)."""
    if cfg.bits != "auto" or cfg.init is not None:
        return 0
    return max(1, cfg.epochs // 3)


def allocate_auto_bits(
    model: SpikingCNN, data: FramedSplit, cfg: TrainConfig, out: Path | None, progress: ProgressMode, log: Log
) -> dict[str, Any]:
    """``--bits auto``: Hessian traces on a training subset, bits per layer under ``cfg.bit_budget``, applied
    to ``model`` (and its spec); writes ``out/hessian.json`` and ``out/hessian.png``; returns the record."""
    from .allocate import apply_bits, auto_bits
    from .hessian import plot_traces

    log(
        f"--bits auto: Hessian traces on {min(HESSIAN_SAMPLES, len(data.labels))} training samples, "
        f"{HESSIAN_PROBES} probes, budget {cfg.bit_budget}"
    )
    allocation, hessian = auto_bits(
        model,
        data,
        cfg.bit_budget,
        samples=HESSIAN_SAMPLES,
        n_iter=HESSIAN_PROBES,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=progress,
    )
    apply_bits(model, allocation)
    record = {"hessian": hessian.to_dict(), "allocation": allocation.to_dict()}
    if out is not None:  # None: a data-parallel process other than the writer
        (out / "hessian.json").write_text(json.dumps(record, indent=2))
        plot_traces(hessian, out / "hessian.png", bits=allocation.by_layer)
    log(
        "bits per layer: "
        + ", ".join(f"{n} {b}" for n, b in allocation.by_layer.items())
        + f" (ranking by trace per parameter: {' > '.join(hessian.ranking)}; {allocation.avg_bits:.2f} bits on "
        f"average, {allocation.reduction_pct:.1f}% below FP32)"
    )
    return record


def initial_weights(path: str | Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint (or run folder) whose layers have the shapes of ``spec``."""
    from ..nets.checkpoint import load_checkpoint

    path = Path(path)
    model, _ = load_checkpoint(path / "checkpoint.pt" if path.is_dir() else path)
    mine = SpikingCNN(spec).state_dict()
    theirs = model.state_dict()
    if set(mine) != set(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
        raise UsageError(
            f"--init {path}: its layers ({model.spec.name}) do not have the shapes of model '{spec.name}'",
            fix="start from a run of the same model",
        )
    return theirs


def load_teacher(path: str | Path, spec: ModelSpec, device: torch.device) -> SpikingCNN:
    """The ``--distill`` teacher: a trained network (run folder or checkpoint) with ``spec``'s input and classes,
    in eval mode on ``device``, without gradients."""
    from ..nets.checkpoint import load_checkpoint

    path = Path(path)
    teacher, _ = load_checkpoint(path / "checkpoint.pt" if path.is_dir() else path)
    if teacher.spec.input_shape != spec.input_shape or teacher.spec.n_classes != spec.n_classes:
        raise UsageError(
            f"--distill {path}: the teacher takes {teacher.spec.input_shape} and has "
            f"{teacher.spec.n_classes} classes; model '{spec.name}' takes {spec.input_shape} with "
            f"{spec.n_classes}",
            fix="distil from a network trained on the same dataset",
        )
    teacher.requires_grad_(False)
    return teacher.eval().to(device)


def bits_label(spec: ModelSpec) -> str:
    """'int8', or the per-layer widths of a mixed-precision model ('int8/4/4/8')."""
    bits = [layer.weight_bits for layer in spec.layers]
    return f"int{bits[0]}" if len(set(bits)) == 1 else "int" + "/".join(map(str, bits))


def weight_memory(model: SpikingCNN) -> int:
    """Bits the model's weights take at their per-layer widths (biases at the same width)."""
    from .allocate import weight_memory_bits

    sizes = [sum(p.numel() for p in block.conv.parameters()) for block in model.blocks]
    return weight_memory_bits(sizes, [block.weight_bits for block in model.blocks])


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU; an unavailable CUDA is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"--device {name} asked for CUDA but torch sees no CUDA device", fix="use --device cpu (or auto)"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}'", fix="use auto, cpu, cuda or cuda:N") from None


def train_test_splits(
    dataset: str,
    spec: ModelSpec,
    time_bins: int,
    progress: ProgressMode = True,
    limit: int | None = None,
    options: DataOptions | None = None,
    seed: int = 0,
) -> tuple[FramedSplit, FramedSplit]:
    """The framed train and test splits of ``dataset``, checked against the model's input shape."""
    train_set = framed_split(dataset, "train", time_bins, seed=seed, progress=progress, limit=limit, options=options)
    test_set = framed_split(dataset, "test", time_bins, seed=seed, progress=progress, limit=limit, options=options)
    if tuple(train_set.frames.shape[2:]) != spec.input_shape:
        raise UsageError(
            f"model '{spec.name}' expects input {spec.input_shape} but dataset '{dataset}' "
            f"gives {tuple(train_set.frames.shape[2:])}",
            fix="pick a model made for this dataset",
        )
    return train_set, test_set


@torch.no_grad()
def evaluate(
    model: SpikingCNN, data: FramedSplit, batch_size: int, device: torch.device, quantize: bool | None = None
) -> dict[str, Any]:
    """Accuracy, mean SynOps per sample and mean output spikes per layer."""
    keep = model.quantize
    if quantize is not None:
        model.quantize = quantize
    model.eval()
    correct, synops, spikes = 0, None, None
    try:
        for i in range(0, len(data.labels), batch_size):
            x = data.frames[i : i + batch_size].to(device)
            out, syn, spk = model(x, record=True)
            correct += int((out.sum(1).argmax(1).cpu() == data.labels[i : i + batch_size]).sum())
            s = torch.stack([v.sum() for v in syn]).cpu()
            k = torch.stack([v.sum() for v in spk]).cpu()
            synops = s if synops is None else synops + s
            spikes = k if spikes is None else spikes + k
    finally:
        model.quantize = keep
    n = len(data.labels)
    return {
        "accuracy": correct / n,
        "synops_per_sample": float(synops.sum()) / n,
        "layer_synops": [float(v) / n for v in synops],
        "layer_spikes": [float(v) / n for v in spikes],
    }


def plot_training_curves(
    history: list[dict],
    path: Path,
    loss_label: str = "training loss",
    accuracy_label: str = "accuracy (%)",
    accuracy_title: str = "accuracy",
    synops_label: str | None = None,
) -> None:
    """Loss and accuracy (train, validation when present, test) per epoch; a SynOps panel with ``synops_label``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 3 if synops_label else 2, figsize=(12 if synops_label else 9, 3.4))
    ax[0].plot(ep, [h["loss"] for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel=loss_label, title="loss")
    ax[1].plot(ep, [100 * h["train_accuracy"] for h in history], marker="o", label="train")
    if any("val_accuracy" in h for h in history):
        ax[1].plot(ep, [100 * h["val_accuracy"] for h in history], marker="o", label="validation")
    ax[1].plot(ep, [100 * h["test_accuracy"] for h in history], marker="o", label="test")
    ax[1].set(xlabel="epoch", ylabel=accuracy_label, title=accuracy_title)
    ax[1].legend()
    if synops_label:
        ax[2].plot(ep, [h["synops_per_sample"] for h in history], marker="o")
        ax[2].set(xlabel="epoch", ylabel=synops_label, title="SynOps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------------------
# run folders, per-epoch state and --resume

STATE_FILE = "last.pt"  # per-epoch training state inside OUT.partial/
STATE_FORMAT = "qsnn-deploy-train-state"


def partial_folder(out: str | Path) -> Path:
    """Where a run to ``out`` lives until it finishes (and where an interrupted one stays): ``OUT.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def _rng_states() -> dict[str, Any]:
    """Python, NumPy (global) and torch RNG states as tensors and plain values (``weights_only``-loadable)."""
    import random

    version, keys, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    states = {
        "python": [version, list(keys), gauss],
        "numpy": [
            np_name,
            torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    import random

    version, keys, gauss = states["python"]
    random.setstate((version, tuple(keys), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    """Write the training state atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def resume_paths(path: str | Path) -> tuple[Path, Path]:
    """``(OUT, OUT.partial)`` for ``--resume OUT`` or ``--resume OUT.partial``; a clear error when there is
    nothing to resume."""
    path = Path(path)
    if path.name.endswith(".partial"):
        out = path.with_name(path.name[: -len(".partial")])
    else:
        out = path
    partial = partial_folder(out)
    if not partial.is_dir():
        if (out / "metrics.json").is_file():
            raise UsageError(
                f"run '{out}' has already finished; there is nothing to resume",
                where="--resume",
                fix="start a new run with another --out (or --overwrite)",
            )
        raise UsageError(
            f"no interrupted training run at '{out}' (looked for '{partial}/{STATE_FILE}')",
            where="--resume",
            fix="pass the --out folder of a run that was interrupted",
        )
    if not (partial / STATE_FILE).is_file():
        raise UsageError(
            f"the interrupted run in '{partial}' stopped before its first epoch finished, so there "
            "is no state to resume",
            where="--resume",
            fix=f"start it again with --out {out} --overwrite",
        )
    return out, partial


def read_resume_state(path: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    """``(OUT, OUT.partial, state)`` of an interrupted run; the state's ``config`` is the run's TrainConfig."""
    out, partial = resume_paths(path)
    state = read_torch_file(
        partial / STATE_FILE,
        "training state",
        "pass the folder of an interrupted run",
        f"the state is unreadable; start again with --out {out} --overwrite",
    )
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UsageError(
            f"'{partial / STATE_FILE}' is not a qsnn-deploy training state",
            where="--resume",
            fix=f"start again with --out {out} --overwrite",
        )
    return out, partial, state


# ----------------------------------------------------------------------------------------------------------------
# training


def split_validation(data: FramedSplit, fraction: float | None, seed: int) -> tuple[FramedSplit, FramedSplit | None]:
    """Carve a seeded validation set (``fraction`` of the samples, at least one) out of a training split."""
    if fraction is None:
        return data, None
    n = len(data.labels)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise UsageError(
            f"--val-fraction {fraction} leaves no training samples out of {n}",
            fix="lower --val-fraction or use more samples",
        )
    order = torch.from_numpy(np.random.default_rng([seed, 0x7A1]).permutation(n))
    val, keep = order[:n_val].sort().values, order[n_val:].sort().values
    return (
        FramedSplit(data.frames[keep], data.labels[keep], data.duration_us),
        FramedSplit(data.frames[val], data.labels[val], data.duration_us),
    )


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch; depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(n))


def _train_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batch_sched,
    data: FramedSplit,
    cfg: TrainConfig,
    epoch: int,
    device: torch.device,
    progress: ProgressMode,
    group: Group = SINGLE,
    teacher: SpikingCNN | None = None,
    synop_weights: list[float] | None = None,
) -> tuple[float, float]:
    """One pass over ``data``; steps ``batch_sched`` after every batch when given. Returns (loss, accuracy) over
    all processes of ``group``, each of which takes its share of every global batch. ``teacher``: add the
    distillation term; ``synop_weights``: per-layer weights of the SynOp term."""
    model.train()
    n = len(data.labels)
    order = epoch_order(n, cfg.seed, epoch)
    shifts = epoch_shifts(n, cfg.shift_px, cfg.seed, epoch) if cfg.shift_px else None
    total_loss, correct, seen = 0.0, 0, 0
    bar = Progress(range(0, n, cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", progress=progress)
    for i in bar:
        if min(cfg.batch_size, n - i) < group.world:  # a last batch too small to share: skipped by every process
            break
        idx = group.shard(order[i : i + cfg.batch_size])
        x, y = batch_frames(data.frames, idx, shifts).to(device), data.labels[idx].to(device)
        out_spikes, synops, _ = model(x, record=True)
        loss = task_loss(cfg.loss, out_spikes, y)
        if teacher is not None:
            with torch.no_grad():
                teacher_spikes = teacher(x)
            loss = loss + cfg.distill_weight * distillation(out_spikes, teacher_spikes, cfg.distill_temperature)
        if cfg.synop_penalty > 0:
            loss = loss + synop_penalty(weighted_synops(synops, synop_weights), cfg.synop_penalty)
        elif cfg.synop_target is not None:
            loss = loss + synop_target(weighted_synops(synops, synop_weights), cfg.synop_target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if batch_sched is not None:
            batch_sched.step()
        total_loss += float(loss.detach()) * len(idx)
        correct += int((out_spikes.sum(1).argmax(1) == y).sum())
        seen += len(idx)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    total_loss, correct, seen = group.sum([total_loss, correct, seen])
    return total_loss / seen, correct / seen


def train(
    config: TrainConfig, out: str | Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """Train and write the run directory; returns the metrics written to ``metrics.json``.

    The run is built in ``OUT.partial/`` (with the per-epoch state ``last.pt``) and renamed to ``OUT`` when it
    finishes; a run that is killed or interrupted (Ctrl-C) can be continued with :func:`resume`."""
    spec = model_spec(config, progress, log)
    cfg = config.resolve(spec)
    if cfg.bits is not None and cfg.bits != "auto":
        spec = with_weight_bits(spec, cfg.bits)
    if cfg.neuron is not None:
        spec = with_neuron_option(spec, cfg.neuron)
    device = pick_device(cfg.device)
    out = Path(out)
    check_writable(out, overwrite)
    group = from_environment()
    if group is not None and group.world > 1:
        if cfg.nproc > 1:
            raise UsageError(
                "--nproc starts its own processes; under torchrun the processes are torchrun's",
                fix="drop --nproc (torchrun --nproc-per-node N sets the number)",
            )
        return _train_under_torchrun(group, out, cfg, spec, device, overwrite, progress, log)
    if cfg.nproc > 1:
        check_nproc(cfg.nproc, device)
    return _run_in(_new_partial(out, overwrite), out, cfg, spec, device, None, overwrite, progress, log)


def _new_partial(out: Path, overwrite: bool) -> Path:
    """A fresh, empty ``OUT.partial`` (refusing to replace an interrupted run's without ``overwrite``)."""
    partial = partial_folder(out)
    if partial.exists():
        if not overwrite:
            raise UsageError(
                f"an interrupted run to '{out}' is in '{partial}'",
                fix=f"continue it with `qsnn-deploy train --resume {out}`, or pass --overwrite to start afresh",
            )
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def _complete(partial: Path, out: Path) -> None:
    """Drop the per-epoch state and move the finished run to ``out``."""
    (partial / STATE_FILE).unlink(missing_ok=True)
    replace_folder(partial, out)


def _train_under_torchrun(
    group: Group,
    out: Path,
    cfg: TrainConfig,
    spec: ModelSpec,
    device: torch.device,
    overwrite: bool,
    progress: ProgressMode,
    log,
) -> dict[str, Any]:
    """This process's part of a run that ``torchrun`` started; rank 0 writes ``out`` (the others return {})."""
    from dataclasses import replace

    from .distributed import barrier, join, leave

    join(group, backend_for(device))
    try:
        partial = _new_partial(out, overwrite) if group.writer else partial_folder(out)
        barrier(group)
        metrics = _train_into(
            partial,
            replace(cfg, nproc=group.world),
            spec,
            process_device(device, group),
            None,
            overwrite,
            progress if group.writer else "off",
            log if group.writer else silent,
            group,
        )
        if group.writer:
            _complete(partial, out)
        barrier(group)
        return metrics
    finally:
        leave()


def resume(path: str | Path, progress: ProgressMode = True, log: Log = default_log) -> dict[str, Any]:
    """Continue an interrupted run (``OUT`` or ``OUT.partial``) from its last finished epoch, with the config it
    was started with; finishes writing ``OUT``. The result equals an uninterrupted run's."""
    out, partial, state = read_resume_state(path)
    cfg = TrainConfig(**state["config"])
    spec = spec_from_dict(state["model_spec"], where=str(partial / STATE_FILE))
    device = pick_device(cfg.device)
    check_writable(out, bool(state["overwrite"]))
    log(f"resuming {out} after epoch {state['epoch']}/{cfg.epochs}")
    return _run_in(partial, out, cfg, spec, device, state, bool(state["overwrite"]), progress, log)


def _run_in(
    partial: Path,
    out: Path,
    cfg: TrainConfig,
    spec: ModelSpec,
    device: torch.device,
    state: dict[str, Any] | None,
    overwrite: bool,
    progress: ProgressMode,
    log,
) -> dict[str, Any]:
    """Train in ``partial`` and rename it to ``out``. On Ctrl-C the folder stays when it holds a state to resume;
    on an error a fresh run leaves nothing, a resumed one keeps the state it started from."""
    try:
        if cfg.nproc > 1:
            log(
                f"data-parallel training: {cfg.nproc} processes, {backend_for(device)}, each with its share of "
                f"every batch of {cfg.batch_size}"
            )
            spawn(_process, cfg.nproc, device, args=(partial, cfg, spec, device, state, overwrite, progress))
            metrics = json.loads((partial / "metrics.json").read_text())
        else:
            metrics = _train_into(partial, cfg, spec, device, state, overwrite, progress, log)
        _complete(partial, out)
        return metrics
    except KeyboardInterrupt:
        if (partial / STATE_FILE).is_file():
            log(f"interrupted; continue with `qsnn-deploy train --resume {out}`")
        else:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    except BaseException:
        if state is None:
            shutil.rmtree(partial, ignore_errors=True)
        raise


def _process(
    group: Group,
    partial: Path,
    cfg: TrainConfig,
    spec: ModelSpec,
    device: torch.device,
    state: dict[str, Any] | None,
    overwrite: bool,
    progress: ProgressMode,
) -> None:
    """One process of a data-parallel run (started by :func:`~qsnn_deploy.train.distributed.spawn`)."""
    log = default_log if group.writer else silent
    _train_into(
        partial,
        cfg,
        spec,
        process_device(device, group),
        state,
        overwrite,
        progress if group.writer else "off",
        log,
        group,
    )


def _train_into(
    tmp: Path,
    cfg: TrainConfig,
    spec: ModelSpec,
    device: torch.device,
    state: dict[str, Any] | None,
    overwrite: bool,
    progress: ProgressMode,
    log,
    group: Group = SINGLE,
) -> dict[str, Any]:
    """The training proper, from scratch (``state`` None) or from a saved state; the writer of ``group`` writes
    the run files to ``tmp`` and gets the metrics (the other processes get an empty dict)."""
    torch.manual_seed(cfg.seed)
    train_all, test_set = train_test_splits(
        cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit, options=data_options(cfg, spec)
    )
    train_set, val_set = split_validation(train_all, cfg.val_fraction, cfg.seed)
    dt_us = train_all.duration_us / cfg.time_bins
    model = SpikingCNN(spec, quantize=cfg.quantize)
    if state is None and cfg.bits == "auto":  # an impossible budget fails now, not after the warm-up
        from .allocate import check_budget
        from .hessian import layer_weights

        check_budget([w.numel() for w in layer_weights(model)], cfg.bit_budget)
    if state is None and cfg.init is not None:
        model.load_state_dict(initial_weights(cfg.init, spec))
        log(f"starting from the weights of {cfg.init}")
    model.to(device)
    teacher = None if cfg.distill is None else load_teacher(cfg.distill, spec, device)
    if teacher is not None:
        log(f"distilling from {cfg.distill} (weight {cfg.distill_weight:g}, temperature {cfg.distill_temperature:g})")
    synop_weights = (
        None
        if cfg.synop_weights is None
        else parse_synop_weights([layer.name for layer in spec.layers], cfg.synop_weights)
    )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(train_set.labels)
    sched, per_batch = make_scheduler(cfg.lr_schedule, opt, cfg.epochs, -(-n // cfg.batch_size), cfg.lr_period)
    warmup = warmup_epochs(cfg)
    run = {
        "epoch": 0,
        "history": [],
        "auto": None,
        "best_state": None,
        "best_epoch": None,
        "best_val": None,
        "bad_epochs": 0,
        "stopped_early": False,
        "elapsed_s": 0.0,
    }
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        _set_rng_states(state["rng"])
        run.update({k: state[k] for k in run})
    elif cfg.bits == "auto" and warmup == 0:
        run["auto"] = allocate_auto_bits(model, train_set, cfg, tmp if group.writer else None, progress, log)
        spec = model.spec
    net = wrap(model, group, device)
    log(
        f"training {spec.name} ({count_parameters(model)} parameters, "
        f"{'quantisation-aware ' + bits_label(spec) if cfg.quantize else 'float'}) on {cfg.dataset}: {n} train / "
        + (f"{len(val_set.labels)} validation / " if val_set is not None else "")
        + f"{len(test_set.labels)} test samples, {cfg.time_bins} time bins of {dt_us / 1000:g} ms, "
        f"lr schedule {cfg.lr_schedule}, loss {cfg.loss}, device {device}"
    )
    t0 = time.time() - run["elapsed_s"]
    history = run["history"]
    for epoch in range(run["epoch"] + 1, cfg.epochs + 1):
        if run["stopped_early"]:
            break
        if cfg.bits == "auto" and run["auto"] is None and epoch == warmup + 1:
            run["auto"] = allocate_auto_bits(model, train_set, cfg, tmp if group.writer else None, progress, log)
            spec = model.spec
        lr = opt.param_groups[0]["lr"]
        loss, train_acc = _train_epoch(
            net,
            opt,
            sched if per_batch else None,
            train_set,
            cfg,
            epoch,
            device,
            progress,
            group,
            teacher,
            synop_weights,
        )
        if not per_batch:
            sched.step()
        ev = evaluate(model, test_set, cfg.batch_size, device)
        entry = {
            "epoch": epoch,
            "loss": loss,
            "train_accuracy": train_acc,
            "test_accuracy": ev["accuracy"],
            "synops_per_sample": ev["synops_per_sample"],
            "lr": lr,
        }
        if val_set is not None:
            entry["val_accuracy"] = evaluate(model, val_set, cfg.batch_size, device)["accuracy"]
            _early_stopping(run, model, entry, cfg.patience)
        entry["elapsed_s"] = round(time.time() - t0, 2)
        history.append(entry)
        log(
            f"epoch {epoch}/{cfg.epochs}: loss {loss:.4f}  train {100 * train_acc:.1f}%  "
            + (f"val {100 * entry['val_accuracy']:.1f}%  " if val_set is not None else "")
            + f"test {100 * ev['accuracy']:.1f}%  SynOps/sample {ev['synops_per_sample']:.3g}  lr {lr:.3g}"
        )
        if run["stopped_early"]:
            log(
                f"early stop: no better validation accuracy for {cfg.patience} epochs; keeping epoch "
                f"{run['best_epoch']}"
            )
        run["epoch"], run["elapsed_s"] = epoch, time.time() - t0
        if group.writer:
            _save_state(
                tmp / STATE_FILE,
                {
                    "format": STATE_FORMAT,
                    "config": asdict(cfg),
                    "model_spec": model.spec.to_dict(),
                    "overwrite": overwrite,
                    "model": _cpu_state(model),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": _rng_states(),
                    **run,
                },
            )
    if not group.writer:
        return {}
    if run["best_state"] is not None:
        model.load_state_dict(run["best_state"])
    spec = model.spec
    return _finish(tmp, cfg, spec, model, test_set, train_all, device, dt_us, run, warmup, t0)


def _early_stopping(run: dict[str, Any], model: SpikingCNN, entry: dict[str, Any], patience: int) -> None:
    """Keep the weights of the best validation accuracy; flag a stop after ``patience`` epochs without one."""
    if run["best_val"] is None or entry["val_accuracy"] > run["best_val"]:
        run.update(
            best_val=entry["val_accuracy"], best_epoch=entry["epoch"], best_state=_cpu_state(model), bad_epochs=0
        )
    else:
        run["bad_epochs"] += 1
        run["stopped_early"] = run["bad_epochs"] >= patience


def _finish(
    tmp: Path,
    cfg: TrainConfig,
    spec: ModelSpec,
    model: SpikingCNN,
    test_set: FramedSplit,
    train_all: FramedSplit,
    device: torch.device,
    dt_us: float,
    run: dict[str, Any],
    warmup: int,
    t0: float,
) -> dict[str, Any]:
    """Final evaluation; writes checkpoint.pt, metrics.json, config.yaml and training_curve.png to ``tmp``."""
    final = evaluate(model, test_set, cfg.batch_size, device)
    float_ev = evaluate(model, test_set, cfg.batch_size, device, quantize=False)
    auto, history = run["auto"], run["history"]
    metrics = {
        "test_accuracy": final["accuracy"],
        "float_test_accuracy": float_ev["accuracy"],
        "synops_per_sample": final["synops_per_sample"],
        "layer_synops": final["layer_synops"],
        "layer_spikes": final["layer_spikes"],
        "epochs": cfg.epochs,
        "epochs_run": len(history),
        "seed": cfg.seed,
        "model": spec.name,
        "dataset": cfg.dataset,
        "quantize": cfg.quantize,
        "time_bins": cfg.time_bins,
        "dt_us": dt_us,
        "duration_us": train_all.duration_us,
        "n_parameters": count_parameters(model),
        "device": str(device),
        "nproc": cfg.nproc,
        "weight_bits": {layer.name: layer.weight_bits for layer in spec.layers},
        "bits_label": bits_label(spec),
        "weight_memory_bits": weight_memory(model),
        "bit_allocation": None if auto is None else auto["allocation"] | {"warmup_epochs": warmup},
        "lr_schedule": cfg.lr_schedule,
        "loss": cfg.loss,
        "stopped_early": bool(run["stopped_early"]),
        "best_epoch": run["best_epoch"],
        "val_accuracy": run["best_val"],
        "train_time_s": round(time.time() - t0, 2),
        "history": history,
    }
    model.cpu()
    save_checkpoint(
        tmp / "checkpoint.pt",
        model,
        {
            "dt_us": dt_us,
            "time_bins": cfg.time_bins,
            "duration_us": train_all.duration_us,
            "dataset": cfg.dataset,
            "metrics": {k: v for k, v in metrics.items() if k != "history"},
        },
    )
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (tmp / "config.yaml").write_text(yaml.safe_dump({"train": asdict(cfg), "model": spec.to_dict()}, sort_keys=False))
    plot_training_curves(history, tmp / "training_curve.png")
    return metrics


# ----------------------------------------------------------------------------------------------------------------
# --seeds


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' → [0, 1, 2] (distinct integers)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--seeds '{text}' is not a comma-separated list of integers", fix="e.g. --seeds 0,1,2"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds '{text}' must name at least one seed, each once", fix="e.g. --seeds 0,1,2")
    return seeds


def train_seeds(
    config: TrainConfig,
    seeds: list[int],
    out: str | Path,
    overwrite: bool = False,
    progress: ProgressMode = True,
    log: Log = default_log,
) -> dict[str, Any]:
    """One run per seed into ``OUT/seed_S``, then ``OUT/summary.json`` with mean ± std (sample std, ddof 1) of
    test accuracy and SynOps per sample. Returns the summary."""
    from dataclasses import replace

    out = Path(out)
    config.resolve(load_spec(config.model))  # bad options fail before the first run
    check_writable(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in seeds:
        log(f"--- seed {seed} ({len(runs) + 1}/{len(seeds)}) ---")
        metrics = train(
            replace(config, seed=seed), out / f"seed_{seed}", overwrite=overwrite, progress=progress, log=log
        )
        runs.append(
            {
                "seed": seed,
                "out": f"seed_{seed}",
                "test_accuracy": metrics["test_accuracy"],
                "synops_per_sample": metrics["synops_per_sample"],
                "best_epoch": metrics["best_epoch"],
            }
        )

    def stats(key: str) -> dict[str, float]:
        values = np.array([r[key] for r in runs], dtype=float)
        return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}

    summary = {
        "seeds": seeds,
        "config": asdict(config) | {"seed": None},
        "runs": runs,
        "test_accuracy": stats("test_accuracy"),
        "synops_per_sample": stats("synops_per_sample"),
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary

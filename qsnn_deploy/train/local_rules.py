"""Local learning rules with training-only auxiliary classifiers: DECOLLE and ELL/BELL/FELL (local classifiers).

Every hidden block gets an auxiliary readout fed with its pooled output spikes of each time step
(average-pooled to about 4×4 like :mod:`.integer_only`); the last block is the classifier and is scored on its
own spikes. The spikes a block passes on are detached: **no gradient crosses blocks**. The rules differ in
what crosses time and when the weights change:

- ``decolle``: fixed random linear readout ``U(±0.5/√F)`` per hidden block, loss ``SmoothL1(r_t, onehot)`` per
  step, neuron states detached every step (no gradient across time), update every step after ``burn_in``
  steps; a layer's prediction is the most common per-step arg-max.
- ``ell``: auxiliary *spiking* classifier (linear → the block's neuron type), loss ``MSE(spikes_t, onehot)``,
  only same-step gradients (states detached), update every step: constant memory in T.
- ``bell``: the same losses summed over the window, gradient through time inside each block (block-local
  BPTT), one update per batch: memory grows with T.
- ``fell``: online forward version: update every step, the loss of step t reaches the weights through the
  block's whole membrane history (graph retained, weights cloned per step so in-place updates do not break it);
  the classifier state is detached.

``feedback_alignment`` sends errors back through fixed random matrices instead of the readout weights;
``freeze_readouts`` keeps readout weights fixed (default: frozen for DECOLLE, trained for ELL/BELL/FELL).
The checkpoint is a plain :class:`SpikingCNN` (its last block classifies); the payload key
``auxiliary_readouts`` tells ``convert`` how many training-only readouts were dropped.

**State memory for backprop** (``metrics.json`` ``peak_state_bytes``): bytes of the distinct tensors autograd
saves for backward (``torch.autograd.graph.saved_tensors_hooks``; element count × element size, 4 bytes in
float32), excluding the parameters and buffers themselves, summed between two backward calls (for FELL
until the batch's graph is freed), maximum over batches. ``bptt_state_bytes`` is the same for one BPTT
forward of the SpikingCNN on the same batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import DataOptions
from ..nets.zoo import ModelSpec, load_spec, with_neuron_option
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .augment import batch_frames, epoch_shifts
from .checks import check_local_rule_args, check_shift
from .config import MODEL_DEFAULTS, TrainConfig
from .device import pick_device
from .evaluation import evaluate
from .local_net import LocalRuleNet, StateMeter, bptt_state_bytes, evaluate_local_rule, run_batch
from .loop import Epochs, fit, train_pass
from .runs import RunFolder, staged_run
from .splits import data_options, model_spec, train_test_splits


class _LocalRun(Epochs):
    """The epochs of a local rule; also measures the state autograd keeps (per sample, its peak over batches)."""

    def __init__(self, spec: ModelSpec, dataset: str, args: dict[str, Any], device: torch.device, log: Log):
        a = self.args = args
        self.epochs, self.device, self.history = a["epochs"], device, []
        torch.manual_seed(a["seed"])
        self.rng = np.random.default_rng(a["seed"])
        self.train_set, self.test_set = train_test_splits(
            dataset, spec, a["time_bins"], progress=a["progress"], limit=a["limit"], options=a["options"]
        )
        self.dt_us = self.train_set.duration_us / a["time_bins"]
        net = self.net = LocalRuleNet(
            spec, a["rule"], a["quantize"], a["feedback_alignment"], a["freeze_readouts"], a["seed"]
        ).to(device)
        self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=a["lr"])
        self.meter = StateMeter(net)
        log(
            f"{a['rule']} local learning of {spec.name} ({spec.neuron_type} neurons) on {dataset}: "
            f"{len(self.train_set.labels)} train / {len(self.test_set.labels)} test samples, {a['time_bins']} bins, "
            f"burn-in {a['burn_in']}, readouts {'frozen' if net.frozen else 'trained'}"
            + (", feedback alignment" if a["feedback_alignment"] else "")
        )
        self.t0 = time.time()
        self.per_sample: float = 0.0
        self.bptt: float | None = None

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        a, data = self.args, self.train_set
        self.net.train()
        n = len(data.labels)
        order = torch.from_numpy(self.rng.permutation(n))
        shifts = epoch_shifts(n, a["shift_px"], a["seed"], epoch) if a["shift_px"] else None

        def step(idx: torch.Tensor) -> tuple[float, int, dict[str, str]]:
            x, y = batch_frames(data.frames, idx, shifts).to(self.device), data.labels[idx].to(self.device)
            self.meter.peak = 0
            loss, preds = run_batch(self.net, x, y, self.opt, a["burn_in"], self.meter)
            self.per_sample = max(self.per_sample, self.meter.peak / len(idx))
            if self.bptt is None:  # the first batch: what BPTT would keep for it
                self.bptt = bptt_state_bytes(self.net.cnn, x) / len(idx)
            return loss, int((preds[-1] == y).sum()), {}

        desc = f"epoch {epoch}/{self.epochs}"
        return train_pass(order, a["batch_size"], step, desc=desc, progress=a["progress"])

    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        a = self.args
        local = evaluate_local_rule(self.net, self.test_set, a["batch_size"], self.device, a["burn_in"])
        ev = evaluate(self.net.cnn, self.test_set, a["batch_size"], self.device)
        return {"test_accuracy": ev["accuracy"], "local_accuracies": local, "epoch_time_s": round(pass_s, 2)}

    def describe(self, entry: dict[str, Any]) -> str:
        local = " ".join(f"{k} {100 * v:.1f}%" for k, v in entry["local_accuracies"].items())
        return f"test {100 * entry['test_accuracy']:.1f}%  local {local}"

    def finish(self, folder: RunFolder, spec: ModelSpec, dataset: str, model_name: str) -> dict[str, Any]:
        """The final test, checkpoint.pt (the SpikingCNN, readouts dropped), metrics.json, config.yaml, curve."""
        a, net, history = self.args, self.net, self.history
        final = evaluate(net.cnn, self.test_set, a["batch_size"], self.device)
        n_blocks = len(net.cnn.blocks)
        metrics = {
            "test_accuracy": final["accuracy"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "layer_spikes": final["layer_spikes"],
            "local_accuracies": history[-1]["local_accuracies"],
            "epochs": a["epochs"],
            "seed": a["seed"],
            "rule": a["rule"],
            "model": spec.name,
            "dataset": dataset,
            "neuron": spec.neuron_type,
            "neuron_params": spec.neuron_params,
            "quantize": a["quantize"],
            "batch_size": a["batch_size"],
            "lr": a["lr"],
            "time_bins": a["time_bins"],
            "burn_in": a["burn_in"],
            "feedback_alignment": a["feedback_alignment"],
            "freeze_readouts": net.frozen,
            "auxiliary_readouts": n_blocks - 1,
            "peak_state_bytes": int(round(self.per_sample * a["batch_size"])),
            "peak_state_bytes_per_sample": self.per_sample,
            "bptt_state_bytes_per_sample": 0 if self.bptt is None else self.bptt,
            "state_memory_note": "bytes autograd saves for backward between updates (elements x 4 bytes "
            "in float32), parameters excluded; per sample = measured / batch size",
            "epoch_time_s": [h["epoch_time_s"] for h in history],
            "dt_us": self.dt_us,
            "duration_us": self.train_set.duration_us,
            "limit": a["limit"],
            "device": str(self.device),
            "train_time_s": round(time.time() - self.t0, 2),
            "history": history,
        }
        net.cnn.cpu()
        folder.checkpoint(
            net.cnn,
            {
                "dt_us": self.dt_us,
                "time_bins": a["time_bins"],
                "duration_us": self.train_set.duration_us,
                "dataset": dataset,
                "training": f"{a['rule']} local learning",
                "auxiliary_readouts": n_blocks - 1,
                "metrics": {k: v for k, v in metrics.items() if k != "history"},
            },
        )
        folder.metrics(metrics)
        names = ("epochs", "batch_size", "lr", "time_bins", "seed", "limit", "device", "burn_in")
        record = {"learning_rule": a["rule"], "model": model_name, "dataset": dataset}
        record |= {k: a[k] for k in names} | {"feedback_alignment": a["feedback_alignment"]}
        record |= {"freeze_readouts": net.frozen, "quantize": a["quantize"], "shift_px": a["shift_px"]}
        folder.config(record, spec)
        folder.curve(history, loss_label="Σ local losses", accuracy_title=f"{a['rule']} local learning")
        return metrics


def train_local_rule(
    model: str | Path | ModelSpec,
    dataset: str,
    out: str | Path,
    rule: str = "ell",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    time_bins: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    overwrite: bool = False,
    progress: ProgressMode = True,
    device: str = "auto",
    feedback_alignment: bool = False,
    freeze_readouts: bool | None = None,
    burn_in: int | None = None,
    quantize: bool = True,
    log: Log | None = None,
    options: DataOptions | None = None,
    shift_px: int = 0,
) -> dict[str, Any]:
    """Train ``model`` (zoo name, YAML path or spec) on ``dataset`` with a local ``rule`` (decolle, ell, bell,
    fell); write ``out`` (checkpoint.pt, metrics.json, config.yaml, training_curve.png) atomically; return
    the metrics. Unset epochs/batch_size/lr/time_bins come from the model's defaults; ``burn_in`` defaults to
    a quarter of the window for DECOLLE and 0 otherwise; ``freeze_readouts`` to frozen for DECOLLE only;
    ``shift_px``: random shifts of the training samples, redrawn every epoch (:mod:`.augment`)."""
    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    d = MODEL_DEFAULTS | spec.defaults
    epochs = int(d["epochs"]) if epochs is None else epochs
    batch_size = int(d["batch_size"]) if batch_size is None else batch_size
    lr = float(d["lr"]) if lr is None else lr
    time_bins = int(d["time_bins"]) if time_bins is None else time_bins
    burn_in = (time_bins // 4 if rule == "decolle" else 0) if burn_in is None else burn_in
    check_local_rule_args(rule, epochs, batch_size, lr, time_bins, limit, burn_in)
    check_shift(shift_px)
    dev = pick_device(device)
    log = log or default_log
    args = {
        "rule": rule,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "time_bins": time_bins,
        "seed": seed,
        "limit": limit,
        "device": device,
        "burn_in": burn_in,
        "feedback_alignment": feedback_alignment,
        "freeze_readouts": freeze_readouts,
        "quantize": quantize,
        "shift_px": shift_px,
        "progress": progress,
        "options": options,
    }
    with staged_run(out, overwrite) as folder:
        run = _LocalRun(spec, dataset, args, dev, log)
        fit(run, log)
        return run.finish(folder, spec, dataset, spec.name if isinstance(model, ModelSpec) else str(model))


def run_local_rule(
    config: TrainConfig, out: Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """``train --learning-rule RULE``: :func:`train_local_rule` with the options of ``config`` (the network of
    :func:`.splits.model_spec`, with ``--neuron``)."""
    spec = model_spec(config, progress=progress, log=log)
    spec = with_neuron_option(spec, config.neuron) if config.neuron else spec
    return train_local_rule(
        spec,
        config.dataset,
        out,
        rule=config.learning_rule,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        time_bins=config.time_bins,
        seed=config.seed,
        limit=config.limit,
        overwrite=overwrite,
        progress=progress,
        device=config.device,
        feedback_alignment=config.feedback_alignment,
        freeze_readouts=None if config.readouts is None else config.readouts == "frozen",
        quantize=config.quantize,
        log=log,
        options=data_options(config, spec),
        shift_px=config.shift_px,
    )

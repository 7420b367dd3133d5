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
from ..nets.zoo import ModelSpec, at_time_step, load_spec, with_neuron_option
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .augment import batch_frames, epoch_shifts
from .checks import check_chain, check_local_rule_args
from .config import ResolvedConfig, TrainConfig
from .device import pick_device
from .evaluation import evaluate
from .local_net import LocalRuleNet, StateMeter, bptt_state_bytes, evaluate_local_rule, run_batch
from .loop import Epochs, fit, train_pass
from .runs import RunFolder, staged_run
from .splits import data_options, model_spec, train_test_splits, without_validation


class _LocalRun(Epochs):
    """The epochs of a local rule; also measures the state autograd keeps (per sample, its peak over batches)."""

    def __init__(
        self,
        cfg: ResolvedConfig,
        spec: ModelSpec,
        burn_in: int,
        options: DataOptions | None,
        device: torch.device,
        progress: ProgressMode,
        log: Log,
    ):
        self.cfg, self.burn_in, self.progress = cfg, burn_in, progress
        self.epochs, self.device, self.history = cfg.epochs, device, []
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.train_set, self.test_set = train_test_splits(
            cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit, options=options
        )
        self.dt_us = self.train_set.duration_us / cfg.time_bins
        spec = self.spec = at_time_step(spec, self.dt_us)  # DECOLLE's per-1-ms decays → per bin
        freeze_readouts = None if cfg.readouts is None else cfg.readouts == "frozen"
        net = self.net = LocalRuleNet(
            spec, cfg.learning_rule, cfg.quantize, cfg.feedback_alignment, freeze_readouts, cfg.seed
        ).to(device)
        self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.lr)
        self.meter = StateMeter(net)
        log(
            f"{cfg.learning_rule} local learning of {spec.name} ({spec.neuron_type} neurons) on {cfg.dataset}: "
            f"{len(self.train_set.labels)} train / {len(self.test_set.labels)} test samples, {cfg.time_bins} bins, "
            f"burn-in {burn_in}, readouts {'frozen' if net.frozen else 'trained'}"
            + (", feedback alignment" if cfg.feedback_alignment else "")
        )
        self.t0 = time.time()
        self.per_sample: float = 0.0
        self.bptt: float | None = None

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        cfg, data = self.cfg, self.train_set
        self.net.train()
        n = len(data.labels)
        order = torch.from_numpy(self.rng.permutation(n))
        shifts = epoch_shifts(n, cfg.shift_px, cfg.seed, epoch) if cfg.shift_px else None

        def step(idx: torch.Tensor) -> tuple[float, int, dict[str, str]]:
            x, y = batch_frames(data.frames, idx, shifts).to(self.device), data.labels[idx].to(self.device)
            self.meter.peak = 0
            loss, preds = run_batch(self.net, x, y, self.opt, self.burn_in, self.meter)
            self.per_sample = max(self.per_sample, self.meter.peak / len(idx))
            if self.bptt is None:  # the first batch: what BPTT would keep for it
                self.bptt = bptt_state_bytes(self.net.cnn, x) / len(idx)
            return loss, int((preds[-1] == y).sum()), {}

        desc = f"epoch {epoch}/{self.epochs}"
        return train_pass(order, cfg.batch_size, step, desc=desc, progress=self.progress)

    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        cfg = self.cfg
        local = evaluate_local_rule(self.net, self.test_set, cfg.batch_size, self.device, self.burn_in)
        ev = evaluate(self.net.cnn, self.test_set, cfg.batch_size, self.device)
        return {"test_accuracy": ev["accuracy"], "local_accuracies": local, "epoch_time_s": round(pass_s, 2)}

    def describe(self, entry: dict[str, Any]) -> str:
        local = " ".join(f"{k} {100 * v:.1f}%" for k, v in entry["local_accuracies"].items())
        return f"test {100 * entry['test_accuracy']:.1f}%  local {local}"

    def finish(self, folder: RunFolder, model_name: str) -> dict[str, Any]:
        """The final test, checkpoint.pt (the SpikingCNN, readouts dropped), metrics.json, config.yaml, curve."""
        cfg, net, history, spec = self.cfg, self.net, self.history, self.spec
        final = evaluate(net.cnn, self.test_set, cfg.batch_size, self.device)
        n_blocks = len(net.cnn.blocks)
        metrics = {
            "test_accuracy": final["accuracy"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "layer_spikes": final["layer_spikes"],
            "local_accuracies": history[-1]["local_accuracies"],
            "epochs": cfg.epochs,
            "seed": cfg.seed,
            "rule": cfg.learning_rule,
            "model": spec.name,
            "dataset": cfg.dataset,
            "neuron": spec.neuron_type,
            "neuron_params": spec.neuron_params,
            "quantize": cfg.quantize,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "time_bins": cfg.time_bins,
            "burn_in": self.burn_in,
            "feedback_alignment": cfg.feedback_alignment,
            "freeze_readouts": net.frozen,
            "auxiliary_readouts": n_blocks - 1,
            "peak_state_bytes": int(round(self.per_sample * cfg.batch_size)),
            "peak_state_bytes_per_sample": self.per_sample,
            "bptt_state_bytes_per_sample": 0 if self.bptt is None else self.bptt,
            "state_memory_note": "bytes autograd saves for backward between updates (elements x 4 bytes "
            "in float32), parameters excluded; per sample = measured / batch size",
            "epoch_time_s": [h["epoch_time_s"] for h in history],
            "dt_us": self.dt_us,
            "duration_us": self.train_set.duration_us,
            "limit": cfg.limit,
            "device": str(self.device),
            "train_time_s": round(time.time() - self.t0, 2),
            **without_validation(self.train_set, self.test_set, history),
            "history": history,
        }
        net.cnn.cpu()
        folder.checkpoint(
            net.cnn,
            {
                "dt_us": self.dt_us,
                "time_bins": cfg.time_bins,
                "duration_us": self.train_set.duration_us,
                "dataset": cfg.dataset,
                "training": f"{cfg.learning_rule} local learning",
                "auxiliary_readouts": n_blocks - 1,
                "metrics": {k: v for k, v in metrics.items() if k != "history"},
                **self.train_set.provenance(),
            },
        )
        folder.metrics(metrics)
        names = ("epochs", "batch_size", "lr", "time_bins", "seed", "limit", "device")
        record: dict[str, Any] = {"learning_rule": cfg.learning_rule, "model": model_name, "dataset": cfg.dataset}
        record |= {k: getattr(cfg, k) for k in names} | {"burn_in": self.burn_in}
        record |= {"feedback_alignment": cfg.feedback_alignment}
        record |= {"freeze_readouts": net.frozen, "quantize": cfg.quantize, "shift_px": cfg.shift_px}
        folder.config(record, spec)
        folder.curve(history, loss_label="Σ local losses", accuracy_title=f"{cfg.learning_rule} local learning")
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
    model_name = spec.name if isinstance(model, ModelSpec) else str(model)
    check_local_rule_args(rule, epochs, batch_size, lr, time_bins, limit)
    config = TrainConfig(
        model=model_name,
        dataset=dataset,
        learning_rule=rule,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        time_bins=time_bins,
        seed=seed,
        limit=limit,
        device=device,
        feedback_alignment=feedback_alignment,
        readouts=None if freeze_readouts is None else ("frozen" if freeze_readouts else "trained"),
        quantize=quantize,
        shift_px=shift_px,
    )
    return _train(config, spec, model_name, Path(out), overwrite, progress, log or default_log, options, burn_in)


def run_local_rule(
    config: TrainConfig, out: Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """``train --learning-rule RULE``: train ``config`` with its local rule as :func:`train_local_rule` describes
    (the network of :func:`.splits.model_spec`, with ``--neuron``)."""
    spec = model_spec(config, progress=progress, log=log)
    spec = with_neuron_option(spec, config.neuron) if config.neuron else spec
    return _train(config, spec, spec.name, out, overwrite, progress, log, data_options(config, spec))


def _train(
    config: TrainConfig,
    spec: ModelSpec,
    model_name: str,
    out: Path,
    overwrite: bool,
    progress: ProgressMode,
    log: Log,
    options: DataOptions | None,
    burn_in: int | None = None,
) -> dict[str, Any]:
    """Train ``config`` (its unset values from ``spec``'s defaults) with its local rule into ``out``; the metrics.
    ``model_name``: the model as ``config.yaml`` records it; ``burn_in``: None for the rule's default."""
    check_chain(spec, config.method_flag)
    cfg = config.resolve(spec)
    if burn_in is None:
        burn_in = cfg.time_bins // 4 if cfg.learning_rule == "decolle" else 0
    check_local_rule_args(cfg.learning_rule, cfg.epochs, cfg.batch_size, cfg.lr, cfg.time_bins, cfg.limit, burn_in)
    dev = pick_device(cfg.device)
    with staged_run(out, overwrite) as folder:
        run = _LocalRun(cfg, spec, burn_in, options, dev, progress, log)
        fit(run, log)
        return run.finish(folder, model_name)

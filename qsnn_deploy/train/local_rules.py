"""Local learning rules with training-only auxiliary classifiers: DECOLLE (seed 0) and ELL/BELL/FELL (seed 4).

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

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..data import DataOptions
from ..errors import UsageError
from ..nets.checkpoint import save_checkpoint
from ..nets.network import SpikingCNN
from ..nets.neurons import detach_state, make_neuron
from ..nets.zoo import ModelSpec, load_spec
from ..outputs import staged_folder
from ..progress import Log, Progress, ProgressMode
from ..progress import log as default_log
from .augment import batch_frames, epoch_shifts
from .integer_only import readout_pool
from .trainer import evaluate, pick_device, plot_training_curves, train_test_splits

RULES = ("decolle", "ell", "bell", "fell")
_DEFAULTS = {"epochs": 15, "batch_size": 32, "lr": 2e-3, "time_bins": 10}


class _LinearFA(torch.autograd.Function):
    """``x·Wᵀ + b`` whose input gradient goes through the fixed matrix ``B`` (feedback alignment)."""

    @staticmethod
    def forward(ctx, x, w, b, feedback):
        ctx.save_for_backward(x, feedback)
        return F.linear(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, feedback = ctx.saved_tensors
        return g @ feedback, g.t() @ x, g.sum(0), None


class Readout(nn.Module):
    """Auxiliary classifier of one hidden block: avg-pool → linear (→ spiking neuron for ELL/BELL/FELL)."""

    def __init__(
        self,
        channels: int,
        hw: tuple[int, int],
        n_classes: int,
        spiking: bool,
        ampl: float,
        frozen: bool,
        feedback_alignment: bool,
        gen: torch.Generator,
        neuron_type: str = "iaf",
        neuron_params: dict | None = None,
    ):
        super().__init__()
        self.pool = readout_pool(*hw)
        features = channels * (hw[0] // self.pool) * (hw[1] // self.pool)
        bound = ampl / features**0.5
        self.weight = nn.Parameter(
            (torch.rand(n_classes, features, generator=gen) * 2 - 1) * bound, requires_grad=not frozen
        )
        self.bias = nn.Parameter((torch.rand(n_classes, generator=gen) * 2 - 1) * bound, requires_grad=not frozen)
        self.feedback_alignment = feedback_alignment
        if feedback_alignment:
            self.register_buffer("feedback", (torch.rand(n_classes, features, generator=gen) * 2 - 1) / features**0.5)
        self.neuron = make_neuron(neuron_type, neuron_params) if spiking else None

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Pooled spikes of one step (N, C, H, W) → readout (N, K); the spiking kind feeds it to ``self.neuron``."""
        x = (F.avg_pool2d(s, self.pool) if self.pool > 1 else s).flatten(1)
        if self.feedback_alignment:
            return _LinearFA.apply(x, self.weight, self.bias, self.feedback)
        return F.linear(x, self.weight, self.bias)


class LocalRuleNet(nn.Module):
    """A :class:`SpikingCNN` plus one auxiliary readout per hidden block (training only)."""

    def __init__(
        self,
        spec: ModelSpec,
        rule: str,
        quantize: bool = True,
        feedback_alignment: bool = False,
        freeze_readouts: bool | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if rule not in RULES:
            raise UsageError(f"unknown learning rule '{rule}'", fix="use one of " + ", ".join(RULES))
        self.rule = rule
        self.cnn = SpikingCNN(spec, quantize=quantize)
        frozen = rule == "decolle" if freeze_readouts is None else bool(freeze_readouts)
        self.frozen = frozen
        gen = torch.Generator().manual_seed(seed)
        shapes = spec.layer_input_shapes()[1:]  # output (C, H, W) of every block but the last
        self.readouts = nn.ModuleList(
            Readout(
                c,
                (h, w),
                spec.n_classes,
                rule != "decolle",
                0.5 if rule == "decolle" else 1.0,
                frozen,
                feedback_alignment,
                gen,
                spec.neuron_type,
                spec.neuron_params,
            )
            for c, h, w in shapes
        )

    def forward_step(
        self,
        x_t: torch.Tensor,
        y: torch.Tensor,
        states: list | None,
        dstates: list | None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list, list]:
        """One time step through every block: input counts (N, C, H, W) and labels → (local loss per block,
        detached outputs (N, K) per block, new neuron states, new readout-neuron states).

        ``states``/``dstates`` are ``None`` at the first step. States are detached before the step for
        DECOLLE/ELL (no gradient across time), kept for BELL/FELL.
        """
        blocks, rule = self.cnn.blocks, self.rule
        states = states or [None] * len(blocks)
        dstates = dstates or [None] * len(self.readouts)
        target = F.one_hot(y, self.cnn.spec.n_classes).to(x_t.dtype)
        losses, outputs, new_s, new_d = [], [], [], []
        inp = x_t
        for i, block in enumerate(blocks):
            w, b = block.conv.weight, block.conv.bias
            if rule == "fell" and torch.is_grad_enabled():  # the retained graph must not see in-place updates
                w, b = w.clone(), None if b is None else b.clone()
            w, b, thr, low = block.params(self.cnn.quantize, w, b)
            current = block.current(inp.detach(), w, b)
            state = states[i] if states[i] is not None else block.neuron.init_state(current)
            if rule in ("decolle", "ell"):
                state = detach_state(state)
            spikes, state = block.neuron.step(current, state, thr, low, block.reset)
            new_s.append(state)
            out = block.pool_spikes(spikes)
            if i == len(blocks) - 1:
                z = out.flatten(1)
            else:
                ro = self.readouts[i]
                z = ro(out)
                if ro.neuron is not None:
                    ds = dstates[i] if dstates[i] is not None else ro.neuron.init_state(z)
                    if rule != "bell":
                        ds = detach_state(ds)
                    z, ds = ro.neuron.step(z, ds, block.threshold, block.min_v_mem, block.reset)
                    new_d.append(ds)
            loss = F.smooth_l1_loss(z, target) if rule == "decolle" else F.mse_loss(z, target)
            losses.append(loss)
            outputs.append(z.detach())
            inp = out.detach()
        return losses, outputs, new_s, new_d


class StateMeter:
    """Bytes of the tensors autograd saves for backward (distinct, parameters and buffers excluded)."""

    def __init__(self, model: nn.Module):
        self.skip = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
        self.held: dict[tuple[int, int], int] = {}
        self.peak = 0

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in self.skip:
            self.held[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def bytes(self) -> int:
        return int(sum(self.held.values()))

    def release(self) -> None:
        """At a backward that frees the graph: record the peak and forget the saved tensors."""
        self.peak = max(self.peak, self.bytes())
        self.held.clear()


def bptt_state_bytes(model: SpikingCNN, x: torch.Tensor) -> int:
    """Bytes autograd saves for one BPTT forward of ``model`` on ``x`` (grows with T)."""
    meter = StateMeter(model)
    with torch.enable_grad(), meter.hooks():
        model(x)
    return meter.bytes()


def most_common(pred: torch.Tensor) -> torch.Tensor:
    """Most common class over time: (N, T) → (N,) (DECOLLE's ``prediction_mostcommon``)."""
    return torch.mode(pred, dim=1).values


def run_batch(
    net: LocalRuleNet,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer | None,
    burn_in: int,
    meter: StateMeter | None = None,
) -> tuple[float, list[torch.Tensor]]:
    """Run one batch (N, T, C, H, W) step by step; with ``opt`` update by the rule. Returns (Σ local losses
    over the graded steps, per block the prediction (N,) of its local readout)."""
    rule, t_len = net.rule, x.shape[1]
    states = dstates = None
    total, loss_sum, outs = None, 0.0, []
    hooks = meter.hooks() if meter is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
    with hooks:
        for t in range(t_len):
            graded = opt is not None and t >= burn_in
            with torch.set_grad_enabled(graded):
                losses, z, states, dstates = net.forward_step(x[:, t], y, states, dstates)
            if t >= burn_in:
                outs.append(z)
                loss = torch.stack(losses).sum()
                loss_sum += float(loss.detach())
            if not graded:
                continue
            if rule == "bell":
                total = loss if total is None else total + loss
                continue
            opt.zero_grad(set_to_none=True)
            loss.backward(retain_graph=rule == "fell")
            opt.step()
            if meter is not None and rule != "fell":
                meter.release()
        if total is not None:
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
        if meter is not None and opt is not None:
            meter.release()
    preds = []
    for k in range(len(net.cnn.blocks)):
        seq = torch.stack([o[k] for o in outs], 1)  # (N, T', K)
        last = k == len(net.cnn.blocks) - 1
        preds.append(most_common(seq.argmax(2)) if rule == "decolle" and not last else seq.sum(1).argmax(1))
    return loss_sum, preds


def _check(rule: str, epochs: int, batch_size: int, lr: float, time_bins: int, limit: int | None, burn_in: int) -> None:
    if rule not in RULES:
        raise UsageError(
            f"unknown learning rule '{rule}'", where="--learning-rule", fix="use one of " + ", ".join(RULES)
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("time_bins", time_bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be an integer >= 1, got {value!r}", where="train_local_rule")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise UsageError(f"limit must be an integer >= 1, got {limit!r}", where="train_local_rule")
    if not lr > 0:
        raise UsageError(f"the learning rate must be > 0, got {lr!r}", where="train_local_rule")
    if not isinstance(burn_in, int) or not 0 <= burn_in < time_bins:
        raise UsageError(
            f"burn_in must be an integer in 0..time_bins-1 = {time_bins - 1}, got {burn_in!r}",
            where="--burn-in",
            fix="burn-in steps only settle the states; leave steps to learn from",
        )


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
    d = _DEFAULTS | spec.defaults
    epochs = int(d["epochs"]) if epochs is None else epochs
    batch_size = int(d["batch_size"]) if batch_size is None else batch_size
    lr = float(d["lr"]) if lr is None else lr
    time_bins = int(d["time_bins"]) if time_bins is None else time_bins
    burn_in = (time_bins // 4 if rule == "decolle" else 0) if burn_in is None else burn_in
    _check(rule, epochs, batch_size, lr, time_bins, limit, burn_in)
    if shift_px < 0:
        raise UsageError(f"--shift-px must be >= 0, got {shift_px}", fix="e.g. --shift-px 1")
    dev = pick_device(device)
    log = log or default_log
    with staged_folder(out, overwrite) as tmp:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        train_set, test_set = train_test_splits(
            dataset, spec, time_bins, progress=progress, limit=limit, options=options
        )
        dt_us = train_set.duration_us / time_bins
        net = LocalRuleNet(spec, rule, quantize, feedback_alignment, freeze_readouts, seed).to(dev)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
        meter = StateMeter(net)
        log(
            f"{rule} local learning of {spec.name} ({spec.neuron_type} neurons) on {dataset}: "
            f"{len(train_set.labels)} train / {len(test_set.labels)} test samples, {time_bins} bins, "
            f"burn-in {burn_in}, readouts {'frozen' if net.frozen else 'trained'}"
            + (", feedback alignment" if feedback_alignment else "")
        )
        n, n_blocks, history, t0 = len(train_set.labels), len(net.cnn.blocks), [], time.time()
        per_sample, bptt = 0.0, 0
        for epoch in range(1, epochs + 1):
            net.train()
            te = time.time()
            order = torch.from_numpy(rng.permutation(n))
            shifts = epoch_shifts(n, shift_px, seed, epoch) if shift_px else None
            loss_sum, correct, seen = 0.0, 0, 0
            bar = Progress(range(0, n, batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch", progress=progress)
            for i in bar:
                idx = order[i : i + batch_size]
                x, y = batch_frames(train_set.frames, idx, shifts).to(dev), train_set.labels[idx].to(dev)
                meter.peak = 0
                loss, preds = run_batch(net, x, y, opt, burn_in, meter)
                per_sample = max(per_sample, meter.peak / len(idx))
                if epoch == 1 and i == 0:
                    bptt = bptt_state_bytes(net.cnn, x) / len(idx)
                loss_sum += loss * len(idx)
                correct += int((preds[-1] == y).sum())
                seen += len(idx)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            epoch_time = time.time() - te
            local = evaluate_local_rule(net, test_set, batch_size, dev, burn_in)
            ev = evaluate(net.cnn, test_set, batch_size, dev)
            history.append(
                {
                    "epoch": epoch,
                    "loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "test_accuracy": ev["accuracy"],
                    "local_accuracies": local,
                    "epoch_time_s": round(epoch_time, 2),
                    "elapsed_s": round(time.time() - t0, 2),
                }
            )
            log(
                f"epoch {epoch}/{epochs}: loss {loss_sum / seen:.4f}  train {100 * correct / seen:.1f}%  "
                f"test {100 * ev['accuracy']:.1f}%  local " + " ".join(f"{k} {100 * v:.1f}%" for k, v in local.items())
            )
        final = evaluate(net.cnn, test_set, batch_size, dev)
        metrics = {
            "test_accuracy": final["accuracy"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "layer_spikes": final["layer_spikes"],
            "local_accuracies": history[-1]["local_accuracies"],
            "epochs": epochs,
            "seed": seed,
            "rule": rule,
            "model": spec.name,
            "dataset": dataset,
            "neuron": spec.neuron_type,
            "neuron_params": spec.neuron_params,
            "quantize": quantize,
            "batch_size": batch_size,
            "lr": lr,
            "time_bins": time_bins,
            "burn_in": burn_in,
            "feedback_alignment": feedback_alignment,
            "freeze_readouts": net.frozen,
            "auxiliary_readouts": n_blocks - 1,
            "peak_state_bytes": int(round(per_sample * batch_size)),
            "peak_state_bytes_per_sample": per_sample,
            "bptt_state_bytes_per_sample": bptt,
            "state_memory_note": "bytes autograd saves for backward between updates (elements x 4 bytes "
            "in float32), parameters excluded; per sample = measured / batch size",
            "epoch_time_s": [h["epoch_time_s"] for h in history],
            "dt_us": dt_us,
            "duration_us": train_set.duration_us,
            "limit": limit,
            "device": str(dev),
            "train_time_s": round(time.time() - t0, 2),
            "history": history,
        }
        net.cnn.cpu()
        save_checkpoint(
            tmp / "checkpoint.pt",
            net.cnn,
            {
                "dt_us": dt_us,
                "time_bins": time_bins,
                "duration_us": train_set.duration_us,
                "dataset": dataset,
                "training": f"{rule} local learning",
                "auxiliary_readouts": n_blocks - 1,
                "metrics": {k: v for k, v in metrics.items() if k != "history"},
            },
        )
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        config = {
            "train": {
                "learning_rule": rule,
                "model": str(model) if not isinstance(model, ModelSpec) else spec.name,
                "dataset": dataset,
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "time_bins": time_bins,
                "seed": seed,
                "limit": limit,
                "device": device,
                "burn_in": burn_in,
                "feedback_alignment": feedback_alignment,
                "freeze_readouts": net.frozen,
                "quantize": quantize,
                "shift_px": shift_px,
            },
            "model": spec.to_dict(),
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        plot_training_curves(
            history, tmp / "training_curve.png", loss_label="Σ local losses", accuracy_title=f"{rule} local learning"
        )
    return metrics


@torch.no_grad()
def evaluate_local_rule(
    net: LocalRuleNet, data, batch_size: int, device: torch.device, burn_in: int = 0
) -> dict[str, float]:
    """Accuracy of every block's local readout (the last block: its spike counts) on a framed split."""
    net.eval()
    correct = [0] * len(net.cnn.blocks)
    for i in range(0, len(data.labels), batch_size):
        x, y = data.frames[i : i + batch_size].to(device), data.labels[i : i + batch_size].to(device)
        _, preds = run_batch(net, x, y, None, burn_in)
        for k, p in enumerate(preds):
            correct[k] += int((p == y).sum())
    return {b.name: c / len(data.labels) for b, c in zip(net.cnn.blocks, correct)}

"""SynOpLoss in ANN mode: a floor-ReLU CNN trained with a SynOp loss, then converted to IAF.

**The ANN.** :func:`quantized_ann_from_spec` builds the twin of a zoo model with :class:`FloorReLU`
activations ``⌊relu(z)⌋``: integer activations, the spike counts of IAF neurons with threshold 1 and
subtract reset. Average pooling is computed as the chip does it, as sum pooling of those integers
with the next layer's weights divided by k². With ``quantize_weights`` (the default) each layer
also uses the chip's integer weights (the per-layer scale of :mod:`qsnn_deploy.quant.chip`, straight-
through rounding), so its activations are the chip's integer arithmetic, not an approximation of it.
Its state dict has the keys of :func:`qsnn_deploy.convert.ann.ann_from_spec`, so ``ann.pt`` loads
with ``load_ann`` and converts with ``qsnn-deploy convert ann.pt --from-ann MODEL --no-weight-scaling``.

**What the ANN sees:** the event counts of the *whole sample window* (the raster summed over its T
bins), as in the original SynOpLoss code. A bias is a per-bin bias (what the chip adds once per bin), so the ANN adds
it T times.

**Why the converted SNN matches.** With threshold 1, subtract reset and multi-spike neurons, a
neuron that receives currents I_1..I_T emits N = max(0, max_t ⌊I_1 + … + I_t⌋) spikes in all (no
lower-bound clipping), while the ANN activation is ⌊I_1 + … + I_T⌋. So N ≥ the ANN count, with
equality when the running sum peaks at the end, e.g. when all currents are ≥ 0 (non-negative
weights and bias), or when the whole window is one bin (T = 1: the SNN *is* the ANN). Clipping the
membrane at a lower bound only adds spikes, so the conversion puts it far down (−2**14 chip units,
:func:`qsnn_deploy.convert.ann.unscaled_lower_bound`) instead of at −threshold. ON and OFF events
that cancel over the window still make spikes on the way: the SNN spends at least the ANN's SynOps.
:func:`train_ann_synop` measures both on the emulator (``benchmarks/results/synop_ann.md``).

**Readout.** The chip predicts the argmax of integer output spike counts (first class on ties), so
a class score below 1 is no spike at all. :func:`readout_loss` is cross-entropy over the class scores
plus a constant *silent* score of 1 (one threshold): the correct class must fire clearly more than
once and more than the others. Plain cross-entropy only fixes score differences and leaves many
samples with no output spike (measured: 84 % count accuracy for 97 % score accuracy).

**SynOps** per sample (differentiable): Σ over layers of the layer's input counts × fan-out, the
first layer's input being the events: a conv counts each input pixel's exact fan-out map (borders
included, :func:`qsnn_deploy.ir.fanout_map`) × out channels, a linear layer ``out_features``; a
pooled layer's output is sum-pooled first. This is what the emulator counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..nets.zoo import ModelSpec, load_spec
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from .ann_net import emulate_snn, evaluate_ann, quantized_ann_from_spec, readout_loss
from .checks import check_chain
from .config import ResolvedConfig, TrainConfig
from .device import pick_device
from .loop import Epochs, fit, train_pass
from .losses import synop_penalty as penalty_loss
from .losses import synop_target as target_loss
from .runs import RunFolder, staged_run
from .splits import train_test_splits, without_validation


class _ANNRun(Epochs):
    """The epochs of the ANN: whole-window counts in, the readout loss plus the SynOp loss on the ANN's SynOps."""

    def __init__(
        self,
        cfg: ResolvedConfig,
        spec: ModelSpec,
        device: torch.device,
        progress: ProgressMode,
        log: Log,
    ):
        self.cfg, self.device, self.progress, self.epochs, self.history = cfg, device, progress, cfg.epochs, []
        self.spec = spec
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.train_set, self.test_set = train_test_splits(
            cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit
        )
        self.dt_us = self.train_set.duration_us / cfg.time_bins
        # whole-window event counts
        self.x_train, self.x_test = self.train_set.frames.sum(1), self.test_set.frames.sum(1)
        ann = self.ann = quantized_ann_from_spec(spec, cfg.time_bins, cfg.quantize)
        if cfg.init is not None:
            from ..convert.ann import load_ann

            start = Path(cfg.init) / "ann.pt" if Path(cfg.init).is_dir() else Path(cfg.init)
            ann.load_state_dict(load_ann(spec, start).state_dict())
            log(f"starting from the weights of {start}")
        ann.to(device)
        self.opt = torch.optim.Adam(ann.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)
        loss_text = (
            f"SynOp target {cfg.synop_target:.3g}"
            if cfg.synop_target is not None
            else f"SynOp penalty {cfg.synop_penalty:g}"
            if cfg.synop_penalty > 0
            else "no SynOp loss"
        )
        log(
            f"training the floor-ReLU ANN of {spec.name} ({'chip-integer' if cfg.quantize else 'float'} "
            f"weights, {loss_text}) on {cfg.dataset}: {len(self.train_set.labels)} train / "
            f"{len(self.test_set.labels)} test samples of whole-window counts; SNN test over {cfg.time_bins} bins "
            f"of {self.dt_us / 1000:g} ms; device {device}"
        )
        self.t0 = time.time()

    def _step(self, idx: torch.Tensor) -> tuple[float, int, dict[str, str]]:
        cfg = self.cfg
        x, y = self.x_train[idx].to(self.device), self.train_set.labels[idx].to(self.device)
        res = self.ann.run(x)
        loss = readout_loss(res.logits, y)
        if cfg.synop_penalty > 0:
            loss = loss + penalty_loss(res.synops, cfg.synop_penalty)
        elif cfg.synop_target is not None:
            loss = loss + target_loss(res.synops, cfg.synop_target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        correct = int((res.counts.argmax(1) == y).sum())
        return float(loss.detach()), correct, {"synops": f"{float(res.synops.detach().mean()):.3g}"}

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        self.ann.train()
        order = torch.from_numpy(self.rng.permutation(len(self.train_set.labels)))
        desc = f"epoch {epoch}/{self.cfg.epochs}"
        return train_pass(order, self.cfg.batch_size, self._step, desc=desc, progress=self.progress)

    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        self.sched.step()
        ev = evaluate_ann(self.ann, self.x_test, self.test_set.labels, device=self.device)
        return {
            "test_accuracy": ev["accuracy"],
            "synops_per_sample": ev["synops_per_sample"],
            "lr": self.opt.param_groups[0]["lr"],
        }

    def describe(self, entry: dict[str, Any]) -> str:
        return f"ANN test {100 * entry['test_accuracy']:.1f}%  ANN SynOps/sample {entry['synops_per_sample']:.3g}"

    def finish(self, folder: RunFolder, log: Log) -> dict[str, Any]:
        """Convert the trained ANN, emulate the SNN on the test split, write the run files; the metrics."""
        cfg, ann, spec, test_set = self.cfg, self.ann, self.spec, self.test_set
        train_s = time.time() - self.t0
        ann_ev = evaluate_ann(ann, self.x_test, test_set.labels, device=self.device)
        ann.cpu()
        net = ann.to_network(
            self.dt_us,
            {
                "duration_us": self.train_set.duration_us,
                "dataset": cfg.dataset,
                "source": "train_ann_synop",
                **self.train_set.provenance(),
            },
        )
        snn = emulate_snn(net, test_set.frames, test_set.labels, self.progress)
        one_bin = emulate_snn(net, self.x_test.unsqueeze(1), test_set.labels)  # the whole window in one bin
        for w in snn["warnings"]:
            log(f"warning: {w}")
        log(
            f"ANN {100 * ann_ev['accuracy']:.1f}% at {ann_ev['synops_per_sample']:.3g} SynOps/sample → SNN "
            f"(emulated, {cfg.time_bins} bins) {100 * snn['accuracy']:.1f}% at {snn['synops_per_sample']:.3g}"
        )
        strip = ("predictions", "warnings")
        metrics = {
            "test_accuracy": snn["accuracy"],
            "synops_per_sample": snn["synops_per_sample"],
            "method": "ann-synop",
            "synop_target": cfg.synop_target,
            "synop_penalty": cfg.synop_penalty,
            "init": cfg.init,
            "ann_test_accuracy": ann_ev["accuracy"],
            "ann_score_accuracy": ann_ev["score_accuracy"],
            "ann_synops_per_sample": ann_ev["synops_per_sample"],
            "ann_layer_synops": ann_ev["layer_synops"],
            "ann_layer_spikes": ann_ev["layer_spikes"],
            "snn_test_accuracy": snn["accuracy"],
            "snn_synops_per_sample": snn["synops_per_sample"],
            "snn_layer_synops": snn["layer_synops"],
            "snn_layer_spikes": snn["layer_spikes"],
            "snn_prediction_agreement": float((snn["predictions"] == ann_ev["predictions"]).mean())
            if len(test_set.labels)
            else 0.0,
            "snn_one_bin": {k: v for k, v in one_bin.items() if k not in strip},
            "layers": [c.name for c in ann.cores],
            "discretisation_warnings": snn["warnings"],
            "epochs": cfg.epochs,
            "seed": cfg.seed,
            "model": spec.name,
            "dataset": cfg.dataset,
            "quantize_weights": cfg.quantize,
            "time_bins": cfg.time_bins,
            "dt_us": self.dt_us,
            "duration_us": self.train_set.duration_us,
            "n_parameters": int(sum(p.numel() for p in ann.parameters())),
            "device": str(self.device),
            "train_time_s": round(train_s, 2),
            "total_time_s": round(time.time() - self.t0, 2),
            **without_validation(self.train_set, test_set, self.history),
            "history": self.history,
        }
        folder.torch_file("ann.pt", ann.state_dict())
        folder.metrics(metrics)
        folder.config({**cfg.record(), "method": "ann-synop"}, spec)
        folder.curve(self.history, accuracy_label="ANN accuracy (%)", synops_label="ANN SynOps / sample (test)")
        return metrics


def train_ann_synop(
    model: str,
    dataset: str | None,
    out: str | Path,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    time_bins: int | None = None,
    seed: int = 0,
    synop_target: float | None = None,
    synop_penalty: float = 0.0,
    limit: int | None = None,
    overwrite: bool = False,
    progress: ProgressMode = True,
    device: str = "auto",
    quantize_weights: bool = True,
    init: str | Path | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Train the floor-ReLU ANN of ``model`` with :func:`readout_loss` (+ a SynOp loss), convert it without weight
    scaling, emulate the SNN on the test split and write the run folder atomically.

    ``None`` for epochs, batch_size, lr, time_bins and dataset: the model's defaults. The SynOp loss
    acts on the ANN's SynOps per sample: ``synop_target`` (the paper's form) or ``synop_penalty`` α.
    ``init``: start from the weights of an ``ann.pt`` (or a run folder holding one) of the same model.
    Files: ``ann.pt`` (state dict for ``convert --from-ann MODEL --no-weight-scaling``),
    ``metrics.json``, ``config.yaml``, ``training_curve.png``. Returns the metrics; ``test_accuracy``
    and ``synops_per_sample`` are the emulated SNN's over ``time_bins`` bins (``ann_*`` the ANN's;
    ``snn_one_bin``: the SNN given the whole window as one bin, which equals the ANN for models
    without bias — a bias is added once per bin).
    """
    spec = load_spec(model)
    cfg = TrainConfig(
        model=model,
        dataset=dataset or spec.dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        time_bins=time_bins,
        seed=seed,
        device=device,
        quantize=quantize_weights,
        synop_penalty=synop_penalty,
        synop_target=synop_target,
        limit=limit,
        init=None if init is None else str(init),
    )
    return run_ann(cfg, Path(out), overwrite, progress, log or default_log)


def run_ann(
    config: TrainConfig, out: Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """``train --ann``: train the ANN of ``config`` (its model's defaults filled in) into the run folder ``out``,
    as :func:`train_ann_synop` describes."""
    spec = load_spec(config.model)
    check_chain(spec, config.method_flag)
    cfg = config.resolve(spec)
    dev = pick_device(cfg.device)
    with staged_run(out, overwrite) as folder:
        run = _ANNRun(cfg, spec, dev, progress, log)
        fit(run, log)
        return run.finish(folder, log)

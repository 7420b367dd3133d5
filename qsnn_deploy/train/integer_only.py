"""Integer-only local learning of a chip network (integer-only QSNN: "Quantizing SNNs with Integers", ICONS'20).

Every number of training lives on a small integer grid, WAGE style (:mod:`qsnn_deploy.quant.quantizers`):

- **Forward weights** on the ``wb``-bit grid ``k / 2^(wb−1)``, ``|k| ≤ 2^(wb−1) − 1`` (WAGE clip + quant,
  straight-through). They are *stored* on that grid too: there is no hidden float copy.
- **Membranes** are integers in units of the weight step, clamped (saturated) to ``ub`` signed bits: with
  the defaults int8 weights and an int16 state, the chip's own formats; thresholds are integers too.
- **Errors** (back-propagated signals) are scaled by a power of two and cut to ``eb`` bits
  (:func:`quant_error`) where they enter a readout's output, its input and the conv output.
- **Weight gradients** are scaled by a power of two, multiplied by the integer learning rate ``lr_int`` and
  stochastically rounded with an ``rb``-bit RNG to ``gb`` bits (:func:`quant_gradient`); the update
  ``SGD(lr=1)`` applies it to the int8 weights with a second ``rb``-bit stochastic rounding to the weight
  step (unbiased), then clips to the ``wb`` range. ``lr_int`` is a power of two, halved on a schedule.

**Local learning (DECOLLE-like).** Each hidden block has a fixed random readout ``B`` (training only,
U(−1, 1) on the ``sb`` grid) fed with the block's spike rate over the window, average-pooled by a power of
two to about 4×4 and cut to ``sig`` bits; its output ``a`` is clipped and quantised to ``ab`` bits and scored by a
cross-entropy on ``4·a``. The spikes a block passes on are detached: no gradient crosses blocks, and none goes through
the reset. The last (classifier) block is trained by the cross-entropy of its own spike counts (surrogate
gradient of :class:`~qsnn_deploy.nets.network.MultiSpikeFn`). Prediction = the arg-max of the classifier's
spike counts, so the trained network *is* the deployed one: the run folder's ``checkpoint.pt`` converts
like any other (``qsnn-deploy convert RUN/checkpoint.pt``).

**Where we differ from the original code.**

- Neuron: Speck's integrate-and-fire (no leak, multi-spike, subtract reset, lower bound −θ) instead of the
  original's LIF with P/Q/R traces (``qb``/``pb``/``rfb`` bits); the IAF state is the membrane alone. The original's
  ``ub`` (6 bits over a ±64 range) becomes the chip's int16 state.
- Readout input: the block's pooled spike rate (what the next block sees) instead of ``σ(U)``; the original's
  sigmoid bits ``sig`` quantise it. With ``σ(U)`` the IAF classifier on top stalled near chance.
- Loss: cross-entropy instead of the original's sum of squared errors (which stalled on multi-spike counts);
  its error ``softmax − onehot`` is bounded and is cut to ``eb`` bits like every error.
- Per-layer scale: the original divides a layer's output by a power of two ``≥ 1`` from its WAGE init; we fold a
  power of two into the threshold instead (``θ' = θ / α``, IAF is scale-free), allow ``α < 1`` so the initial
  weights use about a quarter of the int8 range, then halve thresholds until each block fires (activity
  calibration on one batch: zero-mean weights leave deep IAF blocks silent).
- One update per batch over the whole window (``T`` bins; the membrane recursion is differentiated inside
  each block) instead of one update per time step after a burn-in; no dropout, no sign-concordant feedback
  (the readout's own fixed weights carry the error back), no activity regulariser.
- Weights are kept on the ``wb`` grid (int8 memory), not on the finer ``gb`` grid as in the original.

The full-precision twin (``bits=None``) runs the same rule with nothing rounded or clipped: float weights,
membranes, readouts, errors and the same power-of-two-normalised update ``lr_int · g / shift(max|g|) / 2^(gb−1)``
(the integer update's expectation, with the default ``gb``), so only quantisation differs.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from ..nets.zoo import ModelSpec, load_spec
from ..progress import Log, ProgressMode
from ..progress import log as default_log
from ..quant.quantizers import pow2_normalise, quant_gradient, stochastic_round, wage_clip
from .checks import check_chain, check_integer_only_args
from .config import TrainConfig
from .device import pick_device
from .evaluation import evaluate
from .integer_bits import IntegerBits, parse_integer_bits
from .integer_memory import memory_report, memory_table
from .integer_net import LocalNet, evaluate_local, local_loss
from .loop import Epochs, fit, train_pass
from .runs import RunFolder, staged_run
from .splits import train_test_splits, without_validation

DEFAULT_BITS = IntegerBits()  # the integer-only QSNN's widths, adapted to Speck's IAF


@torch.no_grad()
def update_steps(
    grad: torch.Tensor, bits: IntegerBits | None, lr_int: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient of the rule, weight change) for a float weight gradient.

    Integer: the ``gb``-bit gradient of :func:`quant_gradient` and its ``rb``-bit stochastic rounding to the
    ``wb`` weight step. Full precision: both are ``lr_int · g / shift(max|g|) / 2^(gb−1)`` (default ``gb``).
    """
    if bits is None:
        q = (lr_int * pow2_normalise(grad) / 2.0 ** (IntegerBits().gb - 1)).to(grad.dtype)
        return q, q
    q = quant_gradient(grad, bits.gb, bits.rb, lr_int=lr_int, generator=generator)
    step = 2.0 ** (bits.wb - 1)
    return q, stochastic_round(q * step, rng_bits=bits.rb, generator=generator) / step


@torch.no_grad()
def apply_update(net: LocalNet, opt: torch.optim.Optimizer, lr_int: float, generator: torch.Generator | None) -> None:
    """Replace every gradient by the rule's weight change, take ``SGD(lr=1)``, clip back to the ``wb`` range."""
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    for p in params:
        p.grad = update_steps(p.grad, net.bits, lr_int, generator)[1]
    opt.step()
    if net.bits is not None:
        for p in params:
            p.copy_(wage_clip(p, net.bits.wb))


class _IntegerRun(Epochs):
    """The epochs of integer-only (or full-precision twin) local learning of ``cfg``: one update per batch,
    ``lr_int`` halved every ``halve_every`` epochs (default: a third of the epochs)."""

    def __init__(
        self,
        cfg: TrainConfig,
        spec: ModelSpec,
        bits: IntegerBits | None,
        halve_every: int | None,
        progress: ProgressMode,
        device: torch.device,
        log: Log,
    ):
        self.cfg, self.device, self.progress = cfg, device, progress
        # integer-only's own defaults, not the model's: 10 epochs, batches of 32, 10 time bins
        self.epochs, self.batch_size, time_bins = cfg.epochs or 10, cfg.batch_size or 32, cfg.time_bins or 10
        self.time_bins, self.halve = time_bins, halve_every or max(1, math.ceil(self.epochs / 3))
        seed, halve, lr_int = cfg.seed, self.halve, cfg.lr_int
        self.history = []
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.train_set, self.test_set = train_test_splits(
            cfg.dataset, spec, time_bins, progress=progress, limit=cfg.limit
        )
        self.dt_us = self.train_set.duration_us / time_bins
        net = self.net = LocalNet(spec, bits, seed=seed).to(device)
        sample = self.rng.permutation(len(self.train_set.labels))[:64]
        self.calibration = net.calibrate(self.train_set.frames[torch.from_numpy(sample)].to(device))
        self.opt = torch.optim.SGD(net.cnn.parameters(), lr=1.0)
        self.gen = torch.Generator(device=device).manual_seed(seed + 1)
        self.kind = "integer-only" if bits is not None else "full-precision"
        log(
            f"{self.kind} local learning of {spec.name} on {cfg.dataset}: {len(self.train_set.labels)} train / "
            f"{len(self.test_set.labels)} test samples, {time_bins} bins, lr_int {lr_int:g} halved every {halve} "
            "epochs"
        )
        self.t0, self.lr = time.time(), float(lr_int)

    def _step(self, idx: torch.Tensor) -> tuple[float, int, dict[str, str]]:
        x, y = self.train_set.frames[idx].to(self.device), self.train_set.labels[idx].to(self.device)
        counts, outputs, _ = self.net(x)
        loss, _ = local_loss(outputs, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        apply_update(self.net, self.opt, self.lr, self.gen)
        return float(loss.detach()), int((counts.argmax(1) == y).sum()), {}

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        self.net.train()
        order = torch.from_numpy(self.rng.permutation(len(self.train_set.labels)))
        desc = f"epoch {epoch}/{self.epochs}"
        return train_pass(order, self.batch_size, self._step, desc=desc, progress=self.progress)

    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        ev = evaluate_local(self.net, self.test_set, self.batch_size, self.device)
        return {
            "test_accuracy": ev["accuracy"],
            "test_loss": ev["loss"],
            "local_accuracies": ev["local_accuracies"],
            "lr_int": self.lr,
        }

    def describe(self, entry: dict[str, Any]) -> str:
        local = " ".join(f"{k} {100 * v:.1f}%" for k, v in entry["local_accuracies"].items())
        return f"test {100 * entry['test_accuracy']:.1f}%  local {local}"

    def end_epoch(self, entry: dict[str, Any], elapsed_s: float) -> None:
        if entry["epoch"] % self.halve == 0:
            self.lr /= 2


def train_integer_only(
    model: str,
    dataset: str,
    out: str | Path,
    epochs: int = 10,
    batch_size: int = 32,
    time_bins: int = 10,
    seed: int = 0,
    bits: IntegerBits | None = DEFAULT_BITS,
    limit: int | None = None,
    overwrite: bool = False,
    progress: ProgressMode = True,
    device: str = "auto",
    lr_int: float = 8.0,
    lr_halve_every: int | None = None,
    log: Log = default_log,
) -> dict[str, Any]:
    """Train ``model`` (zoo name or YAML) on ``dataset`` by integer-only local learning; ``bits=None`` is the
    full-precision twin. Writes ``out`` (checkpoint.pt, metrics.json, memory.json, memory.md, config.yaml,
    training_curve.png) atomically and returns the metrics.

    ``lr_int`` (a power of two) is halved every ``lr_halve_every`` epochs (default: a third of the epochs).
    ``progress``: a mode of :mod:`qsnn_deploy.progress`; ``log`` takes the per-epoch lines.
    """
    check_integer_only_args(epochs, batch_size, time_bins, limit, lr_int, lr_halve_every)
    if bits is not None and not isinstance(bits, IntegerBits):
        raise UsageError(f"bits must be an IntegerBits or None, got {type(bits).__name__}", where="train_integer_only")
    config = TrainConfig(
        model=model,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        time_bins=time_bins,
        seed=seed,
        limit=limit,
        device=device,
        integer_only=True,
        lr_int=lr_int,
        full_precision_twin=bits is None,
    )
    return _train(config, bits, lr_halve_every, Path(out), overwrite, progress, log)


def run_integer_only(
    config: TrainConfig, out: Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """``train --integer-only``: train ``config`` as :func:`train_integer_only` describes (10 epochs, batches of
    32 and 10 time bins unless given; ``--full-precision-twin``: the float reference)."""
    bits = None if config.full_precision_twin else parse_integer_bits(config.integer_bits or "")
    return _train(config, bits, None, out, overwrite, progress, log)


def _train(
    cfg: TrainConfig,
    bits: IntegerBits | None,
    halve_every: int | None,
    out: Path,
    overwrite: bool,
    progress: ProgressMode,
    log: Log,
) -> dict[str, Any]:
    """Integer-only local learning of ``cfg`` with ``bits`` (None: the full-precision twin) into ``out``; the
    metrics."""
    spec = load_spec(cfg.model)
    check_chain(spec, cfg.method_flag)
    dev = pick_device(cfg.device)
    with staged_run(out, overwrite) as folder:
        run = _IntegerRun(cfg, spec, bits, halve_every, progress, dev, log)
        fit(run, log)
        train_time = time.time() - run.t0
        net, test_set = run.net, run.test_set
        final = evaluate_local(net, test_set, run.batch_size, dev)
        chip = evaluate(net.cnn, test_set, run.batch_size, dev, quantize=True)
        memory = memory_report(spec, bits)
        metrics = {
            "test_accuracy": final["accuracy"],
            "chip_test_accuracy": chip["accuracy"],
            "local_accuracies": final["local_accuracies"],
            "test_loss": final["loss"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "epochs": run.epochs,
            "seed": cfg.seed,
            "model": spec.name,
            "dataset": cfg.dataset,
            "integer_only": bits is not None,
            "bits": None if bits is None else bits.as_dict(),
            "lr_int": cfg.lr_int,
            "lr_halve_every": run.halve,
            "threshold_halvings": run.calibration,
            "thresholds": [float(b.threshold) for b in net.cnn.chip_blocks],
            "batch_size": run.batch_size,
            "time_bins": run.time_bins,
            "dt_us": run.dt_us,
            "duration_us": run.train_set.duration_us,
            "limit": cfg.limit,
            "device": str(dev),
            "memory_bits": memory["integer"]["totals"]["total_bits"],
            "memory_saved": memory["saved"]["total_bits"],
            "train_time_s": round(train_time, 2),
            **without_validation(run.train_set, test_set, run.history),
            "history": run.history,
        }
        train_args = {
            "mode": run.kind,
            "model": cfg.model,
            "dataset": cfg.dataset,
            "epochs": run.epochs,
            "batch_size": run.batch_size,
            "time_bins": run.time_bins,
            "seed": cfg.seed,
            "limit": cfg.limit,
            "device": cfg.device,
            "lr_int": cfg.lr_int,
            "lr_halve_every": run.halve,
        }
        _write(folder, run, spec, metrics, memory, train_args, bits)
    return metrics


def _write(
    folder: RunFolder,
    run: _IntegerRun,
    spec: ModelSpec,
    metrics: dict[str, Any],
    memory: dict[str, Any],
    train_args: dict[str, Any],
    bits: IntegerBits | None,
) -> None:
    """checkpoint.pt (the chip network), metrics.json, memory.json/md, config.yaml and the training curve."""
    cnn, kind = run.net.cnn, run.kind
    cnn.cpu()
    cnn.quantize = True  # the chip discretisation is exact on these weights up to convert's re-scaling
    folder.checkpoint(
        cnn,
        {
            "dt_us": run.dt_us,
            "time_bins": train_args["time_bins"],
            "duration_us": run.train_set.duration_us,
            "dataset": train_args["dataset"],
            "training": kind + " local learning",
            "metrics": {k: v for k, v in metrics.items() if k != "history"},
            **run.train_set.provenance(),
        },
    )
    folder.metrics(metrics)
    folder.json("memory.json", memory)
    folder.text("memory.md", f"# Training memory of {spec.name} ({kind})\n\n" + memory_table(memory))
    folder.config(train_args, spec, bits=None if bits is None else bits.as_dict())
    folder.curve(run.history, loss_label="Σ local losses", accuracy_title=f"{kind} local learning")

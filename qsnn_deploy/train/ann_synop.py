"""SynOpLoss in ANN mode (seed 2): a floor-ReLU CNN trained with a SynOp loss, then converted to IAF.

**The ANN.** :func:`quantized_ann_from_spec` builds the twin of a zoo model with :class:`FloorReLU`
activations ``⌊relu(z)⌋``: integer activations, the spike counts of IAF neurons with threshold 1 and
subtract reset. Average pooling is computed as the chip does it, as sum pooling of those integers
with the next layer's weights divided by k². With ``quantize_weights`` (the default) each layer
also uses the chip's integer weights (the per-layer scale of :mod:`qsnn_deploy.quant.chip`, straight-
through rounding), so its activations are the chip's integer arithmetic, not an approximation of it.
Its state dict has the keys of :func:`qsnn_deploy.convert.ann.ann_from_spec`, so ``ann.pt`` loads
with ``load_ann`` and converts with ``qsnn-deploy convert ann.pt --from-ann MODEL --no-weight-scaling``.

**What the ANN sees:** the event counts of the *whole sample window* (the raster summed over its T
bins), as in the seed. A bias is a per-bin bias (what the chip adds once per bin), so the ANN adds
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

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..ir import Network, fanout_map
from ..nets.zoo import ModelSpec, load_spec
from ..progress import Log, Progress, ProgressMode, progress_wrapper
from ..progress import log as default_log

_THRESHOLD = 1.0  # of the converted IAF neurons
SILENT_SCORE = 1.0  # the readout's "no spike" score, in threshold units


class _FloorReLUFn(torch.autograd.Function):
    """⌊relu(x)⌋ (or relu(x)) forward, grad·(sign(x)+1)/2 backward (1 above 0, ½ at 0, 0 below)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, floor: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        y = torch.relu(x)
        return torch.floor(y) if floor else y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * (torch.sign(x) + 1) / 2, None


class FloorReLU(nn.Module):
    """The seed's NeuromorphicReLU: ``⌊relu(x)⌋`` with a straight-through gradient.

    ``floor=False`` gives relu(x) with the same gradient (the float ANN of the seed's ablation).
    """

    def __init__(self, floor: bool = True):
        super().__init__()
        self.floor = floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FloorReLUFn.apply(x, self.floor)

    def extra_repr(self) -> str:
        return f"floor={self.floor}"


@dataclass(frozen=True)
class _Core:
    """One chip core of the ANN: its weights' module name and geometry."""

    name: str
    kind: str  # "conv" or "linear"
    stride: int
    padding: int
    pool: int  # sum pooling after the activation
    in_pool: int  # pooling of the layer before: this layer's weights act on its sums, divided by in_pool²
    out_channels: int
    last: bool


@dataclass
class ANNOutput:
    """One forward pass: class scores and, per layer, SynOps and output activity (each (N,))."""

    logits: torch.Tensor  # (N, classes), in threshold units: the last layer's total membrane drive
    layer_synops: list[torch.Tensor]
    layer_spikes: list[torch.Tensor]  # integer activations summed per sample (after sum pooling)

    @property
    def synops(self) -> torch.Tensor:
        """SynOps per sample (N,)."""
        return torch.stack(self.layer_synops).sum(0)

    @property
    def counts(self) -> torch.Tensor:
        """Output spike counts the chip would emit over the window (N, classes)."""
        return torch.floor(torch.relu(self.logits.detach()))


class FloorReLUANN(nn.Module):
    """A zoo model's ANN twin with integer activations and a differentiable SynOp count.

    Input: event counts of the whole window (N, C, H, W). Parameters are registered under the layer
    names of the model YAML (``conv1.weight``...), exactly as :func:`~qsnn_deploy.convert.ann.ann_from_spec`.
    """

    def __init__(self, spec: ModelSpec, time_bins: int = 1, quantize_weights: bool = True, floor: bool = True):
        super().__init__()
        if time_bins < 1:
            raise ValueError(f"time_bins must be >= 1, got {time_bins}")
        self.spec, self.time_bins, self.quantize_weights = spec, int(time_bins), quantize_weights
        self.act = FloorReLU(floor)
        cores, prev_pool = [], 1
        for i, (layer, (c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
            last = i == len(spec.layers) - 1
            if layer.type == "linear":
                mod: nn.Module = nn.Linear(c * h * w, layer.out_channels, bias=layer.bias)
                fan = torch.full((h, w), float(layer.out_channels))
                core = _Core(layer.name, "linear", 1, 0, 1, prev_pool, layer.out_channels, last)
            else:
                mod = nn.Conv2d(c, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, bias=layer.bias)
                fan = torch.from_numpy(fanout_map((h, w), layer.kernel_size, layer.stride, layer.padding)).float()
                fan = fan * layer.out_channels
                core = _Core(
                    layer.name, "conv", layer.stride, layer.padding, layer.pool, prev_pool, layer.out_channels, last
                )
            if hasattr(self, layer.name):
                raise ValueError(f"layer name '{layer.name}' clashes with an attribute of the ANN; rename the layer")
            self.add_module(layer.name, mod)
            self.register_buffer(f"_fanout_{i}", fan, persistent=False)
            cores.append(core)
            prev_pool = layer.pool if layer.type == "conv" else 1
        self.cores = tuple(cores)

    def layer_params(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Layer ``i``'s weights for sum-pooled input, its bias per bin and threshold, all in one unit.

        With ``quantize_weights`` these are the chip's integers (the discretiser's scale for the
        converted layer, straight-through rounding); else the float weights and threshold 1.
        """
        core = self.cores[i]
        mod = getattr(self, core.name)
        w = mod.weight / (core.in_pool * core.in_pool)
        b = mod.bias
        if not self.quantize_weights:
            return w, b, torch.ones((), dtype=w.dtype, device=w.device)
        from ..convert.ann import unscaled_lower_bound
        from ..quant.fake import chip_scale_t, ste_round

        low = unscaled_lower_bound(w, b, _THRESHOLD)
        thr, low = (torch.tensor(v, dtype=torch.float64, device=w.device) for v in (_THRESHOLD, low))
        s = chip_scale_t(w, b, thr, low)
        wq = ste_round(w.double() * s).to(w.dtype)
        bq = None if b is None else ste_round(b.double() * s).to(b.dtype)
        return wq, bq, torch.round(thr * s).clamp_min(1).to(w.dtype)

    def run(self, x: torch.Tensor) -> ANNOutput:
        """Forward with the per-layer SynOps and activity. x: whole-window event counts (N, C, H, W)."""
        synops, spikes = [], []
        for i, core in enumerate(self.cores):
            fan = getattr(self, f"_fanout_{i}")
            synops.append((x.sum(1) * fan).sum((-1, -2)) if core.kind == "conv" else x.flatten(1).sum(1) * fan[0, 0])
            w, b, thr = self.layer_params(i)
            if core.kind == "linear":
                z = F.linear(x.flatten(1), w)
            else:
                z = F.conv2d(x, w, None, core.stride, core.padding)
            if b is not None:
                z = z + self.time_bins * (b.view(-1, 1, 1) if z.ndim == 4 else b)
            z = z / thr
            if core.last:
                spikes.append(torch.floor(torch.relu(z.detach())).flatten(1).sum(1))
                return ANNOutput(z.flatten(1), synops, spikes)
            x = self.act(z)
            if core.pool > 1:
                x = F.avg_pool2d(x, core.pool) * (core.pool * core.pool)
            spikes.append(x.detach().flatten(1).sum(1))
        raise AssertionError("unreachable: the last core returns")  # pragma: no cover

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, classes) for whole-window event counts (N, C, H, W)."""
        return self.run(x).logits

    def to_network(self, dt_us: float = 1000.0, metadata: dict | None = None) -> Network:
        """The float chip network of these weights: ReLU → IAF (threshold 1, subtract reset), no scaling."""
        from ..convert.ann import ann_from_spec, ann_to_network

        plain = ann_from_spec(self.spec)
        plain.load_state_dict({k: v.detach().cpu() for k, v in self.state_dict().items()})
        net, _ = ann_to_network(
            plain,
            self.spec.input_shape,
            None,
            percentile=None,
            threshold=_THRESHOLD,
            dt_us=dt_us,
            metadata={"model": self.spec.name, "time_bins": self.time_bins, **(metadata or {})},
        )
        return net


def quantized_ann_from_spec(
    spec: ModelSpec, time_bins: int = 1, quantize_weights: bool = True, floor: bool = True
) -> FloorReLUANN:
    """The floor-ReLU ANN of a zoo model (see :class:`FloorReLUANN`); ``time_bins``: bins the bias is added over."""
    return FloorReLUANN(spec, time_bins, quantize_weights, floor)


def readout_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the class scores (N, classes) and a constant silent score :data:`SILENT_SCORE`."""
    silent = torch.full_like(logits[:, :1], SILENT_SCORE)
    return F.cross_entropy(torch.cat([logits, silent], 1), labels)


@torch.no_grad()
def evaluate_ann(
    model: FloorReLUANN,
    counts: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """ANN accuracy of its output counts (argmax of ⌊relu(score)⌋, first class on ties: the chip's
    readout), accuracy of the scores' argmax, mean SynOps and activity per sample, per layer."""
    was = model.training
    model.eval()
    count_correct = score_correct = 0
    syn = spk = None
    preds = []
    try:
        for i in range(0, len(labels), batch_size):
            out = model.run(counts[i : i + batch_size].to(device))
            y = labels[i : i + batch_size]
            score_correct += int((out.logits.argmax(1).cpu() == y).sum())
            p = out.counts.argmax(1).cpu()
            preds.append(p)
            count_correct += int((p == y).sum())
            s = torch.stack([v.sum() for v in out.layer_synops]).cpu().double()
            k = torch.stack([v.sum() for v in out.layer_spikes]).cpu().double()
            syn, spk = (s, k) if syn is None else (syn + s, spk + k)
    finally:
        model.train(was)
    n = max(len(labels), 1)
    return {
        "accuracy": count_correct / n,
        "score_accuracy": score_correct / n,
        "synops_per_sample": float(syn.sum()) / n if syn is not None else 0.0,
        "layer_synops": [float(v) / n for v in syn] if syn is not None else [],
        "layer_spikes": [float(v) / n for v in spk] if spk is not None else [],
        "predictions": torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64),
    }


def emulate_snn(
    net: Network, raster: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, progress: ProgressMode = False
) -> dict[str, Any]:
    """Discretise ``net`` (convert's rule) and run it on the chip emulator over rasters (N, T, C, H, W)."""
    from ..convert.bundle import discretize_with_warnings
    from ..emulate.binned import run_binned

    qnet, warns = discretize_with_warnings(net)
    bar = progress_wrapper(progress, "emulating SNN", "batch")
    res = run_binned(qnet, raster.numpy() if isinstance(raster, torch.Tensor) else raster, progress=bar)
    y = np.asarray(labels)
    n = max(len(y), 1)
    return {
        "accuracy": float((res.predictions == y).mean()) if len(y) else 0.0,
        "synops_per_sample": float(res.layer_synops.sum()) / n,
        "layer_synops": [float(v) for v in res.layer_synops.mean(0)],
        "layer_spikes": [float(v) for v in res.layer_spikes.mean(0)],
        "predictions": res.predictions,
        "warnings": warns,
    }


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
    from ..outputs import staged_folder
    from .losses import synop_penalty as penalty_loss
    from .losses import synop_target as target_loss
    from .trainer import TrainConfig, pick_device, plot_training_curves, train_test_splits

    log = log or default_log
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
    ).resolve(spec)
    dev = pick_device(cfg.device)
    with staged_folder(out, overwrite) as tmp:
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        train_set, test_set = train_test_splits(cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit)
        dt_us = train_set.duration_us / cfg.time_bins
        x_train, x_test = train_set.frames.sum(1), test_set.frames.sum(1)  # whole-window event counts
        ann = quantized_ann_from_spec(spec, cfg.time_bins, quantize_weights)
        if init is not None:
            from ..convert.ann import load_ann

            start = Path(init) / "ann.pt" if Path(init).is_dir() else Path(init)
            ann.load_state_dict(load_ann(spec, start).state_dict())
            log(f"starting from the weights of {start}")
        ann.to(dev)
        opt = torch.optim.Adam(ann.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        n = len(train_set.labels)
        loss_text = (
            f"SynOp target {cfg.synop_target:.3g}"
            if cfg.synop_target is not None
            else f"SynOp penalty {cfg.synop_penalty:g}"
            if cfg.synop_penalty > 0
            else "no SynOp loss"
        )
        log(
            f"training the floor-ReLU ANN of {spec.name} ({'chip-integer' if quantize_weights else 'float'} "
            f"weights, {loss_text}) on {cfg.dataset}: {n} train / {len(test_set.labels)} test samples of "
            f"whole-window counts; SNN test over {cfg.time_bins} bins of {dt_us / 1000:g} ms; device {dev}"
        )
        history, t0 = [], time.time()
        for epoch in range(1, cfg.epochs + 1):
            ann.train()
            order = torch.from_numpy(rng.permutation(n))
            total_loss, correct, seen = 0.0, 0, 0
            bar = Progress(
                range(0, n, cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", progress=progress
            )
            for i in bar:
                idx = order[i : i + cfg.batch_size]
                x, y = x_train[idx].to(dev), train_set.labels[idx].to(dev)
                res = ann.run(x)
                loss = readout_loss(res.logits, y)
                if cfg.synop_penalty > 0:
                    loss = loss + penalty_loss(res.synops, cfg.synop_penalty)
                elif cfg.synop_target is not None:
                    loss = loss + target_loss(res.synops, cfg.synop_target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((res.counts.argmax(1) == y).sum())
                seen += len(idx)
                bar.set_postfix(
                    loss=f"{total_loss / seen:.3f}",
                    acc=f"{correct / seen:.3f}",
                    synops=f"{float(res.synops.detach().mean()):.3g}",
                )
            sched.step()
            ev = evaluate_ann(ann, x_test, test_set.labels, device=dev)
            history.append(
                {
                    "epoch": epoch,
                    "loss": total_loss / seen,
                    "train_accuracy": correct / seen,
                    "test_accuracy": ev["accuracy"],
                    "synops_per_sample": ev["synops_per_sample"],
                    "lr": opt.param_groups[0]["lr"],
                    "elapsed_s": round(time.time() - t0, 2),
                }
            )
            log(
                f"epoch {epoch}/{cfg.epochs}: loss {total_loss / seen:.4f}  train {100 * correct / seen:.1f}%  "
                f"ANN test {100 * ev['accuracy']:.1f}%  ANN SynOps/sample {ev['synops_per_sample']:.3g}"
            )
        train_s = time.time() - t0
        ann_ev = evaluate_ann(ann, x_test, test_set.labels, device=dev)
        ann.cpu()
        net = ann.to_network(
            dt_us, {"duration_us": train_set.duration_us, "dataset": cfg.dataset, "source": "train_ann_synop"}
        )
        snn = emulate_snn(net, test_set.frames, test_set.labels, progress)
        one_bin = emulate_snn(net, x_test.unsqueeze(1), test_set.labels)  # the whole window in one bin
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
            "init": None if init is None else str(init),
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
            "quantize_weights": quantize_weights,
            "time_bins": cfg.time_bins,
            "dt_us": dt_us,
            "duration_us": train_set.duration_us,
            "n_parameters": int(sum(p.numel() for p in ann.parameters())),
            "device": str(dev),
            "train_time_s": round(train_s, 2),
            "total_time_s": round(time.time() - t0, 2),
            "history": history,
        }
        torch.save(ann.state_dict(), tmp / "ann.pt")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        run_cfg = {**asdict(cfg), "method": "ann-synop", "init": None if init is None else str(init)}
        (tmp / "config.yaml").write_text(yaml.safe_dump({"train": run_cfg, "model": spec.to_dict()}, sort_keys=False))
        plot_training_curves(
            history,
            tmp / "training_curve.png",
            accuracy_label="ANN accuracy (%)",
            synops_label="ANN SynOps / sample (test)",
        )
    return metrics

"""BPTT training with surrogate gradients, quantisation-aware by default, with a SynOp penalty.

:func:`train_bptt` trains ``config`` into a run folder built in ``OUT.partial/`` with the state of the last
finished epoch (:mod:`.runs`), so a killed or interrupted run continues with :func:`resume_bptt` and ends with
the weights an uninterrupted one would have. The epochs follow :func:`.loop.fit`; :class:`BPTT` says what one
is: a pass over a (seed, epoch)-determined order (:func:`_train_epoch`), the validation accuracy that chooses the
kept epoch with ``--patience`` or a SynOp goal (:class:`.early_stopping.EarlyStopping`; else the last epoch), the
test accuracy (reported, never used to choose), the state. ``--nproc N`` (or ``torchrun``) trains data-parallel
(:mod:`.distributed`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..nets.framed import FramedSplit
from ..nets.network import SpikingCNN, count_parameters
from ..nets.zoo import ModelSpec, at_time_step, spec_from_dict, with_neuron_option, with_weight_bits
from ..outputs import check_writable
from ..progress import Log, ProgressMode, silent
from ..progress import log as default_log
from .allocate import check_budget
from .augment import batch_frames, epoch_shifts
from .checks import destination_warnings
from .config import ResolvedConfig, TrainConfig
from .device import cpu_state, pick_device, rng_states, set_rng_states
from .distributed import (
    SINGLE,
    Group,
    backend_for,
    barrier,
    check_nproc,
    from_environment,
    join,
    leave,
    process_device,
    spawn,
    wrap,
)
from .early_stopping import GOAL_HEADROOM, EarlyStopping
from .evaluation import evaluate
from .hessian import layer_weights
from .loop import Epochs, fit, train_pass
from .losses import (
    distillation,
    parse_synop_weights,
    synop_penalty,
    synop_target,
    task_loss,
    tilted_synops,
    weighted_synops,
)
from .pretrained import initial_weights, load_teacher
from .resume import STATE_FORMAT, SYNOP_UNITS
from .runs import STATE_FILE, RunFolder, complete, new_partial, partial_folder, partial_run
from .schedules import make_scheduler
from .splits import data_options, epoch_order, model_spec, split_sizes, split_validation, train_test_splits
from .synop_control import AIM, SynOpControl
from .weight_average import WeightAverage, first_averaged_epoch
from .weight_bits import allocate_auto_bits, bits_label, warmup_epochs, weight_memory


def _train_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batch_sched: torch.optim.lr_scheduler.LRScheduler | None,
    data: FramedSplit,
    cfg: ResolvedConfig,
    epoch: int,
    device: torch.device,
    progress: ProgressMode,
    group: Group = SINGLE,
    teacher: SpikingCNN | None = None,
    synop_weights: list[float] | None = None,
    target: float | None = None,
) -> tuple[float, float]:
    """One pass over ``data``; steps ``batch_sched`` after every batch when given. Returns (loss, accuracy) over
    all processes of ``group``, each of which takes its share of every global batch. ``teacher``: add the
    distillation term; ``synop_weights``: per-layer weights of the SynOp term; ``target``: this epoch's SynOp
    target (:func:`synop_target_at`)."""
    model.train()
    n = len(data.labels)
    shifts = epoch_shifts(n, cfg.shift_px, cfg.seed, epoch) if cfg.shift_px else None

    def step(idx: torch.Tensor) -> tuple[float, int, dict[str, str]]:
        x, y = batch_frames(data.frames, idx, shifts).to(device), data.labels[idx].to(device)
        out_spikes, synops, _ = model(x, record=True)
        loss = task_loss(cfg.loss, out_spikes, y)
        if teacher is not None:
            with torch.no_grad():
                teacher_spikes = teacher(x)
            loss = loss + cfg.distill_weight * distillation(out_spikes, teacher_spikes, cfg.distill_temperature)
        if cfg.synop_penalty > 0:
            loss = loss + synop_penalty(weighted_synops(synops, synop_weights), cfg.synop_penalty)
        elif target is not None:
            loss = loss + synop_target(tilted_synops(synops, synop_weights), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if batch_sched is not None:
            batch_sched.step()
        return float(loss.detach()), int((out_spikes.sum(1).argmax(1) == y).sum()), {}

    order = epoch_order(n, cfg.seed, epoch)
    desc = f"epoch {epoch}/{cfg.epochs}"
    return train_pass(order, cfg.batch_size, step, desc=desc, progress=progress, group=group)


def synop_target_at(cfg: ResolvedConfig, epoch: int) -> float | None:
    """The SynOp target of ``epoch`` (1-based): ``--synop-target``, or with ``--synop-anneal A`` the geometric way
    from ``--synop-start`` down to it, reached at epoch A · epochs and held after."""
    if cfg.synop_target is None or not cfg.synop_anneal:
        return cfg.synop_target
    assert cfg.synop_start is not None  # resolve() sets the start of an annealed target
    done = min(1.0, epoch / (cfg.synop_anneal * cfg.epochs))
    return float(cfg.synop_start * (cfg.synop_target / cfg.synop_start) ** done)


def anneal_end(cfg: ResolvedConfig) -> int:
    """The first epoch at which the annealed SynOp target holds its end value (1 without annealing)."""
    return max(1, math.ceil(round((cfg.synop_anneal or 0) * cfg.epochs, 9)))


@dataclass(frozen=True)
class _Job:
    """One BPTT run as each of its processes needs it: from scratch (``state`` None) or from a saved state."""

    cfg: ResolvedConfig
    spec: ModelSpec
    device: torch.device
    state: dict[str, Any] | None
    overwrite: bool
    progress: ProgressMode


class BPTT(Epochs):
    """The epochs of one BPTT run: data, network, optimiser and schedule (restored from the job's state when it
    has one). ``folder``: where the writer of ``group`` writes (None for the other processes)."""

    def __init__(self, job: _Job, log: Log, folder: RunFolder | None, group: Group = SINGLE):
        self.cfg = cfg = job.cfg
        spec, state = job.spec, job.state
        self.device = device = process_device(job.device, group)
        self.progress = progress = job.progress if group.writer else "off"
        self.overwrite, self.log, self.folder, self.group, self.epochs = job.overwrite, log, folder, group, cfg.epochs
        torch.manual_seed(cfg.seed)
        self.train_all, self.test_set = train_test_splits(
            cfg.dataset, spec, cfg.time_bins, progress=progress, limit=cfg.limit, options=data_options(cfg, spec)
        )
        self.train_set, self.val_set = split_validation(self.train_all, cfg.val_fraction, cfg.seed)
        self.dt_us = self.train_all.duration_us / cfg.time_bins
        spec = at_time_step(spec, self.dt_us)  # DECOLLE's per-1-ms decays → per bin (a resumed spec has them already)
        model = self.model = SpikingCNN(spec, quantize=cfg.quantize)
        if state is None and cfg.bits == "auto":  # an impossible budget fails now, not after the warm-up
            assert cfg.bit_budget is not None  # check_config: --bits auto goes with --bit-budget
            check_budget([w.numel() for w in layer_weights(model)], cfg.bit_budget)
        if state is None and cfg.init is not None:
            model.load_state_dict(initial_weights(cfg.init, spec))
            log(f"starting from the weights of {cfg.init}")
        model.to(device)
        self.teacher = None if cfg.distill is None else load_teacher(cfg.distill, spec, device)
        if self.teacher is not None:
            log(
                f"distilling from {cfg.distill} (weight {cfg.distill_weight:g}, temperature "
                f"{cfg.distill_temperature:g})"
            )
        if cfg.synop_anneal and cfg.synop_target is not None and state is None:
            log(
                f"SynOp target {cfg.synop_start:.3g} → {cfg.synop_target:.3g} per sample (geometric, reached at "
                f"epoch {anneal_end(cfg)}/{cfg.epochs}, then held)"
            )
        if cfg.synop_goal is not None and state is None:
            log(
                f"keeping the best validation epoch among those at ≤ {(1 - GOAL_HEADROOM) * cfg.synop_goal:.3g} "
                f"SynOps per sample on the validation split (goal {cfg.synop_goal:.3g}, {100 * GOAL_HEADROOM:g}% "
                "headroom)"
            )
        names = [layer.name for layer in spec.layers]
        self.synop_weights = None if cfg.synop_weights is None else parse_synop_weights(names, cfg.synop_weights)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        n = len(self.train_set.labels)
        self.sched, self.per_batch = make_scheduler(
            cfg.lr_schedule, self.opt, cfg.epochs, -(-n // cfg.batch_size), cfg.lr_period
        )
        self.warmup = warmup_epochs(cfg)
        self.auto: dict[str, Any] | None = None
        self.history = []
        self.stopping = EarlyStopping(cfg.patience, cfg.synop_goal if self.val_set is not None else None)
        self.average = None
        if cfg.average_weights and self.val_set is not None:
            self.average = WeightAverage(first_averaged_epoch(cfg.average_weights, cfg.epochs))
            if state is None:
                log(
                    f"averaging the weights of the epochs from {self.average.first_epoch} on"
                    + (" that meet the SynOp goal" if cfg.synop_goal is not None else "")
                    + " (--average-weights); kept if the mean does too, unless the last epoch is more accurate on "
                    "validation"
                )
        self.control = None
        if (
            cfg.synop_goal is not None
            and cfg.synop_target is not None
            and self.val_set is not None
            and cfg.synop_control
        ):
            hold_from = anneal_end(cfg)
            self.control = SynOpControl(cfg.synop_goal, hold_from, cfg.synop_control)
            if state is None:
                log(
                    f"from epoch {hold_from} on, the SynOp target follows the validation SynOps towards "
                    f"{AIM * cfg.synop_goal:.3g} per sample (--synop-control {cfg.synop_control:g})"
                )
        if state is not None:
            model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            set_rng_states(state["rng"])
            self.first_epoch, self.history, self.auto = state["epoch"] + 1, state["history"], state["auto"]
            self.elapsed_s = state["elapsed_s"]
            self.stopping.restore(state)
            if self.average is not None:
                self.average.restore(state)
            if self.control is not None:
                self.control.correction = state.get("synop_correction", 1.0)
        elif cfg.bits == "auto" and self.warmup == 0:
            self.auto = allocate_auto_bits(model, self.train_set, cfg, folder, progress, log)
        self.net = wrap(model, group, device)
        val = self.val_set
        log(
            f"training {model.spec.name} ({count_parameters(model)} parameters, "
            f"{'quantisation-aware ' + bits_label(model.spec) if cfg.quantize else 'float'}) on {cfg.dataset}: "
            f"{n} train / "
            + (f"{len(val.labels)} validation / " if val is not None else "")
            + f"{len(self.test_set.labels)} test samples, {cfg.time_bins} time bins of {self.dt_us / 1000:g} ms, "
            f"lr schedule {cfg.lr_schedule}, loss {cfg.loss}, device {device}"
        )

    @property
    def stopped(self) -> bool:
        return self.stopping.stopped_early

    def start_epoch(self, epoch: int) -> None:
        if self.cfg.bits == "auto" and self.auto is None and epoch == self.warmup + 1:
            self.auto = allocate_auto_bits(self.model, self.train_set, self.cfg, self.folder, self.progress, self.log)
        self.lr = self.opt.param_groups[0]["lr"]

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        batch_sched = self.sched if self.per_batch else None
        return _train_epoch(
            self.net,
            self.opt,
            batch_sched,
            self.train_set,
            self.cfg,
            epoch,
            self.device,
            self.progress,
            self.group,
            self.teacher,
            self.synop_weights,
            self.synop_target(epoch),
        )

    def synop_target(self, epoch: int) -> float | None:
        """The loss's SynOp target of ``epoch``: the scheduled one (:func:`synop_target_at`), corrected by the
        closed loop when there is one."""
        scheduled = synop_target_at(self.cfg, epoch)
        return scheduled if self.control is None or scheduled is None else self.control.target(scheduled)

    def after_pass(self, epoch: int, pass_s: float) -> dict[str, Any]:
        if not self.per_batch:
            self.sched.step()
        ev = evaluate(self.model, self.test_set, self.cfg.batch_size, self.device)
        entry = {"test_accuracy": ev["accuracy"], "synops_per_sample": ev["synops_per_sample"], "lr": self.lr}
        if self.cfg.synop_anneal or self.control is not None:
            entry["synop_target"] = self.synop_target(epoch)
        if self.val_set is not None:
            val = evaluate(self.model, self.val_set, self.cfg.batch_size, self.device)
            # every process evaluates the whole split; their mean (the same on CPU, not always on CUDA) lets
            # the kept epoch, an early stop and the SynOp loop agree across processes
            accuracy, synops = self.group.mean([val["accuracy"], val["synops_per_sample"]])
            entry |= {"val_accuracy": accuracy, "val_synops_per_sample": synops}
            self.stopping.update(epoch, accuracy, self.model, synops)
            if self.average is not None and self.stopping.meets_goal(synops):
                self.average.add(epoch, self.model)
            if self.control is not None:
                self.control.update(epoch, synops)
        return entry

    def describe(self, entry: dict[str, Any]) -> str:
        val = f"val {100 * entry['val_accuracy']:.1f}%  " if "val_accuracy" in entry else ""
        if "synop_target" in entry:
            val = f"target {entry['synop_target']:.3g}  " + val
        if self.cfg.synop_goal is not None and "val_synops_per_sample" in entry:
            val += f"val SynOps {entry['val_synops_per_sample']:.3g}  "
        return (
            f"{val}test {100 * entry['test_accuracy']:.1f}%  SynOps/sample {entry['synops_per_sample']:.3g}  "
            f"lr {entry['lr']:.3g}"
        )

    def end_epoch(self, entry: dict[str, Any], elapsed_s: float) -> None:
        if self.stopping.stopped_early:
            self.log(
                f"early stop: no better validation accuracy for {self.cfg.patience} epochs; keeping epoch "
                f"{self.stopping.best_epoch}"
            )
        if self.folder is not None:
            self.folder.save_state(
                {
                    "format": STATE_FORMAT,
                    "synop_units": SYNOP_UNITS,
                    "config": self.cfg.record(),
                    "model_spec": self.model.spec.to_dict(),
                    "overwrite": self.overwrite,
                    "model": cpu_state(self.model),
                    "optimizer": self.opt.state_dict(),
                    "scheduler": self.sched.state_dict(),
                    "rng": rng_states(),
                    "epoch": entry["epoch"],
                    "history": self.history,
                    "auto": self.auto,
                    **self.stopping.state(),
                    **(self.average.state() if self.average is not None else {}),
                    "synop_correction": None if self.control is None else self.control.correction,
                    "elapsed_s": elapsed_s,
                }
            )

    def finish(self, folder: RunFolder, t0: float) -> dict[str, Any]:
        """Final evaluation of the kept model (``kept`` in the metrics): with --average-weights the mean weights or
        the last epoch (:meth:`_keep_average`), else with --patience or a SynOp goal the best validation epoch,
        else the last epoch; writes checkpoint.pt, metrics.json, config.yaml and training_curve.png to ``folder``;
        returns the metrics."""
        cfg, model, device, test_set = self.cfg, self.model, self.device, self.test_set
        best_val = self.stopping.best_val
        # a choice on validation is made by --patience and a SynOp goal; otherwise the run keeps its last epoch
        # (a fixed number of epochs chooses nothing; a small validation split saturates early and would pick an
        # under-trained epoch: digits-dvs, 144 samples, reached 100 % at epoch 4 of 12)
        chooses = self.cfg.patience is not None or self.stopping.goal is not None
        last = cpu_state(model) if self.average is not None else None  # the last epoch's weights: a candidate
        if chooses and self.stopping.best_state is not None and best_val is not None and self.val_set is not None:
            model.load_state_dict(self.stopping.best_state)
            selected = self.stopping.best_epoch
            if self.stopping.goal is not None and not (self.stopping.best_key and self.stopping.best_key[0]):
                self.log(
                    f"warning: no epoch reached {(1 - GOAL_HEADROOM) * self.stopping.goal:.3g} SynOps per sample on "
                    "the validation split; keeping the one with the fewest (raise --epochs or lower the target)"
                )
        else:
            chooses, selected = False, self.history[-1]["epoch"]
            best_val = self.history[-1].get("val_accuracy")
        val_synops = next((h for h in self.history if h["epoch"] == selected), {}).get("val_synops_per_sample")
        averaged = self._keep_average(model, last)
        kept = "best epoch" if chooses else "last epoch"
        if averaged is not None:
            best_val, val_synops, selected = averaged["accuracy"], averaged["synops_per_sample"], averaged["selected"]
            kept = "last epoch" if averaged["epochs"] is None else "mean"
        elif chooses and self.val_set is not None and best_val is not None:
            self.log(
                f"keeping epoch {selected} (best validation accuracy {100 * best_val:.2f}% on "
                f"{len(self.val_set.labels)} samples)"
            )
        spec = model.spec
        final = evaluate(model, test_set, cfg.batch_size, device)
        float_ev = evaluate(model, test_set, cfg.batch_size, device, quantize=False)
        metrics = {
            "test_accuracy": final["accuracy"],
            "float_test_accuracy": float_ev["accuracy"],
            "synops_per_sample": final["synops_per_sample"],
            "layer_synops": final["layer_synops"],
            "layer_spikes": final["layer_spikes"],
            "epochs": cfg.epochs,
            "epochs_run": len(self.history),
            "seed": cfg.seed,
            "model": spec.name,
            "dataset": cfg.dataset,
            "quantize": cfg.quantize,
            "time_bins": cfg.time_bins,
            "dt_us": self.dt_us,
            "duration_us": self.train_all.duration_us,
            "n_parameters": count_parameters(model),
            "device": str(device),
            "nproc": cfg.nproc,
            "weight_bits": {layer.name: layer.weight_bits for layer in spec.layers},
            "bits_label": bits_label(spec),
            "weight_memory_bits": weight_memory(model),
            "bit_allocation": None if self.auto is None else self.auto["allocation"] | {"warmup_epochs": self.warmup},
            "lr_schedule": cfg.lr_schedule,
            "loss": cfg.loss,
            "stopped_early": bool(self.stopping.stopped_early),
            "validation_accuracy": best_val,
            "validation_synops_per_sample": val_synops,
            "selected_epoch": selected,
            "kept": kept,
            "averaged_epochs": None if averaged is None else averaged["epochs"],
            "val_fraction": cfg.val_fraction or 0.0,
            "split_sizes": split_sizes(self.train_set, self.val_set, test_set),
            "synop_target": cfg.synop_target,
            "synop_goal": cfg.synop_goal,
            "synop_goal_met": None
            if self.stopping.goal is None
            else bool(self.stopping.best_key and self.stopping.best_key[0]),
            "synop_start": cfg.synop_start,
            "synop_control": None if self.control is None else cfg.synop_control,
            "synop_correction": None if self.control is None else self.control.correction,
            "train_time_s": round(time.time() - t0, 2),
            "history": self.history,
        }
        model.cpu()
        folder.checkpoint(
            model,
            {
                "dt_us": self.dt_us,
                "time_bins": cfg.time_bins,
                "duration_us": self.train_all.duration_us,
                "dataset": cfg.dataset,
                "metrics": {k: v for k, v in metrics.items() if k != "history"},
                **self.train_all.provenance(),
            },
        )
        folder.metrics(metrics)
        folder.config(cfg.record(), spec)
        folder.curve(self.history)
        return metrics

    def _keep_average(self, model: SpikingCNN, last: dict[str, torch.Tensor] | None) -> dict[str, Any] | None:
        """With ``--average-weights``: load the mean weights into ``model`` if they meet the SynOp goal on the
        validation split (every mean does, without a goal), or the ``last`` epoch's weights if that epoch meets the
        goal too and is more accurate on validation than the mean; return the kept model's validation figures,
        its epoch and the averaged epochs (None when the last epoch is kept). Else leave ``model`` as it is (the
        kept epoch) and return None."""
        average, val_set = self.average, self.val_set
        mean = None if average is None else average.mean(model.state_dict())
        if average is None or mean is None or val_set is None:
            return None
        chosen = cpu_state(model)
        model.load_state_dict(mean)
        ev = evaluate(model, val_set, self.cfg.batch_size, self.device)
        first, end, n = average.epochs[0], average.epochs[-1], len(average.epochs)
        what = f"the mean weights of {n} epochs ({first}–{end})"
        if not self.stopping.meets_goal(ev["synops_per_sample"]):
            model.load_state_dict(chosen)
            self.log(
                f"{what} spend {ev['synops_per_sample']:.3g} SynOps per sample on the validation split, over the "
                "goal: keeping the best epoch"
            )
            return None
        last_entry = self.history[-1]
        if last is not None and last_entry["epoch"] == end and last_entry["val_accuracy"] > ev["accuracy"]:
            # a mean over a stretch where the network still changes can be worse than the epochs it averages
            model.load_state_dict(last)
            self.log(
                f"the last epoch ({end}) is more accurate on validation than {what} "
                f"({100 * last_entry['val_accuracy']:.2f}% against {100 * ev['accuracy']:.2f}%): keeping the last epoch"
            )
            return {
                "accuracy": last_entry["val_accuracy"],
                "synops_per_sample": last_entry["val_synops_per_sample"],
                "epochs": None,
                "selected": end,
            }
        self.log(
            f"keeping {what}: validation accuracy {100 * ev['accuracy']:.2f}%, {ev['synops_per_sample']:.3g} SynOps "
            "per sample"
        )
        return {
            "accuracy": ev["accuracy"],
            "synops_per_sample": ev["synops_per_sample"],
            "epochs": average.epochs,
            "selected": end,
        }


def _train_into(job: _Job, folder: RunFolder, log: Log, group: Group = SINGLE) -> dict[str, Any]:
    """The training proper; the writer of ``group`` logs, writes the run files to ``folder`` and gets the metrics
    (the other processes stay quiet and get an empty dict)."""
    run = BPTT(job, log if group.writer else silent, folder if group.writer else None, group)
    t0 = time.time() - run.elapsed_s
    fit(run, run.log)
    return run.finish(folder, t0) if group.writer else {}


def train_bptt(
    config: TrainConfig, out: str | Path, overwrite: bool = False, progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """Train ``config`` by BPTT and write the run folder ``out``; returns the metrics written to ``metrics.json``
    (an empty dict in a ``torchrun`` process other than rank 0)."""
    spec = model_spec(config, progress, log)
    cfg = config.resolve(spec)
    if cfg.bits is not None and cfg.bits != "auto":
        spec = with_weight_bits(spec, cfg.bits)
    if cfg.neuron is not None:
        spec = with_neuron_option(spec, cfg.neuron)
    for warning in destination_warnings(spec):
        log(f"warning: {warning}")
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
        job = _Job(replace(cfg, nproc=group.world), spec, device, None, overwrite, progress)
        return _under_torchrun(group, out, job, log)
    if cfg.nproc > 1:
        check_nproc(cfg.nproc, device)
    return _run(new_partial(out, overwrite), out, _Job(cfg, spec, device, None, overwrite, progress), log)


def resume_bptt(
    out: Path, partial: Path, state: dict[str, Any], progress: ProgressMode = True, log: Log = default_log
) -> dict[str, Any]:
    """Continue the interrupted run in ``partial`` (its ``state``, :func:`.resume.read_resume_state`) from its last
    finished epoch, with the config it was started with; finishes writing ``out``."""
    cfg = ResolvedConfig(**state["config"])
    spec = spec_from_dict(state["model_spec"], where=str(partial / STATE_FILE))
    device = pick_device(cfg.device)
    check_writable(out, bool(state["overwrite"]))
    log(f"resuming {out} after epoch {state['epoch']}/{cfg.epochs}")
    for warning in destination_warnings(spec):
        log(f"warning: {warning}")
    return _run(partial, out, _Job(cfg, spec, device, state, bool(state["overwrite"]), progress), log)


def _run(partial: Path, out: Path, job: _Job, log: Log) -> dict[str, Any]:
    """Train in ``partial`` (in ``nproc`` processes) and rename it to ``out``."""
    with partial_run(partial, out, job.state is not None, log) as folder:
        if job.cfg.nproc == 1:
            return _train_into(job, folder, log)
        log(
            f"data-parallel training: {job.cfg.nproc} processes, {backend_for(job.device)}, each with its share of "
            f"every batch of {job.cfg.batch_size}"
        )
        spawn(_process, job.cfg.nproc, job.device, args=(job, partial))
        return json.loads((partial / "metrics.json").read_text())


def _process(group: Group, job: _Job, partial: Path) -> None:
    """One process of a data-parallel run (started by :func:`~qsnn_deploy.train.distributed.spawn`)."""
    _train_into(job, RunFolder(partial), default_log, group)


def _under_torchrun(group: Group, out: Path, job: _Job, log: Log) -> dict[str, Any]:
    """This process's part of a run that ``torchrun`` started; rank 0 writes ``out`` (the others return {})."""
    join(group, backend_for(job.device))
    try:
        partial = new_partial(out, job.overwrite) if group.writer else partial_folder(out)
        barrier(group)
        metrics = _train_into(job, RunFolder(partial), log, group)
        if group.writer:
            complete(partial, out)
        barrier(group)
        return metrics
    finally:
        leave()

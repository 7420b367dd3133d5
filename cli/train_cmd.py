"""``qsnn-deploy train``: the options of a run are the fields of :class:`qsnn_deploy.train.config.TrainConfig`
(declared there once, with their help); this command parses them into a config, calls
:mod:`qsnn_deploy.train.trainer` and prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from qsnn_deploy.errors import UsageError
from qsnn_deploy.progress import Mode
from qsnn_deploy.train.config import from_options, options

from .common import CommandFunction, emit_json, format_option, log, overwrite_option, progress_option


def config_options(command: CommandFunction) -> CommandFunction:
    """One click option per :class:`TrainConfig` field (:func:`qsnn_deploy.train.config.options`), in field order,
    handed to the command under the field's name."""
    for opt in reversed(options()):
        kwargs: dict[str, Any] = {"help": opt.help}
        if opt.type is bool:
            kwargs |= {"flag_value": False, "default": True} if opt.invert else {"is_flag": True}
        else:
            kind: Any = opt.type
            if opt.choices:
                kind = click.Choice(opt.choices)
            elif opt.path:
                kind = click.Path(file_okay=opt.path != "dir")
            kwargs |= {"type": kind, "show_default": opt.show_default}
            if opt.default is not None:
                kwargs["default"] = opt.default
        command = click.option(opt.flag, opt.name, **kwargs)(command)
    return command


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy train                                  # digits_speck on digits-dvs, defaults from the model
  qsnn-deploy train --epochs 5 --seed 1 --out runs/s1
  qsnn-deploy train --synop-penalty 1e-7 --out runs/sparse   # trade accuracy for fewer SynOps
  qsnn-deploy train --synop-target 5e5 --out runs/t500k      # aim at 500 k SynOps per sample
  qsnn-deploy train --bits 8,4,4,8 --out runs/mixed          # weight bits per layer (or --bits 4, --bits conv2=4)
  qsnn-deploy train --init runs/r1 --synop-target 3e5 --out runs/ft   # fine-tune a trained run
  qsnn-deploy train --init runs/r1 --synop-target 5x --out runs/5x    # 5x fewer SynOps than runs/r1, its recipe
  qsnn-deploy train --init runs/r1 --distill runs/r1 --synop-target 3e5 --synop-weights conv2=3 --out runs/kd
                                                     # ... keeping close to its outputs, conv1 spikes weighted ×3
  qsnn-deploy train --bits auto --bit-budget 4 --out runs/hawq     # Hessian-aware bits per layer, 4 on average
  qsnn-deploy train --ann --synop-target 5e5 --out runs/ann       # floor-ReLU ANN + SynOp loss, converted to an SNN
  qsnn-deploy train --integer-only --out runs/int                 # integer-only local learning (integer-only QSNN)
  qsnn-deploy train --model my_net.yaml --device cuda --out runs/gpu
  qsnn-deploy train --lr-schedule periodic-cosine --lr-period 5 --out runs/boost   # the 4-bit QSNN's LR boosting
  qsnn-deploy train --lr-schedule one-cycle --loss mse-count --out runs/oc  # per-batch one-cycle, count MSE
  qsnn-deploy train --epochs 40 --patience 5 --out runs/es   # stop when validation (10% of train) stalls
  qsnn-deploy train --val-fraction 0 --out runs/all          # train on the whole train split, keep the last epoch
  qsnn-deploy train --resume runs/es                         # continue a killed/interrupted run exactly
  qsnn-deploy train --seeds 0,1,2 --out runs/seeds           # one run per seed + summary.json (mean ± std)
  qsnn-deploy train --learning-rule ell --out runs/ell       # local spiking classifiers per block
  qsnn-deploy train --nproc 2 --out runs/ddp                 # data-parallel over 2 processes (or under torchrun)
Writes OUT/checkpoint.pt, OUT/metrics.json, OUT/config.yaml and OUT/training_curve.png
(BPTT keeps the epoch with the best accuracy on a validation split held out of the train split;
test accuracy is measured on that model and only reported.)
(--bits auto adds hessian.json/png; --ann writes ann.pt; --integer-only adds memory.json/md).
While it runs, the run lives in OUT.partial/ with the state of the last finished epoch (last.pt);
--resume OUT continues from there with the run's own options and finishes OUT.
--seeds writes OUT/seed_S/ per seed and OUT/summary.json."""
)
@config_options
@click.option(
    "--seeds",
    help="train once per seed ('0,1,2') into OUT/seed_S; writes OUT/summary.json with mean ± std (not with --seed)",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    help="continue the interrupted run OUT (or OUT.partial) from its last finished epoch, with its own options",
)
@click.option(
    "--out", default="runs/train", show_default=True, type=click.Path(file_okay=False), help="run folder to write"
)
@overwrite_option("run folder")
@format_option("text", "json")
@progress_option
@click.pass_context
def train(
    ctx: click.Context,
    seeds: str | None,
    resume: str | None,
    out: str,
    overwrite: bool,
    fmt: str,
    progress: Mode,
    **values: Any,
) -> None:
    """Train a spiking CNN: quantisation-aware BPTT, a floor-ReLU ANN converted to an SNN (--ann), integer-only
    local learning (--integer-only) or a local learning rule (--learning-rule); writes a run folder."""
    from qsnn_deploy.train import trainer

    given = {name for name in ctx.params if _explicit(ctx, name)}
    if resume is not None:
        from qsnn_deploy.train.resume import resume_paths

        run_out = resume_paths(resume)[0]
        asked = {name: ctx.params[name] for name in given - {"resume", "fmt", "progress", "quiet"}}
        _report(fmt, "bptt", trainer.resume(resume, asked, progress=progress, log=log), run_out)
        return
    config = from_options(values, given, log)
    if seeds is not None:
        if "seed" in given:
            raise UsageError("--seeds and --seed are exclusive", fix="list every seed in --seeds, e.g. --seeds 0,1,2")
        from qsnn_deploy.train.checks import parse_seeds

        summary = trainer.train_seeds(config, parse_seeds(seeds), out, overwrite=overwrite, progress=progress, log=log)
        acc, syn = summary["test_accuracy"], summary["synops_per_sample"]
        text = (
            f"{len(summary['runs'])} seeds: test accuracy {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f}%, "
            f"{syn['mean']:.3g} ± {syn['std']:.2g} SynOps/sample; summary: {out}/summary.json"
        )
        emit_json(summary | {"out": str(out)}) if fmt == "json" else click.echo(text)
        return
    _report(fmt, config.method, trainer.train(config, out, overwrite=overwrite, progress=progress, log=log), out)


# what --lr-schedule and --loss offer (tests compare them with the library's)
SCHEDULES = next(o.choices for o in options() if o.name == "lr_schedule")
LOSSES = next(o.choices for o in options() if o.name == "loss")


def _explicit(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (or by environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)


def _summary(method: str, m: dict[str, Any]) -> str:
    """The result line of a run of ``method`` (without the run folder)."""
    acc = f"test accuracy {100 * m['test_accuracy']:.2f}%"
    synops = f"{m['synops_per_sample']:.3g} SynOps/sample"
    if method == "ann":
        return f"{acc} (the converted SNN, emulated), {100 * m['ann_test_accuracy']:.2f}% (the ANN); {synops}"
    if method == "integer-only":
        kind = "integer-only" if m["integer_only"] else "full-precision"
        return (
            f"{acc} ({kind} local learning), {100 * m['chip_test_accuracy']:.2f}% (chip int8); training memory "
            f"{m['memory_bits'] / 8e3:.1f} kB ({100 * m['memory_saved']:.1f}% below full precision)"
        )
    if method == "local-rule":
        return (
            f"{acc} ({m['rule']}); {synops}; state kept for backprop {m['peak_state_bytes_per_sample'] / 1e3:.1f} kB "
            f"per sample (BPTT: {m['bptt_state_bytes_per_sample'] / 1e3:.1f} kB)"
        )
    averaged, kept, val = m.get("averaged_epochs"), m.get("kept"), m["validation_accuracy"]
    chosen = (
        f"the mean weights of epochs {averaged[0]}–{averaged[-1]} ({len(averaged)}), validation accuracy "
        f"{100 * val:.2f}%"
        if averaged
        else f"last epoch {m['selected_epoch']}, no validation split"
        if val is None
        else f"epoch {m['selected_epoch']}, best validation accuracy {100 * val:.2f}%"
        if kept == "best epoch"
        else f"last epoch {m['selected_epoch']}, validation accuracy {100 * val:.2f}%"
    )
    goal = ""
    if m.get("synop_goal") is not None:
        met = "met" if m["synop_goal_met"] else "NOT met: the epoch with the fewest SynOps is kept"
        goal = f"; SynOp goal {m['synop_goal']:.3g} per sample on the validation split {met}"
    return (
        f"{acc} ({m['bits_label']} QAT model, {chosen}), {100 * m['float_test_accuracy']:.2f}% (same weights in "
        f"float); {synops}{goal}"
    )


def _report(fmt: str, method: str, metrics: dict[str, Any], out: str | Path) -> None:
    if not metrics:  # a torchrun process other than rank 0: rank 0 reports
        return
    if fmt == "json":
        emit_json({k: v for k, v in metrics.items() if k != "history"} | {"out": str(out)})
    else:
        click.echo(f"{_summary(method, metrics)}; run folder: {out}")
    if "train_time_s" in metrics:
        log(f"training took {metrics['train_time_s']:.0f} s")

"""``qsnn-deploy train``."""

from __future__ import annotations

import click

from qsnn_deploy.errors import UsageError

from .common import emit_json, format_option, log, overwrite_option, progress_option

SCHEDULES = ("constant", "multistep", "cosine", "periodic-cosine", "warm-restarts", "one-cycle")  # see train/schedules
LOSSES = ("ce", "mse-count")  # see train/losses (kept here so that --help needs no torch)
RULES = ("bptt", "decolle", "ell", "bell", "fell")  # bptt + train/local_rules.RULES


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy train                                  # digits_speck on digits-dvs, defaults from the model
  qsnn-deploy train --epochs 5 --seed 1 --out runs/s1
  qsnn-deploy train --synop-penalty 1e-7 --out runs/sparse   # trade accuracy for fewer SynOps
  qsnn-deploy train --synop-target 5e5 --out runs/t500k      # aim at 500 k SynOps per sample
  qsnn-deploy train --bits 8,4,4,8 --out runs/mixed          # weight bits per layer (or --bits 4, --bits conv2=4)
  qsnn-deploy train --init runs/r1 --synop-target 3e5 --out runs/ft   # fine-tune a trained run
  qsnn-deploy train --init runs/r1 --distill runs/r1 --synop-target 3e5 --synop-weights conv2=3 --out runs/kd
                                                     # ... keeping close to its outputs, conv1 spikes weighted ×3
  qsnn-deploy train --bits auto --bit-budget 4 --out runs/hawq     # Hessian-aware bits per layer, 4 on average
  qsnn-deploy train --ann --synop-target 5e5 --out runs/ann       # floor-ReLU ANN + SynOp loss, converted to an SNN
  qsnn-deploy train --integer-only --out runs/int                 # integer-only local learning (seed 1)
  qsnn-deploy train --model my_net.yaml --device cuda --out runs/gpu
  qsnn-deploy train --lr-schedule periodic-cosine --lr-period 5 --out runs/boost   # seed 3's LR boosting
  qsnn-deploy train --lr-schedule one-cycle --loss mse-count --out runs/oc  # per-batch one-cycle, count MSE
  qsnn-deploy train --epochs 40 --patience 5 --out runs/es   # early stopping on 10% of the train split
  qsnn-deploy train --resume runs/es                         # continue a killed/interrupted run exactly
  qsnn-deploy train --seeds 0,1,2 --out runs/seeds           # one run per seed + summary.json (mean ± std)
  qsnn-deploy train --learning-rule ell --out runs/ell       # local spiking classifiers per block (seed 4)
  qsnn-deploy train --nproc 2 --out runs/ddp                 # data-parallel over 2 processes (or under torchrun)
Writes OUT/checkpoint.pt, OUT/metrics.json, OUT/config.yaml and OUT/training_curve.png
(--bits auto adds hessian.json/png; --ann writes ann.pt; --integer-only adds memory.json/md).
While it runs, the run lives in OUT.partial/ with the state of the last finished epoch (last.pt);
--resume OUT continues from there with the run's own options and finishes OUT.
--seeds writes OUT/seed_S/ per seed and OUT/summary.json."""
)
@click.option(
    "--model",
    help="zoo model name or model YAML path [digits_speck on digits-dvs; for other data a "
    "default Speck-ready network sized to the sensor and classes]",
)
@click.option(
    "--dataset",
    default="digits-dvs",
    show_default=True,
    help="digits-dvs (built in), nmnist, dvsgesture, "
    "pokerdvs, mnist-dvs (from --data-root), or folder:PATH (one sub-folder per class); "
    "`qsnn-deploy datasets` lists them",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="where tonic datasets are [$QSNN_DEPLOY_DATA or the user cache]",
)
@click.option("--download", is_flag=True, help="download a tonic dataset that is not under --data-root")
@click.option("--window-ms", type=float, help="time window framed per recording [the longest recording]")
@click.option(
    "--test-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="folder:PATH without train/ and test/ sub-folders: share of each class held out for testing",
)
@click.option("--denoise-us", type=int, help="drop events with no neighbour within this many µs (tonic's Denoise)")
@click.option("--sensor-size", help="folder:PATH: the recordings' sensor as WxHxP, e.g. 346x260x2 [inferred]")
@click.option(
    "--augment",
    is_flag=True,
    help="recordings on disk: random left-right flips and spatial jitter "
    "of the training split, drawn once when they are loaded (flips are wrong for classes with a "
    "handedness, such as DVS Gesture's arm gestures: use --shift-px there)",
)
@click.option(
    "--shift-px",
    type=int,
    default=0,
    show_default=True,
    help="move each training sample by a random "
    "offset of up to N input pixels per axis, drawn anew every epoch (any dataset)",
)
@click.option("--epochs", type=int, help="training epochs [model default]")
@click.option("--batch-size", type=int, help="samples per batch [model default]")
@click.option("--lr", type=float, help="Adam learning rate (scheduled by --lr-schedule) [model default]")
@click.option("--time-bins", type=int, help="time bins per sample [model default]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option(
    "--synop-penalty",
    type=float,
    default=0.0,
    show_default=True,
    help="α in loss = CE + α·SynOps per sample (try 1e-8 … 1e-6)",
)
@click.option(
    "--synop-target",
    type=float,
    default=None,
    help="target SynOps per sample: loss = CE + ((SynOps − N)/N)² (SynOpLoss' target form)",
)
@click.option(
    "--synop-weights",
    help="weight of each layer's SynOps in the SynOp loss: '1,3,1,1' (in layer "
    "order) or 'conv2=3' (by name, others 1); a layer's SynOps are those its input spikes cause, so "
    "conv2=3 makes conv1's spikes dearer. Reported SynOps stay unweighted [all 1]",
)
@click.option(
    "--distill",
    type=click.Path(),
    help="knowledge distillation: add τ²·KL(teacher ‖ student) on the "
    "output spike counts, the teacher being this run folder or checkpoint (e.g. the unpenalised model)",
)
@click.option(
    "--distill-weight",
    type=float,
    default=1.0,
    show_default=True,
    help="with --distill: weight of the distillation term",
)
@click.option(
    "--distill-temperature",
    type=float,
    default=4.0,
    show_default=True,
    help="with --distill: softmax temperature τ on the spike counts",
)
@click.option(
    "--bits",
    help="weight bits per layer, 2..8: '4' (all), '8,4,4,8' (in layer order), 'conv2=4' "
    "(by name), or 'auto' (Hessian-aware, with --bit-budget) [model YAML weight_bits, default 8]",
)
@click.option("--bit-budget", help="with --bits auto: average bits per weight ('4') or a total size ('12kB')")
@click.option(
    "--ann",
    is_flag=True,
    help="train the network as a floor-ReLU ANN (integer activations) with the "
    "SynOp loss, then convert it to the SNN without weight scaling (writes ann.pt)",
)
@click.option(
    "--integer-only",
    is_flag=True,
    help="integer-only local learning: integer weights, states, errors "
    "and gradients (seed 1); writes a memory-footprint report",
)
@click.option(
    "--integer-bits",
    help="with --integer-only: widths such as 'wb=8,ub=16,eb=6,gb=10' [wb=8,ub=16,sb=6,ab=6,sig=6,eb=6,gb=10,rb=16]",
)
@click.option(
    "--lr-int",
    type=float,
    default=8.0,
    show_default=True,
    help="with --integer-only: integer learning rate (a power of two), halved every third of the epochs",
)
@click.option(
    "--full-precision-twin",
    is_flag=True,
    help="with --integer-only: the same local learning in float (the reference for the memory report)",
)
@click.option(
    "--lr-schedule",
    type=click.Choice(SCHEDULES),
    help="learning-rate schedule (torch.optim.lr_scheduler): constant, multistep (÷10 at 50%/75%), "
    "cosine, periodic-cosine (cosine stepped past its period: the LR rises again, seed 3), "
    "warm-restarts, one-cycle (per batch, peak = --lr) [cosine]",
)
@click.option("--lr-period", type=int, help="with periodic-cosine / warm-restarts: epochs per period [epochs // 3]")
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    help="ce: cross-entropy on output spike counts; mse-count: MSE "
    "of output spike rates against 0.8 (correct class) / 0.2 (others) (seed 3) [ce]",
)
@click.option(
    "--patience",
    type=int,
    help="early stopping: stop after N epochs without a better validation "
    "accuracy and keep the best epoch's weights (validation is held out of the train split)",
)
@click.option(
    "--val-fraction", type=float, help="with --patience: share of the train split held out for validation [0.1]"
)
@click.option(
    "--seeds",
    help="train once per seed ('0,1,2') into OUT/seed_S; writes OUT/summary.json with mean ± std (not with --seed)",
)
@click.option(
    "--nproc",
    type=int,
    default=1,
    show_default=True,
    help="data-parallel processes "
    "(DistributedDataParallel: gloo on CPU, NCCL with one GPU each); each takes its share of every batch. "
    "Under torchrun leave it out",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    help="continue the interrupted run OUT (or OUT.partial) from its last finished epoch, with its own options",
)
@click.option(
    "--learning-rule",
    type=click.Choice(RULES),
    default="bptt",
    show_default=True,
    help="bptt; decolle (fixed random readout and local loss per layer, seed 0); ell / bell / fell "
    "(local spiking classifiers per block: same-step gradients / block-local BPTT / online, seed 4). "
    "Local readouts are training-only: convert drops them",
)
@click.option(
    "--neuron",
    help="neuron model instead of the YAML's: iaf (Speck's), lif, leaky, decolle, "
    "decolle-simple, with parameters as TYPE:name=value,... (e.g. lif:beta=0.8); Speck has no leak",
)
@click.option(
    "--feedback-alignment", is_flag=True, help="with a local rule: fixed random backward weights for the readouts"
)
@click.option(
    "--readouts",
    type=click.Choice(["frozen", "trained"]),
    help="with a local rule: keep the local classifiers fixed or train them [frozen for decolle, "
    "trained for ell/bell/fell]",
)
@click.option("--init", "init", type=click.Path(), help="start from the weights of this run folder or checkpoint")
@click.option("--no-qat", is_flag=True, help="train in float (no chip quantisation during training)")
@click.option(
    "--limit", type=int, help="use only N samples of each split, the first of each class in turn (quick smoke runs)"
)
@click.option(
    "--out", default="runs/train", show_default=True, type=click.Path(file_okay=False), help="run folder to write"
)
@overwrite_option("run folder")
@format_option("text", "json")
@progress_option
@click.pass_context
def train(ctx, **params) -> None:
    """Train a spiking CNN with quantisation-aware BPTT; writes a run folder."""
    _train(ctx, **_with_recipe(ctx, params))


def _with_recipe(ctx: click.Context, params: dict) -> dict:
    """The options with a model YAML's dataset and `train:` recipe filled in where not given on the command line."""
    if params["model"] is None or params["resume"] is not None:
        return params
    from qsnn_deploy.nets.zoo import load_spec

    spec = load_spec(params["model"])
    used = {}
    if not _explicit(ctx, "dataset") and spec.dataset != params["dataset"]:
        used["dataset"] = spec.dataset
    used |= {key: value for key, value in spec.recipe.items() if not _explicit(ctx, key)}
    for key in ("bits", "synop_weights"):  # YAML may give a number
        if key in used:
            used[key] = str(used[key])
    if used:
        log(f"from {spec.name}'s YAML: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in used.items()))
    return params | used


def _train(
    ctx,
    model,
    dataset,
    data_root,
    download,
    window_ms,
    test_fraction,
    denoise_us,
    augment,
    shift_px,
    sensor_size,
    epochs,
    batch_size,
    lr,
    time_bins,
    seed,
    device,
    synop_penalty,
    synop_target,
    synop_weights,
    distill,
    distill_weight,
    distill_temperature,
    bits,
    bit_budget,
    ann,
    integer_only,
    integer_bits,
    lr_int,
    full_precision_twin,
    lr_schedule,
    lr_period,
    loss,
    patience,
    val_fraction,
    seeds,
    nproc,
    resume,
    learning_rule,
    neuron,
    feedback_alignment,
    readouts,
    init,
    no_qat,
    limit,
    out,
    overwrite,
    fmt,
    progress,
) -> None:
    """The body of ``train`` (options resolved)."""
    from qsnn_deploy.train.trainer import TrainConfig
    from qsnn_deploy.train.trainer import train as run_training

    if model is None:
        model = "digits_speck" if dataset == "digits-dvs" else "auto"
    method = (
        "--ann"
        if ann
        else "--integer-only"
        if integer_only
        else (f"--learning-rule {learning_rule}" if learning_rule != "bptt" else None)
    )
    data_given = [
        name
        for name, value in (
            ("--data-root", data_root),
            ("--download", download),
            ("--window-ms", window_ms),
            ("--denoise-us", denoise_us),
            ("--augment", augment),
            ("--sensor-size", sensor_size),
        )
        if value
    ]
    from qsnn_deploy.data.registry import DATASETS

    if dataset in DATASETS and data_given:
        raise UsageError(
            f"{', '.join(data_given)} only apply to recordings read from disk; the built-in {dataset} is "
            "generated in memory and would silently ignore them",
            fix="drop them, or train on a dataset on disk (--dataset nmnist, folder:PATH, ...)",
        )
    if method in ("--ann", "--integer-only") and (dataset != "digits-dvs" or data_given or model == "auto"):
        raise UsageError(
            f"{method} trains on the built-in digits-dvs with a given --model so far",
            fix="use BPTT or a --learning-rule for other datasets, or --dataset digits-dvs",
        )

    if resume is not None:
        _resume(ctx, resume, fmt, progress)
        return
    given = {
        "--bits": bits,
        "--bit-budget": bit_budget,
        "--synop-penalty": synop_penalty or None,
        "--synop-target": synop_target,
        "--init": init,
        "--no-qat": no_qat or None,
        "--lr": lr,
        "--lr-schedule": lr_schedule,
        "--lr-period": lr_period,
        "--loss": loss,
        "--patience": patience,
        "--val-fraction": val_fraction,
        "--seeds": seeds,
        "--nproc": nproc if nproc != 1 else None,
        "--neuron": neuron,
        "--synop-weights": synop_weights,
        "--distill": distill,
        "--distill-weight": distill_weight if _explicit(ctx, "distill_weight") else None,
        "--distill-temperature": distill_temperature if _explicit(ctx, "distill_temperature") else None,
        "--shift-px": shift_px or None,
    }
    if ann and integer_only:
        raise UsageError("--ann and --integer-only are two different training methods", fix="pick one")
    if learning_rule == "bptt" and (feedback_alignment or readouts):
        raise UsageError(
            "--feedback-alignment and --readouts go with a local --learning-rule",
            fix="add e.g. --learning-rule ell, or drop them",
        )
    if learning_rule != "bptt":
        if ann or integer_only:
            raise UsageError(
                f"--learning-rule {learning_rule} is its own training method; --ann and --integer-only are others",
                fix="pick one",
            )
        _refuse(f"--learning-rule {learning_rule}", given, allowed=("--lr", "--no-qat", "--neuron", "--shift-px"))
        from qsnn_deploy.nets.zoo import with_neuron_option
        from qsnn_deploy.train.local_rules import train_local_rule
        from qsnn_deploy.train.trainer import data_options, model_spec

        data_cfg = TrainConfig(
            model=model,
            dataset=dataset,
            data_root=data_root,
            download=download,
            window_ms=window_ms,
            test_fraction=test_fraction,
            denoise_us=denoise_us,
            augment=augment,
            sensor_size=sensor_size,
        )
        spec = model_spec(data_cfg, progress=progress, log=log)
        spec = with_neuron_option(spec, neuron) if neuron else spec
        metrics = train_local_rule(
            spec,
            dataset,
            out,
            rule=learning_rule,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            time_bins=time_bins,
            seed=seed,
            limit=limit,
            overwrite=overwrite,
            progress=progress,
            device=device,
            feedback_alignment=feedback_alignment,
            freeze_readouts=None if readouts is None else readouts == "frozen",
            quantize=not no_qat,
            log=log,
            options=data_options(data_cfg, spec),
            shift_px=shift_px,
        )
        _report(
            fmt,
            metrics,
            out,
            f"test accuracy {100 * metrics['test_accuracy']:.2f}% ({learning_rule}); "
            f"{metrics['synops_per_sample']:.3g} SynOps/sample; state kept for backprop "
            f"{metrics['peak_state_bytes_per_sample'] / 1e3:.1f} kB per sample (BPTT: "
            f"{metrics['bptt_state_bytes_per_sample'] / 1e3:.1f} kB); run folder: {out}",
        )
        return
    if not integer_only and (integer_bits or full_precision_twin or lr_int != 8.0):
        raise UsageError(
            "--integer-bits, --lr-int and --full-precision-twin go with --integer-only",
            fix="add --integer-only or drop them",
        )
    if ann:
        _refuse("--ann", given, allowed=("--synop-penalty", "--synop-target", "--init", "--no-qat", "--lr"))
        from qsnn_deploy.train.ann_synop import train_ann_synop

        metrics = train_ann_synop(
            model,
            dataset,
            out,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            time_bins=time_bins,
            seed=seed,
            synop_target=synop_target,
            synop_penalty=synop_penalty,
            limit=limit,
            overwrite=overwrite,
            progress=progress,
            device=device,
            quantize_weights=not no_qat,
            init=init,
            log=log,
        )
        _report(
            fmt,
            metrics,
            out,
            f"test accuracy {100 * metrics['test_accuracy']:.2f}% (the converted SNN, "
            f"emulated), {100 * metrics['ann_test_accuracy']:.2f}% (the ANN); "
            f"{metrics['synops_per_sample']:.3g} SynOps/sample; run folder: {out}",
        )
        return
    if integer_only:
        _refuse("--integer-only", given, allowed=())
        from qsnn_deploy.train.integer_only import parse_integer_bits, train_integer_only

        int_bits = None if full_precision_twin else parse_integer_bits(integer_bits or "")
        metrics = train_integer_only(
            model,
            dataset,
            out,
            epochs=epochs or 10,
            batch_size=batch_size or 32,
            time_bins=time_bins or 10,
            seed=seed,
            bits=int_bits,
            limit=limit,
            overwrite=overwrite,
            progress=progress,
            device=device,
            lr_int=lr_int,
            log=log,
        )
        saved = 100 * metrics["memory_saved"]
        _report(
            fmt,
            metrics,
            out,
            f"test accuracy {100 * metrics['test_accuracy']:.2f}% "
            f"({'integer-only' if int_bits else 'full-precision'} local learning), "
            f"{100 * metrics['chip_test_accuracy']:.2f}% (chip int8); training memory "
            f"{metrics['memory_bits'] / 8e3:.1f} kB ({saved:.1f}% below full precision); run folder: {out}",
        )
        return
    cfg = TrainConfig(
        model=model,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        time_bins=time_bins,
        seed=seed,
        device=device,
        quantize=not no_qat,
        synop_penalty=synop_penalty,
        synop_target=synop_target,
        synop_weights=synop_weights,
        distill=distill,
        distill_weight=distill_weight,
        distill_temperature=distill_temperature,
        limit=limit,
        bits=bits,
        bit_budget=bit_budget,
        init=init,
        lr_schedule=lr_schedule or "cosine",
        lr_period=lr_period,
        loss=loss or "ce",
        patience=patience,
        val_fraction=val_fraction,
        nproc=nproc,
        neuron=neuron,
        data_root=data_root,
        download=download,
        window_ms=window_ms,
        test_fraction=test_fraction,
        denoise_us=denoise_us,
        augment=augment,
        shift_px=shift_px,
        sensor_size=sensor_size,
    )
    if seeds is not None:
        if _explicit(ctx, "seed"):
            raise UsageError("--seeds and --seed are exclusive", fix="list every seed in --seeds, e.g. --seeds 0,1,2")
        from qsnn_deploy.train.trainer import parse_seeds, train_seeds

        summary = train_seeds(cfg, parse_seeds(seeds), out, overwrite=overwrite, progress=progress, log=log)
        acc, syn = summary["test_accuracy"], summary["synops_per_sample"]
        text = (
            f"{len(summary['runs'])} seeds: test accuracy {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f}%, "
            f"{syn['mean']:.3g} ± {syn['std']:.2g} SynOps/sample; summary: {out}/summary.json"
        )
        emit_json(summary | {"out": str(out)}) if fmt == "json" else click.echo(text)
        return
    _report_bptt(fmt, run_training(cfg, out, overwrite=overwrite, progress=progress), out)


# CLI option → TrainConfig field (how each option given with --resume is checked against the run's config)
_CONFIG_OPTIONS = {
    "model": "model",
    "dataset": "dataset",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "time_bins": "time_bins",
    "seed": "seed",
    "device": "device",
    "synop_penalty": "synop_penalty",
    "synop_target": "synop_target",
    "synop_weights": "synop_weights",
    "distill": "distill",
    "distill_weight": "distill_weight",
    "distill_temperature": "distill_temperature",
    "bits": "bits",
    "bit_budget": "bit_budget",
    "init": "init",
    "limit": "limit",
    "lr_schedule": "lr_schedule",
    "lr_period": "lr_period",
    "loss": "loss",
    "patience": "patience",
    "val_fraction": "val_fraction",
    "nproc": "nproc",
    "neuron": "neuron",
    "data_root": "data_root",
    "download": "download",
    "window_ms": "window_ms",
    "test_fraction": "test_fraction",
    "denoise_us": "denoise_us",
    "augment": "augment",
    "shift_px": "shift_px",
    "sensor_size": "sensor_size",
}


def _explicit(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (or by environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)


def _resume(ctx: click.Context, path: str, fmt: str, progress: str) -> None:
    """``--resume``: take the config from the run's state; refuse options that disagree with it."""
    from pathlib import Path

    from qsnn_deploy.train.trainer import read_resume_state, resume

    out, _, state = read_resume_state(path)
    stored = state["config"]
    conflicts = []
    for name, key in _CONFIG_OPTIONS.items():
        if _explicit(ctx, name) and ctx.params[name] != stored[key]:
            conflicts.append(f"--{name.replace('_', '-')} {ctx.params[name]} (the run has {stored[key]})")
    if _explicit(ctx, "no_qat") and ctx.params["no_qat"] == stored["quantize"]:
        conflicts.append(f"--no-qat (the run has quantize={stored['quantize']})")
    if _explicit(ctx, "out") and Path(ctx.params["out"]) != out:
        conflicts.append(f"--out {ctx.params['out']} (the run writes {out})")
    for name in ("ann", "integer_only", "integer_bits", "lr_int", "full_precision_twin", "seeds", "overwrite"):
        if _explicit(ctx, name):
            conflicts.append(f"--{name.replace('_', '-')}")
    if conflicts:
        raise UsageError(
            f"--resume continues the run with the options it was started with; these disagree: {'; '.join(conflicts)}",
            where=f"--resume {path}",
            fix="drop them (or start a new run with another --out)",
        )
    _report_bptt(fmt, resume(path, progress=progress, log=log), out)


def _refuse(method: str, given: dict, allowed: tuple[str, ...]) -> None:
    """A usage error for options that ``method`` does not take."""
    extra = [k for k, v in given.items() if v is not None and k not in allowed]
    if extra:
        raise UsageError(f"{method} does not take {', '.join(extra)}", fix=f"drop {', '.join(extra)}")


def _report_bptt(fmt: str, metrics: dict, out) -> None:
    if not metrics:  # a torchrun process other than rank 0: rank 0 reports
        return
    _report(
        fmt,
        metrics,
        out,
        f"test accuracy {100 * metrics['test_accuracy']:.2f}% ({metrics['bits_label']} QAT "
        f"model), {100 * metrics['float_test_accuracy']:.2f}% (same weights in float); "
        f"{metrics['synops_per_sample']:.3g} SynOps/sample; run folder: {out}",
    )


def _report(fmt: str, metrics: dict, out, text: str) -> None:
    if fmt == "json":
        emit_json({k: v for k, v in metrics.items() if k != "history"} | {"out": str(out)})
    else:
        click.echo(text)
    if "train_time_s" in metrics:
        log(f"training took {metrics['train_time_s']:.0f} s")

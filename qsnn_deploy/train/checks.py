"""The checks of a :class:`~qsnn_deploy.train.config.TrainConfig` (its ``__post_init__`` runs
:func:`check_config`) and of the training methods' own arguments. Each error is a :class:`UsageError` (exit 2)
that says what is wrong and how to fix it. Torch-free.

Order: which method the options choose and what it takes, then the values. Values left unset (None) until
:meth:`~qsnn_deploy.train.config.TrainConfig.resolve` fills them from the model are checked once filled.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..inputs import is_whole_number
from .config import LEARNING_RULES, LOSSES, flag
from .integer_bits import parse_integer_bits
from .schedules import check_schedule

if TYPE_CHECKING:
    from ..nets.zoo import ModelSpec
    from .config import TrainConfig

LOCAL_RULES = LEARNING_RULES[1:]


def check_config(cfg: TrainConfig) -> None:
    """Raise a :class:`UsageError` for the first thing wrong with ``cfg``."""
    _check_method(cfg)
    if cfg.method in ("bptt", "ann"):
        _check_bptt(cfg)
    elif cfg.method == "local-rule":
        check_local_rule_args(cfg.learning_rule, cfg.epochs, cfg.batch_size, cfg.lr, cfg.time_bins, cfg.limit)
        _check_data(cfg)
    else:
        check_integer_only_args(cfg.epochs, cfg.batch_size, cfg.time_bins, cfg.limit, cfg.lr_int)
        if not cfg.full_precision_twin:
            parse_integer_bits(cfg.integer_bits or "")


def _check_method(cfg: TrainConfig) -> None:
    """The method the options choose, and that it takes every option given (differing from its default)."""
    from ..data.registry import DATASETS

    disk = [flag(f.name) for f in fields(cfg) if f.metadata["disk"] and getattr(cfg, f.name)]
    if cfg.dataset in DATASETS and disk:
        raise UsageError(
            f"{', '.join(disk)} only apply to recordings read from disk; the built-in {cfg.dataset} is "
            "generated in memory and would silently ignore them",
            fix="drop them, or train on a dataset on disk (--dataset nmnist, folder:PATH, ...)",
        )
    if cfg.method in ("ann", "integer-only") and (cfg.dataset != "digits-dvs" or disk or cfg.model == "auto"):
        raise UsageError(
            f"{cfg.method_flag} trains on the built-in digits-dvs with a given --model so far",
            fix="use BPTT or a --learning-rule for other datasets, or --dataset digits-dvs",
        )
    if cfg.ann and cfg.integer_only:
        raise UsageError("--ann and --integer-only are two different training methods", fix="pick one")
    if cfg.learning_rule == "bptt" and (cfg.feedback_alignment or cfg.readouts):
        raise UsageError(
            "--feedback-alignment and --readouts go with a local --learning-rule",
            fix="add e.g. --learning-rule ell, or drop them",
        )
    if cfg.learning_rule != "bptt" and (cfg.ann or cfg.integer_only):
        raise UsageError(
            f"--learning-rule {cfg.learning_rule} is its own training method; --ann and --integer-only are others",
            fix="pick one",
        )
    if not cfg.integer_only and (cfg.integer_bits or cfg.full_precision_twin or cfg.lr_int != 8.0):
        raise UsageError(
            "--integer-bits, --lr-int and --full-precision-twin go with --integer-only",
            fix="add --integer-only or drop them",
        )
    extra = [flag(f.name) for f in fields(cfg) if cfg.method not in f.metadata["takes"] and f.name in cfg.given()]
    if extra:
        raise UsageError(f"{cfg.method_flag} does not take {', '.join(extra)}", fix=f"drop {', '.join(extra)}")


def _check_bptt(cfg: TrainConfig) -> None:
    """The values of a BPTT (or ANN) run; the counts and the learning rate once set."""
    counts = [v for v in (cfg.epochs, cfg.batch_size, cfg.time_bins) if v is not None]
    if any(v < 1 for v in counts) or (cfg.lr is not None and not cfg.lr > 0):
        raise UsageError("epochs, batch size and time bins must be >= 1 and the learning rate > 0")
    if cfg.limit is not None and cfg.limit < 1:
        raise UsageError("--limit must be >= 1")
    kind, value = parse_synop_target(cfg.synop_target)
    if kind is not None and cfg.synop_penalty > 0:
        raise UsageError(
            "--synop-target cannot be combined with --synop-penalty", fix="pick one form of the SynOp loss"
        )
    if kind == "relative" and cfg.init is None:
        raise UsageError(
            f"--synop-target {cfg.synop_target} is relative to the SynOps per sample of the run it fine-tunes, "
            "and there is no --init RUN",
            where="--synop-target",
            fix="add --init RUN (a finished `qsnn-deploy train` run), or give SynOps per sample such as 3e5",
        )
    if kind == "relative" and cfg.method != "bptt":
        raise UsageError(
            f"a relative --synop-target fine-tunes a BPTT run; {cfg.method_flag} takes an absolute one",
            where="--synop-target",
            fix="give SynOps per sample, e.g. --synop-target 5e5",
        )
    if cfg.synop_anneal is not None and not 0 <= cfg.synop_anneal <= 1:
        raise UsageError(f"--synop-anneal must be between 0 and 1, got {cfg.synop_anneal}", fix="e.g. 0.6")
    if (cfg.synop_anneal or cfg.synop_start is not None) and kind is None:
        raise UsageError(
            "--synop-anneal and --synop-start shape the target of --synop-target",
            fix="add --synop-target N (or Kx with --init RUN), or drop them",
        )
    for name in ("synop_start", "synop_goal"):
        number = getattr(cfg, name)
        if number is not None and not (number > 0 and math.isfinite(number)):
            raise UsageError(f"{flag(name)} must be a positive number of SynOps per sample, got {number}")
    if cfg.synop_control is not None and not (cfg.synop_control >= 0 and math.isfinite(cfg.synop_control)):
        raise UsageError(f"--synop-control must be a gain >= 0, got {cfg.synop_control}", fix="e.g. 1, or 0 for none")
    if cfg.synop_control and (kind is None or (cfg.synop_goal is None and kind != "relative")):
        raise UsageError(
            "--synop-control steers a SynOp target (--synop-target) towards a goal (--synop-goal, or the one a "
            "relative target sets), and this run lacks one",
            where="--synop-control",
            fix="add --synop-target N --synop-goal G (or --init RUN --synop-target Kx), or drop --synop-control",
        )
    if (cfg.synop_goal is not None or kind == "relative") and cfg.val_fraction == 0:
        raise UsageError(
            "a SynOp goal is checked on the validation split, and --val-fraction 0 holds none out",
            where="--val-fraction",
            fix="keep a validation split (--val-fraction 0.1, the default), or drop --synop-goal",
        )
    if cfg.synop_penalty < 0:
        raise UsageError("--synop-penalty must be >= 0")
    if cfg.synop_weights is not None and cfg.synop_target is None and cfg.synop_penalty == 0:
        raise UsageError(
            "--synop-weights weights the layers in the SynOp loss",
            fix="add --synop-target N or --synop-penalty α, or drop --synop-weights",
        )
    if cfg.distill is None and {"distill_weight", "distill_temperature"} & set(cfg.given()):
        raise UsageError(
            "--distill-weight and --distill-temperature go with --distill",
            fix="add --distill TEACHER_RUN, or drop them",
        )
    if not cfg.distill_weight > 0 or not cfg.distill_temperature > 0:
        raise UsageError(
            "--distill-weight and --distill-temperature must be > 0",
            fix="e.g. --distill-weight 1 --distill-temperature 4",
        )
    if (cfg.bits == "auto") != (cfg.bit_budget is not None):
        raise UsageError(
            "--bits auto and --bit-budget go together",
            fix="e.g. --bits auto --bit-budget 4 (average bits per weight), or --bits 8,4,4,8",
        )
    if cfg.bits == "auto" and not cfg.quantize:
        raise UsageError(
            "--bits auto allocates the bits of quantisation-aware training; --no-qat trains in float",
            fix="drop --no-qat",
        )
    check_schedule(cfg.lr_schedule, cfg.epochs, cfg.lr_period)
    if cfg.nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {cfg.nproc}", fix="e.g. --nproc 2")
    _check_data(cfg)
    if cfg.loss not in LOSSES:
        raise UsageError(f"unknown loss '{cfg.loss}'", where="--loss", fix=f"use one of {', '.join(LOSSES)}")
    if cfg.patience is not None and cfg.patience < 1:
        raise UsageError(f"--patience must be >= 1 epoch, got {cfg.patience}", fix="e.g. --patience 3")
    if cfg.val_fraction is not None and not 0 <= cfg.val_fraction < 1:  # None: a state written before the default
        raise UsageError(
            f"--val-fraction must be >= 0 and < 1, got {cfg.val_fraction}",
            fix="e.g. --val-fraction 0.1 (or 0 for no validation split)",
        )
    if cfg.average_weights is not None and not 0 <= cfg.average_weights < 1:
        raise UsageError(
            f"--average-weights must be >= 0 and < 1 (a share of the epochs), got {cfg.average_weights}",
            fix="e.g. 0.5: the mean of the second half's epochs, or 0 for none",
        )
    if cfg.average_weights and not cfg.val_fraction:
        raise UsageError(
            "--average-weights checks the mean weights on the validation split, and --val-fraction 0 holds none out",
            fix="drop --average-weights, or give --val-fraction a share such as 0.1",
        )
    if cfg.patience is not None and not cfg.val_fraction:
        raise UsageError(
            "--patience stops on the validation accuracy, and --val-fraction 0 holds out no validation split",
            fix="drop --patience, or give --val-fraction a share such as 0.1",
        )
    if cfg.bits == "auto" and cfg.init is None and cfg.epochs is not None and cfg.epochs < 2:
        raise UsageError(
            "--bits auto without --init needs at least 2 epochs (warm-up at the model's widths, "
            "then the Hessian, then training at the allocated widths)",
            fix="raise --epochs, or start from a trained run with --init",
        )


def _check_data(cfg: TrainConfig) -> None:
    """The options of the recordings: held-out share, window, sensor size, shifts, denoising."""
    if not 0 < cfg.test_fraction < 1:
        raise UsageError(f"--test-fraction must be between 0 and 1, got {cfg.test_fraction}", fix="e.g. 0.2")
    if cfg.window_ms is not None and not cfg.window_ms > 0:
        raise UsageError(f"--window-ms must be positive, got {cfg.window_ms}", fix="e.g. --window-ms 300")
    if cfg.sensor_size is not None:
        parse_sensor_size(cfg.sensor_size)
    check_shift(cfg.shift_px)
    if cfg.denoise_us is not None and cfg.denoise_us < 1:
        raise UsageError(f"--denoise-us must be >= 1, got {cfg.denoise_us}", fix="e.g. --denoise-us 10000")


def parse_synop_target(value: float | str | None) -> tuple[str | None, float | None]:
    """``--synop-target``: ``("absolute", N)`` for SynOps per sample (a number, or text such as '3e5'),
    ``("relative", K)`` for 'Kx' (K times fewer than the ``--init`` run's, K > 1), ``(None, None)`` when unset."""
    if value is None:
        return None, None
    text = str(value).strip()
    relative = text.lower().endswith(("x", "×"))
    try:
        number = float(text[:-1] if relative else text)
    except ValueError:
        raise UsageError(
            f"--synop-target '{value}' is neither SynOps per sample nor a factor",
            where="--synop-target",
            fix="give SynOps per sample (3e5), or Kx for K times fewer than --init RUN's (5x)",
        ) from None
    if relative:
        if not (number > 1 and math.isfinite(number)):
            raise UsageError(
                f"--synop-target {text} must ask for fewer SynOps than the run it fine-tunes: K in Kx must be > 1",
                where="--synop-target",
                fix="e.g. --synop-target 5x (a fifth of RUN's SynOps per sample)",
            )
        return "relative", number
    if not (number > 0 and math.isfinite(number)):
        raise UsageError(f"--synop-target must be > 0, got {text}", where="--synop-target", fix="e.g. 3e5")
    return "absolute", number


def check_shift(shift_px: int | None) -> None:
    if shift_px is not None and shift_px < 0:
        raise UsageError(f"--shift-px must be >= 0, got {shift_px}", fix="e.g. --shift-px 1")


def _check_counts(where: str, **counts: Any) -> None:
    """Each of ``counts`` that is set must be an integer >= 1."""
    for name, value in counts.items():
        if value is not None and not is_whole_number(value, 1):
            raise UsageError(f"{name} must be an integer >= 1, got {value!r}", where=where)


def check_local_rule_args(
    rule: str,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    time_bins: int | None,
    limit: int | None,
    burn_in: int | None = None,
) -> None:
    """The arguments of :func:`~qsnn_deploy.train.local_rules.train_local_rule` (None: not set yet)."""
    if rule not in LOCAL_RULES:
        raise UsageError(
            f"unknown learning rule '{rule}'", where="--learning-rule", fix="use one of " + ", ".join(LOCAL_RULES)
        )
    _check_counts("train_local_rule", epochs=epochs, batch_size=batch_size, time_bins=time_bins)
    if limit is not None and not is_whole_number(limit, 1):
        raise UsageError(f"limit must be an integer >= 1, got {limit!r}", where="train_local_rule")
    if lr is not None and not lr > 0:
        raise UsageError(f"the learning rate must be > 0, got {lr!r}", where="train_local_rule")
    if burn_in is not None and time_bins is not None and not is_whole_number(burn_in, 0, time_bins - 1):
        raise UsageError(
            f"burn_in must be an integer in 0..time_bins-1 = {time_bins - 1}, got {burn_in!r}",
            where="--burn-in",
            fix="burn-in steps only settle the states; leave steps to learn from",
        )


def check_integer_only_args(
    epochs: int | None,
    batch_size: int | None,
    time_bins: int | None,
    limit: int | None,
    lr_int: float,
    lr_halve_every: int | None = None,
) -> None:
    """The arguments of :func:`~qsnn_deploy.train.integer_only.train_integer_only` (None: not set yet)."""
    _check_counts("train_integer_only", epochs=epochs, batch_size=batch_size, time_bins=time_bins)
    if limit is not None and not is_whole_number(limit, 1):
        raise UsageError(f"limit must be an integer >= 1, got {limit!r}", where="train_integer_only")
    if not (lr_int > 0 and math.isfinite(lr_int) and math.frexp(lr_int)[0] == 0.5):
        raise UsageError(
            f"lr_int must be a power of two (a shift), got {lr_int!r}",
            where="train_integer_only",
            fix="use e.g. 1, 2, 4, 8 or 0.5",
        )
    if lr_halve_every is not None and not is_whole_number(lr_halve_every, 1):
        raise UsageError(f"lr_halve_every must be an integer >= 1, got {lr_halve_every!r}", where="train_integer_only")


def check_chain(spec: ModelSpec, method_flag: str) -> None:
    """Refuse a graph model (a layer with ``inputs:``) for a method whose network runs layer after layer: only BPTT
    trains graphs (residual blocks, branches, merges)."""
    if spec.is_chain:
        return
    for layer in spec.layers:  # is_chain is false only where a layer names its inputs: the first one is named
        if layer.inputs is not None:
            raise UsageError(
                f"model '{spec.name}' is a graph (layer '{layer.name}' takes "
                f"{', '.join(e.name for e in layer.inputs)}), and {method_flag} trains chains only",
                fix=f"train it with BPTT (drop {method_flag}), the method that trains graphs, or pick a chain model",
            )


def destination_warnings(spec: ModelSpec) -> list[str]:
    """One warning per layer that sends to more layers than a Speck core has destinations (speck2f's profile,
    ``constraints.destinations``): such a model trains and runs on the emulator, but ``convert`` and ``estimate``
    refuse it (exit 4, hw rule SPK015), so say it before training, with the rule's relay fix."""
    from ..hw.profile import load_profile
    from ..hw.rules import relay_fix

    limit = load_profile("speck2f").constraints.destinations
    if limit is None:
        return []
    out = []
    for i, layer in enumerate(spec.layers):
        targets = [spec.layers[j].name for j, _ in spec.destinations(i)]
        if len(targets) > limit:
            out.append(
                f"layer '{layer.name}' sends to {len(targets)} layers ({', '.join(targets)}) but a Speck core has "
                f"{limit} destinations: the model trains and runs on the emulator, but `qsnn-deploy convert` (and "
                f"`estimate`) will refuse it (exit 4, rule SPK015). Fix: {relay_fix(layer.name, targets, limit)}. "
                f"In the model YAML a relay is a conv layer with kernel_size: 1 and inputs: [{layer.name}]; the "
                f"layers it sends on to name it in their inputs: instead of {layer.name}"
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
    return size


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

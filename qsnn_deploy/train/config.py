"""What a training run depends on: :class:`TrainConfig`, a frozen record whose fields are also the options of
``qsnn-deploy train`` (torch-free, so the command's ``--help`` stays fast).

Each field carries its option in ``field(metadata=...)`` (see :func:`option`): the help text, which training
methods take it, whether a model YAML's ``train:`` recipe may set it. The command-line options
(:func:`options`), the keys a recipe may use (:data:`RECIPE_KEYS`), the options a resumed run checks against
its own (:func:`record`) and the options each method refuses are all read from these fields. The checks run in
``__post_init__`` (:mod:`.checks`); :meth:`TrainConfig.resolve` fills the model's defaults into a
:class:`ResolvedConfig`, the form a run takes. Change one with ``dataclasses.replace``.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..inputs import short_repr
from ..progress import Log
from .schedules import SCHEDULES

if TYPE_CHECKING:
    from ..nets.zoo import ModelSpec

METHODS = ("bptt", "ann", "integer-only", "local-rule")  # the training methods (qsnn_deploy.train.trainer.METHODS)
LOSSES = ("ce", "mse-count")  # qsnn_deploy.train.losses implements them
LEARNING_RULES = ("bptt", "decolle", "ell", "bell", "fell")  # bptt, then the local rules
MODEL_DEFAULTS = {"epochs": 15, "batch_size": 32, "lr": 2e-3, "time_bins": 10}  # when a model YAML gives none
DEFAULT_VAL_FRACTION = 0.1  # share of the train split a BPTT run holds out for validation
# --synop-target Kx (relative to --init RUN): the defaults of the recipe that reached 5x on digits-dvs (README
# "SynOp loss", benchmarks/results/synop_sweep.md and synop_5x.md)
RELATIVE_AIM = 0.5  # the loss's final target, as a share of the goal: SynOps settle ~45 % above it, where CE pulls back
RELATIVE_ANNEAL = 0.5  # share of the epochs over which the target falls from RUN's SynOps to its final value
RELATIVE_SHIFT_PX = 2
RELATIVE_EPOCHS = 80  # 40 lost 1.9 ± 0.6 points at 5x on digits-dvs; 80 leave time to recover
RELATIVE_LR = 1e-3
RELATIVE_AVERAGE = 0.5  # the mean of the goal-meeting epochs once the target holds, or the last (weight_average.py)

_ALL = METHODS
_BPTT = ("bptt",)
_DATA = ("bptt", "local-rule")  # the methods that read recordings from disk


def option(
    default: Any,
    help: str | None,
    *,
    takes: tuple[str, ...] = _ALL,
    recipe: bool = False,
    disk: bool = False,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    path: str | None = None,
    unset_on_cli: bool = False,
) -> Any:
    """A field that is also a ``qsnn-deploy train`` option.

    ``takes``: the methods that use it (the others refuse it when it differs from ``default``; a BPTT run
    records the options BPTT takes). ``recipe``: a model YAML's ``train:`` may set it. ``disk``: it only applies
    to recordings read from disk. ``flag``: the option's name when it is not ``--field-name`` (a bool field whose
    flag sets it to False, like ``--no-qat``, is inverted). ``choices``: the values it takes. ``path``: "dir" or
    "any" for a path option. ``unset_on_cli``: the option has no default on the command line (the help says
    which one applies).
    """
    meta = {
        "help": help,
        "takes": takes,
        "recipe": recipe,
        "disk": disk,
        "flag": flag,
        "choices": choices,
        "path": path,
        "unset_on_cli": unset_on_cli,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; a BPTT run writes :func:`record` to ``config.yaml``."""

    model: str = option(
        "digits_speck",
        "zoo model name or model YAML path [digits_speck on digits-dvs; for other data a default Speck-ready "
        "network sized to the sensor and classes]",
        unset_on_cli=True,
    )
    dataset: str = option(
        "digits-dvs",
        "digits-dvs (built in), nmnist, dvsgesture, pokerdvs, mnist-dvs (from --data-root), or folder:PATH (one "
        "sub-folder per class); `qsnn-deploy datasets` lists them",
    )
    epochs: int | None = option(None, "training epochs [model default]")
    batch_size: int | None = option(None, "samples per batch [model default]")
    lr: float | None = option(
        None, "Adam learning rate (scheduled by --lr-schedule) [model default]", takes=("bptt", "ann", "local-rule")
    )
    time_bins: int | None = option(None, "time bins per sample [model default]")
    seed: int = option(0, None)
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    quantize: bool = option(
        True,
        "train in float (no chip quantisation during training)",
        takes=("bptt", "ann", "local-rule"),
        flag="--no-qat",
    )
    synop_penalty: float = option(
        0.0, "α in loss = CE + α·SynOps per sample (try 1e-8 … 1e-6)", takes=("bptt", "ann"), recipe=True
    )
    synop_target: float | str | None = option(
        None,
        "target SynOps per sample N: loss = CE + ((SynOps − N)/N)² (SynOpLoss' target form); or Kx: K times fewer "
        "than --init RUN's (its metrics.json), which fine-tunes RUN with the recipe found to reach 5x on "
        "digits-dvs, each part an option: --distill RUN, --synop-weights ×3 on the second layer, --shift-px 2, "
        "--epochs 80, --lr 1e-3, --synop-anneal 0.5, --synop-goal RUN's / K (validation SynOps), the loss aiming "
        "at 0.5 × the goal and then steered by --synop-control 1, --average-weights 0.5",
        takes=("bptt", "ann"),
        recipe=True,
    )
    synop_anneal: float | None = option(
        None,
        "with --synop-target: lower the loss's target geometrically from --synop-start to the target over this "
        "share of the epochs, then hold it (0: the target from the first epoch) [0.5 with Kx, else 0]",
        takes=_BPTT,
    )
    synop_start: float | None = option(
        None, "with --synop-anneal: the SynOps per sample the target starts from [--init RUN's]", takes=_BPTT
    )
    synop_goal: float | None = option(
        None,
        "keep the epoch with the best validation accuracy among those whose SynOps per sample on the validation "
        "split are at most 0.98 × this (when none is, the one with the fewest) [with Kx: RUN's / K]",
        takes=_BPTT,
    )
    synop_control: float | None = option(
        None,
        "with a SynOp goal: once the annealed target holds, correct it after every epoch by (0.97 × goal / "
        "validation SynOps)^GAIN, at most ×1.25 either way, so the SynOps settle just under the goal (0: keep the "
        "target as scheduled) [1 with a goal]",
        takes=_BPTT,
    )
    average_weights: float | None = option(
        None,
        "keep the mean of the weights of the epochs after this share of the run that meet the SynOp goal on "
        "validation (every epoch, without a goal), if that mean meets the goal too, unless the last epoch is one "
        "of those and more accurate on validation (then that epoch); else the best epoch (0: no averaging) [0.5 "
        "with Kx, else 0]; metrics.json says what was kept (kept: mean, last epoch or best epoch), lists "
        "averaged_epochs (null when an epoch is kept) and selected_epoch (the last averaged one for a mean)",
        takes=_BPTT,
    )
    synop_weights: str | None = option(
        None,
        "weight of each layer's SynOps in the SynOp loss: '1,3,1,1' (in layer order) or 'conv2=3' (by name, "
        "others 1); a layer's SynOps are those its input spikes cause, so conv2=3 makes conv1's spikes dearer. "
        "--synop-penalty counts weighted SynOps; --synop-target counts them as reported (its target keeps its "
        "meaning) and the weights only steer which layers' SynOps its gradient cuts first. Reported SynOps stay "
        "unweighted [all 1]",
        takes=_BPTT,
        recipe=True,
    )
    distill: str | None = option(
        None,
        "knowledge distillation: add τ²·KL(teacher ‖ student) on the output spike counts, the teacher being this "
        "run folder or checkpoint (e.g. the unpenalised model); 'none': no distillation (with --synop-target Kx, "
        "whose default teacher is RUN)",
        takes=_BPTT,
        path="any",
    )
    distill_weight: float = option(1.0, "with --distill: weight of the distillation term", takes=_BPTT)
    distill_temperature: float = option(4.0, "with --distill: softmax temperature τ on the spike counts", takes=_BPTT)
    limit: int | None = option(
        None, "use only N samples of each split, the first of each class in turn (quick smoke runs)"
    )
    bits: str | None = option(
        None,
        "weight bits per layer, 2..8: '4' (all), '8,4,4,8' (in layer order), 'conv2=4' (by name), or 'auto' "
        "(Hessian-aware, with --bit-budget) [model YAML weight_bits, default 8]",
        takes=_BPTT,
        recipe=True,
    )
    bit_budget: str | None = option(
        None, "with --bits auto: average bits per weight ('4') or a total size ('12kB')", takes=_BPTT
    )
    init: str | None = option(
        None, "start from the weights of this run folder or checkpoint", takes=("bptt", "ann"), path="any"
    )
    lr_schedule: str = option(
        "cosine",
        "learning-rate schedule (torch.optim.lr_scheduler): constant, multistep (÷10 at 50%/75%), cosine, "
        "periodic-cosine (cosine stepped past its period: the LR rises again: the 4-bit QSNN's LR boosting), "
        "warm-restarts, one-cycle (per batch, peak = --lr) [cosine]",
        takes=_BPTT,
        recipe=True,
        choices=SCHEDULES,
        unset_on_cli=True,
    )
    lr_period: int | None = option(
        None, "with periodic-cosine / warm-restarts: epochs per period [epochs // 3]", takes=_BPTT, recipe=True
    )
    loss: str = option(
        "ce",
        "ce: cross-entropy on output spike counts; mse-count: MSE of output spike rates against 0.8 (correct "
        "class) / 0.2 (others), as in the 4-bit QSNN [ce]",
        takes=_BPTT,
        recipe=True,
        choices=LOSSES,
        unset_on_cli=True,
    )
    patience: int | None = option(
        None,
        "early stopping: stop after N epochs without a better validation accuracy (the best epoch's weights are "
        "kept either way)",
        takes=_BPTT,
        recipe=True,
    )
    val_fraction: float = option(
        DEFAULT_VAL_FRACTION,
        "share of the train split held out for validation (seeded, stratified by class): with --patience or a SynOp "
        "goal the run keeps the epoch with the best validation accuracy, else its last; test accuracy is only "
        "reported; 0: no validation split",
        takes=_BPTT,
    )
    neuron: str | None = option(
        None,
        "neuron model instead of the YAML's: iaf (Speck's), lif, leaky, decolle, decolle-simple, with parameters "
        "as TYPE:name=value,... (e.g. lif:beta=0.8); Speck has no leak",
        takes=("bptt", "local-rule"),
    )
    data_root: str | None = option(
        None, "where tonic datasets are [$QSNN_DEPLOY_DATA or the user cache]", takes=_DATA, disk=True, path="dir"
    )
    download: bool = option(False, "download a tonic dataset that is not under --data-root", takes=_DATA, disk=True)
    window_ms: float | None = option(
        None, "time window framed per recording [the longest recording]", takes=_DATA, recipe=True, disk=True
    )
    test_fraction: float = option(
        0.2,
        "folder:PATH without train/ and test/ sub-folders: share of each class held out for testing",
        takes=_DATA,
        recipe=True,
    )
    denoise_us: int | None = option(
        None,
        "drop events with no neighbour within this many µs (tonic's Denoise)",
        takes=_DATA,
        recipe=True,
        disk=True,
    )
    augment: bool = option(
        False,
        "recordings on disk: random left-right flips and spatial jitter of the training split, drawn once when "
        "they are loaded (flips are wrong for classes with a handedness, such as DVS Gesture's arm gestures: use "
        "--shift-px there)",
        takes=_DATA,
        recipe=True,
        disk=True,
    )
    shift_px: int | None = option(
        None,
        "move each training sample by a random offset of up to N input pixels per axis, drawn anew every epoch "
        "(any dataset) [0; 2 with --synop-target Kx]",
        takes=_DATA,
        recipe=True,
        unset_on_cli=True,
    )
    sensor_size: str | None = option(
        None, "folder:PATH: the recordings' sensor as WxHxP, e.g. 346x260x2 [inferred]", takes=_DATA, disk=True
    )
    nproc: int = option(
        1,
        "data-parallel processes (DistributedDataParallel: gloo on CPU, NCCL with one GPU each); each takes its "
        "share of every batch. Under torchrun leave it out",
        takes=_BPTT,
    )
    # the other methods and their own options (a BPTT run does not record them)
    ann: bool = option(
        False,
        "train the network as a floor-ReLU ANN (integer activations) with the SynOp loss, then convert it to the "
        "SNN without weight scaling (writes ann.pt)",
        takes=("ann",),
    )
    integer_only: bool = option(
        False,
        "integer-only local learning: integer weights, states, errors and gradients (integer-only QSNN); writes a "
        "memory-footprint report",
        takes=("integer-only",),
    )
    integer_bits: str | None = option(
        None,
        "with --integer-only: widths such as 'wb=8,ub=16,eb=6,gb=10' [wb=8,ub=16,sb=6,ab=6,sig=6,eb=6,gb=10,rb=16]",
        takes=("integer-only",),
    )
    lr_int: float = option(
        8.0,
        "with --integer-only: integer learning rate (a power of two), halved every third of the epochs",
        takes=("integer-only",),
    )
    full_precision_twin: bool = option(
        False,
        "with --integer-only: the same local learning in float (the reference for the memory report)",
        takes=("integer-only",),
    )
    learning_rule: str = option(
        "bptt",
        "bptt; decolle (DECOLLE: fixed random readout and local loss per layer); ell / bell / fell (local spiking "
        "classifiers per block: same-step gradients / block-local BPTT / online). Local readouts are "
        "training-only: convert drops them",
        takes=("local-rule",),
        recipe=True,
        choices=LEARNING_RULES,
    )
    feedback_alignment: bool = option(
        False,
        "with a local rule: fixed random backward weights for the readouts",
        takes=("local-rule",),
        recipe=True,
    )
    readouts: str | None = option(
        None,
        "with a local rule: keep the local classifiers fixed or train them [frozen for decolle, trained for "
        "ell/bell/fell]",
        takes=("local-rule",),
        recipe=True,
        choices=("frozen", "trained"),
    )

    def __post_init__(self) -> None:
        from .checks import check_config

        check_config(self)

    @property
    def method(self) -> str:
        """The training method: "ann", "integer-only", "local-rule" (a --learning-rule other than bptt) or "bptt"."""
        if self.ann:
            return "ann"
        if self.integer_only:
            return "integer-only"
        return "local-rule" if self.learning_rule != "bptt" else "bptt"

    @property
    def method_flag(self) -> str:
        """The option that chose the method, as messages name it ("--ann", "--learning-rule ell"...)."""
        return {"ann": "--ann", "integer-only": "--integer-only", "bptt": "BPTT"}.get(
            self.method, f"--learning-rule {self.learning_rule}"
        )

    def resolve(self, spec: ModelSpec) -> ResolvedConfig:
        """Fill unset values from the model's defaults."""
        from .losses import parse_synop_weights

        d = MODEL_DEFAULTS | spec.defaults
        fill: dict[str, Any] = {
            key: float(d[key]) if key == "lr" else type(d[key])(d[key])
            for key in ("epochs", "batch_size", "lr", "time_bins")
            if getattr(self, key) is None
        }
        fill |= self._synop_fill(spec)
        if self.method in ("bptt", "local-rule") and self.shift_px is None and "shift_px" not in fill:
            fill["shift_px"] = 0
        weights = fill.get("synop_weights", self.synop_weights)
        if weights is not None:
            parse_synop_weights([layer.name for layer in spec.layers], weights, f"model '{spec.name}'")
        return ResolvedConfig(**{f.name: getattr(self, f.name) for f in fields(self)} | fill)

    def _synop_fill(self, spec: ModelSpec) -> dict[str, Any]:
        """The SynOp options :meth:`resolve` fills: an absolute ``--synop-target`` as a number; for a relative one
        (``Kx``) the goal, the loss's target and the recipe's defaults (see the option's help); the start of an
        annealed target (``--init`` RUN's SynOps per sample); ``--distill none`` as no teacher."""
        from .checks import parse_synop_target

        fill: dict[str, Any] = {}
        if self.distill is not None and self.distill.lower() == "none":
            fill["distill"] = None
        kind, value = parse_synop_target(self.synop_target)
        if kind == "absolute":
            fill["synop_target"] = value
        elif kind == "relative":
            assert self.init is not None and value is not None  # check_config: Kx goes with --init
            base = run_synops_per_sample(self.init)
            goal = self.synop_goal if self.synop_goal is not None else base / value
            fill |= {"synop_target": RELATIVE_AIM * goal, "synop_goal": goal}
            defaults: dict[str, Any] = {
                "synop_anneal": RELATIVE_ANNEAL,
                "synop_start": base,
                "shift_px": RELATIVE_SHIFT_PX,
                "epochs": RELATIVE_EPOCHS,
                "lr": RELATIVE_LR,
                "average_weights": RELATIVE_AVERAGE,
                "synop_weights": ",".join("3" if i == 1 else "1" for i in range(len(spec.layers)))
                if len(spec.layers) > 1
                else None,
            }
            fill |= {key: value for key, value in defaults.items() if getattr(self, key) is None}
            if self.distill is None:
                fill["distill"] = self.init
        if fill.get("synop_anneal", self.synop_anneal) and self.synop_start is None and "synop_start" not in fill:
            if self.init is None:
                from ..errors import UsageError

                raise UsageError(
                    "--synop-anneal lowers the target from a start, and there is no --synop-start or --init RUN "
                    "to take it from",
                    fix="add --synop-start N (SynOps per sample), or --init RUN",
                )
            fill["synop_start"] = run_synops_per_sample(self.init)
        if fill.get("synop_goal", self.synop_goal) is not None and self.synop_control is None:
            fill["synop_control"] = 1.0
        return fill

    def record(self) -> dict[str, Any]:
        """The options a BPTT run depends on (``config.yaml``'s ``train:``, the resume state, ``summary.json``)."""
        return {name: getattr(self, name) for name in RECORDED}

    def given(self) -> list[str]:
        """The fields that differ from their defaults (:class:`TrainConfig`'s, also for a :class:`ResolvedConfig`),
        in order."""
        return [name for name, f in _FIELDS.items() if getattr(self, name) != f.default]


def run_synops_per_sample(path: str) -> float:
    """The SynOps per sample of the run a relative ``--synop-target`` refers to, from RUN's ``metrics.json`` (RUN
    a run folder, or a checkpoint in one): its kept epoch's on the validation split, the split the goal is checked
    on, when it has one; else its ``synops_per_sample`` (test split)."""
    import json

    from ..errors import InputError, UsageError

    run = Path(path)
    metrics = (run if run.is_dir() else run.parent) / "metrics.json"
    if not metrics.is_file():
        raise UsageError(
            f"a relative --synop-target reads the SynOps per sample of --init {path} from its metrics.json, "
            f"and there is none at '{metrics}'",
            where="--synop-target",
            fix="pass the folder of a finished `qsnn-deploy train` run to --init, or give an absolute target (3e5)",
        )
    try:
        record = json.loads(metrics.read_text())
        value = record["synops_per_sample"]
        kept = record.get("selected_epoch")
        if "validation_synops_per_sample" in record:  # the kept model's (an averaged one has no epoch of its own)
            if record["validation_synops_per_sample"] is not None:
                value = record["validation_synops_per_sample"]
            kept = None
        entries = [h for h in record.get("history") or [] if h.get("epoch") == kept]
        if entries and "val_synops_per_sample" in entries[0]:
            value = entries[0]["val_synops_per_sample"]
    except (ValueError, KeyError, TypeError, AttributeError):
        value = None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise InputError(
            "no positive 'synops_per_sample' (nor the kept epoch's 'val_synops_per_sample') in it",
            where=str(metrics),
            fix="pass a run written by `qsnn-deploy train`, or give an absolute --synop-target",
        )
    return float(value)


def flag(name: str) -> str:
    """The command-line option of field ``name``: ``--no-qat`` for quantize, else ``--field-name``."""
    return _FIELDS[name].metadata["flag"] or "--" + name.replace("_", "-")


_FIELDS = {f.name: f for f in fields(TrainConfig)}
RECIPE_KEYS = frozenset(name for name, f in _FIELDS.items() if f.metadata["recipe"])
RECORDED = tuple(name for name, f in _FIELDS.items() if "bptt" in f.metadata["takes"])


def _resolved(name: str) -> Any:
    """A field of :class:`ResolvedConfig`: the option ``name`` of :class:`TrainConfig`, without a default."""
    return field(kw_only=True, metadata=_FIELDS[name].metadata)


@dataclass(frozen=True)
class ResolvedConfig(TrainConfig):
    """A :class:`TrainConfig` after :meth:`~TrainConfig.resolve`: the values it fills from the model are set.
    What the runs of :mod:`.bptt`, :mod:`.ann_synop` and :mod:`.local_rules` take (and a BPTT run records, so a
    resumed run rebuilds it from ``config.yaml``'s options)."""

    epochs: int = _resolved("epochs")
    synop_target: float | None = _resolved("synop_target")
    batch_size: int = _resolved("batch_size")
    lr: float = _resolved("lr")
    time_bins: int = _resolved("time_bins")


@dataclass(frozen=True)
class Option:
    """One ``qsnn-deploy train`` option of a :class:`TrainConfig` field, as the command line declares it."""

    name: str  # the field
    flag: str  # "--batch-size"
    type: type  # int, float, str or bool (a flag)
    default: Any  # on the command line (None: not given)
    help: str | None
    choices: tuple[str, ...] | None
    path: str | None  # "dir" or "any"
    invert: bool  # a flag that sets the field to False

    @property
    def show_default(self) -> bool:
        return self.default is not None and self.type is not bool


def options() -> list[Option]:
    """The command-line options of the fields, in field order."""
    types = {"int": int, "float": float, "str": str, "bool": bool, "float | str": str}
    out = []
    for f in fields(TrainConfig):
        meta = f.metadata
        kind = types[str(f.type).removesuffix(" | None")]
        invert = kind is bool and f.default is True
        default = None if meta["unset_on_cli"] else (False if invert else f.default)
        out.append(Option(f.name, flag(f.name), kind, default, meta["help"], meta["choices"], meta["path"], invert))
    return out


def recipe_options(spec: ModelSpec, where: str, values: Mapping[str, Any], given: Collection[str]) -> dict[str, Any]:
    """The options a model YAML's dataset and ``train:`` recipe set that are not in ``given``; an unknown key
    in the recipe is an :class:`InputError` at ``where`` (the YAML)."""
    for key in sorted((k for k in spec.recipe if k not in RECIPE_KEYS), key=str):
        close = difflib.get_close_matches(str(key), sorted(RECIPE_KEYS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(RECIPE_KEYS))}"
        raise InputError(f"unknown key {short_repr(key)}", where=f"{where}: train", fix=hint)
    used: dict[str, Any] = {}
    if "dataset" not in given and spec.dataset != values.get("dataset", _FIELDS["dataset"].default):
        used["dataset"] = spec.dataset
    used |= {key: value for key, value in spec.recipe.items() if key not in given}
    for key in ("bits", "synop_weights"):  # YAML may give a number
        if key in used:
            used[key] = str(used[key])
    return used


def from_options(values: Mapping[str, Any], given: Collection[str] = (), log: Log | None = None) -> TrainConfig:
    """The config of command-line option values (by field name; None: not given, the field's default). With a
    ``model``, its YAML's dataset and ``train:`` recipe fill the options that are not in ``given`` (each said to
    ``log``); without one the model is digits_speck on digits-dvs and "auto" (sized to the data) elsewhere."""
    values = {name: value for name, value in values.items() if name in _FIELDS}
    model = values.get("model")
    if model is not None:
        from ..nets.zoo import load_spec

        spec = load_spec(model)
        where = str(Path(model)) if str(model).endswith((".yaml", ".yml")) or Path(model).exists() else None
        used = recipe_options(spec, where or f"zoo model {model}", values, given)
        if used and log is not None:
            log(f"from {spec.name}'s YAML: " + ", ".join(f"{flag(k)} {v}" for k, v in used.items()))
        values |= used
    else:
        values["model"] = "digits_speck" if values.get("dataset", "digits-dvs") == "digits-dvs" else "auto"
    return TrainConfig(**{name: value for name, value in values.items() if value is not None})

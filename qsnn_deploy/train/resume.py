"""``--resume``: find an interrupted run, read the state of its last finished epoch, and refuse options that
disagree with the ones the run was started with (the run writes the state: :meth:`.runs.RunFolder.save_state`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..nets.checkpoint import read_torch_file
from ..nets.zoo import PER_MILLISECOND
from .config import RECORDED, TrainConfig, flag
from .runs import STATE_FILE, partial_folder

STATE_FORMAT = "qsnn-deploy-train-state"
#: what a state's SynOp target counts; states without it (before aa7f08d) counted SynOps weighted by --synop-weights
SYNOP_UNITS = "reported"
RUN_OPTIONS = ("seeds", "overwrite")  # options of `train` a resumed run cannot take (it has its own)


def resume_paths(path: str | Path) -> tuple[Path, Path]:
    """``(OUT, OUT.partial)`` for ``--resume OUT`` or ``--resume OUT.partial``; a clear error when there is
    nothing to resume."""
    path = Path(path)
    if path.name.endswith(".partial"):
        out = path.with_name(path.name[: -len(".partial")])
    else:
        out = path
    partial = partial_folder(out)
    if not partial.is_dir():
        if (out / "metrics.json").is_file():
            raise UsageError(
                f"run '{out}' has already finished; there is nothing to resume",
                where="--resume",
                fix="start a new run with another --out (or --overwrite)",
            )
        raise UsageError(
            f"no interrupted training run at '{out}' (looked for '{partial}/{STATE_FILE}')",
            where="--resume",
            fix="pass the --out folder of a run that was interrupted",
        )
    if not (partial / STATE_FILE).is_file():
        raise UsageError(
            f"the interrupted run in '{partial}' stopped before its first epoch finished, so there "
            "is no state to resume",
            where="--resume",
            fix=f"start it again with --out {out} --overwrite",
        )
    return out, partial


def read_resume_state(path: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    """``(OUT, OUT.partial, state)`` of an interrupted run; the state's ``config`` is the run's TrainConfig."""
    out, partial = resume_paths(path)
    state = read_torch_file(
        partial / STATE_FILE,
        "training state",
        "pass the folder of an interrupted run",
        f"the state is unreadable; start again with --out {out} --overwrite",
    )
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UsageError(
            f"'{partial / STATE_FILE}' is not a qsnn-deploy training state",
            where="--resume",
            fix=f"start again with --out {out} --overwrite",
        )
    config = state.get("config") or {}
    if state.get("synop_units") != SYNOP_UNITS and config.get("synop_target") and config.get("synop_weights"):
        raise UsageError(
            f"'{partial / STATE_FILE}' was saved by a version whose SynOp target counted SynOps weighted by "
            "--synop-weights; this one counts them as reported, so resuming would change the run's loss midway",
            where="--resume",
            fix=f"start again with --out {out} --overwrite",
        )
    neuron = (state.get("model_spec") or {}).get("neuron") or {}
    if neuron.get("type") in PER_MILLISECOND and "step_ms" not in neuron:
        raise UsageError(
            f"'{partial / STATE_FILE}' was saved by a version that applied DECOLLE's decays per time bin as given; "
            "this one reads them per 1 ms and raises them to the bin, so resuming would change the neuron midway",
            where="--resume",
            fix=f"start again with --out {out} --overwrite",
        )
    return out, partial, state


def check_resume_options(path: str | Path, out: Path, stored: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Refuse the options in ``given`` (by field name, plus ``out``, ``seeds``, ``overwrite``) that disagree with
    the run's: those it records must equal its value, the others (another method's) cannot be given."""
    conflicts = []
    for name in RECORDED:
        had = stored.get(name)  # an option a state from an older version lacks: its default then
        if name in given and given[name] != had:
            if name == "quantize":
                conflicts.append(f"{flag(name)} (the run has quantize={had})")
            else:
                conflicts.append(f"{flag(name)} {given[name]} (the run has {had})")
    if "out" in given and Path(given["out"]) != out:
        conflicts.append(f"--out {given['out']} (the run writes {out})")
    for f in fields(TrainConfig):
        if f.name in given and f.name not in RECORDED and given[f.name] != f.default:
            conflicts.append(flag(f.name))
    conflicts += [f"--{name}" for name in RUN_OPTIONS if name in given]
    if conflicts:
        raise UsageError(
            f"--resume continues the run with the options it was started with; these disagree: {'; '.join(conflicts)}",
            where=f"--resume {path}",
            fix="drop them (or start a new run with another --out)",
        )

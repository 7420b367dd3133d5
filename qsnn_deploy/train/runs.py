"""The run folder: one writer for every training method.

A run is built under a temporary name next to ``OUT`` and renamed to ``OUT`` when it finishes, so ``OUT`` is
absent, the previous run, or complete:

- a resumable run (BPTT, :func:`partial_run`) lives in ``OUT.partial/`` with the state of its last finished
  epoch (``last.pt``): Ctrl-C or a kill leave it there for ``--resume``, an error in a fresh run removes it;
- the other methods stage in a hidden ``.OUT.*`` folder (:func:`staged_run`) that vanishes on any failure.

Files: ``checkpoint.pt``, ``metrics.json``, ``config.yaml``, ``training_curve.png`` and, by method, ``ann.pt``,
``memory.json``/``memory.md``, ``hessian.json``/``hessian.png``. Each is written through
:mod:`qsnn_deploy.outputs` (a temporary name in the same folder, renamed when complete).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

from ..errors import UsageError
from ..nets.checkpoint import save_checkpoint
from ..outputs import atomic_path, replace_folder, staged_folder, write_atomic
from ..progress import Log
from .plots import plot_traces, plot_training_curves

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..nets.network import SpikingCNN
    from ..nets.zoo import ModelSpec
    from .hessian import HessianResult

STATE_FILE = "last.pt"  # per-epoch training state inside OUT.partial/


class RunFolder:
    """The folder a run writes into while it runs (renamed to ``OUT`` when it finishes)."""

    def __init__(self, path: Path):
        self.path = path

    def checkpoint(self, model: SpikingCNN, payload: dict[str, Any]) -> None:
        """``checkpoint.pt``: the network, its spec and ``payload`` (what convert needs: dt_us, time_bins...)."""
        save_checkpoint(self.path / "checkpoint.pt", model, payload)

    def metrics(self, metrics: dict[str, Any]) -> None:
        self.json("metrics.json", metrics)

    def config(self, train: dict[str, Any], spec: ModelSpec, **sections: Any) -> None:
        """``config.yaml``: the run's options under ``train``, then ``sections``, then the network under ``model``."""
        data = {"train": train, **sections, "model": spec.to_dict()}
        write_atomic(self.path / "config.yaml", yaml.safe_dump(data, sort_keys=False))

    def curve(self, history: list[dict], **labels: Any) -> None:
        """``training_curve.png`` of the per-epoch history (labels: see :func:`.plots.plot_training_curves`)."""
        with atomic_path(self.path / "training_curve.png") as tmp:
            plot_training_curves(history, tmp, **labels)

    def hessian(self, record: dict[str, Any], hessian: HessianResult, bits: Mapping[str, int]) -> None:
        """``hessian.json`` (traces and allocation) and ``hessian.png`` of ``--bits auto``."""
        self.json("hessian.json", record)
        with atomic_path(self.path / "hessian.png") as tmp:
            plot_traces(hessian, tmp, bits=bits)

    def json(self, name: str, data: Any) -> None:
        write_atomic(self.path / name, json.dumps(data, indent=2))

    def text(self, name: str, text: str) -> None:
        write_atomic(self.path / name, text)

    def torch_file(self, name: str, obj: Any) -> None:
        with atomic_path(self.path / name) as tmp:
            torch.save(obj, tmp)

    def save_state(self, payload: dict[str, Any]) -> None:
        """The state of the last finished epoch (``last.pt``), replaced atomically after every epoch."""
        _save_state(self.path / STATE_FILE, payload)


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    """Write the training state atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


@contextmanager
def staged_run(out: str | Path, overwrite: bool) -> Iterator[RunFolder]:
    """A run folder staged next to ``out`` that replaces it when the block ends and vanishes when it raises."""
    with staged_folder(out, overwrite) as tmp:
        yield RunFolder(tmp)


def partial_folder(out: str | Path) -> Path:
    """Where a run to ``out`` lives until it finishes (and where an interrupted one stays): ``OUT.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def new_partial(out: Path, overwrite: bool) -> Path:
    """A fresh, empty ``OUT.partial`` (refusing to replace an interrupted run's without ``overwrite``)."""
    partial = partial_folder(out)
    if partial.exists():
        if not overwrite:
            raise UsageError(
                f"an interrupted run to '{out}' is in '{partial}'",
                fix=f"continue it with `qsnn-deploy train --resume {out}`, or pass --overwrite to start afresh",
            )
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def complete(partial: Path, out: Path) -> None:
    """Drop the per-epoch state and move the finished run to ``out``."""
    (partial / STATE_FILE).unlink(missing_ok=True)
    replace_folder(partial, out)


@contextmanager
def partial_run(partial: Path, out: Path, resumed: bool, log: Log) -> Iterator[RunFolder]:
    """Train in ``partial`` and rename it to ``out`` when the block ends. On Ctrl-C the folder stays when it holds
    a state to resume; on an error a fresh run leaves nothing, a ``resumed`` one keeps the state it started from."""
    try:
        yield RunFolder(partial)
        complete(partial, out)
    except KeyboardInterrupt:
        if (partial / STATE_FILE).is_file():
            log(f"interrupted; continue with `qsnn-deploy train --resume {out}`")
        else:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    except BaseException:
        if not resumed:
            shutil.rmtree(partial, ignore_errors=True)
        raise

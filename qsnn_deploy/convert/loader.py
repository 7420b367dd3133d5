"""Open any model file a command accepts: a checkpoint, a NIR file or a bundle folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConstraintError, InputError, QsnnError
from ..inputs import name_file
from ..ir import Network, NetworkMetadata, import_record
from .nir_import import ImportOptions


def load_network(path: str | Path, options: ImportOptions | None = None) -> Network:
    """A :class:`Network` from ``checkpoint.pt``, ``model.nir`` or a bundle folder holding one.

    ``options`` say what a foreign NIR graph leaves open (input shape, reset, leak approximation).
    Checkpoints need torch (imported here, not at module import); NIR files do not.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("model.nir", "checkpoint.pt"):
            if (path / name).is_file():
                return load_network(path / name, options)
        raise InputError(
            f"folder '{path}' holds neither model.nir nor checkpoint.pt",
            fix="pass a bundle from `convert` or a run folder from `train`",
        )
    if not path.exists():
        raise InputError(
            f"model file '{path}' does not exist", fix="pass a checkpoint.pt, a model.nir or a bundle folder"
        )
    if path.suffix in (".pt", ".pth"):
        try:
            return _checkpoint_network(path, options)
        except QsnnError as exc:
            raise name_file(exc, str(path)) from None
    if path.suffix == ".nir":
        from .nir_io import read_nir

        return read_nir(path, options)
    raise InputError(
        f"'{path}' is neither a checkpoint (.pt) nor a NIR file (.nir)",
        fix="pass a checkpoint.pt, a model.nir or a bundle folder",
    )


def _checkpoint_network(path: Path, options: ImportOptions | None) -> Network:
    from ..nets.checkpoint import load_checkpoint

    model, payload = load_checkpoint(path)
    meta: NetworkMetadata = {}
    for key in ("time_bins", "duration_us", "dataset", "classes", "input_stage"):  # as the checkpoint stores them
        if key in payload:
            meta[key] = payload[key]
    meta["source"] = str(path)
    notes, warnings = checkpoint_notes(model.spec, payload, options, str(path))
    if notes or warnings:
        meta["import_notes"] = import_record(notes, warnings)
    return model.to_network(float(payload.get("dt_us", 1000.0)), meta)


def checkpoint_notes(
    spec: Any, payload: dict[str, Any], options: ImportOptions | None, where: str
) -> tuple[list[str], list[str]]:
    """What converting a checkpoint drops, as ``(notes, warnings)``: training-only auxiliary readouts (a note),
    and a neuron leak (a warning, only with ``approximate_leak``; otherwise a :class:`ConstraintError`, exit 4:
    Speck's neurons do not leak)."""
    notes: list[str] = []
    warnings: list[str] = []
    aux = int(payload.get("auxiliary_readouts", 0) or 0)
    if aux:
        notes.append(
            f"dropped {aux} auxiliary readout(s) (training-only local classifiers of "
            f"{payload.get('training', 'local learning')}); the last layer's spike counts classify"
        )
    ntype = getattr(spec, "neuron_type", "iaf")
    if ntype != "iaf":
        params = ", ".join(f"{k} = {v:g}" for k, v in spec.neuron_params.items())
        if not (options and options.approximate_leak):
            raise ConstraintError(
                f"model '{spec.name}' was trained with '{ntype}' neurons ({params}); Speck's "
                "neurons are integrate-and-fire and have no leak",
                where=where,
                fix="retrain with `neuron: {type: iaf}`, or pass --approximate-leak to run them "
                "as IAF (drops the leak) and re-check the accuracy with "
                "`qsnn-deploy deploy --target emulator`",
            )
        warnings.append(
            f"'{ntype}' neurons ({params}) run as IAF: leak, traces and refractory term dropped "
            "(--approximate-leak); accuracy must be re-checked with `qsnn-deploy deploy --target emulator`"
        )
    return notes, warnings

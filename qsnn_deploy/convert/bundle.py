"""``convert``: a model → a chip-ready bundle (``model.nir``, ``mapping.json``, ``report.md``[, ``model.onnx``]).

The bundle is built in a hidden temporary folder and renamed into place only when every file is
written, so a failed convert leaves nothing behind; an existing non-empty folder is replaced only
when asked (``overwrite``, the CLI's ``--overwrite``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConstraintError, InputError
from ..ir import Network, split_import_record
from ..outputs import check_writable, staged_folder, write_atomic
from ..progress import ProgressMode
from ..quant.chip import SPECK_STATE_BITS, SPECK_WEIGHT_BITS, discretize_with_warnings
from .loader import load_network
from .nir_import import ImportOptions
from .nir_io import write_nir

if TYPE_CHECKING:
    from ..hw.profile import Profile


@dataclass
class ConvertResult:
    """What :func:`convert_network` wrote. Notes inform; warnings ask for a check (of accuracy, mostly).
    Neither carries a severity prefix: the CLI adds ``note: `` / ``warning: `` when it prints them."""

    network: Network  # the discretised network that was written
    out: Path
    mapping: dict[str, Any]  # mapping.json: target, the layer → core assignment, scales
    # approximations to re-check: import's (a leak dropped) first, then the discretiser's (weights rounded to zero)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what import changed (AvgPool → SumPool, batch norm folded...)
    files: list[str] = field(default_factory=list)


def chip_widths(*profiles: Profile) -> dict[str, int]:
    """The ``weight_bits`` and ``state_bits`` to discretise for, from the targets' profiles (``numerics``):
    the narrowest any of them gives, so that one set of integers fits every target compared; Speck's
    widths (:data:`~qsnn_deploy.quant.chip.SPECK_WEIGHT_BITS`, ``SPECK_STATE_BITS``) where none gives one."""
    weight = [p.weight_bits for p in profiles if p.weight_bits is not None]
    state = [p.state_bits for p in profiles if p.state_bits is not None]
    return {
        "weight_bits": min(weight, default=SPECK_WEIGHT_BITS),
        "state_bits": min(state, default=SPECK_STATE_BITS),
    }


def _scales_markdown(net: Network) -> str:
    lines = [
        "## Discretisation",
        "",
        "| layer | scale | threshold | lower bound | max abs weight | zero weights |",
        "|---|---|---|---|---|---|",
    ]
    for layer in net.layers:
        w = layer.weight
        lines.append(
            f"| {layer.name} | {layer.scale:.6g} | {int(layer.threshold)} | {int(layer.lower_bound)} | "
            f"{int(abs(w).max())} | {float((w == 0).mean()):.1%} |"
        )
    return "\n".join(lines) + "\n"


# convert's flag is --overwrite (--force its deprecated alias)
OVERWRITE = "--overwrite (formerly --force)"


def convert_network(
    net: Network,
    target: str,
    out: str | Path,
    overwrite: bool = False,
    source: str = "model",
    onnx: bool = False,
    zero_weight_warn: float = 0.5,
) -> ConvertResult:
    """Discretise for ``target``, check its rules and core mapping, write the bundle atomically."""
    from ..hw import check, estimate, format_markdown, load_profile, map_layers

    out = Path(out)
    check_writable(out, overwrite, OVERWRITE)
    profile = load_profile(target)
    try:
        qnet, discretise_warnings = discretize_with_warnings(net, zero_weight_warn, **chip_widths(profile))
    except InputError as exc:  # the discretiser names the layer; say which file it is in
        raise exc.located(source) from None
    qnet = dataclasses.replace(qnet, metadata={**qnet.metadata, "target": profile.name})
    violations = check(qnet, profile)
    mapping = map_layers(qnet, profile)
    if violations or not mapping.ok:
        listed = "; ".join(f"[{v.code}] {v.layer}: {v.message} (fix: {v.fix})" for v in violations)
        raise ConstraintError(
            f"the model does not fit {profile.name}: " + (listed or mapping.explanation),
            where=source,
            fix="apply the fixes above, or run `qsnn-deploy estimate` for the full report",
            violations=violations,
        )
    # the bundle's import record, as report.md lists it (warnings in it keep their mark, as stored)
    import_notes = [str(n) for n in net.metadata.get("import_notes", [])]
    notes, import_warnings = split_import_record(import_notes)
    files = ["model.nir", "mapping.json", "report.md"] + (["model.onnx"] if onnx else [])
    with staged_folder(out, overwrite=True) as tmp:
        write_nir(qnet, tmp / "model.nir")
        mapping_doc = {
            "target": profile.name,
            **mapping.to_dict(),
            "scales": {layer.name: layer.scale for layer in qnet.layers},
        }
        write_atomic(tmp / "mapping.json", json.dumps(mapping_doc, indent=2))
        if onnx:
            from .onnx_export import export_onnx

            export_onnx(qnet, tmp / "model.onnx")
        duration_s = float(qnet.metadata.get("duration_us", 0)) / 1e6 or 1.0
        report = [
            f"# Conversion report: {Path(source).name} → {profile.name}",
            "",
            f"Source: `{source}`; time step {qnet.dt_us:g} µs.",
            "",
        ]
        if import_notes:
            report += ["## Import", "", "What was changed to make the model run on the chip:", ""]
            report += [f"- {n}" for n in import_notes] + [""]
        if discretise_warnings:
            report += ["## Warnings", ""] + [f"- {w}" for w in discretise_warnings] + [""]
        report.append(_scales_markdown(qnet))
        if onnx:
            report += [
                "## ONNX",
                "",
                f"`model.onnx`: one inference = one time bin of {qnet.dt_us:g} µs; inputs "
                "`events` (N, C, H, W) and one membrane state `v_<layer>` per layer (zeros at the start of a "
                "sample), outputs `spikes` and `v_<layer>_next` to feed back. Parameters are the chip "
                "integers above, as float32.",
                "",
            ]
        report.append(format_markdown(estimate(qnet, profile, None, duration_s)))
        write_atomic(tmp / "report.md", "\n".join(report))
    return ConvertResult(qnet, out, mapping_doc, import_warnings + discretise_warnings, notes, files)


def convert_model(
    model_path: str | Path,
    target: str,
    out: str | Path,
    overwrite: bool = False,
    options: ImportOptions | None = None,
    onnx: bool = False,
    zero_weight_warn: float = 0.5,
) -> ConvertResult:
    """A checkpoint, NIR file or bundle folder → bundle (see :func:`convert_network`)."""
    check_writable(out, overwrite, OVERWRITE)
    net = load_network(model_path, options)
    return convert_network(net, target, out, overwrite, str(model_path), onnx, zero_weight_warn)


def convert_ann(
    weights: str | Path,
    model: str,
    target: str,
    out: str | Path,
    overwrite: bool = False,
    dataset: str | None = None,
    samples: int = 256,
    time_bins: int | None = None,
    percentile: float | None = 99.99,
    first_layer_scale: float = 1.0,
    onnx: bool = False,
    zero_weight_warn: float = 0.5,
    progress: ProgressMode = False,
) -> ConvertResult:
    """ANN state dict + model YAML → weight-scaled IAF network → bundle (see :mod:`.ann`)."""
    from ..nets.zoo import load_spec
    from .ann import ann_to_network, calibration_frames, load_ann

    check_writable(out, overwrite, OVERWRITE)
    spec = load_spec(model)
    ann = load_ann(spec, weights)
    bins = time_bins or int(spec.defaults.get("time_bins", 10))
    frames, dt_us = calibration_frames(dataset or spec.dataset, bins, samples, progress=progress)
    try:
        net, _ = ann_to_network(
            ann,
            spec.input_shape,
            frames,
            percentile,
            first_layer_scale,
            dt_us=dt_us,
            metadata={
                "model": spec.name,
                "time_bins": bins,
                "duration_us": dt_us * bins,
                "dataset": dataset or spec.dataset,
                "source": str(weights),
            },
        )
    except InputError as exc:  # weight scaling names the layer; say which file it is in
        raise exc.located(str(weights)) from None
    return convert_network(net, target, out, overwrite, str(weights), onnx, zero_weight_warn)

"""``convert``: a model file → a chip-ready bundle (``model.nir``, ``mapping.json``, ``report.md``)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConstraintError
from ..ir import Network
from ..outputs import staged_folder
from ..quant.chip import discretize_network
from .loader import load_network
from .nir_io import write_nir


@dataclass
class ConvertResult:
    network: Network  # the discretised network that was written
    out: Path
    mapping: dict
    warnings: list[str] = field(default_factory=list)


def discretize_with_warnings(net: Network) -> tuple[Network, list[str]]:
    """Discretise and collect the discretiser's warnings as text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qnet = net if net.quantized else discretize_network(net)
    return qnet, [str(w.message) for w in caught]


def _scales_markdown(net: Network) -> str:
    lines = ["## Discretisation", "", "| layer | scale | threshold | lower bound | max abs weight | zero weights |",
             "|---|---|---|---|---|---|"]
    for layer in net.layers:
        w = layer.weight
        lines.append(f"| {layer.name} | {layer.scale:.6g} | {int(layer.threshold)} | {int(layer.lower_bound)} | "
                     f"{int(abs(w).max())} | {float((w == 0).mean()):.1%} |")
    return "\n".join(lines) + "\n"


def convert_model(model_path: str | Path, target: str, out: str | Path, overwrite: bool = False) -> ConvertResult:
    """Discretise for ``target``, check its rules and core mapping, write the bundle atomically."""
    from ..hw import check, estimate, format_markdown, load_profile, map_layers

    profile = load_profile(target)
    net = load_network(model_path)
    qnet, notes = discretize_with_warnings(net)
    qnet = Network(qnet.layers, qnet.input_shape, qnet.dt_us, {**qnet.metadata, "target": profile.name})
    violations = check(qnet, profile)
    mapping = map_layers(qnet, profile)
    if violations or not mapping.ok:
        listed = "; ".join(f"[{v.code}] {v.layer}: {v.message} (fix: {v.fix})" for v in violations)
        raise ConstraintError(f"the model does not fit {profile.name}: "
                              + (listed or mapping.explanation), where=str(model_path),
                              fix="apply the fixes above, or run `qsnn-deploy estimate` for the full report",
                              violations=violations)
    with staged_folder(out, overwrite) as tmp:
        write_nir(qnet, tmp / "model.nir")
        mapping_doc = {"target": profile.name, **mapping.to_dict(),
                       "scales": {layer.name: layer.scale for layer in qnet.layers}}
        (tmp / "mapping.json").write_text(json.dumps(mapping_doc, indent=2))
        duration_s = float(qnet.metadata.get("duration_us", 0)) / 1e6 or 1.0
        report = [f"# Conversion report: {Path(model_path).name} → {profile.name}", "",
                  f"Source: `{model_path}`; time step {qnet.dt_us:g} µs.", ""]
        if notes:
            report += ["## Warnings", ""] + [f"- {n}" for n in notes] + [""]
        report.append(_scales_markdown(qnet))
        report.append(format_markdown(estimate(qnet, profile, None, duration_s)))
        (tmp / "report.md").write_text("\n".join(report))
    return ConvertResult(qnet, Path(out), mapping_doc, notes)

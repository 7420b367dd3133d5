"""``qsnn-deploy convert``."""

from __future__ import annotations

import click

from .common import emit_json, log


@click.command(epilog="""\b
Examples:
  qsnn-deploy convert runs/r1/checkpoint.pt --target speck2f --out bundles/r1
  qsnn-deploy convert model.nir --target my_chip.yaml --out bundles/custom --format json
Writes OUT/model.nir (standard NIR with the chip's integers; scales, lower bounds, reset mode and
time step in its metadata), OUT/mapping.json (layer → core) and OUT/report.md.
Exits with code 4 and writes nothing when the model breaks the target's rules.""")
@click.argument("model", type=click.Path())
@click.option("--target", default="speck2f", show_default=True, help="profile name or path to a profile YAML")
@click.option("--out", default="bundle", show_default=True, type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="replace an existing bundle folder")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def convert(model, target, out, overwrite, fmt) -> None:
    """Discretise a checkpoint or NIR model for a chip and write a chip-ready bundle."""
    from qsnn_deploy.convert.bundle import convert_model

    res = convert_model(model, target, out, overwrite=overwrite)
    for note in res.warnings:
        log(f"warning: {note}")
    if fmt == "json":
        emit_json({"out": str(res.out), "target": res.mapping["target"], "mapping": res.mapping["assignment"],
                   "scales": res.mapping["scales"], "warnings": res.warnings})
        return
    cores = ", ".join(f"{k}→core {v}" for k, v in res.mapping["assignment"].items())
    click.echo(f"wrote {res.out}/model.nir, mapping.json, report.md for {res.mapping['target']} ({cores})")

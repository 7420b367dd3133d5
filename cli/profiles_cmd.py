"""``qsnn-deploy profiles``."""

from __future__ import annotations

import click

from .common import emit_json


@click.group(epilog="""\b
Examples:
  qsnn-deploy profiles list
  qsnn-deploy profiles show speck2f
  qsnn-deploy profiles show loihi
  qsnn-deploy profiles show my_chip.yaml --format json
\b
Architectures: layer-per-core (Speck, DynapCNN: one layer per core), neuron-cores (Loihi: neurons
spread over cores, time-stepped), dense-accelerator (the network as an ANN, energy per MAC).""")
def profiles() -> None:
    """List and show hardware profiles (chip facts with their sources)."""


@profiles.command("list", epilog="""\b
Examples:
  qsnn-deploy profiles list""")
def list_cmd() -> None:
    """Names, architectures and descriptions of the packaged profiles."""
    from qsnn_deploy.hw import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        click.echo(f"{name:13s} {p.architecture:18s} {p.description}".rstrip())


@profiles.command("show", epilog="""\b
Examples:
  qsnn-deploy profiles show speck2f""")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(name, fmt) -> None:
    """Every number of a profile with its source and confidence."""
    from qsnn_deploy.hw import load_profile
    from qsnn_deploy.hw.report import format_profile

    p = load_profile(name)
    if fmt == "json":
        emit_json(p.to_dict())
    else:
        click.echo(format_profile(p))

"""``qsnn-deploy profiles``."""

from __future__ import annotations

import click

from .common import emit_json, format_option
from .target_option import resolve_one


@click.group(
    epilog="""\b
Examples:
  qsnn-deploy profiles list
  qsnn-deploy profiles show speck2f
  qsnn-deploy profiles show speck2fdevkit        # samna's board name: the speck2f profile
  qsnn-deploy profiles show loihi
  qsnn-deploy profiles show my_chip.yaml --format json
\b
Architectures: layer-per-core (Speck, DynapCNN: one layer per core), neuron-cores (Loihi: neurons
spread over cores, time-stepped), dense-accelerator (the network as an ANN, energy per MAC)."""
)
def profiles() -> None:
    """List and show hardware profiles (chip facts with their sources)."""


@profiles.command(
    "list",
    epilog="""\b
Examples:
  qsnn-deploy profiles list
  qsnn-deploy profiles list --format json
\b
Every name in the 'also' column works wherever a --target is taken: the family name (speck: the
current Speck, speck2f) and samna's board names as sinabs spells them (speck2fdevkit, ...).""",
)
@format_option("text", "json")
def list_cmd(fmt: str) -> None:
    """Names, other names (family, samna boards), architectures and descriptions of the packaged profiles."""
    from qsnn_deploy.hw import list_profiles, load_profile

    rows = [load_profile(name) for name in list_profiles()]
    if fmt == "json":
        emit_json(
            [
                {
                    "name": p.name,
                    "aliases": list(p.aliases),
                    "family": p.family,
                    "architecture": p.architecture,
                    "description": p.description,
                }
                for p in rows
            ]
        )
        return
    table = [("name", "also", "architecture", "description")] + [
        (p.name, ", ".join(p.aliases) or "—", p.architecture, p.description) for p in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])


@profiles.command(
    "show",
    epilog="""\b
Examples:
  qsnn-deploy profiles show speck2f""",
)
@click.argument("name", callback=resolve_one)
@format_option("text", "json")
def show(name: str, fmt: str) -> None:
    """Every number of a profile with its source and confidence."""
    from qsnn_deploy.hw import load_profile
    from qsnn_deploy.hw.report import format_profile

    p = load_profile(name)
    if fmt == "json":
        emit_json(p.to_dict())
    else:
        click.echo(format_profile(p))

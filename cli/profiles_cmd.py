"""``qsnn-deploy profiles``."""

from __future__ import annotations

import click

from .common import emit_json


@click.group(epilog="""\b
Examples:
  qsnn-deploy profiles list
  qsnn-deploy profiles show speck2f
  qsnn-deploy profiles show my_chip.yaml --format json""")
def profiles() -> None:
    """List and show hardware profiles (chip facts with their sources)."""


@profiles.command("list", epilog="""\b
Examples:
  qsnn-deploy profiles list""")
def list_cmd() -> None:
    """Names of the packaged profiles."""
    from qsnn_deploy.hw import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        click.echo(f"{name:12s} {p.description}" if getattr(p, "description", "") else name)


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

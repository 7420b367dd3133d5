"""``qsnn-deploy doctor``."""

from __future__ import annotations

import click

from .common import emit_json, format_option


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy doctor                    # versions, CUDA, samna real or placeholder, boards, what next
  qsnn-deploy doctor --format json      # the same for scripts
  qsnn-deploy doctor --no-devices       # skip asking samna for USB devices
samna is never imported unless it is the real driver: PyPI's placeholder would run pip."""
)
@format_option("text", "json")
@click.option(
    "--devices/--no-devices", default=True, show_default=True, help="list the boards samna sees (real driver only)"
)
def doctor(fmt: str, devices: bool) -> None:
    """Check the environment: Python, torch/CUDA, sinabs, nir, tonic, the samna driver and the boards."""
    from qsnn_deploy.deploy.doctor import collect, format_text

    report = collect(probe_devices=devices)
    if fmt == "json":
        emit_json(report)
    else:
        click.echo(format_text(report))

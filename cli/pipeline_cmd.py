"""``qsnn-deploy pipeline``."""

from __future__ import annotations

import click

from qsnn_deploy.progress import Mode

from .common import emit_json, format_option, progress_option
from .target_option import resolve_one


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy pipeline                              # what `make demo` runs
  qsnn-deploy pipeline --epochs 3 --out runs/quick
  qsnn-deploy pipeline --device cuda --format json
Writes OUT/run (training), OUT/bundle (chip-ready NIR), OUT/deploy.json, OUT/estimate.json|txt,
OUT/summary.md."""
)
@click.option("--out", default="runs/pipeline", show_default=True, type=click.Path(file_okay=False))
@click.option("--model", default="digits_speck", show_default=True, help="zoo model name or model YAML path")
@click.option("--dataset", default="digits-dvs", show_default=True)
@click.option(
    "--target",
    default="speck2f",
    show_default=True,
    callback=resolve_one,
    help="profile for convert and estimate (a name, family such as speck, board name or YAML path)",
)
@click.option("--epochs", type=int, help="training epochs [model default]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--synop-penalty", type=float, default=0.0, show_default=True)
@format_option("text", "json")
@progress_option
def pipeline(
    out: str,
    model: str,
    dataset: str,
    target: str,
    epochs: int | None,
    seed: int,
    device: str,
    synop_penalty: float,
    fmt: str,
    progress: Mode,
) -> None:
    """Train → convert → estimate → deploy (emulator) in one go, replacing OUT."""
    from qsnn_deploy.pipeline import format_summary, run_pipeline

    summary = run_pipeline(
        out,
        target=target,
        progress=progress,
        model=model,
        dataset=dataset,
        epochs=epochs,
        seed=seed,
        device=device,
        synop_penalty=synop_penalty,
    )
    if fmt == "json":
        emit_json(summary)
    else:
        click.echo(format_summary(summary))

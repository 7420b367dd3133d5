"""``qsnn-deploy sweep``: accuracy against SynOps for a series of SynOp-loss targets."""

from __future__ import annotations

import click

from .common import emit_json, format_option, log, overwrite_option, progress_option


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy sweep --synop-targets 1e5,2e5,4e5,8e5 --out runs/sweep
  qsnn-deploy sweep --synop-targets 8e5,4e5,2e5 --baseline models/digits_speck.pt --start chain --out runs/ft
  qsnn-deploy sweep --synop-targets 8e5,5e5,3.5e5,3e5 --baseline models/digits_speck.pt --start chain \
      --distill --synop-weights conv2=3 --shift-px 2 --out runs/kd
  qsnn-deploy sweep --synop-targets 2e5 --first-layer-factors 0.2,0.5,0.8 --percentiles 99,100 --out runs/s
Writes OUT/sweep.png (accuracy vs SynOps per sample, with the weight-scaling baselines),
OUT/sweep.json, OUT/sweep.md and one run folder per trained model. Every point is measured on the
validation split the runs hold out (--seed, --val-fraction) and on the test split; the choices
(sparsest model within 1 point, cheapest baseline as accurate) are made on validation only."""
)
@click.option("--synop-targets", required=True, help="comma-separated SynOps-per-sample targets, e.g. 1e5,2e5,4e5")
@click.option("--model", default="digits_speck", show_default=True, help="zoo model name or model YAML path")
@click.option(
    "--baseline", type=click.Path(), help="run folder or checkpoint of the unpenalised model to reuse [trained here]"
)
@click.option(
    "--start",
    type=click.Choice(["scratch", "baseline", "chain"]),
    default="scratch",
    show_default=True,
    help="each target trains from random weights, from the baseline's, or (chain) from the previous "
    "target's, in decreasing order",
)
@click.option("--epochs", type=int, help="epochs per trained model [model default]")
@click.option("--lr", type=float, help="learning rate per trained model [model default]")
@click.option(
    "--distill",
    is_flag=True,
    help="each trained model also learns the baseline's output distribution (train --distill)",
)
@click.option("--synop-weights", help="per-layer weights of the SynOp term, e.g. conv2=3 (train --synop-weights)")
@click.option(
    "--shift-px",
    type=int,
    default=0,
    show_default=True,
    help="random shifts of the training samples, redrawn every epoch (train --shift-px)",
)
@click.option(
    "--first-layer-factors",
    default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
    show_default=True,
    help="baseline: first-layer weight factors",
)
@click.option(
    "--percentiles", default="99,99.9,99.99,100", show_default=True, help="baseline: percentile normalisation levels"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--val-fraction",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="share of the train split every run holds out (seeded, stratified; train --val-fraction): each run keeps "
    "its best epoch on it, and the sweep chooses the sparsest model and the matched baseline on it; the test split "
    "is only reported",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option(
    "--limit", type=int, help="use only N samples of each split, the first of each class in turn (quick smoke runs)"
)
@click.option("--out", default="runs/sweep", show_default=True, type=click.Path(file_okay=False))
@overwrite_option("output folder")
@format_option("text", "json")
@progress_option
def sweep(
    synop_targets,
    model,
    baseline,
    start,
    epochs,
    lr,
    distill,
    synop_weights,
    shift_px,
    first_layer_factors,
    percentiles,
    seed,
    val_fraction,
    device,
    limit,
    out,
    overwrite,
    fmt,
    progress,
) -> None:
    """Train a series of SynOp targets and plot accuracy against SynOps next to weight-scaling baselines."""
    from qsnn_deploy.train.sweep import parse_values, run_sweep

    result = run_sweep(
        parse_values(synop_targets, "--synop-targets"),
        out,
        model=model,
        baseline=baseline,
        start=start,
        epochs=epochs,
        lr=lr,
        seed=seed,
        device=device,
        distill=distill,
        synop_weights=synop_weights,
        shift_px=shift_px,
        first_layer_factors=parse_values(first_layer_factors, "--first-layer-factors"),
        percentiles=parse_values(percentiles, "--percentiles"),
        limit=limit,
        val_fraction=val_fraction,
        overwrite=overwrite,
        progress=progress,
    )
    if fmt == "json":
        emit_json(result | {"out": str(out)})
        return
    for p in result["points"]:
        setting = "" if p["setting"] is None else f" {p['setting']:g}"
        click.echo(
            f"{p['method']}{setting}: validation {100 * p['validation_accuracy']:.2f}%  test {100 * p['accuracy']:.2f}%"
            f"  {p['synops_per_sample']:.3g} SynOps/sample"
        )
    s = result["summary"]
    if s["best"] is not None:
        best = s["best"]
        click.echo(
            f"sparsest within {100 * s['max_accuracy_drop']:g} point of the baseline on validation: "
            f"{best['method']} {best['setting']:g}; on test {s['reduction']:.2f}× fewer SynOps "
            f"({100 * s['accuracy_drop']:+.2f} points)"
        )
    log(f"wrote {out}/sweep.png, sweep.json, sweep.md")

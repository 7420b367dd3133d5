"""``qsnn-deploy estimate``."""

from __future__ import annotations

import sys

import click

from .common import log


@click.command(epilog="""\b
Examples:
  qsnn-deploy estimate bundles/r1 --target speck2f
  qsnn-deploy estimate runs/r1/checkpoint.pt --target speck2f --format json
  qsnn-deploy estimate model.nir --target my_chip.yaml --samples 0     # memory and mapping only
SynOps come from emulating --samples test samples of the model's dataset. Memory is in words, as
the chip counts them. Exits 4 (after printing the report) when the model does not fit.""")
@click.argument("model", type=click.Path())
@click.option("--target", default="speck2f", show_default=True, help="profile name or path to a profile YAML")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table", show_default=True)
@click.option("--samples", type=int, default=32, show_default=True,
              help="test samples emulated to measure SynOps (0: skip)")
@click.option("--dataset", help="dataset for the SynOps measurement (default: the model's)")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="write a PNG of memory use and SynOps")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
def estimate(model, target, fmt, samples, dataset, plot_file, quiet) -> None:
    """Will it fit, where does each layer go, how many SynOps, what power and latency."""
    from qsnn_deploy.convert.bundle import discretize_with_warnings
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.hw import estimate as run_estimate, format_json, format_markdown, format_table, load_profile

    profile = load_profile(target)
    net, notes = discretize_with_warnings(load_network(model))
    for note in notes:
        log(f"warning: {note}")
    synops, duration_s = None, float(net.metadata.get("duration_us", 0)) / 1e6 or 1.0
    if samples > 0:
        from qsnn_deploy.deploy.activity import measure_synops

        name = dataset or net.metadata.get("dataset") or "digits-dvs"
        log(f"measuring SynOps on {samples} test samples of {name}")
        synops, duration_s = measure_synops(net, name, samples, progress=not quiet)
    est = run_estimate(net, profile, synops, duration_s)
    click.echo({"table": format_table, "json": format_json, "md": format_markdown}[fmt](est))
    if plot_file:
        from qsnn_deploy.hw.plot import plot_estimate

        plot_estimate(est, profile, plot_file)
        log(f"plot written to {plot_file}")
    if not est.fits:
        sys.exit(4)

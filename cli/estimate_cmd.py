"""``qsnn-deploy estimate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qsnn_deploy.progress import Mode

from .common import format_option, import_options, log, nir_import_options, progress_option
from .target_option import TARGET_HELP, resolve_many

if TYPE_CHECKING:  # imported inside the functions: --help stays fast
    from qsnn_deploy.deploy.activity import Activity
    from qsnn_deploy.ir import Network


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy estimate bundles/r1 --target speck2f
  qsnn-deploy estimate bundles/r1 --target speck2f,loihi,generic-45nm --plot est.png
  qsnn-deploy estimate runs/r1/checkpoint.pt --dataset digits-dvs --samples 64 --format json
  qsnn-deploy estimate bundles/r1 --input events.npy --format md
  qsnn-deploy estimate model.nir --target my_chip.yaml --samples 0     # memory and mapping only
\b
Activity (SynOps and spikes per layer) comes from emulating --input FILE (an event .npy with fields
x, y, t, p, or a spike-count raster) or --samples test samples of --dataset (default: the model's
dataset); --samples 0 skips it (no torch needed). Memory is in words, as the chip counts them.
With several targets (comma-separated) the table and Markdown start with a side-by-side summary and
--format json prints a JSON list with one estimate object per target, in the order given; names of
the same profile (speck,speck2f) are reported once.
Exits 4 (after printing the report) when the model does not fit a target."""
)
@click.argument("model", type=click.Path())
@click.option(
    "--target",
    "targets",
    default="speck2f",
    show_default=True,
    callback=resolve_many,
    help=TARGET_HELP + "; several, comma-separated, side by side",
)
@format_option("table", "json", "md", help="table for people, json (on stdout) for scripts, md for reports")
@click.option(
    "--input",
    "input_file",
    type=click.Path(dir_okay=False),
    help="event file (.npy: x, y, t, p or a (T, C, H, W) raster) to measure activity on",
)
@click.option("--dataset", help="dataset to measure activity on (default: the model's)")
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="test samples of --dataset emulated to measure activity (0: skip)",
)
@click.option("--sensor", is_flag=True, help="add the on-chip sensor's (DVS) power")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    help="write a PNG: memory per core against its limits, SynOps per layer, power breakdown",
)
@nir_import_options
@progress_option
def estimate(
    model: str,
    targets: tuple[str, ...],
    fmt: str,
    input_file: str | None,
    dataset: str | None,
    samples: int,
    sensor: bool,
    plot_file: str | None,
    input_shape: tuple[int, ...] | None,
    approximate_leak: bool,
    reset: str | None,
    dt_us: float | None,
    progress: Mode,
) -> None:
    """Will it fit, where does each layer go, how many SynOps, what power, energy and latency."""
    from qsnn_deploy.convert.bundle import chip_widths
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.errors import ConstraintError, UsageError
    from qsnn_deploy.hw import estimate as run_estimate
    from qsnn_deploy.hw import load_profile, report
    from qsnn_deploy.quant.chip import discretize_with_warnings

    if input_file and dataset:
        raise UsageError("--input and --dataset both choose the activity source", fix="give only one of them")
    profiles = [load_profile(t) for t in targets]
    net, notes = discretize_with_warnings(
        load_network(model, import_options(input_shape, approximate_leak, reset, dt_us)),
        **chip_widths(*profiles),
    )
    for note in notes:
        log(f"warning: {note}")

    activity = _activity(net, input_file, dataset, samples, progress)
    synops: dict[str, float] | None  # per layer, measured
    spikes: dict[str, float] | None
    if activity is not None:
        synops, spikes, duration_s, source = activity.synops, activity.spikes, activity.duration_s, activity.description
    else:
        synops = spikes = None
        duration_s, source = float(net.metadata.get("duration_us", 0)) / 1e6, ""
        if not duration_s:
            duration_s = 1.0
            log("warning: the model does not say how long a sample lasts; rates assume one sample per second")
    ests = [
        run_estimate(net, p, synops, duration_s, include_sensor=sensor, spikes_per_layer=spikes, activity_source=source)
        for p in profiles
    ]
    if len(ests) == 1:
        text = {"table": report.format_table, "json": report.format_json, "md": report.format_markdown}[fmt](ests[0])
    else:
        text = {
            "table": report.format_comparison_table,
            "json": report.format_comparison_json,
            "md": report.format_comparison_markdown,
        }[fmt](ests)
    click.echo(text, nl=False)
    if plot_file:
        from qsnn_deploy.hw.plot import plot_estimates

        plot_estimates(ests, profiles, plot_file)
        log(f"plot written to {plot_file}")
    misfits = [e for e in ests if not e.fits]
    if misfits:
        raise ConstraintError(
            f"the model does not fit {', '.join(e.target for e in misfits)}",
            where=str(model),
            fix="see the report above: each violation with its fix, and the core mapping",
            violations=[v for e in misfits for v in e.violations],
        )


def _activity(
    net: Network, input_file: str | None, dataset: str | None, samples: int, progress: Mode
) -> Activity | None:
    """Measured activity, or None when none is asked for (or the model has no known dataset)."""
    if input_file:
        from qsnn_deploy.deploy.activity import activity_from_file

        log(f"measuring activity on {input_file}")
        return activity_from_file(net, input_file, progress=progress)
    if samples == 0:
        return None
    name = dataset or net.metadata.get("dataset")
    if name is None:
        log("note: the model names no dataset; pass --dataset NAME or --input FILE to measure SynOps and power")
        return None
    from qsnn_deploy.deploy.activity import activity_from_dataset

    log(f"measuring activity on {samples} test samples of {name}")
    return activity_from_dataset(net, name, samples, progress=progress)

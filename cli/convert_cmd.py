"""``qsnn-deploy convert``."""

from __future__ import annotations

import click

from qsnn_deploy.progress import Mode

from .common import (
    emit_json,
    format_option,
    import_options,
    log,
    nir_import_options,
    overwrite_option,
    progress_option,
)
from .target_option import TARGET_HELP, resolve_one


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy convert runs/r1/checkpoint.pt --target speck2f --out bundles/r1
  qsnn-deploy convert runs/r1/checkpoint.pt --target speck          # the Speck family: speck2f
  qsnn-deploy convert exported.nir --input-shape 2,34,34 --out bundles/ext
  qsnn-deploy convert snntorch.nir --approximate-leak --out bundles/lif
  qsnn-deploy convert runs/r1/checkpoint.pt --format onnx --out bundles/r1 --overwrite
  qsnn-deploy convert ann.pt --from-ann digits_speck --percentile 99.99 --first-layer-scale 2 --out bundles/ann
  qsnn-deploy convert runs/a1/ann.pt --from-ann digits_speck --no-weight-scaling --out bundles/a1
\b
MODEL is a checkpoint.pt, a NIR file from any tool (nir 1.0.0 to 1.0.8), a bundle folder, or with
--from-ann the state dict of the ReLU CNN that a model YAML describes. Writes OUT/model.nir (standard
NIR with the chip's integers; scales, lower bounds, reset mode and time step in its metadata),
OUT/mapping.json (layer → core), OUT/report.md (what import changed, warnings, memory, power) and
with --format onnx also OUT/model.onnx (one inference = one time bin, membrane states in and out).
Exit 3: the file is unreadable or inconsistent; exit 4: Speck cannot run the model. Nothing is
written on failure."""
)
@click.argument("model", type=click.Path())
@click.option("--target", default="speck2f", show_default=True, callback=resolve_one, help=TARGET_HELP)
@click.option("--out", default="bundle", show_default=True, type=click.Path(file_okay=False))
@overwrite_option("bundle folder", deprecated="--force")
@format_option("text", "json", "onnx", help="text or json summary on stdout; onnx also writes model.onnx")
@nir_import_options
@click.option(
    "--zero-weight-warn",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="warn when more than this share of a layer's weights round to zero",
)
@click.option(
    "--from-ann",
    "ann_model",
    metavar="MODEL_YAML",
    default=None,
    help="MODEL is an ANN state dict of this zoo model or YAML: convert it to IAF with weight scaling",
)
@click.option("--percentile", type=float, default=None, help="activation percentile for weight scaling [99.99]")
@click.option(
    "--no-weight-scaling",
    is_flag=True,
    help="with --from-ann: keep the trained weights, threshold 1, for ANNs trained with floor-ReLU "
    "activations on whole-window counts (qsnn_deploy.train.ann_synop); give the training's --time-bins",
)
@click.option("--first-layer-scale", type=float, default=None, help="extra factor on the first layer's weights [1]")
@click.option("--calibration", default=None, help="dataset for calibration [the model's dataset]")
@click.option("--calibration-samples", type=int, default=None, help="training samples used to calibrate [256]")
@click.option("--time-bins", type=int, default=None, help="time bins per sample [the model's default]")
@progress_option
def convert(
    model: str,
    target: str,
    out: str,
    overwrite: bool,
    fmt: str,
    input_shape: tuple[int, ...] | None,
    approximate_leak: bool,
    reset: str | None,
    dt_us: float | None,
    zero_weight_warn: float,
    ann_model: str | None,
    percentile: float | None,
    no_weight_scaling: bool,
    first_layer_scale: float | None,
    calibration: str | None,
    calibration_samples: int | None,
    time_bins: int | None,
    progress: Mode,
) -> None:
    """Convert a checkpoint, NIR graph or ANN into a chip-ready bundle for a target."""
    from qsnn_deploy.errors import UsageError

    onnx = fmt == "onnx"
    ann_only = {
        "--percentile": percentile,
        "--no-weight-scaling": no_weight_scaling or None,
        "--first-layer-scale": first_layer_scale,
        "--calibration": calibration,
        "--calibration-samples": calibration_samples,
        "--time-bins": time_bins,
    }
    if ann_model is None:
        given = [k for k, v in ann_only.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to ANN conversion", fix="add --from-ann MODEL_YAML")
        from qsnn_deploy.convert.bundle import convert_model

        options = import_options(input_shape, approximate_leak, reset, dt_us)
        res = convert_model(
            model, target, out, overwrite=overwrite, options=options, onnx=onnx, zero_weight_warn=zero_weight_warn
        )
    else:
        if input_shape or approximate_leak or reset or dt_us:
            raise UsageError(
                "--input-shape, --approximate-leak, --reset and --dt-us apply to NIR graphs, not ANNs",
                fix="drop them; the model YAML gives the ANN's shapes",
            )
        if no_weight_scaling and (percentile is not None or calibration_samples is not None):
            clash = " and ".join(
                k
                for k, v in (("--percentile", percentile), ("--calibration-samples", calibration_samples))
                if v is not None
            )
            raise UsageError(
                f"{clash} cannot be combined with --no-weight-scaling, which keeps the trained weights "
                "and calibrates nothing",
                fix=f"drop {clash}, or drop --no-weight-scaling to scale the weights by activation percentiles",
            )
        from qsnn_deploy.convert.bundle import convert_ann

        scale_at: float | None  # the activation percentile weights are scaled by; None: keep the weights
        if no_weight_scaling:  # no calibration: one sample only gives the bin width
            scale_at, samples = None, 1
        else:
            scale_at, samples = 99.99 if percentile is None else percentile, calibration_samples or 256
        res = convert_ann(
            model,
            ann_model,
            target,
            out,
            overwrite=overwrite,
            dataset=calibration,
            time_bins=time_bins,
            percentile=scale_at,
            samples=samples,
            first_layer_scale=1.0 if first_layer_scale is None else first_layer_scale,
            onnx=onnx,
            zero_weight_warn=zero_weight_warn,
            progress=progress,
        )
    for note in res.notes:
        log(f"note: {note}")
    for warning in res.warnings:
        log(f"warning: {warning}")
    if fmt == "json":
        emit_json(
            {
                "out": str(res.out),
                "target": res.mapping["target"],
                "mapping": res.mapping["assignment"],
                "scales": res.mapping["scales"],
                "warnings": res.warnings,
                "notes": res.notes,
                "files": res.files,
            }
        )
        return
    cores = ", ".join(f"{k}→core {v}" for k, v in res.mapping["assignment"].items())
    click.echo(f"wrote {res.out}/{', '.join(res.files)} for {res.mapping['target']} ({cores})")

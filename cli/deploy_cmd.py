"""``qsnn-deploy deploy``."""

from __future__ import annotations

import click

from .common import emit_json, log, quiet_option


@click.command(epilog="""\b
Examples:
  qsnn-deploy deploy bundles/r1 --target emulator --dataset digits-dvs     # accuracy on the test split
  qsnn-deploy deploy bundles/r1/model.nir --target emulator --input sample.npy --format json
  qsnn-deploy deploy runs/r1/checkpoint.pt --target emulator --dataset digits-dvs --limit 50
MODEL is a bundle folder, a model.nir or a checkpoint.pt (discretised exactly as convert would).
--input takes a .npy of structured events (x, y, t, p; t in µs) or a spike-count raster
(T, C, H, W) / (N, T, C, H, W).""")
@click.argument("model", type=click.Path())
@click.option("--target", default="emulator", show_default=True,
              help="emulator, or a chip (speck2f, speck2e) through the samna driver")
@click.option("--input", "input_file", type=click.Path(), help="event or raster .npy file to run")
@click.option("--dataset", help="dataset to evaluate (default: the one the model was trained on)")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--limit", type=int, help="only the first N samples of the split")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device for the emulator")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@quiet_option
def deploy(model, target, input_file, dataset, split, limit, batch_size, device, fmt, quiet) -> None:
    """Run a converted model on the emulator (or a chip) and report outputs and accuracy."""
    from qsnn_deploy.deploy.emulator import inputs_from_dataset, inputs_from_file, run_emulator
    from qsnn_deploy.deploy.targets import check_target
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.errors import UsageError

    check_target(target)
    if input_file and dataset:
        raise UsageError("give either --input or --dataset, not both")
    net = load_network(model)
    if input_file:
        inputs = inputs_from_file(net, input_file)
    else:
        name = dataset or net.metadata.get("dataset") or "digits-dvs"
        inputs = inputs_from_dataset(net, name, split, limit, progress=not quiet)
    log(f"running {inputs.raster.shape[0]} sample(s) from {inputs.source} on the emulator")
    result = run_emulator(net, inputs, batch_size=batch_size, device=device, progress=not quiet)
    if fmt == "json":
        emit_json(result)
        return
    if "accuracy" in result:
        click.echo(f"emulator accuracy {100 * result['accuracy']:.2f}% on {result['samples']} samples of "
                   f"{result['input']} ({result['silent_samples']} without output spikes)")
    else:
        preds = result["prediction"]
        click.echo(f"prediction: {preds}   output spike counts: {result['output_spike_counts']}")
    click.echo("mean spikes per layer: " + ", ".join(f"{k} {v:.1f}" for k, v in result["layer_spike_counts"].items()))
    click.echo(f"SynOps per sample: {result['synops_per_sample']:.4g}")

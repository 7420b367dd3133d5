"""``qsnn-deploy deploy``."""

from __future__ import annotations

import sys

import click

from .common import emit_json, log, quiet_option

CHIP_ONLY = ("export_config", "dry_run", "compare", "measure_power", "list_devices", "readout", "monitor_all")


@click.command(epilog="""\b
Examples:
  qsnn-deploy deploy bundles/r1 --target emulator --dataset digits-dvs     # accuracy on the test split
  qsnn-deploy deploy bundles/r1/model.nir --target emulator --input sample.npy --format json
  qsnn-deploy deploy runs/r1/checkpoint.pt --target emulator --dataset digits-dvs --limit 50
  qsnn-deploy deploy bundles/r1 --target speck2f --limit 100               # on the first Speck2f board
  qsnn-deploy deploy bundles/r1 --target speck2f --device speck2fdevkit:1 --measure-power
  qsnn-deploy deploy bundles/r1 --target speck2f --compare emulator --limit 20
  qsnn-deploy deploy bundles/r1 --target speck2f --export-config chip.json # no board or driver needed
  qsnn-deploy deploy bundles/r1 --target speck2f --dry-run --limit 20
  qsnn-deploy deploy --target speck2f --list-devices
MODEL is a bundle folder, a model.nir or a checkpoint.pt (discretised exactly as convert would).
--input takes a .npy of structured events (x, y, t, p; t in µs; streamed to a chip with these
timestamps) or a spike-count raster (T, C, H, W) / (N, T, C, H, W).
A chip target needs SynSense's real samna driver (`qsnn-deploy doctor` checks); without it,
--export-config and --dry-run still work and everything else exits 5 at once.""")
@click.argument("model", type=click.Path(), required=False)
@click.option("--target", default="emulator", show_default=True,
              help="emulator, or a chip (speck2f, speck2e) through the samna driver")
@click.option("--input", "input_file", type=click.Path(), help="event or raster .npy file to run")
@click.option("--dataset", help="dataset to evaluate (default: the one the model was trained on)")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--limit", type=int, help="only the first N samples of the split")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default=None,
              help="emulator: torch device (default cpu); chip: the board, e.g. speck2fdevkit:0 or an index "
                   "(default: the first board of the target's kind)")
@click.option("--list-devices", is_flag=True, help="chip: list the boards samna sees and stop")
@click.option("--export-config", type=click.Path(dir_okay=False),
              help="chip: write the chip configuration to FILE (.json description, or .bin samna flash image "
                   "with the real driver) instead of running")
@click.option("--dry-run", is_flag=True, help="chip: every step short of opening the board")
@click.option("--compare", type=click.Choice(["emulator"]),
              help="chip: run the same input on the emulator too and report per-layer differences")
@click.option("--measure-power", is_flag=True, help="chip: read the board's power monitor, rails separately")
@click.option("--readout", is_flag=True,
              help="chip: route the output layer to the readout block (≤15 classes; readout erratum applied)")
@click.option("--monitor-all", is_flag=True, help="chip: send every layer's spikes to the host (default: output)")
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True,
              help="chip: seconds to keep reading after a sample's input ends before calling it a stall")
@click.option("--slow-clk-hz", type=float, help="chip: slow clock (bias/leak and readout); default from the model")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@quiet_option
def deploy(model, target, input_file, dataset, split, limit, batch_size, device, list_devices, export_config,
           dry_run, compare, measure_power, readout, monitor_all, timeout_s, slow_clk_hz, fmt, quiet) -> None:
    """Run a converted model on the emulator or a Speck chip and report outputs and accuracy."""
    from qsnn_deploy.deploy.targets import check_target
    from qsnn_deploy.errors import UsageError

    if input_file and dataset:
        raise UsageError("give either --input or --dataset, not both")
    if model is None and not list_devices:
        raise UsageError("missing the MODEL argument", fix="pass a bundle folder, a model.nir or a checkpoint.pt")
    flags = dict(export_config=export_config, dry_run=dry_run, compare=compare, measure_power=measure_power,
                 list_devices=list_devices, readout=readout, monitor_all=monitor_all)
    if target == "emulator":
        used = [f"--{k.replace('_', '-')}" for k in CHIP_ONLY if flags[k]]
        if used:
            raise UsageError(f"{', '.join(used)} only apply to a chip target", fix="add --target speck2f")
        return _emulator(model, input_file, dataset, split, limit, batch_size, device or "cpu", fmt, quiet)
    if not timeout_s > 0:
        raise UsageError(f"--timeout must be positive, got {timeout_s}")
    if device and (device == "cpu" or device.startswith(("cuda", "mps"))):
        raise UsageError(f"--device {device} is a torch device; for {target} it names a board",
                         fix="e.g. --device speck2fdevkit:0, or leave it out for the first board")
    driver = check_target(target, need_driver=not (export_config or dry_run))
    if list_devices:
        return _list_devices(fmt)
    _chip(model, target, driver, input_file, dataset, split, limit, device, export_config, dry_run, compare,
          measure_power, readout, monitor_all, timeout_s, slow_clk_hz, fmt, quiet)


def _inputs(net, input_file, dataset, split, limit, quiet, events: bool):
    if events:
        from qsnn_deploy.deploy.chip_events import (
            samples_from_dataset,
            samples_from_file,
        )

        if input_file:
            return samples_from_file(net, input_file)
        return samples_from_dataset(net, dataset or net.metadata.get("dataset") or "digits-dvs", split, limit,
                                    progress=not quiet)
    from qsnn_deploy.deploy.emulator import inputs_from_dataset, inputs_from_file

    if input_file:
        return inputs_from_file(net, input_file)
    return inputs_from_dataset(net, dataset or net.metadata.get("dataset") or "digits-dvs", split, limit,
                               progress=not quiet)


def _emulator(model, input_file, dataset, split, limit, batch_size, device, fmt, quiet) -> None:
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.deploy.emulator import run_emulator

    net = load_network(model)
    inputs = _inputs(net, input_file, dataset, split, limit, quiet, events=False)
    log(f"running {inputs.raster.shape[0]} sample(s) from {inputs.source} on the emulator")
    result = run_emulator(net, inputs, batch_size=batch_size, device=device, progress=not quiet)
    if fmt == "json":
        emit_json(result)
        return
    if "accuracy" in result:
        click.echo(f"emulator accuracy {100 * result['accuracy']:.2f}% on {result['samples']} samples of "
                   f"{result['input']} ({result['silent_samples']} without output spikes)")
    else:
        click.echo(f"prediction: {result['prediction']}   output spike counts: {result['output_spike_counts']}")
    click.echo("mean spikes per layer: " + ", ".join(f"{k} {v:.1f}" for k, v in result["layer_spike_counts"].items()))
    click.echo(f"SynOps per sample: {result['synops_per_sample']:.4g}")


def _list_devices(fmt: str) -> None:
    from qsnn_deploy.deploy.samna_backend import list_devices

    found = [d.to_dict() for d in list_devices()]
    if fmt == "json":
        emit_json({"devices": found})
        return
    if not found:
        click.echo("no devices seen (plug the board in; `qsnn-deploy doctor` checks the setup)")
    for d in found:
        kind = f"{d['family']} board" if d["family"] else "not a Speck"
        click.echo(f"{d['id']:<18} {d['type']:<22} usb {d['usb']:<8} {kind}")


def _chip(model, target, driver, input_file, dataset, split, limit, device, export_config, dry_run, compare,
          measure_power, readout, monitor_all, timeout_s, slow_clk_hz, fmt, quiet) -> None:
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.deploy.chip import (
        ChipOptions,
        check_export_path,
        compare_with_emulator,
        public,
        run_on_chip,
    )
    from qsnn_deploy.deploy.chip import dry_run as plan_dry_run
    from qsnn_deploy.deploy.chip import export_config as export
    from qsnn_deploy.deploy.chip_plan import plan_chip

    if export_config:
        check_export_path(export_config, driver)
    net = load_network(model)
    plan = plan_chip(net, target, readout=readout, monitor_all=monitor_all or bool(compare), slow_clk_hz=slow_clk_hz)
    options = ChipOptions(device=device, measure_power=measure_power, timeout_s=timeout_s)
    result: dict = {}
    if export_config:
        result["export"] = export(plan, export_config, driver, None if device is None or device.isdigit()
                                  else device.split(":")[0])
    if dry_run:
        samples = _inputs(net, input_file, dataset, split, limit, quiet, events=True)
        result = {**plan_dry_run(plan, samples, driver, options), **result}
    elif export_config:
        result = {"target": target, "mode": "export", "driver": driver, "core_map": plan.core_map,
                  "notes": list(plan.notes), **result}
    else:
        samples = _inputs(net, input_file, dataset, split, limit, quiet, events=True)
        log(f"streaming {len(samples)} sample(s) from {samples.source} to {target}")
        bar = None
        if not quiet:
            from tqdm import tqdm

            bar = lambda it: tqdm(it, desc="on chip", unit="sample", file=sys.stderr, leave=False)  # noqa: E731
        chip = run_on_chip(plan, samples, options, progress=bar, log=log)
        if compare:
            chip["compare"] = compare_with_emulator(plan, samples, chip)
        result = public(chip)
    if fmt == "json":
        emit_json(result)
        return
    _print_chip(result)


def _print_chip(r: dict) -> None:
    if r["mode"] == "dry-run":
        click.echo(f"dry run for {r['target']} (samna driver: {r['driver']}):")
        for s in r["steps"]:
            click.echo(f"  [{s['status']}] {s['step']}: {s['detail']}")
    if r["mode"] in ("dry-run", "export"):
        for n in r.get("notes", []):
            log(f"note: {n}")
        if "export" in r:
            click.echo(f"wrote {r['export']['kind']}: {r['export']['file']}")
        click.echo("cores: " + ", ".join(f"{k}→{v}" for k, v in r["core_map"].items()))
        return
    if "accuracy" in r:
        click.echo(f"chip accuracy {100 * r['accuracy']:.2f}% on {r['samples']} samples of {r['input']} on "
                   f"{r['device']} ({r['silent_samples']} without output spikes, {r['timed_out_samples']} timed out)")
    else:
        click.echo(f"prediction: {r['prediction']}   output spike counts: {r['output_spike_counts']}   ({r['device']})")
    click.echo("integers on the chip checked against the model; cores: "
               + ", ".join(f"{k}→{v}" for k, v in r["core_map"].items()))
    click.echo("mean spikes per monitored layer: "
               + ", ".join(f"{k} {v:.1f}" for k, v in r["layer_spike_counts"].items()))
    if "readout" in r:
        acc = r["readout"].get("accuracy")
        click.echo("readout block: " + (f"accuracy {100 * acc:.2f}%" if acc is not None
                                       else f"class {r['readout']['prediction']}"))
    p = r.get("power")
    if p and p.get("rails"):
        click.echo("power per rail (active / idle / dynamic, µW): " + "; ".join(
            f"{k} {_uw(v['active_w'])} / {_uw(v['idle_w'])} / {_uw(v['dynamic_w'])}" for k, v in p["rails"].items()))
        if p.get("dynamic_energy_per_sample_j") is not None:
            click.echo(f"dynamic energy per sample {p['dynamic_energy_per_sample_j'] * 1e6:.3g} µJ (all rails)")
    elif p is not None:
        click.echo("power: this board has no power monitor")
    c = r.get("compare")
    if c:
        click.echo(f"chip vs emulator: predictions agree on {100 * c['prediction_agreement']:.1f}% of samples, "
                   f"identical output counts on {100 * c['identical_outputs']:.1f}%")
        for row in c["layers"]:
            if row["monitored"]:
                rel = f" ({100 * row['relative']:+.1f}%)" if row["relative"] is not None else ""
                click.echo(f"  {row['name']:<10} core {row['core']}: chip {row['chip_spikes']:.1f} vs emulator "
                           f"{row['emulator_spikes']:.1f} spikes/sample{rel}")
    for w in r.get("warnings", []):
        log(f"warning: {w}")
    for n in r.get("notes", []):
        log(f"note: {n}")


def _uw(w) -> str:
    return "-" if w is None else f"{w * 1e6:.1f}"

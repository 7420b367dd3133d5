"""``qsnn-deploy deploy``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    sensor_options,
    sensor_stage,
)
from .target_option import resolve_deploy

if TYPE_CHECKING:  # imported inside the functions: --help stays fast
    import numpy as np

    from qsnn_deploy.convert.nir_import import ImportOptions
    from qsnn_deploy.deploy.chip import ChipOptions
    from qsnn_deploy.deploy.chip_plan import ChipPlan
    from qsnn_deploy.emulate.samples import Samples
    from qsnn_deploy.emulate.sensor import SensorStage
    from qsnn_deploy.ir import Network

CHIP_ONLY = ("export_config", "dry_run", "measure_power", "list_devices", "monitor_all")
SENSOR_OPTIONS = ("sensor_pool", "roi", "merge_polarity", "flip_x", "flip_y")
EMULATOR_ONLY = ("save_events", "monitor", "plot", *SENSOR_OPTIONS, "workers")
NOT_LIVE = ("dataset", "limit", "compare", "save_events", "monitor", "plot", "dry_run", "list_devices", "workers")
# options with a default that --live does not use: refused when given (on the emulator also the chip's and torch's)
LIVE_UNUSED = ("split", "batch_size", "data_root")
EMULATOR_LIVE_UNUSED = ("mode", "device", "timeout_s")
DEFAULT_WINDOW_S = 0.5


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy deploy bundles/r1 --target emulator --dataset digits-dvs     # accuracy on the test split
  qsnn-deploy deploy bundles/r1/model.nir --target emulator --input sample.npy --format json
  qsnn-deploy deploy runs/r1/checkpoint.pt --target emulator --dataset digits-dvs --limit 50
  qsnn-deploy deploy bundles/r1 --mode event --dataset digits-dvs          # the chip's event semantics
  qsnn-deploy deploy bundles/r1 --compare --limit 100 --plot cmp.png       # float vs binned vs event
  qsnn-deploy deploy bundles/r1 --mode event --input ev.npy --monitor all --save-events spikes.npy
  qsnn-deploy deploy bundles/r1 --target speck2f --limit 100               # on the first Speck2f board
  qsnn-deploy deploy bundles/r1 --target speck2f --device speck2fdevkit:1 --measure-power
  qsnn-deploy deploy bundles/r1 --target speck2f --compare emulator --limit 20
  qsnn-deploy deploy bundles/r1 --target speck2f --export-config chip.json # no board or driver needed
  qsnn-deploy deploy bundles/r1 --target speck2f --dry-run --limit 20
  qsnn-deploy deploy --target speck2f --list-devices
  qsnn-deploy deploy bundles/r1 --target speck2f --live                    # the chip's own sensor, live
  qsnn-deploy deploy bundles/r1 --live --input rec.npy --duration 2        # the same view, no chip
MODEL is a bundle folder, a model.nir or a checkpoint.pt (discretised exactly as convert would).
--input takes a .npy of structured events (x, y, t, p; t in µs; streamed to a chip with these
timestamps) or a spike-count raster (T, C, H, W) / (N, T, C, H, W).
A chip target needs SynSense's real samna driver (`qsnn-deploy doctor` checks); without it,
--export-config and --dry-run still work and everything else exits 5 at once.
--live shows a prediction every half window over the last --window seconds (one JSON line
each with --format json) and a summary at the end; Ctrl-C stops it. On a chip the sensor's
stage (pooling, region, flips, polarity merge) follows the model's training data unless the
sensor options say otherwise; on the emulator --input is replayed in event mode at its pace."""
)
@click.argument("model", type=click.Path(), required=False)
@click.option(
    "--target",
    default="emulator",
    show_default=True,
    callback=resolve_deploy,
    help="emulator, or a chip through the samna driver: speck2f, speck2e, the family speck (speck2f) or "
    "samna's board names (speck2fdevkit, speck2fmodule, speck2edevkit)",
)
@click.option("--input", "input_file", type=click.Path(), help="event or raster .npy file to run")
@click.option(
    "--dataset",
    help="dataset to evaluate (default: the one the model was trained on); real data is cut "
    "to the training window and pooled to the model's input",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="where tonic datasets are [$QSNN_DEPLOY_DATA or the user cache]",
)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--limit", type=int, help="only N samples of the split, the first of each class in turn")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="emulator: threads that run samples side by side (results do not depend on it) [every core]",
)
@click.option(
    "--device",
    default=None,
    help="emulator: torch device (default cpu); chip: the board, e.g. speck2fdevkit:0 or an index "
    "(default: the first board of the target's kind)",
)
@click.option("--list-devices", is_flag=True, help="chip: list the boards samna sees and stop")
@click.option(
    "--export-config",
    type=click.Path(dir_okay=False),
    help="chip: write the chip configuration to FILE (.json description, or .bin samna flash image "
    "with the real driver) instead of running",
)
@click.option("--dry-run", is_flag=True, help="chip: every step short of opening the board")
@click.option(
    "--mode",
    type=click.Choice(["binned", "event"]),
    default="binned",
    show_default=True,
    help="emulator: time-binned (equals sinabs' discretised forward) or event-exact (the chip's "
    "asynchronous, one-spike-per-update semantics)",
)
@click.option(
    "--compare",
    type=click.Choice(["auto", "emulator", "modes"]),
    is_flag=False,
    flag_value="auto",
    help="emulator: run float, binned and event mode on the same input and show where they part "
    "(`--compare` alone); chip: run the emulator too and report per-layer differences",
)
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="emulator --compare: write a PNG")
@click.option(
    "--save-events",
    type=click.Path(dir_okay=False),
    help="emulator, event mode: save the monitored layers' spikes (x, y, t, p, layer, sample) to a .npy",
)
@click.option("--monitor", multiple=True, help="emulator, event mode: layer name to record (repeat; 'all')")
@click.option(
    "--live",
    is_flag=True,
    help="chip: the chip's own sensor feeds the network, predictions shown as they come; emulator: replay "
    "--input through event mode at its real pace, with the same display",
)
@click.option(
    "--duration",
    "duration_s",
    type=float,
    help="--live: stop after S seconds [chip: at Ctrl-C; emulator: at the recording's end]",
)
@click.option(
    "--window",
    "window_s",
    type=float,
    help=f"--live: predict over the last S seconds, a new window every S/2 [the model's sample length, else "
    f"{DEFAULT_WINDOW_S:g}]",
)
@sensor_options("emulator or --live: ")
@click.option("--measure-power", is_flag=True, help="chip: read the board's power monitor, rails separately")
@click.option(
    "--readout/--no-readout",
    default=None,
    help="route the output layer to the readout block (≤15 classes): chip (erratum applied) or "
    "emulator event mode (moving average on the slow clock) [off; chip --live: on when the model allows]",
)
@click.option("--monitor-all", is_flag=True, help="chip: send every layer's spikes to the host (default: output)")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=5.0,
    show_default=True,
    help="chip: seconds to keep reading after a sample's input ends before calling it a stall",
)
@click.option(
    "--slow-clk-hz",
    type=float,
    help="chip or event mode: slow clock (bias/leak and readout); default one tick per time bin",
)
@format_option("text", "json")
@overwrite_option("--export-config or --save-events file")
@nir_import_options
@progress_option
def deploy(
    model: str | None,
    target: str,
    input_file: str | None,
    dataset: str | None,
    data_root: str | None,
    split: str,
    limit: int | None,
    batch_size: int,
    workers: int | None,
    device: str | None,
    list_devices: bool,
    export_config: str | None,
    dry_run: bool,
    mode: str,
    compare: str | None,
    plot_file: str | None,
    save_events: str | None,
    monitor: tuple[str, ...],
    live: bool,
    duration_s: float | None,
    window_s: float | None,
    sensor_pool: str | None,
    roi: str | None,
    merge_polarity: bool,
    flip_x: bool,
    flip_y: bool,
    measure_power: bool,
    readout: bool | None,
    monitor_all: bool,
    timeout_s: float,
    slow_clk_hz: float | None,
    fmt: str,
    overwrite: bool,
    input_shape: tuple[int, ...] | None,
    approximate_leak: bool,
    reset: str | None,
    dt_us: float | None,
    progress: Mode,
) -> None:
    """Run a converted model on the emulator or a Speck chip and report outputs and accuracy."""
    from qsnn_deploy.deploy.targets import check_target
    from qsnn_deploy.errors import UsageError

    if input_file and dataset:
        raise UsageError("give either --input or --dataset, not both")
    options = import_options(input_shape, approximate_leak, reset, dt_us)
    if model is None and not list_devices:
        raise UsageError("missing the MODEL argument", fix="pass a bundle folder, a model.nir or a checkpoint.pt")
    flags = dict(
        export_config=export_config,
        dry_run=dry_run,
        measure_power=measure_power,
        list_devices=list_devices,
        monitor_all=monitor_all,
        save_events=save_events,
        monitor=monitor,
        plot=plot_file,
        sensor_pool=sensor_pool,
        roi=roi,
        merge_polarity=merge_polarity,
        flip_x=flip_x,
        flip_y=flip_y,
        workers=workers,
    )
    given = {**flags, "dataset": dataset, "compare": compare, "limit": limit}
    _check_live(live, duration_s, window_s, given, target, input_file, _given_options())
    sensor = sensor_stage(sensor_pool, roi, merge_polarity, flip_x, flip_y)
    if target == "emulator":
        used = [f"--{k.replace('_', '-')}" for k in CHIP_ONLY if flags[k]]
        if used:
            raise UsageError(f"{', '.join(used)} only apply to a chip target", fix="add --target speck2f")
    if live and target == "emulator":
        assert model is not None and input_file is not None  # both checked above
        if readout:
            raise UsageError(
                "the emulator's live view predicts from the output spike counts", fix="leave out --readout"
            )
        return _live_emulator(model, input_file, sensor, duration_s, window_s, slow_clk_hz, fmt, options)
    if target == "emulator":
        if compare == "emulator":
            raise UsageError("--compare emulator compares a chip with the emulator", fix="use --compare (modes)")
        assert model is not None  # MODEL may be left out only with --list-devices, refused above
        return _emulator(
            model,
            input_file,
            dataset,
            split,
            limit,
            batch_size,
            device or "cpu",
            fmt,
            progress,
            options,
            mode=mode,
            compare=bool(compare),
            plot_file=plot_file,
            save_events=save_events,
            monitor=tuple(monitor),
            readout=bool(readout),
            slow_clk_hz=slow_clk_hz,
            sensor=sensor,
            data_root=data_root,
            overwrite=overwrite,
            workers=workers,
        )
    used = [f"--{k.replace('_', '-')}" for k in EMULATOR_ONLY if flags[k] and not (live and k in SENSOR_OPTIONS)]
    if used or mode != "binned" or compare == "modes":
        raise UsageError(f"{', '.join(used) or '--mode/--compare modes'} only apply to --target emulator")
    compare = "emulator" if compare else None
    if not timeout_s > 0:
        raise UsageError(f"--timeout must be positive, got {timeout_s}")
    if device and (device == "cpu" or device.startswith(("cuda", "mps"))):
        raise UsageError(
            f"--device {device} is a torch device; for {target} it names a board",
            fix="e.g. --device speck2fdevkit:0, or leave it out for the first board",
        )
    live_instead = (
        "replay a recording with the same display here: --target emulator --live --input REC.npy; or write the "
        "chip configuration (with the sensor's stage) for later with --export-config FILE"
    )
    driver = check_target(
        target, not (export_config or dry_run), "run live on" if live else "deploy to", live_instead if live else None
    )
    if list_devices:
        return _list_devices(fmt)
    assert model is not None  # MODEL may be left out only with --list-devices
    _chip(
        model,
        target,
        driver,
        input_file,
        dataset,
        split,
        limit,
        device,
        export_config,
        dry_run,
        compare,
        measure_power,
        readout,
        monitor_all,
        timeout_s,
        slow_clk_hz,
        fmt,
        progress,
        options,
        data_root,
        overwrite,
        live=live,
        sensor=sensor,
        duration_s=duration_s,
        window_s=window_s,
    )


def _given_options() -> dict[str, str]:
    """The options of this command given on the command line (or by the environment): name → flag."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    unset = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)
    return {p.name: p.opts[0] for p in ctx.command.params if p.name and ctx.get_parameter_source(p.name) not in unset}


def _check_live(
    live: bool,
    duration_s: float | None,
    window_s: float | None,
    given: dict[str, Any],
    target: str,
    input_file: str | None,
    explicit: dict[str, str],
) -> None:
    """``--duration`` and ``--window`` only with ``--live``; with it, no option that runs samples or that the live
    view does not use (``explicit``: the options given, name → flag) (exit 2)."""
    from qsnn_deploy.deploy.live import check_windows
    from qsnn_deploy.errors import UsageError

    if not live:
        if duration_s is not None or window_s is not None:
            raise UsageError("--duration and --window apply to --live", fix="add --live")
        return
    window = DEFAULT_WINDOW_S if window_s is None else window_s
    check_windows(window, window / 2, duration_s)
    unused = LIVE_UNUSED + (EMULATOR_LIVE_UNUSED if target == "emulator" else ())
    used = [f"--{k.replace('_', '-')}" for k in NOT_LIVE if given.get(k)]
    used += [explicit[k] for k in unused if k in explicit]
    if used:
        raise UsageError(f"{', '.join(used)} do not go with --live", fix="leave them out, or drop --live")
    if target == "emulator" and not input_file:
        raise UsageError(
            "--live on the emulator replays a recording", fix="add --input REC.npy (events x, y, t, p; t in µs)"
        )
    if target != "emulator" and input_file:
        raise UsageError(
            "--live on a chip takes its input from the chip's own sensor",
            fix="leave out --input, or drop --live to stream the file",
        )


def _window(net: Network, window_s: float | None) -> float:
    """--window, else the model's sample length (its training window), else DEFAULT_WINDOW_S."""
    if window_s is not None:
        return window_s
    duration = net.metadata.get("duration_us")
    return float(duration) / 1e6 if isinstance(duration, (int, float)) and duration > 0 else DEFAULT_WINDOW_S


def _live_emulator(
    model: str,
    input_file: str,
    sensor: SensorStage | None,
    duration_s: float | None,
    window_s: float | None,
    slow_clk_hz: float | None,
    fmt: str,
    options: ImportOptions | None,
) -> None:
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.deploy.live import LiveTally, RecordingReplay, class_names, live_windows, replay_events
    from qsnn_deploy.errors import UsageError

    from .live_view import WindowPrinter, show_summary

    if slow_clk_hz is not None and not slow_clk_hz > 0:
        raise UsageError(f"--slow-clk-hz must be positive, got {slow_clk_hz}")
    net = load_network(model, options)
    events, notes = replay_events(net, input_file, sensor)
    for n in notes:
        log(f"note: {n}")
    window = _window(net, window_s)
    replay = RecordingReplay(net, events, duration_s, window / 2, None if slow_clk_hz is None else 1e6 / slow_clk_hz)
    log(
        f"replaying {replay.end_s:.2f} s of {input_file} through the emulator (event mode) at its pace; "
        f"a {window:g} s window every {window / 2:g} s; Ctrl-C stops"
    )
    tally = LiveTally(class_names(net), layer_spikes=replay.layer_spikes)
    tally.stopped = "end of recording" if replay.runs_out else "duration"
    show = WindowPrinter(fmt)
    try:
        for w in live_windows((tally.step(x) for x in replay.steps()), window, window / 2, tally.names):
            show(tally.window(w))
    except KeyboardInterrupt:
        tally.stopped = "interrupted"
    show.close()
    tally.extra["input"] = input_file
    show_summary(tally, fmt)


def _dataset(net: Network, dataset: str | None) -> str:
    """--dataset, else the dataset the model was trained on, else digits-dvs."""
    return dataset or net.metadata.get("dataset") or "digits-dvs"


def _inputs(
    net: Network,
    input_file: str | None,
    dataset: str | None,
    split: str,
    limit: int | None,
    progress: Mode,
    data_root: str | None = None,
) -> Samples:
    """The samples streamed to a chip: an event or raster file, or a dataset split (with their events)."""
    from qsnn_deploy.deploy.chip_events import samples_from_dataset, samples_from_file

    if input_file:
        return samples_from_file(net, input_file)
    return samples_from_dataset(net, _dataset(net, dataset), split, limit, progress=progress, data_root=data_root)


def _emulator(
    model: str,
    input_file: str | None,
    dataset: str | None,
    split: str,
    limit: int | None,
    batch_size: int,
    device: str,
    fmt: str,
    progress: Mode,
    options: ImportOptions | None = None,
    mode: str = "binned",
    compare: bool = False,
    plot_file: str | None = None,
    save_events: str | None = None,
    monitor: tuple[str, ...] = (),
    readout: bool = False,
    slow_clk_hz: float | None = None,
    sensor: SensorStage | None = None,
    data_root: str | None = None,
    overwrite: bool = False,
    workers: int | None = None,
) -> None:
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.deploy.emulator import inputs_from_dataset, inputs_from_file, readout_report, run_emulator
    from qsnn_deploy.errors import UsageError
    from qsnn_deploy.outputs import check_file_writable

    if (save_events or monitor or readout) and mode != "event":
        raise UsageError("--save-events, --monitor and --readout need --mode event")
    if plot_file and not compare:
        raise UsageError("--plot draws the --compare result", fix="add --compare")
    if slow_clk_hz is not None and not slow_clk_hz > 0:
        raise UsageError(f"--slow-clk-hz must be positive, got {slow_clk_hz}")
    if save_events:
        check_file_writable(save_events, overwrite)
    net = load_network(model, options)
    if input_file:
        inputs = inputs_from_file(net, input_file, sensor=sensor)
    else:
        inputs = inputs_from_dataset(
            net, _dataset(net, dataset), split, limit, progress=progress, sensor=sensor, data_root=data_root
        )
    slow_us = None if slow_clk_hz is None else 1e6 / slow_clk_hz
    if compare:
        return _compare(net, inputs, slow_us, plot_file, fmt, progress, workers)
    monitor = tuple(monitor) + ((net.layers[-1].name,) if readout or (save_events and not monitor) else ())
    log(f"running {inputs.raster.shape[0]} sample(s) from {inputs.source} on the emulator ({mode} mode)")
    result = run_emulator(
        net,
        inputs,
        batch_size=batch_size,
        device=device,
        progress=progress,
        mode=mode,
        slow_clock_us=slow_us,
        monitor=monitor,
        workers=workers,
    )
    monitored = result.pop("_monitored", None)
    if readout:
        result["readout"] = readout_report(net, inputs, monitored, slow_us)
    if save_events:
        _save_events(save_events, monitored)
        result["saved_events"] = save_events
    if fmt == "json":
        emit_json(result)
        return
    if "accuracy" in result:
        click.echo(
            f"emulator ({mode}) accuracy {100 * result['accuracy']:.2f}% on {result['samples']} samples of "
            f"{result['input']} ({result['silent_samples']} without output spikes)"
        )
    else:
        click.echo(f"prediction: {result['prediction']}   output spike counts: {result['output_spike_counts']}")
    click.echo("mean spikes per layer: " + ", ".join(f"{k} {v:.1f}" for k, v in result["layer_spike_counts"].items()))
    click.echo(f"SynOps per sample: {result['synops_per_sample']:.4g}")
    if readout:
        click.echo(f"readout block: {result['readout']}")
    if save_events:
        click.echo(f"monitored spikes saved to {save_events}")


def _save_events(path: str, monitored: np.ndarray | None) -> None:
    import numpy as np

    from qsnn_deploy.emulate.event import MONITOR_DTYPE
    from qsnn_deploy.outputs import atomic_path

    data = monitored if monitored is not None else np.zeros(0, MONITOR_DTYPE.descr + [("sample", "<i4")])
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save adds no ".npy" to the name
        np.save(f, data)


def _compare(
    net: Network,
    inputs: Samples,
    slow_us: float | None,
    plot_file: str | None,
    fmt: str,
    progress: Mode,
    workers: int | None = None,
) -> None:
    from qsnn_deploy.emulate.compare import compare_modes, plot_comparison

    log(f"comparing float, binned and event mode on {inputs.raster.shape[0]} sample(s) from {inputs.source}")
    cmp = compare_modes(net, inputs, slow_clock_us=slow_us, progress=progress, workers=workers)
    doc = {
        "target": "emulator",
        "mode": "compare",
        "input": inputs.source,
        "samples": int(inputs.raster.shape[0]),
        **cmp.to_dict(inputs.labels),
    }
    if plot_file:
        plot_comparison(cmp, plot_file)
        doc["plot"] = plot_file
    if fmt == "json":
        emit_json(doc)
        return
    click.echo(f"{'layer':<10}" + "".join(f"{m:>12}" for m in doc["modes"]))
    for i, name in enumerate(doc["layers"]):
        click.echo(f"{name:<10}" + "".join(f"{doc['mean_layer_spikes'][m][i]:>12.1f}" for m in doc["modes"]))
    click.echo("(mean spikes per sample)")
    for pair, layer in doc["first_divergent_layer"].items():
        agree = doc["prediction_agreement"][pair]
        click.echo(f"{pair:<14} first differing layer: {layer or 'none'}; same prediction on {100 * agree:.1f}%")
    if "accuracy" in doc:
        click.echo("accuracy: " + ", ".join(f"{m} {100 * a:.2f}%" for m, a in doc["accuracy"].items()))
    if plot_file:
        click.echo(f"plot written to {plot_file}")


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


def _chip(
    model: str,
    target: str,
    driver: str,
    input_file: str | None,
    dataset: str | None,
    split: str,
    limit: int | None,
    device: str | None,
    export_config: str | None,
    dry_run: bool,
    compare: str | None,
    measure_power: bool,
    readout: bool | None,
    monitor_all: bool,
    timeout_s: float,
    slow_clk_hz: float | None,
    fmt: str,
    progress: Mode,
    options: ImportOptions | None = None,
    data_root: str | None = None,
    overwrite: bool = False,
    live: bool = False,
    sensor: SensorStage | None = None,
    duration_s: float | None = None,
    window_s: float | None = None,
) -> None:
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
    from qsnn_deploy.outputs import check_file_writable

    if export_config:
        check_export_path(export_config, driver)
        check_file_writable(export_config, overwrite)
    net = load_network(model, options)
    plan = plan_chip(
        net,
        target,
        readout=(None if live else False) if readout is None else readout,
        monitor_all=monitor_all or bool(compare),
        slow_clk_hz=slow_clk_hz,
        live=live,
        sensor_options=sensor,
    )
    chip_options = ChipOptions(device=device, measure_power=measure_power, timeout_s=timeout_s)
    if live and not export_config:
        return _live_chip(plan, chip_options, duration_s, _window(net, window_s), fmt)
    result: dict[str, Any] = {}
    if export_config:
        result["export"] = export(
            plan, export_config, driver, None if device is None or device.isdigit() else device.split(":")[0]
        )
    if dry_run:
        samples = _inputs(net, input_file, dataset, split, limit, progress, data_root)
        result = {**plan_dry_run(plan, samples, driver, chip_options), **result}
    elif export_config:
        result = {
            "target": target,
            "mode": "export",
            "driver": driver,
            "core_map": plan.core_map,
            "notes": list(plan.notes),
            **result,
        }
    else:
        samples = _inputs(net, input_file, dataset, split, limit, progress, data_root)
        log(f"streaming {len(samples)} sample(s) from {samples.source} to {target}")
        chip = run_on_chip(plan, samples, chip_options, progress=progress, log=log)
        if compare:
            chip["compare"] = compare_with_emulator(plan, samples, chip)
        result = public(chip)
    if fmt == "json":
        emit_json(result)
        return
    _print_chip(result)


def _live_chip(plan: ChipPlan, options: ChipOptions, duration_s: float | None, window_s: float, fmt: str) -> None:
    from qsnn_deploy.deploy.chip_live import run_live_chip

    from .live_view import WindowPrinter, show_summary

    for n in plan.notes:
        log(f"note: {n}")
    show = WindowPrinter(fmt)
    tally = run_live_chip(plan, options, duration_s, window_s, window_s / 2, show, log=log)
    show.close()
    tally.extra.pop("notes", None)  # said above
    show_summary(tally, fmt)


def _print_chip(r: dict[str, Any]) -> None:
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
        click.echo(
            f"chip accuracy {100 * r['accuracy']:.2f}% on {r['samples']} samples of {r['input']} on "
            f"{r['device']} ({r['silent_samples']} without output spikes, {r['timed_out_samples']} timed out)"
        )
    else:
        click.echo(f"prediction: {r['prediction']}   output spike counts: {r['output_spike_counts']}   ({r['device']})")
    click.echo(
        "integers on the chip checked against the model; cores: "
        + ", ".join(f"{k}→{v}" for k, v in r["core_map"].items())
    )
    click.echo(
        "mean spikes per monitored layer: " + ", ".join(f"{k} {v:.1f}" for k, v in r["layer_spike_counts"].items())
    )
    if "readout" in r:
        acc = r["readout"].get("accuracy")
        click.echo(
            "readout block: "
            + (f"accuracy {100 * acc:.2f}%" if acc is not None else f"class {r['readout']['prediction']}")
        )
    p = r.get("power")
    if p and p.get("rails"):
        click.echo(
            "power per rail (active / idle / dynamic, µW): "
            + "; ".join(
                f"{k} {_uw(v['active_w'])} / {_uw(v['idle_w'])} / {_uw(v['dynamic_w'])}" for k, v in p["rails"].items()
            )
        )
        if p.get("dynamic_energy_per_sample_j") is not None:
            click.echo(f"dynamic energy per sample {p['dynamic_energy_per_sample_j'] * 1e6:.3g} µJ (all rails)")
    elif p is not None:
        click.echo("power: this board has no power monitor")
    c = r.get("compare")
    if c:
        click.echo(
            f"chip vs emulator: predictions agree on {100 * c['prediction_agreement']:.1f}% of samples, "
            f"identical output counts on {100 * c['identical_outputs']:.1f}%"
        )
        for row in c["layers"]:
            if row["monitored"]:
                rel = f" ({100 * row['relative']:+.1f}%)" if row["relative"] is not None else ""
                click.echo(
                    f"  {row['name']:<10} core {row['core']}: chip {row['chip_spikes']:.1f} vs emulator "
                    f"{row['emulator_spikes']:.1f} spikes/sample{rel}"
                )
    for w in r.get("warnings", []):
        log(f"warning: {w}")
    for n in r.get("notes", []):
        log(f"note: {n}")


def _uw(w: float | None) -> str:
    return "-" if w is None else f"{w * 1e6:.1f}"

"""``qsnn-deploy record``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import format_option, log, sensor_options, sensor_stage
from .target_option import resolve_deploy

if TYPE_CHECKING:  # imported inside the command: --help stays fast
    from qsnn_deploy.deploy.samna_backend import SensorSession


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy record --target speck2f --out data/gestures --label wave --count 10
  qsnn-deploy record --target speck2f --out data/gestures --label clap --duration 3 --sensor-pool 4
  qsnn-deploy train --dataset folder:data/gestures --out runs/gestures
Each take counts down, then records the chip's sensor for --duration seconds (the event rate shown
as it goes) into OUT/LABEL/NNN.npy (x, y, t, p; t in µs from the take's start), the layout that
--dataset folder:OUT reads. A take stopped with Ctrl-C is not written (exit 130); the takes before
it are kept. OUT/recording.json records the sensor and the stage, so every take of a folder is made
alike. Needs SynSense's real samna driver (`qsnn-deploy doctor`); without it this exits 5 at once."""
)
@click.option(
    "--target",
    default="speck2f",
    show_default=True,
    callback=resolve_deploy,
    help="a chip with its own sensor: speck2f, speck2e, or a samna board name",
)
@click.option("--out", "out", type=click.Path(), required=True, help="the dataset folder (created when missing)")
@click.option("--label", required=True, help="the class of these takes: the sub-folder they go to")
@click.option("--duration", "duration_s", type=float, default=2.0, show_default=True, help="seconds per take")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="takes to record")
@click.option(
    "--countdown", "countdown_s", type=float, default=3.0, show_default=True, help="seconds of countdown per take"
)
@click.option("--device", default=None, help="the board, e.g. speck2fdevkit:0 [the first of the target's kind]")
@sensor_options()
@format_option("text", "json")
def record(
    target: str,
    out: str,
    label: str,
    duration_s: float,
    count: int,
    countdown_s: float,
    device: str | None,
    sensor_pool: str | None,
    roi: str | None,
    merge_polarity: bool,
    flip_x: bool,
    flip_y: bool,
    fmt: str,
) -> None:
    """Record your own data from a chip's sensor into a folder dataset."""
    from pathlib import Path

    from qsnn_deploy.deploy.targets import check_target
    from qsnn_deploy.errors import InputError, UsageError

    if target == "emulator":
        raise UsageError("record needs a chip with its own sensor", fix="use --target speck2f")
    if not duration_s > 0 or not countdown_s >= 0:
        raise UsageError(f"--duration must be positive and --countdown not negative, got {duration_s}, {countdown_s}")
    check_target(  # exit 5 at once without the real driver, before anything is written
        target,
        True,
        "record from",
        "train on recordings you have (--dataset folder:DIR) and watch their predictions with "
        "`qsnn-deploy deploy MODEL --target emulator --live --input REC.npy`",
    )
    from qsnn_deploy.deploy.recording import RecordingInterrupted, check_folder, check_label, record_takes
    from qsnn_deploy.deploy.samna_backend import SensorSession, choose_device, list_devices
    from qsnn_deploy.hw import load_profile

    from .live_view import recording_status, show_recording

    stage = sensor_stage(sensor_pool, roi, merge_polarity, flip_x, flip_y)
    size = load_profile(target).sensor_size
    if size is None:
        raise UsageError(f"the {target} profile names no on-chip sensor", fix="use --target speck2f")
    if stage is not None:
        try:
            stage.output_size(size)
        except InputError as exc:  # a region outside the pooled sensor: before the board opens
            raise UsageError(exc.what, fix="choose a region inside the pooled sensor") from None
    check_label(label)
    check_folder(Path(out), size, stage)
    board = choose_device(list_devices(), target, device)
    log(f"recording {count} take(s) of {duration_s:g} s from {board.id} into {out}/{label}")
    try:
        with SensorSession(board, size) as session:
            summary = record_takes(
                session, out, label, count, duration_s, countdown_s, size, stage, board.id,
                lambda s: recording_status(s, fmt),
            )  # fmt: skip
    except RecordingInterrupted as exc:
        _closing_warnings(session)
        show_recording(exc.summary, fmt)
        raise click.exceptions.Exit(130) from None
    _closing_warnings(session)
    show_recording(summary, fmt)


def _closing_warnings(session: SensorSession) -> None:
    for w in session.warnings:
        log(f"warning: {w}")

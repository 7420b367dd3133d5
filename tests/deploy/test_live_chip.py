"""``deploy --live`` and ``record`` at the driver boundary: the DVS layer's configuration, a scripted sensor's
events through to the display and to the recording files, Ctrl-C mid-stream.

Each test runs against the samna stand-in (its sensor scripted with ``model.sensor``) and, marked ``hardware``,
against a real Speck2f board, where the stand-in's recorded traffic is not asserted and the sensor sees
whatever is in front of it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import FakeClock

from qsnn_deploy.cli.main import cli
from qsnn_deploy.data.origin import RECORDING_FILE, origin_record
from qsnn_deploy.deploy.chip import ChipOptions
from qsnn_deploy.deploy.chip_live import run_live_chip
from qsnn_deploy.deploy.chip_plan import chip_description, plan_chip
from qsnn_deploy.deploy.recording import RecordingInterrupted, record_takes
from qsnn_deploy.deploy.samna_backend import SensorSession, build_config, choose_device, list_devices, verify_config
from qsnn_deploy.deploy.sensor_input import dvs_layer_fields
from qsnn_deploy.emulate.sensor import SensorStage
from qsnn_deploy.ir import ChipLayer, Network
from qsnn_deploy.quant.chip import discretize_network

SPECK = (128, 128, 2)
FAST = ChipOptions(timeout_s=1.0, quiet_s=0.02, idle_s=0.05)


def live_net(**metadata) -> Network:
    """conv(2→4, k3, s2) on 2×32×32 → linear(4·15·15 → 3), trained (says its metadata) on 128×128 pooled by 4."""
    rng = np.random.default_rng(0)
    l1 = ChipLayer("c1", rng.normal(0, 0.5, (4, 2, 3, 3)), (2, 32, 32), stride=2)
    l2 = ChipLayer("fc", rng.normal(0, 0.3, (3, 4, 15, 15)), l1.output_shape, kind="linear")
    meta = {"input_stage": origin_record(SPECK, (4, 4)), "classes": ["left", "right", "still"], **metadata}
    return discretize_network(Network((l1, l2), (2, 32, 32), dt_us=1000.0, metadata=meta))


def dvs_batch(chip, n: int, x0: int, t0: int, seed: int = 0) -> list:
    """``n`` DvsEvents of the stand-in's speck2f, at columns x0..x0+9, timestamps t0, t0+10, ..."""
    rng = np.random.default_rng(seed)
    Dvs = chip.samna.speck2f.event.DvsEvent
    out = []
    for i in range(n):
        ev = Dvs()
        ev.x, ev.y, ev.p, ev.timestamp = (
            int(x0 + rng.integers(0, 10)),
            int(rng.integers(0, 128)),
            bool(i % 2),
            t0 + 10 * i,
        )
        out.append(ev)
    return out


def network_on_the_sensor(chip, plan):
    """A responder standing in for the network on the chip: each sensor event on the left half makes class 0
    fire, on the right half class 1 (the output layer's core; channel = class, or 4 x class with the readout
    erratum). With the readout block on, the chip sends one ReadoutValue word per batch instead (valid bit 20,
    readout channel = class + 1 in bits 19:16, for the class most events were of) and no spikes."""
    Spike, Readout, core = chip.samna.speck2f.event.Spike, chip.samna.speck2f.event.ReadoutValue, plan.cores[-1]

    def respond(device, events):
        sensed = [e for e in events if type(e).__name__ == "DvsEvent"]
        if not sensed:
            return []
        if device.model.configuration.readout.enable:
            word = Readout()
            word.value = (1 << 20) | ((int(2 * sum(e.x >= 64 for e in sensed) > len(sensed)) + 1) << 16)
            return [word]
        out = []
        for e in sensed:
            s = Spike()
            cls = int(e.x >= 64)
            s.layer, s.x, s.y, s.feature, s.timestamp = core, 0, 0, 4 * cls if plan.readout else cls, e.timestamp
            out.append(s)
        return out

    return respond


def test_the_dvs_layer_is_configured_from_the_model_metadata(chip, tmp_path):
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.convert.nir_io import write_nir

    net = load_network(write_nir(live_net(), tmp_path / "m.nir"))  # the record travels in the NIR file
    plan = plan_chip(net, "speck2f", live=True)
    assert plan.sensor == SensorStage(pool=4) and plan.sensor_size == SPECK
    want = dvs_layer_fields(SensorStage(pool=4), SPECK, plan.input_core)
    assert chip_description(plan)["dvs_layer"] == want
    _, config = build_config(plan)
    dvs = config.dvs_layer
    assert (dvs.pooling.x, dvs.pooling.y, dvs.origin.x, dvs.origin.y, dvs.cut.x, dvs.cut.y) == (4, 4, 0, 0, 31, 31)
    assert (dvs.mirror.x, dvs.mirror.y, dvs.mirror_diagonal, dvs.merge) == (False, False, False, False)
    assert dvs.pass_sensor_events is True and dvs.monitor_enable is False
    assert [(d.layer, d.enable) for d in dvs.destinations] == [(plan.input_core, True), (0, False)]
    # without --live the sensor stays off, as before
    assert build_config(plan_chip(net, "speck2f"))[1].dvs_layer.pass_sensor_events is False
    config.dvs_layer.pooling = {"x": 2, "y": 2}  # a configuration that differs from the plan is caught
    config.dvs_layer.destinations[0].enable = False
    assert verify_config(config, plan) == [
        "the DVS layer's pooling is {'x': 2, 'y': 2}, the plan has {'x': 4, 'y': 4}",
        f"the DVS layer's destinations is [], the plan has [{{'layer': {plan.input_core}, 'enable': True}}]",
    ]
    flipped = plan_chip(net, "speck2f", live=True, sensor_options=SensorStage(pool=2, roi=(16, 8, 32, 32), flip_y=True))
    dvs = build_config(flipped)[1].dvs_layer
    assert (dvs.pooling.x, dvs.origin.x, dvs.origin.y, dvs.cut.x, dvs.cut.y, dvs.mirror.y) == (2, 16, 8, 47, 39, True)


def _scripted_open(chip, batches):
    """Make the next opened stand-in board's sensor play ``batches`` (returns the undo)."""
    orig = chip.samna.device.open_device

    def opened(info):
        handle = orig(info)
        chip.state.device.model.sensor(batches)
        return handle

    chip.samna.device.open_device = opened
    return lambda: setattr(chip.samna.device, "open_device", orig)


def test_sensor_events_reach_the_display_and_ctrl_c_closes_the_board(chip):
    plan = plan_chip(live_net(), "speck2f", live=True)
    windows: list = []
    if not chip.standin:  # a real board: whatever the sensor sees for half a second
        tally = run_live_chip(plan, FAST, 0.5, 0.2, 0.1, windows.append, log=lambda m: None)
        assert tally.stopped == "duration" and tally.windows == len(windows) >= 4
        return
    board = chip.state
    board.responder = network_on_the_sensor(chip, plan)
    # reads at t = 0.045, 0.09, ..., 0.225 (off the window edges 0.1, 0.2); Ctrl-C on the sixth
    batches = [
        dvs_batch(chip, 4, 0, 0),
        dvs_batch(chip, 6, 100, 50),
        dvs_batch(chip, 2, 100, 90),
        [],
        [],
        KeyboardInterrupt(),
    ]
    undo = _scripted_open(chip, batches)
    try:
        tally = run_live_chip(plan, FAST, None, 0.2, 0.1, windows.append, log=lambda m: None, clock=FakeClock(0.045))
    finally:
        undo()
    assert tally.names == ["left", "right", "still"]
    assert board.device.closed and tally.stopped == "interrupted"
    assert [(round(w.t_s, 6), w.counts, w.prediction, w.label) for w in windows] == [
        (0.1, [4, 6, 0], 1, "right"),  # batches 1 and 2 (t 0.045, 0.09)
        (0.2, [4, 8, 0], 1, "right"),  # batches 1-4 (t up to 0.18)
    ]
    doc = tally.to_dict()
    assert doc["output_spikes"] == 12 and doc["layer_spike_counts"] == {"fc": 12} and doc["input_events"] is None
    assert doc["predictions"] == [{"prediction": 1, "label": "right", "windows": 2}]
    assert ("sensor", 4) in board.log and ("close_device", "Speck2fDevKit") in board.log


@pytest.mark.parametrize("fmt, readout", [("json", "--no-readout"), ("text", "--no-readout"), ("json", None)])
def test_deploy_live_through_the_cli(chip, tmp_path, fmt, readout):
    from qsnn_deploy.convert.nir_io import write_nir

    if not chip.standin:
        pytest.skip("the CLI run stops at Ctrl-C, which only the stand-in's script presses")
    model = write_nir(live_net(), tmp_path / "m.nir")
    plan = plan_chip(live_net(), "speck2f", live=True, readout=readout is None)
    chip.state.responder = network_on_the_sensor(chip, plan)
    undo = _scripted_open(chip, [dvs_batch(chip, 5, 0, 0), dvs_batch(chip, 3, 100, 10), KeyboardInterrupt()])
    args = ["deploy", str(model), "--target", "speck2f", "--live", "--format", fmt, *([readout] if readout else [])]
    try:
        res = CliRunner().invoke(cli, args)
    finally:
        undo()
    assert res.exit_code == 0, res.output
    assert chip.state.device.closed
    assert "DVS stage from the training data" in res.stderr
    if fmt == "text":
        assert "stopped: interrupted" in res.stdout and "output spikes 8" in res.stdout
        return
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    summary = lines[-1]
    assert all(x["type"] == "window" for x in lines[:-1]) and summary["type"] == "summary"
    assert summary["stopped"] == "interrupted" and summary["device"] == "speck2fdevkit:0"
    if readout is None:  # a 3-class model with a 1x1 output: the readout block by default, and no spikes sent
        assert chip.state.device.model.configuration.readout.enable and summary["output_spikes"] == 0
        assert "predictions from the readout block" in res.stderr
    else:
        assert summary["output_spikes"] == 8 and summary["layer_spike_counts"] == {"fc": 8}
        assert not chip.state.device.model.configuration.readout.enable


def test_the_readout_block_predicts_when_it_is_used(chip):
    plan = plan_chip(live_net(), "speck2f", live=True, readout=None)
    assert plan.readout and "predictions from the readout block" in plan.notes
    if not chip.standin:
        pytest.skip("the readout words are scripted")
    chip.state.responder = network_on_the_sensor(chip, plan)
    batches = [dvs_batch(chip, 4, 0, 0), dvs_batch(chip, 4, 100, 50), dvs_batch(chip, 4, 100, 90), KeyboardInterrupt()]
    windows: list = []
    undo = _scripted_open(chip, batches)
    try:
        tally = run_live_chip(plan, FAST, None, 0.2, 0.1, windows.append, log=lambda m: None, clock=FakeClock(0.045))
    finally:
        undo()
    # words at t 0.045 (left), 0.09 (right), 0.135 (right); the window at 0.1 has the first two: a tie between
    # left and right, which the lower class wins; then Ctrl-C
    assert [(w.prediction, w.source) for w in windows] == [(0, "readout")]
    assert tally.extra["warnings"] == []
    assert tally.output_spikes == 0 and chip.state.device.closed
    no = plan_chip(net_for_grid(), "speck2f", live=True, readout=None)
    assert not no.readout and any("from the output spike counts: the readout block takes" in n for n in no.notes)


def net_for_grid() -> Network:
    """A model whose output is a 4x4 map (not a readout shape)."""
    layer = ChipLayer("c1", np.ones((2, 2, 3, 3)), (2, 32, 32), stride=8)
    return Network((layer,), (2, 32, 32), dt_us=1000.0, metadata={"input_stage": origin_record(SPECK, (4, 4))})


def test_live_runs_for_its_duration(chip):
    plan = plan_chip(live_net(), "speck2f", live=True)
    undo = lambda: None  # noqa: E731
    if chip.standin:
        chip.state.responder = network_on_the_sensor(chip, plan)
        undo = _scripted_open(chip, [dvs_batch(chip, 3, 0, 10 * k) for k in range(20)])
    windows: list = []
    try:
        clock = FakeClock(0.035) if chip.standin else None
        power = ChipOptions(timeout_s=1.0, quiet_s=0.02, idle_s=0.05, measure_power=True)
        tally = run_live_chip(plan, power, 0.3, 0.2, 0.1, windows.append, log=lambda m: None, clock=clock)
    finally:
        undo()
    power = tally.to_dict()["power"]
    if chip.standin:
        assert set(power["rails"]) == {"io", "ram", "logic", "pixel_digital", "pixel_analog"}
        assert all(r["idle_w"] > 0 for r in power["rails"].values()) and "dynamic_energy_per_window_j" in power
    else:  # a board may have no power monitor
        assert "rails" in power or power == {"available": False}
    assert tally.stopped == "duration" and [round(w.t_s, 6) for w in windows][:3] == [0.1, 0.2, 0.3]
    if chip.standin:  # reads at 0.035, 0.07, ..., 0.315 (the first past 0.3 ends it): nine batches of three
        assert [w.counts[0] for w in windows] == [6, 15, 18, 18] and round(windows[-1].t_s, 6) == 0.315
        assert tally.output_spikes == 27 and chip.state.device.closed


def test_takes_are_recorded_with_their_timestamps(chip, tmp_path):
    device = choose_device(list_devices(), "speck2f", None)
    out = tmp_path / "data"
    statuses = []
    # on the stand-in a take reads at 0.025, 0.075, 0.125, 0.175 of its 0.2 s (two clock reads a step); a
    # real board records 1 s takes on the real clock
    clock = FakeClock(0.025) if chip.standin else None
    duration = 0.2 if chip.standin else 1.0
    with SensorSession(device, SPECK) as session:
        if chip.standin:
            cfg = chip.state.device.model.configuration.dvs_layer
            assert cfg.monitor_enable and cfg.pass_sensor_events and not any(d.enable for d in cfg.destinations)
            assert (cfg.pooling.x, cfg.cut.x, cfg.cut.y) == (1, 127, 127)
            take1 = [dvs_batch(chip, 5, 20, 300, seed=1), dvs_batch(chip, 4, 50, 100, seed=2)]
            take2 = [[], dvs_batch(chip, 3, 90, 7, seed=3)]
            chip.state.device.model.sensor([*take1, [], [], *take2, [], []])
        summary = record_takes(
            session, out, "wave", 2, duration, 2, SPECK, None, device.id, statuses.append, clock, clock and clock.sleep
        )
    assert [s.value for s in statuses if s.kind == "countdown"] == [2, 1, 2, 1]
    if not chip.standin:  # a still scene may give empty takes, which are not written
        assert len(summary["takes"]) <= 2 and all(np.load(p)["t"].max() < 1e6 for p in summary["takes"])
        return
    assert summary["label"] == "wave" and summary["takes"] == [str(out / "wave" / f"00{k}.npy") for k in (0, 1)]
    info = json.loads((out / RECORDING_FILE).read_text())
    assert info["sensor_size"] == [128, 128, 2] and info["stage"] is None and info["output_size"] == [128, 128, 2]
    first = np.load(out / "wave" / "000.npy")
    want = sorted((e.timestamp, e.x, e.y, int(e.p)) for e in take1[0] + take1[1])
    assert [(int(r["t"]), int(r["x"]), int(r["y"]), int(r["p"])) for r in first] == want
    assert np.all(np.diff(first["t"]) >= 0) and first.dtype.names == ("x", "y", "t", "p")
    assert len(np.load(out / "wave" / "001.npy")) == 3
    assert chip.state.device.closed and summary["events"] == [9, 3]


def test_a_take_stopped_midway_is_not_written(standin_samna, tmp_path):
    board = standin_samna.standin
    board.reset(["Speck2fDevKit"])
    device = choose_device(list_devices(), "speck2f", None)
    out = tmp_path / "data"
    clock = FakeClock(0.025)  # four reads a take

    class Chip:
        samna = standin_samna

    with pytest.raises(RecordingInterrupted) as stop:
        with SensorSession(device, SPECK) as session:
            board.device.model.sensor(
                [dvs_batch(Chip, 5, 0, 0), [], [], [], dvs_batch(Chip, 5, 0, 0), KeyboardInterrupt()]
            )
            record_takes(session, out, "clap", 3, 0.2, 0, SPECK, SensorStage(pool=4), device.id, lambda s: None, clock)
    assert stop.value.summary["interrupted"] == 2 and len(stop.value.summary["takes"]) == 1
    assert sorted(p.name for p in (out / "clap").iterdir()) == ["000.npy"]  # no take 001, no temporary file
    assert board.device.closed
    assert np.load(out / "clap" / "000.npy")["x"].max() < 32  # pooled by 4 on the host
    assert json.loads((out / RECORDING_FILE).read_text())["output_size"] == [32, 32, 2]
    board.reset()


def test_an_empty_take_is_skipped_and_events_outside_the_take_dropped(standin_samna, tmp_path):
    board = standin_samna.standin
    board.reset(["Speck2fDevKit"])
    device = choose_device(list_devices(), "speck2f", None)

    class Chip:
        samna = standin_samna

    stale = dvs_batch(Chip, 3, 0, 250_000)  # stamped after the take's 0.2 s (a late or stale event)
    statuses: list = []
    with SensorSession(device, SPECK) as session:
        board.device.model.sensor([[], [], [], [], dvs_batch(Chip, 4, 0, 0) + stale, [], [], []])
        summary = record_takes(
            session, tmp_path, "idle", 2, 0.2, 0, SPECK, SensorStage(), device.id, statuses.append, FakeClock(0.025)
        )
    assert [s.kind for s in statuses] == ["empty", "written"] and summary["events"] == [4]
    assert [p.name for p in (tmp_path / "idle").iterdir()] == ["000.npy"]
    assert json.loads((tmp_path / RECORDING_FILE).read_text())["stage"] is None  # an identity stage is no stage
    board.reset()


def test_a_readout_channel_beyond_the_classes_is_idle():
    from qsnn_deploy.deploy.live import LiveStep, live_windows

    word = (1 << 20) | (9 << 16)  # channel 9: class 8 of a 3-class model
    step = LiveStep(0.1, np.zeros(0), np.zeros(0, np.int64), (word,), None)
    (w,) = live_windows([step], 0.1, 0.1, ["a", "b", "c"], readout=True)
    assert (w.prediction, w.label, w.source) == (-1, "idle", "readout")


def test_ctrl_c_during_the_idle_power_run_still_closes_and_sums_up(standin_samna, monkeypatch):
    from qsnn_deploy.deploy import samna_backend

    board = standin_samna.standin
    board.reset(["Speck2fDevKit"])

    def interrupted(self, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(samna_backend.ChipSession, "measure_idle", interrupted)
    plan = plan_chip(live_net(), "speck2f", live=True)
    options = ChipOptions(timeout_s=1.0, quiet_s=0.02, idle_s=0.05, measure_power=True)
    tally = run_live_chip(plan, options, 1.0, 0.2, 0.1, lambda w: None, log=lambda m: None, clock=FakeClock(0.05))
    assert tally.stopped == "interrupted" and tally.windows == 0 and board.device.closed
    assert tally.to_dict()["power"] == {"available": False, "why": "stopped during the idle measurement"}
    board.reset()


def test_readout_words_beyond_the_classes_do_not_outvote_a_valid_one():
    from qsnn_deploy.deploy.chip_events import decode_readout

    valid, beyond = (1 << 20) | (2 << 16), (1 << 20) | (9 << 16)  # class 1, and class 8 of a 3-class model
    assert decode_readout([valid, beyond, beyond], 3) == {"prediction": 1, "valid_values": 1, "values": 3}
    assert decode_readout([valid, beyond, beyond])["prediction"] == 8  # without the model's classes: counted

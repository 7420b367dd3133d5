"""``deploy --target emulator --live --input REC``: a recording through event mode, shown at its own pace."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import FakeClock, FakeTime, random_network

from qsnn_deploy.cli.main import cli
from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.deploy.live import LiveStep, LiveTally, RecordingReplay, live_windows
from qsnn_deploy.emulate.event import EventEmulator


def recording(seconds: float, rate_hz: float = 20_000, seed: int = 1) -> np.ndarray:
    """Random events on the 2x12x12 input of ``random_network`` for ``seconds``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 12, n), rng.integers(0, 12, n), rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(0, int(seconds * 1e6), n))
    return ev


def test_the_replay_keeps_the_recording_pace_and_the_emulators_spikes():
    net = random_network(0, quantized=True)
    ev = recording(1.0)
    clock = FakeClock(start=100.0)
    replay = RecordingReplay(net, ev, 0.7, 0.2, clock=clock, sleep=clock.sleep)
    steps = list(replay.steps())
    assert [round(s.t_s, 9) for s in steps] == [0.2, 0.4, 0.6, 0.7] and clock.slept == [0.2, 0.2, 0.2, 0.1]
    assert not replay.runs_out and sum(s.events_in for s in steps) == int((ev["t"] < 700_000).sum())
    shown = ev[ev["t"] < 700_000]
    direct = EventEmulator(net, monitor=("fc",)).run(shown, duration_us=700_000)
    assert sum(len(s.spike_t_s) for s in steps) == int(direct.output_counts.sum()) > 0
    assert replay.layer_spikes == dict(zip(("c1", "c2", "fc"), direct.layer_spikes.tolist()))
    classes = np.concatenate([s.spike_class for s in steps])
    assert np.array_equal(np.bincount(classes, minlength=5), direct.output_counts)
    # twice as fast: half the waits
    fast = FakeClock(start=100.0)
    list(RecordingReplay(net, ev, 0.7, 0.2, speed=2.0, clock=fast, sleep=fast.sleep).steps())
    assert fast.slept == [0.1, 0.1, 0.1, 0.05]


def test_windows_slide_and_the_tail_gets_one():
    names = ["a", "b", "c"]

    def step(t, spikes):
        return LiveStep(t, np.array([s for s, _ in spikes], float), np.array([c for _, c in spikes]), (), 10)

    steps = [step(0.1, [(0.05, 0), (0.1, 1)]), step(0.2, [(0.15, 1), (0.2, 1)]), step(0.25, [(0.22, 2), (0.24, -1)])]
    tally = LiveTally(names)
    got = [tally.window(w) for w in live_windows((tally.step(s) for s in steps), 0.15, 0.1, names)]
    assert [(round(w.t_s, 6), w.counts, w.prediction, w.label) for w in got] == [
        (0.1, [1, 1, 0], 0, "a"),  # a tie goes to the first class
        (0.2, [0, 3, 0], 1, "b"),  # (0.05, 0.2]: the spike at 0.05 has left
        (0.25, [0, 2, 1], 1, "b"),  # the tail at the last step; -1 (no class) is not counted
    ]
    assert got[0].events_in_per_s == pytest.approx(10 / 0.1)  # before a whole window: over the time so far
    assert got[1].events_in_per_s == pytest.approx(20 / 0.15) and got[0].spikes_per_s == pytest.approx(2 / 0.1)
    assert tally.output_spikes == 5 and tally.events_in == 30 and tally.elapsed_s == 0.25
    assert [w.to_dict()["type"] for w in got] == ["window"] * 3 and tally.to_dict()["predictions"][0]["label"] == "b"
    quiet = list(live_windows([step(0.1, [])], 0.1, 0.1, names))
    assert quiet[0].prediction == -1 and quiet[0].label == "idle"


@pytest.fixture
def files(tmp_path):
    from qsnn_deploy.convert.nir_io import write_nir

    net = random_network(0, quantized=True)
    np.save(tmp_path / "rec.npy", recording(3.0))
    np.save(tmp_path / "short.npy", recording(0.3))
    np.save(tmp_path / "raster.npy", np.zeros((4, 2, 12, 12), np.float32))
    return net, write_nir(net, tmp_path / "m.nir"), tmp_path


@pytest.fixture
def paced(monkeypatch):
    """The replay's clock: it waits by moving a fake clock, and says how long it waited."""
    import qsnn_deploy.deploy.live as live

    fake = FakeTime()
    monkeypatch.setattr(live, "time", fake)
    return fake.clock


def test_live_replay_through_the_cli_at_the_recordings_pace(files, paced):
    """The acceptance run: --duration 2 shows a window every 0.25 s (the default 0.5 s window), waiting for the
    recording's time before each, and a summary."""
    net, model, d = files
    res = CliRunner().invoke(
        cli, ["deploy", str(model), "--live", "--input", str(d / "rec.npy"), "--duration", "2", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    assert paced.slept == [0.25] * 8  # each window shown when the recording's time has passed, not before
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    windows, summary = lines[:-1], lines[-1]
    assert [w["t_s"] for w in windows] == [0.25 * k for k in range(1, 9)]
    assert all(w["window_s"] == 0.5 and w["prediction_from"] == "output_spike_counts" for w in windows)
    assert summary["type"] == "summary" and summary["stopped"] == "duration" and summary["elapsed_s"] == 2.0
    ev = np.load(d / "rec.npy")
    direct = EventEmulator(net, monitor=("fc",)).run(ev[ev["t"] < 2_000_000], duration_us=2_000_000)
    assert summary["output_spikes"] == int(direct.output_counts.sum())
    assert summary["input_events"] == int((ev["t"] < 2_000_000).sum()) and summary["windows"] == 8
    assert sum(p["windows"] for p in summary["predictions"]) == 8
    assert windows[0]["input_events_per_s"] == pytest.approx((ev["t"] <= 250_000).sum() / 0.25)  # a quarter window
    assert "replaying 2.00 s" in res.stderr


def test_live_replay_text_until_the_recording_ends(files, paced):
    _, model, d = files
    res = CliRunner().invoke(cli, ["deploy", str(model), "--live", "--input", str(d / "short.npy"), "--window", "0.2"])
    assert res.exit_code == 0, res.output
    rows = res.stdout.splitlines()
    assert len(rows) == 3 + 2 + 1  # windows at 0.1, 0.2, 0.3 (its end); the summary; spikes per layer
    assert "stopped: end of recording" in res.stdout and "spikes per layer: c1" in res.stdout
    assert "0.30 s" in rows[2] and "spikes/s" in rows[0] and paced.slept[:2] == [0.1, 0.1] and len(paced.slept) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--live"], "replays a recording"),
        (["--live", "--input", "raster.npy"], "this file is a raster"),
        (["--duration", "2", "--input", "rec.npy"], "apply to --live"),
        (["--live", "--input", "rec.npy", "--dataset", "digits-dvs"], "either --input or --dataset"),
        (["--live", "--input", "rec.npy", "--compare"], "--compare do not go with --live"),
        (["--live", "--input", "rec.npy", "--window", "0"], "--window must be a positive"),
        (["--live", "--input", "rec.npy", "--duration", "-1"], "--duration must be a positive"),
        (["--live", "--target", "speck2f", "--input", "rec.npy"], "from the chip's own sensor"),
        (["--live", "--input", "rec.npy", "--export-config", "c.json"], "only apply to a chip target"),
        (["--live", "--input", "rec.npy", "--measure-power"], "only apply to a chip target"),
        (["--live", "--input", "rec.npy", "--readout"], "predicts from the output spike counts"),
        (["--live", "--input", "rec.npy", "--limit", "3"], "--limit do not go with --live"),
        (["--live", "--input", "rec.npy", "--workers", "2"], "--workers do not go with --live"),
        (["--live", "--input", "rec.npy", "--mode", "event"], "--mode do not go with --live"),
        (["--live", "--input", "rec.npy", "--device", "cpu", "--batch-size", "8"], "--batch-size, --device do not"),
        (["--live", "--target", "speck2f", "--split", "train"], "--split do not go with --live"),
    ],
)
def test_live_usage_errors(files, args, message):
    _, model, d = files
    args = [str(d / a) if a.endswith(".npy") else a for a in args]
    res = CliRunner().invoke(cli, ["deploy", str(model), *args])
    assert res.exit_code == 2 and message in res.stderr, res.output


def test_the_replay_holds_events_only(files, paced, monkeypatch):
    """No raster of the whole recording is made (a long recording would take gigabytes)."""
    import qsnn_deploy.data.framing as framing

    def no_raster(*a, **k):
        raise AssertionError("a raster was made")

    monkeypatch.setattr(framing, "to_frames", no_raster)
    _, model, d = files
    res = CliRunner().invoke(cli, ["deploy", str(model), "--live", "--input", str(d / "short.npy"), "--format", "json"])
    assert res.exit_code == 0, res.output

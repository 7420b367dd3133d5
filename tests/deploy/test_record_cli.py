"""``record`` then ``train --dataset folder:DIR`` then ``deploy --live``, end to end over the stand-in's sensor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import FakeTime

from qsnn_deploy.cli.main import cli
from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.deploy.chip_plan import plan_chip
from qsnn_deploy.emulate.sensor import SensorStage


@pytest.fixture
def board(standin_samna, monkeypatch):
    import qsnn_deploy.deploy.recording as recording

    standin_samna.standin.reset(["Speck2fDevKit"])
    monkeypatch.setattr(recording, "time", FakeTime(0.025))
    yield standin_samna
    standin_samna.standin.reset()


def gesture(samna, label: int, take: int) -> list:
    """A take's sensor events: a bar sweeping right (label 0) or down (label 1) over 128x128, 40 ms."""
    rng = np.random.default_rng(100 * label + take)
    Dvs = samna.speck2f.event.DvsEvent
    batches = []
    for step in range(4):
        batch = []
        for i in range(150):
            ev = Dvs()
            pos, other = 20 + 25 * step + int(rng.integers(0, 8)), int(rng.integers(0, 128))
            ev.x, ev.y = (pos, other) if label == 0 else (other, pos)
            ev.p, ev.timestamp = bool(rng.integers(0, 2)), 10_000 * step + i * 60
            batch.append(ev)
        batches.append(batch)
    return batches


def _record(board, out, label: str, batches_per_take: list[list], *extra: str):
    orig = board.device.open_device

    def opened(info):
        handle = orig(info)
        board.standin.device.model.sensor([b for take in batches_per_take for b in take])
        return handle

    board.device.open_device = opened
    try:
        return CliRunner().invoke(
            cli,
            ["record", "--out", str(out), "--label", label, "--count", str(len(batches_per_take))]
            + ["--duration", "0.2", "--countdown", "1", *extra],
        )
    finally:
        board.device.open_device = orig


def test_record_then_train_then_live(board, tmp_path, monkeypatch):
    import qsnn_deploy.deploy.live as live

    out = tmp_path / "gestures"
    for k, label in enumerate(("right", "down")):
        res = _record(board, out, label, [gesture(board, k, t) for t in range(5)], "--format", "json")
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary["events"] == [600] * 5 and len(summary["takes"]) == 5
        assert "take 1: starting in 1 s" in res.stderr and "take 5: 600 events written" in res.stderr
    assert sorted(p.name for p in (out / "down").iterdir()) == [f"{i:03d}.npy" for i in range(5)]
    first = np.load(out / "right" / "000.npy")
    assert first["t"][0] == 0 and first["t"][-1] == 30_000 + 149 * 60  # the sensor's timestamps, as sent
    run = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        ["train", "--dataset", f"folder:{out}", "--epochs", "1", "--out", str(run), "--progress", "off"],
    )
    assert res.exit_code == 0, res.output
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    assert payload["classes"] == ["down", "right"]
    stage = payload["input_stage"]
    assert stage["sensor_size"] == [128, 128, 2] and stage["stage"] is None and stage["synthetic"] is False
    # deploy --live sets the DVS layer up as the data was made: the training pooling as DVS pooling
    net = load_network(run / "checkpoint.pt")
    plan = plan_chip(net, "speck2f", live=True)
    f = stage["downsample"][0]
    assert plan.sensor == SensorStage(pool=f) and net.input_shape[1:] == (128 // f, 128 // f)
    # and the emulator replays a raw take through the same stage
    monkeypatch.setattr(live, "time", FakeTime())
    args = ["deploy", str(run / "checkpoint.pt"), "--live", "--input", str(out / "down" / "000.npy")]
    res = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert f"the stage of the model's training data: {{'pool': {f}," in res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["input_events"] == 600


def test_recording_with_a_sensor_stage_and_refusals(board, tmp_path):
    out = tmp_path / "g"
    res = _record(board, out, "right", [gesture(board, 0, 0)], "--sensor-pool", "4", "--merge-polarity")
    assert res.exit_code == 0, res.output
    ev = np.load(out / "right" / "000.npy")
    assert ev["x"].max() < 32 and ev["y"].max() < 32 and set(ev["p"].tolist()) == {0}
    assert "1 take(s) of class 'right'" in res.stdout and f"folder:{out}" in res.stdout
    info = json.loads((out / "recording.json").read_text())
    assert info["output_size"] == [32, 32, 1] and info["stage"]["pool"] == 4
    # the next takes of this folder must be made alike
    res = _record(board, out, "down", [gesture(board, 1, 0)])
    assert res.exit_code == 2 and "repeat the sensor options of the earlier takes" in res.stderr
    bad_options = (["--label", "train"], ["--label", "../x"], ["--target", "emulator"], ["--duration", "0"])
    for bad in (*bad_options, ["--roi", "120,0,10,10"], ["--roi", "0,0,0,4"], ["--roi", "1,2"]):
        res = CliRunner().invoke(cli, ["record", "--out", str(tmp_path / "h"), "--label", "a", *bad])
        assert res.exit_code == 2, (bad, res.output)
    assert not (tmp_path / "h").exists()


def test_ctrl_c_in_a_take_keeps_the_earlier_takes(board, tmp_path):
    out = tmp_path / "g"
    takes = [gesture(board, 0, 0), [gesture(board, 0, 1)[0], KeyboardInterrupt()]]
    res = _record(board, out, "right", takes)
    assert res.exit_code == 130
    assert "take 2: interrupted, not written" in res.stderr and "1 take(s) of class 'right'" in res.stdout
    assert [p.name for p in (out / "right").iterdir()] == ["000.npy"] and board.standin.device.closed

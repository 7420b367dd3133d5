"""``deploy`` to a chip and ``doctor`` through the CLI, over the samna stand-in (in process)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsnn_deploy.cli.main import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def board(standin_samna):
    standin_samna.standin.reset(["Speck2fDevKit", "Speck2eDevKit"])
    yield standin_samna.standin
    standin_samna.standin.reset()


def test_help_has_examples():
    for cmd in (["deploy"], ["doctor"]):
        res = _run(*cmd, "--help")
        assert res.exit_code == 0 and "Examples:" in res.output and "qsnn-deploy" in res.output
    assert "doctor" in _run("--help").output


def test_deploy_to_the_stand_in_board(board, model_file, raster_file):
    out_core = 2

    def respond(device, events):
        if not any(type(e).__name__ == "Spike" for e in events):
            return []
        S = type(next(e for e in events if type(e).__name__ == "Spike"))
        return [board.event(S, layer=out_core, x=0, y=0, feature=1, timestamp=10)]

    board.responder = respond
    res = _run(
        "deploy", model_file, "--target", "speck2f", "--input", raster_file, "--format", "json", "-q", "--timeout", "1"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["target"] == "speck2f" and out["mode"] == "chip" and out["device"] == "speck2fdevkit:0"
    assert out["samples"] == 3 and out["prediction"] == [1, 1, 1] and out["integers_verified"] is True
    assert out["output_spike_counts"] == [[0, 1, 0, 0, 0]] * 3 and out["layer_spike_counts"] == {"fc": 1.0}
    assert "accuracy" not in out and out["timed_out_samples"] == 0
    assert board.device.info.device_type_name == "Speck2fDevKit"
    text = _run("deploy", model_file, "--target", "speck2f", "--input", raster_file, "-q", "--timeout", "1")
    assert text.exit_code == 0 and "integers on the chip checked" in text.stdout


def test_choose_the_board_and_list_them(board, model_file, raster_file):
    res = _run("deploy", "--target", "speck2f", "--list-devices", "--format", "json")
    assert res.exit_code == 0
    assert [d["id"] for d in json.loads(res.stdout)["devices"]] == ["speck2edevkit:0", "speck2fdevkit:0"]
    res = _run(
        "deploy",
        model_file,
        "--target",
        "speck2e",
        "--input",
        raster_file,
        "-q",
        "--device",
        "speck2edevkit:0",
        "--format",
        "json",
        "--timeout",
        "1",
    )
    assert res.exit_code == 0, res.output
    assert (
        json.loads(res.stdout)["device"] == "speck2edevkit:0" and board.device.info.device_type_name == "Speck2eDevKit"
    )
    res = _run("deploy", model_file, "--target", "speck2f", "--input", raster_file, "--device", "speck2edevkit:0")
    assert res.exit_code == 2 and "is a speck2e board but --target is speck2f" in res.stderr
    board.reset([])
    res = _run("deploy", model_file, "--target", "speck2f", "--input", raster_file)
    assert res.exit_code == 5 and "no speck2f board is connected" in res.stderr and "Traceback" not in res.stderr


def test_compare_and_power_through_the_cli(board, model_file, raster_file):
    board.power_active_watts = {2: 50e-6}
    res = _run(
        "deploy",
        model_file,
        "--target",
        "speck2f",
        "--input",
        raster_file,
        "--compare",
        "emulator",
        "--measure-power",
        "--format",
        "json",
        "-q",
        "--timeout",
        "1",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["name"] for r in out["compare"]["layers"]] == ["c1", "c2", "fc"]
    assert set(out["layer_spike_counts"]) == {"c1", "c2", "fc"}
    assert out["power"]["rails"]["logic"]["dynamic_w"] == pytest.approx(50e-6)
    cfg = board.device.model.configuration
    assert sum(layer.monitor_enable for layer in cfg.cnn_layers) == 3
    text = _run(
        "deploy",
        model_file,
        "--target",
        "speck2f",
        "--input",
        raster_file,
        "--compare",
        "emulator",
        "--measure-power",
        "-q",
        "--timeout",
        "1",
    )
    assert "chip vs emulator" in text.stdout and "power per rail" in text.stdout


def test_export_and_dry_run_with_the_driver(board, model_file, raster_file, tmp_path):
    res = _run("deploy", model_file, "--target", "speck2f", "--export-config", tmp_path / "c.bin", "--readout")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.bin").read_bytes().startswith(b"STANDIN") and board.opened == []
    res = _run("deploy", model_file, "--target", "speck2f", "--dry-run", "--input", raster_file, "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["driver"] == "real" and out["integers_verified"] and out["device"] == "speck2fdevkit:0"
    assert board.opened == []


def test_export_config_replaces_a_file_only_with_overwrite(board, model_file, tmp_path):
    out = tmp_path / "c.bin"
    out.write_bytes(b"old")
    res = _run("deploy", model_file, "--target", "speck2f", "--export-config", out)
    assert res.exit_code == 2 and f"output file '{out}' exists" in res.stderr and "pass --overwrite" in res.stderr
    assert out.read_bytes() == b"old" and board.opened == []
    res = _run("deploy", model_file, "--target", "speck2f", "--export-config", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"STANDIN")
    (tmp_path / "d.json").mkdir()
    res = _run("deploy", model_file, "--target", "speck2f", "--export-config", tmp_path / "d.json", "--overwrite")
    assert res.exit_code == 2 and "is a directory" in res.stderr  # a folder is never replaced


def test_chip_only_flags_need_a_chip_target(model_file):
    for flags in (["--dry-run"], ["--export-config", "x.json"], ["--measure-power"]):
        res = _run("deploy", model_file, "--target", "emulator", *flags)
        assert res.exit_code == 2 and "only apply to a chip target" in res.stderr
    res = _run("deploy", model_file, "--target", "emulator", "--compare", "emulator")
    assert res.exit_code == 2 and "compares a chip with the emulator" in res.stderr
    res = _run("deploy", model_file, "--target", "speck2f", "--mode", "event")
    assert res.exit_code == 2 and "only apply to --target emulator" in res.stderr
    res = _run("deploy", model_file, "--target", "speck2f", "--export-config", "x.txt")
    assert res.exit_code in (2, 5)


def test_events_file_is_streamed_with_its_timestamps(board, model_file, events_file):
    res = _run(
        "deploy", model_file, "--target", "speck2f", "--input", events_file, "--format", "json", "-q", "--timeout", "1"
    )
    assert res.exit_code == 0, res.output
    spikes = board.device.model.spikes
    ev = np.load(events_file)
    assert [s.timestamp for s in spikes] == ev["t"].tolist() and [s.feature for s in spikes] == ev["p"].tolist()


def test_doctor_with_the_driver_lists_the_boards(board):
    res = _run("doctor", "--format", "json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["samna"]["status"] == "real" and rep["samna"]["sinabs_backend"] == "ok"
    assert [d["id"] for d in rep["samna"]["devices"]] == ["speck2edevkit:0", "speck2fdevkit:0"]
    assert rep["ready"]["chip"] is True and "--device speck2edevkit:0" in rep["next_steps"][0]
    board.reset([])
    rep = json.loads(_run("doctor", "--format", "json").stdout)
    assert rep["ready"]["chip"] is False and "no Speck board seen" in rep["next_steps"][0]
    assert "devices      none seen" in _run("doctor").stdout

"""deploy --target emulator: both modes, --compare, --save-events, readout, sensor stage, bad events."""

import json

import numpy as np
import pytest
from helpers import checkpoint_predictions, run_cli

from qsnn_deploy.data.events import EVENT_DTYPE


def _json(*args):
    return json.loads(run_cli("deploy", *args, "--format", "json", "-q").stdout)


@pytest.mark.parametrize("mode", ["binned", "event"])
def test_whole_test_split_in_both_modes(tiny_run, tiny_bundle, mode):
    out = _json(tiny_bundle, "--mode", mode)
    assert out["mode"] == mode and out["samples"] == 359
    # the accuracy is the share of the predictions that match the test split's labels, in their order
    want, labels = checkpoint_predictions(tiny_run)
    assert out["accuracy"] == pytest.approx(float((np.array(out["prediction"]) == labels).mean()))
    if mode == "binned":  # and binned mode answers as the QAT checkpoint does, sample by sample
        assert out["prediction"] == want.tolist()
    assert set(out["layer_spike_counts"]) == {"conv1", "conv2", "conv3", "fc"}


@pytest.mark.parametrize("mode", ["binned", "event"])
def test_workers_do_not_change_the_results(tiny_bundle, mode):
    one = _json(tiny_bundle, "--mode", mode, "--limit", "24", "--workers", "1")
    assert _json(tiny_bundle, "--mode", mode, "--limit", "24", "--workers", "3") == one
    for args in (("--workers", "0"), ("--workers", "2", "--target", "speck2f")):  # a chip target: emulator only
        proc = run_cli("deploy", tiny_bundle, *args, check=False)
        assert proc.returncode == 2 and "--workers" in proc.stderr, proc.stderr


def test_compare_modes_with_plot(tiny_bundle, tmp_path):
    out = _json(tiny_bundle, "--compare", "--limit", "8", "--plot", tmp_path / "cmp.png")
    assert out["modes"] == ["float", "binned", "event"]
    assert set(out["first_divergent_layer"]) == {"float/binned", "float/event", "binned/event"}
    assert (tmp_path / "cmp.png").stat().st_size > 1000


def test_save_events_and_readout(tiny_bundle, tmp_path):
    out = _json(
        tiny_bundle,
        "--mode",
        "event",
        "--limit",
        "3",
        "--monitor",
        "all",
        "--save-events",
        tmp_path / "spikes.npy",
        "--readout",
    )
    saved = np.load(tmp_path / "spikes.npy")
    assert set(saved.dtype.names) == {"x", "y", "t", "p", "layer", "sample"}
    per_layer = np.bincount(saved["layer"], minlength=4)
    assert per_layer.sum() == len(saved) and set(np.unique(saved["sample"])) <= {0, 1, 2}
    assert len(out["readout"]["class"]) == 3
    # the file exists now: refused (exit 2, before any run) unless --overwrite
    before = (tmp_path / "spikes.npy").read_bytes()
    args = [tiny_bundle, "--mode", "event", "--limit", "1", "--save-events", tmp_path / "spikes.npy"]
    proc = run_cli("deploy", *args, check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr and "pass --overwrite" in proc.stderr
    assert (tmp_path / "spikes.npy").read_bytes() == before
    again = _json(*args, "--overwrite")
    assert again["saved_events"] == str(tmp_path / "spikes.npy")
    assert set(np.unique(np.load(tmp_path / "spikes.npy")["sample"])) <= {0}


def test_sensor_stage_options(tiny_bundle, tmp_path):
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 40, 67], [1, 2, 67], [10, 20, 30], [0, 1, 1]
    np.save(tmp_path / "big.npy", ev)  # a 68x68 sensor, pooled 2x to the model's 34x34
    proc = run_cli("deploy", tiny_bundle, "--input", tmp_path / "big.npy", "--mode", "event", check=False)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    out = _json(tiny_bundle, "--input", tmp_path / "big.npy", "--mode", "event", "--sensor-pool", "2")
    assert len(out["output_spike_counts"]) == 10


def test_bad_event_files_exit_3(tiny_bundle, tmp_path):
    wrong = np.zeros(2, [("a", "<i4"), ("b", "<i4")])
    np.save(tmp_path / "wrong.npy", wrong)
    neg = np.zeros(2, EVENT_DTYPE)
    neg["t"] = [5, -1]
    np.save(tmp_path / "neg.npy", neg)
    for name in ("wrong.npy", "neg.npy"):
        for mode in ("binned", "event"):
            proc = run_cli("deploy", tiny_bundle, "--input", tmp_path / name, "--mode", mode, check=False)
            assert proc.returncode == 3, proc.stderr
            assert proc.stderr.startswith("Error: ") and name in proc.stderr and "Traceback" not in proc.stderr


def test_option_combinations_are_usage_errors(tiny_bundle, tmp_path):
    assert run_cli("deploy", tiny_bundle, "--save-events", tmp_path / "x.npy", check=False).returncode == 2
    assert run_cli("deploy", tiny_bundle, "--compare", "emulator", check=False).returncode == 2
    assert run_cli("deploy", tiny_bundle, "--plot", tmp_path / "p.png", check=False).returncode == 2
    assert not (tmp_path / "x.npy").exists()


def test_data_root_reaches_the_dataset_loader(tiny_bundle, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from qsnn_deploy.cli.main import cli

    monkeypatch.delenv("QSNN_DEPLOY_DATA", raising=False)
    root = tmp_path / "data"
    root.mkdir()
    result = CliRunner().invoke(cli, ["deploy", str(tiny_bundle), "--dataset", "nmnist", "--data-root", str(root)])
    assert result.exit_code == 3 and f"not found under {root}" in result.stderr, result.output
    assert "QSNN_DEPLOY_DATA" not in __import__("os").environ  # passed as an option, not through the environment

"""Help with examples, and every error: its exit code, one clear message, no traceback, no partial output."""

import pytest
from click.testing import CliRunner
from helpers import run_cli

from qsnn_deploy.cli.main import cli

COMMANDS = [
    [],
    ["train"],
    ["convert"],
    ["estimate"],
    ["deploy"],
    ["profiles"],
    ["profiles", "list"],
    ["profiles", "show"],
    ["pipeline"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "top")
def test_help_has_examples(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "qsnn-deploy" in result.output


def _assert_clean_error(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ")
    for fragment in fragments:
        assert fragment in proc.stderr


def test_missing_model_file(tmp_path):
    proc = run_cli("convert", tmp_path / "nope.pt", "--out", tmp_path / "b", check=False)
    _assert_clean_error(proc, 3, "nope.pt' does not exist")
    assert not (tmp_path / "b").exists()


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a real zip")
    for args in (
        ["convert", bad, "--out", tmp_path / "b"],
        ["estimate", bad, "--samples", "0"],
        ["deploy", bad, "--limit", "2"],
    ):
        proc = run_cli(*args, check=False)
        _assert_clean_error(proc, 3, "is not a readable PyTorch checkpoint")
    assert not (tmp_path / "b").exists()


def test_unknown_target(tiny_run, tmp_path):
    proc = run_cli("convert", tiny_run / "checkpoint.pt", "--target", "speck3", "--out", tmp_path / "b", check=False)
    _assert_clean_error(proc, 3, "speck3")
    assert not (tmp_path / "b").exists()
    proc = run_cli("estimate", tiny_run / "checkpoint.pt", "--target", "loihi9", "--samples", "0", check=False)
    _assert_clean_error(proc, 3, "loihi9")
    proc = run_cli("deploy", tiny_run / "checkpoint.pt", "--target", "emulater", check=False)
    _assert_clean_error(proc, 3, "unknown deploy target 'emulater'", "did you mean 'emulator'")


def test_chip_target_without_driver_exits_5(tiny_bundle):
    """That it is refused before anything slow is imported (torch, sinabs, the NIR reader) is checked without
    a clock in tests/deploy/test_no_placeholder_import.py."""
    from qsnn_deploy.deploy.targets import samna_status

    if samna_status() == "real":
        pytest.skip("the real samna driver is installed here")
    proc = run_cli("deploy", tiny_bundle, "--target", "speck2f", check=False)
    _assert_clean_error(proc, 5, "--target emulator")


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("train", "--epochs", "many", check=False).returncode == 2
    proc = run_cli("train", "--epochs", "0", "--out", tmp_path / "r", check=False)
    _assert_clean_error(proc, 2, "epochs")
    assert not (tmp_path / "r").exists()
    # options for recordings on disk are refused on the generated built-in data instead of being ignored
    proc = run_cli("train", "--augment", "--denoise-us", "100", "--out", tmp_path / "r", check=False)
    _assert_clean_error(proc, 2, "--denoise-us, --augment only apply to recordings read from disk")
    assert not (tmp_path / "r").exists()


def test_existing_output_is_kept(tiny_run, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_cli("convert", tiny_run / "checkpoint.pt", "--out", out, check=False)
    _assert_clean_error(proc, 2, "exists and is not empty", "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"


def test_model_that_does_not_fit_exits_4(tmp_path):
    import torch

    from qsnn_deploy.nets.checkpoint import save_checkpoint
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "big",
            "input_shape": [2, 34, 34],
            "n_classes": 10,
            "layers": [
                {"type": "conv", "name": "wide", "out_channels": 128, "kernel_size": 3, "padding": 1},
                {"type": "linear", "name": "fc", "out_features": 10},
            ],
        }
    )
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "big.pt", SpikingCNN(spec), {"dt_us": 1000.0})
    proc = run_cli("convert", tmp_path / "big.pt", "--out", tmp_path / "b", check=False)
    _assert_clean_error(proc, 4, "does not fit speck2f", "wide")
    assert not (tmp_path / "b").exists()
    proc = run_cli("estimate", tmp_path / "big.pt", "--samples", "0", check=False)
    assert proc.returncode == 4 and "wide" in proc.stdout


def test_internal_errors_are_one_line_without_debug():
    result = CliRunner().invoke(cli, ["profiles", "show", "speck2f"])
    assert result.exit_code == 0 and "speck2f" in result.output

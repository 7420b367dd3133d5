"""stderr redirected to a file (a CI log, `2> log`): plain progress lines, never a carriage-return redraw."""

import re
import subprocess
import sys
from pathlib import Path


def _run_to_file(tmp_path: Path, *args) -> str:
    """Run ``qsnn-deploy ARGS 2> FILE`` as a real subprocess; return what FILE holds."""
    err = tmp_path / "stderr.log"
    with err.open("w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "qsnn_deploy.cli.main", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=f,
            timeout=600,
        )
    text = err.read_bytes().decode()  # not read_text: universal newlines would turn "\r" into "\n"
    assert proc.returncode == 0, text
    return text


def test_train_to_a_file_writes_plain_lines(tmp_path):
    text = _run_to_file(
        tmp_path, "train", "--epochs", 1, "--limit", 48, "--time-bins", 3, "--batch-size", 16, "--out", tmp_path / "run"
    )
    assert "\r" not in text
    assert re.search(r"^epoch 1/1: \d+/\d+ batch \(100 %\), .*loss=[\d.]+, acc=[\d.]+$", text, re.M), text
    assert re.search(r"^epoch 1/1: loss [\d.]+ +train ", text, re.M), text


def test_deploy_to_a_file_writes_plain_lines(tiny_bundle, tmp_path):
    model = tiny_bundle / "model.nir"
    text = _run_to_file(tmp_path, "deploy", model, "--dataset", "digits-dvs", "--limit", 12, "--mode", "event")
    assert "\r" not in text
    assert re.search(r"^running 12 sample\(s\) from digits-dvs:test", text, re.M), text
    assert re.search(r"^event: 12/12 sample \(100 %\), ", text, re.M), text


def test_progress_option_reaches_the_bars(tiny_bundle, tmp_path):
    model = tiny_bundle / "model.nir"
    forced = _run_to_file(tmp_path, "deploy", model, "--dataset", "digits-dvs", "--limit", 4, "--progress", "on")
    assert "\r" in forced and "binned:" in forced
    off = _run_to_file(tmp_path, "deploy", model, "--dataset", "digits-dvs", "--limit", 4, "--progress", "off")
    quiet = _run_to_file(tmp_path, "deploy", model, "--dataset", "digits-dvs", "--limit", 4, "-q")
    for text in (off, quiet):
        assert "binned:" not in text and "\r" not in text
        assert "running 4 sample(s)" in text  # log lines stay

"""Per-epoch state and --resume: a SIGKILLed run, resumed, ends with the weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import torch

from helpers import run_cli

ARGS = ("train", "--limit", "48", "--time-bins", "4", "--batch-size", "16", "--lr-schedule", "one-cycle", "-q")
EPOCHS = 8  # epochs take ~0.2 s here: enough of them that the kill lands mid-run


def _state_epoch(path):
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except (OSError, RuntimeError, EOFError, KeyError):
        return 0


def test_sigkill_then_resume_reaches_identical_weights(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    run_cli(*ARGS, "--epochs", EPOCHS, "--out", ref)
    proc = subprocess.Popen([sys.executable, "-m", "qsnn_deploy.cli.main", *ARGS, "--epochs", str(EPOCHS),
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "run.partial" / "last.pt"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None and not (state.exists() and _state_epoch(state) >= 2):
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _state_epoch(state)
    assert 2 <= killed_at < EPOCHS and not out.exists()

    run_cli("train", "--resume", out, "-q")
    assert out.is_dir() and not (tmp_path / "run.partial").exists() and not (out / "last.pt").exists()
    a = torch.load(ref / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(out / "checkpoint.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha = json.loads((ref / "metrics.json").read_text())["history"]
    hb = json.loads((out / "metrics.json").read_text())["history"]
    drop = lambda h: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h]  # noqa: E731
    assert drop(ha) == drop(hb) and len(hb) == EPOCHS


def test_resume_of_finished_or_absent_run_is_a_usage_error(tmp_path):
    missing = run_cli("train", "--resume", tmp_path / "nothing", check=False)
    assert missing.returncode == 2
    assert "no interrupted training run at" in missing.stderr and "Fix: pass the --out folder" in missing.stderr
    done = tmp_path / "done"
    run_cli("train", "--limit", "16", "--time-bins", "2", "--epochs", "1", "--out", done, "-q")
    again = run_cli("train", "--resume", done, check=False)
    assert again.returncode == 2 and "has already finished; there is nothing to resume" in again.stderr


def test_interrupted_run_blocks_a_fresh_start_and_refuses_conflicting_options(tmp_path):
    from qsnn_deploy.train.trainer import STATE_FORMAT, TrainConfig, _save_state

    partial = tmp_path / "r.partial"
    partial.mkdir()
    fresh = run_cli("train", "--limit", "16", "--out", tmp_path / "r", check=False)
    assert fresh.returncode == 2 and "--resume" in fresh.stderr and "--overwrite" in fresh.stderr
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-3, time_bins=4, limit=16)
    _save_state(partial / "last.pt", {"format": STATE_FORMAT, "config": cfg.__dict__, "epoch": 1})
    conflict = run_cli("train", "--resume", tmp_path / "r.partial", "--epochs", "5", "--lr", "1e-3", check=False)
    assert conflict.returncode == 2
    assert "--epochs 5 (the run has 3)" in conflict.stderr and "--lr" not in conflict.stderr.split("disagree")[1]

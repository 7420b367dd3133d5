"""Per-epoch state and --resume: a SIGKILLed run, resumed, ends with the weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import torch
from helpers import run_cli

# a SynOp goal: the closed-loop target's correction travels in the state too, and so do the weight sums of
# --average-weights (epochs 2..4 join the mean)
ARGS = ("train", "--limit", "48", "--time-bins", "4", "--batch-size", "16", "--lr-schedule", "one-cycle", "-q")
ARGS += ("--synop-target", "2e5", "--synop-goal", "3.2e5", "--average-weights", "0.25")
EPOCHS = 4
KILL_AFTER = 2  # the run is held once the state of this epoch is on disk, and killed there

# The training run, with _save_state wrapped: once epoch KILL_AFTER's state is written it leaves a marker
# and waits forever, so the kill lands at a known point instead of racing a poll against the epochs.
HELD_RUN = """
import sys, threading
from pathlib import Path
import qsnn_deploy.train.runs as trainer
from qsnn_deploy.cli.main import main
marker, kill_after, sys.argv = Path(sys.argv[1]), int(sys.argv[2]), ["qsnn-deploy", *sys.argv[3:]]
save = trainer._save_state
def held(path, payload):
    save(path, payload)
    if payload["epoch"] >= kill_after:
        marker.write_text(str(payload["epoch"]))
        threading.Event().wait()
trainer._save_state = held
main()
"""


def _state_epoch(path):
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def test_sigkill_then_resume_reaches_identical_weights(tmp_path):
    ref, out, marker = tmp_path / "ref", tmp_path / "run", tmp_path / "held"
    run_cli(*ARGS, "--epochs", EPOCHS, "--out", ref)
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HELD_RUN,
                str(marker),
                str(KILL_AFTER),
                *ARGS,
                "--epochs",
                str(EPOCHS),
                "--out",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    hang_guard = time.monotonic() + 900  # not a speed limit: only a run that never gets there ends the wait
    try:
        while not marker.exists() and proc.poll() is None and time.monotonic() < hang_guard:
            time.sleep(0.05)  # waits for an event (the marker), no race against the epochs
        assert marker.exists() and proc.poll() is None, f"the run never reached epoch {KILL_AFTER}: {log.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _state_epoch(tmp_path / "run.partial" / "last.pt") == KILL_AFTER and not out.exists()

    run_cli("train", "--resume", out, "-q")
    assert out.is_dir() and not (tmp_path / "run.partial").exists() and not (out / "last.pt").exists()
    a = torch.load(ref / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(out / "checkpoint.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma = json.loads((ref / "metrics.json").read_text())
    mb = json.loads((out / "metrics.json").read_text())
    ha, hb = ma["history"], mb["history"]
    drop = lambda h: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h]  # noqa: E731
    assert drop(ha) == drop(hb) and len(hb) == EPOCHS
    for key in ("selected_epoch", "validation_accuracy", "split_sizes", "test_accuracy", "averaged_epochs", "kept"):
        assert ma[key] == mb[key]
    if mb["kept"] == "mean":  # the mean's sums from before the kill and after it
        assert mb["averaged_epochs"][0] <= KILL_AFTER < mb["averaged_epochs"][-1], mb
    else:  # the last epoch, more accurate on validation than the mean (the same choice as the uninterrupted run)
        assert mb["kept"] == "last epoch" and mb["selected_epoch"] == EPOCHS, mb


def test_resume_of_finished_or_absent_run_is_a_usage_error(tmp_path):
    missing = run_cli("train", "--resume", tmp_path / "nothing", check=False)
    assert missing.returncode == 2
    assert "no interrupted training run at" in missing.stderr and "Fix: pass the --out folder" in missing.stderr
    done = tmp_path / "done"
    run_cli("train", "--limit", "16", "--time-bins", "2", "--epochs", "1", "--out", done, "-q")
    again = run_cli("train", "--resume", done, check=False)
    assert again.returncode == 2 and "has already finished; there is nothing to resume" in again.stderr


def test_interrupted_run_blocks_a_fresh_start_and_refuses_conflicting_options(tmp_path):
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.resume import STATE_FORMAT
    from qsnn_deploy.train.runs import _save_state

    partial = tmp_path / "r.partial"
    partial.mkdir()
    fresh = run_cli("train", "--limit", "16", "--out", tmp_path / "r", check=False)
    assert fresh.returncode == 2 and "--resume" in fresh.stderr and "--overwrite" in fresh.stderr
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-3, time_bins=4, limit=16)
    _save_state(partial / "last.pt", {"format": STATE_FORMAT, "config": cfg.__dict__, "epoch": 1})
    conflict = run_cli("train", "--resume", tmp_path / "r.partial", "--epochs", "5", "--lr", "1e-3", check=False)
    assert conflict.returncode == 2
    assert "--epochs 5 (the run has 3)" in conflict.stderr and "--lr" not in conflict.stderr.split("disagree")[1]


def test_a_state_from_before_reported_synop_units_is_refused(tmp_path):
    """A state saved when the SynOp target counted weighted SynOps would resume under another loss: refused."""
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.resume import STATE_FORMAT, SYNOP_UNITS
    from qsnn_deploy.train.runs import _save_state

    partial = tmp_path / "r.partial"
    partial.mkdir()
    cfg = TrainConfig(epochs=3, batch_size=16, time_bins=4, limit=16, synop_target=2e5, synop_weights="1,3,1,1")
    _save_state(partial / "last.pt", {"format": STATE_FORMAT, "config": cfg.__dict__, "epoch": 1})
    old = run_cli("train", "--resume", partial, check=False)
    assert old.returncode == 2 and "counted SynOps weighted by --synop-weights" in old.stderr
    assert f"--out {tmp_path / 'r'} --overwrite" in old.stderr
    _save_state(partial / "last.pt", {"format": STATE_FORMAT, "synop_units": SYNOP_UNITS, "config": cfg.__dict__})
    assert "counted SynOps weighted" not in run_cli("train", "--resume", partial, check=False).stderr


def test_a_decolle_state_from_before_per_millisecond_decays_is_refused(tmp_path):
    """A DECOLLE run saved when its decays were applied per bin as given would resume with them raised to the
    bin again (step_ms filled in as 1 ms): refused; a state that records step_ms is not."""
    from qsnn_deploy.nets.zoo import load_spec, with_neuron
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.resume import STATE_FORMAT, SYNOP_UNITS, read_resume_state
    from qsnn_deploy.train.runs import _save_state

    partial = tmp_path / "r.partial"
    partial.mkdir()
    cfg = TrainConfig(epochs=3, batch_size=16, time_bins=4, limit=16, neuron="decolle")
    spec = with_neuron(load_spec("digits_speck"), "decolle").to_dict()
    before = {**spec, "neuron": {k: v for k, v in spec["neuron"].items() if k != "step_ms"}}
    state = {"format": STATE_FORMAT, "synop_units": SYNOP_UNITS, "config": cfg.__dict__, "model_spec": before}
    _save_state(partial / "last.pt", state)
    old = run_cli("train", "--resume", partial, check=False)
    assert old.returncode == 2 and "DECOLLE's decays per time bin" in old.stderr
    _save_state(partial / "last.pt", state | {"model_spec": spec})
    assert read_resume_state(partial)[2]["model_spec"]["neuron"]["step_ms"] == 1.0

"""The process-group building blocks of data-parallel training (gloo on CPU, two real processes)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers import run_cli

from qsnn_deploy.train.distributed import SINGLE, Group, free_port, spawn


def _worker(group: Group, path: str) -> None:
    idx = torch.arange(10)
    part = group.shard(idx)
    total = group.sum([float(part.sum()), len(part)])
    mean = group.mean([float(group.rank)])  # e.g. a validation figure that differs between processes on CUDA
    torch.save(
        {"rank": group.rank, "part": part, "total": torch.tensor(total), "mean": torch.tensor(mean)},
        f"{path}.{group.rank}",
    )


def test_two_processes_share_each_batch_and_sum_over_the_group(tmp_path):
    spawn(_worker, 2, torch.device("cpu"), args=(str(tmp_path / "out"),))
    parts = [torch.load(tmp_path / f"out.{r}", weights_only=True) for r in range(2)]
    assert torch.equal(torch.sort(torch.cat([p["part"] for p in parts])).values, torch.arange(10))
    for p in parts:
        assert p["total"].tolist() == [45.0, 10.0] and p["mean"].tolist() == [0.5]


def test_one_process_is_the_identity():
    idx = torch.arange(5)
    assert (
        SINGLE.writer
        and torch.equal(SINGLE.shard(idx), idx)
        and SINGLE.sum([1, 2]) == [1.0, 2.0] == SINGLE.mean([1, 2])
    )


# --- data-parallel training end to end -------------------------------------------------------------------------

TOLERANCE = 1e-5  # largest weight difference allowed between a 2-process and a 1-process run (seen: < 1e-6)
RUN = ("train", "--limit", "64", "--time-bins", "4", "--epochs", "3", "--batch-size", "16", "--device", "cpu", "-q")


def _weights(run):
    from qsnn_deploy.nets.checkpoint import load_checkpoint

    return load_checkpoint(run / "checkpoint.pt")[0].state_dict()


def _assert_same_training(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert (wa[key] - wb[key]).abs().max() <= TOLERANCE, key


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    run_cli(*RUN, "--out", out)
    return out


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(single_run, tmp_path):
    out = tmp_path / "ddp"
    proc = run_cli(*RUN, "--nproc", "2", "--out", out)
    _assert_same_training(single_run, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["nproc"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # one writer, no partial folder left
    assert "2 processes, gloo" in proc.stderr


def test_torchrun_runs_the_same_training(single_run, tmp_path):
    out = tmp_path / "torchrun"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port()),
        "-m",
        "qsnn_deploy.cli.main",
        *RUN,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same_training(single_run, out)
    assert json.loads((out / "metrics.json").read_text())["nproc"] == 2


def test_bad_nproc_is_a_usage_error(tmp_path):
    for bad in ("0", "-1"):
        proc = run_cli(*RUN, "--nproc", bad, "--out", tmp_path / "r", check=False)
        assert proc.returncode == 2 and "--nproc" in proc.stderr
    proc = run_cli(*RUN, "--nproc", "2", "--ann", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2 and "--nproc" in proc.stderr


def test_an_epoch_trains_each_process_on_its_share_only():
    """_train_epoch feeds the model only this process's part of every global batch."""
    from qsnn_deploy.nets.framed import FramedSplit
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import load_spec
    from qsnn_deploy.train.bptt import _train_epoch
    from qsnn_deploy.train.config import TrainConfig

    class LocalHalf(Group):  # rank 1 of 2, without a process group: sums stay local
        def sum(self, values):
            return [float(v) for v in values]

    spec = load_spec("digits_speck")
    model = SpikingCNN(spec)
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    data = FramedSplit(torch.zeros(20, 2, *spec.input_shape), torch.zeros(20, dtype=torch.long), 1.0)
    cfg = TrainConfig(epochs=1, batch_size=8, time_bins=2, lr=1e-3)
    _train_epoch(
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        None,
        data,
        cfg,
        1,
        torch.device("cpu"),
        False,
        LocalHalf(rank=1, world=2),
    )
    assert seen == [4, 4, 2]  # global batches of 8, 8, 4 → this process's halves


def test_two_processes_steer_a_synop_goal_as_one(tmp_path):
    """With a SynOp goal the validation figures choose the kept epoch and steer the loss's target; every process
    acts on the group's figures, so two processes keep the epoch and the correction one process does."""
    goal = ("--synop-target", "2e5", "--synop-goal", "3e5", "--val-fraction", "0.25")
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli(*RUN, *goal, "--out", one)
    run_cli(*RUN, *goal, "--nproc", "2", "--out", two)
    # the SynOp term is not linear in the batch's mean, so half-batch gradients differ slightly (seen: 4e-5)
    m1, m2 = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert m1["synop_control"] == m2["synop_control"] == 1.0
    assert m1["selected_epoch"] == m2["selected_epoch"] and m1["synop_goal_met"] == m2["synop_goal_met"]
    assert m1["synop_correction"] == pytest.approx(m2["synop_correction"], rel=1e-3) and m1["synop_correction"] != 1


class _Skewed(Group):
    """One process whose group reports validation figures of its own: what the mean over several would be."""

    def mean(self, values):
        return [0.123, 1234.0]


def test_every_choice_of_an_epoch_reads_the_group_figures():
    """The kept epoch, the SynOp loop and the history use the group's mean validation figures, not this
    process's own (on CUDA, processes can measure slightly different ones)."""
    from qsnn_deploy.train.bptt import BPTT, _Job
    from qsnn_deploy.train.config import TrainConfig
    from qsnn_deploy.train.splits import model_spec
    from qsnn_deploy.train.synop_control import STEP

    config = TrainConfig(limit=32, time_bins=4, batch_size=16, epochs=2, synop_target=2e5, synop_goal=3e5)
    spec = model_spec(config, False, lambda msg: None)
    job = _Job(config.resolve(spec), spec, torch.device("cpu"), None, False, False)
    run = BPTT(job, lambda msg: None, None, _Skewed())
    run.start_epoch(1)
    entry = run.after_pass(1, 0.0)
    assert (entry["val_accuracy"], entry["val_synops_per_sample"]) == (0.123, 1234.0)
    assert run.stopping.best_val == 0.123 and run.stopping.meets_goal(1234.0)
    assert run.control.correction == STEP  # 0.97 × 3e5 / 1234 is far above one step

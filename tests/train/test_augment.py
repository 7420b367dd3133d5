"""Per-epoch random shifts of framed training batches (train --shift-px)."""

import pytest
import torch
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train.augment import epoch_shifts, shift_frames
from qsnn_deploy.train.config import TrainConfig


def test_shift_by_hand():
    x = torch.arange(1, 10, dtype=torch.float32).view(1, 1, 1, 3, 3)  # rows 1 2 3 / 4 5 6 / 7 8 9
    down_right = shift_frames(x, torch.tensor([[1, 1]]))[0, 0, 0]
    assert down_right.tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]
    up_left = shift_frames(x, torch.tensor([[-1, -2]]))[0, 0, 0]
    assert up_left.tolist() == [[6, 0, 0], [9, 0, 0], [0, 0, 0]]
    assert torch.equal(shift_frames(x, torch.tensor([[0, 0]])), x)
    assert shift_frames(x, torch.tensor([[3, 0]])).sum() == 0  # moved off entirely


@settings(max_examples=40, deadline=None)
@given(dy=st.integers(-3, 3), dx=st.integers(-3, 3))
def test_shift_keeps_the_counts_that_stay_on_the_input(dy, dx):
    g = torch.Generator().manual_seed(dy * 7 + dx)
    x = torch.randint(0, 3, (2, 2, 2, 6, 5), generator=g).float()
    y = shift_frames(x, torch.tensor([[dy, dx], [0, 0]]))
    kept = x[0, ..., max(-dy, 0) : 6 + min(-dy, 0), max(-dx, 0) : 5 + min(-dx, 0)].sum()
    assert float(y[0].sum()) == float(kept)
    assert torch.equal(y[1], x[1])  # each sample its own shift


def test_epoch_shifts_are_seeded_per_epoch_and_in_range():
    a = epoch_shifts(200, 2, seed=0, epoch=1)
    assert a.shape == (200, 2) and int(a.abs().max()) == 2
    assert torch.equal(a, epoch_shifts(200, 2, seed=0, epoch=1))
    assert not torch.equal(a, epoch_shifts(200, 2, seed=0, epoch=2))
    assert not torch.equal(a, epoch_shifts(200, 2, seed=1, epoch=1))
    with pytest.raises(UsageError, match="--shift-px"):
        TrainConfig(shift_px=-1).resolve(load_spec("digits_speck"))


def test_shift_px_trains_from_the_cli_and_is_recorded(tmp_path):
    import yaml

    out = tmp_path / "sh"
    run_cli("train", "--shift-px", "1", "--epochs", "1", "--limit", "32", "--time-bins", "2", "--out", out, "-q")
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["shift_px"] == 1
    local = tmp_path / "ell"
    run_cli(
        "train",
        "--learning-rule",
        "ell",
        "--shift-px",
        "1",
        "--epochs",
        "1",
        "--limit",
        "32",
        "--time-bins",
        "2",
        "--out",
        local,
        "-q",
    )
    assert yaml.safe_load((local / "config.yaml").read_text())["train"]["shift_px"] == 1
    proc = run_cli("train", "--integer-only", "--shift-px", "1", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "does not take --shift-px" in proc.stderr

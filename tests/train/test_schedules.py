"""Learning-rate schedules come from torch.optim.lr_scheduler and have the expected shapes; the count MSE loss."""

import pytest
import torch
from torch.optim import lr_scheduler

from qsnn_deploy.errors import UsageError
from qsnn_deploy.train.schedules import SCHEDULES, make_scheduler


def _lrs(name, epochs=12, steps=3, period=None, lr=1.0):
    """The lr of every epoch (per_batch schedules: of every batch) over a whole run."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched, per_batch = make_scheduler(name, opt, epochs, steps, period)
    lrs = []
    for _ in range(epochs * (steps if per_batch else 1)):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return sched, per_batch, lrs


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_is_a_torch_scheduler(name):
    sched, per_batch, lrs = _lrs(name)
    assert isinstance(sched, lr_scheduler.LRScheduler)
    assert type(sched).__module__.startswith("torch.optim")
    assert per_batch == (name == "one-cycle")
    assert len(lrs) == (36 if per_batch else 12) and all(v >= 0 for v in lrs)


def test_schedule_shapes():
    assert _lrs("constant")[2] == [1.0] * 12
    multi = _lrs("multistep")[2]  # ÷10 after epoch 6 (50 %) and 9 (75 %)
    assert multi[:6] == [1.0] * 6 and multi[6:9] == pytest.approx([0.1] * 3) and multi[9:] == pytest.approx([0.01] * 3)
    cos = _lrs("cosine")[2]
    assert all(a > b for a, b in zip(cos, cos[1:]))  # monotone down over the whole run
    boost = _lrs("periodic-cosine", period=3)[2]  # T_max 3 stepped past T_max: down to 0 at 3, back up at 6
    assert boost[0] == 1.0 and boost[3] == pytest.approx(0.0, abs=1e-12) and boost[6] == pytest.approx(1.0)
    assert boost[4] > boost[3] and boost[5] > boost[4]  # the rise after T_max
    assert _lrs("periodic-cosine")[2][4] == pytest.approx(0.0, abs=1e-12)  # default period epochs // 3 = 4
    warm = _lrs("warm-restarts", period=4)[2]
    assert warm[3] < warm[2] < warm[1] < warm[0] == warm[4] == warm[8] == 1.0  # jumps back up, no ramp
    _, _, one = _lrs("one-cycle", lr=0.5)  # 36 batch steps: warm-up to the peak (= --lr), anneal to ~0
    peak = max(range(len(one)), key=one.__getitem__)
    assert 0 < peak < 20 and one[peak] == pytest.approx(0.5, rel=0.05) and one[0] < 0.1 and one[-1] < 1e-3


def test_bad_schedule_options_are_usage_errors():
    with pytest.raises(UsageError, match="unknown learning-rate schedule 'linear'.*Fix: use one of constant"):
        _lrs("linear")
    with pytest.raises(UsageError, match="--lr-period is for the periodic schedules"):
        _lrs("cosine", period=3)
    with pytest.raises(UsageError, match="--lr-period must be >= 1"):
        _lrs("warm-restarts", period=0)


def test_cli_lists_the_library_schedules_and_losses():
    from qsnn_deploy.cli.train_cmd import LOSSES as CLI_LOSSES
    from qsnn_deploy.cli.train_cmd import SCHEDULES as CLI_SCHEDULES
    from qsnn_deploy.train.losses import LOSSES

    assert CLI_SCHEDULES == SCHEDULES and CLI_LOSSES == LOSSES


def test_mse_count_loss_by_hand():
    from qsnn_deploy.train.losses import mse_count, task_loss

    out = torch.zeros(2, 10, 3)  # 2 samples, T = 10, 3 classes
    out[0, :8, 1] = 1  # label 1 fires 8/10, others 2/10 → exactly on target
    out[0, :2, 0] = out[0, :2, 2] = 1
    labels = torch.tensor([1, 0])  # sample 1: silent → errors 0.8, 0.2, 0.2
    expected = (0.8**2 + 0.2**2 + 0.2**2) / 6
    assert float(mse_count(out, labels)) == pytest.approx(expected)
    assert float(task_loss("mse-count", out, labels)) == pytest.approx(expected)
    out.requires_grad_(True)
    mse_count(out, labels).backward()
    assert out.grad is not None and float(out.grad.abs().sum()) > 0
    assert float(task_loss("ce", out, labels).detach()) == pytest.approx(
        float(torch.nn.functional.cross_entropy(out.sum(1), labels).detach())
    )


def test_bad_loss_and_patience_are_usage_errors():
    from qsnn_deploy.nets.zoo import load_spec
    from qsnn_deploy.train.config import TrainConfig

    spec = load_spec("digits_speck")
    with pytest.raises(UsageError, match="unknown loss 'hinge'"):
        TrainConfig(loss="hinge").resolve(spec)
    with pytest.raises(UsageError, match="--patience must be >= 1"):
        TrainConfig(patience=0).resolve(spec)
    with pytest.raises(UsageError, match="--val-fraction 0 holds out no validation split"):
        TrainConfig(val_fraction=0.0, patience=2).resolve(spec)
    assert TrainConfig(patience=2).resolve(spec).val_fraction == 0.1

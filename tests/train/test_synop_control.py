"""The closed-loop SynOp target (issue 18): after the annealed target holds, each epoch's validation SynOps steer
the loss's target towards 0.97 × the goal, at most ×1.25 per epoch, within bounds."""

import pytest

from qsnn_deploy.errors import UsageError
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.train import TrainConfig
from qsnn_deploy.train.checks import check_config
from qsnn_deploy.train.synop_control import AIM, HIGHEST, LOWEST, STEP, SynOpControl


def test_correction_acts_only_once_the_target_holds():
    c = SynOpControl(goal=1e5, hold_from=5)
    c.update(4, 2e5)  # still annealing: the schedule rules
    assert c.correction == 1.0 and c.target(3e5) == 3e5
    c.update(5, 1.9e5)  # 2x over the aim: the most one epoch allows
    assert c.correction == pytest.approx(1 / STEP)
    c.update(6, AIM * 1e5 * 1.1)  # 10 % over: lowered by 1/1.1
    assert c.correction == pytest.approx(1 / STEP / 1.1)
    c.update(7, AIM * 1e5)  # on the aim: kept
    assert c.correction == pytest.approx(1 / STEP / 1.1) and c.target(2e5) == pytest.approx(2e5 / STEP / 1.1)
    c.update(8, AIM * 1e5 / 1.1)  # under: raised again (the target form pulls both ways)
    assert c.correction == pytest.approx(1 / STEP)


def test_correction_is_bounded_and_gain_zero_is_open_loop():
    c = SynOpControl(goal=1e5, hold_from=1)
    for epoch in range(1, 40):
        c.update(epoch, 1e7)
    assert c.correction == LOWEST
    for epoch in range(40, 80):
        c.update(epoch, 1.0)
    assert c.correction == HIGHEST
    c.update(80, 0.0)  # silent network: nothing to steer by
    assert c.correction == HIGHEST
    still = SynOpControl(goal=1e5, hold_from=1, gain=0.0)
    still.update(3, 1e7)
    assert still.correction == 1.0
    half = SynOpControl(goal=1e5, hold_from=1, gain=0.5)
    half.update(1, AIM * 1e5 * 1.21)
    assert half.correction == pytest.approx(1 / 1.1)


def test_control_defaults_to_on_with_a_goal_and_needs_one():
    spec = load_spec("digits_speck")
    assert TrainConfig(synop_target=3e5, synop_goal=3e5).resolve(spec).synop_control == 1.0
    assert TrainConfig(synop_target=3e5).resolve(spec).synop_control is None
    assert TrainConfig(synop_target=3e5, synop_goal=3e5, synop_control=0).resolve(spec).synop_control == 0
    with pytest.raises(UsageError, match="no.*goal|there is none"):
        check_config(TrainConfig(synop_target=3e5, synop_control=1.0))
    with pytest.raises(UsageError, match="gain >= 0"):
        check_config(TrainConfig(synop_target=3e5, synop_goal=3e5, synop_control=-1.0))


def test_control_refuses_runs_where_it_would_do_nothing():
    with pytest.raises(UsageError, match="lacks one") as err:
        check_config(TrainConfig(synop_goal=3e5, synop_control=1.0))  # a goal but no target to steer
    assert err.value.fix and "--synop-target" in err.value.fix
    with pytest.raises(UsageError, match="lacks one"):
        check_config(TrainConfig(synop_penalty=1e-7, synop_control=1.0))
    with pytest.raises(UsageError, match="--val-fraction 0 holds none out"):
        check_config(TrainConfig(synop_target=3e5, synop_goal=3e5, val_fraction=0.0))

"""The sensor input stage and the readout block."""

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.emulate.readout import IDLE, readout
from qsnn_deploy.emulate.sensor import SensorStage
from qsnn_deploy.errors import InputError


def ev(*rows):
    out = np.zeros(len(rows), EVENT_DTYPE)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def test_pooling_keeps_every_event():
    out = SensorStage(pool=2).apply(ev((0, 0, 1, 0), (1, 1, 2, 1), (3, 2, 3, 0)), (4, 4, 2))
    assert out[["x", "y"]].tolist() == [(0, 0), (0, 0), (1, 1)]
    assert SensorStage(pool=4).output_size((128, 128, 2)) == (32, 32, 2)


def test_roi_drops_outside_and_shifts():
    stage = SensorStage(roi=(1, 1, 2, 2))
    out = stage.apply(ev((0, 0, 1, 0), (1, 1, 2, 0), (2, 2, 3, 1), (3, 3, 4, 0)), (4, 4, 2))
    assert out[["x", "y", "t"]].tolist() == [(0, 0, 2), (1, 1, 3)]
    assert stage.output_size((4, 4, 2)) == (2, 2, 2)


def test_flips_and_polarity_merge():
    out = SensorStage(flip_x=True, flip_y=True, merge_polarity=True).apply(ev((0, 1, 5, 1)), (4, 3, 2))
    assert out[["x", "y", "p"]].tolist() == [(3, 1, 0)]
    assert SensorStage(merge_polarity=True).output_size((4, 3, 2)) == (4, 3, 1)


def test_bad_settings():
    with pytest.raises(InputError, match="1, 2 or 4"):
        SensorStage(pool=3)
    with pytest.raises(InputError, match="exceeds"):
        SensorStage(roi=(0, 0, 5, 5)).output_size((4, 4, 2))


def test_readout_moving_average_and_idle():
    times = np.array([100, 150, 2100, 2200, 2300])
    classes = np.array([3, 3, 1, 1, 1])
    cls, avg = readout(times, classes, duration_us=3000, tick_us=1000, window=1)
    assert cls == 1 and avg.shape == (3, 15) and avg[0, 3] == 2 and avg[2, 1] == 3
    cls16, avg16 = readout(times, classes, duration_us=3000, tick_us=1000, window=16)
    assert cls16 == 1 and avg16[-1, 3] == pytest.approx(2 / 16)
    assert readout(np.array([]), np.array([]), 3000, 1000)[0] == IDLE
    with pytest.raises(InputError, match="15 classes"):
        readout(times, classes, 3000, 1000, n_classes=20)
    with pytest.raises(InputError, match="window"):
        readout(times, classes, 3000, 1000, window=8)

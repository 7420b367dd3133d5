"""The ISCAS spatio-temporal pattern task: deterministic data, memory accounting, training lowers the distance."""

import pytest
import torch

from qsnn_deploy.errors import UsageError
from qsnn_deploy.train.pattern_task import (
    PatternBits,
    memory_footprint,
    poisson_input,
    run_pattern_task,
    smile_target,
    van_rossum,
)

SMALL = {"n_in": 100, "n_hidden": 50, "n_out": 40, "steps": 60}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest on shared cores


@pytest.mark.parametrize("bad", [{"wb": 0}, {"ab": 1}, {"eb": 17}, {"gb": 1}, {"rb": 0}, {"wb": 2.0}])
def test_bad_bit_widths_are_usage_errors(bad):
    with pytest.raises(UsageError, match="PatternBits"):
        PatternBits(**bad)


def test_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError, match="epochs"):
        run_pattern_task(0)
    with pytest.raises(UsageError, match="lr"):
        run_pattern_task(1, lr=-1.0, **SMALL)


def test_data_is_deterministic_and_shaped():
    a, b = poisson_input(seed=3), poisson_input(seed=3)
    assert a.shape == (250, 700) and torch.equal(a, b) and not torch.equal(a, poisson_input(seed=4))
    assert 0.02 < float(a.mean()) < 0.03  # 25 Hz at 1 ms
    t = smile_target()
    assert t.shape == (250, 250) and set(t.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(t, smile_target()) and 200 < int(t.sum()) < 600  # sparse spikes on the strokes


def test_van_rossum_by_hand():
    out, target = torch.zeros(3, 1), torch.tensor([[1.0], [0.0], [0.0]])
    # filtered difference: -1, -0.75, -0.5625; D = sqrt(Σ² · (1 − 0.75))
    expected = ((1 + 0.75**2 + 0.5625**2) * 0.25) ** 0.5
    assert float(van_rossum(out, target)) == pytest.approx(expected)
    assert float(van_rossum(target, target)) == 0.0


def test_memory_footprint_by_hand():
    q = memory_footprint(10, 5, 3, PatternBits())
    assert q["weights_bits"] == 65 * 2 and q["states_bits"] == 16 * 8
    assert q["gradients_bits"] == 65 * 8 and q["errors_bits"] == 16 * 8
    assert q["total_bits"] == 130 + 128 + 520 + 128
    assert memory_footprint(10, 5, 3, None)["total_bits"] == (65 + 16 + 65 + 16) * 32


@pytest.mark.parametrize("bits", [PatternBits(), None], ids=["quantised", "fp"])
def test_training_lowers_the_distance(bits):
    r = run_pattern_task(12, bits, seed=0, rasters=True, **SMALL)
    assert len(r["history"]) == 12
    assert min(r["history"][1:]) < r["history"][0] and r["final_distance"] < r["initial_distance"]
    assert r["output"].shape == r["target"].shape == (60, 40)
    assert (r["memory_saved"] > 0.7) if bits is not None else r["memory_saved"] == 0.0

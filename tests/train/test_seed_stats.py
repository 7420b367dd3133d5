"""Figures over seeds: mean, sample std (ddof 1), n and per-seed values, and their text."""

import pytest

from qsnn_deploy.train.seed_stats import mean_and_std, mean_pm_std, per_seed_text, seed_stats


def test_sample_std_n_and_values_in_seed_order():
    s = seed_stats([0.9861, 0.9944, 0.9889])
    assert s["n"] == 3 and s["per_seed"] == [0.9861, 0.9944, 0.9889]
    assert s["mean"] == pytest.approx(0.98980) and s["std"] == pytest.approx(0.0042226, rel=1e-4)  # ddof 1
    assert seed_stats([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1, "per_seed": [0.5]}
    assert mean_pm_std(s) == "98.98 ± 0.42" and per_seed_text(s) == "98.61, 99.44, 98.89"
    assert mean_pm_std(seed_stats([-1.67, -2.51]), scale=1) == "-2.09 ± 0.59"
    assert mean_and_std([0.9861, 0.9944, 0.9889]) == (s["mean"], s["std"]) and mean_and_std([0.5]) == (0.5, 0.0)

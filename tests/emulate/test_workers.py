"""Samples spread over threads (--workers): the same results, in sample order, as one worker."""

import numpy as np
import pytest
from helpers import random_network, random_raster

from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.emulate.event_mode import run_event_mode
from qsnn_deploy.emulate.samples import Samples
from qsnn_deploy.emulate.workers import available_cores, ordered_map, resolve_workers
from qsnn_deploy.errors import UsageError


def test_ordered_map_keeps_the_order_and_counts_for_progress():
    seen = []

    def bar(results):
        seen.append(len(results))
        return results

    assert ordered_map(lambda i: i * i, range(7), 3, bar) == [i * i for i in range(7)] and seen == [7]
    assert ordered_map(lambda i: i, [], 4) == [] and ordered_map(str, [5], 4) == ["5"]


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    free = available_cores(tmp_path / "absent")
    cpu_max.write_text("max 100000\n")
    assert available_cores(cpu_max) == free
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: 2 threads at most
    assert available_cores(cpu_max) == min(free, 2)
    cpu_max.write_text("50000 100000\n")
    assert available_cores(cpu_max) == 1
    cpu_max.write_text("garbage\n")
    assert available_cores(cpu_max) == free


def test_workers_option():
    assert resolve_workers(None) == available_cores() >= 1 and resolve_workers(3) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(UsageError, match="--workers"):
            resolve_workers(bad)


@pytest.mark.parametrize("workers", [2, 3])
def test_event_and_binned_modes_give_one_workers_results(workers):
    net = random_network(4, quantized=True, bias=True)
    x = random_raster(7, 6, net.input_shape, rate=0.3, seed=11)
    samples = Samples(x, None, "test")
    one = run_event_mode(net, samples, monitor=("all",), workers=1)
    many = run_event_mode(net, samples, monitor=("all",), workers=workers)
    for key in ("output_counts", "layer_spikes", "layer_synops"):
        assert np.array_equal(one[key], many[key])
    assert one["monitored"] is not None and np.array_equal(one["monitored"], many["monitored"])
    assert one["layer_spikes"].sum() > 0
    a, b = run_binned(net, x, batch_size=2, workers=1), run_binned(net, x, batch_size=64, workers=workers)
    assert np.array_equal(a.output_trace, b.output_trace) and np.array_equal(a.layer_synops, b.layer_synops)
    assert np.array_equal(a.layer_spikes, b.layer_spikes)

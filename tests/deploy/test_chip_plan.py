"""The chip plan and its JSON description (no driver), and the event conversions around the chip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import random_network, random_raster

from qsnn_deploy.deploy.chip_events import (
    OUT_DTYPE,
    check_events,
    class_counts,
    decode_readout,
    pooled_counts,
    samples_from_file,
)
from qsnn_deploy.deploy.chip_plan import (
    chip_description,
    device_type_for,
    plan_chip,
    write_atomic,
    write_description,
)
from qsnn_deploy.emulate.event import raster_to_events
from qsnn_deploy.errors import ConstraintError, InputError
from qsnn_deploy.ir import ChipLayer, Network


def test_plan_uses_converts_cores_and_integers(qnet):
    from qsnn_deploy.hw import load_profile, map_layers

    plan = plan_chip(qnet, "speck2f")
    assert plan.core_map == map_layers(qnet, load_profile("speck2f")).assignment
    assert plan.network is plan.model is qnet and plan.monitor == (2,) and plan.slow_clk_hz is None
    float_plan = plan_chip(random_network(0), "speck2f")  # a float model is discretised exactly as convert does
    for a, b in zip(float_plan.layers, qnet.layers):
        assert np.array_equal(a.weight, b.weight) and a.threshold == b.threshold


def test_description_is_complete_and_exact(qnet, tmp_path):
    plan = plan_chip(qnet, "speck2f")
    doc = json.loads(write_description(plan, tmp_path / "chip.json").read_text())
    assert doc["format"] == "qsnn-deploy-chip-config" and doc["schema_version"] == 1
    assert doc["core_map"] == plan.core_map and doc["device_type"] == "speck2fdevkit"
    assert doc["input"]["core"] == plan.cores[0] and doc["readout"] == {"enabled": False}
    for i, (layer, d) in enumerate(zip(qnet.layers, doc["layers"])):
        assert np.array_equal(np.array(d["weights"]), layer.weight)
        assert d["threshold_high"] == layer.threshold and d["threshold_low"] == layer.lower_bound
        assert d["reset"] == "subtract" and d["return_to_zero"] is False and d["pooling"] == layer.pool
        assert d["dimensions"]["kernel_size"] == layer.kernel_size[0]
        assert d["dimensions"]["output_shape"]["feature_count"] == layer.c_out
        assert d["core"] == plan.cores[i] and d["scale"] == layer.scale
        want = [{"layer": plan.cores[i + 1], "enable": True, "pooling": layer.pool}] if i < 2 else []
        assert d["destinations"] == want
    assert doc["layers"][-1]["monitor_enable"] and not doc["layers"][0]["monitor_enable"]


def test_readout_widens_the_last_layer_and_needs_a_small_classifier(qnet):
    plan = plan_chip(qnet, "speck2f", readout=True)
    last = plan.layers[-1]
    assert last.c_out == 4 * 4 + 1 and not last.weight[1::4].any()
    assert np.array_equal(last.weight[::4], qnet.layers[-1].weight) and plan.class_channels() == [0, 4, 8, 12, 16]
    assert plan.slow_clk_hz == 20 and plan.model.n_classes == 5
    d = chip_description(plan)
    assert (
        d["readout"]["enabled"] and d["readout"]["layer"] == 12 and d["readout"]["readout_channels"] == [1, 2, 3, 4, 5]
    )
    assert d["layers"][-1]["destinations"] == [{"layer": 12, "enable": True, "pooling": 1}]
    big = qnet.layers[-1].replace(weight=np.ones((16, *qnet.layers[-1].weight.shape[1:])))
    net16 = Network(qnet.layers[:-1] + (big,), qnet.input_shape, qnet.dt_us)
    with pytest.raises(ConstraintError, match="up to 15 classes") as err:
        plan_chip(net16, "speck2f", readout=True)
    assert err.value.exit_code == 4 and "without --readout" in err.value.message


def test_bias_sets_the_slow_clock_to_one_tick_per_time_bin():
    plan = plan_chip(random_network(2, quantized=True, bias=True), "speck2f")
    assert plan.slow_clk_hz == 1000.0 and any("slow clock" in n for n in plan.notes)
    assert chip_description(plan)["layers"][0]["leak_enable"] is True


def test_a_model_that_does_not_fit_is_exit_4(qnet):
    wide = ChipLayer("wide", np.ones((128, 2, 3, 3)), (2, 64, 64), padding=1)
    net = Network((wide,), (2, 64, 64))
    with pytest.raises(ConstraintError, match="does not fit speck2f") as err:
        plan_chip(net, "speck2f")
    assert err.value.exit_code == 4


def test_the_board_sinabs_builds_for():
    assert device_type_for("speck2f") == "speck2fdevkit"
    assert device_type_for("speck2f", "speck2fmodule") == "speck2fmodule"
    with pytest.raises(InputError, match="names no samna board") as err:
        device_type_for("loihi")  # an estimate-only profile: no samna_devices
    assert err.value.exit_code == 3 and err.value.fix and "samna_devices" in err.value.fix


def test_write_atomic_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


# --- events ---------------------------------------------------------------------------------------


def test_raster_to_events_bins_back_to_the_same_raster(qnet):
    from qsnn_deploy.data.framing import to_frames

    r = random_raster(2, 6, qnet.input_shape, rate=0.3, seed=1)
    for x in r:
        ev = raster_to_events(x, qnet.dt_us)
        assert len(ev) == int(x.sum()) and np.all(np.diff(ev["t"]) >= 0)
        c, h, w = qnet.input_shape
        back = to_frames([ev], (w, h, c), 6, duration_us=int(6 * qnet.dt_us))[0]
        assert np.array_equal(back, x)


def test_samples_from_files_match_the_emulator_input(qnet, raster_file, events_file):
    from qsnn_deploy.deploy.emulator import inputs_from_file

    s = samples_from_file(qnet, raster_file)
    assert len(s) == 3 and np.array_equal(s.raster, inputs_from_file(qnet, raster_file).raster)
    e = samples_from_file(qnet, events_file)
    assert len(e) == 1 and len(e.events[0]) == 300 and e.raster.shape[0] == 1
    assert e.raster.sum() == 300  # every event lands in a bin of the emulator's raster


def test_check_events_refuses_what_the_first_core_cannot_take(qnet):
    ev = raster_to_events(random_raster(1, 3, qnet.input_shape, seed=2)[0], qnet.dt_us)
    check_events(ev, qnet, "here")
    bad = ev.copy()
    bad["x"][0] = 12
    with pytest.raises(InputError, match="outside the model input"):
        check_events(bad, qnet, "here")
    late = ev.copy()
    late["t"][-1] = 2**32
    with pytest.raises(InputError, match="2\\^32"):
        check_events(late, qnet, "here")


def test_pooled_and_class_counts(qnet):
    plan = plan_chip(qnet, "speck2f")
    c1, c2, fc = plan.cores
    out = np.array(
        [(c2, 0, 0, 1, 5), (c2, 1, 0, 1, 6), (c2, 5, 5, 0, 7), (fc, 0, 0, 4, 8), (fc, 0, 0, 4, 9), (c1, 2, 3, 0, 9)],
        OUT_DTYPE,
    )
    p = pooled_counts(out, plan, 1)
    assert p.shape == (6, 3, 3) and p[1, 0, 0] == 2 and p[0, 2, 2] == 1 and p.sum() == 3
    assert class_counts(out, plan).tolist() == [0, 0, 0, 0, 2]
    odd = ChipLayer("odd", np.ones((2, 2, 3, 3)), (2, 7, 7), pool=2)  # 5×5 conv output, pooled to 2×2
    oplan = plan_chip(Network((odd,), (2, 7, 7)), "speck2f")
    o = np.array([(oplan.cores[0], 4, 0, 0, 1), (oplan.cores[0], 3, 3, 1, 1)], OUT_DTYPE)
    assert pooled_counts(o, oplan, 0).sum() == 1  # the dropped border column, as the emulator drops it


def test_decode_readout_words():
    word = lambda valid, ch, low=0: (valid << 20) | (ch << 16) | low  # noqa: E731
    assert decode_readout([]) == {"prediction": -1, "valid_values": 0, "values": 0}
    got = decode_readout([word(1, 4), word(1, 4, 99), word(1, 2), word(0, 7), word(1, 0)])
    assert got == {"prediction": 3, "valid_values": 3, "values": 5}

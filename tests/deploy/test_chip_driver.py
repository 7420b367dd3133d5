"""The chip path at the driver boundary: what is sent to samna, and how what comes back is decoded.

Each test runs against the samna stand-in (which records every call) and, marked ``hardware``,
against a real Speck2f board; the assertions on recorded traffic run on the stand-in only.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_network, random_raster

from qsnn_deploy.deploy.chip import (
    ChipOptions,
    compare_with_emulator,
    dry_run,
    export_config,
    run_on_chip,
)
from qsnn_deploy.deploy.chip_plan import READOUT_LAYER, plan_chip
from qsnn_deploy.emulate.event import raster_to_events
from qsnn_deploy.emulate.samples import Samples
from qsnn_deploy.errors import BackendUnavailable, UsageError

FAST = ChipOptions(timeout_s=1.0, quiet_s=0.02, idle_s=0.05)


def _samples(net, n=3, t=5, seed=3, labels=True) -> Samples:
    r = random_raster(n, t, net.input_shape, rate=0.2, seed=seed)
    return Samples(
        raster=r,
        labels=np.arange(n) % net.n_classes if labels else None,
        source="test",
        events=[raster_to_events(x, net.dt_us) for x in r],
    )


def _spike(chip, core, x, y, feature, t):
    ev = chip.samna.speck2f.event.Spike()
    ev.layer, ev.x, ev.y, ev.feature, ev.timestamp = core, x, y, feature, t
    return ev


def _sample_batches(device) -> list[list]:
    """The written batches that carried input spikes (one per sample)."""
    return [w["events"] for w in device.model.writes if any(type(e).__name__ == "Spike" for e in w["events"])]


class ScriptedOutputs:
    """A responder: for the k-th sample written, the chip 'sends' ``outputs[k]`` (a list of
    (core, x, y, feature) tuples), time-stamped at the sample's last input event."""

    def __init__(self, chip, outputs):
        self.chip, self.outputs, self.k = chip, outputs, 0

    def __call__(self, device, events):
        spikes = [e for e in events if type(e).__name__ == "Spike"]
        if not spikes:
            return []
        out = self.outputs[self.k] if self.k < len(self.outputs) else []
        self.k += 1
        t = spikes[-1].timestamp
        return [_spike(self.chip, c, x, y, f, t) for c, x, y, f in out]


# --- what is sent ---------------------------------------------------------------------------------


def test_configuration_applied_holds_our_integers(chip, qnet):
    plan = plan_chip(qnet, "speck2f")
    res = run_on_chip(plan, _samples(qnet, n=1), FAST)
    assert res["integers_verified"] and res["device"] == "speck2fdevkit:0"
    if not chip.standin:
        return
    dev = chip.state.device
    assert len(dev.model.configurations) == 1
    cfg = dev.model.configuration
    for i, (layer, core) in enumerate(zip(qnet.layers, plan.cores)):
        c = cfg.cnn_layers[core]
        assert np.array_equal(np.asarray(c.weights), layer.weight.transpose(0, 1, 3, 2))  # samna: [o][i][x][y]
        assert c.threshold_high == int(layer.threshold) and c.threshold_low == int(layer.lower_bound)
        assert c.return_to_zero is False and not bool(c.leak_enable)
        assert c.dimensions.kernel_size == layer.kernel_size[0] and c.dimensions.stride.x == layer.stride
        assert c.dimensions.padding.y == layer.padding
        assert c.monitor_enable == (i == len(qnet.layers) - 1)
        if i + 1 < len(qnet.layers):
            d = c.destinations[0]
            assert (d.layer, d.enable, d.pooling) == (plan.cores[i + 1], True, layer.pool)
        else:
            assert not any(d.enable for d in c.destinations)
    assert cfg.dvs_layer.pass_sensor_events is False
    used = set(plan.cores)
    assert all(not cfg.cnn_layers[k].weights for k in range(9) if k not in used)


def test_events_written_with_their_timestamps_after_a_state_reset(chip, qnet, events_file):
    from qsnn_deploy.deploy.chip_events import samples_from_file

    plan = plan_chip(qnet, "speck2f")
    samples = samples_from_file(qnet, events_file)
    res = run_on_chip(plan, samples, FAST)
    assert res["events_in"] == len(samples.events[0]) == 300
    if not chip.standin:
        return
    dev = chip.state.device
    (sent,) = _sample_batches(dev)
    ev = samples.events[0]
    assert [e.layer for e in sent] == [plan.input_core] * len(ev)
    assert [(e.x, e.y, e.feature, e.timestamp) for e in sent] == list(
        zip(ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist(), ev["t"].tolist())
    )
    # before the spikes: every neuron of every used core zeroed, a probe answered, the stop watch reset
    kinds = [type(e).__name__ for w in dev.model.writes for e in w["events"]]
    first_spike = kinds.index("Spike")
    writes = [e for w in dev.model.writes for e in w["events"]][:first_spike]
    zeroed = {(e.layer, e.address) for e in writes if type(e).__name__ == "WriteNeuronValue"}
    assert all(e.neuron_state == 0 for e in writes if type(e).__name__ == "WriteNeuronValue")
    for layer, core in zip(qnet.layers, plan.cores):
        c, h, w = layer.conv_shape
        assert {(core, a) for a in range(c * 2 ** int(np.ceil(np.log2(h)) + np.ceil(np.log2(w))))} <= zeroed
    assert kinds[first_spike - 1] == "ReadNeuronValue"
    log = [a for a, _ in chip.state.log]
    assert log.index("stop_watch.start") < log.index("stop_watch.reset") < len(log) - 1 - log[::-1].index("write")
    assert chip.state.closed and chip.state.closed[0] is dev  # the board is closed afterwards


def test_each_sample_starts_from_rest(chip, qnet):
    plan = plan_chip(qnet, "speck2f")
    run_on_chip(plan, _samples(qnet, n=3), FAST)
    if not chip.standin:
        return
    batches = [[type(e).__name__ for e in w["events"]] for w in chip.state.device.model.writes]
    spikes_at = [i for i, b in enumerate(batches) if "Spike" in b]
    assert len(spikes_at) == 3
    for i in spikes_at:  # the batch before each sample is the probe after a full reset
        assert batches[i - 1] == ["ReadNeuronValue"] and set(batches[i - 2]) == {"WriteNeuronValue"}


# --- what comes back ------------------------------------------------------------------------------


def test_output_spikes_decoded_to_counts_predictions_and_accuracy(chip, qnet):
    if not chip.standin:
        pytest.skip("scripted outputs need the stand-in")
    plan = plan_chip(qnet, "speck2f")
    out_core = plan.cores[-1]
    # sample 0: class 3 twice and class 1 once; sample 1: nothing; sample 2: class 0 once
    chip.state.responder = ScriptedOutputs(
        chip, [[(out_core, 0, 0, 3), (out_core, 0, 0, 3), (out_core, 0, 0, 1)], [], [(out_core, 0, 0, 0)]]
    )
    samples = _samples(qnet, n=3)
    samples.labels = np.array([3, 0, 2])
    res = run_on_chip(plan, samples, FAST)
    assert res["output_spike_counts"] == [[0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]
    assert res["prediction"] == [3, 0, 0]
    assert res["accuracy"] == pytest.approx(2 / 3) and res["silent_samples"] == 1
    assert res["layer_spike_counts"] == {"fc": pytest.approx(4 / 3)}
    assert res["timed_out_samples"] == 0 and res["events_out"] == 4


def test_monitored_layers_are_pooled_like_the_emulator(chip, qnet):
    if not chip.standin:
        pytest.skip("scripted outputs need the stand-in")
    plan = plan_chip(qnet, "speck2f", monitor_all=True)
    c2 = plan.cores[1]  # conv output 6×6 pooled 2 → 3×3
    chip.state.responder = ScriptedOutputs(
        chip, [[(c2, 0, 0, 2), (c2, 1, 1, 2), (c2, 5, 4, 0), (plan.cores[0], 3, 3, 1)]]
    )
    res = run_on_chip(plan, _samples(qnet, n=1), FAST)
    per = res["_per_layer"]["c2"][0]
    assert per.shape == (6, 3, 3) and per[2, 0, 0] == 2 and per[0, 2, 2] == 1 and per.sum() == 3
    assert res["layer_spike_counts"] == {"c1": 1.0, "c2": 3.0, "fc": 0.0}
    cfg = chip.state.device.model.configuration
    assert all(cfg.cnn_layers[c].monitor_enable for c in plan.cores)


def test_late_outputs_are_waited_for_and_a_stall_times_out(chip, qnet):
    """Outputs after the input ended are collected (sinabs#165); a chip that keeps firing is
    reported as timed out after --timeout, not waited on forever. The stand-in releases the chip's
    outputs inside the host's reads (``model.emit_on_read``), not from a thread that races them, so
    the outcome does not depend on scheduling."""
    if not chip.standin:
        pytest.skip("scripted timing needs the stand-in")
    plan = plan_chip(qnet, "speck2f")
    core = plan.cores[-1]
    quiet_ms = 50  # the input spans 4 ms: only the reads after it ended wait a whole quiet window

    def late(device, events):
        if any(type(e).__name__ == "Spike" for e in events):  # nothing at once; a spike during the quiet wait
            device.model.emit_on_read([_spike(chip, core, 0, 0, 4, 9000)], min_wait_ms=quiet_ms)
        return []

    chip.state.responder = late
    # the timeout is far beyond what the run needs: it ends after one quiet window without spikes
    res = run_on_chip(plan, _samples(qnet, n=1), ChipOptions(timeout_s=60.0, quiet_s=quiet_ms / 1000))
    assert res["prediction"] == 4 and res["timed_out_samples"] == 0 and res["events_out"] == 1
    assert chip.state.device.on_read == []  # released once

    def stall(device, events):
        if any(type(e).__name__ == "Spike" for e in events):  # a spike in every read: never quiet
            device.model.emit_on_read([_spike(chip, core, 0, 0, 1, 1)], every_read=True)
        return []

    chip.state.responder = stall
    # no quiet window can pass, so the run returns only through its own 0.2 s timeout, which
    # timed_out_samples shows (no wall-clock assert)
    res = run_on_chip(plan, _samples(qnet, n=1), ChipOptions(timeout_s=0.2, quiet_s=quiet_ms / 1000))
    assert res["timed_out_samples"] == 1 and res["prediction"] == 1
    assert any("still sending spikes" in w for w in res["warnings"])


def test_standin_releases_outputs_only_into_reads_that_wait_long_enough(chip):
    """The stand-in's helper itself: held outputs go to the model's output buffer on the first read
    prepared to wait ``min_wait_ms`` (once, or on every such read), not to other buffers."""
    if not chip.standin:
        pytest.skip("a stand-in helper")
    samna = chip.samna
    handle = samna.device.open_device(samna.device.get_all_devices()[0])
    model, out = handle.get_model(), samna.BasicSinkNode_speck2f_event_output_event()
    other = samna.BasicSinkNode_unifirm_modules_events_measurement()
    samna.graph.sequential([model.get_source_node(), out]).start()
    rec = chip.state.device
    rec.model.emit_on_read([_spike(chip, 0, 0, 0, 2, 1)], min_wait_ms=30)
    rec.model.emit_on_read([_spike(chip, 0, 0, 0, 3, 1)], every_read=True)
    assert other.get_events_blocking(100) == []  # not connected to the model: nothing released
    assert [e.feature for e in out.get_events_blocking(10)] == [3]
    assert [e.feature for e in out.get_events()] == [3]
    assert sorted(e.feature for e in out.get_events_blocking(30)) == [2, 3]
    assert [e.feature for e in out.get_events_blocking(30)] == [3]
    samna.device.close_device(handle)


def test_readout_block(chip, qnet):
    plan = plan_chip(qnet, "speck2f", readout=True)
    assert plan.layers[-1].c_out == 17 and np.array_equal(plan.layers[-1].weight[::4], qnet.layers[-1].weight)
    if chip.standin:
        out_core = plan.cores[-1]
        script = ScriptedOutputs(chip, [[(out_core, 0, 0, 8), (out_core, 0, 0, 8)]])

        def responder(device, events):
            out = script(device, events)
            if out:  # readout words: valid bit, channel 4 (class 3), twice; one invalid word
                R, make = chip.samna.speck2f.event.ReadoutValue, chip.state.event
                out += [
                    make(R, value=(1 << 20) | (4 << 16) | 7),
                    make(R, value=(1 << 20) | (4 << 16)),
                    make(R, value=5 << 16),
                ]
            return out

        chip.state.responder = responder
    res = run_on_chip(plan, _samples(qnet, n=1, labels=False), FAST)
    assert "readout" in res and res["readout"]["slow_clk_hz"] == 20
    if not chip.standin:
        return
    # the readout decides (the chip sends no spikes with the readout monitored); spike counts are kept
    assert res["output_spike_counts"] == [0, 0, 2, 0, 0]
    assert res["readout"]["prediction"] == 3 and res["readout"]["valid_values"] == [2]
    assert res["prediction"] == 3 and res["prediction_from"] == "readout"
    cfg = chip.state.device.model.configuration
    last = cfg.cnn_layers[plan.cores[-1]]
    assert (last.destinations[0].layer, last.destinations[0].enable) == (READOUT_LAYER, True)
    assert cfg.readout.enable and cfg.readout.monitor_enable and cfg.readout.threshold == 1
    assert ("io.set_slow_clk_rate", 20) in chip.state.log and ("io.set_slow_clk", True) in chip.state.log


def test_power_rails_reported_separately(chip, qnet):
    if chip.standin:
        chip.state.power_active_watts = {2: 100e-6, 0: 20e-6}
    res = run_on_chip(
        plan_chip(qnet, "speck2f"),
        _samples(qnet, n=2),
        ChipOptions(timeout_s=1.0, quiet_s=0.02, measure_power=True, idle_s=0.05),
    )
    p = res["power"]
    assert set(p["rails"]) == {"io", "ram", "logic", "pixel_digital", "pixel_analog"}
    if not chip.standin:
        return
    assert p["rails"]["logic"]["dynamic_w"] == pytest.approx(100e-6)
    assert p["rails"]["io"]["dynamic_w"] == pytest.approx(20e-6)
    assert p["rails"]["ram"]["dynamic_w"] == pytest.approx(0, abs=1e-12)
    assert p["rails"]["logic"]["idle_w"] == pytest.approx(367e-6) and p["rails"]["logic"]["rail"] == "VDD_LOGIC"
    assert p["dynamic_w"] == pytest.approx(120e-6) and p["dynamic_energy_per_sample_j"] > 0
    assert ("power.start", 100.0) in chip.state.log


def test_board_without_power_monitor(chip, qnet):
    if not chip.standin:
        pytest.skip("needs a board without a power monitor")
    chip.state.has_power_monitor = False
    res = run_on_chip(
        plan_chip(qnet, "speck2f"),
        _samples(qnet, n=1),
        ChipOptions(timeout_s=1.0, quiet_s=0.02, measure_power=True, idle_s=0.05),
    )
    assert res["power"] == {"available": False} and any("no power monitor" in w for w in res["warnings"])


# --- devices --------------------------------------------------------------------------------------


def test_device_choice_by_name_and_index(chip):
    from qsnn_deploy.deploy.samna_backend import choose_device, list_devices

    if chip.standin:
        chip.state.reset(["Speck2eDevKit", "Speck2fDevKit", "Speck2fModuleDevKit", "Speck2fDevKit", "Xylo"])
    devices = list_devices()
    if not chip.standin:
        assert choose_device(devices, "speck2f", None).family == "speck2f"
        return
    assert [d.id for d in devices] == [
        "speck2edevkit:0",
        "speck2fdevkit:0",
        "speck2fdevkit:1",
        "speck2fmodule:0",
        "xylo:0",
    ]
    assert choose_device(devices, "speck2f", None).id == "speck2fdevkit:0"
    assert choose_device(devices, "speck2f", "speck2fdevkit:1").id == "speck2fdevkit:1"
    assert choose_device(devices, "speck2f", "2").id == "speck2fmodule:0"
    assert choose_device(devices, "speck2f", "speck2fmodule").id == "speck2fmodule:0"
    with pytest.raises(UsageError, match="speck2edevkit:0 is a speck2e board but --target is speck2f"):
        choose_device(devices, "speck2f", "speck2edevkit:0")
    with pytest.raises(BackendUnavailable, match="'speck2fdevkit:5' is not connected"):
        choose_device(devices, "speck2f", "speck2fdevkit:5")
    with pytest.raises(BackendUnavailable, match="there is no speck2f board number 3"):
        choose_device(devices, "speck2f", "3")


def test_no_board_or_a_board_that_will_not_open_is_exit_5(chip, qnet):
    if not chip.standin:
        pytest.skip("needs the stand-in")
    chip.state.reset([])
    with pytest.raises(BackendUnavailable, match="no speck2f board is connected") as err:
        run_on_chip(plan_chip(qnet, "speck2f"), _samples(qnet, n=1), FAST)
    assert err.value.exit_code == 5 and "--target emulator" in err.value.message
    chip.state.reset(["Speck2fDevKit"])
    chip.state.open_error = "LIBUSB_ERROR_ACCESS"
    with pytest.raises(BackendUnavailable, match="could not open speck2fdevkit:0.*LIBUSB_ERROR_ACCESS"):
        run_on_chip(plan_chip(qnet, "speck2f"), _samples(qnet, n=1), FAST)


# --- checks, dry run, export ----------------------------------------------------------------------


def test_verify_config_catches_any_difference(chip, qnet):
    from qsnn_deploy.deploy.samna_backend import build_config, verify_config

    plan = plan_chip(qnet, "speck2f")
    _, cfg = build_config(plan)
    assert verify_config(cfg, plan) == []
    core = plan.cores[1]
    w = np.asarray(cfg.cnn_layers[core].weights)
    w[0, 0, 0, 0] += 1
    cfg.cnn_layers[core].weights = w.tolist()
    cfg.cnn_layers[plan.cores[2]].threshold_low = 0
    cfg.cnn_layers[plan.cores[0]].destinations[0].pooling = 2
    bad = verify_config(cfg, plan)
    assert any("layer c2" in b and "1 weights differ" in b for b in bad)
    assert any("threshold_low" in b for b in bad) and any("pooling 2" in b for b in bad)


def test_dry_run_opens_nothing(chip, qnet):
    plan = plan_chip(qnet, "speck2f")
    res = dry_run(plan, _samples(qnet), "real", ChipOptions())
    assert res["integers_verified"] is True and res["device"].startswith("speck2f")
    assert [s["status"] for s in res["steps"]] == ["done", "done", "done", "done", "done", "not run"]
    if chip.standin:
        assert chip.state.opened == [] and res["input_events"] == sum(len(e) for e in _samples(qnet).events)


def test_export_with_the_driver(chip, qnet, tmp_path):
    import json

    plan = plan_chip(qnet, "speck2f", readout=True)
    got = export_config(plan, tmp_path / "chip.json", "real")
    doc = json.loads((tmp_path / "chip.json").read_text())
    assert got["integers_verified"] and doc["samna_configuration"] is None  # no source shows samna's to_json
    assert doc["layers"][0]["weights"] == plan.layers[0].weight.astype(int).tolist()
    export_config(plan, tmp_path / "chip.bin", "real")
    data = (tmp_path / "chip.bin").read_bytes()
    assert len(data) > 0
    if chip.standin:
        assert data.startswith(b"STANDIN") and json.loads(data[7:])["factory_config"]["io_sel"] == 24
        assert chip.state.opened == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chip.bin", "chip.json"]  # no temporary files left


# --- chip in the loop -----------------------------------------------------------------------------


def test_compare_with_emulator(chip):
    net = random_network(1, quantized=True)
    samples = _samples(net, n=3, t=8)
    plan = plan_chip(net, "speck2f", monitor_all=True)
    if chip.standin:
        from qsnn_deploy.emulate.binned import run_binned

        emu = run_binned(net, samples.raster)
        scripts = []
        for k in range(3):
            out = []
            for li, core in enumerate(plan.cores[:-1]):  # the emulator's spike count of each hidden layer
                out += [(core, 0, 0, 0)] * int(emu.layer_spikes[k, li])
            for cls, n in enumerate(emu.output_counts[k]):
                out += [(plan.cores[-1], 0, 0, cls)] * int(n)
            scripts.append(out)
        scripts[1] += [(plan.cores[0], 0, 0, 0)] * 30  # the chip fires 30 more spikes in c1 on sample 1
        chip.state.responder = ScriptedOutputs(chip, scripts)
    res = run_on_chip(plan, samples, FAST)
    cmp = compare_with_emulator(plan, samples, res)
    assert [r["name"] for r in cmp["layers"]] == ["c1", "c2", "fc"] and all(r["monitored"] for r in cmp["layers"])
    assert 0 <= cmp["prediction_agreement"] <= 1
    if not chip.standin:
        return
    rows = {r["name"]: r for r in cmp["layers"]}
    assert rows["c1"]["difference"] == pytest.approx(10.0) and rows["c1"]["mean_abs_difference"] == pytest.approx(10.0)
    assert rows["c2"]["difference"] == 0 and rows["fc"]["difference"] == 0
    assert cmp["prediction_agreement"] == 1.0 and cmp["identical_outputs"] == 1.0
    assert cmp["emulator_accuracy"] == res["accuracy"]

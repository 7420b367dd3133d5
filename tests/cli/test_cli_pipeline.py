"""The stages through the real CLI: train → convert → estimate → deploy, and their files."""

import json

import numpy as np
import pytest
import torch
from helpers import checkpoint_predictions, run_cli


def test_train_writes_the_run_folder(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"checkpoint.pt", "metrics.json", "config.yaml", "training_curve.png"} <= names
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("test_accuracy", "synops_per_sample", "epochs", "seed"):
        assert key in metrics
    assert metrics["epochs"] == 1 and metrics["seed"] == 0 and metrics["synops_per_sample"] > 0
    payload = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    assert payload["format"] == "qsnn-deploy-checkpoint"


def test_convert_writes_a_standard_nir_bundle(tiny_bundle):
    import nir

    assert {p.name for p in tiny_bundle.iterdir()} == {"model.nir", "mapping.json", "report.md"}
    graph = nir.read(tiny_bundle / "model.nir")
    meta = graph.metadata["qsnn_deploy"]
    assert meta["quantized"] == 1 and json.loads(meta["extra"])["target"] == "speck2f"
    w = graph.nodes["conv1.conv"].weight
    assert np.array_equal(w, np.round(w)) and np.abs(w).max() <= 128
    mapping = json.loads((tiny_bundle / "mapping.json").read_text())
    assert sorted(mapping["assignment"]) == ["conv1", "conv2", "conv3", "fc"]


def test_bundle_emulates_exactly_like_the_qat_checkpoint(tiny_run, tiny_bundle):
    """checkpoint (QAT torch) → convert → model.nir → emulator: identical output spike counts."""
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.emulate.binned import run_binned
    from qsnn_deploy.nets.checkpoint import load_checkpoint
    from qsnn_deploy.nets.framed import framed_split

    model, payload = load_checkpoint(tiny_run / "checkpoint.pt")
    data = framed_split("digits-dvs", "test", payload["time_bins"], progress=False, limit=40)
    with torch.no_grad():
        torch_counts = model(data.frames).sum(1).numpy()
    res = run_binned(load_network(tiny_bundle), data.frames.numpy())
    assert np.array_equal(torch_counts, res.output_counts)


def test_estimate_json(tiny_bundle):
    proc = run_cli("estimate", tiny_bundle, "--target", "speck2f", "--format", "json", "--samples", "8", "-q")
    est = json.loads(proc.stdout)
    assert est["target"] == "speck2f" and est["fits"] is True
    assert [row["name"] for row in est["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    assert est["layers"][0]["kernel_memory"] == 2 * 2 ** (4 + 4)
    assert est["layers"][0]["neuron_memory"] == 16 * 2 ** (5 + 5)
    assert est["synops"] > 0 and est["power_w"] > 0 and est["energy_per_inference_j"] > 0 and est["latency_s"] > 0
    for field in ("synops_per_s", "violations"):
        assert field in est


def test_estimate_table_and_plot(tiny_bundle, tmp_path):
    proc = run_cli("estimate", tiny_bundle, "--samples", "0", "--plot", tmp_path / "est.png")
    assert "conv1" in proc.stdout and (tmp_path / "est.png").stat().st_size > 1000


def test_deploy_dataset_json(tiny_run, tiny_bundle):
    proc = run_cli("deploy", tiny_bundle, "--target", "emulator", "--limit", "20", "--format", "json", "-q")
    out = json.loads(proc.stdout)
    assert out["target"] == "emulator" and out["mode"] == "binned" and out["samples"] == 20
    # the same 20 samples through the QAT checkpoint in torch: the same predictions, the same accuracy
    want, labels = checkpoint_predictions(tiny_run, limit=20)
    assert out["prediction"] == want.tolist()
    assert out["accuracy"] == pytest.approx(float((want == labels).mean()))
    assert set(out["layer_spike_counts"]) == {"conv1", "conv2", "conv3", "fc"}


def test_deploy_event_file_and_raster(tiny_bundle, tmp_path):
    from qsnn_deploy.data import load_dataset

    ev = load_dataset("digits-dvs", "test", progress=False).events[0]
    np.save(tmp_path / "sample.npy", ev)
    out = json.loads(run_cli("deploy", tiny_bundle, "--input", tmp_path / "sample.npy", "--format", "json").stdout)
    assert isinstance(out["prediction"], int) and len(out["output_spike_counts"]) == 10
    np.save(tmp_path / "raster.npy", np.zeros((4, 2, 34, 34), np.float32))
    out = json.loads(run_cli("deploy", tiny_bundle, "--input", tmp_path / "raster.npy", "--format", "json").stdout)
    assert out["output_spike_counts"] == [0] * 10


def test_summary_says_what_the_power_and_energy_include(tiny_bundle):
    """The pipeline's summary: the total with the parts it adds up (static, dynamic; the sensor not counted),
    and for a target without static power the reason there is no total and the dynamic part alone."""
    from qsnn_deploy.convert.loader import load_network
    from qsnn_deploy.hw import estimate, load_profile
    from qsnn_deploy.hw.report import si
    from qsnn_deploy.pipeline import _energy_lines, estimate_summary

    net = load_network(tiny_bundle)
    synops = {layer.name: 1e4 for layer in net.layers}
    speck = estimate_summary(estimate(net, load_profile("speck2f"), synops, 0.3))
    parts = speck["energy_breakdown"]
    power, energy = _energy_lines(speck)
    assert speck["includes"] == ["static", "dynamic"] and parts["sensor"]["status"] == "not requested"
    assert power.startswith(si(speck["power_w"], "W") + " (range ")
    assert power.endswith(
        f" = static (resting) {si(parts['static']['power_w'], 'W')} + dynamic "
        f"{si(parts['dynamic']['power_w'], 'W')}; not the sensor"
    )
    assert energy == (
        f"{si(speck['energy_per_inference_j'], 'J')} per inference = static "
        f"{si(parts['static']['energy_per_inference_j'], 'J')} + dynamic "
        f"{si(parts['dynamic']['energy_per_inference_j'], 'J')}"
    )
    with_sensor = estimate_summary(estimate(net, load_profile("speck2f"), synops, 0.3, include_sensor=True))
    assert _energy_lines(with_sensor)[0].endswith(
        f" + sensor {si(with_sensor['energy_breakdown']['sensor']['power_w'], 'W')}"
    )

    accel = estimate_summary(estimate(net, load_profile("generic-45nm"), synops, 0.3))
    dynamic = accel["energy_breakdown"]["dynamic"]
    assert accel["power_w"] is None and accel["includes"] == []
    assert _energy_lines(accel) == (
        f"total n/a (no static power in profile); dynamic alone {si(dynamic['power_w'], 'W')}",
        f"total n/a (no static power in profile); dynamic alone {si(dynamic['energy_per_inference_j'], 'J')} "
        "per inference",
    )
    unmeasured = estimate_summary(estimate(net, load_profile("speck2f"), None, 0.3))
    assert _energy_lines(unmeasured)[0] == (
        f"total n/a (activity not measured); static (resting) alone "
        f"{si(unmeasured['energy_breakdown']['static']['power_w'], 'W')}; "
        "not the sensor"
    )

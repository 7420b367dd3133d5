"""The zoo's graph models through the real CLI on the built-in data: train → convert → estimate → deploy
(binned and event mode) → ``--export-config``, each stage reading what the one before wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import run_cli

from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.framed import framed_split

# model → (layer, its destinations as (layer, pool)) that makes it a graph
GRAPH_MODELS = {
    "digits_residual": ("stem", [("res_a", 1), ("conv2", 1)]),
    "digits_branching": ("stem", [("wide", 1), ("narrow", 2)]),
}


@pytest.mark.parametrize("model", sorted(GRAPH_MODELS))
def test_a_graph_model_goes_through_every_command(model, tmp_path):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    run_cli("train", "--model", model, "--epochs", "1", "--limit", "48", "--time-bins", "4", "--out", run, "-q")
    run_cli("convert", run / "checkpoint.pt", "--target", "speck2f", "--out", bundle)
    net = load_network(bundle)
    layer, want = GRAPH_MODELS[model]
    i = [x.name for x in net.layers].index(layer)
    assert [(net.layers[j].name, p) for j, p in zip(net.targets(i), net.target_pools(i))] == want

    # the bundle emulates exactly like the QAT checkpoint it was converted from
    model, payload = load_checkpoint(run / "checkpoint.pt")
    data = framed_split("digits-dvs", "test", payload["time_bins"], progress=False, limit=12)
    with torch.no_grad():
        torch_counts = model(data.frames).sum(1).numpy()
    assert np.array_equal(torch_counts, run_binned(net, data.frames.numpy()).output_counts)

    est = json.loads(run_cli("estimate", bundle, "--format", "json", "--samples", "4", "-q").stdout)
    assert est["fits"] is True and est["violations"] == []
    rows = {row["name"]: row for row in est["layers"]}
    cores = {row["name"]: row["core"] for row in est["layers"]}
    assert [(d["layer"], d["core"], d["pool"]) for d in rows[layer]["destinations"]] == [
        (name, cores[name], pool) for name, pool in want
    ]

    for mode in ("binned", "event"):
        out = json.loads(
            run_cli(
                "deploy", bundle, "--target", "emulator", "--mode", mode, "--limit", "12", "--format", "json", "-q"
            ).stdout
        )
        assert out["mode"] == mode and out["samples"] == 12
        # the accuracy is the share of the predictions that match the labels of the same 12 samples
        assert out["accuracy"] == pytest.approx(float((np.array(out["prediction"]) == data.labels.numpy()).mean()))
        if mode == "binned":  # the CLI's emulator on the same 12 samples gives the checkpoint's answers
            assert out["prediction"] == torch_counts.argmax(1).tolist()
            assert out["accuracy"] == pytest.approx(float((torch_counts.argmax(1) == data.labels.numpy()).mean()))
        assert set(out["layer_spike_counts"]) == {x.name for x in net.layers}

    config = tmp_path / "chip.json"
    run_cli("deploy", bundle, "--target", "speck2f", "--export-config", config, "--format", "json", "-q")
    doc = json.loads(config.read_text())
    layers = {x["name"]: x for x in doc["layers"]}
    assert [(d["layer"], d["pooling"]) for d in layers[layer]["destinations"]] == [
        (doc["core_map"][name], pool) for name, pool in want
    ]

"""``deploy`` of graph bundles through the CLI: ``--export-config`` without a driver (a real subprocess, so
no stand-in is importable), and with the samna stand-in (in process)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from graph_nets import mixed_pooling, residual, three_destinations
from helpers import random_raster, run_cli

from qsnn_deploy.cli.main import cli
from qsnn_deploy.convert.nir_io import write_nir


@pytest.fixture
def bundles(tmp_path):
    return {
        name: write_nir(make(0, quantized=True), tmp_path / f"{name}.nir")
        for name, make in (("residual", residual), ("mixed_pooling", mixed_pooling))
    }


def _by_name(doc):
    return {layer["name"]: layer for layer in doc["layers"]}


def test_export_config_of_graphs_without_a_driver(bundles, tmp_path):
    for name, make in (("residual", residual), ("mixed_pooling", mixed_pooling)):
        out = tmp_path / f"{name}.json"
        proc = run_cli("deploy", bundles[name], "--target", "speck2f", "--export-config", out, "--format", "json")
        res = json.loads(proc.stdout)
        assert res["mode"] == "export" and res["driver"] != "real"
        doc = json.loads(out.read_text())
        core = doc["core_map"]
        net = make(0, quantized=True)
        layers = _by_name(doc)
        for i, layer in enumerate(net.layers):
            want = [
                {"layer": core[net.layers[j].name], "enable": True, "pooling": p}
                for j, p in zip(net.targets(i), net.target_pools(i))
            ]
            assert layers[layer.name]["destinations"] == want
            c, h, w = layer.input_shape
            assert layers[layer.name]["dimensions"]["input_shape"] == {"feature_count": c, "size": {"x": w, "y": h}}
        if name == "mixed_pooling":  # a: unpooled to b, pooled by 2 to c
            assert [(d["layer"], d["pooling"]) for d in layers["a"]["destinations"]] == [(core["b"], 1), (core["c"], 2)]


def test_three_destinations_are_exit_4_before_anything_is_written(tmp_path):
    model = write_nir(three_destinations(0, quantized=True), tmp_path / "three.nir")
    proc = run_cli("deploy", model, "--target", "speck2f", "--export-config", tmp_path / "chip.json", check=False)
    assert proc.returncode == 4, proc.stderr
    assert "a core has 2 destinations" in proc.stderr and "1×1 relay layer" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "chip.json").exists()


@pytest.fixture
def board(standin_samna):
    standin_samna.standin.reset(["Speck2fDevKit"])
    yield standin_samna.standin
    standin_samna.standin.reset()


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_export_and_dry_run_of_graphs_with_the_driver(board, bundles, tmp_path):
    for name in ("residual", "mixed_pooling"):
        res = _run("deploy", bundles[name], "--target", "speck2f", "--export-config", tmp_path / f"{name}.bin")
        assert res.exit_code == 0, res.output
        image = json.loads((tmp_path / f"{name}.bin").read_bytes()[len(b"STANDIN") :])
        enabled = sum(d["enable"] for layer in image["cnn_layers"] for d in layer["destinations"])
        net = (residual if name == "residual" else mixed_pooling)(0)
        assert enabled == len(net.edges)  # every edge of the graph is a destination on the chip
        raster = tmp_path / "input.npy"
        np.save(raster, random_raster(2, 4, net.input_shape, rate=0.2, seed=1))
        res = _run("deploy", bundles[name], "--target", "speck2f", "--dry-run", "--input", raster, "--format", "json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        built = next(s for s in out["steps"] if "samna configuration" in s["step"])
        assert out["integers_verified"] is True and built["status"] == "done"
        assert ("written from the plan" in built["detail"]) == (name == "mixed_pooling")
    assert board.opened == []

"""`qsnn-deploy convert` as a real subprocess: foreign NIR, ANN, ONNX, --force, and every bad input
(exit 3 or 4, one paragraph, no files left behind)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli
from nir_layouts import write_layout
from test_nir_import import NIR100, SNNTORCH, _chain_nodes


def _clean_error(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("Error: ") and "Traceback" not in err and "\n" not in err, err  # one paragraph
    for fragment in fragments:
        assert fragment in err, err


def _broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.nir"
    if kind == "truncated":
        path.write_bytes(NIR100.read_bytes()[:4000])
    elif kind == "not_hdf5":
        path.write_text("this is a text file, not HDF5")
    else:
        nodes, edges = _chain_nodes(np.random.default_rng(0))
        if kind == "unknown_type":
            nodes["pool"] = {"type": "Dropout", "p": np.float64(0.5)}
        elif kind == "shape_mismatch":
            nodes["fc"]["weight"] = np.ones((4, 40))
        elif kind == "recurrent":
            edges = edges + [("if2", "fc")]
        write_layout(path, nodes, edges, "1.0.8")
    return path


@pytest.mark.parametrize(
    "kind, code, fragment",
    [
        ("truncated", 3, "is not a readable NIR file"),
        ("not_hdf5", 3, "is not a readable NIR file"),
        ("unknown_type", 3, "node 'pool' has type 'Dropout', which this reader does not know"),
        ("shape_mismatch", 3, "shape mismatch: node 'fc' has 40 inputs but receives 48 values"),
        ("recurrent", 4, "the graph is recurrent (edge if2 → fc closes a loop)"),
    ],
)
def test_bad_input_exits_cleanly_and_writes_nothing(tmp_path, kind, code, fragment):
    out = tmp_path / "bundle"
    proc = run_cli("convert", _broken(tmp_path, kind), "--out", out, check=False)
    _clean_error(proc, code, fragment)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]


def test_foreign_nir_to_bundle_and_onnx(tmp_path):
    out = tmp_path / "b"
    proc = run_cli("convert", NIR100, "--out", out, "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["files"] == ["model.nir", "mapping.json", "report.md"] and set(doc["mapping"]) == {"conv", "fc"}
    assert any("assumed subtract" in n for n in doc["notes"]) and "note: NIR does not say" in proc.stderr
    report = (out / "report.md").read_text()
    assert "## Import" in report and "assumed subtract" in report
    proc = run_cli("convert", out, "--out", out, "--format", "onnx", check=False)  # refuses to overwrite
    _clean_error(proc, 2, "exists and is not empty", "--force", "--overwrite")
    run_cli("convert", NIR100, "--out", out, "--format", "onnx", "--force")
    assert (out / "model.onnx").is_file() and "## ONNX" in (out / "report.md").read_text()
    run_cli("convert", NIR100, "--out", out, "--overwrite")  # the flag (--force is its deprecated alias)
    assert not (out / "model.onnx").exists()


def test_leaky_neurons_need_the_option(tmp_path):
    proc = run_cli("convert", SNNTORCH, "--out", tmp_path / "a", check=False)
    _clean_error(proc, 4, "'1' is a LIF neuron", "--approximate-leak")
    assert not (tmp_path / "a").exists()
    proc = run_cli("convert", SNNTORCH, "--out", tmp_path / "b", "--approximate-leak")
    assert "leak dropped" in (tmp_path / "b" / "report.md").read_text() and "note: LIF '1' runs as IF" in proc.stderr


def test_ann_conversion(tmp_path):
    spec = tmp_path / "ann.yaml"
    spec.write_text(
        "name: ann\ninput_shape: [2, 34, 34]\nn_classes: 10\nlayers:\n"
        "  - {type: conv, name: c1, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, pool: 2}\n"
        "  - {type: linear, name: fc, out_features: 10}\n"
    )
    from qsnn_deploy.convert.ann import ann_from_spec
    from qsnn_deploy.nets.zoo import load_spec

    torch.manual_seed(0)
    torch.save(ann_from_spec(load_spec(spec)).state_dict(), tmp_path / "ann.pt")
    out = tmp_path / "b"
    run_cli(
        "convert",
        tmp_path / "ann.pt",
        "--from-ann",
        spec,
        "--calibration-samples",
        "16",
        "--time-bins",
        "4",
        "--percentile",
        "99.9",
        "--first-layer-scale",
        "2",
        "--out",
        out,
        "-q",
    )
    report = (out / "report.md").read_text()
    assert "ANN → SNN" in report and "percentile 99.9" in report and "first layer × 2" in report
    torch.save({"c1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    proc = run_cli("convert", tmp_path / "bad.pt", "--from-ann", spec, "--out", tmp_path / "c", check=False)
    _clean_error(proc, 3, "does not fit the ANN of model 'ann'")
    proc = run_cli("convert", NIR100, "--percentile", "99", "--out", tmp_path / "d", check=False)
    _clean_error(proc, 2, "--percentile only apply to ANN conversion")
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_estimate_and_deploy_take_the_same_import_options(tmp_path):
    """A foreign NIR graph without an input shape: estimate and deploy ask for --input-shape and accept it."""
    nodes, edges = _chain_nodes(np.random.default_rng(0))
    del nodes["input"]["shape"]
    del nodes["conv"]["input_shape"]
    path = tmp_path / "noshape.nir"
    write_layout(path, nodes, edges, "1.0.4")
    _clean_error(run_cli("estimate", path, "--samples", "0", check=False), 3, "--input-shape")
    out = json.loads(run_cli("estimate", path, "--samples", "0", "--input-shape", "2,8,8", "--format", "json").stdout)
    assert len(out["layers"]) == 2 and out["fits"] is True
    raster = tmp_path / "r.npy"
    np.save(raster, np.ones((3, 2, 8, 8), np.float32))
    _clean_error(run_cli("deploy", path, "--input", raster, check=False), 3, "--input-shape")
    dep = json.loads(run_cli("deploy", path, "--input", raster, "--input-shape", "2,8,8", "--format", "json").stdout)
    assert len(dep["output_spike_counts"]) == 4

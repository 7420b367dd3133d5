"""``qsnn-deploy datasets`` through click's CliRunner on the command object."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.datasets_cmd import datasets


def _fake_nmnist(root):
    for folder in ("Train", "Test"):
        d = root / "NMNIST" / folder / "0"
        d.mkdir(parents=True)
        (d / "00000.bin").write_bytes(bytes([1, 2, 0x80, 0, 10]))


def test_text_lists_builtin_and_real_with_found_status(tmp_path):
    _fake_nmnist(tmp_path)
    res = CliRunner().invoke(datasets, ["--data-root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"data root: {tmp_path}"
    row = {ln.split()[0]: ln for ln in lines[2:7]}
    assert set(row) == {"digits-dvs", "nmnist", "dvsgesture", "pokerdvs", "mnist-dvs"}
    assert "built in" in row["digits-dvs"]
    assert f"found: {tmp_path / 'NMNIST'}" in row["nmnist"] and "34x34x2" in row["nmnist"]
    assert "not found (expected DVSGesture/ibmGestureTrain" in row["dvsgesture"]
    assert "folder:PATH" in res.output


def test_json_and_env_default(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNN_DEPLOY_DATA", str(tmp_path))
    res = CliRunner().invoke(datasets, ["--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["data_root"] == str(tmp_path)
    by = {d["name"]: d for d in data["datasets"]}
    assert by["digits-dvs"]["builtin"] and by["digits-dvs"]["sensor_size"] == [34, 34, 2]
    assert by["dvsgesture"]["sensor_size"] == [128, 128, 2] and by["dvsgesture"]["n_classes"] == 11
    assert not by["nmnist"]["found"] and by["nmnist"]["download_mb"] == 1200
    assert not by["pokerdvs"]["auto_download"]
    assert "folder:PATH" in data["folder_hint"]


def test_quiet_and_help():
    assert "Examples:" in CliRunner().invoke(datasets, ["--help"]).output
    res = CliRunner().invoke(datasets, ["-q", "--data-root", "/nonexistent-qsnn"])
    assert res.exit_code == 0 and "Fetch a missing" not in res.output

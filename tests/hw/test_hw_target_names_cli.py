"""``--target`` by the names people use, on every command that takes one (issue 15, item 8)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_cli
from test_hw_estimate_cli import write_float_nir

from qsnn_deploy.cli.main import cli

REFERENCE = Path(__file__).resolve().parents[2] / "models" / "digits_speck.pt"
SPECK_NOTE = "note: target 'speck' is the Speck family: using speck2f; name a profile to choose another (speck2e)"


@pytest.fixture(scope="module")
def float_nir(tmp_path_factory):
    pytest.importorskip("nir")
    return write_float_nir(tmp_path_factory.mktemp("nir") / "float.nir")


def test_convert_checkpoint_with_target_speck(tmp_path):
    pytest.importorskip("torch")
    proc = run_cli("convert", REFERENCE, "--target", "speck", "--out", tmp_path / "b")
    assert SPECK_NOTE in proc.stderr and "for speck2f (" in proc.stdout
    assert json.loads((tmp_path / "b" / "mapping.json").read_text())["target"] == "speck2f"


def test_estimate_with_a_board_name_and_the_family(float_nir):
    proc = run_cli(
        "estimate", float_nir, "--samples", "0", "--target", "speck2fdevkit,speck2e,speck", "--format", "json"
    )
    assert [d["target"] for d in json.loads(proc.stdout)] == ["speck2f", "speck2e"]
    assert "note: target 'speck2fdevkit' is another name of the speck2f profile" in proc.stderr
    assert SPECK_NOTE in proc.stderr
    assert "note: targets 'speck2fdevkit' and 'speck' are the same profile (speck2f): reported once" in proc.stderr


def test_estimate_reports_a_profile_named_twice_once(float_nir):
    """``--target speck,speck2f`` is one profile: one report (not a side-by-side of speck2f with itself)."""
    proc = run_cli("estimate", float_nir, "--samples", "0", "--target", "speck,speck2f")
    single = run_cli("estimate", float_nir, "--samples", "0", "--target", "speck2f")
    assert proc.stdout == single.stdout and proc.stdout.count("speck2f") >= 1
    assert "note: targets 'speck' and 'speck2f' are the same profile (speck2f): reported once" in proc.stderr


def test_a_profile_file_named_twice_counts_once(tmp_path, monkeypatch):
    from qsnn_deploy.cli.target_option import resolve_many

    chip = tmp_path / "chip.yaml"
    chip.write_text("schema_version: 1\nname: mine\narchitecture: dense-accelerator\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_many(None, None, f"chip.yaml,speck2e,{chip},speck2f") == ("chip.yaml", "speck2e", "speck2f")


def test_unknown_names_exit_3_with_a_suggestion(float_nir):
    proc = run_cli("estimate", float_nir, "--samples", "0", "--target", "speck2f,spek", check=False)
    assert proc.returncode == 3 and "unknown target 'spek'" in proc.stderr and "did you mean 'speck'" in proc.stderr
    proc = run_cli("deploy", float_nir, "--target", "speck2fdevkt", check=False)
    assert proc.returncode == 3 and "unknown deploy target 'speck2fdevkt'" in proc.stderr
    assert "did you mean 'speck2fdevkit'" in proc.stderr


def test_deploy_with_a_board_name_without_the_driver_is_exit_5(float_nir, monkeypatch):
    from qsnn_deploy.deploy import targets

    monkeypatch.setattr(targets, "samna_info", lambda: targets.SamnaInfo("missing"))
    result = CliRunner().invoke(cli, ["deploy", str(float_nir), "--target", "speck2fdevkit"])
    assert result.exit_code == 5
    assert "cannot deploy to speck2f: the samna driver is not installed" in result.output


def test_deploy_export_config_with_the_family_name(float_nir, tmp_path):
    proc = run_cli("deploy", float_nir, "--target", "speck", "--export-config", tmp_path / "chip.json")
    assert SPECK_NOTE in proc.stderr
    assert json.loads((tmp_path / "chip.json").read_text())["target"] == "speck2f"


def test_pipeline_resolves_its_target_before_training(monkeypatch):
    import qsnn_deploy.pipeline

    seen = {}
    monkeypatch.setattr(
        qsnn_deploy.pipeline, "run_pipeline", lambda out, target, **kw: seen.update(target=target) or {"target": target}
    )
    result = CliRunner().invoke(cli, ["pipeline", "--target", "speck", "--format", "json"])
    assert result.exit_code == 0 and seen == {"target": "speck2f"}
    result = CliRunner().invoke(cli, ["pipeline", "--target", "spek"])
    assert result.exit_code == 3 and "did you mean 'speck'" in result.output


def test_profiles_list_shows_the_other_names_and_show_takes_them():
    out = run_cli("profiles", "list").stdout.splitlines()
    assert out[0].split() == ["name", "also", "architecture", "description"]
    speck2f = next(line for line in out if line.startswith("speck2f "))
    assert "speck, speck2fdevkit, speck2fmodule, speck2fmoduledevkit" in speck2f
    listed = json.loads(run_cli("profiles", "list", "--format", "json").stdout)
    assert {p["name"]: p["aliases"] for p in listed}["speck2e"] == ["speck2edevkit", "speck2etestboard"]
    proc = run_cli("profiles", "show", "speck")
    assert proc.stdout.startswith("speck2f: ") and SPECK_NOTE in proc.stderr

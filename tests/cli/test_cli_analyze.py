"""``qsnn-deploy analyze hessian``: report, JSON and plot files, exit codes."""

import json

import pytest
import torch
import yaml
from helpers import run_cli

FAST = ["--samples", "8", "--iters", "2", "--batch-size", "4", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder with a tiny digits-dvs model (untrained: no training needed to analyse it)."""
    from qsnn_deploy.nets.checkpoint import save_checkpoint
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    torch.manual_seed(0)
    spec = spec_from_dict(
        {
            "name": "tiny_digits",
            "input_shape": [2, 34, 34],
            "n_classes": 10,
            "layers": [
                {"type": "conv", "name": "conv1", "out_channels": 4, "kernel_size": 3, "stride": 4, "padding": 1},
                {"type": "linear", "name": "fc", "out_features": 10, "weight_bits": 6},
            ],
        }
    )
    model = SpikingCNN(spec)
    with torch.no_grad():
        model.blocks[0].conv.weight.mul_(2)
    out = tmp_path_factory.mktemp("analyze") / "run"
    out.mkdir()
    save_checkpoint(
        out / "checkpoint.pt", model, {"time_bins": 3, "dataset": "digits-dvs", "dt_us": 1e5, "metrics": {}}
    )
    (out / "metrics.json").write_text(json.dumps({"test_accuracy": 0.1}))
    (out / "config.yaml").write_text(yaml.safe_dump({"model": spec.to_dict()}))
    return out


def test_run_folder_json_report_and_plot(run_folder, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    proc = run_cli("analyze", "hessian", run, *FAST, "--bit-budget", "4", "--format", "json")
    out = json.loads(proc.stdout)
    saved = json.loads((run / "hessian.json").read_text())
    assert saved["format"] == "qsnn-deploy-hessian" and saved["version"] == 1
    assert out["written"] == [str(run / "hessian.png"), str(run / "hessian.json")]
    for report in (out, saved):
        assert report["model"] == "tiny_digits" and report["dataset"] == "digits-dvs" and report["time_bins"] == 3
        assert report["weight_bits"] == {"conv1": 8, "fc": 6}
        hess = report["hessian"]
        assert [layer["name"] for layer in hess["layers"]] == ["conv1", "fc"]
        assert hess["samples"] == 8 and hess["iterations"] == 2 and hess["quantize"] is True
        for layer in hess["layers"]:
            assert {"params", "trace", "trace_per_param", "stderr", "stderr_batches", "rank"} <= set(layer)
            assert layer["trace_per_param"] == pytest.approx(layer["trace"] / layer["params"])
        assert sorted(layer["rank"] for layer in hess["layers"]) == [1, 2]
        assert hess["layers"][0]["params"] == 4 * 2 * 9 and hess["layers"][1]["params"] == 10 * 4 * 9 * 9
        alloc = report["allocation"]
        assert set(alloc["bits"]) == {"conv1", "fc"} and alloc["avg_bits"] <= 4
        assert set(report["perturbations"]["fc"]) == {str(b) for b in range(2, 9)}
    png = (run / "hessian.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left
    # the report exists now: refused before any work unless --overwrite
    proc = run_inprocess("analyze", "hessian", run)
    assert proc.returncode == 2 and "hessian.json' exists" in proc.stderr and "pass --overwrite" in proc.stderr
    assert json.loads((run / "hessian.json").read_text()) == saved
    again = json.loads(run_cli("analyze", "hessian", run, *FAST, "--format", "json", "--overwrite").stdout)
    assert again["allocation"] is None and json.loads((run / "hessian.json").read_text())["allocation"] is None


def test_checkpoint_text_table_writes_only_what_is_asked(run_folder, tmp_path):
    proc = run_cli(
        "analyze",
        "hessian",
        run_folder / "checkpoint.pt",
        *FAST,
        "--seed",
        "3",
        "--float",
        "--plot",
        tmp_path / "h.svg",
    )
    text = proc.stdout
    assert "trace/param" in text and "rank" in text and "most sensitive first" in text
    assert "conv1" in text and "fc" in text
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    assert not (run_folder / "hessian.json").exists() and not (run_folder / "hessian.png").exists()
    assert "(float)" in proc.stderr


class _Proc:
    def __init__(self, result):
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def run_inprocess(*args):
    """The CLI in this process (fast; for errors raised before any heavy work)."""
    from click.testing import CliRunner

    from qsnn_deploy.cli.main import cli

    return _Proc(CliRunner().invoke(cli, [str(a) for a in args]))


def test_missing_or_corrupt_run_exits_3(tmp_path):
    proc = run_inprocess("analyze", "hessian", tmp_path / "nope")
    assert proc.returncode == 3 and "does not exist" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_inprocess("analyze", "hessian", tmp_path / "empty")
    assert proc.returncode == 3 and "no checkpoint.pt" in proc.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    proc = run_inprocess("analyze", "hessian", tmp_path / "bad")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad" / "hessian.json").exists()


def test_bad_budget_and_options_exit_2(run_folder, tmp_path):
    proc = run_inprocess("analyze", "hessian", run_folder, "--bit-budget", "12kb")
    assert proc.returncode == 2 and "ambiguous" in proc.stderr
    proc = run_inprocess("analyze", "hessian", run_folder, "--bit-budget", "100bit")
    assert proc.returncode == 2 and "below the smallest possible" in proc.stderr
    assert not (run_folder / "hessian.json").exists()
    proc = run_inprocess("analyze", "hessian", run_folder, "--plot", tmp_path / "no" / "dir" / "h.png")
    assert proc.returncode == 2 and "folder does not exist" in proc.stderr
    proc = run_inprocess("analyze", "hessian", run_folder, "--iters", "0")
    assert proc.returncode == 2


def test_help_has_examples():
    assert "Examples:" in run_cli("analyze", "hessian", "--help").stdout
    assert "analyze" in run_cli("--help").stdout


def test_resolve_run_picks_the_files_and_refuses_existing_ones(run_folder, tmp_path):
    from qsnn_deploy.errors import InputError, UsageError
    from qsnn_deploy.train.analyze import resolve_run

    paths = resolve_run(run_folder)
    assert paths.checkpoint == run_folder / "checkpoint.pt"
    assert (paths.json_file, paths.plot_file) == (run_folder / "hessian.json", run_folder / "hessian.png")
    bare = resolve_run(run_folder / "checkpoint.pt", plot_file=tmp_path / "h.svg")
    assert (bare.json_file, bare.plot_file) == (None, tmp_path / "h.svg")
    (tmp_path / "h.svg").write_text("old")
    with pytest.raises(UsageError, match="exists"):
        resolve_run(run_folder / "checkpoint.pt", plot_file=tmp_path / "h.svg")
    assert resolve_run(run_folder / "checkpoint.pt", plot_file=tmp_path / "h.svg", overwrite=True).plot_file
    with pytest.raises(UsageError, match="is a folder"):
        resolve_run(run_folder / "checkpoint.pt", json_file=tmp_path, overwrite=True)
    with pytest.raises(InputError, match="does not exist"):
        resolve_run(tmp_path / "nope")

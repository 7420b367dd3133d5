"""``qsnn-deploy estimate`` end to end: a float NIR graph made elsewhere, activity from an event file or a
dataset, several targets side by side, the plot, exit codes."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import run_cli

from qsnn_deploy.cli.main import cli
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.ir import Network

nir = pytest.importorskip("nir")


def write_float_nir(path, rng_seed=0, width=8):
    """A float graph written with the nir package alone (as another framework would):
    input 2×16×16 → conv 3×3 (2→width, pad 1) → IF → sum-pool 2 → conv 3×3 (width→16, stride 2, pad 1) → IF
    → flatten → affine (16·4·4 → 5) → IF → output."""
    rng = np.random.default_rng(rng_seed)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 16, 16])}),
        "c1": nir.Conv2d(
            input_shape=np.array([16, 16]),
            weight=rng.normal(0, 0.3, (width, 2, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.zeros(width),
        ),
        "n1": nir.IF(r=np.ones((width, 16, 16)), v_threshold=np.full((width, 16, 16), 1.0)),
        "p1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "c2": nir.Conv2d(
            input_shape=np.array([8, 8]),
            weight=rng.normal(0, 0.2, (16, width, 3, 3)),
            stride=2,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.zeros(16),
        ),
        "n2": nir.IF(r=np.ones((16, 4, 4)), v_threshold=np.full((16, 4, 4), 1.0)),
        "f": nir.Flatten(input_type={"input": np.array([16, 4, 4])}),
        "a": nir.Affine(weight=rng.normal(0, 0.1, (5, 256)), bias=np.zeros(5)),
        "n3": nir.IF(r=np.ones(5), v_threshold=np.full(5, 1.0)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    order = list(nodes)
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:]))))
    return path


@pytest.fixture(scope="module")
def float_nir(tmp_path_factory):
    return write_float_nir(tmp_path_factory.mktemp("nir") / "float.nir")


def test_float_nir_made_elsewhere_is_estimated_and_discretised_as_convert_would(float_nir, tmp_path):
    proc = run_cli("estimate", float_nir, "--samples", "0", "--format", "json")
    est = json.loads(proc.stdout)
    assert est["target"] == "speck2f" and est["fits"] is True
    # c1: 2·2^(4+3) = 256 kernel, 8·16·16 = 2048 neuron words; c2: 8·2^(4+4) = 2048, 16·4·4 = 256; a: 16·2^(4+3)
    assert [(r["name"], r["kernel_memory"], r["neuron_memory"]) for r in est["layers"]] == [
        ("c1", 256, 2048),
        ("c2", 2048, 256),
        ("a", 2048, 5),
    ]
    assert all(r["scale"] is not None for r in est["layers"])  # discretised
    run_cli("convert", float_nir, "--target", "speck2f", "--out", tmp_path / "bundle")
    scales = json.loads((tmp_path / "bundle" / "mapping.json").read_text())["scales"]
    assert {r["name"]: r["scale"] for r in est["layers"]} == pytest.approx(scales, rel=1e-12)
    assert {r["name"]: r["core"] for r in est["layers"]} == json.loads(
        (tmp_path / "bundle" / "mapping.json").read_text()
    )["assignment"]


def test_activity_from_an_event_file(float_nir, tmp_path):
    rng = np.random.default_rng(3)
    ev = np.zeros(400, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    ev["x"], ev["y"] = rng.integers(0, 16, 400), rng.integers(0, 16, 400)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 20_000, 400)), rng.integers(0, 2, 400)
    np.save(tmp_path / "events.npy", ev)
    proc = run_cli("estimate", float_nir, "--input", tmp_path / "events.npy", "--format", "json", "-q")
    est = json.loads(proc.stdout)
    first = read_nir(float_nir).layers[0]
    fanout = first.fanout_map()  # output neurons one event at (y, x) reaches, over all channels
    assert est["layers"][0]["synops"] == pytest.approx(float(fanout[ev["y"], ev["x"]].sum()))
    assert est["synops"] >= est["layers"][0]["synops"] and est["power_w"] > 4.2e-4
    assert est["sample_duration_s"] == pytest.approx(0.02)  # 20 bins of the default 1 ms
    assert "events.npy" in est["activity_source"]


def test_several_targets_side_by_side_and_plot(float_nir, tmp_path):
    args = ["estimate", float_nir, "--samples", "0", "--target", "speck2f,loihi,generic-45nm"]
    data = json.loads(run_cli(*args, "--format", "json").stdout)
    assert [d["target"] for d in data] == ["speck2f", "loihi", "generic-45nm"]
    assert [d["architecture"] for d in data] == ["layer-per-core", "neuron-cores", "dense-accelerator"]
    md = run_cli(*args, "--format", "md").stdout
    assert md.startswith("## Side by side") and "| generic-45nm | dense-accelerator | yes |" in md
    table = run_cli(*args, "--plot", tmp_path / "est.png").stdout
    assert table.startswith("Side by side") and (tmp_path / "est.png").stat().st_size > 20_000


def test_exit_4_when_a_target_does_not_fit_with_the_report_printed(tmp_path):
    path = tmp_path / "wide.nir"
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 64, 64])}),
        "c": nir.Conv2d(
            input_shape=np.array([64, 64]),
            weight=rng.normal(0, 0.3, (32, 2, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.zeros(32),
        ),
        "n": nir.IF(r=np.ones((32, 64, 64)), v_threshold=np.ones((32, 64, 64))),
        "output": nir.Output(output_type={"output": np.array([32, 64, 64])}),
    }
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "c"), ("c", "n"), ("n", "output")]))
    proc = run_cli("estimate", path, "--samples", "0", "--target", "loihi,speck2f", check=False)
    assert proc.returncode == 4
    assert proc.stdout.splitlines()[4].split()[:3] == ["loihi", "neuron-cores", "yes"]
    assert proc.stdout.splitlines()[5].split()[:3] == ["speck2f", "layer-per-core", "NO"]
    assert "SPK010 neuron-memory [c]" in proc.stdout
    assert "Error: the model does not fit speck2f." in proc.stderr and "Traceback" not in proc.stderr


def test_usage_and_profile_errors(float_nir):
    proc = run_cli("estimate", float_nir, "--input", "x.npy", "--dataset", "digits-dvs", check=False)
    assert proc.returncode == 2 and "--input and --dataset" in proc.stderr
    proc = run_cli("estimate", float_nir, "--samples", "0", "--target", "speck2f,loihii", check=False)
    assert proc.returncode == 3 and "unknown target 'loihii'" in proc.stderr and "did you mean 'loihi'" in proc.stderr


def test_unsupported_nodes_recorded_by_the_importer_reach_the_rules(float_nir, monkeypatch):
    from qsnn_deploy.convert import loader

    net = read_nir(float_nir)
    marked = Network(net.layers, net.input_shape, net.dt_us, net.metadata, unsupported=(("bn1", "BatchNorm2d"),))
    monkeypatch.setattr(loader, "load_network", lambda path, options=None: marked)
    result = CliRunner().invoke(cli, ["estimate", str(float_nir), "--samples", "0"])
    assert result.exit_code == 4
    assert "SPK017 unsupported-module [bn1]: node bn1 (BatchNorm2d) has no place in a core" in result.output


def test_activity_from_a_dataset(tmp_path):
    pytest.importorskip("torch")
    from test_hw_golden import digits_speck_network

    from qsnn_deploy.convert.nir_io import write_nir

    net = digits_speck_network()
    write_nir(
        Network(net.layers, net.input_shape, net.dt_us, {**net.metadata, "dataset": "digits-dvs"}),
        tmp_path / "model.nir",
    )
    est = json.loads(run_cli("estimate", tmp_path / "model.nir", "--samples", "3", "--format", "json", "-q").stdout)
    assert est["activity_source"] == "measured by emulating 3 samples of digits-dvs:test"
    assert all(r["synops"] > 0 for r in est["layers"][:3]) and est["sample_duration_s"] == pytest.approx(0.3)
    other = run_cli("estimate", tmp_path / "model.nir", "--dataset", "digits-dvs", "--samples", "2", "-q").stdout
    assert "measured by emulating 2 samples of digits-dvs:test" in other


def test_estimate_without_activity_never_imports_torch(float_nir, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\nfrom qsnn_deploy.cli.main import cli\n"
        "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit as exc:\n    assert exc.code in (0, 4), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    args = [
        "estimate",
        str(float_nir),
        "--samples",
        "0",
        "--target",
        "speck2f,loihi,generic-45nm",
        "--plot",
        str(tmp_path / "p.png"),
    ]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr

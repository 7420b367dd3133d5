"""Every NIR file we write opens in every current reader: the newest nir (type inference and checks
included, in a side environment built once under the user cache), nir 1.0.4 (sinabs' pin, this
environment) and ``sinabs.nir.from_nir``; our own reader takes them and older layouts of ours, and a
graph read and written back keeps its types.

The newest-nir tests skip only when pip cannot connect to the package index to build the side
environment; any other failure of the build fails them.
"""

import contextlib
import io
import json
import os
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
from helpers import random_raster
from nir_kinds import OLD_LAYOUT, round_trips, write_all
from nir_newest_env import IndexUnreachable, newest_nir_python, pip_install, venv_python

from qsnn_deploy.convert.nir_file import read_nir_file
from qsnn_deploy.convert.nir_import import NEWEST_KNOWN_NIR
from qsnn_deploy.convert.nir_io import read_nir, write_nir

PROBE = Path(__file__).with_name("nir_probe.py")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("nir_kinds"))


@pytest.fixture(scope="module")
def copies(files, tmp_path_factory) -> dict[str, Path]:
    return round_trips(files, tmp_path_factory.mktemp("nir_round_trip"))


@pytest.fixture(scope="session")
def newest_python() -> Path:
    try:
        return newest_nir_python()
    except IndexUnreachable as exc:
        pytest.skip(f"cannot build the nir {NEWEST_KNOWN_NIR} environment: {exc}")


def _probe(python: Path, paths: list[Path]) -> dict[str, dict]:
    proc = subprocess.run([str(python), str(PROBE), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_newest_nir_reads_and_type_checks_every_kind(newest_python, files, copies):
    names = sorted(files)
    report = _probe(newest_python, [files[n] for n in names] + [copies[n] for n in names])
    failed = {p: r["error"] for p, r in report.items() if not r["ok"]}
    assert not failed, failed
    assert {r["nir"] for r in report.values()} == {NEWEST_KNOWN_NIR}
    for name in names:  # read and written back: every node keeps its types
        assert report[str(copies[name])]["types"] == report[str(files[name])]["types"], name
    demo = report[str(files["demo"])]["types"]
    assert demo["input"][0] == [2, 34, 34] and demo["fc.flatten"] == [[32, 4, 4], [512]]
    assert demo["fc.affine"] == [[512], [10]] and demo["output"] == [[10], [10]]
    two = report[str(files["two_linear"])]["types"]
    assert two["fc2.flatten"] == [[7], [7]] and two["fc2.affine"] == [[7], [3]]
    assert report[str(files["conv_pool_bias"])]["types"]["output"] == [[5, 1, 1], [5, 1, 1]]
    assert report[str(files["linear_first"])]["types"]["l1.flatten"] == [[2, 4, 4], [32]]
    assert report[str(files["linear_before_conv"])]["types"]["l1.conv"] == [[2, 4, 4], [8, 1, 1]]


def test_newest_nir_rejects_our_old_layout(newest_python):
    """What the users of newer nir met (issue 15): the reason for the fix, and why we still read it ourselves."""
    report = _probe(newest_python, [OLD_LAYOUT])[str(OLD_LAYOUT)]
    assert not report["ok"]
    assert "type mismatch: fc1.flatten.output: [[6 9]] -> fc1.affine.input: [[54]]" in report["error"]


def _check_types_104(graph) -> None:
    """nir 1.0.4's inference overwrites a mismatched type with a printed warning instead of failing."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        graph.infer_types()
    assert "overwriting" not in printed.getvalue(), printed.getvalue()
    check = getattr(graph, "check_types", None) or graph._check_types
    assert check()


def test_installed_nir_reads_and_type_checks_every_kind(files, copies):
    import nir

    for name, path in {**files, **{f"{k} (copy)": v for k, v in copies.items()}}.items():
        graph = nir.read(path)
        _check_types_104(graph)
        assert graph.metadata["qsnn_deploy"]["schema_version"] >= 1, name


def test_sinabs_runs_every_kind_like_our_emulator(files):
    """sinabs.nir.from_nir builds each model, and the chip-ready ones give our emulator's output spikes."""
    import nir
    import sinabs
    import sinabs.layers as sl
    import torch

    from qsnn_deploy.emulate.binned import run_binned

    for name, path in files.items():
        net = read_nir(path)
        x = random_raster(2, 5, net.input_shape, rate=0.4, seed=1)
        model = sinabs.from_nir(nir.read(path), batch_size=2)
        for m in model.modules():
            if isinstance(m, sl.IAFSqueeze):
                m.batch_size, m.num_timesteps = 2, 5
        with torch.no_grad():
            out = model(torch.from_numpy(x).flatten(0, 1))
        out = (out[0] if isinstance(out, tuple) else out).reshape(2, 5, -1).numpy()
        assert out.shape[-1] == net.n_classes, name
        if net.quantized:  # integers: float32 arithmetic in sinabs is exact
            ours = run_binned(net, x).output_trace
            assert np.array_equal(out, ours.reshape(out.shape)), name
            assert ours.sum() > 0, name


def test_our_reader_round_trips_every_kind(files, copies):
    for name, path in files.items():
        a, b = read_nir(path), read_nir(copies[name])
        assert a.input_shape == b.input_shape and a.dt_us == b.dt_us, name
        for la, lb in zip(a.layers, b.layers, strict=True):
            assert (la.name, la.kind, la.input_shape, la.pool, la.threshold, la.scale) == (
                lb.name,
                lb.kind,
                lb.input_shape,
                lb.pool,
                lb.threshold,
                lb.scale,
            ), name
            assert np.array_equal(la.weight, lb.weight), name


def test_our_reader_keeps_the_kind_of_a_linear_layer_written_as_conv(files):
    net = read_nir(files["linear_before_conv"])
    assert [(layer.kind, layer.input_shape) for layer in net.layers] == [("linear", (2, 4, 4)), ("conv", (8, 1, 1))]
    assert "l1.conv" in read_nir_file(files["linear_before_conv"]).nodes


def test_flatten_is_written_from_dim_0_over_its_real_input(files):
    raw = read_nir_file(files["two_linear"])
    f1, f2 = raw.nodes["fc1.flatten"].fields, raw.nodes["fc2.flatten"].fields
    assert (int(f1["start_dim"]), int(f1["end_dim"]), f1["input_type"].tolist()) == (0, -1, [6, 3, 3])
    assert f2["input_type"].tolist() == [7]  # what fc1's neurons output, not fc2's (7, 1, 1) chip input
    assert raw.nodes["output"].fields["shape"].tolist() == [3]


def test_old_layout_is_read_and_upgraded(tmp_path):
    """Files of qsnn-deploy before the fix (Flatten start_dim=1) read as before; written back, they are fixed."""
    raw = read_nir_file(OLD_LAYOUT)
    assert int(raw.nodes["fc1.flatten"].fields["start_dim"]) == 1  # the old layout indeed
    ref = np.load(OLD_LAYOUT.with_suffix(".npz"))
    net = read_nir(OLD_LAYOUT)
    assert [layer.name for layer in net.layers] == ["c1", "c2", "fc1", "fc2"] and net.dt_us == 500.0
    assert [layer.kind for layer in net.layers] == ["conv", "conv", "linear", "linear"]
    for layer in net.layers:
        assert np.array_equal(layer.weight, ref[f"{layer.name}_weight"]), layer.name
        assert (layer.bias is None) == (f"{layer.name}_bias" not in ref), layer.name
    assert [layer.scale for layer in net.layers] == ref["scales"].tolist()
    assert [layer.threshold for layer in net.layers] == ref["thresholds"].tolist()
    new = read_nir_file(write_nir(net, tmp_path / "new.nir"))
    assert int(new.nodes["fc1.flatten"].fields["start_dim"]) == 0
    back = read_nir(tmp_path / "new.nir")
    assert all(
        np.array_equal(a.weight, b.weight) and a.input_shape == b.input_shape
        for a, b in zip(net.layers, back.layers, strict=True)
    )


def _bare_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    return venv_python(path)


def test_unreachable_index_is_told_apart_from_other_pip_failures(tmp_path):
    """The newest-nir tests may skip when pip cannot connect, and only then (a real pip run each way)."""
    python = _bare_venv(tmp_path / "v")
    (tmp_path / "empty").mkdir()
    isolated = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(tmp_path / "empty")}
    with pytest.raises(IndexUnreachable, match="Connection refused|Failed to establish a new connection"):
        pip_install(python, ["nir==1.0.8"], {**isolated, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"})
    with pytest.raises(RuntimeError, match="No matching distribution found for nir==1.0.8"):
        pip_install(python, ["nir==1.0.8"], {**isolated, "PIP_NO_INDEX": "1"})

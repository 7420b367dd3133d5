"""With PyPI's samna placeholder installed, nothing imports it and no process is started.

The commands run as real subprocesses under an audit hook (``sys.addaudithook``) that records every
process start (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.spawn*``, ``os.posix_spawn``,
``os.fork``) and every import of ``samna``/``samnagui``. The placeholder on the path is a copy of
the real one's shape whose import would also write a marker file and start a process — so the test
fails if anything imports it, whichever way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from qsnn_deploy.deploy.targets import check_target, samna_info
from qsnn_deploy.errors import BackendUnavailable

HOOKED = r"""
import json, os, runpy, sys
found = []
PROC = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "pty.spawn")
def hook(event, args):
    if event in PROC or event.startswith(("os.exec", "os.spawn")):
        found.append([event, repr(args)[:200]])
    elif event == "import" and str(args[0]).split(".")[0] in ("samna", "samnagui"):
        found.append([event, str(args[0])])
sys.addaudithook(hook)
import atexit
@atexit.register
def report():
    mods = sorted(m for m in sys.modules if m.split(".")[0] in ("samna", "samnagui") or m.startswith("sinabs.backend"))
    heavy = sorted(m for m in ("torch", "sinabs", "h5py", "nir", "numpy") if m in sys.modules)
    with open(os.environ["AUDIT_LOG"], "w") as f:
        json.dump({"events": found, "modules": mods, "heavy": heavy}, f)
sys.argv = ["qsnn-deploy", *sys.argv[1:]]
runpy.run_module(os.environ.get("HOOKED_MODULE", "qsnn_deploy.cli.main"), run_name="__main__")
"""

PLACEHOLDER = """import subprocess
import sys
from importlib.metadata import version

PYPI_SAMNA = True  # a mark to indicate it's pypi samna

__gitlab_packages_index_url__ = (
    "https://gitlab.example/api/v4/projects/1/packages/pypi/simple"
)


def install_real_samna():
    import os, pathlib
    pathlib.Path(os.environ["SAMNA_MARKER"]).write_text("the placeholder was imported")
    subprocess.check_call([sys.executable, "-c", "pass"])


install_real_samna()
"""


@pytest.fixture(scope="module")
def placeholder_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("placeholder")
    (root / "site" / "samna").mkdir(parents=True)
    (root / "site" / "samna" / "__init__.py").write_text(PLACEHOLDER)
    (root / "site" / "imports_samna.py").write_text("import samna\n")  # the negative control
    (root / "hooked.py").write_text(HOOKED)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(root / "site"), *sys.path]), SAMNA_MARKER=str(root / "imported.txt")
    )
    return root, env


# h5py (reading model.nir) asks the stdlib ``platform`` module for the processor, which runs
# ``uname -p`` once, and the NIR reader walks the HDF5 file in a forked child (so that a hang or crash of
# the HDF5 library on a damaged file is exit 3): these are allowed where a model file is read, nothing else.
UNAME = ["subprocess.Popen", "('uname', ['uname', '-p'], None, None)"]
READS_MODEL = (UNAME, ["os.fork", "()"])


def _run(placeholder_env, *args, timeout=300, reads_model=False):
    """(the finished process, the heavy modules it imported) after checking that nothing touched samna."""
    root, env = placeholder_env
    log = root / f"audit-{time.monotonic_ns()}.json"
    env = dict(env, AUDIT_LOG=str(log))
    proc = subprocess.run(
        [sys.executable, str(root / "hooked.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    audit = json.loads(log.read_text())
    events = [e for e in audit["events"] if not (reads_model and e in READS_MODEL)]
    assert events == [], events
    assert audit["modules"] == [], audit["modules"]
    assert not (root / "imported.txt").exists(), "the samna placeholder was imported"
    return proc, audit["heavy"]


def test_the_check_catches_an_import(placeholder_env):
    """Negative control: a module that imports samna is caught three ways."""
    root, env = placeholder_env
    log = root / "control.json"
    subprocess.run(
        [sys.executable, str(root / "hooked.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(env, AUDIT_LOG=str(log), HOOKED_MODULE="imports_samna"),
    )
    audit = json.loads(log.read_text())
    assert ["import", "samna"] in audit["events"] and "samna" in audit["modules"]
    assert any(e[0] == "subprocess.Popen" for e in audit["events"])
    assert (root / "imported.txt").exists()
    (root / "imported.txt").unlink()


def test_the_fake_placeholder_is_seen_as_one(placeholder_env):
    root, env = placeholder_env
    code = "from qsnn_deploy.deploy.targets import samna_info; i = samna_info(); print(i.status, i.index_url)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["placeholder", "https://gitlab.example/api/v4/projects/1/packages/pypi/simple"]


def test_deploy_to_a_chip_exits_5_at_once(placeholder_env, model_file):
    proc, heavy = _run(placeholder_env, "deploy", model_file, "--target", "speck2f")
    assert proc.returncode == 5, proc.stderr
    err = proc.stderr
    assert err.startswith("Error: cannot deploy to speck2f: only PyPI's samna placeholder is installed")
    assert "--index-url https://gitlab.example/api/v4/projects/1/packages/pypi/simple" in err
    assert "--target emulator" in err and "--export-config" in err and "Traceback" not in err
    # "at once": refused before torch, sinabs or the NIR reader are imported (seconds of start-up), which a
    # wall-clock limit would only test on an idle machine
    assert not {"torch", "sinabs", "h5py", "nir"} & set(heavy), heavy


@pytest.mark.parametrize("extra", [["--compare", "emulator"], ["--list-devices"], ["--measure-power"]])
def test_other_chip_actions_exit_5_too(placeholder_env, model_file, extra):
    proc, _ = _run(placeholder_env, "deploy", model_file, "--target", "speck2f", *extra)
    assert proc.returncode == 5 and "samna placeholder" in proc.stderr


def test_export_and_dry_run_work_without_the_driver(placeholder_env, model_file, raster_file, tmp_path):
    out = tmp_path / "chip.json"
    proc, _ = _run(
        placeholder_env,
        "deploy",
        model_file,
        "--target",
        "speck2f",
        "--export-config",
        out,
        "--format",
        "json",
        reads_model=True,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["mode"] == "export" and res["driver"] == "placeholder"
    doc = json.loads(out.read_text())
    assert doc["samna_configuration"] is None and len(doc["layers"]) == 3
    proc, _ = _run(
        placeholder_env, "deploy", model_file, "--target", "speck2f", "--export-config", tmp_path / "chip.bin"
    )
    assert proc.returncode == 2 and "needs the real samna driver" in proc.stderr
    assert not (tmp_path / "chip.bin").exists()
    proc, _ = _run(
        placeholder_env,
        "deploy",
        model_file,
        "--target",
        "speck2f",
        "--dry-run",
        "--input",
        raster_file,
        "--format",
        "json",
        reads_model=True,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["mode"] == "dry-run" and res["samples"] == 3 and res["integers_verified"] is None
    assert [s["status"] for s in res["steps"]] == ["done", "done", "skipped", "skipped", "not run"]


def test_live_and_record_on_a_chip_exit_5_at_once_and_write_nothing(placeholder_env, model_file, tmp_path):
    proc, heavy = _run(placeholder_env, "deploy", model_file, "--target", "speck2f", "--live", "--duration", "5")
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.startswith("Error: cannot run live on speck2f: only PyPI's samna placeholder is installed")
    assert "--target emulator --live --input REC.npy" in proc.stderr and "Traceback" not in proc.stderr
    assert not {"torch", "sinabs", "h5py", "nir"} & set(heavy), heavy  # refused before the model is read
    out = tmp_path / "recordings"
    proc, heavy = _run(placeholder_env, "record", "--target", "speck2f", "--out", out, "--label", "wave")
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.startswith("Error: cannot record from speck2f: only PyPI's samna placeholder is installed")
    assert "--index-url https://gitlab.example" in proc.stderr and "folder:DIR" in proc.stderr
    assert not out.exists() and not {"torch", "sinabs", "h5py", "nir"} & set(heavy), heavy
    # the sensor's configuration can still be written for later
    proc, _ = _run(
        placeholder_env,
        "deploy",
        model_file,
        "--target",
        "speck2f",
        "--live",
        "--export-config",
        tmp_path / "live.json",
        reads_model=True,
    )
    assert proc.returncode == 0, proc.stderr
    dvs = json.loads((tmp_path / "live.json").read_text())["dvs_layer"]
    assert dvs["pass_sensor_events"] is True and dvs["pooling"] == {"x": 4, "y": 4}  # 12x12 input: centred
    assert dvs["origin"] == {"x": 10, "y": 10} and dvs["cut"] == {"x": 21, "y": 21}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_doctor(placeholder_env, fmt):
    proc, _ = _run(placeholder_env, "doctor", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        rep = json.loads(proc.stdout)
        assert rep["samna"]["status"] == "placeholder" and rep["samna"]["devices"] is None
        assert rep["ready"] == {"emulator": True, "chip": False}
        assert set(rep["packages"]) >= {"torch", "sinabs", "nir", "tonic", "samna"}
        assert isinstance(rep["torch"]["cuda_available"], bool)
        assert "gitlab.example" in rep["next_steps"][0] and "--target emulator" in rep["next_steps"][1]
    else:
        assert "PyPI placeholder (not imported: it would run pip)" in proc.stdout
        assert "Next:" in proc.stdout and "torch device" in proc.stdout


# --- in process -----------------------------------------------------------------------------------


def test_check_target_without_the_driver(monkeypatch, tmp_path):
    site = tmp_path / "site" / "samna"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text(PLACEHOLDER)
    if "samna" in sys.modules:
        pytest.skip("samna is imported in this process")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert samna_info().status == "placeholder"
    assert check_target("emulator") == "" and check_target("speck2f", need_driver=False) == "placeholder"
    with pytest.raises(BackendUnavailable) as err:
        check_target("speck2e")
    assert err.value.exit_code == 5 and "cannot deploy to speck2e" in err.value.message
    assert "samna" not in sys.modules


def test_missing_driver(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "samna" else real(name, *a))
    assert samna_info().status == "missing"
    with pytest.raises(BackendUnavailable, match="the samna driver is not installed"):
        check_target("speck2f")


def test_installed_samna_is_classified_without_importing_it():
    if "samna" in sys.modules:
        pytest.skip("samna is imported in this process")
    info = samna_info()
    assert info.status in ("missing", "placeholder", "real") and "samna" not in sys.modules

"""Every module imports on its own; the CLI's help and the torch-free parts do not load torch."""

import pkgutil
import subprocess
import sys

import pytest

import qsnn_deploy

MODULES = sorted(m.name for m in pkgutil.walk_packages(qsnn_deploy.__path__, "qsnn_deploy."))
TORCH_FREE = [
    "qsnn_deploy.ir",
    "qsnn_deploy.nets.zoo",
    "qsnn_deploy.hw",
    "qsnn_deploy.convert.nir_io",
    "qsnn_deploy.convert.loader",
    "qsnn_deploy.quant.chip",
    "qsnn_deploy.data",
    "qsnn_deploy.cli.main",
    "qsnn_deploy.deploy.targets",
    # the packages themselves: their exports load on first use
    "qsnn_deploy.convert",
    "qsnn_deploy.deploy",
    "qsnn_deploy.emulate",
    "qsnn_deploy.quant",
    "qsnn_deploy.nets",
    "qsnn_deploy.train",
]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_every_module_imports_alone():
    # one fresh interpreter per module, started in parallel
    procs = {
        m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in MODULES
    }
    failed = {m: p.communicate(timeout=300)[1] for m, p in procs.items() if p.wait(timeout=300) != 0}
    assert not failed, failed
    assert len(MODULES) > 30


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules(module):
    proc = _python(
        f"import sys, {module}; bad = [m for m in ('torch', 'samna', 'sinabs') if m in sys.modules];"
        " assert not bad, bad"
    )
    assert proc.returncode == 0, proc.stderr


def test_help_does_not_load_torch():
    proc = _python(
        "import sys; from qsnn_deploy.cli.main import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules"
    )
    assert proc.returncode == 0, proc.stderr


PACKAGES = ["convert", "data", "deploy", "emulate", "hw", "nets", "quant", "train"]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_says_what_it_offers(package):
    """Each package's docstring names its public API, every name in __all__ resolves and dir() lists it."""
    import importlib

    mod = importlib.import_module(f"qsnn_deploy.{package}")
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40
    for name in getattr(mod, "__all__", []):
        assert getattr(mod, name) is not None, name
        assert name in dir(mod), name

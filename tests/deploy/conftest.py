"""Fixtures for the chip path: the samna stand-in (or a real board), small models and input files.

``chip`` runs a test twice: against the stand-in in tests/standin (always), and, marked
``hardware``, against the real driver and the first Speck board (skipped unless both are present;
``pytest -m hardware`` selects it). Assertions about what was sent — the stand-in records it —
only run on the stand-in.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import random_network, random_raster

STANDIN = Path(__file__).resolve().parents[1] / "standin"


def _drop_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in ("samna", "samnagui") or name.startswith("sinabs.backend"):
            del sys.modules[name]


@pytest.fixture(scope="module")
def standin_samna():
    """The stand-in imported as ``samna`` for this test module; afterwards the process is left as it
    was (so tests elsewhere still see the installed samna, e.g. PyPI's placeholder)."""
    existing = sys.modules.get("samna")
    if existing is not None and not getattr(existing, "STANDIN", False):
        pytest.skip("a real samna module is already imported")
    added = str(STANDIN) not in sys.path
    if added:
        sys.path.insert(0, str(STANDIN))
    owned = existing is None
    import samna

    assert getattr(samna, "STANDIN", False), "the samna stand-in must shadow any installed samna"
    yield samna
    if added:
        sys.path.remove(str(STANDIN))
    if owned:
        _drop_modules()


@dataclass
class Chip:
    """The driver a test runs against."""

    samna: object
    standin: bool

    @property
    def state(self):
        return self.samna.standin if self.standin else None


@pytest.fixture(params=["standin", pytest.param("hardware", marks=pytest.mark.hardware)])
def chip(request):
    if request.param == "standin":
        samna = request.getfixturevalue("standin_samna")
        samna.standin.reset(["Speck2fDevKit"])
        yield Chip(samna, True)
        samna.standin.reset(["Speck2fDevKit"])
        return
    from qsnn_deploy.deploy.targets import samna_status

    if "samna" in sys.modules and getattr(sys.modules["samna"], "STANDIN", False):
        pytest.skip("the stand-in is loaded in this process")
    if samna_status() != "real":
        pytest.skip("needs SynSense's real samna driver")
    from qsnn_deploy.deploy.samna_backend import import_samna, list_devices

    if not any(d.family == "speck2f" for d in list_devices()):
        pytest.skip("needs a Speck2f board")
    yield Chip(import_samna(), False)


@pytest.fixture
def qnet():
    """A small quantised chain: conv(2→4, s2) → conv(4→6, pool 2) → linear(54 → 5), input 2×12×12."""
    return random_network(0, quantized=True)


@pytest.fixture
def model_file(tmp_path, qnet):
    from qsnn_deploy.convert.nir_io import write_nir

    return write_nir(qnet, tmp_path / "model.nir")


@pytest.fixture
def raster_file(tmp_path, qnet):
    """Three samples of 5 time bins, as a (N, T, C, H, W) spike-count raster file."""
    path = tmp_path / "input.npy"
    np.save(path, random_raster(3, 5, qnet.input_shape, rate=0.2, seed=3))
    return path


@pytest.fixture
def events_file(tmp_path, qnet):
    """One sample as structured events (x, y, t, p), t in µs, not aligned to time bins."""
    from qsnn_deploy.data.events import EVENT_DTYPE

    rng = np.random.default_rng(5)
    n = 300
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 12, n), rng.integers(0, 12, n)
    ev["p"], ev["t"] = rng.integers(0, 2, n), np.sort(rng.integers(0, 6000, n))
    path = tmp_path / "events.npy"
    np.save(path, ev)
    return path

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Every test session generates digits-dvs once into its own cache (never the user's)."""
    if "QSNN_DEPLOY_CACHE" not in os.environ:
        os.environ["QSNN_DEPLOY_CACHE"] = str(tmp_path_factory.getbasetemp().parent / "qsnn-cache")
    yield


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: tiny graphs beside other tests on few cores would otherwise spin in
    OpenMP and run many times slower."""
    import torch

    keep = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(keep)


STANDIN = Path(__file__).parent / "standin"


@pytest.fixture(scope="session")
def sinabs_dynapcnn():
    """``sinabs.backend.dynapcnn`` imported over the samna stand-in in tests/standin (never the real or
    placeholder samna), for cross-checks against sinabs' own mapping, discretisation and forward."""
    existing = sys.modules.get("samna")
    if existing is not None and not getattr(existing, "STANDIN", False):
        pytest.skip("a real samna module is already imported")
    import torch  # noqa: F401  (torch must be imported before the stand-in: it inspects module files)

    sys.path.insert(0, str(STANDIN))
    import samna

    assert getattr(samna, "STANDIN", False), "the samna stand-in must shadow any installed samna"
    import sinabs.backend.dynapcnn as dynapcnn

    return dynapcnn

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

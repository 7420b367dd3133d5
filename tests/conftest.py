import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, is_hypothesis_test, settings

sys.path.insert(0, str(Path(__file__).parent))

# Hypothesis profiles (DESIGN: no test depends on a random draw or on wall-clock time).
# "ci": `make test` selects it (--hypothesis-profile=ci); the same examples on every machine and run, no
# example database, a reproduction blob on failure, no timing deadline or too-slow health check.
# "fuzz": `make fuzz`: random draws, FUZZ_FACTOR times each test's own number of examples.
FUZZ_FACTOR = 20
_NO_TIMING = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_NO_TIMING)
settings.register_profile(
    "fuzz",
    derandomize=False,
    database=None,
    print_blob=True,
    max_examples=FUZZ_FACTOR * settings.default.max_examples,
    **_NO_TIMING,
)
# plain `pytest` is derandomized too; --hypothesis-profile=NAME (loaded after this file) overrides it
settings.load_profile("ci")


@pytest.hookimpl(tryfirst=True)  # before -m deselects, so that `-m property` sees the marker
def pytest_collection_modifyitems(config, items):
    """Mark every Hypothesis test ``property``; under the fuzz profile multiply its own example count."""
    fuzz = settings.get_current_profile_name() == "fuzz"
    for item in items:
        test = getattr(item, "obj", None)
        if not (isinstance(item, pytest.Function) and is_hypothesis_test(test)):
            continue
        item.add_marker(pytest.mark.property)
        test = getattr(test, "__func__", test)  # a method's settings live on its function
        if fuzz and not getattr(test, "_qsnn_fuzz_scaled", False):
            # a test's own @settings(max_examples=N) wins over any profile, so scale N here (the attribute
            # is where @settings and @given keep a test's settings); tests without one have the profile's
            own = getattr(test, "_hypothesis_internal_use_settings", settings.default)
            n = own.max_examples
            n = n if n == settings.default.max_examples else n * FUZZ_FACTOR
            test._hypothesis_internal_use_settings = settings(own, max_examples=n, derandomize=False, database=None)
            test._qsnn_fuzz_scaled = True


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

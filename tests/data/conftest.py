"""Shared fixtures: the full digits-dvs dataset, generated once per session in a tmp cache."""

from __future__ import annotations

import os

import pytest

from qsnn_deploy.data.digits_dvs import load_digits_dvs


@pytest.fixture(autouse=True)
def _no_user_cache(tmp_path, monkeypatch):
    """Never touch the real user cache: point QSNN_DEPLOY_CACHE at a fresh tmp dir."""
    monkeypatch.setenv("QSNN_DEPLOY_CACHE", str(tmp_path / "env-cache"))


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory):
    """Cache dir holding seed-0 digits-dvs, generated once for the whole session."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        cache = tmp_path_factory.mktemp("digits-cache")
        load_digits_dvs("train", seed=0, cache_dir=cache, progress=False)
        return cache
    # pytest-xdist: workers share one cache per run; a lock lets only one generate it
    import fcntl

    cache = tmp_path_factory.getbasetemp().parent / "digits-cache"
    cache.mkdir(exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load_digits_dvs("train", seed=0, cache_dir=cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def digits_train(digits_cache):
    return load_digits_dvs("train", seed=0, cache_dir=digits_cache, progress=False)


@pytest.fixture(scope="session")
def digits_test(digits_cache):
    return load_digits_dvs("test", seed=0, cache_dir=digits_cache, progress=False)

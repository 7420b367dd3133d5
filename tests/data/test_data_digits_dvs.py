"""The built-in digits-dvs dataset: determinism, split, statistics, cache."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from qsnn_deploy.data import digits_dvs
from qsnn_deploy.data.digits_dvs import (
    CHUNK,
    DURATION_US,
    GENERATOR_VERSION,
    cache_path,
    cache_root,
    generate,
    load_digits_dvs,
    split_indices,
)
from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.errors import InputError

N_TOTAL = 1797


def test_metadata(digits_train):
    ds = digits_train
    assert ds.name == "digits-dvs" and ds.split == "train"
    assert ds.sensor_size == (34, 34, 2) and ds.n_classes == 10
    assert ds.classes == tuple("0123456789") and ds.duration_us == 300_000
    assert ds.labels.dtype == np.int64 and len(ds) == len(ds.labels) == len(ds.events)


def test_split_sizes_disjoint_and_balanced(digits_train, digits_test):
    assert len(digits_train) + len(digits_test) == N_TOTAL
    assert abs(len(digits_test) - 0.2 * N_TOTAL) <= 10
    labels = np.concatenate([digits_train.labels, digits_test.labels])
    all_labels = np.sort(labels)
    train_idx, test_idx = split_indices(all_labels, "train"), split_indices(all_labels, "test")
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.union1d(train_idx, test_idx).size == N_TOTAL
    total = np.bincount(labels, minlength=10)
    test_counts = np.bincount(digits_test.labels, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * total) <= 1)  # stratified
    assert np.bincount(digits_train.labels).min() >= 135


def test_split_does_not_depend_on_seed():
    labels = np.repeat(np.arange(10), 20)
    assert np.array_equal(split_indices(labels, "test"), split_indices(labels.copy(), "test"))


def test_events_are_valid(digits_train, digits_test):
    for ds in (digits_train, digits_test):
        for ev in ds.events:
            assert ev.dtype == EVENT_DTYPE
            assert np.all(np.diff(ev["t"]) >= 0)
            assert ev["t"].min() >= 0 and ev["t"].max() <= DURATION_US
            assert 0 <= ev["x"].min() and ev["x"].max() < 34
            assert 0 <= ev["y"].min() and ev["y"].max() < 34
            assert set(np.unique(ev["p"])) == {0, 1}  # both polarities in every sample


def test_event_counts_are_n_mnist_like(digits_train):
    counts = np.array([len(e) for e in digits_train.events])
    assert 1000 <= np.median(counts) <= 5000
    assert counts.min() >= 500 and counts.max() <= 10_000
    on = np.mean([e["p"].mean() for e in digits_train.events])
    assert 0.4 < on < 0.6
    # activity in all three saccades
    t = np.concatenate([e["t"] for e in digits_train.events[:50]])
    per_saccade = np.histogram(t, bins=[0, 100_000, 200_000, 300_001])[0]
    assert per_saccade.min() > 0.2 * per_saccade.sum()


def test_deterministic_and_seed_dependent(digits_train, digits_cache):
    """A fresh generation of the first chunk equals the cached one; seeds differ."""
    events, offsets, labels = generate(0, progress=False, n_samples=CHUNK)
    with np.load(cache_path(0, digits_cache)) as z:
        cached_off = z["offsets"][: CHUNK + 1]
        assert np.array_equal(offsets, cached_off)
        for f in "xytp":
            assert np.array_equal(events[f], z[f][: offsets[-1]])
    other, other_off, other_labels = generate(1, progress=False, n_samples=8)
    assert np.array_equal(other_labels, labels[:8])
    first = events[: offsets[8]]
    assert len(other) != len(first) or not np.array_equal(other, first)


def test_progress_bar_on_stderr(capsys):
    generate(0, progress=True, n_samples=4)
    out, err = capsys.readouterr()
    assert out == "" and "generating digits-dvs" in err
    generate(0, progress=False, n_samples=4)
    assert capsys.readouterr().err == ""


def test_cache_is_reused(digits_cache, monkeypatch):
    path = cache_path(0, digits_cache)
    mtime = path.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("regenerated although the cache is valid")

    monkeypatch.setattr(digits_dvs, "generate", boom)
    ds = load_digits_dvs("test", seed=0, cache_dir=digits_cache, progress=False)
    assert len(ds) > 0 and path.stat().st_mtime_ns == mtime


def fake_generate(calls):
    def gen(seed, progress=True, n_samples=None):
        calls.append(seed)
        ev = np.zeros(50, EVENT_DTYPE)
        ev["t"] = np.arange(50)
        return ev, np.arange(51, dtype=np.int64), np.repeat(np.arange(10), 5)

    return gen


@pytest.mark.parametrize("damage", ["garbage", "truncate", "version", "seed", "missing-key", "labels", "pixels"])
def test_bad_cache_is_regenerated_with_warning(tmp_path, monkeypatch, damage):
    calls: list[int] = []
    monkeypatch.setattr(digits_dvs, "generate", fake_generate(calls))
    load_digits_dvs("train", seed=3, cache_dir=tmp_path, progress=False)
    path = cache_path(3, tmp_path)
    assert calls == [3] and path.is_file()
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip")
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    else:
        with np.load(path) as z:
            arrays = dict(z)
        if damage == "version":
            arrays["version"] = np.int64(GENERATOR_VERSION + 1)
        elif damage == "seed":
            arrays["seed"] = np.int64(4)
        elif damage == "labels":
            arrays["labels"] = arrays["labels"] + 10
        elif damage == "pixels":
            arrays["x"] = arrays["x"] + 40
        else:
            del arrays["offsets"]
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
    with pytest.warns(UserWarning, match="unusable.*regenerating"):
        ds = load_digits_dvs("train", seed=3, cache_dir=tmp_path, progress=False)
    assert calls == [3, 3] and len(ds) == 40
    assert path.read_bytes() == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_digits_dvs("test", seed=3, cache_dir=tmp_path, progress=False)
    assert calls == [3, 3]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNN_DEPLOY_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_path(5).name == f"digits-dvs_v{GENERATOR_VERSION}_seed5.npz"
    monkeypatch.delenv("QSNN_DEPLOY_CACHE")
    assert "qsnn-deploy" in str(cache_root())


def test_env_var_cache_used(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(digits_dvs, "generate", fake_generate(calls))
    monkeypatch.setenv("QSNN_DEPLOY_CACHE", str(tmp_path / "c"))
    load_digits_dvs("test", seed=2, progress=False)
    assert os.listdir(tmp_path / "c") == [cache_path(2).name]


def test_unwritable_cache_warns_but_returns_data(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(digits_dvs, "generate", fake_generate(calls))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="could not write the cache"):
        ds = load_digits_dvs("test", seed=0, cache_dir=blocker / "sub", progress=False)
    assert len(ds) == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"split": "val"},
            "Unknown split 'val' for dataset digits-dvs. Where: digits-dvs. Fix: use one of: train, test.",
        ),
        (
            {"seed": -1},
            "Seed -1 is not a non-negative integer. Where: digits-dvs. Fix: pass an integer seed such as 0.",
        ),
        (
            {"seed": 1.5},
            "Seed 1.5 is not a non-negative integer. Where: digits-dvs. Fix: pass an integer seed such as 0.",
        ),
    ],
)
def test_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(InputError) as err:
        load_digits_dvs(cache_dir=tmp_path, progress=False, **kwargs)
    assert str(err.value) == message

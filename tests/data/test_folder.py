"""``folder:PATH`` datasets: class folders of recordings in mixed real formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_formats import make_events, write_aedat2, write_aedat4, write_nmnist

from qsnn_deploy.data.dataset import EventDataset
from qsnn_deploy.data.folder import infer_sensor_size, load_folder
from qsnn_deploy.data.options import DataOptions
from qsnn_deploy.errors import InputError

CLASSES = ("circle", "square", "zigzag")


def _write(path: Path, ev: np.ndarray, kind: str) -> None:
    if kind == "npy":
        np.save(path.with_suffix(".npy"), ev)
    elif kind == "bin":
        write_nmnist(path.with_suffix(".bin"), ev)
    elif kind == "aedat4":
        write_aedat4(path.with_suffix(".aedat4"), ev)
    else:
        write_aedat2(path.with_suffix(".aedat"), ev)


def make_folder(
    root: Path, n_per_class: int = 8, w: int = 30, h: int = 31, classes=CLASSES, t0: int = 1000
) -> dict[str, int]:
    """3 classes x n recordings, formats cycling npy/bin/aedat4/aedat; returns {file stem: label}."""
    kinds = ("npy", "bin", "aedat4", "aedat")
    stems = {}
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            ev = make_events(n=20 + i, w=w, h=h, seed=100 * label + i, t0=t0 * (i + 1))
            stem = f"{name}_{i:02d}"
            _write(root / name / stem, ev, kinds[(i + label) % 4])
            stems[stem] = label
    return stems


def _check(ds: EventDataset) -> None:
    assert len(ds.events) == len(ds.labels)
    for ev in ds.events:
        assert ev["t"][0] == 0  # relative to each recording's first event
        assert ev["x"].max() < ds.sensor_size[0] and ev["y"].max() < ds.sensor_size[1]


def test_split_mixed_formats(tmp_path):
    make_folder(tmp_path)
    logs = []
    tr = load_folder(tmp_path, "train", seed=1, progress=False, log=logs.append)
    te = load_folder(tmp_path, "test", seed=1, progress=False, log=logs.append)
    assert tr.classes == te.classes == CLASSES and tr.n_classes == 3
    # ceil(0.2 * 8) = 2 test recordings per class
    assert np.bincount(te.labels).tolist() == [2, 2, 2]
    assert np.bincount(tr.labels).tolist() == [6, 6, 6]
    assert tr.sensor_size == te.sensor_size == (30, 31, 2)  # no known sensor within 90 %
    assert tr.duration_us == te.duration_us
    assert "seed 1" in tr.name and "ceil(0.2*n)" in tr.name and str(tmp_path) in tr.name
    assert any("sensor size 30x31x2 inferred" in m for m in logs)
    _check(tr)
    _check(te)
    # disjoint, complete, deterministic, and labels match their class folders
    all_n = {(len(e), int(lbl)) for ds in (tr, te) for e, lbl in zip(ds.events, ds.labels)}
    assert len(all_n) == 24
    again = load_folder(tmp_path, "test", seed=1, progress=False, log=logs.append)
    assert [len(e) for e in again.events] == [len(e) for e in te.events]
    other = load_folder(tmp_path, "test", seed=2, progress=False, log=logs.append)
    assert [len(e) for e in other.events] != [len(e) for e in te.events]
    for ds in (tr, te):
        for ev, lbl in zip(ds.events, ds.labels):
            i = len(ev) - 20  # make_folder: recording i has 20 + i events
            assert 0 <= i < 8 and lbl in (0, 1, 2)


def test_recording_contents_and_label(tmp_path):
    stems = make_folder(tmp_path, n_per_class=3)
    te = load_folder(
        tmp_path, "test", seed=0, options=DataOptions(test_fraction=0.34), progress=False, log=lambda m: None
    )
    # ceil(0.34 * 3) = 2 per class held out
    assert len(te) == 6
    # every test recording equals one of its class's files, time-shifted
    for ev, lbl in zip(te.events, te.labels):
        name = CLASSES[lbl]
        match = [s for s, label in stems.items() if label == lbl and len(ev) == 20 + int(s.split("_")[-1])]
        assert match, name
        i = int(match[0].split("_")[-1])
        want = make_events(n=20 + i, w=30, h=31, seed=100 * lbl + i, t0=1000 * (i + 1))
        np.testing.assert_array_equal(ev["x"], want["x"])
        np.testing.assert_array_equal(ev["t"], want["t"] - want["t"][0])


def test_known_sensor_and_options(tmp_path):
    make_folder(tmp_path, n_per_class=3, w=128, h=128)
    opts = DataOptions(test_fraction=0.5)
    ds = load_folder(tmp_path, "train", options=opts, progress=False, log=lambda m: None)
    assert ds.sensor_size == (128, 128, 2)  # random events reach >= 90 % of a DVS128
    opts = DataOptions(test_fraction=0.5, sensor_size=(200, 200, 2), window_us=1000, input_size=(50, 50))
    ds = load_folder(tmp_path, "train", options=opts, progress=False, log=lambda m: None)
    assert ds.sensor_size == (50, 50, 2) and ds.duration_us == 1000
    for ev in ds.events:
        assert ev["t"].max() < 1000 and ev["x"].max() < 32  # pooled by 4: 128 // 4 = 32
    opts = DataOptions(test_fraction=0.5, denoise_us=1, augment=True, input_size=(64, 64))
    tr = load_folder(tmp_path, "train", options=opts, progress=False, log=lambda m: None)
    te = load_folder(tmp_path, "test", options=opts, progress=False, log=lambda m: None)
    assert tr.sensor_size == te.sensor_size == (64, 64, 2)
    plain = load_folder(
        tmp_path,
        "test",
        options=DataOptions(test_fraction=0.5, input_size=(64, 64)),
        progress=False,
        log=lambda m: None,
    )
    assert sum(map(len, te.events)) < sum(map(len, plain.events))  # denoise drops isolated random events
    with pytest.raises(InputError, match="outside the sensor"):
        load_folder(
            tmp_path,
            "train",
            options=DataOptions(sensor_size=(64, 64, 2), test_fraction=0.5),
            progress=False,
            log=lambda m: None,
        )


def test_train_test_subfolders(tmp_path):
    make_folder(tmp_path / "train", n_per_class=4)
    make_folder(tmp_path / "test", n_per_class=2)
    tr = load_folder(tmp_path, "train", progress=False, log=lambda m: None)
    te = load_folder(tmp_path, "test", progress=False, log=lambda m: None)
    assert np.bincount(tr.labels).tolist() == [4, 4, 4]
    assert np.bincount(te.labels).tolist() == [2, 2, 2]
    assert "[train/ test/]" in tr.name and tr.sensor_size == te.sensor_size
    assert tr.duration_us == te.duration_us
    # different classes in the two splits
    (tmp_path / "test" / "zigzag").rename(tmp_path / "test" / "wave")
    with pytest.raises(InputError, match="only in train/: zigzag; only in test/: wave"):
        load_folder(tmp_path, "train", progress=False)


def test_infer_sensor_size():
    assert infer_sensor_size(33, 30, 1)[0] == (34, 34, 2)
    assert infer_sensor_size(339, 259, 1)[0] == (346, 260, 2)
    assert infer_sensor_size(99, 49, 3)[0] == (100, 50, 4)


def _err(root, match, **kw):
    with pytest.raises(InputError, match=match) as err:
        load_folder(root, kw.pop("split", "train"), progress=False, log=lambda m: None, **kw)
    assert err.value.exit_code == 3
    return err.value


def test_folder_errors(tmp_path):
    _err(tmp_path / "nope", "Dataset folder not found")
    (tmp_path / "empty").mkdir()
    _err(tmp_path / "empty", "no class sub-folders")
    root = tmp_path / "ds"
    make_folder(root, n_per_class=3)
    _err(root, "Unknown split 'val'", split="val")
    (root / "dots").mkdir()
    _err(root, "without recordings: dots")
    (root / "dots").rmdir()
    (root / "circle" / "notes.txt").write_text("hello")
    (root / "square" / "raw.csv").write_text("1,2")
    e = _err(root, r"2 file\(s\) of unsupported type \(.csv, .txt\)")
    assert "circle/notes.txt" in e.what and ".aedat4" in e.fix
    (root / "circle" / "notes.txt").unlink()
    (root / "square" / "raw.csv").unlink()
    (root / "circle" / ".hidden.txt").write_text("ignored")  # hidden files are ignored
    assert (
        len(load_folder(root, "test", options=DataOptions(test_fraction=0.3), progress=False, log=lambda m: None)) == 3
    )
    _err(root, "leaves no training or no test recording", options=DataOptions(test_fraction=0.9))
    _err(root, "between 0 and 1", options=DataOptions(test_fraction=0.0))
    bad = root / "square" / "broken.bin"
    bad.write_bytes(b"\x01\x02\x03")
    e = _err(root, "not a multiple of the 5-byte")
    assert str(bad) in e.message
    bad.unlink()
    (tmp_path / "half" / "train" / "a").mkdir(parents=True)
    _err(tmp_path / "half", "has a train/ sub-folder but no test/")


def test_limit_takes_every_class_from_a_class_ordered_folder(tmp_path):
    from qsnn_deploy.data.dataset import balanced_prefix

    assert balanced_prefix(np.array([0, 0, 0, 1, 1, 2]), 4).tolist() == [0, 1, 3, 5]
    assert balanced_prefix(np.array([2, 2, 2]), 2).tolist() == [0, 1]  # one class: its first recordings
    make_folder(tmp_path)
    tr = load_folder(tmp_path, "train", seed=1, progress=False, log=lambda m: None)
    assert tr.labels[:6].tolist() == [0] * 6  # stored class by class
    head = tr.head(7)
    assert np.bincount(head.labels).tolist() == [3, 2, 2]
    kept = [next(i for i, f in enumerate(tr.events) if f is e) for e in head.events]
    assert kept == [0, 1, 2, 6, 7, 12, 13] and tr.head(None) is tr and tr.head(100) is tr

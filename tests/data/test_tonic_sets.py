"""Real-dataset loaders on tiny fakes written in the real on-disk layouts; never any network."""

from __future__ import annotations

import shutil
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.data.options import DataOptions
from qsnn_deploy.data.tonic_sets import KNOWN, find_local, find_split, load_tonic
from qsnn_deploy.errors import BackendUnavailable, InputError


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a URL fails the test (tonic downloads through urllib)."""

    def _fail(*args, **kwargs):
        pytest.fail(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", _fail)


def _events(rng, n, w, h, t_max):
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def encode_nmnist(ev: np.ndarray) -> bytes:
    """N-MNIST's 40-bit records: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    t = ev["t"].astype(np.uint32)
    raw = np.zeros((len(ev), 5), np.uint8)
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (ev["p"].astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def write_nmnist(root, per_class=2, classes=(0, 1, 2), seed=0):
    rng = np.random.default_rng(seed)
    truth = {}
    for folder in ("Train", "Test"):
        for c in classes:
            d = root / "NMNIST" / folder / str(c)
            d.mkdir(parents=True)
            for k in range(per_class):
                ev = _events(rng, 200, 34, 34, 310_000)
                (d / f"{k:05d}.bin").write_bytes(encode_nmnist(ev))
                truth[(folder, c, k)] = ev
    return truth


def write_dvsgesture(root, users=(1, 2), labels=(0, 3, 10), seed=0):
    rng = np.random.default_rng(seed)
    for folder, lighting in (("ibmGestureTrain", "fluorescent"), ("ibmGestureTest", "led")):
        for u in users:
            d = root / "DVSGesture" / folder / f"user{u:02d}_{lighting}"
            d.mkdir(parents=True)
            for lab in labels:
                n = 300
                arr = np.stack(
                    [
                        rng.integers(0, 128, n),
                        rng.integers(0, 128, n),
                        rng.integers(0, 2, n),
                        np.sort(rng.integers(5, 3_000, n)),
                    ],
                    axis=1,
                ).astype(np.int64)  # t in ms
                np.save(d / f"{lab}.npy", arr)


def write_pokerdvs(root, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    for folder in ("pips_train", "pips_test"):
        for cls in ("cl", "he", "di", "sp"):
            d = root / "POKERDVS" / folder / cls
            d.mkdir(parents=True)
            for k in range(per_class):
                n = 100
                arr = np.stack(
                    [
                        np.sort(rng.integers(0, 20_000, n)),
                        rng.integers(0, 35, n),
                        rng.integers(0, 35, n),
                        rng.integers(0, 2, n),
                    ],
                    axis=1,
                ).astype(np.int64)
                np.save(d / f"{cls}{k}.npy", arr)


def test_known_names_and_facts():
    assert set(KNOWN) == {"nmnist", "dvsgesture", "pokerdvs", "mnist-dvs"}
    assert KNOWN["nmnist"].sensor_size == (34, 34, 2)
    assert KNOWN["dvsgesture"].sensor_size == (128, 128, 2) and KNOWN["dvsgesture"].n_classes == 11
    assert KNOWN["pokerdvs"].sensor_size == (35, 35, 2) and KNOWN["pokerdvs"].n_classes == 4
    assert KNOWN["mnist-dvs"].tonic_class is None


def test_nmnist_reads_real_layout_exactly(tmp_path):
    truth = write_nmnist(tmp_path)
    assert find_local("nmnist", tmp_path) == tmp_path / "NMNIST"
    opts = DataOptions(data_root=tmp_path, window_us=400_000, cache=False)
    ds = load_tonic("nmnist", "test", opts, progress=False)
    assert len(ds) == 6 and ds.sensor_size == (34, 34, 2) and ds.n_classes == 10
    assert ds.duration_us == 400_000
    assert sorted(ds.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    # tonic walks sorted folders: class 0 file 0 first
    want = truth[("Test", 0, 0)]
    got = ds.events[0]
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got["x"], want["x"])
    np.testing.assert_array_equal(got["p"], want["p"])
    np.testing.assert_array_equal(got["t"], want["t"] - want["t"][0])


def test_nmnist_default_window_and_downsample(tmp_path):
    write_nmnist(tmp_path)
    opts = DataOptions(data_root=tmp_path, input_size=(17, 17), cache=False)
    ds = load_tonic("nmnist", "train", opts, progress=False)
    assert ds.duration_us == 300_000 and ds.sensor_size == (17, 17, 2)
    assert all(e["t"].max() < 300_000 and e["x"].max() < 17 and e["y"].max() < 17 for e in ds.events)


def test_dvsgesture_layout_ms_to_us_and_downsample(tmp_path):
    write_dvsgesture(tmp_path)
    opts = DataOptions(data_root=tmp_path, input_size=(32, 32), cache=False)
    ds = load_tonic("dvsgesture", "train", opts, progress=False)
    assert len(ds) == 6 and ds.n_classes == 11 and ds.sensor_size == (32, 32, 2)
    assert sorted(set(ds.labels.tolist())) == [0, 3, 10]
    assert ds.duration_us == 1_500_000
    t = np.concatenate([e["t"] for e in ds.events])
    assert t.max() < 1_500_000 and t.max() > 1_000_000  # ms became µs, window cut at 1.5 s
    assert np.all(t % 1000 == 0)


def test_pokerdvs_layout(tmp_path):
    write_pokerdvs(tmp_path)
    ds = load_tonic("pokerdvs", "test", DataOptions(data_root=tmp_path, cache=False), progress=False)
    assert len(ds) == 8 and ds.classes == ("cl", "he", "di", "sp")
    assert sorted(ds.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ds.duration_us == max(int(e["t"][-1]) + 1 for e in ds.events)


def test_missing_data_is_exit_3_with_how_to_fetch(tmp_path):
    with pytest.raises(InputError) as exc:
        load_tonic("nmnist", "train", DataOptions(data_root=tmp_path), progress=False)
    msg = exc.value.message
    assert exc.value.exit_code == 3
    assert msg.startswith(f"Dataset nmnist (train split) not found under {tmp_path}.")
    assert "pass --download to fetch it (about 1200 MB in all; train split from https://data.mendeley.com/" in msg
    assert "or --data-root to where it is" in msg
    assert not (tmp_path / ".qsnn_cache").exists()


def test_manual_only_dataset_says_where_to_get_it(tmp_path):
    with pytest.raises(InputError) as exc:
        load_tonic("pokerdvs", "train", DataOptions(data_root=tmp_path, download=True), progress=False)
    assert "cannot be downloaded automatically" in exc.value.message
    assert "http://www2.imse-cnm.csic.es/caviar/POKERDVS.html" in exc.value.message


def test_download_without_network_is_exit_5(tmp_path, monkeypatch):
    def _offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    with pytest.raises(BackendUnavailable) as exc:
        load_tonic("nmnist", "test", DataOptions(data_root=tmp_path, download=True), progress=False)
    msg = exc.value.message
    assert exc.value.exit_code == 5
    assert msg.startswith("Cannot download nmnist (test split): no network (")
    assert "download https://data.mendeley.com/" in msg and "test.zip" in msg
    assert str(tmp_path / "NMNIST" / "test.zip") in msg


def test_present_archive_is_extracted_without_network(tmp_path):
    src = tmp_path / "src"
    write_nmnist(src, classes=(4,))
    (tmp_path / "root" / "NMNIST").mkdir(parents=True)
    shutil.make_archive(str(tmp_path / "root" / "NMNIST" / "test"), "zip", src / "NMNIST", "Test")
    ds = load_tonic("nmnist", "test", DataOptions(data_root=tmp_path / "root", cache=False), progress=False)
    assert ds.labels.tolist() == [4, 4]


def test_unknown_name_and_split():
    with pytest.raises(InputError, match="did you mean 'nmnist'"):
        load_tonic("nmnsit", "train", DataOptions(), progress=False)
    with pytest.raises(InputError, match="Unknown split 'val'"):
        load_tonic("nmnist", "val", DataOptions(), progress=False)


def test_cache_second_load_does_not_read_raw_files(tmp_path):
    write_nmnist(tmp_path)
    opts = DataOptions(data_root=tmp_path, input_size=(17, 17), denoise_us=5_000)
    first = load_tonic("nmnist", "train", opts, progress=False)
    assert list((tmp_path / ".qsnn_cache").rglob("complete.json"))
    shutil.rmtree(tmp_path / "NMNIST")
    assert find_split("nmnist", "train", tmp_path) is None
    second = load_tonic("nmnist", "train", opts, progress=False)
    assert second.labels.tolist() == first.labels.tolist()
    for a, b in zip(first.events, second.events):
        np.testing.assert_array_equal(a, b)
    # other transforms are another cache entry: needs the raw files again
    with pytest.raises(InputError, match="not found"):
        load_tonic("nmnist", "train", DataOptions(data_root=tmp_path), progress=False)


def test_augment_train_only_and_seeded(tmp_path):
    write_nmnist(tmp_path)
    opts = DataOptions(data_root=tmp_path, augment=True, cache=False)
    a = load_tonic("nmnist", "train", opts, seed=3, progress=False)
    b = load_tonic("nmnist", "train", opts, seed=3, progress=False)
    c = load_tonic("nmnist", "train", opts, seed=4, progress=False)
    plain = load_tonic("nmnist", "train", DataOptions(data_root=tmp_path, cache=False), progress=False)
    for x, y in zip(a.events, b.events):
        np.testing.assert_array_equal(x, y)
    assert any(len(x) != len(y) or not np.array_equal(x, y) for x, y in zip(a.events, c.events))
    test_aug = load_tonic("nmnist", "test", opts, seed=3, progress=False)
    test_plain = load_tonic("nmnist", "test", DataOptions(data_root=tmp_path, cache=False), progress=False)
    for x, y in zip(test_aug.events, test_plain.events):
        np.testing.assert_array_equal(x, y)
    assert len(plain) == len(a)


# --- MNIST-DVS: jAER AEDAT 2.0 files read through qsnn_deploy.data.formats.read_recording ---


def write_aedat2(path, ev):
    """jAER AEDAT 2.0 for a DVS128: big-endian (address, timestamp) pairs; address bit 0 = 1 - p
    (jAER: bit 0 set is OFF), bits 1-7 = 127 - x, bits 8-14 = 127 - y (as formats.read_aedat decodes)."""
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file created by qsnn-deploy tests\r\n"
    addr = (
        (1 - ev["p"].astype(np.int64))
        | ((127 - ev["x"].astype(np.int64)) << 1)
        | ((127 - ev["y"].astype(np.int64)) << 8)
    )
    body = b"".join(struct.pack(">II", int(a), int(t)) for a, t in zip(addr, ev["t"]))
    path.write_bytes(header + body)


def test_mnist_dvs_layout_and_fixed_split(tmp_path):
    pytest.importorskip("qsnn_deploy.data.formats", reason="formats.py (AEDAT reader) not written yet")
    rng = np.random.default_rng(0)
    for d in (0, 1):
        for scale in (4, 16):
            folder = tmp_path / "MNIST-DVS" / f"grabbed_data{d}" / f"scale{scale}"
            folder.mkdir(parents=True)
            for k in range(1, 6):
                write_aedat2(
                    folder / f"mnist_{d}_scale{scale:02d}_{k:04d}.aedat", _events(rng, 50, 128, 128, 2_000_000)
                )
    assert find_local("mnist-dvs", tmp_path) is not None
    opts = DataOptions(data_root=tmp_path, input_size=(32, 32), cache=False)
    train = load_tonic("mnist-dvs", "train", opts, progress=False)
    test = load_tonic("mnist-dvs", "test", opts, progress=False)
    assert len(train) == 8 and len(test) == 2  # scale 16 only, 20% per digit held out
    assert sorted(test.labels.tolist()) == [0, 1]
    assert train.sensor_size == (32, 32, 2)

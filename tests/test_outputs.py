"""Atomic writes (qsnn_deploy.outputs): nothing half-written is ever visible, nothing temporary is left behind, and
the files and folders get the process's normal mode (not mkstemp's 0600 / mkdtemp's 0700)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_network

from qsnn_deploy import outputs
from qsnn_deploy.errors import UsageError
from qsnn_deploy.outputs import atomic_path, check_writable, process_umask, staged_folder, write_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test (and forget the cached one before and after)."""
    before = os.umask(0o022)
    os.umask(before)

    def set_to(mask: int) -> None:
        os.umask(mask)
        outputs._umask = None

    yield set_to
    os.umask(before)
    outputs._umask = None


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- write_atomic and atomic_path --------------------------------------------------------------------------------


def test_write_atomic_writes_text_and_bytes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "out.json"
    assert write_atomic(target, "ä") == target and target.read_bytes() == "ä".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and _names(target.parent) == ["out.json"]


def test_write_atomic_of_unwritable_data_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old" and _names(tmp_path) == ["out.json"]


def test_an_exception_inside_atomic_path_leaves_no_file(tmp_path):
    target = tmp_path / "model.nir"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_a_writer_that_raises_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")

    def writer(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(b"partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".pt" and tmp.name.startswith(".")
        writer(tmp)
    assert target.read_bytes() == b"old" and _names(tmp_path) == ["checkpoint.pt"]


# --- modes ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o002, 0o664, 0o775)]
)
def test_files_and_folders_get_the_mode_the_umask_gives(tmp_path, umask, mask, file_mode, folder_mode):
    umask(mask)
    assert _mode(write_atomic(tmp_path / "a.json", "{}")) == file_mode
    with atomic_path(tmp_path / "b.pt") as tmp:
        torch.save({"x": 1}, tmp)
    assert _mode(tmp_path / "b.pt") == file_mode
    with staged_folder(tmp_path / "run") as tmp:
        (tmp / "metrics.json").write_text("{}")
    assert _mode(tmp_path / "run") == folder_mode and _mode(tmp_path / "run" / "metrics.json") == file_mode


def test_reading_the_umask_leaves_it_as_it_was(umask):
    umask(0o027)
    assert process_umask() == 0o027
    assert os.umask(0o027) == 0o027  # still set after the read
    assert process_umask() == 0o027


# --- concurrent writers -----------------------------------------------------------------------------------------


def test_concurrent_writers_never_show_a_partial_file(tmp_path):
    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 400_000 for i in range(4)]
    write_atomic(target, payloads[0])
    done = threading.Event()
    seen: list[bytes] = []

    def writer(data: bytes) -> None:
        for _ in range(15):
            write_atomic(target, data)

    def reader() -> None:
        while not done.is_set():
            seen.append(target.read_bytes())

    read = threading.Thread(target=reader)
    read.start()
    writers = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    read.join()
    seen.append(target.read_bytes())
    assert all(s in payloads for s in seen)  # every read saw one whole payload
    assert _names(tmp_path) == ["shared.bin"]


# --- folders and the output-folder check ---------------------------------------------------------------------


def test_a_failed_staged_folder_leaves_nothing_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("mid-run")
    assert _names(tmp_path) == ["run"] and _names(out) == ["old.txt"]


def test_check_writable_names_the_option(tmp_path):
    (tmp_path / "x").write_text("")
    check_writable(tmp_path / "missing", False)
    check_writable(tmp_path, True)
    with pytest.raises(UsageError, match="exists and is not empty") as err:
        check_writable(tmp_path, False)
    assert "--overwrite" in err.value.fix
    with pytest.raises(UsageError) as err:
        check_writable(tmp_path, False, "--force (alias --overwrite)")
    assert "--force" in err.value.fix and "--overwrite" in err.value.fix


# --- each former hand-written site still writes atomically ---------------------------------------------------------


def _half_write_then_fail(target, *args, **kwargs):
    """A stand-in for torch.save / np.save / nir.write that writes part of the file, then fails."""
    if hasattr(target, "write"):
        target.write(b"half")
    else:
        Path(target).write_bytes(b"half")
    raise OSError("disk full")


def _site_nir(path: Path, monkeypatch, fail: bool) -> None:
    import nir

    from qsnn_deploy.convert.nir_io import write_nir

    if fail:
        monkeypatch.setattr(nir, "write", lambda filename, graph: _half_write_then_fail(filename))
    write_nir(random_network(0, quantized=True), path)


def _site_checkpoint(path: Path, monkeypatch, fail: bool) -> None:
    from qsnn_deploy.nets.checkpoint import save_checkpoint
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict

    tiny = spec_from_dict(
        {
            "name": "tiny",
            "input_shape": [2, 8, 8],
            "n_classes": 3,
            "layers": [{"type": "linear", "name": "fc", "out_features": 3}],
        }
    )
    model = SpikingCNN(tiny)
    if fail:
        monkeypatch.setattr(torch, "save", lambda obj, f: _half_write_then_fail(f))
    save_checkpoint(path, model, {"dt_us": 1000.0, "time_bins": 4})


def _site_train_state(path: Path, monkeypatch, fail: bool) -> None:
    from qsnn_deploy.train import runs

    if fail:
        monkeypatch.setattr(torch, "save", lambda obj, f: _half_write_then_fail(f))
    runs._save_state(path, {"epoch": 1})


def _site_digits_cache(path: Path, monkeypatch, fail: bool) -> None:
    from qsnn_deploy.data import digits_dvs
    from qsnn_deploy.data.events import EVENT_DTYPE

    if fail:
        monkeypatch.setattr(np, "savez_compressed", _half_write_then_fail)
    digits_dvs._save(path, 0, np.zeros(0, EVENT_DTYPE), np.zeros(1, np.int64), np.zeros(0, np.int64))


def _site_saved_events(path: Path, monkeypatch, fail: bool) -> None:
    from cli.deploy_cmd import _save_events

    if fail:
        monkeypatch.setattr(np, "save", _half_write_then_fail)
    _save_events(str(path), None)


SITES = {
    "model.nir": _site_nir,
    "checkpoint.pt": _site_checkpoint,
    "last.pt": _site_train_state,
    "digits.npz": _site_digits_cache,
    "events": _site_saved_events,
}  # events: a name without .npy stays so


@pytest.mark.parametrize("name", list(SITES))
def test_each_writer_leaves_the_old_file_when_it_fails_midway(tmp_path, monkeypatch, umask, name):
    umask(0o022)
    path = tmp_path / name
    SITES[name](path, monkeypatch, fail=False)
    good = path.read_bytes()
    assert _names(tmp_path) == [name] and _mode(path) == 0o644 and good != b"half"
    with pytest.raises(OSError, match="disk full"):
        SITES[name](path, monkeypatch, fail=True)
    assert path.read_bytes() == good and _names(tmp_path) == [name]


def test_a_bundle_that_fails_midway_leaves_no_folder_and_keeps_the_old_one(tmp_path, monkeypatch, umask):
    import nir

    from qsnn_deploy.convert.bundle import convert_network

    umask(0o022)
    net = random_network(0)
    out = tmp_path / "bundle"
    convert_network(net, "speck2f", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _mode(out) == 0o755 and all(_mode(p) == 0o644 for p in out.iterdir())
    monkeypatch.setattr(nir, "write", lambda filename, graph: _half_write_then_fail(filename))
    with pytest.raises(OSError, match="disk full"):
        convert_network(net, "speck2f", tmp_path / "fresh")
    with pytest.raises(OSError, match="disk full"):
        convert_network(net, "speck2f", out, overwrite=True)
    assert _names(tmp_path) == ["bundle"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

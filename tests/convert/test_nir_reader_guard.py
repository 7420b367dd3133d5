"""The NIR reader walks the HDF5 file in a child process with a time limit: a hang or a crash inside the
HDF5 library is an InputError naming the file (exit 3), while a bug of ours stays an internal error
(issue 15, item 6). Every hang here is endless (a loop, a sleep of an hour), so no outcome depends on how
fast the machine is; each subprocess has an outer timeout, so a regression fails instead of stalling."""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from byte_mutations import loads_or_names_file
from helpers import random_network

from qsnn_deploy.convert import nir_file
from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.convert.nir_io import write_nir
from qsnn_deploy.errors import ConstraintError, InputError, UsageError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nir" / "nir_1.0.0_if_chain.nir"
TESTS = Path(__file__).resolve().parents[1]


def _hanging_nir(path: Path) -> Path:
    """Our own model.nir with one byte changed, on which h5py's ``f["version"][()]`` never returns.

    nir keeps its strings in HDF5's global heap ("GCOL"; 16-byte header, then objects of a 16-byte header
    ``index:u16 refcount:u16 reserved:u32 size:u64`` and 8-byte-aligned data, the free space last, index 0).
    The last object's size grown to 0xCF runs past the free space, and the HDF5 library loops when it loads
    the heap to read '/version'. Found on models/digits_speck.pt's model.nir (byte 3664), the same change.
    """
    write_nir(random_network(0, quantized=True, bias=True), path)
    raw = bytearray(path.read_bytes())
    at, last = raw.index(b"GCOL") + 16, None
    while struct.unpack_from("<H", raw, at)[0] != 0:
        last, size = at, struct.unpack_from("<Q", raw, at + 8)[0]
        at += 16 + -(-size // 8) * 8
    assert last is not None and struct.unpack_from("<Q", raw, last + 8)[0] < 0xCF
    raw[last + 8] = 0xCF
    path.write_bytes(bytes(raw))
    return path


def test_the_hanging_file_of_issue_15_is_exit_3_through_the_cli(tmp_path):
    path = _hanging_nir(tmp_path / "hang.nir")
    env = dict(os.environ, **{nir_file.READ_TIMEOUT_ENV: "2"})
    proc = subprocess.run(
        [sys.executable, "-m", "qsnn_deploy.cli.main", "estimate", str(path), "--samples", "0", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 3, proc.stderr
    assert str(path) in proc.stderr and "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    # with the HDF5 library of today it loops; one that ends with an error instead is exit 3 all the same
    assert "did not finish within 2 s" in proc.stderr or "is not a readable NIR file (" in proc.stderr, proc.stderr


def test_the_hanging_file_passes_the_shared_reader_check(tmp_path, monkeypatch):
    monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, "2")
    raw = _hanging_nir(tmp_path / "hang.nir").read_bytes()
    assert loads_or_names_file(load_network, tmp_path / "model.nir", raw, (InputError, ConstraintError)) is None


# --- the guard itself, with the child's work replaced: a hang, a crash, a bug of ours ------------------------


def _loops(path: str):
    while True:
        pass


def _sleeps(path: str):
    time.sleep(3600)


def _is_killed(path: str):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel ends a process that crashed or ran out of memory


def _exits(path: str):
    os._exit(70)


@pytest.mark.parametrize(
    "work, message",
    [
        (_loops, "reading its HDF5 structure did not finish within 1 s"),
        (_sleeps, "reading its HDF5 structure did not finish within 1 s"),
        (_is_killed, "the HDF5 library crashed reading it (signal SIGKILL)"),
        (_exits, "the HDF5 library crashed reading it (exit status 70)"),
    ],
)
def test_a_child_that_hangs_or_dies_is_an_input_error(monkeypatch, work, message):
    monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, "1")
    monkeypatch.setattr(nir_file, "_read_tree", work)
    with pytest.raises(InputError) as err:
        nir_file.read_nir_file(FIXTURE)
    assert message in err.value.message and str(FIXTURE) in err.value.message
    assert err.value.exit_code == 3


def _bug(exc: BaseException):
    def raises(*args, **kwargs):
        raise exc

    return raises


@pytest.mark.parametrize(
    "name, exc",
    [
        ("_read_tree", TypeError("a bug of ours")),  # anywhere in the child
        ("_member", KeyError("a bug of ours")),  # in the walk, between the guarded h5py calls
        ("_graph_from_dict", ValueError("a bug of ours")),  # in the parent's interpretation of the values
    ],
)
def test_a_bug_of_ours_stays_an_internal_error(monkeypatch, name, exc):
    """Only h5py's calls are guarded: the same exception types from our own code are not 'a damaged file'."""
    monkeypatch.setattr(nir_file, name, _bug(exc))
    with pytest.raises((RuntimeError, type(exc))) as err:
        nir_file.read_nir_file(FIXTURE)
    assert not isinstance(err.value, InputError)
    assert "a bug of ours" in str(err.value)


def test_the_limit_grows_with_the_file_and_the_variable_overrides_it(monkeypatch):
    monkeypatch.delenv(nir_file.READ_TIMEOUT_ENV, raising=False)
    assert nir_file.read_limit_s(0) == 20 and nir_file.read_limit_s(10 * 2**20) == 30
    monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, "1.5")
    assert nir_file.read_limit_s(10 * 2**20) == 1.5
    for bad in ("soon", "0", "-1", "inf", "nan", ""):
        monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, bad)
        with pytest.raises(UsageError, match=nir_file.READ_TIMEOUT_ENV) as err:
            nir_file.read_nir_file(FIXTURE)
        assert err.value.exit_code == 2


def _same_graph(a, b) -> None:
    assert a.version == b.version and a.edges == b.edges and a.nodes.keys() == b.nodes.keys()
    for name, node in a.nodes.items():
        assert b.nodes[name].type == node.type
        assert {k: str(v) for k, v in b.nodes[name].fields.items()} == {k: str(v) for k, v in node.fields.items()}


def test_where_fork_is_not_used_a_fresh_interpreter_reads_the_same_graph(monkeypatch, tmp_path):
    """macOS, Windows and daemonic workers read through subprocess: the same graph, and the same exit 3 on the
    hanging file."""
    forked = nir_file.read_nir_file(FIXTURE)
    monkeypatch.setattr(nir_file, "_start_method", lambda: "subprocess")
    _same_graph(forked, nir_file.read_nir_file(FIXTURE))
    monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, "2")
    hang = _hanging_nir(tmp_path / "hang.nir")
    with pytest.raises(InputError) as err:
        nir_file.read_nir_file(hang)
    assert err.value.exit_code == 3 and str(hang) in err.value.message
    assert "did not finish within 2 s" in err.value.message or "is not a readable NIR file (" in err.value.message


def _dies_at_once(path, conn):
    os._exit(1)


def test_a_child_that_dies_before_it_starts_is_not_blamed_on_the_file(monkeypatch):
    monkeypatch.setattr(nir_file, "_read_in_child", _dies_at_once)
    with pytest.raises(RuntimeError, match="ended before it started reading") as err:
        nir_file.read_nir_file(FIXTURE)
    assert not isinstance(err.value, InputError)
    monkeypatch.undo()
    monkeypatch.setattr(nir_file, "_start_method", lambda: "subprocess")
    monkeypatch.setattr(sys, "executable", "/bin/false")  # an interpreter that fails at start-up
    with pytest.raises(RuntimeError, match="ended before it started reading") as err:
        nir_file.read_nir_file(FIXTURE)
    assert not isinstance(err.value, InputError)


def _read_in_worker(path: str) -> str:
    try:
        nir_file.read_nir_file(path)
    except InputError as exc:
        return f"InputError {exc.exit_code}: {exc.message}"
    return "read"


def test_a_daemonic_worker_is_guarded_too(tmp_path, monkeypatch):
    """multiprocessing Pool and DataLoader workers are daemonic and may not fork a child: the fresh interpreter
    guards them (before, the hanging file hung such a worker forever)."""
    monkeypatch.setenv(nir_file.READ_TIMEOUT_ENV, "2")
    hang = _hanging_nir(tmp_path / "hang.nir")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        answer = pool.apply_async(_read_in_worker, (str(hang),)).get(timeout=120)
        assert pool.apply_async(_read_in_worker, (str(FIXTURE),)).get(timeout=120) == "read"
    assert answer.startswith("InputError 3:") and str(hang) in answer


# --- the per-read guard of the reader property tests (tests/byte_mutations.py) -------------------------------


def test_a_read_that_hangs_ends_the_test_process(tmp_path):
    """A reader that never returns (here a loop holding the GIL) ends the process with status 1 and every
    thread's stack, where the property test would otherwise stall CI."""
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); from pathlib import Path\n"
        "from byte_mutations import loads_or_names_file\n"
        "def hangs(path):\n    while True:\n        pass\n"
        f"loads_or_names_file(hangs, Path({str(tmp_path / 'x.bin')!r}), b'abc', limit_s=1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Timeout") and "in hangs" in proc.stderr and "in loads_or_names_file" in proc.stderr

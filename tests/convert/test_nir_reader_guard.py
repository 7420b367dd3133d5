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
    while (index := struct.unpack_from("<H", raw, at)[0]) != 0:
        last, size = at, struct.unpack_from("<Q", raw, at + 8)[0]
        at += 16 + -(-size // 8) * 8
    assert last is not None and struct.unpack_from("<Q", raw, last + 8)[0] < 0xCF
    raw[last + 8] = 0xCF
    path.write_bytes(bytes(raw))
    return path


def test_the_hanging_file_of_issue_15_is_exit_3_through_the_cli(tmp_path):
    path = _hanging_nir(tmp_path / "hang.nir")
    env = dict(os.environ, **{nir_file.READ_TIMEOUT_ENV: "2"})
    proc = subprocess.run([sys.executable, "-m", "qsnn_deploy.cli.main", "estimate", str(path), "--samples", "0",
                           "-q"], capture_output=True, text=True, env=env, timeout=180)
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


@pytest.mark.parametrize("work, message", [
    (_loops, "reading its HDF5 structure did not finish within 1 s"),
    (_sleeps, "reading its HDF5 structure did not finish within 1 s"),
    (_is_killed, "the HDF5 library crashed reading it (signal SIGKILL)"),
    (_exits, "the HDF5 library crashed reading it (exit status 70)"),
])
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


@pytest.mark.parametrize("name, exc", [
    ("_read_tree", TypeError("a bug of ours")),  # anywhere in the child
    ("_member", KeyError("a bug of ours")),  # in the walk, between the guarded h5py calls
    ("_graph_from_dict", ValueError("a bug of ours")),  # in the parent's interpretation of the values
])
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


def test_where_fork_is_missing_the_child_is_spawned(monkeypatch):
    """The fallback of platforms without fork (Windows; macOS where it is unsafe) reads the same graph."""
    forked = nir_file.read_nir_file(FIXTURE)
    methods = []
    real = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: methods.append(method) or real(method))
    spawned = nir_file.read_nir_file(FIXTURE)
    assert methods == ["spawn"]
    assert spawned.version == forked.version and spawned.edges == forked.edges
    assert spawned.nodes.keys() == forked.nodes.keys()
    for name, node in forked.nodes.items():
        assert spawned.nodes[name].type == node.type
        assert {k: str(v) for k, v in spawned.nodes[name].fields.items()} == {k: str(v) for k, v in node.fields.items()}


# --- the per-read guard of the reader property tests (tests/byte_mutations.py) -------------------------------


def test_a_read_that_hangs_ends_the_test_process(tmp_path):
    """A reader that never returns (here a loop holding the GIL) ends the process with status 1 and every
    thread's stack, where the property test would otherwise stall CI."""
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); from pathlib import Path\n"
            "from byte_mutations import loads_or_names_file\n"
            "def hangs(path):\n    while True:\n        pass\n"
            f"loads_or_names_file(hangs, Path({str(tmp_path / 'x.bin')!r}), b'abc', limit_s=1)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Timeout") and "in hangs" in proc.stderr and "in loads_or_names_file" in proc.stderr

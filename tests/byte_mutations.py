"""Hypothesis strategies for reader property tests: random bytes, truncations and mutations of a valid file,
and the one check every reader must pass on them (DESIGN.md §7.10)."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from qsnn_deploy.errors import InputError, QsnnError


@st.composite
def mutated(draw, raw: bytes, max_ops: int = 5) -> bytes:
    """``raw`` with 1..max_ops edits at drawn offsets: flip a bit, overwrite, insert or delete a few bytes."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, max_ops))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        op = draw(st.sampled_from(["flip", "overwrite", "insert", "delete"]))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def truncated(raw: bytes) -> st.SearchStrategy[bytes]:
    """``raw`` cut at a drawn length (0 to one byte short)."""
    return st.integers(0, len(raw) - 1).map(lambda n: raw[:n])


def damaged(raw: bytes, prefix: bytes = b"") -> st.SearchStrategy[bytes]:
    """Random bytes (optionally behind a format's magic ``prefix``), truncations and mutations of ``raw``."""
    return st.one_of(st.binary(max_size=4096).map(lambda b: prefix + b), truncated(raw), mutated(raw))


# A read still running after this many seconds hangs: faulthandler's watchdog (a C thread, so it fires even
# while native code holds the GIL) prints every thread's stack and ends the process with status 1, which
# fails the run (under xdist: "worker crashed while running <test>"; rerun that test with -s to see the
# stacks) instead of stalling CI. Far above any read of these small files (milliseconds), and above the
# NIR reader's own limit (20 s + 1 s per MiB, nir_file.read_limit_s): a hang inside HDF5 is its exit 3.
READ_LIMIT_S = 120.0


def loads_or_names_file(
    read: Callable[[Path], Any],
    path: Path,
    raw: bytes,
    errors: tuple[type[QsnnError], ...] = (InputError,),
    limit_s: float = READ_LIMIT_S,
) -> Any:
    """Write ``raw`` to ``path`` and read it within ``limit_s``: a result, or one of ``errors`` whose message
    names the file. Anything else (an internal error, exit 1) fails the test, and a hang ends the process.
    Returns the result or None."""
    path.write_bytes(raw)
    faulthandler.dump_traceback_later(limit_s, exit=True, file=sys.__stderr__)
    try:
        return read(path)
    except errors as err:
        assert str(path) in err.message, err.message
        assert err.exit_code in (3, 4)
        return None
    finally:
        faulthandler.cancel_dump_traceback_later()

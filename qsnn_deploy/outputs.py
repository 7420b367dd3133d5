"""Outputs written atomically: a file or folder is built under a hidden temporary name in its own folder, then
renamed into place, so a reader (or a failed command) never sees half of it. The one implementation of atomic
writes and of the output-folder check; no torch here (bottom layer)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError

_umask_lock = threading.Lock()
_umask: int | None = None


def process_umask() -> int:
    """The process umask, read once (reading it means setting it: ``os.umask(0)``, then restoring it)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = os.umask(0)
            os.umask(_umask)
        return _umask


def check_writable(out: str | Path, overwrite: bool, option: str = "--overwrite") -> None:
    """Refuse to replace a non-empty folder (or a file) unless ``overwrite``; ``option`` names the flag in the fix."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(
            f"output folder '{out}' exists and is not empty",
            fix=f"choose another --out, or pass {option} to replace it",
        )


def check_file_writable(path: str | Path, overwrite: bool, option: str = "--overwrite") -> None:
    """Refuse to replace an existing file unless ``overwrite``, and a folder always; ``option`` names the flag."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"output file '{path}' is a folder", fix="give a file name")
    if path.exists() and not overwrite:
        raise UsageError(
            f"output file '{path}' exists", fix=f"choose another file name, or pass {option} to replace it"
        )


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix) for a writer that wants a file name (``torch.save``,
    ``np.save``, ``nir.write``, ``savefig``); renamed to ``path`` when the block ends, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def replace_folder(src: Path, out: Path) -> None:
    """Move the finished folder ``src`` to ``out``, replacing what is there."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    src.rename(out)


@contextmanager
def staged_folder(out: str | Path, overwrite: bool = False, option: str = "--overwrite") -> Iterator[Path]:
    """Yield a temporary folder next to ``out``; on success it replaces ``out``, on failure it vanishes."""
    out = Path(out)
    check_writable(out, overwrite, option)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~process_umask())  # mkdtemp's 0700 would hide the folder from other users
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

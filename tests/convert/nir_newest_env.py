"""A side virtual environment with the newest nir, built once and kept in the user cache.

The main environment pins nir 1.0.4 (sinabs' pin), so what the newest nir thinks of our files can
only be asked in another environment. :func:`newest_nir_python` builds it on first use (a venv
without pip, filled by the main environment's pip, from the package index) under
``platformdirs.user_cache_dir("qsnn-deploy")/nir-venv-<version>-py<X.Y>`` and reuses it afterwards.
Parallel test workers are safe: one builds under a lock file, in a temporary folder renamed into place
once complete; the others wait and reuse it. A stamp file holds the exact requirements, so a change of
pins rebuilds the environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from qsnn_deploy.convert.nir_import import NEWEST_KNOWN_NIR

# The exact nir tested (NEWEST_KNOWN_NIR: bump it after testing a newer release); numpy and h5py as in the
# main environment, so that pip takes wheels that are known to exist for this Python.
STAMP = "requirements.txt"

# pip's words when it cannot connect to the index (urllib3/requests errors and the OS errors behind them).
_UNREACHABLE = re.compile(
    r"NewConnectionError|ConnectTimeoutError|Failed to establish a new connection|Connection refused|"
    r"Temporary failure in name resolution|Name or service not known|nodename nor servname|"
    r"Network is unreachable|No route to host|ProxyError|ReadTimeoutError",
    re.IGNORECASE,
)


class IndexUnreachable(Exception):
    """pip could not connect to the package index (the only reason to skip, not to fail)."""


def requirements() -> list[str]:
    return [f"nir=={NEWEST_KNOWN_NIR}", f"numpy=={version('numpy')}", f"h5py=={version('h5py')}"]


def venv_dir() -> Path:
    import platformdirs

    tag = f"nir-venv-{NEWEST_KNOWN_NIR}-py{sys.version_info.major}.{sys.version_info.minor}"
    return Path(platformdirs.user_cache_dir("qsnn-deploy")) / tag


def venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def unreachable_reason(pip_output: str) -> str | None:
    """The line of a failed pip run that says it could not connect to the index, else None."""
    for line in pip_output.splitlines():
        if _UNREACHABLE.search(line):
            return line.strip()
    return None


def pip_install(python: Path, reqs: list[str], pip_env: dict[str, str] | None = None) -> None:
    """Install ``reqs`` into the environment of ``python`` with the main environment's pip.

    ``pip_env``: when given, replaces every ``PIP_*`` variable of the environment (pip's configuration).
    Raises :class:`IndexUnreachable` when pip could not connect to the index, RuntimeError on any
    other failure (with pip's output).
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        "--retries",
        "1",
        *reqs,
    ]
    env = dict(os.environ)
    if pip_env is not None:
        env = {**{k: v for k, v in env.items() if not k.startswith("PIP_")}, **pip_env}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode == 0:
        return
    out = proc.stdout + proc.stderr
    reason = unreachable_reason(out)
    if reason:
        raise IndexUnreachable(f"pip could not reach the package index to install {' '.join(reqs)}: {reason}")
    raise RuntimeError(f"pip install {' '.join(reqs)} failed (exit {proc.returncode}):\n{out[-4000:]}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the rename below still keeps a half-built venv out of use
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _complete(root: Path, reqs: list[str]) -> bool:
    stamp = root / STAMP
    return stamp.is_file() and stamp.read_text().split() == reqs and venv_python(root).exists()


def newest_nir_python(root: Path | None = None) -> Path:
    """The Python of the side environment with the newest nir, built on first use."""
    import venv

    root = root or venv_dir()
    reqs = requirements()
    if _complete(root, reqs):
        return venv_python(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f"{root.name}.lock"):
        if _complete(root, reqs):  # another worker built it while we waited
            return venv_python(root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(tmp)
            pip_install(venv_python(tmp), reqs)
            (tmp / STAMP).write_text("\n".join(reqs) + "\n")
            if root.exists():
                shutil.rmtree(root)
            tmp.rename(root)  # a venv without console scripts runs from its new place
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    got = subprocess.run(
        [str(venv_python(root)), "-c", "import nir; print(nir.version)"], capture_output=True, text=True, timeout=120
    )
    if got.stdout.strip() != NEWEST_KNOWN_NIR:
        raise RuntimeError(
            f"the side environment {root} has nir {got.stdout.strip()!r}, not {NEWEST_KNOWN_NIR}: {got.stderr[-2000:]}"
        )
    return venv_python(root)

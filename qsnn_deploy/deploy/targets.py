"""Which deploy targets exist, and whether the chip driver is usable (found without importing it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import BackendUnavailable, InputError

CHIP_TARGETS = ("speck2f", "speck2e")
TARGETS = ("emulator",) + CHIP_TARGETS


def samna_status() -> str:
    """'missing', 'placeholder' (PyPI's bootstrap package) or 'real' — without importing samna."""
    spec = importlib.util.find_spec("samna")
    if spec is None or not spec.origin:
        return "missing"
    init = Path(spec.origin)
    try:
        text = init.read_text(errors="replace") if init.name == "__init__.py" else ""
    except OSError:
        text = ""
    return "placeholder" if "PYPI_SAMNA" in text or "install_real_samna" in text else "real"


def check_target(target: str) -> None:
    """Refuse unknown targets (exit 3) and chip targets without a real driver (exit 5), at once."""
    if target == "emulator":
        return
    if target not in CHIP_TARGETS:
        import difflib

        close = difflib.get_close_matches(target, TARGETS, n=1)
        raise InputError(f"unknown deploy target '{target}'",
                         fix=(f"did you mean '{close[0]}'? " if close else "") + "targets: " + ", ".join(TARGETS))
    status = samna_status()
    if status != "real":
        what = ("only PyPI's samna placeholder is installed (it would run pip when imported, so it is not)"
                if status == "placeholder" else "the samna driver is not installed")
        raise BackendUnavailable(f"cannot deploy to {target}: {what}",
                                 fix="install the real samna driver from SynSense's package index, or run the "
                                     "same model here with --target emulator")
    raise BackendUnavailable(f"deploying to {target} through samna is not available in this version",
                             fix="use --target emulator")

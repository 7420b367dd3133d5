"""Which deploy targets exist, and whether the chip driver is usable (found without importing it).

PyPI's ``samna`` is a placeholder whose ``__init__`` runs ``pip install`` of the real driver from
SynSense's own index when imported (DESIGN.md §5). Everything here reads files only: nothing imports
samna, and nothing starts a process.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BackendUnavailable, InputError

if TYPE_CHECKING:
    from ..hw.profile import TargetName

CHIP_TARGETS = ("speck2f", "speck2e")
TARGETS = ("emulator",) + CHIP_TARGETS

# The index the placeholder itself would install from (read from its file when present).
SYNSENSE_INDEX_URL = "https://gitlab.com/api/v4/projects/27423070/packages/pypi/simple"


@dataclass(frozen=True)
class SamnaInfo:
    """What is installed under the name ``samna``: ``status`` is 'missing', 'placeholder' or 'real'."""

    status: str
    path: str | None = None
    version: str | None = None  # from the installed package metadata (no import)
    index_url: str = SYNSENSE_INDEX_URL

    @property
    def install_command(self) -> str:
        """The pip command that installs the real driver (the one the placeholder would run)."""
        pin = f"=={self.version}" if self.version and "+" not in self.version else ""
        return f"pip install --force-reinstall 'samna{pin}' --index-url {self.index_url}"


def _read_init(origin: str | None) -> str:
    if not origin or Path(origin).name != "__init__.py":
        return ""
    try:
        return Path(origin).read_text(errors="replace")
    except OSError:
        return ""


def samna_info() -> SamnaInfo:
    """Find ``samna`` without importing it and tell the real driver from PyPI's placeholder."""
    try:
        spec = importlib.util.find_spec("samna")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not (spec.origin or spec.submodule_search_locations):
        return SamnaInfo("missing")
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("samna")
        except PackageNotFoundError:
            ver = None
    except ImportError:  # pragma: no cover
        ver = None
    text = _read_init(spec.origin)
    path = spec.origin or next(iter(spec.submodule_search_locations or []), None)
    if "PYPI_SAMNA" in text or "install_real_samna" in text:
        url = re.search(r"https://[^\s\"']+/simple", text)
        return SamnaInfo("placeholder", path, ver, url.group(0) if url else SYNSENSE_INDEX_URL)
    return SamnaInfo("real", path, ver)


def samna_status() -> str:
    """'missing', 'placeholder' (PyPI's bootstrap package) or 'real' — without importing samna."""
    return samna_info().status


def driver_unavailable(
    target: str, info: SamnaInfo | None = None, action: str = "deploy to", instead: str | None = None
) -> BackendUnavailable:
    """The exit-5 error for a chip target without the real driver: what (``action`` the target), and the ways
    out: the driver, and ``instead`` (default: the emulator, or the configuration written for later)."""
    info = info or samna_info()
    what = (
        "only PyPI's samna placeholder is installed (importing it would run pip, so qsnn-deploy does not)"
        if info.status == "placeholder"
        else "the samna driver is not installed"
    )
    instead = instead or (
        "run the same model here with --target emulator; or write the chip configuration for later with "
        "--export-config FILE"
    )
    return BackendUnavailable(
        f"cannot {action} {target}: {what}",
        where=info.path,
        fix=(
            f"install the real driver from SynSense's package index ({info.install_command}) and check it "
            f"with `qsnn-deploy doctor`; or {instead}"
        ),
    )


def resolve_deploy_target(target: str) -> TargetName:
    """``emulator``, or a chip that samna drives named any way :func:`~qsnn_deploy.hw.profile.resolve_target`
    knows (``speck2f``, the family ``speck``, samna's board names such as ``speck2fdevkit``). Anything
    else raises :class:`InputError` (exit 3) with a suggestion."""
    from ..hw import profile

    if target.strip().lower() == "emulator":
        return profile.TargetName("emulator", target)
    try:
        resolved = profile.resolve_target(target)
    except InputError:
        resolved = None
    if resolved is not None and resolved.name in CHIP_TARGETS:
        return resolved
    names = list(TARGETS) + sorted(k for k, v in profile.profile_aliases().items() if v in CHIP_TARGETS)
    if resolved is not None and not resolved.is_path:
        raise InputError(
            f"cannot deploy to {resolved.name}: its profile is for estimates only (deploy runs the "
            "emulator or a Speck chip through samna)",
            fix="deploy to " + ", ".join(TARGETS) + f"; `qsnn-deploy estimate --target {resolved.name}` "
            "reports the fit, power and latency",
        )
    close = difflib.get_close_matches(target.strip().lower(), names, n=1)
    raise InputError(
        f"unknown deploy target '{target}'",
        fix=(f"did you mean '{close[0]}'? " if close else "") + "targets: " + ", ".join(names),
    )


def check_target(target: str, need_driver: bool = True, action: str = "deploy to", instead: str | None = None) -> str:
    """Refuse unknown targets (exit 3) and, when ``need_driver``, chip targets without the real driver
    (exit 5), at once (``action``, ``instead``: as :func:`driver_unavailable` says them). Returns the samna status
    ('' for the emulator). Names resolve as
    :func:`resolve_deploy_target` does."""
    name = resolve_deploy_target(target).name
    if name == "emulator":
        return ""
    info = samna_info()
    if need_driver and info.status != "real":
        raise driver_unavailable(name, info, action, instead)
    return info.status

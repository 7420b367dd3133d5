"""``doctor``: what is installed, whether samna is the real driver, which boards it sees, what next.

Versions come from the installed package metadata (nothing imported for them). torch is imported to
ask about CUDA. samna is imported only when the real driver is installed — never the placeholder.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

PACKAGES = ("qsnn-deploy", "torch", "sinabs", "nir", "nirtorch", "tonic", "numpy", "samna")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _torch_report() -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return {"installed": False}
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
        return {
            "installed": True,
            "version": torch.__version__,
            "cuda_available": cuda,
            "cuda_version": torch.version.cuda,
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        }
    except Exception as exc:  # a broken torch install is a finding, not a crash
        return {"installed": True, "error": f"{type(exc).__name__}: {exc}"}


def _samna_report(probe_devices: bool) -> dict[str, Any]:
    from .targets import samna_info

    info = samna_info()
    rep: dict[str, Any] = {
        "status": info.status,
        "path": info.path,
        "package_version": info.version,
        "install_command": info.install_command,
        "devices": None,
    }
    if info.status != "real":
        return rep
    from .samna_backend import import_dynapcnn, import_samna, list_devices

    try:
        samna = import_samna()
        rep["version"] = str(getattr(samna, "__version__", info.version))
        if probe_devices:
            rep["devices"] = [d.to_dict() for d in list_devices(samna)]
    except Exception as exc:
        rep["error"] = str(getattr(exc, "message", exc))
        return rep
    try:
        import_dynapcnn()
        rep["sinabs_backend"] = "ok"
    except Exception as exc:
        rep["sinabs_backend"] = str(getattr(exc, "message", exc))
    return rep


def next_steps(rep: dict[str, Any]) -> list[str]:
    """What to do next, in order."""
    s, steps = rep["samna"], []
    pk = rep["packages"]
    if s["status"] == "placeholder":
        steps.append(
            "samna is PyPI's placeholder (importing it would run pip; qsnn-deploy never does). Install the "
            f"real driver from SynSense's index: {s['install_command']}"
        )
    elif s["status"] == "missing":
        steps.append(f"samna is not installed; for a chip, install the real driver: {s['install_command']}")
    elif s.get("error"):
        steps.append(f"samna is installed but failed: {s['error']}")
    elif s.get("sinabs_backend") not in (None, "ok"):
        steps.append(f"sinabs' Speck backend does not import: {s['sinabs_backend']}")
    elif s["devices"] is not None:
        speck = [d for d in s["devices"] if d["family"]]
        if speck:
            steps.append(f"ready: qsnn-deploy deploy MODEL --target {speck[0]['family']} --device {speck[0]['id']}")
        else:
            steps.append(
                "no Speck board seen: plug the devkit in (USB data cable), on Linux check the USB "
                "permissions (udev rules for SynSense boards), then run `qsnn-deploy doctor` again"
            )
    if s["status"] != "real" or not (s["devices"] and any(d["family"] for d in s["devices"])):
        steps.append(
            "meanwhile: `qsnn-deploy deploy MODEL --target emulator` runs the same model here; "
            "`--target speck2f --export-config chip.json` writes the chip configuration for later"
        )
    if pk.get("sinabs") and pk.get("nir") and pk["sinabs"].startswith("3.1") and _newer(pk["nir"], "1.0.4"):
        steps.append(
            f"nir {pk['nir']} is newer than sinabs {pk['sinabs']} supports (nir<=1.0.4): pip install 'nir<=1.0.4'"
        )
    t = rep["torch"]
    if not t.get("installed"):
        steps.append("torch is missing: pip install torch (training, the emulator and the chip path need it)")
    elif t.get("cuda_available") is False:
        steps.append("torch runs on the CPU (no CUDA device); training works, only slower")
    return steps


def _newer(version: str, than: str) -> bool:
    def key(v: str) -> tuple:
        return tuple(int(p) if p.isdigit() else 0 for p in v.split("+")[0].split(".")[:3])

    try:
        return key(version) > key(than)
    except ValueError:
        return False


def collect(probe_devices: bool = True) -> dict[str, Any]:
    """The whole report as plain data (the ``--format json`` output)."""
    rep: dict[str, Any] = {
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        },
        "packages": {name: _version(name) for name in PACKAGES},
        "torch": _torch_report(),
        "samna": _samna_report(probe_devices),
    }
    s = rep["samna"]
    rep["ready"] = {
        "emulator": bool(rep["torch"].get("installed")),
        "chip": s["status"] == "real"
        and not s.get("error")
        and s.get("sinabs_backend") == "ok"
        and bool(s["devices"] and any(d["family"] for d in s["devices"])),
    }
    rep["next_steps"] = next_steps(rep)
    return rep


def format_text(rep: dict[str, Any]) -> str:
    """The report for people."""
    lines = [f"python       {rep['python']['version']} ({rep['python']['executable']})"]
    for name, ver in rep["packages"].items():
        if name != "samna":
            lines.append(f"{name:<12} {ver or 'not installed'}")
    t = rep["torch"]
    if t.get("installed") and "error" not in t:
        cuda = (
            f"CUDA {t['cuda_version']}: {', '.join(t['cuda_devices'])}"
            if t["cuda_available"]
            else "no CUDA device (CPU)"
        )
        lines.append(f"torch device {cuda}")
    elif "error" in t:
        lines.append(f"torch        error: {t['error']}")
    s = rep["samna"]
    what = {
        "real": "real driver",
        "placeholder": "PyPI placeholder (not imported: it would run pip)",
        "missing": "not installed",
    }[s["status"]]
    ver = s.get("version") or s.get("package_version")
    lines.append(
        f"samna        {what}" + (f", version {ver}" if ver else "") + (f" ({s['path']})" if s["path"] else "")
    )
    if s["status"] == "real":
        if s.get("sinabs_backend"):
            lines.append(f"sinabs Speck backend {s['sinabs_backend']}")
        if s["devices"] is not None:
            lines.append(
                "devices      "
                + (", ".join(f"{d['id']} ({d['type']}, usb {d['usb']})" for d in s["devices"]) or "none seen")
            )
    lines.append(
        f"ready        emulator: {'yes' if rep['ready']['emulator'] else 'no'}, "
        f"chip: {'yes' if rep['ready']['chip'] else 'no'}"
    )
    lines.append("")
    lines.append("Next:")
    lines += [f"  - {step}" for step in rep["next_steps"]]
    return "\n".join(lines)

"""Where a run computes and how its randomness is kept: the device of ``--device``, and the random states a
resumed run restores so that it continues exactly where the interrupted one stopped."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ..errors import UsageError


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU; an unavailable CUDA is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"--device {name} asked for CUDA but torch sees no CUDA device", fix="use --device cpu (or auto)"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}'", fix="use auto, cpu, cuda or cuda:N") from None


def rng_states() -> dict[str, Any]:
    """Python, NumPy (global) and torch RNG states as tensors and plain values (``weights_only``-loadable)."""
    version, keys, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    states = {
        "python": [version, list(keys), gauss],
        "numpy": [
            np_name,
            torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` saved."""
    version, keys, gauss = states["python"]
    random.setstate((version, tuple(keys), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s state dict on the CPU (kept while the module trains on)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

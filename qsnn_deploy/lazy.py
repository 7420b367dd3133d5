"""Package exports that load their module on first use, so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for ``package``: ``name`` is imported from ``where[name]``, a module
    of the package itself (``".bundle"``), when it is first used. Usage::

        __getattr__, __dir__ = lazy_exports(__name__, {"load_network": ".loader"})
    """
    for name, module in where.items():
        if not module.startswith(".") or module.startswith(".."):
            raise ValueError(f"{package}: {name} must come from a module of the package itself, not {module!r}")

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__

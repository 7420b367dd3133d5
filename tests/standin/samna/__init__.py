"""A minimal stand-in for SynSense's samna driver, for tests only.

It lets ``sinabs.backend.dynapcnn`` be imported (so our mapping, discretisation and emulator can be
checked against sinabs' own code) without the real driver and without PyPI's placeholder, which
would run ``pip install`` when imported. Every attribute is a harmless dummy; nothing talks to hardware.
"""

import sys
import types

STANDIN = True
__version__ = "0.0.0+standin"


class _Dummy:
    """Absorbs any construction, call or attribute access."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __call__(self, *args, **kwargs):
        return _Dummy(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy()


def _module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__getattr__ = lambda attr: _Dummy if attr[:1].isupper() else _Dummy()  # type: ignore[attr-defined]
    sys.modules[name] = mod
    return mod


for _name in ("speck2e", "speck2f", "graph", "ui", "device", "specksim"):
    _mod = _module(f"{__name__}.{_name}")
    globals()[_name] = _mod
    for _sub in ("configuration", "event", "nodes", "events"):
        _child = _module(f"{__name__}.{_name}.{_sub}")
        setattr(_mod, _sub, _child)


def __getattr__(attr):
    return _Dummy if attr[:1].isupper() else _Dummy()

"""Stand-in for samna's GUI module (tests only): sinabs imports it; nothing here is simulated."""

from samna import _NotSimulated, _StrictModule

run_visualizer = _NotSimulated("samnagui.run_visualizer")  # sinabs backend/dynapcnn/io.py:243


def __getattr__(name: str):
    import sys

    return _StrictModule.__getattr__(sys.modules[__name__], name)

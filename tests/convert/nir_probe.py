"""Read NIR files with whatever nir this Python has, and print what it thinks of them as JSON.

Run in the side environment of :mod:`nir_newest_env` (only nir, numpy and h5py there, no qsnn_deploy):
``python nir_probe.py FILE...`` prints ``{FILE: {"nir": version, "ok": bool, "error": str, "types": {node:
[input type, output type]}}}``. ``nir.read`` type-checks by default in nir >= 1.0.5; the probe also runs
the graph's ``infer_types`` and ``check_types`` itself, so a reader that skips them is not trusted.
"""

import json
import sys

import nir
import numpy as np


def _types(node) -> list:
    def one(t):
        values = list((t or {}).values())
        return None if not values or values[0] is None else np.asarray(values[0]).astype(int).tolist()

    return [one(node.input_type), one(node.output_type)]


def probe(path: str) -> dict:
    out = {"nir": nir.version, "ok": False, "error": "", "types": {}}
    try:
        graph = nir.read(path)
        graph.infer_types()
        graph.check_types()
        out["types"] = {name: _types(node) for name, node in graph.nodes.items()}
        out["ok"] = True
    except Exception as exc:  # report every failure; the test decides
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


if __name__ == "__main__":
    print(json.dumps({path: probe(path) for path in sys.argv[1:]}))

"""Write NIR graphs in the on-disk layouts of several nir versions (h5py only), as those versions do.

- ``1.0.0``: no metadata groups, no ``v_reset``, nothing compressed (nir 1.0.0–1.0.1);
- ``1.0.4``: like 1.0.0 plus a ``metadata`` group where a node has metadata (nir 1.0.3–1.0.4);
- ``1.0.8``: ``v_reset`` on IF/LIF/CubaLIF (zeros unless given), arrays of rank ≥ 1 gzip-compressed,
  strings as variable-length UTF-8 (nir 1.0.5–1.0.8, read from nir 1.0.8's ``serialization.py``);
- any other version string: the 1.0.8 layout, for "a newer nir" with fields of its own.

``test_nir_import.py`` checks these layouts against real files made by nir 1.0.0 and nir 1.0.8.
"""

from __future__ import annotations

import h5py
import numpy as np

RESET_TYPES = ("IF", "LIF", "CubaLIF")


def _write(group: h5py.Group, data: dict, compress: bool) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            if key == "metadata" and not value:
                continue
            _write(group.create_group(str(key)), value, compress)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, np.ndarray) and compress and value.ndim >= 1 and value.dtype.kind != "O":
            group.create_dataset(key, data=value, dtype=value.dtype, compression="gzip")
        else:
            group.create_dataset(key, data=value)


def write_layout(
    path, nodes: dict[str, dict], edges: list[tuple[str, str]], version: str = "1.0.8", metadata: dict | None = None
) -> None:
    """``nodes``: name → {"type": ..., field: value, "metadata": {...}} as the writing nir would store it."""
    newer = version not in ("1.0.0", "1.0.4")
    out_nodes = {}
    for name, node in nodes.items():
        node = dict(node)
        if version == "1.0.0":
            node.pop("metadata", None)
        if newer and node["type"] in RESET_TYPES and "v_reset" not in node:
            node["v_reset"] = np.zeros_like(np.asarray(node["v_threshold"]))
        if not newer:
            node.pop("v_reset", None)
        out_nodes[name] = node
    graph = {
        "type": "NIRGraph",
        "nodes": out_nodes,
        "edges": np.array(edges, dtype=object).astype(h5py.string_dtype())
        if edges
        else np.zeros((0, 2), dtype=h5py.string_dtype()),
    }
    if metadata and version != "1.0.0":
        graph["metadata"] = metadata
    with h5py.File(path, "w") as f:
        if newer:
            f.create_dataset("version", data=version, dtype=h5py.string_dtype())
        else:
            f.create_dataset("version", data=version)
        _write(f.create_group("node"), graph, compress=newer)


def tree(path) -> dict[str, tuple]:
    """Every dataset of a file: name → (dtype kind, shape, compression), to compare layouts."""
    out = {}
    with h5py.File(path, "r") as f:
        out["version"] = (f["version"].dtype.kind, f["version"].shape, f["version"].compression)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.kind, obj.shape, obj.compression)

        f["node"].visititems(visit)
    return out

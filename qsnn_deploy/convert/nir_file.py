"""Read any NIR graph, from a file of any nir version or from a ``nir.NIRGraph`` in memory (no torch).

``nir.read`` builds node objects of the *installed* nir version and fails on fields it does not
know (a file from nir ≥ 1.0.5 has ``v_reset``, which nir 1.0.4 rejects). This reader takes the HDF5
tree as it is — the layouts of nir 1.0.0 to 1.0.8 differ only in which fields exist, the version
string's type and compression — and leaves the judgement of each field to the importer, which can
then name an unknown field instead of failing with a type error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass
class RawNode:
    """One node as stored: its type name, its fields (numpy values) and metadata."""

    name: str
    type: str
    fields: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    graph: "RawGraph | None" = None  # for a nested NIRGraph


@dataclass
class RawGraph:
    nodes: dict[str, RawNode]
    edges: list[tuple[str, str]]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None  # nir version that wrote the file; None for a graph made in memory


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in ("S", "O") and value.ndim == 0:
        return _text(value[()])
    return value


def _h5_to_dict(group) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    for key, item in group.items():
        out[key] = _h5_to_dict(item) if isinstance(item, h5py.Group) else _text(item[()])
    return out


def _edges(value: Any, where: str) -> list[tuple[str, str]]:
    arr = np.asarray(value, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"edges must be pairs of node names, got an array of shape {arr.shape}", where=where)
    return [(str(_text(a)), str(_text(b))) for a, b in arr]


def _node_from_dict(name: str, data: dict[str, Any], where: str) -> RawNode:
    if "type" not in data:
        raise InputError(f"node '{name}' has no 'type' field", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    data = dict(data)
    kind = str(_text(data.pop("type")))
    meta = data.pop("metadata", {}) or {}
    if kind == "NIRGraph":
        return RawNode(name, kind, {}, meta, _graph_from_dict(data, f"{where}, node {name}"))
    return RawNode(name, kind, data, meta)


def _graph_from_dict(data: dict[str, Any], where: str, version: str | None = None) -> RawGraph:
    if "nodes" not in data or "edges" not in data:
        raise InputError("the graph has no 'nodes' or no 'edges'", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    nodes = {str(k): _node_from_dict(str(k), v, where) for k, v in data["nodes"].items()}
    meta = data.get("metadata", {}) or {}
    return RawGraph(nodes, _edges(data["edges"], where), meta, version)


def read_nir_file(path: str | Path) -> RawGraph:
    """The graph of a NIR file written by any nir 1.x; a missing or damaged file is an InputError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"NIR file '{path}' does not exist", fix="check the path, or run `qsnn-deploy convert` first")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise InputError(f"'{path}' is an HDF5 file without a 'node' group, so not a NIR graph",
                                 fix="export the model with nir.write or qsnn-deploy")
            version = str(_text(f["version"][()])) if "version" in f else None
            data = _h5_to_dict(f["node"])
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:  # h5py raises these for non-HDF5 or truncated files
        raise InputError(f"'{path}' is not a readable NIR file ({type(exc).__name__}: {exc})",
                         fix="the file may be truncated or not HDF5; export it again") from None
    if str(_text(data.get("type", "NIRGraph"))) != "NIRGraph":
        raise InputError(f"'{path}' holds a single {_text(data.get('type'))} node, not a graph",
                         fix="export the whole model as a NIRGraph")
    data.pop("type", None)
    return _graph_from_dict(data, str(path), version)


def _value(value: Any) -> Any:
    """Plain numpy/python values from a node attribute (torch tensors included, without importing torch)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return np.asarray([_value(v) for v in value])
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


def raw_from_graph(graph: Any) -> RawGraph:
    """A :class:`RawGraph` from a ``nir.NIRGraph`` object (e.g. what ``sinabs.to_nir`` returns)."""
    if type(graph).__name__ != "NIRGraph":
        raise InputError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        attrs = {k: v for k, v in vars(node).items() if not k.startswith("_")}
        meta = attrs.pop("metadata", {}) or {}
        in_type, out_type = attrs.pop("input_type", None), attrs.pop("output_type", None)
        if kind == "NIRGraph":
            nodes[name] = RawNode(name, kind, {}, meta, raw_from_graph(node))
            continue
        fields = {k: _value(v) for k, v in attrs.items() if v is not None}
        if kind == "Input":
            fields["shape"] = _value((in_type or {}).get("input"))
        elif kind == "Output":
            fields["shape"] = _value((out_type or {}).get("output"))
        elif kind == "Flatten" and (in_type or {}).get("input") is not None:
            fields["input_type"] = _value(in_type["input"])
        nodes[name] = RawNode(name, kind, {k: v for k, v in fields.items() if v is not None}, meta)
    return RawGraph(nodes, [(str(a), str(b)) for a, b in graph.edges], dict(graph.metadata or {}), None)

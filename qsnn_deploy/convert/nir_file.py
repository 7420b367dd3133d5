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
from ..inputs import short_repr


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


# Bounds on what reading a file may build, checked before anything is read (a damaged or hostile file may
# claim anything): the depth of nested groups, the number of HDF5 objects, the bytes of all datasets, and
# how much a compressed dataset may expand (gzip at its best is ~1000:1).
MAX_DEPTH = 32
MAX_OBJECTS = 100_000
MAX_TOTAL_BYTES = 2**30
MAX_EXPANSION = 1100


class _Budget:
    """What has been read from one file so far, against the bounds above."""

    def __init__(self, where: str):
        self.where, self.objects, self.bytes = where, 0, 0
        self.seen: set = set()

    def refuse(self, what: str, at: str) -> InputError:
        return InputError(f"'{self.where}' is not a NIR file this reader accepts: {what}", where=f"HDF5 object '{at}'",
                          fix="the file may be damaged; export it again with nir.write")


def _dataset_value(item, name: str, budget: _Budget) -> Any:
    """The value of one HDF5 dataset: numbers, or text (decoded as UTF-8)."""
    import h5py

    if item.external or item.is_virtual:
        raise budget.refuse("a dataset that reads from other files", name)
    dtype = item.dtype
    text = dtype.kind == "S" or (dtype.kind == "O" and h5py.check_string_dtype(dtype) is not None)
    if not text and dtype.kind not in "biuf":
        raise budget.refuse(f"a dataset of type {dtype} (NIR stores numbers and text)", name)
    claimed = int(item.size) * (dtype.itemsize if dtype.kind != "O" else 16)
    stored = int(item.id.get_storage_size())
    if claimed > max(4096, MAX_EXPANSION * stored) or budget.bytes + claimed > MAX_TOTAL_BYTES:
        raise budget.refuse(f"a dataset of shape {item.shape} claims {claimed} bytes from {stored} stored", name)
    budget.bytes += claimed
    value = item[()]
    if not text:
        return value
    try:
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.ravel(value)],
                        dtype=object).reshape(np.shape(value))
    except UnicodeDecodeError:
        raise budget.refuse("text that is not UTF-8", name) from None


def _h5_to_dict(group, budget: _Budget, depth: int = 0) -> dict[str, Any]:
    """The tree under an HDF5 group as nested dicts; only hard links, groups and plain datasets."""
    import h5py

    if depth > MAX_DEPTH:
        raise budget.refuse(f"groups nested more than {MAX_DEPTH} deep", group.name)
    out: dict[str, Any] = {}
    for key in group.keys():
        name = f"{group.name.rstrip('/')}/{key}"
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            raise budget.refuse("a soft or external link", name)
        item = group.get(key)
        budget.objects += 1
        if budget.objects > MAX_OBJECTS or item is None:
            raise budget.refuse("too many objects" if item is not None else "a link to nothing", name)
        if isinstance(item, h5py.Group):
            addr = h5py.h5o.get_info(item.id).addr
            if addr in budget.seen:
                raise budget.refuse("a group linked twice (a cycle)", name)
            budget.seen.add(addr)
            out[str(key)] = _h5_to_dict(item, budget, depth + 1)
        elif isinstance(item, h5py.Dataset):
            out[str(key)] = _dataset_value(item, name, budget)
        else:
            raise budget.refuse(f"a {type(item).__name__} where NIR stores a group or a dataset", name)
    return out


def _edges(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        raise InputError("'edges' is a group, not a list of node-name pairs", where=where)
    arr = np.asarray(value, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"edges must be pairs of node names, got an array of shape {arr.shape}", where=where)
    if not all(isinstance(v, str) for v in arr.ravel()):
        raise InputError("edges must be pairs of node names (text)", where=where)
    return [(str(a), str(b)) for a, b in arr]


_PORT_FIELDS = ("input_type", "output_type")


def _fields(name: str, data: dict[str, Any], where: str) -> dict[str, Any]:
    """A node's fields, each numbers or text: what the importer can judge (a group where NIR has an array,
    an object array, a complex number are refused here, naming the field)."""
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in _PORT_FIELDS and len(value) == 1:
            value = next(iter(value.values()))  # nir's {port: shape}, as one shape
        ok = isinstance(value, str) or (isinstance(value, (np.ndarray, np.generic))
                                        and np.asarray(value).dtype.kind in "biuf")
        if not ok:
            raise InputError(f"field '{key}' of node '{name}' is {type(value).__name__}, not numbers or text",
                             where=f"{where}, node {name}", fix="the file is damaged or not a NIR graph")
        fields[str(key)] = value
    return fields


def _node_from_dict(name: str, data: Any, where: str, depth: int = 0) -> RawNode:
    if not isinstance(data, dict):
        raise InputError(f"node '{name}' is not a group of fields", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    if "type" not in data:
        raise InputError(f"node '{name}' has no 'type' field", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    data = dict(data)
    kind = data.pop("type")
    if not isinstance(kind, str):
        raise InputError(f"the type of node '{name}' is not text", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    meta = data.pop("metadata", {})
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"the metadata of node '{name}' is not a group", where=where)
    if kind == "NIRGraph":
        return RawNode(name, kind, {}, meta or {}, _graph_from_dict(data, f"{where}, node {name}", depth=depth + 1))
    return RawNode(name, kind, _fields(name, data, where), meta or {})


def _graph_from_dict(data: dict[str, Any], where: str, version: str | None = None, depth: int = 0) -> RawGraph:
    if depth > MAX_DEPTH:
        raise InputError(f"subgraphs nested more than {MAX_DEPTH} deep", where=where)
    if "nodes" not in data or "edges" not in data:
        raise InputError("the graph has no 'nodes' or no 'edges'", where=where,
                         fix="the file is not a NIR graph, or it is damaged")
    if not isinstance(data["nodes"], dict):
        raise InputError("'nodes' is not a group of nodes", where=where, fix="the file is damaged; export it again")
    nodes = {str(k): _node_from_dict(str(k), v, where, depth) for k, v in data["nodes"].items()}
    meta = data.get("metadata", {})
    if meta is not None and not isinstance(meta, dict):
        raise InputError("the graph's metadata is not a group", where=where)
    return RawGraph(nodes, _edges(data["edges"], where), meta or {}, version)


# What h5py raises on bytes that are not (intact) HDF5: its C library's errors surface as OSError,
# KeyError, ValueError, RuntimeError and TypeError, by the call that meets the damage.
_H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError, OverflowError, MemoryError)


def read_nir_file(path: str | Path) -> RawGraph:
    """The graph of a NIR file written by any nir 1.x; a missing, damaged or oversized file is an InputError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"NIR file '{path}' does not exist", fix="check the path, or run `qsnn-deploy convert` first")
    budget = _Budget(str(path))
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink) \
                    or not isinstance(f["node"], h5py.Group):
                raise InputError(f"'{path}' is an HDF5 file without a 'node' group, so not a NIR graph",
                                 fix="export the model with nir.write or qsnn-deploy")
            version = None
            if "version" in f:
                item = f.get("version")
                version = _dataset_value(item, "/version", budget) if isinstance(item, h5py.Dataset) else None
                if not isinstance(version, str):
                    raise budget.refuse("a version that is not text", "/version")
            data = _h5_to_dict(f["node"], budget)
    except InputError:
        raise
    except _H5_ERRORS as exc:
        raise InputError(f"'{path}' is not a readable NIR file ({type(exc).__name__}: {exc})",
                         fix="the file may be truncated or not HDF5; export it again") from None
    kind = data.get("type", "NIRGraph")
    if kind != "NIRGraph":
        raise InputError(f"'{path}' holds a single {short_repr(kind)} node, not a graph",
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

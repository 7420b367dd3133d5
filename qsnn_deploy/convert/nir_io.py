"""Chip-ready NIR graphs: write a :class:`~qsnn_deploy.ir.Network`, read one back (no torch).

Layout of a written graph: ``input → L.conv → L.if → [L.pool] → … → output``; a linear layer is
``L.flatten → L.affine → L.if``. NIR has no field for the chip's shared scale, lower membrane bound,
reset mode or time step, so those travel in the graph's metadata under ``qsnn_deploy``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import SCHEMA_VERSION, __version__
from ..errors import InputError
from ..ir import ChipLayer, Network

META_KEY = "qsnn_deploy"


def _layer_nodes(layer: ChipLayer, in_shape: tuple[int, int, int]) -> list[tuple[str, Any]]:
    import nir

    bias = np.zeros(layer.c_out) if layer.bias is None else layer.bias
    nodes: list[tuple[str, Any]] = []
    conv_shape = layer.conv_shape
    if layer.kind == "linear":
        nodes.append((f"{layer.name}.flatten", nir.Flatten(input_type={"input": np.array(in_shape)})))
        nodes.append((f"{layer.name}.affine", nir.Affine(weight=layer.weight.reshape(layer.c_out, -1), bias=bias)))
        neuron_shape: tuple[int, ...] = (layer.c_out,)
    else:
        nodes.append((f"{layer.name}.conv", nir.Conv2d(input_shape=np.array(in_shape[1:]), weight=layer.weight,
                                                       stride=layer.stride, padding=layer.padding, dilation=1,
                                                       groups=1, bias=bias)))
        neuron_shape = conv_shape
    nodes.append((f"{layer.name}.if", nir.IF(r=np.ones(neuron_shape), v_threshold=np.full(neuron_shape,
                                                                                           layer.threshold))))
    if layer.pool > 1:
        p = np.array([layer.pool, layer.pool])
        nodes.append((f"{layer.name}.pool", nir.SumPool2d(kernel_size=p, stride=p, padding=np.zeros(2, int))))
    return nodes


def network_metadata(net: Network) -> dict[str, Any]:
    """What NIR lacks, as plain values (h5py stores no None: absent values are left out)."""
    layers = {}
    for layer in net.layers:
        entry = {"kind": layer.kind, "reset": layer.reset, "pool": layer.pool, "has_bias": int(layer.bias is not None),
                 "input_shape": list(layer.input_shape)}
        if layer.min_v_mem is not None:
            entry["min_v_mem"] = float(layer.min_v_mem)
        if layer.scale is not None:
            entry["scale"] = float(layer.scale)
        layers[layer.name] = entry
    return {"format": "qsnn-deploy", "schema_version": SCHEMA_VERSION, "tool_version": __version__,
            "input_shape": list(net.input_shape), "dt_us": float(net.dt_us), "quantized": int(net.quantized),
            "layer_order": json.dumps([layer.name for layer in net.layers]), "layers": layers,
            "extra": json.dumps(net.metadata, sort_keys=True, default=str)}


def to_nir(net: Network):
    """Build the ``nir.NIRGraph`` of a network."""
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges, prev = [], "input"
    for layer in net.layers:
        for name, node in _layer_nodes(layer, layer.input_shape):
            nodes[name] = node
            edges.append((prev, name))
            prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array(net.output_shape if net.layers[-1].kind != "linear"
                                                                 else (net.layers[-1].c_out,))})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META_KEY: network_metadata(net)})


def write_nir(net: Network, path: str | Path) -> Path:
    """Write atomically (temporary file in the same folder, then rename)."""
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, to_nir(net))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _scalar(values: Any, what: str, where: str) -> float:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise InputError(f"{what} differs between neurons; Speck has one value per layer", where=where,
                         fix="give all neurons of the layer the same value")
    return float(arr[0])


def _chain(graph) -> list[str]:
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise InputError(f"the graph has {len(inputs)} input nodes; only single-input chains are supported")
    order, cur, seen = [], inputs[0], set()
    while True:
        nxt = succ.get(cur, [])
        if len(nxt) > 1:
            raise InputError(f"node '{cur}' feeds {len(nxt)} nodes; only chains are supported so far", where=cur)
        if not nxt:
            return order
        cur = nxt[0]
        if cur in seen:
            raise InputError("the graph has a cycle (recurrence), which Speck cannot run", where=cur)
        seen.add(cur)
        order.append(cur)


def from_nir(graph, where: str = "NIR graph") -> Network:
    """Turn a chain NIR graph (ours, or a sinabs-style sequential one) into a :class:`Network`."""
    meta = (graph.metadata or {}).get(META_KEY, {})
    if meta:
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION or version < 1:
            raise InputError(f"bundle schema version {version} is not supported (this qsnn-deploy reads 1.."
                             f"{SCHEMA_VERSION})", where=where, fix="upgrade qsnn-deploy or re-run convert")
    lmeta = meta.get("layers", {})
    in_node = next(n for n in graph.nodes.values() if type(n).__name__ == "Input")
    shape = tuple(int(v) for v in np.asarray(meta.get("input_shape", in_node.input_type["input"])).ravel())
    if len(shape) != 3:
        raise InputError(f"input shape {shape} is not (C, H, W)", where=where)
    layers, pending, cur_shape = [], None, shape
    for name in _chain(graph):
        node = graph.nodes[name]
        kind = type(node).__name__
        base = name.rsplit(".", 1)[0]
        if kind == "Conv2d":
            if np.any(np.asarray(node.dilation) != 1) or int(node.groups) != 1:
                raise InputError("dilated or grouped convolutions are not supported on Speck", where=name)
            stride, padding = np.asarray(node.stride).ravel(), np.asarray(node.padding).ravel()
            if isinstance(node.padding, str) or len(set(stride)) != 1 or len(set(padding)) != 1:
                raise InputError("only equal stride and integer padding in x and y are supported so far", where=name)
            pending = dict(name=base, weight=np.asarray(node.weight), bias=np.asarray(node.bias), stride=int(stride[0]),
                           padding=int(padding[0]), kind="conv", input_shape=cur_shape)
        elif kind in ("Affine", "Linear"):
            c, h, w = cur_shape
            wt = np.asarray(node.weight)
            if wt.shape[1] != c * h * w:
                raise InputError(f"affine weight has {wt.shape[1]} inputs but receives {c * h * w}", where=name)
            bias = np.asarray(node.bias) if kind == "Affine" else np.zeros(wt.shape[0])
            pending = dict(name=base, weight=wt.reshape(wt.shape[0], c, h, w), bias=bias, stride=1, padding=0,
                           kind="linear", input_shape=cur_shape)
        elif kind == "IF":
            if pending is None:
                raise InputError("an IF node must follow a convolution or affine node", where=name)
            m = lmeta.get(pending["name"], {})
            has_bias = bool(m.get("has_bias", np.any(pending["bias"] != 0)))
            pending["bias"] = pending["bias"] if has_bias else None
            thr = _scalar(node.v_threshold, "the threshold", name)
            r = _scalar(node.r, "the resistance r", name)
            if r != 1.0:  # fold r into the synaptic weights
                pending["weight"] = pending["weight"] * r
                if pending["bias"] is not None:
                    pending["bias"] = pending["bias"] * r
            layer = ChipLayer(threshold=thr, min_v_mem=m.get("min_v_mem"), reset=str(m.get("reset", "subtract")),
                              scale=m.get("scale"), **pending)
            layers.append(layer)
            cur_shape, pending = layer.output_shape, None
        elif kind == "SumPool2d":
            if not layers or layers[-1].pool != 1:
                raise InputError("a sum pool must follow a spiking layer (one pool per core)", where=name)
            k, s = np.asarray(node.kernel_size).ravel(), np.asarray(node.stride).ravel()
            if len(set(k)) != 1 or not np.array_equal(k, s) or np.any(np.asarray(node.padding) != 0):
                raise InputError("only square, non-overlapping, unpadded sum pooling is supported", where=name)
            layers[-1] = layers[-1].replace(pool=int(k[0]))
            cur_shape = layers[-1].output_shape
        elif kind in ("Flatten", "Output"):
            continue
        else:
            raise InputError(f"node type {kind} is not supported on Speck", where=name,
                             fix="Speck runs Conv2d/Affine → IF → SumPool2d chains")
    if pending is not None:
        raise InputError("the graph ends in a convolution without spiking neurons", where=pending["name"])
    return Network(tuple(layers), shape, float(meta.get("dt_us", 1000.0)),
                   json.loads(meta["extra"]) if "extra" in meta else {})


def read_nir(path: str | Path) -> Network:
    """Read a NIR file; a missing or unreadable file is an :class:`InputError`."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise InputError(f"NIR file '{path}' does not exist", fix="run `qsnn-deploy convert` first")
    try:
        graph = nir.read(path)
    except Exception as exc:  # h5py/nir raise many types on corrupt files
        raise InputError(f"'{path}' is not a readable NIR file ({type(exc).__name__}: {exc})",
                         fix="re-export it, or check that it is an HDF5 NIR graph") from None
    return from_nir(graph, where=str(path))

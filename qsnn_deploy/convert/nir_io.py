"""Chip-ready NIR graphs: write a :class:`~qsnn_deploy.ir.Network`, read one back (no torch).

Layout of a written graph: ``input → L.conv → L.if → [L.pool] → … → output``; a layer of the linear
head is ``L.flatten → L.affine → L.if`` (a linear layer before a conv stays a conv over its whole
input). Every edge joins equal types, as nir's type check wants. NIR has no field for the chip's shared
scale, lower membrane bound, reset mode or time step, so those travel in the graph's metadata under
``qsnn_deploy``. Reading goes through :mod:`.nir_file` and :mod:`.nir_import`, which also take graphs
written by other tools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import SCHEMA_VERSION, __version__
from ..errors import ConstraintError
from ..ir import ChipLayer, Network
from ..outputs import atomic_path
from .nir_file import raw_from_graph, read_nir_file
from .nir_import import META_KEY, ImportOptions, network_from_raw


def _mismatch(layer: ChipLayer, in_type: tuple[int, ...]) -> ConstraintError:
    return ConstraintError(
        f"layer {layer.name} takes input {'x'.join(map(str, layer.input_shape))} but the layer "
        f"before it in the file outputs {'x'.join(map(str, in_type))}: a NIR file lists the layers "
        "as a chain (branches travel in its metadata), and NIR readers check each edge",
        where=f"layer {layer.name}",
        fix="order the layers so that each takes the output shape of the one before it",
    )


def _layer_nodes(
    layer: ChipLayer, in_type: tuple[int, ...], affine: bool
) -> tuple[list[tuple[str, Any]], tuple[int, ...]]:
    """The nodes of one core and the type (shape) they output, given the type they receive.

    Types follow NIR's convention, without a batch dimension: a conv receives ``(C, H, W)``, an Affine
    ``(N,)``. The Flatten before an Affine therefore flattens from dimension 0 (nir's default
    ``start_dim=1`` assumes a batch dimension, which NIR types do not have) over exactly the type it
    receives; newer nir checks every edge, and sinabs maps ``start_dim`` 0 to torch's 1. A linear layer
    that is not ``affine`` is written as the conv Speck runs (kernel = its whole input), because NIR has no
    node that turns a vector back into the image a later convolution needs.
    """
    import nir

    bias = np.zeros(layer.c_out) if layer.bias is None else layer.bias
    nodes: list[tuple[str, Any]] = []
    if affine:
        if int(np.prod(in_type)) != int(np.prod(layer.input_shape)):
            raise _mismatch(layer, in_type)
        nodes.append(
            (f"{layer.name}.flatten", nir.Flatten(input_type={"input": np.array(in_type)}, start_dim=0, end_dim=-1))
        )
        nodes.append((f"{layer.name}.affine", nir.Affine(weight=layer.weight.reshape(layer.c_out, -1), bias=bias)))
        out_type: tuple[int, ...] = (layer.c_out,)
    else:
        if tuple(in_type) != layer.input_shape:
            raise _mismatch(layer, in_type)
        nodes.append(
            (
                f"{layer.name}.conv",
                nir.Conv2d(
                    input_shape=np.array(layer.input_shape[1:]),
                    weight=layer.weight,
                    stride=layer.stride,
                    padding=layer.padding,
                    dilation=1,
                    groups=1,
                    bias=bias,
                ),
            )
        )
        out_type = layer.conv_shape
    nodes.append((f"{layer.name}.if", nir.IF(r=np.ones(out_type), v_threshold=np.full(out_type, layer.threshold))))
    if layer.pool > 1:
        p = np.array([layer.pool, layer.pool])
        nodes.append((f"{layer.name}.pool", nir.SumPool2d(kernel_size=p, stride=p, padding=np.zeros(2, int))))
        out_type = layer.output_shape
    return nodes, tuple(int(v) for v in out_type)


def network_metadata(net: Network) -> dict[str, Any]:
    """What NIR lacks, as plain values (h5py stores no None: absent values are left out)."""
    layers = {}
    for layer in net.layers:
        entry = {
            "kind": layer.kind,
            "reset": layer.reset,
            "pool": layer.pool,
            "has_bias": int(layer.bias is not None),
            "input_shape": list(layer.input_shape),
        }
        if layer.min_v_mem is not None:
            entry["min_v_mem"] = float(layer.min_v_mem)
        if layer.scale is not None:
            entry["scale"] = float(layer.scale)
        if getattr(layer, "neuron", "iaf") != "iaf":
            entry["neuron"] = str(layer.neuron)
        if layer.weight_bits != 8:
            entry["weight_bits"] = int(layer.weight_bits)
        if layer.destinations is not None:
            entry["destinations"] = json.dumps([d.name if d.pool is None else d.to_dict() for d in layer.destinations])
        layers[layer.name] = entry
    unsupported = (
        {"unsupported": json.dumps([list(p) for p in net.unsupported])} if getattr(net, "unsupported", ()) else {}
    )
    return {
        **unsupported,
        "format": "qsnn-deploy",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "input_shape": list(net.input_shape),
        "dt_us": float(net.dt_us),
        "quantized": int(net.quantized),
        "layer_order": json.dumps([layer.name for layer in net.layers]),
        "layers": layers,
        "extra": json.dumps(net.metadata, sort_keys=True, default=str),
    }


def to_nir(net: Network):
    """Build the ``nir.NIRGraph`` of a network: each node's input type is its predecessor's output type, so
    the graph passes the type inference of every nir version (1.0.4 to the newest tested)."""
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges, prev, node_type = [], "input", tuple(net.input_shape)
    for i, layer in enumerate(net.layers):
        affine = all(later.kind == "linear" for later in net.layers[i:])  # the linear head
        layer_nodes, node_type = _layer_nodes(layer, node_type, affine)
        for name, node in layer_nodes:
            nodes[name] = node
            edges.append((prev, name))
            prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array(node_type)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META_KEY: network_metadata(net)})


def write_nir(net: Network, path: str | Path) -> Path:
    """Write atomically (temporary file in the same folder, then rename)."""
    import nir

    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(tmp, to_nir(net))
    return path


def from_nir(graph, options: ImportOptions | None = None, where: str = "NIR graph") -> Network:
    """A :class:`Network` from a ``nir.NIRGraph`` object (ours, sinabs' ``to_nir`` output, snnTorch's...)."""
    return network_from_raw(raw_from_graph(graph), options, where).network


def read_nir(path: str | Path, options: ImportOptions | None = None) -> Network:
    """Read a NIR file written by any nir 1.x; errors name the file, the node and the field."""
    return network_from_raw(read_nir_file(path), options, where=str(path)).network

"""Chip-ready NIR graphs: write a :class:`~qsnn_deploy.ir.Network`, read one back (no torch).

Layout of a written chain: ``input → L.conv → L.if → [L.pool] → … → output``; a layer of the linear
head is ``L.flatten → L.affine → L.if`` (a linear layer that feeds a conv, or merges with a conv's
spikes, stays a conv over its whole input). A graph is written as its edges, with a ``SumPool2d`` node
per pooled edge and several edges into a node for a merge (:func:`to_nir`). Every edge joins equal
types, as nir's type check wants.
NIR has no field for the chip's shared scale, lower membrane bound, reset mode or time step, so those
travel in the graph's metadata under ``qsnn_deploy`` (which also records each layer's pooling and
destinations; readers take the graph from the edges and check the record against them).
Reading goes through :mod:`.nir_file` and :mod:`.nir_import`, which also take graphs written by other tools.
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


def _mismatch(layer: ChipLayer, source: str, in_type: tuple[int, ...]) -> ConstraintError:
    return ConstraintError(
        f"layer {layer.name} takes input {'x'.join(map(str, layer.input_shape))} but {source} sends it "
        f"{'x'.join(map(str, in_type))} in the file: NIR readers check the type of each edge",
        where=f"layer {layer.name}",
        fix="write the layers that feed a linear head as linear layers too, or give the layer a conv kind",
    )


def _layer_nodes(layer: ChipLayer, in_type: tuple[int, ...], affine: bool) -> list[tuple[str, Any]]:
    """The nodes of one core up to its neurons, given the type (shape) it receives.

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
        nodes.append(
            (f"{layer.name}.flatten", nir.Flatten(input_type={"input": np.array(in_type)}, start_dim=0, end_dim=-1))
        )
        nodes.append((f"{layer.name}.affine", nir.Affine(weight=layer.weight.reshape(layer.c_out, -1), bias=bias)))
        out_type: tuple[int, ...] = (layer.c_out,)
    else:
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
    return nodes


def _sum_pool(pool: int):
    import nir

    p = np.array([pool, pool])
    return nir.SumPool2d(kernel_size=p, stride=p, padding=np.zeros(2, int))


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
            entry["destinations"] = json.dumps([d.to_dict() for d in layer.destinations])
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


def _affine_head(net: Network) -> list[bool]:
    """Which layers are written as ``flatten → affine`` (they send flat vectors): linear layers whose every
    destination is one too, and whose merges receive flat vectors from every source (a merge adds one type)."""
    affine = [layer.kind == "linear" for layer in net.layers]
    changed = True
    while changed:
        changed = False
        for i in range(len(net.layers)):
            if affine[i] and not all(affine[j] for j in net.targets(i)):
                affine[i], changed = False, True
        for j in range(len(net.layers)):
            sources = net.sources(j)
            if any(affine[i] for i in sources) and not all(affine[i] for i in sources):
                for i in sources:
                    affine[i] = False
                changed = True
    return affine


def to_nir(net: Network):
    """Build the ``nir.NIRGraph`` of a network, edges as the network's graph.

    Each layer is ``L.conv → L.if`` (or ``L.flatten → L.affine → L.if`` in the linear head); each of its
    edges goes from ``L.if`` straight to the destination's first node (no pooling), or through a
    ``SumPool2d`` node of its own: ``L.pool`` when the layer has one edge (a chain link, the last layer's
    edge to the output), ``L.pool_to_<destination>`` (``<destination>`` a layer name or ``output``) when
    it has several, so each destination's pooling is a node of that edge alone (samna pools per
    destination). Several edges into a node add (NIR's semantics of a merge). A chain is written as
    ``input → L.conv → L.if → [L.pool] → … → output``. Each node's input type is what its edges bring,
    so the graph passes the type inference of every nir version (1.0.4 to the newest tested).
    """
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges: list[tuple[str, str]] = []
    last = len(net.layers) - 1
    affine = _affine_head(net)

    def add(name: str, node: Any) -> None:
        if name in nodes:
            raise ConstraintError(
                f"two nodes of the NIR file would be named '{name}'",
                where=f"node {name}",
                fix="rename the layer so that its name does not end like another layer's node",
            )
        nodes[name] = node

    def sent(i: int, pool: int) -> tuple[int, ...]:  # the type layer i sends on an edge pooled by `pool`
        return (net.layers[i].c_out,) if affine[i] else net.layers[i].pooled_shape(pool)

    received: list[tuple[int, ...]] = []  # the type each layer's first node receives
    for j, layer in enumerate(net.layers):
        brought = [(f"layer {net.layers[i].name}", sent(i, net.edge_pool(i, j))) for i in net.sources(j)]
        for source, got in brought or [("the input", tuple(net.input_shape))]:
            fits = int(np.prod(got)) == int(np.prod(layer.input_shape)) if affine[j] else got == layer.input_shape
            if not fits or (received[j:] and got != received[j]):  # a merge: every source brings one type
                raise _mismatch(layer, source, got)
            received[j:] = [got]
    entry = [f"{layer.name}.flatten" if affine[i] else f"{layer.name}.conv" for i, layer in enumerate(net.layers)]
    edges.append(("input", entry[0]))
    for i, layer in enumerate(net.layers):
        layer_nodes = _layer_nodes(layer, received[i], affine[i])
        for k, (name, node) in enumerate(layer_nodes):
            add(name, node)
            if k:
                edges.append((layer_nodes[k - 1][0], name))
        spikes = layer_nodes[-1][0]
        outs = [(entry[j], net.layers[j].name, p) for j, p in zip(net.targets(i), net.target_pools(i))]
        if i == last:
            outs.append(("output", "output", net.output_pool))
        for dest, dest_name, pool in outs:
            if pool == 1:
                edges.append((spikes, dest))
                continue
            name = f"{layer.name}.pool" if len(outs) == 1 else f"{layer.name}.pool_to_{dest_name}"
            add(name, _sum_pool(pool))
            edges.extend([(spikes, name), (name, dest)])
    nodes["output"] = nir.Output(output_type={"output": np.array(sent(last, net.output_pool))})
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

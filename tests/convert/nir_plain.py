"""Graphs written with nir's own API (not our writer), in other names and layouts than ours: the builders the
graph tests share (tests/convert/test_nir_graphs.py, test_graphs_vs_sinabs.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.ir import Network


def plain_conv(weight, hw, padding=1, stride=1):
    import nir

    return nir.Conv2d(
        input_shape=np.array(hw),
        weight=weight,
        stride=np.array([stride, stride]),
        padding=np.array([padding, padding]),
        dilation=np.array([1, 1]),
        groups=1,
        bias=np.zeros(weight.shape[0]),
    )


def plain_spikes(shape, threshold=1.0):
    import nir

    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, threshold))


def plain_sum_pool(k):
    import nir

    return nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]), padding=np.array([0, 0]))


def write_plain(path: Path, nodes: dict, edges: list[tuple[str, str]]) -> Path:
    import nir

    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    return path


def plain_from(net: Network, shared: bool) -> tuple[dict, list[tuple[str, str]]]:
    """A network written with nir's API in another style than ours: nodes "<name>" and "<name>_spk", one
    pooling node per layer and pooling shared by the destinations that take it (``shared``), edges by layer
    of destination."""
    import nir

    nodes: dict = {"in": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges: list[tuple[str, str]] = []
    head = [layer.kind == "linear" and j == len(net.layers) - 1 for j, layer in enumerate(net.layers)]
    for j, layer in enumerate(net.layers):
        if head[j]:
            nodes[f"{layer.name}_flat"] = nir.Flatten(
                input_type={"input": np.array(layer.input_shape)}, start_dim=0, end_dim=-1
            )
            nodes[layer.name] = nir.Affine(weight=layer.weight.reshape(layer.c_out, -1), bias=np.zeros(layer.c_out))
            edges.append((f"{layer.name}_flat", layer.name))
            entry, out_shape = f"{layer.name}_flat", (layer.c_out,)
        else:
            nodes[layer.name] = plain_conv(layer.weight, layer.input_shape[1:], layer.padding, layer.stride)
            entry, out_shape = layer.name, layer.conv_shape
        nodes[f"{layer.name}_spk"] = plain_spikes(out_shape, layer.threshold)
        edges.append((layer.name, f"{layer.name}_spk"))
        for i in net.sources(j) or [None]:
            if i is None:
                edges.append(("in", entry))
                continue
            src, pool = net.layers[i].name, net.edge_pool(i, j)
            if pool == 1:
                edges.append((f"{src}_spk", entry))
                continue
            node = f"{src}_sum{pool}" if shared else f"{src}_to_{layer.name}"
            if node not in nodes:
                nodes[node] = plain_sum_pool(pool)
                edges.append((f"{src}_spk", node))
            edges.append((node, entry))
    nodes["out"] = nir.Output(output_type={"output": np.array([net.layers[-1].c_out])})
    edges.append((f"{net.layers[-1].name}_spk", "out"))
    return nodes, edges

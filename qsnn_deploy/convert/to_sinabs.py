"""A :class:`~qsnn_deploy.ir.Network` as sinabs layers (Conv2d → IAFSqueeze → SumPool2d per core).

:func:`sinabs_model` builds any graph sinabs 3.1.3 can represent, chains included: one module whose forward
runs the cores in order, each core's input the sum of its sources, each source's spikes sum-pooled by the
pooling of that edge (a ``SumPool2d`` per pooled edge, a ``sinabs.layers.Merge`` where two sources meet —
what ``DynapcnnNetwork`` traces: only ``Merge`` nodes may have several inputs,
``sinabs/backend/dynapcnn/connectivity_specs.py:45``). :func:`sinabs_sequential` is a chain as a
``torch.nn.Sequential`` of the same cores (sinabs code that iterates over its modules wants one).

Only ``sinabs.layers`` is used (never ``sinabs.backend.dynapcnn``, which imports samna).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..errors import ConstraintError
from ..ir import ChipLayer, Network

LAYER_TAG = "qsnn_layer"
"""Attribute naming our layer on each Conv2d :func:`sinabs_model` builds; it survives the deep copy
``DynapcnnLayer`` makes of the convolution (``sinabs/backend/dynapcnn/dynapcnn_layer.py:110``), so the
layers sinabs numbers topologically can be matched with ours."""


def _core(layer: ChipLayer, batch_size: int) -> tuple[Any, Any]:
    """One core as sinabs modules, with the layer's parameters as they are (integers stay integers): the
    convolution and multi-spike IAF neurons with the layer's reset, threshold and lower bound."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike

    conv = torch.nn.Conv2d(
        layer.c_in,
        layer.c_out,
        layer.kernel_size[0],
        stride=layer.stride,
        padding=layer.padding,
        bias=layer.bias is not None,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(layer.weight, dtype=torch.float32))
        if conv.bias is not None and layer.bias is not None:  # one has a bias when the other has
            conv.bias.copy_(torch.as_tensor(layer.bias, dtype=torch.float32))
    reset = MembraneReset() if layer.reset == "zero" else MembraneSubtract()
    neurons = sl.IAFSqueeze(
        batch_size=batch_size,
        spike_threshold=float(layer.threshold),
        spike_fn=MultiSpike,
        reset_fn=reset,
        min_v_mem=float(layer.lower_bound),
    )
    return conv, neurons


def sinabs_sequential(net: Network, batch_size: int = 1):
    """``torch.nn.Sequential`` of a chain's cores (see :func:`_core`), each followed by its square sum
    pooling. A graph is refused (:func:`sinabs_model` builds those)."""
    import sinabs.layers as sl
    import torch

    if not net.is_chain:
        raise ConstraintError(
            "a torch.nn.Sequential holds a chain, and this network is a graph (a layer feeds several layers, "
            "or an edge pools differently from its layer)",
            where=f"model {net.metadata.get('model', '')}".strip(),
            fix="build it with sinabs_model(net)",
        )
    mods: list[torch.nn.Module] = []
    for layer in net.layers:
        mods += _core(layer, batch_size)
        if layer.pool > 1:
            mods.append(sl.SumPool2d(layer.pool))
    return torch.nn.Sequential(*mods)


def sinabs_limitation(net: Network) -> str | None:
    """Why sinabs 3.1.3 cannot build ``net`` (None when it can): a merge of more than two sources, or a
    layer with a pooled and an unpooled destination."""
    for j, layer in enumerate(net.layers):
        if len(net.sources(j)) > 2:
            return (
                f"layer {layer.name} adds {len(net.sources(j))} sources; sinabs' Merge takes two "
                "(sinabs/layers/merge.py:13, and its graph extractor requires exactly two Merge inputs: "
                "sinabs/backend/dynapcnn/nir_graph_extractor.py:845-849)"
            )
    for i, layer in enumerate(net.layers):
        pools = net.target_pools(i)
        if any(p == 1 for p in pools) and any(p > 1 for p in pools):
            return (
                f"layer {layer.name} sends to one layer unpooled and to another pooled; sinabs 3.1.3 fails on "
                "that with an IndexError (sinabs/backend/dynapcnn/sinabs_edges_handler.py:902)"
            )
    return None


def sinabs_model(net: Network, batch_size: int = 1):
    """The network as one sinabs ``torch.nn.Module`` (a chain is the graph whose every layer feeds the next).

    Its forward takes (N·T, C, H, W) and returns the last core's spikes pooled by the output pooling.
    Raises :class:`~qsnn_deploy.errors.ConstraintError` for the graphs sinabs cannot represent
    (:func:`sinabs_limitation`).
    """
    why = sinabs_limitation(net)
    if why is not None:
        raise ConstraintError(
            f"sinabs cannot represent this network: {why}",
            where=f"model {net.metadata.get('model', '')}".strip(),
            fix="run it with qsnn-deploy's own emulator (deploy --target emulator); deploy to a chip writes "
            "the samna configuration from its own plan for such graphs",
        )
    return _graph_class()(net, batch_size)


@cache
def _graph_class() -> Any:
    """The module class (made once, on first use: torch and sinabs are imported only then)."""
    import sinabs.layers as sl
    import torch

    class SinabsGraph(torch.nn.Module):
        """Cores in feed-forward order; ``pool[f"{i}_{j}"]`` pools the edge i → j, ``merge[str(j)]`` adds
        layer j's two inputs, ``pool["out"]`` pools the output."""

        def __init__(self, net: Network, batch_size: int) -> None:
            super().__init__()
            self.sources = [net.sources(j) for j in range(len(net.layers))]
            self.edge_pools = {(i, j): p for i, j, p in net.edges}
            convs, neurons = [], []
            for layer in net.layers:
                conv, spk = _core(layer, batch_size)
                setattr(conv, LAYER_TAG, layer.name)
                convs.append(conv)
                neurons.append(spk)
            self.conv = torch.nn.ModuleList(convs)
            self.spk = torch.nn.ModuleList(neurons)
            pools = {f"{i}_{j}": sl.SumPool2d(p) for (i, j), p in self.edge_pools.items() if p > 1}
            self.output_pool = net.output_pool
            if self.output_pool > 1:
                pools["out"] = sl.SumPool2d(self.output_pool)
            self.pool = torch.nn.ModuleDict(pools)
            self.merge = torch.nn.ModuleDict(
                {str(j): sl.Merge() for j, src in enumerate(self.sources) if len(src) == 2}
            )

        def _sent(self, spikes: list[Any], i: int, j: int) -> Any:
            return self.pool[f"{i}_{j}"](spikes[i]) if self.edge_pools[(i, j)] > 1 else spikes[i]

        def forward(self, x: Any) -> Any:
            spikes: list[Any] = []
            for j, (conv, spk) in enumerate(zip(self.conv, self.spk)):
                if j:
                    parts = [self._sent(spikes, i, j) for i in self.sources[j]]
                    x = self.merge[str(j)](*parts) if len(parts) == 2 else parts[0]
                spikes.append(spk(conv(x)))
            return self.pool["out"](spikes[-1]) if self.output_pool > 1 else spikes[-1]

    return SinabsGraph

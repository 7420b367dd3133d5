"""A chip :class:`~qsnn_deploy.ir.Network` as a plain torch module (time-binned, frame-based).

Per time bin and layer: convolution (+ bias), membrane ``v += current``, ``n = ⌊v/θ⌋`` spikes for
``v ≥ θ`` (several per bin, as sinabs' ``MultiSpike``), subtract ``n·θ`` (or reset to zero), clip at
the lower bound, sum-pool the spikes on each edge by that edge's pooling. A layer's input is the sum over
its sources (a merge); the output is the last layer pooled by the output pooling; a chain is the graph
whose every layer feeds the next. Float parameters give the float model; a discretised network gives the
chip's integers, exactly (float32 holds them exactly), like the emulator.

:class:`StepModule` is one time bin with the membrane states as explicit inputs and outputs: the
form that :mod:`.onnx_export` writes.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ..emulate.pooling import sum_pool_t
from ..emulate.routing import layer_pools
from ..ir import ChipLayer, Network


def multi_spike(v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """⌊v/θ⌋ for v ≥ θ, else 0, corrected where float division lands one off."""
    n = torch.floor(v / threshold).clamp(min=0)
    n = n - (n * threshold > v).to(v.dtype) + ((n + 1) * threshold <= v).to(v.dtype)
    return n.clamp(min=0)


class LayerModule(nn.Module):
    """One core: conv → IAF, with its membrane state passed in and out (pooling is per edge:
    :func:`~qsnn_deploy.emulate.pooling.sum_pool_t`)."""

    # buffers (register_buffer): declared so that they type as tensors, not as nn.Module's Tensor | Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    threshold: torch.Tensor
    lower: torch.Tensor

    def __init__(self, layer: ChipLayer, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.name, self.stride, self.padding = layer.name, layer.stride, layer.padding
        self.subtract = layer.reset == "subtract"
        self.register_buffer("weight", torch.as_tensor(layer.weight, dtype=dtype))
        self.register_buffer("bias", None if layer.bias is None else torch.as_tensor(layer.bias, dtype=dtype))
        self.register_buffer("threshold", torch.tensor(float(layer.threshold), dtype=dtype))
        self.register_buffer("lower", torch.tensor(float(layer.lower_bound), dtype=dtype))
        self.state_shape = layer.conv_shape

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C, H, W) input counts of one bin; v: (N, *conv_shape) → (spikes before pooling, new v)."""
        v = v + F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        spikes = multi_spike(v, self.threshold)
        v = v - spikes * self.threshold if self.subtract else v * (spikes == 0).to(v.dtype)
        v = torch.maximum(v, self.lower)
        return spikes, v


class StepModule(nn.Module):
    """One time bin of the whole network: ``(x_t, v_1, …, v_L) → (out_t, v_1', …, v_L')``.

    Layer ``j`` (after the first) takes the sum over its sources ``i`` of ``i``'s spikes pooled by the edge's
    pooling; ``out_t`` is the last layer's spikes pooled by the output pooling, flattened.
    """

    def __init__(self, net: Network, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.layers = nn.ModuleList(LayerModule(layer, dtype) for layer in net.layers)
        self.input_shape = net.input_shape
        # plain ints (fixed when traced for ONNX): the pooled copies of each layer's spikes (the emulators' rule:
        # its edges' poolings and its counted one, the output pooling for the last layer) and each layer's
        # (source, pooling)
        self.pools = [layer_pools(net, i) for i in range(len(net.layers))]
        self.inputs = [tuple((i, net.edge_pool(i, j)) for i in net.sources(j)) for j in range(len(net.layers))]
        self.output_pool = net.output_pool

    @property
    def layer_modules(self) -> list[LayerModule]:
        """The layers, typed as what they are (iterating the ``nn.ModuleList`` ``layers`` gives ``nn.Module``)."""
        return cast("list[LayerModule]", list(self.layers))

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        new_states = []
        pooled: list[dict[int, torch.Tensor]] = []
        for j, (layer, v) in enumerate(zip(self.layer_modules, states)):
            if j:
                i, p = self.inputs[j][0]
                x = pooled[i][p]
                for i, p in self.inputs[j][1:]:
                    x = x + pooled[i][p]
            spikes, v = layer(x, v)
            pooled.append({p: sum_pool_t(spikes, p) for p in self.pools[j]})
            new_states.append(v)
        return (pooled[-1][self.output_pool].flatten(1), *new_states)

    def initial_states(self, batch: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        return [torch.zeros(batch, *layer.state_shape, dtype=dtype) for layer in self.layer_modules]


class FramedNetwork(nn.Module):
    """The network over whole rasters: (N, T, C, H, W) counts → (N, T, n_outputs) output spikes."""

    def __init__(self, net: Network, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.step = StepModule(net, dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        states = self.step.initial_states(x.shape[0], self.dtype)
        outs = []
        for t in range(x.shape[1]):
            out, *states = self.step(x[:, t], *states)
            outs.append(out)
        return torch.stack(outs, 1)

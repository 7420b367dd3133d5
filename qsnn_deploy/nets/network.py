"""The trainable spiking CNN built from a :class:`~qsnn_deploy.nets.zoo.ModelSpec`.

Each block is one chip core: conv → integrate-and-fire (multi-spike, subtract or zero reset, lower
membrane bound) → sum pooling. With ``quantize=True`` (quantisation-aware training) a block runs in
the chip's integer units: weights ``round(w·s)``, threshold ``round(θ·s)`` and lower bound
``round(v_min·s)`` with the shared per-layer scale ``s`` of :mod:`qsnn_deploy.quant.chip`, and
straight-through gradients. Its spikes are then exactly those of the chip emulator. The model's
``neuron: {type: ...}`` may swap the IAF for a leaky training neuron (:mod:`.neurons`), which Speck
cannot run (``convert`` refuses it unless ``--approximate-leak``). A layer's ``weight_bits`` (2..8)
narrows the integer weight range (mixed precision); in float mode it gives per-tensor symmetric n-bit
weights instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast, overload

import torch
import torch.nn.functional as F
from torch import nn

from ..emulate.pooling import sum_pool_t
from ..emulate.routing import layer_pools
from ..ir import ChipLayer, Destination, Network, NetworkMetadata, fanout_map
from ..quant.fake import chip_scale_t, ste_round
from ..quant.quantizers import symmetric
from .neurons import MultiSpikeFn, Neuron, make_neuron  # noqa: F401  (MultiSpikeFn: re-exported)
from .zoo import ModelSpec


class ChipBlock(nn.Module):
    """conv → neuron (IAF by default) → sum-pool, the work of one core."""

    # buffers (register_buffer): declared so that they type as tensors, not as nn.Module's Tensor | Module
    threshold: torch.Tensor
    min_v_mem: torch.Tensor
    fanout: torch.Tensor

    def __init__(
        self,
        name: str,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        pool: int,
        bias: bool,
        in_hw: tuple[int, int],
        kind: str,
        threshold: float,
        min_v_mem: float | None,
        reset: str,
        surrogate_width: float = 0.5,
        weight_bits: int = 8,
        neuron: Neuron | None = None,
    ) -> None:
        super().__init__()
        self.neuron = neuron or make_neuron("iaf")
        self.neuron.surrogate_width = surrogate_width
        self.weight_bits = weight_bits  # 2..8: the signed range QAT (and the chip discretiser) use for weights
        self.name, self.kind, self.reset = name, kind, reset
        self.stride, self.padding, self.pool, self.in_hw = stride, padding, pool, in_hw
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.register_buffer("min_v_mem", torch.tensor(float(-threshold if min_v_mem is None else min_v_mem)))
        self.register_buffer("fanout", torch.from_numpy(fanout_map(in_hw, kernel, stride, padding)).float())
        self.min_v_mem_given = min_v_mem is not None

    @property
    def surrogate_width(self) -> float:
        """Width of the multi-spike surrogate (IAF/LIF), relative to the threshold."""
        return self.neuron.surrogate_width

    @surrogate_width.setter
    def surrogate_width(self, value: float) -> None:
        self.neuron.surrogate_width = value

    def params(
        self,
        quantize: bool,
        weight: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Weights, bias, threshold, lower bound as the forward uses them (integer units if quantised).

        ``weight``/``bias`` replace the conv's own (e.g. clones, for rules that update weights in place
        while a graph through earlier steps is kept)."""
        w = self.conv.weight if weight is None else weight
        b = self.conv.bias if bias is None else bias
        if not quantize:
            if self.weight_bits < 8:  # float model with n-bit weights: per-tensor symmetric (the 4-bit QSNN's setting)
                w = symmetric(w, self.weight_bits)
            return w, b, self.threshold, self.min_v_mem
        s = chip_scale_t(w, b, self.threshold, self.min_v_mem, self.weight_bits)
        wq = ste_round(w.double() * s).to(w.dtype)
        bq = None if b is None else ste_round(b.double() * s).to(b.dtype)
        thr = torch.round(self.threshold.double() * s).clamp_min(1).to(w.dtype)
        low = torch.round(self.min_v_mem.double() * s).to(w.dtype)
        return wq, bq, thr, low

    def synops(self, x: torch.Tensor) -> torch.Tensor:
        """Synaptic operations caused by input counts ``x`` (N, T, C, H, W), per sample (N,)."""
        return (x.sum(dim=(1, 2)) * self.fanout).sum(dim=(-1, -2)) * self.conv.out_channels

    def current(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """Input counts (N, T, C, H, W) or (N, C, H, W) → conv current of the same leading shape."""
        if x.dim() == 4:
            return F.conv2d(x, w, b, stride=self.stride, padding=self.padding)
        n, t = x.shape[:2]
        return F.conv2d(x.flatten(0, 1), w, b, stride=self.stride, padding=self.padding).unflatten(0, (n, t))

    def pool_spikes(self, s: torch.Tensor, pool: int | None = None) -> torch.Tensor:
        """Sum pooling of spikes (N, T, C, H, W) or (N, C, H, W) by ``pool`` (default: the block's own), not rounded:
        the gradient flows straight through the pooling."""
        return sum_pool_t(s, self.pool if pool is None else pool, rounded=False)

    def membrane_unit(self, thr: torch.Tensor) -> torch.Tensor:
        """One float unit of membrane in the units of the current: ``thr / θ`` (the layer's integer scale under
        QAT, 1 in float); binary neurons read their surrogates in it."""
        return thr / self.threshold

    def spikes(self, x: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        """x: (N, T, C, H, W) input counts → (N, T, C_out, H_conv, W_conv) spike counts before pooling."""
        w, b, thr, low = self.params(quantize)
        steps = self.current(x, w, b).unbind(1)  # unbind: its backward stacks, where indexing would zero-fill T times
        state = self.neuron.init_state(steps[0])
        unit = self.membrane_unit(thr)
        out = []
        for current in steps:
            spikes, state = self.neuron.step(current, state, thr, low, self.reset, unit)
            out.append(spikes)
        return torch.stack(out, 1)

    def forward(self, x: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        """x: (N, T, C, H, W) input counts → (N, T, C_out, H', W') output spike counts after the block's pooling."""
        return self.pool_spikes(self.spikes(x, quantize))


class SpikingCNN(nn.Module):
    """:class:`ChipBlock` s wired as the spec's graph (a chain unless layers name their ``inputs:``); the last
    block's spike counts are the class scores.

    A block's input is the sum over its inputs of each input's spikes, sum-pooled by that edge's pooling: the
    chip adds the events every source core sends to a core (a merge), and each destination of a core has its
    own pooling. A chain is the graph whose every block takes the previous one pooled by its own ``pool``.
    """

    def __init__(self, spec: ModelSpec, quantize: bool = True) -> None:
        super().__init__()
        self.spec, self.quantize = spec, quantize
        self._sources = [spec.sources(j) for j in range(len(spec.layers))]  # (source index, edge pooling) per block
        self._last_use = list(range(len(spec.layers)))  # the last block that takes each block's spikes
        for j, sources in enumerate(self._sources):
            for i, _ in sources:
                self._last_use[i] = max(self._last_use[i], j)
        blocks: list[ChipBlock] = []
        for layer, (c, h, w) in zip(spec.layers, spec.layer_input_shapes()):
            if layer.type == "linear":
                if h != w:
                    raise ValueError(f"linear layer {layer.name} needs a square input, got {h}x{w}")
                blocks.append(
                    ChipBlock(
                        layer.name,
                        c,
                        layer.out_channels,
                        h,
                        1,
                        0,
                        1,
                        layer.bias,
                        (h, w),
                        "linear",
                        spec.threshold,
                        spec.min_v_mem,
                        spec.reset,
                        weight_bits=layer.weight_bits,
                        neuron=make_neuron(spec.neuron_type, spec.neuron_params),
                    )
                )
            else:
                blocks.append(
                    ChipBlock(
                        layer.name,
                        c,
                        layer.out_channels,
                        layer.kernel_size,
                        layer.stride,
                        layer.padding,
                        layer.pool,
                        layer.bias,
                        (h, w),
                        "conv",
                        spec.threshold,
                        spec.min_v_mem,
                        spec.reset,
                        weight_bits=layer.weight_bits,
                        neuron=make_neuron(spec.neuron_type, spec.neuron_params),
                    )
                )
        self.blocks = nn.ModuleList(blocks)
        # the poolings of each block's spikes the forward uses: its edges' and its counted one (readout, spike
        # record), by the emulators' rule on this model's graph; a set, so that the copies are made in the order
        # they always were (that order orders the sums of their gradients)
        graph = self.to_network(1.0)
        self._pools = [set(layer_pools(graph, i)) for i in range(len(graph.layers))]

    @property
    def chip_blocks(self) -> list[ChipBlock]:
        """The blocks, typed as what they are (iterating the ``nn.ModuleList`` ``blocks`` gives ``nn.Module``)."""
        return cast("list[ChipBlock]", list(self.blocks))

    @overload
    def forward(self, x: torch.Tensor, record: Literal[False] = False) -> torch.Tensor: ...

    @overload
    def forward(
        self, x: torch.Tensor, record: Literal[True]
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]: ...

    @overload
    def forward(
        self, x: torch.Tensor, record: bool
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]: ...

    def forward(
        self, x: torch.Tensor, record: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """x: (N, T, C, H, W) → output spike counts (N, T, n_classes).

        With ``record=True`` also returns per-layer lists of SynOps (N,) and output spike totals (N,) (after the
        layer's own pooling). A layer's SynOps are its summed input × its fan-out, so a spike sent to two
        destinations costs both destinations' fan-outs (SynOps per edge, summed per destination).
        """
        synops: list[torch.Tensor] = []
        spikes: list[torch.Tensor] = []
        last = len(self.blocks) - 1

        def layer(j: int, block: ChipBlock, inp: torch.Tensor, out: torch.Tensor) -> None:
            if record:
                synops.append(block.synops(inp))
                spikes.append(out.sum(dim=(1, 2, 3, 4)))

        sent = self._run(x, last, layer)
        out = sent(last, self.chip_blocks[last].pool).flatten(2)
        return (out, synops, spikes) if record else out

    def block_input(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The input counts (N, T, C, H, W) block ``index`` receives for network input ``x``: the sum of what its
        inputs send (``x`` itself for block 0)."""
        got: list[torch.Tensor] = []
        self._run(x, index, lambda j, _b, inp, _o: got.append(inp) if j == index else None)
        return got[0]

    def _run(
        self, x: torch.Tensor, stop: int, visit: Callable[[int, ChipBlock, torch.Tensor, torch.Tensor], None]
    ) -> Callable[[int, int], torch.Tensor]:
        """Run blocks 0..``stop``, calling ``visit(j, block, input, spikes after its own pooling)`` after each has
        run; returns ``sent(i, p)``:
        block ``i``'s spikes sum-pooled by ``p``. Each block's spikes are pooled once per pooling its edges, its
        readout and ``visit`` use, is not kept unpooled, and is let go after the last block that takes it has run
        (a chain holds what it always held)."""
        blocks = self.chip_blocks
        raw: dict[int, torch.Tensor] = {}
        pooled: dict[tuple[int, int], torch.Tensor] = {}

        def sent(i: int, pool: int) -> torch.Tensor:
            if (i, pool) not in pooled:
                pooled[i, pool] = blocks[i].pool_spikes(raw[i], pool)
            return pooled[i, pool]

        for j, block in enumerate(blocks[: stop + 1]):
            inp = x
            for k, (i, pool) in enumerate(self._sources[j]):
                inp = sent(i, pool) if k == 0 else inp + sent(i, pool)
            raw[j] = block.spikes(inp, self.quantize)
            for pool in self._pools[j]:
                sent(j, pool)
            visit(j, block, inp, sent(j, block.pool))
            raw.pop(j)
            for i, _ in self._sources[j]:
                if self._last_use[i] == j:  # no later block takes it: free it (without autograd it was the last ref)
                    for pool in self._pools[i]:
                        pooled.pop((i, pool), None)
        return sent

    def to_network(self, dt_us: float, metadata: NetworkMetadata | None = None) -> Network:
        """Float chip description of the trained parameters (discretise it with quant.chip); a graph spec gives
        every layer but the last its ``destinations`` (with the pooling its edges name), a chain none."""
        layers: list[ChipLayer] = []
        spec = self.spec
        chain = spec.is_chain
        names = [layer.name for layer in spec.layers]
        last = len(spec.layers) - 1
        for j, (block, shape) in enumerate(zip(self.chip_blocks, spec.layer_input_shapes())):
            conv = block.conv
            dests = None if chain or j == last else tuple(Destination(names[d], p) for d, p in spec.destinations(j))
            layer = ChipLayer(
                name=block.name,
                weight=conv.weight.detach().cpu().double().numpy(),
                input_shape=shape,
                destinations=dests,
                bias=None if conv.bias is None else conv.bias.detach().cpu().double().numpy(),
                stride=block.stride,
                padding=block.padding,
                pool=block.pool,
                threshold=float(block.threshold),
                min_v_mem=float(block.min_v_mem),
                reset=block.reset,
                kind=block.kind,
                weight_bits=block.weight_bits,
            )
            layers.append(layer)
        meta: NetworkMetadata = {"model": self.spec.name, "quantization_aware": bool(self.quantize)}
        if self.spec.neuron_type != "iaf":
            meta["neuron"] = {"type": self.spec.neuron_type, **self.spec.neuron_params}
        meta.update(metadata or {})
        return Network(tuple(layers), self.spec.input_shape, dt_us, meta)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))

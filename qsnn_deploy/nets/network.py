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

from typing import Literal, cast, overload

import torch
import torch.nn.functional as F
from torch import nn

from ..ir import ChipLayer, Network, NetworkMetadata, fanout_map
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

    def pool_spikes(self, s: torch.Tensor) -> torch.Tensor:
        """Sum pooling of spikes (N, T, C, H, W) or (N, C, H, W)."""
        if self.pool <= 1:
            return s
        if s.dim() == 4:
            return F.avg_pool2d(s, self.pool) * (self.pool * self.pool)
        n, t = s.shape[:2]
        return (F.avg_pool2d(s.flatten(0, 1), self.pool) * (self.pool * self.pool)).unflatten(0, (n, t))

    def forward(self, x: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        """x: (N, T, C, H, W) input counts → (N, T, C_out, H', W') output spike counts after pooling."""
        w, b, thr, low = self.params(quantize)
        steps = self.current(x, w, b).unbind(1)  # unbind: its backward stacks, where indexing would zero-fill T times
        state = self.neuron.init_state(steps[0])
        out = []
        for current in steps:
            spikes, state = self.neuron.step(current, state, thr, low, self.reset)
            out.append(spikes)
        return self.pool_spikes(torch.stack(out, 1))


class SpikingCNN(nn.Module):
    """A chain of :class:`ChipBlock` s; the last block's spike counts are the class scores."""

    def __init__(self, spec: ModelSpec, quantize: bool = True) -> None:
        super().__init__()
        self.spec, self.quantize = spec, quantize
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

        With ``record=True`` also returns per-layer lists of SynOps (N,) and output spike totals (N,).
        """
        synops: list[torch.Tensor] = []
        spikes: list[torch.Tensor] = []
        for block in self.chip_blocks:
            if record:
                synops.append(block.synops(x))
            x = block(x, self.quantize)
            if record:
                spikes.append(x.sum(dim=(1, 2, 3, 4)))
        out = x.flatten(2)
        return (out, synops, spikes) if record else out

    def to_network(self, dt_us: float, metadata: NetworkMetadata | None = None) -> Network:
        """Float chip description of the trained parameters (discretise it with quant.chip)."""
        layers: list[ChipLayer] = []
        shape = self.spec.input_shape
        for block in self.chip_blocks:
            conv = block.conv
            layer = ChipLayer(
                name=block.name,
                weight=conv.weight.detach().cpu().double().numpy(),
                input_shape=shape,
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
            shape = layer.output_shape
        meta: NetworkMetadata = {"model": self.spec.name, "quantization_aware": bool(self.quantize)}
        if self.spec.neuron_type != "iaf":
            meta["neuron"] = {"type": self.spec.neuron_type, **self.spec.neuron_params}
        meta.update(metadata or {})
        return Network(tuple(layers), self.spec.input_shape, dt_us, meta)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))

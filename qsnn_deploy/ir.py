"""The chip-level network description every stage shares (no torch needed).

A :class:`Network` is a directed acyclic graph of :class:`ChipLayer` s; a chain is the graph whose every
layer feeds the next. Each layer is what one Speck/DynapCNN core runs: a square convolution,
integrate-and-fire neurons, then, per :class:`Destination`, square sum pooling on the way to the layer it
feeds. A layer fed by several layers receives the sum of their events. A Linear layer is a convolution
whose kernel covers its whole input (``kind="linear"``).

Parameters are float for a float model; after discretisation ``scale`` is set and weights, bias,
threshold and lower bound hold integers (stored as float64 arrays / floats).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import numpy as np

from .errors import InputError

RESETS = ("subtract", "zero")


class NetworkMetadata(TypedDict, total=False):
    """What a :class:`Network` carries beyond its layers: provenance, timing, the widths it was discretised for.

    A plain dict at run time. Bundles store it as JSON (``model.nir``: ``metadata.qsnn_deploy.extra``) and
    read it back as written, so a file may carry keys this record does not list; readers use ``.get``.
    Each key: what it is, its unit, who writes it.
    """

    model: str  # zoo model / model YAML name; nets.network.SpikingCNN.to_network, train.ann_synop, convert_ann
    model_class: str  # class name of the torch module imported; convert.from_torch.network_from_module
    source_format: str  # what was imported: "torch", "nir" or "ann"; convert.from_torch, nir_import, ann
    source: str  # the file converted (checkpoint, ANN weights) or "train_ann_synop"; convert.loader, convert_ann
    nir_version: str  # nir version a foreign graph was written with ("in memory" if none); convert.nir_import
    dataset: str  # dataset the model was trained or calibrated on; convert.loader (checkpoint), convert_ann
    time_bins: int  # time bins per sample (count); convert.loader (checkpoint), train.ann_synop, convert_ann
    duration_us: float  # length of one sample, µs; convert.loader (checkpoint), train.ann_synop, convert_ann
    quantization_aware: bool  # trained with quantisation-aware training; nets.network.SpikingCNN.to_network
    neuron: dict[str, Any]  # {"type": name, **parameters} of a non-IAF trained neuron; nets.network
    percentile: float | None  # activation percentile weights were scaled by (None: unscaled); convert.ann
    first_layer_scale: float  # extra factor on the first layer's weights (ratio); convert.ann
    import_notes: list[str]  # what import changed, in order; IMPORT_WARNING marks warnings; convert importers
    weight_bits: int  # widest signed weight width any layer was discretised to, bits; quant.chip
    state_bits: int  # neuron state width discretised for, bits; quant.chip.discretize_network
    target: str  # hardware profile the bundle was converted for; convert.bundle.convert_network
    classes: list[str]  # class names of the training data, in label order; train (checkpoint), convert.loader
    input_stage: dict[str, Any]  # the training data's sensor and stages (data.origin.origin_record); train, loader


IMPORT_WARNING = "warning: "
"""Marks an ``import_notes`` entry that is a warning (an approximation to re-check), not a note: the record
is one list of strings in the bundle format, so severity is this prefix there and nowhere else."""


def import_record(notes: Iterable[str], warnings: Iterable[str] = ()) -> list[str]:
    """The ``import_notes`` record of ``notes`` then ``warnings`` (each marked :data:`IMPORT_WARNING`)."""
    return [*notes, *(IMPORT_WARNING + w for w in warnings)]


def split_import_record(record: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(notes, warnings)`` of an ``import_notes`` record, in order, the warnings' mark removed."""
    notes: list[str] = []
    warnings: list[str] = []
    for entry in record:
        entry = str(entry)
        if entry.startswith(IMPORT_WARNING):
            warnings.append(entry[len(IMPORT_WARNING) :])
        else:
            notes.append(entry)
    return notes, warnings


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def fanout_map(in_hw: tuple[int, int], kernel: int, stride: int, padding: int) -> np.ndarray:
    """For each input pixel, how many conv output positions one event there reaches.

    Summed over input events and multiplied by the output channels this gives SynOps exactly,
    borders included.
    """
    h, w = in_hw
    counts = []
    for size in (h, w):
        n_out = conv_out_size(size, kernel, stride, padding)
        axis = np.zeros(size, dtype=np.int64)
        for o in range(n_out):
            start = o * stride - padding
            axis[max(start, 0) : max(min(start + kernel, size), 0)] += 1
        counts.append(axis)
    return np.outer(counts[0], counts[1])


OUTPUT = "output"
"""The destination name of the network's readout (only the last layer may send there)."""


@dataclass(frozen=True)
class Destination:
    """Where a core sends its spikes: a later layer (or :data:`OUTPUT`) and the sum pooling on the way.

    ``pool=None`` takes the source layer's ``pool``, so a chain written with ``pool=`` alone and a graph
    written with destinations describe the same edges.
    """

    name: str
    pool: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", str(self.name))
        if self.pool is not None:
            if isinstance(self.pool, bool) or not isinstance(self.pool, (int, np.integer)) or self.pool < 1:
                raise InputError(
                    f"destination pooling must be a positive integer, got {self.pool!r}",
                    where=f"destination {self.name}",
                )
            object.__setattr__(self, "pool", int(self.pool))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pool": self.pool}


@dataclass(frozen=True, eq=False)
class ChipLayer:
    """One core's work: conv → IAF → sum-pool."""

    name: str
    weight: np.ndarray  # (c_out, c_in, k, k)
    input_shape: tuple[int, int, int]  # (C, H, W) entering the convolution
    bias: np.ndarray | None = None  # (c_out,)
    stride: int = 1
    padding: int = 0
    pool: int = 1  # sum pooling towards every destination that names none of its own (and towards the output)
    threshold: float = 1.0
    min_v_mem: float | None = None  # None: not given (convert fills in -threshold)
    reset: str = "subtract"
    kind: str = "conv"  # "conv" or "linear"
    scale: float | None = None  # set once discretised
    neuron: str = "iaf"  # neuron model of the source graph ("iaf", "lif", ...); Speck runs "iaf" only
    destinations: tuple[Destination, ...] | None = None  # layers fed by this one (names accepted); None: the next layer
    weight_bits: int = 8  # signed bits the discretiser may use for weights and bias (2..8; 8 = the chip's int8)

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64)
        object.__setattr__(self, "weight", w)
        if self.bias is not None:
            object.__setattr__(self, "bias", np.asarray(self.bias, dtype=np.float64))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        if w.ndim != 4:
            raise InputError(
                f"layer weight must have 4 dims (c_out, c_in, k, k), got shape {w.shape}", where=f"layer {self.name}"
            )
        if w.shape[1] != self.input_shape[0]:
            raise InputError(
                f"weight expects {w.shape[1]} input channels but the input has {self.input_shape[0]}",
                where=f"layer {self.name}",
            )
        if self.bias is not None and self.bias.shape != (w.shape[0],):
            raise InputError(
                f"bias shape {self.bias.shape} does not match {w.shape[0]} output channels", where=f"layer {self.name}"
            )
        if self.reset not in RESETS:
            raise InputError(
                f"unknown reset '{self.reset}'", where=f"layer {self.name}", fix=f"use one of {', '.join(RESETS)}"
            )
        if self.kind not in ("conv", "linear"):
            raise InputError(f"unknown layer kind '{self.kind}'", where=f"layer {self.name}")
        if not isinstance(self.neuron, str) or not self.neuron:
            raise InputError(f"neuron model must be a non-empty name, got {self.neuron!r}", where=f"layer {self.name}")
        if isinstance(self.pool, bool) or not isinstance(self.pool, (int, np.integer)) or self.pool < 1:
            raise InputError(f"pooling must be a positive integer, got {self.pool!r}", where=f"layer {self.name}")
        if self.destinations is not None:
            if isinstance(self.destinations, (str, Destination)):
                raise InputError(
                    f"destinations must be a list, got {self.destinations!r}",
                    where=f"layer {self.name}",
                    fix="write destinations=(name, ...)",
                )
            dests = tuple(d if isinstance(d, Destination) else Destination(str(d)) for d in self.destinations)
            names = [d.name for d in dests]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise InputError(
                    f"sends to {', '.join(twice)} twice", where=f"layer {self.name}", fix="list each destination once"
                )
            object.__setattr__(self, "destinations", dests)
        if (
            isinstance(self.weight_bits, bool)
            or not isinstance(self.weight_bits, int)
            or not 2 <= self.weight_bits <= 8
        ):
            raise InputError(
                f"weight bits must be an integer in 2..8, got {self.weight_bits!r}",
                where=f"layer {self.name}",
                fix="Speck stores int8 weights: use 2 to 8 bits",
            )
        if not 0 < self.threshold < np.inf:
            raise InputError(
                f"spike threshold must be positive and finite, got {self.threshold}", where=f"layer {self.name}"
            )
        if self.scale is not None and not 0 < self.scale < np.inf:
            raise InputError(
                f"the chip scale must be positive and finite, got {self.scale}", where=f"layer {self.name}"
            )
        if min(self.conv_shape[1:]) < 1:
            raise InputError(
                f"kernel {self.kernel_size} with padding {self.padding} does not fit input "
                f"{self.input_shape[1]}x{self.input_shape[2]}",
                where=f"layer {self.name}",
            )

    @property
    def c_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def c_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def kernel_size(self) -> tuple[int, int]:
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def conv_shape(self) -> tuple[int, int, int]:
        """(C_out, H_out, W_out) of the convolution, before pooling."""
        kh, kw = self.kernel_size
        _, h, w = self.input_shape
        return (
            self.c_out,
            conv_out_size(h, kh, self.stride, self.padding),
            conv_out_size(w, kw, self.stride, self.padding),
        )

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C_out, H, W) after the layer's own ``pool``: what a chain's next layer (or the output) receives."""
        return self.pooled_shape(self.pool)

    def pooled_shape(self, pool: int) -> tuple[int, int, int]:
        """(C_out, H, W) after sum pooling by ``pool``: what a destination with that pooling receives."""
        c, h, w = self.conv_shape
        return c, h // pool, w // pool

    def pool_to(self, dest: Destination) -> int:
        """The pooling on the way to ``dest`` (its own, else the layer's)."""
        return self.pool if dest.pool is None else dest.pool

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    @property
    def lower_bound(self) -> float:
        """The effective lower membrane bound (−threshold when none was given)."""
        return -self.threshold if self.min_v_mem is None else self.min_v_mem

    def fanout_map(self) -> np.ndarray:
        """(H, W) map: output neurons reached by one input event at each pixel, over all channels."""
        return fanout_map(self.input_shape[1:], self.kernel_size[0], self.stride, self.padding) * self.c_out

    def replace(self, **changes: Any) -> ChipLayer:
        return replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Network:
    """Chip layers in feed-forward order plus what NIR lacks (time step, target, provenance).

    By default each layer feeds the next (a chain). A layer's ``destinations`` may instead name later
    layers, each with its own pooling (a branch; the chip allows ``constraints.destinations`` of them, a
    design rule checked by ``hw``, not here); a layer fed by several sources receives the sum of their
    events, which must have equal shapes (a merge). Layer 0 alone takes the network input; the last
    layer alone is the output; every other layer feeds a later one.
    """

    layers: tuple[ChipLayer, ...]
    input_shape: tuple[int, int, int]
    dt_us: float = 1000.0  # time-bin width used in training/emulation
    metadata: NetworkMetadata = field(default_factory=NetworkMetadata)  # a plain dict at run time
    unsupported: tuple[tuple[str, str], ...] = ()  # (node name, node type) an importer could not place in a core
    _targets: tuple[tuple[int, ...], ...] = field(init=False, repr=False)  # set by __post_init__
    _pools: tuple[tuple[int, ...], ...] = field(init=False, repr=False)  # pooling per target, aligned with _targets
    _sources: tuple[tuple[int, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "unsupported", tuple((str(n), str(t)) for n, t in self.unsupported))
        if not self.layers:
            raise InputError("the network has no layers")
        if not 0 < self.dt_us < np.inf:  # every time step and rate divides by it
            raise InputError(f"the time step must be positive and finite, got {self.dt_us} µs")
        index: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if layer.name in index or layer.name == OUTPUT:
                raise InputError(
                    f"layer name '{layer.name}' is used twice"
                    if layer.name in index
                    else f"'{OUTPUT}' names the readout",
                    where=f"layer {i}",
                    fix="give every layer its own name",
                )
            index[layer.name] = i
        last = len(self.layers) - 1
        targets: list[tuple[int, ...]] = []
        pools: list[tuple[int, ...]] = []
        for i, layer in enumerate(self.layers):
            if layer.destinations is None:
                targets.append((i + 1,) if i < last else ())
                pools.append((layer.pool,) if i < last else ())
                continue
            unknown = sorted({d.name for d in layer.destinations} - set(index) - {OUTPUT})
            if unknown:
                raise InputError(
                    f"destination {', '.join(unknown)} is not a layer of the network",
                    where=f"layer {layer.name}",
                    fix=f"name existing layers, or '{OUTPUT}' for the readout",
                )
            if any(d.name == OUTPUT for d in layer.destinations) and i < last:
                raise InputError(
                    f"only the last layer feeds the '{OUTPUT}': a network has a single output",
                    where=f"layer {layer.name}",
                    fix=f"list this layer last, or send it on to the output layer instead of '{OUTPUT}'",
                )
            edges = [(index[d.name], layer.pool_to(d)) for d in layer.destinations if d.name != OUTPUT]
            if any(j <= i for j, _ in edges):
                raise InputError(
                    "a destination points back to an earlier layer (recurrence), which is not supported",
                    where=f"layer {layer.name}",
                    fix="list layers in feed-forward order",
                )
            targets.append(tuple(j for j, _ in edges))
            pools.append(tuple(p for _, p in edges))
        object.__setattr__(self, "_targets", tuple(targets))
        object.__setattr__(self, "_pools", tuple(pools))
        sources = [tuple(i for i, t in enumerate(targets) if j in t) for j in range(len(self.layers))]
        object.__setattr__(self, "_sources", tuple(sources))
        if self.layers[0].input_shape != self.input_shape:
            raise InputError(
                f"layer expects input {self.layers[0].input_shape} but receives {self.input_shape}",
                where=f"layer {self.layers[0].name}",
            )
        if sources[0]:
            raise InputError(
                "the first layer takes the network input and cannot also be a destination",
                where=f"layer {self.layers[0].name}",
            )
        for j, layer in enumerate(self.layers[1:], start=1):
            if not sources[j]:
                raise InputError(
                    "no layer feeds this layer",
                    where=f"layer {layer.name}",
                    fix="list it in the destinations of an earlier layer",
                )
            for i in sources[j]:
                received = self.edge_shape(i, j)
                if received != layer.input_shape:
                    merge = (
                        f" (a merge adds its {len(sources[j])} inputs, so their shapes must agree)"
                        if len(sources[j]) > 1
                        else ""
                    )
                    raise InputError(
                        f"layer expects input {layer.input_shape} but receives {received} from "
                        f"{self.layers[i].name}{merge}",
                        where=f"layer {layer.name}",
                        fix="change the pooling on that edge or the layer's input shape",
                    )
        for i, layer in enumerate(self.layers[:-1]):
            if not targets[i]:
                raise InputError(
                    "the layer's spikes go nowhere: only the last layer is the output",
                    where=f"layer {layer.name}",
                    fix="send it to a later layer, or remove it",
                )

    def targets(self, i: int) -> tuple[int, ...]:
        """Indices of the layers that layer ``i`` feeds."""
        return self._targets[i]

    def target_pools(self, i: int) -> tuple[int, ...]:
        """The sum pooling on each edge out of layer ``i``, aligned with :meth:`targets`."""
        return self._pools[i]

    def sources(self, i: int) -> tuple[int, ...]:
        """Indices of the layers that feed layer ``i`` (empty for layer 0, which takes the input)."""
        return self._sources[i]

    def edge_pool(self, i: int, j: int) -> int:
        """The sum pooling on the edge from layer ``i`` to layer ``j``."""
        return self._pools[i][self._targets[i].index(j)]

    def edge_shape(self, i: int, j: int) -> tuple[int, int, int]:
        """What layer ``i`` sends to layer ``j``: its convolution output pooled by that edge's pooling."""
        return self.layers[i].pooled_shape(self.edge_pool(i, j))

    @property
    def edges(self) -> tuple[tuple[int, int, int], ...]:
        """Every ``(source, destination, pool)`` between layers, sources in order."""
        return tuple((i, j, p) for i in range(len(self.layers)) for j, p in zip(self._targets[i], self._pools[i]))

    @property
    def is_chain(self) -> bool:
        """Every layer feeds the next only, with the layer's own pooling."""
        last = len(self.layers) - 1
        return (
            all(
                self.targets(i) == ((i + 1,) if i < last else ()) and all(p == layer.pool for p in self.target_pools(i))
                for i, layer in enumerate(self.layers)
            )
            and self.output_pool == self.layers[-1].pool
        )

    def counted_pool(self, i: int) -> int:
        """The pooling under which layer ``i``'s spikes are counted (emulators' ``layer_spikes``, chip monitors):
        the layer's ``pool``, for the last layer :attr:`output_pool`; in a chain, what the next layer receives."""
        return self.output_pool if i == len(self.layers) - 1 else self.layers[i].pool

    @property
    def output_pool(self) -> int:
        """The sum pooling between the last layer and the readout."""
        last = self.layers[-1]
        dest = [d for d in last.destinations or () if d.name == OUTPUT]
        return last.pool_to(dest[0]) if dest else last.pool

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.layers[-1].pooled_shape(self.output_pool)

    @property
    def n_classes(self) -> int:
        c, h, w = self.output_shape
        return c * h * w

    @property
    def quantized(self) -> bool:
        return all(layer.quantized for layer in self.layers)

    def layer(self, name: str) -> ChipLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

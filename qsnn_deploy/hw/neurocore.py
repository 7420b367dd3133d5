"""Placement on ``neuron-cores`` chips (Loihi): each layer's neurons spread over identical cores.

A core holds at most ``neurons`` neurons and ``synaptic_memory_bytes`` of synapses. Convolution
weights are not shared on such chips, so every neuron stores its own ``fan_in`` synapses of
``synapse_bits`` each (the bits that layer's integer weights need; format overhead is ignored, so this is a lower
bound). A layer needs ⌈neurons / neurons per core⌉ cores; the chip has ``count``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Network
from .counts import fan_in, layer_weight_bits, neurons
from .profile import NeuroCores, Profile


@dataclass(frozen=True)
class LayerPlacement:
    """One layer on a neuron-cores chip."""

    name: str
    neurons: int
    fan_in: int
    synapse_bits: int
    neurons_per_core: int  # 0: not even one neuron's synapses fit a core
    cores: int | None  # None when no core can hold a neuron of the layer
    limited_by: str  # "neurons" or "synaptic memory"

    @property
    def synaptic_memory_bytes(self) -> int:
        """Synapses of the whole layer, in bytes (rounded up)."""
        return -(-self.neurons * self.fan_in * self.synapse_bits // 8)


@dataclass(frozen=True)
class NeuroPlacement:
    layers: tuple[LayerPlacement, ...]
    cores_used: int
    cores_available: int

    @property
    def ok(self) -> bool:
        return all(p.cores is not None for p in self.layers) and self.cores_used <= self.cores_available

    def layer(self, name: str) -> LayerPlacement:
        return next(p for p in self.layers if p.name == name)


def neuro_cores(profile: Profile) -> NeuroCores:
    """The neuron-core limits of ``profile`` (a ``neuron-cores`` profile always has them; any other kind is a
    caller's bug: ValueError)."""
    if profile.neuro_cores is None:
        raise ValueError(f"profile {profile.name} has no neuron-core limits")
    return profile.neuro_cores


def place_neurons(net: Network, profile: Profile) -> NeuroPlacement:
    """Cores each layer needs on ``profile`` (a ``neuron-cores`` profile)."""
    nc = neuro_cores(profile)
    # integer weights: the bits each layer's weights need (Loihi sets the synapse width per synapse group,
    # so mixed precision saves memory); a float network: the chip's weight bits (or the layer's, the bits the
    # discretiser will use)
    memory_bits = nc.synaptic_memory_bytes * 8
    out = []
    for i, layer in enumerate(net.layers):
        bits = layer_weight_bits(layer) or profile.weight_bits or layer.weight_bits
        n, f = neurons(layer), fan_in(net, i)
        by_memory = memory_bits // (f * bits)
        per_core = min(nc.neurons, by_memory)
        cores = -(-n // per_core) if per_core > 0 else None
        out.append(
            LayerPlacement(
                layer.name, n, f, bits, per_core, cores, "neurons" if nc.neurons <= by_memory else "synaptic memory"
            )
        )
    used = sum(p.cores or 0 for p in out)
    return NeuroPlacement(tuple(out), used, nc.count)

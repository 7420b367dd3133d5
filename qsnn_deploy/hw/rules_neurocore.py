"""Design rules of ``neuron-cores`` chips (Loihi): weight bits, fan-in and synaptic memory per core,
number of cores, unsupported nodes. Codes ``LOI0NN``; see :mod:`qsnn_deploy.hw.neurocore` for the model."""

from __future__ import annotations

from ..ir import ChipLayer, Network
from .counts import fan_in, input_pools, layer_weight_bits
from .neurocore import neuro_cores, place_neurons
from .profile import Architecture, Profile
from .rules import Finding, Violation, layer_rule, rule, unsupported_fix

ARCH = Architecture.NEURON_CORES


def _folded(pool: int) -> str:
    return f"{pool}×{pool} folded sum-pool" if pool > 1 else "no sum-pool"


def _inputs(net: Network, i: int) -> str:
    layer = net.layers[i]
    kh, kw = layer.kernel_size
    pools = input_pools(net, i)
    text = f"{layer.c_in} channels × {kh}×{kw} kernel"
    if len(pools) == 1:
        return text + (f" × {_folded(pools[0])}" if pools[0] > 1 else "")
    each = ", ".join(f"{net.layers[s].name}: {_folded(p)}" for s, p in zip(net.sources(i), pools))
    return text + f" from each of {len(pools)} sources ({each})"


def _fewer_inputs(net: Network, i: int, per_channel_limit: int) -> str:
    """Fix: fewer input channels so that each neuron has at most ``per_channel_limit`` × c_in inputs."""
    layer = net.layers[i]
    m = per_channel_limit
    sources = " and ".join(net.layers[s].name for s in net.sources(i))  # a merge: every source has c_in channels
    if sources and m >= 1:
        return f"reduce out_channels of {sources} ({layer.c_in} → {m})"
    if m >= 1:
        return f"reduce the input channels of {layer.name} ({layer.c_in} → {m})"
    return f"use a smaller kernel in {layer.name}"


@layer_rule("LOI001", "weight-bits", "integer weights fit the chip's weight bits", ARCH)
def _weight_bits(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    have, need = profile.weight_bits, layer_weight_bits(layer)
    if have is None or need is None or need <= have:
        return None
    return [
        Finding(
            f"weights need {need} bits (largest |w| = {int(abs(layer.weight).max())}) but the chip stores "
            f"{have}-bit weights",
            f"re-discretise {layer.name} to {have}-bit weights (one scale per layer)",
            need,
            have,
            "bits",
        )
    ]


@layer_rule("LOI002", "fan-in", "one neuron's inputs <= input axons per core", ARCH)
def _fan_in(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = neuro_cores(profile).fan_in
    f = fan_in(net, i)
    if limit is None or f <= limit:
        return None
    per_channel = f // layer.c_in
    return [
        Finding(
            f"each neuron has {f} inputs ({_inputs(net, i)}) but a core receives at most {limit} input axons",
            _fewer_inputs(net, i, limit // per_channel),
            f,
            limit,
            "inputs",
        )
    ]


@layer_rule("LOI003", "synaptic-memory", "one neuron's synapses fit a core's synaptic memory", ARCH)
def _synaptic_memory(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    p = place_neurons(net, profile).layers[i]
    if p.neurons_per_core > 0:
        return None
    have = neuro_cores(profile).synaptic_memory_bytes
    need = -(-p.fan_in * p.synapse_bits // 8)
    per_channel = p.fan_in // layer.c_in
    return [
        Finding(
            f"one neuron's {p.fan_in} synapses × {p.synapse_bits} bits need {need} bytes but a core has {have} "
            f"bytes of synaptic memory",
            _fewer_inputs(net, i, have * 8 // (per_channel * p.synapse_bits)),
            need,
            have,
            "B",
        )
    ]


@rule("LOI004", "core-budget", "cores needed by all layers <= cores on the chip", ARCH)
def _core_count(net: Network, profile: Profile) -> list[Violation]:
    placement = place_neurons(net, profile)
    if placement.cores_used <= placement.cores_available:
        return []
    per_layer = ", ".join(f"{p.name} {p.cores}" for p in placement.layers if p.cores)
    worst = max((p for p in placement.layers if p.cores), key=lambda p: p.cores or 0)
    layer = net.layer(worst.name)
    chan = "out_features" if layer.kind == "linear" else "out_channels"
    fix = (
        f"halve {chan} of {worst.name} ({layer.c_out} → {layer.c_out // 2}), which alone uses {worst.cores} cores"
        if layer.c_out > 1
        else f"reduce the output size of {worst.name} ({worst.cores} cores)"
    )
    return [
        Violation(
            "LOI004",
            "core-budget",
            None,
            f"the network needs {placement.cores_used} cores ({per_layer}) but {profile.name} has "
            f"{placement.cores_available}",
            fix,
            need=placement.cores_used,
            have=placement.cores_available,
            unit="cores",
        )
    ]


@rule("LOI005", "unsupported-node", "only Conv2d/Linear → spiking neuron layers", ARCH)
def _unsupported(net: Network, profile: Profile) -> list[Violation]:
    allowed = "Conv2d, Linear, SumPool2d/AvgPool2d, Flatten, IF/LIF"
    return [
        Violation(
            "LOI005",
            "unsupported-node",
            name,
            f"node {name} ({node_type}) has no equivalent on the chip",
            unsupported_fix(name, node_type, allowed),
        )
        for name, node_type in net.unsupported
    ]

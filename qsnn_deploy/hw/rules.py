"""Design rules: small named checks in one registry, each with a stable code.

A rule takes ``(network, profile)`` and returns a list of :class:`Violation` s, each naming the
layer, what it needs vs. what the chip has (in the chip's units, in words and as ``need``, ``have``
and ``unit``), and one concrete fix. Each rule
applies to one profile architecture (``SPK`` codes: layer-per-core chips such as Speck; ``LOI``
codes: neuron-cores chips such as Loihi, in :mod:`qsnn_deploy.hw.rules_neurocore`), and a rule whose
limit the profile does not define is skipped, so the same registry serves every chip.
Add a rule with ``@rule("SPK0NN", "name", "summary")``, or a per-layer one with ``@layer_rule``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

from ..ir import OUTPUT, ChipLayer, Network, conv_out_size
from .mapping import map_layers
from .memory import LayerMemory, ceil_log2, kernel_words, layer_memory, neuron_words
from .profile import Architecture, Core, Profile


@dataclass(frozen=True)
class Violation:
    """One broken constraint; ``layer`` is None for network-wide problems.

    ``need`` is what the network (or layer) needs and ``have`` what the chip offers, both in ``unit``
    (``"words"``, ``"B"``, ``"bits"``, ``"cores"``, ...): a violation has ``need > have``. All three are None
    for a rule whose limit is not one number (a yes/no property, an allowed set or range, an unsupported node,
    several memories that fit no single core). Sizes in two dimensions give the side over its limit by the
    largest factor (the height on a tie). :meth:`to_dict` (the estimate's JSON) leaves them out.
    """

    code: str
    rule: str
    layer: str | None
    message: str
    fix: str
    need: float | None = None  # a count or size; an int stays an int
    have: float | None = None
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rule": self.rule, "layer": self.layer, "message": self.message, "fix": self.fix}


class Finding(NamedTuple):
    """What a per-layer rule reports for one layer; :func:`layer_rule` makes it a :class:`Violation`."""

    message: str
    fix: str
    need: float | None = None
    have: float | None = None
    unit: str | None = None


#: a network-level rule: ``fn(network, profile) -> list[Violation]``
NetworkCheck: TypeAlias = Callable[[Network, Profile], list[Violation]]
#: a per-layer rule: ``fn(layer, index, network, profile) -> [Finding, ...] | None``
LayerCheck: TypeAlias = Callable[[ChipLayer, int, Network, Profile], "list[Finding] | None"]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    check: NetworkCheck
    architecture: Architecture = Architecture.LAYER_PER_CORE


RULES: dict[str, Rule] = {}


def rule(
    code: str, name: str, summary: str, architecture: Architecture = Architecture.LAYER_PER_CORE
) -> Callable[[NetworkCheck], NetworkCheck]:
    """Register a network-level rule ``fn(network, profile) -> list[Violation]``."""

    def deco(fn: NetworkCheck) -> NetworkCheck:
        if code in RULES:
            raise ValueError(f"rule code {code} registered twice")
        RULES[code] = Rule(code, name, summary, fn, architecture)
        return fn

    return deco


def layer_rule(
    code: str, name: str, summary: str, architecture: Architecture = Architecture.LAYER_PER_CORE
) -> Callable[[LayerCheck], LayerCheck]:
    """Register a per-layer rule ``fn(layer, index, network, profile) -> [Finding, ...] | None``."""

    def deco(fn: LayerCheck) -> LayerCheck:
        def check(net: Network, profile: Profile) -> list[Violation]:
            out = []
            for i, layer in enumerate(net.layers):
                for f in fn(layer, i, net, profile) or ():
                    out.append(Violation(code, name, layer.name, f.message, f.fix, f.need, f.have, f.unit))
            return out

        rule(code, name, summary, architecture)(check)
        return fn

    return deco


def check(net: Network, profile: Profile, codes: list[str] | None = None) -> list[Violation]:
    """Run every rule for the profile's architecture (or only ``codes``); all violations, in layer order
    then code (network-wide problems and unsupported nodes last)."""
    order = {layer.name: i for i, layer in enumerate(net.layers)}
    found: list[Violation] = []
    for code in sorted(RULES):
        r = RULES[code]
        if r.architecture == profile.architecture and (codes is None or code in codes):
            found.extend(r.check(net, profile))
    return sorted(found, key=lambda v: (len(order) if v.layer is None else order.get(v.layer, len(order)), v.code))


# ---------------------------------------------------------------------------------------------
# helpers for messages and fixes


def _w(n: int) -> str:
    """Words, with the Ki size when it is a whole number of Ki."""
    return f"{n} ({n // 1024} Ki)" if n >= 1024 and n % 1024 == 0 else str(n)


def _chan(layer: ChipLayer) -> str:
    return "out_features" if layer.kind == "linear" else "out_channels"


def _prev(net: Network, i: int) -> str | None:
    """The layers that feed layer ``i`` ("a and b" for a merge, whose sources all send its input shape); None
    for layer 0, which takes the network input."""
    return " and ".join(net.layers[s].name for s in net.sources(i)) or None


def _in_prev(net: Network, i: int) -> str:
    """Where a pooling before layer ``i`` goes: in its one source, or on the edges from each of several."""
    prev = _prev(net, i)
    return f"in {prev}" if len(net.sources(i)) == 1 else f"on the edges from {prev}"


def _nearest(value: int, allowed: Iterable[int]) -> int:
    return min(sorted(allowed), key=lambda a: abs(a - value))


def _pool_factors(profile: Profile) -> list[int]:
    return sorted(p for p in (profile.constraints.pooling or (2, 4)) if p > 1)


def _memory_with(layer: ChipLayer, c_in: int, c_out: int, h: int, w: int) -> LayerMemory | None:
    """Memory of ``layer`` with other channel counts / input size (None if the conv no longer fits)."""
    kh, kw = layer.kernel_size
    if layer.kind == "linear":
        kh, kw = h, w
    ho = conv_out_size(h, kh, layer.stride, layer.padding)
    wo = conv_out_size(w, kw, layer.stride, layer.padding)
    if min(ho, wo, kh, kw) < 1:
        return None
    return LayerMemory(
        kernel_words(c_in, kh, kw, c_out), neuron_words(c_out, ho, wo), c_out if layer.bias is not None else 0
    )


def _max_out_channels(layer: ChipLayer, core: Core) -> int:
    """The most output channels with which ``layer`` fits ``core`` (0 if none)."""
    kh, kw = layer.kernel_size
    _, ho, wo = layer.conv_shape
    q = core.kernel_memory // (layer.c_in << ceil_log2(kh * kw))
    if q < 1:
        return 0
    best = min(layer.c_out, 1 << (q.bit_length() - 1), core.neuron_memory >> (ceil_log2(ho) + ceil_log2(wo)))
    if layer.bias is not None:
        best = min(best, core.bias_memory)
    return best


def _shortfall(mem: LayerMemory, core: Core) -> float:
    """How many times too large the layer is for ``core`` (<= 1 means it fits)."""
    ratios = []
    for need, have in (
        (mem.kernel, core.kernel_memory),
        (mem.neuron, core.neuron_memory),
        (mem.bias, core.bias_memory),
    ):
        ratios.append(0.0 if need == 0 else (math.inf if have == 0 else need / have))
    return max(ratios)


def _best_core(mem: LayerMemory, cores: Iterable[Core]) -> Core:
    return min(cores, key=lambda c: (_shortfall(mem, c), c.index))


def _worst_side(size: tuple[int, int], limit: tuple[int, int]) -> tuple[int, int]:
    """(size, limit) of the side over its limit by the largest factor (the height on a tie)."""
    return max(zip(size, limit), key=lambda side: side[0] / side[1])


def shrink_fix(layer: ChipLayer, core: Core, net: Network, index: int, profile: Profile) -> str:
    """One concrete change (or two alternatives) that makes ``layer`` fit ``core``."""
    mem = layer_memory(layer)
    c_in, h, w = layer.input_shape
    opts = []
    n = _max_out_channels(layer, core)
    if 1 <= n < layer.c_out:
        verb = "halve" if 2 * n == layer.c_out else "reduce"
        opts.append(f"{verb} {_chan(layer)} of {layer.name} ({layer.c_out} → {n})")
    if mem.neuron > core.neuron_memory or (layer.kind == "linear" and mem.kernel > core.kernel_memory):
        for p in _pool_factors(profile):
            m = _memory_with(layer, c_in, layer.c_out, h // p, w // p)
            if m is not None and core.fits(m):
                opts.append(f"add a {p}×{p} sum-pool before it ({h}×{w} → {h // p}×{w // p} input)")
                break
    if mem.bias > core.bias_memory:
        opts.append(f"drop the bias of {layer.name}")
    if not opts and mem.kernel > core.kernel_memory:
        kh, kw = layer.kernel_size
        most_in = core.kernel_memory >> (ceil_log2(kh * kw) + ceil_log2(layer.c_out))
        prev = _prev(net, index)
        if most_in >= 1 and prev is not None:
            opts.append(f"reduce out_channels of {prev} ({c_in} → {most_in})")
        elif most_in >= 1:
            opts.append(f"reduce the input channels of {layer.name} ({c_in} → {most_in})")
        else:
            opts.append(f"use a smaller kernel in {layer.name}")
    if not opts:
        opts.append(f"reduce the output size of {layer.name} (a larger stride, or pool its input)")
    return " or ".join(opts)


# ---------------------------------------------------------------------------------------------
# the rules


@layer_rule("SPK001", "square-kernel", "kernels must be square")
def _square_kernel(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    kh, kw = layer.kernel_size
    if not profile.constraints.square_kernel or kh == kw:
        return None
    m = max(kh, kw)
    if layer.kind == "linear":
        fix = f"make the input of {layer.name} square (e.g. pad {kh}×{kw} to {m}×{m})"
    else:
        fix = f"use a square {m}×{m} kernel in {layer.name} (zero-pad the {kh}×{kw} weights)"
    return [Finding(f"kernel {kh}×{kw} is not square; the chip supports square kernels only", fix)]


@layer_rule("SPK002", "kernel-size", "kernel side <= max_kernel_size")
def _kernel_size(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = profile.constraints.max_kernel_size
    kh, kw = layer.kernel_size
    if limit is None or max(kh, kw) <= limit:
        return None
    msg = f"kernel {kh}×{kw} exceeds the maximum {limit}×{limit}"
    if layer.kind == "linear":
        p = next((p for p in _pool_factors(profile) if max(kh, kw) // p <= limit), None)
        fix = (
            f"add a {p}×{p} sum-pool before {layer.name} ({kh}×{kw} → {kh // p}×{kw // p} input)"
            if p
            else f"reduce the spatial size of the input of {layer.name} to at most {limit}×{limit}"
        )
    else:
        fix = f"use a kernel of at most {limit}×{limit} in {layer.name}"
    return [Finding(msg, fix, max(kh, kw), limit, "px")]


@layer_rule("SPK003", "stride", "stride in the allowed set")
def _stride(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    allowed = profile.constraints.strides
    if allowed is None or layer.stride in allowed:
        return None
    return [
        Finding(
            f"stride {layer.stride} is not supported (allowed: {', '.join(map(str, allowed))})",
            f"use stride {_nearest(layer.stride, allowed)} in {layer.name}",
        )
    ]


@layer_rule("SPK004", "padding", "padding within the allowed range")
def _padding(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    rng = profile.constraints.padding
    if rng is None or rng[0] <= layer.padding <= rng[1]:
        return None
    target = min(max(layer.padding, rng[0]), rng[1])
    return [
        Finding(
            f"padding {layer.padding} is outside the supported range {rng[0]}–{rng[1]}",
            f"use padding {target} in {layer.name}",
        )
    ]


@layer_rule("SPK005", "pooling", "sum-pool size towards every destination in the allowed set")
def _pooling(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    allowed = profile.constraints.pooling
    if allowed is None:
        return None
    edges = [(net.layers[j].name, p) for j, p in zip(net.targets(i), net.target_pools(i))]
    if i == len(net.layers) - 1:
        edges.append((OUTPUT, net.output_pool))
    found = []
    for pool in dict.fromkeys(p for _, p in edges if p not in allowed):  # each pooling once, in order
        n = _nearest(pool, allowed)
        towards = [name for name, p in edges if p == pool]
        if len(towards) == len(edges):  # every edge out of the layer (a chain's one edge)
            msg, fix = f"sum-pool {pool}×{pool}", f"use a {n}×{n} sum-pool after {layer.name}"
        else:
            msg = f"sum-pool {pool}×{pool} towards {', '.join(towards)}"
            fix = f"use a {n}×{n} sum-pool on the way from {layer.name} to {', '.join(towards)}"
        found.append(Finding(f"{msg} is not supported (allowed: {', '.join(map(str, allowed))})", fix))
    return found


@layer_rule("SPK006", "channels", "input and output channels <= max_channels")
def _channels(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = profile.constraints.max_channels
    if limit is None:
        return None
    out = []
    what = "output features" if layer.kind == "linear" else "output channels"
    if layer.c_out > limit:
        out.append(
            Finding(
                f"{layer.c_out} {what} exceed the maximum {limit}",
                f"reduce {_chan(layer)} of {layer.name} ({layer.c_out} → {limit})",
                layer.c_out,
                limit,
                "channels",
            )
        )
    if layer.c_in > limit:
        prev = _prev(net, i)
        fix = (
            f"reduce out_channels of {prev} ({layer.c_in} → {limit})"
            if prev
            else f"reduce the input channels ({layer.c_in} → {limit})"
        )
        out.append(
            Finding(f"{layer.c_in} input channels exceed the maximum {limit}", fix, layer.c_in, limit, "channels")
        )
    return out


@layer_rule("SPK007", "input-size", "layer input H×W <= max_input_size")
def _input_size(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = profile.constraints.max_input_size
    _, h, w = layer.input_shape
    if limit is None or (h <= limit[0] and w <= limit[1]):
        return None
    p = next((p for p in _pool_factors(profile) if h // p <= limit[0] and w // p <= limit[1]), None)
    prev = _prev(net, i)
    if p is None:
        fix = f"downsample the input of {layer.name} to at most {limit[0]}×{limit[1]}"
    elif prev is None:
        fix = f"sum-pool the input by {p} ({h}×{w} → {h // p}×{w // p})"
    else:
        fix = (
            f"downsample by {p} before {layer.name} (e.g. a {p}×{p} sum-pool {_in_prev(net, i)}: "
            f"{h}×{w} → {h // p}×{w // p})"
        )
    need, have = _worst_side((h, w), limit)
    return [Finding(f"input {h}×{w} exceeds the maximum {limit[0]}×{limit[1]}", fix, need, have, "px")]


@layer_rule("SPK008", "output-size", "convolution output H×W <= max_output_size")
def _output_size(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = profile.constraints.max_output_size
    _, ho, wo = layer.conv_shape
    if limit is None or (ho <= limit[0] and wo <= limit[1]):
        return None
    _, h, w = layer.input_shape
    kh, kw = layer.kernel_size
    fix = f"downsample the input of {layer.name} so that its output is at most {limit[0]}×{limit[1]}"
    for s in sorted(profile.constraints.strides or (1, 2, 4, 8)):
        if s <= layer.stride:
            continue
        h2, w2 = conv_out_size(h, kh, s, layer.padding), conv_out_size(w, kw, s, layer.padding)
        if h2 <= limit[0] and w2 <= limit[1]:
            fix = f"use stride {s} in {layer.name} (output {ho}×{wo} → {h2}×{w2})"
            break
    need, have = _worst_side((ho, wo), limit)
    return [Finding(f"convolution output {ho}×{wo} exceeds the maximum {limit[0]}×{limit[1]}", fix, need, have, "px")]


def _memory_rule(kind: Literal["kernel", "neuron", "bias"]) -> LayerCheck:
    def fn(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
        mem = layer_memory(layer)
        need, have = {
            "kernel": (mem.kernel, profile.max_kernel_memory),
            "neuron": (mem.neuron, profile.max_neuron_memory),
            "bias": (mem.bias, profile.max_bias_memory),
        }[kind]
        if need <= have:
            return None
        kh, kw = layer.kernel_size
        c, ho, wo = layer.conv_shape
        if kind == "kernel":
            detail = (
                f" ({layer.c_in} × {1 << ceil_log2(kh * kw)} × {1 << ceil_log2(c)}: kernel size and "
                f"{_chan(layer)} rounded up to powers of two)"
            )
        elif kind == "neuron":
            detail = (
                f" ({c} × {1 << ceil_log2(ho)} × {1 << ceil_log2(wo)}: the {ho}×{wo} output rounded up "
                "to powers of two)"
            )
        else:
            detail = ""
        core = _best_core(mem, profile.cores)
        return [
            Finding(
                f"needs {_w(need)} {kind} words{detail} but the largest core has {_w(have)}",
                shrink_fix(layer, core, net, i, profile),
                need,
                have,
                "words",
            )
        ]

    return fn


layer_rule("SPK009", "kernel-memory", "kernel memory <= the largest core's")(_memory_rule("kernel"))
layer_rule("SPK010", "neuron-memory", "neuron memory <= the largest core's")(_memory_rule("neuron"))
layer_rule("SPK011", "bias-memory", "bias memory <= the largest core's")(_memory_rule("bias"))


@layer_rule("SPK012", "memory-combination", "some single core holds kernel, neuron and bias memory together")
def _memory_combination(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    mem = layer_memory(layer)
    if (
        mem.kernel > profile.max_kernel_memory
        or mem.neuron > profile.max_neuron_memory
        or mem.bias > profile.max_bias_memory
        or any(c.fits(mem) for c in profile.cores)
    ):
        return None  # either fits, or SPK009–SPK011 already report it
    core = _best_core(mem, profile.cores)
    msg = (
        f"needs {_w(mem.kernel)} kernel, {_w(mem.neuron)} neuron and {mem.bias} bias words: each fits some "
        f"core but no single core holds all three (closest: core {core.index} with {_w(core.kernel_memory)} "
        f"kernel and {_w(core.neuron_memory)} neuron words)"
    )
    return [Finding(msg, f"{shrink_fix(layer, core, net, i, profile)} so that {layer.name} fits core {core.index}")]


@rule("SPK013", "core-count", "no more layers than cores")
def _core_count(net: Network, profile: Profile) -> list[Violation]:
    n, m = len(net.layers), len(profile.cores)
    if n <= m:
        return []
    extra = n - m
    return [
        Violation(
            "SPK013",
            "core-count",
            None,
            f"the network has {n} layers but {profile.name} has {m} cores (one layer per core)",
            f"remove or merge {extra} layer{'s' if extra > 1 else ''}",
            need=n,
            have=m,
            unit="cores",
        )
    ]


@rule("SPK014", "core-mapping", "layers that each fit some core can share the cores out (Hall's condition)")
def _core_mapping(net: Network, profile: Profile) -> list[Violation]:
    if len(net.layers) > len(profile.cores):
        return []  # SPK013 reports it
    mapping = map_layers(net, profile)
    if mapping.ok or mapping.unplaceable or not mapping.conflict_layers:
        return []  # fits, or SPK009–SPK012 report the layers that fit no core
    names, cores = mapping.conflict_layers, mapping.conflict_cores
    others = [c for c in profile.cores if c.index not in cores]
    index = {layer.name: i for i, layer in enumerate(net.layers)}
    name, core = min(
        ((n, c) for n in names for c in others),
        key=lambda nc: (_shortfall(mapping.memory[nc[0]], nc[1]), -index[nc[0]], nc[1].index),
    )
    layer = net.layers[index[name]]
    msg = (
        f"layers {', '.join(names)} can only use cores {', '.join(map(str, cores))}: "
        f"{len(names)} layers compete for {len(cores)} cores"
    )
    fix = (
        f"{shrink_fix(layer, core, net, index[name], profile)} so that {name} fits core {core.index} "
        f"({_w(core.kernel_memory)} kernel, {_w(core.neuron_memory)} neuron words)"
    )
    return [Violation("SPK014", "core-mapping", None, msg, fix, need=len(names), have=len(cores), unit="cores")]


def relay_fix(name: str, targets: list[str], limit: int) -> str:
    """How to reach ``targets`` from a core with ``limit`` destinations: relay layers, or copies of the layer."""
    if limit < 2:  # a relay could not fan out either
        return (
            f"duplicate {name} onto {len(targets) - limit} free core{'s' if len(targets) - limit > 1 else ''} "
            f"(same weights and input) and send to {', '.join(targets[limit:])} from the copies, one each"
        )
    keep, move = targets[: limit - 1], targets[limit - 1 :]
    relays = -(-(len(targets) - limit) // (limit - 1))  # each relay forwards to limit layers, one the next relay
    first = (
        f"insert a 1×1 relay layer (identity weights, threshold 1) fed by {name} that sends on to {', '.join(move)}"
        if relays == 1
        else f"insert {relays} chained 1×1 relay layers (identity weights, threshold 1; each sends to up to {limit} "
        f"layers, one of them the next relay) fed by {name} that carry its spikes on to {', '.join(move)}"
    )
    copies = -(-(len(targets) - limit) // limit)
    return (
        f"{first}, and keep {', '.join(keep)} as {name}'s other destination{'s' if len(keep) > 1 else ''}; or "
        f"duplicate {name} onto {'a free core' if copies == 1 else f'{copies} free cores'} (same weights and input) "
        f"and send {', '.join(targets[limit:])} from the cop{'y' if copies == 1 else 'ies'}"
    )


@layer_rule("SPK015", "destinations", "each core sends its output to at most cores.destinations cores")
def _destinations(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    limit = profile.constraints.destinations
    targets = [net.layers[j].name for j in net.targets(i)]  # the readout needs no destination
    if limit is None or len(targets) <= limit:
        return None
    return [
        Finding(
            f"sends its output to {len(targets)} layers ({', '.join(targets)}) but a core has {limit} destinations "
            f"(the chip's limit)",
            relay_fix(layer.name, targets, limit),
            len(targets),
            limit,
            "destinations",
        )
    ]


@layer_rule("SPK016", "iaf-only", "neurons are integrate-and-fire (no leak)")
def _iaf_only(layer: ChipLayer, i: int, net: Network, profile: Profile) -> list[Finding] | None:
    if layer.neuron.lower() == "iaf":
        return None
    kind = layer.neuron.upper()
    return [
        Finding(
            f"uses {kind} neurons; the chip's cores run integrate-and-fire (IAF) neurons only",
            f"replace the {kind} neurons of {layer.name} by IAF neurons and fine-tune",
        )
    ]


def unsupported_fix(name: str, node_type: str, allowed: str) -> str:
    """One concrete fix for a node the chip cannot run."""
    t = node_type.lower()
    if "maxpool" in t:
        return f"replace {name} by a sum-pool of the same size (or AvgPool, scaled by k² on the chip) and fine-tune"
    if "batchnorm" in t:
        return f"fold {name} into the convolution before it (w·γ/σ, bias (b − μ)·γ/σ + β) before converting"
    if "dropout" in t:
        return f"remove {name} (it does nothing at inference)"
    return f"remove {name} or replace it by a supported operation ({allowed})"


@rule("SPK017", "unsupported-module", "only Conv2d/Linear → IAF → SumPool layers")
def _unsupported(net: Network, profile: Profile) -> list[Violation]:
    allowed = "Conv2d, Linear, SumPool2d/AvgPool2d, Flatten, IAF"
    return [
        Violation(
            "SPK017",
            "unsupported-module",
            name,
            f"node {name} ({node_type}) has no place in a core (conv → IAF → sum-pool)",
            unsupported_fix(name, node_type, allowed),
        )
        for name, node_type in net.unsupported
    ]


from . import rules_neurocore  # noqa: E402,F401  (registers the LOI rules)

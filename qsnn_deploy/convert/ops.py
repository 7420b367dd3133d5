"""Framework-neutral operations, and how a graph of them becomes a chip :class:`~qsnn_deploy.ir.Network`.

Importers (NIR files, torch modules, ANNs) translate their nodes into these few operations; one
function, :func:`assemble_graph`, then applies every normalisation Speck needs, in one place (a chain is
the graph whose every op feeds the next: :func:`assemble`):

- a dense (Linear/Affine) layer becomes a convolution whose kernel covers its whole input;
- average pooling becomes sum pooling, and the weights of the layer it feeds are scaled by 1/k²;
- a neuron's input gain (NIR ``r``, a LIF's ``r·dt/τ``) is folded into the weights before it;
- shapes are inferred from the input shape, and shapes the source declares are checked against them;
- several edges into an op add (a merge of equal shapes); the pooling between a layer's neurons and a
  later layer's weights is that edge's pooling (each destination its own).

No torch here: NIR import must stay torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConstraintError, InputError
from ..ir import OUTPUT as OUTPUT_NAME
from ..ir import ChipLayer, Destination, Network, NetworkMetadata


@dataclass(frozen=True)
class Synapse:
    """A convolution (weight (c_out, c_in, k, k)) or a dense layer (weight (out, in))."""

    name: str
    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: int = 1
    padding: int = 0
    dense: bool = False
    declared_input: tuple[int, ...] | None = None  # (H, W) for a conv, (n_in,) for a dense layer


@dataclass(frozen=True)
class Neurons:
    """Integrate-and-fire neurons (or a model approximated as such, see ``neuron``)."""

    name: str
    threshold: float
    min_v_mem: float | None = None
    reset: str = "subtract"
    gain: float = 1.0  # input gain folded into the preceding weights and bias
    neuron: str = "iaf"
    declared_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Pool:
    name: str
    kernel: int
    average: bool  # average pooling: becomes sum pooling with the next weights scaled by 1/k²


@dataclass(frozen=True)
class Flatten:
    name: str
    declared_input: tuple[int, ...] | None = None


Op = Synapse | Neurons | Pool | Flatten


@dataclass
class Assembled:
    """The result of :func:`assemble`: the network and what was changed to get it."""

    network: Network
    notes: list[str] = field(default_factory=list)


def _shape_text(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def _check_declared(op_name: str, what: str, declared, actual) -> None:
    if declared is not None and tuple(int(v) for v in declared) != tuple(int(v) for v in actual):
        raise InputError(
            f"shape mismatch: node '{op_name}' declares {what} {_shape_text(declared)} but receives "
            f"{_shape_text(actual)}",
            where=f"node {op_name}",
            fix="check the input shape (--input-shape C,H,W) and the order of the nodes",
        )


def _conv_weight(syn: Synapse, shape: tuple[int, int, int]) -> np.ndarray:
    """The 4-D weight of a synapse that receives ``shape``; dense layers cover the whole input."""
    c, h, w = shape
    weight = np.asarray(syn.weight, dtype=np.float64)
    if not syn.dense:
        if weight.ndim != 4:
            raise InputError(f"convolution weight must have 4 dims, got shape {weight.shape}", where=f"node {syn.name}")
        if weight.shape[1] != c:
            raise InputError(
                f"shape mismatch: node '{syn.name}' expects {weight.shape[1]} input channels but receives "
                f"{c} ({_shape_text(shape)})",
                where=f"node {syn.name}",
                fix="check the input shape (--input-shape C,H,W) and the order of the nodes",
            )
        _check_declared(syn.name, "input size", syn.declared_input, (h, w))
        return weight
    if weight.ndim != 2:
        raise InputError(f"dense weight must have 2 dims (out, in), got shape {weight.shape}", where=f"node {syn.name}")
    if weight.shape[1] != c * h * w:
        raise InputError(
            f"shape mismatch: node '{syn.name}' has {weight.shape[1]} inputs but receives {c * h * w} "
            f"values ({_shape_text(shape)})",
            where=f"node {syn.name}",
            fix="check the input shape (--input-shape C,H,W) and the flatten/pool nodes before it",
        )
    return weight.reshape(weight.shape[0], c, h, w)


INPUT = -1
"""Edge end of :func:`assemble_graph` for the network input."""
OUTPUT = -2
"""Edge end of :func:`assemble_graph` for the network output (the readout)."""


@dataclass(frozen=True)
class _Flow:
    """Spikes on their way from a layer (or the network input) to the op that receives them."""

    source: int  # layer index, or INPUT
    pool: int  # sum pooling passed since the source's neurons
    shape: tuple[int, int, int]
    scale: float = 1.0  # 1/k² per average pooling passed: folded into the receiving weights
    scale_source: str = ""  # the last average pooling passed, for the note


@dataclass(frozen=True)
class _Pending:
    """A synapse's output on its way to its neurons (a core's weights before its IAF)."""

    synapse: Synapse  # weight already 4-D and scaled
    shape: tuple[int, int, int]  # what the synapse receives
    sources: tuple[tuple[int, int], ...]  # (source layer or INPUT, pool) summed into its input


def assemble(
    ops: list[Op], input_shape: tuple[int, ...], dt_us: float = 1000.0, metadata: NetworkMetadata | None = None
) -> Assembled:
    """Group a chain of ``ops`` (each feeds the next) into chip layers: :func:`assemble_graph` of a chain."""
    ends = [INPUT, *range(len(ops)), OUTPUT]
    return assemble_graph(ops, list(zip(ends[:-1], ends[1:])), input_shape, dt_us, metadata)


def _layer_names(layers: list[ChipLayer], sources) -> str:
    return ", ".join("the input" if i == INPUT else f"'{layers[i].name}'" for i in sources)


def _merge_flows(op: Synapse, flows: list[_Flow], layers: list[ChipLayer]) -> _Flow:
    """The one input of a synapse fed by several flows: a sum of equal shapes, each source once."""
    seen: dict[int, _Flow] = {}
    for f in flows:
        if f.source in seen:
            raise ConstraintError(
                f"{_layer_names(layers, [f.source])} reaches '{op.name}' along two paths (pooled by "
                f"{seen[f.source].pool} and by {f.pool}); a core sends to each destination once",
                where=f"node {op.name}",
                fix="remove one of the two paths",
            )
        seen[f.source] = f
    if INPUT in seen and len(flows) > 1:
        others = _layer_names(layers, [f.source for f in flows if f.source != INPUT])
        raise ConstraintError(
            f"'{op.name}' adds the network input to the spikes of {others}; Speck sends the input to the "
            "first core only",
            where=f"node {op.name}",
            fix="let one layer take the input and feed the others",
        )
    first = flows[0]
    for f in flows[1:]:
        if f.shape != first.shape:
            raise ConstraintError(
                f"'{op.name}' sums its inputs, which must have equal shapes: {_layer_names(layers, [first.source])} "
                f"sends {_shape_text(first.shape)} and {_layer_names(layers, [f.source])} sends {_shape_text(f.shape)}",
                where=f"node {op.name}",
                fix="change the pooling on one branch so that the shapes agree",
            )
        if f.scale != first.scale:
            raise ConstraintError(
                f"'{op.name}' sums inputs that passed different average pooling ({first.scale_source or 'none'} "
                f"and {f.scale_source or 'none'}); as sum pooling they need different weight scales",
                where=f"node {op.name}",
                fix="use the same pooling on every branch into it, or sum pooling",
            )
    return first


def _flows_of(k_name: str, received: list) -> list[_Flow] | _Pending:
    """One pending synapse output, or the flows summed into an op; a mix is refused."""
    pending = [v for v in received if isinstance(v, _Pending)]
    if not pending:
        return [f for v in received for f in v]
    if len(received) > 1:
        raise ConstraintError(
            f"'{k_name}' receives the output of '{pending[0].synapse.name}' before its neurons together with "
            "other inputs; a Speck core's neurons take its own weights' output only",
            where=f"node {k_name}",
            fix="send only spikes (neuron outputs) into a merge",
        )
    return pending[0]


def assemble_graph(
    ops: list[Op],
    edges: list[tuple[int, int]],
    input_shape: tuple[int, ...],
    dt_us: float = 1000.0,
    metadata: NetworkMetadata | None = None,
) -> Assembled:
    """Group a graph of ``ops`` into chip layers (synapse → neurons → [sum pool] per destination) and build
    the network.

    ``edges`` join op indices in a feed-forward order (source < destination), :data:`INPUT` and
    :data:`OUTPUT`; several edges into an op add their values (equal shapes). A layer is a synapse followed by
    its neurons; the pooling ops between a layer's neurons and a later synapse are that edge's pooling. Layers
    come out in the order of their neuron ops; a layer feeding only the next one (or the last feeding only
    the output) is written as a chain link (``destinations=None``), any other names its destinations, each
    with its own pooling where it differs from the layer's first. Errors name the node:
    :class:`InputError` for malformed or inconsistent sources (exit 3), :class:`ConstraintError` for valid
    models Speck cannot run (exit 4).
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input shape {input_shape} is not (C, H, W)", fix="give --input-shape C,H,W")
    net_input: tuple[int, int, int] = (shape[0], shape[1], shape[2])
    incoming: dict[int, list[int]] = {}
    n_out: dict[int, int] = {}
    for a, b in edges:
        if a == OUTPUT or b == INPUT or (b != OUTPUT and a >= b):
            name = ops[b].name if 0 <= b < len(ops) else str(b)
            raise ConstraintError(
                "the graph is recurrent (an edge points back to an earlier node); Speck runs feed-forward "
                "networks only",
                where=f"node {name}",
                fix="remove the recurrent connection and retrain",
            )
        incoming.setdefault(b, []).append(a)
        n_out[a] = n_out.get(a, 0) + 1
    layers: list[ChipLayer] = []
    layer_sources: list[tuple[tuple[int, int], ...]] = []
    notes: list[str] = []
    values: dict[int, _Pending | list[_Flow]] = {INPUT: [_Flow(INPUT, 1, net_input)]}
    for k, op in enumerate(ops):
        if k not in incoming:
            raise InputError(
                f"node '{op.name}' is not on the path from the input to the output",
                where=f"node {op.name}",
                fix="remove unconnected nodes or add the missing edges",
            )
        got = _flows_of(op.name, [values[i] for i in incoming[k]])  # several: their sum
        if isinstance(op, Synapse):
            if isinstance(got, _Pending):
                raise ConstraintError(
                    f"'{got.synapse.name}' feeds '{op.name}' directly, without spiking neurons between "
                    "them; a Speck core is weights → IAF neurons",
                    where=f"node {op.name}",
                    fix="insert an IF node between them or merge the two linear maps",
                )
            flow = _merge_flows(op, got, layers)
            weight = _conv_weight(op, flow.shape)
            if flow.scale != 1.0:
                weight = weight * flow.scale
                notes.append(
                    f"weights of '{op.name}' scaled by {flow.scale:g} because {flow.scale_source} became sum pooling"
                )
            syn = Synapse(op.name, weight, op.bias, op.stride, op.padding, op.dense)
            values[k] = _Pending(syn, flow.shape, tuple((f.source, f.pool) for f in got))
            if n_out.get(k, 0) > 1:
                raise ConstraintError(
                    f"'{op.name}' feeds {n_out[k]} nodes before its neurons; a Speck core is weights → IAF neurons",
                    where=f"node {op.name}",
                    fix="put the neurons right after the weights and branch after them",
                )
        elif isinstance(op, Neurons):
            if not isinstance(got, _Pending):
                raise ConstraintError(
                    f"neurons '{op.name}' do not follow a convolution or dense layer; a Speck core "
                    "is weights → IAF neurons",
                    where=f"node {op.name}",
                    fix="remove the node or put a weight layer before it",
                )
            pending = got.synapse
            weight, bias = pending.weight, pending.bias
            if op.gain != 1.0 and abs(op.gain - 1.0) > 1e-6:  # float32 parameters give 1 ± 1e-7
                weight = weight * op.gain
                bias = None if bias is None else np.asarray(bias, dtype=np.float64) * op.gain
            layer = ChipLayer(
                name=pending.name,
                weight=weight,
                input_shape=got.shape,
                bias=bias,
                stride=pending.stride,
                padding=pending.padding,
                threshold=float(op.threshold),
                min_v_mem=op.min_v_mem,
                reset=op.reset,
                kind="linear" if pending.dense else "conv",
                neuron=op.neuron,
            )
            out = layer.conv_shape
            declared = op.declared_shape
            if declared is not None and len(declared) != len(out) and int(np.prod(declared)) == int(np.prod(out)):
                declared = out  # a flat neuron array in front of a 1x1 "image" is the same thing
            _check_declared(op.name, "neuron shape", declared, out)
            values[k] = [_Flow(len(layers), 1, out)]
            layers.append(layer)
            layer_sources.append(got.sources)
        elif isinstance(op, Pool):
            if isinstance(got, _Pending):
                raise ConstraintError(
                    f"pooling '{op.name}' sits between '{got.synapse.name}' and its neurons; Speck pools "
                    "the spikes after the neurons",
                    where=f"node {op.name}",
                    fix="move the pooling after the spiking layer",
                )
            pooled = []
            for f in got:
                if f.source == INPUT:
                    raise ConstraintError(
                        f"pooling '{op.name}' acts on the network input; Speck pools only after a spiking layer",
                        where=f"node {op.name}",
                        fix="bin the events at a lower resolution instead",
                    )
                src = layers[f.source]
                _, h, w = src.conv_shape
                if op.kernel < 1 or f.pool * op.kernel > min(h, w):
                    raise InputError(
                        f"pooling '{op.name}' with kernel {op.kernel} does not fit the {h}x{w} output of '{src.name}'",
                        where=f"node {op.name}",
                    )
                pool = f.pool * op.kernel
                scale, scale_source = f.scale, f.scale_source
                if op.average:
                    scale, scale_source = scale / (op.kernel * op.kernel), f"average pooling '{op.name}'"
                pooled.append(_Flow(f.source, pool, src.pooled_shape(pool), scale, scale_source))
            values[k] = pooled
        elif isinstance(op, Flatten):
            if op.declared_input is not None and len(op.declared_input) == 3:
                for received in [got.shape] if isinstance(got, _Pending) else [f.shape for f in got]:
                    _check_declared(op.name, "input", op.declared_input, received)
            values[k] = got
        else:  # pragma: no cover - importers only produce the ops above
            raise TypeError(f"unknown op {op!r}")
    fed = [j for j, srcs in enumerate(layer_sources) if any(i == INPUT for i, _ in srcs)]
    if len(fed) > 1 or any(len(layer_sources[j]) > 1 for j in fed):
        names = ", ".join(layers[j].name for j in fed)
        raise ConstraintError(
            f"the network input feeds {names}"
            + (" (merged with other layers' spikes)" if len(fed) == 1 else "")
            + "; qsnn-deploy takes the input into one layer only (Speck's DVS layer could feed two cores, "
            "which is not supported yet)",
            where=f"node {layers[fed[0]].name}",
            fix="let one layer take the input and branch after its neurons (for the raw events on a branch, "
            "a 1×1 relay layer with identity weights and threshold 1)",
        )
    end = _flows_of("output", [values[i] for i in incoming.get(OUTPUT, [])])
    if isinstance(end, _Pending):
        raise ConstraintError(
            f"the model ends in '{end.synapse.name}' without spiking neurons after it",
            where=f"node {end.synapse.name}",
            fix="add an IF node after the last weight layer",
        )
    if not layers:
        raise InputError(
            "the model has no weight layer followed by spiking neurons",
            fix="a Speck core is Conv2d/Linear → IF → [SumPool2d]; cores feed each other",
        )
    if len({f.source for f in end}) != 1 or len(end) != 1:
        raise ConstraintError(
            f"the output receives the spikes of {_layer_names(layers, [f.source for f in end]) or 'no layer'}; "
            "a network has a single output",
            where="node output",
            fix="let one layer collect the branches (a merge) and feed the output",
        )
    readout = end[0]
    if readout.scale != 1.0:
        notes.append(
            f"{readout.scale_source} at the end of the model became sum pooling: output counts are "
            f"{1 / readout.scale:g}x larger (the class ranking is unchanged)"
        )
    meta: NetworkMetadata = {**(metadata or {})}  # a copy: the caller's record is not changed
    if notes:
        meta["import_notes"] = list(meta.get("import_notes", [])) + notes
    linked = _link(layers, layer_sources, readout.source, readout.pool)
    return Assembled(Network(tuple(linked), net_input, float(dt_us), meta), notes)


def _link(
    layers: list[ChipLayer], sources: list[tuple[tuple[int, int], ...]], readout: int, readout_pool: int
) -> list[ChipLayer]:
    """Each layer with its pooling and destinations: a chain link when it feeds only the next layer (or, the
    last, only the output); else its destinations by name, each pooled by the layer's ``pool`` (its first
    destination's) unless it names its own."""
    outs: list[list[tuple[int, int]]] = [[] for _ in layers]
    for j, srcs in enumerate(sources):
        for i, pool in srcs:
            if i != INPUT:
                outs[i].append((j, pool))
    outs[readout].append((OUTPUT, readout_pool))
    last = len(layers) - 1
    linked = []
    for i, layer in enumerate(layers):
        edges = sorted(outs[i], key=lambda e: (e[0] == OUTPUT, e[0]))
        if not edges:
            linked.append(layer)  # a dead end: the network's own check names it
            continue
        pool = edges[0][1]
        if len(edges) == 1 and edges[0][0] == (i + 1 if i < last else OUTPUT):
            linked.append(layer.replace(pool=pool))
            continue
        dests = tuple(
            Destination(OUTPUT_NAME if j == OUTPUT else layers[j].name, None if p == pool else p) for j, p in edges
        )
        linked.append(layer.replace(pool=pool, destinations=dests))
    return linked

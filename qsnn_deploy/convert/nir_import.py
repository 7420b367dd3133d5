"""NIR graph → chip :class:`~qsnn_deploy.ir.Network`: every field judged, every change noted (no torch).

Accepts what sinabs, snnTorch, norse and rockpool write, with any nir 1.x layout:
Conv2d, Linear/Affine, SumPool2d/AvgPool2d, Flatten, IF, and LIF/CubaLIF when the leak may be
dropped (``approximate_leak``), as chains or graphs (a node feeding several nodes = several
destinations, several edges into a node = their sum, a pooling node on one branch = that
destination's pooling). Anything else is refused with the node's name and the reason:
:class:`InputError` (exit 3) for what is malformed or unknown, :class:`ConstraintError` (exit 4)
for valid models Speck cannot run (leak, recurrence, merges of unequal shapes, several outputs,
other node types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import SCHEMA_VERSION
from ..errors import ConstraintError, InputError, QsnnError
from ..inputs import is_number, is_whole_number, name_file, short_repr
from ..ir import OUTPUT as OUTPUT_NAME
from ..ir import RESETS, Destination, Network, NetworkMetadata
from .nir_file import RawGraph, RawNode
from .ops import INPUT, OUTPUT, Assembled, Flatten, Neurons, Op, Pool, Synapse, assemble_graph

META_KEY = "qsnn_deploy"
NEWEST_KNOWN_NIR = "1.0.8"
MAX_DIM = 2**20  # no shape, stride or padding of a chip network comes near this; larger is damage

_COMMON = {"input_type", "output_type"}
KNOWN_FIELDS: dict[str, set[str]] = {
    "Input": {"shape"},
    "Output": {"shape"},
    "Conv2d": {"input_shape", "weight", "stride", "padding", "dilation", "groups", "bias"},
    "Affine": {"weight", "bias"},
    "Linear": {"weight"},
    "SumPool2d": {"kernel_size", "stride", "padding"},
    "AvgPool2d": {"kernel_size", "stride", "padding"},
    "Flatten": {"start_dim", "end_dim", "input_type"},
    "IF": {"r", "v_threshold", "v_reset"},
    "LIF": {"tau", "r", "v_leak", "v_threshold", "v_reset"},
    "CubaLIF": {"tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"},
}
UNSUPPORTED: dict[str, str] = {
    "Conv1d": "it is a 1-D convolution; Speck runs 2-D convolutions",
    "LI": "leaky integrators have no spikes; Speck's neurons are integrate-and-fire",
    "CubaLI": "leaky integrators have no spikes; Speck's neurons are integrate-and-fire",
    "I": "integrators without a threshold have no spikes",
    "Scale": "elementwise scaling has no Speck core; fold it into the weights",
    "Threshold": "a stateless threshold is not a Speck neuron; use IF",
    "Delay": "Speck has no synaptic delays",
}


@dataclass(frozen=True)
class ImportOptions:
    """What a NIR graph leaves open, and what may be approximated."""

    input_shape: tuple[int, ...] | None = None  # (C, H, W) when the graph does not say
    approximate_leak: bool = False  # run LIF/CubaLIF as IF: drop the leak (β → 1)
    reset: str | None = None  # IF reset when the graph does not say: "subtract" (default) or "zero"
    dt_us: float | None = None  # time step; for LIF also the dt in the input gain r·dt/τ

    def __post_init__(self) -> None:
        if self.reset is not None and self.reset not in RESETS:
            raise InputError(f"unknown reset '{self.reset}'", fix=f"use {' or '.join(RESETS)}")
        if self.dt_us is not None and not self.dt_us > 0:
            raise InputError(f"time step must be positive, got {self.dt_us} µs")


def _arr(node: RawNode, key: str) -> np.ndarray:
    if key not in node.fields:
        raise InputError(
            f"node '{node.name}' ({node.type}) has no '{key}' field",
            where=f"node {node.name}",
            fix="export the graph again; the file is incomplete",
        )
    try:
        arr = np.asarray(node.fields[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"field '{key}' of node '{node.name}' is not numeric", where=f"node {node.name}") from None
    if not np.all(np.isfinite(arr)):
        raise InputError(
            f"field '{key}' of node '{node.name}' holds NaN or infinite values",
            where=f"node {node.name}",
            fix="the file is damaged, or the model diverged in training",
        )
    return arr


def _ints(node: RawNode, key: str, value: Any = None) -> tuple[int, ...]:
    """Integer values of a field (shape, stride, ...): finite whole numbers of a sane size, else an InputError."""
    raw = node.fields.get(key) if value is None else value
    try:
        arr = np.asarray(raw, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        arr = np.asarray([np.nan])
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(np.abs(arr) > MAX_DIM):
        raise InputError(
            f"field '{key}' of node '{node.name}' is {short_repr(raw)}, not whole numbers up to {MAX_DIM}",
            where=f"node {node.name}",
            fix="the file is damaged; export it again",
        )
    return tuple(int(v) for v in arr)


def _uniform(node: RawNode, key: str, what: str) -> float:
    arr = _arr(node, key).ravel()
    if arr.size == 0:
        raise InputError(f"field '{key}' of node '{node.name}' is empty", where=f"node {node.name}")
    if not np.all(arr == arr[0]):
        raise ConstraintError(
            f"{what} ('{key}') differs between the neurons of '{node.name}' "
            f"({arr.min():g} to {arr.max():g}); Speck has one value per layer",
            where=f"node {node.name}",
            fix="give all neurons of the layer the same value",
        )
    return float(arr[0])


def _pair(node: RawNode, key: str, default: int) -> int:
    raw = node.fields.get(key, default)
    if isinstance(raw, str):
        raise InputError(f"field '{key}' of node '{node.name}' is '{raw}'", where=f"node {node.name}")
    vals = np.asarray(_ints(node, key, raw))
    low = 0 if key == "padding" else 1
    if vals.size and vals.min() < low:
        raise InputError(
            f"field '{key}' of node '{node.name}' is {vals.tolist()}; it must be at least {low}",
            where=f"node {node.name}",
            fix="the file is damaged; export it again",
        )
    if vals.size == 0 or len(set(vals.tolist())) != 1:
        raise ConstraintError(
            f"'{key}' of '{node.name}' differs between height and width ({vals.tolist()}); "
            "Speck needs the same value in x and y",
            where=f"node {node.name}",
        )
    return int(vals[0])


def _check_fields(node: RawNode, version: str | None) -> None:
    if node.type not in KNOWN_FIELDS:
        if node.type in UNSUPPORTED or node.type == "NIRGraph":
            return
        written = f"written by nir {version}" if version else "given"
        raise InputError(
            f"node '{node.name}' has type '{node.type}', which this reader does not know (the graph was "
            f"{written}; known: nir 1.0.0 to {NEWEST_KNOWN_NIR})",
            where=f"node {node.name}",
            fix="export with a nir version up to " + NEWEST_KNOWN_NIR + " or replace the node",
        )
    unknown = sorted(set(node.fields) - KNOWN_FIELDS[node.type] - _COMMON)
    if unknown:
        written = f" (the graph was written by nir {version})" if version else ""
        raise InputError(
            f"node '{node.name}' ({node.type}) has field '{unknown[0]}', which this reader does not know"
            f"{written}; its meaning would be lost",
            where=f"node {node.name}",
            fix=f"export with a nir version up to {NEWEST_KNOWN_NIR}, or remove the field if it "
            "does not change the model",
        )


def _find_cycle(graph: RawGraph) -> tuple[str, str] | None:
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    state: dict[str, int] = {}

    def visit(n: str) -> tuple[str, str] | None:
        state[n] = 1
        for m in succ.get(n, []):
            if state.get(m) == 1:
                return n, m
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = 2
        return None

    for n in graph.nodes:
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def graph_order(graph: RawGraph, where: str) -> list[str]:
    """Node names in a feed-forward order, the input first (Kahn's order; ties go to the node named first in
    the edge list); refuses cycles, nested subgraphs, several inputs or outputs and stray nodes."""
    for a, b in graph.edges:
        for n in (a, b):
            if n not in graph.nodes:
                raise InputError(f"edge {a} → {b} names node '{n}', which the graph does not have", where=where)
    cycle = _find_cycle(graph)
    if cycle:
        raise ConstraintError(
            f"the graph is recurrent (edge {cycle[0]} → {cycle[1]} closes a loop); Speck runs "
            "feed-forward networks only",
            where=f"node {cycle[1]}",
            fix="remove the recurrent connection and retrain",
        )
    for node in graph.nodes.values():
        if node.graph is not None:
            inner = _find_cycle(node.graph)
            if inner:
                raise ConstraintError(
                    f"node '{node.name}' is a recurrent subgraph (edge {inner[0]} → {inner[1]} "
                    "closes a loop); Speck runs feed-forward networks only",
                    where=f"node {node.name}",
                    fix="remove the recurrent connection and retrain",
                )
            raise ConstraintError(
                f"node '{node.name}' is a nested subgraph; only flat graphs are supported",
                where=f"node {node.name}",
                fix="export the model as one flat graph",
            )
    inputs = [n for n, node in graph.nodes.items() if node.type == "Input"]
    if len(inputs) != 1:
        raise InputError(f"the graph has {len(inputs)} Input nodes; a Speck network has exactly one", where=where)
    outputs = [n for n, node in graph.nodes.items() if node.type == "Output"]
    if len(outputs) > 1:
        raise ConstraintError(
            f"the graph has {len(outputs)} Output nodes ({', '.join(outputs)}); a Speck network has a single output",
            where=where,
            fix="export a model with one output",
        )
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    first: dict[str, int] = {inputs[0]: -1}
    for k, (a, b) in enumerate(graph.edges):
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
        first.setdefault(a, k)
        first.setdefault(b, k)

    def reach(start: str, step: dict[str, list[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for m in step.get(todo.pop(), []):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    forward = reach(inputs[0], succ)
    ends = outputs or [n for n in forward if not succ.get(n)]
    if len(ends) > 1:
        raise ConstraintError(
            f"the graph ends in {len(ends)} nodes ({', '.join(sorted(ends))}) and has no Output node; a Speck "
            "network has a single output",
            where=where,
            fix="export a model with one output",
        )
    stray = sorted(set(graph.nodes) - (forward & reach(ends[0], pred)))
    if stray:
        raise InputError(
            f"node '{stray[0]}' is not on the path from the input to the output",
            where=f"node {stray[0]}",
            fix="remove unconnected nodes or add the missing edges",
        )
    waiting = {n: len(pred.get(n, [])) for n in graph.nodes}
    ready, order = [inputs[0]], []
    while ready:
        ready.sort(key=lambda n: first[n])
        n = ready.pop(0)
        order.append(n)
        for m in succ.get(n, []):
            waiting[m] -= 1
            if not waiting[m]:
                ready.append(m)
    return order


def _meta_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _meta_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _input_shape(graph: RawGraph, order: list[str], options: ImportOptions, meta: dict) -> tuple[int, ...]:
    if options.input_shape is not None:
        return tuple(int(v) for v in options.input_shape)
    if "input_shape" in meta:
        return tuple(int(v) for v in meta["input_shape"])
    node = graph.nodes[order[0]]
    shape = np.asarray(_ints(node, "shape") if "shape" in node.fields else ())
    if shape.size and np.all(shape >= 1):
        dims = tuple(int(v) for v in shape)
        if len(dims) == 4 and dims[0] == 1:
            dims = dims[1:]
        if len(dims) in (1, 3):
            return dims
    for name in order[1:]:  # infer from the first node that tells
        n = graph.nodes[name]
        if n.type == "Conv2d" and "input_shape" in n.fields:
            hw = _ints(n, "input_shape")
            if len(hw) == 2:
                return (int(_arr(n, "weight").shape[1]), int(hw[0]), int(hw[1]))
        if n.type == "Flatten" and "input_type" in n.fields:
            dims = _ints(n, "input_type")
            if len(dims) == 3:
                return dims
        if n.type in ("Affine", "Linear"):
            return (int(_arr(n, "weight").shape[1]),)
        if n.type in ("Conv2d", "Flatten"):
            break
    raise InputError(
        "the graph does not say its input shape (its Input node has none)",
        fix="pass the shape of one input frame, e.g. --input-shape 2,34,34",
    )


class _Translator:
    """Turns each node into an op, once, in the graph's feed-forward order, collecting notes."""

    def __init__(self, graph: RawGraph, options: ImportOptions, meta: dict):
        self.graph, self.options, self.meta = graph, options, meta
        self.ours = bool(meta)
        self.layer_meta: dict = meta.get("layers", {})
        self.notes: list[str] = []
        self.current: str | None = None  # layer name of the pending synapse
        self.lif_dt_s: float | None = None

    def layer_name(self, name: str) -> str:
        return name.rsplit(".", 1)[0] if self.ours else name

    def synapse(self, node: RawNode) -> Synapse:
        base = self.layer_name(node.name)
        self.current = base
        weight = _arr(node, "weight")
        bias = _arr(node, "bias") if "bias" in node.fields else None
        if bias is not None and bias.ndim == 0:
            bias = np.full(weight.shape[0], float(bias))
        has_bias = self.layer_meta.get(base, {}).get("has_bias")
        if bias is not None and not (bool(has_bias) if has_bias is not None else bool(np.any(bias != 0))):
            bias = None
        if node.type == "Conv2d":
            if weight.ndim != 4:
                raise InputError(f"Conv2d weight must have 4 dims, got shape {weight.shape}", where=f"node {node.name}")
            if _pair(node, "dilation", 1) != 1 or _pair(node, "groups", 1) != 1:
                raise ConstraintError(
                    f"'{node.name}' is a dilated or grouped convolution; Speck runs plain ones",
                    where=f"node {node.name}",
                    fix="use dilation 1 and groups 1",
                )
            padding = node.fields.get("padding", 0)
            if isinstance(padding, str):
                if padding == "valid":
                    padding = 0
                elif padding == "same" and weight.shape[2] % 2 == 1 and _pair(node, "stride", 1) == 1:
                    padding = weight.shape[2] // 2
                else:
                    raise ConstraintError(
                        f"padding '{padding}' of '{node.name}' has no integer equivalent here",
                        where=f"node {node.name}",
                        fix="use an integer padding",
                    )
                node = RawNode(node.name, node.type, {**node.fields, "padding": padding}, node.metadata)
            declared = node.fields.get("input_shape")
            declared = None if declared is None else _ints(node, "input_shape")
            return Synapse(
                base,
                weight,
                bias,
                _pair(node, "stride", 1),
                _pair(node, "padding", 0),
                declared_input=declared if declared and len(declared) == 2 else None,
            )
        if weight.ndim != 2:
            raise InputError(
                f"{node.type} weight must have 2 dims (out, in), got shape {weight.shape}", where=f"node {node.name}"
            )
        return Synapse(base, weight, bias, dense=True)

    def neurons(self, node: RawNode) -> Neurons:
        lm = self.layer_meta.get(self.current or "", {})
        if "v_reset" in node.fields and np.any(_arr(node, "v_reset") != 0):
            raise ConstraintError(
                f"'{node.name}' resets its neurons to v_reset = {_arr(node, 'v_reset').ravel()[0]:g}; "
                "Speck resets to zero or subtracts the threshold",
                where=f"node {node.name}",
                fix="use v_reset = 0",
            )
        threshold = _uniform(node, "v_threshold", "the threshold")
        if threshold <= 0:
            raise ConstraintError(
                f"'{node.name}' has threshold {threshold:g}; Speck needs a positive threshold",
                where=f"node {node.name}",
            )
        declared = tuple(int(v) for v in _arr(node, "v_threshold").shape) or None
        if node.type == "IF":
            gain, neuron = _uniform(node, "r", "the resistance"), "iaf"
        else:
            gain, neuron = self.leak_gain(node), "iaf"
        if "reset" in lm:
            reset = str(lm["reset"])
        else:
            reset = self.options.reset or "subtract"
        if abs(gain - 1.0) > 1e-6 and not self.ours:
            self.notes.append(f"input gain {gain:g} of '{node.name}' folded into the weights of '{self.current}'")
        return Neurons(node.name, threshold, lm.get("min_v_mem"), reset, gain, neuron, declared)

    def leak_gain(self, node: RawNode) -> float:
        """The input gain of a LIF/CubaLIF run as IF (only with ``approximate_leak``)."""
        tau_key = "tau" if node.type == "LIF" else "tau_mem"
        tau = _uniform(node, tau_key, "the membrane time constant")
        if np.any(_arr(node, "v_leak") != 0):
            raise ConstraintError(
                f"'{node.name}' leaks towards v_leak = {_arr(node, 'v_leak').ravel()[0]:g}; Speck's "
                "neurons have no leak potential",
                where=f"node {node.name}",
                fix="use v_leak = 0",
            )
        r = _uniform(node, "r", "the resistance")
        if not self.options.approximate_leak:
            raise ConstraintError(
                f"'{node.name}' is a {node.type} neuron with time constant {tau:g} s; Speck's neurons do not leak",
                where=f"node {node.name}",
                fix="pass --approximate-leak to run it as IF (the leak is dropped), or retrain with IF neurons",
            )
        for key, value in ((tau_key, tau), ("r", r)):
            if not 0 < value < np.inf:  # both divide below
                raise InputError(
                    f"'{key}' of '{node.name}' is {value:g}; it must be positive and finite", where=f"node {node.name}"
                )
        dt = self.options.dt_us * 1e-6 if self.options.dt_us else float(f"{tau / r:.6g}")
        gain = r * dt / tau
        gain = 1.0 if abs(gain - 1.0) <= 1e-6 else gain
        text = (
            f"{node.type} '{node.name}' runs as IF: leak dropped (τ = {tau:g} s, β = 1 − dt/τ = "
            f"{1 - dt / tau:.4g} → 1), input gain r·dt/τ = {gain:g} with dt = {dt * 1e6:g} µs"
        )
        if node.type == "CubaLIF":
            tau_syn = _uniform(node, "tau_syn", "the synaptic time constant")
            w_in = _uniform(node, "w_in", "the input weight")
            if not 0 < tau_syn < np.inf:
                raise InputError(
                    f"'tau_syn' of '{node.name}' is {tau_syn:g}; it must be positive and finite",
                    where=f"node {node.name}",
                )
            syn_gain = w_in * dt / tau_syn
            gain *= 1.0 if abs(syn_gain - 1.0) <= 1e-6 else syn_gain
            text += f"; synaptic filter dropped (τ_syn = {tau_syn:g} s), gain w_in·dt/τ_syn = {w_in * dt / tau_syn:g}"
        self.notes.append(text)
        if self.lif_dt_s is None:
            self.lif_dt_s = dt
        return gain

    def pool(self, node: RawNode) -> Pool:
        kernel = _pair(node, "kernel_size", 1)
        stride = _pair(node, "stride", kernel) if "stride" in node.fields else kernel
        if stride != kernel or _pair(node, "padding", 0) != 0:
            raise ConstraintError(
                f"pooling '{node.name}' has kernel {kernel}, stride {stride} and padding "
                f"{_pair(node, 'padding', 0)}; Speck pools without overlap or padding",
                where=f"node {node.name}",
                fix="use stride = kernel size and no padding",
            )
        if node.type == "AvgPool2d":
            self.notes.append(f"average pooling '{node.name}' ({kernel}x{kernel}) became sum pooling")
        return Pool(node.name, kernel, node.type == "AvgPool2d")

    def op(self, node: RawNode) -> Op | None:
        if node.type in ("Input", "Output"):
            return None
        if node.type in UNSUPPORTED:
            raise ConstraintError(
                f"node '{node.name}' ({node.type}) cannot run on Speck: {UNSUPPORTED[node.type]}",
                where=f"node {node.name}",
                fix="remove or replace the node and export again",
            )
        if node.type in ("Conv2d", "Affine", "Linear"):
            return self.synapse(node)
        if node.type in ("IF", "LIF", "CubaLIF"):
            return self.neurons(node)
        if node.type in ("SumPool2d", "AvgPool2d"):
            return self.pool(node)
        declared = node.fields.get("input_type")
        return Flatten(node.name, None if declared is None else _ints(node, "input_type"))


_SYNAPSES = ("Conv2d", "Affine", "Linear")
_NEURONS = ("IF", "LIF", "CubaLIF")


def _ops_and_edges(graph: RawGraph, order: list[str], tr: _Translator) -> tuple[list[Op], list[tuple[int, int]]]:
    """The ops of the nodes in ``order`` and the graph's edges between them (:data:`.ops.INPUT`,
    :data:`.ops.OUTPUT` for the Input node and the Output node, or the last node when there is none)."""
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        pred.setdefault(b, []).append(a)
    index: dict[str, int] = {}
    ops: list[Op] = []
    for name in order:
        node = graph.nodes[name]
        if node.type in _NEURONS:  # the layer whose neurons these are: the synapse before (through Flatten)
            before = pred.get(name, [])
            while len(before) == 1 and graph.nodes[before[0]].type == "Flatten":
                before = pred.get(before[0], [])
            if len(before) == 1 and graph.nodes[before[0]].type in _SYNAPSES:
                tr.current = tr.layer_name(before[0])
        op = tr.op(node)
        if op is None:
            index[name] = INPUT if node.type == "Input" else OUTPUT
        else:
            index[name] = len(ops)
            ops.append(op)
    edges = [(index[a], index[b]) for a, b in graph.edges]
    if order[-1] != order[0] and index[order[-1]] != OUTPUT:  # no Output node: the last node is the output
        edges.append((index[order[-1]], OUTPUT))
    return ops, edges


def _destination_entry(d: Any) -> bool:
    """A metadata destination: a layer name, or ``{"name": str, "pool": int | None}``."""
    if isinstance(d, str):
        return True
    return (
        isinstance(d, dict)
        and set(d) == {"name", "pool"}
        and isinstance(d["name"], str)
        and (d["pool"] is None or (is_whole_number(d["pool"]) and d["pool"] >= 1))
    )


def _check_meta(meta: Any, where: str) -> None:
    """The types of what our own files carry in ``metadata.qsnn_deploy`` (a damaged file may hold anything)."""

    def bad(key: str, value: Any) -> InputError:
        return InputError(
            f"metadata '{META_KEY}{'.' + key if key else ''}' is {short_repr(value)}",
            where=where,
            fix="the file is damaged or was edited by hand; convert the model again",
        )

    def whole(v: Any) -> bool:
        return is_whole_number(v, -MAX_DIM, MAX_DIM, integral_floats=True)

    def json_text(v: Any, kind: type) -> bool:
        try:
            return isinstance(v, str) and isinstance(json.loads(v), kind)
        except ValueError:
            return False

    if not isinstance(meta, dict):
        raise bad("", meta)
    top = {
        "schema_version": whole,
        "dt_us": lambda v: is_number(v) and v > 0,
        "input_shape": lambda v: isinstance(v, list) and len(v) in (1, 3) and all(whole(x) and x >= 1 for x in v),
        "extra": lambda v: json_text(v, dict),
        "layers": lambda v: isinstance(v, dict),
        "unsupported": lambda v: json_text(v, list) and all(isinstance(p, list) for p in json.loads(v)),
    }
    per_layer = {
        "scale": lambda v: is_number(v) and v > 0,
        "pool": lambda v: whole(v) and v >= 1,
        "neuron": lambda v: isinstance(v, str),
        "kind": lambda v: v in ("conv", "linear"),
        "destinations": lambda v: json_text(v, list) and all(_destination_entry(d) for d in json.loads(v)),
        "weight_bits": whole,
        "reset": lambda v: v in RESETS,
        "min_v_mem": is_number,
        "has_bias": lambda v: whole(v) or isinstance(v, bool),
    }
    for key, ok in top.items():
        if key in meta and not ok(meta[key]):
            raise bad(key, meta[key])
    for name, entry in meta.get("layers", {}).items():
        if not isinstance(entry, dict):
            raise bad(f"layers.{name}", entry)
        for key, ok in per_layer.items():
            if key in entry and not ok(entry[key]):
                raise bad(f"layers.{name}.{key}", entry[key])


def network_from_raw(graph: RawGraph, options: ImportOptions | None = None, where: str = "NIR graph") -> Assembled:
    """Normalise a NIR graph into a chip network; the notes say what was changed. Every error names ``where``."""
    try:
        return _network_from_raw(graph, options, where)
    except QsnnError as exc:
        raise name_file(exc, where) from None


def _network_from_raw(graph: RawGraph, options: ImportOptions | None, where: str) -> Assembled:
    options = options or ImportOptions()
    meta = _meta_value((graph.metadata or {}).get(META_KEY, {}))
    _check_meta(meta, where)
    if meta:
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION or version < 1:
            raise InputError(
                f"bundle schema version {version} is not supported (this qsnn-deploy reads 1..{SCHEMA_VERSION})",
                where=where,
                fix="upgrade qsnn-deploy or re-run convert",
            )
    for node in graph.nodes.values():
        _check_fields(node, graph.version)
    order = graph_order(graph, where)
    shape = _input_shape(graph, order, options, meta)
    tr = _Translator(graph, options, meta)
    ops, edges = _ops_and_edges(graph, order, tr)
    if not meta:
        if any(isinstance(op, Neurons) for op in ops) and options.reset is None:
            tr.notes.append(
                "NIR does not say whether neurons subtract the threshold or reset to zero when they "
                "spike: assumed subtract (sinabs' and Speck's default; --reset zero for the other)"
            )
        if graph.nodes[order[0]].fields.get("shape") is None and options.input_shape is None:
            tr.notes.append(f"input shape {'x'.join(map(str, shape))} inferred from the first layer")
    dt_us = options.dt_us or float(meta.get("dt_us", 0)) or (tr.lif_dt_s * 1e6 if tr.lif_dt_s else 1000.0)
    extra: NetworkMetadata  # our own file's record as written (_check_meta checked it is a JSON object)
    if meta:
        extra = json.loads(meta["extra"]) if "extra" in meta else {}
    else:
        extra = {"source_format": "nir", "nir_version": graph.version or "in memory"}
    assembled = assemble_graph(ops, edges, shape, dt_us, extra)
    assembled.notes[:0] = tr.notes
    net = assembled.network
    if tr.notes:
        notes = list(net.metadata.get("import_notes", []))
        net.metadata["import_notes"] = tr.notes + [n for n in notes if n not in tr.notes]
    if meta:
        net = _apply_layer_meta(net, meta, where)
    assembled.network = net
    return assembled


def _recorded_edges(net: Network) -> dict[str, list[tuple[str, int]]]:
    """Each layer's ``(destination, pool)`` edges, the output's included."""
    edges: dict[str, list[tuple[str, int]]] = {layer.name: [] for layer in net.layers}
    for i, j, pool in net.edges:
        edges[net.layers[i].name].append((net.layers[j].name, pool))
    edges[net.layers[-1].name].append((OUTPUT_NAME, net.output_pool))
    return edges


def _text(edges: list[tuple[str, int]]) -> str:
    return ", ".join(f"{name} (pool {pool})" for name, pool in sorted(edges)) or "nothing"


def _apply_layer_meta(net: Network, meta: dict, where: str) -> Network:
    """What our own files carry beyond NIR: scales, neuron model, weight bits, unplaced nodes, and the
    layer order, pooling and destinations as written, which must describe the graph the edges do."""
    inconsistent = "the file was edited inconsistently; convert the model again"
    layers = []
    for layer in net.layers:
        m = meta.get("layers", {}).get(layer.name, {})
        changes: dict[str, Any] = {}
        if "scale" in m:
            changes["scale"] = float(m["scale"])
        if "pool" in m:
            changes["pool"] = int(m["pool"])
        if "neuron" in m and hasattr(layer, "neuron"):
            changes["neuron"] = str(m["neuron"])
        changes["destinations"] = None
        if "destinations" in m:
            changes["destinations"] = tuple(
                Destination(d) if isinstance(d, str) else Destination(d["name"], d["pool"])
                for d in json.loads(m["destinations"])
            )
        if "kind" in m and m["kind"] != layer.kind:
            changes["kind"] = str(m["kind"])
        if "weight_bits" in m:
            bits = int(m["weight_bits"])
            if not 2 <= bits <= 8:
                raise InputError(
                    f"layer {layer.name}: weight_bits {bits} is outside 2..8",
                    where=where,
                    fix=inconsistent,
                )
            changes["weight_bits"] = bits
        layers.append(layer.replace(**changes))
    if "layer_order" in meta:
        try:
            names = [str(n) for n in json.loads(meta["layer_order"])]
        except (TypeError, ValueError):
            names = []
        by_name = {layer.name: layer for layer in layers}
        if sorted(names) != sorted(by_name):
            raise InputError(
                f"the graph has layers {', '.join(by_name)} but its metadata lists {short_repr(meta['layer_order'])}",
                where=where,
                fix=inconsistent,
            )
        layers = [by_name[n] for n in names]
    extra: dict[str, Any] = {}
    if "unsupported" in meta and "unsupported" in getattr(Network, "__dataclass_fields__", {}):
        extra["unsupported"] = tuple(tuple(p) for p in json.loads(meta["unsupported"]))
    try:
        recorded = Network(tuple(layers), net.input_shape, net.dt_us, net.metadata, **extra)
    except InputError as exc:
        raise InputError(
            f"the metadata's layer order, pooling or destinations do not make a network: {exc.what}",
            where=where,
            fix=inconsistent,
        ) from None
    graph, said = _recorded_edges(net), _recorded_edges(recorded)
    for name in graph:
        if sorted(graph[name]) != sorted(said[name]):
            raise InputError(
                f"layer {name}: the graph sends its spikes to {_text(graph[name])} but its metadata says "
                f"{_text(said[name])}",
                where=where,
                fix=inconsistent,
            )
    return recorded

"""A torch ``nn.Module`` made of torch and sinabs layers → chip :class:`~qsnn_deploy.ir.Network`.

Supported layers: ``Conv2d``, ``Linear``, ``BatchNorm2d/1d`` right after a convolution or linear layer
(folded into it), ``AvgPool2d``, sinabs ``SumPool2d``, ``Flatten``, sinabs ``IAF``/``IAFSqueeze``
(and ``LIF``/``LIFSqueeze`` with ``approximate_leak``), ``Dropout``/``Identity`` (skipped). ``ReLU``
belongs to ANNs: convert those with :mod:`.ann`.

The forward is traced with ``torch.fx`` (``nn.Sequential`` nested or not, or any module with its own
forward), so it may be a graph: each conv → neurons → [pooling] group is one chip layer; a layer's spikes
may go to several layers, each edge with the pooling applied on that branch; spikes added with ``+``,
``torch.add``, ``Tensor.add`` or sinabs ``Merge`` (two inputs, ``sinabs/layers/merge.py:13``; nested
Merges are one sum of all their inputs, which sinabs' own ``DynapcnnNetwork`` builds but cannot run,
``sinabs/backend/dynapcnn/dynapcnnnetwork_module.py:258-262``) are a merge: a layer fed by several
sources. Refused (exit 4): channel concatenation (``torch.cat``/``stack``, sinabs ``ChannelShift``; see
:data:`CONCAT_REASON`; sinabs silently drops ``torch.cat``, docs/design/graph_networks.md §1), recurrence
(a layer called on its own spikes; sinabs refuses cycles too, ``nir_graph_extractor.py:330-335``), a
stateful module called twice, and adding currents or constants.

Example::

    net = network_from_module(sinabs_model, input_shape=(2, 34, 34))
    write_nir(discretize_network(net), "model.nir")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from ..errors import ConstraintError, InputError
from ..ir import Network, NetworkMetadata
from .ops import INPUT, OUTPUT, Flatten, Neurons, Op, Pool, Synapse, assemble_graph

_SKIP = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
_BATCH_NORMS = (nn.BatchNorm2d, nn.BatchNorm1d)


def _sinabs_layers():
    try:
        import sinabs.layers as sl
    except ImportError:  # pragma: no cover - sinabs is a dependency
        return None
    return sl


def _single(value, what: str, name: str) -> int:
    vals = [int(v) for v in (value if isinstance(value, (tuple, list)) else (value, value))]
    if len(set(vals)) != 1:
        raise ConstraintError(
            f"{what} of '{name}' differs between height and width ({vals}); Speck needs the same value in x and y",
            where=f"module {name}",
        )
    return vals[0]


@overload
def _np(t: torch.Tensor) -> np.ndarray: ...
@overload
def _np(t: torch.Tensor | None) -> np.ndarray | None: ...
def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().double().numpy()


_ADD = ("add", "iadd")
_CONCATS = ("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack")
_RESHAPES = ("flatten", "view", "reshape")

CONCAT_REASON = (
    "samna documents a per-destination channel offset, `feature_shift`, on DynapCNN's CNNLayerDestination "
    "(sinabs FAQ docs/speck/faqs/available_network_arch.md, item 5), but no speck2f source reachable here "
    "confirms it, sinabs 3.1.3 never sets it, and there is nothing to check its result against, so "
    "qsnn-deploy does not emit it"
)
CONCAT_FIX = (
    "add the branches instead (a sum merge, which every Speck core does: events from several cores add): "
    "zero-pad each branch's last convolution to the full channel count, its own weights at its channel offset "
    "and zeros elsewhere (the padded channels never spike, as sinabs.layers.ChannelShift pads spikes with zero "
    "channels), then add the branches with + or sinabs.layers.Merge; the sum holds each branch in its own channels"
)


@dataclass(frozen=True)
class Call:
    """One step of a module's forward: a module, a reshape (``"flatten"``) or a sum (``"add"``).

    ``inputs`` index earlier calls (:data:`INPUT` is the network input); a sum has two or more.
    ``fn`` is what the forward called, for messages (``"add"``, ``"Merge"``, ``"flatten"``, a module's class).
    """

    name: str
    what: nn.Module | str
    inputs: tuple[int, ...]
    fn: str = ""


def _concat_refusal(what: str, where: str) -> ConstraintError:
    return ConstraintError(
        f"{what} to concatenate channels, which qsnn-deploy does not convert: {CONCAT_REASON}",
        where=where,
        fix=CONCAT_FIX,
    )


def _reusable(m: nn.Module) -> bool:
    """A module that may be called more than once: no weights, no buffers, no neuron state."""
    return (
        not any(True for _ in m.parameters()) and not any(True for _ in m.buffers()) and not hasattr(m, "reset_states")
    )


def module_graph(module: nn.Module) -> tuple[list[Call], int]:
    """The calls of ``module``'s forward in order (traced with ``torch.fx``) and the index of the output.

    Sums (``+``, ``torch.add``, ``Tensor.add``, sinabs ``Merge``) are calls with several inputs; sinabs'
    ``Merge`` takes two (``sinabs/layers/merge.py:13``), so ``Merge(Merge(a, b), c)`` is a three-input
    sum here. Refused with :class:`ConstraintError` (exit 4): channel concatenation, a module called on
    its own output (recurrence), a stateful module called twice, and calls Speck cannot run.
    """
    import torch.fx as fx

    class LeafTracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return not isinstance(m, nn.Sequential) and (
                not list(m.children()) or super().is_leaf_module(m, qualname) or type(m).__module__.startswith("sinabs")
            )

    cls = type(module).__name__
    try:
        graph = LeafTracer().trace(module)
    except Exception as exc:
        raise ConstraintError(
            f"cannot follow the forward of {cls} ({type(exc).__name__}: {exc})",
            fix="write the forward so torch.fx can trace it (no branching on tensor values), "
            "or wrap the layers in an nn.Sequential",
        ) from None
    modules = dict(module.named_modules())
    sl = _sinabs_layers()
    index: dict[fx.Node, int] = {}
    calls: list[Call] = []
    first_call: dict[int, fx.Node] = {}  # id(module) → the node of its first call
    ancestors: dict[fx.Node, set[fx.Node]] = {}
    output: int | None = None

    def tensor_inputs(node: fx.Node, args: Any) -> tuple[int, ...]:
        found: list[int] = []
        for a in args:
            if isinstance(a, fx.Node):
                if a not in index:  # a parameter (get_attr) or a helper value: not a tensor flowing through
                    raise ConstraintError(
                        f"the forward of {cls} passes '{a.name}' to '{node.name}', which is not a layer's output",
                        where=f"operation {node.name}",
                        fix="pass tensors only from layer to layer",
                    )
                found.append(index[a])
        return tuple(found)

    for node in graph.nodes:
        ancestors[node] = set().union(*(ancestors[a] | {a} for a in node.all_input_nodes))
        if node.op == "placeholder":
            if INPUT in index.values():
                raise ConstraintError(
                    f"the forward of {cls} takes several inputs; Speck takes one event stream",
                    where=f"argument {node.name}",
                    fix="give the forward one input tensor",
                )
            index[node] = INPUT
        elif node.op == "get_attr":
            continue
        elif node.op == "call_module":
            name = str(node.target)
            m = modules[name]
            if sl is not None and isinstance(m, sl.ChannelShift):
                raise _concat_refusal(f"'{name}' (sinabs ChannelShift) shifts channels", f"module {name}")
            earlier = first_call.get(id(m))
            if earlier is not None and not _reusable(m):
                if earlier in ancestors[node]:
                    raise ConstraintError(
                        f"'{name}' is called again on spikes that come from its own earlier call: a "
                        "recurrence (feedback loop), which Speck does not run",
                        where=f"module {name}",
                        fix="Speck runs feed-forward networks (sinabs refuses loops too, a deadlock risk on the "
                        "chip): remove the feedback path, or give each step its own layers",
                    )
                raise ConstraintError(
                    f"'{name}' is called twice in the forward of {cls}; a Speck core runs each layer once",
                    where=f"module {name}",
                    fix="give each call its own module (copy the weights if they are shared)",
                )
            first_call.setdefault(id(m), node)
            inputs = tensor_inputs(node, (*node.args, *node.kwargs.values()))
            if earlier is not None:
                name = node.name  # a second call of a stateless module (a pooling, a merge): a name of its own
            if sl is not None and isinstance(m, sl.Merge):
                calls.append(Call(name, "add", inputs, "Merge"))
            else:
                if len(inputs) != 1:
                    raise ConstraintError(
                        f"'{name}' takes {len(inputs)} tensors; a layer takes one",
                        where=f"module {name}",
                        fix="add several inputs with + or sinabs.layers.Merge before the layer",
                    )
                calls.append(Call(name, m, inputs, type(m).__name__))
            index[node] = len(calls) - 1
        elif node.op in ("call_function", "call_method"):
            fn = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
            if fn in _CONCATS:
                raise _concat_refusal(f"the forward of {cls} calls '{fn}'", f"operation {node.name}")
            if fn in _RESHAPES:
                inputs = tensor_inputs(node, node.args[:1])
                calls.append(Call(node.name, "flatten", inputs, fn))
            elif fn in _ADD:
                alpha = node.kwargs.get("alpha", 1)
                others = [a for a in node.args if not isinstance(a, fx.Node)]
                if alpha != 1 or any(a != 0 for a in others) or set(node.kwargs) - {"alpha"}:
                    raise ConstraintError(
                        f"the forward of {cls} calls '{fn}' with a constant or a factor; a merge on Speck "
                        "adds spikes as they are",
                        where=f"operation {node.name}",
                        fix="add layer outputs only (a + b), and scale the weights of the layer after instead",
                    )
                inputs = tensor_inputs(node, node.args)
                if len(inputs) == 1:  # 0 + x, the start of Python's sum([...])
                    index[node] = inputs[0]
                    continue
                calls.append(Call(node.name, "add", inputs, fn))
            else:
                raise ConstraintError(
                    f"the forward of {cls} calls '{fn}', which Speck cannot run (a core runs conv → IAF → sum "
                    "pooling; layers may branch, and their spikes may be added)",
                    where=f"operation {node.name}",
                    fix="use layers only, joined with + or sinabs.layers.Merge, or wrap them in an nn.Sequential",
                )
            index[node] = len(calls) - 1
        elif node.op == "output":
            outs = tensor_inputs(node, node.args if not isinstance(node.args[0], (tuple, list)) else node.args[0])
            if len(outs) != 1:
                raise ConstraintError(
                    f"the forward of {cls} returns {len(outs)} tensors; Speck has a single output",
                    where="the forward's return value",
                    fix="return the spikes of the last layer only",
                )
            output = outs[0]
    if output is None:  # pragma: no cover - fx always adds an output node
        raise ConstraintError(f"the forward of {cls} returns nothing")
    return calls, output


def chain_modules(module: nn.Module) -> list[tuple[str, nn.Module | str]]:
    """The modules of ``module`` in call order; reshapes between them appear as ``"flatten"``.

    For chains only (ANN conversion); graphs go through :func:`module_graph`.
    """
    calls, output = module_graph(module)
    for k, call in enumerate(calls):
        if call.inputs != (k - 1,):
            raise ConstraintError(
                "the forward merges several tensors; only chains are supported"
                if len(call.inputs) > 1
                else f"the forward of {type(module).__name__} is not a chain of layers: '{call.name}' does not "
                "take the output of the call before it",
                where=f"operation {call.name}",
            )
    if calls and output != len(calls) - 1:
        raise ConstraintError(
            f"the forward of {type(module).__name__} does not return the output of its last call",
            where=f"operation {calls[-1].name}",
        )
    return [(call.name, call.what) for call in calls]


@dataclass
class _Walker:
    approximate_leak: bool
    relu_threshold: float | None  # set by ANN conversion: ReLU → IF with this threshold
    notes: list[str]

    def neurons(self, name: str, m: nn.Module) -> Neurons:
        sl = _sinabs_layers()
        kind = type(m).__name__
        if "Recurrent" in kind or getattr(m, "rec_connect", None) is not None:
            raise ConstraintError(
                f"'{name}' ({kind}) has recurrent connections; Speck runs feed-forward networks",
                where=f"module {name}",
                fix="use IAF/IAFSqueeze layers without recurrence",
            )
        if getattr(m, "tau_syn", None) is not None:
            raise ConstraintError(
                f"'{name}' ({kind}) has a synaptic time constant; Speck's neurons have none",
                where=f"module {name}",
                fix="use tau_syn=None",
            )
        gain = 1.0
        if kind.startswith("LIF"):
            tau = float(torch.as_tensor(m.tau_mem).detach().flatten()[0])
            if not self.approximate_leak:
                raise ConstraintError(
                    f"'{name}' is a {kind} neuron with time constant {tau:g} steps; Speck's neurons do not leak",
                    where=f"module {name}",
                    fix="pass approximate_leak=True (--approximate-leak) to run it as IAF, or retrain with IAF neurons",
                )
            if getattr(m, "norm_input", False):
                gain = 1.0 - math.exp(-1.0 / tau)
            self.notes.append(f"{kind} '{name}' runs as IAF: leak dropped (τ = {tau:g} steps), input gain {gain:g}")
        threshold = torch.as_tensor(m.spike_threshold).detach().flatten()
        if not torch.all(threshold == threshold[0]):
            raise ConstraintError(
                f"the threshold differs between the neurons of '{name}'; Speck has one per layer",
                where=f"module {name}",
                fix="use one scalar spike_threshold",
            )
        reset = "subtract"
        if sl is not None:
            from sinabs.activation import MembraneReset, MembraneSubtract

            fn = getattr(m, "reset_fn", None)
            if isinstance(fn, MembraneReset):
                if float(getattr(fn, "reset_value", 0.0)) != 0.0:
                    raise ConstraintError(
                        f"'{name}' resets to {fn.reset_value}; Speck resets to zero",
                        where=f"module {name}",
                        fix="use MembraneReset(reset_value=0)",
                    )
                reset = "zero"
            elif isinstance(fn, MembraneSubtract):
                sub = getattr(fn, "subtract_value", None)
                if sub is not None and float(sub) != float(threshold[0]):
                    raise ConstraintError(
                        f"'{name}' subtracts {sub} instead of its threshold on a spike",
                        where=f"module {name}",
                        fix="use MembraneSubtract() (subtract_value=None)",
                    )
            elif fn is not None:
                raise ConstraintError(
                    f"'{name}' uses reset {type(fn).__name__}; Speck subtracts or resets to zero",
                    where=f"module {name}",
                )
        low = getattr(m, "min_v_mem", None)
        if low is None:
            self.notes.append(
                f"'{name}' has no lower membrane bound (sinabs would use -32768, which collapses the "
                "chip scale): using -threshold"
            )
        else:
            low = float(torch.as_tensor(low).flatten()[0])
        return Neurons(name, float(threshold[0]), low, reset, gain)

    def op(self, name: str, m: nn.Module | str) -> Op | nn.BatchNorm2d | nn.BatchNorm1d | None:
        """The op of one chain entry; a batch norm is returned as it is (:func:`module_ops` folds it)."""
        sl = _sinabs_layers()
        if m == "flatten" or isinstance(m, nn.Flatten):
            return Flatten(name)
        if isinstance(m, str):  # pragma: no cover - chain_modules gives no other string
            raise TypeError(f"unknown chain entry {m!r}")
        if isinstance(m, _SKIP):
            return None
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or _single(m.dilation, "dilation", name) != 1:
                raise ConstraintError(
                    f"'{name}' is a dilated or grouped convolution; Speck runs plain ones", where=f"module {name}"
                )
            if m.padding_mode != "zeros":
                raise ConstraintError(
                    f"'{name}' pads with '{m.padding_mode}'; Speck pads with zeros", where=f"module {name}"
                )
            padding: Any = m.padding  # an int, a pair or a name ("valid", "same")
            if isinstance(padding, str):
                padding = 0 if padding == "valid" else m.kernel_size[0] // 2
            return Synapse(
                name, _np(m.weight), _np(m.bias), _single(m.stride, "stride", name), _single(padding, "padding", name)
            )
        if isinstance(m, nn.Linear):
            return Synapse(name, _np(m.weight), _np(m.bias), dense=True)
        if isinstance(m, _BATCH_NORMS):
            return m
        if isinstance(m, nn.AvgPool2d):
            k = _single(m.kernel_size, "kernel size", name)
            s = _single(m.stride if m.stride is not None else m.kernel_size, "stride", name)
            if s != k or _single(m.padding, "padding", name) != 0 or m.ceil_mode:
                raise ConstraintError(
                    f"pooling '{name}' overlaps or pads; Speck pools without overlap or padding",
                    where=f"module {name}",
                    fix="use stride = kernel size, padding 0",
                )
            self.notes.append(f"average pooling '{name}' ({k}x{k}) became sum pooling")
            return Pool(name, k, average=True)
        if sl is not None and isinstance(m, sl.SumPool2d):
            k = _single(m.kernel_size, "kernel size", name)
            s = _single(m.stride if m.stride is not None else m.kernel_size, "stride", name)
            if s != k:
                raise ConstraintError(
                    f"pooling '{name}' overlaps; Speck pools without overlap",
                    where=f"module {name}",
                    fix="use stride = kernel size",
                )
            return Pool(name, k, average=False)
        if isinstance(m, nn.ReLU):
            if self.relu_threshold is None:
                raise ConstraintError(
                    f"'{name}' is a ReLU: this is an ANN, not a spiking network",
                    where=f"module {name}",
                    fix="convert it with `convert --from-ann` or qsnn_deploy.convert.ann",
                )
            return Neurons(name, self.relu_threshold, -self.relu_threshold, "subtract")
        if sl is not None and type(m).__name__ in ("FlattenTime", "UnflattenTime", "Squeeze", "Unsqueeze"):
            return None
        if type(m).__name__ in ("IAF", "IAFSqueeze", "IAFRecurrent", "LIF", "LIFSqueeze", "LIFRecurrent"):
            return self.neurons(name, m)
        if isinstance(m, (nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            raise ConstraintError(
                f"'{name}' is {type(m).__name__}; Speck has only non-overlapping sum pooling",
                where=f"module {name}",
                fix="use AvgPool2d or sinabs SumPool2d",
            )
        raise ConstraintError(
            f"'{name}' is a {type(m).__name__}, which cannot run on Speck",
            where=f"module {name}",
            fix="a Speck core is Conv2d/Linear → IAF → SumPool2d/AvgPool2d",
        )


def _fold_batchnorm(syn: Synapse, name: str, bn: nn.BatchNorm2d | nn.BatchNorm1d) -> Synapse:
    if bn.running_mean is None or bn.running_var is None:
        raise ConstraintError(
            f"batch norm '{name}' has no running statistics, so it cannot be folded",
            where=f"module {name}",
            fix="use track_running_stats=True and train it",
        )
    std = np.sqrt(_np(bn.running_var) + bn.eps)
    gamma = _np(bn.weight) if bn.weight is not None else np.ones_like(std)
    beta = _np(bn.bias) if bn.bias is not None else np.zeros_like(std)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = gamma / std
    if not np.all(np.isfinite(factor)):
        raise InputError(
            f"batch norm '{name}' cannot be folded: a channel's running variance + eps is 0, or a "
            "statistic is NaN or infinite",
            where=f"module {name}",
            fix="give the batch norm eps > 0 and train it (or drop the dead channel)",
        )
    if factor.shape[0] != syn.weight.shape[0]:
        raise InputError(
            f"batch norm '{name}' has {factor.shape[0]} channels but follows a layer with {syn.weight.shape[0]}",
            where=f"module {name}",
        )
    weight = syn.weight * factor.reshape(-1, *([1] * (syn.weight.ndim - 1)))
    bias = syn.bias if syn.bias is not None else np.zeros_like(std)
    return Synapse(syn.name, weight, (bias - _np(bn.running_mean)) * factor + beta, syn.stride, syn.padding, syn.dense)


def module_op_graph(
    module: nn.Module, approximate_leak: bool = False, relu_threshold: float | None = None
) -> tuple[list[Op], list[tuple[int, int]], list[str]]:
    """The ops of a module's forward and the edges between them, for :func:`~.ops.assemble_graph`.

    Skipped modules and sums (``+``, sinabs ``Merge``) are no ops: a sum becomes several edges into the op
    that receives it (nested Merges: one edge per input). Batch norms are folded into the convolution or
    linear layer before them. Returns ``(ops, edges, notes)``; edges join op indices, ``ops.INPUT`` and
    ``ops.OUTPUT``.
    """
    calls, output = module_graph(module)
    walker = _Walker(approximate_leak, relu_threshold, [])
    ops: list[Op] = []
    edges: list[tuple[int, int]] = []
    carries: dict[int, list[int]] = {INPUT: [INPUT]}  # call → the ops whose outputs it carries (summed)

    def op_name(i: int) -> str:
        return "the network input" if i == INPUT else f"the output of '{ops[i].name}'"

    for k, call in enumerate(calls):
        received = [i for c in call.inputs for i in carries[c]]
        if call.what == "add":
            twice = next((i for n, i in enumerate(received) if i in received[:n]), None)
            if twice is not None:
                raise ConstraintError(
                    f"the forward of {type(module).__name__} calls '{call.fn}' on {op_name(twice)} twice; a Speck "
                    "core sends its spikes to each destination once",
                    where=f"operation {call.name}",
                    fix="add different layers' outputs (to double a layer's spikes, double the weights of the "
                    "layer that receives them)",
                )
            carries[k] = received
            continue
        op = walker.op(call.name, call.what)
        if op is None:
            carries[k] = received
        elif isinstance(op, _BATCH_NORMS):
            syn = ops[received[0]] if len(received) == 1 and received[0] != INPUT else None
            if not isinstance(syn, Synapse):
                raise ConstraintError(
                    f"batch norm '{call.name}' does not follow a convolution or linear layer, so it "
                    "cannot be folded into weights",
                    where=f"module {call.name}",
                    fix="put it right after a Conv2d/Linear, or remove it",
                )
            ops[received[0]] = _fold_batchnorm(syn, call.name, op)
            walker.notes.append(f"batch norm '{call.name}' folded into the weights and bias of '{syn.name}'")
            carries[k] = received
        else:
            edges += [(i, len(ops)) for i in received]
            carries[k] = [len(ops)]
            ops.append(op)
    edges += [(i, OUTPUT) for i in carries[output]]
    return ops, edges, walker.notes


def module_ops(
    module: nn.Module, approximate_leak: bool = False, relu_threshold: float | None = None
) -> tuple[list[Op], list[str]]:
    """The ops of a module's layer chain, with batch norms folded; plus notes on what was changed.

    For chains (ANN conversion appends to them); graphs: :func:`module_op_graph`.
    """
    ops, edges, notes = module_op_graph(module, approximate_leak, relu_threshold)
    ends = [INPUT, *range(len(ops)), OUTPUT]
    if edges != list(zip(ends[:-1], ends[1:])):
        raise ConstraintError(
            f"the forward of {type(module).__name__} is not a chain of layers; only chains are supported here",
            fix="convert graphs with network_from_module",
        )
    return ops, notes


def network_from_module(
    module: nn.Module,
    input_shape: tuple[int, int, int],
    dt_us: float = 1000.0,
    approximate_leak: bool = False,
    metadata: NetworkMetadata | None = None,
) -> Network:
    """The float chip network of a spiking torch/sinabs module (discretise it with quant.chip)."""
    ops, edges, notes = module_op_graph(module, approximate_leak)
    meta: NetworkMetadata = {"source_format": "torch", "model_class": type(module).__name__, **(metadata or {})}
    if notes:
        meta["import_notes"] = notes
    return assemble_graph(ops, edges, tuple(input_shape), dt_us, meta).network

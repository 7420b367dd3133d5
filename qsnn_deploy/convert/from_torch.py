"""A torch ``nn.Module`` made of torch and sinabs layers → chip :class:`~qsnn_deploy.ir.Network`.

Supported, in a chain (``nn.Sequential``, nested or not, or any module whose forward calls them one
after the other): ``Conv2d``, ``Linear``, ``BatchNorm2d/1d`` right after a convolution or linear layer
(folded into it), ``AvgPool2d``, sinabs ``SumPool2d``, ``Flatten``, sinabs ``IAF``/``IAFSqueeze``
(and ``LIF``/``LIFSqueeze`` with ``approximate_leak``), ``Dropout``/``Identity`` (skipped). ``ReLU``
belongs to ANNs: convert those with :mod:`.ann`.

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
from .ops import Flatten, Neurons, Op, Pool, Synapse, assemble

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


def chain_modules(module: nn.Module) -> list[tuple[str, nn.Module | str]]:
    """The modules of ``module`` in call order; reshapes between them appear as ``"flatten"``."""
    if isinstance(module, nn.Sequential):
        out: list[tuple[str, nn.Module | str]] = []
        for name, child in module.named_children():
            inner = chain_modules(child) if isinstance(child, nn.Sequential) else [("", child)]
            out += [(f"{name}.{n}" if n else name, m) for n, m in inner]
        return out
    return _traced_chain(module)


def _traced_chain(module: nn.Module) -> list[tuple[str, nn.Module | str]]:
    import torch.fx as fx

    class LeafTracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return not isinstance(m, nn.Sequential) and (
                not list(m.children()) or super().is_leaf_module(m, qualname) or type(m).__module__.startswith("sinabs")
            )

    try:
        graph = LeafTracer().trace(module)
    except Exception as exc:
        raise ConstraintError(
            f"cannot follow the forward of {type(module).__name__} ({type(exc).__name__}: {exc})",
            fix="wrap the layers in an nn.Sequential",
        ) from None
    modules = dict(module.named_modules())
    chain: list[tuple[str, nn.Module | str]] = []
    for node in graph.nodes:
        if node.op == "call_module":
            chain.append((str(node.target), modules[str(node.target)]))
        elif node.op in ("call_function", "call_method"):
            fn = getattr(node.target, "__name__", str(node.target))
            if fn in ("flatten", "view", "reshape"):
                chain.append((node.name, "flatten"))
            else:
                raise ConstraintError(
                    f"the forward of {type(module).__name__} calls '{fn}', which is not a chain of "
                    "layers (Speck runs conv → IAF → pool chains)",
                    where=f"operation {node.name}",
                    fix="wrap the layers in an nn.Sequential",
                )
        if node.op == "call_function" and len([a for a in node.all_input_nodes if a.op != "get_attr"]) > 1:
            raise ConstraintError(
                "the forward merges several tensors; only chains are supported", where=f"operation {node.name}"
            )
    return chain


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
            fix="Speck runs chains of Conv2d/Linear → IAF → SumPool2d/AvgPool2d",
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


def module_ops(
    module: nn.Module, approximate_leak: bool = False, relu_threshold: float | None = None
) -> tuple[list[Op], list[str]]:
    """The ops of a module's layer chain, with batch norms folded; plus notes on what was changed."""
    walker = _Walker(approximate_leak, relu_threshold, [])
    ops: list[Op] = []
    for name, m in chain_modules(module):
        op = walker.op(name, m)
        if isinstance(op, _BATCH_NORMS):
            if not ops or not isinstance(ops[-1], Synapse):
                raise ConstraintError(
                    f"batch norm '{name}' does not follow a convolution or linear layer, so it "
                    "cannot be folded into weights",
                    where=f"module {name}",
                    fix="put it right after a Conv2d/Linear, or remove it",
                )
            ops[-1] = _fold_batchnorm(ops[-1], name, op)
            walker.notes.append(f"batch norm '{name}' folded into the weights and bias of '{ops[-1].name}'")
        elif op is not None:
            ops.append(op)
    return ops, walker.notes


def network_from_module(
    module: nn.Module,
    input_shape: tuple[int, int, int],
    dt_us: float = 1000.0,
    approximate_leak: bool = False,
    metadata: NetworkMetadata | None = None,
) -> Network:
    """The float chip network of a spiking torch/sinabs module (discretise it with quant.chip)."""
    ops, notes = module_ops(module, approximate_leak)
    meta: NetworkMetadata = {"source_format": "torch", "model_class": type(module).__name__, **(metadata or {})}
    if notes:
        meta["import_notes"] = notes
    return assemble(ops, tuple(input_shape), dt_us, meta).network

"""A framework-neutral chain of operations, and how it becomes a chip :class:`~qsnn_deploy.ir.Network`.

Importers (NIR files, torch modules, ANNs) translate their nodes into these few operations; one
function, :func:`assemble`, then applies every normalisation Speck needs, in one place:

- a dense (Linear/Affine) layer becomes a convolution whose kernel covers its whole input;
- average pooling becomes sum pooling, and the next layer's weights are scaled by 1/k²;
- a neuron's input gain (NIR ``r``, a LIF's ``r·dt/τ``) is folded into the weights before it;
- shapes are inferred from the input shape, and shapes the source declares are checked against them.

No torch here: NIR import must stay torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConstraintError, InputError
from ..ir import ChipLayer, Network, NetworkMetadata


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


def assemble(
    ops: list[Op], input_shape: tuple[int, ...], dt_us: float = 1000.0, metadata: NetworkMetadata | None = None
) -> Assembled:
    """Group ``ops`` into chip layers (synapse → neurons → [sum pool]) and build the network.

    Errors name the node: :class:`InputError` for malformed or inconsistent sources (exit 3),
    :class:`ConstraintError` for valid models Speck cannot run (exit 4).
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input shape {input_shape} is not (C, H, W)", fix="give --input-shape C,H,W")
    net_input = shape
    layers: list[ChipLayer] = []
    notes: list[str] = []
    pending: Synapse | None = None
    next_scale, scale_source = 1.0, ""
    for op in ops:
        if isinstance(op, Synapse):
            if pending is not None:
                raise ConstraintError(
                    f"'{pending.name}' feeds '{op.name}' directly, without spiking neurons between "
                    "them; a Speck core is weights → IAF neurons",
                    where=f"node {op.name}",
                    fix="insert an IF node between them or merge the two linear maps",
                )
            weight = _conv_weight(op, shape)
            if next_scale != 1.0:
                weight = weight * next_scale
                notes.append(
                    f"weights of '{op.name}' scaled by {next_scale:g} because {scale_source} became sum pooling"
                )
                next_scale = 1.0
            pending = Synapse(op.name, weight, op.bias, op.stride, op.padding, op.dense)
        elif isinstance(op, Neurons):
            if pending is None:
                raise ConstraintError(
                    f"neurons '{op.name}' do not follow a convolution or dense layer; a Speck core "
                    "is weights → IAF neurons",
                    where=f"node {op.name}",
                    fix="remove the node or put a weight layer before it",
                )
            weight, bias = pending.weight, pending.bias
            if op.gain != 1.0 and abs(op.gain - 1.0) > 1e-6:  # float32 parameters give 1 ± 1e-7
                weight = weight * op.gain
                bias = None if bias is None else np.asarray(bias, dtype=np.float64) * op.gain
            layer = ChipLayer(
                name=pending.name,
                weight=weight,
                input_shape=shape,
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
            layers.append(layer)
            shape, pending = out, None
        elif isinstance(op, Pool):
            if pending is not None:
                raise ConstraintError(
                    f"pooling '{op.name}' sits between '{pending.name}' and its neurons; Speck pools "
                    "the spikes after the neurons",
                    where=f"node {op.name}",
                    fix="move the pooling after the spiking layer",
                )
            if not layers:
                raise ConstraintError(
                    f"pooling '{op.name}' acts on the network input; Speck pools only after a spiking layer",
                    where=f"node {op.name}",
                    fix="bin the events at a lower resolution instead",
                )
            last = layers[-1]
            c, h, w = last.conv_shape
            if op.kernel < 1 or last.pool * op.kernel > min(h, w):
                raise InputError(
                    f"pooling '{op.name}' with kernel {op.kernel} does not fit the {h}x{w} output of '{last.name}'",
                    where=f"node {op.name}",
                )
            layers[-1] = last.replace(pool=last.pool * op.kernel)
            shape = layers[-1].output_shape
            if op.average:
                next_scale /= op.kernel * op.kernel
                scale_source = f"average pooling '{op.name}'"
        elif isinstance(op, Flatten):
            if op.declared_input is not None and len(op.declared_input) == 3:
                _check_declared(op.name, "input", op.declared_input, shape)
        else:  # pragma: no cover - importers only produce the ops above
            raise TypeError(f"unknown op {op!r}")
    if pending is not None:
        raise ConstraintError(
            f"the model ends in '{pending.name}' without spiking neurons after it",
            where=f"node {pending.name}",
            fix="add an IF node after the last weight layer",
        )
    if not layers:
        raise InputError(
            "the model has no weight layer followed by spiking neurons",
            fix="Speck runs chains of Conv2d/Linear → IF → [SumPool2d]",
        )
    if next_scale != 1.0:
        notes.append(
            f"{scale_source} at the end of the model became sum pooling: output counts are "
            f"{1 / next_scale:g}x larger (the class ranking is unchanged)"
        )
    meta: NetworkMetadata = {**(metadata or {})}  # a copy: the caller's record is not changed
    if notes:
        meta["import_notes"] = list(meta.get("import_notes", [])) + notes
    return Assembled(Network(tuple(layers), net_input, float(dt_us), meta), notes)

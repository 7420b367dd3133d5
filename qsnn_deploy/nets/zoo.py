"""The model zoo: declarative architectures, one YAML per model (no torch needed).

A model YAML lists chip layers (each one core: conv → IAF → sum-pool) and training defaults::

    name: digits_speck
    input_shape: [2, 34, 34]        # C, H, W
    n_classes: 10
    neuron: {threshold: 1.0, reset: subtract}   # min_v_mem: default -threshold
    # neuron type (training only, Speck runs iaf): {type: lif, beta: 0.9}, see NEURON_PARAMS
    layers:
      - {type: conv, out_channels: 16, kernel_size: 3, padding: 1, pool: 2}
      - {type: linear, out_features: 10, weight_bits: 4}   # weight_bits: 2..8, default 8 (int8)
    defaults: {epochs: 15, batch_size: 32, lr: 0.002, time_bins: 15}

Graphs (residual blocks, parallel branches, merges): a layer may name its ``inputs:``, a list of earlier
layers (default: the previous layer, so a model without ``inputs:`` is a chain). A layer's input is the sum
of what its inputs send, so their shapes must agree. Each edge is sum-pooled by its source layer's
``pool:``; an input written ``{from: NAME, pool: P}`` pools that edge by ``P`` instead (on the chip each
destination of a core has its own pooling, and a core has two destinations). Layers stay listed in
feed-forward order (no recurrence), the first layer alone takes the network input, and every layer but the
last must be an input of a later one. A residual block::

    layers:
      - {type: conv, name: stem, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
      - {type: conv, name: res1, out_channels: 16, kernel_size: 3, padding: 1}
      - {type: conv, name: res2, out_channels: 16, kernel_size: 3, padding: 1, pool: 2}
      - {type: conv, name: conv3, out_channels: 32, kernel_size: 3, padding: 1, pool: 2,
         inputs: [res2, {from: stem, pool: 2}]}     # res2 (pooled by its own pool: 2) + stem pooled by 2
      - {type: linear, name: fc, out_features: 10}
"""

from __future__ import annotations

import difflib
import importlib.resources
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..inputs import is_number, is_whole_number, read_bytes, short_repr, yaml_from_bytes
from ..ir import RESETS, conv_out_size

_LAYER_KEYS = {
    "conv": {
        "type",
        "name",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "pool",
        "bias",
        "weight_bits",
        "inputs",
    },
    "linear": {"type", "name", "out_features", "bias", "weight_bits", "inputs"},
}
_INPUT_KEYS = {"from", "pool"}  # an input written as a mapping: {from: NAME, pool: P}
_TOP_KEYS = {"name", "description", "input_shape", "n_classes", "neuron", "layers", "defaults", "dataset", "train"}
_NEURON_KEYS = {"threshold", "min_v_mem", "reset"}
# Neuron types and their parameters with defaults (qsnn_deploy.nets.neurons implements them). Only
# "iaf" is the chip's neuron; the others leak and convert needs --approximate-leak for them.
NEURON_PARAMS: dict[str, dict[str, float]] = {
    "iaf": {},
    "lif": {"beta": 0.9},  # membrane decay per step
    "leaky": {"beta": 0.9, "slope": 25.0},  # snnTorch Leaky, fast-sigmoid surrogate slope
    # DECOLLE's constants are per 1 ms step (its DVS inputs are 1 ms frames): ``step_ms`` says how long the step
    # of the decays is, and :func:`at_time_step` turns them into decays per bin of the run before training
    "decolle": {"alpha": 0.9, "beta": 0.85, "alpha_rp": 0.65, "w_rp": 1.0, "slope": 10.0, "step_ms": 1.0},
    "decolle-simple": {"alpha": 0.97, "step_ms": 1.0},
}
_DECAYS = {"alpha", "beta", "alpha_rp"}  # must lie in (0, 1]
PER_MILLISECOND = tuple(t for t, p in NEURON_PARAMS.items() if "step_ms" in p)  # types whose decays are per ms
_DEFAULT_KEYS = {"epochs", "batch_size", "lr", "time_bins"}
# Sizes a declaration may claim (checked before anything is allocated): event coordinates are int16, and
# MAX_WEIGHTS float32 weights are 1 GiB (all of Speck's kernel memory holds 288 Ki weights).
MAX_SIDE = 2**15
MAX_CHANNELS = 2**16
MAX_INPUT_ELEMENTS = 2**26
MAX_WEIGHTS = 2**28


@dataclass(frozen=True)
class LayerInput:
    """One edge into a layer: the source layer's name and the sum pooling on the way (None: the source's ``pool``)."""

    name: str
    pool: int | None = None

    def to_yaml(self) -> str | dict[str, Any]:
        return self.name if self.pool is None else {"from": self.name, "pool": self.pool}


@dataclass(frozen=True)
class LayerDef:
    """One core of the model, as declared."""

    type: str
    name: str
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    padding: int = 0
    pool: int = 1
    bias: bool = False
    weight_bits: int = 8  # signed weight bits in quantisation-aware training and on chip (2..8)
    inputs: tuple[LayerInput, ...] | None = None  # the layers whose spikes add into this one; None: the previous


@dataclass(frozen=True)
class ModelSpec:
    """A validated model declaration."""

    name: str
    input_shape: tuple[int, int, int]
    n_classes: int
    layers: tuple[LayerDef, ...]
    threshold: float = 1.0
    min_v_mem: float | None = None
    reset: str = "subtract"
    neuron_type: str = "iaf"
    neuron_params: dict = field(default_factory=dict)  # the type's parameters, defaults filled in
    defaults: dict = field(default_factory=dict)
    dataset: str = "digits-dvs"
    description: str = ""
    recipe: dict = field(default_factory=dict)  # the YAML's `train:` options (keys in RECIPE_KEYS)

    def sources(self, j: int) -> list[tuple[int, int]]:
        """``(source index, pooling)`` of every edge into layer ``j`` (none for layer 0, which takes the input).

        Assumes a validated spec (:func:`spec_from_dict` checks that every input names an earlier layer)."""
        if j == 0:
            return []
        layer = self.layers[j]
        if layer.inputs is None:
            return [(j - 1, self.layers[j - 1].pool)]
        index = {d.name: i for i, d in enumerate(self.layers)}
        return [(index[e.name], self.layers[index[e.name]].pool if e.pool is None else e.pool) for e in layer.inputs]

    def destinations(self, i: int) -> list[tuple[int, int | None]]:
        """``(destination index, pooling named on that edge or None)`` of every edge out of layer ``i``, in layer
        order (the ``destinations`` of the chip layer; None = the layer's own ``pool``)."""
        name = self.layers[i].name
        out: list[tuple[int, int | None]] = []
        for j, layer in enumerate(self.layers[i + 1 :], start=i + 1):
            if layer.inputs is None:
                if j == i + 1:
                    out.append((j, None))
                continue
            out += [(j, e.pool) for e in layer.inputs if e.name == name]
        return out

    @property
    def is_chain(self) -> bool:
        """Every layer takes the previous one's output pooled by that layer's ``pool`` (no ``inputs:`` graph)."""
        return all(self.sources(j) == [(j - 1, self.layers[j - 1].pool)] for j in range(1, len(self.layers)))

    def conv_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of every layer's output before pooling (a linear layer: (out_features, 1, 1))."""
        return [shape for _, shape in self._shapes()]

    def layer_input_shapes(self) -> list[tuple[int, int, int]]:
        """Input (C, H, W) of every layer (what its first input sends: the merge check makes them all agree);
        linear layers take their whole input."""
        return [shape for shape, _ in self._shapes()]

    def _shapes(self) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
        out: list[tuple[tuple[int, int, int], tuple[int, int, int]]] = []
        for j, layer in enumerate(self.layers):
            src = self.sources(j)
            shape = self.input_shape if j == 0 else _pooled(out[src[0][0]][1], src[0][1])
            out.append((shape, _conv_shape(layer, shape)))
        return out

    def to_dict(self) -> dict[str, Any]:
        neuron = {"threshold": self.threshold, "min_v_mem": self.min_v_mem, "reset": self.reset}
        if self.neuron_type != "iaf":
            neuron |= {"type": self.neuron_type, **self.neuron_params}
        return {
            "name": self.name,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "dataset": self.dataset,
            "neuron": neuron,
            "layers": [_layer_to_dict(layer) for layer in self.layers],
            "defaults": dict(self.defaults),
        } | ({"train": dict(self.recipe)} if self.recipe else {})


def _conv_shape(layer: LayerDef, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """A layer's output (C, H, W) before pooling for input ``shape``."""
    if layer.type == "linear":
        return (layer.out_channels, 1, 1)
    _, h, w = shape
    return (
        layer.out_channels,
        conv_out_size(h, layer.kernel_size, layer.stride, layer.padding),
        conv_out_size(w, layer.kernel_size, layer.stride, layer.padding),
    )


def _pooled(shape: tuple[int, int, int], pool: int) -> tuple[int, int, int]:
    c, h, w = shape
    return (c, h // pool, w // pool)


def _layer_to_dict(layer: LayerDef) -> dict[str, Any]:
    if layer.type == "linear":
        out = {
            "type": "linear",
            "name": layer.name,
            "out_features": layer.out_channels,
            "bias": layer.bias,
            "weight_bits": layer.weight_bits,
        }
    else:
        out = {f.name: getattr(layer, f.name) for f in fields(layer) if f.name != "inputs"}
    if layer.inputs is not None:
        out["inputs"] = [e.to_yaml() for e in layer.inputs]
    return out


# The `train:` keys a model YAML may hold: the TrainConfig fields marked recipe=True (train.config sits above this
# module in the dependency order, so the list stands here; tests/nets/test_zoo.py keeps the two equal).
RECIPE_KEYS = frozenset(
    {
        "augment",
        "bits",
        "denoise_us",
        "feedback_alignment",
        "learning_rule",
        "loss",
        "lr_period",
        "lr_schedule",
        "patience",
        "readouts",
        "shift_px",
        "synop_penalty",
        "synop_target",
        "synop_weights",
        "test_fraction",
        "window_ms",
    }
)


def _unknown(keys: set[Any], allowed: set[str] | frozenset[str], where: str) -> None:
    for key in sorted((k for k in keys if k not in allowed), key=str):
        close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
        raise InputError(f"unknown key {short_repr(key)}", where=where, fix=hint)


def _int(value: Any, key: str, where: str, lo: int = 0, hi: int | None = None) -> int:
    if not is_whole_number(value, lo, hi):
        bound = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise InputError(f"'{key}' must be an integer {bound}, got {short_repr(value)}", where=where)
    return value


def _number(value: Any, key: str, where: str, positive: bool = False) -> float:
    if not is_number(value) or (positive and value <= 0):
        kind = "a positive number" if positive else "a finite number"
        raise InputError(f"'{key}' must be {kind}, got {short_repr(value)}", where=where)
    return float(value)


def _flag(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise InputError(f"'{key}' must be true or false, got {short_repr(value)}", where=where)
    return bool(value)


def _mapping(value: Any, key: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"'{key}' must be a mapping, got {short_repr(value)}", where=where)
    return value


def _check_defaults(defaults: dict, where: str) -> None:
    for key, value in defaults.items():
        if key == "lr":
            _number(value, "defaults.lr", where, positive=True)
        else:
            _int(value, f"defaults.{key}", where, 1)


def _check_size(spec: ModelSpec, where: str) -> None:
    """Refuse declarations too large to build, before any weight is allocated."""
    c, h, w = spec.input_shape
    if h > MAX_SIDE or w > MAX_SIDE or c * h * w > MAX_INPUT_ELEMENTS:
        raise InputError(
            f"input_shape {list(spec.input_shape)} is larger than any event sensor (sides up to "
            f"{MAX_SIDE}, {MAX_INPUT_ELEMENTS} values per frame)",
            where=where,
        )
    for layer, (_c, h, w) in zip(spec.layers, spec.layer_input_shapes()):
        if layer.type == "linear" and h != w:
            raise InputError(
                f"linear layer '{layer.name}' needs a square input, got {h}x{w}",
                where=where,
                fix="pool or crop the previous layer's output to a square",
            )
    weights = spec_weight_count(spec)
    if weights > MAX_WEIGHTS:
        raise InputError(
            f"the model declares {weights} weights, more than the {MAX_WEIGHTS} this tool builds",
            where=where,
            fix="check the channel counts and kernel sizes",
        )


def spec_weight_count(spec: ModelSpec) -> int:
    """How many weights the declared layers hold (what a checkpoint of the model must store)."""
    total = 0
    for layer, (c, h, w) in zip(spec.layers, spec.layer_input_shapes()):
        total += layer.out_channels * c * (h * w if layer.type == "linear" else layer.kernel_size**2)
    return total


def spec_from_dict(data: Any, where: str = "model") -> ModelSpec:
    """Validate a parsed YAML mapping into a :class:`ModelSpec`."""
    if not isinstance(data, dict):
        raise InputError("a model file must be a YAML mapping", where=where)
    _unknown(set(data), _TOP_KEYS, where)
    for key in ("name", "input_shape", "layers"):
        if key not in data:
            raise InputError(f"missing required key '{key}'", where=where)
    for key in ("name", "description", "dataset"):
        if key in data and not isinstance(data[key], (str, int, float)):
            raise InputError(f"'{key}' must be text, got {short_repr(data[key])}", where=where)
    shape = data["input_shape"]
    if not (isinstance(shape, list) and len(shape) == 3):
        raise InputError(f"'input_shape' must be [C, H, W], got {shape!r}", where=where)
    shape = tuple(_int(v, "input_shape", where, 1, MAX_SIDE) for v in shape)
    neuron = _mapping(data.get("neuron"), "neuron", where)
    if isinstance(neuron.get("type", "iaf"), str) and neuron.get("type", "iaf") in NEURON_PARAMS:
        _unknown(
            set(neuron), _NEURON_KEYS | {"type"} | set(NEURON_PARAMS[neuron.get("type", "iaf")]), f"{where}: neuron"
        )
    ntype, nparams = neuron_type_params(
        neuron.get("type", "iaf"),
        {k: v for k, v in neuron.items() if k not in _NEURON_KEYS | {"type"}},
        f"{where}: neuron",
        InputError,
    )
    reset = neuron.get("reset", "subtract")
    if reset not in RESETS:
        raise InputError(
            f"unknown reset {short_repr(reset)}", where=f"{where}: neuron.reset", fix=f"use {' or '.join(RESETS)}"
        )
    defaults = _mapping(data.get("defaults"), "defaults", where)
    _unknown(set(defaults), _DEFAULT_KEYS, f"{where}: defaults")
    _check_defaults(defaults, where)
    # `train:` (a recipe): `qsnn-deploy train` options, each used unless given on the command line
    recipe = _mapping(data.get("train"), "train", where)
    _unknown(set(recipe), RECIPE_KEYS, f"{where}: train")
    for key, value in recipe.items():
        if not isinstance(value, (str, int, float, bool)):
            raise InputError(f"train.{key} must be a single value, got {short_repr(value)}", where=where)
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise InputError("'layers' must be a non-empty list", where=where)
    layers = []
    for i, raw in enumerate(data["layers"]):
        lw = f"{where}: layers[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or raw["type"] not in _LAYER_KEYS:
            raise InputError("each layer needs 'type: conv' or 'type: linear'", where=lw)
        _unknown(set(raw), _LAYER_KEYS[raw["type"]], lw)
        name = raw.get("name", f"{raw['type']}{i}")
        if not isinstance(name, (str, int)):
            raise InputError(f"a layer name must be text, got {short_repr(name)}", where=lw)
        name = str(name)
        inputs = _inputs(raw["inputs"], lw) if "inputs" in raw else None
        bits = _int(raw.get("weight_bits", 8), "weight_bits", lw, 2)
        if bits > 8:
            raise InputError(
                f"'weight_bits' must be in 2..8, got {bits}",
                where=lw,
                fix="Speck stores int8 weights; use 8 or fewer bits",
            )
        if raw["type"] == "linear":
            layers.append(
                LayerDef(
                    "linear",
                    name,
                    _int(raw.get("out_features"), "out_features", lw, 1, MAX_CHANNELS),
                    kernel_size=0,
                    bias=_flag(raw.get("bias", False), "bias", lw),
                    weight_bits=bits,
                    inputs=inputs,
                )
            )
        else:
            layers.append(
                LayerDef(
                    "conv",
                    name,
                    _int(raw.get("out_channels"), "out_channels", lw, 1, MAX_CHANNELS),
                    kernel_size=_int(raw.get("kernel_size", 3), "kernel_size", lw, 1, MAX_SIDE),
                    stride=_int(raw.get("stride", 1), "stride", lw, 1, MAX_SIDE),
                    padding=_int(raw.get("padding", 0), "padding", lw, 0, MAX_SIDE),
                    pool=_int(raw.get("pool", 1), "pool", lw, 1, MAX_SIDE),
                    bias=_flag(raw.get("bias", False), "bias", lw),
                    weight_bits=bits,
                    inputs=inputs,
                )
            )
    _check_graph(layers, where)
    n_classes = _int(data.get("n_classes", layers[-1].out_channels), "n_classes", where, 1)
    spec = ModelSpec(
        name=str(data["name"]),
        input_shape=shape,
        n_classes=n_classes,
        layers=tuple(layers),
        threshold=_number(neuron.get("threshold", 1.0), "neuron.threshold", where, positive=True),
        min_v_mem=None if neuron.get("min_v_mem") is None else _number(neuron["min_v_mem"], "neuron.min_v_mem", where),
        reset=reset,
        neuron_type=ntype,
        neuron_params=nparams,
        defaults=dict(defaults),
        dataset=str(data.get("dataset", "digits-dvs")),
        description=str(data.get("description", "")),
        recipe=dict(recipe),
    )
    _check_size(spec, where)
    _check_shapes(spec, where)
    if spec.layers[-1].out_channels != spec.n_classes:
        raise InputError(
            f"the last layer has {spec.layers[-1].out_channels} outputs but n_classes is {spec.n_classes}", where=where
        )
    return spec


def _inputs(value: Any, where: str) -> tuple[LayerInput, ...]:
    """The ``inputs:`` of a layer: a non-empty list of names or ``{from: NAME, pool: P}`` mappings."""
    fix = "write inputs: [NAME, {from: NAME, pool: P}, ...] naming earlier layers"
    if not isinstance(value, list) or not value:
        raise InputError(f"'inputs' must be a non-empty list of layer names, got {short_repr(value)}", where, fix)
    out = []
    for k, item in enumerate(value):
        iw = f"{where}: inputs[{k}]"
        pool = None
        if isinstance(item, dict):
            _unknown(set(item), _INPUT_KEYS, iw)
            if "from" not in item:
                raise InputError("an input written as a mapping needs 'from: NAME'", where=iw, fix=fix)
            if "pool" in item:
                pool = _int(item["pool"], "pool", iw, 1, MAX_SIDE)
            item = item["from"]
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InputError(f"an input must name a layer, got {short_repr(item)}", where=iw, fix=fix)
        out.append(LayerInput(str(item), pool))
    names = [e.name for e in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"input {', '.join(twice)} is listed twice", where=where, fix="list each input once")
    return tuple(out)


def _check_graph(layers: list[LayerDef], where: str) -> None:
    """Names unique, every input an earlier layer, the first layer fed by the network input alone, every layer
    but the last an input of a later one."""
    index: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.name in index:
            raise InputError(
                f"layers {index[layer.name]} and {i} are both named '{layer.name}'",
                where=f"{where}: layers[{i}]",
                fix="give every layer its own name",
            )
        if layer.name == "output":
            raise InputError(
                "'output' names the readout, not a layer", where=f"{where}: layers[{i}]", fix="rename the layer"
            )
        index[layer.name] = i
    if layers[0].inputs is not None:
        raise InputError(
            f"the first layer '{layers[0].name}' takes the network input and cannot have inputs",
            where=f"{where}: layers[0]",
            fix="drop its 'inputs:', or list the layers it should take first",
        )
    fed: set[int] = set()
    for j, layer in enumerate(layers[1:], start=1):
        if layer.inputs is None:
            fed.add(j - 1)
            continue
        for e in layer.inputs:
            lw = f"{where}: layers[{j}] ({layer.name})"
            if e.name not in index:
                close = difflib.get_close_matches(e.name, list(index), n=1)
                raise InputError(
                    f"input '{e.name}' is not a layer of the model",
                    where=lw,
                    fix=(f"did you mean '{close[0]}'? " if close else "") + "layers: " + ", ".join(index),
                )
            i = index[e.name]
            if i >= j:
                raise InputError(
                    f"input '{e.name}' is "
                    + ("this layer itself" if i == j else f"a later layer (layers[{i}])")
                    + ": that would be a cycle, and the chip runs feed-forward networks only",
                    where=lw,
                    fix="list layers in feed-forward order and take inputs from earlier layers only",
                )
            fed.add(i)
    last = len(layers) - 1
    idle = [layers[i].name for i in range(last) if i not in fed]
    if idle:
        raise InputError(
            f"layer {', '.join(repr(n) for n in idle)} feeds no later layer: only the last layer is the output",
            where=where,
            fix="name it in a later layer's 'inputs:', or remove it",
        )


def _check_shapes(spec: ModelSpec, where: str) -> None:
    """Layer by layer: the pooling an input names leaves something, the inputs send equal shapes (they add), and
    the layer's convolution and own pooling leave something."""
    conv = spec.conv_shapes()
    for j, (layer, (_c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
        lw = f"{where}: layers[{j}]"
        sources = spec.sources(j)
        for e, (i, p) in zip(layer.inputs or (), sources):
            if e.pool is not None and min(conv[i][1:]) // p < 1:
                raise InputError(
                    f"pooling by {p} on the edge from '{e.name}' to '{layer.name}' shrinks its "
                    f"{conv[i][1]}x{conv[i][2]} output to nothing",
                    where=lw,
                    fix=f"pool that edge less: {{from: {e.name}, pool: P}} with P at most {min(conv[i][1:])}",
                )
        sent = [(spec.layers[i].name, p, _pooled(conv[i], p)) for i, p in sources]
        if len({shape for _, _, shape in sent}) > 1:
            listed = ", ".join(f"'{name}' (pool {p}) sends {list(shape)}" for name, p, shape in sent)
            same_channels = f"give {', '.join(repr(name) for name, _, _ in sent)} the same out_channels"
            if len({shape[1:] for _, _, shape in sent}) == 1:  # only the channel counts differ
                fix = same_channels + " (pooling, stride and padding change H and W, not C)"
            else:
                fix = (
                    "change one edge's pooling ({from: NAME, pool: P}) or a layer's stride or padding so that "
                    "every input sends the same [C, H, W]"
                )
                if len({shape[0] for _, _, shape in sent}) > 1:
                    fix += ", and " + same_channels
            raise InputError(
                f"layer '{layer.name}' adds its inputs, so their shapes must agree: {listed}", where=lw, fix=fix
            )
        if (
            layer.type == "conv"
            and (conv_out_size(min(h, w), layer.kernel_size, layer.stride, layer.padding) // layer.pool) < 1
        ):
            raise InputError(
                f"layer '{layer.name}' shrinks its {h}x{w} input to nothing",
                where=lw,
                fix="use a smaller kernel, stride or pool, or more padding",
            )


def neuron_type_params(ntype: Any, params: dict, where: str, error: type = InputError) -> tuple[str, dict]:
    """Validate a neuron type and its parameters → (type, parameters with defaults filled in)."""
    if not isinstance(ntype, str) or ntype not in NEURON_PARAMS:
        close = difflib.get_close_matches(str(ntype), list(NEURON_PARAMS), n=1)
        raise error(
            f"unknown neuron type {short_repr(ntype)}",
            where=where,
            fix=(f"did you mean '{close[0]}'? " if close else "") + "neuron types: " + ", ".join(NEURON_PARAMS),
        )
    allowed = NEURON_PARAMS[ntype]
    for key in params:
        if key not in allowed:
            hint = ", ".join(allowed) if allowed else "none (only threshold, min_v_mem, reset)"
            raise error(
                f"neuron type '{ntype}' has no parameter {short_repr(key)}", where=where, fix=f"its parameters: {hint}"
            )
    out = dict(allowed)
    for key, value in params.items():
        if not is_number(value):
            raise error(f"neuron parameter '{key}' must be a finite number, got {short_repr(value)}", where=where)
        if key in _DECAYS and not 0 < value <= 1:
            raise error(
                f"neuron parameter '{key}' is a decay per step and must lie in (0, 1], got {value!r}", where=where
            )
        if key == "slope" and not value > 0:
            raise error(f"surrogate slope must be > 0, got {value!r}", where=where)
        if key == "step_ms" and not value > 0:
            raise error(
                f"neuron parameter 'step_ms' (the time step its decays are given for) must be > 0 ms, got {value!r}",
                where=where,
            )
        out[key] = float(value)
    return ntype, out


def with_neuron(spec: ModelSpec, ntype: str, **params: float) -> ModelSpec:
    """The spec with another neuron type (CLI ``--neuron``); bad values are usage errors (exit 2)."""
    from ..errors import UsageError

    ntype, nparams = neuron_type_params(ntype, params, "--neuron", UsageError)
    return replace(spec, neuron_type=ntype, neuron_params=nparams)


def at_time_step(spec: ModelSpec, dt_us: float) -> ModelSpec:
    """The spec with its neuron's decays per time bin of ``dt_us``: a neuron whose decays are given per ``step_ms``
    (DECOLLE's types) gets ``d ** (dt / step_ms)`` and ``step_ms = dt``; unchanged when they already are (or the
    neuron has no ``step_ms``). Training calls it once the data's bin length is known."""
    params = spec.neuron_params
    step_ms, dt_ms = params.get("step_ms"), dt_us / 1000
    if step_ms is None or step_ms == dt_ms:
        return spec
    ratio = dt_ms / step_ms
    # a decay too small for a float is a complete one; kept positive so that the spec stays valid
    scaled = {k: max(v**ratio, sys.float_info.min) if k in _DECAYS else v for k, v in params.items()}
    return replace(spec, neuron_params=scaled | {"step_ms": dt_ms})


def with_neuron_option(spec: ModelSpec, text: str) -> ModelSpec:
    """The spec with the neuron of a CLI value ``TYPE`` or ``TYPE:name=value,...`` (e.g. ``lif:beta=0.8``)."""
    from ..errors import UsageError

    ntype, _, rest = str(text).partition(":")
    params: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--neuron: '{item}' has no value", where="--neuron", fix="e.g. --neuron lif:beta=0.8")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise UsageError(
                f"--neuron: cannot read '{item}'",
                where="--neuron",
                fix="write TYPE or TYPE:name=value,..., e.g. --neuron lif:beta=0.8",
            ) from None
    return with_neuron(spec, ntype.strip(), **params)


def per_layer_values(names: list[str], text: str, option: str, model: str = "the model") -> dict[str, str]:
    """Per-layer values from a CLI value: ``v`` (every layer), ``v1,v2,...`` (one per layer, in order) or
    ``name=v,...`` (by name; layers not named are left out). Values stay text for the caller to check."""
    from ..errors import UsageError

    items = [p.strip() for p in str(text).split(",") if p.strip()]
    if items and all("=" in p for p in items):
        table: dict[str, str] = {}
        for p in items:
            name, value = (v.strip() for v in p.split("=", 1))
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                raise UsageError(
                    f"{option} names layer '{name}', which {model} does not have",
                    fix=(f"did you mean '{close[0]}'? " if close else "") + "layers: " + ", ".join(names),
                )
            table[name] = value
        return table
    if len(items) == 1 and "=" not in items[0]:
        return dict.fromkeys(names, items[0])
    if len(items) == len(names) and not any("=" in p for p in items):
        return dict(zip(names, items))
    raise UsageError(
        f"cannot read {option} '{text}'",
        fix=f"give one value, one per layer ({len(names)}: {', '.join(names)}) or name=value pairs",
    )


def with_weight_bits(spec: ModelSpec, bits: str) -> ModelSpec:
    """The spec with per-layer weight bits from a CLI value: ``4`` (every layer), ``8,4,4,8`` (one per
    layer, in order) or ``conv2=4,conv3=4`` (by name; the others keep theirs)."""
    from ..errors import UsageError

    table = per_layer_values([layer.name for layer in spec.layers], bits, "--bits", f"model '{spec.name}'")
    out = []
    for layer in spec.layers:
        if layer.name not in table:
            out.append(layer)
            continue
        value = table[layer.name]
        if not value.isdigit() or not 2 <= int(value) <= 8:
            raise UsageError(
                f"--bits: '{value}' for layer {layer.name} is not a width in 2..8",
                fix="Speck stores int8 weights: use 2 to 8 bits per layer",
            )
        out.append(replace(layer, weight_bits=int(value)))
    return replace(spec, layers=tuple(out))


SENSOR_POOLS = (1, 2, 4, 8)  # integer input downsampling the chip's sensor stage can do
AUTO_MAX_SIDE = 48  # the default network's input: the sensor pooled until its longer side is at most this


def auto_input_size(sensor_size: tuple[int, int, int], max_side: int = AUTO_MAX_SIDE) -> tuple[int, int]:
    """``(W, H)`` the default network takes for a sensor ``(W, H, P)``: the smallest pooling in
    :data:`SENSOR_POOLS` that brings the longer side to ``max_side`` or below."""
    w, h, _ = sensor_size
    factor = next((f for f in SENSOR_POOLS if max(w, h) / f <= max_side), SENSOR_POOLS[-1])
    return -(-w // factor), -(-h // factor)


def default_spec(sensor_size: tuple[int, int, int], n_classes: int, dataset: str) -> ModelSpec:
    """The Speck-ready network ``train`` picks when no ``--model`` is given: digits_speck's three conv → IAF
    → sum-pool cores and linear readout, on the sensor pooled to :func:`auto_input_size`."""
    w, h = auto_input_size(sensor_size)
    p = int(sensor_size[2])
    spec = spec_from_dict(
        {
            "name": f"auto_{w}x{h}_{n_classes}",
            "description": f"default Speck-ready network for {dataset}: {p}x{h}x{w} input (sensor {sensor_size[0]}x"
            f"{sensor_size[1]} pooled), {n_classes} classes; conv 16 s2 → conv 32 pool 2 → conv 32 pool 2 "
            "→ linear",
            "dataset": dataset,
            "input_shape": [p, h, w],
            "n_classes": int(n_classes),
            "neuron": {"threshold": 1.0, "reset": "subtract"},
            "layers": [
                {"type": "conv", "name": "conv1", "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "conv", "name": "conv2", "out_channels": 32, "kernel_size": 3, "padding": 1, "pool": 2},
                {"type": "conv", "name": "conv3", "out_channels": 32, "kernel_size": 3, "padding": 1, "pool": 2},
                {"type": "linear", "name": "fc", "out_features": int(n_classes)},
            ],
            "defaults": {"epochs": 12, "batch_size": 32, "lr": 0.002, "time_bins": 10},
        },
        where=f"default network for {dataset}",
    )
    _, fh, fw = spec.layer_input_shapes()[-1]
    if fh != fw:
        from ..errors import UsageError

        raise UsageError(
            f"the default network's readout needs a square feature map, but a {sensor_size[0]}x"
            f"{sensor_size[1]} sensor pooled to {w}x{h} gives {fw}x{fh}",
            where="train (no --model)",
            fix="pass --model with a network made for this sensor",
        )
    return spec


def zoo_names() -> list[str]:
    """Names of the models shipped in the zoo."""
    root = importlib.resources.files("qsnn_deploy.models")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_spec(name_or_path: str | Path) -> ModelSpec:
    """Load a zoo model by name, or a model YAML by path."""
    text_path = str(name_or_path)
    if text_path.endswith((".yaml", ".yml")) or Path(text_path).exists():
        path = Path(text_path)
        if not path.is_file():
            raise InputError(
                f"model file '{path}' does not exist",
                fix="give a path to a model YAML or a zoo name: " + ", ".join(zoo_names()),
            )
        raw, where = read_bytes(path, "model file"), str(path)
    else:
        names = zoo_names()
        if text_path not in names:
            close = difflib.get_close_matches(text_path, names, n=1)
            raise InputError(
                f"unknown model '{text_path}'",
                fix=(f"did you mean '{close[0]}'? " if close else "") + "zoo models: " + ", ".join(names),
            )
        res = importlib.resources.files("qsnn_deploy.models") / f"{text_path}.yaml"
        raw, where = res.read_bytes(), f"zoo model {text_path}"
    return spec_from_dict(yaml_from_bytes(raw, where, "the model file"), where)

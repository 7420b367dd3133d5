"""The profile file format: a strict schema for ``hw_profiles/*.yaml`` and its validation.

Unknown keys are refused with a suggestion; every error names the file, the dotted key and the problem.
Every numeric fact is a quantity mapping ``{value, unit, source, confidence[, note, range]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import InputError
from ..inputs import is_number, is_whole_number, short_repr
from .profile import (
    ARCHITECTURES,
    PROFILE_SCHEMA_VERSION,
    QUANTITY_KEYS,
    Architecture,
    Core,
    LayerConstraints,
    NeuroCores,
    Profile,
    Quantity,
    suggest,
)

# ---------------------------------------------------------------------------------------------
# Schema: nested dicts of leaves. "*" accepts any key (free-form facts).


@dataclass(frozen=True)
class _Q:
    """Schema leaf: a quantity whose value goes through ``check`` (raises ValueError)."""

    check: Callable[[Any], None]
    required: bool = False


@dataclass(frozen=True)
class _Meta:
    """Schema leaf: plain metadata (not a number with provenance)."""

    convert: Callable[[Any], Any]
    required: bool = False


def _any(v: Any) -> None:
    pass


def _pos_int(v: Any) -> None:
    if not is_whole_number(v, 1):
        raise ValueError(f"expected a positive integer, got {short_repr(v)}")


def _nonneg_number(v: Any) -> None:
    if not is_number(v) or v < 0:
        raise ValueError(f"expected a non-negative number, got {short_repr(v)}")


def _bool(v: Any) -> None:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {short_repr(v)}")


def _pos_int_list(v: Any) -> None:
    if not isinstance(v, tuple) or not all(is_whole_number(x, 1) for x in v):
        raise ValueError(f"expected a list of positive integers, got {short_repr(v)}")


def _nonneg_int_list(v: Any) -> None:
    if not isinstance(v, tuple) or not all(is_whole_number(x, 0) for x in v):
        raise ValueError(f"expected a list of non-negative integers, got {short_repr(v)}")


def _pos_number_or_list(v: Any) -> None:
    vals = v if isinstance(v, tuple) else (v,)
    if any(not is_number(x) or x <= 0 for x in vals):
        raise ValueError(f"expected a positive number or a list of them, got {short_repr(v)}")


def _int_range(v: Any) -> None:
    _nonneg_int_list(v)
    if len(v) != 2 or v[0] > v[1]:
        raise ValueError(f"expected [min, max] with min <= max, got {list(v)}")


def _size2(v: Any) -> None:
    _pos_int_list(v)
    if len(v) != 2:
        raise ValueError(f"expected [height, width], got {list(v)}")


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {short_repr(v)}")
    return v


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"expected a list of names, got {short_repr(v)}")
    return tuple(v)


def _str_map(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise ValueError("expected a mapping of source ids to citations (text: text)")
    return dict(v)


def _board_map(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) and k and x for k, x in v.items()):
        raise ValueError("expected a mapping of samna device type names to sinabs board names (text: text)")
    return dict(v)


def _architecture(v: Any) -> Architecture:
    if v not in ARCHITECTURES:
        near = suggest(str(v), ARCHITECTURES)
        raise ValueError(
            f"unknown architecture {short_repr(v)} (known: {', '.join(ARCHITECTURES)})"
            + (f"; did you mean '{near}'?" if near else "")
        )
    return Architecture(v)


def _version(v: Any) -> int:
    if not is_whole_number(v):
        raise ValueError(f"expected an integer, got {short_repr(v)}")
    return int(v)


#: a level of the schema: key → leaf, or a nested level
Schema: TypeAlias = "dict[str, _Q | _Meta | Schema]"

SCHEMA: Schema = {
    "schema_version": _Meta(_version, required=True),
    "name": _Meta(_str, required=True),
    "description": _Meta(_str),
    "architecture": _Meta(_architecture),
    "family": _Meta(_str),
    "aliases": _Meta(_str_list),
    "samna_module": _Meta(_str),
    "samna_devices": _Meta(_board_map),
    "notes": _Meta(_str_list),
    "sources": _Meta(_str_map),
    "cores": {
        "count": _Q(_pos_int),
        # layer-per-core chips: memory of each core, in words
        "kernel_memory": _Q(_nonneg_int_list),
        "neuron_memory": _Q(_nonneg_int_list),
        "bias_memory": _Q(_nonneg_int_list),
        "destinations": _Q(_pos_int),
        "synops_ceiling": _Q(_pos_number_or_list),
        # neuron-cores chips: limits of every (identical) core
        "neurons": _Q(_pos_int),
        "synaptic_memory": _Q(_pos_int),
        "fan_in": _Q(_pos_int),
    },
    "numerics": {"weight_bits": _Q(_pos_int), "state_bits": _Q(_pos_int)},
    "constraints": {
        "square_kernel": _Q(_bool),
        "max_kernel_size": _Q(_pos_int),
        "strides": _Q(_pos_int_list),
        "padding": _Q(_int_range),
        "pooling": _Q(_pos_int_list),
        "max_channels": _Q(_pos_int),
        "max_input_size": _Q(_size2),
        "max_output_size": _Q(_size2),
    },
    # the on-chip event sensor (DVS) of a sensor-processor chip: pixels (W, H) and polarities
    "sensor": {"resolution": _Q(_size2), "polarities": _Q(_pos_int)},
    # latency terms: per_layer (event-driven pipeline); per_synop, per_neuron_update, timestep_min (time-stepped)
    "latency": {
        "per_layer": _Q(_nonneg_number),
        "per_synop": _Q(_nonneg_number),
        "per_neuron_update": _Q(_nonneg_number),
        "timestep_min": _Q(_nonneg_number),
    },
    "power": {"static": _Q(_nonneg_number), "sensor": _Q(_nonneg_number), "idle_rails": {"*": _Q(_nonneg_number)}},
    # energy terms, each multiplied by its activity count (see qsnn_deploy.hw.energy)
    "energy": {
        "per_synop": _Q(_nonneg_number),
        "per_spike": _Q(_nonneg_number),
        "per_neuron_update": _Q(_nonneg_number),
        "per_mac": _Q(_nonneg_number),
    },
    "info": {"*": _Q(_any)},
}


def _err(file: str, key: str, what: str, fix: str | None = None) -> InputError:
    return InputError(f"invalid hardware profile: {what}", where=f"{file}, key '{key}'", fix=fix)


def _check_keys(raw: Mapping[Any, Any], allowed: Sequence[str], file: str, prefix: str) -> None:
    for k in raw:
        if k not in allowed:
            dotted = f"{prefix}{k}"
            near = suggest(k, allowed)
            fix = (f"did you mean '{near}'? " if near else "") + f"allowed keys here: {', '.join(allowed)}"
            raise InputError(f"unknown key '{k}' in hardware profile", where=f"{file}, key '{dotted}'", fix=fix)


def _quantity(raw: Any, leaf: _Q, file: str, key: str) -> Quantity:
    if not isinstance(raw, dict):
        raise _err(
            file,
            key,
            f"expected a mapping {{value, unit, source, confidence}}, got {short_repr(raw)}",
            fix="write every number as {value: ..., unit: ..., source: ..., confidence: ...}",
        )
    _check_keys(raw, QUANTITY_KEYS, file, key + ".")
    for k in ("value", "source", "confidence"):
        if k not in raw:
            raise _err(file, f"{key}.{k}", f"missing '{k}'", fix="every number needs value, source and confidence")
    for k in ("unit", "source", "confidence", "note"):
        if k in raw and not isinstance(raw[k], str):
            raise _err(file, f"{key}.{k}", f"expected text, got {short_repr(raw[k])}")
    value = raw["value"]
    if isinstance(value, list) and not all(is_number(x) for x in value):
        raise _err(file, f"{key}.value", f"expected a number or a list of numbers, got {short_repr(value)}")
    if not isinstance(value, (bool, int, float, str, list)):
        raise _err(file, f"{key}.value", f"expected a number, a boolean or a list of numbers, got {short_repr(value)}")
    rng = raw.get("range")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(is_number(x) for x in rng)):
        raise _err(file, f"{key}.range", f"expected [low, high], got {short_repr(rng)}")
    try:
        q = Quantity(
            value=raw["value"],
            unit=raw.get("unit", ""),
            source=raw["source"],
            confidence=raw["confidence"],
            note=raw.get("note", ""),
            range=raw.get("range"),
        )
        leaf.check(q.value)
    except InputError as e:
        raise _err(file, key, e.what, fix=e.fix) from None
    except (ValueError, TypeError) as e:
        raise _err(file, f"{key}.value", str(e)) from None
    return q


def _walk(raw: Any, schema: Schema, file: str, prefix: str, out: dict[str, Any]) -> None:
    if not isinstance(raw, dict):
        raise _err(file, prefix.rstrip(".") or "<top level>", f"expected a mapping, got {short_repr(raw)}")
    if "*" not in schema:
        _check_keys(raw, list(schema), file, prefix)
    for k, v in raw.items():
        leaf = schema.get(k, schema.get("*"))
        assert leaf is not None  # _check_keys refused the keys the schema does not name
        key = f"{prefix}{k}"
        if isinstance(leaf, dict):
            _walk(v, leaf, file, key + ".", out)
        elif isinstance(leaf, _Q):
            out[key] = _quantity(v, leaf, file, key)
        else:
            try:
                out[key] = leaf.convert(v)
            except ValueError as e:
                raise _err(file, key, str(e)) from None
    for k, leaf in schema.items():
        if k == "*" or k in raw:
            continue
        if getattr(leaf, "required", False):
            raise _err(file, f"{prefix}{k}", "required key is missing")
        if isinstance(leaf, dict):
            req = [x for x, lf in leaf.items() if getattr(lf, "required", False)]
            if req:
                raise _err(file, f"{prefix}{k}.{req[0]}", "required key is missing")


def profile_from_dict(raw: Any, file: str = "<profile>") -> Profile:
    """Validate a parsed profile document and build a :class:`Profile`."""
    flat: dict[str, Any] = {}
    _walk(raw, SCHEMA, file, "", flat)
    if flat["schema_version"] != PROFILE_SCHEMA_VERSION:
        raise _err(
            file,
            "schema_version",
            f"version {flat['schema_version']} is not supported",
            fix=f"use schema_version: {PROFILE_SCHEMA_VERSION}",
        )
    quantities = {k: v for k, v in flat.items() if isinstance(v, Quantity)}
    arch: Architecture = flat.get("architecture", Architecture.LAYER_PER_CORE)
    needed = {
        Architecture.LAYER_PER_CORE: ("kernel_memory", "neuron_memory", "bias_memory"),
        Architecture.NEURON_CORES: ("count", "neurons", "synaptic_memory"),
        Architecture.DENSE_ACCELERATOR: (),
    }[arch]
    for k in needed:
        if f"cores.{k}" not in quantities:
            raise _err(file, f"cores.{k}", "required key is missing", fix=f"a {arch} profile needs cores.{k}")
    allowed = (
        set(needed)
        | {
            Architecture.LAYER_PER_CORE: {"count", "destinations", "synops_ceiling"},
            Architecture.NEURON_CORES: {"fan_in"},
            Architecture.DENSE_ACCELERATOR: set(),
        }[arch]
    )
    for key in quantities:
        if key.startswith("cores.") and key[6:] not in allowed:
            raise _err(
                file,
                key,
                f"does not apply to a {arch} chip",
                fix=f"remove it, or set 'architecture' to the chip's kind ({', '.join(ARCHITECTURES)})",
            )
    neuro = None
    if arch == Architecture.NEURON_CORES:
        count, neurons, synaptic_memory = (int(quantities[f"cores.{k}"].number) for k in needed)
        neuro = NeuroCores(
            count,
            neurons,
            synaptic_memory,
            fan_in=None if "cores.fan_in" not in quantities else int(quantities["cores.fan_in"].number),
        )
    if arch != Architecture.LAYER_PER_CORE:
        return _build(flat, quantities, (), file, arch, neuro)
    mems = {k: _ints(quantities[f"cores.{k}"]) for k in ("kernel_memory", "neuron_memory", "bias_memory")}
    n = len(mems["kernel_memory"])
    for k, v in mems.items():
        if len(v) != n:
            raise _err(file, f"cores.{k}", f"lists {len(v)} cores but cores.kernel_memory lists {n}")
    if "cores.count" in quantities and quantities["cores.count"].value != n:
        raise _err(file, "cores.count", f"says {quantities['cores.count'].value} cores but the memory lists have {n}")
    ceiling: tuple[float | None, ...] = (None,) * n
    if "cores.synops_ceiling" in quantities:
        c = quantities["cores.synops_ceiling"].value
        c = c if isinstance(c, tuple) else (c,)
        if len(c) not in (1, n):
            raise _err(file, "cores.synops_ceiling", f"lists {len(c)} values; give one, or one per core ({n})")
        ceiling = tuple(float(x) for x in (c * n if len(c) == 1 else c))
    cores = tuple(
        Core(i, mems["kernel_memory"][i], mems["neuron_memory"][i], mems["bias_memory"][i], ceiling[i])
        for i in range(n)
    )
    return _build(flat, quantities, cores, file, arch, None)


def _ints(q: Quantity) -> tuple[int, ...]:
    """The value of a quantity whose leaf check allowed only a list of integers."""
    if not isinstance(q.value, tuple) or not all(isinstance(x, int) for x in q.value):
        raise TypeError(f"quantity {q.value!r} is not a list of integers")
    return tuple(int(x) for x in q.value)


def _build(
    flat: dict[str, Any],
    quantities: dict[str, Quantity],
    cores: tuple[Core, ...],
    file: str,
    arch: Architecture,
    neuro: NeuroCores | None,
) -> Profile:
    def get(key: str) -> Quantity | None:
        return quantities.get(f"constraints.{key}")

    def integer(key: str) -> int | None:
        q = get(key)
        return None if q is None else int(q.number)

    def integers(key: str) -> tuple[int, ...] | None:
        q = get(key)
        return None if q is None else _ints(q)

    def pair(key: str) -> tuple[int, int] | None:
        q = get(key)
        if q is None:
            return None
        a, b = _ints(q)  # the leaf check allowed two numbers only
        return a, b

    try:
        square = get("square_kernel")
        constraints = LayerConstraints(
            square_kernel=bool(square is not None and square.value),
            max_kernel_size=integer("max_kernel_size"),
            strides=integers("strides"),
            padding=pair("padding"),
            pooling=integers("pooling"),
            max_channels=integer("max_channels"),
            max_input_size=pair("max_input_size"),
            max_output_size=pair("max_output_size"),
            destinations=None
            if "cores.destinations" not in quantities
            else int(quantities["cores.destinations"].number),
        )
        return Profile(
            name=flat["name"],
            cores=cores,
            constraints=constraints,
            quantities=quantities,
            description=flat.get("description", ""),
            family=flat.get("family", ""),
            aliases=flat.get("aliases", ()),
            samna_module=flat.get("samna_module"),
            samna_devices=flat.get("samna_devices", {}),
            sources=flat.get("sources", {}),
            path=file,
            schema_version=flat["schema_version"],
            architecture=arch,
            neuro_cores=neuro,
            notes=flat.get("notes", ()),
        )
    except InputError as e:
        raise InputError(f"invalid hardware profile: {e.what}", where=file, fix=e.fix) from None

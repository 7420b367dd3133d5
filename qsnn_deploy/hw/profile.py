"""Hardware profiles: chip facts as data (``hw_profiles/*.yaml``), every number with its provenance.

Dataclasses (:class:`Quantity`, :class:`Core`, :class:`NeuroCores`, :class:`LayerConstraints`,
:class:`Profile`) and the loader; the file format and its validation live in :mod:`qsnn_deploy.hw.schema`.

A profile declares its ``architecture``, which decides how the network is placed and checked:

- ``layer-per-core``: each layer takes one whole core (conv → IAF → sum-pool), cores assigned by
  bipartite matching on kernel/neuron/bias memory (Speck, DynapCNN);
- ``neuron-cores``: the neurons of each layer are spread over many identical cores, with a limit on
  neurons, synaptic memory and input axons per core; the chip advances in time steps (Loihi);
- ``dense-accelerator``: a conventional digital accelerator that runs the same network as an ANN,
  one dense pass per inference (energy per MAC); no capacity model.
"""

from __future__ import annotations

import difflib
import enum
import importlib.resources
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

from ..errors import InputError
from ..inputs import is_number, is_whole_number, read_bytes, yaml_from_bytes
from .memory import LayerMemory

PROFILE_SCHEMA_VERSION = 1
PROFILE_PACKAGE = "qsnn_deploy.hw_profiles"


class Architecture(enum.StrEnum):
    """How a chip places and checks a network: a profile's ``architecture`` (see the module docstring). A
    ``StrEnum``: each member is its YAML text, so it compares equal to that text and prints and serialises as it."""

    LAYER_PER_CORE = "layer-per-core"
    NEURON_CORES = "neuron-cores"
    DENSE_ACCELERATOR = "dense-accelerator"


#: every architecture, in the order error messages list them
ARCHITECTURES: tuple[Architecture, ...] = tuple(Architecture)

#: Provenance tags, strongest first (reference/chips.md §0).
CONFIDENCES = ("measured", "published", "simulated", "derived", "secondary", "assumed")
QUANTITY_KEYS = ("value", "unit", "source", "confidence", "note", "range")


#: a quantity's value once validated: a number (an int stays an int), a bool, or a non-empty tuple of numbers
QuantityValue: TypeAlias = bool | float | tuple[float, ...]


def suggest(word: object, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def weakest_confidence(tags: Iterable[str | None]) -> str | None:
    """The least trustworthy tag among ``tags`` (None if empty)."""
    tags = [t for t in tags if t]
    return max(tags, key=CONFIDENCES.index) if tags else None


@dataclass(frozen=True)
class Quantity:
    """One chip fact: a value (number, bool or tuple of numbers; a list is made a tuple) with unit and provenance."""

    value: QuantityValue
    unit: str
    source: str
    confidence: str
    note: str = ""
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, list):
            v = tuple(v)
            object.__setattr__(self, "value", v)
        if isinstance(v, tuple):
            if not v or not all(is_number(x) for x in v):
                raise InputError(f"value {list(v)} must be a non-empty list of finite numbers")
        elif not (isinstance(v, bool) or is_number(v)):
            hint = None
            if isinstance(v, str):
                try:
                    float(v)
                    hint = "YAML 1.1 reads 1.0e8 as text: write the exponent with a sign (1.0e+8)"
                except ValueError:
                    pass
            raise InputError(f"value {v!r} is not a number, a boolean or a list of numbers", fix=hint)
        if not isinstance(self.unit, str):
            raise InputError(f"unit {self.unit!r} must be text")
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError("every number needs a non-empty 'source'")
        if self.confidence not in CONFIDENCES:
            near = suggest(self.confidence, CONFIDENCES)
            raise InputError(
                f"confidence {self.confidence!r} is not one of {', '.join(CONFIDENCES)}",
                fix=f"did you mean '{near}'" if near else None,
            )
        if not isinstance(self.note, str):
            raise InputError(f"note {self.note!r} must be text")
        if self.range is not None:
            r = tuple(self.range)
            if len(r) != 2 or not all(is_number(x) for x in r) or r[0] > r[1]:
                raise InputError(f"range {list(r)} must be two numbers [low, high] with low <= high")
            if is_number(v) and not r[0] <= v <= r[1]:
                raise InputError(f"value {v} lies outside its range [{r[0]}, {r[1]}]")
            object.__setattr__(self, "range", r)

    @property
    def number(self) -> float:
        """The value of a one-number quantity as given (an int stays an int; a bool counts as 0 or 1). The schema
        decides which keys hold lists: asking a list for its number is a caller's bug (TypeError)."""
        if isinstance(self.value, tuple):
            raise TypeError(f"quantity {list(self.value)} is a list, not one number")
        return self.value

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "value": list(self.value) if isinstance(self.value, tuple) else self.value,
            "unit": self.unit,
            "source": self.source,
            "confidence": self.confidence,
        }
        if self.note:
            d["note"] = self.note
        if self.range is not None:
            d["range"] = list(self.range)
        return d


@dataclass(frozen=True)
class Core:
    """One core's memories in words (as the chip counts them) and its SynOps/s ceiling."""

    index: int
    kernel_memory: int
    neuron_memory: int
    bias_memory: int
    synops_ceiling: float | None = None

    def __post_init__(self) -> None:
        for name in ("index", "kernel_memory", "neuron_memory", "bias_memory"):
            v = getattr(self, name)
            if not is_whole_number(v, 0):
                raise InputError(f"core {name} must be a non-negative integer, got {v!r}")
        if self.synops_ceiling is not None and not (is_number(self.synops_ceiling) and self.synops_ceiling > 0):
            raise InputError(f"core synops_ceiling must be a positive number, got {self.synops_ceiling!r}")

    def fits(self, memory: LayerMemory) -> bool:
        """True if a layer's memory fits this core."""
        return (
            memory.kernel <= self.kernel_memory
            and memory.neuron <= self.neuron_memory
            and memory.bias <= self.bias_memory
        )


@dataclass(frozen=True)
class NeuroCores:
    """Identical cores of a ``neuron-cores`` chip; ``None`` limits are not checked."""

    count: int
    neurons: int  # neurons (compartments) per core
    synaptic_memory_bytes: int  # synaptic memory per core
    fan_in: int | None = None  # input axons per core

    def __post_init__(self) -> None:
        for name in ("count", "neurons", "synaptic_memory_bytes", "fan_in"):
            v = getattr(self, name)
            if v is None and name == "fan_in":
                continue
            if not is_whole_number(v, 1):
                raise InputError(f"neuron-core {name} must be a positive integer, got {v!r}")


@dataclass(frozen=True)
class LayerConstraints:
    """Per-layer limits; ``None`` means the chip has no such limit (the rule is skipped)."""

    square_kernel: bool = False
    max_kernel_size: int | None = None
    strides: tuple[int, ...] | None = None
    padding: tuple[int, int] | None = None  # inclusive [min, max]
    pooling: tuple[int, ...] | None = None
    max_channels: int | None = None
    max_input_size: tuple[int, int] | None = None  # (H, W) entering the convolution
    max_output_size: tuple[int, int] | None = None  # (H, W) of the convolution output (neuron array)
    destinations: int | None = None

    def __post_init__(self) -> None:
        if self.padding is not None and not (len(self.padding) == 2 and 0 <= self.padding[0] <= self.padding[1]):
            raise InputError(f"padding range {self.padding} must be [min, max] with 0 <= min <= max")
        for name in ("strides", "pooling"):
            v = getattr(self, name)
            if v is not None and (not v or any(x < 1 for x in v)):
                raise InputError(f"{name} {v} must be a non-empty list of positive integers")


@dataclass(frozen=True, eq=False)
class Profile:
    """A chip: cores, layer constraints, and every numeric fact (``quantities``) with provenance."""

    name: str
    cores: tuple[Core, ...]
    constraints: LayerConstraints = field(default_factory=LayerConstraints)
    quantities: Mapping[str, Quantity] = field(default_factory=dict)
    description: str = ""
    family: str = ""
    aliases: tuple[str, ...] = ()
    samna_module: str | None = None
    #: samna's ``device_type_name`` of each board with this chip → sinabs' name for it (the first is the
    #: default board); their names are aliases of the profile too
    samna_devices: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None
    schema_version: int = PROFILE_SCHEMA_VERSION
    architecture: Architecture = Architecture.LAYER_PER_CORE
    neuro_cores: NeuroCores | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("a profile needs a non-empty name")
        object.__setattr__(self, "cores", tuple(self.cores))
        object.__setattr__(self, "samna_devices", MappingProxyType(dict(self.samna_devices)))
        names = [*self.aliases, *(n for t, sinabs in self.samna_devices.items() for n in (sinabs, board_key(t)))]
        object.__setattr__(self, "aliases", tuple(dict.fromkeys(n for n in names if n.lower() != self.name.lower())))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "quantities", MappingProxyType(dict(self.quantities)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        if self.architecture not in ARCHITECTURES:
            near = suggest(self.architecture, ARCHITECTURES)
            raise InputError(
                f"unknown architecture '{self.architecture}' (known: {', '.join(ARCHITECTURES)})",
                fix=f"did you mean '{near}'" if near else None,
            )
        object.__setattr__(self, "architecture", Architecture(self.architecture))  # text given: its member
        if self.architecture == Architecture.LAYER_PER_CORE and not self.cores:
            raise InputError(f"profile {self.name} has no cores")
        if self.architecture == Architecture.NEURON_CORES and self.neuro_cores is None:
            raise InputError(f"profile {self.name} is a neuron-cores chip but gives no neuron-core limits")
        if [c.index for c in self.cores] != list(range(len(self.cores))):
            raise InputError(f"profile {self.name}: core indices must be 0..{len(self.cores) - 1} in order")
        if self.schema_version != PROFILE_SCHEMA_VERSION:
            raise InputError(
                f"profile schema_version {self.schema_version} is not supported",
                fix=f"use schema_version: {PROFILE_SCHEMA_VERSION}",
            )

    def quantity(self, key: str) -> Quantity | None:
        """The quantity at a dotted key (``"power.static"``), or None."""
        return self.quantities.get(key)

    def _int(self, key: str) -> int | None:
        q = self.quantity(key)
        return None if q is None else int(q.number)

    @property
    def weight_bits(self) -> int | None:
        return self._int("numerics.weight_bits")

    @property
    def state_bits(self) -> int | None:
        return self._int("numerics.state_bits")

    @property
    def latency_per_layer(self) -> Quantity | None:
        return self.quantity("latency.per_layer")

    @property
    def static_power(self) -> Quantity | None:
        return self.quantity("power.static")

    @property
    def sensor_power(self) -> Quantity | None:
        return self.quantity("power.sensor")

    @property
    def sensor_size(self) -> tuple[int, int, int] | None:
        """(W, H, P) of the on-chip event sensor (``sensor.resolution``, ``sensor.polarities``); None without one."""
        q = self.quantity("sensor.resolution")
        if q is None:
            return None
        if not isinstance(q.value, tuple) or len(q.value) != 2:  # the schema allows two numbers only
            return None
        w, h = (int(v) for v in q.value)
        p = self._int("sensor.polarities")
        return w, h, 2 if p is None else p

    @property
    def energy_per_synop(self) -> Quantity | None:
        return self.quantity("energy.per_synop")

    @property
    def default_board(self) -> str | None:
        """sinabs' name of the board used when none is chosen (the first of ``samna_devices``)."""
        return next(iter(self.samna_devices.values()), None)

    @property
    def has_layer_cores(self) -> bool:
        return self.architecture == Architecture.LAYER_PER_CORE

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for ``profiles show --format json``."""
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "architecture": self.architecture.value,
            "notes": list(self.notes),
            "neuro_cores": None if self.neuro_cores is None else vars(self.neuro_cores),
            "aliases": list(self.aliases),
            "samna_devices": dict(self.samna_devices),
            "schema_version": self.schema_version,
            "cores": [
                {
                    "index": c.index,
                    "kernel_memory": c.kernel_memory,
                    "neuron_memory": c.neuron_memory,
                    "bias_memory": c.bias_memory,
                    "synops_ceiling": c.synops_ceiling,
                }
                for c in self.cores
            ],
            "constraints": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self.constraints).items()},
            "quantities": {k: q.to_dict() for k, q in self.quantities.items()},
            "sources": dict(self.sources),
        }

    @property
    def max_kernel_memory(self) -> int:
        return max((c.kernel_memory for c in self.cores), default=0)

    @property
    def max_neuron_memory(self) -> int:
        return max((c.neuron_memory for c in self.cores), default=0)

    @property
    def max_bias_memory(self) -> int:
        return max((c.bias_memory for c in self.cores), default=0)


# ---------------------------------------------------------------------------------------------
# Loading


def _package_dir() -> Traversable:
    return importlib.resources.files(PROFILE_PACKAGE)


def list_profiles() -> list[str]:
    """Names of the hardware profiles that ship with the package."""
    return sorted(p.name[: -len(".yaml")] for p in _package_dir().iterdir() if p.name.endswith(".yaml"))


def _parse(raw: bytes, file: str) -> Profile:
    """A profile from the bytes of its YAML file: not UTF-8, not YAML or not a profile is an InputError naming it."""
    what = "hardware profile"
    doc = yaml_from_bytes(raw, file, what)
    from .schema import profile_from_dict  # the schema module imports this one

    return profile_from_dict(doc, file)


def _looks_like_path(target: str) -> bool:
    return target.endswith((".yaml", ".yml")) or "/" in target or os.sep in target


@dataclass(frozen=True)
class TargetName:
    """A ``--target`` resolved: the packaged profile's name (or the path as given), and a ``note`` for
    the user when the name given was a family or another name of that profile."""

    name: str
    given: str
    note: str | None = None
    is_path: bool = False


def _packaged(name: str) -> Profile:
    res = _package_dir().joinpath(f"{name}.yaml")
    return _parse(res.read_bytes(), str(res))


def profile_aliases(profiles: list[Profile] | None = None) -> dict[str, str]:
    """Every other name of a packaged profile → that profile's name: its ``aliases`` (samna's board
    names, and the family name on the family's default member), in lower case."""
    profiles = [_packaged(n) for n in list_profiles()] if profiles is None else profiles
    known = [p.name for p in profiles]
    out: dict[str, str] = {}
    for name, prof in zip(known, profiles):
        for alias in prof.aliases:
            key = alias.lower()
            if key in known or out.get(key, name) != name:
                raise InputError(
                    f"the name '{alias}' is claimed by profiles {out.get(key, key)} and {name}",
                    where=f"{name}.yaml",
                    fix="keep each alias on one profile only",
                )
            out[key] = name
    return out


def board_key(device_type_name: str) -> str:
    """A samna ``device_type_name`` as a target name: lower case, no spaces (``Speck2fModuleDevKit`` →
    ``speck2fmoduledevkit``)."""
    return device_type_name.lower().replace(" ", "")


def samna_boards(profiles: list[Profile] | None = None) -> dict[str, tuple[str, str]]:
    """samna's ``device_type_name`` → (sinabs' board name, profile name), from the packaged profiles'
    ``samna_devices``: the one table of board names, shared by ``--target`` and the chip backend."""
    profiles = [_packaged(n) for n in list_profiles()] if profiles is None else profiles
    out: dict[str, tuple[str, str]] = {}
    for prof in profiles:
        for type_name, sinabs_name in prof.samna_devices.items():
            if out.get(type_name, (sinabs_name, prof.name)) != (sinabs_name, prof.name):
                raise InputError(
                    f"samna board '{type_name}' is claimed by profiles {out[type_name][1]} and {prof.name}",
                    where=f"{prof.name}.yaml",
                    fix="keep each board on one profile only",
                )
            out[type_name] = (sinabs_name, prof.name)
    return out


def _family_note(given: str, family: str, name: str, members: list[str]) -> str:
    others = ", ".join(m for m in members if m != name)
    return f"target '{given}' is the {family.capitalize()} family: using {name}; name a profile to choose another" + (
        f" ({others})" if others else ""
    )


def resolve_target(target: str | os.PathLike[str]) -> TargetName:
    """The one resolution of a ``--target`` name: a packaged profile's name, one of its aliases (samna's
    board names such as ``speck2fdevkit``), a family name (``speck``: its default member), or a path
    to a profile YAML (returned as given). Unknown names raise :class:`InputError` with a suggestion."""
    given = os.fspath(target)
    if isinstance(target, os.PathLike) or _looks_like_path(given):
        return TargetName(given, given, is_path=True)
    known = list_profiles()
    key = given.strip().lower()
    if key in known:
        return TargetName(key, given)
    profiles = [_packaged(n) for n in known]
    aliases = profile_aliases(profiles)
    families: dict[str, list[str]] = {}
    for prof in profiles:
        if prof.family:
            families.setdefault(prof.family.lower(), []).append(prof.name)
    if key in aliases:
        name = aliases[key]
        if key in families:
            return TargetName(name, given, _family_note(given, key, name, families[key]))
        return TargetName(name, given, f"target '{given}' is another name of the {name} profile")
    if key in families:  # a family none of whose profiles claims the family name
        raise InputError(
            f"target '{given}' is a family of profiles, not one profile", fix=f"name one: {', '.join(families[key])}"
        )
    near = suggest(key, known + sorted(aliases))
    fix = (
        (f"did you mean '{near}'? " if near else "")
        + f"Known profiles: {', '.join(known)} (other names: {', '.join(sorted(aliases))}); or pass the path of a "
        "profile YAML file"
    )
    raise InputError(f"unknown target '{given}'", fix=fix)


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """Load a packaged profile by name, alias or family (``"speck2f"``, ``"speck2fdevkit"``,
    ``"speck"``; see :func:`resolve_target`) or a user's YAML file by path."""
    target = resolve_target(name_or_path)
    if target.is_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError(
                "hardware profile file not found",
                where=str(path),
                fix=f"check the path, or use a packaged profile: {', '.join(list_profiles())}",
            )
        return _parse(read_bytes(path, "hardware profile file"), str(path))
    return _packaged(target.name)

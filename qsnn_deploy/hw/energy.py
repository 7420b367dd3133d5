"""Power, energy and latency from the terms a profile declares (pure functions).

Power = resting (``power.static``) + sensor (``power.sensor``, when the on-chip sensor is used)
+ Σ E_term · count_term / sample duration, over the energy terms the profile declares:

=====================  ===============================================================
``energy.per_synop``    SynOps (input events × fan-out) measured by emulation
``energy.per_spike``    spikes (output events of every layer) measured by emulation
``energy.per_neuron_update``  neurons × time steps (time-stepped chips update every neuron)
``energy.per_mac``      MACs of one dense pass of the same network run as an ANN
=====================  ===============================================================

Totals are given only where they are known: a profile without ``power.static`` (the generic
accelerator) has no total power or energy (``None``), only the dynamic part, which every profile with
energy terms has and which is therefore what targets are compared on. :class:`EnergyPart` says, per
part (static, dynamic, sensor), whether it is in the total and why not.

Latency: ``latency.per_layer`` × the layers on the longest path from the input to the output (the
critical path: every layer of a chain; in a graph, the branch with the most layers) for an event-driven
pipeline; for a time-stepped chip a spike crosses one layer per time step, and a step lasts
max(``latency.timestep_min``, the busiest core's work: neurons × ``latency.per_neuron_update`` + SynOps ×
``latency.per_synop``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .profile import Profile, Quantity, weakest_confidence

#: energy key → (activity count it multiplies, label)
ENERGY_TERMS = {
    "per_synop": ("synops", "SynOps"),
    "per_spike": ("spikes", "spikes"),
    "per_neuron_update": ("neuron_updates", "neuron updates"),
    "per_mac": ("macs", "MACs (as an ANN)"),
}


@dataclass(frozen=True)
class PowerTerm:
    """One part of the power: the resting power, the sensor, or an energy term times its rate."""

    name: str  # "resting", "sensor", or an activity count name ("synops", ...)
    label: str
    power_w: float
    low_w: float
    high_w: float
    confidence: str
    count: float | None = None  # events per inference (energy terms only)
    energy_per_event_j: float | None = None

    @property
    def energy_per_inference_j(self) -> float | None:
        if self.count is None or self.energy_per_event_j is None:
            return None
        return self.count * self.energy_per_event_j

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "power_w": self.power_w,
            "range_w": [self.low_w, self.high_w],
            "confidence": self.confidence,
            "count_per_inference": self.count,
            "energy_per_event_j": self.energy_per_event_j,
        }


#: the parts a total may add up, in report order
PARTS = ("static", "dynamic", "sensor")
#: status of a part: counted in the total, or why not
INCLUDED, NOT_IN_PROFILE, NOT_REQUESTED, UNKNOWN_ACTIVITY = (
    "included",
    "not in profile",
    "not requested",
    "activity unknown",
)


@dataclass(frozen=True)
class EnergyPart:
    """One part of the total (static, dynamic or sensor): its power and energy per inference when known,
    and ``status``: ``included`` in the total, ``not in profile``, ``not requested`` (the sensor without
    ``--sensor``) or ``activity unknown``."""

    name: str
    status: str
    power_w: float | None = None
    range_w: tuple[float, float] | None = None
    energy_per_inference_j: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "power_w": self.power_w,
            "power_w_range": None if self.range_w is None else list(self.range_w),
            "energy_per_inference_j": self.energy_per_inference_j,
        }


@dataclass(frozen=True)
class PowerModel:
    terms: tuple[PowerTerm, ...]
    power_w: float | None  # the total; None when a part of it is unknown (activity, or no static power)
    range_w: tuple[float, float] | None
    confidence: str | None  # weakest figure of the total, or of the dynamic part when there is no total
    static_w: float | None
    dynamic_w: float | None
    dynamic_energy_j: float | None  # per inference
    provenance: dict[str, Quantity] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    parts: tuple[EnergyPart, ...] = ()
    total_unknown: str | None = None  # why power_w is None


def _range(q: Quantity) -> tuple[float, float]:
    return q.range if q.range is not None else (float(q.number), float(q.number))


def _part(name: str, terms: list[PowerTerm], status: str, duration_s: float) -> EnergyPart:
    if status != INCLUDED:
        return EnergyPart(name, status)
    w = sum(t.power_w for t in terms)
    return EnergyPart(name, status, w, (sum(t.low_w for t in terms), sum(t.high_w for t in terms)), w * duration_s)


def power_model(
    profile: Profile, counts: dict[str, float | None], duration_s: float, include_sensor: bool = False
) -> PowerModel:
    """Power terms of ``profile`` for activity ``counts`` (per inference) over ``duration_s``."""
    terms: list[PowerTerm] = []
    prov: dict[str, Quantity] = {}
    warnings: list[str] = []
    static = profile.quantity("power.static")
    fixed = [("resting", "resting", static)]  # powers that do not depend on the activity
    if include_sensor:
        sensor = profile.quantity("power.sensor")
        if sensor is None:
            warnings.append(f"{profile.name} has no sensor power figure; the sensor is not counted")
        fixed.append(("sensor", "sensor", sensor))
    for name, label, q in fixed:
        if q is not None:
            lo, hi = _range(q)
            terms.append(PowerTerm(name, label, float(q.number), lo, hi, q.confidence))
            prov[f"power_{'static' if name == 'resting' else name}"] = q
    missing = []
    for key, (count_name, label) in ENERGY_TERMS.items():
        q = profile.quantity(f"energy.{key}")
        if q is None:
            continue
        prov[f"energy_{key}"] = q
        count = counts.get(count_name)
        if count is None:
            missing.append(label)
            continue
        lo, hi = _range(q)
        rate = count / duration_s
        terms.append(
            PowerTerm(
                count_name, label, float(q.number) * rate, lo * rate, hi * rate, q.confidence, count, float(q.number)
            )
        )
    dynamic = [t for t in terms if t.count is not None]
    by_name = {t.name: t for t in terms}
    status = {
        "static": INCLUDED if static is not None else NOT_IN_PROFILE,
        "sensor": NOT_IN_PROFILE
        if profile.quantity("power.sensor") is None
        else INCLUDED
        if include_sensor
        else NOT_REQUESTED,
        "dynamic": INCLUDED,
    }
    if not any(k.startswith("energy_") for k in prov):
        warnings.append(f"{profile.name} declares no energy terms: dynamic power is unknown")
        status["dynamic"] = NOT_IN_PROFILE
    elif missing:
        warnings.append(f"unknown activity ({', '.join(missing)}): power and energy per inference are unknown")
        status["dynamic"] = UNKNOWN_ACTIVITY
    groups: dict[str, Sequence[PowerTerm | None]] = {
        "static": [by_name.get("resting")],
        "sensor": [by_name.get("sensor")],
        "dynamic": dynamic,
    }
    parts = tuple(_part(n, [t for t in groups[n] if t is not None], status[n], duration_s) for n in PARTS)
    static_w = None if static is None else float(static.number)
    if status["dynamic"] != INCLUDED:
        why = "no energy terms in profile" if status["dynamic"] == NOT_IN_PROFILE else "activity not measured"
        return PowerModel(tuple(terms), None, None, None, static_w, None, None, prov, tuple(warnings), parts, why)
    energies = [t.energy_per_inference_j for t in dynamic]  # every dynamic term has a count: none is None
    dyn_w, dyn_j = sum(t.power_w for t in dynamic), sum(e for e in energies if e is not None)
    if static is None:
        warnings.append(
            f"{profile.name} declares no resting (static) power: its total power and energy are "
            "unknown; the dynamic part is given (compare targets on it)"
        )
        return PowerModel(
            tuple(terms),
            None,
            None,
            weakest_confidence(t.confidence for t in dynamic),
            None,
            dyn_w,
            dyn_j,
            prov,
            tuple(warnings),
            parts,
            "no static power in profile",
        )
    total = sum(t.power_w for t in terms)
    rng = (sum(t.low_w for t in terms), sum(t.high_w for t in terms))
    static_w = sum(t.power_w for t in terms if t.count is None)
    return PowerModel(
        tuple(terms),
        total,
        rng,
        weakest_confidence(t.confidence for t in terms),
        static_w,
        dyn_w,
        dyn_j,
        prov,
        tuple(warnings),
        parts,
    )


@dataclass(frozen=True)
class LatencyModel:
    """Latency of one event through the network: ``steps`` × ``per_step_s``; ``steps`` counts the layers on
    the longest path (``path``, their names, when the caller gave them)."""

    latency_s: float | None
    kind: str  # "pipeline" (per layer), "time-stepped" (one layer per time step) or "unknown"
    steps: int
    per_step_s: float | None
    confidence: str | None
    provenance: dict[str, Quantity] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    path: tuple[str, ...] = ()  # the layers on the longest path, input to output

    @property
    def description(self) -> str:
        if self.per_step_s is None:
            return "no latency terms"
        unit = "layers" if self.kind == "pipeline" else "time steps"
        return f"{self.steps} {unit} × {self.per_step_s:.3g} s"


def latency_model(
    profile: Profile,
    n_layers: int,
    core_work: Sequence[tuple[float, float | None]],
    dt_s: float | None = None,
    path: Sequence[str] = (),
) -> LatencyModel:
    """Latency of one event through ``n_layers`` layers: those on the longest path from input to output
    (every layer of a chain), named in ``path`` when given.

    ``core_work`` holds, per layer (all of them: every core works in each time step), (neurons on its busiest
    core, SynOps per time step on that core or None when unknown); used by time-stepped profiles. ``dt_s`` is
    the network's time step, to warn when a step cannot keep up with real time.
    """
    path = tuple(path)
    per_layer = profile.quantity("latency.per_layer")
    if per_layer is not None:
        return LatencyModel(
            float(per_layer.number) * n_layers,
            "pipeline",
            n_layers,
            float(per_layer.number),
            per_layer.confidence,
            {"latency_per_layer": per_layer},
            path=path,
        )
    keys = ("timestep_min", "per_neuron_update", "per_synop")
    qs = {k: profile.quantity(f"latency.{k}") for k in keys}
    if all(q is None for q in qs.values()):
        return LatencyModel(
            None,
            "unknown",
            n_layers,
            None,
            None,
            warnings=(f"{profile.name} declares no latency terms: latency is unknown",),
            path=path,
        )
    prov = {f"latency_{k}": q for k, q in qs.items() if q is not None}
    warnings = []
    floor, t_neuron, t_synop = (0.0 if q is None else float(q.number) for q in qs.values())  # in the order of keys
    work = [n * t_neuron + (synops or 0.0) * t_synop for n, synops in core_work]
    if qs["per_synop"] is not None and any(s is None for _, s in core_work):
        warnings.append("SynOps unknown: the time step counts neuron updates only (a lower bound)")
    step = max([floor, *work])
    if dt_s is not None and step > dt_s:
        warnings.append(
            f"one time step needs {step:.3g} s but the network's time step is {dt_s:.3g} s: "
            f"{profile.name} would run slower than real time"
        )
    return LatencyModel(
        n_layers * step,
        "time-stepped",
        n_layers,
        step,
        weakest_confidence(q.confidence for q in prov.values()),
        prov,
        tuple(warnings),
        path,
    )

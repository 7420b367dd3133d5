"""The estimator: fit, placement, activity per layer and core, power, energy and latency for one chip.

A pure function of the network, the profile and the measured activity; formatting lives in
:mod:`qsnn_deploy.hw.report`, the power and latency models in :mod:`qsnn_deploy.hw.energy`.
Energy per inference = power × sample duration (the chip is on for the whole sample).

Totals (``power_w``, ``energy_per_inference_j``) add static (resting) power, dynamic power and, with
``include_sensor``, the sensor; they are None wherever a part is unknown — the activity was not
measured, or the profile gives no static power (a dense accelerator priced per MAC) — and
``total_unknown`` says why. The dynamic part (``power_dynamic_w``, ``dynamic_energy_per_inference_j``)
is known for every profile with energy terms: it is what targets are compared on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..errors import InputError
from ..ir import OUTPUT, Network
from .counts import input_events, longest_path, macs, neurons
from .energy import INCLUDED, EnergyPart, LatencyModel, PowerTerm, latency_model, power_model
from .mapping import Mapping, map_layers
from .memory import layer_memory
from .neurocore import NeuroPlacement, place_neurons
from .profile import Architecture, Profile, Quantity
from .rules import Violation, check

#: 3: ``power_w`` / ``energy_per_inference_j`` are null for a profile without static power (they were its
#: dynamic part); ``includes``, ``energy_breakdown`` and ``total_unknown_reason`` added.
ESTIMATE_SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Route:
    """One destination of a layer: the layer it feeds (``"output"``: the readout), that layer's core (None
    when unplaced, for the readout and on chips without per-layer cores) and the sum pooling on the way."""

    layer: str
    core: int | None
    pool: int

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "core": self.core, "pool": self.pool}


@dataclass(frozen=True)
class LayerEstimate:
    """One row of the estimate: memory (in the chip's units), placement, activity."""

    name: str
    kind: str
    kernel_memory: int | None  # words, layer-per-core chips
    neuron_memory: int | None
    bias_memory: int | None
    core: int | None
    candidate_cores: tuple[int, ...]
    fits: bool
    synops: float | None = None  # per sample
    synops_per_s: float | None = None
    synops_ceiling: float | None = None  # of the assigned core
    ceiling_utilisation: float | None = None
    neurons: int = 0
    macs: int = 0  # one dense pass as an ANN
    spikes: float | None = None  # output events per sample
    spikes_per_s: float | None = None
    cores: int | None = None  # neuron-cores chips: cores the layer uses
    fan_in: int | None = None
    synaptic_memory_bytes: int | None = None
    scale: float | None = None  # the layer's discretisation scale (None for a float layer)
    sources: tuple[str, ...] = ()  # the layers whose events add into this one's input (none: the network input)
    destinations: tuple[Route, ...] = ()  # where its events go, the readout ("output") included
    input_events: float | None = None  # per sample: the sum of its sources' output events (layer 0: the input's)
    input_events_per_s: float | None = None

    @property
    def stalls(self) -> bool:
        return self.ceiling_utilisation is not None and self.ceiling_utilisation > 1

    @property
    def synops_per_core_per_s(self) -> float | None:
        if self.synops_per_s is None:
            return None
        return self.synops_per_s / (self.cores or 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "kernel_memory": self.kernel_memory,
            "neuron_memory": self.neuron_memory,
            "bias_memory": self.bias_memory,
            "core": self.core,
            "candidate_cores": list(self.candidate_cores),
            "fits": self.fits,
            "synops": self.synops,
            "synops_per_s": self.synops_per_s,
            "synops_per_core_per_s": self.synops_per_core_per_s,
            "synops_ceiling": self.synops_ceiling,
            "ceiling_utilisation": self.ceiling_utilisation,
            "stalls": self.stalls,
            "spikes": self.spikes,
            "spikes_per_s": self.spikes_per_s,
            "neurons": self.neurons,
            "macs": self.macs,
            "cores": self.cores,
            "fan_in": self.fan_in,
            "synaptic_memory_bytes": self.synaptic_memory_bytes,
            "scale": self.scale,
            "sources": list(self.sources),
            "destinations": [d.to_dict() for d in self.destinations],
            "input_events": self.input_events,
            "input_events_per_s": self.input_events_per_s,
        }


@dataclass(frozen=True)
class Estimate:
    """Everything ``qsnn-deploy estimate`` reports; ``to_dict`` gives the JSON of DESIGN.md §3."""

    target: str
    fits: bool
    layers: tuple[LayerEstimate, ...]
    violations: tuple[Violation, ...]
    mapping: Mapping | None  # layer-per-core chips
    sample_duration_s: float
    synops: float | None
    synops_per_s: float | None
    power_static_w: float | None
    power_dynamic_w: float | None
    power_w: float | None  # total (static + dynamic [+ sensor]); None when a part is unknown
    power_w_range: tuple[float, float] | None
    power_confidence: str | None
    energy_per_inference_j: float | None  # total, as power_w
    dynamic_energy_per_inference_j: float | None  # what every profile with energy terms has
    latency_s: float | None
    provenance: TMapping[str, Quantity] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    architecture: Architecture = Architecture.LAYER_PER_CORE
    power_terms: tuple[PowerTerm, ...] = ()
    latency: LatencyModel | None = None
    spikes: float | None = None
    spikes_per_s: float | None = None
    macs: int = 0
    neuron_updates: float | None = None  # per inference, time-stepped chips
    placement: NeuroPlacement | None = None  # neuron-cores chips
    cores_used: int | None = None
    cores_available: int | None = None
    activity_source: str = ""
    energy_parts: tuple[EnergyPart, ...] = ()  # static, dynamic, sensor: value and status
    total_unknown: str | None = None  # why power_w is None
    chain: bool = True  # every layer feeds the next with its own pooling (reports then show no routes)

    @property
    def includes(self) -> tuple[str, ...]:
        """The parts added up in ``power_w`` and ``energy_per_inference_j`` (empty when there is no total)."""
        if self.power_w is None:
            return ()
        return tuple(p.name for p in self.energy_parts if p.status == INCLUDED)

    def energy_part(self, name: str) -> EnergyPart | None:
        return next((p for p in self.energy_parts if p.name == name), None)

    @property
    def stalled_cores(self) -> list[LayerEstimate]:
        """Layers whose core receives more SynOps/s than its ceiling."""
        return [row for row in self.layers if row.stalls]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": ESTIMATE_SCHEMA_VERSION,
            "target": self.target,
            "architecture": self.architecture.value,
            "fits": self.fits,
            "layers": [row.to_dict() for row in self.layers],
            "violations": [v.to_dict() for v in self.violations],
            "synops": self.synops,
            "synops_per_s": self.synops_per_s,
            "spikes": self.spikes,
            "spikes_per_s": self.spikes_per_s,
            "macs": self.macs,
            "neuron_updates": self.neuron_updates,
            "power_w": self.power_w,
            "energy_per_inference_j": self.energy_per_inference_j,
            "latency_s": self.latency_s,
            "latency_model": None if self.latency is None else self.latency.description,
            "latency_path": None if self.latency is None else list(self.latency.path),
            "power_static_w": self.power_static_w,
            "power_dynamic_w": self.power_dynamic_w,
            "power_w_range": None if self.power_w_range is None else list(self.power_w_range),
            "power_confidence": self.power_confidence,
            "power_breakdown": [t.to_dict() for t in self.power_terms],
            "dynamic_energy_per_inference_j": self.dynamic_energy_per_inference_j,
            "includes": list(self.includes),
            "total_unknown_reason": self.total_unknown,
            "energy_breakdown": {p.name: p.to_dict() for p in self.energy_parts},
            "sample_duration_s": self.sample_duration_s,
            "cores_used": self.cores_used,
            "cores_available": self.cores_available,
            "stalled_cores": [row.core for row in self.stalled_cores],
            "mapping": None if self.mapping is None else self.mapping.to_dict(),
            "activity_source": self.activity_source,
            "provenance": {k: q.to_dict() for k, q in self.provenance.items()},
            "warnings": list(self.warnings),
        }


def _finite(x: float, what: str, allow_zero: bool = True) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {x!r}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise InputError(f"{what} must be a finite {'non-negative' if allow_zero else 'positive'} number, got {x}")
    return x


def _per_layer(net: Network, given: dict[str, float] | None, what: str) -> dict[str, float | None]:
    names = [layer.name for layer in net.layers]
    given = dict(given or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InputError(
            f"{what} given for unknown layers: {', '.join(unknown)}",
            fix=f"use the network's layer names: {', '.join(names)}",
        )
    return {n: (None if n not in given else _finite(given[n], f"{what} of layer {n}")) for n in names}


def _total(values: dict[str, float | None]) -> float | None:
    known = [v for v in values.values() if v is not None]
    return sum(known) if known else None


def estimate(
    net: Network,
    profile: Profile,
    synops_per_layer: dict[str, float] | None,
    sample_duration_s: float,
    input_events_per_sample: float | None = None,
    *,
    include_sensor: bool = False,
    spikes_per_layer: dict[str, float] | None = None,
    activity_source: str = "",
) -> Estimate:
    """Estimate fit, placement, activity, power, energy and latency of ``network`` on ``profile``.

    ``synops_per_layer`` holds SynOps per sample (events arriving at a layer × its fan-out; a layer fed by
    several sources receives all their events, so a spike sent to two layers costs both fan-outs, and a core's
    SynOps/s, checked against its ceiling, sums every source); the first layer's may instead come from
    ``input_events_per_sample`` (events assumed spread uniformly over the input pixels). ``spikes_per_layer``
    holds output events per sample; each row's ``input_events`` adds up its sources'. Latency follows the
    longest path from input to output. ``include_sensor`` adds the idle power of the on-chip sensor.
    """
    duration = _finite(sample_duration_s, "sample duration (s)", allow_zero=False)
    synops = _per_layer(net, synops_per_layer, "SynOps")
    spikes = _per_layer(net, spikes_per_layer, "spikes")
    events_in = None if input_events_per_sample is None else _finite(input_events_per_sample, "input events per sample")
    if events_in is not None and synops[net.layers[0].name] is None:
        synops[net.layers[0].name] = events_in * float(net.layers[0].fanout_map().mean())
    violations = tuple(check(net, profile))
    warnings: list[str] = []
    provenance: dict[str, Quantity] = {}

    mapping = map_layers(net, profile) if profile.has_layer_cores else None
    placement = place_neurons(net, profile) if profile.architecture == Architecture.NEURON_CORES else None
    rows = _rows(net, profile, synops, spikes, events_in, duration, violations, mapping, placement)
    ceiling = profile.quantity("cores.synops_ceiling")
    if ceiling is not None and any(r.ceiling_utilisation is not None for r in rows):  # a utilisation needs a ceiling
        provenance["synops_ceiling"] = ceiling
    for r in rows:
        if r.stalls:
            fed = f", fed by {' and '.join(r.sources)}" if len(r.sources) > 1 else ""
            warnings.append(
                f"core {r.core} ({r.name}{fed}) receives {r.synops_per_s:.3g} SynOps/s, "
                f"{r.ceiling_utilisation:.1f}× its ceiling of {r.synops_ceiling:.3g}: "
                "this core would stall the chip (mean rate over the sample; bursts go higher)"
            )

    total, spike_total = _total(synops), _total(spikes)
    missing = [n for n, s in synops.items() if s is None]
    if missing and total is not None:
        warnings.append(f"SynOps unknown for layers {', '.join(missing)}: SynOps, power and energy are lower bounds")
    steps = duration / (net.dt_us * 1e-6)
    n_neurons = sum(r.neurons for r in rows)
    neuron_updates, macs_total = n_neurons * steps, float(sum(r.macs for r in rows))
    counts = {"synops": total, "spikes": spike_total, "neuron_updates": neuron_updates, "macs": macs_total}
    pm = power_model(profile, counts, duration, include_sensor)
    provenance.update(pm.provenance)
    warnings += pm.warnings

    work = []
    for r in rows:
        on_core = -(-r.neurons // r.cores) if r.cores else r.neurons
        work.append((on_core, None if r.synops is None else r.synops / steps / (r.cores or 1)))
    path = [net.layers[i].name for i in longest_path(net)]
    lm = latency_model(profile, len(path), work, net.dt_us * 1e-6, path)
    provenance.update(lm.provenance)
    warnings += lm.warnings
    for kind in ("kernel_memory", "neuron_memory", "bias_memory", "neurons", "synaptic_memory", "fan_in"):
        q = profile.quantity(f"cores.{kind}")
        if q is not None:
            provenance[kind] = q

    if profile.architecture == Architecture.DENSE_ACCELERATOR:
        warnings.append(f"{profile.name} is a dense accelerator: no capacity limits are modelled")
        fits, used, available = True, None, None
    elif placement is not None:
        fits, used, available = not violations and placement.ok, placement.cores_used, placement.cores_available
    else:
        assert mapping is not None  # a layer-per-core profile, the one architecture left
        fits = not violations and mapping.ok
        used = None if mapping.assignment is None else len(mapping.assignment)  # None: no valid mapping
        available = len(profile.cores)
    return Estimate(
        target=profile.name,
        fits=fits,
        layers=tuple(rows),
        violations=violations,
        mapping=mapping,
        sample_duration_s=duration,
        synops=total,
        synops_per_s=None if total is None else total / duration,
        power_static_w=pm.static_w,
        power_dynamic_w=pm.dynamic_w,
        power_w=pm.power_w,
        power_w_range=pm.range_w,
        power_confidence=pm.confidence,
        energy_per_inference_j=None if pm.power_w is None else pm.power_w * duration,
        dynamic_energy_per_inference_j=pm.dynamic_energy_j,
        latency_s=lm.latency_s,
        provenance=provenance,
        warnings=tuple(warnings),
        architecture=profile.architecture,
        power_terms=pm.terms,
        latency=lm,
        spikes=spike_total,
        spikes_per_s=None if spike_total is None else spike_total / duration,
        macs=int(macs_total),
        neuron_updates=neuron_updates if placement is not None else None,
        placement=placement,
        cores_used=used,
        cores_available=available,
        activity_source=activity_source,
        energy_parts=pm.parts,
        total_unknown=pm.total_unknown,
        chain=net.is_chain,
    )


class _Activity(TypedDict):
    """The fields of a :class:`LayerEstimate` that every architecture fills the same way."""

    synops: float | None
    synops_per_s: float | None
    spikes: float | None
    spikes_per_s: float | None
    neurons: int
    macs: int
    scale: float | None
    sources: tuple[str, ...]
    destinations: tuple[Route, ...]
    input_events: float | None
    input_events_per_s: float | None


def _rows(
    net: Network,
    profile: Profile,
    synops: dict[str, float | None],
    spikes: dict[str, float | None],
    events_in: float | None,
    duration: float,
    violations: tuple[Violation, ...],
    mapping: Mapping | None,
    placement: NeuroPlacement | None,
) -> list[LayerEstimate]:
    bad_layers = {v.layer for v in violations}
    cores = {c.index: c for c in profile.cores}
    assignment = mapping.assignment if mapping is not None and mapping.assignment else {}
    rows = []
    for i, layer in enumerate(net.layers):
        s, sp = synops[layer.name], spikes[layer.name]
        rate = None if s is None else s / duration
        arriving = input_events(net, i, spikes, events_in)
        routes = [(net.layers[j].name, p) for j, p in zip(net.targets(i), net.target_pools(i))]
        if i == len(net.layers) - 1:
            routes.append((OUTPUT, net.output_pool))
        common: _Activity = {
            "synops": s,
            "synops_per_s": rate,
            "spikes": sp,
            "spikes_per_s": None if sp is None else sp / duration,
            "neurons": neurons(layer),
            "macs": macs(layer),
            "scale": layer.scale,
            "sources": tuple(net.layers[j].name for j in net.sources(i)),
            "destinations": tuple(Route(name, assignment.get(name), p) for name, p in routes),
            "input_events": arriving,
            "input_events_per_s": None if arriving is None else arriving / duration,
        }
        if mapping is not None:
            mem = layer_memory(layer)
            core = mapping.assignment.get(layer.name) if mapping.assignment else None
            ceiling = cores[core].synops_ceiling if core is not None else None
            util = None if rate is None or ceiling is None else rate / ceiling
            rows.append(
                LayerEstimate(
                    layer.name,
                    layer.kind,
                    mem.kernel,
                    mem.neuron,
                    mem.bias,
                    core,
                    mapping.candidates[layer.name],
                    layer.name not in bad_layers and bool(mapping.candidates[layer.name]),
                    synops_ceiling=ceiling,
                    ceiling_utilisation=util,
                    **common,
                )
            )
        elif placement is not None:
            p = placement.layer(layer.name)
            rows.append(
                LayerEstimate(
                    layer.name,
                    layer.kind,
                    None,
                    None,
                    None,
                    None,
                    (),
                    layer.name not in bad_layers and p.cores is not None,
                    cores=p.cores,
                    fan_in=p.fan_in,
                    synaptic_memory_bytes=p.synaptic_memory_bytes,
                    **common,
                )
            )
        else:
            rows.append(LayerEstimate(layer.name, layer.kind, None, None, None, None, (), True, **common))
    return rows

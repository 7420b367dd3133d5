"""The estimator: memory fit, core mapping, SynOps, power, energy and latency for one chip.

A pure function of the network, the profile and the measured/assumed activity; formatting lives in
:mod:`qsnn_deploy.hw.report`.

Model (reference/chips.md §4.1): P = P_static (+ P_sensor if the on-chip DVS is used) + E_SynOp · SynOps/s;
energy per inference = P · sample duration; latency = per-layer latency × number of layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping as TMapping

from ..errors import InputError
from ..ir import Network
from .mapping import Mapping, map_layers
from .memory import layer_memory
from .profile import Profile, Quantity, weakest_confidence
from .rules import Violation, check

ESTIMATE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LayerEstimate:
    """One row of the estimate: memory in words, core, activity."""

    name: str
    kind: str
    kernel_memory: int
    neuron_memory: int
    bias_memory: int
    core: int | None
    candidate_cores: tuple[int, ...]
    fits: bool
    synops: float | None = None  # per sample
    synops_per_s: float | None = None
    synops_ceiling: float | None = None  # of the assigned core
    ceiling_utilisation: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "kernel_memory": self.kernel_memory,
                "neuron_memory": self.neuron_memory, "bias_memory": self.bias_memory, "core": self.core,
                "candidate_cores": list(self.candidate_cores), "fits": self.fits, "synops": self.synops,
                "synops_per_s": self.synops_per_s, "synops_ceiling": self.synops_ceiling,
                "ceiling_utilisation": self.ceiling_utilisation}


@dataclass(frozen=True)
class Estimate:
    """Everything ``qsnn-deploy estimate`` reports; ``to_dict`` gives the JSON of DESIGN.md §3."""

    target: str
    fits: bool
    layers: tuple[LayerEstimate, ...]
    violations: tuple[Violation, ...]
    mapping: Mapping
    sample_duration_s: float
    synops: float | None
    synops_per_s: float | None
    power_static_w: float | None
    power_dynamic_w: float | None
    power_w: float | None
    power_w_range: tuple[float, float] | None
    power_confidence: str | None
    energy_per_inference_j: float | None
    dynamic_energy_per_inference_j: float | None
    latency_s: float | None
    provenance: TMapping[str, Quantity] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "schema_version": ESTIMATE_SCHEMA_VERSION,
            "target": self.target,
            "fits": self.fits,
            "layers": [row.to_dict() for row in self.layers],
            "violations": [v.to_dict() for v in self.violations],
            "synops": self.synops,
            "synops_per_s": self.synops_per_s,
            "power_w": self.power_w,
            "energy_per_inference_j": self.energy_per_inference_j,
            "latency_s": self.latency_s,
            "power_static_w": self.power_static_w,
            "power_dynamic_w": self.power_dynamic_w,
            "power_w_range": None if self.power_w_range is None else list(self.power_w_range),
            "power_confidence": self.power_confidence,
            "dynamic_energy_per_inference_j": self.dynamic_energy_per_inference_j,
            "sample_duration_s": self.sample_duration_s,
            "mapping": self.mapping.to_dict(),
            "provenance": {k: q.to_dict() for k, q in self.provenance.items()},
            "warnings": list(self.warnings),
        }


def _positive_finite(x: float, what: str, allow_zero: bool = True) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {x!r}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise InputError(f"{what} must be a finite {'non-negative' if allow_zero else 'positive'} number, got {x}")
    return x


def _layer_synops(network: Network, synops_per_layer: dict[str, float] | None,
                  input_events_per_sample: float | None) -> dict[str, float | None]:
    """SynOps per sample per layer: given values, the first layer from input events, else None."""
    names = [layer.name for layer in network.layers]
    given = dict(synops_per_layer or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InputError(f"SynOps given for unknown layers: {', '.join(unknown)}",
                         fix=f"use the network's layer names: {', '.join(names)}")
    out: dict[str, float | None] = {n: None for n in names}
    for n, v in given.items():
        out[n] = _positive_finite(v, f"SynOps of layer {n}")
    if input_events_per_sample is not None and out[names[0]] is None:
        events = _positive_finite(input_events_per_sample, "input events per sample")
        # events spread uniformly over the input pixels: mean fan-out, borders included
        out[names[0]] = events * float(network.layers[0].fanout_map().mean())
    return out


def estimate(network: Network, profile: Profile, synops_per_layer: dict[str, float] | None,
             sample_duration_s: float, input_events_per_sample: float | None = None, *,
             include_sensor: bool = False) -> Estimate:
    """Estimate fit, per-layer memory/core, SynOps, power, energy and latency of ``network`` on ``profile``.

    ``synops_per_layer`` holds SynOps per sample (events arriving at a layer × its fan-out); the
    first layer's may instead come from ``input_events_per_sample`` (events assumed spread uniformly
    over the input pixels). ``include_sensor`` adds the
    idle power of the on-chip DVS pixel array.
    """
    duration = _positive_finite(sample_duration_s, "sample duration (s)", allow_zero=False)
    synops = _layer_synops(network, synops_per_layer, input_events_per_sample)
    violations = tuple(check(network, profile))
    mapping = map_layers(network, profile)
    bad_layers = {v.layer for v in violations}
    cores = {c.index: c for c in profile.cores}
    provenance: dict[str, Quantity] = {}
    warnings: list[str] = []

    rows = []
    for layer in network.layers:
        mem = layer_memory(layer)
        core = mapping.assignment.get(layer.name) if mapping.assignment else None
        s = synops[layer.name]
        rate = None if s is None else s / duration
        ceiling = cores[core].synops_ceiling if core is not None else None
        util = None if rate is None or ceiling is None else rate / ceiling
        if util is not None and util > 1:
            warnings.append(f"layer {layer.name}: {rate:.3g} SynOps/s exceeds core {core}'s ceiling of "
                            f"{ceiling:.3g} SynOps/s (mean rate; the chip may stall)")
        rows.append(LayerEstimate(layer.name, layer.kind, mem.kernel, mem.neuron, mem.bias, core,
                                  mapping.candidates[layer.name],
                                  layer.name not in bad_layers and bool(mapping.candidates[layer.name]),
                                  s, rate, ceiling, util))
    if any(r.ceiling_utilisation is not None for r in rows) and profile.quantity("cores.synops_ceiling"):
        provenance["synops_ceiling"] = profile.quantity("cores.synops_ceiling")

    known = [s for s in synops.values() if s is not None]
    missing = [n for n, s in synops.items() if s is None]
    total = sum(known) if known else None
    rate = None if total is None else total / duration
    if missing and known:
        warnings.append(f"SynOps unknown for layers {', '.join(missing)}: SynOps, power and energy are lower bounds")
    elif missing:
        warnings.append("no SynOps given: dynamic power and energy are unknown")

    static = profile.static_power
    power_static = None
    if static is not None:
        power_static = float(static.value)
        provenance["power_static"] = static
        if include_sensor:
            sensor = profile.sensor_power
            if sensor is None:
                warnings.append(f"{profile.name} has no sensor power figure; the DVS is not counted")
            else:
                power_static += float(sensor.value)
                provenance["power_sensor"] = sensor
    else:
        warnings.append(f"{profile.name} has no static power figure")

    e_synop = profile.energy_per_synop
    power_dynamic = dyn_energy = None
    if e_synop is None:
        warnings.append(f"{profile.name} has no energy-per-SynOp figure")
    elif rate is not None:
        provenance["energy_per_synop"] = e_synop
        power_dynamic = float(e_synop.value) * rate
        dyn_energy = float(e_synop.value) * total

    power = power_range = None
    if power_static is not None and power_dynamic is not None:
        power = power_static + power_dynamic
        lo, hi = e_synop.range or (e_synop.value, e_synop.value)
        power_range = (power_static + lo * rate, power_static + hi * rate)
    energy = None if power is None else power * duration
    power_conf = None if power is None else weakest_confidence(
        provenance[k].confidence for k in ("power_static", "power_sensor", "energy_per_synop") if k in provenance)

    latency = None
    per_layer = profile.latency_per_layer
    if per_layer is not None:
        latency = float(per_layer.value) * len(network.layers)
        provenance["latency_per_layer"] = per_layer
    for kind in ("kernel_memory", "neuron_memory", "bias_memory"):
        if profile.quantity(f"cores.{kind}") is not None:
            provenance[kind] = profile.quantity(f"cores.{kind}")

    return Estimate(
        target=profile.name, fits=not violations and mapping.ok, layers=tuple(rows), violations=violations,
        mapping=mapping, sample_duration_s=duration, synops=total, synops_per_s=rate,
        power_static_w=power_static, power_dynamic_w=power_dynamic, power_w=power, power_w_range=power_range,
        power_confidence=power_conf, energy_per_inference_j=energy, dynamic_energy_per_inference_j=dyn_energy,
        latency_s=latency, provenance=provenance, warnings=tuple(warnings))

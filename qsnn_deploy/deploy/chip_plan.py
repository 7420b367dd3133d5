"""What goes on the chip, decided without the driver: integers, cores, destinations, monitors, readout.

A :class:`ChipPlan` is the converted model placed on a Speck's cores (the same rules and core
mapping as ``convert``), optionally with the last layer widened for the readout block. It can be
written as a complete chip-ready JSON description (:func:`chip_description`) on any machine, and the
samna backend builds the vendor configuration from it and checks that configuration against it.
No torch, no samna.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConstraintError, InputError, UsageError
from ..ir import ChipLayer, Network
from ..outputs import write_atomic

if TYPE_CHECKING:
    from ..emulate.sensor import SensorStage
    from ..hw import Profile

DESCRIPTION_FORMAT = "qsnn-deploy-chip-config"
DESCRIPTION_SCHEMA_VERSION = 1
READOUT_LAYER = 12  # the readout block's address as a destination (sinabs' using_readout_layer notebook)
READOUT_CLASSES = 15  # channels 1..15 (using_readout_layer notebook; samna's Speck 2e page: 15 classes + 1 idle)
READOUT_STRIDE = 4  # speck2e/2f erratum: CNN channel 4(x-1) drives readout channel x (sinabs faqs/chip_errata.md)
DEFAULT_READOUT_CLK_HZ = 20.0  # sinabs' using_readout_layer notebook


def default_device_type(target: str) -> str | None:
    """sinabs' name of the board used for ``target`` when none is chosen (its profile's first
    ``samna_devices`` entry, e.g. ``speck2fdevkit``)."""
    from ..hw import load_profile

    return load_profile(target).default_board


def device_type_for(target: str, device_type: str | None = None) -> str:
    """``device_type``, else :func:`default_device_type`: the board sinabs builds a configuration for. A
    profile that names no board (``samna_devices``) has none to build for."""
    board = device_type or default_device_type(target)
    if board is None:
        raise InputError(
            f"the {target} profile names no samna board to build a configuration for",
            where=f"profile {target}",
            fix="list the chip's boards under samna_devices in the profile (see hw_profiles/speck2f.yaml)",
        )
    return board


@dataclass(frozen=True, eq=False)
class ChipPlan:
    """A quantised network (a chain or a graph) placed on cores.

    ``network`` is what the chip runs (with the readout erratum applied to its last layer when
    ``readout``); ``model`` is the converted model in its own class order (what the emulator runs).
    """

    target: str
    network: Network
    model: Network
    cores: tuple[int, ...]
    monitor: tuple[int, ...]  # indices of the layers whose output spikes are sent to the host
    readout: bool = False
    slow_clk_hz: float | None = None
    notes: tuple[str, ...] = ()
    #: the chip's own sensor feeding the first core through this DVS stage (``deploy --live``); None: the
    #: host streams the input (the DVS layer passes no sensor events)
    sensor: SensorStage | None = None
    sensor_size: tuple[int, int, int] | None = None  # (W, H, P) of that sensor

    @property
    def layers(self) -> tuple[ChipLayer, ...]:
        return self.network.layers

    @property
    def input_core(self) -> int:
        return self.cores[0]

    @property
    def core_map(self) -> dict[str, int]:
        return {layer.name: core for layer, core in zip(self.layers, self.cores)}

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    @property
    def has_bias(self) -> bool:
        return any(layer.bias is not None and np.any(layer.bias != 0) for layer in self.layers)

    def destinations(self, i: int) -> list[dict[str, Any]]:
        """Where layer ``i`` sends its spikes, as samna's destination fields: the core of each layer it
        feeds with that edge's pooling (``Network.targets`` / ``target_pools``), and for the last layer
        the readout block (with the output pooling) when it is used."""
        net = self.network
        dests = [
            {"layer": self.cores[j], "enable": True, "pooling": int(p)}
            for j, p in zip(net.targets(i), net.target_pools(i))
        ]
        if self.readout and i == len(self.layers) - 1:
            dests.append({"layer": READOUT_LAYER, "enable": True, "pooling": int(net.output_pool)})
        return dests

    def dvs_layer(self) -> dict[str, Any]:
        """samna's ``DvsLayerConfig`` values of this plan (:func:`.sensor_input.dvs_layer_fields`), or only
        ``pass_sensor_events: False`` when the host streams the input."""
        if self.sensor is None or self.sensor_size is None:
            return {"pass_sensor_events": False}
        from .sensor_input import dvs_layer_fields

        return dvs_layer_fields(self.sensor, self.sensor_size, self.input_core)

    def class_channels(self) -> list[int]:
        """The last layer's output channel that carries each class."""
        step = READOUT_STRIDE if self.readout else 1
        return [k * step for k in range(self.model.output_shape[0])]


def widen_for_readout(layer: ChipLayer) -> ChipLayer:
    """Move output channel k to channel 4k (zeros between), so that class k reaches readout channel k+1."""
    c_out = layer.c_out
    wide = (c_out - 1) * READOUT_STRIDE + 1
    weight = np.zeros((wide, *layer.weight.shape[1:]))
    weight[::READOUT_STRIDE] = layer.weight
    bias = None
    if layer.bias is not None:
        bias = np.zeros(wide)
        bias[::READOUT_STRIDE] = layer.bias
    return layer.replace(weight=weight, bias=bias)


def _fit(net: Network, profile: Profile, what: str) -> tuple[int, ...]:
    from ..hw import check, map_layers

    violations = check(net, profile)
    mapping = map_layers(net, profile)
    assignment = mapping.assignment  # None: no valid mapping
    if violations or assignment is None:
        listed = "; ".join(f"[{v.code}] {v.layer}: {v.message} (fix: {v.fix})" for v in violations)
        raise ConstraintError(
            f"the {what} does not fit {profile.name}: " + (listed or mapping.explanation),
            fix="apply the fixes above, or run `qsnn-deploy estimate` for the full report",
            violations=violations,
        )
    return tuple(assignment[layer.name] for layer in net.layers)


def check_destinations(plan: ChipPlan) -> None:
    """Refuse a plan with a core that sends to more layers than the chip's cores have destinations (design
    rule SPK015; ``plan_chip`` refuses it already, this guards plans made otherwise): exit 4."""
    from ..hw import check, load_profile

    found = [v for v in check(plan.network, load_profile(plan.target)) if v.code == "SPK015"]
    if found:
        listed = "; ".join(f"[{v.code}] {v.layer}: {v.message} (fix: {v.fix})" for v in found)
        raise ConstraintError(
            f"the model does not fit {plan.target}: {listed}",
            fix="apply the fixes above, or run `qsnn-deploy estimate` for the full report",
            violations=found,
        )


def readout_refusal(model: Network) -> str | None:
    """Why the readout block cannot give ``model``'s classes (None: it can): it takes up to 15 classes from a
    layer with a 1x1 output."""
    c, h, w = model.output_shape
    if (h, w) != (1, 1) or model.layers[-1].conv_shape[1:] != (1, 1) or c > READOUT_CLASSES:
        return (
            f"the readout block takes up to {READOUT_CLASSES} classes from a layer with a 1x1 output; the last "
            f"layer gives {c}x{h}x{w}"
        )
    return None


def plan_chip(
    net: Network,
    target: str,
    readout: bool | None = False,
    monitor_all: bool = False,
    slow_clk_hz: float | None = None,
    live: bool = False,
    sensor_options: SensorStage | None = None,
) -> ChipPlan:
    """Discretise (as ``convert`` does), check the target's rules, map layers to cores.

    ``readout`` None: the readout block when the model allows it (:func:`readout_refusal`), with a note.
    With ``live`` the chip's own sensor feeds the first core, through the DVS stage
    :func:`.sensor_input.live_input` chooses (``sensor_options``: the user's, else from the model's metadata).

    With ``readout`` the last layer is widened per the readout erratum and the mapping is redone;
    it needs a (C ≤ 15, 1, 1) output. The slow clock is set to one tick per time bin when a layer
    has a bias (the chip adds the bias once per tick), else to 20 Hz for the readout, else left off.
    """
    from ..convert.bundle import chip_widths
    from ..hw import load_profile
    from ..quant.chip import discretize_network

    profile = load_profile(target)
    model = discretize_network(net, **chip_widths(profile))
    cores = _fit(model, profile, "model")
    chip_net, notes = model, []
    refusal = readout_refusal(model)
    if readout is None:
        readout = refusal is None
        notes.append(
            "predictions from the readout block" if readout else f"predictions from the output spike counts: {refusal}"
        )
    if readout:
        last = model.layers[-1]
        if refusal is not None:
            raise ConstraintError(
                refusal,
                where=f"layer {last.name}",
                fix="deploy without --readout (predictions then come from the output spike counts)",
            )
        chip_net = Network(
            model.layers[:-1] + (widen_for_readout(last),), model.input_shape, model.dt_us, model.metadata.copy()
        )
        cores = _fit(chip_net, profile, "model with the readout erratum applied (last layer widened ×4)")
        notes.append(f"readout: class k is channel {READOUT_STRIDE}k of {last.name} (speck2e/2f readout erratum)")
    monitor = tuple(range(len(cores))) if monitor_all else (len(cores) - 1,)
    if slow_clk_hz is None:
        if any(layer.bias is not None and np.any(layer.bias != 0) for layer in chip_net.layers):
            slow_clk_hz = 1e6 / model.dt_us
            notes.append(
                f"slow clock {slow_clk_hz:g} Hz: the chip adds each bias once per tick, the model once "
                f"per {model.dt_us:g} µs time bin (the internal slow clock is not exact)"
            )
        elif readout:
            slow_clk_hz = DEFAULT_READOUT_CLK_HZ
    if slow_clk_hz is not None and not slow_clk_hz > 0:
        raise UsageError(f"--slow-clk-hz must be positive, got {slow_clk_hz}")
    sensor = sensor_size = None
    if live:
        from .sensor_input import live_input

        chosen = live_input(model, profile.sensor_size, sensor_options)
        sensor, sensor_size = chosen.stage, chosen.sensor_size
        notes.append(f"live input: the on-chip sensor, DVS stage from the {chosen.how}: {sensor.to_dict()}")
        notes.extend(chosen.notes)
    return ChipPlan(
        profile.name, chip_net, model, cores, monitor, readout, slow_clk_hz, tuple(notes), sensor, sensor_size
    )


def _shape(c: int, h: int, w: int) -> dict[str, Any]:
    return {"feature_count": int(c), "size": {"x": int(w), "y": int(h)}}


def layer_description(plan: ChipPlan, i: int) -> dict[str, Any]:
    """One core's configuration, with samna's field names where samna has one."""
    layer, core = plan.layers[i], plan.cores[i]
    c_in, h, w = layer.input_shape
    c_out, ho, wo = layer.conv_shape
    bias = np.zeros(c_out) if layer.bias is None else layer.bias
    return {
        "name": layer.name,
        "core": core,
        "kind": layer.kind,
        "dimensions": {
            "input_shape": _shape(c_in, h, w),
            "output_shape": _shape(c_out, ho, wo),
            "kernel_size": layer.kernel_size[0],
            "stride": {"x": layer.stride, "y": layer.stride},
            "padding": {"x": layer.padding, "y": layer.padding},
        },
        "weight_layout": "[c_out][c_in][y][x] (samna's CNNLayerConfig.weights holds [c_out][c_in][x][y])",
        "weights": layer.weight.astype(np.int64).tolist(),
        "biases": bias.astype(np.int64).tolist(),
        "leak_enable": bool(np.any(bias != 0)),
        "threshold_high": int(layer.threshold),
        "threshold_low": int(layer.lower_bound),
        "reset": layer.reset,
        "return_to_zero": layer.reset == "zero",
        "neurons_initial_value": 0,
        "scale": layer.scale,
        "pooling": plan.network.counted_pool(i),
        "output_shape": list(layer.pooled_shape(plan.network.counted_pool(i))),
        "destinations": plan.destinations(i),
        "monitor_enable": i in plan.monitor,
    }


def chip_description(plan: ChipPlan, device_type: str | None = None) -> dict[str, Any]:
    """The complete chip-ready description (JSON-serialisable) of a plan, for flashing later."""
    from .. import __version__

    check_destinations(plan)
    layers = [layer_description(plan, i) for i in range(len(plan.layers))]
    readout: dict[str, Any] = {"enabled": plan.readout}
    if plan.readout:
        readout.update(
            {
                "layer": READOUT_LAYER,
                "source_core": plan.cores[-1],
                "class_channels": plan.class_channels(),
                "readout_channels": [k + 1 for k in range(plan.n_classes)],
                "enable": True,
                "readout_configuration_sel": 0b11,
                "output_mode_sel": 0b01,
                "low_pass_filter_disable": True,
                "threshold": 1,
                "monitor_enable": True,
                "factory_config.io_sel": 24,
            }
        )
    return {
        "format": DESCRIPTION_FORMAT,
        "schema_version": DESCRIPTION_SCHEMA_VERSION,
        "tool_version": __version__,
        "target": plan.target,
        "device_type": device_type or default_device_type(plan.target),
        "input_shape": list(plan.network.input_shape),
        "dt_us": plan.network.dt_us,
        "input": {"core": plan.input_core, "event": "Spike(layer=core, x, y, feature=polarity, timestamp in µs)"},
        "core_map": plan.core_map,
        "monitor_cores": [plan.cores[i] for i in plan.monitor],
        "dvs_layer": plan.dvs_layer(),
        "slow_clk_hz": plan.slow_clk_hz,
        "layers": layers,
        "readout": readout,
        "notes": list(plan.notes),
        "source": plan.model.metadata.get("source"),
    }


def write_description(
    plan: ChipPlan, path: str | Path, extra: dict[str, Any] | None = None, device_type: str | None = None
) -> Path:
    """Write :func:`chip_description` (plus ``extra`` keys) as JSON, atomically."""
    doc = chip_description(plan, device_type)
    doc.update(extra or {})
    return write_atomic(path, json.dumps(doc, indent=1))

"""The chip path through samna and sinabs' ``DynapcnnNetwork`` — the only module that talks to samna.

samna (and ``sinabs.backend.dynapcnn``, which imports it) is imported inside functions, and only
after :func:`~qsnn_deploy.deploy.targets.samna_info` has found the real driver: PyPI's placeholder
would run ``pip install`` when imported.

The sequence a user needs (sinabs 3.1 ``DynapcnnNetwork.to`` / ``hw_forward`` and the vendor
notebooks, with timeouts where those sleep):

1. devices: ``samna.device.get_all_devices()`` → ``DeviceInfo``; named ``speck2fdevkit:0`` like sinabs;
2. configuration: our integers in torch layers → ``DynapcnnNetwork(..., discretize=False)`` →
   ``make_config(layer2core_map, device, monitor_layers, config_modifier)`` (for a graph sinabs cannot
   build: written from our plan field by field as ``make_config`` writes it), then checked value by
   value against our network;
3. ``open_device`` → input graph (source node → model sink) and output graph (model source → sink
   node), ``apply_configuration``, slow clock, stop watch;
4. per sample: zero the neuron states (``WriteNeuronValue``), wait for the device to answer a
   ``ReadNeuronValue`` probe, reset the stop watch, write ``Spike`` events with their timestamps,
   read output events until the input has played out and the chip has been quiet for a while
   (hard timeout: a chip that keeps firing is reported, not waited on forever);
5. power (``get_power_monitor``), rails reported separately; ``close_device``.

Every samna name used here has a public source (sinabs 3.1.3's code, samna's documentation, SynSense's
notebooks and FAQs), listed with it in tests/standin/samna_api.py; tests/deploy/test_samna_names.py
checks that this module uses no other. Facts about the chip that no source states are marked
"unverified" where they are used and listed in the README ("What has been tested without hardware").
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Self, TypedDict

import numpy as np

from ..errors import BackendUnavailable, ConstraintError, QsnnError, UsageError
from ..outputs import write_atomic
from .chip_events import OUT_DTYPE
from .chip_plan import READOUT_LAYER, ChipPlan, check_destinations, default_device_type, device_type_for
from .targets import driver_unavailable, samna_info

if TYPE_CHECKING:
    from ..ir import ChipLayer

# samna's and sinabs' objects (devices, configurations, events, graph nodes, DynapcnnNetwork) are typed Any:
# neither package ships type information, and samna is imported only inside functions, over the real driver.

# the devkit's power tracks by channel (sinabs docs, docs/speck/notebooks/power_monitoring.ipynb)
POWER_RAILS = {0: "io", 1: "ram", 2: "logic", 3: "pixel_digital", 4: "pixel_analog"}
POWER_RAIL_NAMES = {0: "VDD_IO", 1: "VDD_RAM", 2: "VDD_LOGIC", 3: "VDD_PIXEL_DIGITAL", 4: "VDD_PIXEL_ANALOG"}


def import_samna() -> ModuleType:
    """The samna module — only when the real driver is installed (never the placeholder)."""
    info = samna_info()
    if info.status != "real":
        raise driver_unavailable("the chip", info)
    try:
        import samna
    except Exception as exc:  # a broken binary install: say so, do not crash
        raise BackendUnavailable(
            f"the samna driver is installed but does not import ({type(exc).__name__}: {exc})",
            where=info.path,
            fix="reinstall it: " + info.install_command,
        ) from exc
    return samna


def import_dynapcnn() -> ModuleType:
    """``sinabs.backend.dynapcnn`` (it imports samna and samnagui), only over the real driver."""
    import_samna()
    try:
        import sinabs.backend.dynapcnn as dynapcnn
    except Exception as exc:
        raise BackendUnavailable(
            f"sinabs' Speck backend does not import ({type(exc).__name__}: {exc})",
            fix="samnagui needs OpenGL libraries (e.g. apt-get install libglu1-mesa); check "
            "the sinabs and samna versions with `qsnn-deploy doctor`",
        ) from exc
    return dynapcnn


# --- devices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceEntry:
    """A board samna sees: ``id`` like ``speck2fdevkit:0`` (sinabs' naming), its chip ``family``."""

    id: str
    type_name: str
    family: str | None
    info: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        i = self.info
        return {
            "id": self.id,
            "type": self.type_name,
            "family": self.family,
            "usb": f"{getattr(i, 'usb_bus_number', '?')}:{getattr(i, 'usb_device_address', '?')}",
            "serial_number": getattr(i, "serial_number", ""),
        }


def list_devices(samna: Any = None) -> list[DeviceEntry]:
    """Every board samna sees, numbered per type in USB-address order (as sinabs numbers them), named
    and given its chip (profile) by the profiles' ``samna_devices`` (hw.profile.samna_boards). ``samna``:
    the samna module (default: imported over the real driver) or anything with its ``device`` API."""
    from ..hw.profile import board_key, samna_boards

    samna = samna or import_samna()
    boards = samna_boards()
    try:
        infos = list(samna.device.get_all_devices())
    except Exception as exc:
        raise BackendUnavailable(
            f"samna could not list the USB devices ({type(exc).__name__}: {exc})",
            fix="check the USB connection and permissions (udev rules on Linux)",
        ) from exc
    out: list[DeviceEntry] = []
    seen: dict[str, int] = {}  # boards so far per sinabs name
    for info in sorted(infos, key=lambda d: (d.device_type_name, getattr(d, "usb_device_address", 0))):
        name, family = boards.get(info.device_type_name, (board_key(info.device_type_name), None))
        idx = seen[name] = seen.get(name, -1) + 1
        out.append(DeviceEntry(f"{name}:{idx}", info.device_type_name, family, info))
    return out


def choose_device(devices: list[DeviceEntry], target: str, wanted: str | None) -> DeviceEntry:
    """The board to use: ``wanted`` is ``speck2fdevkit:0``, ``speck2fdevkit`` (index 0), an index
    into the boards of the target's family, or None for the first of them."""
    compatible = [d for d in devices if d.family == target]
    seen = ", ".join(d.id for d in devices) or "none"
    if wanted is None or wanted.strip().isdigit():
        k = int(wanted) if wanted else 0
        if k < len(compatible):
            return compatible[k]
        what = (
            f"no {target} board is connected"
            if not compatible
            else f"there is no {target} board number {k} ({len(compatible)} connected)"
        )
        raise BackendUnavailable(
            f"{what} (devices seen: {seen})",
            fix="plug the devkit in and check USB permissions (udev rules on Linux); "
            "`qsnn-deploy doctor` lists what samna sees; --target emulator runs the model here",
        )
    want = wanted.strip().lower()
    if ":" not in want:
        want += ":0"
    for d in devices:
        if d.id == want:
            if d.family != target:
                raise UsageError(
                    f"device {d.id} is a {d.family or d.type_name} board but --target is {target}",
                    fix=f"pick a {target} board (connected: {seen}) or change --target",
                )
            return d
    raise BackendUnavailable(
        f"device '{wanted}' is not connected (devices seen: {seen})",
        fix="name one of the connected boards, e.g. --device "
        + (compatible[0].id if compatible else f"{default_device_type(target)}:0"),
    )


# --- the vendor configuration ---------------------------------------------------------------------


def vendor_network(plan: ChipPlan) -> Any:
    """sinabs' ``DynapcnnNetwork`` holding exactly our integers (``discretize=False``), built from the
    plan's network as one module (``convert.to_sinabs.sinabs_model``: a chain is the graph whose every
    layer feeds the next). :func:`vendor_layers` matches its layers with ours."""
    dynapcnn = import_dynapcnn()
    from ..convert.to_sinabs import sinabs_model

    try:
        return dynapcnn.DynapcnnNetwork(
            sinabs_model(plan.network),
            input_shape=plan.network.input_shape,
            batch_size=1,
            discretize=False,
            dvs_input=False,
        )
    except (ValueError, TypeError) as exc:
        raise ConstraintError(
            f"sinabs cannot build a DynapcnnNetwork from the model: {exc}",
            fix="run `qsnn-deploy estimate` to see which layer breaks the chip's rules",
        ) from exc


def vendor_layers(net: Any, plan: ChipPlan) -> dict[int, int]:
    """Our layer index of each of sinabs' layers, checked: sinabs numbers its layers in a topological
    order of its own (``setup_dynapcnnlayer_graph(index_layers_topologically=True)``,
    sinabs/backend/dynapcnn/dynapcnn_network.py:105), so each is told by the tag ``sinabs_model`` puts on
    its convolution; its ``layer_destination_map`` (exits negative, dynapcnn_layer_utils.py:277-302)
    must then give every layer exactly our destinations, and only the last layer an exit."""
    from ..convert.to_sinabs import LAYER_TAG

    names = [layer.name for layer in plan.layers]
    ours: dict[int, int] = {}
    for k, layer in net.dynapcnn_layers.items():
        name = getattr(layer.conv_layer, LAYER_TAG, None)
        if name in names and names.index(name) not in ours.values():
            ours[int(k)] = names.index(name)
    bad: list[str] = []
    if len(ours) != len(net.dynapcnn_layers) or sorted(ours.values()) != list(range(len(names))):
        bad.append(f"sinabs made {len(net.dynapcnn_layers)} cores of the model's {len(names)} layers")
    else:
        last = len(names) - 1
        for k, dests in net.layer_destination_map.items():
            i = ours[int(k)]
            got = sorted(ours[int(d)] for d in dests if d >= 0)
            exits = sum(1 for d in dests if d < 0)
            if got != sorted(plan.network.targets(i)) or exits != int(i == last):
                want = ", ".join(names[j] for j in plan.network.targets(i)) or "the output"
                have = ", ".join([names[j] for j in got] + ["the output"] * exits) or "nothing"
                bad.append(f"layer {names[i]} sends to {have} in sinabs' network, to {want} in the model")
    if bad:
        raise QsnnError(
            "sinabs' DynapcnnNetwork does not have the model's layers and edges: " + "; ".join(bad),
            fix="report this with the model file and the sinabs version (`qsnn-deploy doctor`)",
        )
    return ours


def _readout_modifier(plan: ChipPlan) -> Callable[[Any], Any]:
    """The readout set-up of sinabs' using_readout_layer notebook (docs/speck/notebooks): last core →
    destination 12, readout enabled, readout_configuration_sel 0b11, output_mode_sel 0b01 (bits 15:0 of
    each ReadoutValue: threshold compare), low-pass filter off, threshold 1, readout monitored. The same
    notebook says that with ``readout.monitor_enable`` the chip no longer monitors Spike events."""

    def modify(config: Any) -> Any:
        last = config.cnn_layers[plan.cores[-1]]
        last.destinations[0].layer = READOUT_LAYER
        last.destinations[0].enable = True
        ro = config.readout
        ro.enable = True
        ro.readout_configuration_sel = 0b11
        ro.output_mode_sel = 0b01
        ro.low_pass_filter_disable = True
        ro.threshold = 1
        ro.monitor_enable = True
        return config

    return modify


def vendor_config(net: Any, plan: ChipPlan, device_type: str) -> Any:
    """``make_config`` with our core map and monitors (its prints and warnings are captured)."""
    ours = vendor_layers(net, plan)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pooling will not be reflected.*")
            config = net.make_config(
                layer2core_map={k: plan.cores[i] for k, i in ours.items()},
                device=device_type,
                monitor_layers=[k for k, i in ours.items() if i in plan.monitor],
                config_modifier=_readout_modifier(plan) if plan.readout else None,
            )
    except ValueError as exc:
        said = " ".join(printed.getvalue().split())
        raise ConstraintError(
            f"samna rejected the configuration: {exc}" + (f" samna says: {said}" if said else ""),
            fix="run `qsnn-deploy estimate` for the per-layer memory and rules",
        ) from exc
    return config


def _dimensions(layer: ChipLayer) -> dict[str, Any]:
    """samna's ``CnnLayerDimensions`` of a layer, as the dict sinabs assigns
    (sinabs/backend/dynapcnn/chips/dynapcnn.py:97-118): input shape, neuron (convolution output) shape,
    padding, stride, kernel size."""
    c_in, h, w = layer.input_shape
    c_out, ho, wo = layer.conv_shape
    return {
        "input_shape": {"size": {"x": w, "y": h}, "feature_count": c_in},
        "output_shape": {"size": {"x": wo, "y": ho}, "feature_count": c_out},
        "padding": {"x": layer.padding, "y": layer.padding},
        "stride": {"x": layer.stride, "y": layer.stride},
        "kernel_size": layer.kernel_size[0],
    }


def plan_config(plan: ChipPlan, device_type: str) -> Any:
    """The samna configuration written from the plan itself, field by field as sinabs' ``make_config``
    writes it (sinabs/backend/dynapcnn/chips/dynapcnn.py:75-192 per core, :231-243 destinations,
    :264 sensor events off, :354-355 monitors; then the readout modifier and samna's
    ``validate_configuration``, dynapcnn_network.py:722-728). For the graphs sinabs 3.1.3 cannot build
    (``convert.to_sinabs.sinabs_limitation``); the tests check it equals sinabs' own configuration, value by
    value, on the networks sinabs can build."""
    check_destinations(plan)
    module, _ = samna_chip_module(device_type)
    config = module.configuration.SpeckConfiguration()
    apply_dvs_layer(config, plan.dvs_layer())
    for i, (layer, core) in enumerate(zip(plan.layers, plan.cores)):
        c = config.cnn_layers[core]
        c.dimensions = _dimensions(layer)
        for k, dest in enumerate(plan.destinations(i)):  # as many as the chip has: checked above
            c.destinations[k].layer = dest["layer"]
            c.destinations[k].enable = dest["enable"]
            c.destinations[k].pooling = dest["pooling"]
        bias = np.zeros(layer.c_out) if layer.bias is None else layer.bias
        c.weights = layer.weight.transpose(0, 1, 3, 2).astype(np.int64).tolist()  # samna: [o][i][x][y]
        c.biases = bias.astype(np.int64).tolist()
        c.leak_enable = bool(np.any(bias != 0))
        c.return_to_zero = layer.reset == "zero"
        c.threshold_high = int(layer.threshold)
        c.threshold_low = int(layer.lower_bound)
        c.monitor_enable = i in plan.monitor
        f, h, w = layer.conv_shape
        c.neurons_initial_value = np.zeros((f, w, h), dtype=np.int64).tolist()  # [feature][x][y]
    if plan.readout:
        config = _readout_modifier(plan)(config)
    _validate(config, device_type)
    return config


def _validate(config: Any, device_type: str) -> None:
    """samna's ``validate_configuration`` (sinabs dynapcnn_network.py:722-728); a refusal is exit 4."""
    module, _ = samna_chip_module(device_type)
    valid, message = module.validate_configuration(config)
    if not valid:
        raise ConstraintError(
            f"samna rejected the configuration: {message}",
            fix="run `qsnn-deploy estimate` for the per-layer memory and rules",
        )


def apply_dvs_layer(config: Any, fields: dict[str, Any]) -> None:
    """Write DVS layer values (:meth:`ChipPlan.dvs_layer`, :func:`.sensor_input.dvs_layer_fields`) onto
    ``config.dvs_layer`` the way sinabs' ``write_dvs_layer_config`` does (sinabs chips/dynapcnn.py:61-72: each
    value assigned, a dict for the XY fields; destinations one by one)."""
    dvs = config.dvs_layer
    dvs.pass_sensor_events = fields["pass_sensor_events"]
    if "pooling" not in fields:  # the host streams the input: the sensor stays off, nothing else changes
        return
    dvs.pooling = fields["pooling"]
    dvs.origin = fields["origin"]
    dvs.cut = fields["cut"]
    dvs.mirror = fields["mirror"]
    dvs.mirror_diagonal = fields["mirror_diagonal"]
    dvs.merge = fields["merge"]
    dvs.monitor_enable = fields["monitor_enable"]
    for k, dest in enumerate(fields["destinations"]):
        dvs.destinations[k].layer = dest["layer"]
        dvs.destinations[k].enable = dest["enable"]


def _dvs_values(dvs: Any) -> dict[str, Any]:
    """``config.dvs_layer`` as the plain values :meth:`ChipPlan.dvs_layer` gives."""
    return {
        "pooling": {"x": dvs.pooling.x, "y": dvs.pooling.y},
        "origin": {"x": dvs.origin.x, "y": dvs.origin.y},
        "cut": {"x": dvs.cut.x, "y": dvs.cut.y},
        "mirror": {"x": dvs.mirror.x, "y": dvs.mirror.y},
        "mirror_diagonal": dvs.mirror_diagonal,
        "merge": dvs.merge,
        "pass_sensor_events": dvs.pass_sensor_events,
        "monitor_enable": dvs.monitor_enable,
        "destinations": [{"layer": int(d.layer), "enable": True} for d in dvs.destinations if d.enable],
    }


def _dvs_differences(dvs: Any, want: dict[str, Any]) -> list[str]:
    have = _dvs_values(dvs)
    return [
        f"the DVS layer's {name} is {have[name]!r}, the plan has {value!r}"
        for name, value in want.items()
        if have[name] != value
    ]


def verify_config(config: Any, plan: ChipPlan) -> list[str]:
    """Compare the vendor configuration with our network, value by value; the differences found."""
    bad: list[str] = _dvs_differences(config.dvs_layer, plan.dvs_layer())
    for i, (layer, core) in enumerate(zip(plan.layers, plan.cores)):
        c = config.cnn_layers[core]
        where = f"layer {layer.name} (core {core})"
        w = np.asarray(c.weights)
        if w.shape != layer.weight.shape[:2] + layer.weight.shape[:1:-1]:
            bad.append(f"{where}: weights of shape {w.shape} on the chip, {layer.weight.shape} in the model")
        elif not np.array_equal(w.transpose(0, 1, 3, 2), layer.weight):  # [o][i][x][y]: sinabs chips/dynapcnn.py:128
            n = int((w.transpose(0, 1, 3, 2) != layer.weight).sum())
            bad.append(f"{where}: {n} weights differ")
        bias = np.zeros(layer.c_out) if layer.bias is None else layer.bias
        if not np.array_equal(np.asarray(c.biases, dtype=np.float64).reshape(-1), bias):
            bad.append(f"{where}: biases differ")
        for name, want in (
            ("threshold_high", int(layer.threshold)),
            ("threshold_low", int(layer.lower_bound)),
            ("return_to_zero", layer.reset == "zero"),
            ("monitor_enable", i in plan.monitor),
        ):
            if getattr(c, name) != want:
                bad.append(f"{where}: {name} is {getattr(c, name)!r}, the model has {want!r}")
        if np.any(np.asarray(c.neurons_initial_value) != 0):
            bad.append(f"{where}: neuron states do not start at 0")
        d = c.dimensions  # sinabs assigns a dict and reads it back as an object (dynapcnn_visualizer.py:579)
        got = (int(d.kernel_size), int(d.stride.x), int(d.stride.y), int(d.padding.x), int(d.padding.y))
        want_dims = (layer.kernel_size[0], layer.stride, layer.stride, layer.padding, layer.padding)
        if got != want_dims:
            bad.append(f"{where}: kernel/stride/padding {got} on the chip, {want_dims} in the model")
        for what, shape, want_shape in (
            ("input", d.input_shape, layer.input_shape),
            ("neuron", d.output_shape, layer.conv_shape),
        ):
            have_shape = (int(shape.feature_count), int(shape.size.y), int(shape.size.x))
            if have_shape != tuple(want_shape):
                bad.append(
                    f"{where}: {what} shape (C, H, W) {have_shape} on the chip, {tuple(want_shape)} in the model"
                )
        # the order of a core's destinations does not matter to the chip: compare them as sets
        want_dest = sorted((dest["layer"], dest["pooling"]) for dest in plan.destinations(i))
        have_dest = sorted((int(cd.layer), int(cd.pooling)) for cd in c.destinations if cd.enable)
        if have_dest != want_dest:
            bad.append(f"{where}: destinations {_cores(have_dest)} on the chip, {_cores(want_dest)} in the model")
    if plan.readout:
        ro = config.readout
        if not (ro.enable and ro.monitor_enable):
            bad.append("the readout block is not enabled and monitored")
    return bad


def _cores(dests: list[tuple[int, int]]) -> str:
    return ", ".join(f"core {core} with pooling {pool}" for core, pool in dests) or "none"


def build_config(plan: ChipPlan, device_type: str | None = None) -> tuple[Any, Any]:
    """The vendor network and configuration for ``plan`` (for ``device_type``, default the target's first
    board), checked against our integers. Through sinabs' ``DynapcnnNetwork`` where sinabs can build the
    network; for the graphs it cannot (``convert.to_sinabs.sinabs_limitation``) the network is None and the
    configuration is written from the plan (:func:`plan_config`)."""
    from ..convert.to_sinabs import sinabs_limitation

    check_destinations(plan)  # sinabs would take a third destination and fail in make_config (IndexError)
    board = device_type_for(plan.target, device_type)
    net = None
    if sinabs_limitation(plan.network) is None:
        net = vendor_network(plan)
        config = vendor_config(net, plan, board)
        if plan.sensor is not None:  # sinabs' network has no DVS layer (dvs_input=False): the stage goes on here
            apply_dvs_layer(config, plan.dvs_layer())
            _validate(config, board)
    else:
        config = plan_config(plan, board)
    bad = verify_config(config, plan)
    if bad:
        raise QsnnError(
            "the vendor configuration does not hold the model's integers: " + "; ".join(bad[:5]),
            fix="report this with the model file and the sinabs/samna versions (`qsnn-deploy doctor`)",
        )
    return net, config


def samna_chip_module(device_type: str) -> tuple[Any, Any]:
    """``samna.speck2f`` / ``samna.speck2e`` and sinabs' config builder for a device type."""
    import_dynapcnn()
    from sinabs.backend.dynapcnn.chip_factory import ChipFactory

    builder = ChipFactory(device_type).get_config_builder()
    return builder.get_samna_module(), builder


def export_samna_config(
    config: Any, plan: ChipPlan, path: str | Path, device_type: str, description: dict[str, Any]
) -> str:
    """``.bin``: samna's flash image (``configuration_to_flash_binary``, sinabs' FAQ
    save_hardware_config_as_binary, documented for speck2f); ``.json``: our description of the
    configuration sinabs built and we checked. Written atomically; returns what was written.

    samna's own JSON of the configuration is not written: no source shows a ``to_json`` on samna's
    configuration objects."""
    module, _ = samna_chip_module(device_type)
    path = Path(path)
    if path.suffix == ".bin":
        to_flash = getattr(module, "configuration_to_flash_binary", None)
        if to_flash is None:
            raise UsageError(
                f"this samna has no flash image writer for {device_type} (it is documented for speck2f)",
                where=str(path),
                fix="export chip.json (the complete chip description) instead",
            )
        if plan.readout:
            config.factory_config.io_sel = 24  # the readout pins (sinabs' FAQ save_hardware_config_as_binary)
        write_atomic(path, bytes(to_flash(config)))
        return "samna flash binary"
    doc = dict(description)
    doc["samna_configuration"] = None
    write_atomic(path, json.dumps(doc, indent=1))
    return "chip description, checked against the samna configuration (JSON)"


def spike_events(module: Any, events: np.ndarray, core: int) -> list[Any]:
    """samna ``Spike`` events for the input core, with the sample's timestamps (µs)."""
    Spike = module.event.Spike
    out = []
    for x, y, t, p in zip(events["x"].tolist(), events["y"].tolist(), events["t"].tolist(), events["p"].tolist()):
        ev = Spike()
        ev.layer, ev.x, ev.y, ev.feature, ev.timestamp = core, int(x), int(y), int(p), int(t)
        out.append(ev)
    return out


def decode_output(module: Any, events: list[Any]) -> tuple[np.ndarray, list[int], int]:
    """Output events → spike rows (``OUT_DTYPE``), readout words, and how many other events there were."""
    Spike = module.event.Spike
    Readout = module.event.ReadoutValue  # one per slow-clock tick, no timestamp (using_readout_layer notebook)
    rows, readout, other = [], [], 0
    for ev in events:
        if isinstance(ev, Spike):
            rows.append((ev.layer, ev.x, ev.y, ev.feature, ev.timestamp))
        elif isinstance(ev, Readout):
            readout.append(int(ev.value))
        else:
            other += 1
    return np.array(rows, dtype=OUT_DTYPE), readout, other


# --- a session with an open board -----------------------------------------------------------------


@dataclass
class SampleRun:
    """What came back for one sample."""

    spikes: np.ndarray  # OUT_DTYPE
    readout: list[int]
    timed_out: bool
    wall_s: float
    events_in: int


def neuron_words(layer: ChipLayer) -> int:
    """Neuron addresses a layer may occupy: 2^(bits of channel + row + column), the address layout of
    sinabs' ``calculate_neuron_address`` whatever the bit order (capped by the core's memory)."""
    c, h, w = layer.conv_shape
    bits = sum(int(np.ceil(np.log2(max(v, 1)))) for v in (c, h, w))
    return 2**bits


class BoardSession(ABC):
    """An open board: opening, graphs of nodes, reading and closing, shared by the sessions below
    (``with Session(...) as s``; ``_setup`` configures the open board)."""

    sink: Any  # the host's buffer of the model's output events
    stop_watch: Any

    def __init__(self, device: DeviceEntry) -> None:
        self.samna = import_samna()
        self.entry = device
        self.module, self.builder = samna_chip_module(device.id.split(":")[0])
        self.handle: Any = None  # the open device
        self.graphs: list[Any] = []
        self.warnings: list[str] = []

    def __enter__(self) -> Self:
        try:
            self.handle = self.samna.device.open_device(self.entry.info)
        except Exception as exc:
            raise BackendUnavailable(
                f"could not open {self.entry.id} ({type(exc).__name__}: {exc})",
                fix="close other programs using the board, re-plug it, and check USB permissions (udev rules on Linux)",
            ) from exc
        if self.handle is None:
            raise BackendUnavailable(f"could not open {self.entry.id}", fix="re-plug the board and try again")
        try:
            self._setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @abstractmethod
    def _setup(self) -> None:
        """Configure the open board (``self.handle``): graphs, configuration, stop watch."""

    def _graph(self, nodes: list[Any]) -> Any:
        g = self.samna.graph.EventFilterGraph()
        g.sequential(nodes)
        self.graphs.append(g)
        return g

    def _stops(self) -> list[Callable[[], object]]:
        """What to stop before the graphs stop and the board closes."""
        return [lambda: self.stop_watch.stop()]

    def __exit__(self, *exc: object) -> None:
        for step in (
            *self._stops(),
            *[g.stop for g in self.graphs],
            lambda: self.samna.device.close_device(self.handle),
        ):
            try:
                step()
            except Exception as exc:  # closing must not hide the real error: noted, not raised
                self.warnings.append(f"while closing {self.entry.id}: {type(exc).__name__}: {exc}")
        self.graphs = []

    def _read(self, timeout_s: float) -> list[Any]:
        """Output events, waiting at most ``timeout_s`` for the first one (``get_events_blocking`` takes
        milliseconds: SynSense rockpool's afe_samna_pdm.py; sinabs' specksim.py:381 calls it too)."""
        getter = getattr(self.sink, "get_events_blocking", None)
        if getter is not None:
            return list(getter(max(1, int(timeout_s * 1000))))
        got = list(self.sink.get_events())
        if not got:
            time.sleep(min(timeout_s, 0.005))  # samna without blocking reads: poll
        return got


class ChipSession(BoardSession):
    """An open board running a plan: ``with ChipSession(...) as s: s.run_sample(events)``."""

    # set by _setup once the board is open
    source: Any  # the model's input buffer
    power_monitor: Any  # None without power measurement
    power_sink: Any

    def __init__(
        self,
        plan: ChipPlan,
        device: DeviceEntry,
        config: Any,
        timeout_s: float = 5.0,
        quiet_s: float = 0.1,
        probe_timeout_s: float = 2.0,
        power_rate_hz: float | None = None,
    ) -> None:
        super().__init__(device)
        self.plan, self.config = plan, config
        self.timeout_s, self.quiet_s, self.probe_timeout_s = timeout_s, quiet_s, probe_timeout_s
        self.power_rate_hz = power_rate_hz
        self._probe_ok = True  # after one unanswered probe, stop probing (and say so once)
        self._reset_events: list[Any] | None = None
        self._measuring = False  # the power monitor's automatic measurement is on

    def _setup(self) -> None:
        model = self.handle.get_model()
        self.source = self.builder.get_input_buffer()
        self.sink = self.builder.get_output_buffer()
        self._graph([self.source, model.get_sink_node()])
        self._graph([model.get_source_node(), self.sink])
        for g in self.graphs:
            g.start()
        model.apply_configuration(self.config)
        if self.plan.slow_clk_hz:
            dk_io = self.handle.get_io_module()
            dk_io.set_slow_clk_rate(int(round(self.plan.slow_clk_hz)))
            dk_io.set_slow_clk(True)
        self.stop_watch = self.handle.get_stop_watch()
        self.stop_watch.start()
        self.power_monitor = self.power_sink = None
        if self.power_rate_hz:
            try:
                self.power_monitor = self.handle.get_power_monitor()
            except Exception as exc:
                self.warnings.append(f"{self.entry.id} has no power monitor ({exc}); no power figures")
            else:
                self.power_sink = self.samna.BasicSinkNode_unifirm_modules_events_measurement()
                self._graph([self.power_monitor.get_source_node(), self.power_sink]).start()
        self.probe("after the configuration was applied")

    def _stops(self) -> list[Callable[[], object]]:
        pm = getattr(self, "power_monitor", None)
        if pm is None or not self._measuring:  # stopped once only
            return super()._stops()
        return [pm.stop_auto_power_measurement, *super()._stops()]

    def listen(self, read_s: float = 0.05) -> Iterator[tuple[np.ndarray, list[int]]]:
        """Live input from the chip's sensor: zero the neurons, reset the stop watch, then per read the spike
        rows (``OUT_DTYPE``, t in µs since the reset) and readout words the chip sent; the caller stops."""
        self.reset_states()
        self.stop_watch.reset()
        self.sink.get_events()  # drop anything left from before (stamped before the reset)
        while True:
            rows, readout, _ = decode_output(self.module, self._read(read_s))
            yield rows, readout

    def probe(self, what: str) -> bool:
        """Ask the device for a neuron value and wait for the answer: everything written before it
        (configuration, state resets) has then been processed. A board that does not answer is
        warned about once and not asked again."""
        if not self._probe_ok:
            return False
        req = self.module.event.ReadNeuronValue()
        req.layer, req.address = self.plan.cores[0], 0
        self.source.write([req])
        # The answer carries layer, address and neuron_state (sinabs' leak_neuron notebook and output
        # monitoring FAQ); its class name is in no source we could read, so it is told by its field.
        deadline = time.monotonic() + self.probe_timeout_s
        while (now := time.monotonic()) < deadline:
            for ev in self._read(deadline - now):
                if getattr(ev, "neuron_state", None) is not None:
                    return True
        self._probe_ok = False
        self.warnings.append(
            f"the board did not answer a ReadNeuronValue probe within {self.probe_timeout_s:g} s "
            f"{what}; going on without waiting for it"
        )
        return False

    def reset_states(self) -> None:
        """Zero every neuron state the plan uses (sinabs config_builder.py:120-143 writes
        ``WriteNeuronValue`` events the same way),
        then wait for the probe so the next sample starts from rest."""
        if self._reset_events is None:
            from ..hw import load_profile

            memory = {c.index: c.neuron_memory for c in load_profile(self.plan.target).cores}
            WriteNeuronValue = self.module.event.WriteNeuronValue
            self._reset_events = []
            for layer, core in zip(self.plan.layers, self.plan.cores):
                for addr in range(min(neuron_words(layer), memory.get(core, neuron_words(layer)))):
                    ev = WriteNeuronValue()
                    ev.layer, ev.address, ev.neuron_state = core, addr, 0
                    self._reset_events.append(ev)
        self.source.write(self._reset_events)
        self.probe("after the neuron states were reset")

    def run_sample(self, events: np.ndarray) -> SampleRun:
        """Stream one sample with its timestamps and collect what the chip sends back."""
        self.reset_states()
        self.sink.get_events()  # drop anything left from before
        spikes = spike_events(self.module, events, self.plan.input_core)
        span_s = (int(events["t"].max()) if len(events) else 0) / 1e6
        self.stop_watch.reset()
        t0 = time.monotonic()
        self.source.write(spikes)
        end, deadline = t0 + span_s, t0 + span_s + self.timeout_s
        got: list[Any] = []
        Spike = self.module.event.Spike
        timed_out = False
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            before_end = now < end
            window = min((end - now) if before_end else self.quiet_s, deadline - now)
            batch = self._read(window)
            got.extend(batch)
            if not before_end and window >= self.quiet_s and not any(isinstance(e, Spike) for e in batch):
                break  # input played out and a full quiet window without spikes
        rows, readout, _ = decode_output(self.module, got)
        return SampleRun(rows, readout, timed_out, time.monotonic() - t0, len(spikes))

    # -- power
    def start_power(self) -> None:
        if self.power_monitor is not None:
            assert self.power_rate_hz is not None  # _setup opens the monitor only with a rate
            self.power_sink.get_events()
            self.power_monitor.start_auto_power_measurement(float(self.power_rate_hz))
            self._measuring = True

    def stop_power(self) -> dict[int, list[float]]:
        """Stop measuring; the samples per rail (W)."""
        if self.power_monitor is None:
            return {}
        self.power_monitor.stop_auto_power_measurement()
        self._measuring = False
        rails: dict[int, list[float]] = {}
        for _ in range(3):  # the last measurements may still be in flight
            batch = self.power_sink.get_events()
            for ev in batch:
                rails.setdefault(int(ev.channel), []).append(float(ev.value))
            if rails and not batch:
                break
            if not batch:
                time.sleep(0.05)
        return rails

    def measure_idle(self, seconds: float) -> dict[int, list[float]]:
        """Rails with the network configured and no input, for ``seconds`` (a measurement window)."""
        self.start_power()
        time.sleep(seconds)
        return self.stop_power()


def decode_sensor(module: Any, events: list[Any]) -> np.ndarray:
    """The sensor's ``DvsEvent`` objects among ``events`` as a time-sorted ``x, y, t, p`` array (t in µs since
    the stop watch was reset; fields: sinabs' using_readout_layer notebook and samna's event pages)."""
    from ..data.events import EVENT_DTYPE

    Dvs = module.event.DvsEvent
    rows = []
    for ev in events:
        if isinstance(ev, Dvs):
            rows.append((ev.x, ev.y, ev.timestamp, int(ev.p)))
    out = np.array(rows, dtype=EVENT_DTYPE) if rows else np.zeros(0, EVENT_DTYPE)
    return out[np.argsort(out["t"], kind="stable")]


class SensorSession(BoardSession):
    """The board's sensor alone, every pixel event sent to the host (``qsnn-deploy record``): the DVS layer
    monitored, unpooled and uncropped (monitored events do not show the DVS pooling: sinabs
    chips/dynapcnn.py:348-352), sending to no core."""

    def __init__(self, device: DeviceEntry, sensor_size: tuple[int, int, int]) -> None:
        super().__init__(device)
        self.sensor_size = sensor_size

    def _setup(self) -> None:
        from ..emulate.sensor import SensorStage
        from .sensor_input import dvs_layer_fields

        model = self.handle.get_model()
        self.sink = self.builder.get_output_buffer()
        self._graph([model.get_source_node(), self.sink]).start()
        config = self.module.configuration.SpeckConfiguration()
        apply_dvs_layer(config, dvs_layer_fields(SensorStage(), self.sensor_size, None, monitor=True))
        model.apply_configuration(config)
        self.stop_watch = self.handle.get_stop_watch()
        self.stop_watch.start()

    def restart(self) -> None:
        """Count time from now and drop what the sensor sent so far (in that order: nothing stamped before the
        reset stays)."""
        self.stop_watch.reset()
        self.sink.get_events()

    def read(self, timeout_s: float) -> np.ndarray:
        """The pixel events that arrived, waiting at most ``timeout_s`` for the first (:func:`decode_sensor`)."""
        return decode_sensor(self.module, self._read(timeout_s))


class RailPower(TypedDict):
    """One rail of :func:`power_report` (W; None where there were no measurements)."""

    channel: int
    rail: str
    idle_w: float | None
    active_w: float | None
    dynamic_w: float | None
    samples: int
    published_idle_w: float | None


def power_report(
    idle: dict[int, list[float]],
    active: dict[int, list[float]],
    run_s: float,
    n: int,
    profile_idle: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Per rail: mean idle and active power (W), their difference; totals and dynamic energy per sample."""
    rails: dict[str, RailPower] = {}
    for ch in sorted(set(idle) | set(active)):
        name = POWER_RAILS.get(ch, f"channel{ch}")
        i = float(np.mean(idle[ch])) if idle.get(ch) else None
        a = float(np.mean(active[ch])) if active.get(ch) else None
        rails[name] = {
            "channel": ch,
            "rail": POWER_RAIL_NAMES.get(ch, ""),
            "idle_w": i,
            "active_w": a,
            "dynamic_w": None if i is None or a is None else a - i,
            "samples": len(active.get(ch, ())),
            "published_idle_w": (profile_idle or {}).get(name),
        }
    dyn = [r["dynamic_w"] for r in rails.values() if r["dynamic_w"] is not None]
    chip = [r["dynamic_w"] for k, r in rails.items() if k in ("io", "ram", "logic") and r["dynamic_w"] is not None]
    return {
        "rails": rails,
        "idle_w": sum(r["idle_w"] or 0.0 for r in rails.values()),
        "active_w": sum(r["active_w"] or 0.0 for r in rails.values()),
        "dynamic_w": float(sum(dyn)) if dyn else None,
        "dynamic_processor_w": float(sum(chip)) if chip else None,
        "dynamic_energy_per_sample_j": float(sum(dyn)) * run_s / n if dyn and n else None,
        "note": "devkit power tracks, measured with samna's power monitor; whether they cover the SoC only is "
        "not documented (synsense/sinabs#335); the io rail includes the monitored output traffic; the "
        "dynamic figures subtract a run of the configured chip without input",
    }

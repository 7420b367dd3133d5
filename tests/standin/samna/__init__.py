"""A minimal stand-in for SynSense's samna driver, for tests only.

Two uses:

* it lets ``sinabs.backend.dynapcnn`` be imported (so our mapping, discretisation and emulator can be
  checked against sinabs' own code) without the real driver and without PyPI's placeholder, which
  would run ``pip install`` when imported;
* it stands in for a Speck board at the driver boundary: the parts of samna that qsnn-deploy and
  sinabs call (devices, configuration objects, event types, graphs of source/sink nodes, stop
  watch, IO module, power monitor) exist with samna's names, and every call is *recorded*:
  configurations applied, events written (with their timestamps), stop-watch and clock calls.
  Output events are whatever a test's ``standin.responder(device, events)`` returns; nothing is
  simulated here.

Everything else is a harmless dummy. The state of the "hardware" lives in ``samna.standin``; a
subprocess can choose the devices it sees with ``SAMNA_STANDIN_DEVICES`` (comma-separated samna
device type names, empty for none).
"""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
import time
import types

STANDIN = True
__version__ = "0.0.0+standin"


class _Dummy:
    """Absorbs any construction, call or attribute access."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __call__(self, *args, **kwargs):
        return _Dummy(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy()


def _module_getattr(attr: str):
    """Unknown public names are dummies; private and dunder names are missing, as tools expect."""
    if attr.startswith("_"):
        raise AttributeError(attr)
    return _Dummy if attr[:1].isupper() else _Dummy()


def _module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__getattr__ = _module_getattr  # type: ignore[attr-defined]
    sys.modules[name] = mod
    return mod


# --- plain data objects with samna's field names ---------------------------------------------------

class _Record:
    """Fixed fields with defaults; unknown attributes are refused (like samna's bound classes)."""

    _fields: dict = {}
    _ranges: dict = {}  # field -> (lo, hi) for integer fields

    def __init__(self, **kwargs):
        for name, default in self._fields.items():
            object.__setattr__(self, name, copy.deepcopy(default))
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError(f"{type(self).__name__} has no attribute '{name}'")
        if isinstance(self._fields[name], bool) and not isinstance(value, bool):
            value = bool(value)  # samna's bindings convert numpy/torch booleans the same way
        if name in self._ranges:
            lo, hi = self._ranges[name]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise TypeError(f"{type(self).__name__}.{name} takes an int in [{lo}, {hi}], got {value!r}")
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict:
        return {k: _plain(getattr(self, k)) for k in self._fields}

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


def _plain(v):
    if isinstance(v, (_Record, _Struct)):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class _Struct:
    """A nested record built from a dict (samna converts assigned dicts the same way)."""

    def __init__(self, data=None, **kwargs):
        for k, v in {**(data or {}), **kwargs}.items():
            setattr(self, k, _Struct(v) if isinstance(v, dict) else v)

    def to_dict(self) -> dict:
        return {k: _plain(v) for k, v in vars(self).items()}


_U8, _U16, _U32 = (0, 2 ** 8 - 1), (0, 2 ** 16 - 1), (0, 2 ** 32 - 1)


def _event_module(name: str) -> types.ModuleType:
    mod = _module(name)

    class Spike(_Record):
        _fields = {"layer": 0, "feature": 0, "y": 0, "x": 0, "timestamp": 0}
        _ranges = {"layer": _U8, "feature": _U16, "y": _U8, "x": _U8, "timestamp": _U32}

    class DvsEvent(_Record):
        _fields = {"p": False, "y": 0, "x": 0, "timestamp": 0}
        _ranges = {"y": _U8, "x": _U8, "timestamp": _U32}

    class WriteNeuronValue(_Record):
        _fields = {"layer": 0, "address": 0, "neuron_state": 0}
        _ranges = {"layer": _U8, "address": _U32, "neuron_state": (-2 ** 15, 2 ** 15 - 1)}

    class ReadNeuronValue(_Record):
        _fields = {"layer": 0, "address": 0}

    class NeuronValue(_Record):
        _fields = {"layer": 0, "address": 0, "neuron_state": 0}

    class ReadoutValue(_Record):
        _fields = {"value": 0, "timestamp": 0}

    class ReadoutPinValue(_Record):
        _fields = {"index": 0, "timestamp": 0}

    for cls in (Spike, DvsEvent, WriteNeuronValue, ReadNeuronValue, NeuronValue, ReadoutValue, ReadoutPinValue):
        cls.__module__ = name
        setattr(mod, cls.__name__, cls)
    return mod


def _configuration_module(name: str) -> types.ModuleType:
    mod = _module(name)

    class CnnLayerDestination(_Record):
        _fields = {"layer": 0, "enable": False, "pooling": 1, "feature_shift": 0}
        _ranges = {"layer": (0, 13), "pooling": (1, 4)}

    class CnnLayerConfig(_Record):
        _fields = {"dimensions": None, "weights": [], "biases": [], "neurons_initial_value": [],
                   "threshold_high": 0, "threshold_low": 0, "return_to_zero": False, "leak_enable": False,
                   "monitor_enable": False, "destinations": None, "output_decimator_enable": False,
                   "output_decimator_interval": 0}

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "destinations", [CnnLayerDestination(), CnnLayerDestination()])
            object.__setattr__(self, "dimensions", _Struct({"input_shape": {"size": {"x": 0, "y": 0}, "feature_count": 0},
                                                            "output_shape": {"size": {"x": 0, "y": 0}, "feature_count": 0},
                                                            "padding": {"x": 0, "y": 0}, "stride": {"x": 1, "y": 1},
                                                            "kernel_size": 1}))

        def __setattr__(self, name, value):
            if name == "dimensions" and isinstance(value, dict):
                value = _Struct(value)
            if name in ("threshold_high", "threshold_low") and not isinstance(value, int):
                raise TypeError(f"CnnLayerConfig.{name} takes an int, got {value!r}")
            super().__setattr__(name, value)

    class DvsLayerConfig(_Record):
        _fields = {"pooling": None, "destinations": None, "merge": False, "pass_sensor_events": True,
                   "monitor_enable": False, "raw_monitor_enable": False}

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "pooling", _Struct(x=1, y=1))
            object.__setattr__(self, "destinations", [CnnLayerDestination(), CnnLayerDestination()])

    class ReadoutConfig(_Record):
        _fields = {"enable": False, "readout_configuration_sel": 0, "output_mode_sel": 0,
                   "low_pass_filter_disable": False, "threshold": 0, "monitor_enable": False,
                   "readout_pin_monitor_enable": False}

    class FactoryConfig(_Record):
        _fields = {"io_sel": 0}

    class SpeckConfiguration(_Record):
        _fields = {"cnn_layers": None, "dvs_layer": None, "readout": None, "factory_config": None}

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "cnn_layers", [CnnLayerConfig() for _ in range(9)])
            object.__setattr__(self, "dvs_layer", DvsLayerConfig())
            object.__setattr__(self, "readout", ReadoutConfig())
            object.__setattr__(self, "factory_config", FactoryConfig())

        def to_json(self) -> str:
            return json.dumps(self.to_dict())

    for cls in (CnnLayerDestination, CnnLayerConfig, DvsLayerConfig, ReadoutConfig, FactoryConfig,
                SpeckConfiguration):
        cls.__module__ = name
        setattr(mod, cls.__name__, cls)
    return mod


def _validate_configuration(config) -> tuple[bool, str]:
    """A few of the checks the real validator makes: shapes, integer ranges, destinations."""
    import numpy as np

    for core, layer in enumerate(config.cnn_layers):
        if not layer.weights:
            continue
        w = np.asarray(layer.weights)
        d = layer.dimensions
        want = (d.output_shape.feature_count, d.input_shape.feature_count, d.kernel_size, d.kernel_size)
        if w.shape != want:
            return False, f"layer {core}: weights of shape {w.shape}, dimensions say {want}"
        if w.min() < -128 or w.max() > 127:
            return False, f"layer {core}: weights outside int8"
        for name in ("threshold_high", "threshold_low"):
            if not -2 ** 15 <= getattr(layer, name) < 2 ** 15:
                return False, f"layer {core}: {name} outside int16"
        for dest in layer.destinations:
            if dest.enable and dest.layer not in (*range(9), 12):
                return False, f"layer {core}: destination {dest.layer} does not exist"
    return True, ""


def _chip_module(name: str) -> types.ModuleType:
    mod = _module(f"{__name__}.{name}")
    mod.event = _event_module(f"{__name__}.{name}.event")
    mod.configuration = _configuration_module(f"{__name__}.{name}.configuration")
    mod.validate_configuration = _validate_configuration
    mod.configuration_to_flash_binary = lambda cfg: list(b"STANDIN" + cfg.to_json().encode())
    return mod


# --- the recorded "hardware" ---------------------------------------------------------------------

class DeviceInfo:
    def __init__(self, device_type_name: str, usb_bus_number: int = 1, usb_device_address: int = 1,
                 serial_number: str = "", logic_version: int = 0):
        self.device_type_name, self.usb_bus_number = device_type_name, usb_bus_number
        self.usb_device_address, self.serial_number, self.logic_version = usb_device_address, serial_number, logic_version

    def __repr__(self):
        return (f"device::DeviceInfo(serial_number={self.serial_number}, usb_bus_number={self.usb_bus_number}, "
                f"usb_device_address={self.usb_device_address}, logic_version={self.logic_version}, "
                f"device_type_name={self.device_type_name})")


class _Node:
    """A graph node: events written to it go to the nodes it is connected to in started graphs."""

    def __init__(self):
        self._edges: list = []

    def _emit(self, events):
        for graph, node in self._edges:
            if graph.started:
                node._receive(list(events))

    def _receive(self, events):  # pragma: no cover - overridden
        pass


class _SourceNode(_Node):
    """``BasicSourceNode_*``: the host writes events here."""

    def write(self, events):
        standin.log.append(("write", len(events)))
        self._emit(events)


class _SinkNode(_Node):
    """``BasicSinkNode_*``: a buffer the host reads."""

    def __init__(self):
        super().__init__()
        self._buffer: list = []
        self._cond = threading.Condition()

    def _receive(self, events):
        with self._cond:
            self._buffer.extend(events)
            self._cond.notify_all()

    def get_events(self):
        with self._cond:
            out, self._buffer = self._buffer, []
        return out

    def get_events_blocking(self, timeout_ms: int = 0):
        with self._cond:
            if not self._buffer:
                self._cond.wait(timeout_ms / 1000)
            out, self._buffer = self._buffer, []
        return out


class _ModelSink(_Node):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def _receive(self, events):
        self.model.receive(events)


class _Model:
    """``device.get_model()``: takes configurations and input events, gives output events."""

    def __init__(self, device):
        self.device = device
        self.configurations: list = []  # deep copies, in the order applied
        self.writes: list = []  # one entry per batch: {"time": wall, "events": [...]}
        self.neuron_states: dict = {}  # (core, address) -> state written with WriteNeuronValue
        self._sink, self._source = _ModelSink(self), _Node()

    def apply_configuration(self, config):
        standin.log.append(("apply_configuration", self.device.info.device_type_name))
        self.configurations.append(copy.deepcopy(config))

    def get_sink_node(self):
        return self._sink

    def get_source_node(self):
        return self._source

    @property
    def configuration(self):
        return self.configurations[-1] if self.configurations else None

    def receive(self, events):
        """Record the batch; answer neuron reads like the board does; the rest is the test's responder."""
        self.writes.append({"time": time.monotonic(), "events": list(events)})
        if any(type(e).__name__ == "Spike" for e in events):
            self.device._spiking = True
        out = []
        for e in events:
            kind = type(e).__name__
            if kind == "WriteNeuronValue":
                self.neuron_states[(e.layer, e.address)] = e.neuron_state
            elif kind == "ReadNeuronValue":
                reply = type(e).__module__  # the chip module's event namespace
                NeuronValue = sys.modules[reply].NeuronValue
                out.append(NeuronValue(layer=e.layer, address=e.address,
                                       neuron_state=self.neuron_states.get((e.layer, e.address), 0)))
        if standin.responder is not None:
            out = list(standin.responder(self.device, list(events)) or []) + out
        if out:
            self._source._emit(out)

    @property
    def spikes(self) -> list:
        """All input Spike events written so far."""
        return [e for w in self.writes for e in w["events"] if type(e).__name__ == "Spike"]


class _StopWatch:
    def __init__(self):
        self.running, self.t0 = False, time.monotonic()

    def start(self):
        standin.log.append(("stop_watch.start", None))
        self.running = True

    def stop(self):
        standin.log.append(("stop_watch.stop", None))
        self.running = False

    def reset(self):
        standin.log.append(("stop_watch.reset", None))
        self.t0 = time.monotonic()

    def set_enable_value(self, value: bool):
        standin.log.append(("stop_watch.set_enable_value", bool(value)))
        self.running = bool(value)


class _IoModule:
    def __init__(self):
        self.slow_clk, self.slow_clk_rate = False, None

    def set_slow_clk(self, enable: bool):
        standin.log.append(("io.set_slow_clk", bool(enable)))
        self.slow_clk = bool(enable)

    def set_slow_clk_rate(self, hz):
        standin.log.append(("io.set_slow_clk_rate", hz))
        self.slow_clk_rate = hz


class _Measurement:
    def __init__(self, channel: int, value: float, timestamp: int):
        self.channel, self.value, self.timestamp = channel, value, timestamp


class _PowerMonitor:
    """Emits ``standin.power_watts`` per rail (plus ``power_active_watts`` while spikes were written)."""

    def __init__(self, device):
        self.device, self._source, self._start = device, _Node(), None

    def get_source_node(self):
        return self._source

    def start_auto_power_measurement(self, rate_hz: float):
        standin.log.append(("power.start", rate_hz))
        self._start, self._rate = time.monotonic(), float(rate_hz)
        self.device._spiking = False

    def stop_auto_power_measurement(self):
        standin.log.append(("power.stop", None))
        if self._start is None:
            return
        elapsed = time.monotonic() - self._start
        n = max(1, int(elapsed * self._rate))
        extra = standin.power_active_watts if self.device._spiking else {}
        events = [_Measurement(ch, w + extra.get(ch, 0.0), int(i * 1e6 / self._rate))
                  for i in range(n) for ch, w in sorted(standin.power_watts.items())]
        self._start = None
        self._source._emit(events)


class Device:
    """What ``samna.device.open_device`` returns."""

    def __init__(self, info: DeviceInfo):
        self.info, self.model = info, _Model(self)
        self.stop_watch, self.io = _StopWatch(), _IoModule()
        self.power_monitor = _PowerMonitor(self)
        self.closed, self._spiking = False, False

    def get_model(self):
        return self.model

    def get_model_sink_node(self):
        return self.model.get_sink_node()

    def get_model_source_node(self):
        return self.model.get_source_node()

    def get_stop_watch(self):
        return self.stop_watch

    def get_io_module(self):
        return self.io

    def get_power_monitor(self):
        if not standin.has_power_monitor:
            raise AttributeError("this board has no power monitor")
        return self.power_monitor

    def reset_board_soft(self, flag: bool = True):
        standin.log.append(("reset_board_soft", flag))


class _State:
    """The stand-in's hardware and its recording; ``reset()`` between tests."""

    IDLE_RAILS = {0: 6.17e-5, 1: 5.17e-5, 2: 3.670e-4, 3: 7.89e-5, 4: 6.109e-4}

    def __init__(self):
        self.reset()

    def reset(self, devices=None):
        if devices is None:
            env = os.environ.get("SAMNA_STANDIN_DEVICES")
            devices = ["Speck2fDevKit"] if env is None else [d for d in env.split(",") if d]
        self.devices = [DeviceInfo(name, 1, i + 1, f"standin-{i}") for i, name in enumerate(devices)]
        self.opened: list = []
        self.closed: list = []
        self.log: list = []
        self.responder = None
        self.open_error: str | None = None
        self.has_power_monitor = True
        self.power_watts = dict(self.IDLE_RAILS)
        self.power_active_watts: dict = {}

    @property
    def device(self):
        """The device opened last."""
        return self.opened[-1] if self.opened else None


standin = _State()


def _open_device(what):
    if standin.open_error:
        raise RuntimeError(standin.open_error)
    info = what
    if isinstance(what, str):
        info = next((d for d in standin.devices if d.device_type_name == what), None)
    if info not in standin.devices:
        raise RuntimeError(f"device {what!r} not found")
    standin.log.append(("open_device", info.device_type_name))
    dev = Device(info)
    standin.opened.append(dev)
    return dev


def _close_device(handle):
    standin.log.append(("close_device", handle.info.device_type_name))
    handle.closed = True
    standin.closed.append(handle)


class _Graph:
    """``samna.graph.EventFilterGraph``: ``sequential`` connects nodes; events flow once started."""

    def __init__(self):
        self.started = False

    def sequential(self, nodes):
        nodes = [n() if isinstance(n, type) else n for n in nodes]
        for a, b in zip(nodes, nodes[1:]):
            a._edges.append((self, b))
        return nodes

    def start(self):
        self.started = True
        return True

    def stop(self):
        self.started = False
        return True


def _namespace(name: str) -> types.ModuleType:
    mod = _module(f"{__name__}.{name}")
    for sub in ("configuration", "event", "nodes", "events"):
        setattr(mod, sub, _module(f"{__name__}.{name}.{sub}"))
    return mod


graph, ui, device, specksim = (_namespace(n) for n in ("graph", "ui", "device", "specksim"))

speck2f = _chip_module("speck2f")
speck2e = _chip_module("speck2e")

device.DeviceInfo = DeviceInfo  # type: ignore[attr-defined]
device.get_all_devices = lambda: list(standin.devices)  # type: ignore[attr-defined]
device.get_unopened_devices = lambda: [d for d in standin.devices  # type: ignore[attr-defined]
                                       if not any(o.info is d and not o.closed for o in standin.opened)]
device.open_device = _open_device  # type: ignore[attr-defined]
device.close_device = _close_device  # type: ignore[attr-defined]
graph.EventFilterGraph = _Graph  # type: ignore[attr-defined]

BasicSourceNode_speck2f_event_input_event = _SourceNode
BasicSinkNode_speck2f_event_output_event = _SinkNode
BasicSourceNode_speck2e_event_speck2e_input_event = _SourceNode
BasicSinkNode_speck2e_event_output_event = _SinkNode
BasicSinkNode_unifirm_modules_events_measurement = _SinkNode


__getattr__ = _module_getattr

"""A strict stand-in for SynSense's samna driver, for tests only.

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

It is strict: it knows only the names listed in ``tests/standin/samna_api.py``, each with its public
source (a line of sinabs 3.1.3, a samna documentation page, a SynSense notebook or FAQ). Any other
module attribute raises ``AttributeError`` like the real module; configuration and event objects
refuse unknown fields (samna's are pybind classes that do the same), and are made without arguments
and filled field by field, as every source does. Listed names that nothing here simulates (the GUI,
the simulator) raise ``NotImplementedError`` when used.

Besides samna's names the module has two of its own, for tests: ``STANDIN`` (a marker) and
``standin`` (the recorded "hardware"; ``standin.reset()`` between tests). A subprocess can choose the
devices it sees with ``SAMNA_STANDIN_DEVICES`` (comma-separated samna device type names, empty for
none).
"""

from __future__ import annotations

import copy as _copy
import json as _json
import os as _os
import sys as _sys
import threading as _threading
import time as _time
import types as _types

from samna_api import API as _API
from samna_api import CHIPS as _CHIPS
from samna_api import NOT_SIMULATED as _NOT_SIMULATED

STANDIN = True
_EXTRAS = ("STANDIN", "standin")  # the stand-in's own public names, not samna's
__version__ = "0.0.0+standin"


class _StrictModule(_types.ModuleType):
    """A module that has only what was put in it: anything else is an AttributeError."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"module '{self.__name__}' has no attribute '{name}' (the samna stand-in knows only "
            "the names listed, with their sources, in tests/standin/samna_api.py)"
        )


def _module(name: str) -> _StrictModule:
    mod = _StrictModule(name)
    _sys.modules[name] = mod
    return mod


class _NotSimulated:
    """A listed samna name (its source is in samna_api.API) that the stand-in does not simulate."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"{self._name} is samna API ({_API[self._name][1]}) that the stand-in does not simulate"
        )

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise NotImplementedError(f"{self._name}.{attr}: {self._name} is not simulated by the stand-in")

    def __repr__(self):
        return f"<not simulated: {self._name}>"


class _Strict:
    """Objects with a fixed set of public attributes (samna's pybind classes refuse others)."""

    _public: frozenset = frozenset()

    def __setattr__(self, name, value):
        if not name.startswith("_") and name not in self._public:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        object.__setattr__(self, name, value)


# --- plain data objects with samna's field names ---------------------------------------------------


class _Record(_Strict):
    """Fields with defaults, filled one by one after a no-argument construction."""

    _fields: dict = {}
    _ints: frozenset = frozenset()  # integer fields: pybind11 does not turn a float (or a bool) into an int
    _nested: dict = {}  # field -> class that an assigned dict is converted to (samna converts dicts the same way)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._public = frozenset(cls._fields)

    def __init__(self):
        for name, default in self._fields.items():
            object.__setattr__(self, name, default() if callable(default) else _copy.deepcopy(default))

    def __setattr__(self, name, value):
        if name in self._nested and isinstance(value, dict):
            value = self._nested[name]._from_dict(value)
        elif name in self._ints:
            if hasattr(value, "item") and not isinstance(value, (list, tuple)):
                value = value.item()  # numpy / torch scalars
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"{type(self).__name__}.{name}: incompatible function arguments, an int is required, got {value!r}"
                )
        elif isinstance(self._fields.get(name), bool) and not isinstance(value, bool):
            value = bool(value)  # samna's bindings convert numpy/torch booleans the same way
        super().__setattr__(name, value)

    @classmethod
    def _from_dict(cls, data: dict):
        obj = cls()
        for k, v in data.items():
            setattr(obj, k, v)
        return obj

    def _to_dict(self) -> dict:
        return {k: _plain(getattr(self, k)) for k in self._fields}

    def __eq__(self, other):
        return type(self) is type(other) and self._to_dict() == other._to_dict()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


def _plain(v):
    if isinstance(v, _Record):
        return v._to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return None if isinstance(v, _NotSimulated) else v


class _XY(_Record):
    _fields = {"x": 0, "y": 0}


class _Shape(_Record):
    _fields = {"size": _XY, "feature_count": 0}
    _nested = {"size": _XY}


class _CnnLayerDimensions(_Record):
    _fields = {"input_shape": _Shape, "output_shape": _Shape, "padding": _XY, "stride": _XY, "kernel_size": 1}
    _nested = {"input_shape": _Shape, "output_shape": _Shape, "padding": _XY, "stride": _XY}
    _ints = frozenset({"kernel_size"})


class _NeuronReply(_Record):
    """The chip's answer to a ReadNeuronValue; samna's class name for it is in no source we could
    read (tests/standin/samna_api.py), so it is not exposed under any name."""

    _fields = {"layer": 0, "address": 0, "neuron_state": 0}


def _event_module(name: str) -> _StrictModule:
    mod = _module(name)

    class Spike(_Record):
        _fields = {"layer": 0, "x": 0, "y": 0, "feature": 0, "timestamp": 0}
        _ints = frozenset(_fields)

    class DvsEvent(_Record):
        _fields = {"x": 0, "y": 0, "p": False, "timestamp": 0}
        _ints = frozenset({"x", "y", "timestamp"})

    class WriteNeuronValue(_Record):
        _fields = {"layer": 0, "address": 0, "neuron_state": 0}
        _ints = frozenset(_fields)

    class ReadNeuronValue(_Record):
        _fields = {"layer": 0, "address": 0}
        _ints = frozenset(_fields)

    class ReadoutValue(_Record):
        _fields = {"value": 0}
        _ints = frozenset(_fields)

    class ReadoutPinValue(_Record):
        _fields = {"index": 0, "timestamp": 0}
        _ints = frozenset(_fields)

    for cls in (Spike, DvsEvent, WriteNeuronValue, ReadNeuronValue, ReadoutValue, ReadoutPinValue):
        cls.__module__ = name
        setattr(mod, cls.__name__, cls)
    return mod


def _configuration_module(name: str, chip: str) -> _StrictModule:
    mod = _module(name)

    class CnnLayerDestination(_Record):
        _fields = {"layer": 0, "enable": False, "pooling": 1}
        _ints = frozenset({"layer", "pooling"})

    def two_destinations():
        return [CnnLayerDestination(), CnnLayerDestination()]

    class CnnLayerConfig(_Record):
        _fields = {
            "dimensions": _CnnLayerDimensions,
            "destinations": two_destinations,
            "weights": [],
            "biases": [],
            "neurons_initial_value": [],
            "threshold_high": 0,
            "threshold_low": 0,
            "return_to_zero": False,
            "leak_enable": False,
            "monitor_enable": False,
            "input_congestion_balancer_enable": False,
            "leak_internal_slow_clk_enable": False,
        }
        _nested = {"dimensions": _CnnLayerDimensions}
        _ints = frozenset({"threshold_high", "threshold_low"})

    class DvsLayerConfig(_Record):
        _fields = {
            "destinations": two_destinations,
            "pass_sensor_events": True,
            "merge": False,
            "monitor_enable": False,
            "pooling": _XY,
            "mirror": _XY,
            "mirror_diagonal": False,
            "cut": _XY,
            "origin": _XY,
        }
        _nested = {"pooling": _XY, "mirror": _XY, "cut": _XY, "origin": _XY}

    class ReadoutConfig(_Record):
        _fields = {
            "enable": False,
            "readout_configuration_sel": 0,
            "output_mode_sel": 0,
            "low_pass_filter_disable": False,
            "threshold": 0,
            "monitor_enable": False,
            "readout_pin_monitor_enable": False,
        }
        _ints = frozenset({"readout_configuration_sel", "output_mode_sel", "threshold"})

    class FactoryConfig(_Record):
        _fields = {"io_sel": 0}
        _ints = frozenset({"io_sel"})

    class SpeckConfiguration(_Record):
        _fields = {
            "cnn_layers": lambda: [CnnLayerConfig() for _ in range(9)],
            "dvs_layer": DvsLayerConfig,
            "readout": ReadoutConfig,
            "factory_config": FactoryConfig,
            "DVSLayerConfig": lambda: _NotSimulated(f"{name}.SpeckConfiguration.DVSLayerConfig"),
        }

    for cls in (CnnLayerDestination, CnnLayerConfig, DvsLayerConfig, ReadoutConfig, FactoryConfig, SpeckConfiguration):
        cls.__module__ = name
    # only the class names a source gives are exposed (DvsLayerConfig and FactoryConfig are not)
    for cls in (CnnLayerDestination, CnnLayerConfig, ReadoutConfig, SpeckConfiguration):
        setattr(mod, cls.__name__, cls)
    mod.CnnLayerDimensions = _CnnLayerDimensions  # named on samna's configuration page
    return mod


def _validate_configuration(config) -> tuple[bool, str]:
    """Checks from published chip facts, not samna's validator (whose checks are not public): weight
    resolution 8 bit and neuron state resolution 16 bit (samna docs, Speck 2e model page), 9 CNN
    layers plus the readout layer at 12 as destinations (sinabs' using_readout_layer notebook), and
    weights of the shape the dimensions give."""
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
            if not -(2**15) <= getattr(layer, name) < 2**15:
                return False, f"layer {core}: {name} outside int16"
        for dest in layer.destinations:
            if dest.enable and dest.layer not in (*range(9), 12):
                return False, f"layer {core}: destination {dest.layer} does not exist"
    return True, ""


def _chip_module(chip: str) -> _StrictModule:
    mod = _module(f"{__name__}.{chip}")
    mod.event = _event_module(f"{__name__}.{chip}.event")
    mod.configuration = _configuration_module(f"{__name__}.{chip}.configuration", chip)
    mod.validate_configuration = _validate_configuration
    if f"samna.{chip}.configuration_to_flash_binary" in _API:
        mod.configuration_to_flash_binary = lambda cfg: list(b"STANDIN" + _json.dumps(cfg._to_dict()).encode())
    return mod


# --- the recorded "hardware" ---------------------------------------------------------------------


class _DeviceInfo(_Strict):
    """``samna.device.DeviceInfo``."""

    _public = frozenset({"device_type_name", "usb_bus_number", "usb_device_address", "serial_number", "logic_version"})

    def __init__(
        self,
        device_type_name: str = "",
        usb_bus_number: int = 1,
        usb_device_address: int = 1,
        serial_number: str = "",
        logic_version: int = 0,
    ):
        self.device_type_name, self.usb_bus_number = device_type_name, usb_bus_number
        self.usb_device_address, self.serial_number = usb_device_address, serial_number
        self.logic_version = logic_version

    def __repr__(self):  # as sinabs' device_management FAQ shows it
        return (
            f"device::DeviceInfo(serial_number={self.serial_number}, usb_bus_number={self.usb_bus_number}, "
            f"usb_device_address={self.usb_device_address}, logic_version={self.logic_version}, "
            f"device_type_name={self.device_type_name})"
        )


class _Node(_Strict):
    """A graph node: events emitted by it go to the nodes it is connected to in started graphs."""

    def __init__(self):
        self._edges: list = []

    def _emit(self, events):
        for graph, node in self._edges:
            if graph._started:
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
        self._cond = _threading.Condition()

    def _receive(self, events):
        with self._cond:
            self._buffer.extend(events)
            self._cond.notify_all()

    def get_events(self):
        standin._on_read(self, 0)
        with self._cond:
            out, self._buffer = self._buffer, []
        return out

    def get_events_blocking(self, timeout_ms: int = 0):
        standin._on_read(self, timeout_ms)
        with self._cond:
            if not self._buffer:
                self._cond.wait(timeout_ms / 1000)
            out, self._buffer = self._buffer, []
        return out


class _ModelSink(_Node):
    def __init__(self, model):
        super().__init__()
        self._model = model

    def _receive(self, events):
        self._model._receive(events)


class _Model(_Strict):
    """``device.get_model()``: takes configurations and input events, gives output events."""

    def __init__(self, record):
        self._record = record
        self._sink, self._source = _ModelSink(self), _Node()

    def apply_configuration(self, config):
        standin.log.append(("apply_configuration", self._record.info.device_type_name))
        self._record.configurations.append(_copy.deepcopy(config))

    def get_sink_node(self):
        return self._sink

    def get_source_node(self):
        return self._source

    def _receive(self, events):
        """Record the batch; answer neuron reads like the board does; the rest is the test's responder."""
        rec = self._record
        rec.writes.append({"time": _time.monotonic(), "events": list(events)})
        if any(type(e).__name__ == "Spike" for e in events):
            rec.spiking = True
        out = []
        for e in events:
            kind = type(e).__name__
            if kind == "WriteNeuronValue":
                rec.neuron_states[(e.layer, e.address)] = e.neuron_state
            elif kind == "ReadNeuronValue":
                out.append(
                    standin.event(
                        _NeuronReply,
                        layer=e.layer,
                        address=e.address,
                        neuron_state=rec.neuron_states.get((e.layer, e.address), 0),
                    )
                )
        if standin.responder is not None:
            out = list(standin.responder(rec, list(events)) or []) + out
        if out:
            self._source._emit(out)


class _ModelRecord:
    """What a test sees of a device's model: configurations applied, batches written, and ``emit``."""

    def __init__(self, record):
        self._record = record

    def __getattr__(self, name):
        return getattr(self._record, name)

    @property
    def configuration(self):
        return self._record.configurations[-1] if self._record.configurations else None

    @property
    def spikes(self) -> list:
        """All input Spike events written so far."""
        return [e for w in self._record.writes for e in w["events"] if type(e).__name__ == "Spike"]

    def emit(self, events) -> None:
        """Send output events from the chip now."""
        self._record.handle._model._source._emit(list(events))

    def emit_on_read(self, events, min_wait_ms: int = 0, every_read: bool = False) -> None:
        """Send output events when the host next reads this model's output buffer prepared to wait at
        least ``min_wait_ms`` (a late output arrives *during* that wait; ``every_read``: on each such
        read, a chip that never falls quiet). Released in the reading thread, so a test's outcome does
        not depend on how threads are scheduled."""
        self._record.on_read.append((list(events), int(min_wait_ms), bool(every_read)))

    def sensor(self, batches) -> None:
        """Script the chip's own sensor: from the first read of this model's output buffer after the stop watch
        is reset, each blocking read (``get_events_blocking``: the host waits, the sensor senses) makes the next
        batch of ``DvsEvent`` s happen (an exception instance in the list is
        raised by that read instead, e.g. KeyboardInterrupt for Ctrl-C). What the configuration applied last does
        with them is what the chip does: with ``dvs_layer.monitor_enable`` they go to the host as they are; with
        ``dvs_layer.pass_sensor_events`` and a DVS destination enabled they go into the network, i.e. to the
        test's ``standin.responder``, whose answer goes to the host. A configuration with neither: nothing."""
        self._record.sensor_script.extend(batches)


class _DeviceRecord:
    """The stand-in's record of one opened device (``standin.device``, ``standin.opened``)."""

    def __init__(self, info: _DeviceInfo):
        self.info, self.closed, self.spiking = info, False, False
        self.configurations: list = []  # deep copies, in the order applied
        self.writes: list = []  # one entry per batch: {"time": wall, "events": [...]}
        self.neuron_states: dict = {}  # (core, address) -> state written with WriteNeuronValue
        self.on_read: list = []  # (events, min_wait_ms, every_read) from model.emit_on_read
        self.sensor_script: list = []  # batches of DvsEvents (or exceptions) from model.sensor
        self.sensor_armed = False  # set when the stop watch is reset: the scripted sensor runs from then on
        self.model = _ModelRecord(self)
        self.handle = None


class _StopWatch(_Strict):
    def __init__(self, record=None):
        self._record = record

    def start(self):
        standin.log.append(("stop_watch.start", None))

    def stop(self):
        standin.log.append(("stop_watch.stop", None))

    def reset(self):
        standin.log.append(("stop_watch.reset", None))
        if self._record is not None:
            self._record.sensor_armed = True  # the scripted sensor (model.sensor) starts with the clock

    def set_enable_value(self, value: bool):
        standin.log.append(("stop_watch.set_enable_value", bool(value)))


class _IoModule(_Strict):
    def set_slow_clk(self, enable: bool):
        standin.log.append(("io.set_slow_clk", bool(enable)))

    def set_slow_clk_rate(self, hz):
        standin.log.append(("io.set_slow_clk_rate", hz))


class _Measurement(_Record):
    _fields = {"channel": 0, "value": 0.0, "timestamp": 0}


class _PowerMonitor(_Strict):
    """Emits ``standin.power_watts`` per rail (plus ``power_active_watts`` while spikes were written)."""

    def __init__(self, record):
        self._record, self._source, self._start = record, _Node(), None

    def get_source_node(self):
        return self._source

    def start_auto_power_measurement(self, rate_hz: float):
        standin.log.append(("power.start", rate_hz))
        self._start, self._rate = _time.monotonic(), float(rate_hz)
        self._record.spiking = False

    def stop_auto_power_measurement(self):
        standin.log.append(("power.stop", None))
        if self._start is None:
            return
        elapsed = _time.monotonic() - self._start
        n = max(1, int(elapsed * self._rate))
        extra = standin.power_active_watts if self._record.spiking else {}
        events = [
            standin.event(_Measurement, channel=ch, value=w + extra.get(ch, 0.0), timestamp=int(i * 1e6 / self._rate))
            for i in range(n)
            for ch, w in sorted(standin.power_watts.items())
        ]
        self._start = None
        self._source._emit(events)


class _Device(_Strict):
    """What ``samna.device.open_device`` returns."""

    def __init__(self, record: _DeviceRecord):
        self._record, self._model = record, _Model(record)
        self._stop_watch, self._io, self._power = _StopWatch(record), _IoModule(), _PowerMonitor(record)
        record.handle = self

    def get_model(self):
        return self._model

    def get_model_sink_node(self):
        return self._model.get_sink_node()

    def get_model_source_node(self):
        return self._model.get_source_node()

    def get_stop_watch(self):
        return self._stop_watch

    def get_io_module(self):
        return self._io

    def get_power_monitor(self):
        if not standin.has_power_monitor:
            raise RuntimeError("this board has no power monitor")
        return self._power

    def reset_board_soft(self, flag: bool = True):
        standin.log.append(("reset_board_soft", flag))


class _State:
    """The stand-in's hardware and its recording; ``reset()`` between tests."""

    IDLE_RAILS = {0: 6.17e-5, 1: 5.17e-5, 2: 3.670e-4, 3: 7.89e-5, 4: 6.109e-4}

    def __init__(self):
        self.reset()

    def reset(self, devices=None):
        if devices is None:
            env = _os.environ.get("SAMNA_STANDIN_DEVICES")
            devices = ["Speck2fDevKit"] if env is None else [d for d in env.split(",") if d]
        self.devices = [_DeviceInfo(name, 1, i + 1, f"standin-{i}") for i, name in enumerate(devices)]
        self.opened: list = []  # _DeviceRecord per open_device call
        self.closed: list = []
        self.log: list = []
        self.responder = None  # responder(device_record, events) -> output events
        self.open_error: str | None = None
        self.has_power_monitor = True
        self.power_watts = dict(self.IDLE_RAILS)
        self.power_active_watts: dict = {}

    @property
    def device(self):
        """The record of the device opened last."""
        return self.opened[-1] if self.opened else None

    def _on_read(self, sink, timeout_ms: int) -> None:
        """Before ``sink`` is read: release the outputs that ``model.emit_on_read`` holds for it."""
        for rec in self.opened:
            if rec.handle is None or not (rec.on_read or rec.sensor_script):
                continue
            source = rec.handle._model._source
            if not any(node is sink and graph._started for graph, node in source._edges):
                continue
            held, due = [], []
            for events, min_wait_ms, every_read in rec.on_read:
                if timeout_ms >= min_wait_ms:
                    due.append(events)
                if timeout_ms < min_wait_ms or every_read:
                    held.append((events, min_wait_ms, every_read))
            rec.on_read = held
            for events in due:
                source._emit(_copy.deepcopy(events))
            if rec.sensor_script and rec.sensor_armed and timeout_ms > 0:
                self._sense(rec, source, rec.sensor_script.pop(0))

    def _sense(self, rec, source, batch) -> None:
        """One scripted sensor batch through the DVS layer of the configuration applied last (model.sensor)."""
        if isinstance(batch, BaseException):
            raise batch
        dvs = rec.configurations[-1].dvs_layer if rec.configurations else None
        if dvs is None:
            return
        self.log.append(("sensor", len(batch)))
        out = list(batch) if dvs.monitor_enable else []
        if dvs.pass_sensor_events and any(d.enable for d in dvs.destinations) and self.responder is not None:
            out += list(self.responder(rec, list(batch)) or [])
        if out:
            source._emit(_copy.deepcopy(out))

    @staticmethod
    def event(cls, **fields):
        """A samna object made the way the sources make them: no arguments, then field by field."""
        obj = cls()
        for k, v in fields.items():
            setattr(obj, k, v)
        return obj


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
    record = _DeviceRecord(info)
    standin.opened.append(record)
    return _Device(record)


def _close_device(handle):
    record = handle._record
    standin.log.append(("close_device", record.info.device_type_name))
    record.closed = True
    standin.closed.append(record)


class _Graph(_Strict):
    """``samna.graph.EventFilterGraph``: ``sequential`` connects nodes; events flow once started."""

    def __init__(self):
        self._started = False

    def sequential(self, nodes):
        made = []
        for n in nodes:
            if isinstance(n, str) or isinstance(n, _NotSimulated):
                raise NotImplementedError(f"graph node {n!r}: filter nodes are not simulated by the stand-in")
            made.append(n() if isinstance(n, type) else n)
        for a, b in zip(made, made[1:]):
            a._edges.append((self, b))
        return made

    def start(self):
        self._started = True
        return True

    def stop(self):
        self._started = False
        return True


def _sequential(nodes):
    g = _Graph()
    g.sequential(nodes)
    return g


# --- the module tree, built from the list -----------------------------------------------------------

for _cls, _shown in ((_DeviceInfo, "DeviceInfo"), (_CnnLayerDimensions, "CnnLayerDimensions")):
    _cls.__name__ = _cls.__qualname__ = _shown

device, graph, ui, specksim = (_module(f"{__name__}.{n}") for n in ("device", "graph", "ui", "specksim"))
specksim.nodes, specksim.events = _module(f"{__name__}.specksim.nodes"), _module(f"{__name__}.specksim.events")
speck2f, speck2e = (_chip_module(c) for c in _CHIPS)

device.DeviceInfo = _DeviceInfo
device.get_all_devices = lambda: list(standin.devices)
device.get_unopened_devices = lambda: [
    d for d in standin.devices if not any(r.info is d and not r.closed for r in standin.opened)
]
device.open_device = _open_device
device.close_device = _close_device
graph.EventFilterGraph = _Graph
graph.sequential = _sequential

BasicSourceNode_speck2f_event_input_event = _SourceNode
BasicSinkNode_speck2f_event_output_event = _SinkNode
BasicSourceNode_speck2e_event_speck2e_input_event = _SourceNode
BasicSinkNode_speck2e_event_output_event = _SinkNode
BasicSinkNode_unifirm_modules_events_measurement = _SinkNode

for _name in sorted(_NOT_SIMULATED):
    _path, _, _attr = _name.rpartition(".")
    if _path in _sys.modules:  # samna and its submodules (samnagui has its own file)
        setattr(_sys.modules[_path], _attr, _NotSimulated(_name))


def __getattr__(name: str):
    return _StrictModule.__getattr__(_sys.modules[__name__], name)

"""The samna stand-in is strict, lists a source for every name, and our code uses only listed names."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from samna_names import API, NOT_SIMULATED, check_sources, our_chip_path

ROOT = Path(__file__).resolve().parents[2]


# --- the stand-in refuses what samna does not have -------------------------------------------------


def test_an_unlisted_name_is_an_attribute_error(standin_samna):
    samna = standin_samna
    with pytest.raises(AttributeError, match="open_devcie"):
        samna.device.open_devcie("Speck2fDevKit")  # a misspelt call
    with pytest.raises(AttributeError):
        samna.speck2f.event.NeuronValue()  # plausible, but in no source we could read
    with pytest.raises(AttributeError):
        _ = samna.speck2e.configuration_to_flash_binary  # documented for speck2f only
    with pytest.raises(AttributeError):
        samna.BasicSinkNode_speck2f_event_input_event()
    assert not hasattr(samna, "anything") and not hasattr(samna.graph, "Sequential")


def test_an_unlisted_field_cannot_be_read_or_assigned(standin_samna):
    samna = standin_samna
    ev = samna.speck2f.event.Spike()
    ev.timestamp = 7
    with pytest.raises(AttributeError):
        ev.timestmap = 7  # a misspelt field assignment
    with pytest.raises(AttributeError):
        ev.channel  # noqa: B018 - a Spike has 'feature', not 'channel'
    cfg = samna.speck2f.configuration.SpeckConfiguration()
    cfg.readout.threshold = 1
    with pytest.raises(AttributeError):
        cfg.readout.treshold = 1
    with pytest.raises(AttributeError):
        cfg.cnn_layers[0].destinations[0].feature_shift = 1  # not in any source
    with pytest.raises(AttributeError):
        cfg.cnn_layers[0].dimensions = {"kernel_size": 3, "strides": {"x": 1, "y": 1}}
    with pytest.raises(TypeError):
        cfg.cnn_layers[0].threshold_high = 1.5  # pybind11 does not turn a float into an int
    with pytest.raises(TypeError):
        samna.speck2f.event.Spike(layer=1)  # made without arguments, then field by field, in every source
    handle = samna.device.open_device("Speck2fDevKit")
    with pytest.raises(AttributeError):
        handle.get_stopwatch()
    with pytest.raises(AttributeError):
        handle.get_model().configurations  # noqa: B018 - the stand-in's recording is not on samna's objects
    samna.device.close_device(handle)


def test_listed_but_not_simulated_names_say_so(standin_samna):
    with pytest.raises(NotImplementedError, match="dynapcnn_visualizer.py"):
        standin_samna.ui.VisualizerConfiguration(plots=[])
    with pytest.raises(NotImplementedError):
        standin_samna.graph.EventFilterGraph().sequential(["VizEventStreamer"])


def _public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_the_stand_in_has_exactly_the_listed_names(standin_samna):
    """Every listed module name resolves in the stand-in, and no module of it has a public name that is
    not listed (besides its own two, STANDIN and standin); every entry names its source."""
    assert all(src.strip() for _, src in API.values())
    import samnagui  # noqa: F401  (sinabs imports it)

    modules = {
        name: mod
        for name, mod in sys.modules.items()
        if isinstance(mod, types.ModuleType) and name.split(".")[0] in ("samna", "samnagui")
    }
    listed_modules = {n for n in API if n in modules} | {"samna", "samnagui"}
    assert set(modules) == listed_modules
    for name, mod in modules.items():
        public = _public(mod) - (set(standin_samna._EXTRAS) if name == "samna" else set())
        public -= {"annotations"}  # `from __future__ import annotations` in the stand-in's own file
        unlisted = {f"{name}.{n}" for n in public} - set(API)
        assert not unlisted, f"the stand-in has names no source lists: {sorted(unlisted)}"
    for qualified in API:
        path, _, attr = qualified.rpartition(".")
        if path in modules:
            assert hasattr(modules[path], attr), qualified
    for qualified in NOT_SIMULATED:
        path, _, attr = qualified.rpartition(".")
        if path in modules:
            with pytest.raises(NotImplementedError):
                getattr(modules[path], attr)()


def test_objects_have_only_listed_fields(standin_samna):
    """The public attributes of the stand-in's event, configuration and device objects are the listed ones."""
    samna = standin_samna
    for chip in ("speck2f", "speck2e"):
        cfg = getattr(samna, chip).configuration.SpeckConfiguration()
        k = f"samna.{chip}.configuration"
        objects = {
            f"{k}.SpeckConfiguration": cfg,
            f"{k}.CnnLayerConfig": cfg.cnn_layers[0],
            f"{k}.CnnLayerDestination": cfg.cnn_layers[0].destinations[0],
            f"{k}.DvsLayerConfig": cfg.dvs_layer,
            f"{k}.ReadoutConfig": cfg.readout,
            f"{k}.FactoryConfig": cfg.factory_config,
            f"{k}.CnnLayerDimensions": cfg.cnn_layers[0].dimensions,
            "XY": cfg.dvs_layer.pooling,
            "Shape": cfg.cnn_layers[0].dimensions.input_shape,
        }
        for ev in ("Spike", "DvsEvent", "WriteNeuronValue", "ReadNeuronValue", "ReadoutValue", "ReadoutPinValue"):
            objects[f"samna.{chip}.event.{ev}"] = getattr(getattr(samna, chip).event, ev)()
        for path, obj in objects.items():
            assert {f"{path}.{n}" for n in _public(obj)} <= set(API), path
    handle = samna.device.open_device("Speck2fDevKit")
    roles = {
        "Device": handle,
        "Model": handle.get_model(),
        "StopWatch": handle.get_stop_watch(),
        "IoModule": handle.get_io_module(),
        "PowerMonitor": handle.get_power_monitor(),
        "DeviceInfo": samna.device.get_all_devices()[0],
        "SinkNode": samna.BasicSinkNode_speck2f_event_output_event(),
        "SourceNode": samna.BasicSourceNode_speck2f_event_input_event(),
        "EventFilterGraph": samna.graph.EventFilterGraph(),
    }
    for role, obj in roles.items():
        assert {f"{role}.{n}" for n in _public(obj)} <= set(API), role
    samna.device.close_device(handle)


# --- our code uses only listed names ------------------------------------------------------------------


def test_our_chip_path_uses_only_listed_samna_names():
    sources = our_chip_path(ROOT)
    assert {"qsnn_deploy/deploy/samna_backend.py", "qsnn_deploy/deploy/chip.py", "qsnn_deploy/deploy/doctor.py"} <= set(
        sources
    )
    errors = check_sources(sources)
    assert not errors, "samna names with no source in tests/standin/samna_api.py:\n" + "\n".join(
        f"  {name}  ({where})" for name, where in sorted(errors.items())
    )


@pytest.mark.parametrize(
    "old, new, unlisted",
    [
        ("rails.setdefault(int(ev.channel)", "rails.setdefault(int(ev.chanel)", "Measurement.chanel"),
        ("dk_io.set_slow_clk(True)", "dk_io.set_slowclk(True)", "IoModule.set_slowclk"),
        ("ro.threshold = 1", "ro.treshold = 1", "samna.speck2f.configuration.ReadoutConfig.treshold"),
        ("self.stop_watch.reset()\n        t0", "self.stop_watch.rest()\n        t0", "StopWatch.rest"),
        (
            'getattr(self.sink, "get_events_blocking", None)',
            'getattr(self.sink, "get_events_block", None)',
            "SinkNode.get_events_block",
        ),
        ("int(d.stride.y)", "int(d.strides.y)", "samna.speck2e.configuration.CnnLayerDimensions.strides"),
    ],
)
def test_a_misspelt_name_in_our_chip_path_is_found(old, new, unlisted):
    sources = our_chip_path(ROOT)
    path = "qsnn_deploy/deploy/samna_backend.py"
    assert sources[path].count(old) == 1
    errors = check_sources({**sources, path: sources[path].replace(old, new)})
    assert unlisted in errors and errors[unlisted].startswith(path)


BAD = """
import time


def import_samna():
    import samna
    return samna


def chip_module(device_type):
    import sinabs.backend.dynapcnn as dynapcnn
    from sinabs.backend.dynapcnn.chip_factory import ChipFactory
    builder = ChipFactory(device_type).get_config_builder()
    return builder.get_samna_module(), builder


def encode(module, xs):
    out = []
    for x in xs:
        ev = module.event.Spike()
        ev.layer, ev.x, ev.timestmap = 0, x, 0
        out.append(ev)
    return out


def decode(module, events):
    for ev in events:
        if isinstance(ev, module.event.Spike):
            print(ev.feature, ev.channel)
        elif getattr(ev, "neuron_state", None) is not None:
            print("a neuron value")


class Session:
    def __init__(self, device):
        self.samna = import_samna()
        self.module, self.builder = chip_module("speck2fdevkit")
        self.handle = self.samna.device.open_device(device)
        self.sink = self.builder.get_output_buffer()
        self.config = self.builder.get_samna_module().configuration.SpeckConfiguration()

    def setup(self):
        config = self.config
        self.handle.get_model().apply_configuraton(config)
        config.readout.treshold = 1
        self.stop_watch = self.handle.get_stop_watch()
        for name in ("start", "rest"):
            getattr(self.stop_watch, name)()
        encode(self.module, [1, 2])
        decode(self.module, self.sink.get_events())
        field = input()
        getattr(config, field)
        getattr(self.sink, "get_events_nonblocking", None)
        self.samna.NeuronValue
        self.module.configuration_to_flash_binary(config)
        getattr(self.module, "configuration_to_flash_binary", None)
"""


def test_the_check_finds_unlisted_names():
    """The checker itself: misspelt calls, fields and probes in a small chip path are all reported,
    and the listed ones (and a probe of a name one chip has) are not."""
    errors = check_sources({"bad.py": BAD})
    found = set(errors)
    expected = {
        "samna.speck2f.event.Spike.timestmap",
        "samna.speck2e.event.Spike.timestmap",
        "samna.speck2f.event.Spike.channel",
        "samna.speck2e.event.Spike.channel",
        "Model.apply_configuraton",
        "samna.speck2f.configuration.ReadoutConfig.treshold",
        "samna.speck2e.configuration.ReadoutConfig.treshold",
        "StopWatch.rest",
        "SinkNode.get_events_nonblocking",
        "samna.NeuronValue",
        "samna.speck2e.configuration_to_flash_binary",
    }
    assert expected <= found, sorted(expected - found)
    assert any(e.startswith("getattr on a samna value") for e in found)
    assert not {
        e for e in found if e.endswith((".layer", ".x", ".feature", ".neuron_state", "StopWatch.start", ".get_events"))
    }
    assert len(found) == len(expected) + 1, sorted(found - expected)
